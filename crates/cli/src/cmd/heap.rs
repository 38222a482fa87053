//! `heapwise heap ...`: V8/Node.js heap snapshots and JVM heap dumps.
//!
//! Glue only: parse flags, call `heapwise-v8` or `heapwise-hprof` (the file's
//! first bytes say which), render with `heapwise-render`.

use heapwise_words as words;
use std::fs::{self, File};
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use heapwise_render::heap::html::{self, Input};
use heapwise_render::heap::{Limits, write_diff, write_leaks, write_summary, write_watch};
use heapwise_render::output::write_json;
use heapwise_v8::inspector::Inspector;
use heapwise_v8::watch::{HeapWatchReport, WATCH_SCHEMA, WatchOptions};
use heapwise_v8::{GraphOptions, HeapGraph, LeakOptions, LeakReport, ObjectIndex};
use indicatif::{ProgressBar, ProgressStyle};

use super::hprof::{self, DumpKind};
use crate::exit;

// Shared with the other commands; `report --min-age` names it by this path.
use super::args::parse_duration;

/// Analyse V8/Node.js heap snapshots and JVM heap dumps (HPROF).
#[derive(Subcommand)]
pub enum HeapCommand {
    /// Objects by constructor: count, self size and retained size.
    Summary {
        /// A `.heapsnapshot` file (Chrome DevTools, `v8.writeHeapSnapshot()`, `heapwise heap capture`)
        /// or an HPROF dump (`jcmd PID GC.heap_dump`, `jmap -dump`), recognised by content.
        snapshot: PathBuf,
        #[command(flatten)]
        output: OutputArgs,
        /// Constructors shown in text and HTML output.
        #[arg(long, default_value_t = 20)]
        top: usize,
    },
    /// Compare two snapshots of one process: new, deleted and size change per constructor.
    ///
    /// V8 snapshots are matched by object id; JVM dumps by counts per class
    /// (their object ids are addresses, which the garbage collector changes).
    Diff {
        /// The earlier snapshot.
        before: PathBuf,
        /// The later snapshot.
        after: PathBuf,
        #[command(flatten)]
        output: OutputArgs,
        /// Constructors shown in text and HTML output.
        #[arg(long, default_value_t = 20)]
        top: usize,
    },
    /// Find leaked objects: allocated after BASELINE, present in TARGET, alive in FINAL.
    ///
    /// Take BASELINE, run the action suspected of leaking, take TARGET, run it
    /// again (or wait), take FINAL. All three must come from one process. For
    /// JVM dumps: the classes whose count grows from BASELINE to TARGET and does
    /// not fall by FINAL, and the objects (static fields, collections, listener
    /// lists, ThreadLocals, class loaders) they accumulate in.
    Leaks {
        /// Snapshot before the action.
        baseline: PathBuf,
        /// Snapshot after the action.
        target: PathBuf,
        /// Snapshot after the action should have been cleaned up.
        #[arg(value_name = "FINAL")]
        final_snapshot: PathBuf,
        #[command(flatten)]
        output: OutputArgs,
        /// Exit with status 10 when a leak cluster is found.
        #[arg(long)]
        fail_on_leak: bool,
        /// Also report objects that only V8 and Node.js internals hold.
        #[arg(long)]
        include_internals: bool,
        /// Constructors shown in text and HTML output.
        #[arg(long, default_value_t = 20)]
        top: usize,
        /// Clusters shown in text output (in HTML: those no shown root holds).
        #[arg(long, default_value_t = 10)]
        clusters: usize,
        /// Accumulation points (roots) shown in text and HTML output.
        #[arg(long, default_value_t = 10)]
        roots: usize,
    },
    /// Take heap snapshots of a running Node.js process or heap dumps of a running JVM.
    ///
    /// --inspect talks to a Node.js inspector; --pid takes a JVM's dump of
    /// live objects (as `jcmd PID GC.heap_dump` does, through the JVM's attach
    /// mechanism) or opens a Node.js process's inspector (as SIGUSR1 does; it
    /// stays open). Object ids are only comparable between snapshots of one
    /// inspector session: take the snapshots for `diff` or `leaks` in one run
    /// with --count (each path is printed as soon as its file is complete).
    Capture {
        #[command(flatten)]
        target: CaptureTarget,
        /// Directory for the snapshots, or a `.heapsnapshot` (`.hprof`) file name when --count is 1.
        #[arg(short, long, default_value = ".")]
        output: PathBuf,
        /// How many snapshots to take.
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// Time between snapshots (`500ms`, `10s`, `2m`).
        #[arg(long, default_value = "10s", value_parser = parse_duration)]
        interval: Duration,
        /// Keep only the newest N snapshots of this run, deleting older ones.
        #[arg(long, value_name = "N")]
        keep: Option<usize>,
        /// Force a full garbage collection before each snapshot (a JVM's dump
        /// always holds live objects only, after a full collection).
        #[arg(long)]
        gc: bool,
        /// File name prefix.
        #[arg(long, default_value = "heap")]
        prefix: String,
    },
    /// Sample the JavaScript heap of a running Node.js process and judge its growth.
    ///
    /// Samples `Runtime.getHeapUsage` every --interval for --duration and
    /// gives the verdict `heapwise watch` gives for RSS. With --snapshots DIR,
    /// a leak verdict is followed by three snapshots and a leak search.
    Watch {
        #[command(flatten)]
        target: InspectArgs,
        /// Time between samples (`500ms`, `1s`).
        #[arg(long, default_value = "1s", value_parser = parse_duration)]
        interval: Duration,
        /// How long to sample.
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        duration: Duration,
        /// Force a full garbage collection before each sample, so the series is
        /// the live heap (the leak signal) rather than garbage waiting to be collected.
        #[arg(long)]
        gc: bool,
        /// On a leak verdict, take three snapshots into DIR and find what leaked.
        #[arg(long, value_name = "DIR")]
        snapshots: Option<PathBuf>,
        /// Time between those three snapshots.
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        snapshot_interval: Duration,
        #[command(flatten)]
        output: WatchOutputArgs,
        /// Exit with status 10 on a leak verdict.
        #[arg(long)]
        fail_on_leak: bool,
    },
}

/// `--format` and `-o` of `summary`, `diff` and `leaks`.
#[derive(Args)]
pub struct OutputArgs {
    /// Output format (html: one self-contained page).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write to this file instead of standard output.
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

/// `--format` and `-o` of `watch`.
#[derive(Args)]
pub struct WatchOutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = WatchFormat::Text)]
    pub format: WatchFormat,
    /// Write to this file instead of standard output.
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

/// The process `capture` takes snapshots or dumps of.
#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct CaptureTarget {
    /// The inspector address of a Node.js process (`node --inspect=HOST:PORT`).
    /// heapwise connects to this address only.
    #[arg(long, value_name = "HOST:PORT")]
    pub inspect: Option<String>,
    /// A running JVM or Node.js process, by process id.
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
}

/// The inspector to talk to.
#[derive(Args)]
pub struct InspectArgs {
    /// The inspector address of the Node.js process (`node --inspect=HOST:PORT`).
    /// heapwise connects to this address only.
    #[arg(long, value_name = "HOST:PORT")]
    pub inspect: String,
}

/// Output formats of `summary`, `diff` and `leaks`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For tools (versioned schema).
    Json,
    /// For people, in a browser: one self-contained page.
    Html,
}

/// Output formats of `heap watch`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WatchFormat {
    /// For people.
    Text,
    /// For tools (versioned schema).
    Json,
}

/// Runs a `heapwise heap` command.
pub fn run(cmd: HeapCommand) -> Result<ExitCode> {
    match cmd {
        HeapCommand::Summary {
            snapshot,
            output,
            top,
        } => summary(&snapshot, &output, top),
        HeapCommand::Diff {
            before,
            after,
            output,
            top,
        } => diff(&before, &after, &output, top),
        HeapCommand::Leaks {
            baseline,
            target,
            final_snapshot,
            output,
            fail_on_leak,
            include_internals,
            top,
            clusters,
            roots,
        } => {
            let options = LeakOptions {
                include_internals,
                ..LeakOptions::default()
            };
            let report = match DumpKind::of_all(&[&baseline, &target, &final_snapshot])? {
                DumpKind::V8 => find_leaks(&baseline, &target, &final_snapshot, &options)?,
                DumpKind::Hprof => find_jvm_leaks(&baseline, &target, &final_snapshot)?,
            };
            let limits = Limits {
                top,
                clusters,
                roots,
            };
            let inputs = inputs(&[
                ("BASELINE", &baseline),
                ("TARGET", &target),
                ("FINAL", &final_snapshot),
            ]);
            emit(&output, |w, format| match format {
                Format::Text => write_leaks(w, &report, &limits),
                Format::Json => write_json(w, &report),
                Format::Html => html::write_leaks(w, &report, &inputs, &limits),
            })?;
            Ok(leak_exit(&report, fail_on_leak))
        }
        HeapCommand::Capture {
            target,
            output,
            count,
            interval,
            keep,
            gc,
            prefix,
        } => {
            let plan = CapturePlan {
                output,
                count,
                interval,
                keep,
                gc,
                prefix,
            };
            match (target.inspect, target.pid) {
                (Some(addr), _) => capture_and_print(connect(&addr)?, &plan)?,
                (None, Some(pid)) => capture_pid(pid, &plan)?,
                (None, None) => bail!("give --inspect HOST:PORT or --pid PID"),
            }
            Ok(ExitCode::SUCCESS)
        }
        HeapCommand::Watch {
            target,
            interval,
            duration,
            gc,
            snapshots,
            snapshot_interval,
            output,
            fail_on_leak,
        } => {
            let plan = WatchPlan {
                sampling: WatchOptions {
                    interval,
                    duration,
                    gc,
                },
                snapshots,
                snapshot_interval,
            };
            let report = watch(&target.inspect, &plan)?;
            write_report(output.output.as_deref(), |w| match output.format {
                WatchFormat::Text => write_watch(w, &report),
                WatchFormat::Json => write_json(w, &report),
            })?;
            Ok(watch_exit(&report, fail_on_leak))
        }
    }
}

/// `heap summary`.
fn summary(snapshot: &Path, output: &OutputArgs, top: usize) -> Result<ExitCode> {
    let summary = match DumpKind::of(snapshot)? {
        DumpKind::V8 => heapwise_v8::summarize(&load_graph(snapshot, false)?),
        DumpKind::Hprof => heapwise_hprof::summarize(&hprof::load_graph(snapshot, false)?),
    };
    let limits = Limits {
        top,
        ..Limits::default()
    };
    let inputs = inputs(&[("DUMP", snapshot)]);
    emit(output, |w, format| match format {
        Format::Text => write_summary(w, &summary, &limits),
        Format::Json => write_json(w, &summary),
        Format::Html => html::write_summary(w, &summary, &inputs, &limits),
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `heap diff`: warnings go to stderr too when the report is JSON.
fn diff(before: &Path, after: &Path, output: &OutputArgs, top: usize) -> Result<ExitCode> {
    let diff = match DumpKind::of_all(&[before, after])? {
        DumpKind::V8 => heapwise_v8::diff(&load_index(before)?, &load_index(after)?),
        DumpKind::Hprof => heapwise_hprof::diff(
            &hprof::load_histogram(before)?,
            &hprof::load_histogram(after)?,
        ),
    };
    if output.format == Format::Json {
        for warning in &diff.warnings {
            eprintln!("heapwise: warning: {warning}");
        }
    }
    let limits = Limits {
        top,
        ..Limits::default()
    };
    let inputs = inputs(&[("BEFORE", before), ("AFTER", after)]);
    emit(output, |w, format| match format {
        Format::Text => write_diff(w, &diff, &limits),
        Format::Json => write_json(w, &diff),
        Format::Html => html::write_diff(w, &diff, &inputs, &limits),
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Takes the snapshots of `heap capture`, printing each path as soon as
/// its file is complete, so that a script can act between snapshots.
fn capture_and_print(mut inspector: Inspector, plan: &CapturePlan) -> Result<()> {
    capture(&mut inspector, plan, &mut print_path)?;
    Ok(())
}

/// Lists a finished file on stdout at once, so that a script can act between files.
fn print_path(path: &Path) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", path.display()).and_then(|()| stdout.flush())
}

/// `capture --pid`: a JVM's heap dumps, or a Node.js process's snapshots
/// through the inspector SIGUSR1 opens.
fn capture_pid(pid: u32, plan: &CapturePlan) -> Result<()> {
    if heapwise_hprof::attach::is_jvm(pid)
        .with_context(|| format!("while looking at process {pid}"))?
    {
        hprof::capture(pid, plan, &mut print_path)?;
        return Ok(());
    }
    let (addr, inspector) = heapwise_v8::signal::open_inspector(pid, Duration::from_secs(10))
        .with_context(|| format!("while opening the inspector of process {pid}"))?;
    eprintln!(
        "heapwise: opened the inspector of Node.js process {pid} on {addr} ({}); it stays open until the process ends",
        inspector.title
    );
    capture_and_print(inspector, plan)
}

/// Exit status of `heap watch`: a leak is the heap's verdict or a cluster
/// found in the snapshots taken after it.
fn watch_exit(report: &HeapWatchReport, fail_on_leak: bool) -> ExitCode {
    let leak = report.verdict.leak
        || report
            .leaks
            .as_ref()
            .is_some_and(|l| !l.clusters.is_empty());
    if fail_on_leak && leak {
        ExitCode::from(exit::LEAK_FOUND)
    } else {
        ExitCode::SUCCESS
    }
}

/// What `heap watch` should do.
struct WatchPlan {
    sampling: WatchOptions,
    snapshots: Option<PathBuf>,
    snapshot_interval: Duration,
}

/// Samples the heap (one line per sample on a terminal), judges it, and on
/// a leak takes three snapshots and searches them.
fn watch(addr: &str, plan: &WatchPlan) -> Result<HeapWatchReport> {
    let mut inspector = connect(addr)?;
    let live = std::io::stderr().is_terminal();
    let samples = heapwise_v8::watch::sample(&mut inspector, &plan.sampling, |s| {
        if live {
            eprintln!(
                "{:>10}  used {:>10}  of {:>10}",
                words::duration(s.t_s),
                words::bytes(s.used_bytes),
                words::bytes(s.total_bytes)
            );
        }
    })
    .context("while sampling the heap usage")?;
    let mut report = HeapWatchReport {
        schema: WATCH_SCHEMA,
        inspect: addr.to_string(),
        target: inspector.title.clone(),
        gc_before_samples: plan.sampling.gc,
        verdict: heapwise_v8::watch::judge(&samples, plan.sampling.gc),
        samples,
        snapshots: Vec::new(),
        leaks: None,
    };
    if let (true, Some(dir)) = (report.verdict.leak, &plan.snapshots) {
        eprintln!(
            "heapwise: {}; taking three snapshots into {}",
            report.verdict.reason,
            dir.display()
        );
        let capture_plan = CapturePlan {
            output: dir.clone(),
            count: 3,
            interval: plan.snapshot_interval,
            keep: None,
            gc: true,
            prefix: "watch".into(),
        };
        let paths = capture(&mut inspector, &capture_plan, &mut |_| Ok(()))?;
        if let [baseline, target, final_snapshot] = paths.as_slice() {
            report.leaks = Some(find_leaks(
                baseline,
                target,
                final_snapshot,
                &LeakOptions::default(),
            )?);
        }
        report.snapshots = paths;
    }
    Ok(report)
}

/// Exit status of a leak search.
pub(crate) fn leak_exit(report: &LeakReport, fail_on_leak: bool) -> ExitCode {
    if fail_on_leak && report.found_leak() {
        ExitCode::from(exit::LEAK_FOUND)
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs the three-snapshot search, holding only one full snapshot at a time.
pub(crate) fn find_leaks(
    baseline: &Path,
    target: &Path,
    final_snapshot: &Path,
    options: &LeakOptions,
) -> Result<LeakReport> {
    let baseline_ids = load_ids(baseline)?;
    let target_ids = load_ids(target)?;
    let graph = load_graph(final_snapshot, true)?;
    Ok(heapwise_v8::find_leaks(
        &baseline_ids,
        &target_ids,
        &graph,
        options,
    ))
}

/// The three-dump search on JVM dumps, holding one full dump at a time.
fn find_jvm_leaks(baseline: &Path, target: &Path, final_dump: &Path) -> Result<LeakReport> {
    let options = heapwise_hprof::LeakOptions::default();
    let target = hprof::load_histogram(target)?;
    let baseline =
        heapwise_hprof::Baseline::new(&hprof::load_graph(baseline, true)?, &target, &options);
    let graph = hprof::load_graph(final_dump, true)?;
    Ok(heapwise_hprof::find_leaks(
        &baseline, &target, &graph, &options,
    ))
}

/// Writes a report in the chosen format to the chosen output.
fn emit(
    output: &OutputArgs,
    write: impl FnOnce(&mut dyn Write, Format) -> std::io::Result<()>,
) -> Result<()> {
    write_report(output.output.as_deref(), |w| write(w, output.format))
}

/// Writes a report to `path`, or to standard output.
fn write_report(
    path: Option<&Path>,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let mut sink: Box<dyn Write> = match path {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("while creating {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    write(&mut sink)
        .and_then(|()| sink.flush())
        .context("while writing the report")
}

/// The files a report was made from, as its HTML page names them.
fn inputs(files: &[(&'static str, &Path)]) -> Vec<Input> {
    files
        .iter()
        .map(|&(role, path)| Input {
            role,
            path: path.display().to_string(),
        })
        .collect()
}

/// Files smaller than this parse too fast to need a progress bar.
const PROGRESS_MIN_BYTES: u64 = 64 << 20;

/// A progress bar on stderr for large files, only when stderr is a terminal.
pub(crate) fn progress_bar(total: u64, label: &str) -> ProgressBar {
    if total < PROGRESS_MIN_BYTES || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} ({eta})")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(label.to_string());
    bar
}

fn open_snapshot(path: &Path) -> Result<(File, u64)> {
    let file =
        File::open(path).with_context(|| format!("while reading snapshot {}", path.display()))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    Ok((file, len))
}

pub(crate) fn file_label(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Parses a snapshot and builds its graph (dominators, retained sizes; with
/// `paths`, distances and retainer paths).
pub(crate) fn load_graph(path: &Path, paths: bool) -> Result<HeapGraph> {
    let (file, len) = open_snapshot(path)?;
    let bar = progress_bar(len, &format!("reading {}", file_label(path)));
    let mut report = |bytes: u64| bar.set_position(bytes);
    let snapshot = heapwise_v8::read_snapshot(file, Some(&mut report))
        .with_context(|| format!("while reading snapshot {}", path.display()))?;
    let mut phase = |what: &str| bar.set_message(what.to_string());
    let graph = HeapGraph::build_with(snapshot, GraphOptions { paths }, Some(&mut phase));
    bar.finish_and_clear();
    Ok(graph)
}

/// Reads only the node ids of a snapshot.
pub(crate) fn load_ids(path: &Path) -> Result<Vec<u32>> {
    let (file, len) = open_snapshot(path)?;
    let bar = progress_bar(len, &format!("reading ids of {}", file_label(path)));
    let mut report = |bytes: u64| bar.set_position(bytes);
    let ids = heapwise_v8::read_node_ids(file, Some(&mut report))
        .with_context(|| format!("while reading snapshot {}", path.display()))?;
    bar.finish_and_clear();
    Ok(ids)
}

/// Parses a snapshot and keeps only its objects' ids, classes and sizes.
fn load_index(path: &Path) -> Result<ObjectIndex> {
    let (file, len) = open_snapshot(path)?;
    let bar = progress_bar(len, &format!("reading {}", file_label(path)));
    let mut report = |bytes: u64| bar.set_position(bytes);
    let snapshot = heapwise_v8::read_snapshot(file, Some(&mut report))
        .with_context(|| format!("while reading snapshot {}", path.display()))?;
    bar.finish_and_clear();
    Ok(ObjectIndex::new(&snapshot))
}

/// Connects to the inspector at `addr`.
pub(crate) fn connect(addr: &str) -> Result<Inspector> {
    let inspector = Inspector::connect(addr, Duration::from_secs(10))
        .with_context(|| format!("while connecting to the Node.js inspector at {addr}"))?;
    eprintln!("heapwise: connected to {addr} ({})", inspector.title);
    Ok(inspector)
}

/// What `capture` should do.
pub(crate) struct CapturePlan {
    pub(crate) output: PathBuf,
    pub(crate) count: u32,
    pub(crate) interval: Duration,
    pub(crate) keep: Option<usize>,
    pub(crate) gc: bool,
    pub(crate) prefix: String,
}

/// Takes `plan.count` snapshots in one inspector session (object ids are only
/// comparable within a session), calling `written` with each finished file.
/// Returns the paths that remain on disk.
pub(crate) fn capture(
    inspector: &mut Inspector,
    plan: &CapturePlan,
    written: &mut dyn FnMut(&Path) -> std::io::Result<()>,
) -> Result<Vec<PathBuf>> {
    capture_series(plan, "heapsnapshot", written, &mut |path| {
        take_one(inspector, path, plan.gc).map(|_| ())
    })
}

/// Takes `plan.count` files `plan.interval` apart with `take`, named
/// `PREFIX-UNIXTIME-N.EXTENSION` (or `plan.output` itself for one file with
/// that extension), calling `written` with each and keeping the newest `--keep`.
pub(crate) fn capture_series(
    plan: &CapturePlan,
    extension: &str,
    written: &mut dyn FnMut(&Path) -> std::io::Result<()>,
    take: &mut dyn FnMut(&Path) -> Result<()>,
) -> Result<Vec<PathBuf>> {
    if plan.count == 0 {
        bail!("--count must be at least 1");
    }
    let single_file = plan.count == 1 && plan.output.extension().is_some_and(|e| e == extension);
    if !single_file {
        fs::create_dir_all(&plan.output)
            .with_context(|| format!("while creating the directory {}", plan.output.display()))?;
    }
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut kept: Vec<PathBuf> = Vec::new();
    let mut next_at = Instant::now();
    for n in 1..=plan.count {
        let now = Instant::now();
        if next_at > now {
            std::thread::sleep(next_at - now);
        }
        next_at = Instant::now() + plan.interval;
        let path = if single_file {
            plan.output.clone()
        } else {
            plan.output
                .join(format!("{}-{stamp}-{n}.{extension}", plan.prefix))
        };
        take(&path)?;
        written(&path).context("while listing the snapshot")?;
        kept.push(path);
        if let Some(keep) = plan.keep {
            while kept.len() > keep.max(1) {
                let old = kept.remove(0);
                fs::remove_file(&old).with_context(|| {
                    format!("while removing the old snapshot {}", old.display())
                })?;
                eprintln!("heapwise: removed {} (--keep {keep})", old.display());
            }
        }
    }
    Ok(kept)
}

/// Takes one snapshot into `path` (written to `path.part` first, renamed when complete).
pub(crate) fn take_one(inspector: &mut Inspector, path: &Path, gc: bool) -> Result<u64> {
    if gc {
        inspector
            .collect_garbage()
            .context("while forcing a garbage collection")?;
    }
    let mut partial = path.as_os_str().to_owned();
    partial.push(".part");
    let partial = PathBuf::from(partial);
    let file =
        File::create(&partial).with_context(|| format!("while creating {}", partial.display()))?;
    let mut writer = BufWriter::with_capacity(1 << 20, file);
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new_spinner();
        bar.set_message(format!("snapshot {}", file_label(path)));
        bar
    } else {
        ProgressBar::hidden()
    };
    let result = inspector.take_snapshot(&mut writer, &mut |bytes| {
        bar.set_message(format!(
            "snapshot {}: {}",
            file_label(path),
            words::bytes(bytes)
        ))
    });
    bar.finish_and_clear();
    let result = result.and_then(|size| {
        writer
            .flush()
            .map_err(heapwise_v8::inspector::InspectorError::Write)?;
        Ok(size)
    });
    match result {
        Ok(size) => {
            drop(writer);
            fs::rename(&partial, path).with_context(|| {
                format!("while renaming {} to {}", partial.display(), path.display())
            })?;
            eprintln!(
                "heapwise: wrote {} ({})",
                path.display(),
                words::bytes(size)
            );
            Ok(size)
        }
        Err(err) => {
            drop(writer);
            let _ = fs::remove_file(&partial);
            Err(err).with_context(|| format!("while taking the snapshot {}", path.display()))
        }
    }
}

//! `heapwise attach`: trace a process that runs already, then detach and
//! leave it as it was. The injector is `heapwise-attach` (ptrace, the
//! process's own `dlopen`); inside the process, the preload's
//! `heapwise_attach` starts recording and redirects the `malloc` family
//! through every module's GOT, and `heapwise_detach` writes it back (see
//! `crates/preload/src/attach.rs`). A process attached before keeps the
//! library, dormant: the next attach calls its `heapwise_attach` again,
//! without loading it twice.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;

use super::args::{parse_duration, parse_max_size, parse_sample_interval};
use super::interrupts;
use super::launch::locate_preload;
use super::native;
use crate::tui::trace::{self as trace_view, LiveTrace, ViewContext};
use crate::tui::{self, Closed, Screen};

/// Trace a running process, then detach and leave it running as before.
#[derive(Args)]
#[command(
    after_help = "Example:\n  heapwise attach --pid 4242 --duration 10m -o server.hwt\n  heapwise report server.hwt\n\nSampled by default (one allocation per 512 KiB on average); --sample 1 traces every allocation. Blocks the process allocated before the attach are not known: the report covers what it allocated since. The library stays loaded (dormant) after the detach."
)]
pub struct AttachArgs {
    /// The process to trace.
    #[arg(long, value_name = "PID")]
    pid: i32,
    /// Detach after this long (e.g. `30s`, `10m`, `2h`); without it, on
    /// Ctrl-C or SIGTERM, or when the process ends.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Trace file, replaced if it exists [default: heapwise-COMMAND-PID.hwt
    /// in the current directory; -2, -3, ... after the name for the next
    /// attaches to the process].
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
    /// Record a sample of the allocations: on average one per SIZE bytes
    /// allocated, at a cost a production service does not notice (sizes
    /// like 64KiB, 1MiB, 512k or bytes). `--sample 1` traces every
    /// allocation instead, exactly.
    #[arg(long, value_name = "SIZE", default_value = "512KiB", value_parser = parse_sample_interval)]
    sample: u64,
    /// The trace never grows past SIZE, however long heapwise stays
    /// attached (at least 64KiB; `none`: no limit) [default: 64MiB, no
    /// limit with --sample 1]. Past it the trace is compacted: totals and
    /// leaks stay exact, memory over time before the compaction is kept as
    /// snapshots, thinned as they age.
    #[arg(long, value_name = "SIZE", value_parser = parse_max_size)]
    max_size: Option<u64>,
    /// Memory for events waiting to be written, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 64, value_parser = clap::value_parser!(u32).range(4..=65536))]
    buffer_mb: u32,
    /// Leaking call stacks shown in the summary.
    #[arg(long, value_name = "N", default_value_t = 5)]
    top: usize,
    /// No live view: on a terminal, heapwise otherwise shows the process's
    /// memory live while attached (`q` detaches).
    #[arg(long)]
    no_tui: bool,
}

/// The preload's answers (`crates/preload/src/attach.rs`).
const ATTACHED: i64 = 0;
const ALREADY: i64 = 1;
const BAD_SETTINGS: i64 = 2;
const NO_TRACE: i64 = 3;
const BUSY: i64 = 5;

/// Runs `heapwise attach`.
pub fn run(args: AttachArgs) -> Result<ExitCode> {
    let pid = args.pid;
    let started = Instant::now();
    heapwise_attach::check(pid)?;
    let preload = locate_preload()?;
    let loaded = loaded_preload(pid, &preload)?;
    let trace = trace_path(&args)?;
    // HEAPWISE_PARENT names the process's parent, so that the trace gets
    // the name asked for (as the process `heapwise run` starts does).
    let settings = format!(
        "HEAPWISE_OUTPUT={}\nHEAPWISE_SESSION={}{}\nHEAPWISE_BUFFER_MB={}\nHEAPWISE_PARENT={}\nHEAPWISE_SAMPLE={}\n",
        trace.display(),
        heapwise_trace::ATTACH_SESSION,
        std::process::id(),
        args.buffer_mb,
        parent_of(pid),
        // 1: every allocation, exactly (a full trace).
        if args.sample <= 1 { 0 } else { args.sample }
    ) + &args
        .max_size
        .map_or_else(String::new, |bytes| format!("HEAPWISE_MAX_SIZE={bytes}\n"));
    interrupts::catch_interrupts();
    let answer = match &loaded {
        Some(library) => heapwise_attach::call_loaded(pid, library, "heapwise_attach", &settings)?,
        None => heapwise_attach::load_and_call(pid, &preload, "heapwise_attach", &settings)?,
    };
    match answer {
        ATTACHED => {}
        ALREADY => bail!(
            "process {pid} is already being traced by heapwise (started under `heapwise run`, or attached by another `heapwise attach`)"
        ),
        BUSY => bail!(
            "process {pid} is still writing the end of its last trace (a detach a moment ago): try again in a few seconds"
        ),
        BAD_SETTINGS => bail!("heapwise's library refused its settings (a bug: please report it)"),
        NO_TRACE => bail!(
            "process {pid} could not create its trace {} (its own stderr says why; it must be able to write there)",
            trace.display()
        ),
        other => bail!("heapwise's library in process {pid} answered {other}"),
    }
    let attach_time = started.elapsed();
    // The library as the process has it mapped, for the detach and for
    // noticing an exec (which unmaps it).
    let library = match loaded {
        Some(library) => library,
        None => preload.canonicalize().unwrap_or(preload),
    };
    let actual = trace_of(&trace, pid);
    eprintln!(
        "heapwise: attached to process {pid} in {} ms, tracing into {}; {}",
        attach_time.as_millis(),
        actual.display(),
        match args.duration {
            Some(d) => format!(
                "detaching after {}",
                heapwise_words::duration(d.as_secs_f64())
            ),
            None => "Ctrl-C detaches".to_string(),
        }
    );
    let mut target = Target::new(pid, &library);
    let end = if !args.no_tui && crate::tui::on_terminal() {
        watch_live(&mut target, &actual, args.duration, started)?
    } else {
        wait(&mut target, args.duration, started)
    };
    match end {
        End::Detach if target.replaced() => say_replaced(pid),
        End::Detach => {
            heapwise_attach::call_loaded(pid, &library, "heapwise_detach", "")
                .context("while detaching (the process keeps running; its trace may end early)")?;
            eprintln!("heapwise: detached from process {pid}; it keeps running as before");
        }
        End::Replaced => say_replaced(pid),
        End::Ended => {}
    }
    let analysis = native::analyze(&actual)?;
    let report = native::summary_report(&analysis, args.top, None, None);
    let mut stderr = std::io::stderr().lock();
    heapwise_render::native::summary::write(&mut stderr, &report, &actual, args.top)?;
    let _ = stderr.flush();
    Ok(ExitCode::SUCCESS)
}

/// Heapwise's library as process `pid` has it mapped, if it has: left
/// there, dormant, by an earlier attach, or preloaded by `heapwise run`.
/// Its entry points are then called where they are, never loaded twice.
/// Another copy of the library (another build, or this one replaced on
/// disk since the process mapped it) is refused: its entry points are not
/// where this file says they are.
fn loaded_preload(pid: i32, preload: &Path) -> Result<Option<PathBuf>> {
    let maps = heapwise_attach::mappings(pid)
        .with_context(|| format!("cannot read the mappings of process {pid}"))?;
    let name = preload.file_name();
    let Some(mapped) = maps
        .iter()
        .find(|m| m.path.as_deref().and_then(Path::file_name) == name)
    else {
        return Ok(None);
    };
    let path = mapped.path.clone().unwrap_or_default();
    let ours = std::fs::metadata(preload).map(|m| std::os::unix::fs::MetadataExt::ino(&m));
    if mapped.deleted || ours.ok() != Some(mapped.inode) {
        bail!(
            "process {pid} has another build of heapwise's library loaded ({}{}), whose entry points this heapwise cannot find: attach with the heapwise that loaded it, or restart the process",
            path.display(),
            if mapped.deleted {
                ", replaced on disk since"
            } else {
                ""
            }
        );
    }
    Ok(Some(path))
}

/// How the attach ends.
enum End {
    /// The duration is up, or the person asked: detach.
    Detach,
    /// The process ended (its trace says how).
    Ended,
    /// The process replaced its program (exec): the trace ended there.
    Replaced,
}

/// The attached process, watched for its end and for an exec.
struct Target {
    pid: i32,
    library: PathBuf,
    last_look: Option<Instant>,
    replaced: bool,
}

impl Target {
    fn new(pid: i32, library: &Path) -> Target {
        Target {
            pid,
            library: library.to_path_buf(),
            last_look: None,
            replaced: false,
        }
    }

    /// Whether the process ended, or replaced its program (looked for
    /// twice a second: an exec unmaps the library, and the new program
    /// has the same pid).
    fn end(&mut self) -> Option<End> {
        if !Path::new(&format!("/proc/{}", self.pid)).exists() || zombie(self.pid) {
            return Some(End::Ended);
        }
        if self
            .last_look
            .is_none_or(|t| t.elapsed() >= Duration::from_millis(500))
        {
            self.last_look = Some(Instant::now());
            if self.replaced() {
                return Some(End::Replaced);
            }
        }
        None
    }

    /// Whether the library is gone from the process: it replaced its
    /// program.
    fn replaced(&mut self) -> bool {
        if !self.replaced
            && let Ok(maps) = heapwise_attach::mappings(self.pid)
        {
            self.replaced = !maps
                .iter()
                .any(|m| m.path.as_deref() == Some(self.library.as_path()));
        }
        self.replaced
    }
}

fn say_replaced(pid: i32) {
    eprintln!(
        "heapwise: process {pid} replaced its program (exec): its trace ends there, and the new program runs untraced"
    );
}

/// The trace's path as an absolute template (the process has its own
/// working directory).
/// An old trace at `-o PATH` is replaced, as `heapwise run` does; the
/// default name is one not taken yet (`heapwise-COMMAND-PID.hwt`, then
/// `heapwise-COMMAND-PID-2.hwt`, ... for the next attaches to the process).
fn trace_path(args: &AttachArgs) -> Result<PathBuf> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    Ok(match &args.output {
        Some(path) => {
            let path = cwd.join(path);
            super::run::prepare_output(&path)?;
            path
        }
        None => {
            let comm =
                std::fs::read_to_string(format!("/proc/{}/comm", args.pid)).unwrap_or_default();
            let name = super::launch::file_safe(comm.trim());
            (1..)
                .map(|n| match n {
                    1 => cwd.join(format!("heapwise-{name}-{{pid}}.hwt")),
                    n => cwd.join(format!("heapwise-{name}-{{pid}}-{n}.hwt")),
                })
                .find(|template| !trace_of(template, args.pid).exists())
                .unwrap_or_default()
        }
    })
}

/// The file the process writes: the template with its pid.
fn trace_of(template: &Path, pid: i32) -> PathBuf {
    PathBuf::from(
        template
            .to_string_lossy()
            .replace("{pid}", &pid.to_string()),
    )
}

/// Waits for the duration, an interrupt, or the process's end or exec.
fn wait(target: &mut Target, duration: Option<Duration>, started: Instant) -> End {
    loop {
        if let Some(end) = target.end() {
            return end;
        }
        if interrupts::interrupted() || duration.is_some_and(|d| started.elapsed() >= d) {
            return End::Detach;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Shows the live view of the trace until the duration is up, the person
/// closes it (`q`, Ctrl-C) or the process ends or execs.
fn watch_live(
    target: &mut Target,
    trace: &Path,
    duration: Option<Duration>,
    started: Instant,
) -> Result<End> {
    let pid = target.pid;
    let mut view = AttachView {
        pid,
        target,
        command: std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .unwrap_or_default()
            .replace('\0', " ")
            .trim()
            .to_string(),
        live: LiveTrace::new(trace),
        duration,
        started,
        end: None,
    };
    let mut screen = Screen::enter().context("cannot draw on this terminal (try --no-tui)")?;
    let closed = tui::show(&mut screen, &mut view)?;
    if closed == Closed::HungUp {
        screen.abandon();
    } else {
        let _ = screen.leave();
    }
    Ok(view.end.unwrap_or(End::Detach))
}

/// `heapwise attach`'s live view: the trace as it grows.
struct AttachView<'a> {
    pid: i32,
    target: &'a mut Target,
    command: String,
    live: LiveTrace,
    duration: Option<Duration>,
    started: Instant,
    /// The process ended or replaced its program.
    end: Option<End>,
}

impl tui::View for AttachView<'_> {
    fn refresh(&mut self) -> Result<bool> {
        self.live.refresh();
        self.ended()
    }

    fn draw(&self, frame: &mut ratatui::Frame) {
        let context = ViewContext {
            title: "heapwise attach",
            command: &self.command,
            pid: self.pid as u32,
            output: None,
            keys: "q detaches (the process keeps running) and prints the summary",
            started: self.started,
            started_with_program: true,
        };
        trace_view::draw(frame, &self.live, &context);
    }

    fn ended(&mut self) -> Result<bool> {
        if self.end.is_none() {
            self.end = self.target.end();
        }
        Ok(self.end.is_some()
            || interrupts::interrupted()
            || self.duration.is_some_and(|d| self.started.elapsed() >= d))
    }

    fn interrupt(&mut self) -> bool {
        true
    }
}

/// The parent's pid (0 when unknown).
fn parent_of(pid: i32) -> i32 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let (_, rest) = s.rsplit_once(')')?;
            rest.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

fn zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

//! What `run` and `report` share: reading a trace, symbolizing it, and
//! rendering a native report in the chosen format.

use heapwise_words as words;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::ValueEnum;

use heapwise_native::follow::Follower;
use heapwise_native::model::NativeReport;
use heapwise_native::suppress::SuppressionList;
use heapwise_native::{Analysis, AnalyzeOptions, ReportOptions};
use heapwise_render::native::{Metric, collapsed, flamegraph, html, pprof, text};

use super::symbols::{Replaying, ReportSymbolizer, TraceSymbolizer};
use crate::tui::trace::{self as trace_view, LiveTrace, ViewContext};
use crate::tui::{self, Closed, Screen};

/// Output formats of `heapwise report`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// A readable report: totals, sizes, leaking stacks.
    Text,
    /// The report as JSON (schema heapwise.native-report/1).
    Json,
    /// One self-contained HTML page: verdict, chart, leaks, flame graph.
    Html,
    /// A gzipped pprof profile (go tool pprof, Pyroscope, Parca).
    Pprof,
    /// An SVG flame graph.
    Flamegraph,
    /// Folded stacks, one line per stack (flamegraph.pl, speedscope).
    Collapsed,
}

/// What a flame graph or folded stacks measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MetricArg {
    /// Bytes still allocated at the end.
    Leaked,
    /// Blocks still allocated at the end.
    LeakedBlocks,
    /// Bytes allocated over the whole run.
    Allocated,
    /// Number of allocations over the whole run.
    Allocations,
}

impl From<MetricArg> for Metric {
    fn from(metric: MetricArg) -> Metric {
        match metric {
            MetricArg::Leaked => Metric::LeakedBytes,
            MetricArg::LeakedBlocks => Metric::LeakedBlocks,
            MetricArg::Allocated => Metric::AllocatedBytes,
            MetricArg::Allocations => Metric::Allocations,
        }
    }
}

/// Whether process `pid` no longer exists.
fn gone(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence.
    let status = unsafe { libc::kill(pid, 0) };
    status != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

/// Follows a trace that is still being written until the traced program
/// ends (or is gone without a word, or Ctrl-C), then returns it analysed.
/// With `view`, the live view is on the terminal meanwhile (`q` stops
/// following early).
pub fn follow_to_end(path: &Path, view: bool) -> Result<Analysis> {
    let context = || format!("while following trace {}", path.display());
    let mut follower = Follower::open(path).with_context(context)?;
    let pid = follower.analysis.header.pid as i32;
    if view {
        return follow_on_screen(path, follower);
    }
    eprintln!(
        "heapwise: following {} (pid {pid}) until it ends; Ctrl-C to report now",
        path.display()
    );
    let mut idle = Instant::now();
    loop {
        if follower.poll().with_context(context)? {
            idle = Instant::now();
        }
        if follower.ended() || super::interrupts::interrupted() {
            break;
        }
        // A process that is gone (killed) writes no end record; what it
        // had not written is in its spill file.
        if gone(pid) && idle.elapsed() > Duration::from_millis(1500) {
            recover(path);
            follower.poll().with_context(context)?;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let ended = follower.ended();
    follower.finish();
    let mut analysis = follower.analysis;
    if ended {
        // What follows the end record (`heapwise run` appends the scan
        // at exit after it): the report of a trace followed to its end is
        // the report of the trace.
        read_on(&mut analysis, path)?;
    }
    Ok(analysis)
}

fn follow_on_screen(path: &Path, follower: Follower) -> Result<Analysis> {
    let pid = follower.analysis.header.pid;
    let mut view = FollowView {
        path,
        pid,
        command: follower.analysis.header.argv.join(" "),
        live: LiveTrace::with(path, follower),
        started: Instant::now(),
        idle: Instant::now(),
    };
    let mut screen = Screen::enter().context("cannot draw on this terminal (try --no-tui)")?;
    if tui::show(&mut screen, &mut view)? == Closed::HungUp {
        screen.abandon();
    } else {
        // A terminal that hung up cannot be restored.
        let _ = screen.leave();
    }
    view.live
        .into_analysis()
        .with_context(|| format!("while following trace {}", path.display()))
}

/// `heapwise report --follow`'s live view: the trace as it grows, until its
/// process ends or is gone.
struct FollowView<'a> {
    path: &'a Path,
    pid: u32,
    command: String,
    live: LiveTrace,
    started: Instant,
    /// When the trace last grew.
    idle: Instant,
}

impl tui::View for FollowView<'_> {
    fn refresh(&mut self) -> Result<bool> {
        if self.live.refresh() {
            self.idle = Instant::now();
        }
        if self.live.ended() {
            return Ok(true);
        }
        // A process that is gone (killed) writes no end record; what it
        // had not written is in its spill file.
        if gone(self.pid as i32) && self.idle.elapsed() > Duration::from_millis(1500) {
            recover(self.path);
            self.live.refresh();
            return Ok(true);
        }
        Ok(false)
    }

    fn draw(&self, frame: &mut ratatui::Frame) {
        let context = ViewContext {
            title: "heapwise report --follow",
            command: &self.command,
            pid: self.pid,
            output: None,
            keys: "q stops following and prints the report of everything read so far",
            started: self.started,
            started_with_program: false,
        };
        trace_view::draw(frame, &self.live, &context);
    }

    fn ended(&mut self) -> Result<bool> {
        Ok(super::interrupts::interrupted())
    }

    fn interrupt(&mut self) -> bool {
        true
    }
}

/// Reads and replays a trace, after recovering what its process recorded
/// but did not write before it died (see [`recover`]).
pub fn analyze(path: &Path) -> Result<Analysis> {
    analyze_with(path, &AnalyzeOptions::default())
}

/// [`analyze`] with options (`--replay`: not the analysis saved beside
/// the trace).
pub fn analyze_with(path: &Path, options: &AnalyzeOptions) -> Result<Analysis> {
    recover(path);
    heapwise_native::analyze(path, options)
        .with_context(|| format!("while reading trace {}", path.display()))
}

/// Reads what was appended to `analysis`'s trace since it was read
/// (`heapwise_native::read_on`).
pub fn read_on(analysis: &mut Analysis, path: &Path) -> Result<()> {
    heapwise_native::read_on(analysis, path)
        .with_context(|| format!("while reading trace {}", path.display()))
}

/// Appends to the trace what its process had recorded but not written when
/// it died, from the spill file the trace names, and says so on stderr.
/// Does nothing for a process that still runs or wrote everything. A
/// failure is reported and the trace is read as it is (its report then
/// says what may be missing).
pub fn recover(path: &Path) {
    use heapwise_trace::spill::{self, Recovered};
    if !path.is_file() {
        // The reader that follows says what is wrong with the path.
        return;
    }
    match spill::recover(path) {
        Ok(Recovered::Appended(found)) if found.bytes > 0 || found.cut_streams > 0 => {
            let mut line = format!(
                "heapwise: recovered {} of records that {} had not written to its trace when it died",
                words::bytes(found.bytes),
                path.display()
            );
            if found.cut_streams > 0 {
                line.push_str(&format!(
                    "; {} thread {} could not be recovered to the end",
                    found.cut_streams,
                    if found.cut_streams == 1 {
                        "stream"
                    } else {
                        "streams"
                    }
                ));
            }
            eprintln!("{line}");
        }
        Ok(_) => {}
        // A file that is not a trace is reported by the reader that follows.
        Err(
            heapwise_trace::TraceError::NotATrace
            | heapwise_trace::TraceError::Empty
            | heapwise_trace::TraceError::TruncatedHeader
            | heapwise_trace::TraceError::BadHeader(_)
            | heapwise_trace::TraceError::UnsupportedVersion { .. },
        ) => {}
        Err(err) => eprintln!("heapwise: warning: {:#}", anyhow::Error::new(err)),
    }
}

/// Reads the suppressions file given with `--suppressions`, if any: a
/// file that cannot be read or parsed is an error, said in one sentence.
pub fn suppressions(path: Option<&Path>) -> Result<Option<SuppressionList>> {
    path.map(|path| SuppressionList::read(path).map_err(anyhow::Error::new))
        .transpose()
}

/// The report of an analysed trace, symbolized.
pub fn report(
    analysis: &Analysis,
    max_leaks: usize,
    min_age: Option<std::time::Duration>,
    suppressions: Option<&SuppressionList>,
) -> NativeReport {
    report_framing(analysis, (max_leaks, 0, false), min_age, suppressions, None)
}

/// [`report`] for the end-of-run summary: every leak group counted, the
/// frames of only the first `top` of each kind of the program's own.
pub fn summary_report(
    analysis: &Analysis,
    top: usize,
    suppressions: Option<&SuppressionList>,
    symbolizer: Option<&mut dyn ReportSymbolizer>,
) -> NativeReport {
    let summary = true;
    report_framing(
        analysis,
        (0, top.max(1), summary),
        None,
        suppressions,
        symbolizer,
    )
}

fn report_framing(
    analysis: &Analysis,
    (max_leaks, framed_per_kind, summary): (usize, usize, bool),
    min_age: Option<std::time::Duration>,
    suppressions: Option<&SuppressionList>,
    symbolizer: Option<&mut dyn ReportSymbolizer>,
) -> NativeReport {
    let mut own;
    let mut replaying;
    let symbolizer: &mut dyn ReportSymbolizer = match (symbolizer, &analysis.symbols) {
        (Some(given), _) => given,
        (None, Some(saved)) => {
            replaying = Replaying::new(saved, analysis);
            &mut replaying
        }
        (None, None) => {
            own = TraceSymbolizer::new(analysis);
            &mut own
        }
    };
    let options = report_options(
        analysis,
        (max_leaks, framed_per_kind, summary),
        min_age,
        suppressions,
    );
    let mut report = heapwise_native::report(analysis, symbolizer, &options);
    report.warnings.extend(symbolizer.said());
    report
}

fn report_options(
    analysis: &Analysis,
    (max_leaks, framed_per_kind, summary): (usize, usize, bool),
    min_age: Option<std::time::Duration>,
    suppressions: Option<&SuppressionList>,
) -> ReportOptions {
    ReportOptions {
        max_leaks,
        framed_per_kind,
        growth: heapwise_native::GrowthOptions {
            min_age_s: min_age.map(|d| d.as_secs_f64()),
            ..Default::default()
        },
        allocator: own_allocator(&analysis.header.exe),
        suppressions: suppressions.cloned(),
        summary,
        ..ReportOptions::default()
    }
}

/// Symbolizes what a report of `analysis` with the default options
/// symbolizes (every leak group listed; `symbolize_as_report`, which
/// judges no stack's growth), keeping every answer: saved with
/// the analysis, they spare the reports that follow reading any module's
/// symbols (`heapwise_native::saved::SavedSymbols`).
pub fn record_symbols(analysis: &Analysis) -> heapwise_native::saved::SavedSymbols {
    let mut real = TraceSymbolizer::new(analysis);
    let mut recording = heapwise_native::saved::Recording::new(&mut real);
    let options = report_options(analysis, (usize::MAX, 0, false), None, None);
    heapwise_native::report::symbolize_as_report(analysis, &mut recording, &options);
    let mut saved = recording.finish(Vec::new());
    saved.warnings = real.said();
    saved
}

/// An allocator linked into the traced executable, which the preload
/// cannot see into (its report then says so instead of "no leak").
pub(crate) fn own_allocator(exe: &str) -> Option<heapwise_native::model::OwnAllocator> {
    use heapwise_native::model::{AllocatorKind as Model, OwnAllocator};
    use heapwise_symbols::allocator::{AllocatorKind, linked_allocator};
    if exe.is_empty() {
        return None;
    }
    // An executable that cannot be read (moved, another machine) is
    // reported by the symbolizer; here it just tells nothing.
    let found = linked_allocator(Path::new(exe)).ok()??;
    Some(OwnAllocator {
        kind: match found.kind {
            AllocatorKind::OwnMalloc => Model::OwnMalloc,
            AllocatorKind::Jemalloc => Model::Jemalloc,
            AllocatorKind::Mimalloc => Model::Mimalloc,
            AllocatorKind::Tcmalloc => Model::Tcmalloc,
        },
        name: found.kind.name().to_string(),
        replaces_malloc: found.replaces_malloc,
        module: exe.to_string(),
        symbols: found.symbols,
    })
}

/// Renders `analysis` in `format` to `out`. JSON and HTML list
/// `max_leaks` leak groups, or every one.
#[allow(clippy::too_many_arguments)]
pub fn render(
    out: &mut dyn Write,
    analysis: &Analysis,
    format: ReportFormat,
    metric: MetricArg,
    text: &heapwise_render::native::TextOptions,
    max_leaks: Option<usize>,
    min_age: Option<std::time::Duration>,
    suppressions: Option<&SuppressionList>,
) -> Result<()> {
    // The renderers write piece by piece (serde_json token by token): into
    // a buffer they can inline, not through `out`'s vtable (cc1plus's
    // 234 MB of JSON spent a sixth of its time in those calls).
    let mut buffered = std::io::BufWriter::with_capacity(1 << 16, out);
    let out = &mut buffered;
    let listed = max_leaks.unwrap_or(0);
    match format {
        ReportFormat::Text => text::write(
            out,
            &report(analysis, text.max_leaks.max(1000), min_age, suppressions),
            text,
        )?,
        ReportFormat::Json => heapwise_native::json::write_pretty(
            out,
            &report(analysis, listed, min_age, suppressions),
        )?,
        ReportFormat::Html => {
            let report = report(analysis, listed, min_age, suppressions);
            let mut symbolizer = TraceSymbolizer::new(analysis);
            let profile = heapwise_native::profile(analysis, &mut symbolizer);
            let mut svg = Vec::new();
            flamegraph::write(&mut svg, &profile, metric.into(), &title(analysis))?;
            html::write(out, &report, Some(&String::from_utf8_lossy(&svg)))?
        }
        ReportFormat::Pprof | ReportFormat::Flamegraph | ReportFormat::Collapsed => {
            let mut symbolizer = TraceSymbolizer::new(analysis);
            let profile = heapwise_native::profile(analysis, &mut symbolizer);
            for warning in symbolizer.warnings() {
                eprintln!("heapwise: warning: {warning}");
            }
            match format {
                ReportFormat::Pprof => pprof::write(out, &profile)?,
                ReportFormat::Flamegraph => {
                    flamegraph::write(out, &profile, metric.into(), &title(analysis))?
                }
                _ => collapsed::write(out, &profile, metric.into())?,
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// The traced command and pid, as a title.
fn title(analysis: &Analysis) -> String {
    let command = analysis.header.argv.join(" ");
    format!(
        "{} (pid {})",
        if command.is_empty() { "?" } else { &command },
        analysis.header.pid
    )
}

/// A trace followed on a thread of its own while its program runs, so that
/// when the program ends its replay is done but for the last blocks (`heapwise
/// run`'s end-of-run summary then takes a fraction of what reading the whole
/// trace would).
pub struct Background {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Option<Follower>>,
}

impl Background {
    /// Follows `trace` (which may not exist yet) until [`Background::finish`],
    /// handing `feeder` the stacks it replays (to warm the summary's
    /// symbolizer with).
    pub fn follow(
        trace: std::path::PathBuf,
        mut feeder: Option<super::symbols::Feeder>,
    ) -> Background {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut follower: Option<Follower> = None;
            while !stopping.load(Ordering::Acquire) {
                match &mut follower {
                    // A trace not written yet (the program is starting), or
                    // one whose header is not complete.
                    None => follower = Follower::open(&trace).ok(),
                    Some(f) => {
                        if f.poll().is_err() {
                            // The summary reads the trace itself and says
                            // what is wrong with it.
                            return None;
                        }
                        if let Some(feeder) = &mut feeder {
                            feeder.feed(&f.analysis);
                        }
                    }
                }
                // Woken early by `finish`: at the program's exit the scan
                // waits for this thread, and a sleep would add to that.
                std::thread::park_timeout(Duration::from_millis(100));
            }
            follower
        });
        Background { stop, thread }
    }

    /// Stops following; the follower (`None` if the trace could not be
    /// followed).
    pub fn finish(self) -> Option<Follower> {
        self.stop.store(true, std::sync::atomic::Ordering::Release);
        self.thread.thread().unpark();
        self.thread.join().ok().flatten()
    }
}

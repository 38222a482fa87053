//! Analysis of native traces written by `libheapwise_preload.so`.
//!
//! [`analyze`] replays a trace ([`replay`]): every allocation and free is
//! applied to a map of live blocks, giving totals, the peak, per-stack
//! counters and the blocks still live at the end. [`report`] turns that into
//! the report's plain data ([`model::NativeReport`]), symbolizing only the
//! stacks it shows. Nothing here prints.
//!
//! ```no_run
//! use heapwise_native::{analyze, report, AnalyzeOptions, ReportOptions};
//! # fn symbolizer() -> Box<dyn heapwise_native::Symbolize> { unimplemented!() }
//! let analysis = analyze("trace.hwt".as_ref(), &AnalyzeOptions::default())?;
//! let report = report(&analysis, &mut *symbolizer(), &ReportOptions::default());
//! println!("{} bytes leaked in {} blocks", report.summary.leaked_bytes, report.summary.leaked_allocations);
//! # Ok::<(), heapwise_native::NativeError>(())
//! ```
#![deny(missing_docs)]

pub mod clock;
mod error;
pub mod merge;
pub mod model;
mod pipeline;
pub mod profile;
pub mod replay;
mod resolve;
pub mod runtime;

use std::path::Path;

use heapwise_trace::{ExitStatus, Header, ReadStatus, StackId, StackTable, TraceReader};

pub use error::NativeError;
pub use profile::{Profile, ProfileStack, profile};
pub use resolve::{Resolver, Symbolize, module_at};

use clock::{ClockFit, TickClock};
use model::{Exit, Leak, NativeReport, Process, SizeClass, Summary, TraceInfo};
use replay::{Replay, SIZE_CLASS_LIMITS, size_class};

/// Options of [`analyze`].
#[derive(Clone, Debug, Default)]
pub struct AnalyzeOptions {}

/// A replayed trace.
pub struct Analysis {
    /// Where it was read from.
    pub path: String,
    /// Its header.
    pub header: Header,
    /// How far it could be read.
    pub status: ReadStatus,
    /// Every stack.
    pub stacks: StackTable,
    /// The replay's results.
    pub replay: Replay,
    /// Tick to seconds.
    pub clock: TickClock,
}

/// Reads and replays a whole trace.
pub fn analyze(path: &Path, _options: &AnalyzeOptions) -> Result<Analysis, NativeError> {
    let reader = TraceReader::open(path)?;
    let header = reader.header().clone();
    let mut merger =
        merge::Merger::new(Replay::new(ClockFit::new(header.tick_source, header.start)));
    let read = pipeline::run(reader, &mut merger)?;
    merger.finish();
    let replay = merger.replay;
    let clock = replay.clock.clock();
    Ok(Analysis {
        path: path.display().to_string(),
        header: read.header,
        status: read.status,
        stacks: read.stacks,
        replay,
        clock,
    })
}

/// Options of [`report`].
#[derive(Clone, Debug)]
pub struct ReportOptions {
    /// At most this many leak groups are symbolized and listed (0: all).
    pub max_leaks: usize,
}

impl Default for ReportOptions {
    fn default() -> ReportOptions {
        ReportOptions { max_leaks: 1000 }
    }
}

impl Analysis {
    /// Seconds from the start of the trace to its last event.
    pub fn duration_s(&self) -> f64 {
        if self.replay.last_tick == 0 {
            0.0
        } else {
            self.clock.seconds(self.replay.last_tick).max(0.0)
        }
    }

    /// Stacks with live blocks, largest live bytes first (ties: more
    /// blocks, then older stacks).
    pub fn leaking_stacks(&self) -> Vec<StackId> {
        let mut leaking: Vec<StackId> = (0..self.replay.stacks.len() as StackId)
            .filter(|&s| self.replay.stacks[s as usize].live_allocations > 0)
            .collect();
        leaking.sort_by(|&a, &b| {
            let (sa, sb) = (
                &self.replay.stacks[a as usize],
                &self.replay.stacks[b as usize],
            );
            sb.live_bytes
                .cmp(&sa.live_bytes)
                .then(sb.live_allocations.cmp(&sa.live_allocations))
                .then(a.cmp(&b))
        });
        leaking
    }

    /// When stack `stack` was first used.
    pub fn first_tick(&self, stack: StackId) -> u64 {
        self.replay
            .stacks
            .get(stack as usize)
            .map_or(0, |s| s.first_tick)
    }

    /// A resolver for this trace's stacks.
    pub fn resolver<'a>(&'a self, first_tick: &'a dyn Fn(StackId) -> u64) -> Resolver<'a> {
        Resolver::new(&self.stacks, &self.replay.modules, first_tick)
    }
}

/// Builds the report: totals, size classes, and the leak groups with their
/// symbolized stacks.
pub fn report(
    analysis: &Analysis,
    symbolizer: &mut dyn Symbolize,
    options: &ReportOptions,
) -> NativeReport {
    let replay = &analysis.replay;
    let mut leaking = analysis.leaking_stacks();
    if options.max_leaks > 0 {
        leaking.truncate(options.max_leaks);
    }
    let first_tick = |s: StackId| analysis.first_tick(s);
    let mut resolver = analysis.resolver(&first_tick);
    resolver.prepare(leaking.iter().copied(), symbolizer);
    let leaks = leaking
        .iter()
        .map(|&stack| {
            let stats = &replay.stacks[stack as usize];
            {
                let frames = resolver.frames(stack);
                Leak {
                    bytes: stats.live_bytes,
                    allocations: stats.live_allocations,
                    note: runtime::note(&frames),
                    frames,
                }
            }
        })
        .collect();

    let mut leaked_by_class = [(0u64, 0u64); 3];
    replay.for_each_live(|size, _| {
        let class = &mut leaked_by_class[size_class(size)];
        class.0 += 1;
        class.1 += size;
    });
    let names = ["< 1 KiB", "1 KiB - 1 MiB", "> 1 MiB"];
    let size_classes = (0..3)
        .map(|i| SizeClass {
            name: names[i],
            min_bytes: if i == 0 { 0 } else { SIZE_CLASS_LIMITS[i - 1] },
            max_bytes: SIZE_CLASS_LIMITS.get(i).map(|limit| limit - 1),
            allocations: replay.classes[i].allocations,
            allocated_bytes: replay.classes[i].allocated_bytes,
            leaked_allocations: leaked_by_class[i].0,
            leaked_bytes: leaked_by_class[i].1,
        })
        .collect();

    let mut warnings = Vec::new();
    if let Some(damage) = &analysis.status.damage {
        warnings.push(format!(
            "the trace is damaged ({damage}); everything before that point was read"
        ));
    } else if analysis.status.truncated() {
        warnings.push(format!(
            "the trace ends in the middle of a block ({} bytes); the process was killed or is still running, and its last events are not included",
            analysis.status.partial_tail_bytes
        ));
    }
    if replay.lost > 0 {
        warnings.push(format!(
            "{} allocation calls could not be recorded (see docs/trace-format.md)",
            replay.lost
        ));
    }
    if matches!(replay.exit, Some(ExitStatus::Exec)) {
        warnings.push(
            "the process replaced itself with exec; its successor wrote its own trace".into(),
        );
    }
    warnings.extend(replay.notes.iter().map(|n| format!("tracer: {n}")));

    let exit = match replay.exit {
        Some(ExitStatus::Code(code)) => Some(Exit::Code(code)),
        Some(ExitStatus::Signal(signal)) => Some(Exit::Signal(signal)),
        _ => None,
    };
    NativeReport {
        schema: model::SCHEMA,
        process: Process {
            pid: analysis.header.pid,
            command: analysis.header.argv.clone(),
            exit,
        },
        summary: Summary {
            allocations: replay.allocations,
            frees: replay.frees,
            allocated_bytes: replay.allocated_bytes,
            peak_live_bytes: replay.peak_live_bytes,
            peak_t_s: if replay.peak_live_bytes == 0 {
                0.0
            } else {
                analysis.clock.seconds(replay.peak_tick).max(0.0)
            },
            leaked_bytes: replay.live_bytes,
            leaked_allocations: replay.live_allocations(),
            duration_s: analysis.duration_s(),
        },
        size_classes,
        leaks,
        trace: TraceInfo {
            path: analysis.path.clone(),
            truncated: analysis.status.truncated(),
            damage: analysis.status.damage.clone(),
            lost_events: replay.lost,
            threads: replay.threads,
        },
        warnings,
    }
}

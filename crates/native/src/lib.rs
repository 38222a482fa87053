//! Analysis of native traces written by `libheapwise_preload.so`.
//!
//! [`analyze`] replays a trace ([`replay`]): every allocation and free is
//! applied to a map of live blocks, giving totals, the peak, per-stack
//! counters and the blocks still live at the end. [`report`] turns that into
//! the report's plain data ([`model::NativeReport`]), symbolizing only the
//! stacks it shows. Nothing here prints.
//!
//! Symbolization is the caller's (the `heapwise` binary uses
//! `heapwise-symbols`); this one names each frame by module and address:
//!
//! ```no_run
//! use heapwise_native::model::Frame;
//! use heapwise_native::{analyze, report, AnalyzeOptions, ReportOptions, Symbolize};
//! use heapwise_trace::ModuleLoad;
//!
//! struct Addresses;
//!
//! impl Symbolize for Addresses {
//!     fn symbolize(&mut self, module: &ModuleLoad, addresses: &[u64]) -> Vec<Vec<Frame>> {
//!         let frame = |ip: &u64| Frame {
//!             function: None,
//!             file: None,
//!             line: None,
//!             module: Some(module.path.clone()),
//!             address: format!("{ip:#x}"),
//!             inlined: false,
//!         };
//!         addresses.iter().map(|ip| vec![frame(ip)]).collect()
//!     }
//! }
//!
//! let analysis = analyze("trace.hwt".as_ref(), &AnalyzeOptions::default())?;
//! let report = report(&analysis, &mut Addresses, &ReportOptions::default());
//! println!("{} bytes leaked in {} blocks", report.summary.leaked_bytes, report.summary.leaked_allocations);
//! # Ok::<(), heapwise_native::NativeError>(())
//! ```
#![deny(missing_docs)]

pub mod clock;
mod error;
pub mod follow;
pub mod growth;
pub mod inherit;
pub mod merge;
pub mod model;
pub mod ops;
mod pipeline;
pub mod profile;
pub mod replay;
mod resolve;
pub mod runtime;
pub mod timeline;
pub mod verdict;

use std::path::Path;

pub use heapwise_trace::ExitStatus;
use heapwise_trace::{Header, ReadStatus, StackId, StackTable, TraceReader};

pub use error::NativeError;
pub use profile::{Profile, ProfileStack, profile};
pub use resolve::{Resolver, Symbolize, module_at};

use clock::{ClockFit, TickClock};
use model::{
    Exit, Growth, Leak, MemoryOverTime, NativeReport, OldAllocations, OwnAllocator, Peak, Process,
    SizeClass, StackBlocks, StackBytes, StackCount, Summary, Temporary, TraceInfo,
};
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
    let mut replay = Replay::new(ClockFit::new(header.tick_source, header.start));
    let mut merger = merge::Merger::new();
    let read = pipeline::run(reader, &mut merger, &mut replay)?;
    merger.finish(&mut replay);
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
    /// Stacks listed in each of the time-based sections (growth, peak,
    /// old and temporary allocations).
    pub max_stacks: usize,
    /// Options of the time-based sections.
    pub growth: growth::GrowthOptions,
    /// An allocator of the program's own found in its executable (the
    /// caller reads the executable; `heapwise` uses `heapwise-symbols`).
    pub allocator: Option<OwnAllocator>,
}

impl Default for ReportOptions {
    fn default() -> ReportOptions {
        ReportOptions {
            max_leaks: 1000,
            max_stacks: 20,
            growth: growth::GrowthOptions::default(),
            allocator: None,
        }
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

    /// Seconds from the start to the peak of live bytes (0 without one).
    pub fn peak_t_s(&self) -> f64 {
        if self.replay.peak_live_bytes == 0 {
            0.0
        } else {
            self.clock.seconds(self.replay.peak_tick).max(0.0)
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

/// Builds the report: totals, size classes, the leak groups, and memory over
/// time, with every stack it shows symbolized in one batch.
pub fn report(
    analysis: &Analysis,
    symbolizer: &mut dyn Symbolize,
    options: &ReportOptions,
) -> NativeReport {
    let replay = &analysis.replay;
    // Every leaking stack is symbolized, listed or not: the verdict needs
    // to know which of them the runtime holds by design.
    let leaking = analysis.leaking_stacks();
    let listed = if options.max_leaks > 0 {
        leaking.len().min(options.max_leaks)
    } else {
        leaking.len()
    };
    let timeline = growth::timeline(analysis);
    let live = growth::live_verdict(&timeline);
    let rss = growth::rss_verdict(analysis);
    let mut stack_growth = growth::stack_growth(analysis, &timeline, &options.growth);
    let growing_stacks = stack_growth.iter().filter(|g| g.verdict.leak).count() as u64;
    stack_growth.truncate(options.max_stacks);
    let mut peak_stacks = growth::peak_stacks(analysis);
    peak_stacks.truncate(options.max_stacks);
    let (min_age_s, old) = growth::old_allocations(analysis, &options.growth);
    let (old_allocations, old_bytes) = old
        .iter()
        .fold((0, 0), |(n, b), &(_, sn, sb)| (n + sn, b + sb));
    let old_shown = &old[..old.len().min(options.max_stacks)];
    let mut temporary = growth::temporary_stacks(analysis);
    temporary.truncate(options.max_stacks);

    let first_tick = |s: StackId| analysis.first_tick(s);
    let mut resolver = analysis.resolver(&first_tick);
    let wanted = leaking
        .iter()
        .copied()
        .chain(stack_growth.iter().map(|g| g.stack))
        .chain(peak_stacks.iter().map(|p| p.0))
        .chain(old_shown.iter().map(|o| o.0))
        .chain(temporary.iter().map(|t| t.0));
    resolver.prepare(wanted, symbolizer);

    let mut own = verdict::Held::default();
    let mut runtime_held = verdict::Held::default();
    let mut leaks = Vec::with_capacity(listed);
    for (i, &stack) in leaking.iter().enumerate() {
        let stats = &replay.stacks[stack as usize];
        let frames = resolver.frames(stack);
        let note = runtime::note(&frames);
        let held = if note.is_some() {
            &mut runtime_held
        } else {
            &mut own
        };
        held.bytes += stats.live_bytes;
        held.allocations += stats.live_allocations;
        if i < listed {
            leaks.push(Leak {
                bytes: stats.live_bytes,
                allocations: stats.live_allocations,
                note,
                frames,
            });
        }
    }
    let growth: Vec<Growth> = stack_growth
        .into_iter()
        .map(|g| {
            let stats = &replay.stacks[g.stack as usize];
            Growth {
                frames: resolver.frames(g.stack),
                pattern: g.verdict.pattern,
                leak: g.verdict.leak,
                slope_bytes_per_s: g.verdict.slope_bytes_per_s,
                live_bytes_end: stats.live_bytes,
                allocations_end: stats.live_allocations,
                verdict: g.verdict,
            }
        })
        .collect();
    let peak = Peak {
        t_s: analysis.peak_t_s(),
        live_bytes: replay.peak_live_bytes,
        stacks: peak_stacks
            .iter()
            .map(|&(stack, bytes)| StackBytes {
                bytes,
                frames: resolver.frames(stack),
            })
            .collect(),
    };
    let old_allocations = OldAllocations {
        min_age_s,
        allocations: old_allocations,
        bytes: old_bytes,
        stacks: old_shown
            .iter()
            .map(|&(stack, allocations, bytes)| StackBlocks {
                allocations,
                bytes,
                frames: resolver.frames(stack),
            })
            .collect(),
    };
    let temporary = Temporary {
        allocations: replay.temporary,
        fraction: if replay.allocations == 0 {
            0.0
        } else {
            replay.temporary as f64 / replay.allocations as f64
        },
        stacks: temporary
            .iter()
            .map(|&(stack, allocations)| StackCount {
                allocations,
                frames: resolver.frames(stack),
            })
            .collect(),
    };
    let fragmentation = growth::fragmentation(&timeline, &live, rss.as_ref());
    let leaking_growth: Vec<(String, heapwise_series::Pattern, Option<f64>)> = growth
        .iter()
        .filter(|g| g.leak)
        .map(|g| {
            (
                g.frames
                    .first()
                    .map(|f| f.text().short())
                    .unwrap_or_default(),
                g.pattern,
                g.slope_bytes_per_s,
            )
        })
        .collect();
    let mut recommendations = growth::recommendations(&live, &leaking_growth);
    if let Some(f) = &fragmentation {
        recommendations.push(f.finding.clone());
        recommendations.extend(f.advice.iter().cloned());
    }
    // The leak rate: the live heap's slope when it leaks as a whole, else
    // what the leaking stacks add up to (a swinging buffer can hide them
    // in the total).
    let stacks_rate: f64 = growth
        .iter()
        .filter(|g| g.leak)
        .filter_map(|g| g.slope_bytes_per_s)
        .sum();
    let memory = MemoryOverTime {
        leak_rate_bytes_per_s: if live.leak {
            live.slope_bytes_per_s
        } else if stacks_rate > 0.0 {
            Some(stacks_rate)
        } else {
            None
        },
        live,
        rss,
        fragmentation,
    };

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
    let inherited = match inherit::section(analysis, symbolizer, options.max_leaks) {
        Ok(section) => section,
        Err(why) => {
            warnings.push(why);
            None
        }
    };
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
    let trace = TraceInfo {
        path: analysis.path.clone(),
        truncated: analysis.status.truncated(),
        partial_tail_bytes: analysis.status.partial_tail_bytes,
        damage: analysis.status.damage.clone(),
        lost_events: replay.lost,
        threads: replay.threads,
        bytes: analysis.status.bytes_read,
        blocks: analysis.status.blocks,
        uncompressed_blocks: analysis.status.uncompressed_blocks,
        crash_safe: !analysis.header.spill.is_empty(),
        recovered_bytes: replay.recovered.bytes,
        unrecovered_streams: replay.recovered.cut_streams,
        unrecovered_bytes: replay.recovered.missing_bytes,
        spill_left: !analysis.header.spill.is_empty() && Path::new(&analysis.header.spill).exists(),
    };
    let verdict = verdict::verdict(&verdict::Evidence {
        allocations: replay.allocations,
        own,
        runtime: runtime_held,
        heap_grows: memory.live.leak,
        growing_stacks,
        exit: replay.exit,
        missing: verdict::MissingEvidence::of(&trace, replay.exit),
        allocator: options.allocator.as_ref(),
    });
    NativeReport {
        schema: model::SCHEMA,
        process: Process {
            pid: analysis.header.pid,
            command: analysis.header.argv.clone(),
            exit,
        },
        verdict,
        allocator: options.allocator.clone(),
        summary: Summary {
            allocations: replay.allocations,
            frees: replay.frees,
            allocated_bytes: replay.allocated_bytes,
            peak_live_bytes: replay.peak_live_bytes,
            peak_t_s: analysis.peak_t_s(),
            leaked_bytes: replay.live_bytes,
            leaked_allocations: replay.live_allocations(),
            duration_s: analysis.duration_s(),
        },
        size_classes,
        leaks,
        timeline,
        growth,
        memory,
        peak,
        old_allocations,
        temporary,
        recommendations,
        trace,
        inherited,
        warnings,
    }
}

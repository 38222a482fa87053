//! Analysis of native traces written by `libheapwise_preload.so`.
//!
//! [`analyze`] replays a trace ([`replay`]): every allocation and free is
//! applied to a map of live blocks, giving totals, the peak, per-stack
//! counters and the blocks still live at the end. [`report()`] turns that into
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
//!             module: Some(module.path.as_str().into()),
//!             address: format!("{ip:#x}").into(),
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
pub mod grid;
pub mod inherit;
pub mod json;
pub mod merge;
pub mod model;
pub mod ops;
mod pipeline;
pub mod profile;
pub mod reach;
pub mod replay;
pub mod report;
mod resolve;
pub mod runtime;
pub mod saved;
pub mod suppress;
pub mod verdict;
/// What one recorded block stands for (moved to the format crate: the tracer weighs blocks too).
pub use heapwise_trace::weigh;

use std::path::Path;

pub use heapwise_trace::ExitStatus;
use heapwise_trace::{Header, ReadStatus, StackId, StackTable, TraceReader};

pub use error::NativeError;
pub use profile::{Profile, ProfileStack, profile};
pub use resolve::{Resolver, Symbolize, module_at};

use clock::{ClockFit, TickClock};
use replay::Replay;
pub use report::{GrowthOptions, ReportOptions, report};

/// Options of [`analyze`].
#[derive(Clone, Debug, Default)]
pub struct AnalyzeOptions {
    /// Read and replay the trace even when an analysis of it is saved
    /// beside it ([`saved`]).
    pub ignore_saved: bool,
}

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
    /// What the report's symbolizer answered, when the analysis was
    /// loaded from one saved with them ([`saved`]).
    pub symbols: Option<saved::SavedSymbols>,
}

/// Reads and replays a whole trace.
pub fn analyze(path: &Path, options: &AnalyzeOptions) -> Result<Analysis, NativeError> {
    if !options.ignore_saved
        && let Some(analysis) = saved::load(path)
    {
        return Ok(analysis);
    }
    let reader = TraceReader::open(path)?;
    let header = reader.header().clone();
    let mut replay = Replay::new(ClockFit::new(header.tick_source, header.start));
    replay.weigh = weigh::Weigh::new(header.sample_interval);
    replay.grow_on_a_thread();
    let mut merger = merge::Merger::new();
    let mut read = pipeline::run(reader, &mut merger, &mut replay)?;
    merger.finish(&mut replay);
    // Every stack is read: what follows looks nodes up, never adds any.
    read.stacks.forget_index();
    let clock = replay.clock.clock();
    Ok(Analysis {
        path: path.display().to_string(),
        header: read.header,
        status: read.status,
        stacks: read.stacks,
        replay,
        clock,
        symbols: None,
    })
}

/// Reads on in `analysis`'s trace, at `path`, from where its reading
/// stopped: what was appended since (`heapwise run` appends how the program
/// ended and what its scan at exit found), applied as [`analyze`] would
/// apply it reading the whole trace.
pub fn read_on(analysis: &mut Analysis, path: &Path) -> Result<(), NativeError> {
    let mut reader = TraceReader::resume(path, &analysis.status)?;
    std::mem::swap(reader.stacks_mut(), &mut analysis.stacks);
    let mut merger = merge::Merger::new();
    let mut collector = pipeline::Collector::direct(
        pipeline::Collecting::new(&analysis.header),
        &mut merger,
        &mut analysis.replay,
    );
    let result = reader.read_all(&mut collector);
    collector.send();
    drop(collector);
    merger.finish(&mut analysis.replay);
    std::mem::swap(reader.stacks_mut(), &mut analysis.stacks);
    analysis.status = reader.status().clone();
    analysis.clock = analysis.replay.clock.clock();
    result?;
    Ok(())
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

    /// In a compacted trace, which buckets of the grid hold a measurement:
    /// those from the checkpoint on (every event is there) and those in
    /// which a snapshot of the checkpoint's history was taken; between
    /// snapshots the grid only carries the last value, so a verdict must
    /// not read those buckets as flat stretches. `None` when every bucket
    /// is a measurement.
    ///
    /// Buckets wholly inside a time sampling was paused are not
    /// measurements either: nothing allocated then was recorded.
    pub fn measured_buckets(&self) -> Option<Vec<bool>> {
        let compacted = self.replay.compacted.as_ref();
        let paused = self.paused_ticks();
        if compacted.is_none() && paused.is_empty() {
            return None;
        }
        let grid = &self.replay.grid;
        let count = grid.buckets.len();
        if count == 0 {
            return None;
        }
        let index = |tick: u64| grid.index_of(tick).min(count - 1);
        let mut measured = vec![true; count];
        if let Some(compacted) = compacted {
            measured[..index(compacted.tick)].fill(false);
            for &tick in &compacted.snapshots {
                measured[index(tick)] = true;
            }
        }
        for (from, until) in paused {
            // Buckets that end after the pause began and before it ended.
            let (first, last) = (index(from), index(until));
            if last > first + 1 {
                measured[first + 1..last].fill(false);
            }
        }
        Some(measured)
    }

    /// When sampling was paused, as (from, until) ticks (until the end of
    /// the trace for a pause not ended).
    pub fn paused_ticks(&self) -> Vec<(u64, u64)> {
        self.replay
            .paused
            .iter()
            .map(|&(from, until)| (from, until.unwrap_or(self.replay.last_tick).max(from)))
            .collect()
    }

    /// Seconds sampling was paused.
    pub fn paused_s(&self) -> f64 {
        self.paused_ticks()
            .iter()
            .map(|&(from, until)| self.clock.seconds(until) - self.clock.seconds(from))
            .sum::<f64>()
            .max(0.0)
    }

    /// Seconds of sampling (not paused) from the start to `t_s`: the time
    /// axis growth is judged on, so that a pause is neither a flat stretch
    /// nor a jump.
    pub fn sampled_seconds(&self, t_s: f64) -> f64 {
        let paused: f64 = self
            .paused_ticks()
            .iter()
            .map(|&(from, until)| {
                let (from, until) = (self.clock.seconds(from), self.clock.seconds(until));
                (t_s.min(until) - from).max(0.0)
            })
            .sum();
        t_s - paused
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
        self.replay.stacks.get(stack).map_or(0, |s| s.first_tick)
    }

    /// A resolver for this trace's stacks.
    pub fn resolver<'a>(&'a self, first_tick: &'a dyn Fn(StackId) -> u64) -> Resolver<'a> {
        Resolver::new(&self.stacks, &self.replay.modules, first_tick)
    }
}

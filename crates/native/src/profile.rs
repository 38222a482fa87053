//! Every call stack with its counters, symbolized: the input of the
//! profile-shaped outputs (pprof, flame graphs, folded stacks).

use heapwise_trace::StackId;
use std::sync::Arc;

use crate::model::Frame;
use crate::{Analysis, Symbolize};

/// One call stack and what was allocated from it.
#[derive(Clone, Debug)]
pub struct ProfileStack {
    /// Frames, innermost first (allocator frames trimmed).
    pub frames: Vec<Arc<Frame>>,
    /// Allocations made from it.
    pub allocations: u64,
    /// Bytes they requested.
    pub allocated_bytes: u64,
    /// Blocks from it still live at the end.
    pub live_allocations: u64,
    /// Their bytes.
    pub live_bytes: u64,
}

/// All stacks of a trace.
#[derive(Clone, Debug)]
pub struct Profile {
    /// Stacks that allocated anything.
    pub stacks: Vec<ProfileStack>,
    /// Wall-clock start of the trace, nanoseconds since the Unix epoch.
    pub start_realtime_ns: u64,
    /// Length of the trace in nanoseconds.
    pub duration_ns: u64,
    /// Path of the traced executable (empty if unknown): the profile's
    /// main binary.
    pub executable: String,
    /// R, the mean bytes between samples of a sampled trace (0 for a full
    /// one): its counts are estimates (see [`crate::weigh`]).
    pub sample_interval: u64,
}

/// Symbolizes every stack that allocated and collects its counters.
pub fn profile(analysis: &Analysis, symbolizer: &mut dyn Symbolize) -> Profile {
    let used: Vec<StackId> = (0..analysis.replay.stacks.len() as StackId)
        .filter(|&s| analysis.replay.stacks[s as usize].allocations > 0)
        .collect();
    let first_tick = |s: StackId| analysis.first_tick(s);
    let mut resolver = analysis.resolver(&first_tick);
    resolver.prepare(used.iter().copied(), symbolizer);
    let stacks = used
        .iter()
        .map(|&s| {
            let stats = &analysis.replay.stacks[s as usize];
            ProfileStack {
                frames: resolver.frames(s),
                allocations: stats.allocations,
                allocated_bytes: stats.allocated_bytes,
                live_allocations: stats.live_allocations,
                live_bytes: stats.live_bytes,
            }
        })
        .collect();
    Profile {
        stacks,
        start_realtime_ns: analysis.header.start.realtime_ns,
        duration_ns: (analysis.duration_s() * 1e9) as u64,
        executable: analysis.header.exe.clone(),
        sample_interval: analysis.header.sample_interval,
    }
}

//! Native-trace reports: one module per output format.

pub mod collapsed;
pub mod flamegraph;
pub mod html;
pub mod pprof;
pub mod summary;
pub mod text;
pub mod time;

/// Options of the text report.
#[derive(Clone, Debug)]
pub struct TextOptions {
    /// Leak groups shown (the rest are counted).
    pub max_leaks: usize,
    /// Frames shown per stack (the rest are counted).
    pub max_frames: usize,
}

impl Default for TextOptions {
    fn default() -> TextOptions {
        TextOptions {
            max_leaks: 20,
            max_frames: 16,
        }
    }
}

/// Which counter a stack-shaped output (flame graph, folded stacks) shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Bytes still allocated at the end (the leaks).
    LeakedBytes,
    /// Blocks still allocated at the end.
    LeakedBlocks,
    /// Bytes allocated over the whole run.
    AllocatedBytes,
    /// Allocations over the whole run.
    Allocations,
}

impl Metric {
    /// The value of a stack for this metric.
    pub fn of(self, stack: &heapwise_native::ProfileStack) -> u64 {
        match self {
            Metric::LeakedBytes => stack.live_bytes,
            Metric::LeakedBlocks => stack.live_allocations,
            Metric::AllocatedBytes => stack.allocated_bytes,
            Metric::Allocations => stack.allocations,
        }
    }

    /// What the numbers count.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::LeakedBytes | Metric::AllocatedBytes => "bytes",
            Metric::LeakedBlocks | Metric::Allocations => "blocks",
        }
    }

    /// A title for the output.
    pub fn title(self) -> &'static str {
        match self {
            Metric::LeakedBytes => "Leaked bytes",
            Metric::LeakedBlocks => "Leaked blocks",
            Metric::AllocatedBytes => "Allocated bytes",
            Metric::Allocations => "Allocations",
        }
    }
}

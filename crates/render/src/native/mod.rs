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

/// What a sampled trace's figures are, in one sentence (every format
/// says it the same way, under the headline).
pub fn sampling_sentence(sampling: &heapwise_native::model::Sampling) -> String {
    use heapwise_words as words;
    let unseen = sampling
        .detectable_rate_bytes_per_s
        .map_or_else(String::new, |rate| {
            format!(
                "; a leak slower than {} over a run this long could go unseen",
                words::rate(rate)
            )
        });
    let paused = if sampling.pauses == 0 {
        String::new()
    } else {
        format!(
            " Sampling was paused {} for {} in all: what was allocated then is not counted, and growth is judged on the time it ran.",
            match sampling.pauses {
                1 => "once".to_string(),
                n => format!("{} times", words::thousands(n)),
            },
            words::duration(sampling.paused_s)
        )
    };
    format!(
        "Sampled: about one allocation per {} allocated was recorded ({} recorded); every figure is an estimate — leaked bytes ± {} (one standard error), a call stack that leaked less than {} may not appear at all{unseen}.{paused}",
        words::bytes(sampling.mean_interval_bytes),
        words::thousands(sampling.recorded_allocations),
        words::bytes_f64(sampling.leaked_bytes_standard_error),
        words::bytes(sampling.seen_above_bytes)
    )
}

/// How a trace kept under its size limit keeps its past, in one sentence
/// (every format says it the same way, under the headline).
pub fn compaction_sentence(c: &heapwise_native::model::Compaction) -> String {
    use heapwise_words as words;
    let times = match c.compactions {
        1 => "once".to_string(),
        n => format!("{} times", words::thousands(u64::from(n))),
    };
    format!(
        "Kept under its size limit: compacted {times} — every event from {} on, memory over time before that as {} snapshots (totals and leaks cover the whole run).",
        words::seconds_exact(c.detail_from_s),
        words::thousands(c.snapshots as u64),
    )
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

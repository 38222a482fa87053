//! Native-trace reports: one module per output format.

pub mod collapsed;
pub mod flamegraph;
pub mod html;
pub mod pprof;
pub mod summary;
pub mod text;
pub mod time;

use heapwise_native::model::{Leak, LeakKind, NativeReport};

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

/// The leak groups in the order every format lists them: the program's
/// own by leak kind — definitely, indirectly, possibly lost, then still
/// reachable (one list when the process was not scanned at exit) — then
/// the suppressed ones, then what the runtime holds by design. Each list
/// keeps the report's order (largest first).
pub struct LeakLists<'r> {
    /// The program's own groups, by kind (`None`: not scanned).
    pub own: Vec<(Option<LeakKind>, Vec<&'r Leak>)>,
    /// Groups a suppression matched (not the runtime's).
    pub suppressed: Vec<&'r Leak>,
    /// Groups the C/C++ runtime holds until exit by design.
    pub runtime: Vec<&'r Leak>,
}

/// Sorts the report's leak groups into [`LeakLists`].
pub fn leak_lists(report: &NativeReport) -> LeakLists<'_> {
    let mut lists = LeakLists {
        own: Vec::new(),
        suppressed: Vec::new(),
        runtime: Vec::new(),
    };
    let own: Vec<&Leak> = report
        .leaks
        .iter()
        .filter(|l| {
            if l.note.is_some() {
                lists.runtime.push(l);
                false
            } else if l.suppressed.is_some() {
                lists.suppressed.push(l);
                false
            } else {
                true
            }
        })
        .collect();
    let kinds = [None]
        .into_iter()
        .chain(LeakKind::ALL.into_iter().map(Some));
    for kind in kinds {
        let groups: Vec<&Leak> = own.iter().copied().filter(|l| l.kind == kind).collect();
        if !groups.is_empty() {
            lists.own.push((kind, groups));
        }
    }
    lists
}

/// The heading of a list of leak groups of one kind: `Definitely lost`.
pub fn kind_heading(kind: LeakKind) -> String {
    let words = kind.words();
    let mut chars = words.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// What the scan at exit found, in one sentence, or why there was none
/// (`None` when nothing was still allocated, so there is nothing to say).
pub fn reachability_sentence(report: &NativeReport) -> Option<String> {
    use heapwise_words as words;
    if report.summary.leaked_allocations == 0 {
        return None;
    }
    let Some(totals) = &report.summary.reachability else {
        return report
            .reachability_scan
            .reason
            .as_ref()
            .map(|why| format!("Not scanned at exit, so still reachable blocks cannot be told from lost ones: {why}."));
    };
    let parts: Vec<String> = LeakKind::ALL
        .iter()
        .map(|&kind| {
            let a = totals.of(kind);
            format!(
                "{} {} in {} {}",
                kind.words(),
                words::bytes(a.bytes),
                words::thousands(a.blocks),
                if a.blocks == 1 { "block" } else { "blocks" }
            )
        })
        .collect();
    Some(format!(
        "At exit: {} (valgrind's kinds, from a scan of its memory while the program was held for {}).",
        parts.join(", "),
        words::millis(report.reachability_scan.held_s * 1000.0)
    ))
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

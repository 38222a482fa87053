//! Totals: the process, the summary and the size classes.

use crate::model::{Exit, Process, Sampling, SizeClass, Summary};
use crate::replay::{SIZE_CLASS_LIMITS, size_class};
use crate::{Analysis, ExitStatus};

/// The traced process and how it ended (an `exec` is no end: its successor
/// wrote its own trace).
pub(crate) fn process(analysis: &Analysis) -> Process {
    let exit = match analysis.replay.exit {
        Some(ExitStatus::Code(code)) => Some(Exit::Code(code)),
        Some(ExitStatus::Signal(signal)) => Some(Exit::Signal(signal)),
        _ => None,
    };
    Process {
        pid: analysis.header.pid,
        command: analysis.header.argv.clone(),
        exit,
    }
}

/// Totals over the whole trace.
pub(crate) fn summary(analysis: &Analysis) -> Summary {
    let replay = &analysis.replay;
    Summary {
        allocations: replay.allocations,
        frees: replay.frees,
        allocated_bytes: replay.allocated_bytes,
        peak_live_bytes: replay.peak_live_bytes,
        peak_t_s: analysis.peak_t_s(),
        leaked_bytes: replay.live_bytes,
        leaked_allocations: replay.live_allocations(),
        duration_s: analysis.duration_s(),
        reachability: None,
    }
}

/// Allocations and leaks by size class.
pub(crate) fn size_classes(analysis: &Analysis) -> Vec<SizeClass> {
    let replay = &analysis.replay;
    let mut leaked_by_class = [(0u64, 0u64); 3];
    replay.for_each_live(|block| {
        let class = &mut leaked_by_class[size_class(block.size)];
        class.0 += block.count;
        class.1 += block.bytes;
    });
    let names = ["< 1 KiB", "1 KiB - 1 MiB", "> 1 MiB"];
    (0..3)
        .map(|i| SizeClass {
            name: names[i],
            min_bytes: if i == 0 { 0 } else { SIZE_CLASS_LIMITS[i - 1] },
            max_bytes: SIZE_CLASS_LIMITS.get(i).map(|limit| limit - 1),
            allocations: replay.classes[i].allocations,
            allocated_bytes: replay.classes[i].allocated_bytes,
            leaked_allocations: leaked_by_class[i].0,
            leaked_bytes: leaked_by_class[i].1,
        })
        .collect()
}

/// How a sampled trace was sampled and how precise its estimates are;
/// `None` for a full trace.
pub(crate) fn sampling(analysis: &Analysis) -> Option<Sampling> {
    let replay = &analysis.replay;
    let weigh = replay.weigh;
    if !weigh.sampled() {
        return None;
    }
    // The Horvitz–Thompson variance estimate: Σ y² (1 − p) / p² over the
    // recorded live blocks, y their size.
    let mut terms = Vec::new();
    replay.for_each_live(|block| {
        let p = weigh.probability(block.size);
        terms.push((block.size as f64).powi(2) * (1.0 - p) / (p * p));
    });
    let variance = ordered_sum(terms);
    Some(Sampling {
        mean_interval_bytes: weigh.interval() as u64,
        recorded_allocations: replay.recorded,
        recorded_live: replay.recorded_live(),
        leaked_bytes_standard_error: variance.sqrt(),
        seen_above_bytes: (3.0 * weigh.interval()) as u64,
        detectable_rate_bytes_per_s: {
            let duration = analysis.duration_s() - analysis.paused_s();
            (duration > 0.0).then(|| 8.0 * weigh.interval() / duration)
        },
        paused_s: analysis.paused_s(),
        pauses: replay.paused.len() as u64,
    })
}

/// The sum of `terms` added smallest first: the same whatever order the
/// live blocks were kept in (a replayed table and one loaded from a saved
/// analysis list them in different orders, and floating-point addition is
/// not associative).
pub(crate) fn ordered_sum(mut terms: Vec<f64>) -> f64 {
    terms.sort_unstable_by(f64::total_cmp);
    terms.into_iter().sum()
}

//! Memory over time: the timeline, each stack's growth judged by the
//! shared series statistics, the peak, old and temporary allocations, RSS
//! beside the live heap (fragmentation), and what to do about it.
//!
//! Everything here reads what replay gathered in its single pass; no
//! second pass over the trace is needed.

use heapwise_series::{Options as SeriesOptions, Pattern, Series, Verdict, analyze};
use heapwise_trace::StackId;

use crate::Analysis;
use crate::model::{Fragmentation, TimelinePoint};

/// Options of the time-based parts of the report.
#[derive(Clone, Debug)]
pub struct GrowthOptions {
    /// Stacks judged for growth (the largest holders at the end).
    pub candidates: usize,
    /// Blocks live longer than this at the end are "old". `None`: 5 minutes
    /// for runs of 10 minutes or more (the seed's rule), half the run for
    /// shorter ones.
    pub min_age_s: Option<f64>,
}

impl Default for GrowthOptions {
    fn default() -> GrowthOptions {
        GrowthOptions {
            candidates: 200,
            min_age_s: None,
        }
    }
}

/// A stack's growth verdict.
pub struct StackGrowth {
    /// The stack.
    pub stack: StackId,
    /// The verdict on its live bytes over time.
    pub verdict: Verdict,
}

/// The evenly spaced timeline, with the process counters sampled by the
/// tracer (RSS, the allocator's heap) beside the live bytes.
pub fn timeline(analysis: &Analysis) -> Vec<TimelinePoint> {
    let replay = &analysis.replay;
    let grid = &replay.timeline;
    let duration = analysis.duration_s();
    let bucket_s = grid.width() as f64 * analysis.clock.ns_per_tick() / 1e9;
    let mut counters = replay.counters.iter().peekable();
    let mut last_counters = None;
    grid.buckets
        .iter()
        .enumerate()
        .map(|(index, bucket)| {
            let end = grid.end_tick(index);
            while let Some(sample) = counters.peek() {
                if sample.ts > end {
                    break;
                }
                last_counters = counters.next();
            }
            let t_s = analysis.clock.seconds(end).clamp(0.0, duration.max(0.0));
            TimelinePoint {
                t_s,
                live_bytes: bucket.live_bytes,
                max_live_bytes: bucket.max_live_bytes,
                allocations: bucket.allocations,
                allocated_bytes: bucket.allocated_bytes,
                frees: bucket.frees,
                allocated_bytes_per_s: if bucket_s > 0.0 {
                    bucket.allocated_bytes as f64 / bucket_s
                } else {
                    0.0
                },
                rss_bytes: last_counters.and_then(|c| c.rss_bytes),
                heap_bytes: last_counters
                    .and_then(|c| Some(c.heap_arena_bytes? + c.heap_mmap_bytes.unwrap_or(0))),
            }
        })
        .collect()
}

fn options(subject: &str) -> SeriesOptions {
    SeriesOptions {
        subject: subject.to_string(),
        ..SeriesOptions::default()
    }
}

/// The verdict on the total live bytes.
pub fn live_verdict(timeline: &[TimelinePoint]) -> Verdict {
    let series = Series::from_pairs(timeline.iter().map(|p| (p.t_s, p.live_bytes as f64)));
    analyze(&series, &options("live heap bytes"))
}

/// The verdict on RSS, if the tracer sampled it.
pub fn rss_verdict(analysis: &Analysis) -> Option<Verdict> {
    let samples: Vec<(f64, f64)> = analysis
        .replay
        .counters
        .iter()
        .filter_map(|c| Some((analysis.clock.seconds(c.ts), c.rss_bytes? as f64)))
        .collect();
    (samples.len() >= 2).then(|| analyze(&Series::from_pairs(samples), &options("RSS")))
}

/// Growth verdicts for the stacks holding the most at the end, most
/// suspicious first: leaks before non-leaks, then by slope.
pub fn stack_growth(
    analysis: &Analysis,
    timeline: &[TimelinePoint],
    options: &GrowthOptions,
) -> Vec<StackGrowth> {
    let replay = &analysis.replay;
    let times: Vec<f64> = timeline.iter().map(|p| p.t_s).collect();
    let mut candidates = analysis.leaking_stacks();
    candidates.truncate(options.candidates);
    let series_options = self::options("live bytes of this call stack");
    let mut growth: Vec<StackGrowth> = candidates
        .into_iter()
        .map(|stack| {
            // Judged at the series' own resolution (see
            // `StackSeries::samples`), at the times of the grid buckets its
            // samples end.
            let samples = replay.stacks[stack as usize]
                .series
                .samples(replay.timeline.level, times.len());
            let series = Series::from_pairs(
                samples
                    .into_iter()
                    .map(|(bucket, value)| (times[bucket], value as f64)),
            );
            StackGrowth {
                stack,
                verdict: analyze(&series, &series_options),
            }
        })
        .collect();
    growth.sort_by(|a, b| {
        let slope = |g: &StackGrowth| g.verdict.slope_bytes_per_s.unwrap_or(0.0);
        b.verdict
            .leak
            .cmp(&a.verdict.leak)
            .then(slope(b).total_cmp(&slope(a)))
    });
    growth
}

/// Blocks live at the end that are older than the minimum age: (min age,
/// per stack (stack, blocks, bytes), largest first).
pub fn old_allocations(
    analysis: &Analysis,
    options: &GrowthOptions,
) -> (f64, Vec<(StackId, u64, u64)>) {
    let duration = analysis.duration_s();
    let min_age = options.min_age_s.unwrap_or(if duration >= 600.0 {
        300.0
    } else {
        duration / 2.0
    });
    let end = analysis.replay.last_tick;
    let min_ticks = (min_age * 1e9 / analysis.clock.ns_per_tick()) as u64;
    let mut by_stack: rustc_hash::FxHashMap<StackId, (u64, u64)> = Default::default();
    analysis
        .replay
        .for_each_live_with_tick(|size, stack, tick| {
            if end.saturating_sub(tick) >= min_ticks {
                let entry = by_stack.entry(stack).or_default();
                entry.0 += 1;
                entry.1 += size;
            }
        });
    let mut stacks: Vec<(StackId, u64, u64)> =
        by_stack.into_iter().map(|(s, (n, b))| (s, n, b)).collect();
    stacks.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    (min_age, stacks)
}

/// Stacks by temporary allocations (freed before their thread allocated
/// anything else), most first.
pub fn temporary_stacks(analysis: &Analysis) -> Vec<(StackId, u64)> {
    let mut stacks: Vec<(StackId, u64)> = analysis
        .replay
        .stacks
        .iter()
        .enumerate()
        .filter(|(_, s)| s.temporary > 0)
        .map(|(i, s)| (i as StackId, s.temporary))
        .collect();
    stacks.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    stacks
}

/// Stacks by bytes live at the peak, most first.
pub fn peak_stacks(analysis: &Analysis) -> Vec<(StackId, u64)> {
    let replay = &analysis.replay;
    let mut stacks: Vec<(StackId, u64)> = (0..replay.stacks.len() as StackId)
        .map(|s| (s, replay.at_peak(s)))
        .filter(|&(_, bytes)| bytes > 0)
        .collect();
    stacks.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    stacks
}

/// RSS growing while the live heap does not: fragmentation (the allocator
/// keeps memory it cannot reuse) or memory outside the allocator.
pub fn fragmentation(
    timeline: &[TimelinePoint],
    live: &Verdict,
    rss: Option<&Verdict>,
) -> Option<Fragmentation> {
    let rss = rss?;
    let first = timeline.iter().find(|p| p.rss_bytes.is_some())?;
    let last = timeline.iter().rev().find(|p| p.rss_bytes.is_some())?;
    let rss_growth = last.rss_bytes? as i64 - first.rss_bytes? as i64;
    let live_growth = last.live_bytes as i64 - first.live_bytes as i64;
    let heap_growth = match (first.heap_bytes, last.heap_bytes) {
        (Some(a), Some(b)) => Some(b as i64 - a as i64),
        _ => None,
    };
    // RSS must grow for real (its own verdict), and much more than the live
    // heap: at least 4 MiB and four times the live growth.
    let rss_grows = rss.leak
        || matches!(
            rss.pattern,
            Pattern::Linear | Pattern::Step | Pattern::Periodic
        );
    if !rss_grows
        || rss_growth < 4 << 20
        || rss_growth < 4 * live_growth.max(0)
        || live.leak && live_growth * 2 > rss_growth
    {
        return None;
    }
    let allocator_keeps = heap_growth.is_some_and(|h| h * 2 >= rss_growth);
    let (kind, finding, advice) = if allocator_keeps {
        (
            "fragmentation",
            "RSS keeps growing while the live heap does not: the allocator holds memory it freed but cannot reuse or return (fragmentation, or more arenas), not a leak of the program",
            vec![
                "call malloc_trim(0) after freeing large amounts, or set MALLOC_TRIM_THRESHOLD_ lower".to_string(),
                "limit glibc's arenas with MALLOC_ARENA_MAX=2 (many threads each get their own)".to_string(),
                "allocate long-lived small objects apart from short-lived large ones, or try jemalloc or mimalloc".to_string(),
            ],
        )
    } else {
        (
            "outside-malloc",
            "RSS keeps growing while neither the live heap nor the allocator's heap does: the memory is outside malloc (mmap, thread stacks, memory-mapped files), not a heap leak",
            vec!["look at the process's mappings (pmap -x PID, /proc/PID/smaps) and follow them with heapwise watch".to_string()],
        )
    };
    Some(Fragmentation {
        kind,
        finding: finding.to_string(),
        rss_growth_bytes: rss_growth,
        live_growth_bytes: live_growth,
        heap_growth_bytes: heap_growth,
        advice,
    })
}

/// What a pattern of growth usually means and what to do (the seed's map
/// of patterns to causes).
fn advice(pattern: Pattern) -> &'static str {
    match pattern {
        Pattern::Linear => {
            "steady growth: something allocates continuously and never releases — an unbounded cache or map, a collection that only grows, or global accumulation. Bound it (size limit, eviction, expiry) or free entries at the end of their lifecycle."
        }
        Pattern::Step => {
            "step-wise growth: each batch of work leaves memory behind. Free what a batch allocates when it completes, or reuse its buffers."
        }
        Pattern::Periodic => {
            "growth at a regular interval: a periodic job (timer, scheduled task) leaks every run. Look at what runs on that interval."
        }
        Pattern::Spike => {
            "one sudden jump that stays: a single large object (buffer, cache fill) is kept. Release it when done."
        }
        _ => "growth that does not level off.",
    }
}

/// Recommendations from the live heap's pattern and from the leaking
/// stacks (`(first frame, pattern, slope)`, most suspicious first).
pub fn recommendations(live: &Verdict, leaking: &[(String, Pattern, Option<f64>)]) -> Vec<String> {
    let mut out = Vec::new();
    if live.leak {
        out.push(format!("The live heap shows {}", advice(live.pattern)));
    }
    for (where_, pattern, _) in leaking.iter().take(3) {
        out.push(format!("{where_}: {}", advice(*pattern)));
    }
    out
}

//! Memory over time: the report's timeline (the replay's grid with the
//! process counters the tracer sampled beside it), the verdicts on the
//! live heap and on RSS, RSS growing without the heap (fragmentation), and
//! what each pattern of growth usually means.

use heapwise_series::{Options as SeriesOptions, Pattern, Series, Verdict, analyze};

use crate::Analysis;
use crate::model::{Fragmentation, Growth, MemoryOverTime, TimelinePoint};

/// The evenly spaced timeline, with the process counters sampled by the
/// tracer (RSS, the allocator's heap) beside the live bytes.
pub fn timeline(analysis: &Analysis) -> Vec<TimelinePoint> {
    let replay = &analysis.replay;
    let grid = &replay.grid;
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

pub(crate) fn options(subject: &str) -> SeriesOptions {
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

/// The verdict on the total live bytes of `analysis`, whose `timeline`
/// this is: in a compacted trace, judged on the buckets that hold a
/// measurement ([`Analysis::measured_buckets`]).
pub fn live_verdict_of(analysis: &Analysis, timeline: &[TimelinePoint]) -> Verdict {
    match analysis.measured_buckets() {
        Some(measured) if measured.len() == timeline.len() => {
            let points: Vec<TimelinePoint> = timeline
                .iter()
                .zip(measured)
                .filter(|(_, m)| *m)
                .map(|(p, _)| TimelinePoint {
                    t_s: analysis.sampled_seconds(p.t_s),
                    ..p.clone()
                })
                .collect();
            live_verdict(&points)
        }
        _ => live_verdict(timeline),
    }
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

/// The "memory over time" section and the recommendations, from the
/// timeline and the judged stacks (most suspicious first).
pub(crate) fn section(
    analysis: &Analysis,
    timeline: &[TimelinePoint],
    growth: &[Growth],
) -> (MemoryOverTime, Vec<String>) {
    let mut live = live_verdict_of(analysis, timeline);
    if let Some(errors) = super::stacks::sampling_errors(analysis) {
        let error = errors.values().sum::<f64>().sqrt();
        super::stacks::within_sampling_error(&mut live, analysis.replay.live_bytes as f64, error);
    }
    let rss = rss_verdict(analysis);
    let fragmentation = fragmentation(timeline, &live, rss.as_ref());
    let leaking: Vec<(String, Pattern, Option<f64>)> = growth
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
    let mut recommendations = recommendations(&live, &leaking);
    if let Some(f) = &fragmentation {
        recommendations.push(f.finding.clone());
        recommendations.extend(f.advice.iter().cloned());
    }
    // The leak rate: the live heap's slope when it leaks as a whole, else
    // what the leaking stacks add up to (a swinging buffer can hide them
    // in the total).
    let stacks_rate: f64 = leaking.iter().filter_map(|l| l.2).sum();
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
    (memory, recommendations)
}

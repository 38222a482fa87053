//! The heap-after-GC series and its verdict, judged by `heapwise-series`.

use heapwise_series::{Aggregate, Pattern, Series, TrendBasis, Verdict, analyze, downsample};
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::model::{Clock, GcKind, GcLog};

use super::AnalysisOptions;

/// Which collections the heap-after-GC series was taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SeriesBasis {
    /// After major and full collections only: the closest the log comes to
    /// the live data (used when there are enough of them).
    Major,
    /// After every collection: with few major collections, the floor of
    /// this series (its lower envelope) tracks the live data.
    All,
    /// No collection reported the heap after it.
    None,
}

/// The x axis of the series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeAxis {
    /// Seconds on the log's clock.
    Seconds,
    /// Collection number: the log has no timestamps.
    Collections,
}

/// One point of the heap-after-GC timeline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HeapPoint {
    /// Seconds on the log's clock (or the collection number, see
    /// [`HeapAfterGc::time_axis`]).
    pub t_s: f64,
    /// Heap after GC, bytes (the highest in effect since the previous
    /// point, so short peaks stay visible).
    pub bytes: f64,
}

/// The leak signal: does the heap after GC keep rising?
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeapAfterGc {
    /// Shape of the series (`stable`, `plateau`, `sawtooth`, `linear`,
    /// `step`, `periodic`, `spike`).
    pub pattern: Pattern,
    /// True for growth that is material, significant and has not levelled
    /// off (see `docs/statistics.md`).
    pub leak: bool,
    /// Theil–Sen slope, bytes per second (`null` without timestamps).
    pub slope_bytes_per_s: Option<f64>,
    /// Theil–Sen slope per collection, when the log has no timestamps.
    pub slope_bytes_per_collection: Option<f64>,
    /// Which collections the series was taken from.
    pub basis: SeriesBasis,
    /// The x axis.
    pub time_axis: TimeAxis,
    /// Samples in the series.
    pub samples: usize,
    /// First value, bytes.
    pub first_bytes: Option<u64>,
    /// Last value, bytes.
    pub last_bytes: Option<u64>,
    /// Smallest value, bytes.
    pub min_bytes: Option<u64>,
    /// Largest value, bytes.
    pub max_bytes: Option<u64>,
    /// Median of the last five values, bytes: where the heap after GC is
    /// now, robust to one odd collection.
    pub recent_bytes: Option<u64>,
    /// The maximum heap the forecast runs to: given by the caller, else
    /// stated by the log.
    pub max_heap_bytes: Option<u64>,
    /// Seconds until the heap after GC reaches the maximum heap at the
    /// slope's upper bound, from the last sample; `null` unless a leak with
    /// a known maximum (0 when already there).
    pub time_to_max_heap_s: Option<f64>,
    /// How sure the verdict is, 0 to 1.
    pub confidence: f64,
    /// One sentence for people.
    pub reason: String,
    /// At most a few hundred evenly spaced points for a chart.
    pub timeline: Vec<HeapPoint>,
    /// The complete verdict of `heapwise-series`.
    pub verdict: Verdict,
}

/// Builds and judges the series. Returns it with the number of heaps the
/// log has and the heap judged (Node worker isolates have their own).
pub(crate) fn heap_after_gc(log: &GcLog, options: &AnalysisOptions) -> (HeapAfterGc, u16) {
    // A restarted program starts with an empty heap: the last run alone
    // says where the heap after GC is going.
    let run = log.events.last().map_or(0, |e| e.run);
    let heap = busiest_heap(log, run);
    let by_time = log.clock != Clock::None;

    // The kind of every collection is its heaviest event's.
    let mut kinds: FxHashMap<u64, GcKind> = FxHashMap::default();
    for event in log.events.iter().filter(|e| e.heap == heap && e.run == run) {
        let kind = kinds.entry(event.collection).or_insert(event.kind);
        *kind = (*kind).max(event.kind);
    }
    // The heap after each collection: its last event that ends it.
    let mut last: FxHashMap<u64, (f64, u64, usize)> = FxHashMap::default();
    last.reserve(kinds.len());
    for (index, event) in log.events.iter().enumerate() {
        if event.heap != heap || event.run != run || !event.ends_collection {
            continue;
        }
        let Some(after) = event.heap_after_bytes else {
            continue;
        };
        let t = match (by_time, event.t_s) {
            (true, Some(t)) => t,
            (true, None) => continue,
            (false, _) => index as f64,
        };
        last.insert(event.collection, (t, after, index));
    }
    let mut points: Vec<(usize, f64, u64, GcKind)> = last
        .iter()
        .map(|(id, &(t, after, index))| {
            let kind = kinds.get(id).copied().unwrap_or(GcKind::Minor);
            (index, t, after, kind)
        })
        .collect();
    points.sort_unstable_by_key(|p| p.0);
    let majors = points.iter().filter(|p| p.3 >= GcKind::Major).count();
    let basis = if points.is_empty() {
        SeriesBasis::None
    } else if majors >= options.min_major_samples {
        points.retain(|p| p.3 >= GcKind::Major);
        SeriesBasis::Major
    } else {
        SeriesBasis::All
    };
    let series = Series::from_pairs(points.iter().enumerate().map(|(ordinal, p)| {
        let x = if by_time { p.1 } else { ordinal as f64 };
        (x, p.2 as f64)
    }));
    let verdict = analyze(&series, &options.series);
    let values: Vec<u64> = points.iter().map(|p| p.2).collect();
    let max_heap = options.max_heap_bytes.or(log.max_heap_bytes);
    let time_to_max = match (max_heap, by_time) {
        (Some(limit), true) => {
            // For a sawtooth whose floor rises, the recent peaks reach the
            // limit first.
            let current = if verdict.trend_basis == TrendBasis::LowerEnvelope {
                let tail = (values.len() / 10).max(5).min(values.len());
                values[values.len() - tail..]
                    .iter()
                    .max()
                    .map(|&v| v as f64)
            } else {
                verdict.last_bytes
            };
            current.and_then(|c| verdict.time_to_limit(c, limit as f64))
        }
        _ => None,
    };
    let timeline = downsample(&series, options.timeline_points, Aggregate::Max)
        .into_iter()
        .map(|p| HeapPoint {
            t_s: p.t_s,
            bytes: p.value,
        })
        .collect();
    let result = HeapAfterGc {
        pattern: verdict.pattern,
        leak: verdict.leak,
        slope_bytes_per_s: verdict.slope_bytes_per_s.filter(|_| by_time),
        slope_bytes_per_collection: verdict.slope_bytes_per_s.filter(|_| !by_time),
        basis,
        time_axis: if by_time {
            TimeAxis::Seconds
        } else {
            TimeAxis::Collections
        },
        samples: series.len(),
        first_bytes: values.first().copied(),
        last_bytes: values.last().copied(),
        min_bytes: values.iter().min().copied(),
        max_bytes: values.iter().max().copied(),
        recent_bytes: recent(&values),
        max_heap_bytes: max_heap,
        time_to_max_heap_s: time_to_max,
        confidence: verdict.confidence,
        reason: if by_time {
            verdict.reason.clone()
        } else {
            reason_per_collection(&verdict, series.len())
        },
        timeline,
        verdict,
    };
    (result, heap)
}

/// The series crate words its reason in seconds; without timestamps the
/// x axis is the collection number.
fn reason_per_collection(verdict: &Verdict, samples: usize) -> String {
    let slope = verdict
        .slope_bytes_per_s
        .map(|s| {
            format!(
                ", {}{} per collection",
                if s >= 0.0 { "+" } else { "" },
                heapwise_words::bytes_f64(s)
            )
        })
        .unwrap_or_default();
    if verdict.leak {
        format!(
            "heap after GC rose over {samples} collections ({}{slope}; no timestamps, so no rate per second)",
            verdict.pattern
        )
    } else {
        format!(
            "heap after GC is {} over {samples} collections{slope} (no timestamps)",
            verdict.pattern
        )
    }
}

/// Median of the last five values.
fn recent(values: &[u64]) -> Option<u64> {
    let mut tail = values[values.len().saturating_sub(5)..].to_vec();
    tail.sort_unstable();
    tail.get(tail.len() / 2).copied()
}

/// The heap (V8 isolate) with the most events: the main thread's, normally.
fn busiest_heap(log: &GcLog, run: u16) -> u16 {
    let mut events = log.events.iter().filter(|e| e.run == run);
    if log.heaps.len() <= 1 {
        return events.next().map_or(0, |e| e.heap);
    }
    let mut counts = vec![0u64; log.heaps.len() + 1];
    for event in events {
        if let Some(count) = counts.get_mut(usize::from(event.heap)) {
            *count += 1;
        }
    }
    counts
        .iter()
        .enumerate()
        .max_by_key(|&(index, &count)| (count, std::cmp::Reverse(index)))
        .map_or(0, |(index, _)| index as u16)
}

//! Pause statistics, long pauses, and back-to-back full collections.

use serde::Serialize;

use crate::model::{GcEvent, GcKind, GcLog, Runtime};

/// Count, total, mean, percentiles and maximum of pause times.
///
/// Percentiles are nearest-rank: `p50` is the smallest pause that at least
/// half of the pauses do not exceed; every value is one of the pauses.
/// Everything but `count` and `total_ms` is `null` without pauses.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PauseStats {
    /// Number of pauses.
    pub count: u64,
    /// Sum of the pauses, milliseconds.
    pub total_ms: f64,
    /// Mean pause, milliseconds.
    pub mean_ms: Option<f64>,
    /// Median pause, milliseconds.
    pub p50_ms: Option<f64>,
    /// 95th percentile, milliseconds.
    pub p95_ms: Option<f64>,
    /// 99th percentile, milliseconds.
    pub p99_ms: Option<f64>,
    /// Longest pause, milliseconds.
    pub max_ms: Option<f64>,
}

impl PauseStats {
    /// Statistics of `pauses` (milliseconds; non-finite values are ignored).
    pub fn of(mut pauses: Vec<f64>) -> Self {
        pauses.retain(|p| p.is_finite());
        pauses.sort_by(f64::total_cmp);
        let count = pauses.len();
        let total_ms = pauses.iter().fold(0.0, |sum, p| sum + p);
        let rank = |p: f64| -> Option<f64> {
            let index = ((p / 100.0) * count as f64).ceil() as usize;
            pauses.get(index.clamp(1, count.max(1)) - 1).copied()
        };
        PauseStats {
            count: count as u64,
            total_ms,
            mean_ms: (count > 0).then(|| total_ms / count as f64),
            p50_ms: rank(50.0),
            p95_ms: rank(95.0),
            p99_ms: rank(99.0),
            max_ms: pauses.last().copied(),
        }
    }
}

/// Pause statistics per kind of collection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PausesByKind {
    /// Pauses of minor collections.
    pub minor: PauseStats,
    /// Pauses of major collections (including the pauses of concurrent
    /// cycles: G1 Remark and Cleanup, ZGC and Shenandoah phases).
    pub major: PauseStats,
    /// Pauses of full collections.
    pub full: PauseStats,
}

/// Pause statistics overall and per kind.
pub(crate) fn pause_stats(events: &[GcEvent]) -> (PauseStats, PausesByKind) {
    let mut all = Vec::with_capacity(events.len());
    let mut by_kind: [Vec<f64>; 3] = Default::default();
    for event in events {
        if let Some(pause) = event.pause_ms {
            all.push(pause);
            by_kind[event.kind as usize].push(pause);
        }
    }
    let [minor, major, full] = by_kind;
    (
        PauseStats::of(all),
        PausesByKind {
            minor: PauseStats::of(minor),
            major: PauseStats::of(major),
            full: PauseStats::of(full),
        },
    )
}

/// One pause, pointed to in the log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PauseRef {
    /// When, seconds on the log's clock.
    pub t_s: Option<f64>,
    /// The pause, milliseconds.
    pub pause_ms: f64,
    /// Kind of collection.
    pub kind: GcKind,
    /// The collector's name for it.
    pub name: String,
    /// Why it ran, when the log says.
    pub cause: Option<String>,
    /// 1-based line number in the log.
    pub line: u64,
}

/// Pauses longer than the threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LongPauses {
    /// The threshold, milliseconds (default 100, the seed's).
    pub threshold_ms: f64,
    /// How many pauses exceeded it.
    pub count: u64,
    /// The longest of them, longest first (at most 10).
    pub longest: Vec<PauseRef>,
}

pub(crate) fn long_pauses(events: &[GcEvent], threshold_ms: f64) -> LongPauses {
    let mut long: Vec<&GcEvent> = events
        .iter()
        .filter(|e| e.pause_ms.is_some_and(|p| p > threshold_ms))
        .collect();
    let count = long.len() as u64;
    long.sort_by(|a, b| {
        let (a, b) = (a.pause_ms.unwrap_or(0.0), b.pause_ms.unwrap_or(0.0));
        b.total_cmp(&a)
    });
    LongPauses {
        threshold_ms,
        count,
        longest: long
            .into_iter()
            .take(10)
            .map(|e| PauseRef {
                t_s: e.t_s,
                pause_ms: e.pause_ms.unwrap_or(0.0),
                kind: e.kind,
                name: e.name.to_string(),
                cause: e.cause.as_deref().map(str::to_string),
                line: e.line,
            })
            .collect(),
    }
}

/// A run of full-heap collections with no minor collection between them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FullRun {
    /// Collections in the run.
    pub count: u64,
    /// Time of the first, seconds.
    pub start_t_s: Option<f64>,
    /// Time of the last, seconds.
    pub end_t_s: Option<f64>,
    /// Line of the first.
    pub first_line: u64,
    /// Heap before the first collection of the run, bytes.
    pub heap_before_bytes: Option<u64>,
    /// Heap after the last, bytes.
    pub heap_after_bytes: Option<u64>,
    /// Heap size after the last (committed), bytes.
    pub heap_total_bytes: Option<u64>,
}

/// Runs of at least `min_run` consecutive full-heap collections. A
/// full-heap collection is kind `full`, and for Node also `major`
/// (Mark-Compact collects the whole V8 heap; when nothing else runs between
/// them the heap is close to its limit). Go is left out: every Go cycle is a
/// whole-heap collection by design.
pub(crate) fn back_to_back(log: &GcLog, min_run: usize) -> Vec<FullRun> {
    if log.runtime() == Runtime::Go || min_run == 0 {
        return Vec::new();
    }
    let full_heap = |kind: GcKind| match log.runtime() {
        Runtime::Node => kind >= GcKind::Major,
        _ => kind == GcKind::Full,
    };
    let mut runs = Vec::new();
    let mut current: Vec<&GcEvent> = Vec::new();
    let mut last_collection = None;
    let close = |current: &mut Vec<&GcEvent>, runs: &mut Vec<FullRun>| {
        if current.len() >= min_run
            && let (Some(first), Some(last)) = (current.first(), current.last())
        {
            runs.push(FullRun {
                count: current.len() as u64,
                start_t_s: first.t_s,
                end_t_s: last.t_s,
                first_line: first.line,
                heap_before_bytes: first.heap_before_bytes,
                heap_after_bytes: last.heap_after_bytes,
                heap_total_bytes: last.heap_total_bytes,
            });
        }
        current.clear();
    };
    for event in &log.events {
        if last_collection == Some((event.run, event.heap, event.collection)) {
            continue;
        }
        if last_collection.is_some_and(|(run, _, _)| run != event.run) {
            // A restart is not a collection between two full ones.
            close(&mut current, &mut runs);
        }
        last_collection = Some((event.run, event.heap, event.collection));
        if full_heap(event.kind) {
            current.push(event);
        } else if event.kind == GcKind::Minor || log.runtime() != Runtime::Node {
            close(&mut current, &mut runs);
        }
    }
    close(&mut current, &mut runs);
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let stats = PauseStats::of((1..=100).map(f64::from).collect());
        assert_eq!(stats.count, 100);
        assert_eq!(stats.total_ms, 5050.0);
        assert_eq!(stats.mean_ms, Some(50.5));
        assert_eq!(
            (stats.p50_ms, stats.p95_ms, stats.p99_ms, stats.max_ms),
            (Some(50.0), Some(95.0), Some(99.0), Some(100.0))
        );
        let one = PauseStats::of(vec![3.0]);
        assert_eq!((one.p50_ms, one.p99_ms), (Some(3.0), Some(3.0)));
        let none = PauseStats::of(vec![f64::NAN]);
        assert_eq!((none.count, none.mean_ms, none.max_ms), (0, None, None));
    }
}

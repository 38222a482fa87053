//! How much of the log was read, and the runs of the program it holds.

use rustc_hash::FxHashSet;
use serde::Serialize;

use crate::model::GcLog;

/// How much of the log's GC output was read. A line that looks like GC
/// output of the log's format but could not be read (cut off, garbled, an
/// event whose end never came) may hold an event; below
/// [`super::AnalysisOptions::min_coverage_percent`] of the events read,
/// heapwise gives no advice.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coverage {
    /// Lines of GC output that could not be read.
    pub lines_unread: u64,
    /// Events read.
    pub events_read: u64,
    /// Events the unread lines may hold: one per unreadable line and per
    /// event whose end never came (a last line cut in the middle of an
    /// event is one).
    pub events_possibly_missed: u64,
    /// Events read over events read plus events possibly missed, percent.
    pub events_read_percent: f64,
    /// The share of events read below which heapwise gives no advice.
    pub advice_threshold_percent: f64,
    /// True when enough of the log was read for findings and advice.
    pub enough_for_advice: bool,
}

/// One run of the program in the file: a restart (GC numbers or the
/// uptime starting again, a new JVM header) starts the next.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    /// 1-based line of its first line (1 for the first run).
    pub first_line: u64,
    /// Events of the run.
    pub events: u64,
    /// Collections of the run.
    pub collections: u64,
    /// First timestamp of the run, seconds on the log's clock.
    pub start_t_s: Option<f64>,
    /// Last timestamp of the run.
    pub end_t_s: Option<f64>,
}

pub(crate) fn coverage(log: &GcLog, threshold_percent: f64) -> Coverage {
    let lines = &log.lines;
    let events_read = log.events.len() as u64;
    let events_possibly_missed = lines.malformed + lines.unfinished_events;
    let total = events_read + events_possibly_missed;
    let events_read_percent = if total == 0 {
        100.0
    } else {
        events_read as f64 / total as f64 * 100.0
    };
    Coverage {
        lines_unread: lines.unread,
        events_read,
        events_possibly_missed,
        events_read_percent,
        advice_threshold_percent: threshold_percent,
        enough_for_advice: events_read_percent >= threshold_percent,
    }
}

pub(crate) fn runs(log: &GcLog) -> Vec<RunSummary> {
    let mut runs: Vec<RunSummary> = std::iter::once(1)
        .chain(log.run_starts.iter().copied())
        .enumerate()
        .map(|(index, first_line)| {
            let span = log.run_spans.get(index).copied().flatten();
            RunSummary {
                first_line,
                events: 0,
                collections: 0,
                start_t_s: span.map(|s| s.0),
                end_t_s: span.map(|s| s.1),
            }
        })
        .collect();
    let mut seen: FxHashSet<(u16, u16, u64)> = FxHashSet::default();
    for event in &log.events {
        let Some(run) = runs.get_mut(usize::from(event.run)) else {
            continue;
        };
        run.events += 1;
        if seen.insert((event.run, event.heap, event.collection)) {
            run.collections += 1;
        }
    }
    runs
}

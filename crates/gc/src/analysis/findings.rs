//! What the evidence adds up to: the three causes a GC log can tell apart
//! (live data growing, heap too small, allocation rate too high), long
//! pauses, or a healthy collector. Each finding carries one sentence of
//! evidence; the renderer words the advice.

use serde::Serialize;

use heapwise_words::{bytes_f64, duration, plural};

use super::{AnalysisOptions, GcReport};

/// The kinds of finding, most serious first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// The heap after GC keeps rising: live data grows (a leak, or a cache
    /// without a bound). More heap only delays the out-of-memory error.
    LiveDataGrowing,
    /// Live data is flat but fills most of the heap, so the collector runs
    /// often and frees little (back-to-back full collections, or a busy
    /// collector with the heap after GC near the limit).
    HeapTooSmall,
    /// The collector is busy while the heap after GC is small: the program
    /// allocates (and drops) too much.
    AllocationRateTooHigh,
    /// Pauses above the long-pause threshold.
    LongPauses,
    /// None of the above: the GC frees what the program drops.
    Healthy,
    /// Too little of the log could be read to judge it: no other finding
    /// and no advice is given (see `coverage`).
    IncompleteLog,
}

/// One finding with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// What was found.
    pub kind: FindingKind,
    /// The numbers behind it, in one sentence.
    pub evidence: String,
}

pub(crate) fn findings(report: &GcReport, options: &AnalysisOptions) -> Vec<Finding> {
    let coverage = &report.coverage;
    if !coverage.enough_for_advice {
        return vec![Finding {
            kind: FindingKind::IncompleteLog,
            evidence: format!(
                "only {:.1} % of the events could be read ({} read, up to {} more in {} unreadable line{}), below the {} % needed to judge the log",
                coverage.events_read_percent,
                coverage.events_read,
                coverage.events_possibly_missed,
                coverage.lines_unread,
                plural(coverage.lines_unread, "", "s"),
                super::trim_float(coverage.advice_threshold_percent)
            ),
        }];
    }
    let mut out = Vec::new();
    let heap = &report.heap_after_gc;
    let busy = report
        .gc_overhead_percent
        .is_some_and(|o| o >= options.busy_overhead_percent);
    let nearly_full = report
        .occupancy_after_gc
        .is_some_and(|o| o >= options.full_heap_fraction);
    if heap.leak {
        let mut evidence = heap.reason.clone();
        if let (Some(eta), Some(max)) = (heap.time_to_max_heap_s, heap.max_heap_bytes) {
            evidence.push_str(&format!(
                "; at this rate it reaches the maximum heap of {} in about {}",
                bytes_f64(max as f64),
                duration(eta)
            ));
        }
        out.push(Finding {
            kind: super::FindingKind::LiveDataGrowing,
            evidence,
        });
    } else if !report.back_to_back_full.is_empty() || (nearly_full && busy) {
        let mut parts = Vec::new();
        if let (Some(occupancy), Some(recent)) = (report.occupancy_after_gc, heap.recent_bytes) {
            parts.push(format!(
                "the heap after GC ({}) fills {:.0} % of the heap",
                bytes_f64(recent as f64),
                occupancy * 100.0
            ));
        }
        let runs = report.back_to_back_full.len() as u64;
        if runs > 0 {
            parts.push(format!(
                "{runs} run{} of back-to-back full collections",
                plural(runs, "", "s")
            ));
        }
        if let Some(overhead) = report.gc_overhead_percent {
            parts.push(format!("GC pauses take {overhead:.1} % of wall time"));
        }
        parts.push(format!("while the heap after GC is {}", heap.pattern));
        out.push(Finding {
            kind: FindingKind::HeapTooSmall,
            evidence: sentence(&parts),
        });
    } else if busy {
        let mut parts = vec![format!(
            "GC pauses take {:.1} % of wall time",
            report.gc_overhead_percent.unwrap_or(0.0)
        )];
        if let Some(occupancy) = report.occupancy_after_gc {
            parts.push(format!(
                "the heap after GC fills only {:.0} % of the heap",
                occupancy * 100.0
            ));
        }
        if let Some(rate) = report.allocation_rate_bytes_per_s {
            parts.push(format!("the program allocates about {}/s", bytes_f64(rate)));
        }
        if let (Some(d), minor) = (report.duration_s, report.collections_by_kind.minor)
            && minor > 0
        {
            parts.push(format!(
                "{:.1} minor collections per second",
                minor as f64 / d
            ));
        }
        out.push(Finding {
            kind: FindingKind::AllocationRateTooHigh,
            evidence: sentence(&parts),
        });
    }
    if report.long_pauses.count > 0 {
        let longest = report
            .long_pauses
            .longest
            .first()
            .map(|p| format!("; the longest {:.1} ms ({})", p.pause_ms, p.name))
            .unwrap_or_default();
        out.push(Finding {
            kind: FindingKind::LongPauses,
            evidence: format!(
                "{} pause{} longer than {} ms{longest}",
                report.long_pauses.count,
                plural(report.long_pauses.count, "", "s"),
                super::trim_float(report.long_pauses.threshold_ms)
            ),
        });
    }
    let causes = out.iter().any(|f| {
        matches!(
            f.kind,
            FindingKind::LiveDataGrowing
                | FindingKind::HeapTooSmall
                | FindingKind::AllocationRateTooHigh
        )
    });
    if !causes {
        let overhead = report
            .gc_overhead_percent
            .map(|o| format!(" and GC pauses take {o:.1} % of wall time"))
            .unwrap_or_default();
        out.push(Finding {
            kind: FindingKind::Healthy,
            evidence: format!(
                "the heap after GC is {} ({} sample{}){overhead}",
                heap.pattern,
                heap.samples,
                plural(heap.samples as u64, "", "s")
            ),
        });
    }
    out
}

fn sentence(parts: &[String]) -> String {
    parts.join("; ")
}

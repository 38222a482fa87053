//! The reachability section: how the scan at exit went (`reachability_scan`)
//! and, from the leaks section's groups, the totals by kind
//! (`summary.reachability`).

use heapwise_trace::Reachability;

use crate::Analysis;
use crate::model::{Amount, HeuristicAmounts, ReachabilityScan};

/// How the scan went, or why there was none.
pub(crate) fn scan(analysis: &Analysis) -> ReachabilityScan {
    let recorded = &analysis.replay.reachability;
    match &recorded.scan {
        Some(Reachability::Scanned(scan)) => {
            let amount = |(bytes, blocks): (u64, u64)| Amount { bytes, blocks };
            ReachabilityScan {
                scanned: true,
                reason: None,
                threads: scan.threads,
                root_bytes: scan.root_bytes,
                block_bytes: scan.block_bytes,
                copied_bytes: scan.copied_bytes,
                unread_bytes: scan.unread_bytes,
                unreadable_blocks: scan.unreadable_blocks,
                held_s: scan.held_ns as f64 / 1e9,
                scan_s: scan.scan_ns as f64 / 1e9,
                waited_s: scan.waited_ns as f64 / 1e9,
                reachable_via_heuristic: HeuristicAmounts {
                    stdstring: amount(scan.heuristics[0]),
                    length64: amount(scan.heuristics[1]),
                    newarray: amount(scan.heuristics[2]),
                    multipleinheritance: amount(scan.heuristics[3]),
                },
            }
        }
        Some(Reachability::NotScanned(why)) => ReachabilityScan {
            reason: Some(why.clone()),
            ..ReachabilityScan::default()
        },
        None => ReachabilityScan {
            reason: Some(if analysis.replay.weigh.sampled() {
                "the trace is sampled: reachability needs every block".to_string()
            } else {
                "the trace holds no scan at exit: only `heapwise run` scans the process it started, when it exits".to_string()
            }),
            ..ReachabilityScan::default()
        },
    }
}

/// A warning when the scan's totals and the trace's live blocks disagree
/// (the scan classified the blocks the trace held when it ran; a trace
/// read differently since would not match).
pub(crate) fn warning(analysis: &Analysis, blocks: u64) -> Option<String> {
    let scan = analysis.replay.reachability.scanned()?;
    let scanned: u64 = scan.totals.iter().map(|t| t.1).sum();
    (scanned != blocks).then(|| {
        format!(
            "the scan at exit classified {scanned} blocks but the trace holds {blocks} blocks still allocated; blocks it did not classify are counted as still reachable"
        )
    })
}

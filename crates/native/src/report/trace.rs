//! About the trace itself: how much was read, written, recovered or lost,
//! and the warnings that say so.

use std::path::Path;

use crate::model::{Compaction, TraceInfo};
use crate::{Analysis, ExitStatus};

/// What the trace file holds and how well it could be read.
pub(crate) fn info(analysis: &Analysis) -> TraceInfo {
    let replay = &analysis.replay;
    let spill = &analysis.header.spill;
    TraceInfo {
        path: analysis.path.clone(),
        truncated: analysis.status.truncated(),
        partial_tail_bytes: analysis.status.partial_tail_bytes,
        damage: analysis.status.damage.clone(),
        lost_events: replay.lost,
        threads: replay.threads,
        bytes: analysis.status.bytes_read,
        blocks: analysis.status.blocks,
        uncompressed_blocks: analysis.status.uncompressed_blocks,
        crash_safe: !spill.is_empty(),
        recovered_bytes: replay.recovered.bytes,
        unrecovered_streams: replay.recovered.cut_streams,
        unrecovered_bytes: replay.recovered.missing_bytes,
        spill_left: !spill.is_empty() && Path::new(spill).exists(),
        compacted: replay.compacted.as_ref().map(|c| Compaction {
            compactions: c.compactions,
            detail_from_s: analysis.clock.seconds(c.tick).max(0.0),
            snapshots: c.snapshots.len(),
            checkpoint_bytes: analysis.status.checkpoint_bytes,
        }),
    }
}

/// Warnings about the trace: damage, a cut end, lost events, an `exec`,
/// and what the tracer itself noted.
pub(crate) fn warnings(analysis: &Analysis, out: &mut Vec<String>) {
    let replay = &analysis.replay;
    if let Some(damage) = &analysis.status.damage {
        out.push(format!(
            "the trace is damaged ({damage}); everything before that point was read"
        ));
    } else if analysis.status.truncated() {
        out.push(format!(
            "the trace ends in the middle of a block ({} bytes); the process was killed or is still running, and its last events are not included",
            analysis.status.partial_tail_bytes
        ));
    }
    if replay.lost > 0 {
        out.push(format!(
            "{} allocation calls could not be recorded (see docs/trace-format.md)",
            replay.lost
        ));
    }
    if matches!(replay.exit, Some(ExitStatus::Exec)) {
        out.push(if analysis.header.attached() {
            "the process replaced its program with exec, where this trace ends: heapwise attach traced the old program, not the new one".into()
        } else {
            "the process replaced itself with exec; its successor wrote its own trace".into()
        });
    }
    out.extend(replay.notes.iter().map(|n| format!("tracer: {n}")));
}

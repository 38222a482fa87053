//! Reachability at exit as the trace records it: `heapwise run` scans the
//! process while it is stopped at exit (`heapwise-reach`) and appends a
//! `REACHABILITY` record — what the scan found, or why there was none —
//! and `LOST_BLOCKS` records naming every lost block with its kind. Every
//! other block still allocated at the end is still reachable.
//!
//! The replay keeps them here ([`Recorded`]); the report reads the kind of
//! each live block from it (`report/reach.rs`).

use rustc_hash::FxHashMap;

use heapwise_trace::{ControlRecord, ReachScan, Reachability};

use crate::model::LeakKind;

/// The reachability records of a trace.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Recorded {
    /// The scan, or why there was none; `None` when the trace says nothing
    /// (not written by `heapwise run`, or by an older heapwise).
    pub scan: Option<Reachability>,
    /// The lost blocks by address.
    lost: FxHashMap<u64, LeakKind>,
}

impl Recorded {
    /// Takes `record` if it is a reachability record; returns whether it
    /// was.
    pub fn control(&mut self, record: &ControlRecord) -> bool {
        match record {
            ControlRecord::Reachability(scan) => {
                // A later record replaces an earlier one (a trace scanned
                // again).
                if matches!(scan, Reachability::Scanned(_)) {
                    self.lost.clear();
                }
                self.scan = Some(scan.clone());
                true
            }
            ControlRecord::LostBlocks(blocks) => {
                for &(address, kind) in blocks {
                    let kind = match kind {
                        0 => LeakKind::DefinitelyLost,
                        1 => LeakKind::IndirectlyLost,
                        _ => LeakKind::PossiblyLost,
                    };
                    self.lost.insert(address, kind);
                }
                true
            }
            _ => false,
        }
    }

    /// The scan, if the process was scanned.
    pub fn scanned(&self) -> Option<&ReachScan> {
        match &self.scan {
            Some(Reachability::Scanned(scan)) => Some(scan),
            _ => None,
        }
    }

    /// Why the process was not scanned, if the trace says.
    pub fn not_scanned(&self) -> Option<&str> {
        match &self.scan {
            Some(Reachability::NotScanned(why)) => Some(why),
            _ => None,
        }
    }

    /// The kind of the live block at `address`; `None` when the process
    /// was not scanned.
    pub fn kind_of(&self, address: u64) -> Option<LeakKind> {
        self.scanned()?;
        Some(
            self.lost
                .get(&address)
                .copied()
                .unwrap_or(LeakKind::StillReachable),
        )
    }

    /// Records a scan made now (`heapwise run`, which also appends it to
    /// the trace): the same as reading its records back.
    pub fn set(&mut self, scan: Reachability, lost: impl IntoIterator<Item = (u64, u8)>) {
        self.control(&ControlRecord::Reachability(scan));
        self.control(&ControlRecord::LostBlocks(lost.into_iter().collect()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_not_named_lost_are_still_reachable_once_scanned() {
        let mut recorded = Recorded::default();
        assert_eq!(recorded.kind_of(0x10), None);
        recorded.set(
            Reachability::Scanned(ReachScan::default()),
            [(0x10, 0), (0x20, 1), (0x30, 2)],
        );
        assert_eq!(recorded.kind_of(0x10), Some(LeakKind::DefinitelyLost));
        assert_eq!(recorded.kind_of(0x20), Some(LeakKind::IndirectlyLost));
        assert_eq!(recorded.kind_of(0x30), Some(LeakKind::PossiblyLost));
        assert_eq!(recorded.kind_of(0x40), Some(LeakKind::StillReachable));
        let mut refused = Recorded::default();
        refused.set(Reachability::NotScanned("killed".into()), []);
        assert_eq!(refused.kind_of(0x10), None);
        assert_eq!(refused.not_scanned(), Some("killed"));
    }
}

//! Reachability at exit: which of the blocks a program still holds when it
//! exits are still pointed to, and which are lost — valgrind's four leak
//! kinds, from a scan of the process's memory while it is stopped at exit.
//!
//! The live blocks come from the trace (`heapwise-native` replays it); this
//! crate reads the memory and classifies them:
//!
//! - [`process`] stops every thread of a process (ptrace, only for the
//!   length of the scan), reads their registers and copies the memory that
//!   may hold pointers — every readable and writable mapping — in large
//!   `process_vm_readv` reads, then lets the process go ([`Snapshot`]);
//! - [`roots`] decides which of that memory is a root, as valgrind does:
//!   every writable mapping that is not the allocator's heap nor the
//!   tracer's own memory — the data and bss of every module, every
//!   thread's stack from its stack pointer (less the 128-byte red zone)
//!   up, TLS (which glibc keeps in those) — and every thread's registers;
//! - [`scan`] runs valgrind's leak search over it (start and interior
//!   pointers, valgrind's [`heuristics`], cliques of lost blocks) with a
//!   [`BlockTable`] that finds the block holding an address in a few
//!   cache-resident reads ([`blocks`]).
//!
//! The design and its differences from valgrind are in
//! `docs/reachability.md`.
//!
//! ```
//! use heapwise_reach::{BlockTable, Kind, Memory, NoProbe, Scan};
//!
//! // Three blocks side by side from 0x1000: a register points to the
//! // first, which points into the middle of the second; nothing points to
//! // the third.
//! struct Copied { base: u64, words: Vec<u64> }
//! impl Memory for Copied {
//!     fn words(&self, from: u64, to: u64) -> Option<&[u64]> {
//!         let at = |a: u64| Some((a.checked_sub(self.base)? / 8) as usize);
//!         self.words.get(at(from)?..at(to)?)
//!     }
//! }
//! let memory = Copied { base: 0x1000, words: vec![0x1018, 0, 0, 0, 0] };
//! let table = BlockTable::new(vec![(0x1000, 16), (0x1010, 16), (0x1020, 8)])?;
//! let mut scan = Scan::new(&table);
//! scan.register(0x1000, &memory, &NoProbe);
//! scan.finish(&memory, &NoProbe);
//! assert_eq!(scan.kind(0), Kind::StillReachable);
//! assert_eq!(scan.kind(1), Kind::PossiblyLost);
//! assert_eq!(scan.kind(2), Kind::DefinitelyLost);
//! # Ok::<(), heapwise_reach::BlockError>(())
//! ```
#![deny(missing_docs)]

pub mod blocks;
pub mod buffers;
pub mod heuristics;
mod huge;
pub mod maps;
pub mod process;
pub mod roots;
pub mod scan;

pub use blocks::{BlockError, BlockTable, Hit};
pub use buffers::Buffers;
pub use heuristics::Heuristic;
pub use maps::Mapping;
pub use process::{ReachError, Snapshot, Thread};
pub use roots::{Classified, Exclusions, classify};
pub use scan::Scan;

/// valgrind's leak kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// No pointer to the block anywhere (or only from other lost blocks
    /// that it leads).
    DefinitelyLost,
    /// Pointed to only by lost blocks.
    IndirectlyLost,
    /// Reached only through a pointer into its interior.
    PossiblyLost,
    /// A pointer to its start is in a root or a reachable block.
    StillReachable,
}

impl Kind {
    /// The four kinds, most serious first.
    pub const ALL: [Kind; 4] = [
        Kind::DefinitelyLost,
        Kind::IndirectlyLost,
        Kind::PossiblyLost,
        Kind::StillReachable,
    ];

    /// The name in JSON (`definitely_lost`, ...).
    pub fn key(self) -> &'static str {
        match self {
            Kind::DefinitelyLost => "definitely_lost",
            Kind::IndirectlyLost => "indirectly_lost",
            Kind::PossiblyLost => "possibly_lost",
            Kind::StillReachable => "still_reachable",
        }
    }

    /// Whether the block is lost (not still reachable): what
    /// `--fail-on-leak` counts.
    pub fn is_lost(self) -> bool {
        self != Kind::StillReachable
    }
}

/// Memory a scan reads: the words of a range of the process, as copied.
pub trait Memory {
    /// The words of `[from, to)` (both 8-byte aligned), or `None` when that
    /// memory was not read.
    fn words(&self, from: u64, to: u64) -> Option<&[u64]>;
}

/// What the `multipleinheritance` heuristic asks of the process: whether an
/// address looks like a C++ vtable (see [`heuristics::looks_like_vtable`]).
pub trait Probe {
    /// Whether `address` looks like the address of a vtable.
    fn is_vtable(&self, address: u64) -> bool;
}

/// A [`Probe`] that sees no vtable anywhere (the heuristic then never
/// applies).
pub struct NoProbe;

impl Probe for NoProbe {
    fn is_vtable(&self, _: u64) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    //! A heap built word by word, for the unit tests of the scan.
    use super::*;
    use std::collections::BTreeMap;

    /// Blocks laid out from 0x10000, 16-aligned with a 16-byte gap, and
    /// their words.
    #[derive(Default)]
    pub struct Heap {
        pub blocks: Vec<(u64, u64)>,
        pub words: BTreeMap<u64, u64>,
        next: u64,
        cache: std::sync::Mutex<Vec<Box<[u64]>>>,
    }

    impl Heap {
        /// A new block of `size` bytes, zeroed; its address.
        pub fn block(&mut self, size: u64) -> u64 {
            if self.next == 0 {
                self.next = 0x10000;
            }
            let at = self.next;
            self.blocks.push((at, size));
            for w in 0..size.div_ceil(8) + 1 {
                self.words.insert(at + 8 * w, 0);
            }
            self.next = (at + size + 16).next_multiple_of(16) + 16;
            at
        }

        /// Stores `value` at `block + offset`.
        pub fn set(&mut self, block: u64, offset: u64, value: u64) {
            self.words.insert(block + offset, value);
        }

        /// Stores a pointer to `target` at `block + offset`.
        pub fn point(&mut self, block: u64, offset: u64, target: u64) {
            self.set(block, offset, target);
        }

        pub fn table(&self) -> BlockTable {
            BlockTable::new(self.blocks.clone()).unwrap()
        }
    }

    impl Memory for Heap {
        fn words(&self, from: u64, to: u64) -> Option<&[u64]> {
            let words: Vec<u64> = (from..to)
                .step_by(8)
                .map(|a| self.words.get(&a).copied())
                .collect::<Option<_>>()?;
            let boxed = words.into_boxed_slice();
            let ptr: *const [u64] = &*boxed;
            self.cache.lock().unwrap().push(boxed);
            // SAFETY: the box lives in `cache` as long as `self`, and is
            // never moved out or dropped before.
            Some(unsafe { &*ptr })
        }
    }

    pub use super::NoProbe;
}

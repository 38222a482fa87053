//! The scan itself: valgrind's leak search (memcheck's `mc_leakcheck.c`),
//! step for step, over memory read from the stopped process.
//!
//! 1. Every word of the roots and every register is looked up in the
//!    [`BlockTable`]. A pointer to a block's start makes it *reachable*, a
//!    pointer into its interior only *possibly* reachable — unless one of
//!    valgrind's heuristics ([`crate::heuristics`]) recognises the interior
//!    pointer as one that C++ or a library keeps on purpose. A block whose
//!    state rises is pushed on the mark stack.
//! 2. Blocks are popped and their words scanned the same way; what a block
//!    reached only through an interior pointer points to is at best
//!    possibly reachable ("is_prior_definite"). A block raised from
//!    possibly to definitely reachable is scanned again.
//! 3. Every block still unreached is lost. In address order, each one not
//!    yet claimed leads a *clique*: every unreached block it reaches
//!    (through start or interior pointers alike) becomes *indirectly lost*,
//!    including leaders of earlier cliques. The leaders left are
//!    *definitely lost*. (So in a lost cycle the block with the lowest
//!    address is the definitely lost one, as in valgrind.)
//!
//! The outcome does not depend on the order of the mark stack in step 2
//! (it is the fixpoint of monotone upgrades); step 3 follows valgrind's
//! address order exactly, since its outcome does depend on it.

use crate::blocks::{BlockTable, Hit};
use crate::heuristics::{self, Heuristic};
use crate::{Kind, Memory, Probe};

const UNREACHED: u8 = 0;
const POSSIBLE: u8 = 1;
const REACHABLE: u8 = 2;
const INDIRECT: u8 = 3;
const STATE: u8 = 0b11;
const PENDING: u8 = 0b100;
/// The heuristic that made the block reachable, in bits 3..6.
const HEURISTIC_SHIFT: u8 = 3;
/// Whether the block's first word is a vtable's address is known (bit 6),
/// and is (bit 7): see [`heuristics::recognise`].
const VTABLE_KNOWN: u8 = 1 << 6;
const VTABLE_FIRST: u8 = 1 << 7;
/// Blocks popped from the mark stack together (see [`Scan::finish`]).
const WINDOW: usize = 16;

/// Words of a block looked up together (see [`Scan::words`]).
const LOOKUPS: usize = 16;

/// Asks the CPU to bring the first cache lines of `words` in.
#[inline]
fn prefetch(words: &[u64]) {
    for line in words.chunks(8).take(4) {
        prefetch_line(&line[0]);
    }
}

/// Asks the CPU to bring the cache line of `value` in.
#[inline]
pub(crate) fn prefetch_line<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch of memory we can read; it has no effect on the
    // program's state.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            (value as *const T).cast(),
        )
    };
}

/// What a scan found, per block and in total.
#[derive(Debug)]
pub struct Scan<'t> {
    table: &'t BlockTable,
    /// Per block: state, pending flag, heuristic.
    flags: Vec<u8>,
    stack: Vec<u32>,
    /// Bytes of root memory scanned.
    pub root_bytes: u64,
    /// Bytes of blocks scanned (a block raised to reachable after it was
    /// scanned as possibly reachable is counted twice, as it is scanned
    /// twice).
    pub block_bytes: u64,
    /// Blocks whose memory could not be read (scanned as empty).
    pub unreadable_blocks: u64,
}

impl<'t> Scan<'t> {
    /// A scan of the blocks of `table`, none reached yet.
    pub fn new(table: &'t BlockTable) -> Scan<'t> {
        Scan {
            table,
            flags: crate::huge::filled(table.len(), UNREACHED),
            stack: Vec::new(),
            root_bytes: 0,
            block_bytes: 0,
            unreadable_blocks: 0,
        }
    }

    /// Step 1 for root memory: every aligned word of `words` (a root
    /// segment, already read).
    pub fn roots(&mut self, words: &[u64], memory: &dyn Memory, probe: &dyn Probe) {
        self.root_bytes += 8 * words.len() as u64;
        for &word in words {
            self.push_unclaimed(word, true, memory, probe);
        }
    }

    /// Step 1 for a register.
    pub fn register(&mut self, value: u64, memory: &dyn Memory, probe: &dyn Probe) {
        self.push_unclaimed(value, true, memory, probe);
    }

    /// Step 2: scans the pushed blocks until none is left; then step 3.
    ///
    /// Blocks are taken from the mark stack 16 at a time and their
    /// memory prefetched before the first is scanned: a block's words are
    /// a cache miss otherwise (the order is the graph's, not memory's).
    pub fn finish(&mut self, memory: &dyn Memory, probe: &dyn Probe) {
        let mut batch: Vec<(u32, &[u64])> = Vec::with_capacity(WINDOW);
        while self.take(&mut batch, memory) {
            for &(index, words) in &batch {
                let definite = self.state(index) != POSSIBLE;
                self.words(words, definite, memory, probe);
            }
        }
        for leader in 0..self.table.len() as u32 {
            if self.state(leader) != UNREACHED {
                continue;
            }
            self.push(leader);
            let mut hits = [(
                Hit {
                    index: 0,
                    start: false,
                },
                0u64,
            ); LOOKUPS];
            while self.take(&mut batch, memory) {
                for &(_, words) in &batch {
                    for chunk in words.chunks(LOOKUPS) {
                        let n = self.look_up(chunk, &mut hits);
                        for &(Hit { index: found, .. }, _) in &hits[..n] {
                            if found != leader && self.state(found) == UNREACHED {
                                self.push(found);
                                self.set_state(found, INDIRECT);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Pops up to [`WINDOW`] blocks into `batch` with their words,
    /// prefetching them; false when the stack was empty.
    fn take<'m>(&mut self, batch: &mut Vec<(u32, &'m [u64])>, memory: &'m dyn Memory) -> bool {
        batch.clear();
        let mut popped = false;
        while batch.len() < WINDOW {
            let Some(index) = self.pop() else {
                break;
            };
            popped = true;
            if let Some(words) = self.block_words(index, memory) {
                prefetch(words);
                batch.push((index, words));
            }
        }
        popped
    }

    /// The kind of block `index` (after [`Scan::finish`]).
    pub fn kind(&self, index: u32) -> Kind {
        match self.state(index) {
            REACHABLE => Kind::StillReachable,
            POSSIBLE => Kind::PossiblyLost,
            INDIRECT => Kind::IndirectlyLost,
            _ => Kind::DefinitelyLost,
        }
    }

    /// The heuristic that made block `index` reachable, if one did.
    pub fn heuristic(&self, index: u32) -> Option<Heuristic> {
        if self.state(index) != REACHABLE {
            return None;
        }
        Heuristic::from_bits((self.flags[index as usize] >> HEURISTIC_SHIFT) & 0b111)
    }

    /// Step 2 for the words of a block, [`LOOKUPS`] at a time: the lookups'
    /// table words are prefetched first, then the hits' states, so that
    /// the cache misses of a pointer-dense block overlap instead of
    /// following one another.
    fn words(&mut self, words: &[u64], definite: bool, memory: &dyn Memory, probe: &dyn Probe) {
        let mut hits = [(
            Hit {
                index: 0,
                start: false,
            },
            0u64,
        ); LOOKUPS];
        for chunk in words.chunks(LOOKUPS) {
            let found = self.look_up(chunk, &mut hits);
            for &(hit, word) in &hits[..found] {
                self.push_hit(hit, word, definite, memory, probe);
            }
        }
    }

    /// The blocks the words of `chunk` point into, with the words, in
    /// `hits`; returns how many. Prefetches as [`Scan::words`] says.
    #[inline]
    fn look_up(&self, chunk: &[u64], hits: &mut [(Hit, u64); LOOKUPS]) -> usize {
        for &word in chunk {
            self.table.prefetch(word);
        }
        let mut found = 0;
        for &word in chunk {
            if let Some(hit) = self.table.find(word) {
                prefetch_line(&self.flags[hit.index as usize]);
                hits[found] = (hit, word);
                found += 1;
            }
        }
        found
    }

    /// valgrind's `lc_push_without_clique_if_a_chunk_ptr`.
    #[inline]
    fn push_unclaimed(
        &mut self,
        word: u64,
        definite: bool,
        memory: &dyn Memory,
        probe: &dyn Probe,
    ) {
        if let Some(hit) = self.table.find(word) {
            self.push_hit(hit, word, definite, memory, probe);
        }
    }

    /// [`Scan::push_unclaimed`] once the block is found.
    #[inline]
    fn push_hit(
        &mut self,
        hit: Hit,
        word: u64,
        definite: bool,
        memory: &dyn Memory,
        probe: &dyn Probe,
    ) {
        let index = hit.index;
        let state = self.state(index);
        if state == REACHABLE {
            if hit.start {
                self.set_heuristic(index, None);
            }
            return;
        }
        let via_start = if hit.start {
            true
        } else {
            let flags = self.flags[index as usize];
            let mut first_is_vtable =
                (flags & VTABLE_KNOWN != 0).then_some(flags & VTABLE_FIRST != 0);
            let found =
                heuristics::recognise(word, index, self.table, memory, probe, &mut first_is_vtable);
            if let Some(known) = first_is_vtable {
                self.flags[index as usize] |= VTABLE_KNOWN | if known { VTABLE_FIRST } else { 0 };
            }
            self.set_heuristic(index, found);
            found.is_some()
        };
        if via_start && definite {
            self.set_state(index, REACHABLE);
            self.push(index);
        } else if state == UNREACHED {
            self.set_state(index, POSSIBLE);
            self.push(index);
        }
    }

    fn block_words<'m>(&mut self, index: u32, memory: &'m dyn Memory) -> Option<&'m [u64]> {
        let start = self.table.start(index);
        let end = start + self.table.size(index);
        let from = start.next_multiple_of(8);
        let to = end & !7;
        if to <= from {
            return None;
        }
        match memory.words(from, to) {
            Some(words) => {
                self.block_bytes += to - from;
                Some(words)
            }
            None => {
                self.unreadable_blocks += 1;
                None
            }
        }
    }

    #[inline]
    fn state(&self, index: u32) -> u8 {
        self.flags[index as usize] & STATE
    }

    #[inline]
    fn set_state(&mut self, index: u32, state: u8) {
        let f = &mut self.flags[index as usize];
        *f = (*f & !STATE) | state;
    }

    fn set_heuristic(&mut self, index: u32, found: Option<Heuristic>) {
        let bits = found.map_or(0, Heuristic::bits);
        let f = &mut self.flags[index as usize];
        *f = (*f & (STATE | PENDING | VTABLE_KNOWN | VTABLE_FIRST)) | (bits << HEURISTIC_SHIFT);
    }

    #[inline]
    fn push(&mut self, index: u32) {
        let f = &mut self.flags[index as usize];
        if *f & PENDING == 0 {
            *f |= PENDING;
            self.stack.push(index);
        }
    }

    #[inline]
    fn pop(&mut self) -> Option<u32> {
        let index = self.stack.pop()?;
        self.flags[index as usize] &= !PENDING;
        Some(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{Heap, NoProbe};

    fn kinds(heap: &Heap, roots: &[u64]) -> Vec<Kind> {
        let table = heap.table();
        let mut scan = Scan::new(&table);
        scan.roots(roots, heap, &NoProbe);
        scan.finish(heap, &NoProbe);
        (0..table.len() as u32).map(|i| scan.kind(i)).collect()
    }

    use Kind::*;

    #[test]
    fn a_root_pointer_to_the_start_reaches_the_block_and_what_it_points_to() {
        let mut heap = Heap::default();
        let a = heap.block(32);
        let b = heap.block(32);
        let c = heap.block(32);
        heap.point(a, 0, b);
        heap.point(b, 8, c + 8);
        assert_eq!(
            kinds(&heap, &[a]),
            [StillReachable, StillReachable, PossiblyLost]
        );
    }

    #[test]
    fn what_a_possibly_reachable_block_points_to_is_possibly_reachable() {
        let mut heap = Heap::default();
        let a = heap.block(48);
        let b = heap.block(32);
        heap.point(a, 16, b);
        assert_eq!(kinds(&heap, &[a + 8]), [PossiblyLost, PossiblyLost]);
        // A start pointer found later raises both.
        assert_eq!(kinds(&heap, &[a + 8, a]), [StillReachable, StillReachable]);
    }

    #[test]
    fn a_lost_chain_has_one_definitely_lost_head_whatever_the_addresses() {
        let mut heap = Heap::default();
        let tail = heap.block(16);
        let middle = heap.block(16);
        let head = heap.block(16);
        heap.point(head, 0, middle);
        heap.point(middle, 0, tail);
        assert_eq!(
            kinds(&heap, &[]),
            [IndirectlyLost, IndirectlyLost, DefinitelyLost]
        );
    }

    #[test]
    fn a_lost_cycle_is_led_by_its_lowest_block() {
        let mut heap = Heap::default();
        let a = heap.block(16);
        let b = heap.block(16);
        let c = heap.block(16);
        heap.point(a, 0, b);
        heap.point(b, 0, c + 4);
        heap.point(c, 8, a);
        assert_eq!(
            kinds(&heap, &[]),
            [DefinitelyLost, IndirectlyLost, IndirectlyLost]
        );
    }

    #[test]
    fn a_cycle_entered_from_a_later_leader_keeps_valgrinds_two_leaders() {
        // b <-> a (b lowest), c -> a. b leads first and claims a; c finds
        // a claimed and leads alone: two definitely lost, as valgrind says.
        let mut heap = Heap::default();
        let b = heap.block(16);
        let a = heap.block(16);
        let c = heap.block(16);
        heap.point(b, 0, a);
        heap.point(a, 0, b);
        heap.point(c, 0, a);
        assert_eq!(
            kinds(&heap, &[]),
            [DefinitelyLost, IndirectlyLost, DefinitelyLost]
        );
    }

    #[test]
    fn zero_sized_blocks_are_reached_by_their_address_and_words_are_aligned() {
        let mut heap = Heap::default();
        let empty = heap.block(0);
        let odd = heap.block(13);
        // Only whole aligned words inside a block are scanned: a pointer in
        // bytes 8..16 of a 13-byte block is not.
        let target = heap.block(16);
        heap.point(odd, 8, target);
        assert_eq!(
            kinds(&heap, &[empty, odd]),
            [StillReachable, StillReachable, DefinitelyLost]
        );
    }
}

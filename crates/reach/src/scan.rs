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
//! (it is the fixpoint of monotone upgrades), so step 2 runs on every core
//! ([`Scan::finish`]): each thread works through a stack of its own and
//! gives half of it to a shared pool when another thread has none. A
//! block's state, its place on a stack and its heuristic share one byte,
//! changed only by atomic operations: a thread that raises a block's
//! state sees in the same operation whether it is waiting on a stack
//! already, and a thread that takes a block off a stack reads its state
//! in the operation that clears that, so a block raised while it is being
//! scanned is pushed and scanned again. Step 3 follows valgrind's address
//! order exactly, on one thread, since its outcome does depend on it.
//! (Which heuristic a block that several interior pointers reach is
//! credited with depends on the order, in valgrind as here: the last
//! one looked at.)

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

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
const HEURISTIC: u8 = 0b111 << HEURISTIC_SHIFT;
/// Whether the block's first word is a vtable's address is known (bit 6),
/// and is (bit 7): see [`heuristics::recognise`].
const VTABLE_KNOWN: u8 = 1 << 6;
const VTABLE_FIRST: u8 = 1 << 7;
/// Blocks popped from the mark stack together (see [`Scan::finish`]).
const WINDOW: usize = 16;

/// Words of a block looked up together (see [`Marks::words`]).
const LOOKUPS: usize = 16;

/// Room for the hits of [`LOOKUPS`] words, none found yet.
const NO_HITS: [(Hit, u64); LOOKUPS] = [(
    Hit {
        index: 0,
        start: false,
    },
    0,
); LOOKUPS];

/// Step 2 runs on one thread when fewer blocks than this are live: a
/// thread costs more than it saves on a small heap.
const PARALLEL_FROM: usize = 4096;

/// At most this many threads run step 2 (its work is bound by memory: a
/// few cores saturate it).
const MAX_THREADS: usize = 8;

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
    marks: Marks<'t>,
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

/// Every block's state, shared by the threads of step 2.
#[derive(Debug)]
struct Marks<'t> {
    table: &'t BlockTable,
    /// Per block: state, pending flag, heuristic, vtable bits.
    flags: Vec<AtomicU8>,
}

/// What one thread of step 2 counts.
#[derive(Debug, Default)]
struct Counts {
    block_bytes: u64,
    unreadable_blocks: u64,
}

impl<'t> Scan<'t> {
    /// A scan of the blocks of `table`, none reached yet.
    pub fn new(table: &'t BlockTable) -> Scan<'t> {
        let mut flags = crate::huge::filled(table.len(), 0u8);
        // `AtomicU8` has the layout of `u8`: the huge-page vector is
        // reused as is.
        let flags: Vec<AtomicU8> = {
            let (ptr, len, capacity) = (flags.as_mut_ptr(), flags.len(), flags.capacity());
            std::mem::forget(flags);
            // SAFETY: same size, alignment and bit validity; the vector's
            // allocation is handed over whole.
            unsafe { Vec::from_raw_parts(ptr.cast::<AtomicU8>(), len, capacity) }
        };
        Scan {
            marks: Marks { table, flags },
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
            self.root(word, memory, probe);
        }
    }

    /// Step 1 for a register.
    pub fn register(&mut self, value: u64, memory: &dyn Memory, probe: &dyn Probe) {
        self.root(value, memory, probe);
    }

    /// Step 1 for one word.
    #[inline]
    fn root(&mut self, word: u64, memory: &dyn Memory, probe: &dyn Probe) {
        if let Some(hit) = self.marks.table.find(word) {
            self.marks
                .push_hit(hit, word, true, memory, probe, &mut self.stack);
        }
    }

    /// Step 2: scans the pushed blocks until none is left, on every core
    /// (see the module's documentation); then step 3.
    ///
    /// Blocks are taken from a mark stack 16 at a time and their memory
    /// prefetched before the first is scanned: a block's words are a cache
    /// miss otherwise (the order is the graph's, not memory's).
    pub fn finish(&mut self, memory: &(dyn Memory + Sync), probe: &(dyn Probe + Sync)) {
        let threads = if self.marks.table.len() < PARALLEL_FROM {
            1
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_THREADS))
        };
        self.finish_on(threads, memory, probe);
    }

    /// [`Scan::finish`] with step 2 on `threads` threads.
    fn finish_on(
        &mut self,
        threads: usize,
        memory: &(dyn Memory + Sync),
        probe: &(dyn Probe + Sync),
    ) {
        let counts = if threads <= 1 {
            let mut counts = Counts::default();
            let mut stack = std::mem::take(&mut self.stack);
            self.marks
                .drain(&mut stack, &mut counts, memory, probe, None);
            vec![counts]
        } else {
            let pool = Pool::new(std::mem::take(&mut self.stack), threads);
            let marks = &self.marks;
            let work = |pool: &Pool| {
                let _quit = QuitOnPanic(pool);
                let mut counts = Counts::default();
                let mut stack = Vec::new();
                while pool.get(&mut stack) {
                    marks.drain(&mut stack, &mut counts, memory, probe, Some(pool));
                }
                counts
            };
            std::thread::scope(|scope| {
                // This thread is one of the workers; a helper the system
                // will not start is one worker fewer (said to the pool
                // before this thread asks it for work, so that the pool
                // never waits for it).
                let helpers: Vec<_> = (1..threads)
                    .filter_map(|_| {
                        let pool = &pool;
                        let started = std::thread::Builder::new()
                            .name("heapwise-scan".into())
                            .spawn_scoped(scope, move || work(pool));
                        if started.is_err() {
                            pool.one_fewer();
                        }
                        started.ok()
                    })
                    .collect();
                let mut counts = vec![work(&pool)];
                counts.extend(
                    helpers
                        .into_iter()
                        .map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e))),
                );
                counts
            })
        };
        for c in counts {
            self.block_bytes += c.block_bytes;
            self.unreadable_blocks += c.unreadable_blocks;
        }
        self.cliques(memory);
    }

    /// Step 3: every block still unreached leads a clique, in address
    /// order.
    fn cliques(&mut self, memory: &dyn Memory) {
        let marks = &self.marks;
        let mut counts = Counts::default();
        let mut batch: Vec<(bool, &[u64])> = Vec::with_capacity(WINDOW);
        let mut hits = NO_HITS;
        for leader in 0..marks.table.len() as u32 {
            if marks.state(leader) != UNREACHED {
                continue;
            }
            marks.push(leader, &mut self.stack);
            while marks.take(&mut self.stack, &mut batch, &mut counts, memory) {
                for &(_, words) in &batch {
                    for chunk in words.chunks(LOOKUPS) {
                        let n = marks.look_up(chunk, &mut hits);
                        for &(Hit { index: found, .. }, _) in &hits[..n] {
                            if found != leader && marks.state(found) == UNREACHED {
                                marks.push(found, &mut self.stack);
                                marks.set_state(found, INDIRECT);
                            }
                        }
                    }
                }
            }
        }
        self.block_bytes += counts.block_bytes;
        self.unreadable_blocks += counts.unreadable_blocks;
    }

    /// The kind of block `index` (after [`Scan::finish`]).
    pub fn kind(&self, index: u32) -> Kind {
        match self.marks.state(index) {
            REACHABLE => Kind::StillReachable,
            POSSIBLE => Kind::PossiblyLost,
            INDIRECT => Kind::IndirectlyLost,
            _ => Kind::DefinitelyLost,
        }
    }

    /// The heuristic that made block `index` reachable, if one did.
    pub fn heuristic(&self, index: u32) -> Option<Heuristic> {
        if self.marks.state(index) != REACHABLE {
            return None;
        }
        Heuristic::from_bits((self.marks.flags(index) & HEURISTIC) >> HEURISTIC_SHIFT)
    }
}

impl Marks<'_> {
    /// Step 2 on one thread: scans the blocks of `stack` and what they
    /// push until it is empty, giving half of it to `pool` whenever a
    /// thread waits there for work.
    fn drain(
        &self,
        stack: &mut Vec<u32>,
        counts: &mut Counts,
        memory: &dyn Memory,
        probe: &dyn Probe,
        pool: Option<&Pool>,
    ) {
        let mut batch: Vec<(bool, &[u64])> = Vec::with_capacity(WINDOW);
        while self.take(stack, &mut batch, counts, memory) {
            for &(definite, words) in &batch {
                self.words(words, definite, memory, probe, stack);
            }
            if let Some(pool) = pool {
                pool.share(stack);
            }
        }
    }

    /// Pops up to [`WINDOW`] blocks from `stack` into `batch` with their
    /// words, prefetching them; each with whether it is scanned as
    /// definitely reached, as its state said when it was popped. False
    /// when the stack was empty.
    fn take<'m>(
        &self,
        stack: &mut Vec<u32>,
        batch: &mut Vec<(bool, &'m [u64])>,
        counts: &mut Counts,
        memory: &'m dyn Memory,
    ) -> bool {
        batch.clear();
        let mut popped = false;
        while batch.len() < WINDOW {
            let Some(index) = stack.pop() else {
                break;
            };
            popped = true;
            // Cleared and read in one operation (see the module's docs).
            let state = self.flag(index).fetch_and(!PENDING, Relaxed) & STATE;
            if let Some(words) = self.block_words(index, counts, memory) {
                prefetch(words);
                batch.push((state != POSSIBLE, words));
            }
        }
        popped
    }

    /// Step 2 for the words of a block, [`LOOKUPS`] at a time: the lookups'
    /// table words are prefetched first, then the hits' states, so that
    /// the cache misses of a pointer-dense block overlap instead of
    /// following one another.
    fn words(
        &self,
        words: &[u64],
        definite: bool,
        memory: &dyn Memory,
        probe: &dyn Probe,
        stack: &mut Vec<u32>,
    ) {
        let mut hits = NO_HITS;
        for chunk in words.chunks(LOOKUPS) {
            let found = self.look_up(chunk, &mut hits);
            for &(hit, word) in &hits[..found] {
                self.push_hit(hit, word, definite, memory, probe, stack);
            }
        }
    }

    /// The blocks the words of `chunk` point into, with the words, in
    /// `hits`; returns how many. Prefetches as [`Marks::words`] says.
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

    /// valgrind's `lc_push_without_clique_if_a_chunk_ptr`, once the block
    /// is found.
    #[inline]
    fn push_hit(
        &self,
        hit: Hit,
        word: u64,
        definite: bool,
        memory: &dyn Memory,
        probe: &dyn Probe,
        stack: &mut Vec<u32>,
    ) {
        let index = hit.index;
        let flags = self.flags(index);
        if flags & STATE == REACHABLE {
            if hit.start && flags & HEURISTIC != 0 {
                self.set_heuristic(index, None);
            }
            return;
        }
        let via_start = if hit.start {
            true
        } else {
            let mut first_is_vtable =
                (flags & VTABLE_KNOWN != 0).then_some(flags & VTABLE_FIRST != 0);
            let found =
                heuristics::recognise(word, index, self.table, memory, probe, &mut first_is_vtable);
            if let Some(known) = first_is_vtable
                && flags & VTABLE_KNOWN == 0
            {
                self.flag(index)
                    .fetch_or(VTABLE_KNOWN | if known { VTABLE_FIRST } else { 0 }, Relaxed);
            }
            self.set_heuristic(index, found);
            found.is_some()
        };
        if via_start && definite {
            self.raise(index, REACHABLE, stack);
        } else {
            self.raise(index, POSSIBLE, stack);
        }
    }

    /// Raises block `index` to `to` if its state is lower (unreached, or
    /// possibly reached for `REACHABLE`), and pushes it on `stack` if it
    /// rose and is on no stack yet: both in one atomic operation.
    #[inline]
    fn raise(&self, index: u32, to: u8, stack: &mut Vec<u32>) {
        let rose = self.flag(index).fetch_update(Relaxed, Relaxed, |f| {
            let state = f & STATE;
            let lower = state == UNREACHED || (to == REACHABLE && state == POSSIBLE);
            lower.then_some((f & !STATE) | to | PENDING)
        });
        if let Ok(old) = rose
            && old & PENDING == 0
        {
            stack.push(index);
        }
    }

    fn block_words<'m>(
        &self,
        index: u32,
        counts: &mut Counts,
        memory: &'m dyn Memory,
    ) -> Option<&'m [u64]> {
        let start = self.table.start(index);
        let end = start + self.table.size(index);
        let from = start.next_multiple_of(8);
        let to = end & !7;
        if to <= from {
            return None;
        }
        match memory.words(from, to) {
            Some(words) => {
                counts.block_bytes += to - from;
                Some(words)
            }
            None => {
                counts.unreadable_blocks += 1;
                None
            }
        }
    }

    #[inline]
    fn flag(&self, index: u32) -> &AtomicU8 {
        &self.flags[index as usize]
    }

    #[inline]
    fn flags(&self, index: u32) -> u8 {
        self.flag(index).load(Relaxed)
    }

    #[inline]
    fn state(&self, index: u32) -> u8 {
        self.flags(index) & STATE
    }

    /// Sets the state (step 3, on one thread).
    #[inline]
    fn set_state(&self, index: u32, state: u8) {
        self.flag(index)
            .fetch_update(Relaxed, Relaxed, |f| Some((f & !STATE) | state))
            .ok();
    }

    fn set_heuristic(&self, index: u32, found: Option<Heuristic>) {
        let bits = found.map_or(0, Heuristic::bits) << HEURISTIC_SHIFT;
        if self.flags(index) & HEURISTIC == bits {
            return;
        }
        self.flag(index)
            .fetch_update(Relaxed, Relaxed, |f| Some((f & !HEURISTIC) | bits))
            .ok();
    }

    /// Pushes block `index` on `stack` unless it is on one already (step 3).
    #[inline]
    fn push(&self, index: u32, stack: &mut Vec<u32>) {
        if self.flag(index).fetch_or(PENDING, Relaxed) & PENDING == 0 {
            stack.push(index);
        }
    }
}

/// The blocks the threads of step 2 share, and who waits for them.
struct Pool {
    state: Mutex<Shared>,
    ready: Condvar,
    /// Threads waiting for blocks (read without the lock, to decide
    /// whether to share).
    hungry: AtomicUsize,
    /// Threads that work from the pool.
    threads: AtomicUsize,
}

struct Shared {
    blocks: Vec<u32>,
    waiting: usize,
    done: bool,
}

impl Pool {
    fn new(blocks: Vec<u32>, threads: usize) -> Pool {
        Pool {
            state: Mutex::new(Shared {
                blocks,
                waiting: 0,
                done: false,
            }),
            ready: Condvar::new(),
            hungry: AtomicUsize::new(0),
            threads: AtomicUsize::new(threads),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves blocks from the pool to the empty `stack` — a share of them,
    /// so that the others get some too. False when there are none and
    /// every thread waits for some: step 2 is done.
    fn get(&self, stack: &mut Vec<u32>) -> bool {
        let mut shared = self.lock();
        loop {
            if !shared.blocks.is_empty() {
                let n = shared
                    .blocks
                    .len()
                    .div_ceil(self.threads.load(Relaxed).max(1));
                let from = shared.blocks.len() - n;
                stack.extend(shared.blocks.drain(from..));
                return true;
            }
            if shared.done {
                return false;
            }
            shared.waiting += 1;
            if shared.waiting >= self.threads.load(Relaxed) {
                // No thread holds blocks, and only a thread holding some
                // can add any.
                shared.done = true;
                self.ready.notify_all();
                return false;
            }
            self.hungry.store(shared.waiting, Relaxed);
            shared = self
                .ready
                .wait(shared)
                .unwrap_or_else(PoisonError::into_inner);
            shared.waiting -= 1;
            self.hungry.store(shared.waiting, Relaxed);
        }
    }

    /// One thread fewer works from the pool (it could not be started).
    fn one_fewer(&self) {
        let _shared = self.lock();
        self.threads.fetch_sub(1, Relaxed);
    }

    /// Gives half of `stack` to the pool if a thread waits for work.
    #[inline]
    fn share(&self, stack: &mut Vec<u32>) {
        if self.hungry.load(Relaxed) == 0 || stack.len() < 2 {
            return;
        }
        let mut shared = self.lock();
        if shared.waiting == 0 {
            return;
        }
        // The oldest half: the blocks pushed first lead to the most work.
        let half = stack.len() / 2;
        shared.blocks.extend(stack.drain(..half));
        self.hungry.store(0, Relaxed);
        self.ready.notify_all();
    }
}

/// Ends step 2 for every thread if one panics (they would wait for it
/// forever).
struct QuitOnPanic<'p>(&'p Pool);

impl Drop for QuitOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.lock().done = true;
            self.0.ready.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{Heap, NoProbe};

    /// The kinds of `heap`'s blocks from `roots`, step 2 on `threads`
    /// threads.
    fn kinds_on(heap: &Heap, roots: &[u64], threads: usize) -> Vec<Kind> {
        let table = heap.table();
        let mut scan = Scan::new(&table);
        scan.roots(roots, heap, &NoProbe);
        scan.finish_on(threads, heap, &NoProbe);
        (0..table.len() as u32).map(|i| scan.kind(i)).collect()
    }

    /// The kinds, the same on one thread and on several.
    fn kinds(heap: &Heap, roots: &[u64]) -> Vec<Kind> {
        let one = kinds_on(heap, roots, 1);
        for threads in [2, 3] {
            assert_eq!(kinds_on(heap, roots, threads), one, "on {threads} threads");
        }
        one
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Step 2 on several threads ends where it ends on one, whatever
        /// the graph: random blocks pointing at random blocks' starts and
        /// interiors, from random roots.
        #[test]
        fn several_threads_classify_every_block_as_one_thread_does(
            sizes in proptest::collection::vec(1u64..6, 50..400),
            edges in proptest::collection::vec((0usize..400, 0usize..6, 0usize..400, proptest::bool::ANY), 0..1200),
            roots in proptest::collection::vec((0usize..400, proptest::bool::ANY), 0..8),
        ) {
            let mut heap = Heap::default();
            let blocks: Vec<u64> = sizes.iter().map(|&words| heap.block(8 * words)).collect();
            let target = |i: usize, interior: bool| {
                let b = blocks[i % blocks.len()];
                if interior { b + 8 } else { b }
            };
            for &(from, slot, to, interior) in &edges {
                let i = from % blocks.len();
                let slot = slot as u64 % sizes[i];
                heap.point(blocks[i], 8 * slot, target(to, interior));
            }
            let roots: Vec<u64> = roots.iter().map(|&(i, interior)| target(i, interior)).collect();
            let one = kinds_on(&heap, &roots, 1);
            for threads in [2, 4] {
                proptest::prop_assert_eq!(&kinds_on(&heap, &roots, threads), &one);
            }
        }
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

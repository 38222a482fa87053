//! Replaying a trace: every allocation and free applied to a map of live
//! blocks, with per-stack counters, totals and the peak.
//!
//! Events arrive in time order ([`crate::merge`]), so an address's history
//! alternates allocation and free. The one exception is a record that
//! arrived after its place in time had been released (a thread stamped it
//! just before a writer pass and committed it after the next one): then an
//! allocation may find its address still live, or a free find it not live
//! yet. Both are resolved from the timestamps (frees are stamped before
//! glibc gets the block back, allocations after glibc hands it out): the
//! pending side is remembered until its partner arrives. When nothing is
//! pending — nearly always — replay costs one hash-map insert or remove per
//! event, and memory is proportional to the live blocks.

use heapwise_trace::checkpoint::Checkpoint;
use heapwise_trace::liveset::{Freed, Inserted, LiveSet, Stamped};
use heapwise_trace::{ControlRecord, Counters, ExitStatus, ModuleLoad, StackId};

use crate::grid::{StackSeries, TimeGrid};
use crate::ops::Op;
use crate::weigh::Weigh;

use crate::clock::ClockFit;

/// A block that is allocated.
#[derive(Clone, Copy, Debug, Default)]
struct Live {
    size: u64,
    tick: u64,
    stack: StackId,
    /// The blocks it stands for (1 in a full trace; see [`Weigh`]).
    count: u32,
}

/// A live block as the table of live blocks keeps it: 16 bytes, a slot 24
/// (the table is most of a report's memory: 6 M blocks at CPython's peak).
/// Its count is computed again from its size, address and tick when it
/// leaves ([`Weigh::count`] depends on nothing else).
#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize)]
struct Kept {
    tick: u64,
    /// The size; with [`BIG`] set, the index of the size in `Replay::big`.
    size: u32,
    stack: StackId,
}

/// In [`Kept::size`]: the size is 2 GiB or more and kept apart.
const BIG: u32 = 1 << 31;

impl Stamped for Kept {
    #[inline(always)]
    fn tick(&self) -> u64 {
        self.tick
    }
}

/// A live block, as [`Replay::for_each_live`] passes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveBlock {
    /// Its address.
    pub ptr: u64,
    /// Its size.
    pub size: u64,
    /// The bytes it stands for (its size in a full trace; see [`Weigh`]).
    pub bytes: u64,
    /// The blocks it stands for (1 in a full trace).
    pub count: u64,
    /// Its call stack.
    pub stack: StackId,
    /// When it was allocated.
    pub tick: u64,
}

/// Counters of one call stack.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct StackStats {
    /// Allocations made from this stack.
    pub allocations: u64,
    /// Bytes requested by them.
    pub allocated_bytes: u64,
    /// Allocations from this stack still live.
    pub live_allocations: u64,
    /// Their bytes.
    pub live_bytes: u64,
    /// Tick of the first allocation from this stack.
    pub first_tick: u64,
    /// Allocations freed before the thread allocated anything else.
    pub temporary: u64,
    /// Live bytes over time.
    pub series: StackSeries,
    /// Live bytes when the peak was reached (valid when `peak_epoch` is the
    /// replay's; otherwise `live_bytes` has not changed since).
    at_peak: u64,
    peak_epoch: u32,
}

/// The counters of every stack that allocated, by stack id: a stack id
/// is a node of the stacks' trie, and most nodes are inner frames that
/// never allocate (cc1plus: 608,856 nodes, 104,452 of them allocating; a
/// counter per node took 58 MB of its report). Indexing by a stack id that
/// has none gives zeros.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct StackCounters {
    /// Per stack id, its counters' place in `stats` (`NONE`: none).
    place: Vec<u32>,
    stats: Vec<StackStats>,
}

/// See [`StackCounters::place`].
const NONE: u32 = u32::MAX;

/// What a stack that never allocated has.
static NO_STATS: StackStats = StackStats {
    allocations: 0,
    allocated_bytes: 0,
    live_allocations: 0,
    live_bytes: 0,
    first_tick: 0,
    temporary: 0,
    series: StackSeries {
        points: Vec::new(),
        level: 0,
    },
    at_peak: 0,
    peak_epoch: 0,
};

impl StackCounters {
    /// One more than the largest stack id with counters (ids below it may
    /// have none).
    pub fn len(&self) -> usize {
        self.place.len()
    }

    /// Whether no stack has counters.
    pub fn is_empty(&self) -> bool {
        self.stats.is_empty()
    }

    /// The counters of `stack`, if it has any.
    #[inline(always)]
    pub fn get(&self, stack: StackId) -> Option<&StackStats> {
        match self.place.get(stack as usize) {
            Some(&place) if place != NONE => self.stats.get(place as usize),
            _ => None,
        }
    }

    /// The counters of `stack`, new ones if it had none.
    #[inline(always)]
    fn get_or_add(&mut self, stack: StackId) -> &mut StackStats {
        let place = match self.place.get(stack as usize) {
            Some(&place) if place != NONE => place,
            _ => self.add(stack),
        };
        &mut self.stats[place as usize]
    }

    #[cold]
    fn add(&mut self, stack: StackId) -> u32 {
        let index = stack as usize;
        if index >= self.place.len() {
            self.place.resize(index + 1, NONE);
        }
        let place = self.stats.len() as u32;
        self.place[index] = place;
        self.stats.push(StackStats::default());
        place
    }

    /// Every stack with counters and its counters, by stack id.
    pub fn iter(&self) -> impl Iterator<Item = (StackId, &StackStats)> {
        self.place
            .iter()
            .enumerate()
            .filter(|(_, place)| **place != NONE)
            .map(|(stack, &place)| (stack as StackId, &self.stats[place as usize]))
    }

    /// Every stack's counters, in no order.
    fn values_mut(&mut self) -> impl Iterator<Item = &mut StackStats> {
        self.stats.iter_mut()
    }
}

impl std::ops::Index<usize> for StackCounters {
    type Output = StackStats;

    /// The counters of stack id `index`: zeros if it has none.
    fn index(&self, index: usize) -> &StackStats {
        StackId::try_from(index)
            .ok()
            .and_then(|stack| self.get(stack))
            .unwrap_or(&NO_STATS)
    }
}

pub use heapwise_trace::checkpoint::{SIZE_CLASS_LIMITS, size_class};

/// Counters of one size class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClassStats {
    /// Allocations of this size.
    pub allocations: u64,
    /// Their bytes.
    pub allocated_bytes: u64,
}

/// A module and when it was seen unloaded.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ModuleSpan {
    /// The load record.
    pub load: ModuleLoad,
    /// Tick of the unload record, if any.
    pub unloaded: Option<u64>,
}

/// Everything replay accumulates (saved whole beside a trace: `crate::saved`).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Replay {
    /// The live blocks (also: addresses freed here that were never
    /// allocated here — in a forked child, the parent's blocks it freed).
    live: LiveSet<Kept>,
    /// The sizes of live blocks of 2 GiB or more ([`BIG`]), and the free
    /// places in it.
    big: Vec<u64>,
    big_free: Vec<u32>,
    events_since_sweep: u64,
    /// Counters per stack id.
    pub stacks: StackCounters,
    /// Counters per size class.
    pub classes: [ClassStats; 3],
    /// Allocations, counted as the report defines them.
    pub allocations: u64,
    /// Frees of non-null pointers, including those implied by realloc.
    pub frees: u64,
    /// Bytes requested by all allocations.
    pub allocated_bytes: u64,
    /// Bytes live now.
    pub live_bytes: u64,
    /// The largest `live_bytes` reached.
    pub peak_live_bytes: u64,
    /// When it was reached.
    pub peak_tick: u64,
    /// The latest tick of any event.
    pub last_tick: u64,
    /// Calls the tracer could not record.
    pub lost: u64,
    /// Clock samples.
    pub clock: ClockFit,
    /// Every module seen.
    pub modules: Vec<ModuleSpan>,
    /// How the process ended, if known.
    pub exit: Option<ExitStatus>,
    /// When it was recorded (`u64::MAX`: written after the process ended).
    exit_tick: u64,
    /// Messages from the tracer.
    pub notes: Vec<String>,
    /// What was recovered from the spill file after the process died.
    pub recovered: heapwise_trace::Recovery,
    /// Counter samples (RSS, allocator statistics).
    pub counters: Vec<Counters>,
    /// Kernel thread ids seen.
    pub threads: u64,
    sweep_window: u64,
    /// Live bytes, allocations and frees over time.
    pub grid: TimeGrid,
    /// Allocations freed before their thread allocated anything else.
    pub temporary: u64,
    /// Bumped at every new peak.
    peak_epoch: u32,
    /// Per stream: the last pointer it allocated, while not yet freed.
    last_alloc: Vec<u64>,
    /// The timeline bucket of the event being applied.
    bucket: usize,
    /// Paired allocations that had to enter the map after all.
    unpaired: rustc_hash::FxHashSet<u64>,
    /// What a recorded block stands for (set from the trace header).
    pub weigh: Weigh,
    /// Live blocks (weighed).
    live_count: u64,
    /// Allocations recorded (unweighed: the sample of a sampled trace).
    pub recorded: u64,
    /// The trace began with a checkpoint: what was before it is known in
    /// summary (see [`Replay::seed`]).
    pub compacted: Option<Compacted>,
    /// When sampling was paused (its control file): (from, until; `None`
    /// while still paused), ticks.
    pub paused: Vec<(u64, Option<u64>)>,
    /// The reachability scan at exit, if the trace records one.
    pub reachability: crate::reach::Recorded,
}

/// What a compacted trace's checkpoint said of the time before it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Compacted {
    /// The records before this tick are known in summary only.
    pub tick: u64,
    /// Times the trace was compacted.
    pub compactions: u32,
    /// When the snapshots of memory over time before the checkpoint were
    /// taken.
    pub snapshots: Vec<u64>,
}

impl Replay {
    /// Gives back the room its vectors grew into beyond their contents
    /// (a loaded replay's vectors were read by doubling).
    pub fn shrink_to_fit(&mut self) {
        self.stacks.place.shrink_to_fit();
        self.stacks.stats.shrink_to_fit();
        for stats in &mut self.stacks.stats {
            stats.series.points.shrink_to_fit();
        }
        self.grid.buckets.shrink_to_fit();
    }

    /// Whether every stack this replay names is one of `stacks`, and every
    /// large size it refers to is kept: a loaded replay (`crate::saved`)
    /// that is not is not used.
    pub fn consistent_with(&self, stacks: &heapwise_trace::StackTable) -> bool {
        let nodes = stacks.len();
        self.stacks.len() <= nodes
            && self.live.iter().all(|(_, kept)| {
                (kept.stack as usize) < nodes
                    && (kept.size & BIG == 0 || ((kept.size & !BIG) as usize) < self.big.len())
            })
    }

    /// The table of live blocks gets its new memory, as it grows, from a
    /// thread of its own (see `heapwise_trace::liveset::Table`): a
    /// replay of millions of live blocks spent about a sixth of its time
    /// in the kernel zeroing the pages of the table's new slots.
    pub fn grow_on_a_thread(&mut self) {
        self.live.grow_on_a_thread();
    }

    /// Starts a replay; `clock` comes from the trace header.
    pub fn new(clock: ClockFit) -> Replay {
        let start = clock.start_tick();
        let nominal = clock.source().nominal_ns_per_tick();
        Replay {
            live: LiveSet::default(),
            big: Vec::new(),
            big_free: Vec::new(),
            events_since_sweep: 0,
            stacks: StackCounters::default(),
            classes: [ClassStats::default(); 3],
            allocations: 0,
            frees: 0,
            allocated_bytes: 0,
            live_bytes: 0,
            peak_live_bytes: 0,
            peak_tick: 0,
            last_tick: 0,
            lost: 0,
            clock,
            modules: Vec::new(),
            exit: None,
            exit_tick: u64::MAX,
            notes: Vec::new(),
            recovered: heapwise_trace::Recovery::default(),
            counters: Vec::new(),
            threads: 0,
            sweep_window: 0,
            grid: TimeGrid::new(start, nominal),
            temporary: 0,
            peak_epoch: 0,
            last_alloc: Vec::new(),
            bucket: 0,
            unpaired: Default::default(),
            weigh: Weigh::default(),
            live_count: 0,
            recorded: 0,
            compacted: None,
            paused: Vec::new(),
            reachability: crate::reach::Recorded::default(),
        }
    }

    /// Live bytes of `stack` when the peak was reached.
    pub fn at_peak(&self, stack: StackId) -> u64 {
        self.stacks.get(stack).map_or(0, |s| {
            if s.peak_epoch == self.peak_epoch {
                s.at_peak
            } else {
                s.live_bytes
            }
        })
    }

    /// Whether `ptr` was freed without having been allocated in this trace
    /// (a block from before tracing started: in a forked child, the
    /// parent's).
    pub fn freed_before_allocated(&self, ptr: u64) -> bool {
        self.live.freed_before_allocated(ptr)
    }

    /// Number of cross-thread orderings that had to be resolved.
    pub fn reordered(&self) -> u64 {
        self.live.reordered
    }

    /// Number of live blocks (an estimate in a sampled trace).
    pub fn live_allocations(&self) -> u64 {
        self.live_count
    }

    /// Recorded blocks still live (unweighed).
    pub fn recorded_live(&self) -> u64 {
        self.live.len() as u64
    }

    /// Calls `f` for every live block.
    pub fn for_each_live(&self, mut f: impl FnMut(LiveBlock)) {
        for (ptr, kept) in self.live.iter() {
            let live = self.unkept(ptr, *kept);
            f(LiveBlock {
                ptr,
                size: live.size,
                bytes: self.weigh.bytes(live.size),
                count: u64::from(live.count),
                stack: live.stack,
                tick: live.tick,
            });
        }
    }

    #[inline(always)]
    fn stack_mut(&mut self, stack: StackId) -> &mut StackStats {
        self.stacks.get_or_add(stack)
    }

    /// The counters every allocation updates, paired or not; returns the
    /// block as it enters the live set.
    #[inline(always)]
    fn count_alloc(&mut self, stream: u32, ptr: u64, size: u64, stack: StackId, tick: u64) -> Live {
        let count = self.weigh.count(size, ptr, tick);
        let (n, bytes) = (u64::from(count), self.weigh.bytes(size));
        self.recorded += 1;
        self.allocations += n;
        self.allocated_bytes += bytes;
        self.bucket = self.grid.bucket(tick, self.live_bytes);
        let bucket = &mut self.grid.buckets[self.bucket];
        bucket.allocations += n;
        bucket.allocated_bytes += bytes;
        match self.last_alloc.get_mut(stream as usize) {
            Some(last) => *last = ptr,
            None => {
                self.last_alloc.resize(stream as usize + 1, 0);
                self.last_alloc[stream as usize] = ptr;
            }
        }
        let class = &mut self.classes[size_class(size)];
        class.allocations += n;
        class.allocated_bytes += bytes;
        let stats = self.stack_mut(stack);
        if stats.allocations == 0 {
            stats.first_tick = tick;
        }
        stats.allocations += n;
        stats.allocated_bytes += bytes;
        self.note_tick(tick);
        Live {
            size,
            tick,
            stack,
            count,
        }
    }

    /// The counters every free of `count` blocks updates; returns whether
    /// it is a temporary (freed before its thread allocated anything else).
    #[inline(always)]
    fn count_free(&mut self, stream: u32, ptr: u64, tick: u64, count: u64) -> bool {
        self.frees += count;
        self.note_tick(tick);
        self.bucket = self.grid.bucket(tick, self.live_bytes);
        self.grid.buckets[self.bucket].frees += count;
        match self.last_alloc.get_mut(stream as usize) {
            Some(last) if *last == ptr => {
                *last = 0;
                true
            }
            _ => false,
        }
    }

    #[inline]
    fn on_alloc(&mut self, stream: u32, ptr: u64, size: u64, stack: StackId, tick: u64) {
        let live = self.count_alloc(stream, ptr, size, stack, tick);
        self.insert_live(ptr, live);
    }

    /// Enters a block into the map of live blocks, resolving an address
    /// that still looks live (a free not read yet).
    #[inline]
    fn insert_live(&mut self, ptr: u64, new: Live) {
        let kept = self.keep(new);
        match self.live.insert(ptr, kept) {
            Inserted::Added => self.add_live(new),
            Inserted::Replaced(old) => {
                let old = self.take_kept(ptr, old);
                self.remove_live(old);
                self.add_live(new);
            }
            Inserted::Gone => self.release(kept),
        }
    }

    /// `live` as the table keeps it.
    #[inline(always)]
    fn keep(&mut self, live: Live) -> Kept {
        let size = match u32::try_from(live.size) {
            Ok(size) if size < BIG => size,
            _ => self.keep_big(live.size),
        };
        Kept {
            tick: live.tick,
            size,
            stack: live.stack,
        }
    }

    #[cold]
    fn keep_big(&mut self, size: u64) -> u32 {
        match self.big_free.pop() {
            Some(index) => {
                self.big[index as usize] = size;
                BIG | index
            }
            None => {
                self.big.push(size);
                BIG | (self.big.len() - 1) as u32
            }
        }
    }

    /// The block at `ptr` the table kept as `kept`.
    #[inline(always)]
    fn unkept(&self, ptr: u64, kept: Kept) -> Live {
        let size = if kept.size & BIG == 0 {
            u64::from(kept.size)
        } else {
            self.big[(kept.size & !BIG) as usize]
        };
        Live {
            size,
            tick: kept.tick,
            stack: kept.stack,
            count: self.weigh.count(size, ptr, kept.tick),
        }
    }

    /// [`Replay::unkept`] for a block leaving the table.
    #[inline(always)]
    fn take_kept(&mut self, ptr: u64, kept: Kept) -> Live {
        let live = self.unkept(ptr, kept);
        self.release(kept);
        live
    }

    /// Forgets what `kept` held apart, if anything.
    #[inline(always)]
    fn release(&mut self, kept: Kept) {
        if kept.size & BIG != 0 {
            self.big_free.push(kept.size & !BIG);
        }
    }

    #[inline]
    fn on_free(&mut self, stream: u32, ptr: u64, tick: u64) {
        match self.live.free(ptr, tick) {
            Freed::Block(kept) => {
                let live = self.take_kept(ptr, kept);
                let temporary = self.count_free(stream, ptr, tick, u64::from(live.count));
                self.remove_live(live);
                if temporary {
                    self.temporary += u64::from(live.count);
                    self.stack_mut(live.stack).temporary += u64::from(live.count);
                }
            }
            // The allocation it frees left the live set already, or is not
            // read yet: a block of its own weight (one, in a full trace).
            Freed::Stale | Freed::Unknown => {
                self.count_free(stream, ptr, tick, 1);
            }
        }
    }

    /// An allocation whose free comes later in the same stream: counted
    /// and made live without entering the map — unless its address still
    /// looks live (a late record of another thread), then the exact path.
    #[inline]
    fn on_alloc_paired(&mut self, stream: u32, ptr: u64, size: u64, stack: StackId, tick: u64) {
        let live = self.count_alloc(stream, ptr, size, stack, tick);
        if !self.live.is_empty() && self.live.contains(ptr) {
            self.unpaired.insert(ptr);
            self.insert_live(ptr, live);
        } else {
            self.add_live(live);
        }
    }

    #[inline]
    fn on_free_paired(&mut self, stream: u32, ptr: u64, size: u64, stack: StackId, tick: u64) {
        if !self.unpaired.is_empty() && self.unpaired.remove(&ptr) {
            return self.on_free(stream, ptr, tick);
        }
        // Pairs are only made in full traces (`pipeline.rs`): one block.
        let temporary = self.count_free(stream, ptr, tick, 1);
        self.remove_live(Live {
            size,
            tick,
            stack,
            count: 1,
        });
        if temporary {
            self.temporary += 1;
            self.stack_mut(stack).temporary += 1;
        }
    }

    #[inline(always)]
    fn add_live(&mut self, live: Live) {
        let (count, bytes) = (u64::from(live.count), self.weigh.bytes(live.size));
        self.change_stack(live.stack, |stats| {
            stats.live_allocations += count;
            stats.live_bytes += bytes;
        });
        self.live_count += count;
        self.live_bytes += bytes;
        if self.live_bytes > self.peak_live_bytes {
            self.peak_live_bytes = self.live_bytes;
            self.peak_tick = live.tick;
            // Every stack's "at peak" is now its current value (copied
            // lazily, when it next changes).
            self.peak_epoch = self.peak_epoch.wrapping_add(1);
        }
        self.update_bucket();
    }

    #[inline(always)]
    fn remove_live(&mut self, live: Live) {
        let (count, bytes) = (u64::from(live.count), self.weigh.bytes(live.size));
        self.change_stack(live.stack, |stats| {
            stats.live_allocations -= count;
            stats.live_bytes -= bytes;
        });
        self.live_count -= count;
        self.live_bytes -= bytes;
        self.update_bucket();
    }

    /// Changes a stack's live counters, keeping its peak value and its
    /// series up to date.
    #[inline]
    fn change_stack(&mut self, stack: StackId, change: impl FnOnce(&mut StackStats)) {
        let epoch = self.peak_epoch;
        let (bucket, level) = (self.bucket, self.grid.level);
        let stats = self.stack_mut(stack);
        if stats.peak_epoch != epoch {
            stats.at_peak = stats.live_bytes;
            stats.peak_epoch = epoch;
        }
        change(stats);
        stats.series.record(bucket, level, stats.live_bytes);
    }

    #[inline]
    fn update_bucket(&mut self) {
        let live = self.live_bytes;
        if let Some(bucket) = self.grid.buckets.get_mut(self.bucket) {
            bucket.live_bytes = live;
            bucket.max_live_bytes = bucket.max_live_bytes.max(live);
        }
    }

    #[inline]
    fn note_tick(&mut self, tick: u64) {
        if tick > self.last_tick {
            self.last_tick = tick;
        }
    }

    /// Drops what waited longer than any reordering can delay a partner.
    fn sweep(&mut self) {
        self.events_since_sweep = 0;
        if !self.live.has_pending() {
            return;
        }
        if self.sweep_window == 0 {
            // Ten seconds: the writer flushes every stream several times a
            // second, so partners are never that far apart.
            self.sweep_window = (10e9 / self.clock.clock().ns_per_tick()) as u64;
        }
        self.live
            .sweep(self.last_tick.saturating_sub(self.sweep_window));
    }
}

impl Replay {
    /// Starts from a compacted trace's checkpoint (it comes before any
    /// event): its totals and per-stack counters, its live blocks, and its
    /// history of memory over time, which becomes the timeline's and the
    /// stacks' series' points before the checkpoint (as coarse as the
    /// history was kept; docs/trace-format.md, "Checkpoints").
    pub fn seed(&mut self, c: &Checkpoint) {
        let t = &c.totals;
        self.recorded += t.recorded;
        self.allocations += t.allocations;
        self.allocated_bytes += t.allocated_bytes;
        self.frees += t.frees;
        self.temporary += t.temporary;
        self.peak_live_bytes = t.peak_live_bytes;
        self.peak_tick = t.peak_tick;
        self.lost += t.lost;
        self.threads += t.threads;
        self.note_tick(t.last_tick);
        for (mine, theirs) in self.classes.iter_mut().zip(&c.classes) {
            mine.allocations += theirs.allocations;
            mine.allocated_bytes += theirs.allocated_bytes;
        }
        let mut counted = (0, 0, 0);
        for snapshot in &c.history {
            let bucket = self.grid.bucket(snapshot.tick, snapshot.live_bytes);
            let level = self.grid.level;
            let b = &mut self.grid.buckets[bucket];
            b.live_bytes = snapshot.live_bytes;
            b.max_live_bytes = b.max_live_bytes.max(snapshot.max_live_bytes);
            b.allocations += snapshot.allocations.saturating_sub(counted.0);
            b.allocated_bytes += snapshot.allocated_bytes.saturating_sub(counted.1);
            b.frees += snapshot.frees.saturating_sub(counted.2);
            counted = (
                snapshot.allocations,
                snapshot.allocated_bytes,
                snapshot.frees,
            );
            for s in &snapshot.stacks {
                self.stack_mut(s.stack)
                    .series
                    .record(bucket, level, s.bytes);
            }
            if let Some(counters) = &snapshot.counters {
                self.counters.push(counters.clone());
            }
        }
        for s in &c.stacks {
            let epoch = self.peak_epoch;
            let stats = self.stack_mut(s.stack);
            stats.allocations += s.allocations;
            stats.allocated_bytes += s.allocated_bytes;
            stats.first_tick = s.first_tick;
            stats.temporary += s.temporary;
            stats.at_peak = s.at_peak;
            stats.peak_epoch = epoch;
        }
        for l in &c.live {
            let live = Live {
                size: l.size,
                tick: l.tick,
                stack: l.stack,
                count: self.weigh.count(l.size, l.ptr, l.tick),
            };
            let kept = self.keep(live);
            self.live.restore(l.ptr, kept);
            let (count, bytes) = (u64::from(live.count), self.weigh.bytes(live.size));
            let stats = self.stack_mut(l.stack);
            stats.live_allocations += count;
            stats.live_bytes += bytes;
            self.live_count += count;
            self.live_bytes += bytes;
        }
        // The rest, from the last snapshot to the checkpoint.
        self.bucket = self.grid.bucket(c.tick.max(t.last_tick), self.live_bytes);
        let (bucket, level) = (self.bucket, self.grid.level);
        let b = &mut self.grid.buckets[bucket];
        b.allocations += t.allocations.saturating_sub(counted.0);
        b.allocated_bytes += t.allocated_bytes.saturating_sub(counted.1);
        b.frees += t.frees.saturating_sub(counted.2);
        for stats in self.stacks.values_mut() {
            if stats.series.points.last().map_or(0, |p| p.1) != stats.live_bytes {
                stats.series.record(bucket, level, stats.live_bytes);
            }
        }
        self.update_bucket();
        self.compacted = Some(Compacted {
            tick: c.tick,
            compactions: c.compactions,
            snapshots: c.history.iter().map(|s| s.tick).collect(),
        });
    }
}

impl Replay {
    /// Starts loading the live table where `event`'s block is kept (a hint
    /// given a few events before [`Replay::apply`]: the table's misses then
    /// overlap instead of stalling the replay one after another).
    #[inline(always)]
    pub fn prefetch(&self, event: &crate::ops::Queued) {
        match event.op() {
            Op::Alloc { ptr, stack, .. } => {
                self.live.prefetch(ptr);
                self.prefetch_stack(stack);
            }
            Op::Free { ptr } => self.live.prefetch(ptr),
            Op::AllocPaired { stack, .. } | Op::FreePaired { stack, .. } => {
                self.prefetch_stack(stack)
            }
        }
    }

    #[inline(always)]
    fn prefetch_stack(&self, stack: StackId) {
        #[cfg(target_arch = "x86_64")]
        if let Some(stats) = self.stacks.get(stack) {
            // SAFETY: prefetching is a hint; the address is in the vector.
            unsafe {
                core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
                    (stats as *const StackStats).cast(),
                )
            };
        }
    }

    /// Applies one event, in time order (see [`crate::merge`]); call
    /// [`Replay::applied`] after a run of them.
    #[inline]
    pub fn apply(&mut self, stream: u32, tick: u64, op: Op) {
        match op {
            Op::Alloc { ptr, size, stack } => self.on_alloc(stream, ptr, size, stack, tick),
            Op::Free { ptr } => self.on_free(stream, ptr, tick),
            Op::AllocPaired { ptr, size, stack } => {
                self.on_alloc_paired(stream, ptr, size, stack, tick)
            }
            Op::FreePaired { ptr, size, stack } => {
                self.on_free_paired(stream, ptr, size, stack, tick)
            }
        }
    }

    /// Bookkeeping after `count` events were applied (once per run of
    /// events rather than per event): notices a failed exec and sweeps
    /// now and then.
    pub fn applied(&mut self, count: usize) {
        if matches!(self.exit, Some(ExitStatus::Exec)) && self.last_tick > self.exit_tick {
            // Events stamped after the exec record: the exec failed.
            self.exit = None;
        }
        self.events_since_sweep += count as u64;
        if self.events_since_sweep >= 1 << 20 {
            self.sweep();
        }
    }

    /// Applies a control record.
    pub fn control(&mut self, record: &ControlRecord) {
        match record {
            ControlRecord::ModuleLoad(load) => self.modules.push(ModuleSpan {
                load: load.clone(),
                unloaded: None,
            }),
            ControlRecord::ModuleUnload { id, ts } => {
                if let Some(span) = self.modules.iter_mut().rev().find(|m| m.load.id == *id) {
                    span.unloaded = Some(*ts);
                }
            }
            ControlRecord::Clock(sample) => self.clock.add(*sample),
            ControlRecord::Exit { ts, status } => {
                if *ts != 0 {
                    self.note_tick(*ts);
                }
                self.exit = Some(*status);
                self.exit_tick = if *ts == 0 { u64::MAX } else { *ts };
            }
            ControlRecord::Note { message, .. } => self.notes.push(message.clone()),
            ControlRecord::Counters(counters) => self.counters.push(counters.clone()),
            ControlRecord::Sync { .. } => {}
            ControlRecord::Sampling { ts, paused } => match self.paused.last_mut() {
                Some((_, until @ None)) if !paused => *until = Some(*ts),
                Some((_, None)) => {}
                _ if *paused => self.paused.push((*ts, None)),
                _ => {}
            },
            ControlRecord::Reachability(_) | ControlRecord::LostBlocks(_) => {
                self.reachability.control(record);
            }
            ControlRecord::Recovered(found) => {
                self.recovered.bytes += found.bytes;
                self.recovered.streams += found.streams;
                self.recovered.cut_streams += found.cut_streams;
                self.recovered.missing_bytes += found.missing_bytes;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_that_never_allocated_have_zero_counters_and_no_place() {
        let mut counters = StackCounters::default();
        counters.get_or_add(9).allocations = 2;
        counters.get_or_add(3).allocations = 1;
        counters.get_or_add(9).allocations += 1;
        assert_eq!(counters.len(), 10);
        assert_eq!(
            counters.stats.len(),
            2,
            "only stacks that allocate are counted"
        );
        assert_eq!(counters[9].allocations, 3);
        assert_eq!(counters[5].allocations, 0);
        assert_eq!(counters[1 << 40].allocations, 0);
        assert!(counters.get(5).is_none() && counters.get(42).is_none());
        let listed: Vec<(StackId, u64)> =
            counters.iter().map(|(s, c)| (s, c.allocations)).collect();
        assert_eq!(listed, vec![(3, 1), (9, 3)], "by stack id");
    }
    use heapwise_trace::{ClockSync, TickSource};

    fn replay() -> Replay {
        Replay::new(ClockFit::new(TickSource::MonotonicNs, ClockSync::default()))
    }

    fn alloc(r: &mut Replay, ptr: u64, size: u64, stack: StackId, tick: u64) {
        r.apply(1, tick, Op::Alloc { ptr, size, stack });
        r.applied(1);
    }

    fn free(r: &mut Replay, ptr: u64, tick: u64) {
        r.apply(1, tick, Op::Free { ptr });
        r.applied(1);
    }

    #[test]
    fn in_order_events_pair_by_address() {
        let mut r = replay();
        alloc(&mut r, 0x10, 100, 1, 1);
        alloc(&mut r, 0x20, 50, 2, 2);
        free(&mut r, 0x10, 3);
        alloc(&mut r, 0x10, 70, 1, 4);
        assert_eq!(r.live_allocations(), 2);
        assert_eq!(r.live_bytes, 120);
        assert_eq!(r.peak_live_bytes, 150);
        assert_eq!(r.stacks[1].live_bytes, 70);
        assert_eq!((r.allocations, r.frees, r.allocated_bytes), (3, 1, 220));
    }

    #[test]
    fn an_address_freed_by_one_thread_and_reused_by_another_read_out_of_order() {
        // Truth: A allocates P (t1), A frees P (t3), B allocates P (t5) and
        // keeps it. B's block is read before A's free.
        let mut r = replay();
        alloc(&mut r, 0x10, 100, 1, 1);
        alloc(&mut r, 0x10, 40, 2, 5);
        free(&mut r, 0x10, 3);
        assert_eq!(r.live_allocations(), 1);
        assert_eq!(r.stacks[2].live_bytes, 40);
        assert_eq!(r.stacks[1].live_bytes, 0);
        assert!(!r.live.has_pending());
    }

    #[test]
    fn an_older_allocation_read_after_a_newer_one() {
        // Truth: B allocates P (t1) and frees it (t2); A allocates P (t4)
        // and leaks it. A's stream is read first.
        let mut r = replay();
        alloc(&mut r, 0x10, 64, 1, 4);
        alloc(&mut r, 0x10, 32, 2, 1);
        free(&mut r, 0x10, 2);
        assert_eq!(r.live_allocations(), 1);
        assert_eq!(r.stacks[1].live_bytes, 64, "A's block is the leak");
        assert_eq!(r.stacks[2].live_bytes, 0);
        assert!(!r.live.has_pending());
    }

    #[test]
    fn a_free_read_before_its_allocation() {
        // Truth: A allocates P (t1), hands it to B, B frees it (t2); B's
        // stream is read first.
        let mut r = replay();
        free(&mut r, 0x10, 2);
        alloc(&mut r, 0x10, 64, 1, 1);
        assert_eq!(r.live_allocations(), 0);
        assert_eq!(r.stacks[1].live_bytes, 0);
        assert!(!r.live.has_pending());
    }

    #[test]
    fn frees_of_blocks_from_before_tracing_are_forgotten_after_a_while() {
        let mut r = replay();
        free(&mut r, 0x99, 1);
        assert!(r.live.has_pending());
        alloc(&mut r, 0x10, 1, 1, 20_000_000_000);
        r.sweep();
        assert!(!r.live.has_pending());
    }

    #[test]
    fn blocks_of_2_gib_and_more_keep_their_exact_sizes() {
        const GIB: u64 = 1 << 30;
        let mut r = replay();
        alloc(&mut r, 0x10, 3 * GIB, 1, 1);
        alloc(&mut r, 0x20, 5 * GIB + 7, 2, 2);
        alloc(&mut r, 0x30, 2 * GIB - 1, 3, 3);
        free(&mut r, 0x10, 4);
        // Its place is used again, by a block replaced out of order: truth,
        // P is allocated (t5), freed (t7) and allocated again (t9), the
        // free read last.
        alloc(&mut r, 0x40, 4 * GIB, 4, 5);
        alloc(&mut r, 0x40, 6 * GIB, 5, 9);
        free(&mut r, 0x40, 7);
        let mut live = Vec::new();
        r.for_each_live(|b| live.push((b.ptr, b.size, b.bytes, b.count)));
        live.sort_unstable();
        assert_eq!(
            live,
            [
                (0x20, 5 * GIB + 7, 5 * GIB + 7, 1),
                (0x30, 2 * GIB - 1, 2 * GIB - 1, 1),
                (0x40, 6 * GIB, 6 * GIB, 1)
            ]
        );
        assert_eq!(r.live_bytes, 13 * GIB + 6);
        // The most at once: after t9 (at t5 the 3 GiB block was gone).
        assert_eq!(r.peak_live_bytes, 5 * GIB + 7 + 2 * GIB - 1 + 6 * GIB);
        assert_eq!(r.stacks[4].live_bytes, 0);
        free(&mut r, 0x20, 10);
        free(&mut r, 0x40, 11);
        assert_eq!(r.live_bytes, 2 * GIB - 1);
        assert!(!r.live.has_pending());
    }

    #[test]
    fn size_classes_split_at_1_kib_and_1_mib() {
        assert_eq!(size_class(0), 0);
        assert_eq!(size_class(1023), 0);
        assert_eq!(size_class(1024), 1);
        assert_eq!(size_class((1 << 20) - 1), 1);
        assert_eq!(size_class(1 << 20), 2);
    }
}

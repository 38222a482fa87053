//! The blocks live at a point of a trace, kept right although the trace's
//! streams are not read in time order.
//!
//! Each stream is in time order, but a block allocated by one thread may be
//! freed by another whose records are read first, and an address freed by
//! one thread may be handed out again to another before the free is read.
//! Frees are stamped before the block goes back to the allocator and
//! allocations after it handed the block out, so the ticks resolve every
//! such case: the side seen first is *pending* until its partner arrives.
//! When nothing is pending — nearly always — a free or an allocation costs
//! one hash-map operation.
//!
//! The report's replay (`heapwise-native`) and the tracer's own tally of a
//! size-limited trace ([`crate::tally`]) both keep their live blocks here,
//! so both pair frees the same way.

use rustc_hash::FxHashMap;

mod table;
pub use table::Table;

/// A value kept per live block: it knows when the block was allocated.
pub trait Stamped: Copy + Default {
    /// The allocation's tick.
    fn tick(&self) -> u64;
}

/// Something seen on one side only, waiting for its partner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum Pending {
    /// The block allocated at `after` was freed by a free not read yet,
    /// which happened before `before` (when the address was handed out
    /// again).
    Stale { after: u64, before: u64 },
    /// A free read before the allocation it frees (or of a block allocated
    /// before tracing started).
    Orphan { tick: u64 },
}

/// What [`LiveSet::insert`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inserted<V> {
    /// The block is live.
    Added,
    /// The block is live, and the one that held its address before was
    /// freed by a free not read yet: it is no longer live.
    Replaced(V),
    /// The block is not live: it was freed before the one that holds its
    /// address now was allocated, or its free was read already.
    Gone,
}

/// What [`LiveSet::free`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freed<V> {
    /// The block it freed, which is no longer live.
    Block(V),
    /// A block that had already left the set (see [`Inserted::Replaced`]).
    Stale,
    /// No block: the free waits for its allocation (or frees a block from
    /// before the trace).
    Unknown,
}

/// The live blocks by address.
#[derive(Clone, Debug)]
pub struct LiveSet<V> {
    live: Table<V>,
    pending: FxHashMap<u64, Vec<Pending>>,
    /// Addresses freed that were never allocated here (kept after
    /// [`LiveSet::sweep`] forgets the pending frees).
    freed_unknown: FxHashMap<u64, u32>,
    /// Cross-thread orderings that had to be resolved.
    pub reordered: u64,
}

impl<V> Default for LiveSet<V> {
    fn default() -> LiveSet<V> {
        LiveSet {
            live: Table::default(),
            pending: FxHashMap::default(),
            freed_unknown: FxHashMap::default(),
            reordered: 0,
        }
    }
}

/// A saved live set: its blocks in the table's order, then what waits
/// for a partner. Loading enters the blocks into a new table in that
/// order.
#[derive(serde::Serialize, serde::Deserialize)]
struct Saved<V> {
    blocks: Vec<(u64, V)>,
    pending: Vec<(u64, Vec<Pending>)>,
    freed_unknown: Vec<(u64, u32)>,
    reordered: u64,
}

impl<V: Stamped + serde::Serialize> serde::Serialize for LiveSet<V> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut pending: Vec<(u64, Vec<Pending>)> =
            self.pending.iter().map(|(&k, v)| (k, v.clone())).collect();
        pending.sort_unstable_by_key(|&(k, _)| k);
        let mut freed_unknown: Vec<(u64, u32)> =
            self.freed_unknown.iter().map(|(&k, &v)| (k, v)).collect();
        freed_unknown.sort_unstable();
        Saved {
            blocks: self.live.iter().map(|(k, v)| (k, *v)).collect(),
            pending,
            freed_unknown,
            reordered: self.reordered,
        }
        .serialize(serializer)
    }
}

impl<'de, V: Stamped + serde::Deserialize<'de>> serde::Deserialize<'de> for LiveSet<V> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<LiveSet<V>, D::Error> {
        let saved = Saved::<V>::deserialize(deserializer)?;
        let mut live = Table::default();
        for (ptr, block) in saved.blocks {
            if ptr == 0 || live.insert(ptr, block).is_some() {
                return Err(serde::de::Error::custom(
                    "a live set with an address twice, or 0",
                ));
            }
        }
        Ok(LiveSet {
            live,
            pending: saved.pending.into_iter().collect(),
            freed_unknown: saved.freed_unknown.into_iter().collect(),
            reordered: saved.reordered,
        })
    }
}

impl<V: Stamped + Send + 'static> LiveSet<V> {
    /// The table's large parts get their new memory from a thread of its
    /// own ([`Table::grow_on_a_thread`]); whether that thread runs.
    pub fn grow_on_a_thread(&mut self) -> bool {
        self.live.grow_on_a_thread()
    }
}

impl<V: Stamped> LiveSet<V> {
    /// Number of live blocks.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether no block is live.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Whether `ptr` is live.
    #[inline]
    pub fn contains(&self, ptr: u64) -> bool {
        self.live.contains(ptr)
    }

    /// Starts loading where `ptr`'s block would be kept: a hint the replay
    /// gives a few events ahead, so that lookups' cache misses overlap.
    #[inline(always)]
    pub fn prefetch(&self, ptr: u64) {
        self.live.prefetch(ptr);
    }

    /// Every live block with its address.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &V)> {
        self.live.iter()
    }

    /// Whether `ptr` was freed without having been allocated here.
    pub fn freed_before_allocated(&self, ptr: u64) -> bool {
        self.freed_unknown.contains_key(&ptr)
    }

    /// Whether anything waits for its partner.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Enters a block allocated at `block.tick()`.
    #[inline]
    pub fn insert(&mut self, ptr: u64, block: V) -> Inserted<V> {
        let tick = block.tick();
        if !self.pending.is_empty() && self.take_orphan(ptr, tick) {
            return Inserted::Gone;
        }
        match self.live.insert(ptr, block) {
            None => Inserted::Added,
            Some(old) if old.tick() <= tick => {
                // `old` was freed by a free we have not read yet.
                self.park(
                    ptr,
                    Pending::Stale {
                        after: old.tick(),
                        before: tick,
                    },
                );
                Inserted::Replaced(old)
            }
            Some(old) => {
                // This allocation is older than the live one: it was freed
                // before `old` was made.
                self.live.insert(ptr, old);
                self.park(
                    ptr,
                    Pending::Stale {
                        after: tick,
                        before: old.tick(),
                    },
                );
                Inserted::Gone
            }
        }
    }

    /// Applies a free of `ptr` at `tick`.
    #[inline]
    pub fn free(&mut self, ptr: u64, tick: u64) -> Freed<V> {
        if !self.pending.is_empty() && self.take_stale(ptr, tick) {
            return Freed::Stale;
        }
        match self.live.get(ptr) {
            Some(block) if block.tick() <= tick => {
                let block = *block;
                self.live.remove(ptr);
                Freed::Block(block)
            }
            _ => {
                self.park(ptr, Pending::Orphan { tick });
                Freed::Unknown
            }
        }
    }

    /// Enters a block that is known to be live (a checkpoint's).
    pub fn restore(&mut self, ptr: u64, block: V) {
        self.live.insert(ptr, block);
    }

    fn park(&mut self, ptr: u64, pending: Pending) {
        match pending {
            Pending::Stale { .. } => self.reordered += 1,
            Pending::Orphan { .. } => *self.freed_unknown.entry(ptr).or_default() += 1,
        }
        self.pending.entry(ptr).or_default().push(pending);
    }

    /// An orphan free of `ptr` at or after `tick` frees this allocation.
    fn take_orphan(&mut self, ptr: u64, tick: u64) -> bool {
        let Some(list) = self.pending.get_mut(&ptr) else {
            return false;
        };
        let best = list
            .iter()
            .enumerate()
            .filter_map(|(i, p)| match *p {
                Pending::Orphan { tick: freed } if freed >= tick => Some((freed, i)),
                _ => None,
            })
            .min();
        let Some((_, index)) = best else { return false };
        list.swap_remove(index);
        if list.is_empty() {
            self.pending.remove(&ptr);
        }
        if let Some(count) = self.freed_unknown.get_mut(&ptr) {
            *count -= 1;
            if *count == 0 {
                self.freed_unknown.remove(&ptr);
            }
        }
        self.reordered += 1;
        true
    }

    /// A free at `tick` is the one a stale allocation was waiting for.
    fn take_stale(&mut self, ptr: u64, tick: u64) -> bool {
        let Some(list) = self.pending.get_mut(&ptr) else {
            return false;
        };
        let Some(index) = list.iter().position(
            |p| matches!(*p, Pending::Stale { after, before } if after <= tick && tick <= before),
        ) else {
            return false;
        };
        list.swap_remove(index);
        if list.is_empty() {
            self.pending.remove(&ptr);
        }
        true
    }

    /// Forgets what waited since before `horizon`: frees of blocks
    /// allocated before tracing started, frees that were lost. (Callers use
    /// a horizon of seconds: the writer flushes every stream several times
    /// a second, so partners are never that far apart.)
    pub fn sweep(&mut self, horizon: u64) {
        if self.pending.is_empty() {
            return;
        }
        self.pending.retain(|_, list| {
            list.retain(|p| match *p {
                Pending::Orphan { tick } => tick >= horizon,
                Pending::Stale { before, .. } => before >= horizon,
            });
            !list.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    struct B(u64, u8);

    impl Stamped for B {
        fn tick(&self) -> u64 {
            self.0
        }
    }

    #[test]
    fn in_order_frees_find_their_blocks() {
        let mut s = LiveSet::default();
        assert_eq!(s.insert(0x10, B(1, 1)), Inserted::Added);
        assert_eq!(s.free(0x10, 2), Freed::Block(B(1, 1)));
        assert!(s.is_empty() && !s.has_pending());
    }

    #[test]
    fn an_address_freed_by_one_thread_and_reused_by_another_read_out_of_order() {
        // Truth: A allocates P (t1), A frees P (t3), B allocates P (t5).
        let mut s = LiveSet::default();
        s.insert(0x10, B(1, 1));
        assert_eq!(s.insert(0x10, B(5, 2)), Inserted::Replaced(B(1, 1)));
        assert_eq!(s.free(0x10, 3), Freed::Stale);
        assert_eq!(s.iter().map(|(_, b)| *b).collect::<Vec<_>>(), vec![B(5, 2)]);
        assert!(!s.has_pending());
    }

    #[test]
    fn an_older_allocation_read_after_a_newer_one_is_not_live() {
        // Truth: B allocates P (t1), frees it (t2); A allocates P (t4).
        let mut s = LiveSet::default();
        s.insert(0x10, B(4, 1));
        assert_eq!(s.insert(0x10, B(1, 2)), Inserted::Gone);
        assert_eq!(s.free(0x10, 2), Freed::Stale);
        assert_eq!(s.iter().map(|(_, b)| *b).collect::<Vec<_>>(), vec![B(4, 1)]);
    }

    #[test]
    fn a_free_read_before_its_allocation_cancels_it() {
        let mut s = LiveSet::default();
        assert_eq!(s.free(0x10, 2), Freed::Unknown);
        assert!(s.freed_before_allocated(0x10));
        assert_eq!(s.insert(0x10, B(1, 1)), Inserted::Gone);
        assert!(s.is_empty() && !s.has_pending());
        assert!(!s.freed_before_allocated(0x10));
    }

    #[test]
    fn frees_of_blocks_from_before_the_trace_are_forgotten_by_a_sweep() {
        let mut s: LiveSet<B> = LiveSet::default();
        s.free(0x99, 1);
        s.sweep(10);
        assert!(!s.has_pending());
        // ... but still known as freed before allocated.
        assert!(s.freed_before_allocated(0x99));
    }
}

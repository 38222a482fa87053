//! The live blocks' table: addresses to values, open addressing.
//!
//! Replaying a trace is mostly looking addresses up in a table of
//! millions of live blocks, and each lookup is a cache miss. So the table
//! keeps each key beside its value (one miss a lookup, not two), probes
//! linearly (the next slot is usually in the same cache line) and deletes
//! by shifting the following slots back (no tombstones to wade through),
//! and [`Table::prefetch`] lets the replay start the miss of an event a
//! few events before it applies it, so the misses overlap.

/// A slot: address 0 means empty (no block lives at address 0).
#[derive(Clone, Copy, Debug)]
struct Slot<V> {
    key: u64,
    value: V,
}

/// The table is this many tables (by the top bits of a key's hash), each
/// growing on its own: when one doubles, the memory of its old and new
/// slots is held at once, and a sixteenth of the table is a sixteenth of
/// that (CPython's report held 128 MB of old slots beside 256 MB of new
/// ones when its one table grew to 8 M slots).
const SHARD_BITS: u32 = 4;

/// See the module documentation.
#[derive(Clone, Debug)]
pub struct Table<V> {
    shards: Vec<Shard<V>>,
    len: usize,
}

/// One of a [`Table`]'s tables: open addressing, linear probing.
#[derive(Clone, Debug)]
struct Shard<V> {
    slots: Vec<Slot<V>>,
    /// `slots.len() - 1` (a power of two minus one), 0 while empty.
    mask: usize,
    len: usize,
}

impl<V> Default for Table<V> {
    fn default() -> Table<V> {
        Table {
            shards: (0..1 << SHARD_BITS)
                .map(|_| Shard {
                    slots: Vec::new(),
                    mask: 0,
                    len: 0,
                })
                .collect(),
            len: 0,
        }
    }
}

/// `key`'s hash: blocks are 16-byte aligned, so drop those bits, then a
/// Fibonacci hash. Its top bits choose the shard, bits 32 and up the home
/// slot in it.
#[inline(always)]
fn hash(key: u64) -> u64 {
    (key >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The home slot of a key of hash `hash` in a shard of `mask + 1` slots.
#[inline(always)]
fn home(hash: u64, mask: usize) -> usize {
    (hash >> 32) as usize & mask
}

impl<V: Copy + Default> Table<V> {
    /// Entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline(always)]
    fn shard(&self, hash: u64) -> &Shard<V> {
        // SAFETY: the top SHARD_BITS bits index one of the 2^SHARD_BITS shards.
        unsafe {
            self.shards
                .get_unchecked((hash >> (64 - SHARD_BITS)) as usize)
        }
    }

    #[inline(always)]
    fn shard_mut(&mut self, hash: u64) -> &mut Shard<V> {
        // SAFETY: as in `shard`.
        unsafe {
            self.shards
                .get_unchecked_mut((hash >> (64 - SHARD_BITS)) as usize)
        }
    }

    /// Starts loading the cache line where `key` would be (a hint only).
    #[inline(always)]
    pub fn prefetch(&self, key: u64) {
        #[cfg(target_arch = "x86_64")]
        {
            let hash = hash(key);
            let shard = self.shard(hash);
            if !shard.slots.is_empty() {
                let slot = &shard.slots[home(hash, shard.mask)] as *const Slot<V>;
                // SAFETY: prefetching is a hint; the address is in the table.
                unsafe {
                    core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
                        slot.cast(),
                    )
                };
            }
        }
    }

    /// The value at `key`.
    #[inline(always)]
    pub fn get(&self, key: u64) -> Option<&V> {
        let hash = hash(key);
        let shard = self.shard(hash);
        shard.find(hash, key).map(|i| &shard.slots[i].value)
    }

    /// Whether `key` is in.
    #[inline(always)]
    pub fn contains(&self, key: u64) -> bool {
        let hash = hash(key);
        self.shard(hash).find(hash, key).is_some()
    }

    /// Puts `value` at `key` (not 0); returns the value it replaces.
    #[inline(always)]
    pub fn insert(&mut self, key: u64, value: V) -> Option<V> {
        debug_assert!(key != 0);
        let hash = hash(key);
        let replaced = self.shard_mut(hash).insert(hash, key, value);
        self.len += usize::from(replaced.is_none());
        replaced
    }

    /// Takes the value at `key` out.
    #[inline(always)]
    pub fn remove(&mut self, key: u64) -> Option<V> {
        let hash = hash(key);
        let removed = self.shard_mut(hash).remove(hash, key);
        self.len -= usize::from(removed.is_some());
        removed
    }

    /// Every entry.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &V)> {
        self.shards.iter().flat_map(|shard| {
            shard
                .slots
                .iter()
                .filter(|slot| slot.key != 0)
                .map(|slot| (slot.key, &slot.value))
        })
    }
}

impl<V: Copy + Default> Shard<V> {
    #[inline(always)]
    fn find(&self, hash: u64, key: u64) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mut i = home(hash, self.mask);
        loop {
            let slot = &self.slots[i];
            if slot.key == key {
                return Some(i);
            }
            if slot.key == 0 {
                return None;
            }
            i = (i + 1) & self.mask;
        }
    }

    #[inline(always)]
    fn insert(&mut self, hash: u64, key: u64, value: V) -> Option<V> {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let mut i = home(hash, self.mask);
        loop {
            let slot = &mut self.slots[i];
            if slot.key == key {
                return Some(std::mem::replace(&mut slot.value, value));
            }
            if slot.key == 0 {
                *slot = Slot { key, value };
                self.len += 1;
                return None;
            }
            i = (i + 1) & self.mask;
        }
    }

    #[inline(always)]
    fn remove(&mut self, hash: u64, key: u64) -> Option<V> {
        let mut hole = self.find(hash, key)?;
        let value = self.slots[hole].value;
        self.len -= 1;
        // Shift back every following slot that may sit in the hole: those
        // whose home is not between the hole and themselves.
        let mut i = (hole + 1) & self.mask;
        loop {
            let key = self.slots[i].key;
            if key == 0 {
                break;
            }
            let h = home(self::hash(key), self.mask);
            let stays = if hole <= i {
                hole < h && h <= i
            } else {
                hole < h || h <= i
            };
            if !stays {
                self.slots[hole] = self.slots[i];
                hole = i;
            }
            i = (i + 1) & self.mask;
        }
        self.slots[hole] = Slot {
            key: 0,
            value: V::default(),
        };
        Some(value)
    }

    fn grow(&mut self) {
        // 64 slots a shard at first: a table of a few blocks (the tracer's
        // tally of a sampled trace keeps one) stays small.
        let capacity = (self.slots.len() * 2).max(64);
        let mut slots = Vec::with_capacity(capacity);
        huge_pages(
            slots.as_ptr() as usize,
            capacity * std::mem::size_of::<Slot<V>>(),
        );
        slots.resize(
            capacity,
            Slot {
                key: 0,
                value: V::default(),
            },
        );
        let old = std::mem::replace(&mut self.slots, slots);
        self.mask = capacity - 1;
        self.len = 0;
        for slot in old {
            if slot.key != 0 {
                self.insert(hash(slot.key), slot.key, slot.value);
            }
        }
    }
}

/// Asks for huge pages under a large table before it is first touched:
/// with 4 KiB pages nearly every lookup of a table of hundreds of
/// megabytes also misses the TLB, and a prefetch then waits for the page
/// walk (CPython's 21 M-event report spent half its replay there).
fn huge_pages(start: usize, len: usize) {
    const HUGE: usize = 2 << 20;
    if len < 2 * HUGE {
        return;
    }
    let from = start.next_multiple_of(HUGE);
    let to = (start + len) / HUGE * HUGE;
    #[cfg(target_os = "linux")]
    if to > from {
        // SAFETY: advice on memory this table owns; a refusal changes
        // nothing but speed.
        unsafe { libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_HUGEPAGE) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_agrees_with_a_hash_map_through_inserts_removes_and_growth() {
        let mut table = Table::<u64>::default();
        let mut map = std::collections::HashMap::new();
        let mut x = 0x1234_5678_9abc_def0u64;
        for step in 0..200_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Addresses from a small range, 16-byte aligned, so that keys
            // collide, come back and get removed.
            let key = 0x7f00_0000_0000 + (x % 40_000) * 16;
            if x.is_multiple_of(3) {
                assert_eq!(table.remove(key), map.remove(&key), "step {step}");
            } else {
                assert_eq!(
                    table.insert(key, step),
                    map.insert(key, step),
                    "step {step}"
                );
            }
            assert_eq!(table.len(), map.len());
        }
        for (key, value) in &map {
            assert_eq!(table.get(*key), Some(value));
        }
        let mut all: Vec<_> = table.iter().map(|(k, v)| (k, *v)).collect();
        all.sort_unstable();
        let mut expected: Vec<_> = map.into_iter().collect();
        expected.sort_unstable();
        assert_eq!(all, expected);
    }
}

//! The live blocks' table: addresses to values, open addressing.
//!
//! Replaying a trace is mostly looking addresses up in a table of
//! millions of live blocks, and each lookup is a cache miss. So the table
//! keeps each key beside its value (one miss a lookup, not two), probes
//! linearly (the next slot is usually in the same cache line) and deletes
//! by shifting the following slots back (no tombstones to wade through),
//! and [`Table::prefetch`] lets the replay start the miss of an event a
//! few events before it applies it, so the misses overlap.
//!
//! The table is sixteen tables, each doubling on its own when it is 3/4
//! full. A doubling's new slots are fresh pages, which the kernel zeroes
//! on first touch; on this project's machine that was a sixth of the
//! replay thread's time in CPython's report (8 M slots). With
//! [`Table::grow_on_a_thread`] a helper thread prepares them: a shard due
//! to double asks for its new slots and goes on in its old ones until they
//! come (doubling at once only if it fills to 7/8 first). The shards take unequal shares of the keys
//! ([`shard_of`]) so that they double one after another rather than all
//! at once, and the helper prepares one at a time.

use std::sync::{Mutex, mpsc};

/// A slot: address 0 means empty (no block lives at address 0).
#[derive(Clone, Copy, Debug)]
struct Slot<V> {
    key: u64,
    value: V,
}

/// The table is this many tables (by the top bits of a key's hash, see
/// [`shard_of`]), each growing on its own: when one doubles, the memory of its old and new
/// slots is held at once, and a sixteenth of the table is a sixteenth of
/// that (CPython's report held 128 MB of old slots beside 256 MB of new
/// ones when its one table grew to 8 M slots).
const SHARD_BITS: u32 = 4;
const SHARDS: usize = 1 << SHARD_BITS;

/// Shards of at least this many slots grow on the helper thread, when
/// there is one ([`Table::grow_on_a_thread`]); smaller ones at once.
const AHEAD_FROM: usize = 1 << 14;

/// See the module documentation.
pub struct Table<V> {
    shards: Vec<Shard<V>>,
    len: usize,
    /// In a mutex only so that a table can be shared between threads
    /// (read-only); the table itself only uses it through `&mut self`.
    ahead: Option<Mutex<Ahead<V>>>,
}

/// One of a [`Table`]'s tables: open addressing, linear probing.
#[derive(Clone, Debug)]
struct Shard<V> {
    slots: Slots<V>,
    len: usize,
}

impl<V> Default for Table<V> {
    fn default() -> Table<V> {
        Table {
            shards: (0..SHARDS)
                .map(|_| Shard {
                    slots: Slots::Heap(Vec::new()),
                    len: 0,
                })
                .collect(),
            len: 0,
            ahead: None,
        }
    }
}

impl<V: Clone> Clone for Table<V> {
    /// The entries; a copy grows on its own thread only if asked to.
    fn clone(&self) -> Table<V> {
        Table {
            shards: self.shards.clone(),
            len: self.len,
            ahead: None,
        }
    }
}

impl<V> std::fmt::Debug for Table<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("len", &self.len)
            .field(
                "slots",
                &self.shards.iter().map(|s| s.slots.len()).sum::<usize>(),
            )
            .field("grows_on_a_thread", &self.ahead.is_some())
            .finish()
    }
}

/// `key`'s hash: blocks are 16-byte aligned, so drop those bits, then a
/// Fibonacci hash. Its top bits choose the shard, the bits below them the
/// home slot in it.
#[inline(always)]
fn hash(key: u64) -> u64 {
    (key >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The shard of a key of hash `hash`: by its top 8 bits, shard `s` taking
/// a share of them about proportional to 2^(s/16) (11 of the 256 values
/// for shard 0, 22 for shard 15). Keys spread evenly over the hash's
/// values, so shards of equal shares would fill up and double all at
/// once; with these, they double one after another, spread over each
/// doubling of the table, and a helper thread ([`Table::grow_on_a_thread`])
/// prepares the new slots of one while the replay goes on.
#[inline(always)]
fn shard_of(hash: u64) -> usize {
    SHARD_OF[(hash >> 56) as usize] as usize
}

/// See [`shard_of`].
static SHARD_OF: [u8; 256] = shares();

const fn shares() -> [u8; 256] {
    // 256 · 2^(s/16) / Σ 2^(t/16), rounded so that they add up to 256.
    const SHARE: [usize; SHARDS] = [
        11, 12, 12, 13, 13, 14, 15, 15, 16, 17, 18, 18, 19, 20, 21, 22,
    ];
    let mut table = [0u8; 256];
    let (mut shard, mut given, mut i) = (0, 0, 0);
    while i < 256 {
        if given == SHARE[shard] {
            shard += 1;
            given = 0;
        }
        assert!(shard < SHARDS, "the shares add up to 256");
        table[i] = shard as u8;
        given += 1;
        i += 1;
    }
    table
}

/// The home slot of a key of hash `hash` in a shard of `capacity` slots
/// (a power of two).
#[inline(always)]
fn home(hash: u64, capacity: usize) -> usize {
    (hash >> 32) as usize & (capacity - 1)
}

/// The slot after `i`, wrapping around.
#[inline(always)]
fn next(i: usize, capacity: usize) -> usize {
    (i + 1) & (capacity - 1)
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
        // SAFETY: `shard_of` is below 2^SHARD_BITS, the number of shards.
        unsafe { self.shards.get_unchecked(shard_of(hash)) }
    }

    #[inline(always)]
    fn shard_mut(&mut self, hash: u64) -> &mut Shard<V> {
        // SAFETY: as in `shard`.
        unsafe { self.shards.get_unchecked_mut(shard_of(hash)) }
    }

    /// Starts loading the cache line where `key` would be (a hint only).
    #[inline(always)]
    pub fn prefetch(&self, key: u64) {
        #[cfg(target_arch = "x86_64")]
        {
            let hash = hash(key);
            let shard = self.shard(hash);
            if !shard.slots.is_empty() {
                let slot = &shard.slots[home(hash, shard.slots.len())] as *const Slot<V>;
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
        if self.shard(hash).due() {
            self.make_room(shard_of(hash));
        }
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

    /// Shard `index` is 3/4 full: doubles it, or with a helper thread
    /// asks it for the new slots and goes on in the old ones until they
    /// come (doubling it here if it fills to 7/8 first).
    #[cold]
    #[inline(never)]
    fn make_room(&mut self, index: usize) {
        let shard = &mut self.shards[index];
        let capacity = match shard.slots.len() {
            // 64 slots at first: a table of a few blocks (the tracer's
            // tally of a sampled trace keeps one) stays small.
            0 => 64,
            len => len * 2,
        };
        match self
            .ahead
            .as_mut()
            .map(|a| a.get_mut().unwrap_or_else(|e| e.into_inner()))
        {
            Some(ahead) if capacity >= AHEAD_FROM => {
                // The old slots are unmapped here, at once: freed on the
                // helper after the jobs before them, they were still held
                // at perl's peak (7 MB more).
                if let Some(slots) = ahead.take(index, capacity) {
                    shard.rehash_into(slots);
                    ahead.grown += 1;
                } else if shard.full() {
                    ahead.forget(index);
                    shard.rehash_into(empty_slots(capacity, Memory::Mapped));
                } else {
                    ahead.ask(index, capacity);
                }
            }
            Some(_) => {
                shard.rehash_into(empty_slots(capacity, Memory::Mapped));
            }
            None => {
                shard.rehash_into(empty_slots(capacity, Memory::Heap));
            }
        }
    }
}

impl<V: Copy + Default + Send + 'static> Table<V> {
    /// From now on, large shards get their new slots from a thread of
    /// the table's own, which faults their pages in (the kernel zeroes
    /// each page on first touch: for CPython's 8 M-slot report table,
    /// about a sixth of the replay thread's time on this project's
    /// machine). Returns whether the thread runs
    /// (without it the table grows as before). It ends with the table.
    pub fn grow_on_a_thread(&mut self) -> bool {
        if self.ahead.is_none() {
            self.ahead = Ahead::start().map(Mutex::new);
        }
        self.ahead.is_some()
    }

    /// How many times a shard grew into slots the helper thread had
    /// prepared.
    pub fn grown_on_a_thread(&self) -> u64 {
        self.ahead.as_ref().map_or(0, |ahead| {
            ahead.lock().unwrap_or_else(|e| e.into_inner()).grown
        })
    }
}

impl<V: Copy + Default> Shard<V> {
    /// Whether the shard is 3/4 full (or empty) and should grow.
    #[inline(always)]
    fn due(&self) -> bool {
        (self.len + 1) * 4 > self.slots.len() * 3
    }

    /// Whether it is 7/8 full: it cannot wait for its new slots.
    fn full(&self) -> bool {
        (self.len + 1) * 8 > self.slots.len() * 7
    }

    #[inline(always)]
    fn find(&self, hash: u64, key: u64) -> Option<usize> {
        let capacity = self.slots.len();
        if capacity == 0 {
            return None;
        }
        let mut i = home(hash, capacity);
        loop {
            let slot = &self.slots[i];
            if slot.key == key {
                return Some(i);
            }
            if slot.key == 0 {
                return None;
            }
            i = next(i, capacity);
        }
    }

    /// Puts `value` at `key`; the caller made room.
    #[inline(always)]
    fn insert(&mut self, hash: u64, key: u64, value: V) -> Option<V> {
        let capacity = self.slots.len();
        let mut i = home(hash, capacity);
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
            i = next(i, capacity);
        }
    }

    #[inline(always)]
    fn remove(&mut self, hash: u64, key: u64) -> Option<V> {
        let mut hole = self.find(hash, key)?;
        let capacity = self.slots.len();
        let value = self.slots[hole].value;
        self.len -= 1;
        // Shift back every following slot that may sit in the hole: those
        // whose home is not between the hole and themselves.
        let mut i = next(hole, capacity);
        loop {
            let key = self.slots[i].key;
            if key == 0 {
                break;
            }
            let h = home(self::hash(key), capacity);
            let stays = if hole <= i {
                hole < h && h <= i
            } else {
                hole < h || h <= i
            };
            if !stays {
                self.slots[hole] = self.slots[i];
                hole = i;
            }
            i = next(i, capacity);
        }
        self.slots[hole] = Slot {
            key: 0,
            value: V::default(),
        };
        Some(value)
    }

    /// Moves every entry into `slots` (empty ones); returns the old slots.
    fn rehash_into(&mut self, slots: Slots<V>) -> Slots<V> {
        let old = std::mem::replace(&mut self.slots, slots);
        self.len = 0;
        for slot in old.iter() {
            if slot.key != 0 {
                self.insert(hash(slot.key), slot.key, slot.value);
            }
        }
        old
    }
}

/// Slots of this many bytes or more are mapped for themselves.
const MAPPED_FROM: usize = 1 << 20;

/// A shard's slots. In a table with a helper thread, a large shard's are
/// in memory mapped for them alone (see [`Memory`]), so that freeing them
/// gives the memory back to the system at once: the
/// C allocator keeps what is freed in a thread's arena for later, and the
/// slots the helper thread prepares would come from its arena (perl's
/// report held 7 MB more so).
enum Slots<V> {
    Heap(Vec<Slot<V>>),
    #[cfg(unix)]
    Mapped {
        ptr: std::ptr::NonNull<Slot<V>>,
        len: usize,
    },
}

// SAFETY: `Mapped` owns its memory as a `Vec` would.
unsafe impl<V: Send> Send for Slots<V> {}
// SAFETY: as above.
unsafe impl<V: Sync> Sync for Slots<V> {}

impl<V> std::ops::Deref for Slots<V> {
    type Target = [Slot<V>];

    #[inline(always)]
    fn deref(&self) -> &[Slot<V>] {
        match self {
            Slots::Heap(slots) => slots,
            // SAFETY: `len` slots, every one written in `empty_slots`.
            #[cfg(unix)]
            Slots::Mapped { ptr, len } => unsafe { std::slice::from_raw_parts(ptr.as_ptr(), *len) },
        }
    }
}

impl<V> std::ops::DerefMut for Slots<V> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [Slot<V>] {
        match self {
            Slots::Heap(slots) => slots,
            // SAFETY: as in `deref`; `&mut self` makes it unique.
            #[cfg(unix)]
            Slots::Mapped { ptr, len } => unsafe {
                std::slice::from_raw_parts_mut(ptr.as_ptr(), *len)
            },
        }
    }
}

impl<V> Drop for Slots<V> {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Slots::Mapped { ptr, len } = self {
            // SAFETY: the mapping `empty_slots` made, unmapped once.
            unsafe { libc::munmap(ptr.as_ptr().cast(), mapped_bytes::<V>(*len)) };
        }
    }
}

impl<V: Clone> Clone for Slots<V> {
    fn clone(&self) -> Slots<V> {
        Slots::Heap(self.to_vec())
    }
}

impl<V> std::fmt::Debug for Slots<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} slots", self.len())
    }
}

/// The bytes mapped for `len` slots.
fn mapped_bytes<V>(len: usize) -> usize {
    (len * std::mem::size_of::<Slot<V>>()).next_multiple_of(4096)
}

/// Where [`empty_slots`] takes memory from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Memory {
    /// The global allocator's: always so in a table without a helper
    /// thread, such as the tracer's tally inside the traced process, whose
    /// allocator lists every mapping it makes (the scan at exit must not
    /// take the tracer's own memory for the program's roots).
    Heap,
    /// A mapping of their own, if they are large (a table with a helper
    /// thread: the report's and `heapwise run`'s).
    Mapped,
}

/// `capacity` empty slots, their pages touched.
fn empty_slots<V: Copy + Default>(capacity: usize, memory: Memory) -> Slots<V> {
    let empty = Slot {
        key: 0,
        value: V::default(),
    };
    #[cfg(unix)]
    if memory == Memory::Mapped && capacity * std::mem::size_of::<Slot<V>>() >= MAPPED_FROM {
        let bytes = mapped_bytes::<V>(capacity);
        // SAFETY: a new private anonymous mapping, no file, no address
        // asked for.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p != libc::MAP_FAILED
            && let Some(ptr) = std::ptr::NonNull::new(p.cast::<Slot<V>>())
        {
            huge_pages(p as usize, bytes);
            for i in 0..capacity {
                // SAFETY: slot `i` is inside the mapping (page-aligned,
                // so aligned for a slot).
                unsafe { ptr.as_ptr().add(i).write(empty) };
            }
            return Slots::Mapped { ptr, len: capacity };
        }
    }
    let mut slots = Vec::with_capacity(capacity);
    huge_pages(
        slots.as_ptr() as usize,
        capacity * std::mem::size_of::<Slot<V>>(),
    );
    slots.resize(capacity, empty);
    Slots::Heap(slots)
}

/// The helper thread of [`Table::grow_on_a_thread`], as the table sees it.
struct Ahead<V> {
    /// Shards and the capacities to prepare for them.
    jobs: mpsc::Sender<(usize, usize)>,
    done: mpsc::Receiver<(usize, Slots<V>)>,
    /// Per shard, the capacity asked for and not yet taken (0: none).
    asked: [usize; SHARDS],
    /// Per shard, slots that came and are not yet taken.
    ready: Vec<Option<Slots<V>>>,
    grown: u64,
}

impl<V: Copy + Default + Send + 'static> Ahead<V> {
    /// Starts the thread; `None` if the system will not start one.
    fn start() -> Option<Ahead<V>> {
        let (jobs, inbox) = mpsc::channel::<(usize, usize)>();
        let (outbox, done) = mpsc::channel();
        std::thread::Builder::new()
            .name("heapwise-grow".into())
            .spawn(move || {
                for (shard, capacity) in inbox {
                    if outbox
                        .send((shard, empty_slots(capacity, Memory::Mapped)))
                        .is_err()
                    {
                        break;
                    }
                }
            })
            .ok()?;
        Some(Ahead {
            jobs,
            done,
            asked: [0; SHARDS],
            ready: (0..SHARDS).map(|_| None).collect(),
            grown: 0,
        })
    }
}

impl<V> Ahead<V> {
    /// The slots of `capacity` prepared for shard `index`, if they came.
    fn take(&mut self, index: usize, capacity: usize) -> Option<Slots<V>> {
        while let Ok((shard, slots)) = self.done.try_recv() {
            // (Slots that came too late, the shard having grown without
            // them, are dropped.)
            if self.asked[shard] == slots.len() {
                self.ready[shard] = Some(slots);
            }
        }
        let slots = self.ready[index].take()?;
        if slots.len() == capacity {
            self.asked[index] = 0;
            Some(slots)
        } else {
            None
        }
    }

    /// Asks for slots of `capacity` for shard `index`, once.
    fn ask(&mut self, index: usize, capacity: usize) {
        if self.asked[index] != capacity {
            self.asked[index] = capacity;
            // If the thread is gone, the shard grows here when it is full.
            let _ = self.jobs.send((index, capacity));
        }
    }

    /// Shard `index` grew without the slots it asked for: they are
    /// dropped when they come.
    fn forget(&mut self, index: usize) {
        self.asked[index] = 0;
        self.ready[index] = None;
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

    /// Inserts and removes over `keys` addresses (16-byte aligned, from a
    /// small range, so that keys collide, come back and get removed),
    /// checking every step against a `HashMap`; with `pause`, sleeps a
    /// millisecond every so often (the helper thread's slots then come
    /// before a shard is full).
    fn agrees_with_a_hash_map(table: &mut Table<u64>, steps: u64, keys: u64, pause: bool) {
        let mut map = std::collections::HashMap::new();
        let mut x = 0x1234_5678_9abc_def0u64;
        for step in 0..steps {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = 0x7f00_0000_0000 + (x % keys) * 16;
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
            if pause && step % 2000 == 0 {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
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

    #[test]
    fn it_agrees_with_a_hash_map_through_inserts_removes_and_growth() {
        agrees_with_a_hash_map(&mut Table::default(), 200_000, 40_000, false);
    }

    #[test]
    fn shards_grown_by_the_helper_thread_keep_every_entry() {
        // 1.2 M keys: shards of 64 k slots and more, past AHEAD_FROM.
        let mut table = Table::default();
        assert!(table.grow_on_a_thread());
        agrees_with_a_hash_map(&mut table, 3_000_000, 1_200_000, true);
        assert!(
            table.grown_on_a_thread() > 0,
            "no shard grew into slots the helper prepared"
        );
        // Without pauses the shards fill before the slots come: they grow
        // here, and the slots that come late are freed.
        let mut hurried = Table::default();
        assert!(hurried.grow_on_a_thread());
        agrees_with_a_hash_map(&mut hurried, 3_000_000, 1_200_000, false);
    }

    #[test]
    fn only_a_table_with_a_helper_maps_memory_of_its_own() {
        // The tracer's tally keeps a table inside the traced process, whose
        // allocator lists every mapping the tracer makes; a mapping made
        // behind its back would be scanned as the program's roots at exit.
        let mapped = |t: &Table<u64>| {
            t.shards
                .iter()
                .filter(|s| !matches!(s.slots, Slots::Heap(_)))
                .count()
        };
        let fill = |t: &mut Table<u64>| {
            for i in 1..=1_500_000u64 {
                t.insert(0x4000_0000 + i * 16, i);
            }
        };
        let mut alone = Table::default();
        fill(&mut alone);
        assert_eq!(mapped(&alone), 0);
        let mut helped = Table::default();
        assert!(helped.grow_on_a_thread());
        fill(&mut helped);
        assert_eq!(helped.len(), 1_500_000);
        assert_eq!(
            mapped(&helped),
            SHARDS,
            "1.5 M entries: every shard past 1 MiB"
        );
    }

    #[test]
    fn shards_double_one_after_another_not_all_at_once() {
        let slots = |t: &Table<u64>| t.shards.iter().map(|s| s.slots.len()).sum::<usize>();
        let mut table = Table::<u64>::default();
        let n = 400_000u64;
        let mut growths = Vec::new();
        for i in 1..=2 * n {
            let before = slots(&table);
            table.insert(0x5555_0000_0000 + i * 16, i);
            if i > n && slots(&table) != before {
                growths.push(i);
            }
        }
        // While the table doubles, every shard doubles once...
        assert!((14..=18).contains(&growths.len()), "{growths:?}");
        // ...spread over the doubling: with equal shares they all would
        // within a few thousand inserts of each other.
        let mut gaps: Vec<u64> = growths.windows(2).map(|w| w[1] - w[0]).collect();
        gaps.push(growths[0] - n);
        gaps.push(2 * n - growths[growths.len() - 1]);
        assert!(gaps.iter().all(|&gap| gap < n / 5), "{growths:?}");
    }
}

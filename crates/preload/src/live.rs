//! Sampled traces: the table of sampled blocks still allocated, so that
//! their frees (and only theirs) are recorded.
//!
//! Lock-free and bounded: 2^20 slots of one address each (8 MiB of address
//! space, mapped when sampling starts; only the pages written become
//! resident), in buckets of eight slots (one cache line). An address may
//! sit in either of two buckets chosen by its hash; an insert takes an
//! empty slot of the emptier one with a compare-and-swap, a removal swaps
//! the address back to 0. No chains, no tombstones: every slot is
//! independent, so concurrent threads, signal handlers that interrupt a
//! hook and a forked child (which inherits the table with the rest of its
//! memory) all see a consistent table. When both buckets are full the
//! block is not sampled ([`Table::insert`] fails) and counted; the writer
//! says so once in the trace.
//!
//! In front of the table a counting filter of 2^22 one-byte counters, one
//! per 1 KiB granule of address space (modulo 4 GiB: the counter's index is
//! a pointer's low 32 bits, shifted, two instructions in `hooks.rs`; the
//! 4 MiB are mapped but only the pages written become resident), holds how many
//! sampled blocks start in each: a free whose counter is 0 (nearly every
//! free in a sampled trace) is not of a sampled block, which costs one
//! byte load. A counter that reaches 255 stays there. Granules, not a
//! hash of the address: a program frees blocks near the ones it freed
//! before, so its frees read a few cache lines of the filter (one line
//! covers 64 KiB of heap) where a hash sent each to a random line of
//! 256 KiB — CPython spent 4 % of its time waiting for them. The price: a
//! free in a granule that holds a sampled block looks in the table, about
//! one free in 1 KiB / R (0.2 % at the default R) where a hash had fewer.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU64, Ordering};

/// Slots of the process's table (log2).
const SLOTS_LOG2: u32 = 20;
/// Counters of the process's filter (log2): 4 Mi counters, one per KiB of
/// the low 4 GiB of every 4 GiB of address space, so that `hooks.rs` finds
/// a pointer's counter in two instructions (its low 32 bits, shifted).
/// Only the counters of granules that held a sampled block are ever
/// written; the rest of the mapping stays the kernel's zero page.
const FILTER_LOG2: u32 = 32 - FILTER_GRAIN;
/// Slots per bucket: one cache line of addresses.
const BUCKET: usize = 8;
/// A counter that reached this value is never decremented.
const SATURATED: u8 = u8::MAX;

/// The process's filter (null in a full trace): what the hooks read first
/// (`hooks.rs`'s fast paths read it by name).
pub(crate) static FILTER: AtomicPtr<AtomicU8> = AtomicPtr::new(std::ptr::null_mut());
/// Blocks due to be sampled that the full table could not take.
static FULL: AtomicU64 = AtomicU64::new(0);
/// Whether the trace says so already.
static FULL_REPORTED: AtomicBool = AtomicBool::new(false);

/// A table of addresses with its filter.
#[derive(Clone, Copy)]
pub struct Table {
    slots: *const AtomicU64,
    /// Buckets − 1 (a power of two − 1).
    bucket_mask: u64,
    filter: *const AtomicU8,
    filter_log2: u32,
}

/// Bytes of address space per counter of the filter (log2): 1 KiB
/// (`hooks.rs` computes [`filter_index`] in three instructions: `mov`,
/// `shr`, `and`).
pub const FILTER_GRAIN: u32 = 10;
// `hooks.rs` takes a pointer's counter as its low 32 bits shifted right by
// the grain, which is the index only when the two cover 32 bits.
const _: () = assert!(FILTER_GRAIN + FILTER_LOG2 == 32);

/// The filter's counter of `ptr`: its granule, modulo the counters.
#[inline(always)]
fn filter_index(ptr: u64, filter_log2: u32) -> usize {
    ((ptr >> FILTER_GRAIN) & ((1u64 << filter_log2) - 1)) as usize
}

/// The two buckets of `ptr` (a stronger mix than the filter's, so that
/// addresses that share a counter spread over the table).
fn buckets(ptr: u64, mask: u64) -> [u64; 2] {
    let mut z = ptr ^ (ptr >> 33);
    z = z.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    z ^= z >> 33;
    z = z.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    z ^= z >> 33;
    let first = z & mask;
    let second = (z >> 32) & mask;
    // Two different buckets (a table has at least two).
    [
        first,
        if second == first {
            (first ^ 1) & mask
        } else {
            second
        },
    ]
}

impl Table {
    /// Maps a table of 2^`slots_log2` slots (at least two buckets) and a
    /// filter of 2^`filter_log2` counters; `None` if the memory cannot be
    /// mapped.
    pub fn map(slots_log2: u32, filter_log2: u32) -> Option<Table> {
        let slots = 1usize << slots_log2;
        assert!(slots >= 2 * BUCKET && (1..=32).contains(&filter_log2));
        let slot_bytes = slots * 8;
        let filter_bytes = 1usize << filter_log2;
        let base = map_zeroed(slot_bytes + filter_bytes)?;
        Some(Table {
            slots: base.cast(),
            bucket_mask: (slots / BUCKET - 1) as u64,
            // SAFETY: inside the mapping.
            filter: unsafe { base.add(slot_bytes) }.cast(),
            filter_log2,
        })
    }

    fn counter(&self, ptr: u64) -> &AtomicU8 {
        // SAFETY: the index is below 2^filter_log2; the mapping lives for
        // the rest of the process.
        unsafe { &*self.filter.add(filter_index(ptr, self.filter_log2)) }
    }

    fn bucket(&self, index: u64) -> &[AtomicU64] {
        // SAFETY: `index` is at most `bucket_mask`, so the bucket is inside
        // the mapping; it lives for the rest of the process.
        unsafe { std::slice::from_raw_parts(self.slots.add(index as usize * BUCKET), BUCKET) }
    }

    /// Whether `ptr` may be in the table (false: it certainly is not).
    #[inline(always)]
    pub fn may_hold(&self, ptr: u64) -> bool {
        self.counter(ptr).load(Ordering::Relaxed) != 0
    }

    /// Adds `ptr` (not in the table, not 0); false if both its buckets are
    /// full.
    pub fn insert(&self, ptr: u64) -> bool {
        debug_assert!(ptr != 0);
        increment(self.counter(ptr));
        let [a, b] = buckets(ptr, self.bucket_mask);
        let free = |bucket: &[AtomicU64]| {
            bucket
                .iter()
                .filter(|s| s.load(Ordering::Relaxed) == 0)
                .count()
        };
        let (a, b) = (self.bucket(a), self.bucket(b));
        let order = if free(b) > free(a) { [b, a] } else { [a, b] };
        for bucket in order {
            for slot in bucket {
                if slot.load(Ordering::Relaxed) == 0
                    && slot
                        .compare_exchange(0, ptr, Ordering::AcqRel, Ordering::Relaxed)
                        .is_ok()
                {
                    return true;
                }
            }
        }
        decrement(self.counter(ptr));
        false
    }

    /// Removes `ptr`; false if it was not in the table.
    pub fn remove(&self, ptr: u64) -> bool {
        if ptr == 0 || !self.may_hold(ptr) {
            return false;
        }
        for index in buckets(ptr, self.bucket_mask) {
            for slot in self.bucket(index) {
                if slot.load(Ordering::Relaxed) == ptr
                    && slot
                        .compare_exchange(ptr, 0, Ordering::AcqRel, Ordering::Relaxed)
                        .is_ok()
                {
                    decrement(self.counter(ptr));
                    return true;
                }
            }
        }
        false
    }

    /// Whether `ptr` is in the table.
    #[cfg(test)]
    pub fn contains(&self, ptr: u64) -> bool {
        ptr != 0
            && self.may_hold(ptr)
            && buckets(ptr, self.bucket_mask).iter().any(|&i| {
                self.bucket(i)
                    .iter()
                    .any(|s| s.load(Ordering::Relaxed) == ptr)
            })
    }
}

fn increment(counter: &AtomicU8) {
    let _ = counter.fetch_update(Ordering::AcqRel, Ordering::Relaxed, |c| {
        (c != SATURATED).then(|| c + 1)
    });
}

fn decrement(counter: &AtomicU8) {
    let _ = counter.fetch_update(Ordering::AcqRel, Ordering::Relaxed, |c| {
        (c != SATURATED && c != 0).then(|| c - 1)
    });
}

/// Zero-filled memory of the tracer's own (never the program's heap), or
/// `None`.
fn map_zeroed(len: usize) -> Option<*mut u8> {
    // SAFETY: an anonymous private mapping, checked.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return None;
    }
    crate::regions::add(p.cast(), len);
    Some(p.cast())
}

/// The process's table (slots, then the filter) once mapped, published
/// or not: it is never
/// unmapped (a hook may have read its address just before sampling was
/// turned off), and a later sampled trace of an attached process uses it
/// again.
static MAPPED: AtomicPtr<AtomicU64> = AtomicPtr::new(std::ptr::null_mut());

/// Maps the process's table (or empties the one an earlier trace of an
/// attached process used) and turns sampling on in the hooks (start-up,
/// before recording starts). False if the memory cannot be mapped.
pub fn enable() -> bool {
    let mapped = MAPPED.load(Ordering::Acquire);
    let table = if mapped.is_null() {
        let Some(table) = Table::map(SLOTS_LOG2, FILTER_LOG2) else {
            return false;
        };
        MAPPED.store(table.slots.cast_mut(), Ordering::Release);
        table
    } else {
        let table = table_at(mapped);
        // The blocks an earlier trace sampled are not this trace's: their
        // frees must not be recorded. A zapped page reads as zeros at once;
        // a removal racing with it (a thread still inside a hook from the
        // earlier trace) finds nothing, as it should.
        // SAFETY: our own private anonymous mapping, slots then filter.
        unsafe {
            libc::madvise(
                mapped.cast(),
                (8usize << SLOTS_LOG2) + (1usize << FILTER_LOG2),
                libc::MADV_DONTNEED,
            )
        };
        table
    };
    FULL.store(0, Ordering::Relaxed);
    FULL_REPORTED.store(false, Ordering::Release);
    FILTER.store(table.filter.cast_mut(), Ordering::Release);
    true
}

/// Turns sampling off in the hooks (a full trace of an attached process
/// whose earlier trace was sampled); the table stays mapped.
pub fn disable() {
    FILTER.store(std::ptr::null_mut(), Ordering::Release);
}

/// The process's table, at the mapping `slots`.
fn table_at(slots: *mut AtomicU64) -> Table {
    Table {
        slots,
        bucket_mask: ((1u64 << SLOTS_LOG2) / BUCKET as u64) - 1,
        // SAFETY: the filter follows the slots in the mapping.
        filter: unsafe { slots.cast::<u8>().add(8usize << SLOTS_LOG2) }.cast(),
        filter_log2: FILTER_LOG2,
    }
}

/// Whether this is a sampled trace: one load, and the filter the hooks
/// read next.
#[inline(always)]
pub fn enabled() -> bool {
    !filter().is_null()
}

/// The process's table (only once it was [`enabled`]: the hooks call this
/// after reading a filter that was not null).
#[inline(always)]
fn table() -> Table {
    // Not the filter's pointer, which sampling turned off makes null: a
    // hook that read the filter just before still gets the table.
    table_at(MAPPED.load(Ordering::Acquire))
}

/// The process's filter: null in a full trace. (The hooks load it once
/// and pass it to [`may_be_sampled`].)
#[inline(always)]
pub fn filter() -> *const AtomicU8 {
    FILTER.load(Ordering::Relaxed)
}

/// Whether `ptr` may be a sampled block (one byte load; false means it
/// certainly is not). `filter` is [`filter`], not null.
#[inline(always)]
pub fn may_be_sampled(filter: *const AtomicU8, ptr: u64) -> bool {
    // SAFETY: the filter has 2^FILTER_LOG2 counters and lives for the rest
    // of the process.
    unsafe { &*filter.add(filter_index(ptr, FILTER_LOG2)) }.load(Ordering::Relaxed) != 0
}

/// In a sampled trace: remembers a sampled block; false (and counted) if
/// the table is full: the block is then not sampled.
pub fn insert(ptr: u64) -> bool {
    if table().insert(ptr) {
        return true;
    }
    FULL.fetch_add(1, Ordering::Relaxed);
    false
}

/// In a sampled trace: forgets `ptr`; whether it was a sampled block.
pub fn remove(ptr: u64) -> bool {
    table().remove(ptr)
}

/// Blocks the full table made unsampled so far, the first time there are
/// any (the writer says so once in the trace); `None` otherwise.
pub fn full_to_report() -> Option<u64> {
    let full = FULL.load(Ordering::Relaxed);
    (full > 0 && !FULL_REPORTED.swap(true, Ordering::AcqRel)).then_some(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addresses(n: u64) -> impl Iterator<Item = u64> {
        // Heap-like: 16-byte aligned, mostly close together.
        (0..n).map(|i| 0x5555_5555_0000 + i * 48 + (i / 1000) * 4096)
    }

    #[test]
    fn inserted_blocks_are_found_and_removed_once() {
        let table = Table::map(16, 12).unwrap();
        for ptr in addresses(20_000) {
            assert!(!table.contains(ptr));
            assert!(table.insert(ptr), "{ptr:#x}");
        }
        assert!(addresses(20_000).all(|p| table.contains(p) && table.may_hold(p)));
        for ptr in addresses(20_000).step_by(2) {
            assert!(table.remove(ptr));
            assert!(!table.remove(ptr), "removed twice");
        }
        for (i, ptr) in addresses(20_000).enumerate() {
            assert_eq!(table.contains(ptr), i % 2 == 1, "{ptr:#x}");
        }
        assert!(!table.remove(0x1234_5670));
        for ptr in addresses(20_000).skip(1).step_by(2) {
            assert!(table.remove(ptr));
        }
        // Everything gone: every counter is back to 0.
        assert!(addresses(20_000).all(|p| !table.may_hold(p)));
    }

    #[test]
    fn a_full_table_refuses_and_recovers_when_blocks_are_freed() {
        // Two buckets: sixteen slots.
        let table = Table::map(4, 8).unwrap();
        let mut held = Vec::new();
        let mut refused = 0;
        for ptr in addresses(64) {
            if table.insert(ptr) {
                held.push(ptr);
            } else {
                refused += 1;
                assert!(!table.contains(ptr));
            }
        }
        assert_eq!(held.len(), 16, "every slot is used before any refusal");
        assert_eq!(refused, 64 - 16);
        assert!(held.iter().all(|&p| table.contains(p)));
        // A refused block's counter was given back: only held blocks count.
        let refused_ptrs: Vec<u64> = addresses(64).filter(|p| !held.contains(p)).collect();
        assert!(table.remove(held[3]));
        assert!(table.insert(refused_ptrs[0]), "a freed slot is reused");
        assert!(!table.insert(refused_ptrs[1]));
    }

    #[test]
    fn the_filter_says_no_for_nearly_every_other_address() {
        // The process's sizes: 2^18 counters of 1 KiB. 10,000 sampled
        // blocks live, heap-like; addresses of other blocks elsewhere, at
        // any stride, pass only where the 256 MiB wrap puts them on a
        // sampled block's granule.
        let table = Table::map(20, 18).unwrap();
        for ptr in addresses(10_000) {
            assert!(table.insert(ptr));
        }
        for stride in [16, 32, 48, 4096, 65_536] {
            let others = (0..200_000u64).map(|i| 0x7f00_0000_0000 + i * stride);
            let positives = others.filter(|&p| table.may_hold(p)).count();
            assert!(
                positives < 200_000 / 100,
                "{positives} false positives at stride {stride}"
            );
        }
        // Never a false negative; a neighbour in a sampled block's granule
        // passes (and is then looked up in the table, in vain).
        assert!(addresses(10_000).all(|p| table.may_hold(p)));
        let neighbour = 0x5555_5555_0000 + 48 * 5000 + 5 * 4096 + 16;
        assert!(table.may_hold(neighbour) && !table.contains(neighbour));
    }

    #[test]
    fn saturated_counters_stay_set() {
        let counter = AtomicU8::new(0);
        for _ in 0..300 {
            increment(&counter);
        }
        assert_eq!(counter.load(Ordering::Relaxed), SATURATED);
        decrement(&counter);
        assert_eq!(counter.load(Ordering::Relaxed), SATURATED);
        let counter = AtomicU8::new(0);
        decrement(&counter);
        assert_eq!(counter.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn threads_insert_and_remove_concurrently_without_losing_a_block() {
        let table = Table::map(18, 14).unwrap();
        // SAFETY-free sharing: the table is only atomics behind pointers.
        struct Shared(Table);
        unsafe impl Sync for Shared {}
        let shared = Shared(table);
        std::thread::scope(|scope| {
            for t in 0..4u64 {
                let shared = &shared;
                scope.spawn(move || {
                    let table = shared.0;
                    let base = 0x6000_0000_0000 + t * 0x1_0000_0000;
                    for round in 0..20u64 {
                        let ptrs: Vec<u64> =
                            (0..5000).map(|i| base + (round % 3 + i) * 16).collect();
                        for &p in &ptrs {
                            assert!(table.insert(p));
                        }
                        for &p in &ptrs {
                            assert!(table.remove(p), "{p:#x} lost");
                        }
                    }
                });
            }
        });
        let table = shared.0;
        assert!(
            (0..4u64)
                .flat_map(|t| (0..5010).map(move |i| 0x6000_0000_0000 + t * 0x1_0000_0000 + i * 16))
                .all(|p| !table.contains(p))
        );
    }
}

//! The preload's own memory, kept apart from the program's heap.
//!
//! Rust allocations of the tracer never go through the exported hooks
//! (which would record — and recurse into — them), and never through
//! glibc's arenas either: a signal handler that calls `malloc` while the
//! tracer holds an arena lock (say, growing a table inside a hook) would
//! wait forever for a lock its own thread holds — a deadlock the program
//! alone would not have. So the tracer has its own allocator: power-of-two
//! size classes carved from 64 KiB `mmap`ed slabs, kept on free lists
//! behind a spin lock, and `mmap` for anything larger. Code that may run in
//! a signal handler never allocates, so it never waits for that lock.
//! Keeping the tracer's memory out of the arenas also keeps the heap's
//! size (`heaps.rs`) about the program alone.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::ffi::c_void;
use std::ptr;

use crate::sys::SpinLock;

unsafe extern "C" {
    pub fn __libc_malloc(size: usize) -> *mut c_void;
    pub fn __libc_calloc(count: usize, size: usize) -> *mut c_void;
    pub fn __libc_realloc(ptr: *mut c_void, size: usize) -> *mut c_void;
    pub fn __libc_free(ptr: *mut c_void);
    pub fn __libc_memalign(align: usize, size: usize) -> *mut c_void;
    pub fn __libc_valloc(size: usize) -> *mut c_void;
    pub fn __libc_pvalloc(size: usize) -> *mut c_void;
}

/// Smallest class: 16 bytes.
const MIN_SHIFT: u32 = 4;
/// Largest class: 64 KiB; larger requests get their own mapping.
const MAX_SHIFT: u32 = 16;
const CLASSES: usize = (MAX_SHIFT - MIN_SHIFT + 1) as usize;
const SLAB: usize = 1 << MAX_SHIFT;
const PAGE: usize = 4096;

struct Pools {
    /// Free chunks per class, linked through their first word.
    free: [*mut u8; CLASSES],
    /// The unused part of the current slab.
    bump: *mut u8,
    bump_end: *mut u8,
}

/// The tracer's allocator.
pub struct TracerAllocator {
    lock: SpinLock,
    pools: UnsafeCell<Pools>,
}

// SAFETY: `pools` is only touched while `lock` is held.
unsafe impl Sync for TracerAllocator {}

impl TracerAllocator {
    /// An allocator with nothing mapped yet.
    pub const fn new() -> TracerAllocator {
        TracerAllocator {
            lock: SpinLock::new(),
            pools: UnsafeCell::new(Pools {
                free: [ptr::null_mut(); CLASSES],
                bump: ptr::null_mut(),
                bump_end: ptr::null_mut(),
            }),
        }
    }

    /// Takes the lock for `fork` (released by [`TracerAllocator::reset_after_fork`]
    /// in both processes), so the child never inherits a free list that
    /// another thread was changing.
    pub fn lock_for_fork(&self) {
        self.lock.lock_raw();
    }

    /// Releases the lock after `fork` (in the child, its holder is gone).
    pub fn reset_after_fork(&self) {
        self.lock.force_unlock();
    }
}

/// The class of a request, or `None` if it gets its own mapping.
fn class_of(layout: Layout) -> Option<usize> {
    let size = layout.size().max(layout.align()).max(1 << MIN_SHIFT);
    let shift = usize::BITS - (size - 1).leading_zeros();
    (shift <= MAX_SHIFT).then(|| (shift - MIN_SHIFT) as usize)
}

fn map(len: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping; no memory is touched.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        ptr::null_mut()
    } else {
        crate::regions::add(p.cast(), len);
        p.cast()
    }
}

fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

// SAFETY: chunks of a class are at least as large and as aligned as every
// layout mapped to it (slabs are 64 KiB-aligned in practice because every
// class divides 64 KiB and mmap returns page-aligned memory; classes above
// a page are carved at multiples of their own size from the slab start,
// and the slab start is aligned to 64 KiB by construction below).
unsafe impl GlobalAlloc for TracerAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = class_of(layout) else {
            if layout.align() > PAGE {
                return ptr::null_mut();
            }
            return map(round_up(layout.size(), PAGE));
        };
        let size = 1usize << (class as u32 + MIN_SHIFT);
        let Some(_guard) = self.lock.lock_for(u64::MAX) else {
            return ptr::null_mut();
        };
        // SAFETY: we hold the lock.
        let pools = unsafe { &mut *self.pools.get() };
        let head = pools.free[class];
        if !head.is_null() {
            // SAFETY: free chunks store the next pointer in their first word.
            pools.free[class] = unsafe { head.cast::<*mut u8>().read() };
            return head;
        }
        let aligned = (pools.bump as usize).next_multiple_of(size);
        if pools.bump.is_null() || aligned + size > pools.bump_end as usize {
            // A fresh slab, aligned to its own size.
            let raw = map(2 * SLAB);
            if raw.is_null() {
                return ptr::null_mut();
            }
            let start = (raw as usize).next_multiple_of(SLAB);
            pools.bump = start as *mut u8;
            pools.bump_end = (start + SLAB) as *mut u8;
            let chunk = pools.bump;
            pools.bump = (start + size) as *mut u8;
            return chunk;
        }
        pools.bump = (aligned + size) as *mut u8;
        aligned as *mut u8
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        let Some(class) = class_of(layout) else {
            crate::regions::remove(p);
            // SAFETY: a mapping made by `alloc` for this layout.
            unsafe { libc::munmap(p.cast(), round_up(layout.size(), PAGE)) };
            return;
        };
        let Some(_guard) = self.lock.lock_for(u64::MAX) else {
            return;
        };
        // SAFETY: we hold the lock; the chunk is ours again.
        unsafe {
            let pools = &mut *self.pools.get();
            p.cast::<*mut u8>().write(pools.free[class]);
            pools.free[class] = p;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_aligned_distinct_and_reused() {
        let a = TracerAllocator::new();
        let mut seen = Vec::new();
        for (size, align) in [
            (1, 1),
            (16, 8),
            (17, 16),
            (100, 64),
            (4096, 4096),
            (5000, 8),
            (70_000, 8),
        ] {
            let layout = Layout::from_size_align(size, align).unwrap();
            // SAFETY: a valid layout; freed below.
            let p = unsafe { a.alloc(layout) };
            assert!(!p.is_null());
            assert_eq!(p as usize % align, 0, "{size}/{align}");
            // SAFETY: the chunk is at least `size` bytes.
            unsafe { p.write_bytes(0xab, size) };
            seen.push((p, layout));
        }
        let mut starts: Vec<usize> = seen.iter().map(|(p, _)| *p as usize).collect();
        starts.sort();
        starts.dedup();
        assert_eq!(starts.len(), seen.len());
        let (p, layout) = seen[3];
        // SAFETY: allocated above with `layout`.
        unsafe { a.dealloc(p, layout) };
        // SAFETY: same class again.
        let again = unsafe { a.alloc(layout) };
        assert_eq!(again, p, "a freed chunk is reused");
        for (p, layout) in seen.into_iter().filter(|(q, _)| *q != again) {
            // SAFETY: allocated above.
            unsafe { a.dealloc(p, layout) };
        }
    }

    #[test]
    fn many_small_chunks_span_slabs() {
        let a = TracerAllocator::new();
        let layout = Layout::from_size_align(48, 8).unwrap();
        let chunks: Vec<*mut u8> = (0..10_000).map(|_| unsafe { a.alloc(layout) }).collect();
        assert!(
            chunks
                .iter()
                .all(|p| !p.is_null() && (*p as usize).is_multiple_of(64))
        );
        let mut sorted = chunks.clone();
        sorted.sort();
        assert!(
            sorted
                .windows(2)
                .all(|w| w[1] as usize - w[0] as usize >= 64),
            "chunks overlap"
        );
    }
}

//! Every mapping the tracer makes for itself — its allocator's slabs, the
//! spill file, the writer's stack, the table of sampled blocks — listed so
//! that the reachability scan at exit (`reach.rs`) can leave the tracer's
//! memory out of the program's roots: it holds the addresses of the
//! program's recent allocations (each stream's delta state), which would
//! make a lost block look reachable.
//!
//! The list is append-only pages of `(start, length)` entries, filled with
//! atomics and no lock (a mapping can be made inside a hook, and `fork`
//! must never find it half-held); an unmapped region's entry is zeroed.
//! The list's own pages are in it.

use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

const PAGE: usize = 4096;
const ENTRIES: usize = (PAGE - 16) / 16;

#[repr(C)]
struct Page {
    next: *mut Page,
    used: AtomicUsize,
    /// `(start, length)`; a zero start is an unused or removed entry.
    entries: [[AtomicUsize; 2]; ENTRIES],
}

const _: () = assert!(std::mem::size_of::<Page>() <= PAGE);

static HEAD: AtomicPtr<Page> = AtomicPtr::new(ptr::null_mut());

/// Lists `[start, start + len)` as the tracer's.
pub fn add(start: *const u8, len: usize) {
    let start = start as usize;
    loop {
        let head = HEAD.load(Ordering::Acquire);
        if !head.is_null() {
            // SAFETY: a published page is never unmapped.
            let page = unsafe { &*head };
            let i = page.used.fetch_add(1, Ordering::AcqRel);
            if i < ENTRIES {
                page.entries[i][1].store(len, Ordering::Relaxed);
                page.entries[i][0].store(start, Ordering::Release);
                return;
            }
        }
        // SAFETY: a fresh anonymous mapping, checked.
        let fresh = unsafe {
            libc::mmap(
                ptr::null_mut(),
                PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if fresh == libc::MAP_FAILED {
            return;
        }
        let fresh = fresh.cast::<Page>();
        // SAFETY: zeroed memory of the right size, ours until published.
        unsafe {
            (*fresh).next = head;
            (*fresh).used.store(1, Ordering::Relaxed);
            (*fresh).entries[0][1].store(PAGE, Ordering::Relaxed);
            (*fresh).entries[0][0].store(fresh as usize, Ordering::Relaxed);
        }
        if HEAD
            .compare_exchange(head, fresh, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // SAFETY: never published.
            unsafe { libc::munmap(fresh.cast(), PAGE) };
        }
    }
}

/// Forgets the region that starts at `start` (it is being unmapped).
pub fn remove(start: *const u8) {
    let start = start as usize;
    for_each_entry(|entry| {
        if entry[0].load(Ordering::Acquire) == start {
            entry[0].store(0, Ordering::Release);
        }
    });
}

/// Calls `f(start, len)` for every region listed.
pub fn for_each(mut f: impl FnMut(usize, usize)) {
    for_each_entry(|entry| {
        let start = entry[0].load(Ordering::Acquire);
        if start != 0 {
            f(start, entry[1].load(Ordering::Relaxed));
        }
    });
}

fn for_each_entry(mut f: impl FnMut(&[AtomicUsize; 2])) {
    let mut page = HEAD.load(Ordering::Acquire);
    while !page.is_null() {
        // SAFETY: published pages are never unmapped.
        let p = unsafe { &*page };
        let used = p.used.load(Ordering::Acquire).min(ENTRIES);
        p.entries[..used].iter().for_each(&mut f);
        page = p.next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_listed_until_removed_across_pages() {
        let base = 0x7000_0000_0000usize;
        for i in 0..600 {
            add((base + i * 0x1000) as *const u8, 0x1000);
        }
        remove((base + 5 * 0x1000) as *const u8);
        let mut ours = Vec::new();
        let mut pages = 0;
        for_each(|start, len| {
            if (base..base + 600 * 0x1000).contains(&start) {
                ours.push(start);
                assert_eq!(len, 0x1000);
            } else if len == PAGE {
                pages += 1;
            }
        });
        assert_eq!(ours.len(), 599);
        assert!(!ours.contains(&(base + 5 * 0x1000)));
        assert!(pages >= 3, "the list's own pages are listed: {pages}");
    }
}

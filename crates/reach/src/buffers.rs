//! Where the copy of a process's memory goes: one buffer per mapping,
//! faulted in before the process is stopped.
//!
//! The first touch of fresh memory costs the kernel a zeroed page, and in
//! a virtual machine more than the copy itself (measured: 2.6 s of the
//! 3 s a gigabyte took to copy; docs/performance.md). So `heapwise run`
//! prepares the buffers while the exiting program waits and the trace is
//! replayed, on the other core, and the copy into them, once the process
//! is stopped, is only a copy.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::maps::{self, Mapping};

/// Buffers ready for the mappings they were made for.
#[derive(Debug, Default)]
pub struct Buffers {
    /// By the start of the mapping: an empty vector with the capacity of
    /// the mapping's words, its pages faulted in.
    ready: HashMap<u64, Vec<u64>>,
}

/// The mappings a snapshot copies: readable, writable, not a device, not
/// wholly inside one of `skip`.
pub(crate) fn wanted(maps: &[Mapping], skip: &[(u64, u64)]) -> Vec<(u64, u64)> {
    maps.iter()
        .filter(|m| m.read && m.write && !m.is_device())
        .filter(|m| !skip.iter().any(|&(s, e)| s <= m.start && m.end <= e))
        .map(|m| (m.start, m.end))
        .collect()
}

impl Buffers {
    /// Buffers, faulted in, for the mappings of `pid` a snapshot would
    /// copy now (see `wanted`): with `heaps` false, those that are no
    /// glibc heap, but the large ones it reads in pieces; with `heaps`
    /// true, glibc's heaps, whose total size is stored in `heap_bytes` as
    /// soon as the maps are read, and whose preparing stops when `cancel`
    /// is set. Nothing is prepared if the maps cannot be read: the
    /// snapshot then makes its buffers as it copies.
    ///
    /// The heaps are prepared apart because whether they are worth it is
    /// known only once the trace is replayed: a heap mostly full is copied
    /// whole, as the first touch of memory during the copy would cost more
    /// than the copy (a gigabyte of blocks was held 5.8 s instead of
    /// 1.3 s), while of a heap mostly free only the blocks are copied
    /// (`Snapshot::take`), and preparing it would only cost time (CPython's
    /// 281 MB of freed heap: 0.4 s).
    pub fn prepare(
        pid: u32,
        skip: &[(u64, u64)],
        heaps: bool,
        heap_bytes: &AtomicU64,
        cancel: &AtomicBool,
    ) -> Buffers {
        let Ok(maps) = maps::read(pid) else {
            return Buffers::default();
        };
        let chosen: Vec<(u64, u64, bool)> = wanted(&maps, skip)
            .into_iter()
            .map(|(start, end)| {
                let heap = maps.iter().find(|m| m.start == start).is_some_and(|m| {
                    crate::process::is_glibc_heap(m, |at| crate::process::read_remote_word(pid, at))
                });
                (start, end, heap)
            })
            .collect();
        if heaps {
            let total = chosen.iter().filter(|c| c.2).map(|(s, e, _)| e - s).sum();
            heap_bytes.store(total, Ordering::Release);
        }
        let mut ready = HashMap::new();
        for (start, end, heap) in chosen {
            let copied = if heaps {
                heap
            } else {
                !heap && end - start < crate::process::STREAMED_FROM
            };
            if !copied {
                continue;
            }
            if cancel.load(Ordering::Acquire) {
                break;
            }
            ready.insert(start, fresh_until(((end - start) / 8) as usize, cancel));
        }
        Buffers { ready }
    }

    /// Adds the buffers of `other`.
    pub fn extend(&mut self, other: Buffers) {
        self.ready.extend(other.ready);
    }

    /// Whether a buffer was prepared for the mapping at `start`.
    pub(crate) fn prepared(&self, start: u64) -> bool {
        self.ready.contains_key(&start)
    }

    /// An empty vector with room for `len` words for the mapping at
    /// `start`: the one prepared for it if it is large enough (the
    /// mapping may have grown since), else a fresh one.
    pub(crate) fn take(&mut self, start: u64, len: usize) -> Vec<u64> {
        match self.ready.remove(&start) {
            Some(buffer) if buffer.capacity() >= len => buffer,
            _ => fresh(len, false),
        }
    }
}

/// An empty vector with room for `len` words; with `touched`, every page
/// faulted in.
pub(crate) fn fresh(len: usize, touched: bool) -> Vec<u64> {
    let cancel = AtomicBool::new(!touched);
    fresh_until(len, &cancel)
}

/// Memory faulted in at a time (a huge page's worth), between two looks at
/// the cancel flag.
const STRIDE: usize = 2 << 20;

/// An empty vector with room for `len` words, its pages faulted in until
/// `cancel` is set.
///
/// In ordinary pages, not huge ones: a huge page the kernel must first
/// compact memory for (its default `defrag` setting for memory that asks
/// for huge pages) took from 17 ms to 360 ms for perl's 133 MB, where
/// ordinary pages take 57–75 ms every time, and the scan reading the copy
/// was no faster in huge pages (235 ms either way; docs/performance.md).
/// The pages are faulted in by `MADV_POPULATE_WRITE` (one system call a
/// stride, not a fault a page: 57 ms against 75 ms), or touched one by one
/// where the kernel is older than 5.14.
fn fresh_until(len: usize, cancel: &AtomicBool) -> Vec<u64> {
    let mut words: Vec<u64> = Vec::with_capacity(len);
    let base = words.as_mut_ptr().cast::<u8>();
    let bytes = len * 8;
    let mut populate = true;
    for at in (0..bytes).step_by(STRIDE) {
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        let n = STRIDE.min(bytes - at);
        // SAFETY: inside the vector's capacity.
        let chunk = unsafe { base.add(at) };
        let page = chunk as usize & !4095;
        // SAFETY: advice on memory we own; it fills nothing but zeroes the
        // vector never reads as its own (it stays empty).
        populate = populate
            && unsafe {
                libc::madvise(
                    page as *mut libc::c_void,
                    chunk as usize + n - page,
                    libc::MADV_POPULATE_WRITE,
                )
            } == 0;
        if !populate {
            for offset in (0..n).step_by(4096) {
                // SAFETY: inside the capacity; the vector stays empty, so
                // the value written is never read as part of it.
                unsafe { chunk.add(offset).write(0) };
            }
        }
    }
    words
}

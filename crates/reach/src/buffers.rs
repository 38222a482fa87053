//! Where the copy of a process's memory goes: one buffer per mapping, in
//! huge pages, faulted in before the process is stopped.
//!
//! The first touch of fresh memory costs the kernel a zeroed page, and in
//! a virtual machine more than the copy itself (measured: 2.6 s of the
//! 3 s a gigabyte took to copy; docs/performance.md). So `heapwise run`
//! prepares the buffers while the exiting program waits and the trace is
//! replayed, on the other core, and the copy into them, once the process
//! is stopped, is only a copy.

use std::collections::HashMap;

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
    /// Buffers for every mapping of `pid` a snapshot would copy now (see
    /// `wanted`), faulted in — but glibc's heaps, of which a snapshot
    /// copies only the blocks, and mappings it reads in pieces
    /// (`Snapshot::take`). Nothing is prepared if
    /// its maps cannot be read: the snapshot then makes its buffers as it
    /// copies.
    pub fn prepare(pid: u32, skip: &[(u64, u64)]) -> Buffers {
        let Ok(maps) = maps::read(pid) else {
            return Buffers::default();
        };
        let mut ready = HashMap::new();
        for (start, end) in wanted(&maps, skip) {
            let heap = maps.iter().find(|m| m.start == start).is_some_and(|m| {
                crate::process::is_glibc_heap(m, |at| crate::process::read_remote_word(pid, at))
            });
            // Large mappings that are no heap are read in pieces, not
            // copied (`process::STREAMED_FROM`).
            if !heap && end - start < crate::process::STREAMED_FROM {
                ready.insert(start, fresh(((end - start) / 8) as usize, true));
            }
        }
        Buffers { ready }
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

/// An empty vector with room for `len` words, in huge pages; with
/// `touched`, every page faulted in.
pub(crate) fn fresh(len: usize, touched: bool) -> Vec<u64> {
    let mut words: Vec<u64> = Vec::with_capacity(len);
    crate::huge::advise(words.as_ptr() as usize, len * 8);
    if touched {
        let base = words.as_mut_ptr();
        for at in (0..len).step_by(512) {
            // SAFETY: inside the capacity; the vector stays empty, so the
            // value written is never read as part of it.
            unsafe { base.add(at).write(0) };
        }
    }
    words
}

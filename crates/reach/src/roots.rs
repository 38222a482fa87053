//! The root set, as valgrind chooses it, and the whole classification.
//!
//! valgrind scans every readable and writable mapping of the client that
//! is not its heap (`scan_memory_root_set`: file, anonymous and shared
//! memory; no devices but `/dev/zero`) and the general-purpose registers
//! of every thread. Under valgrind the heap is valgrind's own allocator's;
//! here it is glibc's, so the mappings that hold its blocks are told apart
//! by what is in them:
//!
//! - `[heap]` (the main arena), any mapping in which a live block starts,
//!   and glibc's other arenas (an anonymous mapping at a 64 MiB boundary
//!   that begins with a plausible `heap_info`) are the heap: their memory
//!   is scanned only as blocks, never as roots — free chunks hold stale
//!   pointers;
//! - the tracer's own memory (what the preload reports it mapped, and its
//!   library's writable segment) is no root: it holds the addresses of
//!   recent allocations;
//! - a stack is scanned from its lowest live thread's stack pointer less
//!   the 128-byte red zone (memcheck makes memory below that inaccessible
//!   as the stack shrinks); threads of the tracer are skipped;
//! - in libc's own data, an interior pointer to the glibc chunk boundary
//!   right after a block is glibc's bookkeeping (the arena's `top` and bin
//!   pointers name the next chunk's header, which for sizes 24, 40, 56, …
//!   lies inside the block before it): ignored. valgrind, whose allocator
//!   keeps no such pointers, never sees them.

use std::time::{Duration, Instant};

use crate::blocks::BlockTable;
use crate::heuristics::Heuristic;
use crate::maps::Mapping;
use crate::process::{Snapshot, Thread, read_into};
use crate::scan::Scan;
use crate::{Kind, Memory};

/// glibc's largest non-main arena heap (`HEAP_MAX_SIZE` on 64-bit), also
/// their alignment.
const ARENA_HEAP: u64 = 64 << 20;
/// Bytes of a large root mapping read at a time (`Snapshot::streamed`).
const ROOT_PIECE: u64 = 8 << 20;
/// The x86-64 red zone below the stack pointer.
const RED_ZONE: u64 = 128;

/// Memory that is the tracer's, not the program's: never a root.
#[derive(Clone, Debug, Default)]
pub struct Exclusions {
    /// Address ranges `[start, end)`.
    pub ranges: Vec<(u64, u64)>,
    /// The thread that is exiting, stopped inside heapwise's exit path:
    /// `(tid, the program's stack pointer where it called that path)`.
    /// Its stack is a root from there up, and its registers (which hold
    /// heapwise's values by then, and which valgrind does not scan for the
    /// exiting thread either) are not.
    pub exiting: Option<(u32, u64)>,
}

impl Exclusions {
    fn contains(&self, address: u64) -> bool {
        self.ranges.iter().any(|&(s, e)| (s..e).contains(&address))
    }

    /// `[start, end)` less the excluded ranges, in order.
    fn subtract(&self, start: u64, end: u64) -> Vec<(u64, u64)> {
        let mut cuts: Vec<(u64, u64)> = self
            .ranges
            .iter()
            .filter(|&&(s, e)| s < end && e > start)
            .copied()
            .collect();
        cuts.sort_unstable();
        let mut out = Vec::new();
        let mut at = start;
        for (s, e) in cuts {
            if s > at {
                out.push((at, s));
            }
            at = at.max(e);
        }
        if at < end {
            out.push((at, end));
        }
        out
    }
}

/// What the scan found.
#[derive(Clone, Debug, Default)]
pub struct Classified {
    /// The kind of every block, in the table's (address) order.
    pub kinds: Vec<Kind>,
    /// Bytes and blocks of each kind, in [`Kind::ALL`] order.
    pub totals: [(u64, u64); 4],
    /// Still reachable blocks that only a heuristic made so: bytes and
    /// blocks per heuristic, in [`Heuristic::ALL`] order.
    pub heuristics: [(u64, u64); 4],
    /// Bytes of root memory scanned.
    pub root_bytes: u64,
    /// Bytes of blocks scanned.
    pub block_bytes: u64,
    /// Threads whose stacks were roots (their registers too, but for the
    /// exiting thread's).
    pub threads: usize,
    /// Blocks whose memory could not be read (scanned as holding nothing).
    pub unreadable_blocks: u64,
    /// Root memory read in pieces that could not be read (as
    /// `Snapshot::unread`).
    pub unread: Vec<(u64, u64, String)>,
    /// How long the scan took (after the memory was copied).
    pub duration: Duration,
}

/// Classifies every block of `table` from the roots of `snapshot`.
pub fn classify(table: &BlockTable, snapshot: &Snapshot, exclusions: &Exclusions) -> Classified {
    let began = Instant::now();
    let mut scan = Scan::new(table);
    let threads: Vec<_> = snapshot
        .threads
        .iter()
        .filter(|t| !exclusions.contains(t.sp))
        .collect();
    // Where each thread's stack begins to be a root.
    let stack_from = |t: &Thread| match exclusions.exiting {
        Some((tid, sp)) if tid == t.tid && sp != 0 => sp & !7,
        _ => t.sp.saturating_sub(RED_ZONE) & !7,
    };
    // Copied mappings, then those read in pieces (`Snapshot::streamed`):
    // the outcome does not depend on the order roots are scanned in.
    let mut unread = Vec::new();
    let mut piece: Vec<u64> = Vec::new();
    let copied = snapshot.regions.iter().map(|r| (r.start, r.end(), true));
    let streamed = snapshot.streamed.iter().map(|&(s, e)| (s, e, false));
    for (region_start, region_end, is_copy) in copied.chain(streamed) {
        let Some(mapping) = snapshot.maps.iter().find(|m| m.start == region_start) else {
            continue;
        };
        if is_heap(mapping, table, snapshot) {
            continue;
        }
        let lowest_sp = threads
            .iter()
            .filter(|t| mapping.contains(t.sp))
            .map(|t| stack_from(t))
            .min();
        let from = match lowest_sp {
            Some(sp) => sp.clamp(mapping.start, mapping.end),
            None => {
                dead_thread_frames(mapping, &snapshot.threads, snapshot).unwrap_or(mapping.start)
            }
        };
        let libc = is_libc(mapping);
        let mut roots = |words: &[u64]| {
            if libc {
                let kept: Vec<u64> = words
                    .iter()
                    .map(|&w| if chunk_boundary(table, w) { 0 } else { w })
                    .collect();
                scan.roots(&kept, snapshot, snapshot);
            } else {
                scan.roots(words, snapshot, snapshot);
            }
        };
        for (start, end) in exclusions.subtract(from, region_end) {
            if is_copy {
                if let Some(words) = snapshot.words(start, end) {
                    roots(words);
                }
                continue;
            }
            let mut at = start;
            while at < end {
                let to = (at + ROOT_PIECE).min(end);
                piece.clear();
                piece.reserve(((to - at) / 8) as usize);
                let read = read_into(
                    snapshot.pid,
                    at,
                    to,
                    std::mem::take(&mut piece),
                    &mut unread,
                );
                roots(&read.words);
                piece = read.words;
                at = to;
            }
        }
    }
    for thread in threads
        .iter()
        .filter(|t| exclusions.exiting.is_none_or(|(tid, _)| tid != t.tid))
    {
        for &value in &thread.registers {
            scan.register(value, snapshot, snapshot);
        }
    }
    scan.finish(snapshot, snapshot);
    let mut classified = Classified {
        kinds: Vec::with_capacity(table.len()),
        root_bytes: scan.root_bytes,
        block_bytes: scan.block_bytes,
        threads: threads.len(),
        unreadable_blocks: scan.unreadable_blocks,
        unread,
        ..Classified::default()
    };
    for index in 0..table.len() as u32 {
        let kind = scan.kind(index);
        let size = table.size(index);
        let total = &mut classified.totals[kind as usize];
        total.0 += size;
        total.1 += 1;
        if let Some(h) = scan.heuristic(index) {
            let slot = Heuristic::ALL.iter().position(|&x| x == h).unwrap_or(0);
            classified.heuristics[slot].0 += size;
            classified.heuristics[slot].1 += 1;
        }
        classified.kinds.push(kind);
    }
    classified.duration = began.elapsed();
    classified
}

/// Whether `mapping` is the allocator's heap (see the module docs).
fn is_heap(mapping: &Mapping, table: &BlockTable, memory: &dyn Memory) -> bool {
    table.any_start_in(mapping.start, mapping.end)
        || crate::process::is_glibc_heap(mapping, |at| memory.words(at, at + 8).map(|w| w[0]))
}

/// Bytes of a glibc arena heap's `heap_info` that tell it apart.
pub(crate) const ARENA_HEADER: u64 = 32;

/// Whether an anonymous `mapping` could be a glibc arena heap by where it
/// is (its header still to be read and judged by [`is_arena_header`]).
pub(crate) fn may_be_arena_heap(mapping: &Mapping) -> bool {
    mapping.name.is_empty()
        && mapping.start.is_multiple_of(ARENA_HEAP)
        && mapping.len() <= ARENA_HEAP
}

/// Whether the first words of a mapping are a plausible `heap_info`:
/// ar_ptr, prev, size, mprotect_size.
pub(crate) fn is_arena_header(info: &[u64]) -> bool {
    let &[arena, _, size, protected, ..] = info else {
        return false;
    };
    arena != 0 && size > 0 && size <= protected && protected <= ARENA_HEAP
}

/// For the stack of a thread that has exited (kept in glibc's stack cache,
/// or not joined yet), where its last frames begin: valgrind scans a
/// stack only above its thread's last stack pointer, and glibc leaves the
/// 16 KiB below it as they were, stale pointers included.
///
/// glibc keeps the thread's descriptor at the top of the mapping, and it
/// begins with the thread control block, whose first and third words point
/// to itself; no live thread has it as its thread pointer. The descriptor
/// still points into `start_thread`'s frame (`cleanup_jmp_buf`, the
/// highest pointer from it into the stack below it): the thread's last
/// frame. `None` when the mapping holds no such descriptor.
fn dead_thread_frames(mapping: &Mapping, threads: &[Thread], memory: &dyn Memory) -> Option<u64> {
    const SEARCHED: u64 = 16 << 10;
    const DESCRIPTOR: u64 = 4 << 10;
    if !mapping.name.is_empty() || mapping.len() < 2 * SEARCHED {
        return None;
    }
    let from = mapping.end - SEARCHED;
    let words = memory.words(from, mapping.end)?;
    let tcb = (0..words.len().saturating_sub(2)).rev().find_map(|i| {
        let at = from + 8 * i as u64;
        (words[i] == at && words[i + 2] == at).then_some(at)
    })?;
    if threads.iter().any(|t| t.tp == tcb) {
        return None;
    }
    let end = (tcb + DESCRIPTOR).min(mapping.end);
    let descriptor = memory.words(tcb, end)?;
    descriptor
        .iter()
        .copied()
        .filter(|&v| v > mapping.start && v < tcb && v.is_multiple_of(8))
        .max()
}

/// glibc's own writable data (where its main arena lives).
fn is_libc(mapping: &Mapping) -> bool {
    let name = mapping.file_name();
    name.starts_with("libc.so") || (name.starts_with("libc-") && name.ends_with(".so"))
}

/// Whether `value` points into a block exactly at the glibc chunk boundary
/// after it (see the module docs).
fn chunk_boundary(table: &BlockTable, value: u64) -> bool {
    let Some(hit) = table.find(value) else {
        return false;
    };
    if hit.start {
        return false;
    }
    let start = table.start(hit.index);
    let size = table.size(hit.index);
    // glibc's request2size: the chunk holds size + 8 rounded up to 16,
    // at least 32; the next chunk's header is 16 bytes before its data.
    let chunk = (size + 8 + 15).max(32) & !15;
    value == start - 16 + chunk
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excluded_ranges_are_cut_out_of_a_root() {
        let ex = Exclusions {
            ranges: vec![(0x3000, 0x4000), (0x1000, 0x1800), (0x9000, 0xa000)],
            exiting: None,
        };
        assert_eq!(
            ex.subtract(0x1000, 0x5000),
            vec![(0x1800, 0x3000), (0x4000, 0x5000)]
        );
        assert_eq!(ex.subtract(0x3100, 0x3200), vec![]);
        assert!(ex.contains(0x3fff) && !ex.contains(0x4000));
    }

    #[test]
    fn only_the_next_chunks_header_inside_a_block_is_glibcs() {
        // 24 bytes: chunk of 32, next header at +16, inside the block.
        let table = BlockTable::new(vec![(0x1010, 24), (0x1030, 40), (0x1070, 16)]).unwrap();
        assert!(chunk_boundary(&table, 0x1010 + 16));
        assert!(!chunk_boundary(&table, 0x1010 + 8));
        assert!(!chunk_boundary(&table, 0x1010));
        // 40 bytes: chunk of 48, next header at +32.
        assert!(chunk_boundary(&table, 0x1030 + 32));
        // 16 bytes: chunk of 32, next header at +16, past the block.
        assert!(!chunk_boundary(&table, 0x1070 + 16));
    }
}

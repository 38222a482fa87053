//! The size of glibc's heap — its main arena's `brk` heap and every
//! thread arena's heaps — read from `/proc/self/maps` and the heaps' own
//! headers, not from `mallinfo2`.
//!
//! `mallinfo2` walks every free chunk of every arena while holding that
//! arena's lock: the program's `malloc` waits meanwhile. Its cost grows
//! with the free chunks, without warning: under CPython's JSON round trip
//! one call took 0.37 s, after many calls of under a millisecond, and held
//! the interpreter that long. The maps cost about what reading a small
//! file costs, and no lock of the program.
//!
//! A thread arena's heap is a mapping of `HEAP_MAX` bytes (64 MiB on
//! 64-bit glibc) aligned to `HEAP_MAX`, of which the part in use is
//! read-write; it starts with glibc's `heap_info`: the arena's address (in
//! the arena's first heap, just after this header; so within the first
//! page of a `HEAP_MAX`-aligned heap), the previous heap (none, or another
//! `HEAP_MAX`-aligned heap) and the heap's size in bytes. Only mappings
//! with that shape count, so a program's own aligned mapping is not taken
//! for a heap. Chunks glibc maps one by one (large blocks) are not counted
//! here: they go back to the kernel when freed and never fragment.

/// glibc's `HEAP_MAX_SIZE` on 64-bit (`2 * DEFAULT_MMAP_THRESHOLD_MAX`).
pub const HEAP_MAX: u64 = 64 << 20;

/// Bytes of glibc heap in the mappings listed in `maps` (the text of
/// `/proc/PID/maps`): the `[heap]` mapping plus the size each thread
/// arena's heap gives itself. `header` reads a heap's first three words
/// (`None` where nothing is mapped any more).
pub fn heap_bytes(maps: &str, header: impl Fn(u64) -> Option<[u64; 3]>) -> u64 {
    let mut total = 0;
    for line in maps.lines() {
        let mut fields = line.split_ascii_whitespace();
        let (Some(range), Some(perms), Some(_offset), Some(_dev), Some(inode)) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            continue;
        };
        let path = fields.next();
        let Some((start, end)) = range.split_once('-').and_then(|(s, e)| {
            Some((
                u64::from_str_radix(s, 16).ok()?,
                u64::from_str_radix(e, 16).ok()?,
            ))
        }) else {
            continue;
        };
        let length = end.saturating_sub(start);
        if path == Some("[heap]") {
            total += length;
            continue;
        }
        let anonymous = inode == "0" && path.is_none();
        if !anonymous
            || !perms.starts_with("rw")
            || !start.is_multiple_of(HEAP_MAX)
            || length > HEAP_MAX
        {
            continue;
        }
        let Some([arena, previous, size]) = header(start) else {
            continue;
        };
        let arena_offset = arena % HEAP_MAX;
        let looks_like_heap = arena != 0
            && arena.is_multiple_of(16)
            && (16..4096).contains(&arena_offset)
            && previous.is_multiple_of(HEAP_MAX)
            && size >= arena_offset
            // Not `length`: the heap may have grown since the maps were read.
            && size <= HEAP_MAX;
        if looks_like_heap {
            total += size;
        }
    }
    total
}

/// [`heap_bytes`] of this process, or `None` if its maps cannot be read.
pub fn own_heap_bytes() -> Option<u64> {
    let maps = std::fs::read("/proc/self/maps").ok()?;
    let maps = String::from_utf8_lossy(&maps);
    Some(heap_bytes(&maps, |at| {
        let mut words = [0u64; 3];
        crate::sys::read_checked(at, words.as_mut_ptr().cast(), 24).then_some(words)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
55d0c0a00000-55d0c0a21000 r--p 00000000 08:01 1234 /usr/bin/prog
55d0c1000000-55d0c1400000 rw-p 00000000 00:00 0                          [heap]
7f1c04000000-7f1c04121000 rw-p 00000000 00:00 0 
7f1c04121000-7f1c08000000 ---p 00000000 00:00 0 
7f1c08000000-7f1c08021000 rw-p 00000000 00:00 0 
7f1c0c000000-7f1c0c200000 rw-p 00000000 00:00 0 
7f1c10000000-7f1c10100000 rw-p 00000000 08:01 99 /data/file
7f1c14000000-7f1c14030000 rw-p 00000000 00:00 0 
";

    fn header(at: u64) -> Option<[u64; 3]> {
        match at {
            // A thread arena's first heap: its arena just after the header.
            0x7f1c_0400_0000 => Some([0x7f1c_0400_0030, 0, 0x11_c000]),
            // That arena's second heap.
            0x7f1c_1400_0000 => Some([0x7f1c_0400_0030, 0x7f1c_0400_0000, 0x2_1000]),
            // An aligned mapping of the program's own, not a heap.
            0x7f1c_0c00_0000 => Some([0x4141_4141_4141_4141, 7, 9]),
            // Unmapped since the maps were read.
            _ => None,
        }
    }

    #[test]
    fn the_brk_heap_and_thread_arena_heaps_are_counted_and_nothing_else() {
        assert_eq!(heap_bytes(MAPS, header), 0x40_0000 + 0x11_c000 + 0x2_1000);
    }

    #[test]
    fn a_header_larger_than_a_heap_can_be_is_not_a_heap() {
        let bigger = |at: u64| header(at).map(|[a, p, _]| [a, p, HEAP_MAX + 4096]);
        assert_eq!(heap_bytes(MAPS, bigger), 0x40_0000);
    }

    #[test]
    fn a_thread_s_blocks_are_found_in_its_arena_s_heaps() {
        // 32 MiB in blocks below glibc's mmap threshold, allocated and held
        // by a new thread: glibc serves them from a thread arena.
        let (thread_arenas, held) = std::thread::spawn(|| {
            let blocks: Vec<Vec<u8>> = (0..512).map(|i| vec![i as u8; 64 << 10]).collect();
            let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
            let brk_only = heap_bytes(&maps, |_| None);
            let all = own_heap_bytes().unwrap();
            std::hint::black_box(&blocks);
            (all - brk_only, blocks.len() as u64 * (64 << 10))
        })
        .join()
        .unwrap();
        assert!(thread_arenas >= held, "{thread_arenas} < {held}");
    }
}

//! valgrind's leak-check heuristics (`--leak-check-heuristics`, default
//! `all` since valgrind 3.11): interior pointers that C++ and some
//! libraries keep on purpose, which make a block reachable instead of
//! possibly lost. The rules are memcheck's (`heuristic_reachedness` in
//! `mc_leakcheck.c`), tried in its order:
//!
//! - `stdstring`: a pointer 24 bytes into a block laid out as the old
//!   (copy-on-write) `std::string` rep — length, capacity, refcount, then
//!   the characters and a NUL — the block `3 × 8 + capacity + 1` bytes and
//!   length ≤ capacity;
//! - `length64`: a pointer 8 bytes into a block whose first word is the
//!   size of the rest (sqlite keeps its allocations so);
//! - `newarray`: a pointer 8 bytes into a block whose first word is a
//!   plausible element count of a C++ `new[]` array (the cookie): non-zero
//!   and dividing the rest of the block;
//! - `multipleinheritance`: an aligned pointer into a block such that both
//!   the word it points at and the block's first word look like vtable
//!   pointers (a C++ object seen through a second base class).
//!
//! valgrind also requires the words read to be initialised; heapwise
//! cannot know that, and reads them as they are.

use crate::blocks::BlockTable;
use crate::{Memory, Probe};

/// One of valgrind's heuristics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Heuristic {
    /// An old-ABI `std::string` rep.
    StdString,
    /// A block prefixed by the length of the rest.
    Length64,
    /// A C++ `new[]` array behind its element count.
    NewArray,
    /// An object seen through a second base class.
    MultipleInheritance,
}

impl Heuristic {
    /// Every heuristic, in the order they are tried.
    pub const ALL: [Heuristic; 4] = [
        Heuristic::StdString,
        Heuristic::Length64,
        Heuristic::NewArray,
        Heuristic::MultipleInheritance,
    ];

    /// valgrind's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Heuristic::StdString => "stdstring",
            Heuristic::Length64 => "length64",
            Heuristic::NewArray => "newarray",
            Heuristic::MultipleInheritance => "multipleinheritance",
        }
    }

    pub(crate) fn bits(self) -> u8 {
        match self {
            Heuristic::StdString => 1,
            Heuristic::Length64 => 2,
            Heuristic::NewArray => 3,
            Heuristic::MultipleInheritance => 4,
        }
    }

    pub(crate) fn from_bits(bits: u8) -> Option<Heuristic> {
        Heuristic::ALL.into_iter().find(|h| h.bits() == bits)
    }
}

/// The heuristic that accepts `pointer`, an interior pointer into block
/// `index`, if any. `first_is_vtable` remembers, per block, whether its
/// first word is a vtable's address (`None`: not known yet): the multiple
/// inheritance heuristic needs it, and a heap full of interior pointers
/// (perl's) asks it of the same blocks millions of times.
pub fn recognise(
    pointer: u64,
    index: u32,
    table: &BlockTable,
    memory: &dyn Memory,
    probe: &dyn Probe,
    first_is_vtable: &mut Option<bool>,
) -> Option<Heuristic> {
    let start = table.start(index);
    let size = table.size(index);
    let word = |at: u64| -> Option<u64> {
        if !at.is_multiple_of(8) || at + 8 > start + size {
            return None;
        }
        memory.words(at, at + 8).map(|w| w[0])
    };
    if pointer == start + 24
        && let Some(capacity) = word(start + 8)
        && capacity.checked_add(25) == Some(size)
        && let Some(length) = word(start)
        && length <= capacity
    {
        return Some(Heuristic::StdString);
    }
    if pointer == start + 8
        && let Some(length) = word(start)
        && length > 0
        && size - 8 == length
    {
        return Some(Heuristic::Length64);
    }
    if pointer == start + 8
        && let Some(count) = word(start)
        && count > 0
        && (size - 8).is_multiple_of(count)
    {
        return Some(Heuristic::NewArray);
    }
    if pointer.is_multiple_of(8)
        && *first_is_vtable.get_or_insert_with(|| {
            word(start).is_some_and(|first| {
                first.is_multiple_of(8) && first >= 4096 && probe.is_vtable(first)
            })
        })
        && let Some(inner) = word(pointer)
        && inner.is_multiple_of(8)
        && inner >= 4096
        && probe.is_vtable(inner)
    {
        return Some(Heuristic::MultipleInheritance);
    }
    None
}

/// valgrind's test of a vtable address (`aligned_ptr_above_page0_is_vtable_addr`):
/// `address` lies in a readable mapping of a file, and among the words
/// from it (up to 21, not past that mapping's end less a word) the first
/// two that are not zero point into executable mappings of files, with no
/// other non-zero word before them. `mapping` tells the mapping that holds
/// an address (readable file mapping: `Some(false)`; executable one:
/// `Some(true)`; anything else: `None`) with its end; `read` reads a word.
pub fn looks_like_vtable(
    address: u64,
    mapping: impl Fn(u64) -> Option<(bool, u64)>,
    read: impl Fn(u64) -> Option<u64>,
) -> bool {
    let Some((_, end)) = mapping(address) else {
        return false;
    };
    // valgrind's bound: its segment end is inclusive, and it stops a word
    // before it.
    let last = (address + 20 * 8).min(end.saturating_sub(1 + 8));
    let mut functions = 0;
    let mut at = address;
    while at <= last {
        let Some(target) = read(at) else {
            return false;
        };
        at += 8;
        if target == 0 {
            continue;
        }
        if !matches!(mapping(target), Some((true, _))) {
            return false;
        }
        functions += 1;
        if functions == 2 {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{Heap, NoProbe};

    fn found(heap: &Heap, pointer: u64) -> Option<Heuristic> {
        let table = heap.table();
        let hit = table.find(pointer).unwrap();
        assert!(!hit.start);
        recognise(pointer, hit.index, &table, heap, &NoProbe, &mut None)
    }

    #[test]
    fn an_old_std_string_rep_is_recognised_by_its_capacity() {
        let mut heap = Heap::default();
        let rep = heap.block(24 + 10 + 1);
        heap.set(rep, 0, 7);
        heap.set(rep, 8, 10);
        assert_eq!(found(&heap, rep + 24), Some(Heuristic::StdString));
        heap.set(rep, 0, 11);
        assert_eq!(found(&heap, rep + 24), None, "length beyond capacity");
    }

    #[test]
    fn a_length_prefix_and_a_new_array_cookie_are_recognised() {
        let mut heap = Heap::default();
        let prefixed = heap.block(8 + 40);
        heap.set(prefixed, 0, 40);
        assert_eq!(found(&heap, prefixed + 8), Some(Heuristic::Length64));
        let array = heap.block(8 + 3 * 16);
        heap.set(array, 0, 3);
        assert_eq!(found(&heap, array + 8), Some(Heuristic::NewArray));
        heap.set(array, 0, 5);
        assert_eq!(found(&heap, array + 8), None, "48 is not 5 elements");
        assert_eq!(found(&heap, array + 16), None, "not behind the cookie");
    }

    #[test]
    fn a_vtable_is_two_code_pointers_before_anything_else() {
        // Mappings: [0x1000, 0x2000) read-only file data, [0x8000, 0x9000)
        // code.
        let mapping = |a: u64| match a {
            0x1000..0x2000 => Some((false, 0x2000)),
            0x8000..0x9000 => Some((true, 0x9000)),
            _ => None,
        };
        let words = |table: &'static [(u64, u64)]| {
            move |a: u64| Some(table.iter().find(|w| w.0 == a).map_or(0, |w| w.1))
        };
        assert!(looks_like_vtable(
            0x1100,
            mapping,
            words(&[(0x1100, 0), (0x1108, 0x8010), (0x1110, 0x8020)])
        ));
        assert!(!looks_like_vtable(
            0x1100,
            mapping,
            words(&[(0x1100, 0x8010), (0x1108, 0x1234)])
        ));
        assert!(!looks_like_vtable(0x5000, mapping, words(&[])));
        // Near the mapping's end valgrind stops a word early.
        assert!(!looks_like_vtable(
            0x1ff0,
            mapping,
            words(&[(0x1ff0, 0x8010), (0x1ff8, 0x8020)])
        ));
    }
}

//! Trace events as replay operations: the one place that turns a decoded
//! [`Event`] into the [`Queued`] operations the merge orders and the replay
//! applies, through [`split`]: `pipeline.rs` gathers them in batches (and
//! pairs frees with their allocations), for the report's two threads and
//! for the follower of a trace still being written alike.

use heapwise_trace::{Event, StackId};

/// One allocation-side event, ready for replay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// A block was allocated.
    Alloc {
        /// Pointer.
        ptr: u64,
        /// Requested size.
        size: u64,
        /// Call stack.
        stack: StackId,
    },
    /// A block was freed.
    Free {
        /// Pointer.
        ptr: u64,
    },
    /// An allocation whose free is known (it comes later in the same
    /// stream): it never needs to enter the map of live blocks.
    AllocPaired {
        /// Pointer.
        ptr: u64,
        /// Requested size.
        size: u64,
        /// Call stack.
        stack: StackId,
    },
    /// The free of an [`Op::AllocPaired`], with what it frees.
    FreePaired {
        /// Pointer.
        ptr: u64,
        /// Size of the block.
        size: u64,
        /// Call stack of its allocation.
        stack: StackId,
    },
}

/// A decoded event in 32 bytes, as queued and as sent between threads: the
/// size's top bit says "free" (a free has no size; an allocation of 2^63
/// bytes or more cannot exist).
#[derive(Clone, Copy, Debug)]
pub struct Queued {
    tick: u64,
    ptr: u64,
    size_or_free: u64,
    stack: StackId,
    stream: u32,
}

const FREE_BIT: u64 = 1 << 63;
/// Set on both halves of a pair (see [`Op::AllocPaired`]).
const PAIRED_BIT: u64 = 1 << 62;
const SIZE_MASK: u64 = PAIRED_BIT - 1;

impl Queued {
    /// The event `op` of `stream` at `tick`.
    #[inline(always)]
    pub fn new(stream: u32, tick: u64, op: Op) -> Queued {
        let (ptr, size_or_free, stack) = match op {
            Op::Alloc { ptr, size, stack } => (ptr, size & SIZE_MASK, stack),
            Op::Free { ptr } => (ptr, FREE_BIT, 0),
            Op::AllocPaired { ptr, size, stack } => (ptr, PAIRED_BIT | (size & SIZE_MASK), stack),
            Op::FreePaired { ptr, size, stack } => {
                (ptr, FREE_BIT | PAIRED_BIT | (size & SIZE_MASK), stack)
            }
        };
        Queued {
            tick,
            ptr,
            size_or_free,
            stack,
            stream,
        }
    }

    /// What the event does.
    #[inline(always)]
    pub fn op(&self) -> Op {
        let (ptr, size, stack) = (self.ptr, self.size_or_free & SIZE_MASK, self.stack);
        // The two top bits: FREE_BIT, PAIRED_BIT.
        match self.size_or_free >> 62 {
            0 => Op::Alloc { ptr, size, stack },
            1 => Op::AllocPaired { ptr, size, stack },
            2 => Op::Free { ptr },
            _ => Op::FreePaired { ptr, size, stack },
        }
    }

    /// When it happened.
    #[inline(always)]
    pub fn tick(&self) -> u64 {
        self.tick
    }

    /// The stream (thread) it happened on.
    #[inline(always)]
    pub fn stream(&self) -> u32 {
        self.stream
    }

    /// Whether this is an allocation not yet paired with its free.
    #[inline(always)]
    pub fn pairable(&self) -> bool {
        self.size_or_free & (FREE_BIT | PAIRED_BIT) == 0
    }

    /// Marks an allocation as paired with a later free of the same stream.
    #[inline(always)]
    pub fn set_paired(&mut self) {
        self.size_or_free |= PAIRED_BIT;
    }

    /// Makes this free the pair of `alloc` (carrying its size and stack).
    #[inline(always)]
    pub fn pair_with(&mut self, alloc: &Queued) {
        self.size_or_free = FREE_BIT | PAIRED_BIT | (alloc.size_or_free & SIZE_MASK);
        self.stack = alloc.stack;
    }

    /// Frees sort before allocations at equal ticks.
    #[inline(always)]
    pub fn key(&self) -> (u64, u8) {
        (self.tick, u8::from(self.size_or_free & FREE_BIT == 0))
    }
}

/// How an operation links to others of its stream, for pairing a free
/// with its allocation (the trace numbers a stream's recent allocations).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// An allocation with this number (0: not numbered).
    Alloc(u32),
    /// A free of the allocation with this number (0: not known).
    Free(u32),
}

/// Turns one event into its operations, in order, passing each to `op`;
/// returns whether the event was an allocation, a free or a realloc (the
/// caller handles the others). A realloc is two operations: the free of
/// the old block, stamped when the call began (its memory may be handed
/// to another thread from then on), and the allocation of the new block,
/// stamped when it returned; `realloc(NULL, n)` is only the allocation.
#[inline(always)]
pub fn split(event: &Event<'_>, mut op: impl FnMut(Queued, Link)) -> bool {
    match *event {
        Event::Alloc {
            stream,
            ptr,
            size,
            stack,
            ts,
            seq,
            ..
        } => op(
            Queued::new(stream, ts, Op::Alloc { ptr, size, stack }),
            Link::Alloc(seq),
        ),
        Event::Free {
            stream,
            ptr,
            ts,
            of_seq,
        } => op(
            Queued::new(stream, ts, Op::Free { ptr }),
            Link::Free(of_seq),
        ),
        Event::Realloc {
            stream,
            old,
            new,
            size,
            stack,
            entry,
            ts,
            seq,
            ..
        } => {
            if old != 0 {
                op(
                    Queued::new(stream, entry, Op::Free { ptr: old }),
                    Link::Free(0),
                );
            }
            op(
                Queued::new(
                    stream,
                    ts,
                    Op::Alloc {
                        ptr: new,
                        size,
                        stack,
                    },
                ),
                Link::Alloc(seq),
            );
        }
        _ => return false,
    }
    true
}

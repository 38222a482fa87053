//! Putting the events of all threads back in time order before replay.
//!
//! Each thread's stream is in order, but the file holds them block by
//! block. The writer ends every pass over the streams with a `SYNC(t)`
//! record: every event stamped before `t` was committed — and so is in the
//! file — by then, except one a thread had stamped but not yet committed
//! when the pass began. So events are queued per stream and released, in
//! timestamp order, up to the tick of the *previous* `SYNC`, which leaves
//! a whole pass for such late records to arrive. Memory is about two passes
//! of events; the streams are already sorted, so releasing is a k-way merge
//! over the streams that have queued events.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use heapwise_trace::{ControlRecord, Event, StackId, StackTable, Visitor};

use crate::replay::Replay;

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
}

#[derive(Clone, Copy, Debug)]
struct Queued {
    tick: u64,
    op: Op,
}

/// Orders events by time and feeds them to a [`Replay`].
pub struct Merger {
    /// The replay fed in order.
    pub replay: Replay,
    queues: Vec<VecDeque<Queued>>,
    /// Release everything stamped before this tick at the next `SYNC`.
    horizon: u64,
    heap: BinaryHeap<Reverse<(u64, u8, usize)>>,
}

impl Merger {
    /// A merger feeding `replay`.
    pub fn new(replay: Replay) -> Merger {
        Merger {
            replay,
            queues: Vec::new(),
            horizon: 0,
            heap: BinaryHeap::new(),
        }
    }

    fn push(&mut self, stream: u32, tick: u64, op: Op) {
        let index = stream as usize;
        if index >= self.queues.len() {
            self.queues.resize_with(index + 1, VecDeque::new);
        }
        self.queues[index].push_back(Queued { tick, op });
    }

    /// Replays, in time order, every queued event stamped before `limit`.
    fn release(&mut self, limit: u64) {
        self.heap.clear();
        for (index, queue) in self.queues.iter().enumerate() {
            if let Some(first) = queue.front()
                && first.tick < limit
            {
                self.heap
                    .push(Reverse((first.tick, order(&first.op), index)));
            }
        }
        while let Some(Reverse((_, _, index))) = self.heap.pop() {
            let queue = &mut self.queues[index];
            // Drain this stream while it stays ahead of every other one.
            let next_other = self
                .heap
                .peek()
                .map(|Reverse((tick, kind, _))| (*tick, *kind));
            while let Some(event) = queue.front().copied() {
                if event.tick >= limit {
                    break;
                }
                if let Some(other) = next_other
                    && (event.tick, order(&event.op)) > other
                {
                    self.heap
                        .push(Reverse((event.tick, order(&event.op), index)));
                    break;
                }
                queue.pop_front();
                self.replay.apply(event.tick, event.op);
            }
        }
    }

    /// Replays everything still queued (the end of the trace).
    pub fn finish(&mut self) {
        self.release(u64::MAX);
    }
}

/// At equal ticks frees go first: a free is stamped before the block is
/// returned, an allocation after it was handed out, so a tie between two
/// threads can only mean the free came first. (Within one stream, order is
/// kept by the queue.)
fn order(op: &Op) -> u8 {
    match op {
        Op::Free { .. } => 0,
        Op::Alloc { .. } => 1,
    }
}

impl Visitor for Merger {
    #[inline]
    fn event(&mut self, event: Event<'_>, _stacks: &StackTable) {
        match event {
            Event::Alloc {
                stream,
                ptr,
                size,
                stack,
                ts,
                ..
            } => self.push(stream, ts, Op::Alloc { ptr, size, stack }),
            Event::Free { stream, ptr, ts } => self.push(stream, ts, Op::Free { ptr }),
            Event::Realloc {
                stream,
                old,
                new,
                size,
                stack,
                entry,
                ts,
                ..
            } => {
                if old != 0 {
                    self.push(stream, entry, Op::Free { ptr: old });
                }
                self.push(
                    stream,
                    ts,
                    Op::Alloc {
                        ptr: new,
                        size,
                        stack,
                    },
                );
            }
            Event::Thread { .. } => self.replay.threads += 1,
            Event::Lost { count, .. } => self.replay.lost += count,
            Event::Control(ControlRecord::Sync { tick }) => {
                let horizon = std::mem::replace(&mut self.horizon, *tick);
                self.release(horizon);
            }
            Event::Control(record) => self.replay.control(record),
        }
    }
}

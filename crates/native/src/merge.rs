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
use std::collections::BinaryHeap;

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

impl Queued {
    /// The event `op` of `stream` at `tick`.
    #[inline(always)]
    pub fn new(stream: u32, tick: u64, op: Op) -> Queued {
        match op {
            Op::Alloc { ptr, size, stack } => Queued {
                tick,
                ptr,
                size_or_free: size & !FREE_BIT,
                stack,
                stream,
            },
            Op::Free { ptr } => Queued {
                tick,
                ptr,
                size_or_free: FREE_BIT,
                stack: 0,
                stream,
            },
        }
    }

    #[inline(always)]
    fn op(&self) -> Op {
        if self.size_or_free == FREE_BIT {
            Op::Free { ptr: self.ptr }
        } else {
            Op::Alloc {
                ptr: self.ptr,
                size: self.size_or_free,
                stack: self.stack,
            }
        }
    }

    /// Frees sort before allocations at equal ticks.
    #[inline(always)]
    fn key(&self) -> (u64, u8) {
        (self.tick, u8::from(self.size_or_free != FREE_BIT))
    }
}

/// One stream's events not yet replayed, oldest first from `head`.
#[derive(Default)]
struct Queue {
    events: Vec<Queued>,
    head: usize,
}

impl Queue {
    #[inline(always)]
    fn front(&self) -> Option<&Queued> {
        self.events.get(self.head)
    }

    /// Drops the consumed prefix once it is most of the buffer.
    fn compact(&mut self) {
        if self.head == self.events.len() {
            self.events.clear();
            self.head = 0;
        } else if self.head > 4096 && self.head * 2 > self.events.len() {
            self.events.drain(..self.head);
            self.head = 0;
        }
    }
}

/// Orders events by time and feeds them to a [`Replay`].
pub struct Merger {
    /// The replay fed in order.
    pub replay: Replay,
    queues: Vec<Queue>,
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

    /// Queues one event of `stream`.
    #[inline(always)]
    pub fn push(&mut self, stream: u32, tick: u64, op: Op) {
        self.push_queued(Queued::new(stream, tick, op));
    }

    /// Queues one event.
    #[inline(always)]
    pub fn push_queued(&mut self, event: Queued) {
        let index = event.stream as usize;
        if index >= self.queues.len() {
            self.queues.resize_with(index + 1, Queue::default);
        }
        self.queues[index].events.push(event);
    }

    /// Replays, in time order, every queued event stamped before `limit`.
    fn release(&mut self, limit: u64) {
        self.heap.clear();
        for (index, queue) in self.queues.iter().enumerate() {
            if let Some(first) = queue.front()
                && first.tick < limit
            {
                let (tick, kind) = first.key();
                self.heap.push(Reverse((tick, kind, index)));
            }
        }
        while let Some(Reverse((_, _, index))) = self.heap.pop() {
            let queue = &mut self.queues[index];
            // Replay this stream while it stays ahead of every other one.
            let next_other = self
                .heap
                .peek()
                .map(|Reverse((tick, kind, _))| (*tick, *kind));
            let mut head = queue.head;
            while let Some(event) = queue.events.get(head) {
                if event.tick >= limit {
                    break;
                }
                if let Some(other) = next_other
                    && event.key() > other
                {
                    let (tick, kind) = event.key();
                    self.heap.push(Reverse((tick, kind, index)));
                    break;
                }
                self.replay.apply(event.stream, event.tick, event.op());
                head += 1;
            }
            queue.head = head;
        }
        for queue in &mut self.queues {
            queue.compact();
        }
    }

    /// Applies a control record; a `SYNC` releases what it makes safe.
    pub fn control(&mut self, record: &ControlRecord) {
        match record {
            ControlRecord::Sync { tick } => {
                let horizon = std::mem::replace(&mut self.horizon, *tick);
                self.release(horizon);
            }
            other => self.replay.control(other),
        }
    }

    /// Replays everything still queued (the end of the trace).
    pub fn finish(&mut self) {
        self.release(u64::MAX);
    }
}

// At equal ticks frees go first (`Queued::key`): a free is stamped before
// the block is returned, an allocation after it was handed out, so a tie
// between two threads can only mean the free came first. (Within one
// stream, order is kept by the queue.)

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
            Event::Control(record) => self.control(record),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ClockFit;
    use heapwise_trace::{ClockSync, TickSource};

    fn merger() -> Merger {
        Merger::new(Replay::new(ClockFit::new(
            TickSource::MonotonicNs,
            ClockSync::default(),
        )))
    }

    fn sync(m: &mut Merger, tick: u64) {
        m.control(&ControlRecord::Sync { tick });
    }

    #[test]
    fn a_block_handed_between_threads_is_paired_in_time_order_not_file_order() {
        // Thread 2 allocates P at 10 and frees it at 20; thread 3 gets P at
        // 30 and keeps it. The file holds thread 3's segment first.
        let mut m = merger();
        m.push(
            3,
            30,
            Op::Alloc {
                ptr: 0x10,
                size: 64,
                stack: 7,
            },
        );
        m.push(
            2,
            10,
            Op::Alloc {
                ptr: 0x10,
                size: 32,
                stack: 5,
            },
        );
        m.push(2, 20, Op::Free { ptr: 0x10 });
        sync(&mut m, 40);
        sync(&mut m, 50);
        assert_eq!(m.replay.live_allocations(), 1);
        assert_eq!(m.replay.stacks[7].live_bytes, 64);
        assert_eq!(m.replay.stacks[5].live_bytes, 0);
        assert_eq!(m.replay.reordered, 0, "nothing needed the fallback");
    }

    #[test]
    fn events_wait_one_sync_for_late_records_of_other_threads() {
        let mut m = merger();
        m.push(
            2,
            10,
            Op::Alloc {
                ptr: 0x10,
                size: 1,
                stack: 1,
            },
        );
        sync(&mut m, 100);
        // Not yet: a record stamped before 100 may still come.
        assert_eq!(m.replay.allocations, 0);
        // Thread 3 had stamped its free at 15 but committed it late.
        m.push(3, 15, Op::Free { ptr: 0x10 });
        sync(&mut m, 200);
        assert_eq!((m.replay.allocations, m.replay.frees), (1, 1));
        assert_eq!(m.replay.live_allocations(), 0);
        m.finish();
        assert_eq!(m.replay.reordered, 0);
    }

    #[test]
    fn at_equal_ticks_a_free_of_another_thread_goes_first() {
        let mut m = merger();
        m.push(
            2,
            5,
            Op::Alloc {
                ptr: 0x40,
                size: 8,
                stack: 1,
            },
        );
        m.push(
            3,
            9,
            Op::Alloc {
                ptr: 0x40,
                size: 16,
                stack: 2,
            },
        );
        m.push(2, 9, Op::Free { ptr: 0x40 });
        m.finish();
        assert_eq!(m.replay.stacks[2].live_bytes, 16);
        assert_eq!(m.replay.live_allocations(), 1);
    }

    #[test]
    fn a_queued_event_round_trips_its_operation() {
        for op in [
            Op::Alloc {
                ptr: 1,
                size: 0,
                stack: 3,
            },
            Op::Alloc {
                ptr: 2,
                size: u64::MAX >> 1,
                stack: 0,
            },
            Op::Free { ptr: 9 },
        ] {
            assert_eq!(Queued::new(4, 7, op).op(), op);
        }
    }
}

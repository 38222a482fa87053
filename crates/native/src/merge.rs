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
//!
//! A `SYNC` often allows more: a thread commits its records in the order it
//! stamps them, so the one record a thread may have had in flight when the
//! writer copied its stream is stamped no earlier than that stream's newest
//! record in the file — and, for a stream with no records in the pass, no
//! earlier than the previous `SYNC` (records wait at most one pass). So
//! everything stamped before the oldest of the newest records of the
//! streams that wrote in the pass (but not past the `SYNC` itself, nor
//! before the previous one) is released: with busy threads that is nearly
//! the whole pass, which halves the memory of queued events. (A thread's
//! very first records, from before its stream existed in the file, are the
//! exception: if one comes late, the replay's fallback pairs it, below.)
//!
//! The merge works in slices of [`SLICE_NS`]: a stream is replayed until
//! its next event is more than that later than another stream's next one.
//! Threads that allocate at the same time interleave every event or two,
//! and switching streams at each costs a heap operation — a fifth of the
//! replay of a two-thread trace (`bench/native.py`). Slices keep causal
//! order (a block is freed after it was allocated, on any thread: the
//! allocation is replayed first unless it is stamped within the slice after
//! the free, and the replay pairs such a late allocation with its early
//! free, see [`crate::replay`]); what they can change is the order of
//! unrelated events of two threads within one microsecond, and so the peak
//! by at most what one thread allocates in that time. The trace's own
//! timestamps are no finer: a free of a recent block carries its thread's
//! previous timestamp.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use heapwise_trace::ControlRecord;

use crate::ops::{self, Queued};
use crate::replay::Replay;

/// One stream's events not yet replayed: runs of events in order, the
/// first consumed up to `head`.
#[derive(Default)]
struct Queue {
    runs: std::collections::VecDeque<Vec<Queued>>,
    head: usize,
}

impl Queue {
    #[inline(always)]
    fn front(&self) -> Option<&Queued> {
        self.runs.front().and_then(|run| run.get(self.head))
    }

    /// Drops the front run, used up; it goes to `spare`.
    fn next_run(&mut self, spare: &mut Vec<Vec<Queued>>) {
        if let Some(mut run) = self.runs.pop_front()
            && spare.len() < MAX_SPARE_RUNS
        {
            run.clear();
            spare.push(run);
        }
        self.head = 0;
    }
}

/// The time one stream is replayed ahead of the others before switching.
pub const SLICE_NS: f64 = 1_000.0;

/// How many events ahead of the one being applied the replay starts
/// loading its live-block table (see `Replay::prefetch`).
const PREFETCH_AHEAD: usize = 16;

/// Used-up runs kept for reuse (see [`Merger::take_spare`]).
const MAX_SPARE_RUNS: usize = 4;

/// Orders events by time and feeds them to a [`Replay`].
#[derive(Default)]
pub struct Merger {
    queues: Vec<Queue>,
    spare: Vec<Vec<Queued>>,
    /// Release everything stamped before this tick at the next `SYNC`.
    horizon: u64,
    /// Per stream, the newest tick queued since the last `SYNC`.
    pass_last: Vec<Option<u64>>,
    heap: BinaryHeap<Reverse<(u64, u8, usize)>>,
}

impl Merger {
    /// An empty merger.
    pub fn new() -> Merger {
        Merger::default()
    }

    /// Queues one event of `stream`.
    #[inline(always)]
    pub fn push(&mut self, stream: u32, tick: u64, op: ops::Op) {
        self.push_queued(Queued::new(stream, tick, op));
    }

    /// Queues a run of `stream`'s events (in order, after what is queued),
    /// without copying them.
    pub fn take_run(&mut self, stream: u32, events: Vec<Queued>) {
        let index = stream as usize;
        if index >= self.queues.len() {
            self.queues.resize_with(index + 1, Queue::default);
        }
        if let Some(last) = events.last() {
            self.note_pass(index, last.tick());
            self.queues[index].runs.push_back(events);
        }
    }

    #[inline(always)]
    fn note_pass(&mut self, index: usize, tick: u64) {
        if index >= self.pass_last.len() {
            self.pass_last.resize(index + 1, None);
        }
        let last = &mut self.pass_last[index];
        *last = Some(last.map_or(tick, |t| t.max(tick)));
    }

    /// How far a `SYNC` at `tick` lets events be released (see the module
    /// documentation), and the start of the next pass.
    fn release_limit(&mut self, tick: u64) -> u64 {
        let floor = std::mem::replace(&mut self.horizon, tick);
        let newest = self.pass_last.iter_mut().filter_map(Option::take).min();
        match newest {
            Some(newest) => newest.min(tick).max(floor),
            None => floor,
        }
    }

    /// An empty vector that held a run replayed since, to be filled again
    /// (its memory is already mapped: reusing it spares the reading thread
    /// page faults).
    pub fn take_spare(&mut self) -> Option<Vec<Queued>> {
        self.spare.pop()
    }

    /// Queues one event.
    #[inline(always)]
    pub fn push_queued(&mut self, event: Queued) {
        let index = event.stream() as usize;
        if index >= self.queues.len() {
            self.queues.resize_with(index + 1, Queue::default);
        }
        self.note_pass(index, event.tick());
        let queue = &mut self.queues[index];
        match queue.runs.back_mut() {
            Some(run) if run.len() < 4096 => run.push(event),
            _ => {
                let mut run = self.spare.pop().unwrap_or_default();
                run.push(event);
                queue.runs.push_back(run);
            }
        }
    }

    /// Replays, in time order, every queued event stamped before `limit`.
    fn release(&mut self, limit: u64, replay: &mut Replay) {
        let slice = (SLICE_NS / replay.clock.clock().ns_per_tick().max(1e-3)) as u64;
        self.heap.clear();
        for (index, queue) in self.queues.iter().enumerate() {
            if let Some(first) = queue.front()
                && first.tick() < limit
            {
                let (tick, kind) = first.key();
                self.heap.push(Reverse((tick, kind, index)));
            }
        }
        while let Some(Reverse((_, _, index))) = self.heap.pop() {
            let queue = &mut self.queues[index];
            // Replay this stream until it is a slice ahead of another one
            // (or reaches the limit).
            let stop = self.heap.peek().map_or(limit, |Reverse((tick, _, _))| {
                tick.saturating_add(slice).saturating_add(1).min(limit)
            });
            while let Some(run) = queue.runs.front() {
                let events = &run[queue.head..];
                let done = events
                    .iter()
                    .position(|event| event.tick() >= stop)
                    .unwrap_or(events.len());
                for (i, event) in events[..done].iter().enumerate() {
                    // Start the live table's cache miss a few events ahead.
                    if let Some(ahead) = events.get(i + PREFETCH_AHEAD) {
                        replay.prefetch(ahead);
                    }
                    replay.apply(event.stream(), event.tick(), event.op());
                }
                replay.applied(done);
                if done < events.len() {
                    let next = events[done];
                    queue.head += done;
                    if next.tick() < limit {
                        let (tick, kind) = next.key();
                        self.heap.push(Reverse((tick, kind, index)));
                    }
                    break;
                }
                queue.next_run(&mut self.spare);
            }
        }
    }

    /// Applies a control record; a `SYNC` releases what it makes safe.
    pub fn control(&mut self, record: &ControlRecord, replay: &mut Replay) {
        match record {
            ControlRecord::Sync { tick } => {
                let limit = self.release_limit(*tick);
                self.release(limit, replay);
            }
            other => replay.control(other),
        }
    }

    /// Replays everything still queued (the end of the trace).
    pub fn finish(&mut self, replay: &mut Replay) {
        self.release(u64::MAX, replay);
    }
}

// At equal ticks frees go first (`Queued::key`): a free is stamped before
// the block is returned, an allocation after it was handed out, so a tie
// between two threads can only mean the free came first. (Within one
// stream, order is kept by the queue.)

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ClockFit;
    use crate::ops::Op;
    use heapwise_trace::StackId;
    use heapwise_trace::{ClockSync, TickSource};

    struct M {
        merger: Merger,
        replay: Replay,
    }

    impl M {
        fn push(&mut self, stream: u32, tick: u64, op: Op) {
            self.merger.push(stream, tick, op);
        }

        fn finish(&mut self) {
            self.merger.finish(&mut self.replay);
        }
    }

    fn merger() -> M {
        M {
            merger: Merger::new(),
            replay: Replay::new(ClockFit::new(TickSource::MonotonicNs, ClockSync::default())),
        }
    }

    fn sync(m: &mut M, tick: u64) {
        m.merger
            .control(&ControlRecord::Sync { tick }, &mut m.replay);
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
        assert_eq!(m.replay.reordered(), 0, "nothing needed the fallback");
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
        assert_eq!(m.replay.reordered(), 0);
    }

    fn alloc(ptr: u64, size: u64, stack: StackId) -> Op {
        Op::Alloc { ptr, size, stack }
    }

    #[test]
    fn a_sync_releases_up_to_the_oldest_newest_record_of_the_streams_that_wrote() {
        let mut m = merger();
        let replayed = |m: &M| m.replay.allocations + m.replay.frees;
        m.push(2, 10, alloc(0x10, 8, 1));
        m.push(2, 20, alloc(0x20, 8, 1));
        m.push(2, 30, alloc(0x30, 8, 1));
        m.push(3, 15, alloc(0x40, 8, 2));
        m.push(3, 25, alloc(0x50, 8, 2));
        sync(&mut m, 40);
        // Thread 3 may still have a record from 25 on in flight.
        assert_eq!(replayed(&m), 3);
        // It had: a free, at 27, of thread 2's block from 20.
        m.push(3, 27, Op::Free { ptr: 0x20 });
        m.push(2, 50, alloc(0x60, 8, 1));
        sync(&mut m, 60);
        // Not past the previous SYNC, even though thread 3's newest is 27.
        assert_eq!(replayed(&m), 6);
        // A thread with nothing in the last pass stamps its late record
        // after the previous SYNC at the earliest.
        m.push(4, 45, Op::Free { ptr: 0x10 });
        sync(&mut m, 80);
        assert_eq!(replayed(&m), 8);
        m.finish();
        assert_eq!(m.replay.reordered(), 0, "everything in time order");
        assert_eq!(m.replay.live_allocations(), 4);
    }

    #[test]
    fn streams_interleave_by_time_beyond_a_slice() {
        // Ticks are nanoseconds here: events 5 µs apart are replayed in
        // time order, so the peak is the true one.
        let mut m = merger();
        m.push(2, 0, alloc(0x10, 100, 1));
        m.push(2, 10_000, Op::Free { ptr: 0x10 });
        m.push(2, 12_000, alloc(0x30, 70, 1));
        m.push(3, 5_000, alloc(0x20, 50, 2));
        m.push(3, 20_000, Op::Free { ptr: 0x20 });
        m.finish();
        assert_eq!(m.replay.peak_live_bytes, 150);
        assert_eq!(m.replay.live_bytes, 70);
    }

    #[test]
    fn within_a_slice_a_free_replayed_before_its_allocation_still_pairs() {
        // Thread 3's events at 0 and 20 ns are replayed together, before
        // thread 2's allocation at 10 ns of the block thread 3 frees at 20.
        let mut m = merger();
        m.push(3, 0, alloc(0x90, 8, 3));
        m.push(3, 20, Op::Free { ptr: 0x10 });
        m.push(2, 10, alloc(0x10, 100, 1));
        m.finish();
        assert_eq!(m.replay.live_allocations(), 1);
        assert_eq!(m.replay.stacks[1].live_bytes, 0);
        assert_eq!(m.replay.stacks[3].live_bytes, 8);
        assert_eq!((m.replay.allocations, m.replay.frees), (2, 1));
        assert_eq!(m.replay.reordered(), 1, "paired by the replay's fallback");
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
        // Sizes up to 2^62 - 1: no allocation comes near that.
        let ops = [
            Op::Alloc {
                ptr: 1,
                size: 0,
                stack: 3,
            },
            Op::Alloc {
                ptr: 2,
                size: (1 << 62) - 1,
                stack: 0,
            },
            Op::Free { ptr: 9 },
            Op::AllocPaired {
                ptr: 3,
                size: 40,
                stack: 8,
            },
            Op::FreePaired {
                ptr: 3,
                size: 40,
                stack: 8,
            },
        ];
        for op in ops {
            assert_eq!(Queued::new(4, 7, op).op(), op);
        }
        let mut alloc = Queued::new(
            2,
            1,
            Op::Alloc {
                ptr: 5,
                size: 24,
                stack: 6,
            },
        );
        let mut free = Queued::new(2, 2, Op::Free { ptr: 5 });
        assert!(alloc.pairable() && !free.pairable());
        alloc.set_paired();
        free.pair_with(&alloc);
        assert!(!alloc.pairable());
        assert_eq!(
            alloc.op(),
            Op::AllocPaired {
                ptr: 5,
                size: 24,
                stack: 6
            }
        );
        assert_eq!(
            free.op(),
            Op::FreePaired {
                ptr: 5,
                size: 24,
                stack: 6
            }
        );
    }
}

//! Reading and replaying on two threads: one reads, decompresses and
//! decodes the trace; the other merges the streams back into time order
//! and replays them. Decoded events travel in batches through a small
//! bounded channel (so memory stays bounded however long the trace), and
//! emptied batches travel back to be reused.

use std::sync::mpsc;

use heapwise_trace::{
    ControlRecord, Event, Header, ReadStatus, StackTable, TraceError, TraceReader, Visitor,
};

use crate::merge::{Merger, Op, Queued};

/// Events decoded in file order, with the control records that came
/// between them.
#[derive(Default)]
struct Batch {
    ops: Vec<Queued>,
    /// (number of ops before it, record).
    controls: Vec<(usize, ControlRecord)>,
    lost: u64,
    threads: u64,
}

impl Batch {
    fn clear(&mut self) {
        self.ops.clear();
        self.controls.clear();
        self.lost = 0;
        self.threads = 0;
    }
}

/// Events per batch: large enough that channel costs vanish, small enough
/// to stay in cache.
const BATCH: usize = 16 * 1024;
/// Batches in flight.
const DEPTH: usize = 4;

struct Collector {
    batch: Batch,
    full: mpsc::SyncSender<Batch>,
    empty: mpsc::Receiver<Batch>,
}

impl Collector {
    fn send(&mut self) {
        let next = self.empty.try_recv().unwrap_or_default();
        let batch = std::mem::replace(&mut self.batch, next);
        // The replay thread only hangs up if it failed; reading stops then.
        let _ = self.full.send(batch);
    }

    #[inline]
    fn op(&mut self, stream: u32, tick: u64, op: Op) {
        self.batch.ops.push(Queued::new(stream, tick, op));
        if self.batch.ops.len() >= BATCH {
            self.send();
        }
    }
}

impl Visitor for Collector {
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
            } => self.op(stream, ts, Op::Alloc { ptr, size, stack }),
            Event::Free { stream, ptr, ts } => self.op(stream, ts, Op::Free { ptr }),
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
                    self.op(stream, entry, Op::Free { ptr: old });
                }
                self.op(
                    stream,
                    ts,
                    Op::Alloc {
                        ptr: new,
                        size,
                        stack,
                    },
                );
            }
            Event::Thread { .. } => self.batch.threads += 1,
            Event::Lost { count, .. } => self.batch.lost += count,
            Event::Control(record) => self
                .batch
                .controls
                .push((self.batch.ops.len(), record.clone())),
        }
    }
}

/// What reading produced besides the events.
pub struct Read {
    pub header: Header,
    pub status: ReadStatus,
    pub stacks: StackTable,
}

/// Reads `reader` on a second thread, feeding `merger` on this one.
pub fn run(reader: TraceReader, merger: &mut Merger) -> Result<Read, TraceError> {
    let (full_tx, full_rx) = mpsc::sync_channel::<Batch>(DEPTH);
    let (empty_tx, empty_rx) = mpsc::sync_channel::<Batch>(DEPTH + 2);
    std::thread::scope(|scope| {
        let reading = scope.spawn(move || {
            let mut reader = reader;
            let mut collector = Collector {
                batch: Batch::default(),
                full: full_tx,
                empty: empty_rx,
            };
            let status = reader.read_all(&mut collector);
            collector.send();
            drop(collector);
            status.map(|status| Read {
                header: reader.header().clone(),
                status,
                stacks: reader.stacks().clone(),
            })
        });
        for mut batch in full_rx {
            apply(merger, &batch);
            batch.clear();
            let _ = empty_tx.try_send(batch);
        }
        reading
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

fn apply(merger: &mut Merger, batch: &Batch) {
    merger.replay.lost += batch.lost;
    merger.replay.threads += batch.threads;
    let mut done = 0;
    for (at, record) in &batch.controls {
        for &op in &batch.ops[done..*at] {
            merger.push_queued(op);
        }
        done = *at;
        merger.control(record);
    }
    for &op in &batch.ops[done..] {
        merger.push_queued(op);
    }
}

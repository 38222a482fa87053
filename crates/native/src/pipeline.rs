//! Reading and replaying on two threads: one reads, decompresses and
//! decodes the trace; the other merges the streams back into time order
//! and replays them.
//!
//! Decoded events travel in batches through a small bounded channel (so
//! memory stays bounded however long the trace) and emptied buffers travel
//! back to be reused. A batch holds one writer pass — it ends at a `SYNC`
//! record — with each stream's events in a vector of their own, which the
//! replay thread takes over without copying when its queue is empty.
//!
//! The reading thread also pairs frees with their allocations when the
//! trace names them (a free of one of the stream's recent blocks carries
//! the block's allocation number) and both are in the same batch: the
//! replay thread then updates its counters without the live-block map.

use std::sync::mpsc;

use heapwise_trace::checkpoint::Checkpoint;
use heapwise_trace::{
    ControlRecord, Event, ExitStatus, Header, ReadStatus, StackTable, TraceError, TraceReader,
    Visitor,
};

use crate::merge::Merger;
use crate::ops::{self, Link, Queued};
use crate::replay::Replay;

/// One stream's events of a batch.
#[derive(Default)]
pub struct StreamRun {
    /// The stream.
    pub stream: u32,
    /// Its events, in order.
    pub events: Vec<Queued>,
    /// Allocation numbers → index in `events`, for pairing (by number
    /// modulo its length).
    recent: Vec<(u32, u32)>,
}

/// Slots of a stream's pairing table (the trace names frees up to 255
/// allocations back).
const RECENT: usize = 256;

impl StreamRun {
    fn clear(&mut self) {
        self.events.clear();
        self.recent.clear();
    }

    #[inline]
    fn alloc(&mut self, seq: u32, event: Queued) {
        if seq != 0 {
            if self.recent.is_empty() {
                self.recent.resize(RECENT, (0, u32::MAX));
            }
            self.recent[seq as usize % RECENT] = (seq, self.events.len() as u32);
        }
        self.events.push(event);
    }

    #[inline]
    fn free(&mut self, of_seq: u32, mut event: Queued) {
        if of_seq != 0
            && let Some(&(seq, index)) = self.recent.get(of_seq as usize % RECENT)
            && seq == of_seq
            && let Some(alloc) = self.events.get_mut(index as usize)
            && alloc.pairable()
        {
            alloc.set_paired();
            event.pair_with(alloc);
        }
        self.events.push(event);
    }
}

/// One writer pass worth of decoded events.
#[derive(Default)]
struct Batch {
    runs: Vec<StreamRun>,
    /// Control records other than `SYNC`, in file order.
    controls: Vec<ControlRecord>,
    /// The `SYNC` that ended the batch.
    sync: Option<u64>,
    /// A compacted trace's checkpoint (the first batch only).
    checkpoint: Option<Box<Checkpoint>>,
    lost: u64,
    threads: u64,
}

impl Batch {
    fn clear(&mut self) {
        // Keep the runs' buffers for reuse.
        self.runs.iter_mut().for_each(StreamRun::clear);
        self.controls.clear();
        self.sync = None;
        self.checkpoint = None;
        self.lost = 0;
        self.threads = 0;
    }

    fn run_index(&mut self, stream: u32) -> usize {
        match self.runs.iter().rposition(|r| r.stream == stream) {
            Some(index) => index,
            None => match self.runs.iter().position(|r| r.events.is_empty()) {
                Some(index) => {
                    self.runs[index].stream = stream;
                    self.runs[index].recent.clear();
                    index
                }
                None => {
                    self.runs.push(StreamRun {
                        stream,
                        ..StreamRun::default()
                    });
                    self.runs.len() - 1
                }
            },
        }
    }
}

/// A batch is sent early if it grows beyond this many events (a very long
/// writer pass); pairing then spans less, nothing else changes.
const MAX_BATCH: usize = 1 << 16;
const DEPTH: usize = 4;

/// A collector's batch being filled, kept between reads of a trace that
/// grows ([`crate::follow::Follower`]).
#[derive(Default)]
pub struct Collecting {
    batch: Batch,
    events: usize,
    current: Option<(u32, usize)>,
    sampled: bool,
}

impl Collecting {
    /// For a trace with `header` (a sampled trace's frees are not paired).
    pub fn new(header: &Header) -> Collecting {
        Collecting {
            sampled: header.sample_interval > 0,
            ..Collecting::default()
        }
    }
}

impl Collecting {
    /// Whether the batch being filled records the process's end (its
    /// controls are applied with the batch).
    pub fn records_an_end(&self) -> bool {
        self.batch.controls.iter().any(|record| {
            matches!(
                record,
                ControlRecord::Exit {
                    status: ExitStatus::Code(_) | ExitStatus::Signal(_),
                    ..
                }
            )
        })
    }
}

/// Where a collector's batches go.
enum Sink<'a> {
    /// To the replaying thread ([`run`]), buffers coming back.
    Channel {
        full: mpsc::SyncSender<Batch>,
        empty: mpsc::Receiver<Batch>,
    },
    /// Applied at once, on the reading thread: the follower of a growing
    /// trace, and what `heapwise run` appends, read on. The same batches
    /// in the same order as [`run`]'s, so the same replay.
    Direct {
        merger: &'a mut Merger,
        replay: &'a mut Replay,
    },
}

/// Gathers decoded events into batches (see the module documentation).
pub struct Collector<'a> {
    state: Collecting,
    sink: Sink<'a>,
}

impl<'a> Collector<'a> {
    /// A collector that applies each batch to `merger` and `replay` as it
    /// is complete, going on from `state`.
    pub fn direct(state: Collecting, merger: &'a mut Merger, replay: &'a mut Replay) -> Self {
        Collector {
            state,
            sink: Sink::Direct { merger, replay },
        }
    }

    /// The batch being filled, to go on with later.
    pub fn into_state(self) -> Collecting {
        self.state
    }

    /// Sends the batch being filled, complete or not (the end of what
    /// there is to read).
    pub fn send(&mut self) {
        let state = &mut self.state;
        state.events = 0;
        state.current = None;
        match &mut self.sink {
            Sink::Channel { full, empty } => {
                let next = empty.try_recv().unwrap_or_default();
                let batch = std::mem::replace(&mut state.batch, next);
                // The replay thread only hangs up if it failed; reading
                // stops then.
                let _ = full.send(batch);
            }
            Sink::Direct { merger, replay } => {
                apply(&mut state.batch, merger, replay);
                state.batch.clear();
            }
        }
    }

    #[inline]
    fn run(&mut self, stream: u32) -> &mut StreamRun {
        let state = &mut self.state;
        let index = match state.current {
            Some((current, index)) if current == stream => index,
            _ => {
                let index = state.batch.run_index(stream);
                state.current = Some((stream, index));
                index
            }
        };
        &mut state.batch.runs[index]
    }

    #[inline]
    fn counted(&mut self) {
        self.state.events += 1;
        if self.state.events >= MAX_BATCH {
            self.send();
        }
    }
}

/// Applies one batch: its controls, its checkpoint, its streams' events
/// (to be merged), then its `SYNC`. Emptied event vectors get spare ones
/// from the merger back, to be filled again without new page faults.
fn apply(batch: &mut Batch, merger: &mut Merger, replay: &mut Replay) {
    replay.lost += batch.lost;
    replay.threads += batch.threads;
    for record in &batch.controls {
        merger.control(record, replay);
    }
    if let Some(checkpoint) = &batch.checkpoint {
        replay.seed(checkpoint);
    }
    for run in &mut batch.runs {
        if !run.events.is_empty() {
            merger.take_run(run.stream, std::mem::take(&mut run.events));
        }
    }
    if let Some(tick) = batch.sync {
        merger.control(&ControlRecord::Sync { tick }, replay);
    }
    for run in &mut batch.runs {
        if run.events.capacity() == 0
            && let Some(spare) = merger.take_spare()
        {
            run.events = spare;
        }
    }
}

impl Visitor for Collector<'_> {
    // Inlined into the decoding loop: called once per event, and passing
    // the event through memory to a separate function cost a fifth of the
    // reading thread's time (bench/native.py: report 0.40 s → 0.35 s).
    #[inline(always)]
    fn event(&mut self, event: Event<'_>, _stacks: &StackTable) {
        let sampled = self.state.sampled;
        let is_op = ops::split(&event, |queued, link| {
            let run = self.run(queued.stream());
            match link {
                Link::Alloc(seq) => run.alloc(if sampled { 0 } else { seq }, queued),
                Link::Free(of_seq) => run.free(of_seq, queued),
            }
        });
        if is_op {
            self.counted();
            return;
        }
        match event {
            Event::Thread { .. } => self.state.batch.threads += 1,
            Event::Lost { count, .. } => self.state.batch.lost += count,
            Event::Control(ControlRecord::Sync { tick }) => {
                self.state.batch.sync = Some(*tick);
                self.send();
            }
            Event::Control(record) => self.state.batch.controls.push(record.clone()),
            Event::Checkpoint(checkpoint) => {
                self.state.batch.checkpoint = Some(Box::new(checkpoint.clone()));
            }
            Event::Alloc { .. } | Event::Free { .. } | Event::Realloc { .. } => {}
        }
    }
}

/// What reading produced besides the events.
pub struct Read {
    pub header: Header,
    pub status: ReadStatus,
    pub stacks: StackTable,
}

/// Reads `reader` on a second thread, feeding `merger` and `replay` on
/// this one.
pub fn run(
    reader: TraceReader,
    merger: &mut Merger,
    replay: &mut Replay,
) -> Result<Read, TraceError> {
    let (full_tx, full_rx) = mpsc::sync_channel::<Batch>(DEPTH);
    let (empty_tx, empty_rx) = mpsc::sync_channel::<Batch>(DEPTH + 2);
    std::thread::scope(|scope| {
        let reading = scope.spawn(move || {
            let mut reader = reader;
            let mut collector = Collector {
                state: Collecting::new(reader.header()),
                sink: Sink::Channel {
                    full: full_tx,
                    empty: empty_rx,
                },
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
            apply(&mut batch, merger, replay);
            batch.clear();
            let _ = empty_tx.try_send(batch);
        }
        reading
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

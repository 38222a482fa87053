//! Checkpoints: how a trace stays under a size limit however long the
//! program runs.
//!
//! With a size limit (`HEAPWISE_MAX_SIZE`) the tracer's writer decodes what
//! it writes and keeps a [`crate::tally::Tally`] of it: totals, per-stack
//! counters, the recorded blocks still live, and snapshots of the live
//! bytes per call stack taken as the run goes on, thinned as they age.
//! When the next block would take the file past the limit, the writer
//! *compacts*: it writes a new file — the same header, then one
//! checkpoint, which is that tally together with the state a reader needs
//! to go on decoding every stream — and renames it over the trace. The
//! records that follow are written as before. So a trace is a checkpoint
//! (coarse history of everything before it) followed by full detail since.
//!
//! A checkpoint is carried by segments of its own stream,
//! [`CHECKPOINT_STREAM`], at the start of the file: a sequence of records
//! (tag byte, then fields; `docs/trace-format.md`, "Checkpoints"), ending
//! with `END`. The stack nodes come first (the reader's table must hold
//! them before anything names a stack), then each stream's decoder state,
//! the control records worth keeping (modules, notes, the latest clock),
//! the totals, the per-stack counters, the live blocks and the history.

use crate::bytes::{Cursor, Writer};
use crate::control::{ControlRecord, Counters};
use crate::record::StreamDecoder;
use crate::stacks::{StackId, StackTable};

/// The stream id of a checkpoint's segments.
pub const CHECKPOINT_STREAM: u32 = 0xFFFF_FFF0;

/// Size-class limits of [`Checkpoint::classes`] (and of the report): under
/// 1 KiB, 1 KiB to 1 MiB, over 1 MiB.
pub const SIZE_CLASS_LIMITS: [u64; 2] = [1024, 1 << 20];

/// The index of `size`'s class in [`SIZE_CLASS_LIMITS`].
pub fn size_class(size: u64) -> usize {
    SIZE_CLASS_LIMITS
        .iter()
        .take_while(|&&limit| size >= limit)
        .count()
}

/// Records of the checkpoint stream.
mod tag {
    /// First id, count, then per node: parent, ip (delta from the previous).
    pub const NODES: u8 = 0x01;
    /// Stream id, bytes of it before the checkpoint, u8 has-state, then the
    /// decoder state.
    pub const STREAM: u8 = 0x02;
    /// Stream id, then more of its node ids (count, then deltas), in order.
    pub const NODE_MAP: u8 = 0x09;
    /// A control record kept from before the checkpoint (as bytes).
    pub const CONTROL: u8 = 0x03;
    /// The tick, the compaction count, the totals, the size classes.
    pub const TOTALS: u8 = 0x04;
    /// Count, then per stack: id (delta), allocations, bytes, first tick,
    /// temporary, bytes at the peak.
    pub const STACKS: u8 = 0x05;
    /// Count, then per block, by address: address (delta), size, stack,
    /// tick.
    pub const LIVE: u8 = 0x06;
    /// One snapshot of the history.
    pub const SNAPSHOT: u8 = 0x07;
    /// The checkpoint is complete.
    pub const END: u8 = 0x08;
}

/// Whole-trace counters at a checkpoint, as the report defines them
/// (weighed in a sampled trace, see [`crate::weigh`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Allocation records read (unweighed).
    pub recorded: u64,
    /// Allocations.
    pub allocations: u64,
    /// Bytes they requested.
    pub allocated_bytes: u64,
    /// Frees.
    pub frees: u64,
    /// Allocations freed before their thread allocated anything else.
    pub temporary: u64,
    /// The most bytes live at once.
    pub peak_live_bytes: u64,
    /// When.
    pub peak_tick: u64,
    /// The latest tick of any event.
    pub last_tick: u64,
    /// Calls the tracer could not record.
    pub lost: u64,
    /// Thread hand-overs seen.
    pub threads: u64,
}

/// Allocations of one size class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClassTotals {
    /// Allocations.
    pub allocations: u64,
    /// Their bytes.
    pub allocated_bytes: u64,
}

/// Counters of one call stack at a checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StackTotals {
    /// The stack.
    pub stack: StackId,
    /// Allocations from it.
    pub allocations: u64,
    /// Their bytes.
    pub allocated_bytes: u64,
    /// Its first allocation.
    pub first_tick: u64,
    /// Its allocations freed before their thread allocated anything else.
    pub temporary: u64,
    /// Its live bytes when the peak was reached.
    pub at_peak: u64,
}

/// A recorded block still live at a checkpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Live {
    /// Its address.
    pub ptr: u64,
    /// Its size.
    pub size: u64,
    /// Its call stack.
    pub stack: StackId,
    /// When it was allocated.
    pub tick: u64,
}

/// One stack's live memory in a [`Snapshot`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StackLive {
    /// The stack.
    pub stack: StackId,
    /// Its live bytes.
    pub bytes: u64,
    /// Its live blocks.
    pub blocks: u64,
}

/// Memory at one moment of the history.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// When.
    pub tick: u64,
    /// Bytes live.
    pub live_bytes: u64,
    /// Blocks live.
    pub live_blocks: u64,
    /// The most bytes live since the previous snapshot.
    pub max_live_bytes: u64,
    /// Allocations so far.
    pub allocations: u64,
    /// Bytes allocated so far.
    pub allocated_bytes: u64,
    /// Frees so far.
    pub frees: u64,
    /// The latest counters sampled, if new since the previous snapshot.
    pub counters: Option<Counters>,
    /// The stacks whose live memory changed since the previous snapshot,
    /// by stack id.
    pub stacks: Vec<StackLive>,
}

/// Everything before a checkpoint that a report needs, in summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// The tick of the writer pass it was taken after: the records before
    /// it are summarised here, those after follow it.
    pub tick: u64,
    /// Times the trace was compacted, this one included.
    pub compactions: u32,
    /// Whole-trace counters.
    pub totals: Totals,
    /// Per size class ([`SIZE_CLASS_LIMITS`]).
    pub classes: [ClassTotals; 3],
    /// Per call stack that allocated.
    pub stacks: Vec<StackTotals>,
    /// The recorded blocks still live.
    pub live: Vec<Live>,
    /// Memory over time, oldest first.
    pub history: Vec<Snapshot>,
    /// Per stream: bytes of its records before the checkpoint (what the
    /// trace holds of it, for recovery from the spill file).
    pub streams: Vec<(u32, u64)>,
}

/// One stream's decoding state at a checkpoint.
pub struct StreamState<'a> {
    /// The stream.
    pub id: u32,
    /// Bytes of its records decoded.
    pub consumed: u64,
    /// Its decoder (streams 0 and 1 carry self-contained records: none).
    pub decoder: Option<&'a StreamDecoder>,
    /// Its node ids → trace-wide stack ids.
    pub nodes: &'a [StackId],
}

/// Records per `NODES`, `STACKS` or `LIVE` record, so no record is large.
const CHUNK: usize = 4096;
/// Bytes after which a segment is closed.
const SEGMENT: usize = 1 << 20;

/// Encodes a checkpoint as segments of [`CHECKPOINT_STREAM`] (each under
/// about 1 MiB, whole records).
pub fn encode(
    checkpoint: &Checkpoint,
    stacks: &StackTable,
    streams: &[StreamState<'_>],
    controls: &[ControlRecord],
) -> Vec<Vec<u8>> {
    let mut out = Segments::default();
    for first in (1..stacks.len()).step_by(CHUNK) {
        let end = (first + CHUNK).min(stacks.len());
        let w = out.record(tag::NODES);
        w.u64(first as u64);
        w.u64((end - first) as u64);
        let mut ip = 0u64;
        for id in first..end {
            let id = id as StackId;
            w.u64(u64::from(stacks.parent(id)));
            w.i64(stacks.ip(id).wrapping_sub(ip) as i64);
            ip = stacks.ip(id);
        }
    }
    for stream in streams {
        let w = out.record(tag::STREAM);
        w.u64(u64::from(stream.id));
        w.u64(stream.consumed);
        match stream.decoder {
            Some(decoder) => {
                w.u8(1);
                decoder.save(w);
                for chunk in stream.nodes.chunks(CHUNK * 16) {
                    let w = out.record(tag::NODE_MAP);
                    w.u64(u64::from(stream.id));
                    put_ids(w, chunk.iter().copied());
                }
            }
            None => w.u8(0),
        }
    }
    for record in controls {
        let mut bytes = Vec::new();
        record.encode(&mut bytes);
        out.record(tag::CONTROL).bytes(&bytes);
    }
    let w = out.record(tag::TOTALS);
    w.u64(checkpoint.tick);
    w.u64(u64::from(checkpoint.compactions));
    let t = &checkpoint.totals;
    for value in [
        t.recorded,
        t.allocations,
        t.allocated_bytes,
        t.frees,
        t.temporary,
        t.peak_live_bytes,
        t.peak_tick,
        t.last_tick,
        t.lost,
        t.threads,
    ] {
        w.u64(value);
    }
    for class in &checkpoint.classes {
        w.u64(class.allocations);
        w.u64(class.allocated_bytes);
    }
    for chunk in checkpoint.stacks.chunks(CHUNK) {
        let w = out.record(tag::STACKS);
        w.u64(chunk.len() as u64);
        let mut previous = 0u32;
        for s in chunk {
            w.i64(i64::from(s.stack) - i64::from(previous));
            previous = s.stack;
            for value in [
                s.allocations,
                s.allocated_bytes,
                s.first_tick,
                s.temporary,
                s.at_peak,
            ] {
                w.u64(value);
            }
        }
    }
    let mut live: Vec<&Live> = checkpoint.live.iter().collect();
    live.sort_unstable_by_key(|l| l.ptr);
    for chunk in live.chunks(CHUNK) {
        let w = out.record(tag::LIVE);
        w.u64(chunk.len() as u64);
        let mut ptr = 0u64;
        for l in chunk {
            w.u64(l.ptr.wrapping_sub(ptr));
            ptr = l.ptr;
            w.u64(l.size);
            w.u64(u64::from(l.stack));
            w.u64(l.tick);
        }
    }
    let mut tick = 0u64;
    for snapshot in &checkpoint.history {
        let w = out.record(tag::SNAPSHOT);
        w.u64(snapshot.tick.wrapping_sub(tick));
        tick = snapshot.tick;
        for value in [
            snapshot.live_bytes,
            snapshot.live_blocks,
            snapshot.max_live_bytes,
            snapshot.allocations,
            snapshot.allocated_bytes,
            snapshot.frees,
        ] {
            w.u64(value);
        }
        match &snapshot.counters {
            Some(counters) => {
                let mut bytes = Vec::new();
                ControlRecord::Counters(counters.clone()).encode(&mut bytes);
                w.bytes(&bytes);
            }
            None => w.bytes(&[]),
        }
        w.u64(snapshot.stacks.len() as u64);
        let mut previous = 0u32;
        for s in &snapshot.stacks {
            w.i64(i64::from(s.stack) - i64::from(previous));
            previous = s.stack;
            w.u64(s.bytes);
            w.u64(s.blocks);
        }
    }
    out.record(tag::END);
    out.finish()
}

fn put_ids(w: &mut Writer, ids: impl ExactSizeIterator<Item = StackId>) {
    w.u64(ids.len() as u64);
    let mut previous = 0u32;
    for id in ids {
        w.i64(i64::from(id) - i64::from(previous));
        previous = id;
    }
}

fn get_ids(cur: &mut Cursor<'_>, limit: usize) -> Option<Vec<StackId>> {
    let count = usize::try_from(cur.u64()?).ok()?;
    if count > limit {
        return None;
    }
    let mut ids = Vec::with_capacity(count);
    let mut previous = 0i64;
    for _ in 0..count {
        previous = previous.checked_add(cur.i64()?)?;
        ids.push(StackId::try_from(previous).ok()?);
    }
    Some(ids)
}

/// Segments being filled with whole records.
#[derive(Default)]
struct Segments {
    done: Vec<Vec<u8>>,
    current: Writer,
}

impl Segments {
    fn record(&mut self, tag: u8) -> &mut Writer {
        if self.current.buf.len() >= SEGMENT {
            self.done.push(std::mem::take(&mut self.current.buf));
        }
        self.current.u8(tag);
        &mut self.current
    }

    fn finish(mut self) -> Vec<Vec<u8>> {
        if !self.current.buf.is_empty() {
            self.done.push(self.current.buf);
        }
        self.done
    }
}

/// One decoded record of the checkpoint stream, for the reader
/// ([`crate::decode`]) to apply.
pub enum Part {
    /// Stack nodes `first..`, as (parent, ip), to intern in order.
    Nodes {
        /// The id of the first.
        first: StackId,
        /// The nodes.
        nodes: Vec<(StackId, u64)>,
    },
    /// A stream's state.
    Stream {
        /// The stream.
        id: u32,
        /// Bytes of it before the checkpoint.
        consumed: u64,
        /// Its decoder (none for the control and shared streams).
        decoder: Option<Box<StreamDecoder>>,
    },
    /// More of a stream's node ids (trace-wide ids of its nodes 0, 1, …).
    NodeMap {
        /// The stream.
        id: u32,
        /// The ids, in order.
        ids: Vec<StackId>,
    },
    /// A control record kept from before the checkpoint.
    Control(ControlRecord),
    /// Part of the checkpoint's data, gathered by [`Assembler`].
    Data,
    /// The checkpoint is complete.
    End(Box<Checkpoint>),
}

/// Gathers a checkpoint from its records.
#[derive(Debug, Default)]
pub struct Assembler {
    checkpoint: Checkpoint,
}

/// The most stream states or nodes per record a reader accepts.
const LIMIT: usize = 1 << 24;

impl Assembler {
    /// Decodes the record at the cursor; `None` if it is malformed.
    pub fn record(&mut self, cur: &mut Cursor<'_>) -> Option<Part> {
        let c = &mut self.checkpoint;
        match cur.u8()? {
            tag::NODES => {
                let first = cur.u32()?;
                let count = usize::try_from(cur.u64()?).ok().filter(|&n| n <= LIMIT)?;
                let mut nodes = Vec::with_capacity(count);
                let mut ip = 0u64;
                for _ in 0..count {
                    let parent = cur.u32()?;
                    ip = ip.wrapping_add(cur.i64()? as u64);
                    nodes.push((parent, ip));
                }
                Some(Part::Nodes { first, nodes })
            }
            tag::STREAM => {
                let id = cur.u32()?;
                let consumed = cur.u64()?;
                c.streams.push((id, consumed));
                let decoder = match cur.u8()? {
                    0 => None,
                    1 => Some(Box::new(StreamDecoder::restore(cur)?)),
                    _ => return None,
                };
                Some(Part::Stream {
                    id,
                    consumed,
                    decoder,
                })
            }
            tag::NODE_MAP => Some(Part::NodeMap {
                id: cur.u32()?,
                ids: get_ids(cur, LIMIT)?,
            }),
            tag::CONTROL => {
                let bytes = cur.bytes()?;
                Some(Part::Control(ControlRecord::decode(&mut Cursor::new(
                    bytes,
                ))?))
            }
            tag::TOTALS => {
                c.tick = cur.u64()?;
                c.compactions = cur.u32()?;
                let t = &mut c.totals;
                for value in [
                    &mut t.recorded,
                    &mut t.allocations,
                    &mut t.allocated_bytes,
                    &mut t.frees,
                    &mut t.temporary,
                    &mut t.peak_live_bytes,
                    &mut t.peak_tick,
                    &mut t.last_tick,
                    &mut t.lost,
                    &mut t.threads,
                ] {
                    *value = cur.u64()?;
                }
                for class in &mut c.classes {
                    class.allocations = cur.u64()?;
                    class.allocated_bytes = cur.u64()?;
                }
                Some(Part::Data)
            }
            tag::STACKS => {
                let count = cur.u64().filter(|&n| n <= LIMIT as u64)?;
                let mut previous = 0i64;
                for _ in 0..count {
                    previous = previous.checked_add(cur.i64()?)?;
                    c.stacks.push(StackTotals {
                        stack: StackId::try_from(previous).ok()?,
                        allocations: cur.u64()?,
                        allocated_bytes: cur.u64()?,
                        first_tick: cur.u64()?,
                        temporary: cur.u64()?,
                        at_peak: cur.u64()?,
                    });
                }
                Some(Part::Data)
            }
            tag::LIVE => {
                let count = cur.u64().filter(|&n| n <= LIMIT as u64)?;
                let mut ptr = 0u64;
                for _ in 0..count {
                    ptr = ptr.wrapping_add(cur.u64()?);
                    c.live.push(Live {
                        ptr,
                        size: cur.u64()?,
                        stack: cur.u32()?,
                        tick: cur.u64()?,
                    });
                }
                Some(Part::Data)
            }
            tag::SNAPSHOT => {
                let previous_tick = c.history.last().map_or(0, |s| s.tick);
                let mut s = Snapshot {
                    tick: previous_tick.wrapping_add(cur.u64()?),
                    ..Snapshot::default()
                };
                for value in [
                    &mut s.live_bytes,
                    &mut s.live_blocks,
                    &mut s.max_live_bytes,
                    &mut s.allocations,
                    &mut s.allocated_bytes,
                    &mut s.frees,
                ] {
                    *value = cur.u64()?;
                }
                let counters = cur.bytes()?;
                if !counters.is_empty() {
                    match ControlRecord::decode(&mut Cursor::new(counters))? {
                        ControlRecord::Counters(counters) => s.counters = Some(counters),
                        _ => return None,
                    }
                }
                let count = cur.u64().filter(|&n| n <= LIMIT as u64)?;
                let mut previous = 0i64;
                for _ in 0..count {
                    previous = previous.checked_add(cur.i64()?)?;
                    s.stacks.push(StackLive {
                        stack: StackId::try_from(previous).ok()?,
                        bytes: cur.u64()?,
                        blocks: cur.u64()?,
                    });
                }
                c.history.push(s);
                Some(Part::Data)
            }
            tag::END => Some(Part::End(Box::new(std::mem::take(c)))),
            _ => None,
        }
    }
}

/// The bytes of each stream a checkpoint's segment says the trace held
/// before it (for recovery, which counts without decoding).
pub fn stream_bases(segment: &[u8]) -> Vec<(u32, u64)> {
    let mut assembler = Assembler::default();
    let mut cur = Cursor::new(segment);
    let mut bases = Vec::new();
    while !cur.is_empty() {
        match assembler.record(&mut cur) {
            Some(Part::Stream { id, consumed, .. }) => bases.push((id, consumed)),
            Some(_) => {}
            None => break,
        }
    }
    bases
}

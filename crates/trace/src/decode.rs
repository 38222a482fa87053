//! Decoding a block's payload: its segments, each stream's records in
//! order, stack nodes mapped to trace-wide ids, a checkpoint applied.
//!
//! [`crate::TraceReader`] decodes the blocks of a file with it; the tracer
//! decodes what it writes with it when it keeps the trace under a size
//! limit (the same decoder state is what a checkpoint saves,
//! [`crate::checkpoint`]).

use crate::bytes::Cursor;
use crate::checkpoint::{Assembler, CHECKPOINT_STREAM, Part, StreamState as SavedStream};
use crate::control::ControlRecord;
use crate::reader::{Event, Visitor};
use crate::record::{ColumnCursor, DecodeError, Predictor, StreamDecoder, StreamRecord};
use crate::stacks::{StackId, StackTable};
use crate::varint::get_u64;

#[derive(Debug, Default)]
struct StreamState {
    decoder: StreamDecoder,
    /// Stream-local node id → trace-wide id; index 0 is the empty stack.
    nodes: Vec<StackId>,
    /// Bytes of the stream's records decoded (a checkpoint's count
    /// included).
    consumed: u64,
}

/// The most stream slots a trace may use.
const MAX_STREAMS: usize = 1 << 20;

/// Decodes payloads of one trace, in order.
#[derive(Debug, Default)]
pub struct SegmentDecoder {
    streams: Vec<StreamState>,
    stacks: StackTable,
    assembler: Option<Box<Assembler>>,
    /// Whether any record but a checkpoint's was decoded (a checkpoint
    /// must come first).
    started: bool,
    /// Whether a whole checkpoint was decoded.
    checkpointed: bool,
    /// Whether the trace is of format 4 or before: its packed runs
    /// predict pointers without size classes (`record::packed`).
    format4: bool,
}

impl SegmentDecoder {
    /// A decoder at the start of a trace.
    pub fn new() -> SegmentDecoder {
        SegmentDecoder::default()
    }

    /// A decoder at the start of a trace of format `version`.
    pub fn for_version(version: u16) -> SegmentDecoder {
        SegmentDecoder {
            format4: version <= 4,
            ..SegmentDecoder::default()
        }
    }

    /// Whether the trace began with a checkpoint, decoded whole.
    pub fn checkpointed(&self) -> bool {
        self.checkpointed
    }

    /// Every stack seen so far.
    pub fn stacks(&self) -> &StackTable {
        &self.stacks
    }

    /// Every stack seen so far, to move out and back in.
    pub fn stacks_mut(&mut self) -> &mut StackTable {
        &mut self.stacks
    }

    /// Each stream's decoding state, as a checkpoint saves it (streams 0
    /// and 1 without a decoder: their records need none).
    pub fn stream_states(&self) -> Vec<SavedStream<'_>> {
        self.streams
            .iter()
            .enumerate()
            .filter(|(id, s)| s.consumed > 0 || *id < 2)
            .map(|(id, s)| SavedStream {
                id: id as u32,
                consumed: s.consumed,
                decoder: (id >= 2).then_some(&s.decoder),
                nodes: &s.nodes,
            })
            .collect()
    }

    /// Decodes one payload (a block's decoded bytes), handing every event
    /// to `visitor`. On error, says which stream and what was wrong.
    pub fn decode<V: Visitor>(&mut self, raw: &[u8], visitor: &mut V) -> Result<(), String> {
        for_each_segment(raw, |stream, segment| {
            if stream == CHECKPOINT_STREAM {
                return self.decode_checkpoint(segment, visitor);
            }
            if stream == crate::pack::PACKED_STREAM {
                self.started = true;
                return self.decode_packed(segment, visitor);
            }
            self.started = true;
            if stream == 0 {
                self.decode_control(segment, visitor)
            } else {
                self.decode_stream(stream, segment, visitor)
                    .map_err(|err| format!("stream {stream}: {}", describe(err)))
            }
        })
    }

    fn state(&mut self, stream: u32) -> Result<&mut StreamState, DecodeError> {
        let index = stream as usize;
        if index >= self.streams.len() {
            if index > MAX_STREAMS {
                return Err(DecodeError::BadValue);
            }
            self.streams.resize_with(index + 1, StreamState::default);
        }
        Ok(&mut self.streams[index])
    }

    fn decode_checkpoint<V: Visitor>(
        &mut self,
        segment: &[u8],
        visitor: &mut V,
    ) -> Result<(), String> {
        if self.started {
            return Err("a checkpoint follows other records".into());
        }
        let mut assembler = self.assembler.take().unwrap_or_default();
        let mut cur = Cursor::new(segment);
        while !cur.is_empty() {
            let at = cur.position();
            let bad = || format!("checkpoint record at {at} is malformed");
            match assembler.record(&mut cur).ok_or_else(bad)? {
                Part::Nodes { first, nodes } => {
                    if first as usize != self.stacks.len() {
                        return Err(bad());
                    }
                    for (parent, ip) in nodes {
                        let expected = self.stacks.len() as StackId;
                        if parent >= expected || self.stacks.intern(parent, ip) != expected {
                            return Err(bad());
                        }
                    }
                }
                Part::Stream {
                    id,
                    consumed,
                    decoder,
                } => {
                    let stream = self.state(id).map_err(|_| bad())?;
                    stream.consumed = consumed;
                    if let Some(decoder) = decoder {
                        stream.decoder = *decoder;
                        stream.nodes.clear();
                    }
                }
                Part::NodeMap { id, ids } => {
                    let limit = self.stacks.len() as StackId;
                    let stream = self.state(id).map_err(|_| bad())?;
                    if ids.iter().any(|&n| n >= limit)
                        || (stream.nodes.is_empty() && ids.first() != Some(&0))
                    {
                        return Err(bad());
                    }
                    stream.nodes.extend_from_slice(&ids);
                }
                Part::Control(record) => visitor.event(Event::Control(&record), &self.stacks),
                Part::Data => {}
                Part::End(checkpoint) => {
                    let limit = self.stacks.len() as StackId;
                    if checkpoint.live.iter().any(|l| l.stack >= limit)
                        || checkpoint.stacks.iter().any(|s| s.stack >= limit)
                    {
                        return Err(bad());
                    }
                    self.started = true;
                    self.checkpointed = true;
                    visitor.event(Event::Checkpoint(&checkpoint), &self.stacks);
                    return Ok(());
                }
            }
        }
        self.assembler = Some(assembler);
        Ok(())
    }

    fn decode_control<V: Visitor>(
        &mut self,
        segment: &[u8],
        visitor: &mut V,
    ) -> Result<(), String> {
        if let Ok(state) = self.state(0) {
            state.consumed += segment.len() as u64;
        }
        let mut cur = Cursor::new(segment);
        while !cur.is_empty() {
            let at = cur.position();
            let record = ControlRecord::decode(&mut cur)
                .ok_or_else(|| format!("control record at {at} is malformed"))?;
            visitor.event(Event::Control(&record), &self.stacks);
        }
        Ok(())
    }

    fn decode_stream<V: Visitor>(
        &mut self,
        stream: u32,
        segment: &[u8],
        visitor: &mut V,
    ) -> Result<(), DecodeError> {
        let index = stream as usize;
        self.state(stream)?;
        let state = &mut self.streams[index];
        if state.nodes.is_empty() {
            state.nodes.push(0);
        }
        state.consumed += segment.len() as u64;
        let stacks = &mut self.stacks;
        let mut pos = 0;
        while pos < segment.len() {
            let record = state.decoder.next(segment, &mut pos)?;
            emit(stream, state, stacks, record, visitor)?;
        }
        Ok(())
    }

    /// A packed run of stream records (`crate::pack`).
    fn decode_packed<V: Visitor>(&mut self, segment: &[u8], visitor: &mut V) -> Result<(), String> {
        let (parts, columns) =
            crate::pack::parse(segment).ok_or("a packed segment is malformed")?;
        let mut cur = ColumnCursor::new(columns);
        for part in parts {
            let stream = part.stream;
            let describe_err = |err| format!("stream {stream} (packed): {}", describe(err));
            self.state(stream).map_err(describe_err)?;
            let state = &mut self.streams[stream as usize];
            if state.nodes.is_empty() {
                state.nodes.push(0);
            }
            state.consumed += part.row_bytes;
            let stacks = &mut self.stacks;
            let mut predictor = Predictor::new(!self.format4);
            for _ in 0..part.records {
                let record = state
                    .decoder
                    .next_packed(&mut cur, &mut predictor)
                    .map_err(describe_err)?;
                emit(stream, state, stacks, record, visitor).map_err(describe_err)?;
            }
        }
        if cur.is_done() {
            Ok(())
        } else {
            Err("a packed segment holds more than its records".into())
        }
    }
}

/// Hands one record of `stream` to the visitor as an event (a stack node
/// is interned instead).
#[inline(always)]
fn emit<V: Visitor>(
    stream: u32,
    state: &mut StreamState,
    stacks: &mut StackTable,
    record: StreamRecord,
    visitor: &mut V,
) -> Result<(), DecodeError> {
    let global = |nodes: &[StackId], node: u32| {
        nodes
            .get(node as usize)
            .copied()
            .ok_or(DecodeError::BadValue)
    };
    let event = match record {
        StreamRecord::Alloc {
            api,
            ts,
            size,
            node,
            ptr,
        } => Event::Alloc {
            stream,
            api,
            ts,
            size,
            stack: global(&state.nodes, node)?,
            ptr,
            seq: state.decoder.alloc_seq(),
        },
        StreamRecord::Free { ts, ptr } => Event::Free {
            stream,
            ts,
            ptr,
            of_seq: state.decoder.freed_seq(),
        },
        StreamRecord::Realloc {
            api,
            entry,
            ts,
            old,
            size,
            node,
            new,
        } => Event::Realloc {
            stream,
            api,
            entry,
            ts,
            old,
            size,
            stack: global(&state.nodes, node)?,
            new,
            seq: state.decoder.alloc_seq(),
        },
        StreamRecord::Node { parent, ip } => {
            let parent = global(&state.nodes, parent)?;
            let id = stacks.intern(parent, ip);
            state.nodes.push(id);
            return Ok(());
        }
        StreamRecord::Thread { tid } => Event::Thread { stream, tid },
        StreamRecord::Lost { count } => Event::Lost { stream, count },
        StreamRecord::Raw {
            api,
            ts,
            old,
            size,
            new,
        } => {
            let stack = stacks.intern_frames(state.decoder.raw_frames());
            match old {
                Some((entry, old)) => Event::Realloc {
                    stream,
                    api,
                    entry,
                    ts,
                    old,
                    size,
                    stack,
                    new,
                    seq: 0,
                },
                None => Event::Alloc {
                    stream,
                    api,
                    ts,
                    size,
                    stack,
                    ptr: new,
                    seq: 0,
                },
            }
        }
    };
    visitor.event(event, stacks);
    Ok(())
}

/// Calls `segment(stream, bytes)` for each segment of a decoded payload.
pub fn for_each_segment(
    raw: &[u8],
    mut segment: impl FnMut(u32, &[u8]) -> Result<(), String>,
) -> Result<(), String> {
    let mut pos = 0;
    while pos < raw.len() {
        let stream = get_u64(raw, &mut pos).ok_or("a segment header is cut short")?;
        let len = get_u64(raw, &mut pos).ok_or("a segment header is cut short")?;
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| pos.checked_add(len))
            .filter(|&end| end <= raw.len())
            .ok_or("a segment runs past the end of its block")?;
        let stream = u32::try_from(stream).map_err(|_| "a stream id is out of range")?;
        segment(stream, &raw[pos..end])?;
        pos = end;
    }
    Ok(())
}

fn describe(err: DecodeError) -> String {
    match err {
        DecodeError::Truncated => "a record is cut short".into(),
        DecodeError::UnknownTag(tag) => format!("unknown record tag {tag:#04x}"),
        DecodeError::BadValue => "a value is out of range".into(),
    }
}

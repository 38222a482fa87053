//! Packed payloads: the tracer's writer stores each run of consecutive
//! stream segments of a compressed block as one segment of
//! [`PACKED_STREAM`], the records in columns (`record/packed.rs`), which
//! compress several times better than rows. Control and checkpoint
//! segments stay as they are, in place.
//!
//! A packed segment: varint part count; per part the stream id, the bytes
//! its rows took and its record count (varints); then the seven columns,
//! each a varint length and its bytes, the parts' records one after the
//! other in every column. Packing is lossless and each part's pointer
//! predictor starts afresh, so a reader decodes a packed segment with the
//! stream decoders it has (`crate::decode`) and ends in the state the rows
//! would have left; what recovery counts of a stream is its rows' bytes.

use crate::block::put_segment_header;
use crate::bytes::{Cursor, Writer};
use crate::decode::for_each_segment;
use crate::record::{Columns, Predictor, StreamDecoder};

/// The stream id of a packed segment.
pub const PACKED_STREAM: u32 = 0xFFFF_FFF1;

/// Whether segments of `stream` hold a thread's (or the shared stream's)
/// records, which are packed.
fn packable(stream: u32) -> bool {
    stream != 0 && stream < PACKED_STREAM - 16
}

/// Packs payloads; keeps, per stream, the decoder state the rows need.
/// Every payload of the trace must go through [`Packer::pack`] or
/// [`Packer::skip`], in order.
#[derive(Debug, Default)]
pub struct Packer {
    decoders: Vec<StreamDecoder>,
    columns: Columns,
    parts: Vec<(u32, u64, u64)>,
    /// Packs as format 4 did (tests of the readers of older traces).
    format4: bool,
}

impl Packer {
    /// A packer at the start of a trace.
    pub fn new() -> Packer {
        Packer::default()
    }

    /// A packer that writes format 4's packed runs.
    #[cfg(test)]
    fn format4() -> Packer {
        Packer {
            format4: true,
            ..Packer::default()
        }
    }

    fn decoder(&mut self, stream: u32) -> &mut StreamDecoder {
        let index = stream as usize;
        if index >= self.decoders.len() {
            self.decoders.resize_with(index + 1, StreamDecoder::new);
        }
        &mut self.decoders[index]
    }

    /// Appends to `out` the payload `raw` with its runs of stream segments
    /// packed. An error (rows that do not decode) leaves `out` as it was.
    pub fn pack(&mut self, raw: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        let start = out.len();
        let result = self.pack_into(raw, out);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn pack_into(&mut self, raw: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        self.columns.clear();
        self.parts.clear();
        for_each_segment(raw, |stream, segment| {
            if !packable(stream) {
                self.flush(out);
                put_segment_header(out, stream, segment.len());
                out.extend_from_slice(segment);
                return Ok(());
            }
            let mut columns = std::mem::take(&mut self.columns);
            let mut predictor = Predictor::new(!self.format4);
            let decoder = self.decoder(stream);
            let mut pos = 0;
            let mut records = 0u64;
            let result: Result<(), String> = (|| {
                while pos < segment.len() {
                    decoder
                        .pack_next(segment, &mut pos, &mut columns, &mut predictor)
                        .map_err(|err| format!("stream {stream}: {err:?}"))?;
                    records += 1;
                }
                Ok(())
            })();
            self.columns = columns;
            result?;
            self.parts.push((stream, segment.len() as u64, records));
            Ok(())
        })?;
        self.flush(out);
        Ok(())
    }

    /// Writes the run of parts gathered so far as one packed segment.
    fn flush(&mut self, out: &mut Vec<u8>) {
        if self.parts.is_empty() {
            return;
        }
        let mut w = Writer::new();
        w.u64(self.parts.len() as u64);
        for &(stream, len, records) in &self.parts {
            w.u64(u64::from(stream));
            w.u64(len);
            w.u64(records);
        }
        for column in self.columns.all() {
            w.bytes(column);
        }
        put_segment_header(out, PACKED_STREAM, w.buf.len());
        out.extend_from_slice(&w.buf);
        self.parts.clear();
        self.columns.clear();
    }

    /// Takes in a payload written as it is (not packed), so that the
    /// decoders stay in step with the streams.
    pub fn skip(&mut self, raw: &[u8]) -> Result<(), String> {
        for_each_segment(raw, |stream, segment| {
            if packable(stream) {
                let decoder = self.decoder(stream);
                let mut pos = 0;
                while pos < segment.len() {
                    decoder
                        .next(segment, &mut pos)
                        .map_err(|err| format!("stream {stream}: {err:?}"))?;
                }
            }
            Ok(())
        })
    }
}

/// One part of a packed segment: its stream, the bytes its rows took, its
/// record count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part {
    /// The stream.
    pub stream: u32,
    /// Bytes of its rows.
    pub row_bytes: u64,
    /// Records.
    pub records: u64,
}

/// A packed segment split into its parts and its columns; `None` if it is
/// malformed.
pub fn parse(segment: &[u8]) -> Option<(Vec<Part>, [&[u8]; 7])> {
    let mut cur = Cursor::new(segment);
    let count = usize::try_from(cur.u64()?).ok().filter(|&n| n <= 1 << 20)?;
    let mut parts = Vec::with_capacity(count);
    for _ in 0..count {
        parts.push(Part {
            stream: cur.u32()?,
            row_bytes: cur.u64()?,
            records: cur.u64()?,
        });
    }
    let mut columns: [&[u8]; 7] = [&[]; 7];
    for column in &mut columns {
        *column = cur.bytes()?;
    }
    cur.is_empty().then_some((parts, columns))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::ControlRecord;
    use crate::decode::SegmentDecoder;
    use crate::reader::Event;
    use crate::record::{AllocApi, StreamEncoder};
    use crate::stacks::StackTable;
    use proptest::prelude::*;

    /// Every event, as text, with its stack's frames.
    fn events(decoder: &mut SegmentDecoder, payloads: &[Vec<u8>]) -> Vec<String> {
        let mut out = Vec::new();
        for payload in payloads {
            decoder
                .decode(payload, &mut |event: Event<'_>, stacks: &StackTable| {
                    let frames = match event {
                        Event::Alloc { stack, .. } | Event::Realloc { stack, .. } => {
                            stacks.frames(stack).collect::<Vec<_>>()
                        }
                        _ => Vec::new(),
                    };
                    out.push(format!("{event:?} {frames:x?}"));
                })
                .unwrap();
        }
        out
    }

    /// One operation of a thread, from proptest's numbers.
    #[derive(Clone, Debug)]
    enum Op {
        Alloc(u8, u16, u8),
        Free(u8),
        Realloc(u8, u16),
        Raw(u16),
        Tick(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (any::<u8>(), any::<u16>(), any::<u8>()).prop_map(|(a, b, c)| Op::Alloc(a, b, c)),
            4 => any::<u8>().prop_map(Op::Free),
            1 => (any::<u8>(), any::<u16>()).prop_map(|(a, b)| Op::Realloc(a, b)),
            1 => any::<u16>().prop_map(Op::Raw),
            1 => any::<u16>().prop_map(Op::Tick),
        ]
    }

    /// Two threads' records, as payloads of segments (control records
    /// between runs), from a list of operations.
    fn payloads(ops: &[(bool, Op)], per_payload: usize) -> Vec<Vec<u8>> {
        let mut enc = [StreamEncoder::new(), StreamEncoder::new()];
        let mut nodes = [0u32; 2];
        let mut live: [Vec<(u64, u64)>; 2] = [Vec::new(), Vec::new()];
        let mut top = [0x5555_0000_0000u64, 0x7777_0000_0000u64];
        let mut tick = 1_000u64;
        let mut buf = vec![0u8; 1 << 16];
        let mut out = Vec::new();
        let mut payload = Vec::new();
        for (i, (second, op)) in ops.iter().enumerate() {
            let t = usize::from(*second);
            let mut pos = 0;
            match *op {
                Op::Alloc(kind, size, site) => {
                    let size = u64::from(size % 4000) + 1;
                    if nodes[t] < u32::from(site % 8) + 1 {
                        pos =
                            enc[t].node(&mut buf, pos, nodes[t], 0x40_0000 + u64::from(site) * 16);
                        nodes[t] += 1;
                    }
                    // Fresh from the top, or an address freed before.
                    let ptr = if kind % 3 == 0 && !live[t].is_empty() {
                        top[t] + 0x10_0000 + u64::from(kind) * 0x100
                    } else {
                        let p = top[t];
                        top[t] += (size + 23) & !15;
                        p
                    };
                    if live[t].iter().all(|&(p, _)| p != ptr) {
                        pos = enc[t].alloc(
                            &mut buf,
                            pos,
                            AllocApi::Malloc,
                            tick,
                            size,
                            nodes[t].min(u32::from(site % 8) + 1),
                            ptr,
                        );
                        live[t].push((ptr, size));
                    }
                }
                Op::Free(which) => {
                    if !live[t].is_empty() {
                        let (ptr, _) = live[t].remove(usize::from(which) % live[t].len());
                        pos = enc[t].free(&mut buf, pos, ptr, || tick);
                    }
                }
                Op::Realloc(which, size) => {
                    let old = if live[t].is_empty() {
                        0
                    } else {
                        live[t].remove(usize::from(which) % live[t].len()).0
                    };
                    let size = u64::from(size % 9000) + 1;
                    let new = top[t];
                    top[t] += (size + 23) & !15;
                    pos = enc[t].realloc(
                        &mut buf,
                        pos,
                        AllocApi::Realloc,
                        tick,
                        tick + 1,
                        old,
                        size,
                        nodes[t],
                        new,
                    );
                    live[t].push((new, size));
                }
                Op::Raw(size) => {
                    pos = StreamEncoder::raw(
                        &mut buf,
                        pos,
                        AllocApi::Calloc,
                        tick,
                        None,
                        u64::from(size),
                        &[0x40_1000, 0x40_2000],
                        0x9999_0000 + u64::from(size),
                    );
                    pos =
                        StreamEncoder::raw_free(&mut buf, pos, tick, 0x9999_0000 + u64::from(size));
                }
                Op::Tick(by) => tick += u64::from(by),
            }
            crate::block::put_segment_header(&mut payload, 2 + t as u32, pos);
            payload.extend_from_slice(&buf[..pos]);
            if i % per_payload == per_payload - 1 {
                let mut control = Vec::new();
                ControlRecord::Sync { tick }.encode(&mut control);
                crate::block::put_segment_header(&mut payload, 0, control.len());
                payload.extend_from_slice(&control);
                out.push(std::mem::take(&mut payload));
            }
        }
        out.push(payload);
        out
    }

    proptest! {
        #[test]
        fn packed_payloads_decode_to_the_same_events_and_leave_the_same_state(
            ops in proptest::collection::vec((any::<bool>(), op()), 1..400),
            per_payload in 1usize..60,
            stored_every in 2usize..5,
        ) {
            let rows = payloads(&ops, per_payload);
            // Some payloads packed, some left as rows (a block the writer
            // stored while the program kept every core busy); as this
            // format packs them and as format 4 did.
            for format in [crate::FORMAT_VERSION, 4] {
            let mut packer = if format == 4 { Packer::format4() } else { Packer::new() };
            let mut mixed = Vec::new();
            for (i, payload) in rows.iter().enumerate() {
                if i % stored_every == 0 {
                    packer.skip(payload).unwrap();
                    mixed.push(payload.clone());
                } else {
                    let mut packed = Vec::new();
                    packer.pack(payload, &mut packed).unwrap();
                    mixed.push(packed);
                }
            }
            let expected = events(&mut SegmentDecoder::new(), &rows);
            let mut decoder = SegmentDecoder::for_version(format);
            prop_assert_eq!(events(&mut decoder, &mixed), expected);
            // What each stream holds is counted in rows either way.
            let consumed = |d: &SegmentDecoder| d.stream_states().iter().map(|s| (s.id, s.consumed)).collect::<Vec<_>>();
            let mut row_decoder = SegmentDecoder::new();
            events(&mut row_decoder, &rows);
            prop_assert_eq!(consumed(&decoder), consumed(&row_decoder));
            }
        }
    }
}

//! Records in columns: the packed form of a run of stream records that the
//! tracer's writer stores in compressed blocks (`crate::pack`).
//!
//! A thread's records interleave fields of very different kinds — tags,
//! time deltas, sizes, stack nodes, pointers — so a compressor sees little
//! that repeats. Packed, each kind of field goes to a column of its own, in
//! record order: the tags (one byte each), the time deltas, the sizes, the
//! stack nodes, the pointers of allocations, the pointers of frees, and the
//! rest (free distances, realloc entry ticks, thread ids, node records,
//! self-contained records as they are). Each column is then regular enough
//! to compress well, and the allocation pointers are predicted (below) so
//! that most of them take no bytes at all.
//!
//! The values are the row form's, so packing is lossless: unpacking gives
//! the same records, and a decoder that reads a packed run updates its
//! delta state exactly as reading the rows would (rows may follow: a block
//! the writer stored uncompressed, records recovered from the spill file).
//!
//! **Allocation pointers.** glibc hands out either a chunk freed recently
//! (its per-thread caches are LIFO per size class) or the next chunk of the
//! top of the heap, right after the previous such one. So a pointer is
//! coded as 0: the chunk after the previous fresh one (its pointer plus its
//! chunk size, glibc's rounding); 1: the stream's newest free; 2–9: one of
//! the last 8 blocks freed of the allocation's size class and not handed
//! out again (newest first: glibc's per-thread caches hand out the newest
//! of a class); 10–72: one of the stream's 64 most recent frees (newest
//! first), preferred to a class code when among the 8 newest; or 73 +
//! zigzag(pointer − previous fresh pointer). A freed block's size class is
//! known to both sides when the stream's recent-allocation table held it
//! (the frees by distance, most of them); the others are among the 64 only.
//! Traces of format 4 and before have no class codes (1–64 the recent
//! frees, 65 + the delta). The predictor is local to one packed run (it
//! starts empty), so runs decode on their own. On CPython's 10 M
//! allocations this leaves 0.2 % of them with a delta, and their column
//! compresses 20 times better; the class codes took sqlite's column from
//! 16.5 to 4.2 kB (CPython's 161 to 155 kB).
//! Allocations whose pointer the row form already omits (the last freed of
//! their size class) are not in the column.

use super::{AllocApi, DecodeError, StreamDecoder, StreamRecord, tag};
use crate::varint::{get_u64, put_u64, unzigzag, zigzag};

/// Frees the pointer predictor remembers.
const RING: usize = 64;
/// The recent frees preferred to a class's.
const NEAR: usize = 8;
/// Frees of each size class it remembers.
const DEPTH: usize = 8;
/// Size classes (the stream's: `super::size_class`).
const CLASSES: usize = 128;

/// The fields of packed records, one column each.
#[derive(Debug, Default)]
pub struct Columns {
    /// Tag bytes.
    pub tags: Vec<u8>,
    /// Time deltas (zigzag varints) against the stream's previous stamp.
    pub ts: Vec<u8>,
    /// Sizes (varints).
    pub sizes: Vec<u8>,
    /// Stack nodes of allocations (varints).
    pub nodes: Vec<u8>,
    /// Allocation pointers, predicted (varint codes).
    pub alloc_ptrs: Vec<u8>,
    /// Free pointers (zigzag varints against the previous free).
    pub free_ptrs: Vec<u8>,
    /// Everything else, in record order.
    pub misc: Vec<u8>,
}

impl Columns {
    /// The columns, in their stored order.
    pub fn all(&self) -> [&[u8]; 7] {
        [
            &self.tags,
            &self.ts,
            &self.sizes,
            &self.nodes,
            &self.alloc_ptrs,
            &self.free_ptrs,
            &self.misc,
        ]
    }

    /// Empties every column.
    pub fn clear(&mut self) {
        for column in [
            &mut self.tags,
            &mut self.ts,
            &mut self.sizes,
            &mut self.nodes,
            &mut self.alloc_ptrs,
            &mut self.free_ptrs,
            &mut self.misc,
        ] {
            column.clear();
        }
    }
}

/// Reading positions in a packed run's columns.
#[derive(Debug)]
pub struct ColumnCursor<'a> {
    columns: [&'a [u8]; 7],
    pos: [usize; 7],
}

const TAGS: usize = 0;
const TS: usize = 1;
const SIZES: usize = 2;
const NODES: usize = 3;
const ALLOC_PTRS: usize = 4;
const FREE_PTRS: usize = 5;
const MISC: usize = 6;

impl<'a> ColumnCursor<'a> {
    /// A cursor at the start of `columns` (in [`Columns::all`]'s order).
    pub fn new(columns: [&'a [u8]; 7]) -> ColumnCursor<'a> {
        ColumnCursor {
            columns,
            pos: [0; 7],
        }
    }

    /// Whether every column was read to its end (a packed run is whole).
    pub fn is_done(&self) -> bool {
        self.columns
            .iter()
            .zip(&self.pos)
            .all(|(column, &pos)| pos == column.len())
    }

    #[inline(always)]
    fn byte(&mut self, column: usize) -> Result<u8, DecodeError> {
        let value = *self.columns[column]
            .get(self.pos[column])
            .ok_or(DecodeError::Truncated)?;
        self.pos[column] += 1;
        Ok(value)
    }

    #[inline(always)]
    fn u64(&mut self, column: usize) -> Result<u64, DecodeError> {
        get_u64(self.columns[column], &mut self.pos[column]).ok_or(DecodeError::Truncated)
    }

    #[inline(always)]
    fn delta(&mut self, column: usize, base: u64) -> Result<u64, DecodeError> {
        Ok(base.wrapping_add(unzigzag(self.u64(column)?) as u64))
    }
}

/// The allocation-pointer predictor of one packed run (see the module
/// documentation).
#[derive(Clone, Debug)]
pub struct Predictor {
    ring: [u64; RING],
    next: usize,
    fresh_next: u64,
    fresh_last: u64,
    last_free: u64,
    /// Per size class, its last frees not handed out again, newest first
    /// (0: none); `None` in the predictor of format 4 and before.
    classes: Option<Box<Classes>>,
}

/// The frees of each size class, and where each freed pointer is listed.
#[derive(Clone, Debug)]
struct Classes {
    lists: [[u64; DEPTH]; CLASSES],
    /// By a hash of the pointer: the pointer and the class whose list it
    /// was put in, so that a block handed out again in another class (glibc
    /// splits and merges chunks) leaves that list too — a stale entry would
    /// push the others down and make their codes larger.
    listed: [(u64, u8); LISTED],
}

/// Slots of [`Classes::listed`].
const LISTED: usize = 1024;

#[inline(always)]
fn listed_slot(ptr: u64) -> usize {
    ((ptr >> 4) ^ (ptr >> 14)) as usize & (LISTED - 1)
}

impl Default for Predictor {
    fn default() -> Predictor {
        Predictor::new(true)
    }
}

/// glibc's chunk size for a request of `size` bytes.
#[inline(always)]
fn chunk(size: u64) -> u64 {
    (size.saturating_add(8 + 15) & !15).max(32)
}

impl Predictor {
    /// A predictor, with class codes or (format 4 and before) without.
    pub fn new(by_class: bool) -> Predictor {
        Predictor {
            ring: [0; RING],
            next: 0,
            fresh_next: 0,
            fresh_last: 0,
            last_free: 0,
            classes: by_class.then(|| {
                Box::new(Classes {
                    lists: [[0; DEPTH]; CLASSES],
                    listed: [(0, 0); LISTED],
                })
            }),
        }
    }

    /// The codes before the ring's.
    #[inline(always)]
    fn class_codes(&self) -> u64 {
        if self.classes.is_some() {
            DEPTH as u64
        } else {
            0
        }
    }

    #[inline(always)]
    fn freed(&mut self, ptr: u64) {
        self.ring[self.next % RING] = ptr;
        self.next = self.next.wrapping_add(1);
    }

    /// `ptr`, of size class `class`, was freed.
    #[inline(always)]
    fn freed_in_class(&mut self, ptr: u64, class: usize) {
        if let Some(classes) = &mut self.classes {
            let list = &mut classes.lists[class];
            list.copy_within(0..DEPTH - 1, 1);
            list[0] = ptr;
            classes.listed[listed_slot(ptr)] = (ptr, class as u8);
        }
    }

    /// `ptr` of `size` bytes was handed out: no longer a free of its class.
    #[inline(always)]
    fn taken(&mut self, ptr: u64, size: u64) {
        if let Some(classes) = &mut self.classes {
            let (listed, class) = classes.listed[listed_slot(ptr)];
            let class = if listed == ptr {
                usize::from(class)
            } else {
                super::size_class(size)
            };
            let list = &mut classes.lists[class];
            if let Some(i) = list.iter().position(|&p| p == ptr) {
                list.copy_within(i + 1.., i);
                list[DEPTH - 1] = 0;
            }
        }
    }

    #[inline(always)]
    fn recent(&self, i: usize) -> u64 {
        self.ring[self.next.wrapping_sub(1 + i) % RING]
    }

    fn code(&mut self, ptr: u64, size: u64) -> u64 {
        if ptr == self.fresh_next {
            self.fresh(ptr, size);
            self.taken(ptr, size);
            return 0;
        }
        let classes = self.class_codes();
        let near = (1..NEAR).find(|&i| self.recent(i) == ptr);
        let code = if self.recent(0) == ptr {
            // The newest free first: its class may be unknown.
            Some(1)
        } else if let Some(i) = near {
            Some(1 + classes + i as u64)
        } else if let Some(i) = self.classes.as_ref().and_then(|classes| {
            classes.lists[super::size_class(size)]
                .iter()
                .position(|&p| p == ptr && p != 0)
        }) {
            Some(2 + i as u64)
        } else {
            (NEAR..RING)
                .find(|&i| self.recent(i) == ptr)
                .map(|i| 1 + classes + i as u64)
        };
        let code = code.unwrap_or_else(|| {
            let code = 1 + classes + RING as u64 + zigzag(ptr.wrapping_sub(self.fresh_last) as i64);
            self.fresh(ptr, size);
            code
        });
        self.taken(ptr, size);
        code
    }

    fn pointer(&mut self, code: u64, size: u64) -> u64 {
        let classes = self.class_codes();
        let ptr = if code == 0 {
            let ptr = self.fresh_next;
            self.fresh(ptr, size);
            ptr
        } else if code == 1 {
            self.recent(0)
        } else if code < 2 + classes {
            // A class code exists only with the classes.
            self.classes.as_ref().map_or(0, |classes| {
                classes.lists[super::size_class(size)][code as usize - 2]
            })
        } else if code < 1 + classes + RING as u64 {
            self.recent((code - 1 - classes) as usize)
        } else {
            let delta = unzigzag(code - 1 - classes - RING as u64);
            let ptr = self.fresh_last.wrapping_add(delta as u64);
            self.fresh(ptr, size);
            ptr
        };
        self.taken(ptr, size);
        ptr
    }

    #[inline(always)]
    fn fresh(&mut self, ptr: u64, size: u64) {
        self.fresh_last = ptr;
        self.fresh_next = ptr.wrapping_add(chunk(size));
    }
}

fn put(column: &mut Vec<u8>, value: u64) {
    let mut tmp = [0u8; crate::varint::MAX_VARINT_LEN];
    let len = put_u64(&mut tmp, 0, value);
    column.extend_from_slice(&tmp[..len]);
}

fn put_signed(column: &mut Vec<u8>, value: u64, base: u64) {
    put(column, zigzag(value.wrapping_sub(base) as i64));
}

impl StreamDecoder {
    /// Decodes the row record at `buf[*pos..]` (as [`StreamDecoder::next`])
    /// and appends its fields to `columns`, with `predictor` for its
    /// pointers: the writer's side of packing.
    pub fn pack_next(
        &mut self,
        buf: &[u8],
        pos: &mut usize,
        columns: &mut Columns,
        predictor: &mut Predictor,
    ) -> Result<(), DecodeError> {
        let start = *pos;
        let previous_ts = self.state.ts;
        let tag_byte = *buf.get(start).ok_or(DecodeError::Truncated)?;
        let record = self.next(buf, pos)?;
        let kind = tag_byte & 0xf0;
        columns.tags.push(tag_byte);
        match record {
            StreamRecord::Alloc {
                ts,
                size,
                node,
                ptr,
                ..
            } => {
                put_signed(&mut columns.ts, ts, previous_ts);
                put(&mut columns.sizes, size);
                if kind == tag::ALLOC || kind == tag::ALLOC_REUSE {
                    put(&mut columns.nodes, u64::from(node));
                }
                if kind == tag::ALLOC || kind == tag::ALLOC_SAME {
                    put(&mut columns.alloc_ptrs, predictor.code(ptr, size));
                } else {
                    predictor.taken(ptr, size);
                }
            }
            StreamRecord::Free { ts, ptr } => {
                if kind != tag::RAW_FREE
                    && let Some(class) = self.freed_class()
                {
                    predictor.freed_in_class(ptr, class);
                }
                if kind == tag::FREE {
                    put_signed(&mut columns.ts, ts, previous_ts);
                    put_signed(&mut columns.free_ptrs, ptr, predictor.last_free);
                    predictor.last_free = ptr;
                } else if kind == tag::FREE_RECENT {
                    columns.misc.push(buf[start + 1]);
                } else if kind == tag::RAW_FREE {
                    columns.misc.extend_from_slice(&buf[start + 1..*pos]);
                }
                predictor.freed(ptr);
            }
            StreamRecord::Realloc {
                entry,
                ts,
                old,
                size,
                node,
                new,
                ..
            } => {
                put_signed(&mut columns.ts, ts, previous_ts);
                put(&mut columns.misc, ts.wrapping_sub(entry));
                put_signed(&mut columns.free_ptrs, old, predictor.last_free);
                put(&mut columns.sizes, size);
                put(&mut columns.nodes, u64::from(node));
                if old != 0 {
                    predictor.last_free = old;
                    predictor.freed(old);
                }
                put(&mut columns.alloc_ptrs, predictor.code(new, size));
            }
            StreamRecord::Node { .. }
            | StreamRecord::Thread { .. }
            | StreamRecord::Lost { .. }
            | StreamRecord::Raw { .. } => {
                // As they are (after the tag, which is in its column).
                columns.misc.extend_from_slice(&buf[start + 1..*pos]);
                if let StreamRecord::Raw {
                    old: Some((_, old)),
                    ..
                } = record
                    && old != 0
                {
                    predictor.freed(old);
                }
            }
        }
        Ok(())
    }

    /// Decodes the next record of a packed run: the reader's side of
    /// packing. The decoder's state changes as if the row had been read.
    pub fn next_packed(
        &mut self,
        cur: &mut ColumnCursor<'_>,
        predictor: &mut Predictor,
    ) -> Result<StreamRecord, DecodeError> {
        let tag_byte = cur.byte(TAGS)?;
        let kind = tag_byte & 0xf0;
        let api = || AllocApi::from_u8(tag_byte & 0x0f).ok_or(DecodeError::UnknownTag(tag_byte));
        self.freed_seq = 0;
        match kind {
            tag::ALLOC | tag::ALLOC_REUSE | tag::ALLOC_SAME | tag::ALLOC_REUSE_SAME => {
                let api = api()?;
                let ts = cur.delta(TS, self.state.ts)?;
                let size = cur.u64(SIZES)?;
                let node = if kind == tag::ALLOC || kind == tag::ALLOC_REUSE {
                    super::node_id(cur.u64(NODES)?)?
                } else {
                    self.state.node
                };
                let ptr = if kind == tag::ALLOC || kind == tag::ALLOC_SAME {
                    predictor.pointer(cur.u64(ALLOC_PTRS)?, size)
                } else {
                    let ptr = self.state.freed[super::size_class(size)];
                    predictor.taken(ptr, size);
                    ptr
                };
                self.state.ts = ts;
                self.state.allocated(ptr, size, node);
                Ok(StreamRecord::Alloc {
                    api,
                    ts,
                    size,
                    node,
                    ptr,
                })
            }
            tag::FREE if tag_byte & 0x0f == 0 => {
                let ts = cur.delta(TS, self.state.ts)?;
                let ptr = cur.delta(FREE_PTRS, predictor.last_free)?;
                predictor.last_free = ptr;
                predictor.freed(ptr);
                self.state.ts = ts;
                self.state.freed(ptr);
                if let Some(class) = self.freed_class() {
                    predictor.freed_in_class(ptr, class);
                }
                Ok(StreamRecord::Free { ts, ptr })
            }
            tag::FREE_RECENT | 0xE0 | 0xF0 => {
                let distance = if kind == tag::FREE_RECENT {
                    if tag_byte & 0x0f != 0 {
                        return Err(DecodeError::UnknownTag(tag_byte));
                    }
                    u32::from(cur.byte(MISC)?)
                } else {
                    u32::from(tag_byte - tag::FREE_NEAR)
                };
                let ptr = self.state.allocated_before(distance);
                if self.state.freed(ptr) != Some(distance) {
                    return Err(DecodeError::BadValue);
                }
                predictor.freed(ptr);
                if let Some(class) = self.freed_class() {
                    predictor.freed_in_class(ptr, class);
                }
                self.freed_seq = self.state.seq.wrapping_sub(distance);
                Ok(StreamRecord::Free {
                    ts: self.state.ts,
                    ptr,
                })
            }
            tag::REALLOC => {
                let api = api()?;
                let ts = cur.delta(TS, self.state.ts)?;
                let entry = ts.wrapping_sub(cur.u64(MISC)?);
                let old = cur.delta(FREE_PTRS, predictor.last_free)?;
                let size = cur.u64(SIZES)?;
                let node = super::node_id(cur.u64(NODES)?)?;
                if old != 0 {
                    predictor.last_free = old;
                    predictor.freed(old);
                }
                let new = predictor.pointer(cur.u64(ALLOC_PTRS)?, size);
                self.state.ts = ts;
                self.state.allocated(new, size, node);
                Ok(StreamRecord::Realloc {
                    api,
                    entry,
                    ts,
                    old,
                    size,
                    node,
                    new,
                })
            }
            tag::NODE if tag_byte & 0x0f == 0 => {
                let parent = super::node_id(cur.u64(MISC)?)?;
                let ip = cur.delta(MISC, self.state.ip)?;
                self.state.ip = ip;
                Ok(StreamRecord::Node { parent, ip })
            }
            tag::THREAD if tag_byte & 0x0f == 0 => Ok(StreamRecord::Thread {
                tid: cur.u64(MISC)?,
            }),
            tag::LOST if tag_byte & 0x0f == 0 => Ok(StreamRecord::Lost {
                count: cur.u64(MISC)?,
            }),
            _ => {
                // A self-contained record, kept as it is: read with the row
                // decoder from the miscellaneous column, its tag in front.
                let misc = cur.columns[MISC];
                let start = cur.pos[MISC];
                let mut row = Vec::with_capacity(64);
                row.push(tag_byte);
                let end = misc
                    .len()
                    .min(start + super::raw_record_len(super::MAX_RAW_FRAMES));
                row.extend_from_slice(&misc[start..end]);
                let mut at = 0;
                let record = self.next(&row, &mut at)?;
                cur.pos[MISC] = start + at - 1;
                if tag_byte == tag::RAW_FREE {
                    if let StreamRecord::Free { ptr, .. } = record {
                        predictor.freed(ptr);
                    }
                } else if let StreamRecord::Raw {
                    old: Some((_, old)),
                    ..
                } = record
                    && old != 0
                {
                    predictor.freed(old);
                }
                Ok(record)
            }
        }
    }
}

//! Record layout: the tags, the allocation APIs, and the per-stream encoder
//! and decoder that must stay exact mirrors of each other.
//!
//! A *stream* is the sequence of records written by one thread of the traced
//! process (a stream outlives its thread: when a thread exits, the next new
//! thread may take the stream over, announced by a [`tag::THREAD`] record).
//! Numbers inside a stream are delta-encoded against the stream's previous
//! timestamp, pointer and instruction pointer, so a stream can only be decoded
//! from its start, in order. Stream `0` is the control stream (module maps,
//! clock synchronisation, exit status), encoded without deltas.

use crate::varint::{get_delta, get_u64, put_delta, put_u64};

mod packed;
pub use packed::{ColumnCursor, Columns, Predictor};

/// Record tags. The high nibble is the record kind, the low nibble an
/// argument (the allocation API for allocation records).
pub mod tag {
    /// `ALLOC | api`: ts, size, stack node, pointer.
    pub const ALLOC: u8 = 0x10;
    /// `FREE`: ts, pointer.
    pub const FREE: u8 = 0x20;
    /// `REALLOC | api`: ts (return), ts − ts at entry, old pointer (0 = none),
    /// size, stack node, new pointer. The old block is released inside the
    /// call, so its free is placed at the entry tick.
    pub const REALLOC: u8 = 0x30;
    /// `NODE`: parent node, instruction pointer. The node's id is implicit:
    /// the number of nodes the stream defined before it, plus one.
    pub const NODE: u8 = 0x40;
    /// `THREAD`: the kernel thread id that now writes this stream.
    pub const THREAD: u8 = 0x50;
    /// `RAW_ALLOC | api`: like `ALLOC` but self-contained: absolute values
    /// (no deltas, the stream's delta state is neither used nor changed) and
    /// the stack inline (frame count, then instruction pointers innermost
    /// first). Written by signal handlers that interrupted the tracer on the
    /// same thread, and by threads whose stream was already released.
    pub const RAW_ALLOC: u8 = 0x60;
    /// `RAW_REALLOC | api`: the self-contained form of `REALLOC`.
    pub const RAW_REALLOC: u8 = 0x70;
    /// `RAW_FREE`: the self-contained form of `FREE`.
    pub const RAW_FREE: u8 = 0x90;
    /// `LOST`: a count of allocation-API calls that could not be recorded.
    pub const LOST: u8 = 0x80;
    /// `FREE_RECENT`: one byte, the distance (0–255, in allocations) from
    /// the stream's newest allocation to the one freed. No timestamp: the
    /// stream's previous one stands (see [`super::StreamEncoder::free`]).
    pub const FREE_RECENT: u8 = 0xA0;
    /// `ALLOC_REUSE | api`: like `ALLOC` without the pointer: it is the one
    /// this stream last freed in the same size class.
    pub const ALLOC_REUSE: u8 = 0xB0;
    /// `ALLOC_SAME | api`: like `ALLOC` without the node: the same stack as
    /// the stream's previous allocation.
    pub const ALLOC_SAME: u8 = 0xC0;
    /// `ALLOC_REUSE_SAME | api`: neither pointer nor node.
    pub const ALLOC_REUSE_SAME: u8 = 0xD0;
    /// `FREE_NEAR + d` (d < 32): `FREE_RECENT` of distance `d`, in the tag
    /// byte alone.
    pub const FREE_NEAR: u8 = 0xE0;

    /// Control stream: a module (executable or shared library) was mapped.
    pub const MODULE_LOAD: u8 = 0x01;
    /// Control stream: a module was unmapped.
    pub const MODULE_UNLOAD: u8 = 0x02;
    /// Control stream: a (tick, monotonic ns, realtime ns) triple.
    pub const CLOCK: u8 = 0x03;
    /// Control stream: how the process ended (exit code, signal or exec).
    pub const EXIT: u8 = 0x04;
    /// Control stream: a message from the tracer (e.g. why tracking stopped).
    pub const NOTE: u8 = 0x05;
    /// Control stream: process counters (RSS, allocator statistics).
    pub const COUNTERS: u8 = 0x06;
    /// Control stream: every event stamped before this tick is in the file
    /// up to here (written after each writer pass).
    pub const SYNC: u8 = 0x07;
    /// Control stream: records recovered from the spill file after the
    /// process died (written by the reader that recovered them).
    pub const RECOVERED: u8 = 0x08;
    /// Control stream: sampling was paused or resumed.
    pub const SAMPLING: u8 = 0x09;
    /// Control stream: the reachability scan at exit, or why there was none
    /// (appended by `heapwise run`).
    pub const REACHABILITY: u8 = 0x10;
    /// Control stream: lost blocks found by that scan, with their kind.
    pub const LOST_BLOCKS: u8 = 0x11;
}

/// Which allocation function returned a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum AllocApi {
    /// `malloc` (and C++ `operator new`, which calls it).
    Malloc = 0,
    /// `calloc`.
    Calloc = 1,
    /// `posix_memalign`.
    PosixMemalign = 2,
    /// `aligned_alloc`.
    AlignedAlloc = 3,
    /// `memalign`.
    Memalign = 4,
    /// `valloc`.
    Valloc = 5,
    /// `pvalloc`.
    Pvalloc = 6,
    /// `realloc`.
    Realloc = 7,
    /// `reallocarray`.
    Reallocarray = 8,
}

impl AllocApi {
    /// Every API, in tag order.
    pub const ALL: [AllocApi; 9] = [
        AllocApi::Malloc,
        AllocApi::Calloc,
        AllocApi::PosixMemalign,
        AllocApi::AlignedAlloc,
        AllocApi::Memalign,
        AllocApi::Valloc,
        AllocApi::Pvalloc,
        AllocApi::Realloc,
        AllocApi::Reallocarray,
    ];

    /// The API with this tag argument, if any.
    pub fn from_u8(value: u8) -> Option<AllocApi> {
        AllocApi::ALL.get(usize::from(value)).copied()
    }

    /// The C name of the function.
    pub fn name(self) -> &'static str {
        match self {
            AllocApi::Malloc => "malloc",
            AllocApi::Calloc => "calloc",
            AllocApi::PosixMemalign => "posix_memalign",
            AllocApi::AlignedAlloc => "aligned_alloc",
            AllocApi::Memalign => "memalign",
            AllocApi::Valloc => "valloc",
            AllocApi::Pvalloc => "pvalloc",
            AllocApi::Realloc => "realloc",
            AllocApi::Reallocarray => "reallocarray",
        }
    }
}

/// The longest stream record with a node id (tag + 5 varints, plus slack).
pub const MAX_RECORD_LEN: usize = 64;

/// The most frames an inline (raw) stack may carry.
pub const MAX_RAW_FRAMES: usize = 128;

/// Slots of the recent-allocation table.
const RECENT_SLOTS: usize = 256;
/// Allocations remembered in order (a free names one by its distance).
const HISTORY: usize = 256;
/// Distances written in the tag byte itself (`FREE_NEAR`).
const NEAR: u32 = 32;
/// Size classes of the last-freed table.
const CLASSES: usize = 128;

/// The slot of `ptr` in the recent-allocation table.
#[inline(always)]
fn recent_slot(ptr: u64) -> usize {
    (((ptr >> 4) ^ (ptr >> 12)) as usize) & (RECENT_SLOTS - 1)
}

/// glibc's small-chunk size class of a request (larger sizes share the
/// last class).
#[inline(always)]
fn size_class(size: u64) -> usize {
    (size.saturating_add(8 + 15) / 16).min(CLASSES as u64 - 1) as usize
}

/// A block this stream allocated recently.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Recent {
    ptr: u64,
    size: u64,
    /// The stream's allocation count when it was allocated.
    seq: u32,
}

/// The state both sides of a stream keep in step: the last values (for
/// deltas and "same as before" records), the blocks this stream allocated
/// recently (so that freeing one costs a byte — its distance, in
/// allocations, from the newest — instead of a pointer), and the pointer it
/// last freed in each size class (allocators hand that block out next, so
/// an allocation that gets it back needs no pointer at all).
#[derive(Clone, Debug, PartialEq, Eq)]
struct DeltaState {
    ts: u64,
    ptr: u64,
    ip: u64,
    /// Stack node of the last allocation.
    node: u32,
    /// Allocations so far (wrapping).
    seq: u32,
    recent: [Recent; RECENT_SLOTS],
    /// Pointer of allocation number `seq`, at `seq % HISTORY`.
    history: [u64; HISTORY],
    freed: [u64; CLASSES],
    /// The size class of the block the last [`DeltaState::freed`] found in
    /// the recent table ([`NO_CLASS`] if it was not there).
    freed_class: u8,
}

/// In [`DeltaState::freed_class`]: the freed block's size is not known.
const NO_CLASS: u8 = u8::MAX;

impl Default for DeltaState {
    fn default() -> DeltaState {
        DeltaState {
            ts: 0,
            ptr: 0,
            ip: 0,
            node: u32::MAX,
            seq: 0,
            recent: [Recent::default(); RECENT_SLOTS],
            history: [0; HISTORY],
            freed: [0; CLASSES],
            freed_class: NO_CLASS,
        }
    }
}

impl DeltaState {
    #[inline(always)]
    fn allocated(&mut self, ptr: u64, size: u64, node: u32) {
        self.seq = self.seq.wrapping_add(1);
        self.history[self.seq as usize % HISTORY] = ptr;
        self.recent[recent_slot(ptr)] = Recent {
            ptr,
            size,
            seq: self.seq,
        };
        self.ptr = ptr;
        self.node = node;
    }

    /// Forgets `ptr` if the recent table holds it and remembers it as the
    /// last freed block of its class; returns its distance (allocations
    /// since it was allocated) if it was there.
    #[inline(always)]
    fn freed(&mut self, ptr: u64) -> Option<u32> {
        let slot = recent_slot(ptr);
        let entry = self.recent[slot];
        self.ptr = ptr;
        if entry.ptr != ptr || ptr == 0 {
            self.freed_class = NO_CLASS;
            return None;
        }
        self.recent[slot].ptr = 0;
        let class = size_class(entry.size);
        self.freed[class] = ptr;
        self.freed_class = class as u8;
        Some(self.seq.wrapping_sub(entry.seq))
    }

    /// The pointer allocated `distance` allocations ago.
    #[inline(always)]
    fn allocated_before(&self, distance: u32) -> u64 {
        self.history[self.seq.wrapping_sub(distance) as usize % HISTORY]
    }
}

/// Encodes the records of one stream. Every method writes one record at
/// `out[pos..]` and returns the position after it; `out` must have at least
/// [`MAX_RECORD_LEN`] bytes free (raw-stack records: see [`raw_record_len`]).
/// Nothing here allocates: this runs inside `malloc`.
#[derive(Clone, Debug, Default)]
pub struct StreamEncoder {
    state: DeltaState,
    /// The next free is stamped even if it could go by distance.
    stamp_next_free: bool,
}

/// The most bytes a raw-stack record with `frames` frames can take.
pub const fn raw_record_len(frames: usize) -> usize {
    MAX_RECORD_LEN + frames * crate::varint::MAX_VARINT_LEN
}

impl StreamEncoder {
    /// A fresh encoder (all deltas against zero, empty tables).
    pub fn new() -> StreamEncoder {
        StreamEncoder::default()
    }

    /// An allocation record (`ALLOC`, `ALLOC_REUSE`, `ALLOC_SAME` or
    /// `ALLOC_REUSE_SAME`): `api` returned `ptr` for `size` bytes, called
    /// from stack `node`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub fn alloc(
        &mut self,
        out: &mut [u8],
        pos: usize,
        api: AllocApi,
        ts: u64,
        size: u64,
        node: u32,
        ptr: u64,
    ) -> usize {
        let reuse = self.state.freed[size_class(size)] == ptr;
        let same = self.state.node == node;
        let kind = match (reuse, same) {
            (false, false) => tag::ALLOC,
            (true, false) => tag::ALLOC_REUSE,
            (false, true) => tag::ALLOC_SAME,
            (true, true) => tag::ALLOC_REUSE_SAME,
        };
        out[pos] = kind | api as u8;
        let pos = put_delta(out, pos + 1, ts, self.state.ts);
        let mut pos = put_u64(out, pos, size);
        if !same {
            pos = put_u64(out, pos, u64::from(node));
        }
        if !reuse {
            pos = put_delta(out, pos, ptr, self.state.ptr);
        }
        self.state.ts = ts;
        self.state.allocated(ptr, size, node);
        pos
    }

    /// `FREE` or `FREE_RECENT`: `ptr` was freed; `now` reads the clock.
    ///
    /// A block this stream allocated recently (found in the recent table)
    /// is written as `FREE_RECENT`, without reading the clock: its time is
    /// the stream's previous timestamp, a lower bound. That is enough for
    /// every order the reader needs: the block's own allocation is earlier
    /// in this stream, and a thread that gets the address next stamps its
    /// allocation after glibc hands it out, so later. A block from anywhere
    /// else (another thread's, or older) is stamped with `now()`, because the
    /// allocation it pairs with may be on another stream. Returns the new
    /// position.
    #[inline(always)]
    pub fn free(
        &mut self,
        out: &mut [u8],
        pos: usize,
        ptr: u64,
        now: impl FnOnce() -> u64,
    ) -> usize {
        let base = self.state.ptr;
        match self.state.freed(ptr) {
            Some(_) if self.stamp_next_free => {
                // A plain `FREE` of a pointer in the table updates the
                // reader's tables the same way (it looks the pointer up).
                self.stamp_next_free = false;
                let ts = now();
                out[pos] = tag::FREE;
                let pos = put_delta(out, pos + 1, ts, self.state.ts);
                self.state.ts = ts;
                put_delta(out, pos, ptr, base)
            }
            Some(distance) if distance < NEAR => {
                out[pos] = tag::FREE_NEAR + distance as u8;
                pos + 1
            }
            Some(distance) if (distance as usize) < HISTORY => {
                out[pos] = tag::FREE_RECENT;
                out[pos + 1] = distance as u8;
                pos + 2
            }
            _ => {
                let ts = now();
                out[pos] = tag::FREE;
                let pos = put_delta(out, pos + 1, ts, self.state.ts);
                self.state.ts = ts;
                put_delta(out, pos, ptr, base)
            }
        }
    }

    /// Makes the next [`StreamEncoder::free`] read the clock even for a
    /// block it could name by distance: after a `fork`, the parent's next
    /// free must not carry a time from before the fork (a forked child's
    /// report reads the parent's blocks live at the fork by time).
    pub fn stamp_next_free(&mut self) {
        self.stamp_next_free = true;
    }

    /// `REALLOC`: `old` (0 for none) became `new` of `size` bytes; the call
    /// was entered at tick `entry` and returned at `ts`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub fn realloc(
        &mut self,
        out: &mut [u8],
        pos: usize,
        api: AllocApi,
        entry: u64,
        ts: u64,
        old: u64,
        size: u64,
        node: u32,
        new: u64,
    ) -> usize {
        out[pos] = tag::REALLOC | api as u8;
        let pos = put_delta(out, pos + 1, ts, self.state.ts);
        let pos = put_u64(out, pos, ts.wrapping_sub(entry));
        let pos = put_delta(out, pos, old, self.state.ptr);
        let pos = put_u64(out, pos, size);
        let pos = put_u64(out, pos, u64::from(node));
        let pos = put_delta(out, pos, new, old);
        self.state.ts = ts;
        self.state.allocated(new, size, node);
        pos
    }

    /// `NODE`: defines the next stack node as (`parent`, `ip`).
    #[inline(always)]
    pub fn node(&mut self, out: &mut [u8], pos: usize, parent: u32, ip: u64) -> usize {
        out[pos] = tag::NODE;
        let pos = put_u64(out, pos + 1, u64::from(parent));
        let pos = put_delta(out, pos, ip, self.state.ip);
        self.state.ip = ip;
        pos
    }

    /// `THREAD`: thread `tid` now writes this stream.
    pub fn thread(&mut self, out: &mut [u8], pos: usize, tid: u64) -> usize {
        out[pos] = tag::THREAD;
        put_u64(out, pos + 1, tid)
    }

    /// `LOST`: `count` calls were not recorded.
    pub fn lost(&mut self, out: &mut [u8], pos: usize, count: u64) -> usize {
        out[pos] = tag::LOST;
        put_u64(out, pos + 1, count)
    }

    /// `RAW_ALLOC` or `RAW_REALLOC` (when `old` is `Some((entry tick,
    /// pointer))`), with absolute values and the stack inline, innermost
    /// frame first. Independent of the delta state, so it can be encoded by
    /// code that interrupted another encoder. `out` needs [`raw_record_len`]
    /// bytes.
    #[allow(clippy::too_many_arguments)]
    pub fn raw(
        out: &mut [u8],
        pos: usize,
        api: AllocApi,
        ts: u64,
        old: Option<(u64, u64)>,
        size: u64,
        ips: &[u64],
        new: u64,
    ) -> usize {
        let ips = &ips[..ips.len().min(MAX_RAW_FRAMES)];
        let kind = if old.is_some() {
            tag::RAW_REALLOC
        } else {
            tag::RAW_ALLOC
        };
        out[pos] = kind | api as u8;
        let mut pos = put_u64(out, pos + 1, ts);
        if let Some((entry, old)) = old {
            pos = put_u64(out, pos, ts.wrapping_sub(entry));
            pos = put_u64(out, pos, old);
        }
        pos = put_u64(out, pos, size);
        pos = put_u64(out, pos, ips.len() as u64);
        for &ip in ips {
            pos = put_u64(out, pos, ip);
        }
        put_u64(out, pos, new)
    }

    /// `RAW_FREE`: the self-contained form of [`StreamEncoder::free`].
    pub fn raw_free(out: &mut [u8], pos: usize, ts: u64, ptr: u64) -> usize {
        out[pos] = tag::RAW_FREE;
        let pos = put_u64(out, pos + 1, ts);
        put_u64(out, pos, ptr)
    }
}

/// One decoded stream record. Node ids are the stream's own (see
/// [`crate::reader`] for the mapping to trace-wide stack ids).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamRecord {
    /// See [`tag::ALLOC`].
    Alloc {
        /// Which function.
        api: AllocApi,
        /// Tick at which the call returned.
        ts: u64,
        /// Requested size.
        size: u64,
        /// Stream-local stack node.
        node: u32,
        /// Returned pointer.
        ptr: u64,
    },
    /// See [`tag::FREE`].
    Free {
        /// Tick at which the call started.
        ts: u64,
        /// Freed pointer.
        ptr: u64,
    },
    /// See [`tag::REALLOC`].
    Realloc {
        /// Which function.
        api: AllocApi,
        /// Tick at which the call was entered (when `old` was released).
        entry: u64,
        /// Tick at which the call returned.
        ts: u64,
        /// Pointer passed in, 0 for none.
        old: u64,
        /// Requested size.
        size: u64,
        /// Stream-local stack node.
        node: u32,
        /// Returned pointer.
        new: u64,
    },
    /// See [`tag::NODE`].
    Node {
        /// Parent node (0 = the root, i.e. the outermost frame).
        parent: u32,
        /// Instruction pointer (a return address, except for the frame
        /// interrupted by a signal).
        ip: u64,
    },
    /// See [`tag::THREAD`].
    Thread {
        /// Kernel thread id.
        tid: u64,
    },
    /// See [`tag::RAW_ALLOC`] / [`tag::RAW_REALLOC`]. The frames are left in
    /// the decoder's scratch buffer ([`StreamDecoder::raw_frames`]).
    Raw {
        /// Which function.
        api: AllocApi,
        /// Tick at which the call returned.
        ts: u64,
        /// (entry tick, pointer passed in), for reallocations.
        old: Option<(u64, u64)>,
        /// Requested size.
        size: u64,
        /// Returned pointer.
        new: u64,
    },
    /// See [`tag::LOST`].
    Lost {
        /// How many calls.
        count: u64,
    },
}

/// Why a stream record could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The record runs past the end of its segment.
    Truncated,
    /// The tag byte is not a known record.
    UnknownTag(u8),
    /// A number is out of range (e.g. a node id above 2^32).
    BadValue,
}

/// Decodes the records of one stream, in order.
#[derive(Clone, Debug, Default)]
pub struct StreamDecoder {
    state: DeltaState,
    raw_frames: Vec<u64>,
    /// See [`StreamDecoder::freed_seq`].
    freed_seq: u32,
}

impl StreamDecoder {
    /// A fresh decoder.
    pub fn new() -> StreamDecoder {
        StreamDecoder::default()
    }

    /// The stream's allocation number of the last allocation decoded
    /// (`ALLOC*` or `REALLOC`; counting from 1, wrapping).
    pub fn alloc_seq(&self) -> u32 {
        self.state.seq
    }

    /// The size class of the block the last free record (`FREE`,
    /// `FREE_RECENT`, `FREE_NEAR`) found in the recent table, if it did.
    #[inline(always)]
    pub(crate) fn freed_class(&self) -> Option<usize> {
        (self.state.freed_class != NO_CLASS).then_some(usize::from(self.state.freed_class))
    }

    /// For a free written by distance (`FREE_NEAR`, `FREE_RECENT`): the
    /// allocation number ([`StreamDecoder::alloc_seq`]) of the block it
    /// freed; 0 for any other record. Lets a reader pair the two without
    /// looking the pointer up.
    pub fn freed_seq(&self) -> u32 {
        self.freed_seq
    }

    /// The frames of the last [`StreamRecord::Raw`] record, innermost first.
    pub fn raw_frames(&self) -> &[u64] {
        &self.raw_frames
    }

    /// Decodes the record at `buf[*pos..]`, advancing `pos`.
    // Always inlined: the record then stays in registers on its way to the
    // visitor instead of going through memory (a sixth of the reading
    // thread's time, measured with `perf` on a 20 M-event trace).
    #[inline(always)]
    pub fn next(&mut self, buf: &[u8], pos: &mut usize) -> Result<StreamRecord, DecodeError> {
        let tag_byte = *buf.get(*pos).ok_or(DecodeError::Truncated)?;
        *pos += 1;
        self.freed_seq = 0;
        let kind = tag_byte & 0xf0;
        let arg = tag_byte & 0x0f;
        let t = DecodeError::Truncated;
        let api = || AllocApi::from_u8(arg).ok_or(DecodeError::UnknownTag(tag_byte));
        match kind {
            tag::ALLOC | tag::ALLOC_REUSE | tag::ALLOC_SAME | tag::ALLOC_REUSE_SAME => {
                let api = api()?;
                let ts = get_delta(buf, pos, self.state.ts).ok_or(t)?;
                let size = get_u64(buf, pos).ok_or(t)?;
                let node = if kind == tag::ALLOC || kind == tag::ALLOC_REUSE {
                    node_id(get_u64(buf, pos).ok_or(t)?)?
                } else {
                    self.state.node
                };
                let ptr = if kind == tag::ALLOC || kind == tag::ALLOC_SAME {
                    get_delta(buf, pos, self.state.ptr).ok_or(t)?
                } else {
                    self.state.freed[size_class(size)]
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
            tag::FREE if arg == 0 => {
                let ts = get_delta(buf, pos, self.state.ts).ok_or(t)?;
                let ptr = get_delta(buf, pos, self.state.ptr).ok_or(t)?;
                self.state.ts = ts;
                // Keep the tables in step with the encoder, which looked the
                // pointer up too (and found it too old, or not at all).
                self.state.freed(ptr);
                Ok(StreamRecord::Free { ts, ptr })
            }
            tag::FREE_RECENT | 0xE0 | 0xF0 => {
                let distance = if kind == tag::FREE_RECENT {
                    if arg != 0 {
                        return Err(DecodeError::UnknownTag(tag_byte));
                    }
                    let byte = *buf.get(*pos).ok_or(t)?;
                    *pos += 1;
                    u32::from(byte)
                } else {
                    u32::from(tag_byte - tag::FREE_NEAR)
                };
                let ptr = self.state.allocated_before(distance);
                if self.state.freed(ptr) != Some(distance) {
                    return Err(DecodeError::BadValue);
                }
                self.freed_seq = self.state.seq.wrapping_sub(distance);
                Ok(StreamRecord::Free {
                    ts: self.state.ts,
                    ptr,
                })
            }
            tag::REALLOC => {
                let api = api()?;
                let ts = get_delta(buf, pos, self.state.ts).ok_or(t)?;
                let entry = ts.wrapping_sub(get_u64(buf, pos).ok_or(t)?);
                let old = get_delta(buf, pos, self.state.ptr).ok_or(t)?;
                let size = get_u64(buf, pos).ok_or(t)?;
                let node = node_id(get_u64(buf, pos).ok_or(t)?)?;
                let new = get_delta(buf, pos, old).ok_or(t)?;
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
            tag::NODE if arg == 0 => {
                let parent = node_id(get_u64(buf, pos).ok_or(t)?)?;
                let ip = get_delta(buf, pos, self.state.ip).ok_or(t)?;
                self.state.ip = ip;
                Ok(StreamRecord::Node { parent, ip })
            }
            tag::THREAD if arg == 0 => Ok(StreamRecord::Thread {
                tid: get_u64(buf, pos).ok_or(t)?,
            }),
            tag::LOST if arg == 0 => Ok(StreamRecord::Lost {
                count: get_u64(buf, pos).ok_or(t)?,
            }),
            tag::RAW_ALLOC | tag::RAW_REALLOC => {
                let api = api()?;
                let ts = get_u64(buf, pos).ok_or(t)?;
                let old = if kind == tag::RAW_REALLOC {
                    let entry = ts.wrapping_sub(get_u64(buf, pos).ok_or(t)?);
                    Some((entry, get_u64(buf, pos).ok_or(t)?))
                } else {
                    None
                };
                let size = get_u64(buf, pos).ok_or(t)?;
                let count = get_u64(buf, pos).ok_or(t)?;
                if count > MAX_RAW_FRAMES as u64 {
                    return Err(DecodeError::BadValue);
                }
                self.raw_frames.clear();
                for _ in 0..count {
                    self.raw_frames.push(get_u64(buf, pos).ok_or(t)?);
                }
                let new = get_u64(buf, pos).ok_or(t)?;
                Ok(StreamRecord::Raw {
                    api,
                    ts,
                    old,
                    size,
                    new,
                })
            }
            tag::RAW_FREE if arg == 0 => {
                let ts = get_u64(buf, pos).ok_or(t)?;
                let ptr = get_u64(buf, pos).ok_or(t)?;
                Ok(StreamRecord::Free { ts, ptr })
            }
            _ => Err(DecodeError::UnknownTag(tag_byte)),
        }
    }
}

impl StreamDecoder {
    /// Writes what a decoder needs to go on decoding this stream from here
    /// (the tables it keeps in step with the encoder): a checkpoint of a
    /// compacted trace carries it, so the records after the checkpoint
    /// decode without those before (`crate::checkpoint`).
    pub fn save(&self, w: &mut crate::bytes::Writer) {
        let s = &self.state;
        w.u64(s.ts);
        w.u64(s.ptr);
        w.u64(s.ip);
        w.u64(u64::from(s.node));
        w.u64(u64::from(s.seq));
        let recent: Vec<(usize, &Recent)> = s
            .recent
            .iter()
            .enumerate()
            .filter(|(_, r)| r.ptr != 0)
            .collect();
        w.u64(recent.len() as u64);
        for (slot, r) in recent {
            w.u64(slot as u64);
            w.u64(r.ptr);
            w.u64(r.size);
            w.u64(u64::from(r.seq));
        }
        let mut previous = 0u64;
        for &ptr in s.history.iter().chain(s.freed.iter()) {
            w.i64(ptr.wrapping_sub(previous) as i64);
            previous = ptr;
        }
    }

    /// A decoder in the state [`StreamDecoder::save`] wrote; `None` if the
    /// bytes are not such a state.
    pub fn restore(cur: &mut crate::bytes::Cursor<'_>) -> Option<StreamDecoder> {
        let mut state = DeltaState {
            ts: cur.u64()?,
            ptr: cur.u64()?,
            ip: cur.u64()?,
            node: cur.u32()?,
            seq: cur.u32()?,
            ..DeltaState::default()
        };
        let recent = cur.u64()?;
        if recent > RECENT_SLOTS as u64 {
            return None;
        }
        for _ in 0..recent {
            let slot = usize::try_from(cur.u64()?)
                .ok()
                .filter(|&s| s < RECENT_SLOTS)?;
            state.recent[slot] = Recent {
                ptr: cur.u64()?,
                size: cur.u64()?,
                seq: cur.u32()?,
            };
        }
        let mut previous = 0u64;
        for ptr in state.history.iter_mut().chain(state.freed.iter_mut()) {
            previous = previous.wrapping_add(cur.i64()? as u64);
            *ptr = previous;
        }
        Some(StreamDecoder {
            state,
            ..StreamDecoder::default()
        })
    }
}

fn node_id(value: u64) -> Result<u32, DecodeError> {
    u32::try_from(value).map_err(|_| DecodeError::BadValue)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(buf: &[u8]) -> Vec<StreamRecord> {
        let mut dec = StreamDecoder::new();
        let mut pos = 0;
        let mut out = Vec::new();
        while pos < buf.len() {
            out.push(dec.next(buf, &mut pos).expect("valid record"));
        }
        out
    }

    #[test]
    fn a_saved_decoder_state_decodes_the_rest_of_the_stream() {
        let mut enc = StreamEncoder::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut pos = enc.node(&mut buf, 0, 0, 0x40_1000);
        let mut cuts = Vec::new();
        for i in 0..600u64 {
            let ptr = 0x5555_0000_0000 + (i % 37) * 0x40;
            pos = enc.alloc(
                &mut buf,
                pos,
                AllocApi::Malloc,
                100 + i * 3,
                16 + i % 90,
                1,
                ptr,
            );
            if i % 3 == 0 {
                pos = enc.free(&mut buf, pos, ptr, || 101 + i * 3);
            }
            cuts.push(pos);
        }
        let all = decode_all(&buf[..pos]);
        for &cut in cuts.iter().step_by(41) {
            let mut first = StreamDecoder::new();
            let mut at = 0;
            let mut out = Vec::new();
            while at < cut {
                out.push(first.next(&buf[..pos], &mut at).unwrap());
            }
            let mut saved = crate::bytes::Writer::new();
            first.save(&mut saved);
            let mut second =
                StreamDecoder::restore(&mut crate::bytes::Cursor::new(&saved.buf)).unwrap();
            while at < pos {
                out.push(second.next(&buf[..pos], &mut at).unwrap());
            }
            assert_eq!(out, all, "cut at byte {cut}");
        }
        assert!(StreamDecoder::restore(&mut crate::bytes::Cursor::new(&[1, 2])).is_none());
    }

    #[test]
    fn every_record_kind_round_trips() {
        let mut enc = StreamEncoder::new();
        let mut buf = vec![0u8; 4096];
        let mut pos = 0;
        pos = enc.thread(&mut buf, pos, 4242);
        pos = enc.node(&mut buf, pos, 0, 0x5555_0000_1234);
        pos = enc.node(&mut buf, pos, 1, 0x7fff_0000_0010);
        pos = enc.alloc(
            &mut buf,
            pos,
            AllocApi::Calloc,
            1000,
            100,
            2,
            0x5555_aaaa_0010,
        );
        pos = enc.realloc(
            &mut buf,
            pos,
            AllocApi::Realloc,
            1005,
            1010,
            0x5555_aaaa_0010,
            300,
            2,
            0x5555_aaaa_0100,
        );
        // Allocated just above by this stream: FREE_RECENT, no clock read,
        // stamped with the stream's previous time.
        pos = enc.free(&mut buf, pos, 0x5555_aaaa_0100, || {
            unreachable!("no clock read for a recent block")
        });
        pos = StreamEncoder::raw(
            &mut buf,
            pos,
            AllocApi::Malloc,
            1020,
            None,
            7,
            &[0x10, 0x7fff_0000_0010],
            0x1234,
        );
        pos = StreamEncoder::raw(
            &mut buf,
            pos,
            AllocApi::Reallocarray,
            1030,
            Some((1025, 0x1234)),
            9,
            &[0x20],
            0x2000,
        );
        pos = StreamEncoder::raw_free(&mut buf, pos, 1040, 0x2000);
        // Raw records leave the delta state alone: this free is relative to
        // the realloc above.
        pos = enc.free(&mut buf, pos, 0x5555_aaaa_0200, || 1050);
        pos = enc.lost(&mut buf, pos, 3);
        let records = decode_all(&buf[..pos]);
        assert_eq!(
            records,
            vec![
                StreamRecord::Thread { tid: 4242 },
                StreamRecord::Node {
                    parent: 0,
                    ip: 0x5555_0000_1234
                },
                StreamRecord::Node {
                    parent: 1,
                    ip: 0x7fff_0000_0010
                },
                StreamRecord::Alloc {
                    api: AllocApi::Calloc,
                    ts: 1000,
                    size: 100,
                    node: 2,
                    ptr: 0x5555_aaaa_0010
                },
                StreamRecord::Realloc {
                    api: AllocApi::Realloc,
                    entry: 1005,
                    ts: 1010,
                    old: 0x5555_aaaa_0010,
                    size: 300,
                    node: 2,
                    new: 0x5555_aaaa_0100
                },
                StreamRecord::Free {
                    ts: 1010,
                    ptr: 0x5555_aaaa_0100
                },
                StreamRecord::Raw {
                    api: AllocApi::Malloc,
                    ts: 1020,
                    old: None,
                    size: 7,
                    new: 0x1234
                },
                StreamRecord::Raw {
                    api: AllocApi::Reallocarray,
                    ts: 1030,
                    old: Some((1025, 0x1234)),
                    size: 9,
                    new: 0x2000
                },
                StreamRecord::Free {
                    ts: 1040,
                    ptr: 0x2000
                },
                StreamRecord::Free {
                    ts: 1050,
                    ptr: 0x5555_aaaa_0200
                },
                StreamRecord::Lost { count: 3 },
            ]
        );
    }

    #[test]
    fn unknown_tags_and_cut_records_are_errors() {
        let mut dec = StreamDecoder::new();
        let mut pos = 0;
        assert_eq!(
            dec.next(&[0x05], &mut pos),
            Err(DecodeError::UnknownTag(0x05))
        );
        let mut pos = 0;
        // Nothing was allocated 3 allocations ago.
        assert_eq!(
            dec.next(&[tag::FREE_NEAR + 3], &mut pos),
            Err(DecodeError::BadValue)
        );
        let mut pos = 0;
        assert_eq!(
            dec.next(&[tag::ALLOC | 0x0f], &mut pos),
            Err(DecodeError::UnknownTag(0x1f))
        );
        let mut enc = StreamEncoder::new();
        let mut buf = [0u8; MAX_RECORD_LEN];
        let end = enc.alloc(&mut buf, 0, AllocApi::Malloc, 5, 6, 7, 8);
        for cut in 0..end {
            let mut dec = StreamDecoder::new();
            let mut pos = 0;
            assert_eq!(
                dec.next(&buf[..cut], &mut pos),
                Err(DecodeError::Truncated),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn freeing_a_recent_block_costs_a_byte_and_no_clock_read() {
        let mut enc = StreamEncoder::new();
        let mut buf = [0u8; 4 * MAX_RECORD_LEN];
        let mut pos = enc.alloc(&mut buf, 0, AllocApi::Malloc, 500, 32, 1, 0x7000_0040);
        let before = pos;
        pos = enc.free(&mut buf, pos, 0x7000_0040, || {
            panic!("the clock is not read")
        });
        assert_eq!(pos - before, 1, "the newest allocation, freed: one byte");
        // The next allocation of that size class gets the block back: no
        // pointer is written.
        let before = pos;
        pos = enc.alloc(&mut buf, pos, AllocApi::Malloc, 530, 40, 1, 0x7000_0040);
        assert!(pos - before <= 3, "{} bytes", pos - before);
        // A block never allocated here reads the clock.
        let mut read = false;
        pos = enc.free(&mut buf, pos, 0x9000, || {
            read = true;
            540
        });
        assert!(read);
        let records = decode_all(&buf[..pos]);
        assert_eq!(
            records[1],
            StreamRecord::Free {
                ts: 500,
                ptr: 0x7000_0040
            }
        );
        assert_eq!(
            records[2],
            StreamRecord::Alloc {
                api: AllocApi::Malloc,
                ts: 530,
                size: 40,
                node: 1,
                ptr: 0x7000_0040
            }
        );
        assert_eq!(
            records[3],
            StreamRecord::Free {
                ts: 540,
                ptr: 0x9000
            }
        );
    }

    #[test]
    fn frees_name_recent_allocations_by_distance() {
        let mut enc = StreamEncoder::new();
        let mut buf = vec![0u8; 400 * MAX_RECORD_LEN];
        let mut pos = 0;
        let ptr = |i: u64| 0x10_0000 + i * 0x40;
        for i in 0..300 {
            pos = enc.alloc(&mut buf, pos, AllocApi::Malloc, 10 + i, 24, 1, ptr(i));
        }
        let sizes: Vec<usize> = [299u64, 298, 280, 44, 43, 5]
            .iter()
            .map(|&i| {
                let before = pos;
                pos = enc.free(&mut buf, pos, ptr(i), || 9_999);
                pos - before
            })
            .collect();
        // Distances 0, 1 (one byte), 19 after the two frees (one byte),
        // 255 (two bytes), then 256 and 294: too old for the history, so a
        // full FREE with its own time.
        assert_eq!(&sizes[..4], &[1, 1, 1, 2]);
        assert!(sizes[4] > 2 && sizes[5] > 2);
        let frees: Vec<u64> = decode_all(&buf[..pos])
            .into_iter()
            .filter_map(|r| match r {
                StreamRecord::Free { ptr, .. } => Some(ptr),
                _ => None,
            })
            .collect();
        assert_eq!(frees, [299u64, 298, 280, 44, 43, 5].map(ptr));
    }

    #[test]
    fn a_typical_small_allocation_is_compact() {
        let mut enc = StreamEncoder::new();
        let mut buf = [0u8; 2 * MAX_RECORD_LEN];
        let first = enc.alloc(
            &mut buf,
            0,
            AllocApi::Malloc,
            1_000_000,
            64,
            3,
            0x5555_5555_9000,
        );
        let second = enc.alloc(
            &mut buf,
            first,
            AllocApi::Malloc,
            1_000_040,
            64,
            3,
            0x5555_5555_9050,
        );
        assert!(
            second - first <= 6,
            "second alloc took {} bytes",
            second - first
        );
    }

    proptest! {
        #[test]
        fn random_sequences_round_trip(ops in proptest::collection::vec((0u8..4, any::<u64>(), any::<u64>(), 0u64..1 << 40, any::<u32>()), 0..64)) {
            let mut enc = StreamEncoder::new();
            let mut buf = vec![0u8; 64 * MAX_RECORD_LEN];
            let mut pos = 0;
            let mut expected = Vec::new();
            for (kind, a, b, size, node) in ops {
                match kind {
                    0 => {
                        pos = enc.alloc(&mut buf, pos, AllocApi::Malloc, a, size, node, b);
                        expected.push(StreamRecord::Alloc { api: AllocApi::Malloc, ts: a, size, node, ptr: b });
                    }
                    1 => {
                        // Pointers never allocated here: a FREE with its
                        // own time (FREE_RECENT has its own test).
                        let ptr = b | 1 << 63;
                        pos = enc.free(&mut buf, pos, ptr, || a);
                        expected.push(StreamRecord::Free { ts: a, ptr });
                    }
                    2 => {
                        pos = enc.realloc(&mut buf, pos, AllocApi::Realloc, a.wrapping_sub(size), a, b, size, node, a ^ b);
                        expected.push(StreamRecord::Realloc { api: AllocApi::Realloc, entry: a.wrapping_sub(size), ts: a, old: b, size, node, new: a ^ b });
                    }
                    _ => {
                        pos = enc.node(&mut buf, pos, node, a);
                        expected.push(StreamRecord::Node { parent: node, ip: a });
                    }
                }
            }
            prop_assert_eq!(decode_all(&buf[..pos]), expected);
        }
    }
}

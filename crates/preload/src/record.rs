//! Turning one call into trace records: the fast path (the thread's own
//! stream, cached unwinding, interned stacks), the nested path (a signal
//! handler that interrupted a hook on the same thread), the shared path
//! (a thread whose stream was already released at thread exit), and the
//! cold path of a thread without a stream or with one armed for an earlier
//! trace (re-armed first, `stream.rs`).

use std::mem::MaybeUninit;
use std::sync::atomic::Ordering;

use heapwise_trace::AllocApi;
use heapwise_trace::StreamEncoder;
use heapwise_trace::record::{MAX_RECORD_LEN, raw_record_len};

use crate::intern::hash_frames;
use crate::stream::{self, Stream, StreamPrivate};
use crate::sys;
use crate::tls::Tls;
use crate::unwind::{self, MAX_FRAMES, Regs};

/// One call to record.
#[derive(Clone, Copy)]
pub enum Call {
    /// An allocating call returned `ptr`.
    Alloc { api: AllocApi, size: u64, ptr: u64 },
    /// `free(ptr)` is about to run.
    Free { ptr: u64 },
    /// A `realloc`-like call entered at tick `entry` released `ptr` (a
    /// sampled block) for a new block that is not sampled.
    FreeEntered { ptr: u64, entry: u64 },
    /// `realloc`-like call entered at tick `entry` turned `old` into `new`.
    Realloc {
        api: AllocApi,
        entry: u64,
        old: u64,
        size: u64,
        new: u64,
    },
}

/// The most bytes one NODE record takes (tag, parent, ip delta).
const NODE_RECORD_LEN: usize = 1 + 5 + 10;

/// Records `call` on the calling thread's stream. The hook has set the
/// guard to `IN_HOOK`.
#[inline(always)]
pub fn record(tls: *mut Tls, call: Call, caller: Regs) {
    // SAFETY: the calling thread's TLS.
    let stream_ptr = unsafe { (*tls).stream };
    // No stream yet, or one armed for an earlier trace: the cold path (one
    // branch, so that each hook's code stays specialised for its call).
    // SAFETY: streams are never freed.
    let armed =
        !stream_ptr.is_null() && stream::is_current(unsafe { &*stream_ptr }, crate::state::epoch());
    if !armed {
        return record_without_stream(tls, call, caller);
    }
    // SAFETY: streams are never freed; this thread owns this one and is not
    // re-entering (nested calls take `record_nested`).
    let stream = unsafe { &*stream_ptr };
    let p = unsafe { stream.private() };
    match call {
        Call::Free { ptr } => {
            let buf = p.reserve(stream, MAX_RECORD_LEN);
            let end = p.enc.free(buf, p.pos(), ptr, sys::ticks);
            p.commit(end);
        }
        Call::FreeEntered { ptr, entry } => {
            let buf = p.reserve(stream, MAX_RECORD_LEN);
            let end = p.enc.free(buf, p.pos(), ptr, || entry);
            p.commit(end);
        }
        Call::Alloc { api, size, ptr } => {
            let ts = sys::ticks();
            let node = stack_node(tls, stream, p, caller);
            let buf = p.reserve(stream, MAX_RECORD_LEN);
            let end = p.enc.alloc(buf, p.pos(), api, ts, size, node, ptr);
            p.commit(end);
        }
        Call::Realloc {
            api,
            entry,
            old,
            size,
            new,
        } => {
            let ts = sys::ticks();
            let node = stack_node(tls, stream, p, caller);
            let buf = p.reserve(stream, MAX_RECORD_LEN);
            let end = p
                .enc
                .realloc(buf, p.pos(), api, entry, ts, old, size, node, new);
            p.commit(end);
        }
    }
    if stream.side.pending() {
        drain_side(stream, p);
    }
}

/// The first call a thread records in a new trace of an attached process
/// (the cold path of [`record`], with `errno` saved): its stream is
/// re-armed for it first (see `stream.rs`). Returns whether it is; if not,
/// the call is counted as lost.
fn rearm(tls: *mut Tls, stream: &Stream, epoch: u32) -> bool {
    // SAFETY: this thread owns the stream and is not re-entering.
    let p = unsafe { stream.private() };
    let armed = stream::arm(stream, p, epoch, sys::gettid());
    // SAFETY: the calling thread's TLS.
    unsafe {
        if !armed {
            (*tls).lost = (*tls).lost.wrapping_add(1);
        } else if (*tls).lost > 0 {
            let lost = std::mem::take(&mut (*tls).lost);
            let buf = p.reserve(stream, MAX_RECORD_LEN);
            let end = p.enc.lost(buf, p.pos(), u64::from(lost));
            p.commit(end);
        }
    }
    armed
}

#[inline(always)]
fn stack_node(tls: *mut Tls, stream: &Stream, p: &mut StreamPrivate, caller: Regs) -> u32 {
    p.unwind.check_generation();
    unwind_and_intern(tls, stream, p, caller)
}

/// Unwinds the stack from `caller` and returns its interned leaf node:
/// onto the previous stack's frames where the two meet (`unwind.rs`'s
/// trail: only the new inner frames are interned, as children of the
/// trail's node), else looked up whole by its hash (defined if new).
#[inline(never)]
fn unwind_and_intern(tls: *mut Tls, stream: &Stream, p: &mut StreamPrivate, caller: Regs) -> u32 {
    let mut frames = [MaybeUninit::<u64>::uninit(); MAX_FRAMES];
    // SAFETY: the calling thread's TLS.
    let stack = unsafe { &raw const (*tls).stack };
    let unwound = p.unwind.backtrace(stack, caller, &mut frames);
    // SAFETY: `backtrace` initialised the first `new` frames.
    let ips = unsafe { std::slice::from_raw_parts(frames.as_ptr().cast::<u64>(), unwound.new) };
    let mut path = [MaybeUninit::<u32>::uninit(); MAX_FRAMES];
    let (leaf, base) = match unwound.splice {
        Some(depth) => {
            let outer = p.unwind.spliced_node(depth);
            (extend_stack(stream, p, outer, ips, &mut path), depth + 1)
        }
        None => {
            let hash = hash_frames(ips);
            let leaf = match p.interner.lookup(ips, hash, &mut path) {
                Some(leaf) => leaf,
                None => new_stack(stream, p, ips, hash, &mut path),
            };
            (leaf, 0)
        }
    };
    // SAFETY: the lookup, the definition or the extension of the stack
    // set the node of every one of its frames.
    let nodes = unsafe { std::slice::from_raw_parts(path.as_ptr().cast::<u32>(), ips.len()) };
    p.unwind.keep_trail(base, ips, nodes);
    leaf
}

/// The node of the inner frames `ips` called from the stack `outer`:
/// known children looked up, the first unknown one and those inside it
/// defined (and written to the stream).
#[inline(always)]
fn extend_stack(
    stream: &Stream,
    p: &mut StreamPrivate,
    outer: u32,
    ips: &[u64],
    path: &mut [MaybeUninit<u32>; MAX_FRAMES],
) -> u32 {
    let mut node = outer;
    let mut i = ips.len();
    while i > 0 {
        match p.interner.child(node, ips[i - 1]) {
            Some(child) => {
                node = child;
                path[i - 1].write(child);
                i -= 1;
            }
            None => break,
        }
    }
    if i > 0 {
        node = push_nodes(stream, p, node, &ips[..i], path);
    }
    node
}

#[cold]
fn push_nodes(
    stream: &Stream,
    p: &mut StreamPrivate,
    mut node: u32,
    ips: &[u64],
    path: &mut [MaybeUninit<u32>; MAX_FRAMES],
) -> u32 {
    let buf = p.reserve(stream, ips.len() * NODE_RECORD_LEN + MAX_RECORD_LEN);
    let mut pos = p.pos();
    let enc = &mut p.enc;
    for i in (0..ips.len()).rev() {
        node = p.interner.push(node, ips[i], |parent, ip| {
            pos = enc.node(buf, pos, parent, ip)
        });
        path[i].write(node);
    }
    p.commit(pos);
    node
}

#[cold]
fn new_stack(
    stream: &Stream,
    p: &mut StreamPrivate,
    ips: &[u64],
    hash: u64,
    path: &mut [MaybeUninit<u32>; MAX_FRAMES],
) -> u32 {
    let buf = p.reserve(stream, ips.len() * NODE_RECORD_LEN + MAX_RECORD_LEN);
    let mut pos = p.pos();
    let enc = &mut p.enc;
    let leaf = p.interner.insert(ips, hash, path, |parent, ip| {
        pos = enc.node(buf, pos, parent, ip)
    });
    p.commit(pos);
    leaf
}

/// A thread without a stream, or whose stream is armed for an earlier
/// trace.
#[cold]
fn record_without_stream(tls: *mut Tls, call: Call, caller: Regs) {
    let saved = sys::errno();
    record_attaching(tls, call, caller);
    sys::set_errno(saved);
}

fn record_attaching(tls: *mut Tls, call: Call, caller: Regs) {
    // SAFETY: the calling thread's TLS; streams are never freed.
    if let Some(stream) = unsafe { (*tls).stream.as_ref() } {
        // A stream armed for an earlier trace.
        if rearm(tls, stream, crate::state::epoch()) {
            record(tls, call, caller);
        }
        return;
    }
    // SAFETY: the calling thread's TLS.
    let exited = unsafe { (*tls).exited != 0 };
    if exited {
        // After the thread-exit destructor: late frees of thread-local data.
        return record_shared(tls, call, caller);
    }
    // No stream yet, so a signal handler's allocation now would be lost.
    let blocked = sys::SignalsBlocked::new();
    let Some(stream) = stream::attach() else {
        // SAFETY: as above.
        unsafe { (*tls).lost = (*tls).lost.wrapping_add(1) };
        return;
    };
    // SAFETY: as above. (The unwinder reads this thread's stack only
    // within the bounds; finding them may allocate.)
    unsafe {
        (*tls).stack = crate::tls::internal(unwind::thread_stack);
        (*tls).stream = stream;
        // (A stream left unarmed has no block: its arming says what was
        // lost, in `record_rearming`.)
        let armed = stream::is_current(stream, crate::state::epoch());
        let lost = if armed {
            std::mem::take(&mut (*tls).lost)
        } else {
            0
        };
        if lost > 0 {
            let p = stream.private();
            let buf = p.reserve(stream, MAX_RECORD_LEN);
            let end = p.enc.lost(buf, p.pos(), u64::from(lost));
            p.commit(end);
        }
    }
    drop(blocked);
    record(tls, call, caller);
}

/// Encodes `call` as a self-contained record into `out`; returns its length.
fn encode_raw(tls: *const Tls, call: Call, caller: Regs, out: &mut [u8]) -> usize {
    let ts = sys::ticks();
    let mut frames = [MaybeUninit::<u64>::uninit(); MAX_FRAMES];
    let ips = |frames: &mut [MaybeUninit<u64>; MAX_FRAMES]| {
        // SAFETY: the calling thread's TLS.
        let n = unwind::backtrace_uncached(unsafe { &raw const (*tls).stack }, caller, frames);
        // SAFETY: the first `n` frames are initialised.
        unsafe { std::slice::from_raw_parts(frames.as_ptr().cast::<u64>(), n) }
    };
    match call {
        Call::Free { ptr } => StreamEncoder::raw_free(out, 0, ts, ptr),
        Call::FreeEntered { ptr, entry } => StreamEncoder::raw_free(out, 0, entry, ptr),
        Call::Alloc { api, size, ptr } => {
            StreamEncoder::raw(out, 0, api, ts, None, size, ips(&mut frames), ptr)
        }
        Call::Realloc {
            api,
            entry,
            old,
            size,
            new,
        } => StreamEncoder::raw(
            out,
            0,
            api,
            ts,
            Some((entry, old)),
            size,
            ips(&mut frames),
            new,
        ),
    }
}

/// A call made by a signal handler that interrupted a hook on this thread:
/// the interrupted code owns the stream's encoder and caches, so the record
/// is self-contained and parked in the stream's side buffer until the hook
/// finishes. No lock, no allocation.
pub fn record_nested(tls: *mut Tls, call: Call, caller: Regs) {
    // SAFETY: the calling thread's TLS.
    let stream_ptr = unsafe { (*tls).stream };
    let mut buf = [0u8; raw_record_len(MAX_FRAMES)];
    let len = encode_raw(tls, call, caller, &mut buf);
    // SAFETY: streams are never freed; the side buffer is signal-safe.
    let parked = !stream_ptr.is_null() && unsafe { (*stream_ptr).side.append(&buf[..len]) };
    if !parked {
        // SAFETY: as above.
        unsafe { (*tls).lost = (*tls).lost.wrapping_add(1) };
    }
}

fn record_shared(tls: *mut Tls, call: Call, caller: Regs) {
    let mut buf = [0u8; raw_record_len(MAX_FRAMES)];
    let len = encode_raw(tls, call, caller, &mut buf);
    let queued = crate::control::SHARED.with(1000, |queue| queue.extend_from_slice(&buf[..len]));
    if queued != Some(true) {
        crate::control::LOST.fetch_add(1, Ordering::Relaxed);
    }
}

/// Whether the calling thread's side buffer holds records.
#[inline(always)]
pub fn side_pending(tls: *const Tls) -> bool {
    // SAFETY: the calling thread's TLS; streams are never freed.
    unsafe { (*tls).stream.as_ref() }.is_some_and(|stream| stream.side.pending())
}

/// Moves the calling thread's side buffer into its stream (the guard is
/// `IN_HOOK`).
#[cold]
pub fn drain_pending(tls: *const Tls) {
    // SAFETY: as above; this thread owns the stream and is not re-entering.
    if let Some(stream) = unsafe { (*tls).stream.as_ref() } {
        if stream::is_current(stream, crate::state::epoch()) {
            drain_side(stream, unsafe { stream.private() });
        } else {
            // Parked for a trace that ended, or a stream not armed (no
            // block): not this trace's records.
            stream.side.drain(|_| {});
        }
    }
}

fn drain_side(stream: &Stream, p: &mut StreamPrivate) {
    stream.side.drain(|bytes| {
        let buf = p.reserve(stream, bytes.len());
        let pos = p.pos();
        buf[pos..pos + bytes.len()].copy_from_slice(bytes);
        p.commit(pos + bytes.len());
    });
}

//! The tracer's state as two atomics every layer may read: whether hooks
//! record (read by every hook; moved by start-up, `fork` and the end of the
//! trace) and where the writer thread is (moved by the writer; read by
//! streams waiting for buffer space). Nothing here calls another module:
//! the code that moves the state lives above it (`startup.rs`,
//! `lifecycle.rs`, `writer.rs`).

use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};

/// Nothing decided yet.
pub const UNINIT: u8 = 0;
/// A thread is setting up; others pass through.
pub const STARTING: u8 = 1;
/// Recording.
pub const ACTIVE: u8 = 2;
/// Not recording (not asked to, failed, or finished).
pub const OFF: u8 = 3;
/// A forked child that has not started its own trace yet.
pub const CHILD: u8 = 4;

static STATE: AtomicU8 = AtomicU8::new(UNINIT);

/// No writer thread: none was started yet (or this is a forked child,
/// which has none of its own yet).
pub const WRITER_NONE: u8 = 0;
/// The writer thread drains the streams.
pub const WRITER_RUNNING: u8 = 1;
/// The writer was told to stop and makes its last pass.
pub const WRITER_STOPPING: u8 = 2;
/// The writer has stopped (or could not start).
pub const WRITER_STOPPED: u8 = 3;

/// Where the writer thread is. Moved only by `writer.rs`; read here so
/// that streams can tell whether anyone will drain them without knowing
/// the writer.
pub static WRITER_STATE: AtomicU8 = AtomicU8::new(WRITER_NONE);

/// Whether hooks record.
#[inline(always)]
pub fn active() -> bool {
    STATE.load(Ordering::Relaxed) == ACTIVE
}

/// Whether a writer will ever drain buffered events (producers waiting for
/// buffer space stop waiting when this turns false).
pub fn tracing() -> bool {
    active() && WRITER_STATE.load(Ordering::Acquire) == WRITER_RUNNING
}

/// The state now ([`UNINIT`] … [`CHILD`]).
#[inline]
pub fn current() -> u8 {
    STATE.load(Ordering::Acquire)
}

/// Moves from `from` to [`STARTING`]: the calling thread runs a start-up
/// stage and ends it with [`finish_stage`]. False if another thread moved
/// the state first.
#[inline]
pub fn begin_stage(from: u8) -> bool {
    STATE
        .compare_exchange(from, STARTING, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
}

/// Ends a start-up stage in `next` ([`ACTIVE`] or [`OFF`]).
#[inline]
pub fn finish_stage(next: u8) {
    STATE.store(next, Ordering::Release);
}

/// Switches recording off for good.
pub fn turn_off() {
    STATE.store(OFF, Ordering::Release);
}

/// Which trace of this process is being recorded: 1 for the first, one
/// more for each trace a later `heapwise attach` starts after a detach
/// (`attach.rs`). Streams carry the epoch they were armed for; a stream of
/// an older trace is re-armed by its own thread before it records again
/// (`stream.rs`), and spill mappings of older traces are unmapped once no
/// stream of theirs can be written to (`spill.rs`). Read and moved with
/// sequentially consistent operations: the hand-over of a stream to a new
/// thread relies on it (see `stream::oldest_epoch_in_use`).
static EPOCH: AtomicU32 = AtomicU32::new(1);

/// The trace being recorded now (see [`EPOCH`]).
#[inline(always)]
pub fn epoch() -> u32 {
    EPOCH.load(Ordering::SeqCst)
}

/// Moves to a new trace; returns its epoch.
pub fn next_epoch() -> u32 {
    EPOCH.fetch_add(1, Ordering::SeqCst) + 1
}

/// Marks a forked child whose trace is yet to start.
pub fn set_child_pending() {
    if STATE.load(Ordering::Acquire) == ACTIVE {
        STATE.store(CHILD, Ordering::Release);
    }
}

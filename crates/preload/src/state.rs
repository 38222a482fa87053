//! The tracer's life cycle as one atomic state, read by every hook.
//!
//! `malloc` is called before any constructor runs (by the dynamic loader
//! and by libc's own start-up), so start-up happens in two stages: the first
//! hook call reads the settings and starts recording into memory; the
//! library constructor (or, in a forked child, the first hook call) opens
//! the trace and starts the writer thread. While a stage is in progress,
//! calls from other threads pass through unrecorded rather than wait.

use std::sync::atomic::{AtomicU8, Ordering};

use crate::config::{self, Config};

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

/// Switches recording off for good.
pub fn turn_off() {
    STATE.store(OFF, Ordering::Release);
}

/// Marks a forked child whose trace is yet to start.
pub fn set_child_pending() {
    if STATE.load(Ordering::Acquire) == ACTIVE {
        STATE.store(CHILD, Ordering::Release);
    }
}

/// Called by a hook when tracing is not active: runs whichever start-up
/// stage is due. Returns whether the hook should record.
pub fn ensure_started() -> bool {
    loop {
        match STATE.load(Ordering::Acquire) {
            ACTIVE => return true,
            UNINIT => {
                if !environment_ready() {
                    return false;
                }
                if STATE
                    .compare_exchange(UNINIT, STARTING, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
                {
                    continue;
                }
                let next = crate::tls::internal(first_stage);
                STATE.store(next, Ordering::Release);
            }
            CHILD => {
                if STATE
                    .compare_exchange(CHILD, STARTING, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
                {
                    continue;
                }
                let started = crate::tls::internal(crate::writer::start);
                STATE.store(if started { ACTIVE } else { OFF }, Ordering::Release);
            }
            _ => return false,
        }
    }
}

/// The dynamic loader calls `malloc` before libc has set up `environ`;
/// settings can only be read once it has.
fn environment_ready() -> bool {
    unsafe extern "C" {
        static environ: *const *const libc::c_char;
    }
    // SAFETY: reading a pointer-sized global.
    !unsafe { environ }.is_null()
}

fn first_stage() -> u8 {
    let Some(config) = Config::from_env() else {
        return OFF;
    };
    let blocks = config.buffer_mb * (1 << 20) / crate::stream::BLOCK_SIZE;
    crate::stream::MAX_BLOCKS.store(blocks, Ordering::Relaxed);
    crate::spill::ensure(config.spill_dir.as_deref(), crate::spill::slots_for(blocks));
    config::set(config);
    crate::lifecycle::install();
    crate::unwind::modules::refresh();
    ACTIVE
}

/// The library constructor: second stage for the process's first image.
pub fn on_load() {
    if !ensure_started() {
        return;
    }
    if !crate::tls::internal(crate::writer::start) {
        turn_off();
    }
}

//! Queues for what does not belong to one thread's stream: control records
//! (module maps, notes, exit status) and self-contained records written by
//! threads whose stream is already released. The writer thread drains both.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU64, Ordering};

use heapwise_trace::ControlRecord;

use crate::sys::SpinLock;

/// A value behind a [`SpinLock`].
pub struct Locked<T> {
    pub lock: SpinLock,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached while the lock is held.
unsafe impl<T: Send> Sync for Locked<T> {}

impl<T> Locked<T> {
    pub const fn new(value: T) -> Locked<T> {
        Locked {
            lock: SpinLock::new(),
            value: UnsafeCell::new(value),
        }
    }

    /// Runs `f` on the value if the lock is obtained within `max_wait_us`.
    pub fn with<R>(&self, max_wait_us: u64, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let _guard = self.lock.lock_for(max_wait_us)?;
        // SAFETY: we hold the lock.
        Some(f(unsafe { &mut *self.value.get() }))
    }
}

/// Encoded control records waiting for the writer.
pub static CONTROL: Locked<Vec<u8>> = Locked::new(Vec::new());
/// Self-contained (raw) stream records of threads without a stream.
pub static SHARED: Locked<Vec<u8>> = Locked::new(Vec::new());
/// Calls that could not be queued anywhere.
pub static LOST: AtomicU64 = AtomicU64::new(0);
/// The stream id the writer gives [`SHARED`]'s records.
pub const SHARED_STREAM: u32 = 1;

/// Queues a control record (never called from a signal handler).
pub fn push(record: &ControlRecord) {
    let mut encoded = Vec::new();
    record.encode(&mut encoded);
    if CONTROL
        .with(100_000, |queue| queue.extend_from_slice(&encoded))
        .is_none()
    {
        LOST.fetch_add(1, Ordering::Relaxed);
    }
}

/// Moves the queued control records into `out`.
pub fn take(queue: &Locked<Vec<u8>>, out: &mut Vec<u8>) {
    queue.with(1_000_000, |q| {
        out.extend_from_slice(q);
        q.clear();
    });
}

/// Forgets everything queued (a forked child).
pub fn reset_after_fork() {
    CONTROL.lock.force_unlock();
    SHARED.lock.force_unlock();
    CONTROL.with(0, Vec::clear);
    SHARED.with(0, Vec::clear);
    LOST.store(0, Ordering::Relaxed);
}

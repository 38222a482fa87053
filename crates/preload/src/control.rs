//! Queues for what does not belong to one thread's stream: control records
//! (module maps, notes, exit status) and self-contained records written by
//! threads whose stream is already released. The writer thread drains both.

use std::sync::atomic::{AtomicU64, Ordering};

use heapwise_trace::ControlRecord;

use crate::stream::Stream;
use crate::sys::Locked;

/// A queue of self-contained records that any thread appends to under the
/// queue's lock: a stream of its own (so its blocks are in the spill file
/// like a thread's), created at the first append.
pub struct Queue {
    id: u32,
    stream: *const Stream,
}

// SAFETY: only reached through `Locked`, which serialises access.
unsafe impl Send for Queue {}

impl Queue {
    const fn new(id: u32) -> Queue {
        Queue {
            id,
            stream: std::ptr::null(),
        }
    }

    /// Appends whole records; false if they could not be kept (no memory,
    /// or more than a block).
    pub fn extend_from_slice(&mut self, bytes: &[u8]) -> bool {
        if bytes.len() > crate::stream::BLOCK_SIZE {
            return false;
        }
        if self.stream.is_null() {
            match crate::stream::create_queue(self.id) {
                Some(stream) => self.stream = stream,
                None => return false,
            }
        }
        // SAFETY: streams are never freed; the queue's lock makes the
        // caller its only writer.
        let stream = unsafe { &*self.stream };
        let p = unsafe { stream.private() };
        let buf = p.reserve(stream, bytes.len());
        let pos = p.pos();
        buf[pos..pos + bytes.len()].copy_from_slice(bytes);
        p.commit(pos + bytes.len());
        true
    }

    /// The queue's stream, if anything was ever appended.
    pub fn stream(&self) -> Option<&'static Stream> {
        // SAFETY: streams are never freed.
        unsafe { self.stream.as_ref() }
    }
}

/// Encoded control records waiting for the writer (stream 0).
pub static CONTROL: Locked<Queue> = Locked::new(Queue::new(0));
/// Self-contained (raw) stream records of threads without a stream.
pub static SHARED: Locked<Queue> = Locked::new(Queue::new(SHARED_STREAM));
/// Calls that could not be queued anywhere.
pub static LOST: AtomicU64 = AtomicU64::new(0);
/// The stream id the writer gives [`SHARED`]'s records.
pub const SHARED_STREAM: u32 = 1;

/// Queues a control record (never called from a signal handler).
pub fn push(record: &ControlRecord) {
    let mut encoded = Vec::new();
    record.encode(&mut encoded);
    if CONTROL.with(100_000, |queue| queue.extend_from_slice(&encoded)) != Some(true) {
        LOST.fetch_add(1, Ordering::Relaxed);
    }
}

/// The stream of a queue (taken under its lock, briefly).
pub fn stream_of(queue: &Locked<Queue>) -> Option<&'static Stream> {
    queue.with(1_000_000, |q| q.stream()).flatten()
}

/// A new trace of an attached process is starting: both queues start over
/// as queues of the new trace (what they held of the last one is dropped;
/// its writer is gone), under their locks, so no thread is writing to them
/// meanwhile. False if a lock or a block could not be had.
pub fn restart() -> bool {
    LOST.store(0, Ordering::Relaxed);
    let epoch = crate::state::epoch();
    [&CONTROL, &SHARED].into_iter().all(|queue| {
        queue.with(1_000_000, |q| match q.stream() {
            // SAFETY: the queue's lock makes us its only writer.
            Some(stream) => crate::stream::arm(stream, unsafe { stream.private() }, epoch, 0),
            None => true,
        }) == Some(true)
    })
}

/// The oldest trace whose records a queue may still hold (`u32::MAX` when
/// neither exists yet): see `stream::oldest_epoch_in_use`.
pub fn oldest_epoch() -> u32 {
    [&CONTROL, &SHARED]
        .into_iter()
        .map(|queue| {
            queue
                .with(1_000_000, |q| {
                    q.stream().map_or(u32::MAX, crate::stream::epoch_of)
                })
                // Not known: as old as can be, so nothing is unmapped.
                .unwrap_or(0)
        })
        .min()
        .unwrap_or(u32::MAX)
}

/// Forgets everything queued (a forked child: the queues' blocks belong
/// to the parent).
pub fn reset_after_fork() {
    CONTROL.lock.force_unlock();
    SHARED.lock.force_unlock();
    CONTROL.with(0, |q| q.stream = std::ptr::null());
    SHARED.with(0, |q| q.stream = std::ptr::null());
    LOST.store(0, Ordering::Relaxed);
}

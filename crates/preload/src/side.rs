//! The side buffer of a stream: where a signal handler that interrupted a
//! hook on the stream's thread parks its self-contained record until the
//! hook finishes (see `record.rs`, which writes and drains it).

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Room for about 500 typical records: handlers that fire while a hook
/// waits for buffer space keep parking records until it finishes. Pages
/// that are never written are never made resident.
const SIDE_CAPACITY: usize = 64 * 1024;

/// A small buffer that signal handlers on the owning thread append to and
/// the interrupted code drains. Appends reserve space with a
/// compare-and-swap, so handlers nested in handlers cannot overlap.
pub struct SideBuffer {
    len: AtomicUsize,
    data: UnsafeCell<[u8; SIDE_CAPACITY]>,
}

impl SideBuffer {
    /// An empty buffer, allocated zeroed (never built on the stack: it is
    /// larger than some threads' whole stack).
    pub fn boxed() -> Box<SideBuffer> {
        // SAFETY: all-zero bytes are an empty SideBuffer (a zero length and
        // zero data).
        unsafe { Box::<SideBuffer>::new_zeroed().assume_init() }
    }

    /// Whether records are parked.
    #[inline(always)]
    pub fn pending(&self) -> bool {
        self.len.load(Ordering::Relaxed) != 0
    }

    /// Appends `bytes`; false if they do not fit. (Records are at most
    /// `raw_record_len(MAX_FRAMES)`, under the capacity.)
    pub fn append(&self, bytes: &[u8]) -> bool {
        let mut len = self.len.load(Ordering::Acquire);
        loop {
            if len + bytes.len() > SIDE_CAPACITY {
                return false;
            }
            match self.len.compare_exchange(
                len,
                len + bytes.len(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(current) => len = current,
            }
        }
        // SAFETY: [len, len + n) was reserved for this call alone; the
        // drainer runs only when no handler is in progress on this thread.
        unsafe { (&mut *self.data.get())[len..len + bytes.len()].copy_from_slice(bytes) };
        true
    }

    /// Hands every parked record to `sink` and empties the buffer (on the
    /// owning thread, by the code the handlers interrupted).
    pub fn drain(&self, mut sink: impl FnMut(&[u8])) {
        let mut done = 0;
        loop {
            let len = self.len.load(Ordering::Acquire);
            if len > done {
                // SAFETY: bytes below `len` were written by completed handlers.
                sink(unsafe { &(&*self.data.get())[done..len] });
                done = len;
            }
            if self
                .len
                .compare_exchange(len, 0, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return;
            }
        }
    }
}

// SAFETY: see the type's documentation.
unsafe impl Sync for SideBuffer {}

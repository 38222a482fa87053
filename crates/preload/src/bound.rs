//! Keeping the trace under its size limit (`HEAPWISE_MAX_SIZE`; 64 MiB by
//! default for a sampled trace), however long the program runs.
//!
//! The writer hands every payload to a [`Compactor`] before it writes it:
//! the compactor decodes it (what a reader will) and keeps a tally — the
//! totals, each call stack's counters, the sampled blocks still live, and
//! snapshots of memory over time, thinned as they age (`heapwise-trace`'s
//! `tally.rs`). When the next block would take the file past the limit,
//! the writer writes a new file beside the trace — the same header and a
//! checkpoint of that tally (everything up to and including the block) —
//! and renames it over the trace, then goes on appending blocks to it. So
//! the file never passes the limit, a week's trace still shows the whole
//! week (the past more coarsely), and every event since the last
//! compaction is there in full. The checkpoint also holds what a reader
//! of the spill file needs to know which records the trace holds.
//!
//! This all runs on the writer thread: the program's threads never wait
//! for it. A reader that has the old file open keeps reading it whole
//! (a rename does not touch an open file); `heapwise run`'s live view
//! notices the new one and reads it from its start.

use std::ffi::CString;

use heapwise_trace::Header;
use heapwise_trace::block::BlockEncoder;
use heapwise_trace::compact::Compactor;

use crate::sys;

/// A compaction makes the checkpoint at most this share of the limit
/// (thinning its history as needed), leaving the rest for new blocks.
const CHECKPOINT_SHARE: f64 = 0.5;
/// A checkpoint that cannot be made smaller than this share of the limit
/// means the limit is too small for what must be kept.
const CHECKPOINT_MAX_SHARE: f64 = 0.9;
/// History is not thinned below this many snapshots.
const MIN_SNAPSHOTS: usize = 16;

/// Why a block could not be written.
pub enum WriteError {
    /// The system call failed with this `errno`.
    Io(i32),
    /// The size limit cannot hold what the trace must keep.
    Limit(String),
}

/// The size limit of one trace and what keeping it needs.
pub struct Bound {
    max_size: u64,
    compactor: Compactor,
    header: Vec<u8>,
    path: CString,
    tmp: CString,
    /// Bytes in the trace file.
    file_len: u64,
    framed: Vec<u8>,
}

impl Bound {
    /// The limit `max_size` for the trace at `path` (absolute), whose
    /// header `header` was just written.
    pub fn new(max_size: u64, header: &Header, path: &str) -> Option<Bound> {
        let (dir, name) = path.rsplit_once('/').unwrap_or((".", path));
        let encoded = header.encode();
        Some(Bound {
            max_size,
            compactor: Compactor::new(header),
            file_len: encoded.len() as u64,
            header: encoded,
            path: CString::new(path).ok()?,
            tmp: CString::new(format!("{dir}/.{name}.compacting")).ok()?,
            framed: Vec::new(),
        })
    }

    /// The largest payload worth gathering before a block is written: a
    /// small limit needs small blocks.
    pub fn block_target(&self, default: usize) -> usize {
        default.min((self.max_size / 16) as usize).max(4096)
    }

    /// Takes in `payload` (about to be written as a block of `block_len`
    /// bytes) and, if that block would take the file past the limit,
    /// compacts: returns the descriptor of the new trace, which holds the
    /// payload's records already (the block must not be written then).
    pub fn before_write(
        &mut self,
        payload: &[u8],
        block_len: u64,
        encoder: &mut BlockEncoder,
    ) -> Result<Option<i32>, WriteError> {
        if let Err(reason) = self.compactor.observe(payload) {
            return Err(WriteError::Limit(format!(
                "its own records could not be read back to keep the trace under its size limit ({reason})"
            )));
        }
        if self.file_len + block_len <= self.max_size {
            return Ok(None);
        }
        self.compact(encoder).map(Some)
    }

    /// Counts a block written.
    pub fn wrote(&mut self, block_len: u64) {
        self.file_len += block_len;
    }

    fn compact(&mut self, encoder: &mut BlockEncoder) -> Result<i32, WriteError> {
        let header_len = self.header.len() as u64;
        loop {
            self.framed.clear();
            for payload in self.compactor.checkpoint() {
                encoder.encode(&payload, &mut self.framed);
            }
            let len = header_len + self.framed.len() as u64;
            if len as f64 <= self.max_size as f64 * CHECKPOINT_SHARE {
                break;
            }
            if self.compactor.tally().snapshots() > MIN_SNAPSHOTS {
                self.compactor.thin();
                continue;
            }
            if len as f64 <= self.max_size as f64 * CHECKPOINT_MAX_SHARE {
                break;
            }
            return Err(WriteError::Limit(format!(
                "the size limit of {} bytes is too small for what the trace must keep ({} bytes for {} live blocks and the history)",
                self.max_size,
                len,
                self.compactor.tally().live_records()
            )));
        }
        let fd = self.write_new_file().map_err(WriteError::Io)?;
        self.compactor.compacted();
        self.file_len = header_len + self.framed.len() as u64;
        Ok(fd)
    }

    /// Writes the header and the checkpoint to the new file and renames it
    /// over the trace.
    fn write_new_file(&self) -> Result<i32, i32> {
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC;
        // SAFETY: a valid path; the fd is ours.
        let fd = unsafe { libc::open(self.tmp.as_ptr(), flags, 0o644) };
        if fd < 0 {
            return Err(sys::errno());
        }
        let written = sys::write_all(fd, &self.header)
            .and_then(|()| sys::write_all(fd, &self.framed))
            .and_then(|()| {
                // SAFETY: valid paths.
                if unsafe { libc::rename(self.tmp.as_ptr(), self.path.as_ptr()) } == 0 {
                    Ok(())
                } else {
                    Err(sys::errno())
                }
            });
        match written {
            Ok(()) => Ok(fd),
            Err(err) => {
                // SAFETY: our fd and path.
                unsafe {
                    libc::close(fd);
                    libc::unlink(self.tmp.as_ptr());
                }
                Err(err)
            }
        }
    }
}

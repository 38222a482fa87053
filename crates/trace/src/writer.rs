//! Writing a trace from ordinary code: tests, tools, and `heapwise run`
//! appending the exit status of a process it traced. (The preload frames
//! blocks with the same [`crate::block`] functions from its writer thread.)

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::block::{BlockEncoder, put_segment_header, stored_header};
use crate::control::ControlRecord;
use crate::error::TraceError;
use crate::header::Header;

/// Buffers segments and writes them as one block per [`TraceWriter::flush`].
#[derive(Debug)]
pub struct TraceWriter {
    file: File,
    encoder: BlockEncoder,
    payload: Vec<u8>,
    framed: Vec<u8>,
    control: Vec<u8>,
}

impl TraceWriter {
    /// Creates (or truncates) `path` and writes `header`.
    pub fn create(path: impl AsRef<Path>, header: &Header) -> Result<TraceWriter, TraceError> {
        let path = path.as_ref();
        let io = |source| TraceError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = File::create(path).map_err(io)?;
        file.write_all(&header.encode()).map_err(io)?;
        TraceWriter::with_file(file).map_err(io)
    }

    /// Opens an existing trace to append blocks after its first
    /// `valid_len` bytes (its readable part, [`crate::ReadStatus::bytes_read`]):
    /// an unfinished block at the end (the writer was killed while writing
    /// it) is cut off first, since it can never be read. Everything after
    /// `valid_len` is cut off, so never call it on a damaged trace: blocks
    /// after the damage are whole, only unreachable.
    pub fn append_after(path: impl AsRef<Path>, valid_len: u64) -> Result<TraceWriter, TraceError> {
        let path = path.as_ref();
        let io = |source| TraceError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = OpenOptions::new().write(true).open(path).map_err(io)?;
        file.set_len(valid_len).map_err(io)?;
        let mut writer = TraceWriter::with_file(file).map_err(io)?;
        use std::io::Seek;
        writer.file.seek(std::io::SeekFrom::End(0)).map_err(io)?;
        Ok(writer)
    }

    fn with_file(file: File) -> std::io::Result<TraceWriter> {
        Ok(TraceWriter {
            file,
            encoder: BlockEncoder::new()?,
            payload: Vec::new(),
            framed: Vec::new(),
            control: Vec::new(),
        })
    }

    /// Adds a segment of stream `stream`'s records (already encoded).
    pub fn stream(&mut self, stream: u32, records: &[u8]) {
        put_segment_header(&mut self.payload, stream, records.len());
        self.payload.extend_from_slice(records);
    }

    /// Adds a whole payload (segments, as a block holds them).
    pub fn payload(&mut self, payload: &[u8]) {
        self.payload.extend_from_slice(payload);
    }

    /// Adds a control record.
    pub fn control(&mut self, record: &ControlRecord) {
        self.control.clear();
        record.encode(&mut self.control);
        put_segment_header(&mut self.payload, 0, self.control.len());
        self.payload.extend_from_slice(&self.control);
    }

    /// Writes what was added since the last flush as one block.
    pub fn flush(&mut self) -> std::io::Result<()> {
        if self.payload.is_empty() {
            return Ok(());
        }
        self.framed.clear();
        self.encoder.encode(&self.payload, &mut self.framed);
        self.payload.clear();
        self.file.write_all(&self.framed)
    }

    /// Like [`TraceWriter::flush`], with the block stored as is, never
    /// compressed (for `heapwise run --compress never`).
    pub fn flush_stored(&mut self) -> std::io::Result<()> {
        if self.payload.is_empty() {
            return Ok(());
        }
        self.file.write_all(&stored_header(&self.payload))?;
        self.file.write_all(&self.payload)?;
        self.payload.clear();
        Ok(())
    }
}

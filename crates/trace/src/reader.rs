//! Reading a trace: blocks in file order, each stream's records decoded in
//! order, stack nodes mapped to trace-wide ids, handed to a [`Visitor`].
//!
//! The reader never needs more memory than one block, the stack table and a
//! little state per stream, whatever the trace's length. It reads every
//! complete block of a trace that was cut anywhere (the writer was killed, or
//! is still writing: call [`TraceReader::read_block`] again later to pick up
//! new blocks) and stops at the first damaged one, saying where.

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::block::{BLOCK_HEADER_LEN, BlockDecoder, BlockError, BlockHeader, Codec};
use crate::checkpoint::Checkpoint;
use crate::control::ControlRecord;
use crate::decode::SegmentDecoder;
use crate::error::TraceError;
use crate::header::{FIXED_HEADER_LEN, Header};
use crate::record::AllocApi;
use crate::stacks::{StackId, StackTable};

/// One decoded event, with its stack mapped to a trace-wide [`StackId`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A block was allocated (every API but `realloc`/`reallocarray`, and
    /// those when recorded inline).
    Alloc {
        /// Stream (thread slot) that recorded it.
        stream: u32,
        /// Function called.
        api: AllocApi,
        /// Tick at which it returned.
        ts: u64,
        /// Requested size in bytes.
        size: u64,
        /// Call stack.
        stack: StackId,
        /// Returned pointer.
        ptr: u64,
        /// The stream's number for this allocation (0 for records that do
        /// not count: inline-stack records).
        seq: u32,
    },
    /// A block was freed.
    Free {
        /// Stream that recorded it.
        stream: u32,
        /// Tick at which `free` was entered.
        ts: u64,
        /// Freed pointer.
        ptr: u64,
        /// The stream's number of the allocation this frees, when the
        /// record names it (a recent block of the same stream); else 0.
        of_seq: u32,
    },
    /// `realloc`/`reallocarray` returned a block (`old` 0: there was none).
    Realloc {
        /// Stream that recorded it.
        stream: u32,
        /// Function called.
        api: AllocApi,
        /// Tick at which it was entered (when `old` was released).
        entry: u64,
        /// Tick at which it returned.
        ts: u64,
        /// Pointer passed in (0: none).
        old: u64,
        /// Requested size in bytes.
        size: u64,
        /// Call stack.
        stack: StackId,
        /// Returned pointer.
        new: u64,
        /// The stream's number for the new block (0 for inline-stack
        /// records).
        seq: u32,
    },
    /// A thread took over a stream.
    Thread {
        /// Stream.
        stream: u32,
        /// Kernel thread id.
        tid: u64,
    },
    /// Calls that the tracer could not record.
    Lost {
        /// Stream.
        stream: u32,
        /// Number of calls.
        count: u64,
    },
    /// A control record.
    Control(&'a ControlRecord),
    /// A compacted trace's summary of everything before its first records
    /// ([`crate::checkpoint`]); it comes before any other event but the
    /// control records it kept.
    Checkpoint(&'a Checkpoint),
}

/// Receives the events of a trace in order.
pub trait Visitor {
    /// Called for every event. `stacks` already contains every stack the
    /// event refers to.
    fn event(&mut self, event: Event<'_>, stacks: &StackTable);
}

impl<F: FnMut(Event<'_>, &StackTable)> Visitor for F {
    fn event(&mut self, event: Event<'_>, stacks: &StackTable) {
        self(event, stacks)
    }
}

/// How far a trace could be read.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReadStatus {
    /// Complete blocks read.
    pub blocks: u64,
    /// Of those, blocks the tracer stored without compressing them (it
    /// does while the program keeps every CPU busy).
    pub uncompressed_blocks: u64,
    /// Bytes of the file read so far (header and complete blocks).
    pub bytes_read: u64,
    /// Bytes after the last complete block: a block the writer did not
    /// finish (killed, or still writing).
    pub partial_tail_bytes: u64,
    /// Why reading stopped early, if a damaged block was found.
    pub damage: Option<String>,
    /// Bytes of the file up to the end of its checkpoint (header
    /// included; 0 without one: `crate::checkpoint`).
    pub checkpoint_bytes: u64,
}

impl ReadStatus {
    /// Whether the trace ends in the middle of a block.
    pub fn truncated(&self) -> bool {
        self.partial_tail_bytes > 0
    }
}

/// Reads a trace file block by block.
#[derive(Debug)]
pub struct TraceReader {
    file: File,
    /// The file's device and inode (a compacting tracer renames a new
    /// file over the trace: [`TraceReader::replaced`]).
    identity: (u64, u64),
    path: PathBuf,
    header: Header,
    /// The format version in the fixed header.
    version: u16,
    offset: u64,
    stored: Vec<u8>,
    raw: Vec<u8>,
    blocks: BlockDecoder,
    decoder: SegmentDecoder,
    status: ReadStatus,
}

impl TraceReader {
    /// Opens a trace and reads its header.
    pub fn open(path: impl AsRef<Path>) -> Result<TraceReader, TraceError> {
        let path = path.as_ref().to_path_buf();
        let io = |source| TraceError::Io {
            path: path.clone(),
            source,
        };
        let file = File::open(&path).map_err(io)?;
        let metadata = file.metadata().map_err(io)?;
        let identity = (metadata.dev(), metadata.ino());
        let len = metadata.len();
        if len == 0 {
            return Err(TraceError::Empty);
        }
        let mut fixed = [0u8; FIXED_HEADER_LEN];
        let got = read_at_most(&file, &mut fixed, 0).map_err(io)?;
        if got < FIXED_HEADER_LEN {
            let prefix = got.min(crate::header::MAGIC.len());
            return Err(if fixed[..prefix] == crate::header::MAGIC[..prefix] {
                TraceError::TruncatedHeader
            } else {
                TraceError::NotATrace
            });
        }
        let (payload_len, crc) = Header::parse_fixed(&fixed)?;
        let version = u16::from_le_bytes([fixed[8], fixed[9]]);
        let mut payload = vec![0u8; payload_len as usize];
        let got = read_at_most(&file, &mut payload, FIXED_HEADER_LEN as u64).map_err(io)?;
        if got < payload.len() {
            return Err(TraceError::TruncatedHeader);
        }
        if crc32fast::hash(&payload) != crc {
            return Err(TraceError::BadHeader("its checksum does not match".into()));
        }
        let header = Header::decode_payload(&payload)?;
        let offset = (FIXED_HEADER_LEN + payload.len()) as u64;
        let blocks = BlockDecoder::new().map_err(io)?;
        Ok(TraceReader {
            file,
            identity,
            path,
            header,
            version,
            offset,
            stored: Vec::new(),
            raw: Vec::new(),
            blocks,
            decoder: SegmentDecoder::for_version(version),
            status: ReadStatus {
                bytes_read: offset,
                ..ReadStatus::default()
            },
        })
    }

    /// Opens a trace to read on after `status`, the status a reader
    /// reached in it before: the blocks after `status.bytes_read`, counted
    /// on from `status`. The streams' decoding starts afresh, as it does
    /// for blocks that a new writer appended ([`crate::TraceWriter::append_after`]).
    pub fn resume(path: impl AsRef<Path>, status: &ReadStatus) -> Result<TraceReader, TraceError> {
        let mut reader = TraceReader::open(path)?;
        if status.bytes_read >= reader.offset {
            reader.offset = status.bytes_read;
            reader.status = status.clone();
        }
        Ok(reader)
    }

    /// Whether the path now names another file than the one being read:
    /// a tracer that keeps its trace under a size limit replaced it with a
    /// compacted one (`crate::checkpoint`), which must be read from its
    /// start.
    pub fn replaced(&self) -> bool {
        std::fs::metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) != self.identity)
    }

    /// The trace's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The trace's format version.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every stack seen so far.
    pub fn stacks(&self) -> &StackTable {
        self.decoder.stacks()
    }

    /// Every stack seen so far, to move out and back in (a caller that
    /// keeps analysing while the trace grows swaps its own table in before
    /// reading more and out after, instead of copying it).
    pub fn stacks_mut(&mut self) -> &mut StackTable {
        self.decoder.stacks_mut()
    }

    /// How far the trace has been read.
    pub fn status(&self) -> &ReadStatus {
        &self.status
    }

    /// Reads every complete block, then returns the status.
    pub fn read_all<V: Visitor>(&mut self, visitor: &mut V) -> Result<ReadStatus, TraceError> {
        while self.read_block(visitor)? {}
        Ok(self.status.clone())
    }

    /// Reads and decodes the next complete block. Returns `Ok(false)` when
    /// there is none (end of file, an unfinished block, or damage: see
    /// [`TraceReader::status`]); calling again later picks up blocks written
    /// since, unless the trace is damaged.
    pub fn read_block<V: Visitor>(&mut self, visitor: &mut V) -> Result<bool, TraceError> {
        let Some(next) = self.load_block()? else {
            return Ok(false);
        };
        let raw = std::mem::take(&mut self.raw);
        let before = self.decoder.checkpointed();
        let result = self.decoder.decode(&raw, visitor);
        self.raw = raw;
        if let Err(reason) = result {
            return Ok(self.damaged(&reason));
        }
        self.accept_block(next);
        if !before && self.decoder.checkpointed() {
            self.status.checkpoint_bytes = self.offset;
        }
        Ok(true)
    }

    /// Reads the next complete block and returns its decoded payload
    /// without decoding its records (tools that copy or compact a trace);
    /// `None` at the end, as [`TraceReader::read_block`].
    pub fn next_payload(&mut self) -> Result<Option<&[u8]>, TraceError> {
        let Some(next) = self.load_block()? else {
            return Ok(None);
        };
        self.accept_block(next);
        Ok(Some(&self.raw))
    }

    /// Reads every complete block from here on without decoding records,
    /// handing each segment to `segment(stream, bytes)` — for tools that
    /// only need to know what each stream holds (recovery counts what is
    /// already in the file). Returns the status, like
    /// [`TraceReader::read_all`].
    pub fn scan_segments(
        &mut self,
        segment: &mut dyn FnMut(u32, &[u8]),
    ) -> Result<ReadStatus, TraceError> {
        while let Some(next) = self.load_block()? {
            let raw = std::mem::take(&mut self.raw);
            let result = crate::decode::for_each_segment(&raw, |stream, bytes| {
                segment(stream, bytes);
                Ok(())
            });
            self.raw = raw;
            if let Err(reason) = result {
                self.damaged(&reason);
                break;
            }
            self.accept_block(next);
        }
        Ok(self.status.clone())
    }

    /// Reads the next complete block into `self.raw`; `None` when there is
    /// none (end, an unfinished block, or damage). The block counts as read
    /// only once [`TraceReader::accept_block`] is called.
    fn load_block(&mut self) -> Result<Option<LoadedBlock>, TraceError> {
        if self.status.damage.is_some() {
            return Ok(None);
        }
        let io = |source| TraceError::Io {
            path: self.path.clone(),
            source,
        };
        let file_len = self.file.metadata().map_err(io)?.len();
        self.status.partial_tail_bytes = file_len.saturating_sub(self.offset);
        if file_len < self.offset + BLOCK_HEADER_LEN as u64 {
            return Ok(None);
        }
        let mut fixed = [0u8; BLOCK_HEADER_LEN];
        self.file
            .read_exact_at(&mut fixed, self.offset)
            .map_err(io)?;
        let Some(block) = BlockHeader::parse(&fixed) else {
            self.damaged("the bytes there are not a block header");
            return Ok(None);
        };
        let body_start = self.offset + BLOCK_HEADER_LEN as u64;
        if file_len < body_start + u64::from(block.stored_len) {
            return Ok(None);
        }
        self.stored.resize(block.stored_len as usize, 0);
        self.file
            .read_exact_at(&mut self.stored, body_start)
            .map_err(io)?;
        if let Err(err) = self.blocks.decode(&block, &self.stored, &mut self.raw) {
            self.damaged(match err {
                BlockError::Checksum => "its checksum does not match",
                BlockError::Codec => "its compressed data is invalid",
            });
            return Ok(None);
        }
        Ok(Some(LoadedBlock {
            end: body_start + u64::from(block.stored_len),
            stored: block.codec == Codec::Stored,
            file_len,
        }))
    }

    fn accept_block(&mut self, block: LoadedBlock) {
        self.offset = block.end;
        self.status.blocks += 1;
        self.status.uncompressed_blocks += u64::from(block.stored);
        self.status.bytes_read = self.offset;
        self.status.partial_tail_bytes = block.file_len - self.offset;
    }

    fn damaged(&mut self, reason: &str) -> bool {
        self.status.damage = Some(format!(
            "block at byte {} is damaged: {reason}",
            self.offset
        ));
        false
    }
}

/// A block read but not yet counted as read.
struct LoadedBlock {
    /// File offset after it.
    end: u64,
    /// Stored without compression.
    stored: bool,
    /// The file's length when it was read.
    file_len: u64,
}

fn read_at_most(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(done)
}

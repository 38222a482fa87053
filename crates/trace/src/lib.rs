//! The heapwise trace format.
//!
//! A trace is what `libheapwise_preload.so` writes while a program runs and
//! what every analysis reads: a [header] naming the process and its
//! clock, then a sequence of self-checking [blocks](mod@block). Each block holds
//! segments of *streams* — one stream per thread slot, carrying allocation,
//! free and reallocation records, and the stack-trie nodes they refer to,
//! delta-encoded ([`record`]) — and of the *control* stream (module maps,
//! clock synchronisation, counters, exit status: [`control`]).
//!
//! The full layout is documented in `docs/trace-format.md`. This crate is the
//! only code the preload and the analyzers share: the preload uses the
//! allocation-free encoders ([`record::StreamEncoder`], [`block`]); the
//! analyzers use [`TraceReader`].
//!
//! ```
//! use heapwise_trace::{AllocApi, ControlRecord, Event, StreamEncoder, TraceReader, TraceWriter};
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = dir.path().join("example.hwt");
//! // Write a tiny trace by hand: one thread allocating 64 bytes and freeing them.
//! let mut writer = TraceWriter::create(&path, &heapwise_trace::Header::new(4242, vec!["demo".into()]))?;
//! let mut enc = StreamEncoder::new();
//! let mut buf = [0u8; 256];
//! let mut pos = enc.node(&mut buf, 0, 0, 0x401136);
//! pos = enc.alloc(&mut buf, pos, AllocApi::Malloc, 10, 64, 1, 0x5000);
//! pos = enc.free(&mut buf, pos, 0x5000, || 20);
//! writer.stream(1, &buf[..pos]);
//! writer.flush()?;
//!
//! let mut reader = TraceReader::open(&path)?;
//! let mut events = Vec::new();
//! reader.read_all(&mut |event: Event<'_>, _: &heapwise_trace::StackTable| events.push(format!("{event:?}")))?;
//! assert_eq!(events.len(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod block;
pub mod bytes;
pub mod checkpoint;
pub mod compact;
pub mod control;
pub mod decode;
mod error;
pub mod header;
pub mod liveset;
pub mod pack;
pub mod reader;
pub mod record;
pub mod spill;
pub mod stacks;
pub mod tally;
pub mod varint;
pub mod weigh;
mod writer;

pub use control::{
    ClockSync, ControlRecord, Counters, ExitStatus, LoadSegment, ModuleLoad, ReachScan,
    Reachability, Recovery,
};
pub use error::TraceError;
pub use header::{ATTACH_SESSION, FORMAT_VERSION, Header, TickSource};
pub use reader::{Event, ReadStatus, TraceReader, Visitor};
pub use record::{AllocApi, StreamEncoder};
pub use stacks::{StackId, StackTable};
pub use writer::TraceWriter;

//! GC log results (`heapwise gc`).
//!
//! JSON is [`heapwise_gc::GcReport`] as it is ([`crate::output::write_json`],
//! schema `heapwise.gc/1`); [`text`] is for people: the numbers, a chart of
//! the heap after GC, and what to do.

pub mod text;

pub use text::{TextOptions, recommendation, write};

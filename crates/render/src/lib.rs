//! Rendering of heapwise's analysis results.
//!
//! Analysis crates return plain, serialisable data; this crate turns that data
//! into what people and tools read. Each domain has its own folder and each
//! output format its own module inside it, so a format can change without
//! touching the analysis that feeds it.
#![deny(missing_docs)]

pub mod gc;
pub mod heap;
pub mod native;
pub mod output;
pub mod profiles;
pub mod watch;

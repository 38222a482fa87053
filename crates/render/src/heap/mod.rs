//! V8 heap snapshot results (`heapwise heap ...`).
//!
//! JSON is the analysis structs as they are ([`crate::output::write_json`]);
//! [`text`] is for people.

pub mod text;
pub mod watch;

pub use text::{TextOptions, write_diff, write_leaks, write_summary};
pub use watch::write_watch;

//! Heap dump results (`heapwise heap ...`), V8 snapshots and JVM dumps alike.
//!
//! JSON is the analysis structs as they are ([`crate::output::write_json`]);
//! [`text`] and [`html`] (one self-contained page) are for people, worded
//! once for both (`wording.rs`); [`watch`] is `heap watch`'s text.

pub mod html;
pub mod text;
pub mod watch;
mod wording;

pub use text::{Limits, write_diff, write_leaks, write_summary};
pub use watch::write_watch;

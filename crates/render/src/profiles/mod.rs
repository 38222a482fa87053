//! Other profilers' heap profiles judged as a series (`heapwise
//! profiles`).
//!
//! JSON is [`heapwise_profiles::ProfilesReport`] as it is
//! ([`crate::output::write_json`], schema `heapwise.profiles/1`); [`text`]
//! is for people: the series, the verdict, the most suspicious call stacks
//! with their frames, and how precise sampled profiles are.

pub mod text;

pub use text::{TextOptions, write};

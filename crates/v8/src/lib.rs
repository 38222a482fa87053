//! Reading V8 and Node.js heap snapshots (`.heapsnapshot` files).
//!
//! The crate answers three questions about a JavaScript heap, for files of a
//! gigabyte and more:
//!
//! - **What is in it?** [`summarize`] groups objects by constructor with
//!   count, self and retained bytes ([`HeapSummary`]).
//! - **What changed?** [`diff`] compares two snapshots of one process by
//!   object id ([`HeapDiff`]).
//! - **What leaked, and what holds it?** [`find_leaks`] applies memlab's
//!   three-snapshot method (allocated after the baseline, present in the
//!   target, still alive in the final snapshot), clusters the leaked objects
//!   by their retainer path and names a likely cause ([`LeakReport`]).
//!
//! The pipeline is: [`read_snapshot`] (a streaming parser that stores nodes
//! and edges as one `u32` vector per field) → [`HeapGraph::build`]
//! (retainers, distances from the user roots, Lengauer–Tarjan dominators
//! and retained sizes, with Chrome DevTools' edge rules) → the analyses,
//! which return plain serialisable data. Nothing here prints; rendering lives
//! in `heapwise-render`.
//!
//! [`inspector`] talks to a live Node.js process started with `--inspect`:
//! it streams heap snapshots to disk and reads heap usage; [`signal`] opens
//! the inspector of a process started without `--inspect` (SIGUSR1); [`watch`] samples
//! that usage over time and judges it.
//!
//! # Example
//!
//! ```
//! use heapwise_v8::{read_snapshot, summarize, HeapGraph};
//!
//! // A tiny snapshot: the root retains a `Foo` (32 bytes) that retains a string (16 bytes).
//! let text = r#"{"snapshot":{"meta":{
//!     "node_fields":["type","name","id","self_size","edge_count"],
//!     "node_types":[["synthetic","object","string"],"string","number","number","number"],
//!     "edge_fields":["type","name_or_index","to_node"],
//!     "edge_types":[["property","shortcut","weak"],"string_or_number","node"]},
//!   "node_count":3,"edge_count":2},
//!   "nodes":[0,0,1,0,1, 1,1,3,32,1, 2,2,5,16,0],
//!   "edges":[1,3,5, 0,4,10],
//!   "strings":["","Foo","hello","global","data"]}"#;
//! let snapshot = read_snapshot(text.as_bytes(), None)?;
//! let graph = HeapGraph::build(snapshot, None);
//! let summary = summarize(&graph);
//! let foo = summary.constructors.iter().find(|c| c.name == "Foo").unwrap();
//! assert_eq!((foo.count, foo.self_bytes, foo.retained_bytes), (1, 32, 48));
//! # Ok::<(), heapwise_v8::ParseError>(())
//! ```
#![deny(missing_docs)]

mod diff;
mod error;
mod graph;
pub mod inspector;
mod leaks;
mod parse;
pub mod signal;
mod snapshot;
mod summary;
pub mod watch;

pub use diff::{ObjectIndex, diff};
pub use error::ParseError;
pub use graph::{GraphOptions, HeapGraph, NO_DISTANCE, SYSTEM_DISTANCE};
pub use heapwise_heap::{
    Cause, ConstructorDiff, ConstructorSummary, DIFF_SCHEMA, HeapDiff, HeapSummary, LEAKS_SCHEMA,
    LeakCluster, LeakReport, LeakRoot, LeakedConstructor, PathStep, SUMMARY_SCHEMA,
};
pub use leaks::{LeakOptions, find_leaks};
pub use parse::{read_node_ids, read_snapshot, read_snapshot_file};
pub use snapshot::{ClassKey, EdgeName, EdgeType, HeapSnapshot, NodeType, StringTable};
pub use summary::summarize;

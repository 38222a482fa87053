//! `heapwise heap ...` end to end: V8 snapshots of real Node.js processes
//! (`v8.rs`) and HPROF dumps of real JVMs (`hprof.rs`).

mod hprof;
mod v8;

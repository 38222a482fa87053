//! `heapwise heap ...` end to end: V8 snapshots of real Node.js processes
//! (`v8.rs`) and HPROF dumps of real JVMs (`hprof.rs`), each run's
//! snapshots or dumps shared by the tests that read them; their HTML pages
//! in a real browser (`html.rs`).

mod hprof;
mod html;
mod v8;

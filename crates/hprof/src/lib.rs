//! Reading JVM heap dumps (HPROF files, as `jcmd PID GC.heap_dump` and
//! `jmap -dump` write them).
//!
//! The pipeline is the one `heapwise-v8` has for V8 snapshots:
//! [`read_dump`] (a streaming reader, two passes over the file with a 1 MiB
//! buffer, any identifier size, every record and sub-record kind; gzip'd
//! dumps, as `jcmd PID GC.heap_dump -gz=1` writes them, decompressed as they
//! are read) →
//! [`HprofGraph::build`] (Lengauer–Tarjan dominators and retained sizes from
//! `heapwise-heap`, shortest paths from the GC roots) → the analyses, which
//! return `heapwise-heap`'s report model, so `heapwise heap` prints a JVM
//! dump as it prints a V8 snapshot:
//!
//! - [`summarize`]: per class, count (equal to `jmap -histo:live`'s), shallow
//!   and retained bytes;
//! - [`diff`]: two dumps compared by class ([`ClassHistogram`]) — object ids
//!   are addresses, which the garbage collector changes;
//! - [`find_leaks`]: three dumps; the classes that keep growing and the
//!   accumulation points that hold them (a static field, a collection that
//!   only grows, a listener list, a ThreadLocal, a class loader).
//!
//! [`attach`] takes a dump of a running JVM through HotSpot's attach
//! mechanism, as `jcmd PID GC.heap_dump` does, without needing a JDK.
//!
//! Object sizes are not in the file; they are computed as HotSpot lays
//! objects out (see [`SizeModel`]).
//!
//! # Example
//!
//! ```no_run
//! use heapwise_hprof::{HprofGraph, read_dump_file, summarize};
//!
//! let dump = read_dump_file("app.hprof".as_ref(), None)?;
//! let graph = HprofGraph::build(dump, false, None);
//! for class in summarize(&graph).constructors.iter().take(10) {
//!     println!("{:>12} {:>8} {}", class.retained_bytes, class.count, class.name);
//! }
//! # Ok::<(), heapwise_hprof::HprofError>(())
//! ```
#![deny(missing_docs)]

pub mod attach;
mod error;
pub mod format;
mod graph;
mod leaks;
mod model;
mod parse;
mod summary;

pub use error::HprofError;
pub use format::java_class_name;
pub use graph::{HprofGraph, NO_DISTANCE};
pub use leaks::{Baseline, LeakOptions, find_leaks};
pub use model::{
    ClassInfo, ClassKind, Field, Frame, HprofDump, NULL, ROOT, RootKind, SizeModel, Thread,
};
pub use parse::compressed::{Content, GZIP_MAGIC, content_of, is_gzip};
pub use parse::{MAGIC, is_hprof, read_dump, read_dump_file};
pub use summary::{ClassHistogram, diff, summarize};

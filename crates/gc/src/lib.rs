//! GC logs: is the garbage collector keeping up, and does the heap *after*
//! GC keep rising?
//!
//! "The GC doesn't seem to work" is how a leak in a garbage-collected
//! runtime usually looks from outside. The GC log tells the two apart: if
//! the heap after each collection keeps rising, live data grows (a leak or
//! an unbounded cache); if it does not, the collector works and the problem
//! is elsewhere (heap too small, allocation rate too high, or memory outside
//! the GC heap).
//!
//! # Overview
//!
//! - **Parsers** ([`GcLogReader`], [`read_log`], [`read_path`]) read Node.js
//!   `--trace-gc` and `--trace-gc-nvp`, JVM unified logging (`-Xlog:gc`,
//!   `-Xlog:gc*`, any decorators; G1, Parallel, Serial, ZGC, Shenandoah),
//!   JDK 8 `-XX:+PrintGCDetails`, and Go `GODEBUG=gctrace=1` into one typed
//!   model: a [`GcLog`] of [`GcEvent`]s with time, [`GcKind`]
//!   (minor/major/full), pause, heap before/after/total. The format is
//!   detected unless given. Lines that are not GC events are skipped and
//!   counted; a file without any GC event is a [`GcError::NoEvents`] that
//!   names the formats tried (or, for OpenJ9, JRockit and HP-UX logs, what
//!   the file is). The reader is incremental, so a log that is still being
//!   written can be fed as it grows; `.gz` files are read transparently and
//!   a rotated set ([`read_paths`]) is read in the order it was written.
//!   A file that holds several runs of the program is split into runs.
//! - **Analysis** ([`analyze`]) returns a serialisable [`GcReport`]
//!   (JSON schema `heapwise.gc/1`): collections by kind, pause statistics
//!   (count, total, mean, p50/p95/p99, max) overall and per kind, GC
//!   overhead, allocation and promotion rates, long pauses, back-to-back
//!   full collections, and the heap-after-GC series judged by
//!   `heapwise-series` (pattern, leak, slope, time to the maximum heap),
//!   with [`Finding`]s that name the likely cause.
//!
//! Formats, thresholds and the JSON schema are described in
//! `docs/gc-logs.md`.
//!
//! # Example
//!
//! ```
//! use heapwise_gc::{AnalysisOptions, FindingKind, LogFormat, analyze, read_log};
//!
//! // Go gctrace: the live heap (third number) grows 2 MB per collection.
//! let mut text = String::new();
//! for i in 0..30 {
//!     let live = 10 + 2 * i;
//!     text.push_str(&format!(
//!         "gc {} @{}.0s 1%: 0.020+1.5+0.010 ms clock, 0.08+0.1/1.2/2.0+0.04 ms cpu, \
//!          {}->{}->{} MB, {} MB goal, 0 MB stacks, 0 MB globals, 4 P\n",
//!         i + 1, i, live * 2, live * 2 + 1, live, live * 2
//!     ));
//! }
//! let log = read_log(text.as_bytes(), None)?;
//! assert_eq!(log.format, LogFormat::Go);
//!
//! let report = analyze(&log, &AnalysisOptions::default());
//! assert_eq!(report.collections, 30);
//! assert_eq!(report.pauses.count, 30);
//! assert!((report.pauses.max_ms.unwrap() - 0.03).abs() < 1e-9);
//! assert!(report.heap_after_gc.leak);
//! let slope = report.heap_after_gc.slope_bytes_per_s.unwrap();
//! assert!((slope - 2.0 * 1024.0 * 1024.0).abs() < 1.0);
//! assert_eq!(report.findings[0].kind, FindingKind::LiveDataGrowing);
//! # Ok::<(), heapwise_gc::GcError>(())
//! ```
#![deny(missing_docs)]

mod analysis;
mod error;
mod foreign;
mod model;
mod parse;
mod reader;
mod rotation;
mod scan;

pub use analysis::{
    AnalysisOptions, Coverage, Finding, FindingKind, FullRun, GcReport, HeapAfterGc, HeapPoint,
    KindCounts, LongPauses, PauseRef, PauseStats, PausesByKind, RunSummary, SCHEMA, SeriesBasis,
    TimeAxis, analyze,
};
pub use error::GcError;
/// The series verdict types `heap_after_gc` carries.
pub use heapwise_series::{Pattern, TrendBasis, Verdict};
pub use model::{Clock, GcEvent, GcKind, GcLog, LineCounts, LogFile, LogFormat, Runtime};
pub use reader::{GcLogReader, decompressed, read_log, read_path, read_paths};

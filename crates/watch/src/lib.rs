//! Watching a running process's memory from the outside: is it leaking, in
//! which pattern, how fast, and when will it hit its limit?
//!
//! `heapwise watch --pid 4242` needs no restart, no preload and no
//! cooperation from the process, so it works for a program in any language.
//! This crate does the sampling and the judging and returns plain,
//! serialisable data; it never prints. Rendering (text, JSON, CSV,
//! Prometheus) lives in `heapwise-render`, the dashboard and the sampling
//! loop in the `heapwise` binary.
//!
//! # Overview
//!
//! - [`Sampler`] reads one process (or, with [`SamplerOptions::children`],
//!   its whole tree) at each call: `/proc/PID/status` (`VmRSS`, `RssAnon`,
//!   `RssFile`, `RssShmem`, `VmSwap`, `VmHWM`), `statm`, PSS from
//!   `smaps_rollup` only while that is cheap ([`PssPolicy`]), and its memory
//!   cgroup (`memory.current`, the lowest `memory.max` up the hierarchy,
//!   `memory.stat`, `memory.events`; cgroup v1 on hybrid hosts). Read-only,
//!   a few small files per sample.
//! - [`History`] keeps the [`Sample`]s and judges **anonymous memory** with
//!   `heapwise-series` — the whole watch and a sliding window — into a
//!   [`WatchVerdict`]: pattern, leak, slope with its interval, confidence,
//!   and the time to the cgroup limit or `MemTotal`.
//! - [`Watch`] ties the two together, re-judges within a CPU budget
//!   ([`Watch::refresh`]) and produces a [`Snapshot`] (what a dashboard or a
//!   metrics scrape shows) or the full [`Report`] (`heapwise.watch/1`).
//!
//! # Example
//!
//! ```
//! use heapwise_watch::{Watch, WatchOptions, EndReason, WatchEnd};
//!
//! // Watch this very process for a few samples.
//! let mut watch = Watch::attach(std::process::id().into(), WatchOptions::default())?;
//! for i in 0..5 {
//!     let sample = watch.sample(f64::from(i) * 0.01)?.expect("we are still running");
//!     assert!(sample.anon_bytes <= sample.rss_bytes);
//!     std::thread::sleep(std::time::Duration::from_millis(10));
//! }
//! watch.finish(WatchEnd { reason: EndReason::Duration, exit: None });
//! let report = watch.report();
//! assert_eq!(report.schema, "heapwise.watch/1");
//! assert_eq!(report.samples.len(), 5);
//! // Five samples over 40 ms say little, and the verdict says so.
//! assert!(report.snapshot.verdict.confidence < 0.3);
//! # Ok::<(), heapwise_watch::WatchError>(())
//! ```
#![deny(missing_docs)]

mod cgroup;
mod error;
mod history;
mod procfs;
mod sample;
mod sampler;
mod watch;

pub use cgroup::{CgroupInfo, CgroupSample};
pub use error::WatchError;
pub use heapwise_series::{Pattern, TrendBasis, Verdict};
pub use history::{
    Basis, ConfidenceLevel, History, JudgeOptions, LimitSource, OomSeen, Peak, WatchVerdict,
};
pub use sample::{PssPolicy, PssState, PssStatus, Sample};
pub use sampler::{Sampler, SamplerOptions, Target};
pub use watch::{EndReason, ExitStatus, Report, SCHEMA, Snapshot, Watch, WatchEnd, WatchOptions};

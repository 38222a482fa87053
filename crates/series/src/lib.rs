//! Judging a memory time series: is it a leak, and what shape is it?
//!
//! Every part of heapwise ends up with the same question about a series of
//! `(seconds, bytes)` samples — live heap bytes of one call stack
//! (`heapwise report`), RSS of a running process sampled every second
//! (`heapwise watch`), heap size after each collection (`heapwise gc`). This
//! crate answers it once, as a pure library: plain data in, a serialisable
//! [`Verdict`] out, no I/O.
//!
//! # Overview
//!
//! - [`Series`] cleans the input: drops NaN/infinite samples, sorts by time,
//!   merges equal times. Building one never fails except for columns of
//!   different lengths.
//! - [`analyze`] classifies the series into one [`Pattern`] — `stable`,
//!   `plateau`, `sawtooth`, `linear`, `step`, `periodic`, `spike` — and
//!   decides [`Verdict::leak`]: growth that is material (relative to the
//!   level, with an absolute floor), statistically significant, and has not
//!   levelled off. It reports a Theil–Sen slope with its confidence interval,
//!   the Mann–Kendall test with the Hamed–Rao autocorrelation correction,
//!   change points, the period, a confidence and a one-sentence reason.
//! - The building blocks are public too: [`trend()`] (Theil–Sen and
//!   Mann–Kendall), [`segments`] (PELT change points), [`lower_envelope`],
//!   [`dominant_period`], [`transients`], [`time_to_limit`], and
//!   [`downsample`] for timelines of at most a few thousand points.
//!
//! Long series cost O(n) plus a constant: the quadratic methods run on at
//! most [`Options::max_points`] time buckets (512 by default), so a 100,000
//! sample series is judged in a few milliseconds. Every threshold is a field
//! of [`Options`], documented with the reason for its default; the methods
//! and the decision procedure are described in `docs/statistics.md`.
//!
//! # Example
//!
//! ```
//! use heapwise_series::{analyze, Options, Pattern, Series};
//!
//! // RSS sampled every second for five minutes: 200 MiB, growing 64 KiB/s,
//! // with a little jitter.
//! let mib = 1024.0 * 1024.0;
//! let series = Series::from_pairs((0..300).map(|i| {
//!     let t = i as f64;
//!     let jitter = ((i * 7919) % 13) as f64 * 4096.0;
//!     (t, 200.0 * mib + 65536.0 * t + jitter)
//! }));
//!
//! let verdict = analyze(&series, &Options { subject: "RSS".into(), ..Options::default() });
//! assert_eq!(verdict.pattern, Pattern::Linear);
//! assert!(verdict.leak);
//! let slope = verdict.slope_bytes_per_s.unwrap();
//! assert!((slope - 65536.0).abs() < 1000.0);
//! assert!(verdict.reason.starts_with("RSS rose 64.0 KiB/s for 5.0 min with no plateau"));
//!
//! // Seconds until a 1 GiB limit at the pessimistic (upper-bound) rate.
//! let eta = verdict.time_to_limit(verdict.last_bytes.unwrap(), 1024.0 * mib).unwrap();
//! assert!(eta > 12_000.0 && eta < 13_000.0);
//! ```
#![deny(missing_docs)]

mod changepoint;
mod classify;
mod downsample;
mod envelope;
mod features;
mod forecast;
mod options;
mod periodicity;
mod series;
mod spikes;
mod stats;
mod swings;
mod trend;
mod verdict;

pub use changepoint::{Segment, segments};
pub use classify::analyze;
pub use downsample::{Aggregate, Point, downsample};
pub use envelope::lower_envelope;
pub use forecast::time_to_limit;
pub use options::Options;
pub use periodicity::{Period, dominant_period};
pub use series::{Series, SeriesError};
pub use spikes::{Transient, transients};
pub use trend::{MannKendall, TheilSen, Trend, trend};
pub use verdict::{ChangePoint, Pattern, TrendBasis, Verdict};

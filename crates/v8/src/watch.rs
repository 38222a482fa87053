//! `heapwise heap watch`: the JS heap's used bytes sampled over the
//! inspector at a fixed interval, judged as a memory series, and the
//! report model (`heapwise.heap-watch/1`) that the text and JSON outputs
//! read. The snapshots taken after a leak verdict and their leak search
//! are the caller's (they read and write files).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::LeakReport;
use crate::inspector::{Inspector, InspectorError};

/// Schema of `heapwise heap watch --format json`.
pub const WATCH_SCHEMA: &str = "heapwise.heap-watch/1";

/// How to sample.
#[derive(Clone, Copy, Debug)]
pub struct WatchOptions {
    /// Time between samples.
    pub interval: Duration,
    /// How long to sample.
    pub duration: Duration,
    /// Force a garbage collection before each sample, so that the series is
    /// the live heap rather than what the collector has not reached yet.
    pub gc: bool,
}

/// One sample of the heap.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct HeapSample {
    /// Seconds since the first sample was due.
    pub t_s: f64,
    /// Bytes used by objects (live ones only, after a forced collection).
    pub used_bytes: u64,
    /// Bytes the heap has reserved.
    pub total_bytes: u64,
}

/// The verdict in the shape `heapwise watch` uses, plus the full analysis.
#[derive(Clone, Debug, Serialize)]
pub struct WatchVerdict {
    /// Whether the heap leaks.
    pub leak: bool,
    /// The pattern of the series.
    pub pattern: &'static str,
    /// The growth rate, when there is a trend.
    pub slope_bytes_per_s: Option<f64>,
    /// The heap's limit, when known.
    pub limit_bytes: Option<u64>,
    /// When the limit would be reached at this rate.
    pub time_to_limit_s: Option<f64>,
    /// One sentence saying why.
    pub reason: String,
    /// The series analysis behind it.
    pub analysis: heapwise_series::Verdict,
}

/// `heapwise heap watch` as JSON.
#[derive(Clone, Debug, Serialize)]
pub struct HeapWatchReport {
    /// [`WATCH_SCHEMA`].
    pub schema: &'static str,
    /// The inspector's address.
    pub inspect: String,
    /// The target's title (its script, for Node.js).
    pub target: String,
    /// Whether a collection was forced before each sample.
    pub gc_before_samples: bool,
    /// The samples, in order.
    pub samples: Vec<HeapSample>,
    /// The verdict on `used_bytes`.
    pub verdict: WatchVerdict,
    /// Snapshots taken after a leak verdict (baseline, target, final).
    pub snapshots: Vec<PathBuf>,
    /// The leak search on those snapshots.
    pub leaks: Option<LeakReport>,
}

/// Samples the heap every `options.interval` for `options.duration`,
/// passing each sample to `on_sample` as it is taken.
pub fn sample(
    inspector: &mut Inspector,
    options: &WatchOptions,
    mut on_sample: impl FnMut(&HeapSample),
) -> Result<Vec<HeapSample>, InspectorError> {
    let start = Instant::now();
    let mut samples = Vec::new();
    let mut next_at = start;
    loop {
        let now = Instant::now();
        if next_at > now {
            std::thread::sleep(next_at - now);
        }
        next_at += options.interval;
        if options.gc {
            inspector.collect_garbage()?;
        }
        let usage = inspector.heap_usage()?;
        let sample = HeapSample {
            t_s: start.elapsed().as_secs_f64(),
            used_bytes: usage.used_bytes,
            total_bytes: usage.total_bytes,
        };
        on_sample(&sample);
        samples.push(sample);
        if start.elapsed() + options.interval > options.duration {
            return Ok(samples);
        }
    }
}

/// Judges the used bytes of `samples` (taken after forced collections when
/// `gc`).
pub fn judge(samples: &[HeapSample], gc: bool) -> WatchVerdict {
    let series =
        heapwise_series::Series::from_pairs(samples.iter().map(|s| (s.t_s, s.used_bytes as f64)));
    let options = heapwise_series::Options {
        subject: if gc {
            "live JS heap".into()
        } else {
            "JS heap used".into()
        },
        ..heapwise_series::Options::default()
    };
    let analysis = heapwise_series::analyze(&series, &options);
    WatchVerdict {
        leak: analysis.leak,
        pattern: analysis.pattern.as_str(),
        slope_bytes_per_s: analysis.slope_bytes_per_s,
        limit_bytes: None,
        time_to_limit_s: None,
        reason: analysis.reason.clone(),
        analysis,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(per_s: f64) -> Vec<HeapSample> {
        (0..120)
            .map(|i| HeapSample {
                t_s: f64::from(i),
                used_bytes: (50e6 + per_s * f64::from(i)) as u64,
                total_bytes: 200_000_000,
            })
            .collect()
    }

    #[test]
    fn a_heap_growing_a_megabyte_a_second_is_a_leak_and_a_flat_one_is_not() {
        let growing = judge(&samples(1e6), true);
        assert!(growing.leak, "{}", growing.reason);
        let slope = growing.slope_bytes_per_s.unwrap();
        assert!((slope - 1e6).abs() < 1e3, "{slope}");
        assert!(
            growing.reason.starts_with("live JS heap"),
            "{}",
            growing.reason
        );
        let flat = judge(&samples(0.0), false);
        assert!(!flat.leak, "{}", flat.reason);
    }
}

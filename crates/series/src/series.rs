//! [`Series`]: the cleaned input every analysis works on.
//!
//! Callers hand over whatever they measured: unevenly spaced, with gaps,
//! sometimes out of order, sometimes with NaN from a failed read. A `Series`
//! keeps only what can be analysed and says how much it threw away:
//!
//! - samples whose time or value is NaN or infinite are dropped;
//! - samples are sorted by time (a stable sort, so the input order decides
//!   among equal times) — out-of-order input is a property of how samples were
//!   collected (threads, merged files), not an error;
//! - several samples at the same time collapse to the last one given, the
//!   value in effect at that instant.

use thiserror::Error;

/// Why a [`Series`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SeriesError {
    /// The time and value columns have different lengths, so samples cannot
    /// be paired up.
    #[error("the series has {times} times but {values} values; every sample needs both")]
    LengthMismatch {
        /// Number of times given.
        times: usize,
        /// Number of values given.
        values: usize,
    },
}

/// A memory time series: times in seconds (ascending, distinct, finite) and
/// values in bytes (finite).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    times: Vec<f64>,
    values: Vec<f64>,
    dropped: usize,
}

impl Series {
    /// An empty series, to be filled with [`Series::push`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a series from parallel columns of times (seconds) and values
    /// (bytes). Fails only when the lengths differ.
    pub fn from_columns(times: &[f64], values: &[f64]) -> Result<Self, SeriesError> {
        if times.len() != values.len() {
            return Err(SeriesError::LengthMismatch {
                times: times.len(),
                values: values.len(),
            });
        }
        Ok(Self::from_pairs(
            times.iter().copied().zip(values.iter().copied()),
        ))
    }

    /// Builds a series from `(time_s, bytes)` pairs. Never fails: unusable
    /// samples are dropped and counted in [`Series::dropped`].
    pub fn from_pairs<I: IntoIterator<Item = (f64, f64)>>(pairs: I) -> Self {
        let mut given = 0usize;
        let mut kept: Vec<(f64, f64)> = Vec::new();
        for (t, v) in pairs {
            given += 1;
            if t.is_finite() && v.is_finite() {
                kept.push((t, v));
            }
        }
        if !kept.windows(2).all(|w| w[0].0 <= w[1].0) {
            kept.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        let mut times = Vec::with_capacity(kept.len());
        let mut values = Vec::with_capacity(kept.len());
        for (t, v) in kept {
            if times.last() == Some(&t) {
                // Same instant: the later sample is the value in effect.
                if let Some(last) = values.last_mut() {
                    *last = v;
                }
            } else {
                times.push(t);
                values.push(v);
            }
        }
        let dropped = given - times.len();
        Self {
            times,
            values,
            dropped,
        }
    }

    /// Adds one sample. Cheap (amortised O(1)) when samples arrive in time
    /// order, as they do in `watch`; an earlier time is inserted in place, an
    /// equal time replaces the value there, and a non-finite sample is dropped.
    pub fn push(&mut self, time_s: f64, bytes: f64) {
        if !time_s.is_finite() || !bytes.is_finite() {
            self.dropped += 1;
            return;
        }
        match self.times.last() {
            None => {
                self.times.push(time_s);
                self.values.push(bytes);
            }
            Some(&last) if time_s > last => {
                self.times.push(time_s);
                self.values.push(bytes);
            }
            Some(_) => {
                let at = self.times.partition_point(|&t| t < time_s);
                if self.times.get(at) == Some(&time_s) {
                    self.values[at] = bytes;
                    self.dropped += 1;
                } else {
                    self.times.insert(at, time_s);
                    self.values.insert(at, bytes);
                }
            }
        }
    }

    /// Sample times in seconds, ascending and distinct.
    pub fn times(&self) -> &[f64] {
        &self.times
    }

    /// Sample values in bytes, one per time.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// Number of usable samples.
    pub fn len(&self) -> usize {
        self.times.len()
    }

    /// True when there is no usable sample.
    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// Samples discarded so far: non-finite time or value, or replaced by a
    /// later sample at the same time.
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    /// Time from the first to the last sample, in seconds (0 when fewer than
    /// two samples). Can be infinite only if the times span more than `f64`
    /// can represent.
    pub fn duration_s(&self) -> f64 {
        match (self.times.first(), self.times.last()) {
            (Some(first), Some(last)) => last - first,
            _ => 0.0,
        }
    }

    /// The samples at or after `start_s`.
    pub(crate) fn since(&self, start_s: f64) -> (&[f64], &[f64]) {
        let at = self.times.partition_point(|&t| t < start_s);
        (&self.times[at..], &self.values[at..])
    }

    /// The series averaged into at most `buckets` equal-width time buckets:
    /// each non-empty bucket becomes one sample at the mean time and mean
    /// value of the samples in it (empty buckets — gaps — produce nothing).
    /// Returned unchanged when it already has at most `buckets` samples.
    ///
    /// This is how the quadratic methods (Theil–Sen, Mann–Kendall) stay fast
    /// on long series; see [`crate::Options::max_points`].
    pub fn bucketed(&self, buckets: usize) -> Series {
        let (times, values) = bucket_means(&self.times, &self.values, buckets);
        Series {
            times,
            values,
            dropped: self.dropped,
        }
    }
}

/// How [`bucketize`] summarises the values in one bucket.
#[derive(Clone, Copy)]
pub(crate) enum Summary {
    /// Their mean (less noise).
    Mean,
    /// Their minimum (an actual sample value, so exact ties survive).
    Min,
}

/// Equal-width time buckets (see [`Series::bucketed`]) over sorted samples,
/// averaging values.
pub(crate) fn bucket_means(times: &[f64], values: &[f64], buckets: usize) -> (Vec<f64>, Vec<f64>) {
    bucketize(times, values, buckets, Summary::Mean)
}

/// Equal-width time buckets over sorted samples: each non-empty bucket
/// becomes one sample at the mean time of its samples, with their values
/// summarised as `summary` says.
pub(crate) fn bucketize(
    times: &[f64],
    values: &[f64],
    buckets: usize,
    summary: Summary,
) -> (Vec<f64>, Vec<f64>) {
    let n = times.len().min(values.len());
    if n <= buckets.max(1) {
        return (times[..n].to_vec(), values[..n].to_vec());
    }
    let buckets = buckets.max(1);
    let t0 = times[0];
    let span = times[n - 1] - t0;
    if !(span.is_finite() && span > 0.0) {
        return (times[..n].to_vec(), values[..n].to_vec());
    }
    let width = span / buckets as f64;
    let mut sum_t = vec![0.0; buckets];
    let mut acc = vec![
        match summary {
            Summary::Mean => 0.0,
            Summary::Min => f64::INFINITY,
        };
        buckets
    ];
    let mut count = vec![0usize; buckets];
    for (&t, &v) in times.iter().zip(values).take(n) {
        // Saturating float-to-int cast; the last sample lands in the last bucket.
        let index = (((t - t0) / width) as usize).min(buckets - 1);
        // Offsets from t0 keep the time sums precise for large epoch times.
        sum_t[index] += t - t0;
        match summary {
            Summary::Mean => acc[index] += v,
            Summary::Min => acc[index] = acc[index].min(v),
        }
        count[index] += 1;
    }
    let mut out_t = Vec::with_capacity(buckets);
    let mut out_v = Vec::with_capacity(buckets);
    for ((st, a), &c) in sum_t.iter().zip(&acc).zip(&count) {
        if c > 0 {
            out_t.push(t0 + st / c as f64);
            out_v.push(match summary {
                Summary::Mean => a / c as f64,
                Summary::Min => *a,
            });
        }
    }
    (out_t, out_v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_non_finite_sorts_and_collapses_equal_times() {
        let s = Series::from_pairs([
            (3.0, 30.0),
            (f64::NAN, 1.0),
            (1.0, 10.0),
            (2.0, f64::INFINITY),
            (1.0, 11.0),
            (2.0, 20.0),
        ]);
        assert_eq!(s.times(), &[1.0, 2.0, 3.0]);
        assert_eq!(s.values(), &[11.0, 20.0, 30.0]);
        assert_eq!(s.dropped(), 3);
        assert_eq!(s.duration_s(), 2.0);
    }

    #[test]
    fn mismatched_columns_are_an_error() {
        let err = Series::from_columns(&[1.0, 2.0], &[1.0]).unwrap_err();
        assert_eq!(
            err,
            SeriesError::LengthMismatch {
                times: 2,
                values: 1
            }
        );
        assert!(err.to_string().contains("2 times but 1 values"));
    }

    #[test]
    fn push_keeps_order() {
        let mut s = Series::new();
        s.push(2.0, 2.0);
        s.push(1.0, 1.0);
        s.push(3.0, 3.0);
        s.push(2.0, 22.0);
        s.push(f64::NAN, 0.0);
        assert_eq!(s.times(), &[1.0, 2.0, 3.0]);
        assert_eq!(s.values(), &[1.0, 22.0, 3.0]);
        assert_eq!(s.dropped(), 2);
    }

    #[test]
    fn bucketing_averages_and_skips_gaps() {
        // 0..10 then a gap, then 90..100: 10 buckets of 10 s.
        let pairs = (0..10).chain(90..100).map(|i| (i as f64, i as f64 * 2.0));
        let s = Series::from_pairs(pairs).bucketed(10);
        assert_eq!(s.len(), 2);
        assert!((s.times()[0] - 4.5).abs() < 1e-12);
        assert!((s.values()[1] - 189.0).abs() < 1e-12);
        // Small series come back unchanged.
        let small = Series::from_pairs([(0.0, 1.0), (1.0, 2.0)]);
        assert_eq!(small.bucketed(10), small);
    }
}

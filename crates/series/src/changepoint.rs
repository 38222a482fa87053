//! Change points: PELT (Killick, Fearnhead & Eckley 2012) over a
//! piecewise-*linear* model.
//!
//! Each segment is fitted with its own least-squares line; the cost of a
//! segmentation is the total squared residual plus a penalty per segment,
//! and PELT finds the exact minimum in close to linear time by pruning split
//! points that can never be optimal again. A linear model (rather than the
//! usual piecewise-constant mean) is what memory series need: a leak is one
//! sloped segment, not a staircase of hundreds of tiny mean shifts; a
//! warm-up is a sloped segment followed by a flat one; a step is two flat
//! segments with a jump between them.
//!
//! Penalty: `factor · σ² · ln n` with σ the robust noise level
//! ([`crate::stats`]'s difference-based MAD estimate). With factor 3 this is
//! the Schwarz/BIC penalty for the three parameters a new segment adds
//! (intercept, slope, location). See [`crate::Options::penalty_factor`].

use serde::{Deserialize, Serialize};

use crate::options::Options;
use crate::series::Series;
use crate::stats::noise_sigma;

/// One segment of the piecewise-linear fit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// Index of the segment's first sample.
    pub start: usize,
    /// Index one past the segment's last sample.
    pub end: usize,
    /// Time of the first sample, seconds.
    pub start_s: f64,
    /// Time of the last sample, seconds.
    pub end_s: f64,
    /// Fitted value at the first sample.
    pub first_fit: f64,
    /// Fitted value at the last sample.
    pub last_fit: f64,
    /// Least-squares slope, value units per second.
    pub slope: f64,
    /// Residual variance around the line (sum of squares / (len − 2), or 0
    /// for segments of two samples or fewer).
    pub residual_variance: f64,
}

impl Segment {
    /// Number of samples in the segment.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// True for a segment without samples (never produced by [`segments`]).
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// Rise of the fitted line across the segment (`last_fit − first_fit`).
    pub fn rise(&self) -> f64 {
        self.last_fit - self.first_fit
    }
}

/// Prefix sums of centred data, giving any segment's least-squares line and
/// residual sum of squares in O(1).
struct Prefix {
    t: Vec<f64>,
    x: Vec<f64>,
    tt: Vec<f64>,
    xx: Vec<f64>,
    tx: Vec<f64>,
    t_mean: f64,
    t_scale: f64,
    x_mean: f64,
}

/// Least-squares line over one segment, in centred units.
struct Fit {
    slope: f64,
    mean_t: f64,
    mean_x: f64,
    sse: f64,
}

impl Prefix {
    fn new(times: &[f64], values: &[f64]) -> Self {
        let n = times.len().max(1) as f64;
        let t_mean = times.iter().sum::<f64>() / n;
        let x_mean = values.iter().sum::<f64>() / n;
        let span = match (times.first(), times.last()) {
            (Some(a), Some(b)) if b > a => b - a,
            _ => 1.0,
        };
        let len = times.len() + 1;
        let mut p = Prefix {
            t: Vec::with_capacity(len),
            x: Vec::with_capacity(len),
            tt: Vec::with_capacity(len),
            xx: Vec::with_capacity(len),
            tx: Vec::with_capacity(len),
            t_mean,
            t_scale: span,
            x_mean,
        };
        let (mut st, mut sx, mut stt, mut sxx, mut stx) = (0.0, 0.0, 0.0, 0.0, 0.0);
        p.push(st, sx, stt, sxx, stx);
        for (&t, &v) in times.iter().zip(values) {
            // Centring and scaling time to about [-0.5, 0.5] and centring the
            // values keeps the prefix sums small, so differences of them do
            // not cancel catastrophically.
            let t = (t - t_mean) / span;
            let x = v - x_mean;
            st += t;
            sx += x;
            stt += t * t;
            sxx += x * x;
            stx += t * x;
            p.push(st, sx, stt, sxx, stx);
        }
        p
    }

    fn push(&mut self, t: f64, x: f64, tt: f64, xx: f64, tx: f64) {
        self.t.push(t);
        self.x.push(x);
        self.tt.push(tt);
        self.xx.push(xx);
        self.tx.push(tx);
    }

    /// Fit of samples `a..b`.
    fn fit(&self, a: usize, b: usize) -> Fit {
        let n = (b - a) as f64;
        let st = self.t[b] - self.t[a];
        let sx = self.x[b] - self.x[a];
        let mean_t = st / n;
        let mean_x = sx / n;
        let ctt = (self.tt[b] - self.tt[a]) - st * mean_t;
        let cxx = (self.xx[b] - self.xx[a]) - sx * mean_x;
        let ctx = (self.tx[b] - self.tx[a]) - st * mean_x;
        let (slope, explained) = if ctt > 1e-18 {
            (ctx / ctt, ctx * ctx / ctt)
        } else {
            (0.0, 0.0)
        };
        Fit {
            slope,
            mean_t,
            mean_x,
            sse: (cxx - explained).max(0.0),
        }
    }

    fn cost(&self, a: usize, b: usize) -> f64 {
        self.fit(a, b).sse
    }
}

/// The piecewise-linear segmentation of `series` that [`crate::analyze`]
/// uses: PELT with penalty `options.penalty_factor · σ² · ln n` (σ: the
/// robust noise level) and segments of at least `options.min_segment_len`
/// samples. Segment indices refer to `series` as given.
///
/// O(n) to O(n²) in `series.len()`: bucket long series first
/// ([`Series::bucketed`]).
pub fn segments(series: &Series, options: &Options) -> Vec<Segment> {
    let opts = options.sanitized();
    let values = series.values();
    let range = values.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v))
        - values.iter().fold(f64::INFINITY, |m, &v| m.min(v));
    let range = if range.is_finite() { range } else { 0.0 };
    let sigma = noise_sigma(values).max(1e-6 * range);
    let n = values.len().max(2) as f64;
    let penalty = opts.penalty_factor * sigma * sigma * n.ln();
    pelt_linear(series.times(), values, penalty, opts.min_segment_len)
}

/// Optimal piecewise-linear segmentation of sorted samples by PELT with the
/// given `penalty` per additional segment and at least `min_len` samples per
/// segment. Always returns at least one segment when there are samples.
pub(crate) fn pelt_linear(
    times: &[f64],
    values: &[f64],
    penalty: f64,
    min_len: usize,
) -> Vec<Segment> {
    let n = times.len().min(values.len());
    if n == 0 {
        return Vec::new();
    }
    let (times, values) = (&times[..n], &values[..n]);
    let prefix = Prefix::new(times, values);
    let min_len = min_len.max(2);
    let penalty = if penalty.is_finite() && penalty > 0.0 {
        penalty
    } else {
        0.0
    };
    if n < 2 * min_len {
        return vec![segment(&prefix, times, 0, n)];
    }

    // best[t]: minimal penalised cost of samples 0..t; last[t]: start of the
    // final segment in that optimum.
    let mut best = vec![f64::INFINITY; n + 1];
    let mut last = vec![0usize; n + 1];
    best[0] = -penalty;
    let mut candidates: Vec<usize> = vec![0];
    // Per candidate, `best[start] + cost(start, end)` for this `end`: the
    // pruning below reuses it rather than fitting every segment twice.
    let mut costs: Vec<f64> = Vec::new();
    for end in min_len..=n {
        let mut best_cost = f64::INFINITY;
        let mut best_start = 0;
        costs.clear();
        for &start in &candidates {
            let mut before_penalty = f64::NEG_INFINITY;
            if end - start >= min_len {
                before_penalty = best[start] + prefix.cost(start, end);
                let cost = before_penalty + penalty;
                if best[start].is_finite() && cost < best_cost {
                    best_cost = cost;
                    best_start = start;
                }
            }
            costs.push(before_penalty);
        }
        best[end] = best_cost;
        last[end] = best_start;
        // Pruning: a start whose cost already reaches the optimum can never
        // win later (costs here are sums of squared residuals, so splitting
        // never costs more than not splitting: `end` as a start will do at
        // least as well). Pruning ties too keeps flat stretches from
        // keeping every start of theirs — an allocation made once and held
        // is such a series, most of the 200 a report judges, and they made
        // this quadratic. A start too recent for a segment yet stays (its
        // `before_penalty` is −∞).
        let mut costs = costs.iter();
        candidates.retain(|_| costs.next().is_none_or(|&c| c < best_cost));
        if end + min_len <= n {
            candidates.push(end);
        }
    }

    let mut bounds = vec![n];
    let mut end = n;
    while end > 0 {
        let start = last[end];
        if start >= end {
            break;
        }
        bounds.push(start);
        end = start;
    }
    if bounds.last() != Some(&0) {
        bounds.push(0);
    }
    bounds.reverse();
    bounds
        .windows(2)
        .map(|w| segment(&prefix, times, w[0], w[1]))
        .collect()
}

fn segment(prefix: &Prefix, times: &[f64], start: usize, end: usize) -> Segment {
    let fit = prefix.fit(start, end);
    let at = |t: f64| {
        let centred = (t - prefix.t_mean) / prefix.t_scale;
        prefix.x_mean + fit.mean_x + fit.slope * (centred - fit.mean_t)
    };
    let start_s = times[start];
    let end_s = times[end - 1];
    let len = end - start;
    Segment {
        start,
        end,
        start_s,
        end_s,
        first_fit: at(start_s),
        last_fit: at(end_s),
        slope: fit.slope / prefix.t_scale,
        residual_variance: if len > 2 {
            fit.sse / (len - 2) as f64
        } else {
            0.0
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wiggle(i: usize) -> f64 {
        // Deterministic small noise in [-1, 1].
        ((i * 7919) % 17) as f64 / 8.0 - 1.0
    }

    #[test]
    fn a_line_is_one_segment() {
        let t: Vec<f64> = (0..300).map(|i| i as f64).collect();
        let x: Vec<f64> = t
            .iter()
            .enumerate()
            .map(|(i, t)| 5.0 * t + wiggle(i))
            .collect();
        let segs = pelt_linear(&t, &x, 3.0 * 0.6f64.powi(2) * 300f64.ln(), 3);
        assert_eq!(segs.len(), 1, "{segs:?}");
        assert!((segs[0].slope - 5.0).abs() < 0.01);
    }

    #[test]
    fn steps_are_found_where_they_are() {
        let t: Vec<f64> = (0..300).map(|i| i as f64).collect();
        let x: Vec<f64> = (0..300)
            .map(|i| {
                let level = if i < 100 {
                    0.0
                } else if i < 220 {
                    50.0
                } else {
                    120.0
                };
                level + wiggle(i)
            })
            .collect();
        let segs = pelt_linear(&t, &x, 3.0 * 0.6f64.powi(2) * 300f64.ln(), 3);
        let starts: Vec<usize> = segs.iter().map(|s| s.start).collect();
        assert_eq!(starts, vec![0, 100, 220], "{segs:?}");
        assert!((segs[1].first_fit - segs[0].last_fit - 50.0).abs() < 2.0);
        assert!(segs.iter().all(|s| s.slope.abs() < 0.05));
    }

    #[test]
    fn ramp_then_flat_is_two_segments() {
        let t: Vec<f64> = (0..200).map(|i| i as f64).collect();
        let x: Vec<f64> = (0..200)
            .map(|i| (i.min(60) as f64) * 2.0 + wiggle(i))
            .collect();
        let segs = pelt_linear(&t, &x, 3.0 * 0.6f64.powi(2) * 200f64.ln(), 3);
        assert_eq!(segs.len(), 2, "{segs:?}");
        assert!((segs[1].start as i64 - 60).abs() <= 2);
        assert!((segs[0].slope - 2.0).abs() < 0.05 && segs[1].slope.abs() < 0.05);
    }

    #[test]
    fn public_segments_find_a_step() {
        let series = Series::from_pairs(
            (0..100).map(|i| (i as f64, if i < 40 { 0.0 } else { 1e6 } + wiggle(i))),
        );
        let segs = segments(&series, &Options::default());
        assert_eq!(segs.len(), 2, "{segs:?}");
        assert_eq!(segs[1].start, 40);
        assert_eq!(segs[1].start_s, 40.0);
        assert!((segs[1].first_fit - segs[0].last_fit - 1e6).abs() < 5.0);
    }

    #[test]
    fn short_and_empty_inputs() {
        assert!(pelt_linear(&[], &[], 1.0, 3).is_empty());
        let segs = pelt_linear(&[0.0, 1.0], &[1.0, 1.0], f64::NAN, 3);
        assert_eq!(segs.len(), 1);
        assert_eq!((segs[0].start, segs[0].end), (0, 2));
    }
}

//! Spikes: outlying first differences by median/MAD.
//!
//! A first difference is outlying when it is more than `z` robust standard
//! deviations (1.4826 · MAD of all differences) from the median difference.
//! Two shapes matter:
//!
//! - a *transient*: an outlying jump that an outlying jump of the opposite
//!   sign undoes within a sample or two — a glitch in the reading, or a buffer
//!   allocated and freed between two samples. It says nothing about growth,
//!   so the analysis replaces those samples by interpolation before looking
//!   for trends (and reports how many it replaced);
//! - a jump that stays is *not* removed here: the change-point and pattern
//!   analysis judge it (the `spike`, `step` and `periodic` patterns).

use serde::{Deserialize, Serialize};

use crate::series::Series;
use crate::stats::{MAD_TO_SIGMA, median_mad};

/// A short excursion that came back: samples that jumped away from the
/// series and returned within a few samples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Transient {
    /// Time of the first outlying sample, seconds.
    pub t_s: f64,
    /// Number of consecutive outlying samples.
    pub samples: usize,
    /// Size of the excursion (positive up, negative down), bytes.
    pub size_bytes: f64,
}

/// The transients of `series`: excursions of at most `max_run` samples whose
/// entry and exit differences are both outlying at `z` and cancel to within a
/// quarter of the entry jump.
pub fn transients(series: &Series, z: f64, max_run: usize) -> Vec<Transient> {
    let mut values = series.values().to_vec();
    remove_transients(series.times(), &mut values, z, max_run)
}

/// Finds transients (see [`transients`]) and replaces their samples by linear
/// interpolation between the samples on either side.
pub(crate) fn remove_transients(
    times: &[f64],
    values: &mut [f64],
    z: f64,
    max_run: usize,
) -> Vec<Transient> {
    let n = times.len().min(values.len());
    let mut found = Vec::new();
    if n < 3 || max_run == 0 {
        return found;
    }
    let diffs: Vec<f64> = values[..n].windows(2).map(|w| w[1] - w[0]).collect();
    let Some((median, mad)) = median_mad(&diffs) else {
        return found;
    };
    let sigma = MAD_TO_SIGMA * mad;
    let z = if z.is_finite() && z > 0.0 { z } else { 5.0 };
    let outlying = |d: f64| (d - median).abs() > z * sigma;

    let mut i = 0;
    while i < diffs.len() {
        let entry = diffs[i];
        if !outlying(entry) {
            i += 1;
            continue;
        }
        // Look for the exit within max_run samples after the entry.
        let mut exit = None;
        for j in i + 1..diffs.len().min(i + 1 + max_run) {
            let d = diffs[j];
            let back = diffs[i..=j].iter().sum::<f64>();
            if outlying(d) && d.signum() == -entry.signum() && back.abs() <= 0.25 * entry.abs() {
                exit = Some(j);
                break;
            }
        }
        let Some(j) = exit else {
            i += 1;
            continue;
        };
        // Samples i+1..=j are the excursion; samples i and j+1 bound it.
        let (t0, v0) = (times[i], values[i]);
        let (t1, v1) = (times[j + 1], values[j + 1]);
        found.push(Transient {
            t_s: times[i + 1],
            samples: j - i,
            size_bytes: entry,
        });
        for k in i + 1..=j {
            let frac = if t1 > t0 {
                (times[k] - t0) / (t1 - t0)
            } else {
                0.5
            };
            values[k] = v0 + (v1 - v0) * frac;
        }
        i = j + 1;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noisy_line(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| 10.0 * i as f64 + ((i * 31) % 7) as f64)
            .collect()
    }

    #[test]
    fn removes_single_and_double_sample_glitches() {
        let mut values = noisy_line(100);
        let clean = values.clone();
        values[20] += 5000.0;
        values[50] -= 3000.0;
        values[51] -= 3100.0;
        let times: Vec<f64> = (0..100).map(|i| i as f64).collect();
        let found = remove_transients(&times, &mut values, 5.0, 2);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!((found[0].t_s, found[0].samples), (20.0, 1));
        assert_eq!((found[1].t_s, found[1].samples), (50.0, 2));
        assert!(found[1].size_bytes < -2900.0);
        for (a, b) in values.iter().zip(&clean) {
            assert!((a - b).abs() < 10.0, "{a} vs {b}");
        }
    }

    #[test]
    fn keeps_jumps_that_stay() {
        let mut values = noisy_line(100);
        for v in &mut values[40..] {
            *v += 5000.0;
        }
        let before = values.clone();
        let times: Vec<f64> = (0..100).map(|i| i as f64).collect();
        assert!(remove_transients(&times, &mut values, 5.0, 2).is_empty());
        assert_eq!(values, before);
    }

    #[test]
    fn public_wrapper_does_not_modify_the_series() {
        let s = Series::from_pairs((0..20).map(|i| (i as f64, if i == 7 { 900.0 } else { 1.0 })));
        let found = transients(&s, 5.0, 2);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].t_s, 7.0);
        assert_eq!(s.values()[7], 900.0);
    }
}

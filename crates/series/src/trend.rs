//! Robust trend: Theil–Sen slope with a rank-based confidence interval, and
//! the Mann–Kendall test with the Hamed–Rao correction for autocorrelation.
//!
//! Both are O(n²) in the number of samples (every pair is compared). Callers
//! with long series pass a bucketed series ([`crate::Series::bucketed`]);
//! [`crate::analyze`] does this itself above [`crate::Options::max_points`].
//!
//! Why Hamed–Rao and not Yue–Wang: memory samples taken a second apart are
//! strongly autocorrelated (the heap one second from now is the heap now plus
//! a little), which makes the plain Mann–Kendall test see trends in noise.
//! Hamed & Rao (1998) derived their variance correction for the Mann–Kendall
//! statistic itself, on the *ranks* of the detrended series, and keep only
//! the autocorrelations that are significant. Ranks make it as robust to the
//! allocation bursts and outliers of memory data as the test it corrects, and
//! dropping insignificant lags keeps the sampling noise of hundreds of
//! estimated autocorrelations out of the correction. Yue & Wang (2004) use
//! the autocorrelation of the values (not ranks), which outliers distort.

use serde::{Deserialize, Serialize};

use crate::series::Series;
use crate::stats::{
    autocorrelation, average_ranks, median_in_place, normal_quantile, order_statistic, tie_groups,
    two_sided_p,
};

/// Result of the Mann–Kendall trend test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MannKendall {
    /// Number of samples tested.
    pub n: usize,
    /// Kendall's S: (pairs that rise) − (pairs that fall).
    pub s: f64,
    /// Variance of S under "no trend" for independent samples, with the
    /// correction for tied values.
    pub variance: f64,
    /// Hamed–Rao factor `n / n*` by which the variance was multiplied to
    /// account for autocorrelation; 1 when the samples look independent.
    /// Never below 1: we do not let autocorrelation make a trend look *more*
    /// significant.
    pub variance_inflation: f64,
    /// Effective number of independent samples, `n / variance_inflation`.
    pub effective_samples: f64,
    /// Normal score `(S − sign S) / √(variance · inflation)`; positive when
    /// the series rises.
    pub z: f64,
    /// Two-sided p-value of `z`.
    pub p_value: f64,
}

/// Theil–Sen line with its confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TheilSen {
    /// Median of all pairwise slopes, in value units per second.
    pub slope: f64,
    /// Median of `value − slope · time`: the line's value at time 0.
    pub intercept: f64,
    /// Lower bound of the slope's confidence interval, or `None` when there
    /// are too few pairs for the requested level.
    pub lower: Option<f64>,
    /// Upper bound of the slope's confidence interval, or `None` when there
    /// are too few pairs for the requested level.
    pub upper: Option<f64>,
}

/// Theil–Sen slope and Mann–Kendall test of one series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    /// The robust line.
    pub theil_sen: TheilSen,
    /// The trend test.
    pub mann_kendall: MannKendall,
    /// Confidence level of the slope interval, `1 − alpha`.
    pub confidence_level: f64,
}

/// Theil–Sen slope and Mann–Kendall test (Hamed–Rao corrected) of `series`,
/// at significance `alpha` (the slope interval has level `1 − alpha`).
///
/// O(n²) time and memory in `series.len()`: bucket long series first. `None`
/// with fewer than three samples.
pub fn trend(series: &Series, alpha: f64) -> Option<Trend> {
    trend_of(series.times(), series.values(), alpha)
}

/// [`trend`] on raw sorted columns with distinct times.
pub(crate) fn trend_of(times: &[f64], values: &[f64], alpha: f64) -> Option<Trend> {
    let n = times.len().min(values.len());
    if n < 3 {
        return None;
    }
    let (times, values) = (&times[..n], &values[..n]);
    let alpha = if alpha > 0.0 && alpha < 1.0 {
        alpha
    } else {
        0.05
    };
    let z_crit = normal_quantile(1.0 - alpha / 2.0);

    let mut slopes = pairwise_slopes(times, values);
    if slopes.is_empty() {
        return None;
    }
    let slope = median_in_place(&mut slopes)?;
    let mut offsets: Vec<f64> = times
        .iter()
        .zip(values)
        .map(|(t, v)| v - slope * t)
        .collect();
    let intercept = median_in_place(&mut offsets)?;

    let s = kendall_s(values);
    let variance = s_variance(values);
    let inflation = hamed_rao_inflation(times, values, slope, z_crit);
    let corrected = variance * inflation;
    let z = if corrected > 0.0 {
        (s - s.signum()) / corrected.sqrt()
    } else {
        0.0
    };
    let mann_kendall = MannKendall {
        n,
        s,
        variance,
        variance_inflation: inflation,
        effective_samples: n as f64 / inflation,
        z,
        p_value: two_sided_p(z),
    };

    // Rank-based interval (Sen 1968; Gilbert 1987 §16.5): with N slopes and
    // C = z · √Var(S), the bounds are the M1-th and (M2+1)-th smallest slopes,
    // M1 = (N − C)/2, M2 = (N + C)/2. We use the autocorrelation-corrected
    // variance, so the interval widens exactly as much as the test weakens,
    // and round outwards.
    let count = slopes.len() as f64;
    let c = z_crit * corrected.max(0.0).sqrt();
    let m1 = ((count - c) / 2.0).floor();
    let m2 = ((count + c) / 2.0).ceil();
    // `median_in_place` left the slopes split around the middle one: each
    // bound is found in its half only.
    let mid = slopes.len() / 2;
    let mut bound = |k: usize| -> Option<f64> {
        match k.cmp(&mid) {
            std::cmp::Ordering::Less => order_statistic(&mut slopes[..mid], k),
            std::cmp::Ordering::Equal => slopes.get(mid).copied(),
            std::cmp::Ordering::Greater => order_statistic(slopes.get_mut(mid + 1..)?, k - mid - 1),
        }
    };
    let lower = if m1 >= 1.0 {
        bound(m1 as usize - 1)
    } else {
        None
    };
    let upper = if m2 < count { bound(m2 as usize) } else { None };

    Some(Trend {
        theil_sen: TheilSen {
            slope,
            intercept,
            lower,
            upper,
        },
        mann_kendall,
        confidence_level: 1.0 - alpha,
    })
}

/// Every finite slope between two samples with different times.
fn pairwise_slopes(times: &[f64], values: &[f64]) -> Vec<f64> {
    let n = times.len();
    let mut slopes = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            let dt = times[j] - times[i];
            if dt > 0.0 {
                let slope = (values[j] - values[i]) / dt;
                if slope.is_finite() {
                    slopes.push(slope);
                }
            }
        }
    }
    slopes
}

/// Kendall's S over samples in time order.
fn kendall_s(values: &[f64]) -> f64 {
    let mut s: i64 = 0;
    for (i, &a) in values.iter().enumerate() {
        for &b in &values[i + 1..] {
            s += i64::from(b > a) - i64::from(b < a);
        }
    }
    s as f64
}

/// Var(S) under independence, corrected for ties:
/// `[n(n−1)(2n+5) − Σ t(t−1)(2t+5)] / 18`.
fn s_variance(values: &[f64]) -> f64 {
    let term = |k: f64| k * (k - 1.0) * (2.0 * k + 5.0);
    let n = values.len() as f64;
    let ties: f64 = tie_groups(values).into_iter().map(|t| term(t as f64)).sum();
    ((term(n) - ties) / 18.0).max(0.0)
}

/// Hamed–Rao variance inflation `n/n*`:
/// `1 + 2 / (n(n−1)(n−2)) · Σ_k (n−k)(n−k−1)(n−k−2) ρ_k`, where `ρ_k` is the
/// lag-k autocorrelation of the ranks of the series detrended by the Sen
/// slope, summed over the lags with `|ρ_k| > z / √n` only. Clamped to
/// `[1, n]`.
fn hamed_rao_inflation(times: &[f64], values: &[f64], slope: f64, z_crit: f64) -> f64 {
    let n = values.len();
    if n < 3 {
        return 1.0;
    }
    let detrended: Vec<f64> = times
        .iter()
        .zip(values)
        .map(|(t, v)| v - slope * t)
        .collect();
    let ranks = average_ranks(&detrended);
    let Some(acf) = autocorrelation(&ranks, n - 1) else {
        return 1.0;
    };
    let nf = n as f64;
    let bound = z_crit / nf.sqrt();
    let mut sum = 0.0;
    for (k, &rho) in acf.iter().enumerate().skip(1) {
        if rho.abs() > bound {
            let m = (n - k) as f64;
            sum += m * (m - 1.0) * (m - 2.0) * rho;
        }
    }
    let factor = 1.0 + 2.0 * sum / (nf * (nf - 1.0) * (nf - 2.0));
    if factor.is_finite() {
        factor.clamp(1.0, nf)
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(values: &[f64]) -> Series {
        Series::from_pairs(values.iter().enumerate().map(|(i, &v)| (i as f64, v)))
    }

    #[test]
    fn exact_line_has_exact_slope_and_tight_interval() {
        let values: Vec<f64> = (0..50).map(|i| 100.0 + 3.0 * i as f64).collect();
        let t = trend(&series(&values), 0.05).unwrap();
        assert_eq!(t.theil_sen.slope, 3.0);
        assert_eq!(t.theil_sen.lower, Some(3.0));
        assert_eq!(t.theil_sen.upper, Some(3.0));
        assert!((t.theil_sen.intercept - 100.0).abs() < 1e-9);
        // Every pair rises: S = n(n−1)/2.
        assert_eq!(t.mann_kendall.s, 1225.0);
        assert!(t.mann_kendall.p_value < 1e-10);
    }

    #[test]
    fn kendall_variance_without_ties() {
        // n = 10: 10·9·25/18 = 125.
        let values: Vec<f64> = (0..10).map(|i| ((i * 7) % 10) as f64).collect();
        assert_eq!(s_variance(&values), 125.0);
        // One tie group of 3 removes 3·2·11/18.
        let tied = [1.0, 2.0, 2.0, 2.0, 3.0];
        assert!((s_variance(&tied) - (5.0 * 4.0 * 15.0 - 66.0) / 18.0).abs() < 1e-12);
    }

    #[test]
    fn slope_is_robust_to_outliers() {
        let mut values: Vec<f64> = (0..40).map(|i| 2.0 * i as f64).collect();
        values[5] = 1e6;
        values[30] = -1e6;
        let t = trend(&series(&values), 0.05).unwrap();
        assert!(
            (t.theil_sen.slope - 2.0).abs() < 0.05,
            "{}",
            t.theil_sen.slope
        );
    }

    #[test]
    fn autocorrelated_noise_inflates_the_variance() {
        // A slow deterministic wave without trend: neighbours are strongly
        // correlated, so Hamed–Rao must inflate the variance.
        let values: Vec<f64> = (0..200).map(|i| (i as f64 / 15.0).sin()).collect();
        let t = trend(&series(&values), 0.05).unwrap();
        assert!(t.mann_kendall.variance_inflation > 2.0);
        assert!(t.mann_kendall.effective_samples < 100.0);
    }

    #[test]
    fn too_short_or_degenerate() {
        assert!(trend(&series(&[1.0, 2.0]), 0.05).is_none());
        let flat = trend(&series(&[5.0; 10]), 0.05).unwrap();
        assert_eq!(flat.theil_sen.slope, 0.0);
        assert_eq!(flat.mann_kendall.s, 0.0);
        assert_eq!(flat.mann_kendall.p_value, 1.0);
        // n = 4 is too few pairs for a 95 % interval.
        let short = trend(&series(&[1.0, 2.0, 3.0, 4.0]), 0.05).unwrap();
        assert_eq!(short.theil_sen.lower, None);
        assert_eq!(short.theil_sen.upper, None);
    }
}

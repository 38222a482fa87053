//! Periodicity: the autocorrelation of first differences.
//!
//! A job that leaks on every run, or a collector that frees on every cycle,
//! puts a large difference (a jump, or a drop) at every period and small ones
//! in between. The first differences are then correlated with themselves
//! shifted by one period, whatever the trend (differencing removes it). We
//! resample the series onto an even grid (the value in effect at each grid
//! time), difference it, and take the lag with the highest autocorrelation
//! peak.

use crate::downsample::in_effect_grid;
use crate::series::Series;
use crate::stats::{autocorrelation, normal_quantile};

/// A detected period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Period {
    /// Length of one period, seconds.
    pub period_s: f64,
    /// Autocorrelation of the first differences at that lag, in (0, 1].
    pub autocorrelation: f64,
}

/// The dominant period of `series`, judged on an even grid of at most
/// `max_points` points: the highest local maximum of the autocorrelation of
/// first differences at lags 2..=grid/2 that reaches both `min_acf` and the
/// significance bound `z(1 − alpha/2) / √grid`. `None` when no lag qualifies
/// or the series is too short (fewer than 8 grid points).
pub fn dominant_period(
    series: &Series,
    max_points: usize,
    min_acf: f64,
    alpha: f64,
) -> Option<Period> {
    period_of(
        series.times(),
        series.values(),
        max_points.min(series.len()),
        min_acf,
        alpha,
    )
}

/// [`dominant_period`] on raw sorted columns, gridded to `points` points.
pub(crate) fn period_of(
    times: &[f64],
    values: &[f64],
    points: usize,
    min_acf: f64,
    alpha: f64,
) -> Option<Period> {
    if points < 8 {
        return None;
    }
    let (grid_t, grid_v) = in_effect_grid(times, values, points);
    if grid_t.len() < 8 {
        return None;
    }
    let step = grid_t[1] - grid_t[0];
    if !(step.is_finite() && step > 0.0) {
        return None;
    }
    let diffs: Vec<f64> = grid_v.windows(2).map(|w| w[1] - w[0]).collect();
    let max_lag = diffs.len() / 2;
    let acf = autocorrelation(&diffs, max_lag)?;
    let alpha = if alpha > 0.0 && alpha < 1.0 {
        alpha
    } else {
        0.05
    };
    let bound = normal_quantile(1.0 - alpha / 2.0) / (diffs.len() as f64).sqrt();
    let threshold = min_acf.max(bound);
    let mut best: Option<(usize, f64)> = None;
    for lag in 2..acf.len() {
        let r = acf[lag];
        let left = acf[lag - 1];
        let right = acf.get(lag + 1).copied().unwrap_or(f64::NEG_INFINITY);
        let is_peak = r > left && r >= right;
        if is_peak && r >= threshold && best.is_none_or(|(_, b)| r > b) {
            best = Some((lag, r));
        }
    }
    best.map(|(lag, r)| Period {
        period_s: lag as f64 * step,
        autocorrelation: r,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_period_of_regular_jumps() {
        // +10 every 25 s over 500 s, tiny deterministic noise.
        let pairs = (0..500).map(|i| {
            let noise = ((i * 37) % 11) as f64 * 0.01;
            (i as f64, 10.0 * (i / 25) as f64 + noise)
        });
        let p = dominant_period(&Series::from_pairs(pairs), 500, 0.3, 0.05).unwrap();
        assert!((p.period_s - 25.0).abs() <= 1.0, "{p:?}");
        assert!(p.autocorrelation > 0.5);
    }

    #[test]
    fn finds_the_period_of_a_sawtooth() {
        let pairs = (0..600).map(|i| (i as f64, 3.0 * (i % 40) as f64));
        let p = dominant_period(&Series::from_pairs(pairs), 600, 0.3, 0.05).unwrap();
        assert!((p.period_s - 40.0).abs() <= 1.0, "{p:?}");
    }

    #[test]
    fn a_noisy_line_has_no_period() {
        let pairs = (0..400u64).map(|i| {
            // Pseudo-random noise in [0, 10) from the SplitMix64 finaliser.
            let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            let noise = ((z ^ (z >> 31)) % 1000) as f64 / 100.0;
            (i as f64, 2.0 * i as f64 + noise)
        });
        assert!(dominant_period(&Series::from_pairs(pairs), 400, 0.3, 0.05).is_none());
    }
}

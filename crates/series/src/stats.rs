//! Small statistics helpers shared by the analysis modules: medians, robust
//! scale, the normal distribution, ranks and autocorrelation.
//!
//! Everything here is total: empty input gives `None` or a documented neutral
//! value, and no comparison can panic on NaN (we sort with `total_cmp`, and the
//! callers only pass finite numbers anyway).

/// Scale factor that turns a median absolute deviation into a standard
/// deviation for normally distributed data.
pub(crate) const MAD_TO_SIGMA: f64 = 1.482_602_218_505_602;

/// Median of `values`, or `None` when empty. Does not reorder the input.
pub(crate) fn median(values: &[f64]) -> Option<f64> {
    let mut copy = values.to_vec();
    median_in_place(&mut copy)
}

/// Median of `values`, reordering them. `None` when empty.
pub(crate) fn median_in_place(values: &mut [f64]) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mid = n / 2;
    let (left, upper, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *upper;
    if n % 2 == 1 {
        return Some(upper);
    }
    let lower = left.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some(lower / 2.0 + upper / 2.0)
}

/// The `k`-th smallest element (0-based), reordering `values`.
pub(crate) fn order_statistic(values: &mut [f64], k: usize) -> Option<f64> {
    if k >= values.len() {
        return None;
    }
    let (_, value, _) = values.select_nth_unstable_by(k, f64::total_cmp);
    Some(*value)
}

/// Median and median absolute deviation of `values`.
pub(crate) fn median_mad(values: &[f64]) -> Option<(f64, f64)> {
    let med = median(values)?;
    let mut deviations: Vec<f64> = values.iter().map(|v| (v - med).abs()).collect();
    let mad = median_in_place(&mut deviations)?;
    Some((med, mad))
}

/// Robust standard deviation of the noise around a series' local level,
/// estimated from first differences: `1.4826 · MAD(Δx) / √2`.
///
/// Differencing removes the level, trends and (except at the jump itself)
/// steps, so the estimate is not inflated by the very structure we look for;
/// the MAD ignores the few large differences at jumps, drops and outliers; the
/// `√2` undoes the variance doubling of differencing white noise. Returns 0 for
/// fewer than three samples.
pub(crate) fn noise_sigma(values: &[f64]) -> f64 {
    if values.len() < 3 {
        return 0.0;
    }
    let diffs: Vec<f64> = values.windows(2).map(|w| w[1] - w[0]).collect();
    match median_mad(&diffs) {
        Some((_, mad)) => MAD_TO_SIGMA * mad / std::f64::consts::SQRT_2,
        None => 0.0,
    }
}

/// Complementary error function, with a fractional error below 1.2e-7
/// everywhere (Chebyshev-fitted rational approximation from Numerical
/// Recipes, "erfcc"). Relative precision holds in the far tail too, which is
/// what small p-values need.
pub(crate) fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let ans = t * poly.exp();
    if x >= 0.0 { ans } else { 2.0 - ans }
}

/// Standard normal cumulative distribution function Φ(z).
pub(crate) fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// Two-sided p-value of a standard normal statistic: `P(|Z| ≥ |z|)`.
pub(crate) fn two_sided_p(z: f64) -> f64 {
    if !z.is_finite() {
        return if z.is_nan() { 1.0 } else { 0.0 };
    }
    erfc(z.abs() / std::f64::consts::SQRT_2).clamp(0.0, 1.0)
}

/// Standard normal quantile Φ⁻¹(p), by bisection on [`normal_cdf`]. `p` is
/// clamped into (0, 1); 200 halvings of [-40, 40] reach full double
/// precision of the bracket. Called a handful of times per analysis.
pub(crate) fn normal_quantile(p: f64) -> f64 {
    let p = if p.is_nan() {
        0.5
    } else {
        p.clamp(1e-300, 1.0 - 1e-16)
    };
    let (mut lo, mut hi) = (-40.0_f64, 40.0_f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if normal_cdf(mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// Ranks 1..=n of `values`, ties sharing their average rank.
pub(crate) fn average_ranks(values: &[f64]) -> Vec<f64> {
    let n = values.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; n];
    let mut start = 0;
    while start < n {
        let mut end = start + 1;
        while end < n && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Positions start..end (0-based) share ranks start+1..=end.
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

/// Sizes of the groups of exactly equal values (only groups larger than one).
pub(crate) fn tie_groups(values: &[f64]) -> Vec<usize> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut groups = Vec::new();
    let mut start = 0;
    while start < sorted.len() {
        let mut end = start + 1;
        while end < sorted.len() && sorted[end] == sorted[start] {
            end += 1;
        }
        if end - start > 1 {
            groups.push(end - start);
        }
        start = end;
    }
    groups
}

/// Sample autocorrelation `r[k]` for lags `0..=max_lag` (biased estimator:
/// every lag divided by the full sum of squares, as in Box–Jenkins), or
/// `None` when the series has no variance.
pub(crate) fn autocorrelation(values: &[f64], max_lag: usize) -> Option<Vec<f64>> {
    let n = values.len();
    if n < 2 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let centered: Vec<f64> = values.iter().map(|v| v - mean).collect();
    let denom: f64 = centered.iter().map(|c| c * c).sum();
    if !(denom.is_finite() && denom > 0.0) {
        return None;
    }
    let max_lag = max_lag.min(n - 1);
    let mut acf = Vec::with_capacity(max_lag + 1);
    for lag in 0..=max_lag {
        acf.push(dot(&centered[..n - lag], &centered[lag..]) / denom);
    }
    Some(acf)
}

/// `Σ a[i]·b[i]` over the shorter length, in four running sums (so that it
/// is vector code: one sum in order is a chain of dependent additions).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut sums = [0.0; 4];
    let (a4, b4) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = a4
        .remainder()
        .iter()
        .zip(b4.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a4.zip(b4) {
        for k in 0..4 {
            sums[k] += x[k] * y[k];
        }
    }
    (sums[0] + sums[1]) + (sums[2] + sums[3]) + tail
}

/// Coefficient of variation (standard deviation / mean) of positive values.
pub(crate) fn coefficient_of_variation(values: &[f64]) -> Option<f64> {
    if values.len() < 2 {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if !(mean.is_finite() && mean > 0.0) {
        return None;
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    Some(var.sqrt() / mean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_lengths() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }

    #[test]
    fn normal_cdf_matches_known_values() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.959_963_985) - 0.975).abs() < 1e-7);
        assert!((normal_cdf(-1.0) - 0.158_655_254).abs() < 1e-7);
        // Far tail keeps relative precision: P(Z > 6) = 9.8659e-10.
        let tail = 1.0 - normal_cdf(6.0);
        let exact_tail = 0.5 * erfc(6.0 / std::f64::consts::SQRT_2);
        assert!((exact_tail / 9.865_876_45e-10 - 1.0).abs() < 1e-6);
        assert!(tail < 1e-8);
    }

    #[test]
    fn quantile_inverts_cdf() {
        assert!((normal_quantile(0.975) - 1.959_964).abs() < 1e-5);
        // erfc's 1.2e-7 relative error bounds the quantile's precision.
        assert!((normal_quantile(0.5)).abs() < 1e-6);
        assert!((normal_quantile(0.005) + 2.575_829).abs() < 1e-5);
        assert!(normal_quantile(f64::NAN).abs() < 1e-6);
    }

    #[test]
    fn ranks_share_ties() {
        assert_eq!(
            average_ranks(&[10.0, 30.0, 20.0, 30.0]),
            vec![1.0, 3.5, 2.0, 3.5]
        );
        assert_eq!(tie_groups(&[1.0, 2.0, 2.0, 3.0, 3.0, 3.0]), vec![2, 3]);
    }

    #[test]
    fn noise_sigma_ignores_trend_and_one_jump() {
        // A clean line has identical differences, so no noise at all.
        let line: Vec<f64> = (0..100).map(|i| 5.0 * i as f64).collect();
        assert_eq!(noise_sigma(&line), 0.0);
        // Alternating ±1 around a line: differences are ±2 (plus the slope),
        // MAD of differences is 2, so sigma is 1.4826·2/√2 ≈ 2.1.
        let mut zig: Vec<f64> = (0..101)
            .map(|i| i as f64 + if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        zig[50] += 1000.0; // one outlier does not move the MAD
        let sigma = noise_sigma(&zig);
        assert!((sigma - MAD_TO_SIGMA * 2.0 / std::f64::consts::SQRT_2).abs() < 1e-9);
    }

    #[test]
    fn autocorrelation_of_constant_is_none() {
        assert!(autocorrelation(&[1.0; 10], 3).is_none());
        let alternating: Vec<f64> = (0..100).map(|i| (i % 2) as f64).collect();
        let acf = autocorrelation(&alternating, 2).unwrap_or_default();
        assert!(acf[1] < -0.9 && acf[2] > 0.9);
    }
}

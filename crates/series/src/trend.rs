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

    // Rank-based interval (Sen 1968; Gilbert 1987 §16.5): with N slopes and
    // C = z · √Var(S), the bounds are the M1-th and (M2+1)-th smallest slopes,
    // M1 = (N − C)/2, M2 = (N + C)/2. We use the autocorrelation-corrected
    // variance, so the interval widens exactly as much as the test weakens,
    // and round outwards. The correction depends on the median slope (it
    // detrends by it), so the ranks are known only with the median:
    // `Slopes::median_and_ranks` guesses them from a sample's median to find
    // all three in one pass over the pairs.
    let variance = s_variance(values);
    let bounds = |count: usize, slope: f64| {
        let inflation = hamed_rao_inflation(times, values, slope, z_crit);
        let c = z_crit * (variance * inflation).max(0.0).sqrt();
        let m1 = ((count as f64 - c) / 2.0).floor();
        let m2 = ((count as f64 + c) / 2.0).ceil();
        let lower_rank = (m1 >= 1.0).then(|| m1 as usize - 1);
        let upper_rank = (m2 < count as f64).then_some(m2 as usize);
        (inflation, [lower_rank, upper_rank])
    };
    let slopes = Slopes::new(times, values);
    let (slope, inflation, [lower, upper]) = slopes.median_and_ranks(bounds)?;
    let mut offsets: Vec<f64> = times
        .iter()
        .zip(values)
        .map(|(t, v)| v - slope * t)
        .collect();
    let intercept = median_in_place(&mut offsets)?;

    let s = kendall_s(values);
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

/// The slopes between samples with different times (the finite ones), and
/// their order statistics.
///
/// With n samples there are n(n−1)/2 slopes: 130,816 at the 512 points a
/// long series is bucketed to, and a report judges up to 200 stacks, each
/// with several trends. Selecting among all of them (1 MB of slopes, three
/// passes of `select_nth`) was half of a small program's report; instead, a
/// sample of slopes brackets each rank wanted, one pass over the pairs
/// counts the slopes below the bracket and keeps those inside it, and the
/// rank is selected among those few. The answer is exactly the same order
/// statistic; should a bracket miss its rank (a sample far off, about one
/// chance in 10^5), the slopes are all listed and selected as before.
struct Slopes<'a> {
    times: &'a [f64],
    values: &'a [f64],
    /// The sorted sample, drawn once for every rank asked.
    sample: std::cell::OnceCell<Vec<f64>>,
}

/// Below this many pairs the slopes are simply listed.
const LISTED_PAIRS: usize = 16_384;
/// Slopes drawn to place the brackets.
const SAMPLE: usize = 4096;

impl<'a> Slopes<'a> {
    fn new(times: &'a [f64], values: &'a [f64]) -> Slopes<'a> {
        Slopes {
            times,
            values,
            sample: std::cell::OnceCell::new(),
        }
    }

    fn pairs(&self) -> usize {
        let n = self.times.len();
        n * n.saturating_sub(1) / 2
    }

    /// The slope from sample `i` to a later sample `j`, if it counts.
    #[inline(always)]
    fn slope(&self, i: usize, j: usize) -> Option<f64> {
        let slope = slope_or_nan(self.times[i], self.values[i], self.times[j], self.values[j]);
        (!slope.is_nan()).then_some(slope)
    }

    /// Every slope, in no particular order.
    fn list(&self) -> Vec<f64> {
        let n = self.times.len();
        let mut slopes = Vec::with_capacity(self.pairs());
        for i in 0..n {
            for j in i + 1..n {
                if let Some(slope) = self.slope(i, j) {
                    slopes.push(slope);
                }
            }
        }
        slopes
    }

    /// How many slopes there are, and their median (the mean of the two
    /// middle ones for an even count); `None` without slopes.
    fn median(&self) -> Option<(usize, f64)> {
        if self.pairs() > LISTED_PAIRS
            && let Some(found) = self.median_bracketed()
        {
            return Some(found);
        }
        let mut slopes = self.list();
        Some((slopes.len(), median_in_place(&mut slopes)?))
    }

    fn median_bracketed(&self) -> Option<(usize, f64)> {
        let bracket = bracket(self.sample(), 0.5)?;
        let (count, [mut found]) = self.pass([Some(bracket)]);
        Some((count, found.median(count)?))
    }

    /// The median slope, and the slopes at the two ranks that
    /// `ranks_of(count, median)` names (with what else it returns): the
    /// ranks of a confidence interval, which depend on the median. Where
    /// the slopes are bracketed, the ranks are first guessed from the
    /// sample's median and bracketed too, so that one pass over the pairs
    /// finds all three; a guess whose bracket misses the exact rank (the
    /// ranks move little with the median) costs a second pass. The
    /// answers are exactly [`Slopes::median`]'s and [`Slopes::ranks`]'.
    fn median_and_ranks<T>(
        &self,
        ranks_of: impl Fn(usize, f64) -> (T, [Option<usize>; 2]),
    ) -> Option<(f64, T, [Option<f64>; 2])> {
        if self.pairs() > LISTED_PAIRS
            && let Some(found) = self.together(&ranks_of)
        {
            return Some(found);
        }
        let (count, median) = self.median()?;
        let (extra, ranks) = ranks_of(count, median);
        Some((median, extra, self.ranks(ranks)))
    }

    fn together<T>(
        &self,
        ranks_of: &impl Fn(usize, f64) -> (T, [Option<usize>; 2]),
    ) -> Option<(f64, T, [Option<f64>; 2])> {
        let sample = self.sample();
        let guess = *sample.get(sample.len() / 2)?;
        let pairs = self.pairs();
        let (_, guessed) = ranks_of(pairs, guess);
        let at = |rank: Option<usize>| rank.and_then(|r| bracket(sample, r as f64 / pairs as f64));
        let brackets = [Some(bracket(sample, 0.5)?), at(guessed[0]), at(guessed[1])];
        let (count, [mut middle, lower, upper]) = self.pass(brackets);
        let median = middle.median(count)?;
        let (extra, ranks) = ranks_of(count, median);
        let mut answers = [None, None];
        let mut missed = [None, None];
        for (((rank, mut found), answer), missed) in ranks
            .into_iter()
            .zip([lower, upper])
            .zip(&mut answers)
            .zip(&mut missed)
        {
            match rank {
                Some(rank) if rank < count => match found.rank(rank) {
                    Some(slope) => *answer = Some(slope),
                    None => *missed = Some(rank),
                },
                _ => {}
            }
        }
        if missed.iter().any(Option::is_some) {
            for (answer, again) in answers.iter_mut().zip(self.ranks(missed)) {
                if again.is_some() {
                    *answer = again;
                }
            }
        }
        Some((median, extra, answers))
    }

    /// The slopes at the given ranks (0-based, in ascending order), each
    /// `None` if not asked for or out of range.
    fn ranks(&self, ranks: [Option<usize>; 2]) -> [Option<f64>; 2] {
        if self.pairs() > LISTED_PAIRS
            && let Some(found) = self.ranks_bracketed(ranks)
        {
            return found;
        }
        let mut slopes = self.list();
        ranks.map(|rank| rank.and_then(|rank| order_statistic(&mut slopes, rank)))
    }

    fn ranks_bracketed(&self, ranks: [Option<usize>; 2]) -> Option<[Option<f64>; 2]> {
        let sample = self.sample();
        let pairs = self.pairs() as f64;
        let brackets = ranks.map(|rank| rank.and_then(|r| bracket(sample, r as f64 / pairs)));
        if ranks
            .iter()
            .zip(&brackets)
            .any(|(r, b)| r.is_some() && b.is_none())
        {
            return None;
        }
        let (count, found) = self.pass(brackets);
        let mut answers = [None, None];
        for ((rank, mut found), answer) in ranks.into_iter().zip(found).zip(&mut answers) {
            match rank {
                Some(rank) if rank < count => *answer = Some(found.rank(rank)?),
                _ => {}
            }
        }
        Some(answers)
    }

    /// About [`SAMPLE`] slopes of pairs drawn at random (the same ones for
    /// the same samples: the generator is seeded with their number), sorted.
    fn sample(&self) -> &[f64] {
        self.sample.get_or_init(|| self.draw())
    }

    fn draw(&self) -> Vec<f64> {
        let n = self.times.len() as u64;
        let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ n;
        let mut next = move || {
            // splitmix64
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let mut sample = Vec::with_capacity(SAMPLE);
        for _ in 0..SAMPLE {
            // In [0, n) by a multiply and a shift rather than a division.
            let mut below_n = || ((u128::from(next()) * u128::from(n)) >> 64) as usize;
            let (a, b) = (below_n(), below_n());
            if a != b
                && let Some(slope) = self.slope(a.min(b), a.max(b))
            {
                sample.push(slope);
            }
        }
        sample.sort_unstable_by(f64::total_cmp);
        sample
    }

    /// One pass over every pair: how many slopes there are, and where they
    /// fall around each bracket.
    fn pass<const N: usize>(&self, brackets: [Option<(f64, f64)>; N]) -> (usize, [Found; N]) {
        let mut found = brackets.map(|bracket| {
            let (low, high) = bracket.unwrap_or((f64::INFINITY, f64::NEG_INFINITY));
            Found {
                low,
                high,
                ..Found::default()
            }
        });
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: this CPU has AVX2 (checked just above).
            let count = unsafe { rows_avx2(self.times, self.values, &mut found) };
            return (count, found);
        }
        let count = rows(self.times, self.values, &mut found);
        (count, found)
    }
}

/// [`rows`] in AVX2's 4-wide vectors (twice SSE2's); the same operations
/// in the same order, so the same results.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn rows_avx2<const N: usize>(times: &[f64], values: &[f64], found: &mut [Found; N]) -> usize {
    rows(times, values, found)
}

/// The body of [`Slopes::pass`]: row by row, the row's slopes, then counts
/// over them without branches (both vector code), then the few inside a
/// bracket picked out. Returns how many slopes there are.
#[inline(always)]
fn rows<const N: usize>(times: &[f64], values: &[f64], found: &mut [Found; N]) -> usize {
    let n = times.len().min(values.len());
    let mut count = 0;
    let mut row = vec![0.0; n];
    for i in 0..n {
        let (ti, vi) = (times[i], values[i]);
        let row = &mut row[..n - i - 1];
        for ((slope, &t), &v) in row.iter_mut().zip(&times[i + 1..n]).zip(&values[i + 1..n]) {
            *slope = slope_or_nan(ti, vi, t, v);
        }
        count += row.iter().map(|s| u64::from(!s.is_nan())).sum::<u64>() as usize;
        for found in found.iter_mut() {
            let (low, high) = (found.low, found.high);
            if low > high {
                continue; // no bracket
            }
            let (mut below, mut at_low, mut inside, mut at_high) = (0u64, 0u64, 0u64, 0u64);
            for &slope in row.iter() {
                below += u64::from(slope < low);
                at_low += u64::from(slope == low);
                inside += u64::from(slope > low && slope < high);
                at_high += u64::from(slope == high);
            }
            found.below += below as usize;
            found.at_low += at_low as usize;
            // A bracket of one value counts its ties once, at `low`.
            if low != high {
                found.at_high += at_high as usize;
            }
            if inside > 0 {
                found
                    .inside
                    .extend(row.iter().filter(|&&s| s > low && s < high));
            }
        }
    }
    count
}

/// The slope from `(t0, v0)` to `(t1, v1)`, `t1 ≥ t0` (the columns are
/// sorted by time): NaN unless it is finite (so NaN for equal times), and
/// never −0 (so that `<` orders slopes as `f64::total_cmp` does). In float
/// operations only, without a branch, so that a row of slopes is vector
/// code: `s − s` is 0 for a finite `s` and NaN otherwise, and `−0 + 0` is
/// `+0`.
#[inline(always)]
fn slope_or_nan(t0: f64, v0: f64, t1: f64, v1: f64) -> f64 {
    let slope = (v1 - v0) / (t1 - t0);
    #[allow(clippy::eq_op)] // `s − s` is the point: 0 or NaN
    let finite = slope - slope;
    slope + finite
}

/// Where the slopes fall around one bracket `[low, high]` (ties with its
/// ends are counted, not kept: a series that stays flat has most of its
/// slopes exactly 0).
#[derive(Default)]
struct Found {
    low: f64,
    high: f64,
    below: usize,
    at_low: usize,
    /// Those strictly between `low` and `high`.
    inside: Vec<f64>,
    at_high: usize,
}

impl Found {
    /// The median of all `count` slopes (the mean of the two middle ones
    /// for an even count), if the bracket holds it.
    fn median(&mut self, count: usize) -> Option<f64> {
        let mid = count / 2;
        let upper = self.rank(mid)?;
        if count % 2 == 1 {
            return Some(upper);
        }
        let lower = self.rank(mid.checked_sub(1)?)?;
        Some(lower / 2.0 + upper / 2.0)
    }

    /// The slope of rank `rank` (0-based) among all, if the bracket holds
    /// it.
    fn rank(&mut self, rank: usize) -> Option<f64> {
        let mut rank = rank.checked_sub(self.below)?;
        if rank < self.at_low {
            return Some(self.low);
        }
        rank -= self.at_low;
        if rank < self.inside.len() {
            return order_statistic(&mut self.inside, rank);
        }
        rank -= self.inside.len();
        (rank < self.at_high).then_some(self.high)
    }
}

/// Bounds around the `p`-quantile of all slopes, from a sorted `sample` of
/// them: its quantile ± 5 standard errors of a sample quantile, infinite
/// past the sample's ends (slopes are finite). `None` if the sample is
/// empty.
fn bracket(sorted: &[f64], p: f64) -> Option<(f64, f64)> {
    let m = sorted.len();
    if m == 0 {
        return None;
    }
    let p = p.clamp(0.0, 1.0);
    let spread = 5.0 * (m as f64 * p * (1.0 - p)).sqrt() + 4.0;
    let centre = p * m as f64;
    let (low, high) = (centre - spread, centre + spread);
    let low = if low < 0.0 {
        f64::NEG_INFINITY
    } else {
        sorted[(low as usize).min(m - 1)]
    };
    let high = if high >= (m - 1) as f64 {
        f64::INFINITY
    } else {
        sorted[high as usize]
    };
    Some((low, high))
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

    /// The order statistics of every pairwise slope, listed and sorted.
    fn sorted_slopes(times: &[f64], values: &[f64]) -> Vec<f64> {
        let mut all = vec![];
        for i in 0..times.len() {
            for j in i + 1..times.len() {
                let slope = (values[j] - values[i]) / (times[j] - times[i]);
                if times[j] > times[i] && slope.is_finite() {
                    all.push(slope);
                }
            }
        }
        all.sort_by(f64::total_cmp);
        all
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Long series go through the brackets (more than 16,384 pairs from
        /// 182 samples on), short ones list every slope: both give exactly
        /// the median and the ranks of the sorted slopes, with ties (values
        /// from a small set), steps and noise.
        #[test]
        fn slopes_ranks_are_those_of_every_slope_sorted(
            values in proptest::collection::vec(
                proptest::prop_oneof![
                    0.0..1e6f64,
                    proptest::strategy::Strategy::prop_map(0u8..4, f64::from),
                ],
                3..400,
            ),
            gaps in proptest::collection::vec(0.5..3.0f64, 400),
            ranks in (0.0..1.0f64, 0.0..1.0f64),
        ) {
            let times: Vec<f64> = gaps[..values.len()]
                .iter()
                .scan(0.0, |t, gap| {
                    *t += gap;
                    Some(*t)
                })
                .collect();
            let all = sorted_slopes(&times, &values);
            let slopes = Slopes::new(&times, &values);
            let (count, median) = slopes.median().unwrap();
            proptest::prop_assert_eq!(count, all.len());
            let mid = all.len() / 2;
            let expected = if all.len() % 2 == 1 { all[mid] } else { all[mid - 1] / 2.0 + all[mid] / 2.0 };
            proptest::prop_assert_eq!(median.to_bits(), expected.to_bits());
            let low = (ranks.0 * all.len() as f64) as usize;
            let high = (ranks.1 * all.len() as f64) as usize;
            let (low, high) = (low.min(high), low.max(high));
            let [a, b] = slopes.ranks([Some(low), Some(high)]);
            proptest::prop_assert_eq!(a.map(f64::to_bits), all.get(low).map(|v| v.to_bits()));
            proptest::prop_assert_eq!(b.map(f64::to_bits), all.get(high).map(|v| v.to_bits()));
            proptest::prop_assert_eq!(slopes.ranks([None, Some(all.len())]), [None, None]);
            // Ranks that move with the median, as a confidence interval's
            // do: the guess from the sample's median then names other
            // ranks, some outside its brackets (the second pass).
            let moving = |count: usize, median: f64| {
                let shift = (median.to_bits() % 9973) as usize;
                (shift, [Some((low + shift) % count.max(1)), high.checked_sub(shift)])
            };
            let (median2, shift, [a, b]) = slopes.median_and_ranks(moving).unwrap();
            proptest::prop_assert_eq!(median2.to_bits(), expected.to_bits());
            let (exact_shift, [x, y]) = moving(all.len(), expected);
            proptest::prop_assert_eq!(shift, exact_shift);
            proptest::prop_assert_eq!(a.map(f64::to_bits), x.and_then(|r| all.get(r)).map(|v| v.to_bits()));
            proptest::prop_assert_eq!(b.map(f64::to_bits), y.and_then(|r| all.get(r)).map(|v| v.to_bits()));
        }
    }
}

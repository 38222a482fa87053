//! Everything the classifier looks at, computed once per analysis.
//!
//! Values are normalised by the largest absolute value (`scale`) and times
//! are taken relative to the first sample (`t0`): every threshold in bytes is
//! divided by `scale` once, every slope multiplied back at the end. This keeps
//! sums of squares finite for any input magnitude and keeps epoch timestamps
//! from eating the precision of time differences.

use crate::changepoint::{Segment, pelt_linear};
use crate::envelope::rolling_min;
use crate::options::Options;
use crate::periodicity::{Period, period_of};
use crate::series::{Summary, bucket_means, bucketize};
use crate::spikes::remove_transients;
use crate::stats::{coefficient_of_variation, median, noise_sigma};
use crate::swings::{Swings, zigzag};
use crate::trend::{Trend, trend_of};

/// A boundary between two change-point segments.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Jump {
    /// Time of the first sample of the later segment, relative to `t0`.
    pub t: f64,
    /// Fitted level after minus fitted level before (normalised units).
    pub size: f64,
    /// Large enough in standard errors, sudden, and large enough in bytes to
    /// count.
    pub significant: bool,
}

/// The trend of the lower envelope of a series that rises and falls back.
pub(crate) struct Envelope {
    /// Rolling-minimum window, seconds.
    pub window: f64,
    /// Time covered by the envelope (the series minus the first window).
    pub duration: f64,
    /// Trend of the (bucketed) envelope.
    pub trend: Option<Trend>,
    /// Whether the envelope's growth has levelled off (None: cannot tell).
    pub levelled_off: Option<bool>,
}

pub(crate) struct Features<'o> {
    pub opts: &'o Options,
    /// Time of the first analysed sample (input clock).
    pub t0: f64,
    /// Bytes per normalised unit.
    pub scale: f64,
    /// All samples, times relative to `t0`.
    pub tau: Vec<f64>,
    /// All samples, normalised, transients interpolated over.
    pub x: Vec<f64>,
    /// Number of samples interpolated over as transients.
    pub transient_samples: usize,
    pub duration: f64,
    /// Median absolute value (normalised).
    pub level: f64,
    /// `min_growth_bytes`, normalised.
    pub floor: f64,
    /// `min_leak_rate_bytes_per_s`, normalised.
    pub rate_floor: f64,
    /// Bucketed series (at most `max_points` samples).
    pub rt: Vec<f64>,
    pub rx: Vec<f64>,
    /// Robust noise level of the bucketed series (floored, never 0).
    pub sigma_r: f64,
    pub trend: Option<Trend>,
    pub segments: Vec<Segment>,
    pub jumps: Vec<Jump>,
    /// Net change of the piecewise-linear fit.
    pub fit_growth: f64,
    pub period: Option<Period>,
    pub swings: Swings,
}

impl<'o> Features<'o> {
    /// Computes the features of sorted samples (at least two, distinct
    /// finite times spanning a positive finite duration).
    pub fn new(times: &[f64], values: &[f64], opts: &'o Options) -> Self {
        let t0 = times.first().copied().unwrap_or(0.0);
        let tau: Vec<f64> = times.iter().map(|t| t - t0).collect();
        let duration = tau.last().copied().unwrap_or(0.0);
        let max_abs = values.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
        let scale = if max_abs > 0.0 && max_abs.is_finite() {
            max_abs
        } else {
            1.0
        };
        let mut x: Vec<f64> = values.iter().map(|v| v / scale).collect();
        let transient_samples =
            remove_transients(&tau, &mut x, opts.outlier_z, opts.max_outlier_run)
                .iter()
                .map(|t| t.samples)
                .sum();

        let abs: Vec<f64> = x.iter().map(|v| v.abs()).collect();
        let level = median(&abs).unwrap_or(0.0);
        let floor = opts.min_growth_bytes / scale;
        let rate_floor = opts.min_leak_rate_bytes_per_s / scale;
        let sigma_full = noise_sigma(&x);

        let (rt, rx) = bucket_means(&tau, &x, opts.max_points);
        let range = rx.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v))
            - rx.iter().fold(f64::INFINITY, |m, &v| m.min(v));
        let range = if range.is_finite() { range } else { 0.0 };
        // The floor keeps PELT from splitting on rounding error when the
        // series is noise-free.
        let sigma_r = noise_sigma(&rx).max(1e-6 * range).max(1e-12);
        // Sample-to-sample spread of the bucketed series (σ of a first difference).
        let sigma_step = sigma_r * std::f64::consts::SQRT_2;
        let trend = trend_of(&rt, &rx, opts.alpha);
        let n_r = rx.len().max(2) as f64;
        let penalty = opts.penalty_factor * sigma_r * sigma_r * n_r.ln();
        let segments = pelt_linear(&rt, &rx, penalty, opts.min_segment_len);
        let jumps = jumps_between(
            &segments,
            sigma_r,
            sigma_step,
            floor,
            opts.jump_z,
            opts.min_segment_len,
        );
        let fit_growth = match (segments.first(), segments.last()) {
            (Some(a), Some(b)) => b.last_fit - a.first_fit,
            _ => 0.0,
        };
        let period = period_of(&rt, &rx, rt.len(), opts.min_autocorrelation, opts.alpha);
        // Noise alone spans about 2σ·√(2 ln n) over n samples (the expected
        // range of n Gaussian values), so a swing must clear that, not a
        // fixed multiple of σ, or long noisy series would "swing".
        let noise_range = 2.0 * (2.0 * (x.len().max(2) as f64).ln()).sqrt() * sigma_full;
        let swing_threshold = (opts.swing_fraction * level)
            .max(floor)
            .max(opts.swing_noise_factor * noise_range);
        let swings = zigzag(&tau, &x, swing_threshold);

        Features {
            opts,
            t0,
            scale,
            tau,
            x,
            transient_samples,
            duration,
            level,
            floor,
            rate_floor,
            rt,
            rx,
            sigma_r,
            trend,
            segments,
            jumps,
            fit_growth,
            period,
            swings,
        }
    }

    /// Smallest growth that counts: `max(min_growth_fraction · level, floor)`.
    pub fn materiality(&self) -> f64 {
        (self.opts.min_growth_fraction * self.level).max(self.floor)
    }

    /// Is `growth` over the observation material: above the absolute floor
    /// and either a large enough fraction of the level or fast enough in
    /// absolute terms? `rate` is the rate we are *sure* of — the lower bound
    /// of a slope interval where there is one — so that the absolute-rate
    /// route is not taken by noise in a short window.
    pub fn is_material(&self, growth: f64, rate: f64) -> bool {
        growth > 0.0
            && growth >= self.floor
            && (growth >= self.opts.min_growth_fraction * self.level || rate >= self.rate_floor)
    }

    /// Does `trend` show a significant rise: positive Mann–Kendall score with
    /// p below alpha, and a slope interval entirely above zero?
    pub fn significant_rise(&self, trend: Option<&Trend>) -> bool {
        trend.is_some_and(|t| {
            t.mann_kendall.z > 0.0
                && t.mann_kendall.p_value < self.opts.alpha
                && t.theil_sen.lower.is_some_and(|l| l > 0.0)
        })
    }

    /// Has growth at average rate `rate` levelled off in the last
    /// `tail_fraction` of `(times, values)`? Yes when
    ///
    /// - the tail's slope is, at its upper bound, at most `level_off_ratio ·
    ///   rate` *and* the tail does not itself rise significantly and
    ///   materially (a warm-up followed by a slower leak has slowed down, but
    ///   has not levelled off); or
    /// - the tail's slope at its upper bound, continued over the whole
    ///   observation, would not be material.
    ///
    /// `None` when the tail has too few samples to tell.
    pub fn levelled_off(&self, times: &[f64], values: &[f64], rate: f64) -> Option<bool> {
        let last = *times.last()?;
        let first = *times.first()?;
        let start = last - self.opts.tail_fraction * (last - first);
        let at = times.partition_point(|&t| t < start);
        let (tt, tx) = (&times[at..], &values[at..]);
        if tt.len() < self.opts.min_samples.max(5) {
            return None;
        }
        let tail = trend_of(tt, tx, self.opts.alpha)?;
        let upper = tail.theil_sen.upper?;
        let slope = tail.theil_sen.slope;
        let tail_span = tt.last().copied().unwrap_or(last) - tt.first().copied().unwrap_or(last);
        let lower = tail.theil_sen.lower.unwrap_or(slope);
        let still_rising =
            self.significant_rise(Some(&tail)) && self.is_material(slope * tail_span, lower);
        let slowed = rate > 0.0 && upper <= self.opts.level_off_ratio * rate && !still_rising;
        let immaterial = !self.is_material(upper * self.duration, upper);
        Some(slowed || immaterial)
    }

    /// Typical length of one rise-and-fall cycle: the median time between
    /// swing peaks, else the autocorrelation period, else the observation
    /// divided by the number of falls plus one.
    pub fn cycle(&self) -> f64 {
        self.peak_interval()
            .map(|(median, _)| median)
            .or(self.period.map(|p| p.period_s))
            .filter(|c| c.is_finite() && *c > 0.0)
            .unwrap_or(self.duration / (self.swings.falls + 1) as f64)
    }

    /// The sawtooth's period when it is regular: the median time between
    /// peaks if those intervals vary little, else the autocorrelation period
    /// if it agrees with that median to within 25 %.
    pub fn sawtooth_period(&self) -> Option<f64> {
        let (median, cv) = self.peak_interval()?;
        if cv <= self.opts.max_interval_cv {
            return Some(median);
        }
        self.period
            .map(|p| p.period_s)
            .filter(|p| (p - median).abs() <= 0.25 * median)
    }

    /// Lower envelope over `envelope_periods` cycles (at most half the
    /// observation), its trend, and whether its growth levelled off.
    ///
    /// The rolling minimum is reduced to one point per cycle (its minimum)
    /// before the trend is taken: consecutive minima within a cycle are the
    /// same trough, and counting it many times would make a wandering floor
    /// look significant.
    pub fn envelope(&self) -> Envelope {
        let cycle = self.cycle();
        let window = (self.opts.envelope_periods * cycle).min(self.duration / 2.0);
        let (et, ex) = rolling_min(&self.tau, &self.x, window);
        let span = match (et.first(), et.last()) {
            (Some(a), Some(b)) => b - a,
            _ => 0.0,
        };
        // Saturating cast: NaN or huge ratios end up clamped.
        let buckets = ((span / cycle).ceil() as usize).clamp(1, self.opts.max_points);
        // The minimum per cycle is an actual sample value: a floor that stays
        // put yields exactly equal points (ties), not near-equal averages.
        let (bt, bx) = bucketize(&et, &ex, buckets, Summary::Min);
        let duration = match (bt.first(), bt.last()) {
            (Some(a), Some(b)) => b - a,
            _ => 0.0,
        };
        let trend = trend_of(&bt, &bx, self.opts.alpha);
        let levelled_off = trend.as_ref().and_then(|t| {
            let rate = t.theil_sen.slope;
            self.levelled_off(&bt, &bx, rate)
        });
        Envelope {
            window,
            duration,
            trend,
            levelled_off,
        }
    }

    /// Median and coefficient of variation of the times between swing peaks.
    pub fn peak_interval(&self) -> Option<(f64, f64)> {
        let intervals: Vec<f64> = self
            .swings
            .peak_times
            .windows(2)
            .map(|w| w[1] - w[0])
            .collect();
        let median = median(&intervals)?;
        let cv = coefficient_of_variation(&intervals).unwrap_or(0.0);
        Some((median, cv))
    }

    /// Fitted level of the last segment minus that of the first, in standard
    /// errors of the two segment levels: how sure we are the series ends
    /// higher than it started.
    pub fn rise_z(&self) -> f64 {
        match (self.segments.first(), self.segments.last()) {
            (Some(a), Some(b)) if self.segments.len() > 1 => {
                let se = level_se(a, self.sigma_r) + level_se(b, self.sigma_r);
                self.fit_growth / se.sqrt()
            }
            _ => 0.0,
        }
    }

    /// Time (relative) from which the fitted series stays within the
    /// materiality threshold of its final level: where growth stopped.
    pub fn settle_time(&self) -> f64 {
        let last = match self.segments.last() {
            Some(s) => s.last_fit,
            None => return 0.0,
        };
        let band = self.materiality();
        let mut settle = self.segments.last().map(|s| s.start_s).unwrap_or(0.0);
        for s in self.segments.iter().rev() {
            if (s.first_fit - last).abs() <= band && (s.last_fit - last).abs() <= band {
                settle = s.start_s;
            } else {
                // Growth ends inside this segment: where its line enters the band.
                if s.slope != 0.0 {
                    let target = if s.first_fit < last {
                        last - band
                    } else {
                        last + band
                    };
                    let cross = s.start_s + (target - s.first_fit) / s.slope;
                    settle = cross.clamp(s.start_s, s.end_s).max(0.0);
                }
                break;
            }
        }
        settle
    }
}

/// Variance of a segment's fitted level: residual variance (floored at the
/// noise level) over its length.
fn level_se(segment: &Segment, sigma: f64) -> f64 {
    segment.residual_variance.max(sigma * sigma) / segment.len().max(1) as f64
}

/// The level shifts between segments, with their significance.
///
/// A jump that falls between two samples is fine; one that a sample (or a
/// bucket average) catches half-way produces a short, steep segment between
/// two long ones. Segments shorter than `2 · min_len` are therefore treated as
/// transitions: when at most two of them separate two longer segments, the
/// shift is measured from the end of one long segment to the start of the
/// next, as one jump.
///
/// A jump is significant when it is `jump_z` standard errors of the two
/// segment levels *and* `jump_z` typical sample-to-sample changes large: the
/// second condition is what makes it sudden. A random walk drifts by as much
/// between two change points, but never in one step.
fn jumps_between(
    segments: &[Segment],
    sigma: f64,
    sigma_step: f64,
    floor: f64,
    jump_z: f64,
    min_len: usize,
) -> Vec<Jump> {
    let last = segments.len().saturating_sub(1);
    let anchors: Vec<usize> = (0..segments.len())
        .filter(|&i| i == 0 || i == last || segments[i].len() >= 2 * min_len)
        .collect();
    let jump = |a: &Segment, b: &Segment, t: f64| {
        let size = b.first_fit - a.last_fit;
        let se = (level_se(a, sigma) + level_se(b, sigma)).sqrt();
        let z = if se > 0.0 { size.abs() / se } else { 0.0 };
        Jump {
            t,
            size,
            significant: z >= jump_z
                && size.abs() >= jump_z * sigma_step
                && size.abs() >= floor
                && size.abs() > 0.0,
        }
    };
    let mut jumps = Vec::new();
    for pair in anchors.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if b - a <= 3 {
            jumps.push(jump(&segments[a], &segments[b], segments[a + 1].start_s));
        } else {
            for k in a..b {
                jumps.push(jump(
                    &segments[k],
                    &segments[k + 1],
                    segments[k + 1].start_s,
                ));
            }
        }
    }
    jumps
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: f64 = 1024.0 * 1024.0;
    const GIB: f64 = 1024.0 * MIB;

    fn flat(level: f64, n: usize) -> (Vec<f64>, Vec<f64>) {
        // Deterministic ±1 KiB wiggle.
        let t: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let v = (0..n)
            .map(|i| level + 1024.0 * (((i * 7919) % 13) as f64 / 6.0 - 1.0))
            .collect();
        (t, v)
    }

    #[test]
    fn materiality_is_relative_with_a_rate_route_and_a_floor() {
        let opts = Options::default();
        let (t, v) = flat(GIB, 100);
        let f = Features::new(&t, &v, &opts);
        let bytes = |b: f64| b / f.scale;
        // 4 KiB on 1 GiB: neither 1 % of the level nor fast.
        assert!(!f.is_material(bytes(4096.0), bytes(4096.0 / 600.0)));
        // 2 % of the level.
        assert!(f.is_material(bytes(0.02 * GIB), 0.0));
        // 1.7 MiB (0.16 %) at a sure 10 MiB/h: material by rate.
        assert!(f.is_material(bytes(1.7 * MIB), bytes(10.0 * MIB / 3600.0)));
        // Fast but below the one-page floor.
        assert!(!f.is_material(bytes(2048.0), bytes(1e6)));
        assert!(!f.is_material(-bytes(GIB), bytes(1e6)));
    }

    #[test]
    fn a_flat_tail_has_levelled_off_and_a_rising_one_has_not() {
        let opts = Options::default();
        let t: Vec<f64> = (0..300).map(|i| i as f64).collect();
        let wiggle = |i: usize| 1024.0 * (((i * 7919) % 13) as f64 / 6.0 - 1.0);
        let plateau: Vec<f64> = (0..300)
            .map(|i| 100.0 * MIB + MIB * (i.min(60) as f64) + wiggle(i))
            .collect();
        let f = Features::new(&t, &plateau, &opts);
        assert_eq!(
            f.levelled_off(&f.rt, &f.rx, f.fit_growth / f.duration),
            Some(true)
        );
        let line: Vec<f64> = (0..300)
            .map(|i| 100.0 * MIB + 0.2 * MIB * i as f64 + wiggle(i))
            .collect();
        let f = Features::new(&t, &line, &opts);
        assert_eq!(
            f.levelled_off(&f.rt, &f.rx, f.fit_growth / f.duration),
            Some(false)
        );
        // Too short a tail to tell.
        let f = Features::new(&t[..9], &line[..9], &opts);
        assert_eq!(f.levelled_off(&f.rt, &f.rx, 1.0), None);
    }

    fn seg(start: usize, end: usize, first_fit: f64, last_fit: f64) -> Segment {
        Segment {
            start,
            end,
            start_s: start as f64,
            end_s: (end - 1) as f64,
            first_fit,
            last_fit,
            slope: (last_fit - first_fit) / ((end - start - 1) as f64).max(1.0),
            residual_variance: 0.0,
        }
    }

    #[test]
    fn a_short_steep_segment_is_one_jump_not_two() {
        // Flat at 0, a 3-sample transition caught mid-jump, flat at 100.
        let segments = [
            seg(0, 50, 0.0, 0.0),
            seg(50, 53, 30.0, 90.0),
            seg(53, 100, 100.0, 100.0),
        ];
        let jumps = jumps_between(&segments, 1.0, 1.4, 1.0, 5.0, 3);
        assert_eq!(jumps.len(), 1);
        assert_eq!(jumps[0].size, 100.0);
        assert_eq!(jumps[0].t, 50.0);
        assert!(jumps[0].significant);
        // Long segments on both sides of every boundary: one jump each.
        let segments = [
            seg(0, 50, 0.0, 0.0),
            seg(50, 100, 100.0, 100.0),
            seg(100, 150, 90.0, 90.0),
        ];
        let jumps = jumps_between(&segments, 1.0, 1.4, 1.0, 5.0, 3);
        assert_eq!(
            jumps.iter().map(|j| j.size).collect::<Vec<_>>(),
            vec![100.0, -10.0]
        );
    }

    #[test]
    fn a_drift_is_not_a_sudden_jump() {
        // 20 units between two segments, but the typical sample-to-sample
        // change is 10: not five of them, so not sudden.
        let segments = [seg(0, 50, 0.0, 0.0), seg(50, 100, 20.0, 20.0)];
        let jumps = jumps_between(&segments, 0.1, 10.0, 1.0, 5.0, 3);
        assert!(!jumps[0].significant);
    }
}

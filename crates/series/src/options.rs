//! Every threshold of the analysis, with the reason for its default.
//!
//! `docs/statistics.md` explains where each one enters the decision.

/// Thresholds and knobs of [`crate::analyze`]. `Options::default()` is what
/// `report`, `watch` and `gc` use unless told otherwise.
///
/// Out-of-range values (NaN, negative counts, fractions outside their range)
/// are replaced by the default rather than rejected, so no option can make
/// the analysis panic.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// What the series measures, used in the `reason` sentence ("live
    /// bytes", "RSS", "heap after GC"). Default `"memory"`.
    pub subject: String,

    /// Significance level of the Mann–Kendall test; slope intervals have
    /// confidence `1 − alpha`. Default 0.05, the conventional level: the
    /// Hamed–Rao correction, the materiality thresholds and the level-off
    /// check already guard against the false positives a looser test would
    /// let through, and a stricter one would hide slow leaks on noisy RSS.
    pub alpha: f64,

    /// Fewer analysed samples than this is "not enough data": `stable`, no
    /// leak, confidence 0. Default 4: with three points any shape fits, and
    /// a trend needs at least four to be told from two noisy pairs. (At
    /// `alpha` = 0.05 the Mann–Kendall test cannot reject below 5 samples, so
    /// a linear leak needs 5 anyway.)
    pub min_samples: usize,

    /// Above this many samples, the quadratic methods (Theil–Sen,
    /// Mann–Kendall, change points, periodicity) run on the series averaged
    /// into this many equal-time buckets. Default 512: 130 k slope pairs keep
    /// one analysis to a few milliseconds, so `watch` can re-judge a
    /// day-long 1 Hz series every second and `report` can judge thousands of
    /// stacks; 512 buckets still resolve a warm-up lasting 1/100 of the
    /// observation. Sawtooth swings and the lower envelope are always
    /// measured on all samples (O(n)).
    pub max_points: usize,

    /// Seconds after the first sample to ignore entirely, for callers that
    /// know their program's warm-up. Default 0: the analysis recognises a
    /// warm-up by itself (the `plateau` pattern).
    pub warmup_s: f64,

    /// Growth counts only if it is at least this fraction of the series'
    /// level (median value) — or fast enough in absolute terms, see
    /// `min_leak_rate_bytes_per_s`. Default 0.01 (1 %): 4 KiB of noise on a
    /// 1 GiB process is 0.0004 % and stays `stable`, while a leak that adds
    /// 1 % of the process within the observation is worth a look.
    pub min_growth_fraction: f64,

    /// Growth smaller than this many bytes over the observation never
    /// counts, whatever the level. Default 4096 (one page): below a page the
    /// kernel's own accounting (RSS is counted in pages) cannot tell growth
    /// from noise, and per-stack series that start at 0 need some floor.
    pub min_growth_bytes: f64,

    /// Growth at least this fast counts even when it is below
    /// `min_growth_fraction` of the level (the absolute floor still applies).
    /// Default 10 MB/h (2 777.8 B/s), Coroot's production default for RSS
    /// leaks: a 10 MiB/h climb on a 1 GiB process is a leak even after
    /// minutes, long before it is 1 % of the process.
    pub min_leak_rate_bytes_per_s: f64,

    /// A first difference more than this many robust standard deviations
    /// (1.4826 · MAD of all differences) from the median difference is
    /// outlying. Default 5: Precog uses 3.5 on 5-minute medians; raw 1 Hz
    /// memory samples are heavier-tailed, and at 5 a Gaussian series of a
    /// million samples has about one false outlier.
    pub outlier_z: f64,

    /// An outlying excursion that comes back within this many samples is a
    /// transient (a glitch, or a buffer freed before the next sample) and is
    /// interpolated over. Default 2: longer excursions are real behaviour and
    /// are left to the pattern analysis.
    pub max_outlier_run: usize,

    /// PELT penalty per segment, in units of `σ² · ln n` (σ: robust noise
    /// level). Default 3, the Schwarz (BIC) penalty for the three parameters
    /// a new linear segment adds (intercept, slope, position).
    pub penalty_factor: f64,

    /// Fewest samples in one change-point segment. Default 3: a line through
    /// two points fits anything; three leave one residual to judge by.
    pub min_segment_len: usize,

    /// A level shift between two segments is significant when it is at least
    /// this many standard errors (of the two segment levels) large. Default
    /// 5, like `outlier_z`: a change point is chosen among hundreds of
    /// candidates, so it needs a margin far above the usual 2.
    pub jump_z: f64,

    /// Growth is "in jumps" (`step`, `periodic`, `spike`) when significant
    /// upward jumps account for at least this fraction of it. Default 0.7:
    /// most of it, while allowing some drift between jumps.
    pub jump_share: f64,

    /// More irregular jumps than this is not "growth in a few jumps" but
    /// steady growth in coarse increments (a stack that allocates a large
    /// block now and then), judged as `linear`. Default 10. Regular jumps
    /// (`periodic`) have no such limit: a job that leaks on every run may run
    /// many times.
    pub max_step_jumps: usize,

    /// One jump carrying at least this fraction of the growth makes a
    /// `spike` rather than a `step`. Default 0.8.
    pub spike_share: f64,

    /// Growth that happened entirely within this leading fraction of the
    /// observation, followed by a flat series, is a warm-up (`plateau`).
    /// Default 0.25: a warm-up is the beginning of a run, not its middle.
    pub warmup_fraction: f64,

    /// Fewest jumps for `periodic`. Default 3: two intervals are needed to
    /// call them regular.
    pub min_periodic_jumps: usize,

    /// Jumps are at a regular interval when the coefficient of variation of
    /// the intervals between them is at most this (or the autocorrelation
    /// finds the same period). Default 0.25: scheduled jobs are regular to a
    /// few percent; sampling jitter of one sample on periods of ten or more
    /// samples stays well below 0.25.
    pub max_interval_cv: f64,

    /// Smallest autocorrelation of first differences that counts as a period.
    /// Default 0.3: clearly above the sampling noise of the estimate for the
    /// series lengths we see (its standard error is about 1/√n, 0.05 at 512
    /// points), while a regular sawtooth or job reaches 0.5 and more.
    pub min_autocorrelation: f64,

    /// A rise or fall counts as a swing (for `sawtooth`) only if it is at
    /// least this fraction of the level. Default 0.05: oscillation smaller
    /// than 5 % of the level is texture, not a shape worth naming.
    pub swing_fraction: f64,

    /// …and at least this multiple of the range that noise alone would
    /// span over the series, `2σ·√(2 ln n)` (σ: robust noise level, n:
    /// samples). Default 1.25: the range of n Gaussian values rarely exceeds
    /// its expected value by a quarter, so noise does not make swings, even
    /// over 100,000 samples (where the range is about 9.6 σ and a fixed
    /// multiple of σ would be crossed).
    pub swing_noise_factor: f64,

    /// Fewest falls for `sawtooth`. Default 2: one fall is a single release
    /// (or an outlier); rising and falling *back* repeatedly needs two.
    pub min_sawtooth_falls: usize,

    /// The falls must give back at least this fraction of the rises for
    /// `sawtooth`. Default 0.5: a series that keeps more than half of what
    /// it gains is growth with dips, not a sawtooth.
    pub sawtooth_giveback: f64,

    /// Lower-envelope window, in cycles of the sawtooth. Default 3: every
    /// window then holds at least two troughs, so one unusually high trough
    /// does not lift the envelope (the window is capped at half the
    /// observation).
    pub envelope_periods: f64,

    /// Trailing fraction of the observation examined to decide whether
    /// growth has levelled off. Default 1/3: long enough for a slope with a
    /// usable interval, short enough that a warm-up in the first half does
    /// not hide in it.
    pub tail_fraction: f64,

    /// Growth has levelled off when the upper bound of the tail's slope is at
    /// most this fraction of the overall growth rate (or, continued over the
    /// whole observation, would not be material). Default 0.25: the growth
    /// has slowed at least four-fold, with confidence.
    pub level_off_ratio: f64,

    /// Most change points reported (the largest, in time order). Default
    /// 32: enough for any step pattern; a long sawtooth has hundreds of
    /// drops that say nothing more.
    pub max_change_points: usize,

    /// Effective sample count at which the support half of the confidence
    /// reaches 63 % (1 − 1/e). Default 10.
    pub confidence_samples: f64,

    /// Observation time at which the time half of the confidence reaches
    /// 63 %. Default 60 s: a minute of watching makes a verdict about a
    /// server plausible, five minutes make it firm. `report` on short-lived
    /// programs may lower it to a fraction of the run time.
    pub confidence_time_s: f64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            subject: "memory".to_owned(),
            alpha: 0.05,
            min_samples: 4,
            max_points: 512,
            warmup_s: 0.0,
            min_growth_fraction: 0.01,
            min_growth_bytes: 4096.0,
            min_leak_rate_bytes_per_s: 10e6 / 3600.0,
            outlier_z: 5.0,
            max_outlier_run: 2,
            penalty_factor: 3.0,
            min_segment_len: 3,
            jump_z: 5.0,
            jump_share: 0.7,
            max_step_jumps: 10,
            spike_share: 0.8,
            warmup_fraction: 0.25,
            min_periodic_jumps: 3,
            max_interval_cv: 0.25,
            min_autocorrelation: 0.3,
            swing_fraction: 0.05,
            swing_noise_factor: 1.25,
            min_sawtooth_falls: 2,
            sawtooth_giveback: 0.5,
            envelope_periods: 3.0,
            tail_fraction: 1.0 / 3.0,
            level_off_ratio: 0.25,
            max_change_points: 32,
            confidence_samples: 10.0,
            confidence_time_s: 60.0,
        }
    }
}

impl Options {
    /// A copy with every out-of-range value replaced by its default.
    pub(crate) fn sanitized(&self) -> Options {
        let d = Options::default();
        let non_negative = |v: f64, default: f64| {
            if v.is_finite() && v >= 0.0 {
                v
            } else {
                default
            }
        };
        let positive = |v: f64, default: f64| {
            if v.is_finite() && v > 0.0 { v } else { default }
        };
        let fraction = |v: f64, default: f64| {
            if v.is_finite() && v > 0.0 && v <= 1.0 {
                v
            } else {
                default
            }
        };
        Options {
            subject: self.subject.clone(),
            alpha: if self.alpha > 0.0 && self.alpha < 0.5 {
                self.alpha
            } else {
                d.alpha
            },
            min_samples: self.min_samples.max(2),
            max_points: self.max_points.clamp(16, 1 << 14),
            warmup_s: non_negative(self.warmup_s, d.warmup_s),
            min_growth_fraction: non_negative(self.min_growth_fraction, d.min_growth_fraction),
            min_growth_bytes: non_negative(self.min_growth_bytes, d.min_growth_bytes),
            min_leak_rate_bytes_per_s: non_negative(
                self.min_leak_rate_bytes_per_s,
                d.min_leak_rate_bytes_per_s,
            ),
            outlier_z: positive(self.outlier_z, d.outlier_z),
            max_outlier_run: self.max_outlier_run.min(16),
            penalty_factor: positive(self.penalty_factor, d.penalty_factor),
            min_segment_len: self.min_segment_len.clamp(2, 64),
            jump_z: non_negative(self.jump_z, d.jump_z),
            jump_share: fraction(self.jump_share, d.jump_share),
            max_step_jumps: self.max_step_jumps.max(2),
            spike_share: fraction(self.spike_share, d.spike_share),
            warmup_fraction: non_negative(self.warmup_fraction, d.warmup_fraction).min(1.0),
            min_periodic_jumps: self.min_periodic_jumps.max(3),
            max_interval_cv: non_negative(self.max_interval_cv, d.max_interval_cv),
            min_autocorrelation: fraction(self.min_autocorrelation, d.min_autocorrelation),
            swing_fraction: non_negative(self.swing_fraction, d.swing_fraction),
            swing_noise_factor: non_negative(self.swing_noise_factor, d.swing_noise_factor),
            min_sawtooth_falls: self.min_sawtooth_falls.max(1),
            sawtooth_giveback: fraction(self.sawtooth_giveback, d.sawtooth_giveback),
            envelope_periods: positive(self.envelope_periods, d.envelope_periods),
            tail_fraction: fraction(self.tail_fraction, d.tail_fraction),
            level_off_ratio: non_negative(self.level_off_ratio, d.level_off_ratio),
            max_change_points: self.max_change_points,
            confidence_samples: positive(self.confidence_samples, d.confidence_samples),
            confidence_time_s: positive(self.confidence_time_s, d.confidence_time_s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizing_defaults_changes_nothing() {
        assert_eq!(Options::default().sanitized(), Options::default());
    }

    #[test]
    fn nonsense_becomes_default() {
        let bad = Options {
            alpha: f64::NAN,
            max_points: 0,
            min_growth_bytes: -1.0,
            jump_share: 7.0,
            confidence_time_s: f64::INFINITY,
            ..Options::default()
        };
        let fixed = bad.sanitized();
        assert_eq!(fixed.alpha, 0.05);
        assert_eq!(fixed.max_points, 16);
        assert_eq!(fixed.min_growth_bytes, 4096.0);
        assert_eq!(fixed.jump_share, 0.7);
        assert_eq!(fixed.confidence_time_s, 60.0);
    }
}

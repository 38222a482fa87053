//! The result of [`crate::analyze`]: plain, serialisable data.

use serde::{Deserialize, Serialize};

use crate::forecast::time_to_limit;
use crate::trend::MannKendall;

/// The shape of a memory series. One vocabulary for `report`, `watch` and
/// `gc`; serialised in lowercase (`"stable"`, `"plateau"`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pattern {
    /// Flat: no growth that is both significant and material (also used for
    /// series that fall, and when there is not enough data to judge).
    Stable,
    /// Grew during a warm-up, then levelled off.
    Plateau,
    /// Rises and falls back (GC cycles, buffers that are freed) around a
    /// floor that does not keep rising.
    Sawtooth,
    /// Steady growth that does not level off. Also a sawtooth whose lower
    /// envelope keeps rising ([`TrendBasis::LowerEnvelope`]).
    Linear,
    /// Growth in a few jumps at irregular times, flat between.
    Step,
    /// Jumps at a regular interval without falling back (a periodic job that
    /// leaks on every run).
    Periodic,
    /// One sudden large jump that stays.
    Spike,
}

impl Pattern {
    /// The serialised name (`"stable"`, `"plateau"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Pattern::Stable => "stable",
            Pattern::Plateau => "plateau",
            Pattern::Sawtooth => "sawtooth",
            Pattern::Linear => "linear",
            Pattern::Step => "step",
            Pattern::Periodic => "periodic",
            Pattern::Spike => "spike",
        }
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which series the slope and the Mann–Kendall test describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrendBasis {
    /// The series itself.
    Series,
    /// The lower envelope (rolling minimum over several cycles) of a series
    /// that rises and falls back: the floor the series returns to.
    LowerEnvelope,
}

/// A level shift found by the change-point analysis.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChangePoint {
    /// Time of the first sample at the new level, seconds (input clock).
    pub t_s: f64,
    /// Size of the shift, bytes: positive for a jump up, negative for a drop.
    pub size_bytes: f64,
}

/// The judgement of one memory series. See `docs/statistics.md` for how
/// every field is computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The shape of the series.
    pub pattern: Pattern,
    /// True only for growth that is material, statistically significant and
    /// has not levelled off. Never true for `stable`, `plateau`, `sawtooth`
    /// or `spike`.
    pub leak: bool,
    /// False when there were too few samples (or no time span) to judge; the
    /// verdict is then `stable`, not a leak, with confidence 0.
    pub enough_data: bool,
    /// Theil–Sen slope, bytes per second (of the lower envelope when
    /// `trend_basis` says so). `None` when it could not be estimated.
    pub slope_bytes_per_s: Option<f64>,
    /// Lower bound of the slope's confidence interval (level `1 − alpha`).
    pub slope_lower_bytes_per_s: Option<f64>,
    /// Upper bound of the slope's confidence interval (level `1 − alpha`).
    pub slope_upper_bytes_per_s: Option<f64>,
    /// Which series the slope and Mann–Kendall test describe.
    pub trend_basis: TrendBasis,
    /// The Mann–Kendall test (Hamed–Rao corrected) behind the verdict.
    pub mann_kendall: Option<MannKendall>,
    /// How sure the verdict is, 0 to 1: how decisive the evidence is for
    /// this pattern, times a support factor that grows with the number of
    /// effectively independent samples and with observation time.
    pub confidence: f64,
    /// Level shifts (significant jumps and drops), in time order.
    pub change_points: Vec<ChangePoint>,
    /// Period, seconds, for `periodic` and for a regular `sawtooth`.
    pub period_s: Option<f64>,
    /// Number of samples analysed (after the warm-up window, if any).
    pub samples: usize,
    /// Samples discarded as unusable (non-finite, or same time as another).
    pub dropped_samples: usize,
    /// Samples treated as transient outliers and interpolated over.
    pub transient_samples: usize,
    /// Time spanned by the analysed samples, seconds.
    pub duration_s: f64,
    /// Typical level (median of the values), bytes.
    pub level_bytes: Option<f64>,
    /// Last analysed value, bytes.
    pub last_bytes: Option<f64>,
    /// Net change of the piecewise-linear fit from the first to the last
    /// sample, bytes.
    pub growth_bytes: Option<f64>,
    /// One sentence for people, e.g. "live bytes rose 1.2 MiB/s for 40 s
    /// with no plateau (Mann–Kendall p < 0.001)".
    pub reason: String,
}

impl Verdict {
    /// Seconds until `current_bytes` reaches `limit_bytes` at the slope's
    /// upper bound (the pessimistic rate), or `None` unless this verdict is a
    /// leak. For a sawtooth-shaped series pass the recent peak as
    /// `current_bytes`: the peaks hit the limit first.
    pub fn time_to_limit(&self, current_bytes: f64, limit_bytes: f64) -> Option<f64> {
        if !self.leak {
            return None;
        }
        let rate = self.slope_upper_bytes_per_s.or(self.slope_bytes_per_s)?;
        time_to_limit(current_bytes, rate, limit_bytes)
    }

    /// The growth a `linear` verdict vouches for: the lower bound of the
    /// slope's confidence interval (the slope without one) times the time
    /// judged, so that neither a warm-up before the trend (a cache filled
    /// in the first samples) nor a slope the luck of a few samples made
    /// steeper counts. `None` for the other patterns, whose growth is their
    /// net change. What a sampled series' growth is weighed by against its
    /// sampling error (docs/statistics.md, docs/profiles.md).
    pub fn linear_growth_bytes(&self) -> Option<f64> {
        if self.pattern != Pattern::Linear {
            return None;
        }
        let slope = self.slope_lower_bytes_per_s.or(self.slope_bytes_per_s)?;
        Some(slope * self.duration_s)
    }
}

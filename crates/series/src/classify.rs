//! The decision procedure: from [`Features`] to a [`Verdict`].
//!
//! In order, the first rule that applies wins (docs/statistics.md has the
//! full table):
//!
//! 1. too few samples or no time span → `stable`, not enough data;
//! 2. repeated material falls that give back most of the rises → judge the
//!    lower envelope: rising significantly, materially and not levelling off →
//!    `linear` leak on the envelope, otherwise `sawtooth`;
//! 3. material growth carried mostly by significant upward jumps → all in
//!    the warm-up window: `plateau`; one dominant jump: `spike`; several:
//!    `periodic` if regular, else `step`, a leak unless it has since stayed
//!    flat for long;
//! 4. material growth that levelled off → `plateau`; material, significant
//!    growth that did not → `linear` leak;
//! 5. anything else → `stable`.

use crate::features::{Features, Jump};

use crate::options::Options;
use crate::series::Series;
use crate::stats::{coefficient_of_variation, median};
use crate::trend::Trend;
use crate::verdict::{ChangePoint, Pattern, TrendBasis, Verdict};

/// Judges `series`: its pattern, whether it is a leak, its slope, and why.
///
/// Never panics. Cost is O(n) in the number of samples plus
/// O(`max_points`²) — a few milliseconds with the defaults, whatever the
/// length of the series.
pub fn analyze(series: &Series, options: &Options) -> Verdict {
    let opts = options.sanitized();
    let start = series.times().first().map_or(0.0, |t| t + opts.warmup_s);
    let (times, values) = series.since(start);
    let duration = match (times.first(), times.last()) {
        (Some(a), Some(b)) => b - a,
        _ => 0.0,
    };
    if times.len() < opts.min_samples {
        let reason = if times.is_empty() && !series.is_empty() {
            format!(
                "all {} samples fall in the {} warm-up window: nothing left to judge",
                series.len(),
                heapwise_words::duration(opts.warmup_s)
            )
        } else {
            format!(
                "only {} sample{} over {}: not enough data to judge (at least {} needed)",
                times.len(),
                if times.len() == 1 { "" } else { "s" },
                heapwise_words::duration(duration),
                opts.min_samples
            )
        };
        return insufficient(series, times, values, reason);
    }
    if !(duration.is_finite() && duration > 0.0) {
        let reason = if duration.is_finite() {
            "all samples were taken at the same instant: no time span to judge".to_owned()
        } else {
            "the sample times span more than can be represented".to_owned()
        };
        return insufficient(series, times, values, reason);
    }
    let features = Features::new(times, values, &opts);
    let finding = decide(&features);
    build(&features, finding, series, values)
}

/// What the decision found, in normalised units.
struct Finding {
    pattern: Pattern,
    leak: bool,
    basis: TrendBasis,
    trend: Option<Trend>,
    /// How decisive the evidence is for this pattern, 0..1.
    evidence: f64,
    period_s: Option<f64>,
    reason: String,
}

fn decide(f: &Features) -> Finding {
    sawtooth(f)
        .or_else(|| in_jumps(f))
        .unwrap_or_else(|| gradual(f))
}

/// Rule 2: rises and falls back.
fn sawtooth(f: &Features) -> Option<Finding> {
    let opts = f.opts;
    let sw = &f.swings;
    if sw.falls < opts.min_sawtooth_falls || sw.fall_total < opts.sawtooth_giveback * sw.rise_total
    {
        return None;
    }
    let subject = &opts.subject;
    let period_s = f.sawtooth_period();
    let every = period_s
        .map(|p| format!(" (every ~{})", heapwise_words::duration(p)))
        .unwrap_or_default();
    let cycles = 1.0 - (-(sw.falls as f64) / 3.0).exp();
    let env = f.envelope();
    let Some(trend) = env.trend else {
        return Some(Finding {
            pattern: Pattern::Sawtooth,
            leak: false,
            basis: TrendBasis::Series,
            trend: f.trend,
            evidence: 0.5 * cycles,
            period_s,
            reason: format!(
                "{subject} rose and fell back {} times{every}, too few cycles to judge whether its floor rises",
                sw.falls
            ),
        });
    };
    let slope = trend.theil_sen.slope;
    let p = trend.mann_kendall.p_value;
    let lower = trend.theil_sen.lower.unwrap_or(slope);
    let rising = f.significant_rise(Some(&trend))
        && f.is_material(slope * env.duration, lower)
        && env.levelled_off != Some(true);
    if rising {
        return Some(Finding {
            pattern: Pattern::Linear,
            leak: true,
            basis: TrendBasis::LowerEnvelope,
            trend: Some(trend),
            evidence: (1.0 - p) * cycles,
            period_s,
            reason: format!(
                "the floor of {subject} (its lower envelope over {}) rose {} for {} through a sawtooth of {} cycles{every} (Mann–Kendall {})",
                heapwise_words::duration(env.window),
                heapwise_words::rate(slope * f.scale),
                heapwise_words::duration(env.duration),
                sw.falls,
                heapwise_words::p_value(p)
            ),
        });
    }
    let upper_growth = trend.theil_sen.upper.unwrap_or(slope).max(0.0) * env.duration;
    let m = f.materiality();
    let floor_rose = f.significant_rise(Some(&trend)) && f.is_material(slope * env.duration, lower);
    let floor_note = if floor_rose {
        "; its floor rose, then levelled off".to_owned()
    } else {
        format!(
            " to a floor that did not keep rising ({}, Mann–Kendall {})",
            heapwise_words::rate(slope * f.scale),
            heapwise_words::p_value(p)
        )
    };
    Some(Finding {
        pattern: Pattern::Sawtooth,
        leak: false,
        basis: TrendBasis::LowerEnvelope,
        trend: Some(trend),
        evidence: cycles * m / (m + upper_growth),
        period_s,
        reason: format!(
            "{subject} rose and fell back {} times{every}{floor_note}",
            sw.falls
        ),
    })
}

/// Rule 3: growth carried by jumps.
fn in_jumps(f: &Features) -> Option<Finding> {
    let opts = f.opts;
    let growth = f.fit_growth;
    if !f.is_material(growth, growth / f.duration) {
        return None;
    }
    let up: Vec<&Jump> = f
        .jumps
        .iter()
        .filter(|j| j.significant && j.size > 0.0)
        .collect();
    let largest = up
        .iter()
        .copied()
        .max_by(|a, b| a.size.total_cmp(&b.size))?;
    let share = up.iter().map(|j| j.size).sum::<f64>() / growth;
    if share < opts.jump_share {
        return None;
    }
    let subject = &opts.subject;
    let warm_end = opts.warmup_fraction * f.duration;
    let last_jump = up.iter().map(|j| j.t).fold(0.0, f64::max);
    if up.iter().all(|j| j.t <= warm_end) {
        // Growth in the warm-up window; a plateau only if the rest is flat.
        if f.levelled_off(&f.rt, &f.rx, growth / f.duration) == Some(false) {
            return None;
        }
        return Some(plateau(f, last_jump));
    }
    let evidence = share.min(1.0);
    if up.len() == 1 || largest.size >= opts.spike_share * growth {
        return Some(Finding {
            pattern: Pattern::Spike,
            leak: false,
            basis: TrendBasis::Series,
            trend: f.trend,
            evidence,
            period_s: None,
            reason: format!(
                "{subject} jumped {} at {} in and stayed there: a one-off growth, not (yet) a trend",
                heapwise_words::bytes_f64(largest.size * f.scale),
                heapwise_words::duration(largest.t)
            ),
        });
    }
    let times: Vec<f64> = up.iter().map(|j| j.t).collect();
    let intervals: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let median_interval = median(&intervals).unwrap_or(f.duration);
    let cv = coefficient_of_variation(&intervals).unwrap_or(f64::INFINITY);
    let acf_period = f
        .period
        .map(|p| p.period_s)
        .filter(|p| (p - median_interval).abs() <= 0.25 * median_interval);
    let regular =
        up.len() >= opts.min_periodic_jumps && (cv <= opts.max_interval_cv || acf_period.is_some());
    if !regular && up.len() > opts.max_step_jumps {
        // Many irregular jumps: steady growth in coarse increments.
        return None;
    }
    let max_interval = intervals.iter().copied().fold(0.0, f64::max);
    let flat_since = f.duration - last_jump;
    let levelled = flat_since > (opts.tail_fraction * f.duration).max(2.0 * max_interval);
    let rising = f.trend.is_some_and(|t| t.mann_kendall.s > 0.0);
    let leak = !levelled && rising;
    let total = heapwise_words::bytes_f64(growth * f.scale);
    let tail = if levelled {
        format!(
            ", then stayed flat for the last {}",
            heapwise_words::duration(flat_since)
        )
    } else {
        String::new()
    };
    if regular {
        let period = acf_period.unwrap_or(median_interval);
        let mut sizes: Vec<f64> = up.iter().map(|j| j.size).collect();
        let typical = crate::stats::median_in_place(&mut sizes).unwrap_or(0.0);
        return Some(Finding {
            pattern: Pattern::Periodic,
            leak,
            basis: TrendBasis::Series,
            trend: f.trend,
            evidence: evidence * (1.0 - cv.min(1.0) / 2.0),
            period_s: Some(period),
            reason: format!(
                "{subject} jumped {} times, every ~{}, by ~{} each without falling back ({total} in all){tail}",
                up.len(),
                heapwise_words::duration(period),
                heapwise_words::bytes_f64(typical * f.scale)
            ),
        });
    }
    Some(Finding {
        pattern: Pattern::Step,
        leak,
        basis: TrendBasis::Series,
        trend: f.trend,
        evidence,
        period_s: None,
        reason: format!(
            "{subject} grew {total} in {} jumps at irregular times (largest {} at {} in), flat between{tail}",
            up.len(),
            heapwise_words::bytes_f64(largest.size * f.scale),
            heapwise_words::duration(largest.t)
        ),
    })
}

/// Rules 4 and 5: gradual growth, or none.
fn gradual(f: &Features) -> Finding {
    let opts = f.opts;
    let growth = f.fit_growth;
    let slope = f.trend.map_or(0.0, |t| t.theil_sen.slope);
    let rising = f.significant_rise(f.trend.as_ref());
    let lower = f.trend.and_then(|t| t.theil_sen.lower).unwrap_or(slope);
    let linear_material = f.is_material(slope * f.duration, lower);
    if f.is_material(growth, growth / f.duration) {
        let rate = slope.max(growth / f.duration);
        let levelled = f.levelled_off(&f.rt, &f.rx, rate);
        if levelled == Some(true) && f.rise_z() >= opts.jump_z {
            return plateau(f, f.settle_time());
        }
    }
    if rising && linear_material {
        let p = f.trend.map_or(1.0, |t| t.mann_kendall.p_value);
        return Finding {
            pattern: Pattern::Linear,
            leak: true,
            basis: TrendBasis::Series,
            trend: f.trend,
            evidence: 1.0 - p,
            period_s: None,
            reason: format!(
                "{} rose {} for {} with no plateau (Mann–Kendall {})",
                opts.subject,
                heapwise_words::rate(slope * f.scale),
                heapwise_words::duration(f.duration),
                heapwise_words::p_value(p)
            ),
        };
    }
    stable(f)
}

fn plateau(f: &Features, settle: f64) -> Finding {
    let flat_for = (f.duration - settle).max(0.0);
    let final_level = f.segments.last().map_or(0.0, |s| s.last_fit);
    Finding {
        pattern: Pattern::Plateau,
        leak: false,
        basis: TrendBasis::Series,
        trend: f.trend,
        evidence: (flat_for / (2.0 * f.opts.tail_fraction * f.duration)).min(1.0),
        period_s: None,
        reason: format!(
            "{} grew {} during the first {}, then levelled off around {} for the last {}",
            f.opts.subject,
            heapwise_words::bytes_f64(f.fit_growth * f.scale),
            heapwise_words::duration(settle),
            heapwise_words::bytes_f64(final_level * f.scale),
            heapwise_words::duration(flat_for)
        ),
    }
}

fn stable(f: &Features) -> Finding {
    let opts = f.opts;
    let subject = &opts.subject;
    let m = f.materiality();
    let growth = f.fit_growth;
    let (p, upper) = f.trend.map_or((1.0, 0.0), |t| {
        (
            t.mann_kendall.p_value,
            t.theil_sen.upper.unwrap_or(t.theil_sen.slope),
        )
    });
    let upper_growth = upper.max(0.0) * f.duration;
    let span = heapwise_words::duration(f.duration);
    let reason = if growth < 0.0 && -growth >= m {
        format!(
            "{subject} fell {} over {span}; shrinking memory is not a leak",
            heapwise_words::bytes_f64(-growth * f.scale)
        )
    } else if f.is_material(growth, growth / f.duration) {
        format!(
            "{subject} rose {} over {span}, but not significantly (Mann–Kendall {})",
            heapwise_words::bytes_f64(growth * f.scale),
            heapwise_words::p_value(p)
        )
    } else if growth > 0.0 && f.significant_rise(f.trend.as_ref()) {
        format!(
            "{subject} rose only {} over {span} ({} of its level), too little to count as growth",
            heapwise_words::bytes_f64(growth * f.scale),
            heapwise_words::percent(if f.level > 0.0 { growth / f.level } else { 0.0 })
        )
    } else {
        format!(
            "{subject} stayed flat around {} for {span} (no significant trend, Mann–Kendall {})",
            heapwise_words::bytes_f64(f.level * f.scale),
            heapwise_words::p_value(p)
        )
    };
    Finding {
        pattern: Pattern::Stable,
        leak: false,
        basis: TrendBasis::Series,
        trend: f.trend,
        evidence: m / (m + upper_growth),
        period_s: None,
        reason,
    }
}

/// Turns a finding (normalised units) into the public verdict (bytes).
fn build(f: &Features, finding: Finding, series: &Series, values: &[f64]) -> Verdict {
    let opts: &Options = f.opts;
    let scale = f.scale;
    let bytes = |v: f64| Some(v * scale).filter(|b| b.is_finite());
    let ts = finding.trend.map(|t| t.theil_sen);
    let mk = finding.trend.map(|t| t.mann_kendall);
    let n_eff = mk.map_or(f.x.len() as f64, |m| m.effective_samples);
    let support = (1.0 - (-n_eff / opts.confidence_samples).exp())
        * (1.0 - (-f.duration / opts.confidence_time_s).exp());
    let confidence = (finding.evidence.clamp(0.0, 1.0) * support).clamp(0.0, 1.0);

    let mut shifts: Vec<&Jump> = f.jumps.iter().filter(|j| j.significant).collect();
    shifts.sort_by(|a, b| b.size.abs().total_cmp(&a.size.abs()));
    shifts.truncate(opts.max_change_points);
    shifts.sort_by(|a, b| a.t.total_cmp(&b.t));
    let change_points = shifts
        .into_iter()
        .map(|j| ChangePoint {
            t_s: f.t0 + j.t,
            size_bytes: j.size * scale,
        })
        .collect();

    Verdict {
        pattern: finding.pattern,
        leak: finding.leak,
        enough_data: true,
        slope_bytes_per_s: ts.and_then(|t| bytes(t.slope)),
        slope_lower_bytes_per_s: ts.and_then(|t| t.lower).and_then(bytes),
        slope_upper_bytes_per_s: ts.and_then(|t| t.upper).and_then(bytes),
        trend_basis: finding.basis,
        mann_kendall: mk,
        confidence: if confidence.is_finite() {
            confidence
        } else {
            0.0
        },
        change_points,
        period_s: finding.period_s.filter(|p| p.is_finite()),
        samples: values.len(),
        dropped_samples: series.dropped(),
        transient_samples: f.transient_samples,
        duration_s: f.duration,
        level_bytes: median(values),
        last_bytes: values.last().copied(),
        growth_bytes: bytes(f.fit_growth),
        reason: finding.reason,
    }
}

fn insufficient(series: &Series, times: &[f64], values: &[f64], reason: String) -> Verdict {
    let duration = match (times.first(), times.last()) {
        (Some(a), Some(b)) if (b - a).is_finite() => b - a,
        _ => 0.0,
    };
    Verdict {
        pattern: Pattern::Stable,
        leak: false,
        enough_data: false,
        slope_bytes_per_s: None,
        slope_lower_bytes_per_s: None,
        slope_upper_bytes_per_s: None,
        trend_basis: TrendBasis::Series,
        mann_kendall: None,
        confidence: 0.0,
        change_points: Vec::new(),
        period_s: None,
        samples: values.len(),
        dropped_samples: series.dropped(),
        transient_samples: 0,
        duration_s: duration,
        level_bytes: median(values),
        last_bytes: values.last().copied(),
        growth_bytes: None,
        reason,
    }
}

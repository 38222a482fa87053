//! The samples seen so far and the verdict on them.
//!
//! The verdict judges **anonymous memory** (`RssAnon`, summed over the tree
//! with `--children`): heap, stacks and anonymous mappings — what a leak
//! grows. Total RSS also counts file pages the kernel may drop at any time,
//! so page cache would make a quiet process look like it grows.
//!
//! Statistics are all `heapwise-series` ([`heapwise_series::analyze`]); this
//! module only chooses what to feed it: the whole watch, and, once the
//! watch is longer than [`JudgeOptions::window_s`], the last window too —
//! a process that fell and then started leaking, or a warm-up longer than
//! the window, is judged on what it does now.

use heapwise_series::{Options, Pattern, Series, TrendBasis, Verdict, analyze};
use serde::{Deserialize, Serialize};

use crate::sample::Sample;

/// How samples are judged.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgeOptions {
    /// Thresholds of the series analysis. `subject` names the series in the
    /// reason sentence (default `"anonymous memory"`).
    pub series: Options,
    /// Length of the sliding window judged besides the whole watch, seconds.
    /// Default 3600 (the last hour, as `predict_linear(x[1h], ...)` alerts
    /// do).
    pub window_s: f64,
}

impl Default for JudgeOptions {
    fn default() -> Self {
        JudgeOptions {
            series: Options {
                subject: "anonymous memory".into(),
                ..Options::default()
            },
            window_s: 3600.0,
        }
    }
}

/// Which samples the headline verdict is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    /// Every sample of the watch.
    WholeWatch,
    /// The last [`JudgeOptions::window_s`] seconds: it shows a leak the
    /// whole watch does not (yet).
    LastWindow,
}

/// How much to trust the verdict, in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfidenceLevel {
    /// Below 0.3: too little time or too few independent samples.
    Low,
    /// 0.3 to 0.7.
    Moderate,
    /// 0.7 and above.
    High,
}

impl ConfidenceLevel {
    /// The level of a 0..1 confidence.
    pub fn of(confidence: f64) -> Self {
        if confidence >= 0.7 {
            ConfidenceLevel::High
        } else if confidence >= 0.3 {
            ConfidenceLevel::Moderate
        } else {
            ConfidenceLevel::Low
        }
    }

    /// `"low"`, `"moderate"`, `"high"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConfidenceLevel::Low => "low",
            ConfidenceLevel::Moderate => "moderate",
            ConfidenceLevel::High => "high",
        }
    }
}

/// Which limit the forecast counts down to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LimitSource {
    /// The lowest memory limit of the process's cgroup and its ancestors;
    /// usage is the cgroup's `memory.current`.
    Cgroup,
    /// The machine's `MemTotal`; usage is the process's RSS plus swap.
    MemTotal,
}

/// The verdict on a watch: the contract fields (`leak`, `pattern`,
/// `slope_bytes_per_s`, `limit_bytes`, `time_to_limit_s`) and what backs
/// them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchVerdict {
    /// Growth that is material, significant and has not levelled off.
    pub leak: bool,
    /// The shape of anonymous memory over time.
    pub pattern: Pattern,
    /// Theil–Sen slope of anonymous memory, bytes per second (of its floor
    /// when `trend_basis` is `lower-envelope`). `null` when not estimable.
    pub slope_bytes_per_s: Option<f64>,
    /// Lower bound of the slope's 95 % interval.
    pub slope_lower_bytes_per_s: Option<f64>,
    /// Upper bound of the slope's 95 % interval (the forecast's rate).
    pub slope_upper_bytes_per_s: Option<f64>,
    /// What the slope describes.
    pub trend_basis: TrendBasis,
    /// The memory limit the forecast counts down to, bytes.
    pub limit_bytes: Option<u64>,
    /// Where `limit_bytes` comes from.
    pub limit_source: Option<LimitSource>,
    /// Seconds until the limit at the slope's upper bound; `null` unless a
    /// leak. `0` when already there.
    pub time_to_limit_s: Option<f64>,
    /// How sure the verdict is, 0 to 1 (see `docs/statistics.md` §5). It
    /// grows with observation time and effectively independent samples.
    pub confidence: f64,
    /// `confidence` in words.
    pub confidence_level: ConfidenceLevel,
    /// One sentence on the confidence, for people.
    pub confidence_note: String,
    /// Which samples the verdict is about.
    pub basis: Basis,
    /// The sliding window's length, seconds.
    pub window_s: f64,
    /// One sentence on the pattern, from the series analysis.
    pub reason: String,
    /// The full analysis of the whole watch.
    pub whole_watch: Verdict,
    /// The full analysis of the last window, once the watch is longer.
    pub last_window: Option<Verdict>,
}

/// Peaks over the watch (of the summed figures with `--children`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peak {
    /// Highest RSS sampled.
    pub rss_bytes: u64,
    /// Highest anonymous memory sampled.
    pub anon_bytes: u64,
    /// Highest PSS sampled.
    pub pss_bytes: Option<u64>,
    /// Highest swap sampled.
    pub swap_bytes: Option<u64>,
    /// The kernel's peak RSS of the main process (`VmHWM`), including
    /// before the watch began.
    pub hwm_bytes: Option<u64>,
}

/// OOM events counted by the cgroup during the watch (the cgroup's
/// counters at the last sample minus those at the first).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OomSeen {
    /// Times the cgroup ran out of memory (`memory.events` `oom`).
    pub oom: Option<u64>,
    /// Processes the OOM killer killed in the cgroup (`oom_kill`).
    pub oom_kill: Option<u64>,
}

/// Every sample of a watch, and the anonymous-memory series built from them.
#[derive(Debug, Clone, Default)]
pub struct History {
    samples: Vec<Sample>,
    anon: Series,
    peak: Peak,
}

fn max_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

impl History {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a sample (in time order).
    pub fn push(&mut self, sample: Sample) {
        self.anon.push(sample.t_s, sample.anon_bytes as f64);
        let peak = &mut self.peak;
        peak.rss_bytes = peak.rss_bytes.max(sample.rss_bytes);
        peak.anon_bytes = peak.anon_bytes.max(sample.anon_bytes);
        peak.pss_bytes = max_opt(peak.pss_bytes, sample.pss_bytes);
        peak.swap_bytes = max_opt(peak.swap_bytes, sample.swap_bytes);
        peak.hwm_bytes = max_opt(peak.hwm_bytes, sample.hwm_bytes);
        self.samples.push(sample);
    }

    /// Every sample so far.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// The latest sample.
    pub fn latest(&self) -> Option<&Sample> {
        self.samples.last()
    }

    /// Peaks so far.
    pub fn peak(&self) -> &Peak {
        &self.peak
    }

    /// Time from the first to the last sample, seconds.
    pub fn duration_s(&self) -> f64 {
        match (self.samples.first(), self.samples.last()) {
            (Some(first), Some(last)) => (last.t_s - first.t_s).max(0.0),
            _ => 0.0,
        }
    }

    /// The anonymous-memory series the verdict judges.
    pub fn anon(&self) -> &Series {
        &self.anon
    }

    /// OOM events the cgroup counted during the watch.
    pub fn oom_seen(&self) -> OomSeen {
        let counters = |s: &Sample| s.cgroup.as_ref().map(|c| (c.oom, c.oom_kill));
        let first = self.samples.iter().find_map(counters);
        let last = self.samples.iter().rev().find_map(counters);
        match (first, last) {
            (Some((oom0, kill0)), Some((oom1, kill1))) => OomSeen {
                oom: oom0.zip(oom1).map(|(a, b)| b.saturating_sub(a)),
                oom_kill: kill0.zip(kill1).map(|(a, b)| b.saturating_sub(a)),
            },
            _ => OomSeen::default(),
        }
    }

    /// Judges the samples: whole watch and last window, the forecast to the
    /// cgroup limit (or `mem_total_bytes` when there is none).
    pub fn judge(&self, options: &JudgeOptions, mem_total_bytes: Option<u64>) -> WatchVerdict {
        let whole = analyze(&self.anon, &options.series);
        let window_s = if options.window_s.is_finite() && options.window_s > 0.0 {
            options.window_s
        } else {
            JudgeOptions::default().window_s
        };
        let last_window = (self.duration_s() > window_s).then(|| {
            let end = self.samples.last().map_or(0.0, |s| s.t_s);
            let from = self.anon.times().partition_point(|&t| t < end - window_s);
            let recent =
                Series::from_columns(&self.anon.times()[from..], &self.anon.values()[from..])
                    .unwrap_or_default();
            analyze(&recent, &options.series)
        });
        let (basis, headline) = match &last_window {
            Some(recent) if recent.leak && !whole.leak => (Basis::LastWindow, recent),
            _ => (Basis::WholeWatch, &whole),
        };
        let (limit_bytes, limit_source, time_to_limit_s) =
            self.forecast(headline, window_s, mem_total_bytes);
        let level = ConfidenceLevel::of(headline.confidence);
        let confidence_note = confidence_note(headline, level, basis, window_s);
        WatchVerdict {
            leak: headline.leak,
            pattern: headline.pattern,
            slope_bytes_per_s: headline.slope_bytes_per_s,
            slope_lower_bytes_per_s: headline.slope_lower_bytes_per_s,
            slope_upper_bytes_per_s: headline.slope_upper_bytes_per_s,
            trend_basis: headline.trend_basis,
            limit_bytes,
            limit_source,
            time_to_limit_s,
            confidence: headline.confidence,
            confidence_level: level,
            confidence_note,
            basis,
            window_s,
            reason: headline.reason.clone(),
            whole_watch: whole.clone(),
            last_window: last_window.clone(),
        }
    }

    /// The limit and the time to reach it at the pessimistic rate.
    fn forecast(
        &self,
        verdict: &Verdict,
        window_s: f64,
        mem_total_bytes: Option<u64>,
    ) -> (Option<u64>, Option<LimitSource>, Option<f64>) {
        let Some(latest) = self.samples.last() else {
            return (None, None, None);
        };
        let cgroup = latest
            .cgroup
            .as_ref()
            .and_then(|c| Some((c.limit_bytes?, c.current_bytes?)));
        let (limit, source, usage) = match (cgroup, mem_total_bytes) {
            (Some((limit, current)), _) => (limit, LimitSource::Cgroup, current),
            (None, Some(total)) => (
                total,
                LimitSource::MemTotal,
                latest.rss_bytes + latest.swap_bytes.unwrap_or(0),
            ),
            (None, None) => return (None, None, None),
        };
        // A series that rises and falls back reaches the limit at its peaks
        // first: count from the recent peak, not from wherever it is now.
        let mut usage = usage as f64;
        if verdict.trend_basis == TrendBasis::LowerEnvelope {
            let recent = window_s.min(self.duration_s() / 3.0);
            let peak = self
                .samples
                .iter()
                .rev()
                .take_while(|s| s.t_s >= latest.t_s - recent)
                .map(|s| s.anon_bytes)
                .max()
                .unwrap_or(latest.anon_bytes);
            usage += peak.saturating_sub(latest.anon_bytes) as f64;
        }
        let eta = verdict.time_to_limit(usage, limit as f64);
        (Some(limit), Some(source), eta)
    }
}

fn confidence_note(
    verdict: &Verdict,
    level: ConfidenceLevel,
    basis: Basis,
    window_s: f64,
) -> String {
    if !verdict.enough_data {
        return format!(
            "no confidence yet: {} samples are too few to judge",
            verdict.samples
        );
    }
    let span = match basis {
        Basis::WholeWatch => format!(
            "{} of watching",
            heapwise_words::duration(verdict.duration_s)
        ),
        Basis::LastWindow => format!(
            "the last {} (the whole watch says otherwise)",
            heapwise_words::duration(window_s)
        ),
    };
    let advice = match level {
        ConfidenceLevel::Low => {
            "; slow shapes (a long warm-up, long GC cycles) look like this in a short watch, so keep watching"
        }
        ConfidenceLevel::Moderate => "; it firms up with a few more minutes",
        ConfidenceLevel::High => "",
    };
    format!(
        "{} confidence ({:.2}) from {span} and {} samples{advice}",
        level.as_str(),
        verdict.confidence,
        verdict.samples
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::CgroupSample;

    fn sample(t_s: f64, anon: u64) -> Sample {
        Sample {
            t_s,
            rss_bytes: anon + (8 << 20),
            anon_bytes: anon,
            file_bytes: Some(8 << 20),
            shmem_bytes: Some(0),
            pss_bytes: None,
            swap_bytes: Some(0),
            vm_bytes: None,
            hwm_bytes: None,
            processes: 1,
            cgroup: None,
        }
    }

    const MIB: u64 = 1 << 20;

    #[test]
    fn steady_growth_is_a_leak_with_a_forecast_to_mem_total() {
        let mut history = History::new();
        for i in 0..120u64 {
            history.push(sample(i as f64, 100 * MIB + i * MIB));
        }
        let verdict = history.judge(&JudgeOptions::default(), Some(4096 * MIB));
        assert!(verdict.leak);
        assert_eq!(verdict.pattern, Pattern::Linear);
        let slope = verdict.slope_bytes_per_s.unwrap();
        assert!((slope - MIB as f64).abs() < 1.0, "{slope}");
        assert_eq!(verdict.limit_source, Some(LimitSource::MemTotal));
        assert_eq!(verdict.limit_bytes, Some(4096 * MIB));
        // RSS at the end is 100 + 119 + 8 MiB; 4096 MiB is reached at ~1 MiB/s.
        let eta = verdict.time_to_limit_s.unwrap();
        let expected = (4096 - 227) as f64;
        assert!((eta - expected).abs() < 2.0, "{eta}");
        assert_eq!(verdict.basis, Basis::WholeWatch);
        assert!(verdict.reason.starts_with("anonymous memory rose"));
        assert!(verdict.last_window.is_none());
    }

    #[test]
    fn the_cgroup_limit_wins_over_mem_total() {
        let mut history = History::new();
        for i in 0..60u64 {
            let mut s = sample(i as f64, 100 * MIB + i * MIB);
            s.cgroup = Some(CgroupSample {
                current_bytes: Some(200 * MIB + i * MIB),
                limit_bytes: Some(512 * MIB),
                oom: Some(3),
                oom_kill: Some(1 + i / 30),
                ..CgroupSample::default()
            });
            history.push(s);
        }
        let verdict = history.judge(&JudgeOptions::default(), Some(4096 * MIB));
        assert_eq!(verdict.limit_source, Some(LimitSource::Cgroup));
        assert_eq!(verdict.limit_bytes, Some(512 * MIB));
        let eta = verdict.time_to_limit_s.unwrap();
        assert!((eta - (512 - 259) as f64).abs() < 2.0, "{eta}");
        assert_eq!(
            history.oom_seen(),
            OomSeen {
                oom: Some(0),
                oom_kill: Some(1)
            }
        );
    }

    #[test]
    fn flat_memory_is_stable_and_has_no_forecast() {
        let mut history = History::new();
        for i in 0..100u64 {
            history.push(sample(i as f64, 300 * MIB + (i % 3) * 4096));
        }
        let verdict = history.judge(&JudgeOptions::default(), Some(4096 * MIB));
        assert!(!verdict.leak);
        assert_eq!(verdict.pattern, Pattern::Stable);
        assert_eq!(verdict.time_to_limit_s, None);
        assert_eq!(verdict.limit_bytes, Some(4096 * MIB));
        assert_eq!(history.peak().anon_bytes, 300 * MIB + 2 * 4096);
    }

    #[test]
    fn a_leak_that_starts_late_is_found_in_the_window() {
        let mut history = History::new();
        // Fell from 2 GiB to 1 GiB during the first 10 minutes, flat for
        // 50 more, then grows 1 MiB/s for the last 10 minutes: over the whole
        // hour and 10 minutes memory went down, but it is leaking now.
        for i in 0..4200u64 {
            let t = i as f64;
            let anon = if i < 600 {
                2048 * MIB - i * 1024 * MIB / 600
            } else if i < 3600 {
                1024 * MIB
            } else {
                1024 * MIB + (i - 3600) * MIB
            };
            history.push(sample(t, anon));
        }
        let options = JudgeOptions {
            window_s: 900.0,
            ..JudgeOptions::default()
        };
        let verdict = history.judge(&options, None);
        assert!(!verdict.whole_watch.leak);
        assert_eq!(verdict.basis, Basis::LastWindow);
        assert!(verdict.leak);
        assert!(verdict.last_window.as_ref().is_some_and(|v| v.leak));
        assert!(verdict.confidence_note.contains("the last 15.0 min"));
    }

    #[test]
    fn too_few_samples_say_so() {
        let mut history = History::new();
        history.push(sample(0.0, MIB));
        let verdict = history.judge(&JudgeOptions::default(), None);
        assert!(!verdict.leak);
        assert_eq!(verdict.confidence, 0.0);
        assert_eq!(verdict.confidence_level, ConfidenceLevel::Low);
        assert!(verdict.confidence_note.starts_with("no confidence yet"));
        assert_eq!(
            History::new()
                .judge(&JudgeOptions::default(), None)
                .limit_bytes,
            None
        );
    }
}

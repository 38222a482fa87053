//! Which call stacks the time-based sections list — growing, at the
//! peak, old, temporary — and those sections, with their stacks resolved.

use heapwise_series::{Series, Verdict, analyze};
use heapwise_trace::StackId;

use super::GrowthOptions;
use crate::model::{
    Growth, OldAllocations, Peak, StackBlocks, StackBytes, StackCount, Temporary, TimelinePoint,
};
use crate::{Analysis, Resolver};

/// A stack's growth verdict.
pub struct StackGrowth {
    /// The stack.
    pub stack: StackId,
    /// The verdict on its live bytes over time.
    pub verdict: Verdict,
}

/// Growth verdicts for the stacks holding the most at the end, most
/// suspicious first: leaks before non-leaks, then by slope.
pub fn stack_growth(
    analysis: &Analysis,
    timeline: &[TimelinePoint],
    options: &GrowthOptions,
) -> Vec<StackGrowth> {
    let replay = &analysis.replay;
    let times: Vec<f64> = timeline
        .iter()
        .map(|p| analysis.sampled_seconds(p.t_s))
        .collect();
    let mut candidates = analysis.leaking_stacks();
    candidates.truncate(options.candidates);
    let series_options = super::memory::options("live bytes of this call stack");
    let errors = sampling_errors(analysis);
    let measured = analysis.measured_buckets();
    let judge = |stack: StackId| {
        // Judged at the series' own resolution (see
        // `StackSeries::samples`), at the times of the grid buckets its
        // samples end.
        let series = &replay.stacks[stack as usize].series;
        let samples = series.samples(replay.grid.level, times.len());
        let width = 1usize << series.level.saturating_sub(replay.grid.level);
        let series = Series::from_pairs(
            samples
                .into_iter()
                .filter(|&(bucket, _)| {
                    measured.as_ref().is_none_or(|measured| {
                        measured[(bucket + 1).saturating_sub(width)..=bucket]
                            .iter()
                            .any(|&m| m)
                    })
                })
                .map(|(bucket, value)| (times[bucket], value as f64)),
        );
        let mut verdict = analyze(&series, &series_options);
        if let Some(errors) = &errors {
            let live = replay.stacks[stack as usize].live_bytes as f64;
            let error = errors.get(&stack).copied().unwrap_or(0.0).sqrt();
            within_sampling_error(&mut verdict, live, error);
        }
        StackGrowth { stack, verdict }
    };
    let mut growth = on_every_core(&candidates, judge);
    growth.sort_by(|a, b| {
        let slope = |g: &StackGrowth| g.verdict.slope_bytes_per_s.unwrap_or(0.0);
        b.verdict
            .leak
            .cmp(&a.verdict.leak)
            .then(slope(b).total_cmp(&slope(a)))
    });
    growth
}

/// `judge` applied to every item, the items shared among the machine's
/// cores (each stack's verdict is a few milliseconds of series analysis,
/// and up to 200 stacks are judged), in the items' order.
fn on_every_core<T: Copy + Sync, R: Send>(items: &[T], judge: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = items.len().div_ceil(threads.max(1)).max(8);
    if items.len() <= chunk {
        return items.iter().map(|&item| judge(item)).collect();
    }
    std::thread::scope(|scope| {
        let judge = &judge;
        let parts: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || part.iter().map(|&item| judge(item)).collect::<Vec<R>>())
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|part| {
                part.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// In a sampled trace, each stack's variance of its estimated live bytes
/// (Σ Z² (1 − p) / p² over its recorded live blocks); `None` in a full one.
pub(crate) fn sampling_errors(analysis: &Analysis) -> Option<rustc_hash::FxHashMap<StackId, f64>> {
    let weigh = analysis.replay.weigh;
    if !weigh.sampled() {
        return None;
    }
    let mut terms: rustc_hash::FxHashMap<StackId, Vec<f64>> = Default::default();
    analysis.replay.for_each_live(|block| {
        let p = weigh.probability(block.size);
        terms
            .entry(block.stack)
            .or_default()
            .push((block.size as f64).powi(2) * (1.0 - p) / (p * p));
    });
    Some(
        terms
            .into_iter()
            .map(|(stack, terms)| (stack, super::totals::ordered_sum(terms)))
            .collect(),
    )
}

/// A sampled series is a leak only if its growth is beyond twice its
/// sampling error. `error` is the standard error of its estimated live
/// bytes at the end (`live`); the growth is the difference of two such
/// estimates, whose recorded blocks may all differ (a cache that turned
/// over), so its standard error is at most √2 · `error` when the start held
/// no more than the end. What it holds at the end must also exceed twice
/// `error`: with one recorded block the estimate is about that block's
/// weight and the error as large, and a handful of recorded blocks is what
/// separates growth from the luck of the draw.
///
/// The growth weighed is the one the verdict vouches for
/// ([`Verdict::linear_growth_bytes`] for a `linear` one, else the fit's net
/// change): a cache filled in the first samples has a fit that rises by all
/// it holds, while a slope drawn from its sampling noise alone rises by a
/// fraction of the error.
pub(crate) fn within_sampling_error(verdict: &mut Verdict, live: f64, error: f64) {
    let growth_error = std::f64::consts::SQRT_2 * error;
    let growth = verdict
        .linear_growth_bytes()
        .or(verdict.growth_bytes)
        .unwrap_or(live);
    if verdict.leak && (live <= 2.0 * error || growth <= 2.0 * growth_error) {
        verdict.leak = false;
        verdict.reason = format!(
            "{}; but that growth (+{} to {}) is within twice its sampling error (± {}), so it is not called a leak",
            verdict.reason,
            heapwise_words::bytes_f64(growth.max(0.0)),
            heapwise_words::bytes_f64(live),
            heapwise_words::bytes_f64(growth_error)
        );
    }
}

/// Blocks live at the end that are older than the minimum age: (min age,
/// per stack (stack, blocks, bytes), largest first).
pub fn old_allocations(
    analysis: &Analysis,
    options: &GrowthOptions,
) -> (f64, Vec<(StackId, u64, u64)>) {
    let duration = analysis.duration_s();
    let min_age = options.min_age_s.unwrap_or(if duration >= 600.0 {
        300.0
    } else {
        duration / 2.0
    });
    let end = analysis.replay.last_tick;
    let min_ticks = (min_age * 1e9 / analysis.clock.ns_per_tick()) as u64;
    let mut by_stack: rustc_hash::FxHashMap<StackId, (u64, u64)> = Default::default();
    analysis.replay.for_each_live(|block| {
        if end.saturating_sub(block.tick) >= min_ticks {
            let entry = by_stack.entry(block.stack).or_default();
            entry.0 += block.count;
            entry.1 += block.bytes;
        }
    });
    let mut stacks: Vec<(StackId, u64, u64)> =
        by_stack.into_iter().map(|(s, (n, b))| (s, n, b)).collect();
    stacks.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    (min_age, stacks)
}

/// Stacks by temporary allocations (freed before their thread allocated
/// anything else), most first.
pub fn temporary_stacks(analysis: &Analysis) -> Vec<(StackId, u64)> {
    let mut stacks: Vec<(StackId, u64)> = analysis
        .replay
        .stacks
        .iter()
        .filter(|(_, s)| s.temporary > 0)
        .map(|(stack, s)| (stack, s.temporary))
        .collect();
    stacks.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    stacks
}

/// Stacks by bytes live at the peak, most first.
pub fn peak_stacks(analysis: &Analysis) -> Vec<(StackId, u64)> {
    let replay = &analysis.replay;
    let mut stacks: Vec<(StackId, u64)> = (0..replay.stacks.len() as StackId)
        .map(|s| (s, replay.at_peak(s)))
        .filter(|&(_, bytes)| bytes > 0)
        .collect();
    stacks.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    stacks
}

/// The stacks each time-based section lists, chosen before any is
/// resolved so that all are symbolized in one batch.
pub(crate) struct Chosen {
    /// Judged for growth, most suspicious first (listed ones).
    pub growth: Vec<StackGrowth>,
    /// How many stacks' growth verdicts say leak (listed or not).
    pub growing: u64,
    /// Bytes at the peak per stack (listed ones).
    pub peak: Vec<(StackId, u64)>,
    /// The minimum age of an old block.
    pub min_age_s: f64,
    /// Old blocks in total: (blocks, bytes).
    pub old_total: (u64, u64),
    /// Old blocks per stack (listed ones).
    pub old: Vec<(StackId, u64, u64)>,
    /// Temporary allocations per stack (listed ones).
    pub temporary: Vec<(StackId, u64)>,
}

impl Chosen {
    /// Chooses at most `max_stacks` stacks for each section.
    pub fn of(
        analysis: &Analysis,
        timeline: &[TimelinePoint],
        options: &GrowthOptions,
        max_stacks: usize,
    ) -> Chosen {
        let mut growth = stack_growth(analysis, timeline, options);
        let growing = growth.iter().filter(|g| g.verdict.leak).count() as u64;
        growth.truncate(max_stacks);
        let mut peak = peak_stacks(analysis);
        peak.truncate(max_stacks);
        let (min_age_s, mut old) = old_allocations(analysis, options);
        let old_total = old
            .iter()
            .fold((0, 0), |(n, b), &(_, sn, sb)| (n + sn, b + sb));
        old.truncate(max_stacks);
        let mut temporary = temporary_stacks(analysis);
        temporary.truncate(max_stacks);
        Chosen {
            growth,
            growing,
            peak,
            min_age_s,
            old_total,
            old,
            temporary,
        }
    }

    /// No stack judged nor chosen (the summary of a growing heap).
    pub fn none() -> Chosen {
        Chosen {
            growth: Vec::new(),
            growing: 0,
            peak: Vec::new(),
            min_age_s: 0.0,
            old_total: (0, 0),
            old: Vec::new(),
            temporary: Vec::new(),
        }
    }

    /// Every stack listed.
    pub fn stacks(&self) -> impl Iterator<Item = StackId> + '_ {
        self.growth
            .iter()
            .map(|g| g.stack)
            .chain(self.peak.iter().map(|p| p.0))
            .chain(self.old.iter().map(|o| o.0))
            .chain(self.temporary.iter().map(|t| t.0))
    }

    /// The growth section.
    pub fn growth(&mut self, analysis: &Analysis, resolver: &Resolver<'_>) -> Vec<Growth> {
        std::mem::take(&mut self.growth)
            .into_iter()
            .map(|g| {
                let stats = &analysis.replay.stacks[g.stack as usize];
                Growth {
                    frames: resolver.frames(g.stack),
                    pattern: g.verdict.pattern,
                    leak: g.verdict.leak,
                    slope_bytes_per_s: g.verdict.slope_bytes_per_s,
                    live_bytes_end: stats.live_bytes,
                    allocations_end: stats.live_allocations,
                    verdict: g.verdict,
                }
            })
            .collect()
    }

    /// The peak section.
    pub fn peak(&self, analysis: &Analysis, resolver: &Resolver<'_>) -> Peak {
        Peak {
            t_s: analysis.peak_t_s(),
            live_bytes: analysis.replay.peak_live_bytes,
            stacks: self
                .peak
                .iter()
                .map(|&(stack, bytes)| StackBytes {
                    bytes,
                    frames: resolver.frames(stack),
                })
                .collect(),
        }
    }

    /// The old allocations section.
    pub fn old_allocations(&self, resolver: &Resolver<'_>) -> OldAllocations {
        OldAllocations {
            min_age_s: self.min_age_s,
            allocations: self.old_total.0,
            bytes: self.old_total.1,
            stacks: self
                .old
                .iter()
                .map(|&(stack, allocations, bytes)| StackBlocks {
                    allocations,
                    bytes,
                    frames: resolver.frames(stack),
                })
                .collect(),
        }
    }

    /// The temporary allocations section.
    pub fn temporary(&self, analysis: &Analysis, resolver: &Resolver<'_>) -> Temporary {
        let replay = &analysis.replay;
        Temporary {
            allocations: replay.temporary,
            fraction: if replay.allocations == 0 {
                0.0
            } else {
                replay.temporary as f64 / replay.allocations as f64
            },
            stacks: self
                .temporary
                .iter()
                .map(|&(stack, allocations)| StackCount {
                    allocations,
                    frames: resolver.frames(stack),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaking() -> Verdict {
        let series = Series::from_pairs((0..120).map(|i| (f64::from(i), 1e6 + 1e4 * f64::from(i))));
        let verdict = analyze(&series, &heapwise_series::Options::default());
        assert!(verdict.leak, "{}", verdict.reason);
        verdict
    }

    #[test]
    fn growth_within_twice_its_sampling_error_is_not_a_leak() {
        // The series grows 1.19 MB (119 steps of 10 kB) to 2.19 MB.
        let mut verdict = leaking();
        let growth = verdict.growth_bytes.unwrap();
        assert!((growth - 1.19e6).abs() < 1e4, "{growth}");
        // An end estimate of 2 MB ± 1.2 MB: not even the end is sure.
        within_sampling_error(&mut verdict, 2.0e6, 1.2e6);
        assert!(!verdict.leak);
        assert!(
            verdict.reason.contains("within twice its sampling error"),
            "{}",
            verdict.reason
        );
        // ± 0.5 MB at the end: the growth's error is √2 · 0.5 MB = 0.71 MB,
        // and 1.19 MB is less than twice that.
        let mut verdict = leaking();
        within_sampling_error(&mut verdict, 2.0e6, 0.5e6);
        assert!(!verdict.leak, "{}", verdict.reason);
        // ± 0.4 MB: twice 0.57 MB is 1.13 MB, below the growth.
        let mut verdict = leaking();
        within_sampling_error(&mut verdict, 2.0e6, 0.4e6);
        assert!(verdict.leak, "{}", verdict.reason);
    }

    #[test]
    fn a_filled_cache_whose_slope_is_sampling_noise_is_not_a_leak() {
        // A cache filled in the first sample, then 1 MB with a drift of
        // 5 kB/s over 2 s (10 kB): the fit rises by about the whole 1 MB,
        // the trend by 10 kB.
        let series = Series::from_pairs((0..200).map(|i| {
            let t = f64::from(i) * 0.01;
            (t, if i == 0 { 0.0 } else { 1e6 + 5e3 * t })
        }));
        let mut verdict = analyze(&series, &heapwise_series::Options::default());
        assert_eq!(verdict.pattern, heapwise_series::Pattern::Linear);
        assert!(verdict.growth_bytes.unwrap() > 5e5, "{verdict:?}");
        let trend = verdict.linear_growth_bytes().unwrap();
        assert!((trend - 1e4).abs() < 1e3, "{trend}");
        // Forced a leak, as a noisy sampled series can be judged: with an
        // end error of ± 60 kB the 10 kB trend is noise.
        verdict.leak = true;
        within_sampling_error(&mut verdict, 1.01e6, 6e4);
        assert!(!verdict.leak, "{}", verdict.reason);
        // With ± 3 kB it is beyond twice the error of a difference (8.5 kB).
        verdict.leak = true;
        within_sampling_error(&mut verdict, 1.01e6, 3e3);
        assert!(verdict.leak, "{}", verdict.reason);
    }
}

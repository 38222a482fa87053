//! Building the report ([`report()`]): one builder per section, each in the
//! module named for it, filled from one replayed trace. Every stack any
//! section lists is symbolized in one batch before the sections are built.
//!
//! - `leaks.rs`: the stacks still holding blocks at the end;
//! - `stacks.rs`: which stacks the time-based sections list (growing, at
//!   the peak, old, temporary) and those sections;
//! - `memory.rs`: the timeline, the live heap's and RSS's verdicts,
//!   fragmentation, and the recommendations;
//! - `totals.rs`: the process, the summary, the size classes;
//! - `trace.rs`: about the trace file, and its warnings;
//! - the headline verdict is `crate::verdict`'s, from what these found.

mod leaks;
pub mod memory;
mod reach;
pub mod stacks;
mod totals;
mod trace;

use heapwise_trace::StackId;

use crate::model::{self, NativeReport, OwnAllocator};
use crate::suppress::SuppressionList;
use crate::{Analysis, Symbolize, inherit, verdict};

/// Options of [`report()`].
#[derive(Clone, Debug)]
pub struct ReportOptions {
    /// At most this many leak groups are symbolized and listed (0: all).
    pub max_leaks: usize,
    /// Of the program's own listed groups, only the first this many of
    /// each kind carry their frames (0: every listed group does): the
    /// end-of-run summary shows a few stacks but counts every group.
    pub framed_per_kind: usize,
    /// Stacks listed in each of the time-based sections (growth, peak,
    /// old and temporary allocations).
    pub max_stacks: usize,
    /// Options of the time-based sections.
    pub growth: GrowthOptions,
    /// An allocator of the program's own found in its executable (the
    /// caller reads the executable; `heapwise` uses `heapwise-symbols`).
    pub allocator: Option<OwnAllocator>,
    /// Known leaks to set apart (`--suppressions FILE`).
    pub suppressions: Option<SuppressionList>,
    /// Only what the end-of-run summary shows, the verdict and the leak
    /// groups: when the live heap as a whole keeps growing, the verdict
    /// says so whatever the stacks' growth verdicts, so the stacks are not
    /// judged (a few milliseconds each, up to 200 of them: most of a small
    /// program's summary) and the time-based sections are left empty.
    pub summary: bool,
}

impl Default for ReportOptions {
    fn default() -> ReportOptions {
        ReportOptions {
            max_leaks: 1000,
            framed_per_kind: 0,
            max_stacks: 20,
            growth: GrowthOptions::default(),
            allocator: None,
            suppressions: None,
            summary: false,
        }
    }
}

/// Options of the time-based parts of the report.
#[derive(Clone, Debug)]
pub struct GrowthOptions {
    /// Stacks judged for growth (the largest holders at the end).
    pub candidates: usize,
    /// Blocks live longer than this at the end are "old". `None`: 5 minutes
    /// for runs of 10 minutes or more (the seed's rule), half the run for
    /// shorter ones.
    pub min_age_s: Option<f64>,
}

impl Default for GrowthOptions {
    fn default() -> GrowthOptions {
        GrowthOptions {
            candidates: 200,
            min_age_s: None,
        }
    }
}

/// Asks `symbolizer` what [`report`] with `options` asks it, in the same
/// batches, without building the report: the leaking stacks, then the
/// chosen ones not among them (the stacks at the peak and the temporaries'
/// — those judged for growth and the old allocations' are leaking ones, so
/// the growth verdicts, the report's costly part, are not needed), then
/// the inherited section's. `heapwise run` records the answers this way
/// to save them with the analysis (`crate::saved::SavedSymbols`).
pub fn symbolize_as_report(
    analysis: &Analysis,
    symbolizer: &mut dyn Symbolize,
    options: &ReportOptions,
) {
    let leaking = analysis.leaking_stacks();
    let first_tick = |s: StackId| analysis.first_tick(s);
    let mut resolver = analysis.resolver(&first_tick);
    resolver.prepare(leaking.iter().copied(), symbolizer);
    let mut peak = stacks::peak_stacks(analysis);
    peak.truncate(options.max_stacks);
    let mut temporary = stacks::temporary_stacks(analysis);
    temporary.truncate(options.max_stacks);
    resolver.prepare(
        peak.iter()
            .map(|p| p.0)
            .chain(temporary.iter().map(|t| t.0)),
        symbolizer,
    );
    let _ = inherit::section(analysis, symbolizer, options.max_leaks);
}

/// Builds the report: totals, size classes, the leak groups, and memory over
/// time, with every stack it shows symbolized in one batch.
pub fn report(
    analysis: &Analysis,
    symbolizer: &mut dyn Symbolize,
    options: &ReportOptions,
) -> NativeReport {
    let leaking = analysis.leaking_stacks();
    let timeline = memory::timeline(analysis);
    let first_tick = |s: StackId| analysis.first_tick(s);
    let mut resolver = analysis.resolver(&first_tick);
    // The stacks' growth verdicts (a few milliseconds of series analysis
    // each, on every core) and the symbolizing of the leaking stacks (reading
    // the modules' debug info, on this thread: the symbolizer is not `Send`)
    // are each a good part of a small program's report: side by side. The
    // stacks judged for growth are among the leaking ones.
    let heap_first = options
        .summary
        .then(|| memory::section(analysis, &timeline, &[]));
    let heap_grows = heap_first
        .as_ref()
        .is_some_and(|(memory, _)| memory.live.leak);
    let mut chosen = std::thread::scope(|scope| {
        let verdicts = scope.spawn(|| {
            if heap_grows {
                stacks::Chosen::none()
            } else {
                stacks::Chosen::of(analysis, &timeline, &options.growth, options.max_stacks)
            }
        });
        resolver.prepare(leaking.iter().copied(), symbolizer);
        verdicts
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    });
    resolver.prepare(chosen.stacks(), symbolizer);

    let leaks = leaks::section(
        analysis,
        &leaking,
        (options.max_leaks, options.framed_per_kind),
        &resolver,
        options.suppressions.as_ref(),
    );
    let growth = chosen.growth(analysis, &resolver);
    let (memory, recommendations) = match heap_first {
        Some(first) if heap_grows => first,
        _ => memory::section(analysis, &timeline, &growth),
    };

    let mut warnings = Vec::new();
    let inherited = match inherit::section(analysis, symbolizer, options.max_leaks) {
        Ok(section) => section,
        Err(why) => {
            warnings.push(why);
            None
        }
    };
    trace::warnings(analysis, &mut warnings);
    warnings.extend(reach::warning(analysis, analysis.replay.live_allocations()));
    let trace = trace::info(analysis);
    let replay = &analysis.replay;
    let verdict = verdict::verdict(&verdict::Evidence {
        allocations: replay.allocations,
        own: leaks.own,
        own_lost: leaks.own_lost,
        not_scanned: replay.reachability.not_scanned().map(str::to_string),
        suppressed: leaks.suppressed,
        runtime: leaks.runtime,
        heap_grows: memory.live.leak,
        growing_stacks: chosen.growing,
        exit: replay.exit,
        missing: verdict::MissingEvidence::of(&trace, replay.exit),
        allocator: options.allocator.as_ref(),
    });
    NativeReport {
        schema: model::SCHEMA,
        process: totals::process(analysis),
        verdict,
        allocator: options.allocator.clone(),
        sampling: totals::sampling(analysis),
        summary: model::Summary {
            reachability: leaks.totals,
            ..totals::summary(analysis)
        },
        reachability_scan: reach::scan(analysis),
        suppressions: options
            .suppressions
            .as_ref()
            .map(|list| model::Suppressions {
                file: list.path.clone(),
                entries: list.entries.len(),
                suppressed: model::Amount {
                    bytes: leaks.suppressed.bytes,
                    blocks: leaks.suppressed.allocations,
                },
                used: leaks.used.clone(),
            }),
        size_classes: totals::size_classes(analysis),
        leaks: leaks.listed,
        timeline,
        growth,
        memory,
        peak: chosen.peak(analysis, &resolver),
        old_allocations: chosen.old_allocations(&resolver),
        temporary: chosen.temporary(analysis, &resolver),
        recommendations,
        trace,
        inherited,
        warnings,
    }
}

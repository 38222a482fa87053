//! From a [`GcLog`] to a [`GcReport`]: plain, serialisable data.

mod coverage;
mod findings;
mod heap;
mod pauses;

use heapwise_words::{bytes_f64, plural};
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::model::{Clock, GcKind, GcLog, LineCounts, LogFormat, Runtime};

pub use coverage::{Coverage, RunSummary};
pub use findings::{Finding, FindingKind};
pub use heap::{HeapAfterGc, HeapPoint, SeriesBasis, TimeAxis};
pub use pauses::{FullRun, LongPauses, PauseRef, PauseStats, PausesByKind};

/// The JSON schema name of [`GcReport`].
pub const SCHEMA: &str = "heapwise.gc/1";

/// Thresholds of the analysis, with the reason for each default.
#[derive(Debug, Clone)]
pub struct AnalysisOptions {
    /// A pause longer than this is a long pause (warning). Default 100 ms,
    /// the seed's threshold: about where a pause becomes visible to an
    /// interactive user or trips a request timeout budget.
    pub long_pause_ms: f64,
    /// This many full-heap collections in a row, with no minor collection
    /// between, are "back to back" (warning). Default 3: two can be one
    /// explicit `System.gc()` after another; three mean the collector keeps
    /// failing to free enough.
    pub back_to_back_min: usize,
    /// The heap-after-GC series uses major and full collections only when
    /// there are at least this many; otherwise every collection. Default 10:
    /// fewer major collections are too few to judge a trend (Mann–Kendall
    /// needs 5 samples at least, the floor of a sawtooth about 5 cycles).
    pub min_major_samples: usize,
    /// GC overhead (pause time over wall time) at or above this is a
    /// busy collector. Default 5 %: the usual throughput goal of 95 %
    /// (GCeasy, the JVM's `-XX:GCTimeRatio` defaults aim higher still).
    pub busy_overhead_percent: f64,
    /// Heap after GC at or above this fraction of the maximum heap (or,
    /// when the log does not state it, of the largest committed heap) means
    /// the live data nearly fills the heap. Default 0.7: a collector needs
    /// headroom about the size of the live data to work efficiently; at
    /// 70 % it has less than half of that.
    pub full_heap_fraction: f64,
    /// Maximum heap for the time-to-limit forecast, bytes, overriding what
    /// the log says (`-Xmx`, `--max-old-space-size`, `GOMEMLIMIT`).
    pub max_heap_bytes: Option<u64>,
    /// Points in the heap-after-GC timeline. Default 120.
    pub timeline_points: usize,
    /// Options of the series analysis (`subject` is "heap after GC").
    pub series: heapwise_series::Options,
    /// Below this share of the events read (events read over events read
    /// plus those the unreadable lines may hold), heapwise gives no advice.
    /// Default 95 %: a twentieth of the collections missing can hide the
    /// full collections or the long pauses the advice rests on.
    pub min_coverage_percent: f64,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        AnalysisOptions {
            long_pause_ms: 100.0,
            back_to_back_min: 3,
            min_major_samples: 10,
            busy_overhead_percent: 5.0,
            full_heap_fraction: 0.7,
            max_heap_bytes: None,
            timeline_points: 120,
            series: heapwise_series::Options {
                subject: "heap after GC".into(),
                ..heapwise_series::Options::default()
            },
            min_coverage_percent: 95.0,
        }
    }
}

/// Collections per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KindCounts {
    /// Minor (young generation) collections.
    pub minor: u64,
    /// Major collections.
    pub major: u64,
    /// Full (stop-the-world, whole heap) collections.
    pub full: u64,
}

/// What `heapwise gc` reports (JSON schema `heapwise.gc/1`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GcReport {
    /// `heapwise.gc/1`.
    pub schema: &'static str,
    /// `node`, `jvm` or `go`.
    pub runtime: Runtime,
    /// The log format read.
    pub format: LogFormat,
    /// The collector (`G1`, `Parallel`, `Serial`, `ZGC`, `Shenandoah`,
    /// `CMS`), or `null`.
    pub collector: Option<String>,
    /// Collections: distinct `GC(N)` ids for the JVM (a G1 concurrent cycle
    /// with its Remark and Cleanup pauses is one), one per line elsewhere.
    pub collections: u64,
    /// Collections by kind (a collection's kind is its heaviest event's).
    pub collections_by_kind: KindCounts,
    /// Events (log lines that reported a pause or a collection).
    pub events: u64,
    /// Statistics of every pause.
    pub pauses: PauseStats,
    /// Pause statistics per kind of collection.
    pub pauses_by_kind: PausesByKind,
    /// Pause time over wall time, percent; `null` without timestamps.
    pub gc_overhead_percent: Option<f64>,
    /// Wall time the log covers (first to last timestamp), seconds.
    pub duration_s: Option<f64>,
    /// Bytes allocated per second, estimated from the heap before each
    /// collection minus the heap after the previous one.
    pub allocation_rate_bytes_per_s: Option<f64>,
    /// Bytes promoted to the old generation per second, where the log
    /// carries it (`-Xlog:gc*` generation sizes, JDK 8 details, Node NVP).
    pub promotion_rate_bytes_per_s: Option<f64>,
    /// Heap after GC: pattern, leak verdict, slope, forecast.
    pub heap_after_gc: HeapAfterGc,
    /// The heap after GC now (median of the last five values) over the
    /// maximum heap; for the JVM, when the log does not state the maximum,
    /// over the largest committed heap in the log.
    pub occupancy_after_gc: Option<f64>,
    /// Pauses longer than the threshold.
    pub long_pauses: LongPauses,
    /// Runs of full-heap collections with no minor collection between.
    pub back_to_back_full: Vec<FullRun>,
    /// Go: the runtime's own GC CPU percentage (`P%` of the last line).
    pub runtime_gc_cpu_percent: Option<f64>,
    /// What the evidence says, most important first.
    pub findings: Vec<Finding>,
    /// Sentences for people about what was found or could not be judged.
    pub warnings: Vec<String>,
    /// How the log's lines were used.
    pub lines: LineCounts,
    /// How much of the log's GC output was read.
    pub coverage: Coverage,
    /// The runs of the program in the file (one unless it was restarted
    /// and wrote to the same file).
    pub runs: Vec<RunSummary>,
    /// The files read, in the order read (a rotated set); empty for a
    /// single file.
    pub files: Vec<crate::model::LogFile>,
}

/// Analyses a parsed log.
pub fn analyze(log: &GcLog, options: &AnalysisOptions) -> GcReport {
    let (pauses, pauses_by_kind) = pauses::pause_stats(&log.events);
    let (collections, collections_by_kind) = count_collections(log);
    let duration_s = log.duration_s();
    let gc_overhead_percent = duration_s
        .filter(|_| pauses.count > 0)
        .map(|d| pauses.total_ms / (d * 1e3) * 100.0);
    let allocation_rate_bytes_per_s = duration_s.and_then(|d| allocated_bytes(log).map(|b| b / d));
    let promoted: Option<u64> = log
        .events
        .iter()
        .filter_map(|e| e.promoted_bytes)
        .reduce(|a, b| a.saturating_add(b));
    let promotion_rate_bytes_per_s = duration_s.and_then(|d| promoted.map(|p| p as f64 / d));
    let (heap_after_gc, judged_heap) = heap::heap_after_gc(log, options);
    let occupancy_after_gc = occupancy(log, &heap_after_gc, judged_heap);
    let long_pauses = pauses::long_pauses(&log.events, options.long_pause_ms);
    let back_to_back_full = pauses::back_to_back(log, options.back_to_back_min);

    let mut report = GcReport {
        schema: SCHEMA,
        runtime: log.runtime(),
        format: log.format,
        collector: log.collector.clone(),
        collections,
        collections_by_kind,
        events: log.events.len() as u64,
        pauses,
        pauses_by_kind,
        gc_overhead_percent,
        duration_s,
        allocation_rate_bytes_per_s,
        promotion_rate_bytes_per_s,
        heap_after_gc,
        occupancy_after_gc,
        long_pauses,
        back_to_back_full,
        runtime_gc_cpu_percent: log.runtime_gc_cpu_percent,
        findings: Vec::new(),
        warnings: Vec::new(),
        lines: log.lines,
        coverage: coverage::coverage(log, options.min_coverage_percent),
        runs: coverage::runs(log),
        files: if log.files.len() > 1 {
            log.files.clone()
        } else {
            Vec::new()
        },
    };
    report.warnings = warnings(log, &report, judged_heap, options);
    report.findings = findings::findings(&report, options);
    report
}

/// What the reader of the report must know about the log and the run:
/// unreadable lines, no clock, no pauses, several heaps, too few samples,
/// long and back-to-back pauses, a busy collector.
fn warnings(
    log: &GcLog,
    report: &GcReport,
    judged_heap: u16,
    options: &AnalysisOptions,
) -> Vec<String> {
    let mut warnings = Vec::new();
    let (pauses, heap_after_gc, long_pauses) =
        (&report.pauses, &report.heap_after_gc, &report.long_pauses);
    let collections_by_kind = &report.collections_by_kind;
    let coverage = &report.coverage;
    if !coverage.enough_for_advice {
        warnings.push(format!(
            "only {:.1} % of the events could be read ({} read, up to {} more in {} unreadable line{}): heapwise gives no advice on a log it could not read",
            coverage.events_read_percent,
            coverage.events_read,
            coverage.events_possibly_missed,
            coverage.lines_unread,
            plural(coverage.lines_unread, "", "s")
        ));
    } else if coverage.lines_unread > 0 {
        warnings.push(format!(
            "{} line{} of GC output could not be read (cut off or garbled); they may hold {} event{} ({:.1} % of the events read), which are not counted",
            coverage.lines_unread,
            plural(coverage.lines_unread, "", "s"),
            coverage.events_possibly_missed,
            plural(coverage.events_possibly_missed, "", "s"),
            coverage.events_read_percent
        ));
    }
    if report.runs.len() > 1 {
        let starts: Vec<String> = report.runs[1..]
            .iter()
            .map(|r| r.first_line.to_string())
            .collect();
        warnings.push(format!(
            "the file holds {} runs of the program (restarted at line{} {}): collections and pauses count every run, the heap after GC and the overhead are judged run by run, the heap after GC for the last run",
            report.runs.len(),
            plural(starts.len() as u64, "", "s"),
            starts.join(", ")
        ));
    }
    if log.lines.truncated_last_line {
        warnings.push(
            "the last line is incomplete (still being written, or the writer was killed) and was not read"
                .to_string(),
        );
    }
    if log.clock == Clock::None {
        warnings.push(
            "the log has no timestamps: GC overhead, rates and the slope per second are unknown (JVM: add the uptime decorator; JDK 8: -XX:+PrintGCTimeStamps)"
                .to_string(),
        );
    }
    if pauses.count == 0 {
        warnings.push(if log.collector.as_deref() == Some("ZGC") {
            "the log has no pause times: ZGC prints its pauses only with -Xlog:gc* (or -Xlog:gc+phases)".to_string()
        } else {
            "the log has no pause times".to_string()
        });
    }
    if log.heaps.len() > 1
        && let Some(isolate) = log.heaps.get(usize::from(judged_heap))
    {
        warnings.push(format!(
            "the log has {} V8 isolates (worker threads have their own heaps): heap after GC is judged for the busiest, {isolate}",
            log.heaps.len()
        ));
    }
    if !heap_after_gc.verdict.enough_data {
        warnings.push(format!(
            "only {} heap-after-GC sample{}: too few to judge whether live data grows",
            heap_after_gc.samples,
            plural(heap_after_gc.samples as u64, "", "s")
        ));
    }
    if heap_after_gc.leak
        && heap_after_gc.basis == SeriesBasis::All
        && collections_by_kind.major + collections_by_kind.full == 0
        && log.runtime() != Runtime::Go
    {
        warnings.push(
            "the log has no major or full collection, so the heap after GC includes garbage promoted to the old generation that no collection has freed yet; a longer log (with old-generation collections) settles whether the growth is live data"
                .to_string(),
        );
    }
    if long_pauses.count > 0
        && let Some(longest) = long_pauses.longest.first()
    {
        warnings.push(format!(
            "{} pause{} longer than {} ms; the longest {} ({}{}, line {})",
            long_pauses.count,
            plural(long_pauses.count, "", "s"),
            trim_float(options.long_pause_ms),
            heapwise_words::millis(longest.pause_ms),
            longest.name,
            longest
                .t_s
                .map(|t| format!(" at {t:.3} s"))
                .unwrap_or_default(),
            longest.line
        ));
    }
    for run in &report.back_to_back_full {
        warnings.push(format!(
            "{} full collections back to back from line {}{}: the collector keeps running without freeing enough",
            run.count,
            run.first_line,
            match (run.heap_before_bytes, run.heap_after_bytes, run.heap_total_bytes) {
                (Some(before), Some(after), Some(total)) => format!(
                    " (heap {} -> {} of {})",
                    bytes_f64(before as f64),
                    bytes_f64(after as f64),
                    bytes_f64(total as f64)
                ),
                _ => String::new(),
            }
        ));
    }
    if let Some(overhead) = report.gc_overhead_percent
        && overhead >= options.busy_overhead_percent
    {
        warnings.push(format!(
            "GC pauses took {overhead:.1} % of wall time (at or above {} %)",
            trim_float(options.busy_overhead_percent)
        ));
    }
    warnings
}

fn count_collections(log: &GcLog) -> (u64, KindCounts) {
    let mut kinds: FxHashMap<(u16, u16, u64), GcKind> = FxHashMap::default();
    kinds.reserve(log.events.len());
    for event in &log.events {
        let kind = kinds
            .entry((event.run, event.heap, event.collection))
            .or_insert(event.kind);
        *kind = (*kind).max(event.kind);
    }
    let mut counts = KindCounts::default();
    for kind in kinds.values() {
        match kind {
            GcKind::Minor => counts.minor += 1,
            GcKind::Major => counts.major += 1,
            GcKind::Full => counts.full += 1,
        }
    }
    (kinds.len() as u64, counts)
}

/// Bytes allocated over the log: for each event with the heap before it,
/// that minus the heap after the previous event of the same heap.
fn allocated_bytes(log: &GcLog) -> Option<f64> {
    let mut after: Vec<Option<u64>> = vec![None; log.heaps.len().max(1) + 1];
    let mut total = 0u64;
    let mut pairs = 0u64;
    let mut run = 0;
    for event in &log.events {
        if event.run != run {
            // A restarted program's heap starts again.
            run = event.run;
            after.iter_mut().for_each(|a| *a = None);
        }
        let Some(slot) = after.get_mut(usize::from(event.heap)) else {
            continue;
        };
        if let (Some(before), Some(previous)) = (event.heap_before_bytes, *slot) {
            total = total.saturating_add(before.saturating_sub(previous));
            pairs += 1;
        }
        if let Some(now) = event.heap_after_bytes {
            *slot = Some(now);
        }
    }
    (pairs > 0).then_some(total as f64)
}

fn occupancy(log: &GcLog, heap: &HeapAfterGc, judged: u16) -> Option<f64> {
    // Without a stated maximum, the JVM's committed heap (which grows only
    // under pressure, up to -Xmx) stands in; V8 and Go commit just what
    // they use, so their committed size says nothing about headroom.
    let committed = log.runtime() == Runtime::Jvm;
    let limit = heap.max_heap_bytes.or_else(|| {
        if !committed {
            return None;
        }
        let last_run = log.events.last().map_or(0, |e| e.run);
        log.events
            .iter()
            .filter(|e| e.heap == judged && e.run == last_run)
            .filter_map(|e| e.heap_total_bytes)
            .max()
    })?;
    if limit == 0 {
        return None;
    }
    heap.recent_bytes.map(|recent| recent as f64 / limit as f64)
}

/// `100` rather than `100.0`.
pub(crate) fn trim_float(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

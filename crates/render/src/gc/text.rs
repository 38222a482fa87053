//! `heapwise gc` as text: what was read, collections and pauses, overhead
//! and rates, the heap-after-GC verdict with a small chart, warnings, and
//! plain recommendations tied to the findings.

use heapwise_words as words;
use std::io::{self, Write};

use heapwise_gc::{FindingKind, GcReport, HeapAfterGc, PauseStats, Runtime, SeriesBasis, TimeAxis};

/// Options of the text report.
#[derive(Debug, Clone)]
pub struct TextOptions {
    /// Columns of the heap-after-GC chart.
    pub chart_width: usize,
    /// Rows of the chart (each row has eight levels).
    pub chart_height: usize,
    /// The log's name, shown in the first line.
    pub source: Option<String>,
}

impl Default for TextOptions {
    fn default() -> Self {
        TextOptions {
            chart_width: 60,
            chart_height: 8,
            source: None,
        }
    }
}

/// Writes the full text report.
pub fn write<W: Write + ?Sized>(
    out: &mut W,
    report: &GcReport,
    options: &TextOptions,
) -> io::Result<()> {
    header(out, report, options)?;
    writeln!(out)?;
    collections_and_pauses(out, report)?;
    writeln!(out)?;
    heap_section(out, &report.heap_after_gc, report.runtime, options)?;
    if !report.warnings.is_empty() {
        writeln!(out)?;
        writeln!(out, "Warnings:")?;
        for warning in &report.warnings {
            writeln!(out, "  - {warning}")?;
        }
    }
    writeln!(out)?;
    writeln!(out, "What to do:")?;
    for finding in &report.findings {
        writeln!(
            out,
            "  * {}: {}.",
            title(finding.kind),
            capitalised(&finding.evidence)
        )?;
        writeln!(out, "    {}", recommendation(finding.kind, report.runtime))?;
    }
    Ok(())
}

fn header<W: Write + ?Sized>(
    out: &mut W,
    report: &GcReport,
    options: &TextOptions,
) -> io::Result<()> {
    let source = options
        .source
        .as_deref()
        .map(|s| format!("{s}: "))
        .unwrap_or_default();
    let collector = report
        .collector
        .as_deref()
        .map(|c| format!(", collector {c}"))
        .unwrap_or_default();
    writeln!(
        out,
        "GC log {source}{}{collector}",
        heapwise_gc::LogFormat::describe(report.format)
    )?;
    let lines = &report.lines;
    let plural = |n: u64| words::plural(n, "", "s");
    let mut read = format!(
        "  {} line{}: {} GC event{}, {} other line{} skipped",
        words::thousands(lines.total),
        plural(lines.total),
        words::thousands(lines.events),
        plural(lines.events),
        words::thousands(lines.skipped),
        plural(lines.skipped)
    );
    if lines.malformed > 0 {
        read.push_str(&format!(
            " ({} unreadable)",
            words::thousands(lines.malformed)
        ));
    }
    if lines.truncated_last_line {
        read.push_str("; incomplete last line not read");
    }
    writeln!(out, "{read}")?;
    let coverage = &report.coverage;
    if coverage.lines_unread > 0 || coverage.events_possibly_missed > 0 {
        writeln!(
            out,
            "  coverage: {} line{} of GC output unread, up to {} event{} missed: {:.1} % of the events read{}",
            words::thousands(coverage.lines_unread),
            plural(coverage.lines_unread),
            words::thousands(coverage.events_possibly_missed),
            plural(coverage.events_possibly_missed),
            coverage.events_read_percent,
            if coverage.enough_for_advice {
                ""
            } else {
                " (too few for advice)"
            }
        )?;
    }
    if report.files.len() > 1 {
        let names: Vec<&str> = report.files.iter().map(|f| f.name.as_str()).collect();
        writeln!(
            out,
            "  {} files read in this order: {}",
            report.files.len(),
            names.join(", ")
        )?;
    }
    if report.runs.len() > 1 {
        let starts: Vec<String> = report.runs[1..]
            .iter()
            .map(|r| words::thousands(r.first_line))
            .collect();
        writeln!(
            out,
            "  {} runs of the program (restarted at line{} {}); the heap after GC is judged for the last",
            report.runs.len(),
            plural(starts.len() as u64),
            starts.join(", ")
        )?;
    }
    if let Some(duration) = report.duration_s {
        writeln!(out, "  covers {}", words::duration(duration))?;
    }
    Ok(())
}

fn collections_and_pauses<W: Write + ?Sized>(out: &mut W, report: &GcReport) -> io::Result<()> {
    let kinds = &report.collections_by_kind;
    writeln!(
        out,
        "Collections: {} (minor {}, major {}, full {})",
        words::thousands(report.collections),
        words::thousands(kinds.minor),
        words::thousands(kinds.major),
        words::thousands(kinds.full)
    )?;
    writeln!(
        out,
        "Pauses  {:>9} {:>11} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "count", "total", "mean", "p50", "p95", "p99", "max"
    )?;
    pause_row(out, "all", &report.pauses)?;
    let by_kind = &report.pauses_by_kind;
    for (name, stats) in [
        ("minor", &by_kind.minor),
        ("major", &by_kind.major),
        ("full", &by_kind.full),
    ] {
        if stats.count > 0 && stats.count != report.pauses.count {
            pause_row(out, name, stats)?;
        }
    }
    let overhead = report
        .gc_overhead_percent
        .map(|o| format!("{o:.2} % of wall time in GC pauses"))
        .unwrap_or_else(|| "unknown (no timestamps or no pauses)".to_string());
    writeln!(out, "GC overhead: {overhead}")?;
    if let Some(cpu) = report.runtime_gc_cpu_percent {
        writeln!(
            out,
            "  (the Go runtime reports {cpu:.0} % of CPU time in GC)"
        )?;
    }
    let rate = |r: Option<f64>| {
        r.map(|r| format!("{}/s", words::bytes(r.max(0.0) as u64)))
            .unwrap_or_else(|| "unknown".to_string())
    };
    writeln!(
        out,
        "Allocation rate: {}   Promotion rate: {}",
        rate(report.allocation_rate_bytes_per_s),
        rate(report.promotion_rate_bytes_per_s)
    )?;
    Ok(())
}

fn pause_row<W: Write + ?Sized>(out: &mut W, name: &str, stats: &PauseStats) -> io::Result<()> {
    let ms = |v: Option<f64>| v.map(words::millis).unwrap_or_else(|| "-".to_string());
    writeln!(
        out,
        "  {name:<5} {:>9} {:>11} {:>9} {:>9} {:>9} {:>9} {:>9}",
        words::thousands(stats.count),
        words::millis(stats.total_ms),
        ms(stats.mean_ms),
        ms(stats.p50_ms),
        ms(stats.p95_ms),
        ms(stats.p99_ms),
        ms(stats.max_ms)
    )
}

fn heap_section<W: Write + ?Sized>(
    out: &mut W,
    heap: &HeapAfterGc,
    runtime: Runtime,
    options: &TextOptions,
) -> io::Result<()> {
    let basis = match heap.basis {
        SeriesBasis::Major => "after major and full collections",
        SeriesBasis::All => "after every collection",
        SeriesBasis::None => "no collection reported it",
    };
    let verdict = if heap.leak {
        "LEAK: live data keeps growing"
    } else {
        "no leak"
    };
    writeln!(
        out,
        "Heap after GC ({basis}, {} samples): {} - {verdict}",
        words::thousands(heap.samples as u64),
        heap.pattern
    )?;
    if heap.samples == 0 {
        return Ok(());
    }
    writeln!(out, "  {}", heap.reason)?;
    let mut facts = Vec::new();
    if let (Some(first), Some(last)) = (heap.first_bytes, heap.last_bytes) {
        facts.push(format!(
            "{} -> {} ({})",
            words::bytes(first),
            words::bytes(last),
            words::bytes_signed(last as i64 - first as i64)
        ));
    }
    if let Some(slope) = heap.slope_bytes_per_s {
        facts.push(format!("slope {}/s", words::bytes_f64_signed(slope)));
    }
    if let Some(slope) = heap.slope_bytes_per_collection {
        facts.push(format!(
            "slope {} per collection",
            words::bytes_f64_signed(slope)
        ));
    }
    if !facts.is_empty() {
        writeln!(out, "  {}", facts.join(", "))?;
    }
    match (heap.max_heap_bytes, heap.time_to_max_heap_s) {
        (Some(max), Some(eta)) => writeln!(
            out,
            "  reaches the maximum heap ({}) in about {} at the upper bound of the slope",
            words::bytes(max),
            words::duration(eta)
        )?,
        (Some(max), None) => writeln!(out, "  maximum heap {}", words::bytes(max))?,
        (None, _) if heap.leak => writeln!(
            out,
            "  maximum heap unknown: pass --max-heap ({}) for a time-to-limit forecast",
            limit_flag(runtime)
        )?,
        _ => {}
    }
    if heap.timeline.len() >= 2 {
        writeln!(out)?;
        chart(out, heap, options)?;
    }
    Ok(())
}

/// A small bar chart of the heap after GC over time, eight levels per row.
fn chart<W: Write + ?Sized>(
    out: &mut W,
    heap: &HeapAfterGc,
    options: &TextOptions,
) -> io::Result<()> {
    const LEVELS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let width = options.chart_width.max(8);
    let height = options.chart_height.max(2);
    let points = &heap.timeline;
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return Ok(());
    };
    let span = last.t_s - first.t_s;
    // Each column: the highest point that falls into it, or the value in
    // effect carried from the column before.
    let mut columns: Vec<Option<f64>> = vec![None; width];
    for p in points {
        let at = if span > 0.0 {
            (((p.t_s - first.t_s) / span) * (width - 1) as f64).round() as usize
        } else {
            width - 1
        };
        let cell = &mut columns[at.min(width - 1)];
        *cell = Some(cell.map_or(p.bytes, |v: f64| v.max(p.bytes)));
    }
    let mut carried = first.bytes;
    let values: Vec<f64> = columns
        .into_iter()
        .map(|c| {
            if let Some(v) = c {
                carried = v;
            }
            carried
        })
        .collect();
    let high = values.iter().copied().fold(f64::MIN, f64::max);
    let low = values.iter().copied().fold(f64::MAX, f64::min);
    // Bars start from just below the lowest value, so the shape shows.
    let floor = if high > low {
        low - (high - low) * 0.1
    } else {
        low * 0.9
    };
    let range = (high - floor).max(1.0);
    let steps = (height * 8) as f64;
    let top_label = words::bytes(high.max(0.0) as u64);
    let low_label = words::bytes(low.max(0.0) as u64);
    let label_width = top_label.len().max(low_label.len());
    for row in (0..height).rev() {
        let label = if row == height - 1 {
            top_label.as_str()
        } else if row == 0 {
            low_label.as_str()
        } else {
            ""
        };
        let tick = if label.is_empty() { '│' } else { '┤' };
        let mut line = format!("  {label:>label_width$} {tick}");
        for &v in &values {
            let level = (((v - floor) / range) * steps).round() as i64 - (row * 8) as i64;
            line.push(LEVELS[level.clamp(0, 8) as usize]);
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    writeln!(out, "  {:>label_width$} └{}", "", "─".repeat(width))?;
    let (left, right) = match heap.time_axis {
        TimeAxis::Seconds => (words::duration(first.t_s), words::duration(last.t_s)),
        TimeAxis::Collections => (
            format!("#{}", first.t_s as u64 + 1),
            format!("#{}", last.t_s as u64 + 1),
        ),
    };
    let gap = (width + 1).saturating_sub(left.len() + right.len()).max(1);
    writeln!(
        out,
        "  {:>label_width$}  {left}{}{right}",
        "",
        " ".repeat(gap)
    )
}

fn title(kind: FindingKind) -> &'static str {
    match kind {
        FindingKind::LiveDataGrowing => "Live data is growing",
        FindingKind::HeapTooSmall => "The heap is too small for the live data",
        FindingKind::AllocationRateTooHigh => "The allocation rate is too high",
        FindingKind::LongPauses => "Long pauses",
        FindingKind::Healthy => "The GC is keeping up",
        FindingKind::IncompleteLog => "Too much of the log could not be read to judge it",
    }
}

/// Plain advice for a finding, for the runtime that wrote the log.
pub fn recommendation(kind: FindingKind, runtime: Runtime) -> &'static str {
    match (kind, runtime) {
        (FindingKind::LiveDataGrowing, Runtime::Node) => {
            "A bigger heap only delays the crash. Take three heap snapshots minutes apart \
             (heapwise heap capture --inspect HOST:PORT --count 3) and run heapwise heap leaks on \
             them: it names what grew and what keeps it alive (a Map or array used as a cache \
             without a bound, listeners never removed, closures holding large contexts)."
        }
        (FindingKind::LiveDataGrowing, Runtime::Jvm) => {
            "A bigger -Xmx only delays the OutOfMemoryError. Compare class histograms taken \
             minutes apart (jmap -histo:live PID) or two heap dumps (jcmd PID GC.heap_dump FILE) \
             to see which classes grow and what holds them: static collections and caches \
             without eviction, listeners never removed, ThreadLocals in pooled threads."
        }
        (FindingKind::LiveDataGrowing, Runtime::Go) => {
            "A higher GOMEMLIMIT only delays the OOM kill. Compare two heap profiles taken \
             minutes apart (go tool pprof -base old.pb.gz new.pb.gz, from /debug/pprof/heap) \
             to see which allocation sites hold the growth: maps and slices that only grow, \
             goroutines that never exit, caches without eviction."
        }
        (FindingKind::HeapTooSmall, Runtime::Node) => {
            "The live data is flat but leaves the collector little room. Raise the limit \
             (node --max-old-space-size=MB) or keep less in memory at once."
        }
        (FindingKind::HeapTooSmall, Runtime::Jvm) => {
            "The live data is flat but leaves the collector little room. Raise -Xmx (in \
             containers -XX:MaxRAMPercentage) so the heap after GC is at most about half of it, \
             or keep less in memory at once."
        }
        (FindingKind::HeapTooSmall, Runtime::Go) => {
            "The live data is flat but close to the memory limit, so the GC runs almost \
             continuously. Raise GOMEMLIMIT (or the container limit) or keep less in memory."
        }
        (FindingKind::AllocationRateTooHigh, Runtime::Node) => {
            "The program allocates faster than the young generation absorbs. Reuse objects and \
             buffers in hot paths and avoid building temporary strings and arrays per request; a \
             larger young generation (--max-semi-space-size=MB) makes scavenges rarer."
        }
        (FindingKind::AllocationRateTooHigh, Runtime::Jvm) => {
            "The program allocates faster than the young generation absorbs. Find the hot \
             allocation sites (JFR allocation samples, async-profiler -e alloc) and reuse or \
             avoid them; a larger young generation (-Xmn, or more heap for G1) makes young \
             collections rarer."
        }
        (FindingKind::AllocationRateTooHigh, Runtime::Go) => {
            "The program allocates fast enough to keep the GC busy. Find the hot allocation \
             sites (go tool pprof -sample_index=alloc_space) and reuse buffers (sync.Pool); a \
             higher GOGC trades memory for fewer collections."
        }
        (FindingKind::LongPauses, Runtime::Node) => {
            "Mark-Compact pauses grow with the old generation: keep less live data, and keep \
             long synchronous work off latency-sensitive processes."
        }
        (FindingKind::LongPauses, Runtime::Jvm) => {
            "Set a pause goal (G1: -XX:MaxGCPauseMillis) or use a low-pause collector (ZGC, \
             Shenandoah); long full collections mean the heap ran out (see above)."
        }
        (FindingKind::LongPauses, Runtime::Go) => {
            "Go's stop-the-world phases are normally well under a millisecond; long ones point \
             at a CPU-starved process (GOMAXPROCS above the CPU quota) or very large stacks."
        }
        (FindingKind::IncompleteLog, _) => {
            "heapwise gives no advice on a log it could not read: the collections it missed \
             may be the full collections or long pauses that advice would rest on. Check that \
             the file is a whole GC log (not cut, not mixed with other output in the middle of \
             its lines), or report the lines it could not read."
        }
        (FindingKind::Healthy, _) => {
            "The collector frees what the program drops. If the process still grows, the memory \
             is outside the GC heap (native allocations, buffers, threads): watch it with \
             heapwise watch --pid PID, or trace native code with heapwise run."
        }
    }
}

fn limit_flag(runtime: Runtime) -> &'static str {
    match runtime {
        Runtime::Node => "the --max-old-space-size value",
        Runtime::Jvm => "the -Xmx value",
        Runtime::Go => "the GOMEMLIMIT value",
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capitals_start_a_sentence() {
        assert_eq!(capitalised("heap after GC"), "Heap after GC");
    }
}

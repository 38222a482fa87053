//! Go and JDK 8: synthetic logs written from the documented formats
//! (`tests/fixtures/README.md`). Expected counts come from independent scans
//! of the same files.

use heapwise_gc::{Clock, FindingKind, GcKind, LogFormat, Runtime, SeriesBasis};

use crate::util::{analyse, test_file};

fn fixture(name: &str) -> (String, heapwise_gc::GcLog, heapwise_gc::GcReport) {
    let path = test_file(&format!("fixtures/{name}"));
    let text = std::fs::read_to_string(&path).unwrap();
    let (log, report) = analyse(&path);
    (text, log, report)
}

/// `gc N @…` lines: count and the longest pause (first + third clock time).
fn scan_go(text: &str) -> (u64, f64, u64) {
    let (mut count, mut max, mut forced) = (0, 0.0f64, 0);
    for line in text.lines().filter(|l| l.starts_with("gc ")) {
        let clock = line
            .split(": ")
            .nth(1)
            .unwrap()
            .split(" ms clock")
            .next()
            .unwrap();
        let parts: Vec<f64> = clock.split('+').map(|p| p.parse().unwrap()).collect();
        max = max.max(parts[0] + parts[2]);
        count += 1;
        forced += u64::from(line.ends_with("(forced)"));
    }
    (count, max, forced)
}

#[test]
fn go_leak() {
    let (text, log, report) = fixture("go_leak.log");
    let (count, max, _) = scan_go(&text);
    assert_eq!(log.format, LogFormat::Go);
    assert_eq!(report.runtime, Runtime::Go);
    assert_eq!(report.collections, count);
    assert_eq!(report.collections_by_kind.major, count);
    assert_eq!(report.pauses.count, count);
    assert_eq!(report.pauses.max_ms, Some(max));
    assert_eq!(report.lines.skipped, text.lines().count() as u64 - count);
    assert_eq!(report.heap_after_gc.basis, SeriesBasis::Major);
    assert!(report.heap_after_gc.leak, "{}", report.heap_after_gc.reason);
    // Built in: 3 MB of live heap per cycle, about one cycle per 0.5 s.
    let slope = report.heap_after_gc.slope_bytes_per_s.unwrap() / (1024.0 * 1024.0);
    assert!((4.5..7.5).contains(&slope), "{slope}");
    assert!(report.runtime_gc_cpu_percent.is_some());
    assert_eq!(report.findings[0].kind, FindingKind::LiveDataGrowing);
}

#[test]
fn go_steady_without_stacks_and_globals() {
    let (text, log, report) = fixture("go_steady.log");
    let (count, max, forced) = scan_go(&text);
    assert_eq!(report.collections, count);
    assert_eq!(report.pauses.max_ms, Some(max));
    let forced_events = log
        .events
        .iter()
        .filter(|e| e.cause.as_deref() == Some("forced"))
        .count() as u64;
    assert_eq!((forced_events, forced), (1, 1));
    assert!(
        !report.heap_after_gc.leak,
        "{}",
        report.heap_after_gc.reason
    );
    assert!(report.back_to_back_full.is_empty());
}

/// JDK 8 event lines: `[GC (`, `[GC pause`, `[GC remark`, `[GC cleanup`,
/// `[Full GC`; the pause is the last `, N secs]` before `[Times:`.
fn scan_jdk8(text: &str) -> (u64, u64, f64) {
    let (mut count, mut full, mut max) = (0, 0, 0.0f64);
    for line in text.lines() {
        let starts = [
            "[GC (",
            "[GC pause",
            "[GC remark",
            "[GC cleanup",
            "[Full GC",
        ];
        if !starts.iter().any(|s| line.contains(s)) {
            continue;
        }
        let body = line.split(" [Times:").next().unwrap();
        let secs = body.rsplit(", ").next().unwrap().trim_end_matches(" secs]");
        max = max.max(secs.trim().parse::<f64>().unwrap() * 1e3);
        count += 1;
        full += u64::from(line.contains("[Full GC"));
    }
    (count, full, max)
}

fn check_jdk8(name: &str, collector: Option<&str>) -> heapwise_gc::GcReport {
    let (text, log, report) = fixture(name);
    let (count, full, max) = scan_jdk8(&text);
    assert_eq!(log.format, LogFormat::Jvm8, "{name}");
    assert_eq!(report.collector.as_deref(), collector, "{name}");
    assert_eq!(report.collections, count, "{name}");
    assert_eq!(report.pauses.count, count, "{name}");
    assert!((report.pauses.max_ms.unwrap() - max).abs() < 1e-9, "{name}");
    assert!(report.collections_by_kind.full >= full, "{name}");
    assert_eq!(report.lines.malformed, 0, "{name}");
    report
}

#[test]
fn jdk8_parallel_leak_with_full_collections() {
    let report = check_jdk8("jdk8_parallel_leak.log", Some("Parallel"));
    assert_eq!(report.collections_by_kind.full, 12);
    // Twelve full collections: enough to judge the heap after them alone.
    assert_eq!(report.heap_after_gc.basis, SeriesBasis::Major);
    assert!(report.heap_after_gc.leak, "{}", report.heap_after_gc.reason);
    assert_eq!(report.heap_after_gc.max_heap_bytes, Some(536_870_912));
    assert!(report.heap_after_gc.time_to_max_heap_s.is_some());
    assert!(report.promotion_rate_bytes_per_s.unwrap() > 0.0);
    // One full collection took 143.2 ms; the others stay under 131 ms.
    assert!((report.long_pauses.longest[0].pause_ms - 143.2107).abs() < 1e-9);
}

#[test]
fn jdk8_g1_multi_line_details() {
    let (text, log, _) = fixture("jdk8_g1_steady.log");
    let report = check_jdk8("jdk8_g1_steady.log", Some("G1"));
    // Heap sizes come from the `[Eden: … Heap: B(T)->A(T)]` lines.
    let afters: Vec<f64> = text
        .lines()
        .filter_map(|l| l.split("Heap: ").nth(1))
        .map(|h| {
            h.split("->")
                .nth(1)
                .unwrap()
                .split('M')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    let pauses: Vec<_> = log
        .events
        .iter()
        .filter(|e| e.name.starts_with("GC pause"))
        .collect();
    assert_eq!(pauses.len(), afters.len());
    for (event, after) in pauses.iter().zip(&afters) {
        let expected = (after * 1024.0 * 1024.0).round() as u64;
        assert_eq!(event.heap_after_bytes, Some(expected));
    }
    assert_eq!(report.collections_by_kind.minor, 28);
    let remark = log.events.iter().find(|e| &*e.name == "GC remark").unwrap();
    assert_eq!((remark.kind, remark.pause_ms), (GcKind::Major, Some(3.1)));
    assert!(
        !report.heap_after_gc.leak,
        "{}",
        report.heap_after_gc.reason
    );
}

#[test]
fn jdk8_cms() {
    let report = check_jdk8("jdk8_cms_steady.log", Some("CMS"));
    // Three CMS cycles, each with an initial mark and a final remark.
    assert_eq!(report.collections_by_kind.major, 6);
    assert!(
        !report.heap_after_gc.leak,
        "{}",
        report.heap_after_gc.reason
    );
}

#[test]
fn jdk8_plain_verbose_gc_without_timestamps() {
    let (_, log, _) = fixture("jdk8_serial_plain_leak.log");
    let report = check_jdk8("jdk8_serial_plain_leak.log", None);
    assert_eq!(log.clock, Clock::None);
    assert_eq!(report.gc_overhead_percent, None);
    assert_eq!(report.duration_s, None);
    let heap = &report.heap_after_gc;
    assert!(heap.leak, "{}", heap.reason);
    assert_eq!(heap.slope_bytes_per_s, None);
    assert!(heap.slope_bytes_per_collection.unwrap() > 0.0);
    assert!(report.warnings.iter().any(|w| w.contains("no timestamps")));
}

//! The analysis on logs built line by line here, so every expected number
//! follows from how the log was built.

use heapwise_gc::{AnalysisOptions, FindingKind, GcReport, Pattern, analyze, read_log};

fn report(text: &str) -> GcReport {
    let log = read_log(text.as_bytes(), None).unwrap();
    analyze(&log, &AnalysisOptions::default())
}

/// A JVM (Parallel, `-Xlog:gc*`) whose live data fills a 128 MiB heap:
/// young collections, then full collections back to back that free little.
fn heap_too_small() -> String {
    let mut text = String::from(
        "[0.001s][info][gc] Using Parallel\n[0.002s][info][gc,init] Heap Max Capacity: 128M\n",
    );
    let mut t = 0.1;
    let mut id = 0;
    for round in 0..20 {
        for _ in 0..3 {
            text.push_str(&format!(
                "[{t:.3}s][info][gc] GC({id}) Pause Young (Allocation Failure) 120M->{}M(128M) 4.000ms\n",
                110 + round % 2
            ));
            id += 1;
            t += 0.05;
        }
        for _ in 0..3 {
            text.push_str(&format!(
                "[{t:.3}s][info][gc] GC({id}) Pause Full (Ergonomics) 124M->{}M(128M) 120.000ms\n",
                108 + round % 3
            ));
            id += 1;
            t += 0.13;
        }
    }
    text
}

#[test]
fn full_heap_with_back_to_back_full_collections_is_heap_too_small() {
    let report = report(&heap_too_small());
    assert_eq!(report.collections, 120);
    assert_eq!(report.collections_by_kind.full, 60);
    assert_eq!(report.back_to_back_full.len(), 20);
    assert!(report.back_to_back_full.iter().all(|run| run.count == 3));
    assert!(
        !report.heap_after_gc.leak,
        "{}",
        report.heap_after_gc.reason
    );
    assert_eq!(report.findings[0].kind, FindingKind::HeapTooSmall);
    // 60 pauses of 120 ms are long pauses.
    assert_eq!(report.long_pauses.count, 60);
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::LongPauses)
    );
    let occupancy = report.occupancy_after_gc.unwrap();
    assert!(occupancy > 0.8 && occupancy < 0.9, "{occupancy}");
    assert!(report.warnings.iter().any(|w| w.contains("back to back")));
}

#[test]
fn busy_collector_with_a_small_heap_after_gc_is_allocation_rate() {
    // 5 ms young pauses every 50 ms: 10 % overhead; 8 MiB after GC of 1 GiB.
    let mut text = String::new();
    for i in 0..200 {
        let t = 0.05 * f64::from(i);
        text.push_str(&format!(
            "[{t:.3}s][info][gc] GC({i}) Pause Young (Normal) (G1 Evacuation Pause) 200M->8M(1024M) 5.000ms\n"
        ));
    }
    let report = report(&text);
    let overhead = report.gc_overhead_percent.unwrap();
    // 200 pauses of 5 ms over 9.95 s.
    assert!(
        (overhead - 1000.0 / 9950.0 * 100.0).abs() < 1e-9,
        "{overhead}"
    );
    // Each collection found 192 MiB more than the previous one left.
    let rate = report.allocation_rate_bytes_per_s.unwrap();
    let expected = 199.0 * 192.0 * 1024.0 * 1024.0 / 9.95;
    assert!((rate - expected).abs() < 1.0, "{rate} vs {expected}");
    assert_eq!(report.heap_after_gc.pattern, Pattern::Stable);
    assert_eq!(report.findings[0].kind, FindingKind::AllocationRateTooHigh);
    assert_eq!(report.pauses.p50_ms, Some(5.0));
}

#[test]
fn a_calm_collector_is_healthy() {
    let mut text = String::new();
    for i in 0..100 {
        let t = f64::from(i);
        text.push_str(&format!(
            "[{t:.3}s][info][gc] GC({i}) Pause Young (Normal) (G1 Evacuation Pause) 60M->{}M(256M) 2.000ms\n",
            20 + i % 3
        ));
    }
    let report = report(&text);
    assert_eq!(report.findings.len(), 1);
    assert_eq!(report.findings[0].kind, FindingKind::Healthy);
    assert!(report.long_pauses.longest.is_empty());
    assert!(report.back_to_back_full.is_empty());
}

#[test]
fn zgc_without_pause_times_says_so() {
    let mut text = String::from("[0.010s][info][gc] Using The Z Garbage Collector\n");
    for i in 0..30 {
        let t = 0.1 + 0.2 * f64::from(i);
        text.push_str(&format!(
            "[{t:.3}s][info][gc] GC({i}) Garbage Collection (Allocation Rate) 90M(70%)->{}M(8%)\n",
            10 + i
        ));
    }
    let report = report(&text);
    assert_eq!(report.collector.as_deref(), Some("ZGC"));
    assert_eq!(report.pauses.count, 0);
    assert_eq!(report.pauses.total_ms, 0.0);
    assert_eq!(report.pauses.max_ms, None);
    assert_eq!(report.gc_overhead_percent, None);
    assert!(report.warnings.iter().any(|w| w.contains("-Xlog:gc*")));
    // Every ZGC cycle is major: the series is the heap after each, +1 MiB
    // per 0.2 s.
    assert_eq!(report.collections_by_kind.major, 30);
    assert!(report.heap_after_gc.leak);
    let slope = report.heap_after_gc.slope_bytes_per_s.unwrap();
    assert!((slope - 5.0 * 1024.0 * 1024.0).abs() < 1.0, "{slope}");
}

#[test]
fn node_worker_isolates_are_judged_apart() {
    // The main isolate's heap is flat; a worker's (fewer collections) grows.
    let mut text = String::new();
    for i in 0..60 {
        let t = 10 * i;
        text.push_str(&format!(
            "[7:0x1000]  {t} ms: Scavenge 8.0 (10.0) -> 4.0 (10.0) MB, 1.00 / 0.00 ms  (average mu = 1.000, current mu = 1.000) allocation failure;\n"
        ));
        if i % 2 == 0 {
            text.push_str(&format!(
                "[7:0x2000]  {t} ms: Scavenge 8.0 (40.0) -> {}.0 (40.0) MB, 1.00 / 0.00 ms  (average mu = 1.000, current mu = 1.000) allocation failure;\n",
                4 + i / 2
            ));
        }
    }
    let report = report(&text);
    assert_eq!(report.collections, 90);
    assert!(
        !report.heap_after_gc.leak,
        "{}",
        report.heap_after_gc.reason
    );
    assert!(report.warnings.iter().any(|w| w.contains("2 V8 isolates")));
    // Allocation is chained per isolate: 4 MiB per collection on the main
    // one, 8 - (4 + k) MiB on the worker.
    assert!(report.allocation_rate_bytes_per_s.is_some());
}

#[test]
fn report_json_has_the_contract_fields() {
    let report = report(&heap_too_small());
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["schema"], "heapwise.gc/1");
    assert_eq!(json["runtime"], "jvm");
    assert_eq!(json["collector"], "Parallel");
    assert_eq!(json["collections"], 120);
    for key in [
        "count", "total_ms", "mean_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms",
    ] {
        assert!(json["pauses"][key].is_number(), "pauses.{key}");
    }
    assert!(json["gc_overhead_percent"].is_number());
    assert_eq!(json["heap_after_gc"]["leak"], false);
    assert!(json["heap_after_gc"]["pattern"].is_string());
    assert!(json["heap_after_gc"]["slope_bytes_per_s"].is_number());
    assert!(json["warnings"].is_array());
    let none = serde_json::to_value(self::report(
        "[0.1s][info][gc] GC(0) Garbage Collection (Warmup) 52M(41%)->10M(8%)\n",
    ))
    .unwrap();
    assert!(none["pauses"]["mean_ms"].is_null());
    assert!(none["gc_overhead_percent"].is_null());
    assert!(none["heap_after_gc"]["slope_bytes_per_s"].is_null());
}

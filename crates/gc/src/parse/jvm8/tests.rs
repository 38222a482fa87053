use super::*;
use crate::model::LogFormat;

const K: u64 = 1024;

fn parse(lines: &[&str]) -> (GcLog, Vec<LineUse>) {
    let mut parser = Jvm8Parser::default();
    let (mut log, uses) = crate::parse::parse_lines(&mut parser, LogFormat::Jvm8, lines);
    parser.finish(&mut log);
    (log, uses)
}

#[test]
fn parallel_young_and_full() {
    let (log, _) = parse(&[
        "CommandLine flags: -XX:InitialHeapSize=16777216 -XX:MaxHeapSize=268435456 -XX:+PrintGCDetails",
        "2015-05-26T14:45:37.987-0200: 151.126: [GC (Allocation Failure) [PSYoungGen: 132096K->16182K(152576K)] 132096K->16190K(500736K), 0.0195640 secs] [Times: user=0.06 sys=0.00, real=0.02 secs]",
        "2015-05-26T14:45:59.690-0200: 172.829: [Full GC (Ergonomics) [PSYoungGen: 93677K->70109K(254976K)] [ParOldGen: 499597K->511230K(761856K)] 593275K->581339K(1016832K), [Metaspace: 2936K->2936K(1056768K)], 0.0713174 secs] [Times: user=0.21 sys=0.02, real=0.07 secs]",
    ]);
    assert_eq!(log.max_heap_bytes, Some(268_435_456));
    assert_eq!(log.collector.as_deref(), Some("Parallel"));
    let young = &log.events[0];
    assert_eq!((young.kind, young.t_s), (GcKind::Minor, Some(151.126)));
    assert_eq!(young.pause_ms, Some(19.564));
    assert_eq!(young.heap_before_bytes, Some(132_096 * K));
    assert_eq!(young.heap_after_bytes, Some(16_190 * K));
    assert_eq!(young.heap_total_bytes, Some(500_736 * K));
    assert_eq!(young.promoted_bytes, Some(8 * K));
    assert_eq!(young.cause.as_deref(), Some("Allocation Failure"));
    let full = &log.events[1];
    assert_eq!((full.kind, &*full.name), (GcKind::Full, "Full GC"));
    assert_eq!(full.heap_after_bytes, Some(581_339 * K));
    assert_eq!(full.pause_ms, Some(71.3174));
}

#[test]
fn serial_cms_and_bare() {
    let (log, uses) = parse(&[
        "151.126: [GC (Allocation Failure) 151.126: [DefNew: 629119K->69888K(629120K), 0.0584157 secs] 1619346K->1273247K(2027264K), 0.0585007 secs] [Times: user=0.06 sys=0.00, real=0.06 secs]",
        "152.0: [GC (Allocation Failure) 152.0: [DefNew: 629120K->629120K(629120K), 0.0000372 secs]152.0: [Tenured: 1203359K->755802K(1398144K), 0.1855567 secs] 1832479K->755802K(2027264K), [Metaspace: 6741K->6741K(1056768K)], 0.1856954 secs]",
        "64.425: [GC (CMS Initial Mark) [1 CMS-initial-mark: 10812086K(11901376K)] 10887844K(12514816K), 0.0001997 secs] [Times: user=0.00 sys=0.00, real=0.00 secs]",
        "64.425: [CMS-concurrent-mark-start]",
        "[GC (Allocation Failure)  33280K->2960K(125952K), 0.0034 secs]",
        "[GC (Allocation Failure)  33280K->2960K(125952K), 0.00]",
    ]);
    assert_eq!(
        uses,
        [
            LineUse::Event,
            LineUse::Event,
            LineUse::Event,
            LineUse::Skipped,
            LineUse::Event,
            LineUse::Malformed
        ]
    );
    assert_eq!(log.collector.as_deref(), Some("Serial"));
    assert_eq!(log.events[0].pause_ms, Some(58.5007));
    assert_eq!(log.events[0].heap_after_bytes, Some(1_273_247 * K));
    assert_eq!(log.events[1].kind, GcKind::Full);
    let mark = &log.events[2];
    assert_eq!(mark.kind, GcKind::Major);
    assert!(!mark.ends_collection);
    assert_eq!(mark.heap_total_bytes, Some(12_514_816 * K));
    assert_eq!(log.events[3].t_s, None);
}

#[test]
fn g1_detail_and_plain() {
    let (log, uses) = parse(&[
        "2014-07-14T01:33:18.136-0400: 0.107: [GC pause (G1 Evacuation Pause) (young), 0.0041820 secs]",
        "   [Parallel Time: 3.5 ms, GC Workers: 8]",
        "      [GC Worker Start (ms): Min: 107.1, Avg: 107.2, Max: 107.2, Diff: 0.1]",
        "   [Eden: 24.0M(24.0M)->0.0B(13.0M) Survivors: 0.0B->3072.0K Heap: 24.0M(256.0M)->21.8M(256.0M)]",
        " [Times: user=0.01 sys=0.00, real=0.00 secs]",
        "2014-07-14T01:33:19.136-0400: 1.107: [GC pause (G1 Evacuation Pause) (mixed) 30M->12M(256M), 0.0061 secs]",
        "1.7: [GC remark 1.7: [Finalize Marking, 0.0001 secs] 1.7: [GC ref-proc, 0.0001 secs] 1.7: [Unloading, 0.0010 secs], 0.0021 secs]",
        "1.8: [GC cleanup 22M->22M(256M), 0.0003 secs]",
        "1.6: [GC concurrent-root-region-scan-start]",
        "2.0: [Full GC (Allocation Failure)  255M->180M(256M), 0.5000000 secs]",
    ]);
    assert_eq!(uses[2], LineUse::Skipped);
    assert_eq!(uses[3], LineUse::Detail);
    assert_eq!(uses[8], LineUse::Skipped);
    assert_eq!(log.collector.as_deref(), Some("G1"));
    let kinds: Vec<_> = log.events.iter().map(|e| (&*e.name, e.kind)).collect();
    assert_eq!(
        kinds,
        [
            ("GC pause (young)", GcKind::Minor),
            ("GC pause (mixed)", GcKind::Major),
            ("GC remark", GcKind::Major),
            ("GC cleanup", GcKind::Major),
            ("Full GC", GcKind::Full),
        ]
    );
    let young = &log.events[0];
    assert_eq!(
        young.heap_after_bytes,
        Some((21.8 * 1024.0 * 1024.0f64).round() as u64)
    );
    assert_eq!(young.cause.as_deref(), Some("G1 Evacuation Pause"));
    // Young 24 MiB -> 3 MiB, heap 24 MiB -> 21.8 MiB: 18.8 MiB promoted.
    let promoted = young.promoted_bytes.unwrap() as f64 / (1024.0 * 1024.0);
    assert!((promoted - 18.8).abs() < 0.01, "{promoted}");
    assert_eq!(log.events[2].pause_ms, Some(2.1));
    assert_eq!(log.events[4].heap_after_bytes, Some(180 * 1024 * K));
}

#[test]
fn an_event_spans_the_lines_its_flags_add() {
    // -XX:+PrintTenuringDistribution with -XX:+PrintFLSStatistics: one
    // event over nine lines, its pause the last `, N secs]`.
    let (log, uses) = parse(&[
        "2015-05-13T13:28:51.504-0400: 12.357: [GC Before GC:",
        "Statistics for BinaryTreeDictionary:",
        " free=469745664 frag=0.0000",
        "12.357: [ParNew",
        "Desired survivor size 134217728 bytes, new threshold 1 (max 1)",
        "- age   1:   19742112 bytes,   19742112 total",
        ": 830688K->25255K(1310720K), 0.1302057 secs] 830688K->36167K(4980736K)After GC:",
        " free=468348985 frag=0.0010",
        ", 0.1306264 secs] [Times: user=0.45 sys=0.02, real=0.12 secs]",
    ]);
    assert_eq!(log.events.len(), 1);
    assert_eq!(uses[8], LineUse::Event);
    assert!(uses[..8].iter().all(|u| *u == LineUse::Detail), "{uses:?}");
    let event = &log.events[0];
    assert_eq!((event.line, event.t_s), (1, Some(12.357)));
    assert_eq!(event.pause_ms, Some(130.6264));
    assert_eq!(event.heap_after_bytes, Some(36_167 * K));
    assert_eq!(log.collector.as_deref(), Some("CMS"));
}

#[test]
fn a_young_collection_inside_a_remark_is_an_event_of_its_own() {
    let (log, _) = parse(&[
        "2016-04-14T22:30:13.217+0200: 5.161: [GC (CMS Final Remark) [YG occupancy: 152796 K (245760 K)]2016-04-14T22:30:13.217+0200: 5.161: [GC (CMS Final Remark) 5.161: [ParNew: 152796K->9726K(245760K), 0.0090205 secs] 181966K->38896K(791936K), 0.0090755 secs] [Times: user=0.11 sys=0.00, real=0.01 secs] ",
        "5.170: [Rescan (parallel) , 0.0026815 secs]5.173: [weak refs processing, 0.0000261 secs][1 CMS-remark: 29170K(546176K)] 38896K(791936K), 0.0236219 secs] [Times: user=0.16 sys=0.00, real=0.02 secs] ",
    ]);
    let events: Vec<_> = log
        .events
        .iter()
        .map(|e| (e.kind, e.pause_ms, e.line))
        .collect();
    assert_eq!(
        events,
        [
            (GcKind::Minor, Some(9.0755), 1),
            (GcKind::Major, Some(23.6219), 1)
        ]
    );
    assert_ne!(log.events[0].collection, log.events[1].collection);
}

#[test]
fn an_event_cut_by_the_end_of_the_file_is_unfinished() {
    let (log, _) = parse(&[
        "0.1: [GC (Allocation Failure) [PSYoungGen: 1000K->100K(2000K)] 1000K->200K(4000K), 0.0010000 secs]",
        "0.2: [GC (Allocation Failure) [PSYoungGen: 1000K->",
        "partial",
    ]);
    assert_eq!(log.events.len(), 1);
    assert_eq!(log.lines.unfinished_events, 1);
    assert_eq!(log.lines.unread, 2);
}

#[test]
fn a_new_jvm_header_after_events_starts_a_run() {
    let (log, _) = parse(&[
        "Java HotSpot(TM) 64-Bit Server VM (25.45-b02) for linux-amd64 JRE (1.8.0_45-b14)",
        "10.0: [GC (Allocation Failure) [PSYoungGen: 1000K->100K(2000K)] 1000K->200K(4000K), 0.0010000 secs]",
        "20.0: [GC (Allocation Failure) [PSYoungGen: 1000K->",
        "Java HotSpot(TM) 64-Bit Server VM (25.45-b02) for linux-amd64 JRE (1.8.0_45-b14)",
        "CommandLine flags: -XX:+UseParallelGC",
        "1.0: [GC (Allocation Failure) [PSYoungGen: 1000K->100K(2000K)] 1000K->200K(4000K), 0.0010000 secs]",
        "9.0: [GC (Allocation Failure) [PSYoungGen: 1000K->100K(2000K)] 1000K->200K(4000K), 0.0010000 secs]",
        "2.0: [GC (Allocation Failure) [PSYoungGen: 1000K->100K(2000K)] 1000K->200K(4000K), 0.0010000 secs]",
    ]);
    assert_eq!(log.run_starts, [4, 8]);
    let runs: Vec<_> = log.events.iter().map(|e| e.run).collect();
    assert_eq!(runs, [0, 1, 1, 2]);
    assert_eq!(log.lines.unfinished_events, 1);
    assert_eq!(log.duration_s(), Some(8.0));
}

#[test]
fn shenandoah_backport_cycles() {
    let (log, _) = parse(&[
        "25.465: [Pause Init Mark, 43.460 ms]",
        "25.508: [Concurrent marking 178G->184G(256G), 3685.818 ms]",
        "29.197: [Pause Final MarkTotal Garbage: 44620M",
        " 184G->181G(256G), 4.730 ms]",
        "31.417: [Pause Final Update Refs 184G->172G(256G), 3.659 ms]",
        "58.770: [Pause Init Mark, 8.571 ms]",
    ]);
    let events: Vec<_> = log
        .events
        .iter()
        .map(|e| (&*e.name, e.collection, e.ends_collection))
        .collect();
    assert_eq!(
        events,
        [
            ("Pause Init Mark", 0, false),
            ("Pause Final Mark", 0, false),
            ("Pause Final Update Refs", 0, true),
            ("Pause Init Mark", 1, false),
        ]
    );
    assert_eq!(log.collector.as_deref(), Some("Shenandoah"));
}

#[test]
fn array_classes_in_a_class_histogram_open_no_bracket() {
    let (log, _) = parse(&[
        "11662.232: [Full GC 11662.233: [Class Histogram:",
        " num     #instances         #bytes  class name",
        "----------------------------------------------",
        "   1:       9249662      876131272  [C",
        "   4:       4149724      232421736  [Ljava.lang.Object;",
        "  12:        626801       56922584  [[Ljava.util.HashMap$Entry;",
        "Total      16227637     1059670840",
        ", 9.7637786 secs]",
        " 3198859K->635365K(7848704K), [CMS Perm : 851635K->408849K(1048576K)], 94.9116214 secs] [Times: user=94.88 sys=0.24, real=94.91 secs]",
    ]);
    assert_eq!(log.events.len(), 1);
    assert_eq!(log.events[0].kind, GcKind::Full);
    assert_eq!(log.events[0].pause_ms, Some(94_911.621_4));
    assert_eq!(log.events[0].heap_after_bytes, Some(635_365 * K));
    assert_eq!(log.lines.unfinished_events, 0);
}

#[test]
fn jdk_1_4_adaptive_size_policy_glued_to_the_bracket_is_an_event() {
    let (log, uses) = parse(&[
        "0.207: [Full GCAdaptiveSizePolicy::old generation size: collection: 4 (17563648) -> (18743296) ",
        "AdaptiveSizePolicy::young generation size: collection: 4 (28573696) -> (47710208) ",
        " 10036K->9989K(64384K), 0.0053011 secs]",
    ]);
    assert_eq!(uses, [LineUse::Detail, LineUse::Detail, LineUse::Event]);
    assert_eq!(log.events[0].kind, GcKind::Full);
    assert!((log.events[0].pause_ms.unwrap() - 5.3011).abs() < 1e-9);
    assert_eq!(log.events[0].heap_after_bytes, Some(9_989 * K));
}

#[test]
fn a_shenandoah_pause_announced_with_start_is_no_broken_event() {
    let (log, uses) = parse(&[
        "2.469: [Pause Init Mark (process weakrefs), start]",
        "    Using 2 of 2 workers for init marking",
        "2.472: [Pause Init Mark (process weakrefs), 3.341 ms]",
    ]);
    assert_eq!(uses, [LineUse::Detail, LineUse::Skipped, LineUse::Event]);
    assert_eq!(log.events.len(), 1);
    assert_eq!(log.lines.malformed, 0);
}

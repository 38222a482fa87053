//! Real Node.js logs: `node --trace-gc` and `--trace-gc-nvp` on a script
//! that leaks and one that does not, generated once per test run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use heapwise_gc::{FindingKind, LogFormat, Runtime, SeriesBasis};

use crate::util::{Count, analyse, count_node, count_nvp, run, scratch, test_file};

/// Ticks of the scripts: about a second each, a few hundred collections.
const TICKS: &str = "20000";

pub struct NodeLogs {
    pub leak: PathBuf,
    pub steady: PathBuf,
    pub leak_nvp: PathBuf,
    pub steady_nvp: PathBuf,
}

pub fn logs() -> &'static NodeLogs {
    static LOGS: OnceLock<NodeLogs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let dir = scratch("node");
        let generate = |flag: &str, script: &str, name: &str| {
            let output = run(Command::new("node")
                .arg(flag)
                .arg(test_file(&format!("scripts/{script}")))
                .arg(TICKS));
            let path = dir.join(name);
            std::fs::write(&path, &output.stdout).unwrap();
            path
        };
        // Two at a time: the machine has two cores.
        std::thread::scope(|s| {
            let leak = s.spawn(|| generate("--trace-gc", "leak.js", "leak.log"));
            let steady = s.spawn(|| generate("--trace-gc", "steady.js", "steady.log"));
            let (leak, steady) = (leak.join().unwrap(), steady.join().unwrap());
            let leak_nvp = s.spawn(|| generate("--trace-gc-nvp", "leak.js", "leak-nvp.log"));
            let steady_nvp = s.spawn(|| generate("--trace-gc-nvp", "steady.js", "steady-nvp.log"));
            NodeLogs {
                leak,
                steady,
                leak_nvp: leak_nvp.join().unwrap(),
                steady_nvp: steady_nvp.join().unwrap(),
            }
        })
    })
}

fn check_counts(path: &Path, format: LogFormat, expected: &Count) {
    let (log, report) = analyse(path);
    assert_eq!(log.format, format, "{}", path.display());
    assert_eq!(report.runtime, Runtime::Node);
    assert!(
        expected.collections > 50,
        "too few collections: {expected:?}"
    );
    assert_eq!(report.collections, expected.collections);
    assert_eq!(report.events, expected.collections);
    assert_eq!(
        report.collections_by_kind.major + report.collections_by_kind.full,
        expected.majors
    );
    assert_eq!(report.pauses.count, expected.pauses);
    assert_eq!(report.pauses.max_ms, Some(expected.max_pause_ms));
    assert_eq!(report.lines.malformed, 0);
    assert_eq!(
        report.lines.events + report.lines.skipped,
        report.lines.total
    );
}

#[test]
fn trace_gc_counts_match_an_independent_scan() {
    for path in [&logs().leak, &logs().steady] {
        let text = std::fs::read_to_string(path).unwrap();
        check_counts(path, LogFormat::Node, &count_node(&text));
    }
}

#[test]
fn trace_gc_nvp_counts_match_an_independent_scan() {
    for path in [&logs().leak_nvp, &logs().steady_nvp] {
        let text = std::fs::read_to_string(path).unwrap();
        check_counts(path, LogFormat::NodeNvp, &count_nvp(&text));
    }
}

#[test]
fn the_leaky_script_is_a_leak_in_both_formats() {
    for path in [&logs().leak, &logs().leak_nvp] {
        let (_, report) = analyse(path);
        let heap = &report.heap_after_gc;
        assert!(heap.leak, "{}: {}", path.display(), heap.reason);
        assert!(heap.slope_bytes_per_s.unwrap() > 0.0);
        assert_eq!(report.findings[0].kind, FindingKind::LiveDataGrowing);
        // The script keeps 40 objects per tick: the heap after GC ends far
        // above where it started.
        assert!(heap.last_bytes.unwrap() > 4 * heap.first_bytes.unwrap());
    }
}

#[test]
fn the_steady_script_is_not_a_leak_in_either_format() {
    for path in [&logs().steady, &logs().steady_nvp] {
        let (_, report) = analyse(path);
        let heap = &report.heap_after_gc;
        assert!(!heap.leak, "{}: {}", path.display(), heap.reason);
        assert!(
            !report
                .findings
                .iter()
                .any(|f| f.kind == FindingKind::LiveDataGrowing)
        );
    }
}

#[test]
fn heap_after_gc_follows_the_log() {
    let path = &logs().leak;
    let text = std::fs::read_to_string(path).unwrap();
    let count = count_node(&text);
    let (_, report) = analyse(path);
    let heap = &report.heap_after_gc;
    let mib = |v: f64| (v * 1024.0 * 1024.0).round() as u64;
    if heap.basis == SeriesBasis::All {
        assert_eq!(heap.first_bytes, Some(mib(count.after_mib[0])));
        assert_eq!(heap.last_bytes, count.after_mib.last().map(|&v| mib(v)));
        let max = count.after_mib.iter().copied().fold(0.0, f64::max);
        assert_eq!(heap.max_bytes, Some(mib(max)));
    }
    assert!(heap.timeline.len() >= 2);
    assert!(report.duration_s.unwrap() > 0.0);
    assert!(report.gc_overhead_percent.unwrap() > 0.0);
    assert!(report.allocation_rate_bytes_per_s.unwrap() > 0.0);
}

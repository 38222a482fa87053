//! Real JVM logs: `GcLoad.java` (compiled here) run leaky and steady under
//! G1 and Parallel GC, each run writing `-Xlog:gc` and `-Xlog:gc*` (the
//! latter with other decorators) at once.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use heapwise_gc::{FindingKind, LogFormat, Runtime};

use crate::util::{analyse, count_jvm, run, scratch, test_file};

/// Megabytes each run allocates: a few hundred young collections in well
/// under a second (more on a loaded machine, never fewer).
const MEGABYTES: &str = "5000";

pub struct Run {
    /// `-Xlog:gc`, default decorators.
    pub gc: PathBuf,
    /// `-Xlog:gc*` with wall time, uptime in milliseconds, pid, tid, level, tags.
    pub gc_star: PathBuf,
}

pub struct JvmLogs {
    pub g1_leak: Run,
    pub g1_steady: Run,
    pub parallel_leak: Run,
    pub parallel_steady: Run,
}

fn classes() -> PathBuf {
    static CLASSES: OnceLock<PathBuf> = OnceLock::new();
    CLASSES
        .get_or_init(|| {
            let dir = scratch("jvm-classes");
            run(Command::new("javac")
                .arg("-d")
                .arg(&dir)
                .arg(test_file("java/GcLoad.java")));
            dir
        })
        .clone()
}

fn java(collector: &str, mode: &str, dir: &Path) -> Run {
    let gc = dir.join(format!("{collector}-{mode}-gc.log"));
    let gc_star = dir.join(format!("{collector}-{mode}-gc-star.log"));
    run(Command::new("java")
        .arg(format!("-XX:+Use{collector}GC"))
        .args(["-Xmx128m", "-Xmn16m", "-XX:-UsePerfData"])
        .arg(format!("-Xlog:gc:file={}", gc.display()))
        .arg(format!(
            "-Xlog:gc*:file={}:time,uptimemillis,pid,tid,level,tags",
            gc_star.display()
        ))
        .arg("-cp")
        .arg(classes())
        .args(["GcLoad", mode, MEGABYTES]));
    Run { gc, gc_star }
}

pub fn logs() -> &'static JvmLogs {
    static LOGS: OnceLock<JvmLogs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let dir = scratch("jvm");
        classes();
        std::thread::scope(|s| {
            let g1_leak = s.spawn(|| java("G1", "leak", &dir));
            let g1_steady = s.spawn(|| java("G1", "steady", &dir));
            let (g1_leak, g1_steady) = (g1_leak.join().unwrap(), g1_steady.join().unwrap());
            let parallel_leak = s.spawn(|| java("Parallel", "leak", &dir));
            let parallel_steady = s.spawn(|| java("Parallel", "steady", &dir));
            JvmLogs {
                g1_leak,
                g1_steady,
                parallel_leak: parallel_leak.join().unwrap(),
                parallel_steady: parallel_steady.join().unwrap(),
            }
        })
    })
}

fn all_runs() -> [(&'static str, &'static Run, bool); 4] {
    let logs = logs();
    [
        ("G1", &logs.g1_leak, true),
        ("G1", &logs.g1_steady, false),
        ("Parallel", &logs.parallel_leak, true),
        ("Parallel", &logs.parallel_steady, false),
    ]
}

#[test]
fn counts_and_longest_pause_match_an_independent_scan() {
    for (collector, run, _) in all_runs() {
        for path in [&run.gc, &run.gc_star] {
            let text = std::fs::read_to_string(path).unwrap();
            let expected = count_jvm(&text);
            let (log, report) = analyse(path);
            let name = path.display();
            assert_eq!(log.format, LogFormat::Jvm, "{name}");
            assert_eq!(report.runtime, Runtime::Jvm);
            assert_eq!(report.collector.as_deref(), Some(collector), "{name}");
            assert!(expected.collections > 50, "{name}: {expected:?}");
            assert_eq!(report.collections, expected.collections, "{name}");
            assert_eq!(
                report.collections_by_kind.major + report.collections_by_kind.full,
                expected.majors,
                "{name}"
            );
            assert_eq!(report.pauses.count, expected.pauses, "{name}");
            assert_eq!(report.pauses.max_ms, Some(expected.max_pause_ms), "{name}");
            assert_eq!(report.lines.malformed, 0, "{name}");
        }
    }
}

#[test]
fn both_logs_of_one_run_agree() {
    for (_, run, _) in all_runs() {
        let (_, gc) = analyse(&run.gc);
        let (_, star) = analyse(&run.gc_star);
        assert_eq!(gc.collections, star.collections);
        assert_eq!(gc.collections_by_kind, star.collections_by_kind);
        assert_eq!(gc.pauses, star.pauses);
        assert_eq!(gc.heap_after_gc.leak, star.heap_after_gc.leak);
        // Only -Xlog:gc* carries generation sizes and the maximum heap.
        assert_eq!(gc.promotion_rate_bytes_per_s, None);
        assert!(star.promotion_rate_bytes_per_s.is_some());
        assert_eq!(star.heap_after_gc.max_heap_bytes, Some(128 << 20));
    }
}

#[test]
fn leaky_runs_are_leaks_and_steady_runs_are_not() {
    for (collector, run, leaks) in all_runs() {
        for path in [&run.gc, &run.gc_star] {
            let (_, report) = analyse(path);
            let heap = &report.heap_after_gc;
            assert_eq!(
                heap.leak,
                leaks,
                "{collector} {}: {}",
                path.display(),
                heap.reason
            );
            let grows = report
                .findings
                .iter()
                .any(|f| f.kind == FindingKind::LiveDataGrowing);
            assert_eq!(grows, leaks);
        }
        if leaks {
            // With the maximum heap known, the forecast is finite.
            let (_, star) = analyse(&run.gc_star);
            let eta = star.heap_after_gc.time_to_max_heap_s.unwrap();
            assert!(eta.is_finite() && eta >= 0.0, "{eta}");
        }
    }
}

#[test]
fn wall_clock_decorators_do_not_change_the_span() {
    // -Xlog:gc* here has both wall time and uptime: uptime is used.
    let (log, report) = analyse(&logs().g1_leak.gc_star);
    assert_eq!(log.clock, heapwise_gc::Clock::Uptime);
    let duration = report.duration_s.unwrap();
    assert!(duration > 0.0 && duration < 600.0, "{duration}");
}

/// ZGC (pauses only under `-Xlog:gc*`, every cycle major) and Serial, on
/// the leaky program: counts against the independent scan. Serial must see
/// the leak; ZGC in a 128 MiB heap stalls the allocating thread and runs a
/// few long, overlapping cycles, too noisy in half a second for a verdict.
#[test]
fn zgc_and_serial_logs() {
    let dir = scratch("jvm-other");
    classes();
    std::thread::scope(|s| {
        for collector in ["Z", "Serial"] {
            let dir = &dir;
            s.spawn(move || {
                let path = dir.join(format!("{collector}-leak.log"));
                run(Command::new("java")
                    .arg(format!("-XX:+Use{collector}GC"))
                    .args(["-Xmx128m", "-XX:-UsePerfData"])
                    .arg(format!("-Xlog:gc*:file={}", path.display()))
                    .arg("-cp")
                    .arg(classes())
                    .args(["GcLoad", "leak", "3000"]));
                let text = std::fs::read_to_string(&path).unwrap();
                let expected = count_jvm(&text);
                let (_, report) = analyse(&path);
                let name = if collector == "Z" { "ZGC" } else { collector };
                assert_eq!(report.collector.as_deref(), Some(name));
                assert!(expected.collections > 10, "{expected:?}");
                assert_eq!(report.collections, expected.collections, "{collector}");
                assert_eq!(report.pauses.count, expected.pauses, "{collector}");
                assert_eq!(
                    report.pauses.max_ms,
                    Some(expected.max_pause_ms),
                    "{collector}"
                );
                if collector == "Serial" {
                    let heap = &report.heap_after_gc;
                    assert!(heap.leak, "{}", heap.reason);
                } else {
                    assert_eq!(report.collections_by_kind.major, report.collections);
                }
            });
        }
    });
}

//! The analysis `heapwise run` saves beside its trace: reports read it
//! instead of the trace, give what the trace gives, and never use one that
//! is not the trace's as it is now.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;

use serde_json::Value;

use super::util::*;

fn report(trace: &Path, format: &str, replay: bool) -> std::process::Output {
    heapwise()
        .args(["report", "--format", format])
        .args(replay.then_some("--replay"))
        .arg(trace)
        .output()
        .expect("heapwise runs")
}

fn json(out: &std::process::Output) -> Value {
    assert!(out.status.success(), "{}", stderr(out));
    serde_json::from_slice(&out.stdout).expect("report is JSON")
}

/// `sites N`: leaks N × 100 bytes from `leak_malloc`.
fn run_sites(dir: &Path, name: &str, n: &str) -> std::path::PathBuf {
    let out = run_traced(dir, name, &program("sites.c"), &[n]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    dir.join(name)
}

fn malloc_leak(report: &Value) -> (u64, u64) {
    let leak = leak_from(report, "leak_malloc");
    (
        leak["allocations"].as_u64().unwrap(),
        leak["bytes"].as_u64().unwrap(),
    )
}

#[test]
fn every_format_from_the_saved_analysis_is_the_traces() {
    let dir = test_dir("saved-formats");
    let trace = run_sites(&dir, "sites.hwt", "1000");
    assert!(
        saved_analysis(&trace).is_file(),
        "heapwise run saves its analysis beside the trace"
    );
    for format in ["text", "json", "html", "collapsed", "flamegraph", "pprof"] {
        let saved = report(&trace, format, false);
        let replayed = report(&trace, format, true);
        assert!(saved.status.success(), "{format}: {}", stderr(&saved));
        assert!(
            saved.stdout == replayed.stdout,
            "{format}: {}",
            first_difference(&saved.stdout, &replayed.stdout)
        );
    }
    // Followed to its end, the trace reports the same too (what `heapwise
    // run` appended after the end record included).
    let followed = heapwise()
        .args(["report", "--follow", "--no-tui", "--format", "json"])
        .arg(&trace)
        .output()
        .unwrap();
    let replayed = report(&trace, "json", true);
    assert!(
        followed.stdout == replayed.stdout,
        "--follow: {}",
        first_difference(&followed.stdout, &replayed.stdout)
    );
}

#[test]
fn the_report_reads_the_saved_analysis_not_the_trace() {
    let dir = test_dir("saved-used");
    let trace = run_sites(&dir, "sites.hwt", "1000");
    // Overwrite the trace's blocks with zeros in place, keeping its length,
    // inode and modification time: only the saved analysis still knows
    // what the program did.
    let modified = std::fs::metadata(&trace).unwrap().modified().unwrap();
    let file = OpenOptions::new().write(true).open(&trace).unwrap();
    let len = file.metadata().unwrap().len();
    let zeros = vec![0u8; (len - 200) as usize];
    file.write_all_at(&zeros, 200).unwrap();
    file.set_modified(modified).unwrap();
    drop(file);
    assert_eq!(
        malloc_leak(&json(&report(&trace, "json", false))),
        (1000, 1000 * 100),
        "the saved analysis holds the exact leak"
    );
    let replayed = report(&trace, "json", true);
    let lost = !replayed.status.success()
        || serde_json::from_slice::<Value>(&replayed.stdout).is_ok_and(|r| {
            r["leaks"].as_array().is_none_or(|leaks| {
                leaks
                    .iter()
                    .all(|l| l["frames"][0]["function"] != "leak_malloc")
            })
        });
    assert!(
        lost,
        "with --replay the zeroed trace is read, and the leak is not in it"
    );
}

#[test]
fn an_analysis_not_of_the_trace_as_it_is_is_not_used() {
    let dir = test_dir("saved-stale");
    let a = run_sites(&dir, "a.hwt", "1000");
    let b = run_sites(&dir, "b.hwt", "10");
    // Another trace's analysis.
    std::fs::copy(saved_analysis(&b), saved_analysis(&a)).unwrap();
    assert_eq!(malloc_leak(&report_json(&a)), (1000, 1000 * 100));
    // Damaged: bytes of its compressed part changed, or cut short.
    let _ = run_sites(&dir, "a.hwt", "1000");
    let saved = saved_analysis(&a);
    let bytes = std::fs::read(&saved).unwrap();
    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    for byte in &mut flipped[middle..middle + 16] {
        *byte ^= 0x5a;
    }
    std::fs::write(&saved, &flipped).unwrap();
    assert_eq!(malloc_leak(&report_json(&a)), (1000, 1000 * 100));
    std::fs::write(&saved, &bytes[..bytes.len() / 2]).unwrap();
    assert_eq!(malloc_leak(&report_json(&a)), (1000, 1000 * 100));
    // An earlier run's analysis at the same path.
    let _ = run_sites(&dir, "a.hwt", "1000");
    std::fs::write(&saved, &bytes).unwrap();
    assert_eq!(malloc_leak(&report_json(&a)), (1000, 1000 * 100));
}

#[test]
fn the_saved_analysis_keeps_the_frames_of_a_program_deleted_since() {
    let dir = test_dir("saved-symbols");
    // A copy of the program of its own, deleted once it has run: only
    // what the run symbolized and saved can still name its functions.
    let binary = dir.join("sites");
    std::fs::copy(program("sites.c"), &binary).unwrap();
    let trace = run_sites_binary(&dir, &binary);
    std::fs::remove_file(&binary).unwrap();
    let saved = json(&report(&trace, "json", false));
    let leak = leak_from(&saved, "leak_malloc");
    assert_eq!(
        (leak["allocations"].as_u64(), leak["bytes"].as_u64()),
        (Some(1000), Some(1000 * 100))
    );
    assert_eq!(
        leak["frames"][0]["line"].as_u64(),
        Some(line_of("sites.c", "leak_malloc")),
        "file and line from the saved symbols"
    );
    // Every frame in the deleted program, in every section (leaks, peak,
    // temporary, growth, old allocations), is named: the run saved the
    // answers for all that the report asks.
    let mut frames = Vec::new();
    frames_in(&saved, &mut frames);
    let ours: Vec<&Value> = frames
        .into_iter()
        .filter(|f| f["module"].as_str().is_some_and(|m| m.ends_with("/sites")))
        .collect();
    assert!(ours.len() > 3, "{ours:?}");
    assert!(
        ours.iter().all(|f| f["function"].is_string()),
        "{:?}",
        ours.iter()
            .filter(|f| !f["function"].is_string())
            .collect::<Vec<_>>()
    );
    let replayed = json(&report(&trace, "json", true));
    let named = replayed["leaks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["frames"][0]["function"] == "leak_malloc");
    assert!(
        !named,
        "read from the trace alone, the deleted program's frames have no names"
    );
}

fn run_sites_binary(dir: &Path, binary: &Path) -> std::path::PathBuf {
    let out = run_traced(dir, "sites.hwt", binary, &["1000"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    dir.join("sites.hwt")
}

/// Every frame object anywhere in a report.
fn frames_in<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Object(map) => {
            if map.contains_key("address") && map.contains_key("module") {
                out.push(value);
            }
            map.values().for_each(|v| frames_in(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| frames_in(v, out)),
        _ => {}
    }
}

#[test]
fn a_run_that_cannot_save_its_analysis_says_so_and_ends_as_the_program() {
    let dir = test_dir("saved-unwritable");
    // Where the analysis is written before it is renamed: a directory.
    std::fs::create_dir_all(dir.join("a.hwt.analysis.part")).unwrap();
    let out = run_traced(&dir, "a.hwt", &program("sites.c"), &["1000"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("could not save the analysis beside the trace"),
        "{}",
        stderr(&out)
    );
    assert!(!saved_analysis(&dir.join("a.hwt")).exists());
    assert_eq!(
        malloc_leak(&report_json(&dir.join("a.hwt"))),
        (1000, 1000 * 100)
    );
}

//! `heapwise run --max-size`: the trace never grows past the limit however
//! long the program runs, and its report still covers the whole run — the
//! leak of `programs/bounded.c` exactly (a full trace) or within its
//! sampling error (a sampled one), named a steady leak, with the cache
//! that fills and stays full not a leak.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde_json::Value;

use super::util::*;

/// Runs `bounded` under `heapwise run OPTIONS`, watching the trace's size
/// all along; returns (requests, leaked blocks, largest size seen, report).
fn run_bounded(name: &str, options: &[&str], args: &[&str]) -> (u64, u64, u64, Value) {
    let dir = test_dir(name);
    let trace = dir.join("bounded.hwt");
    let largest = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (trace, largest, done) = (trace.clone(), largest.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Acquire) {
                if let Ok(meta) = std::fs::metadata(&trace) {
                    largest.fetch_max(meta.len(), Ordering::AcqRel);
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        })
    };
    let mut all = vec!["--no-tui"];
    all.extend_from_slice(options);
    let out = run_traced_with(&dir, "bounded.hwt", &all, &program("bounded.c"), args);
    done.store(true, Ordering::Release);
    watcher.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let printed: Vec<u64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().parse().expect("a number"))
        .collect();
    let size = std::fs::metadata(&trace).unwrap().len();
    largest.fetch_max(size, Ordering::AcqRel);
    assert!(
        !Path::new(&dir.join(".bounded.hwt.compacting")).exists(),
        "no compaction file is left"
    );
    (
        printed[0],
        printed[1],
        largest.load(Ordering::Acquire),
        report_json(&trace),
    )
}

fn growth_of<'a>(report: &'a Value, function: &str) -> &'a Value {
    report["growth"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["frames"][0]["function"] == function)
        .unwrap_or_else(|| panic!("{function} not judged: {:#}", report["growth"]))
}

#[test]
fn a_full_trace_under_a_size_limit_stays_under_it_and_its_leaks_stay_exact() {
    let limit = 96 * 1024;
    let (requests, leaked, largest, report) =
        run_bounded("bounded_full", &["--max-size", "96KiB"], &["2500", "200"]);
    assert!(largest <= limit, "the trace reached {largest} bytes");
    let compacted = &report["trace"]["compacted"];
    assert!(
        compacted["compactions"].as_u64().unwrap() >= 2,
        "the run overflowed the limit several times: {compacted}"
    );
    // Every event since the last compaction is there; before it, history,
    // in a checkpoint of at most 90 % of the limit.
    assert!(compacted["detail_from_s"].as_f64().unwrap() > 0.5);
    let checkpoint = compacted["checkpoint_bytes"].as_u64().unwrap();
    assert!(
        checkpoint > 0 && checkpoint * 10 <= limit * 9,
        "{compacted}"
    );
    assert!(report["summary"]["duration_s"].as_f64().unwrap() > 2.4);
    // Exact, although most of the run was compacted.
    let leak = leak_from(&report, "leak_session");
    assert_eq!(leak["allocations"], leaked);
    assert_eq!(leak["bytes"], leaked * 64);
    assert_eq!(leaked, requests.div_ceil(32));
    let cache = leak_from(&report, "cache_put");
    assert_eq!(cache["allocations"], 2048);
    assert_eq!(cache["bytes"], 2048 * 512);
    let growth = growth_of(&report, "leak_session");
    assert_eq!(
        (growth["pattern"].as_str(), growth["leak"].as_bool()),
        (Some("linear"), Some(true)),
        "{growth}"
    );
    assert_eq!(growth_of(&report, "cache_put")["leak"], false);
}

#[test]
fn a_sampled_trace_stays_under_its_limit_and_estimates_the_whole_run() {
    let limit = 64 * 1024;
    let (_, leaked, largest, report) = run_bounded(
        "bounded_sampled",
        &["--sample", "4KiB", "--max-size", "64KiB"],
        &["3000", "20"],
    );
    assert!(largest <= limit, "the trace reached {largest} bytes");
    assert!(
        report["trace"]["compacted"]["compactions"]
            .as_u64()
            .unwrap()
            >= 2
    );
    let leak = leak_from(&report, "leak_session");
    let estimate = leak["bytes"].as_f64().unwrap();
    let truth = (leaked * 64) as f64;
    // Within four standard errors of the truth (the whole trace's error
    // bounds this stack's).
    let error = report["sampling"]["leaked_bytes_standard_error"]
        .as_f64()
        .unwrap();
    assert!(
        (estimate - truth).abs() < 4.0 * error.max(truth * 0.02),
        "estimate {estimate} vs truth {truth} (standard error {error})"
    );
    let growth = growth_of(&report, "leak_session");
    assert_eq!(growth["leak"], true, "{growth}");
    assert_eq!(growth_of(&report, "cache_put")["leak"], false);
}

#[test]
fn a_size_limit_too_small_or_not_a_size_is_refused() {
    let dir = test_dir("bounded_bad");
    let out = run_traced_with(
        &dir,
        "t.hwt",
        &["--no-tui", "--max-size", "1000"],
        &program("bounded.c"),
        &["10"],
    );
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(stderr(&out).contains("at least 64KiB"), "{}", stderr(&out));
    // The preload alone, with a bad HEAPWISE_MAX_SIZE: tracing off, one
    // line, the program unharmed.
    let preload = Path::new(env!("CARGO_BIN_EXE_heapwise"))
        .parent()
        .unwrap()
        .join("libheapwise_preload.so");
    let _ = heapwise().arg("--version").output();
    let out = std::process::Command::new(program("bounded.c"))
        .arg("10")
        .env("LD_PRELOAD", &preload)
        .env("HEAPWISE_OUTPUT", dir.join("alone.hwt"))
        .env("HEAPWISE_MAX_SIZE", "lots")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("HEAPWISE_MAX_SIZE=\"lots\" is not a size"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.join("alone.hwt").exists());
}

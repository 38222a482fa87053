//! Pausing and resuming a sampled trace at run time with its control file
//! (`crates/preload/src/pause.rs`): while paused nothing is allocated in
//! the trace, the pause is recorded and reported, and the verdicts still
//! name `programs/bounded.c`'s leak and not its cache.

use std::path::Path;
use std::time::{Duration, Instant};

use heapwise_trace::{ControlRecord, Event, StackTable, TraceReader};

use super::util::*;

/// Runs `bounded` under `heapwise run OPTIONS` and writes `off` into the
/// trace's control file after `off_at`, `on` after `on_at`.
fn run_paused(
    name: &str,
    options: &[&str],
    args: &[&str],
    off_at: Duration,
    on_at: Duration,
) -> std::path::PathBuf {
    let dir = test_dir(name);
    let trace = dir.join("paused.hwt");
    let control = dir.join("paused.hwt.control");
    let mut child = heapwise()
        .current_dir(&dir)
        .args(["run", "--no-tui", "-o"])
        .arg(&trace)
        .args(options)
        .arg("--")
        .arg(program("bounded.c"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    std::thread::sleep(off_at);
    std::fs::write(&control, "off\n").unwrap();
    std::thread::sleep(on_at.saturating_sub(start.elapsed()));
    std::fs::write(&control, "on\n").unwrap();
    assert!(child.wait().unwrap().success());
    trace
}

/// The `SAMPLING` records and the ticks of allocations recorded.
fn read(trace: &Path) -> (Vec<(u64, bool)>, Vec<u64>) {
    let (mut switches, mut allocations) = (Vec::new(), Vec::new());
    TraceReader::open(trace)
        .unwrap()
        .read_all(&mut |event: Event<'_>, _: &StackTable| match event {
            Event::Control(ControlRecord::Sampling { ts, paused }) => switches.push((*ts, *paused)),
            Event::Alloc { ts, .. } => allocations.push(ts),
            Event::Realloc { ts, .. } => allocations.push(ts),
            _ => {}
        })
        .unwrap();
    (switches, allocations)
}

#[test]
fn a_paused_sample_records_nothing_allocated_while_paused_and_says_so() {
    let trace = run_paused(
        "paused",
        &["--sample", "4KiB"],
        &["4000", "20"],
        Duration::from_millis(1000),
        Duration::from_millis(2500),
    );
    let (switches, allocations) = read(&trace);
    assert_eq!(switches.len(), 2, "{switches:?}");
    let ((from, true), (until, false)) = (switches[0], switches[1]) else {
        panic!("paused then resumed: {switches:?}");
    };
    let during = allocations
        .iter()
        .filter(|&&t| t > from && t < until)
        .count();
    let after = allocations.iter().filter(|&&t| t > until).count();
    // A thread stamps a sample just after it took it: a pass's worth of
    // samples taken before the pause may carry a tick just after it.
    assert!(during < 200, "{during} samples while paused");
    assert!(after > 1000, "sampling resumed: {after} samples after");
    let report = report_json(&trace);
    let sampling = &report["sampling"];
    assert_eq!(sampling["pauses"], 1);
    let paused = sampling["paused_s"].as_f64().unwrap();
    // The writer reads the file once a second.
    assert!((0.4..=2.6).contains(&paused), "paused for {paused} s");
    let text = heapwise().args(["report"]).arg(&trace).output().unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("Sampling was paused once"));
    let growth = |function: &str| {
        report["growth"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["frames"][0]["function"] == function)
            .unwrap_or_else(|| panic!("{function} judged"))
            .clone()
    };
    assert_eq!(
        growth("leak_session")["leak"],
        true,
        "{}",
        growth("leak_session")
    );
    assert_eq!(
        growth("cache_put")["leak"],
        false,
        "{}",
        growth("cache_put")
    );
}

#[test]
fn a_full_trace_is_not_paused_and_says_why() {
    let trace = run_paused(
        "paused_full",
        &[],
        &["3000", "500"],
        Duration::from_millis(500),
        Duration::from_millis(2500),
    );
    let (switches, _) = read(&trace);
    assert!(switches.is_empty());
    let report = report_json(&trace);
    assert!(
        report["warnings"].as_array().unwrap().iter().any(|w| w
            .as_str()
            .unwrap()
            .contains("a full trace cannot be paused")),
        "{:#}",
        report["warnings"]
    );
}

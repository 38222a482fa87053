//! End to end on real Node.js: scripts with known leaks take their own
//! snapshots, and the analyses must find exactly what the scripts did.
//!
//! These tests need `node` (Node.js 20 is part of this machine kind); without
//! it they fail with a message saying so rather than skipping.

use std::path::{Path, PathBuf};
use std::process::Command;

use heapwise_v8::{
    Cause, HeapGraph, LeakOptions, LeakReport, ObjectIndex, diff, find_leaks, read_snapshot_file,
};

use super::test_file;

/// Runs a script from `tests/node/` with `--expose-gc`.
fn run_node(script: &str, args: &[&str]) {
    let output = Command::new("node")
        .arg("--expose-gc")
        .arg(test_file(&format!("node/{script}")))
        .args(args)
        .output()
        .unwrap_or_else(|err| {
            panic!("these tests need Node.js (`node` on PATH, version 20 or later), which this machine kind provides: {err}")
        });
    assert!(
        output.status.success(),
        "node {script} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn ids(path: &Path) -> Vec<u32> {
    let file = std::fs::File::open(path).unwrap();
    heapwise_v8::read_node_ids(std::io::BufReader::new(file), None).unwrap()
}

fn graph(path: &Path) -> HeapGraph {
    HeapGraph::build(read_snapshot_file(path).unwrap(), None)
}

/// Runs server.js in `mode` and finds leaks in its three snapshots.
fn server_leaks(mode: &str, requests: u32, later: u32) -> (tempfile::TempDir, LeakReport) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    run_node(
        "server.js",
        &[mode, out, &requests.to_string(), &later.to_string()],
    );
    let file = |name: &str| -> PathBuf { dir.path().join(format!("{name}.heapsnapshot")) };
    let report = find_leaks(
        &ids(&file("baseline")),
        &ids(&file("target")),
        &graph(&file("final")),
        &LeakOptions::default(),
    );
    (dir, report)
}

fn leaked_count(report: &LeakReport, name: &str) -> u64 {
    report
        .by_constructor
        .iter()
        .find(|c| c.name == name)
        .map_or(0, |c| c.count)
}

#[test]
fn leaky_server_leaks_exactly_the_requests_between_baseline_and_target() {
    let requests = 150;
    let later = 40;
    let (_dir, report) = server_leaks("leaky", requests, later);
    assert_eq!(report.schema, "heapwise.heap-leaks/1");
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    // One listener-held context and one cached entry per request made between
    // baseline and target; the `later` ones were not in the target.
    assert_eq!(leaked_count(&report, "RequestContext"), u64::from(requests));
    assert_eq!(leaked_count(&report, "CacheEntry"), u64::from(requests));
    // Temporaries were dropped at the end of each request.
    assert_eq!(leaked_count(&report, "Temporary"), 0);
    // No V8 bookkeeping object is reported as a leak.
    assert!(
        report
            .by_constructor
            .iter()
            .all(|c| !c.name.starts_with("system / "))
    );

    let listener = report
        .clusters
        .iter()
        .find(|c| c.constructor == "RequestContext")
        .expect("a RequestContext cluster");
    assert_eq!(listener.count, u64::from(requests));
    assert_eq!(listener.cause, Cause::EventListener);
    let edges: Vec<&str> = listener
        .retainer_path
        .iter()
        .map(|s| s.edge.as_str())
        .collect();
    assert!(edges.contains(&"_events"), "path: {edges:?}");
    assert!(edges.contains(&"shutdown"), "path: {edges:?}");
    assert_eq!(
        listener.retainer_path.last().map(|s| s.edge.as_str()),
        Some("ctx")
    );
    assert!(listener.recommendation.contains("once()"));

    let cache = report
        .clusters
        .iter()
        .find(|c| c.constructor == "CacheEntry")
        .expect("a CacheEntry cluster");
    assert_eq!(cache.count, u64::from(requests));
    assert_eq!(cache.cause, Cause::UnboundedCollection);
    assert!(cache.retainer_path.iter().any(|s| s.node == "Map"));
    assert!(
        cache.recommendation.contains("'cache'"),
        "{}",
        cache.recommendation
    );
    // One cluster per way of holding: the requests do not scatter over many findings.
    assert_eq!(
        report
            .clusters
            .iter()
            .filter(|c| c.constructor == "RequestContext")
            .count(),
        1
    );
}

#[test]
fn clean_server_reports_no_leak_of_its_classes() {
    let (_dir, report) = server_leaks("clean", 150, 40);
    for name in ["RequestContext", "CacheEntry", "Temporary"] {
        assert_eq!(leaked_count(&report, name), 0, "{name} reported as leaked");
        assert!(report.clusters.iter().all(|c| c.constructor != name));
    }
}

#[test]
fn diff_counts_the_objects_created_and_released() {
    let dir = tempfile::tempdir().unwrap();
    let (kept, released, created) = (300u64, 120u64, 75u64);
    run_node(
        "diff.js",
        &[
            dir.path().to_str().unwrap(),
            &kept.to_string(),
            &released.to_string(),
            &created.to_string(),
        ],
    );
    let index = |name: &str| ObjectIndex::new(&read_snapshot_file(&dir.path().join(name)).unwrap());
    let result = diff(&index("before.heapsnapshot"), &index("after.heapsnapshot"));
    assert_eq!(result.schema, "heapwise.heap-diff/1");
    assert!(result.warnings.is_empty());
    let row = |name: &str| {
        result
            .constructors
            .iter()
            .find(|c| c.name == name)
            .unwrap()
            .clone()
    };
    let gadget = row("Gadget");
    assert_eq!(
        (gadget.new, gadget.deleted, gadget.delta),
        (0, released, -(released as i64))
    );
    assert_eq!(gadget.size_delta, -(gadget.freed_bytes as i64));
    let widget = row("Widget");
    assert_eq!(
        (widget.new, widget.deleted, widget.delta),
        (created, 0, created as i64)
    );
    assert!(
        widget.alloc_bytes >= created * 16,
        "each Widget has a header and fields"
    );
    assert_eq!(widget.alloc_bytes % created, 0, "all Widgets have one size");
}

#[test]
fn timer_callbacks_that_capture_are_a_closure_leak() {
    let dir = tempfile::tempdir().unwrap();
    let (sessions, later) = (60u32, 15u32);
    run_node(
        "timers.js",
        &[
            dir.path().to_str().unwrap(),
            &sessions.to_string(),
            &later.to_string(),
        ],
    );
    let file = |name: &str| -> PathBuf { dir.path().join(format!("{name}.heapsnapshot")) };
    let report = find_leaks(
        &ids(&file("baseline")),
        &ids(&file("target")),
        &graph(&file("final")),
        &LeakOptions::default(),
    );
    assert_eq!(leaked_count(&report, "Session"), u64::from(sessions));
    let cluster = report
        .clusters
        .iter()
        .find(|c| c.constructor == "Session")
        .expect("a Session cluster");
    assert_eq!(cluster.count, u64::from(sessions));
    assert_eq!(cluster.cause, Cause::Closure);
    assert_eq!(
        cluster.retainer_path.last().map(|s| s.edge.as_str()),
        Some("session")
    );
}

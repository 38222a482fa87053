//! Memory over time: growth verdicts per stack, the timeline, the peak,
//! temporary allocations, fragmentation.

use std::sync::OnceLock;

use serde_json::Value;

use super::util::*;

/// The server program's report and what it printed (its exact holdings at
/// each checkpoint), made once.
fn server() -> &'static (Value, Vec<u64>) {
    static RUN: OnceLock<(Value, Vec<u64>)> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = test_dir("server");
        let out = run_traced(&dir, "server.hwt", &program("server.c"), &["5000"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let held = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().parse().expect("a number"))
            .collect();
        (report_json(&dir.join("server.hwt")), held)
    })
}

fn growth_of<'a>(report: &'a Value, function: &str) -> Option<&'a Value> {
    report["growth"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["frames"][0]["function"] == function)
}

#[test]
fn an_unevicted_cache_grows_linearly_and_is_a_leak() {
    let (report, _) = server();
    let cache = growth_of(report, "cache_add").expect("cache_add judged");
    assert_eq!(cache["pattern"], "linear", "{cache}");
    assert_eq!(cache["leak"], true);
    assert!(cache["slope_bytes_per_s"].as_f64().unwrap() > 0.0);
    // 5000 entries of 64 bytes.
    assert_eq!(cache["live_bytes_end"], 5000 * 64);
}

#[test]
fn a_batch_leaked_every_n_requests_is_step_or_periodic_and_a_leak() {
    let (report, _) = server();
    let batch = growth_of(report, "batch_leak").expect("batch_leak judged");
    let pattern = batch["pattern"].as_str().unwrap();
    assert!(pattern == "step" || pattern == "periodic", "{batch}");
    assert_eq!(batch["leak"], true);
    assert_eq!(batch["live_bytes_end"], 5 * 50 * 1024);
}

#[test]
fn a_buffer_held_for_a_while_and_freed_is_not_a_leak() {
    let (report, _) = server();
    // Freed before the end: nothing of it is left, and no verdict calls it
    // a leak (a stack with nothing live at the end is not even judged).
    assert!(
        report["leaks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["frames"][0]["function"] != "hold_buffer"),
        "{}",
        report["leaks"]
    );
    assert!(
        growth_of(report, "hold_buffer").is_none_or(|g| g["leak"] == false),
        "{}",
        report["growth"]
    );
    // It is what made the peak.
    let peak = &report["peak"];
    let holder = peak["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["frames"][0]["function"] == "hold_buffer")
        .expect("held at the peak");
    assert_eq!(holder["bytes"], 1 << 20);
    assert!(peak["live_bytes"].as_u64().unwrap() >= 1 << 20);
    assert!(report["memory"]["leak_rate_bytes_per_s"].as_f64().unwrap() > 0.0);
    assert!(!report["recommendations"].as_array().unwrap().is_empty());
}

#[test]
fn the_timeline_holds_exactly_what_the_program_held_at_its_checkpoints() {
    let (report, held) = server();
    assert_eq!(held.len(), 5);
    let timeline = report["timeline"].as_array().unwrap();
    assert!(timeline.len() > 100 && timeline.len() <= 4096);
    for bytes in held {
        assert!(
            timeline.iter().any(|p| p["live_bytes"] == *bytes),
            "no timeline point holds {bytes} bytes"
        );
    }
    // Evenly spaced, in order.
    let t: Vec<f64> = timeline
        .iter()
        .map(|p| p["t_s"].as_f64().unwrap())
        .collect();
    assert!(t.windows(2).all(|w| w[1] >= w[0]));
}

#[test]
fn temporaries_are_counted_by_their_definition() {
    let (report, _) = server();
    // Per request: the scratch buffer, and the response (freed right after
    // the request buffer, with nothing allocated in between).
    assert_eq!(report["temporary"]["allocations"], 2 * 5000);
    // Four per request, 50 per batch (every 1000th), one buffer every
    // 1500th request.
    let buffers = (1..=5000u64).filter(|id| id % 1500 == 0).count() as u64;
    assert_eq!(
        report["summary"]["allocations"].as_u64().unwrap(),
        5000 * 4 + 5 * 50 + buffers
    );
}

#[test]
fn rss_growing_over_a_flat_live_heap_is_fragmentation_not_a_leak() {
    fragmentation_is_seen("fragment", &["24"]);
}

/// The same in a thread arena, whose heaps are not the `[heap]` mapping:
/// the allocator's heap still accounts for the RSS growth.
#[test]
fn fragmentation_in_a_thread_arena_is_fragmentation_too() {
    fragmentation_is_seen("fragment-thread", &["24", "thread"]);
}

fn fragmentation_is_seen(name: &str, args: &[&str]) {
    let dir = test_dir(name);
    let out = run_traced(&dir, "f.hwt", &program("fragment.c"), args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = report_json(&dir.join("f.hwt"));
    let memory = &report["memory"];
    assert_eq!(memory["live"]["leak"], false, "{}", memory["live"]);
    assert_eq!(memory["fragmentation"]["kind"], "fragmentation", "{memory}");
    assert!(
        memory["fragmentation"]["rss_growth_bytes"]
            .as_i64()
            .unwrap()
            > 4 << 20
    );
    assert!(
        report["growth"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["leak"] == false)
    );
    // What the program keeps: 1 MiB of data and a 16-byte pin per round
    // (and, with a thread, what glibc keeps of a joined thread: its
    // thread-local vector, a few hundred bytes).
    let kept = (1 << 20) + 24 * 16;
    let leaked = report["summary"]["leaked_bytes"].as_u64().unwrap();
    if args.contains(&"thread") {
        assert!((kept..kept + 1024).contains(&leaked), "{leaked}");
    } else {
        assert_eq!(leaked, kept);
    }
    let text = String::from_utf8(
        heapwise()
            .arg("report")
            .arg(dir.join("f.hwt"))
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(text.contains("malloc_trim"), "{text}");
}

/// `rates.c` run with `args`, its growth verdicts by first function:
/// (pattern, leak) of each judged stack.
fn rates(name: &str, args: &[&str]) -> Vec<(String, String, bool)> {
    let dir = test_dir(name);
    let out = run_traced(&dir, "r.hwt", &program("rates.c"), args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = report_json(&dir.join("r.hwt"));
    report["growth"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["frames"][0]["function"]
                    .as_str()
                    .unwrap_or("?")
                    .to_string(),
                g["pattern"].as_str().unwrap().to_string(),
                g["leak"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn verdicts_of<'a>(
    growth: &'a [(String, String, bool)],
    function: &str,
) -> Vec<&'a (String, String, bool)> {
    let found: Vec<_> = growth.iter().filter(|g| g.0 == function).collect();
    assert!(!found.is_empty(), "{function} judged: {growth:?}");
    found
}

/// Six seconds of requests, one entry each from one call site: its series
/// changes in every bucket of the grid and is coarsened (a stack keeps at
/// most 256 points), which must not turn steady growth into jumps. The
/// periodic job (32 blocks kept every 400 requests, ~0.4 s apart) and the
/// three batches are real jumps with flat stretches between.
#[test]
fn steady_periodic_and_step_growth_keep_their_names_on_coarsened_series() {
    let growth = rates("rates-one", &["6000", "1", "1000"]);
    for g in verdicts_of(&growth, "cache_put") {
        assert_eq!((g.1.as_str(), g.2), ("linear", true), "{growth:?}");
    }
    for g in verdicts_of(&growth, "periodic_job") {
        assert_eq!((g.1.as_str(), g.2), ("periodic", true), "{growth:?}");
    }
    for g in verdicts_of(&growth, "load_batch") {
        assert_eq!((g.1.as_str(), g.2), ("step", true), "{growth:?}");
    }
}

/// The same steady leak spread over 64 call stacks (the entry is added
/// through one of 64 recursion depths): each stack changes every 64
/// requests, in several hundred buckets of the grid, so each is coarsened
/// too — and each is linear.
#[test]
fn a_steady_leak_over_many_stacks_is_linear_on_every_stack() {
    let growth = rates("rates-many", &["30000", "64", "100"]);
    let cache = verdicts_of(&growth, "cache_put");
    assert!(cache.len() >= 10, "{growth:?}");
    for g in cache {
        assert_eq!((g.1.as_str(), g.2), ("linear", true), "{growth:?}");
    }
}

//! `find_leaks` over three dumps of a real JVM that leaks through a static
//! map, a listener list and a ThreadLocal, and holds steady otherwise.

use heapwise_heap::Cause;
use heapwise_hprof::{
    Baseline, ClassHistogram, HprofGraph, LeakOptions, find_leaks, read_dump_file,
};

use super::jvm::Jvm;

#[test]
fn leaks_name_the_static_map_the_listener_list_and_the_thread_local() {
    let dir = tempfile::tempdir().unwrap();
    let mut jvm = Jvm::start("Leaky");
    // Warm-up: the collections exist and the attach listener runs before the baseline.
    jvm.command("sessions 20");
    jvm.command("listeners 20");
    jvm.command("local 20");
    jvm.command("gc");
    jvm.histogram();
    let paths: Vec<_> = ["b", "t", "f"]
        .iter()
        .map(|n| dir.path().join(format!("{n}.hprof")))
        .collect();
    jvm.dump(&paths[0]);
    let mut held = Default::default();
    for path in &paths[1..] {
        jvm.command("sessions 300");
        jvm.command("listeners 150");
        jvm.command("local 60");
        jvm.command("churn 2000");
        held = jvm.command("gc");
        jvm.dump(path);
    }
    let options = LeakOptions::default();
    let target = ClassHistogram::new(&read_dump_file(&paths[1], None).unwrap());
    let baseline = Baseline::new(
        &HprofGraph::build(read_dump_file(&paths[0], None).unwrap(), true, None),
        &target,
        &options,
    );
    let graph = HprofGraph::build(read_dump_file(&paths[2], None).unwrap(), true, None);
    let report = find_leaks(&baseline, &target, &graph, &options);

    let holders: Vec<&str> = report.roots.iter().map(|r| r.holder.as_str()).collect();
    assert_eq!(
        report.roots.len(),
        3,
        "exactly the three accumulation points: {holders:?}"
    );
    let root = |needle: &str| {
        report
            .roots
            .iter()
            .find(|r| r.holder.contains(needle))
            .unwrap_or_else(|| panic!("{needle} in {holders:?}"))
    };

    let map = root("static field Leaky.SESSIONS");
    assert_eq!(map.cause, Cause::UnboundedCollection);
    assert_eq!(
        map.holder,
        "static field Leaky.SESSIONS (java.util.HashMap)"
    );
    assert_eq!(
        map.entries, held["sessions"],
        "one map entry per session the program holds"
    );
    assert_eq!(map.baseline_entries, Some(20));
    assert_eq!(
        map.holds
            .iter()
            .find(|h| h.name == "Leaky$Session")
            .unwrap()
            .count,
        held["sessions"]
    );

    let listeners = root("Leaky$EventBus.listeners");
    assert_eq!(listeners.cause, Cause::EventListener);
    assert_eq!(listeners.entries, held["listeners"]);
    assert_eq!(
        listeners
            .holds
            .iter()
            .find(|h| h.name == "Leaky$Request")
            .unwrap()
            .count,
        held["listeners"]
    );
    let steps: Vec<(&str, &str)> = listeners
        .path
        .iter()
        .map(|s| (s.node.as_str(), s.edge.as_str()))
        .collect();
    assert_eq!(
        steps,
        [("class Leaky", "BUS"), ("Leaky$EventBus", "listeners")]
    );

    let local = root("ThreadLocal");
    assert_eq!(local.cause, Cause::ThreadLocal);
    assert_eq!(local.entries, held["local"]);
    assert!(local.path.iter().any(|s| s.edge == "threadLocals"));

    let count = |name: &str| {
        report
            .by_constructor
            .iter()
            .find(|c| c.name == name)
            .map_or(0, |c| c.count)
    };
    assert_eq!(
        count("Leaky$Session"),
        300,
        "made between BASELINE and TARGET, still alive in FINAL"
    );
    assert_eq!(count("Leaky$Request"), 150);
    assert_eq!(count("Leaky$Churned"), 0);
    // Clusters are the detail under each root.
    for root in &report.roots {
        assert!(!root.clusters.is_empty());
        for &i in &root.clusters {
            assert_eq!(report.clusters[i].cause, root.cause);
        }
    }
}

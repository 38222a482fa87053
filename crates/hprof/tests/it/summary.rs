//! `summarize` on dumps of a real JVM, checked against `jmap -histo:live`.

use std::collections::BTreeMap;

use heapwise_hprof::{ClassHistogram, HprofGraph, diff, read_dump_file, summarize};

use super::jvm::Jvm;

#[test]
fn summary_counts_equal_jmap_histo_live_for_every_class() {
    let dir = tempfile::tempdir().unwrap();
    let mut jvm = Jvm::start("Leaky");
    jvm.command("sessions 250");
    jvm.command("listeners 120");
    jvm.command("local 40");
    jvm.command("gc");
    // A first histogram lets reference processing and cleaners settle.
    jvm.histogram();
    let path = dir.path().join("app.hprof");
    jvm.dump(&path);
    let truth = jvm.histogram();

    let graph = HprofGraph::build(read_dump_file(&path, None).unwrap(), false, None);
    let summary = summarize(&graph);
    let ours: BTreeMap<String, (u64, u64)> = summary
        .constructors
        .iter()
        .map(|c| (c.name.clone(), (c.count, c.self_bytes)))
        .collect();
    let counts = |m: &BTreeMap<String, (u64, u64)>| -> BTreeMap<String, u64> {
        m.iter().map(|(k, v)| (k.clone(), v.0)).collect()
    };
    assert_eq!(
        counts(&ours),
        counts(&truth),
        "counts per class differ from jmap -histo:live"
    );
    assert_eq!(
        ours["Leaky$Session"].0, 250,
        "the program made 250 sessions"
    );
    assert_eq!(
        ours["Leaky$Request"].0, 120,
        "the program made 120 requests"
    );

    // Sizes are computed, not read: within 0.1 % of jmap's in total, and
    // exact for the program's own classes.
    let total: u64 = truth.values().map(|v| v.1).sum();
    let our_total: u64 = ours.values().map(|v| v.1).sum();
    assert!(
        our_total.abs_diff(total) * 1000 <= total,
        "{our_total} vs jmap's {total}"
    );
    for class in [
        "Leaky$Session",
        "Leaky$Request",
        "java.util.HashMap$Node",
        "byte[]",
        "java.lang.String",
    ] {
        assert_eq!(ours[class].1, truth[class].1, "bytes of {class}");
    }
    assert_eq!(summary.total_bytes, our_total);

    // Retained: a session keeps its payload (64 bytes + 16 header), its tag list
    // and the two tag strings; the id string is shared with the map's key.
    let session = summary
        .constructors
        .iter()
        .find(|c| c.name == "Leaky$Session")
        .unwrap();
    let tags = truth["java.util.ArrayList"].1 / truth["java.util.ArrayList"].0;
    assert!(
        session.retained_bytes > 250 * (24 + 80 + tags),
        "{session:?}"
    );
    let map_retains = summary
        .constructors
        .iter()
        .find(|c| c.name == "java.util.HashMap$Node")
        .unwrap()
        .retained_bytes;
    assert!(map_retains >= session.retained_bytes);
}

#[test]
fn diff_counts_what_the_program_added_between_two_dumps() {
    let dir = tempfile::tempdir().unwrap();
    let mut jvm = Jvm::start("Leaky");
    jvm.command("gc");
    jvm.histogram();
    let before = dir.path().join("before.hprof");
    jvm.dump(&before);
    jvm.command("sessions 77");
    jvm.command("churn 5000");
    jvm.command("gc");
    let after = dir.path().join("after.hprof");
    jvm.dump(&after);
    let histogram = |p: &std::path::Path| ClassHistogram::new(&read_dump_file(p, None).unwrap());
    let report = diff(&histogram(&before), &histogram(&after));
    assert_eq!(report.matched_by, "count");
    assert_eq!(report.shared_objects, None);
    let row = |name: &str| report.constructors.iter().find(|c| c.name == name);
    let session = row("Leaky$Session").expect("sessions were added");
    assert_eq!((session.new, session.deleted, session.delta), (77, 0, 77));
    assert_eq!(session.size_delta, 77 * 24);
    assert!(
        row("Leaky$Churned").is_none(),
        "churned objects are gone by the second dump"
    );
}

//! Every output format of `heapwise report` on one known trace.

use std::sync::OnceLock;

use super::util::*;

/// A trace of `sites 1000`, made once.
fn sites_trace() -> &'static std::path::Path {
    static TRACE: OnceLock<std::path::PathBuf> = OnceLock::new();
    TRACE.get_or_init(|| {
        let dir = test_dir("formats");
        let out = run_traced(&dir, "sites.hwt", &program("sites.c"), &["1000"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        dir.join("sites.hwt")
    })
}

fn report(format: &str, extra: &[&str]) -> Vec<u8> {
    let out = heapwise()
        .args(["report", "--format", format])
        .args(extra)
        .arg(sites_trace())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    out.stdout
}

#[test]
fn the_text_report_shows_totals_sizes_and_leaks_largest_first() {
    let text = String::from_utf8(report("text", &[])).unwrap();
    assert!(text.contains("in 2,750 allocations"), "{text}");
    assert!(
        text.contains("in 1,750 blocks still allocated at the end"),
        "{text}"
    );
    let malloc = text.find("leak_calloc").expect("calloc group shown");
    let calloc = text.find("leak_malloc").expect("malloc group shown");
    let memalign = text.find("leak_memalign").expect("memalign group shown");
    // 150,000 B (calloc) > 100,000 B (malloc) > 50,000 B (memalign).
    assert!(malloc < calloc && calloc < memalign, "{text}");
    assert!(text.contains("< 1 KiB"), "{text}");
    assert!(
        text.contains(&format!("sites.c:{}", line_of("sites.c", "leak_malloc"))),
        "{text}"
    );
}

/// JSON lists every leak group unless `--max-leaks` is given; the totals
/// count every group either way.
#[test]
fn json_lists_every_leak_group_or_as_many_as_asked() {
    let json = |extra: &[&str]| -> serde_json::Value {
        serde_json::from_slice(&report("json", extra)).unwrap()
    };
    let all = json(&[]);
    let leaks = all["leaks"].as_array().unwrap();
    // sites.c leaks from three functions (and the runtime may hold more).
    assert!(leaks.len() >= 3, "{leaks:?}");
    let two = json(&["--max-leaks", "2"]);
    assert_eq!(two["leaks"].as_array().unwrap().len(), 2);
    assert_eq!(two["leaks"][0], leaks[0]);
    assert_eq!(two["leaks"][1], leaks[1]);
    assert_eq!(two["summary"], all["summary"]);
    assert_eq!(two["verdict"], all["verdict"]);
}

#[test]
fn collapsed_stacks_carry_the_leaked_bytes() {
    let text = String::from_utf8(report("collapsed", &[])).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains(";leak_malloc "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.ends_with(" 100000"), "{line}");
    assert!(line.contains("main;leak_malloc"), "{line}");
    let counts = String::from_utf8(report("collapsed", &["--metric", "allocations"])).unwrap();
    let churn = counts
        .lines()
        .find(|l| l.contains(";churn "))
        .unwrap_or_else(|| panic!("{counts}"));
    assert!(churn.ends_with(" 1000"), "{churn}");
}

#[test]
fn the_flame_graph_is_svg_with_every_leaking_function() {
    let svg = String::from_utf8(report("flamegraph", &[])).unwrap();
    assert!(svg.starts_with("<?xml") && svg.trim_end().ends_with("</svg>"));
    for name in ["leak_malloc", "leak_calloc", "leak_memalign", "main"] {
        assert!(svg.contains(&format!("<title>{name} ")), "{name} missing");
    }
    assert!(
        !svg.contains("<title>churn"),
        "freed temporaries are not leaks"
    );
}

#[test]
fn the_html_page_is_self_contained_with_the_exact_leaks() {
    let page = String::from_utf8(report("html", &[])).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"), "{}", &page[..100]);
    assert!(page.trim_end().ends_with("</html>"));
    // sites 1000 leaks 100,000 + 150,000 + 50,000 bytes in 1,750 blocks.
    assert!(page.contains("300,000 bytes"), "the leaked total, exactly");
    for (function, bytes) in [
        ("leak_calloc", "150,000"),
        ("leak_malloc", "100,000"),
        ("leak_memalign", "50,000"),
    ] {
        let at = page
            .find(&format!("{function}  "))
            .unwrap_or_else(|| panic!("{function} not on the page"));
        let row_start = page[..at].rfind("<tr").unwrap();
        assert!(
            page[row_start..at].contains(bytes),
            "{function}'s row shows {bytes} bytes"
        );
    }
    assert!(
        page.contains(&format!("sites.c:{}", line_of("sites.c", "leak_malloc"))),
        "file:line of the malloc leak"
    );
    // The flame graph and the chart are inline; nothing is fetched.
    assert!(page.contains("<svg"));
    assert!(!page.contains("src=") && !page.contains("<link"));
}

#[test]
fn pprof_holds_the_four_heap_sample_types_with_exact_values() {
    use prost::Message;
    use std::io::Read;
    let gz = report("pprof", &["-o", "/dev/stdout"]);
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut bytes)
        .expect("gzip");
    let profile =
        heapwise_render::native::pprof::proto::Profile::decode(&bytes[..]).expect("profile.proto");
    let s = |i: i64| profile.string_table[i as usize].clone();
    assert_eq!(profile.string_table[0], "");
    let types: Vec<(String, String)> = profile
        .sample_type
        .iter()
        .map(|t| (s(t.r#type), s(t.unit)))
        .collect();
    assert_eq!(
        types,
        [
            ("alloc_objects", "count"),
            ("alloc_space", "bytes"),
            ("inuse_objects", "count"),
            ("inuse_space", "bytes")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let name_of = |location_id: u64| -> String {
        let location = &profile.location[location_id as usize - 1];
        let line = location.line.last().expect("a line");
        s(profile.function[line.function_id as usize - 1].name)
    };
    let sample = profile
        .sample
        .iter()
        .find(|s| name_of(s.location_id[0]) == "leak_malloc")
        .expect("leak_malloc sample");
    assert_eq!(sample.value, vec![1000, 100_000, 1000, 100_000]);
    let churn = profile
        .sample
        .iter()
        .find(|s| name_of(s.location_id[0]) == "churn")
        .expect("churn sample");
    assert_eq!(churn.value[0], 1000);
    assert_eq!(&churn.value[2..], &[0, 0]);
    // `go tool pprof` names the first mapping's file as the profiled binary.
    assert_eq!(s(profile.mapping[0].filename), "sites");
}

/// `go tool pprof -raw`'s period and the sum of each sample type.
fn go_pprof_raw(profile: &std::path::Path) -> (String, Vec<i64>) {
    let out = std::process::Command::new("go")
        .args(["tool", "pprof", "-raw"])
        .arg(profile)
        .output()
        .expect("go tool pprof runs (Debian's golang-go; .ci/run installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let period = text
        .lines()
        .filter(|l| l.starts_with("PeriodType:") || l.starts_with("Period:"))
        .collect::<Vec<_>>()
        .join(" ");
    let mut sums = vec![0i64; 4];
    for line in text
        .lines()
        .skip_while(|l| !l.starts_with("Samples:"))
        .skip(2)
    {
        let Some((values, _)) = line.split_once(':') else {
            break;
        };
        let values: Vec<i64> = values
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        if values.len() != 4 {
            break;
        }
        for (sum, v) in sums.iter_mut().zip(values) {
            *sum += v;
        }
    }
    (period, sums)
}

#[test]
fn go_tool_pprof_reads_the_exact_and_the_sampled_profiles_with_the_reports_figures() {
    // A full trace: the exact figures, no sampling period.
    let dir = test_dir("pprof_go");
    let full = dir.join("full.pb.gz");
    let out = heapwise()
        .args(["report", "--format", "pprof", "-o"])
        .arg(&full)
        .arg(sites_trace())
        .output()
        .unwrap();
    assert!(out.status.success());
    let (period, sums) = go_pprof_raw(&full);
    let json = report_json(sites_trace());
    assert_eq!(
        sums[2],
        json["summary"]["leaked_allocations"].as_i64().unwrap()
    );
    assert_eq!(sums[3], json["summary"]["leaked_bytes"].as_i64().unwrap());
    assert!(!period.contains("space"), "{period}");
    // A sampled trace: estimates, and the period go tool pprof shows.
    let trace = dir.join("sampled.hwt");
    let out = run_traced_with(
        &dir,
        "sampled.hwt",
        &["--no-tui", "--sample", "4KiB"],
        &program("bounded.c"),
        &["500", "20"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let sampled = dir.join("sampled.pb.gz");
    let out = heapwise()
        .args(["report", "--format", "pprof", "-o"])
        .arg(&sampled)
        .arg(&trace)
        .output()
        .unwrap();
    assert!(out.status.success());
    let (period, sums) = go_pprof_raw(&sampled);
    assert_eq!(period, "PeriodType: space bytes Period: 4096");
    let json = report_json(&trace);
    assert_eq!(
        sums[1],
        json["summary"]["allocated_bytes"].as_i64().unwrap()
    );
    assert_eq!(sums[3], json["summary"]["leaked_bytes"].as_i64().unwrap());
}

#[test]
fn help_lists_the_commands_and_their_options() {
    let out = heapwise().arg("--help").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for command in ["run", "report", "heap"] {
        assert!(text.contains(&format!("  {command} ")), "{text}");
    }
    let out = heapwise().args(["report", "--help"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for option in [
        "--format",
        "--output",
        "--metric",
        "--fail-on-leak",
        "pprof",
        "flamegraph",
        "collapsed",
    ] {
        assert!(text.contains(option), "{option} missing from: {text}");
    }
    let out = heapwise().args(["run", "--help"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("--output") && text.contains("COMMAND"),
        "{text}"
    );
}

#[test]
fn fail_on_leak_exits_with_10() {
    let out = heapwise()
        .args(["report", "--fail-on-leak"])
        .arg(sites_trace())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(10));
}

//! `heapwise profiles` end to end: the binary on the Go heap profiles and
//! jemalloc dumps of `crates/profiles/tests/data` (real programs with
//! known leaks; `crates/profiles/tests/README.md`), in JSON and text, with
//! its exit codes, and on cut and foreign files.

use std::path::PathBuf;

use crate::common::{crate_test_file, heapwise, json, stderr, test_dir};

fn go(series: &str) -> Vec<String> {
    (1..=13)
        .map(|n| path(&format!("data/go/{series}/heap-{n:02}.pb.gz")))
        .collect()
}

fn dumps() -> Vec<String> {
    (1..=12)
        .map(|n| path(&format!("data/jemalloc/leaky/dump-{n:02}.heap")))
        .collect()
}

fn path(relative: &str) -> String {
    crate_test_file("profiles", relative)
        .to_str()
        .unwrap()
        .to_string()
}

fn run(args: &[&str], files: &[String]) -> std::process::Output {
    let mut all: Vec<&str> = vec!["profiles"];
    all.extend_from_slice(args);
    all.extend(files.iter().map(String::as_str));
    heapwise(&all)
}

#[test]
fn help_has_the_options_and_an_example() {
    let top = String::from_utf8(heapwise(&["--help"]).stdout).unwrap();
    assert!(top.contains("profiles"), "{top}");
    let out = heapwise(&["profiles", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for option in [
        "<PROFILE>",
        "--format",
        "--output",
        "--fail-on-leak",
        "--top",
        "--by-mtime",
        "Examples:",
        "heapwise profiles heap-",
    ] {
        assert!(help.contains(option), "{option} missing from:\n{help}");
    }
}

#[test]
fn json_names_the_go_leak_at_its_rate() {
    let out = run(&["--format", "json"], &go("rate-16k"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["schema"], "heapwise.profiles/1");
    assert_eq!(v["format"], "pprof");
    assert_eq!(v["time_axis"], "profile-time");
    assert_eq!(v["profiles"].as_array().unwrap().len(), 13);
    assert_eq!(v["verdict"]["leak"], true);
    assert_eq!(v["stacks_growing"], 1);
    let first = &v["stacks"][0];
    assert_eq!(first["frames"][0]["function"], "main.leak");
    assert_eq!(first["pattern"], "linear");
    assert_eq!(first["leak"], true);
    // leaky.go leaks 1 KiB every 10 ms.
    let rate = first["slope_bytes_per_s"].as_f64().unwrap();
    assert!((rate / 102_400.0 - 1.0).abs() < 0.25, "{rate}");
    assert_eq!(v["sampling"]["rate_bytes"], 16384);
    assert!(v["stacks"].as_array().unwrap().len() <= 10);
    // The cache that fills and plateaus is no leak.
    for stack in v["stacks"].as_array().unwrap() {
        if stack["frames"][0]["function"] == "main.fillCache" {
            assert_eq!(stack["leak"], false, "{stack}");
        }
    }
}

#[test]
fn text_and_exit_codes() {
    let out = run(&["--top", "2", "--fail-on-leak"], &go("rate-512k"));
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("Heap profiles: 13 pprof heap profiles over 2.0 min"),
        "{text}"
    );
    assert!(
        text.contains("Verdict: leak: the live bytes of main.leak (leaky.go:"),
        "{text}"
    );
    assert!(text.contains("   1. LEAK linear, +"), "{text}");
    assert!(!text.contains("   3. "), "--top 2:\n{text}");
    assert!(
        text.contains("one sample per 512.0 KiB allocated"),
        "{text}"
    );
    // Without --fail-on-leak a leak is exit 0; -o writes the file.
    let dir = test_dir("profiles-text");
    let output = dir.join("report.txt");
    let out = run(&["-o", output.to_str().unwrap()], &go("rate-512k"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let written = std::fs::read_to_string(&output).unwrap();
    assert!(written.starts_with("Heap profiles:"), "{written}");
    // The jemalloc series backwards falls: no leak, so --fail-on-leak
    // passes.
    let mut backwards = dumps();
    backwards.reverse();
    let out = run(&["--fail-on-leak", "--format", "json"], &backwards);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["verdict"]["leak"], false);
}

#[test]
fn jemalloc_dumps_in_order_or_by_mtime() {
    let out = run(&["--format", "json"], &dumps());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["format"], "jemalloc");
    assert_eq!(v["time_axis"], "order");
    assert!(v["duration_s"].is_null());
    let first = &v["stacks"][0];
    assert_eq!(first["leak"], true);
    assert!(first["slope_bytes_per_s"].is_null());
    // leaky.c leaks 762,601 B between dumps.
    let per_dump = first["slope_bytes_per_profile"].as_f64().unwrap();
    assert!((per_dump / 762_601.0 - 1.0).abs() < 0.25, "{per_dump}");
    assert_eq!(first["frames"][0]["module"], "leaky");

    // Copies with modification times 30 s apart, given in another order.
    let dir = test_dir("profiles-mtime");
    let mut copies: Vec<String> = Vec::new();
    for (i, source) in dumps().iter().enumerate() {
        let copy = dir.join(format!("jeprof.{i:02}.heap"));
        std::fs::copy(source, &copy).unwrap();
        let time =
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000 + 30 * i as u64);
        std::fs::File::options()
            .write(true)
            .open(&copy)
            .unwrap()
            .set_modified(time)
            .unwrap();
        copies.push(copy.to_str().unwrap().to_string());
    }
    copies.reverse();
    let out = run(&["--format", "json", "--by-mtime"], &copies);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["time_axis"], "mtime");
    assert_eq!(v["duration_s"], 330.0);
    let rate = v["stacks"][0]["slope_bytes_per_s"].as_f64().unwrap();
    assert!((rate / (762_601.0 / 30.0) - 1.0).abs() < 0.25, "{rate}");
    assert!(
        v["profiles"][0]["name"]
            .as_str()
            .unwrap()
            .ends_with("jeprof.00.heap")
    );
}

#[test]
fn bad_input_is_one_sentence_and_exit_1() {
    let dir = test_dir("profiles-bad");
    let whole = std::fs::read(path("data/go/rate-16k/heap-07.pb.gz")).unwrap();
    let cut = dir.join("cut.pb.gz");
    std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    let dump = std::fs::read(path("data/jemalloc/leaky/dump-03.heap")).unwrap();
    let cut_dump = dir.join("cut.heap");
    std::fs::write(&cut_dump, &dump[..dump.len() / 3]).unwrap();
    let foreign: PathBuf = crate_test_file("profiles", "README.md");
    let files = go("rate-16k");
    let cases: [(String, &str); 4] = [
        (
            cut.to_str().unwrap().into(),
            "the gzip stream is cut short or damaged",
        ),
        (cut_dump.to_str().unwrap().into(), "it was cut short"),
        (
            foreign.to_str().unwrap().into(),
            "not a heap profile heapwise reads",
        ),
        (
            dir.join("missing.pb.gz").to_str().unwrap().into(),
            "could not read the file",
        ),
    ];
    for (bad, expected) in cases {
        let out = run(&[], &[files[0].clone(), bad.clone(), files[2].clone()]);
        assert_eq!(out.status.code(), Some(1), "{bad}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(expected), "{bad}: {err}");
        assert!(
            err.contains(&format!("while reading heap profile {bad}")),
            "{err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(out.stdout.is_empty());
    }
    // Two profilers in one series.
    let out = run(&[], &[files[0].clone(), dumps()[0].clone()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("a series is of one profiler"),
        "{}",
        stderr(&out)
    );
    // Usage errors: one profile, an unknown format, --top not a number.
    for args in [
        vec!["profiles", files[0].as_str()],
        vec![
            "profiles",
            "--format",
            "html",
            files[0].as_str(),
            files[1].as_str(),
        ],
        vec![
            "profiles",
            "--top",
            "many",
            files[0].as_str(),
            files[1].as_str(),
        ],
    ] {
        let out = heapwise(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    // --by-mtime on a series that has them all works even for pprof.
    let out = run(&["--by-mtime", "--format", "json"], &files[..3]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["time_axis"], "mtime");
}

//! The verdict: one headline, decided in the report model, printed the
//! same by every format and by `heapwise run`; `--fail-on-leak` goes by it;
//! it never says "no leak" when evidence may be missing.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use super::util::*;

fn report_as(trace: &Path, format: &str) -> String {
    let out = heapwise()
        .args(["report", "--format", format])
        .arg(trace)
        .output()
        .expect("heapwise runs");
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// What an HTML page shows for `text` (the page escapes it).
fn html_escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The headline of the JSON report, checked to be the one line the text
/// report, the HTML page and `heapwise run`'s summary print too.
fn same_headline_everywhere(run: &Output, trace: &Path) -> Value {
    let report = report_json(trace);
    let headline = report["verdict"]["headline"]
        .as_str()
        .expect("a headline")
        .to_string();
    assert!(!headline.is_empty());
    assert!(
        stderr(run)
            .lines()
            .any(|l| l == format!("heapwise: {headline}")),
        "run's summary: {}\nheadline: {headline}",
        stderr(run)
    );
    let text = report_as(trace, "text");
    assert!(text.lines().any(|l| l == headline), "{text}");
    let html = report_as(trace, "html");
    assert!(
        html.contains(&format!(
            r#"<p class="headline">{}</p>"#,
            html_escaped(&headline)
        )),
        "the page's headline differs"
    );
    report
}

#[test]
fn a_leaking_program_has_one_verdict_in_json_text_html_and_the_summary() {
    let dir = test_dir("verdict-leak");
    let out = run_traced(&dir, "v.hwt", &program("widgets.cpp"), &["100", "50"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = same_headline_everywhere(&out, &dir.join("v.hwt"));
    let verdict = &report["verdict"];
    assert_eq!(verdict["leak"], true);
    assert_eq!(verdict["level"], "leak");
    // 100 Widgets of 64 B and 50 arrays of 25 ints, exactly.
    let own = 100 * 64 + 50 * 100;
    assert_eq!(verdict["own_leaked_bytes"], own);
    assert!(
        verdict["headline"]
            .as_str()
            .unwrap()
            .starts_with(&format!("Leak: {},", own / 1000)),
        "{verdict}"
    );
}

#[test]
fn a_clean_cpp_program_is_no_leak_everywhere_and_passes_fail_on_leak() {
    let dir = test_dir("verdict-clean");
    let out = run_traced_with(
        &dir,
        "c.hwt",
        &["--fail-on-leak"],
        &program("clean.cpp"),
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let trace = dir.join("c.hwt");
    let report = same_headline_everywhere(&out, &trace);
    let verdict = &report["verdict"];
    assert_eq!(
        (&verdict["leak"], &verdict["level"]),
        (&Value::Bool(false), &"none".into())
    );
    // What is left is libstdc++'s emergency pool, labelled as the runtime's.
    assert!(verdict["runtime_held_allocations"].as_u64().unwrap() >= 1);
    assert_eq!(verdict["own_leaked_allocations"], 0);
    assert!(
        report["leaks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| !l["note"].is_null())
    );
    let gate = heapwise()
        .args(["report", "--fail-on-leak"])
        .arg(&trace)
        .output()
        .unwrap();
    assert_eq!(gate.status.code(), Some(0), "{}", stderr(&gate));
}

#[test]
fn fail_on_leak_exits_10_for_a_program_that_leaks() {
    let dir = test_dir("verdict-gate");
    let out = run_traced_with(
        &dir,
        "g.hwt",
        &["--fail-on-leak"],
        &program("widgets.cpp"),
        &["10", "0"],
    );
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    let gate = heapwise()
        .args(["report", "--fail-on-leak"])
        .arg(dir.join("g.hwt"))
        .output()
        .unwrap();
    assert_eq!(gate.status.code(), Some(10), "{}", stderr(&gate));
    for command in ["run", "report"] {
        let help = heapwise().args([command, "--help"]).output().unwrap();
        let help = String::from_utf8_lossy(&help.stdout)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            help.contains("blocks of its own lost at exit (definitely, indirectly or possibly lost, as valgrind says")
                && help.contains("Blocks the C/C++ runtime holds until exit by design (stdio buffers, libstdc++'s exception pool, the loader's records) and suppressed ones never count"),
            "{command} --help says what --fail-on-leak counts: {help}"
        );
    }
}

#[test]
fn a_program_with_its_own_malloc_is_told_why_nothing_was_seen() {
    let dir = test_dir("verdict-own-malloc");
    let out = run_traced(&dir, "o.hwt", &program("own_malloc.c"), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("defines malloc itself, which LD_PRELOAD cannot intercept"),
        "run warns before it starts: {}",
        stderr(&out)
    );
    let report = same_headline_everywhere(&out, &dir.join("o.hwt"));
    let verdict = &report["verdict"];
    assert_eq!(verdict["level"], "unknown", "{verdict}");
    assert_eq!(verdict["leak"], false);
    let headline = verdict["headline"].as_str().unwrap();
    assert!(headline.contains("defines malloc itself"), "{headline}");
    assert!(!headline.contains("No leak"), "{headline}");
    assert_eq!(report["allocator"]["kind"], "own-malloc");
    assert_eq!(report["allocator"]["replaces_malloc"], true);
}

/// A killed program's blocks are a possible leak; with the spill file its
/// trace is whole and the headline says nothing is missing, without it the
/// headline says the last events may be missing — never "no leak".
#[test]
fn a_killed_programs_verdict_says_what_may_be_missing_only_when_it_may() {
    let dir = test_dir("verdict-killed");
    let safe = run_traced(&dir, "s.hwt", &program("dies.c"), &["kill"]);
    assert_eq!(safe.status.code(), Some(137));
    let report = same_headline_everywhere(&safe, &dir.join("s.hwt"));
    let headline = report["verdict"]["headline"].as_str().unwrap();
    assert_eq!(report["verdict"]["level"], "possible", "{headline}");
    assert!(
        headline.starts_with("Possible leak: 16,000 bytes in 1,000 blocks"),
        "{headline}"
    );
    assert!(!headline.contains("missing"), "{headline}");

    let unsafe_run = heapwise()
        .current_dir(&dir)
        .env("HEAPWISE_SPILL_DIR", "none")
        .args(["run", "--no-tui", "-o"])
        .arg(dir.join("u.hwt"))
        .arg("--")
        .arg(program("dies.c"))
        .arg("kill")
        .output()
        .unwrap();
    assert_eq!(unsafe_run.status.code(), Some(137));
    let report = same_headline_everywhere(&unsafe_run, &dir.join("u.hwt"));
    assert_eq!(report["trace"]["crash_safe"], false);
    let headline = report["verdict"]["headline"].as_str().unwrap();
    assert!(
        headline.contains("killed by signal 9, so its last events may not have been written"),
        "{headline}"
    );
    assert!(!headline.starts_with("No leak"), "{headline}");
}

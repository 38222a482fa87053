//! `heapwise gc` end to end: the binary on the GC log fixtures of
//! `crates/gc/tests/fixtures`, on a real `node --trace-gc` log, and on a log
//! that is still being written (`--follow`).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{command, crate_test_file, heapwise, json, stderr, test_dir};

fn fixture(name: &str) -> String {
    crate_test_file("gc", &format!("fixtures/{name}"))
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn help_lists_the_command_and_its_options() {
    let top = String::from_utf8(heapwise(&["--help"]).stdout).unwrap();
    assert!(
        top.contains("gc") && top.contains("Analyse a GC log"),
        "{top}"
    );
    let out = heapwise(&["gc", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for option in [
        "<LOGFILE>",
        "--format",
        "--log-format",
        "--output",
        "--fail-on-leak",
        "--follow",
        "--max-heap",
        "node-nvp",
        "jvm8",
    ] {
        assert!(help.contains(option), "{option} missing from:\n{help}");
    }
}

#[test]
fn json_follows_the_contract() {
    let out = heapwise(&["gc", "--format", "json", &fixture("jdk8_parallel_leak.log")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["schema"], "heapwise.gc/1");
    assert_eq!(v["runtime"], "jvm");
    assert_eq!(v["collector"], "Parallel");
    // 60 `[GC`/`[Full GC` lines in the fixture.
    let text = std::fs::read_to_string(fixture("jdk8_parallel_leak.log")).unwrap();
    let lines = text
        .lines()
        .filter(|l| l.contains(" [GC (") || l.contains(" [Full GC"))
        .count();
    assert_eq!(v["collections"], lines as u64);
    for key in [
        "count", "total_ms", "mean_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms",
    ] {
        assert!(v["pauses"][key].is_number(), "pauses.{key}");
    }
    assert!(v["gc_overhead_percent"].is_number());
    assert_eq!(v["heap_after_gc"]["pattern"], "linear");
    assert_eq!(v["heap_after_gc"]["leak"], true);
    assert!(v["heap_after_gc"]["slope_bytes_per_s"].as_f64().unwrap() > 0.0);
    assert!(v["warnings"].is_array());
}

#[test]
fn fail_on_leak_exits_10_only_for_a_leak() {
    let leak = heapwise(&["gc", "--fail-on-leak", &fixture("go_leak.log")]);
    assert_eq!(leak.status.code(), Some(10), "{}", stderr(&leak));
    let steady = heapwise(&["gc", "--fail-on-leak", &fixture("go_steady.log")]);
    assert_eq!(steady.status.code(), Some(0), "{}", stderr(&steady));
    let no_flag = heapwise(&["gc", &fixture("go_leak.log")]);
    assert_eq!(no_flag.status.code(), Some(0));
}

#[test]
fn text_report_has_numbers_chart_and_advice() {
    let out = heapwise(&["gc", &fixture("go_leak.log")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    for expected in [
        "Go GODEBUG=gctrace=1",
        "Collections: 40 (minor 0, major 40, full 0)",
        "Heap after GC (after major and full collections, 40 samples): linear - LEAK",
        "└──",
        "What to do:",
        "Live data is growing",
        "go tool pprof",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    // The same input gives the same report.
    let again = heapwise(&["gc", &fixture("go_leak.log")]);
    assert_eq!(again.stdout, text.as_bytes());
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = test_dir("gc-bad");
    let notes = dir.join("notes.txt");
    std::fs::write(&notes, "hello\nthis is not a GC log\n").unwrap();
    let out = heapwise(&["gc", notes.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let message = stderr(&out);
    assert!(
        message.contains("no GC events found in 2 lines"),
        "{message}"
    );
    for format in [
        "Node --trace-gc",
        "JVM unified logging",
        "JDK 8",
        "Go GODEBUG=gctrace=1",
    ] {
        assert!(message.contains(format), "{format} missing from {message}");
    }
    let missing = heapwise(&["gc", dir.join("missing.log").to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("while reading GC log"),
        "{}",
        stderr(&missing)
    );
    let forced = heapwise(&["gc", "--log-format", "node", &fixture("go_leak.log")]);
    assert_eq!(forced.status.code(), Some(1));
    assert!(
        stderr(&forced).contains("--log-format auto"),
        "{}",
        stderr(&forced)
    );
    let usage = heapwise(&["gc", "--log-format", "python", &fixture("go_leak.log")]);
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn output_file_and_standard_input() {
    let dir = test_dir("gc-output");
    let report = dir.join("report.json");
    let out = heapwise(&[
        "gc",
        "--format",
        "json",
        "-o",
        report.to_str().unwrap(),
        &fixture("jdk8_cms_steady.log"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let written: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(written["collector"], "CMS");

    let mut child = command()
        .args(["gc", "--format", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let text = std::fs::read(fixture("jdk8_cms_steady.log")).unwrap();
    child.stdin.take().unwrap().write_all(&text).unwrap();
    let piped = child.wait_with_output().unwrap();
    assert!(piped.status.success(), "{}", stderr(&piped));
    assert_eq!(json(&piped)["collections"], written["collections"]);
}

#[test]
fn max_heap_gives_a_forecast() {
    let out = heapwise(&[
        "gc",
        "--format",
        "json",
        "--max-heap",
        "1g",
        &fixture("go_leak.log"),
    ]);
    let v = json(&out);
    assert_eq!(v["heap_after_gc"]["max_heap_bytes"], 1u64 << 30);
    assert!(v["heap_after_gc"]["time_to_max_heap_s"].as_f64().unwrap() > 0.0);
}

/// Reads `heapwise gc --follow --format json` documents (one per line) on a
/// thread.
fn follow(path: &Path, extra: &[&str]) -> (std::process::Child, std::sync::mpsc::Receiver<Value>) {
    let mut child = command()
        .args(["gc", "--follow", "--format", "json", "--interval", "100ms"])
        .args(extra)
        .arg(path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let value: Value = serde_json::from_str(&line).unwrap();
            if send.send(value).is_err() {
                break;
            }
        }
    });
    (child, receive)
}

fn wait(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("heapwise gc --follow did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn follow_reads_appended_lines_and_stops_when_the_file_stays_still() {
    let dir = test_dir("gc-follow");
    let path = dir.join("growing.log");
    let text = std::fs::read_to_string(fixture("go_leak.log")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&path, "").unwrap();
    let (mut child, documents) = follow(&path, &["--idle-timeout", "1500ms"]);
    {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        for chunk in lines.chunks(9) {
            for line in chunk {
                writeln!(file, "{line}").unwrap();
            }
            file.flush().unwrap();
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    let status = wait(&mut child, Duration::from_secs(30));
    assert!(status.success(), "{status}");
    let seen: Vec<Value> = documents.try_iter().collect();
    assert!(
        seen.len() >= 2,
        "one refreshed report per growth, got {}",
        seen.len()
    );
    let counts: Vec<u64> = seen
        .iter()
        .map(|v| v["collections"].as_u64().unwrap())
        .collect();
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    let expected = lines.iter().filter(|l| l.starts_with("gc ")).count() as u64;
    assert_eq!(counts.last().copied(), Some(expected));
}

#[test]
fn follow_stops_on_ctrl_c_with_the_final_report_and_exit_code() {
    let dir = test_dir("gc-follow-interrupt");
    let path = dir.join("leak.log");
    std::fs::copy(fixture("go_leak.log"), &path).unwrap();
    let (mut child, documents) = follow(&path, &["--idle-timeout", "0", "--fail-on-leak"]);
    let first = documents.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(first["heap_after_gc"]["leak"], true);
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = wait(&mut child, Duration::from_secs(20));
    assert_eq!(status.code(), Some(10), "{status}");
}

#[test]
fn a_real_node_leak_fails_the_build() {
    let dir = test_dir("gc-node");
    let log = dir.join("leak.log");
    let output = Command::new("node")
        .arg("--trace-gc")
        .arg(crate_test_file("gc", "scripts/leak.js"))
        .arg("20000")
        .output()
        .expect("the GC tests need node (Node.js 20 is part of this machine kind)");
    assert!(output.status.success());
    std::fs::write(&log, &output.stdout).unwrap();
    let out = heapwise(&[
        "gc",
        "--fail-on-leak",
        "--format",
        "json",
        log.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["runtime"], "node");
    assert_eq!(v["heap_after_gc"]["leak"], true);
    // Console output of the script ("kept … objects") is skipped, not counted.
    assert!(v["lines"]["skipped"].as_u64().unwrap() >= 1);
}

#[test]
fn follow_writes_into_an_output_that_is_not_a_regular_file() {
    // Each refresh replaces `-o` by renaming a new file over it; renaming
    // over `/dev/null` once replaced the device. A FIFO stands in for it.
    use std::os::unix::fs::FileTypeExt;
    let dir = test_dir("gc-follow-fifo");
    let fifo = dir.join("report.fifo");
    let _ = std::fs::remove_file(&fifo);
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(&fifo).unwrap())
    };
    let out = heapwise(&[
        "gc",
        "--follow",
        "--idle-timeout",
        "300ms",
        "--interval",
        "100ms",
        "--format",
        "json",
        "-o",
        fifo.to_str().unwrap(),
        &fixture("go_leak.log"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
    assert!(kind.is_fifo(), "the FIFO is still there: {kind:?}");
    let written = String::from_utf8(reader.join().unwrap()).unwrap();
    let last: Value = serde_json::from_str(written.lines().last().unwrap())
        .or_else(|_| serde_json::from_str(&written))
        .unwrap();
    assert_eq!(last["runtime"], "go");
}

fn corpus(name: &str) -> String {
    crate_test_file("gc", &format!("corpus/{name}"))
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_gzip_log_and_a_rotated_set_are_read_as_they_reach_people() {
    let gz = heapwise(&[
        "gc",
        "--format",
        "json",
        &corpus("local/unified-g1-gc-de.log.gz"),
    ]);
    assert_eq!(gz.status.code(), Some(0), "{}", stderr(&gz));
    let v = json(&gz);
    assert_eq!(v["runtime"], "jvm");
    assert!(v["collections"].as_u64().unwrap() > 100);
    assert_eq!(v["coverage"]["lines_unread"], 0);
    assert_eq!(v["coverage"]["enough_for_advice"], true);

    // The rotated set in any order on the command line: read in the order
    // the JVM wrote it, one run, nothing unread.
    let dir = crate_test_file("gc", "corpus/local/rotated-unified");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path().to_str().unwrap().to_string())
        .collect();
    files.sort();
    files.reverse();
    let mut args = vec!["gc", "--format", "json"];
    args.extend(files.iter().map(String::as_str));
    let set = heapwise(&args);
    assert_eq!(set.status.code(), Some(0), "{}", stderr(&set));
    let v = json(&set);
    assert_eq!(v["runs"].as_array().unwrap().len(), 1);
    assert_eq!(v["files"].as_array().unwrap().len(), files.len());
    let text = heapwise(&["gc", &files[0], &files[1]]);
    let report = String::from_utf8(text.stdout).unwrap();
    assert!(report.contains("2 files read in this order"), "{report}");
}

#[test]
fn a_file_of_two_runs_says_so_and_a_cut_log_gives_no_advice() {
    let two = heapwise(&["gc", &corpus("local/unified-two-runs.log")]);
    let report = String::from_utf8(two.stdout).unwrap();
    assert!(report.contains("2 runs of the program"), "{report}");
    // The file ends in the middle of a CMS remark: half its events unread.
    let cut = heapwise(&[
        "gc",
        "--format",
        "json",
        &corpus("jdk8/garbagecat-dataset136.txt"),
    ]);
    let v = json(&cut);
    assert_eq!(v["coverage"]["enough_for_advice"], false);
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0]["kind"], "incomplete-log");
}

#[test]
fn logs_of_other_runtimes_and_corrupt_gzip_are_one_sentence_errors() {
    let jrockit = heapwise(&[
        "gc",
        &corpus("foreign/gcviewer-SampleJRockit1_4_2parallel-excerpt.txt"),
    ]);
    assert_eq!(jrockit.status.code(), Some(1));
    assert!(
        stderr(&jrockit).contains("this looks like a JRockit GC log"),
        "{}",
        stderr(&jrockit)
    );
    let dir = test_dir("gc-corrupt-gzip");
    let path = dir.join("cut.log.gz");
    let whole = std::fs::read(corpus("local/unified-g1-gc-de.log.gz")).unwrap();
    std::fs::write(&path, &whole[..whole.len() / 2]).unwrap();
    let out = heapwise(&["gc", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("gzip-compressed log is cut off or corrupt"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("panicked"));
}

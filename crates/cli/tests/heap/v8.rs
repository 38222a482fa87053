//! `heapwise heap ...` on V8 snapshots, end to end: the binary on hand-built snapshots and on
//! a live Node.js process captured over the inspector.
//!
//! The live tests need `node` (Node.js 20 is part of this machine kind); without
//! it they fail with a message saying so rather than skipping.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};

use serde_json::Value;

use crate::common::{self, command, heapwise, stderr};

fn v8_test_file(relative: &str) -> PathBuf {
    common::crate_test_file("v8", relative)
}

/// The JSON report of a run that succeeded (0, or 10 for a leak found).
fn json(output: &Output) -> Value {
    assert!(
        output.status.success() || output.status.code() == Some(10),
        "heapwise failed: {}",
        stderr(output)
    );
    common::json(output)
}

#[test]
fn help_lists_the_heap_commands() {
    let out = heapwise(&["heap", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for command in ["summary", "diff", "leaks", "capture", "watch"] {
        assert!(help.contains(command), "{command} missing from:\n{help}");
    }
    let leaks = String::from_utf8(heapwise(&["heap", "leaks", "--help"]).stdout).unwrap();
    assert!(
        leaks.contains("--fail-on-leak") && leaks.contains("<FINAL>"),
        "{leaks}"
    );
}

#[test]
fn summary_json_follows_the_contract() {
    let fixture = v8_test_file("fixtures/dominators.heapsnapshot");
    let out = heapwise(&[
        "heap",
        "summary",
        "--format",
        "json",
        fixture.to_str().unwrap(),
    ]);
    let v = json(&out);
    assert_eq!(v["schema"], "heapwise.heap-summary/1");
    assert_eq!(v["nodes"], 10);
    assert_eq!(v["edges"], 13);
    assert_eq!(v["total_bytes"], 222);
    let a = v["constructors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "A")
        .unwrap();
    assert_eq!(
        (
            a["count"].as_u64(),
            a["self_bytes"].as_u64(),
            a["retained_bytes"].as_u64()
        ),
        (Some(1), Some(10), Some(112))
    );
}

#[test]
fn summary_text_and_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("summary.txt");
    let fixture = v8_test_file("fixtures/dominators.heapsnapshot");
    let out = heapwise(&[
        "heap",
        "summary",
        "-o",
        report.to_str().unwrap(),
        fixture.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    let text = std::fs::read_to_string(report).unwrap();
    assert!(
        text.contains("10 objects, 13 references, 222 B in total"),
        "{text}"
    );
}

#[test]
fn bad_input_exits_1_and_usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let truncated = dir.path().join("cut.heapsnapshot");
    let text = std::fs::read_to_string(v8_test_file("fixtures/dominators.heapsnapshot")).unwrap();
    std::fs::write(&truncated, &text[..text.len() / 2]).unwrap();
    let out = heapwise(&["heap", "summary", truncated.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = stderr(&out);
    assert!(
        stderr.contains("while reading snapshot") && stderr.contains("truncated"),
        "{stderr}"
    );
    assert_eq!(
        heapwise(&["heap", "leaks", "a", "b"]).status.code(),
        Some(2)
    );
    assert_eq!(
        heapwise(&["heap", "summary", "/no/such.heapsnapshot"])
            .status
            .code(),
        Some(1)
    );
}

#[test]
fn diff_of_unrelated_snapshots_warns() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(v8_test_file("fixtures/chain.heapsnapshot")).unwrap();
    // The same graph with other ids: a different process.
    let other = text.replace("\"nodes\":[9,0,1,0,1,0,0,3,1,3,8,1,0,0,3,2,5,10,1,0,0,3,2,7,10,1,0,0,3,2,9,10,0,0,0]",
        "\"nodes\":[9,0,101,0,1,0,0,3,1,103,8,1,0,0,3,2,105,10,1,0,0,3,2,107,10,1,0,0,3,2,109,10,0,0,0]");
    assert_ne!(text, other);
    let a = dir.path().join("a.heapsnapshot");
    let b = dir.path().join("b.heapsnapshot");
    std::fs::write(&a, &text).unwrap();
    std::fs::write(&b, &other).unwrap();
    let v = json(&heapwise(&[
        "heap",
        "diff",
        "--format",
        "json",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
    ]));
    assert_eq!(v["schema"], "heapwise.heap-diff/1");
    assert_eq!(v["shared_objects"], 0);
    assert!(
        v["warnings"][0]
            .as_str()
            .unwrap()
            .contains("different processes")
    );
    let node = v["constructors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Node")
        .unwrap();
    assert_eq!(
        (
            node["new"].as_u64(),
            node["deleted"].as_u64(),
            node["delta"].as_i64()
        ),
        (Some(3), Some(3), Some(0))
    );
}

/// A Node.js process with its inspector on a free loopback port.
struct Target {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
    addr: String,
}

impl Target {
    fn start() -> Target {
        Target::start_script("node/inspect_target.js", &[])
    }

    fn start_script(script: &str, args: &[&str]) -> Target {
        Target::start_with(script, args, &[])
    }

    fn start_with(script: &str, args: &[&str], env: &[(&str, &Path)]) -> Target {
        Target::launch(script, args, env, true)
    }

    /// With `inspect` false, Node.js runs without an inspector (until SIGUSR1 opens one).
    fn launch(script: &str, args: &[&str], env: &[(&str, &Path)], inspect: bool) -> Target {
        let mut child = Command::new("node")
            .envs(env.iter().copied())
            .args(inspect.then_some("--inspect=127.0.0.1:0"))
            .arg(v8_test_file(script))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(if inspect { Stdio::piped() } else { Stdio::null() })
            .spawn()
            .unwrap_or_else(|err| {
                panic!("these tests need Node.js (`node` on PATH, version 20 or later), which this machine kind provides: {err}")
            });
        let mut addr = (!inspect).then(String::new);
        let lines = child.stderr.take().map(|e| BufReader::new(e).lines());
        for line in lines.into_iter().flatten() {
            let line = line.unwrap();
            if let Some(rest) = line.split("ws://").nth(1) {
                addr = rest.split('/').next().map(str::to_string);
                break;
            }
        }
        let addr = addr.expect("node printed its inspector address");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready");
        Target {
            child,
            stdin,
            stdout,
            addr,
        }
    }

    fn command(&mut self, command: &str) {
        assert_eq!(self.ask(command), "done");
    }

    /// Sends a command and returns the script's answer.
    fn ask(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}").unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim().to_string()
    }

    /// Starts `heapwise heap capture --count 3` in one inspector session
    /// (object ids are only comparable within one) and returns it with its stdout.
    fn capture_three(&self, dir: &Path) -> (Child, BufReader<std::process::ChildStdout>) {
        let (how, target) = if self.addr.is_empty() {
            ("--pid", self.child.id().to_string())
        } else {
            ("--inspect", self.addr.clone())
        };
        let mut child = command()
            .args([
                "heap",
                "capture",
                how,
                &target,
                "--gc",
                "--count",
                "3",
                "--interval",
                "3s",
            ])
            .args(["--prefix", "leak", "-o", dir.to_str().unwrap()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        (child, stdout)
    }
}

/// The next snapshot path `capture` printed.
fn next_path(stdout: &mut BufReader<std::process::ChildStdout>) -> String {
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(
        line.trim_end().ends_with(".heapsnapshot"),
        "capture printed {line:?}"
    );
    line.trim_end().to_string()
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn live_capture_then_leaks_finds_exactly_what_leaked() {
    let dir = tempfile::tempdir().unwrap();
    let mut target = Target::start();
    // Warm up so code and the array's backing store exist before the baseline.
    target.command("leak 5");
    target.command("churn 100");
    let (mut capture, mut listed) = target.capture_three(dir.path());
    let baseline = next_path(&mut listed);
    target.command("leak 40");
    target.command("churn 500");
    let target_snapshot = next_path(&mut listed);
    target.command("leak 7");
    target.command("churn 500");
    let final_snapshot = next_path(&mut listed);
    assert!(capture.wait().unwrap().success());
    let paths = [baseline, target_snapshot, final_snapshot];

    let mut args = vec!["heap", "leaks", "--format", "json", "--fail-on-leak"];
    args.extend(paths.iter().map(String::as_str));
    let out = heapwise(&args);
    assert_eq!(
        out.status.code(),
        Some(10),
        "a leak was found and --fail-on-leak was given"
    );
    let v = json(&out);
    assert_eq!(v["schema"], "heapwise.heap-leaks/1");
    let count = |name: &str| {
        v["by_constructor"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .map_or(0, |c| c["count"].as_u64().unwrap())
    };
    assert_eq!(count("Leaked"), 40);
    assert_eq!(count("Churned"), 0);
    let cluster = v["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["constructor"] == "Leaked")
        .unwrap();
    assert_eq!(cluster["count"], 40);
    assert_eq!(cluster["cause"], "unbounded-collection");
    assert!(
        cluster["retainer_path"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["edge"] == "kept")
    );

    // Text output names the cluster and its fix.
    let mut args = vec!["heap", "leaks"];
    args.extend(paths.iter().map(String::as_str));
    let text = String::from_utf8(heapwise(&args).stdout).unwrap();
    assert!(text.contains("Leaked x 40"), "{text}");
    assert!(text.contains("What to do:"), "{text}");
}

#[test]
fn capture_series_keeps_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::start();
    let out = heapwise(&[
        "heap",
        "capture",
        "--inspect",
        &target.addr,
        "--count",
        "3",
        "--interval",
        "100ms",
        "--keep",
        "2",
        "--prefix",
        "svc",
        "-o",
        dir.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listed: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    // Each file is listed when written; the oldest is then removed.
    assert_eq!(listed.len(), 3);
    assert!(
        listed[0].ends_with("-1.heapsnapshot") && listed[2].ends_with("-3.heapsnapshot"),
        "{listed:?}"
    );
    let mut on_disk: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path().to_str().unwrap().to_string())
        .collect();
    on_disk.sort();
    assert_eq!(on_disk, listed[1..]);
    for path in on_disk {
        let v = json(&heapwise(&["heap", "summary", "--format", "json", &path]));
        assert!(v["nodes"].as_u64().unwrap() > 1000);
    }
}

#[test]
fn capture_refuses_an_address_with_nothing_listening() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let dir = tempfile::tempdir().unwrap();
    let out = heapwise(&[
        "heap",
        "capture",
        "--inspect",
        &addr,
        "-o",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&addr));
}

#[test]
fn watch_flags_a_growing_heap_and_finds_what_leaked() {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::start_script("node/grow.js", &["grow"]);
    let out = heapwise(&[
        "heap",
        "watch",
        "--inspect",
        &target.addr,
        "--interval",
        "250ms",
        "--duration",
        "6s",
        "--gc",
        "--format",
        "json",
        "--fail-on-leak",
        "--snapshots",
        dir.path().to_str().unwrap(),
        "--snapshot-interval",
        "1s",
    ]);
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["schema"], "heapwise.heap-watch/1");
    assert!(v["samples"].as_array().unwrap().len() >= 15);
    assert_eq!(v["verdict"]["leak"], true, "{}", v["verdict"]);
    assert!(v["verdict"]["slope_bytes_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(v["snapshots"].as_array().unwrap().len(), 3);
    let leaks = &v["leaks"];
    let chunk = leaks["by_constructor"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Chunk")
        .unwrap();
    assert!(chunk["count"].as_u64().unwrap() > 0);
    let cluster = leaks["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["constructor"] == "Chunk")
        .unwrap();
    assert_eq!(cluster["cause"], "unbounded-collection");
}

#[test]
fn watch_calls_a_flat_heap_no_leak() {
    let target = Target::start_script("node/grow.js", &["steady"]);
    let out = heapwise(&[
        "heap",
        "watch",
        "--inspect",
        &target.addr,
        "--interval",
        "250ms",
        "--duration",
        "6s",
        "--gc",
        "--format",
        "json",
        "--fail-on-leak",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["verdict"]["leak"], false, "{}", v["verdict"]);
    assert!(v["leaks"].is_null());
}

/// express 4 from the npm registry, installed once into cargo's per-target
/// temporary directory and reused by later runs; returns its `node_modules`.
fn express() -> PathBuf {
    static INSTALLED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("express4");
            let modules = dir.join("node_modules");
            if !modules.join("express/package.json").exists() {
                std::fs::create_dir_all(&dir).unwrap();
                let out = Command::new("npm")
                    .args([
                        "install",
                        "--no-audit",
                        "--no-fund",
                        "--no-save",
                        "--prefix",
                    ])
                    .arg(&dir)
                    .arg("express@4")
                    .output()
                    .expect("npm (part of this machine kind's Node.js) runs");
                assert!(
                    out.status.success(),
                    "npm install express@4 failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            modules
        })
        .clone()
}

/// `listeners=N audit=N` as numbers.
fn held(answer: &str) -> (u64, u64) {
    let value = |key: &str| -> u64 {
        answer
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(key))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{key} in {answer:?}"))
    };
    (value("listeners="), value("audit="))
}

/// Three snapshots of the express app, shared by the tests that read them
/// (this file's and `html.rs`'s).
pub struct ExpressSnapshots {
    /// BASELINE, TARGET, FINAL.
    pub paths: [String; 3],
    /// Listeners (and Map entries) the app added between BASELINE and
    /// TARGET: what leaked.
    pub leaked: u64,
}

/// The app runs without `--inspect`: `capture --pid` opens its inspector as
/// SIGUSR1 does. 60 leaking requests between BASELINE and TARGET, 40 more
/// before FINAL.
pub fn express_snapshots() -> &'static ExpressSnapshots {
    static SNAPSHOTS: std::sync::OnceLock<ExpressSnapshots> = std::sync::OnceLock::new();
    SNAPSHOTS.get_or_init(|| {
        let dir = common::test_dir("express-snapshots");
        let modules = express();
        let mut target = Target::launch(
            "node/express_leak.js",
            &[],
            &[("NODE_PATH", &modules)],
            false,
        );
        // Warm up: routes compiled, the listener array and the Map exist before the baseline.
        target.ask("leak 20");
        target.ask("ok 20");
        let (mut capture, mut listed) = target.capture_three(&dir);
        let baseline = next_path(&mut listed);
        let before = held(&target.ask("leak 60"));
        target.ask("ok 30");
        let target_snapshot = next_path(&mut listed);
        let after = held(&target.ask("leak 40"));
        target.ask("ok 30");
        let final_snapshot = next_path(&mut listed);
        assert!(capture.wait().unwrap().success());
        assert_eq!(
            (before.0, after.0),
            (80, 120),
            "the app's own count of listeners"
        );
        ExpressSnapshots {
            paths: [baseline, target_snapshot, final_snapshot],
            // Made after BASELINE, present in TARGET (the first 60), alive in FINAL.
            leaked: before.0 - 20,
        }
    })
}

#[test]
fn leaks_of_a_real_express_app_are_two_roots_the_listener_array_and_the_map() {
    let snapshots = express_snapshots();
    let [baseline, target_snapshot, final_snapshot] = &snapshots.paths;
    let leaked = snapshots.leaked;
    let out = heapwise(&[
        "heap",
        "leaks",
        "--format",
        "json",
        baseline,
        target_snapshot,
        final_snapshot,
    ]);
    let v = json(&out);
    let roots = v["roots"].as_array().unwrap();
    let holders: Vec<&str> = roots
        .iter()
        .map(|r| r["holder"].as_str().unwrap())
        .collect();
    assert_eq!(
        holders,
        [
            "the 'shutdown' listeners of EventEmitter 'bus'",
            "Map 'audit'"
        ],
        "exactly two roots, not one per class held"
    );
    assert_eq!(roots[0]["cause"], "event-listener");
    assert_eq!(
        roots[0]["entries"], leaked,
        "one listener per leaking request"
    );
    assert_eq!(roots[1]["cause"], "unbounded-collection");
    assert_eq!(
        roots[1]["entries"], leaked,
        "one Map entry per leaking request"
    );
    let held_by_listeners: Vec<&str> = roots[0]["holds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    for class in ["IncomingMessage", "ServerResponse", "Socket"] {
        assert!(
            held_by_listeners.contains(&class),
            "{class} in {held_by_listeners:?}"
        );
    }
    assert!(
        v["clusters"].as_array().unwrap().len() > 2,
        "the clusters stay, as detail"
    );
    let last = roots[1]["path"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["node"].as_str(), last["edge"].as_str()),
        (Some("system / Context"), Some("audit"))
    );

    let text = String::from_utf8(
        heapwise(&["heap", "leaks", baseline, target_snapshot, final_snapshot]).stdout,
    )
    .unwrap();
    assert!(
        text.contains("What keeps growing: 2 things keep growing"),
        "{text}"
    );
    assert!(
        text.contains("#1 the 'shutdown' listeners of EventEmitter 'bus' - 60 entries"),
        "{text}"
    );
}

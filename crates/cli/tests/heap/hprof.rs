//! `heapwise heap` on JVM heap dumps, end to end: a real JVM running
//! `crates/hprof/tests/java/Leaky.java`, dumped with `jcmd PID GC.heap_dump`;
//! the truth is what the program says it holds and `jmap -histo:live`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use crate::common::{self, heapwise, stderr, test_dir};

/// The leaking program, compiled once into the scratch directory.
fn classes() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = test_dir("hprof-classes");
            let status = Command::new("javac")
                .arg("-d")
                .arg(&dir)
                .arg(common::crate_test_file("hprof", "java/Leaky.java"))
                .status()
                .unwrap_or_else(|err| panic!("these tests need a JDK (javac, jcmd), which this machine kind provides: {err}"));
            assert!(status.success());
            dir
        })
        .clone()
}

struct Jvm {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    pid: String,
}

impl Jvm {
    fn start() -> Jvm {
        let mut child = Command::new("java")
            .args(["-Xshare:off", "-Xmx256m", "-cp"])
            .arg(classes())
            .arg("Leaky")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let pid = line.trim().strip_prefix("ready ").unwrap().to_string();
        Jvm {
            child,
            stdin,
            stdout,
            pid,
        }
    }

    fn command(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}").unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line
    }

    fn dump(&self, path: &Path) {
        let out = Command::new("jcmd")
            .args([&self.pid, "GC.heap_dump"])
            .arg(path)
            .output()
            .unwrap();
        assert!(out.status.success() && path.exists());
    }
}

impl Drop for Jvm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Three dumps of a program that adds 200 sessions and 100 listeners between each.
fn three_dumps(name: &str) -> Vec<String> {
    let dir = test_dir(name);
    let mut jvm = Jvm::start();
    jvm.command("sessions 20");
    jvm.command("listeners 20");
    jvm.command("gc");
    let mut paths = Vec::new();
    for n in 0..3 {
        if n > 0 {
            jvm.command("sessions 200");
            jvm.command("listeners 100");
            jvm.command("gc");
        }
        let path = dir.join(format!("dump-{n}.hprof"));
        jvm.dump(&path);
        paths.push(path.to_str().unwrap().to_string());
    }
    paths
}

#[test]
fn hprof_summary_diff_and_leaks_follow_the_heap_contract() {
    let paths = three_dumps("hprof-contract");
    let summary = common::json(&heapwise(&[
        "heap", "summary", "--format", "json", &paths[2],
    ]));
    assert_eq!(summary["schema"], "heapwise.heap-summary/1");
    assert_eq!(summary["format"], "hprof");
    let session = summary["constructors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Leaky$Session")
        .unwrap();
    assert_eq!(session["count"], 420, "20 + 200 + 200 sessions");
    assert!(session["retained_bytes"].as_u64() > session["self_bytes"].as_u64());

    let diff = common::json(&heapwise(&[
        "heap", "diff", "--format", "json", &paths[0], &paths[1],
    ]));
    assert_eq!(diff["schema"], "heapwise.heap-diff/1");
    assert_eq!(diff["matched_by"], "count");
    let row = diff["constructors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Leaky$Request")
        .unwrap();
    assert_eq!(
        (row["new"].as_u64(), row["delta"].as_i64()),
        (Some(100), Some(100))
    );

    let mut args = vec!["heap", "leaks", "--format", "json", "--fail-on-leak"];
    args.extend(paths.iter().map(String::as_str));
    let out = heapwise(&args);
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    let leaks = common::json(&out);
    assert_eq!(leaks["schema"], "heapwise.heap-leaks/1");
    let roots = leaks["roots"].as_array().unwrap();
    let holders: Vec<&str> = roots
        .iter()
        .map(|r| r["holder"].as_str().unwrap())
        .collect();
    assert_eq!(
        holders,
        [
            "static field Leaky.SESSIONS (java.util.HashMap)",
            "Leaky$EventBus.listeners (java.util.ArrayList)"
        ]
    );
    assert_eq!(
        (
            roots[0]["entries"].as_u64(),
            roots[0]["baseline_entries"].as_u64()
        ),
        (Some(420), Some(20))
    );
    assert_eq!(roots[0]["cause"], "unbounded-collection");
    assert_eq!(
        (roots[1]["entries"].as_u64(), roots[1]["cause"].as_str()),
        (Some(220), Some("event-listener"))
    );
    assert_eq!(roots[1]["path"][0]["node"], "class Leaky");
    assert_eq!(roots[1]["path"][0]["edge"], "BUS");

    let mut args = vec!["heap", "leaks"];
    args.extend(paths.iter().map(String::as_str));
    let text = String::from_utf8(heapwise(&args).stdout).unwrap();
    assert!(
        text.contains("What keeps growing: 2 things keep growing"),
        "{text}"
    );
    assert!(
        text.contains(
            "#1 static field Leaky.SESSIONS (java.util.HashMap) - 420 entries (+400 since BASELINE)"
        ),
        "{text}"
    );
}

#[test]
fn a_cut_dump_and_mixed_kinds_are_refused_in_one_sentence() {
    let paths = three_dumps("hprof-bad");
    let whole = std::fs::read(&paths[0]).unwrap();
    let cut = test_dir("hprof-bad").join("cut.hprof");
    std::fs::write(&cut, &whole[..whole.len() * 2 / 3]).unwrap();
    let out = heapwise(&["heap", "summary", cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let message = stderr(&out);
    assert!(
        message.contains("cut short") && message.lines().count() == 1,
        "{message}"
    );

    let v8 = common::crate_test_file("v8", "fixtures/chain.heapsnapshot");
    let out = heapwise(&["heap", "diff", v8.to_str().unwrap(), &paths[0]]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is a V8 heap snapshot but"),
        "{}",
        stderr(&out)
    );
}

/// `capture --pid` on a JVM: dumps through the attach mechanism (no jcmd
/// involved), listed as they are written, then searched for leaks.
#[test]
fn capture_pid_takes_jvm_dumps_that_leaks_reads() {
    let dir = test_dir("hprof-capture");
    let mut jvm = Jvm::start();
    jvm.command("sessions 20");
    jvm.command("gc");
    let mut capture = common::command()
        .args([
            "heap",
            "capture",
            "--pid",
            &jvm.pid,
            "--count",
            "3",
            "--interval",
            "2s",
            "--prefix",
            "jvm",
            "-o",
        ])
        .arg(&dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut listed = BufReader::new(capture.stdout.take().unwrap());
    let mut next = || {
        let mut line = String::new();
        listed.read_line(&mut line).unwrap();
        assert!(
            line.trim_end().ends_with(".hprof"),
            "capture printed {line:?}"
        );
        line.trim_end().to_string()
    };
    let baseline = next();
    jvm.command("sessions 150");
    jvm.command("gc");
    let target = next();
    jvm.command("sessions 150");
    jvm.command("gc");
    let final_dump = next();
    assert!(capture.wait().unwrap().success());
    let out = heapwise(&[
        "heap",
        "leaks",
        "--format",
        "json",
        &baseline,
        &target,
        &final_dump,
    ]);
    let roots = common::json(&out)["roots"].as_array().unwrap().clone();
    assert_eq!(roots.len(), 1, "{roots:?}");
    assert_eq!(
        roots[0]["holder"],
        "static field Leaky.SESSIONS (java.util.HashMap)"
    );
    assert_eq!(
        (
            roots[0]["entries"].as_u64(),
            roots[0]["baseline_entries"].as_u64()
        ),
        (Some(320), Some(20))
    );
}

#[test]
fn capture_pid_refuses_a_process_that_is_neither_a_jvm_nor_node() {
    let out = heapwise(&[
        "heap",
        "capture",
        "--pid",
        &std::process::id().to_string(),
        "-o",
        test_dir("hprof-refuse").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is not Node.js"), "{}", stderr(&out));
}

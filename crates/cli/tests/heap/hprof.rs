//! `heapwise heap` on JVM heap dumps, end to end: a real JVM running
//! `crates/hprof/tests/java/Leaky.java`, dumped with `jcmd PID GC.heap_dump`
//! (and `-gz=1`); the truth is what the program says it holds. One run's
//! three dumps serve every test that reads dumps ([`dumps`]).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::OnceLock;

use flate2::read::{GzDecoder, MultiGzDecoder};

use crate::common::{self, heapwise, stderr, test_dir};

/// The leaking program, compiled once into the scratch directory.
fn classes() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
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

    /// Sends a command; returns what the program says it holds
    /// (`done sessions=N listeners=N local=N plugins=N`).
    fn command(&mut self, command: &str) -> BTreeMap<String, u64> {
        writeln!(self.stdin, "{command}").unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let said = line.trim().strip_prefix("done").expect("done");
        said.split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
            .collect()
    }

    /// `jcmd PID GC.heap_dump [-gz=1] PATH`.
    fn dump(&self, path: &Path, gzip: bool) {
        let out = Command::new("jcmd")
            .args([&self.pid, "GC.heap_dump"])
            .args(gzip.then_some("-gz=1"))
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

/// Three dumps of one run of the program, shared by the tests that read
/// them (this file's and `html.rs`'s).
pub struct Dumps {
    /// BASELINE, TARGET, FINAL.
    pub paths: [String; 3],
    /// FINAL again, taken right after it with `jcmd PID GC.heap_dump -gz=1`.
    pub gzipped: String,
    /// What the program said it holds when FINAL was taken.
    pub held: BTreeMap<String, u64>,
}

/// The program adds 200 sessions, 100 listeners and 100 plugins (each
/// with a class loader of its own) between the dumps, after 20 of each
/// before BASELINE.
pub fn dumps() -> &'static Dumps {
    static DUMPS: OnceLock<Dumps> = OnceLock::new();
    DUMPS.get_or_init(|| {
        let dir = test_dir("hprof-dumps");
        let mut jvm = Jvm::start();
        jvm.command("sessions 20");
        jvm.command("listeners 20");
        jvm.command("plugins 20");
        let mut held = jvm.command("gc");
        let mut paths = Vec::new();
        for n in 0..3 {
            if n > 0 {
                jvm.command("sessions 200");
                jvm.command("listeners 100");
                jvm.command("plugins 100");
                held = jvm.command("gc");
            }
            let path = dir.join(format!("dump-{n}.hprof"));
            jvm.dump(&path, false);
            paths.push(path.to_str().unwrap().to_string());
        }
        let gzipped = dir.join("dump-2.hprof.gz");
        jvm.dump(&gzipped, true);
        Dumps {
            paths: paths.try_into().unwrap(),
            gzipped: gzipped.to_str().unwrap().to_string(),
            held,
        }
    })
}

/// `heapwise heap leaks --format json` over three dumps.
fn leaks_json(paths: &[&str]) -> serde_json::Value {
    let mut args = vec!["heap", "leaks", "--format", "json"];
    args.extend(paths);
    common::json(&heapwise(&args))
}

#[test]
fn hprof_summary_diff_and_leaks_follow_the_heap_contract() {
    let dumps = dumps();
    let paths = &dumps.paths;
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
            "static field Leaky.PLUGINS (java.util.ArrayList)",
            "static field Leaky.SESSIONS (java.util.HashMap)",
            "Leaky$EventBus.listeners (java.util.ArrayList)"
        ],
        "largest first: each plugin keeps a class loader"
    );
    assert_eq!(
        (
            roots[1]["entries"].as_u64(),
            roots[1]["baseline_entries"].as_u64()
        ),
        (Some(dumps.held["sessions"]), Some(20))
    );
    assert_eq!(roots[1]["cause"], "unbounded-collection");
    assert_eq!(
        (roots[2]["entries"].as_u64(), roots[2]["cause"].as_str()),
        (Some(dumps.held["listeners"]), Some("event-listener"))
    );
    assert_eq!(roots[2]["path"][0]["node"], "class Leaky");
    assert_eq!(roots[2]["path"][0]["edge"], "BUS");

    let mut args = vec!["heap", "leaks"];
    args.extend(paths.iter().map(String::as_str));
    let text = String::from_utf8(heapwise(&args).stdout).unwrap();
    assert!(
        text.contains("What keeps growing: 3 things keep growing"),
        "{text}"
    );
    assert!(
        text.contains(
            "#2 static field Leaky.SESSIONS (java.util.HashMap) - 420 entries (+400 since BASELINE)"
        ),
        "{text}"
    );
}

/// Each plugin is an object of a class its own URLClassLoader defined, kept
/// in a static list: the list holds one loader per plugin, with the class
/// it loaded.
#[test]
fn a_class_loader_that_never_dies_is_named_with_the_programs_counts() {
    let dumps = dumps();
    let paths: Vec<&str> = dumps.paths.iter().map(String::as_str).collect();
    let leaks = leaks_json(&paths);
    let plugins = dumps.held["plugins"];
    assert_eq!(plugins, 220, "20 + 100 + 100, as the program says");
    let root = leaks["roots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["cause"] == "class-loader")
        .unwrap_or_else(|| panic!("no class-loader root: {}", leaks["roots"]));
    assert_eq!(
        root["holder"],
        "static field Leaky.PLUGINS (java.util.ArrayList)"
    );
    assert_eq!(
        (root["entries"].as_u64(), root["baseline_entries"].as_u64()),
        (Some(plugins), Some(20))
    );
    let held = |name: &str| {
        root["holds"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == name)
            .and_then(|h| h["count"].as_u64())
    };
    assert_eq!(
        held("java.net.URLClassLoader"),
        Some(plugins),
        "one loader each"
    );
    assert_eq!(held("Leaky$Plugin"), Some(plugins));
    assert_eq!(
        held("java.lang.Class"),
        Some(plugins),
        "the Plugin class each loader defined"
    );
    assert!(
        root["recommendation"].as_str().unwrap().contains(&format!(
            "keep {plugins} class loaders (java.net.URLClassLoader) alive"
        )),
        "{}",
        root["recommendation"]
    );
}

/// HotSpot's `-gz=1` writes one gzip member per block; heapwise reads the
/// file as the dump it holds: the same summary and the same leaks as the
/// file decompressed.
#[test]
fn a_gzipped_dump_from_jcmd_reads_as_the_dump_it_holds() {
    let dumps = dumps();
    let compressed = std::fs::read(&dumps.gzipped).unwrap();
    let mut plain = Vec::new();
    MultiGzDecoder::new(compressed.as_slice())
        .read_to_end(&mut plain)
        .unwrap();
    let mut first_member = Vec::new();
    GzDecoder::new(compressed.as_slice())
        .read_to_end(&mut first_member)
        .unwrap();
    assert!(
        first_member.len() < plain.len(),
        "several gzip members ({} bytes in the first of {})",
        first_member.len(),
        plain.len()
    );
    let decompressed = test_dir("hprof-dumps").join("dump-2-gunzipped.hprof");
    std::fs::write(&decompressed, &plain).unwrap();
    let decompressed = decompressed.to_str().unwrap();

    let summary = |path: &str| heapwise(&["heap", "summary", "--format", "json", path]).stdout;
    let of_gzip = summary(&dumps.gzipped);
    assert!(!of_gzip.is_empty());
    assert_eq!(
        of_gzip,
        summary(decompressed),
        "the same summary, byte for byte"
    );

    let [baseline, target, _] = &dumps.paths;
    assert_eq!(
        leaks_json(&[baseline, target, &dumps.gzipped]),
        leaks_json(&[baseline, target, decompressed]),
    );
}

#[test]
fn a_cut_dump_and_mixed_kinds_are_refused_in_one_sentence() {
    let dumps = dumps();
    let dir = test_dir("hprof-bad");
    for (source, name) in [
        (&dumps.paths[0], "cut.hprof"),
        (&dumps.gzipped, "cut.hprof.gz"),
    ] {
        let whole = std::fs::read(source).unwrap();
        let cut = dir.join(name);
        std::fs::write(&cut, &whole[..whole.len() * 2 / 3]).unwrap();
        let out = heapwise(&["heap", "summary", cut.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1));
        let message = stderr(&out);
        assert!(
            message.contains("cut short") && message.lines().count() == 1,
            "{message}"
        );
    }

    let v8 = common::crate_test_file("v8", "fixtures/chain.heapsnapshot");
    let out = heapwise(&["heap", "diff", v8.to_str().unwrap(), &dumps.paths[0]]);
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

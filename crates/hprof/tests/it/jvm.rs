//! A Java program under test: compiled once with javac, run with its
//! stdin and stdout piped, dumped with `jcmd PID GC.heap_dump` and counted
//! with `jmap -histo:live PID`.
//!
//! The JVM runs with `-Xshare:off`: with the class-data-sharing archive,
//! `jmap -histo` also counts the `java.lang.Class` mirrors of archived classes
//! that were never loaded, which no heap dump contains.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::OnceLock;

/// Compiles `tests/java/NAME.java` once per test run; returns the class directory.
pub fn classes(name: &str) -> PathBuf {
    static BUILT: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let sources: Vec<PathBuf> = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/java"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "java"))
            .collect();
        let status = Command::new("javac")
            .arg("-d")
            .arg(dir.path())
            .args(&sources)
            .status()
            .unwrap_or_else(|err| panic!("these tests need a JDK (javac, jcmd, jmap), which this machine kind provides: {err}"));
        assert!(status.success(), "javac failed");
        dir
    });
    assert!(dir.path().join(format!("{name}.class")).exists());
    dir.path().to_path_buf()
}

pub struct Jvm {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    pub pid: u32,
}

impl Jvm {
    pub fn start(class: &str) -> Jvm {
        let mut child = Command::new("java")
            .args(["-Xshare:off", "-Xmx256m", "-XX:+UseG1GC", "-cp"])
            .arg(classes(class))
            .arg(class)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("java runs");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let pid = line
            .trim()
            .strip_prefix("ready ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the program said {line:?}"));
        Jvm {
            child,
            stdin,
            stdout,
            pid,
        }
    }

    /// Sends a command; returns what the program says it holds (`done k=v ...`).
    pub fn command(&mut self, command: &str) -> BTreeMap<String, u64> {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let rest = line.trim().strip_prefix("done").expect("done");
        rest.split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
            .collect()
    }

    /// `jcmd PID GC.heap_dump PATH` (live objects, after a full GC).
    pub fn dump(&self, path: &Path) {
        let out = Command::new("jcmd")
            .arg(self.pid.to_string())
            .arg("GC.heap_dump")
            .arg(path)
            .output()
            .unwrap();
        assert!(
            out.status.success() && path.exists(),
            "jcmd: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    /// `jmap -histo:live PID` as class name → (count, bytes), names as Java
    /// prints them (`byte[]`, `java.lang.Object[]`).
    pub fn histogram(&self) -> BTreeMap<String, (u64, u64)> {
        let out = Command::new("jmap")
            .args(["-histo:live", &self.pid.to_string()])
            .output()
            .unwrap();
        assert!(out.status.success());
        let mut classes: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 4 || !fields[0].ends_with(':') {
                continue;
            }
            let (Ok(count), Ok(bytes)) = (fields[1].parse::<u64>(), fields[2].parse::<u64>())
            else {
                continue;
            };
            let name = if fields[3].starts_with('[') {
                heapwise_hprof::java_class_name(&fields[3].replace('.', "/"))
            } else {
                fields[3].to_string()
            };
            let row = classes.entry(name).or_default();
            row.0 += count;
            row.1 += bytes;
        }
        classes
    }
}

impl Drop for Jvm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

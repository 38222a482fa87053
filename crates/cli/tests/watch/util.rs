//! What every watch test needs: the binary, the shaped test program,
//! processes that are cleaned up, JSON reports.

pub use std::io::{BufRead, BufReader, Read, Write};
pub use std::net::{TcpListener, TcpStream};
pub use std::path::{Path, PathBuf};
pub use std::process::{Child, Command, Output, Stdio};
pub use std::sync::OnceLock;
pub use std::time::{Duration, Instant};

pub use serde_json::Value;

// `heapwise()` is the binary under test, as a `Command`.
pub use crate::common::{command as heapwise, json, scratch};

pub const MIB: f64 = 1024.0 * 1024.0;

/// `shape`, compiled once per test run.
pub fn shape() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/watch_programs/shape.c");
        let bin = scratch().join("shape");
        let out = Command::new("gcc")
            .args(["-O2", "-o"])
            .arg(&bin)
            .arg(&source)
            .arg("-lm")
            .output()
            .expect("gcc can be run");
        assert!(
            out.status.success(),
            "gcc failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        bin
    })
}

/// Fails the test (not skips it) when a tool is missing.
pub fn need(tool: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{tool} is not installed: apt-get install -y {package} (.ci/run does)"
    );
}

/// A process the test started; killed (with its process group) on drop.
pub struct Target {
    child: Child,
    /// Kept open: a closed pipe would kill the later "ready" writers.
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Target {
    /// Starts `shape ARGS` in its own process group and waits for "ready".
    pub fn start(args: &[&str]) -> Target {
        Target::start_all(args, 1)
    }

    /// As [`Target::start`], waiting for `processes` "ready" lines (a tree).
    pub fn start_all(args: &[&str], processes: usize) -> Target {
        use std::os::unix::process::CommandExt;
        let mut child = Command::new(shape())
            .args(args)
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("shape starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        for _ in 0..processes {
            let mut line = String::new();
            stdout.read_line(&mut line).expect("shape says ready");
            assert!(line.starts_with("ready "), "{line}");
        }
        Target {
            child,
            _stdout: stdout,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        kill_group(self.child.id());
        let _ = self.child.wait();
    }
}

pub fn kill_group(pid: u32) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
}

/// Kills a process `heapwise watch` started and left running.
pub fn kill_pid(pid: u64) {
    // SAFETY: as above.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
}

/// Running and not a zombie.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
        !s.lines()
            .any(|l| l.starts_with("State:") && l.contains('Z'))
    })
}

/// Runs `command` to completion. Its standard error goes through a file:
/// a program `watch` started writes there too and outlives heapwise, so a
/// pipe would stay open after heapwise is done.
pub fn finish(command: &mut Command) -> Output {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let path = scratch().join(format!("stderr-{}", RUNS.fetch_add(1, Ordering::Relaxed)));
    let file = std::fs::File::create(&path).expect("stderr file");
    let child = command
        .stdout(Stdio::piped())
        .stderr(file)
        .spawn()
        .expect("heapwise starts");
    let mut out = child.wait_with_output().expect("heapwise ends");
    out.stderr = std::fs::read(&path).unwrap_or_default();
    out
}

pub fn watch_json(args: &[&str]) -> (Output, Value) {
    let out = finish(
        heapwise()
            .args(["watch", "--no-tui", "--format", "json"])
            .args(args),
    );
    let report = json(&out);
    (out, report)
}

pub fn f(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("not a number: {value}"))
}

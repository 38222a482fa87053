//! Loading a library into real running processes and calling it: the
//! call's result and side effect are what the library does, and the
//! process goes on exactly as before — not stopped, not traced, its own
//! output still counting, no descriptor left open.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use heapwise_attach::{AttachError, call_loaded, check, load_and_call};

fn programs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs")
}

fn build_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

fn gcc(args: &[&str]) {
    let status = Command::new("gcc").args(args).status().expect("gcc runs");
    assert!(status.success(), "gcc {args:?}");
}

/// The target (dynamic and static) and the probe library, built once
/// before any test runs one: a build while another thread starts a
/// process can make `exec` fail with "text file busy".
fn built() -> &'static Path {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = build_dir();
        let target = programs().join("target.c");
        let target = target.to_str().unwrap();
        let out = dir.join("target");
        gcc(&["-O2", "-pthread", "-o", out.to_str().unwrap(), target]);
        let out = dir.join("target-static");
        gcc(&[
            "-O2",
            "-pthread",
            "-static",
            "-o",
            out.to_str().unwrap(),
            target,
        ]);
        let probe = programs().join("probe.c");
        let out = dir.join("libprobe.so");
        gcc(&[
            "-O2",
            "-shared",
            "-fPIC",
            "-o",
            out.to_str().unwrap(),
            probe.to_str().unwrap(),
        ]);
    });
    build_dir()
}

fn target_binary(static_link: bool) -> PathBuf {
    built().join(if static_link {
        "target-static"
    } else {
        "target"
    })
}

fn probe_library() -> PathBuf {
    built().join("libprobe.so")
}

/// A running target and its output lines.
struct Target {
    child: Child,
    lines: std::sync::mpsc::Receiver<u64>,
}

impl Target {
    fn start(static_link: bool) -> Target {
        let mut child = Command::new(target_binary(static_link))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line.trim().parse().unwrap_or(0)).is_err() {
                    break;
                }
            }
        });
        let target = Target { child, lines };
        // Running: it has printed.
        target.lines.recv_timeout(Duration::from_secs(5)).unwrap();
        target
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The newest counter it printed within `wait`.
    fn latest(&self, wait: Duration) -> u64 {
        let deadline = Instant::now() + wait;
        let mut last = 0;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(n) => last = n,
                Err(_) => break,
            }
        }
        last
    }

    fn state(&self) -> (char, i32) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .unwrap()
                .trim()
                .to_string()
        };
        (
            field("State:").chars().next().unwrap(),
            field("TracerPid:").parse().unwrap(),
        )
    }

    fn descriptors(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .unwrap()
            .count()
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_library_is_loaded_and_called_and_the_process_goes_on_as_before() {
    let target = Target::start(false);
    let before = target.latest(Duration::from_millis(200));
    let fds = target.descriptors();
    let marker = build_dir().join(format!("marker-{}", target.pid()));
    let result = load_and_call(
        target.pid(),
        &probe_library(),
        "heapwise_probe",
        marker.to_str().unwrap(),
    )
    .unwrap();
    assert_eq!(result, 42);
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        format!("attached {}\n", target.pid())
    );
    // Still counting, about 100 a second: not stopped, its sleep restarted.
    let after = target.latest(Duration::from_millis(500));
    assert!(after > before + 20, "counter {before} -> {after}");
    let (state, tracer) = target.state();
    assert!(matches!(state, 'S' | 'R'), "state {state}");
    assert_eq!(tracer, 0, "still traced");
    assert_eq!(target.descriptors(), fds, "descriptors changed");
    // The library stays loaded: its entry can be called again.
    std::fs::remove_file(&marker).unwrap();
    let again = call_loaded(
        target.pid(),
        &probe_library(),
        "heapwise_probe",
        marker.to_str().unwrap(),
    )
    .unwrap();
    assert_eq!(again, 42);
    assert!(marker.exists());
}

#[test]
fn fifty_attaches_in_a_row_leave_no_trace() {
    let target = Target::start(false);
    let fds = target.descriptors();
    let marker = build_dir().join(format!("fifty-{}", target.pid()));
    load_and_call(
        target.pid(),
        &probe_library(),
        "heapwise_probe",
        marker.to_str().unwrap(),
    )
    .unwrap();
    let start = Instant::now();
    for _ in 0..50 {
        assert_eq!(
            call_loaded(
                target.pid(),
                &probe_library(),
                "heapwise_probe",
                marker.to_str().unwrap()
            )
            .unwrap(),
            42
        );
    }
    let per_attach = start.elapsed() / 50;
    let before = target.latest(Duration::from_millis(100));
    let after = target.latest(Duration::from_millis(400));
    assert!(after > before + 10, "counter {before} -> {after}");
    assert_eq!(target.descriptors(), fds);
    assert_eq!(target.state().1, 0);
    assert!(
        per_attach < Duration::from_secs(1),
        "{per_attach:?} per attach"
    );
}

#[test]
fn refusals_name_the_reason_and_touch_nothing() {
    // No such process.
    assert!(matches!(
        check(i32::MAX - 1),
        Err(AttachError::NoSuchProcess(_))
    ));
    // A static binary has no libc to load anything with.
    let static_target = Target::start(true);
    let err = check(static_target.pid()).unwrap_err();
    assert!(matches!(err, AttachError::Static(_)), "{err}");
    assert!(err.to_string().contains("statically linked"), "{err}");
    let before = static_target.latest(Duration::from_millis(100));
    assert!(static_target.latest(Duration::from_millis(300)) > before);
    // Another tracer: this test process seizes it first.
    let traced = Target::start(false);
    // SAFETY: seizing a child of ours; it keeps running.
    let rc = unsafe { libc::ptrace(libc::PTRACE_SEIZE, traced.pid(), 0, 0) };
    assert_eq!(rc, 0);
    let err = check(traced.pid()).unwrap_err();
    assert!(
        matches!(err, AttachError::Traced { tracer, .. } if tracer == std::process::id() as i32 || tracer > 0),
        "{err}"
    );
    assert!(err.to_string().contains("already being traced"), "{err}");
}

#[test]
fn a_library_that_cannot_be_loaded_is_reported_with_dlerror() {
    let target = Target::start(false);
    let not_elf = build_dir().join("not-a-library.so");
    std::fs::write(&not_elf, b"not an ELF file").unwrap();
    let err = load_and_call(target.pid(), &not_elf, "heapwise_probe", "x").unwrap_err();
    assert!(matches!(err, AttachError::LoadFailed { .. }), "{err}");
    assert!(err.to_string().contains("could not load"), "{err}");
    let before = target.latest(Duration::from_millis(100));
    assert!(target.latest(Duration::from_millis(300)) > before);
    assert_eq!(target.state().1, 0);
}

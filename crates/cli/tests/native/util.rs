//! Building the test programs, running them under `heapwise run`, and
//! reading the reports.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

/// The `heapwise` binary under test.
pub fn heapwise() -> Command {
    ensure_preload();
    let mut command = Command::new(env!("CARGO_BIN_EXE_heapwise"));
    command
        .env_remove("LD_PRELOAD")
        .env_remove("HEAPWISE_PRELOAD");
    command
}

/// `cargo test` builds binaries but not cdylibs: build the preload once,
/// with the same profile, so `heapwise run` finds it beside the binary.
fn ensure_preload() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let exe = Path::new(env!("CARGO_BIN_EXE_heapwise"));
        let release = exe.parent().is_some_and(|dir| dir.ends_with("release"));
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "--quiet", "-p", "heapwise-preload"]);
        if release {
            build.arg("--release");
        }
        let status = build.status().expect("cargo can be run");
        assert!(status.success(), "building libheapwise_preload.so failed");
    });
}

/// The directory of the test programs' sources.
pub fn programs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs")
}

pub use crate::common::{scratch, stderr, test_dir};

/// Compiles a test program (once per test run) and returns the binary.
/// `name` is the source file name; C++ for `.cpp`. Built with `-O2` and
/// without frame pointers, like production code.
pub fn program(name: &str) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let source = programs_dir().join(name);
    let stem = name.split('.').next().unwrap_or(name);
    let bin = scratch().join("bin");
    std::fs::create_dir_all(&bin).expect("create bin dir");
    let (out, mut command) = if name == "plugin.c" {
        let out = bin.join("libplugin.so");
        let mut c = Command::new("gcc");
        c.args(["-O2", "-g", "-shared", "-fPIC", "-fomit-frame-pointer"]);
        (out, c)
    } else if name.ends_with(".cpp") {
        let mut c = Command::new("g++");
        c.args(["-O2", "-g", "-fomit-frame-pointer"]);
        (bin.join(stem), c)
    } else {
        let mut c = Command::new("gcc");
        c.args(["-O2", "-g", "-fomit-frame-pointer", "-pthread"]);
        (bin.join(stem), c)
    };
    if !out.exists() {
        let status = command
            .arg("-o")
            .arg(&out)
            .arg(&source)
            .arg("-ldl")
            .status()
            .expect("gcc/g++ can be run");
        assert!(status.success(), "compiling {name} failed");
    }
    out
}

/// The 1-based line of `source` that carries the marker `LINE:marker`.
pub fn line_of(source: &str, marker: &str) -> u64 {
    let text = std::fs::read_to_string(programs_dir().join(source)).expect("source readable");
    let needle = format!("LINE:{marker} ");
    let needle_end = format!("LINE:{marker}");
    text.lines()
        .position(|l| l.contains(&needle) || l.trim_end().ends_with(&needle_end))
        .map(|i| i as u64 + 1)
        .unwrap_or_else(|| panic!("no LINE:{marker} in {source}"))
}

/// Runs `heapwise run -o DIR/NAME.hwt -- program args` in `dir`.
pub fn run_traced(dir: &Path, trace: &str, program: &Path, args: &[&str]) -> Output {
    run_traced_with(dir, trace, &[], program, args)
}

/// [`run_traced`] with more options for `heapwise run`.
pub fn run_traced_with(
    dir: &Path,
    trace: &str,
    options: &[&str],
    program: &Path,
    args: &[&str],
) -> Output {
    heapwise()
        .current_dir(dir)
        .arg("run")
        .args(options)
        .arg("-o")
        .arg(dir.join(trace))
        .arg("--")
        .arg(program)
        .args(args)
        .output()
        .expect("heapwise runs")
}

/// `heapwise report --format json TRACE`, parsed. When `heapwise run` saved
/// its analysis beside the trace, the report must be byte for byte the one
/// read from the trace alone (`--replay`): every test that reports on a
/// run's trace checks the saved analysis too.
pub fn report_json(trace: &Path) -> Value {
    let report = |replay: bool| {
        let out = heapwise()
            .args(["report", "--format", "json"])
            .args(replay.then_some("--replay"))
            .arg(trace)
            .output()
            .expect("heapwise runs");
        assert!(
            out.status.success(),
            "report failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let stdout = report(false);
    if saved_analysis(trace).exists() {
        let replayed = report(true);
        assert!(
            stdout == replayed,
            "the analysis saved beside {} reports otherwise than the trace:\n{}",
            trace.display(),
            first_difference(&stdout, &replayed)
        );
    }
    serde_json::from_slice(&stdout).expect("report is JSON")
}

/// Where `heapwise run` saves its analysis of `trace`.
pub fn saved_analysis(trace: &Path) -> std::path::PathBuf {
    let mut name = trace.as_os_str().to_owned();
    name.push(".analysis");
    name.into()
}

/// The first line where two outputs differ, both ways.
pub fn first_difference(a: &[u8], b: &[u8]) -> String {
    let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    match a
        .lines()
        .zip(b.lines())
        .enumerate()
        .find(|(_, (x, y))| x != y)
    {
        Some((line, (x, y))) => format!("line {}: {x:?} against {y:?}", line + 1),
        None => format!("{} lines against {}", a.lines().count(), b.lines().count()),
    }
}

/// The leak group whose first frame is `function`.
pub fn leak_from<'a>(report: &'a Value, function: &str) -> &'a Value {
    report["leaks"]
        .as_array()
        .expect("leaks array")
        .iter()
        .find(|leak| leak["frames"][0]["function"] == function)
        .unwrap_or_else(|| {
            panic!(
                "no leak group starting in {function}: {}",
                serde_json::to_string_pretty(&report["leaks"]).unwrap()
            )
        })
}

/// Every function name on a leak group's stack.
pub fn functions(leak: &Value) -> Vec<String> {
    leak["frames"]
        .as_array()
        .expect("frames")
        .iter()
        .filter_map(|f| f["function"].as_str().map(str::to_string))
        .collect()
}

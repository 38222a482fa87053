//! Helpers shared by every part of the suite: running heapwise, reading
//! what it printed, scratch directories, the other crates' test files.
//! (Native tracing adds its own in `native/util.rs`: it builds the preload
//! and the test programs; `watch/util.rs` starts processes of known shape.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub mod browser;
pub mod tmux;

/// The `heapwise` binary under test.
pub fn command() -> Command {
    Command::new(env!("CARGO_BIN_EXE_heapwise"))
}

/// Runs `heapwise ARGS` to completion.
pub fn heapwise(args: &[&str]) -> Output {
    command().args(args).output().unwrap()
}

/// A file under another crate's `tests/` folder: `crate_test_file("gc",
/// "fixtures/go.log")` is `crates/gc/tests/fixtures/go.log`.
pub fn crate_test_file(krate: &str, relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(krate)
        .join("tests")
        .join(relative)
}

/// A scratch directory that lives as long as the test process.
pub fn scratch() -> &'static Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("temp dir"))
        .path()
}

/// A fresh directory for one test, in [`scratch`].
pub fn test_dir(name: &str) -> PathBuf {
    let dir = scratch().join(name);
    std::fs::create_dir_all(&dir).expect("create test dir");
    dir
}

/// What heapwise wrote to standard error.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Standard output as JSON; a test failure that shows both streams when
/// it is not.
pub fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            stderr(out)
        )
    })
}

//! Helpers shared by the `gc`, `heap` and `watch` test binaries: running
//! heapwise, reading what it printed, and the other crates' test files.
//! (`tests.rs` adds its own in `suite/util.rs`: it also builds the preload.)

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

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

//! Bad input gets one clear sentence and a non-zero exit, never a panic.

use super::util::*;

fn assert_clean_failure(out: &std::process::Output, expected: &str) {
    let text = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains(expected), "expected {expected:?} in: {text}");
    assert!(!text.contains("panicked"), "{text}");
    assert_eq!(text.lines().count(), 1, "one sentence: {text}");
}

#[test]
fn a_statically_linked_program_is_refused_before_it_runs() {
    let dir = test_dir("static");
    let source = dir.join("static.c");
    std::fs::write(&source, "int main(void) { return 0; }\n").unwrap();
    let binary = dir.join("static-prog");
    let built = std::process::Command::new("gcc")
        .arg("-static")
        .arg("-o")
        .arg(&binary)
        .arg(&source)
        .status()
        .unwrap();
    assert!(built.success(), "gcc -static works on this machine kind");
    let out = run_traced(&dir, "s.hwt", &binary, &[]);
    assert_clean_failure(
        &out,
        "is statically linked: LD_PRELOAD cannot reach its allocations",
    );
    assert!(!dir.join("s.hwt").exists());
}

#[test]
fn a_command_that_does_not_exist() {
    let dir = test_dir("no-command");
    let out = heapwise()
        .current_dir(&dir)
        .args(["run", "--", "no-such-program-heapwise"])
        .output()
        .unwrap();
    assert_clean_failure(
        &out,
        "cannot run no-such-program-heapwise: command not found",
    );
    let out = heapwise()
        .current_dir(&dir)
        .args(["run", "--", "./missing"])
        .output()
        .unwrap();
    assert_clean_failure(&out, "cannot run ./missing: no such file");
}

#[test]
fn an_unwritable_output_path() {
    let dir = test_dir("unwritable");
    let out = heapwise()
        .current_dir(&dir)
        .args(["run", "-o", "/proc/heapwise.hwt", "--", "true"])
        .output()
        .unwrap();
    assert_clean_failure(&out, "cannot write the trace to /proc/heapwise.hwt");
    let out = heapwise()
        .current_dir(&dir)
        .args(["run", "-o", "no/such/dir/t.hwt", "--", "true"])
        .output()
        .unwrap();
    assert_clean_failure(&out, "No such file or directory");
}

#[test]
fn an_output_path_that_is_not_a_regular_file_is_left_alone() {
    // `-o /dev/null` once deleted the device node (the old trace at the
    // path is removed before the run). A FIFO stands in for the device.
    let dir = test_dir("not-regular");
    let fifo = dir.join("fifo.hwt");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let out = heapwise()
        .current_dir(&dir)
        .args(["run", "-o", "fifo.hwt", "--", "true"])
        .output()
        .unwrap();
    assert_clean_failure(&out, "it is not a regular file");
    use std::os::unix::fs::FileTypeExt;
    let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
    assert!(kind.is_fifo(), "the FIFO is still there: {kind:?}");
}

#[test]
fn report_on_missing_empty_and_foreign_files() {
    let dir = test_dir("bad-traces");
    let out = heapwise()
        .arg("report")
        .arg(dir.join("missing.hwt"))
        .output()
        .unwrap();
    assert_clean_failure(&out, "No such file or directory");

    let empty = dir.join("empty.hwt");
    std::fs::write(&empty, b"").unwrap();
    let out = heapwise().arg("report").arg(&empty).output().unwrap();
    assert_clean_failure(&out, "the file is empty; it is not a heapwise trace");

    let foreign = dir.join("foreign.hwt");
    std::fs::write(
        &foreign,
        b"\x7fELF this is not a trace at all, just some bytes",
    )
    .unwrap();
    let out = heapwise().arg("report").arg(&foreign).output().unwrap();
    assert_clean_failure(&out, "this is not a heapwise trace");

    let short = dir.join("short.hwt");
    std::fs::write(&short, b"HEAPWI").unwrap();
    let out = heapwise().arg("report").arg(&short).output().unwrap();
    assert_clean_failure(&out, "the trace header is incomplete");
}

#[test]
fn a_trace_cut_anywhere_reports_what_was_complete() {
    let dir = test_dir("cut");
    let out = run_traced(&dir, "full.hwt", &program("sites.c"), &["2000"]);
    assert_eq!(out.status.code(), Some(0));
    let full = std::fs::read(dir.join("full.hwt")).unwrap();
    // Cut in the middle, and just short of the end.
    for cut in [full.len() / 2, full.len() - 1] {
        let path = dir.join(format!("cut-{cut}.hwt"));
        std::fs::write(&path, &full[..cut]).unwrap();
        let out = heapwise()
            .args(["report", "--format", "json"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["trace"]["truncated"], true);
        assert!(report["warnings"].as_array().unwrap().iter().any(|w| {
            w.as_str()
                .unwrap()
                .contains("ends in the middle of a block")
        }));
    }
}

#[test]
fn a_usage_error_exits_with_2() {
    let out = heapwise()
        .args(["report", "--format", "bogus", "x.hwt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = heapwise().arg("run").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

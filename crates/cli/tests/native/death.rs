//! Programs that die: every allocation made before the death is in the
//! trace, whatever the death (the tracer's buffers live in a spill file
//! that outlives the process; see docs/trace-format.md), and the program's
//! own signal handlers and exit status are untouched.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use super::util::*;

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// `dies.c` leaks exactly 1,000 × 16 B from `leak_then` and then dies as
/// `how` says, at once: the report must hold all of it, and `heapwise run`
/// must exit as the program did.
fn dies_with_everything_recorded(how: &str, run_exit: i32, exit: (&str, i64)) {
    let dir = test_dir(&format!("dies-{how}"));
    let out = run_traced(&dir, "d.hwt", &program("dies.c"), &[how]);
    assert_eq!(out.status.code(), Some(run_exit), "{}", stderr(&out));
    let report = report_json(&dir.join("d.hwt"));
    let leak = leak_from(&report, "leak_then");
    assert_eq!(
        (u(&leak["allocations"]), u(&leak["bytes"])),
        (1000, 16_000),
        "{how}"
    );
    assert_eq!(
        leak["frames"][0]["line"],
        line_of("dies.c", "leak_then"),
        "{how}"
    );
    assert_eq!(report["process"]["exit"][exit.0], exit.1, "{how}");
    assert_eq!(report["trace"]["crash_safe"], true);
    assert_eq!(report["trace"]["unrecovered_streams"], 0);
    assert!(
        std::fs::read_dir(&dir).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".spill")),
        "no spill file is left behind"
    );
}

#[test]
fn a_program_that_aborts_keeps_every_allocation() {
    dies_with_everything_recorded("abort", 134, ("signal", 6));
}

#[test]
fn a_program_that_raises_sigkill_keeps_every_allocation() {
    dies_with_everything_recorded("kill", 137, ("signal", 9));
}

#[test]
fn a_null_write_while_another_thread_churns_keeps_every_allocation() {
    dies_with_everything_recorded("segv", 139, ("signal", 11));
}

#[test]
fn a_program_whose_own_sigsegv_handler_exits_3_keeps_its_status_and_allocations() {
    dies_with_everything_recorded("handler", 3, ("code", 3));
}

#[test]
fn default_sigterm_sigbus_sigfpe_and_sigill_deaths_keep_every_allocation() {
    dies_with_everything_recorded("term", 143, ("signal", 15));
    dies_with_everything_recorded("bus", 135, ("signal", 7));
    dies_with_everything_recorded("fpe", 136, ("signal", 8));
    dies_with_everything_recorded("ill", 132, ("signal", 4));
}

/// Killed from outside in the middle of a busy run (what the OOM killer
/// does): the trace holds every call the program had made, up to the one
/// it was in (the program counts calls started and returned in a shared
/// mapping that outlives it).
#[test]
fn a_busy_program_killed_from_outside_loses_nothing() {
    let dir = test_dir("killed-busy");
    let counts = dir.join("counts.bin");
    let mut child = heapwise()
        .current_dir(&dir)
        .args(["run", "--no-tui", "-o"])
        .arg(dir.join("k.hwt"))
        .arg("--")
        .arg(program("killed_busy.c"))
        .arg(&counts)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("heapwise runs");
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut ready)
        .expect("the program says it is ready");
    assert_eq!(ready.trim(), "1");
    std::thread::sleep(Duration::from_millis(400));
    let program_pid =
        std::fs::read_to_string(format!("/proc/{}/task/{}/children", child.id(), child.id()))
            .expect("heapwise run's children")
            .trim()
            .parse::<i32>()
            .expect("one child");
    // SAFETY: sending a signal to the traced program.
    assert_eq!(unsafe { libc::kill(program_pid, libc::SIGKILL) }, 0);
    let out = child.wait_with_output().expect("heapwise run ends");
    assert_eq!(out.status.code(), Some(137), "{}", stderr(&out));
    let words = std::fs::read(&counts).expect("counts");
    let word = |i: usize| u64::from_le_bytes(words[i * 8..i * 8 + 8].try_into().unwrap());
    let (started, returned) = (word(0), word(1));
    assert!(returned > 10_000, "the program ran: {returned} calls");
    let report = report_json(&dir.join("k.hwt"));
    let leak = leak_from(&report, "leak_forever");
    let seen = u(&leak["allocations"]);
    assert!(
        (returned..=started).contains(&seen),
        "{seen} recorded, {returned}..={started} made"
    );
    assert_eq!(u(&leak["bytes"]), seen * 64);
    assert_eq!(report["process"]["exit"]["signal"], 9);
}

/// The preload alone, without `heapwise run` (a service started with
/// `LD_PRELOAD`): `heapwise report` recovers what the dead process left in
/// its spill file (in `HEAPWISE_SPILL_DIR`), then removes the file.
#[test]
fn report_recovers_a_dead_process_traced_without_heapwise_run() {
    let dir = test_dir("dies-alone");
    let spill_dir = dir.join("spill");
    std::fs::create_dir_all(&spill_dir).unwrap();
    // `heapwise run --help` makes sure the preload is built.
    let _ = heapwise().args(["run", "--help"]).output();
    let preload = std::path::Path::new(env!("CARGO_BIN_EXE_heapwise"))
        .with_file_name("libheapwise_preload.so");
    let trace = dir.join("alone.hwt");
    let status = std::process::Command::new(program("dies.c"))
        .arg("kill")
        .env("LD_PRELOAD", &preload)
        .env("HEAPWISE_OUTPUT", dir.join("alone.{pid}.hwt"))
        .env("HEAPWISE_SPILL_DIR", &spill_dir)
        .status()
        .expect("the program runs");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    let trace = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "hwt"))
        .unwrap_or(trace);
    assert_eq!(
        std::fs::read_dir(&spill_dir).unwrap().count(),
        1,
        "the dead process left its spill file"
    );
    let report = report_json(&trace);
    let leak = leak_from(&report, "leak_then");
    assert_eq!((u(&leak["allocations"]), u(&leak["bytes"])), (1000, 16_000));
    assert!(u(&report["trace"]["recovered_bytes"]) > 0);
    assert_eq!(
        std::fs::read_dir(&spill_dir).unwrap().count(),
        0,
        "the spill file is removed once recovered"
    );
    // A second report reads the same trace, recovered once.
    let again = report_json(&trace);
    assert_eq!(u(&leak_from(&again, "leak_then")["allocations"]), 1000);
}

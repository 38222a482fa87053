//! The live view in a real pseudo-terminal (tmux): `heapwise run` on a
//! terminal and `heapwise report --follow` on a terminal.

use std::process::Stdio;
use std::time::{Duration, Instant};

use super::util::*;
use crate::common::tmux::Tmux;

/// heapwise in a terminal (see `common/tmux.rs`), in `dir`; the shell stays
/// after it so its last screen can be read, `EXIT=N` showing its status.
fn terminal(name: &str, dir: &std::path::Path, command: &str) -> Tmux {
    Tmux::start(
        &scratch().join(format!("tmux-{name}")),
        &format!("cd {} && {command}; echo EXIT=$?; sleep 120", dir.display()),
    )
}

/// The row of the growing stacks table that names `function`.
fn stack_row<'a>(screen: &'a str, function: &str) -> Option<&'a str> {
    screen
        .lines()
        .find(|l| l.contains(function) && l.contains("MiB"))
}

#[test]
fn run_shows_the_live_view_and_q_hands_the_terminal_back_to_the_program() {
    let program = program("live.c");
    let dir = test_dir("live-run");
    let heapwise_bin = env!("CARGO_BIN_EXE_heapwise");
    // Build the preload before tmux starts heapwise.
    let _ = heapwise();
    let tmux = terminal(
        "run",
        &dir,
        &format!(
            "{heapwise_bin} run -o live.hwt -- {} stdin",
            program.display()
        ),
    );
    // All 8 blocks of 1 MiB cached: the figures and the stacks table say so.
    let screen = tmux.wait_for("8 MiB live from cache_insert", |s| {
        stack_row(s, "cache_insert").is_some_and(|row| row.contains("8.0 MiB"))
            && s.contains("live: holding 8 MiB")
    });
    assert!(screen.contains("heapwise run · PID"), "{screen}");
    let live_row = screen
        .lines()
        .find(|l| l.contains("live heap") && l.contains('│'))
        .unwrap_or_else(|| panic!("no live heap row:\n{screen}"));
    assert!(live_row.contains("8.0 MiB"), "{live_row}\n{screen}");
    assert!(screen.contains("RSS"), "{screen}");
    assert!(screen.contains("allocations/s"), "{screen}");
    assert!(screen.contains("pattern "), "{screen}");
    let row = stack_row(&screen, "cache_insert").unwrap();
    assert!(
        row.contains(&format!("live.c:{}", line_of("live.c", "cache"))),
        "{row}"
    );
    // The program's output, kept while the view is up, shows in its pane
    // (the latest lines).
    assert!(screen.contains("live: cached block 8"), "{screen}");

    // q closes the view, not the program: its whole output is on the
    // terminal, in order, and it still waits for its line.
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("the program's output after q", |s| {
        s.contains("live: holding 8 MiB") && !s.contains("heapwise run · PID")
    });
    let lines: Vec<&str> = screen.lines().filter(|l| l.starts_with("live: ")).collect();
    let mut expected = vec!["live: stdout is a terminal".to_string()];
    expected.extend((1..=8).map(|i| format!("live: cached block {i}")));
    expected.push("live: holding 8 MiB".into());
    assert_eq!(lines, expected, "{screen}");
    assert!(
        !screen.contains("EXIT="),
        "the program keeps running:\n{screen}"
    );

    // What is typed now reaches the program.
    tmux.keys(&["go", "Enter"]);
    let screen = tmux.wait_for("the final summary", |s| s.contains("EXIT="));
    assert!(screen.contains("live: got a line, bye"), "{screen}");
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(
        screen.contains("8.0 MiB still allocated at the end in 8 blocks"),
        "{screen}"
    );
    let report = report_json(&dir.join("live.hwt"));
    let leak = leak_from(&report, "cache_insert");
    assert_eq!(leak["bytes"], 8 * 1024 * 1024);
    assert_eq!(leak["allocations"], 8);
}

#[test]
fn ctrl_c_in_the_live_view_interrupts_the_program() {
    let program = program("live.c");
    let dir = test_dir("live-interrupt");
    let _ = heapwise();
    let tmux = terminal(
        "interrupt",
        &dir,
        &format!(
            "{} run -o live.hwt -- {} stdin",
            env!("CARGO_BIN_EXE_heapwise"),
            program.display()
        ),
    );
    tmux.wait_for("the program holding its blocks", |s| {
        s.contains("live: holding 8 MiB") && s.contains("heapwise run · PID")
    });
    tmux.keys(&["C-c"]);
    let screen = tmux.wait_for("heapwise's end", |s| s.contains("EXIT="));
    // SIGINT (2) ended it: heapwise exits 128 + 2 and says so.
    assert!(screen.contains("EXIT=130"), "{screen}");
    assert!(screen.contains("was killed by signal 2"), "{screen}");
    // Its output came out once the view closed.
    assert!(screen.contains("live: holding 8 MiB"), "{screen}");
}

#[test]
fn report_follow_shows_the_live_view_until_the_program_ends() {
    let program = program("live.c");
    let dir = test_dir("live-follow");
    let trace = dir.join("follow.hwt");
    // The traced program runs off the terminal (no view); it holds its
    // blocks for 4 s after caching them, then exits.
    let mut traced = heapwise()
        .current_dir(&dir)
        .args(["run", "-o"])
        .arg(&trace)
        .arg("--")
        .arg(&program)
        .arg("4")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("heapwise runs");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !trace.exists() {
        assert!(Instant::now() < deadline, "no trace appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    let tmux = terminal(
        "follow",
        &dir,
        &format!(
            "{} report --follow {}",
            env!("CARGO_BIN_EXE_heapwise"),
            trace.display()
        ),
    );
    let screen = tmux.wait_for("the view with 8 MiB from cache_insert", |s| {
        s.contains("heapwise report --follow · PID")
            && stack_row(s, "cache_insert").is_some_and(|row| row.contains("8.0 MiB"))
    });
    assert!(screen.contains("live heap"), "{screen}");
    // The program ends: the view closes and the report follows.
    let screen = tmux.wait_for("the report", |s| s.contains("EXIT="));
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(screen.contains("cache_insert"), "{screen}");
    assert!(
        !screen.contains("heapwise report --follow · PID"),
        "{screen}"
    );
    assert!(traced.wait().unwrap().success());
}

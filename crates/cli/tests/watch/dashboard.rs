//! The dashboard in a real pseudo-terminal (tmux).

use super::util::*;
use crate::common::tmux::Tmux;

/// The figure in a dashboard row: `│anon   48.1 MiB   48.1 MiB   │` → MiB.
fn row_mib(screen: &str, label: &str) -> Option<f64> {
    let line = screen
        .lines()
        .find(|l| l.trim_start_matches('│').starts_with(&format!("{label} ")))?;
    let mut words = line.trim_start_matches('│').split_whitespace().skip(1);
    let number: f64 = words.next()?.parse().ok()?;
    match words.next()? {
        "MiB" => Some(number),
        "GiB" => Some(number * 1024.0),
        "KiB" => Some(number / 1024.0),
        _ => None,
    }
}

#[test]
fn dashboard_shows_the_figures_and_q_leaves_the_process_running() {
    let held = Target::start(&["hold", "48"]);
    let tmux = Tmux::start(
        &scratch().join("tmux-hold"),
        &format!(
            "{} watch --pid {} --interval 200ms",
            env!("CARGO_BIN_EXE_heapwise"),
            held.pid()
        ),
    );
    let screen = tmux.wait_for("a verdict on 3 s of samples", |s| {
        s.contains("samples every 200 ms") && s.contains("no leak") && s.contains(" of watching")
    });
    assert!(screen.contains(&format!("PID {}", held.pid())), "{screen}");
    assert!(screen.contains("hold 48"), "{screen}");
    assert!(screen.contains("pattern stable"), "{screen}");
    let anon = row_mib(&screen, "anon").unwrap_or_else(|| panic!("no anon row:\n{screen}"));
    assert!((48.0..=49.5).contains(&anon), "anon {anon}:\n{screen}");
    let rss = row_mib(&screen, "RSS").expect("RSS row");
    assert!(rss >= anon, "{screen}");
    let pss = row_mib(&screen, "PSS").expect("PSS row");
    assert!((48.0..=rss).contains(&pss), "{screen}");
    assert!(screen.contains("OOM kills"), "{screen}");
    assert!(screen.contains("MB/h"), "{screen}");
    assert!(screen.contains("time to limit"), "{screen}");

    let status = tmux
        .cmd()
        .args(["send-keys", "-t", "w", "q"])
        .status()
        .expect("send q");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while tmux.running() {
        assert!(
            Instant::now() < deadline,
            "q did not close the dashboard:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(alive(held.pid()), "q closes the view, never the process");
}

#[test]
fn dashboard_of_a_started_leaking_program_says_leak() {
    let log = scratch().join("dashboard-leak.out");
    // The shell stays after heapwise: were heapwise the session leader,
    // its exit would hang up the session and SIGHUP the program with it.
    let tmux = Tmux::start(
        &scratch().join("tmux-leak"),
        &format!(
            // TMPDIR: where the program's output log goes.
            "TMPDIR={} {} watch --interval 200ms -o {} -- {} linear; sleep 60",
            scratch().display(),
            env!("CARGO_BIN_EXE_heapwise"),
            log.display(),
            shape().display()
        ),
    );
    let screen = tmux.wait_for("LEAK", |s| s.contains("LEAK"));
    let pid: u32 = screen
        .split("PID ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no PID in the title:\n{screen}"));
    struct Kill(u32);
    impl Drop for Kill {
        fn drop(&mut self) {
            kill_pid(u64::from(self.0));
        }
    }
    let _kill = Kill(pid);
    assert!(screen.contains("pattern linear"), "{screen}");
    // 10 MiB/s is about +37,749 MB/h; the slope is shown with its sign.
    let slope: f64 = screen
        .split("slope +")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no slope:\n{screen}"));
    assert!((30_000.0..=45_000.0).contains(&slope), "{slope}:\n{screen}");
    assert!(
        screen.contains(&format!("output goes to {}", scratch().display())),
        "{screen}"
    );

    tmux.cmd()
        .args(["send-keys", "-t", "w", "q"])
        .status()
        .expect("send q");
    let deadline = Instant::now() + Duration::from_secs(10);
    let report = loop {
        let report = std::fs::read_to_string(&log).unwrap_or_default();
        if report.contains("Verdict") {
            break report;
        }
        assert!(
            Instant::now() < deadline,
            "q did not end the watch:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(alive(pid), "the started program keeps running");
    assert!(report.contains("the dashboard was closed"), "{report}");
    assert!(
        report.contains("Verdict: LEAK — pattern linear"),
        "{report}"
    );
}

//! Formats, bad input, permissions, help.

use super::util::*;

#[test]
fn every_format_reports_what_the_program_holds() {
    let held = Target::start(&["hold", "40"]);
    let pid = held.pid().to_string();
    let base = [
        "--pid",
        pid.as_str(),
        "--interval",
        "100ms",
        "--duration",
        "1s",
    ];

    let (out, r) = watch_json(&base);
    assert!(out.status.success());
    assert_eq!(r["schema"], "heapwise.watch/1");
    assert_eq!(r["pid"].as_u64(), Some(u64::from(held.pid())));
    assert!(
        r["command"]
            .as_str()
            .is_some_and(|c| c.ends_with("shape hold 40"))
    );
    let samples = r["samples"].as_array().expect("samples");
    assert!((9..=12).contains(&samples.len()), "{}", samples.len());
    for s in samples {
        for key in ["t_s", "rss_bytes", "anon_bytes", "pss_bytes", "swap_bytes"] {
            assert!(s.get(key).is_some(), "{key} missing");
        }
        let anon = f(&s["anon_bytes"]) / MIB;
        assert!((40.0..=41.5).contains(&anon), "{anon} MiB");
        assert!(f(&s["rss_bytes"]) >= f(&s["anon_bytes"]));
    }
    // PSS is read at the first sample, then as its CPU budget allows; a
    // private 40 MiB mapping is all PSS.
    assert!(samples[0]["pss_bytes"].is_number());
    for s in samples.iter().filter(|s| !s["pss_bytes"].is_null()) {
        let pss = f(&s["pss_bytes"]) / MIB;
        assert!((40.0..=42.0).contains(&pss), "PSS {pss} MiB");
    }
    assert_eq!(r["pss"]["state"], "sampled");
    let v = &r["verdict"];
    for key in [
        "leak",
        "pattern",
        "slope_bytes_per_s",
        "limit_bytes",
        "time_to_limit_s",
    ] {
        assert!(v.get(key).is_some(), "verdict.{key} missing");
    }
    assert_eq!(v["leak"], false);
    assert!(v["time_to_limit_s"].is_null());
    assert!(
        v["confidence"]
            .as_f64()
            .is_some_and(|c| (0.0..0.3).contains(&c))
    );
    assert_eq!(v["confidence_level"], "low");

    let csv = heapwise()
        .args(["watch", "--no-tui", "--format", "csv"])
        .args(base)
        .output()
        .expect("heapwise runs");
    assert!(csv.status.success());
    let text = String::from_utf8_lossy(&csv.stdout);
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    assert_eq!(&header[..3], ["t_s", "rss_bytes", "anon_bytes"]);
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert!((9..=12).contains(&rows.len()));
    for row in &rows {
        assert_eq!(row.len(), header.len());
        let anon: f64 = row[2].parse().expect("anon is a number");
        assert!((40.0..=41.5).contains(&(anon / MIB)));
    }

    let output = scratch().join("watch.txt");
    let text = heapwise()
        .args(["watch", "--no-tui", "-o"])
        .arg(&output)
        .args(base)
        .output()
        .expect("heapwise runs");
    assert!(text.status.success());
    assert!(text.stdout.is_empty(), "the report went to the file");
    let text = std::fs::read_to_string(&output).expect("report written");
    assert!(
        text.starts_with(&format!("heapwise watch: PID {pid} (")),
        "{text}"
    );
    assert!(text.contains("Verdict: no leak — pattern stable"), "{text}");
    let anon_row = text
        .lines()
        .find(|l| l.starts_with("  anonymous   "))
        .expect("anon row");
    assert!(anon_row.contains(" 40."), "{anon_row}");

    // A reader that stops early is not an error.
    let piped = Command::new("bash")
        .args(["-o", "pipefail", "-c"])
        .arg(format!(
            "{} watch --no-tui --format csv --pid {pid} --interval 50ms --duration 1s | head -c 10 >/dev/null",
            env!("CARGO_BIN_EXE_heapwise")
        ))
        .output()
        .expect("bash runs");
    assert!(
        piped.status.success(),
        "{}",
        String::from_utf8_lossy(&piped.stderr)
    );
    assert!(alive(held.pid()), "watching never harms the process");
}

fn expect_error(args: &[&str], code: i32, message: &str) {
    let out = finish(heapwise().arg("watch").args(args));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(stderr.contains(message), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    if code == 1 {
        assert_eq!(stderr.lines().count(), 1, "one sentence: {stderr}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn bad_input_is_one_sentence_and_exit_1() {
    expect_error(
        &["--no-tui", "--pid", "2147483647"],
        1,
        "heapwise: no process with PID 2147483647 is running",
    );
    expect_error(&["--no-tui", "--pid", "0"], 1, "0 is not a process ID");
    expect_error(
        &["--no-tui", "--", "/no/such/program"],
        1,
        "cannot run /no/such/program: no such file",
    );
    expect_error(
        &["--no-tui", "--", "no-such-program-hw"],
        1,
        "cannot run no-such-program-hw: command not found",
    );
    let script = scratch().join("not-executable.sh");
    std::fs::write(&script, "#!/bin/sh\n").expect("write script");
    let script = script.to_string_lossy().into_owned();
    expect_error(&["--no-tui", "--", &script], 1, "permission denied");
    // A zombie: exited, not yet reaped by its parent (this test).
    let mut zombie = Command::new("true").spawn().expect("true starts");
    let pid = zombie.id().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(zombie.id()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    expect_error(
        &["--no-tui", "--pid", &pid],
        1,
        &format!(
            "process {pid} has already exited (it is a zombie waiting for its parent to reap it)"
        ),
    );
    let _ = zombie.wait();
    expect_error(
        &["--no-tui", "--pid", "1", "--listen", "not-an-address"],
        1,
        "is not an ADDRESS:PORT",
    );
    let dir = scratch().to_string_lossy().into_owned();
    expect_error(&["--no-tui", "--pid", "1", "-o", &dir], 1, "cannot create");
    // Usage errors are clap's: exit 2.
    expect_error(&[], 2, "required");
    expect_error(&["--pid", "1", "--", "ls"], 2, "cannot be used with");
    expect_error(&["--pid", "1", "--format", "xml"], 2, "invalid value");
    expect_error(&["--pid", "many"], 2, "invalid value");
    expect_error(
        &["--no-tui", "--pid", "1", "--interval", "soon"],
        2,
        "invalid value 'soon' for '--interval <DURATION>': not a duration",
    );
    expect_error(
        &["--no-tui", "--pid", "1", "--interval", "0s"],
        2,
        "not a duration",
    );
    expect_error(
        &["--no-tui", "--pid", "1", "--interval", "1ms"],
        2,
        "too short: sample at most every 10ms",
    );
    expect_error(
        &["--no-tui", "--pid", "1", "--duration=-3s"],
        2,
        "invalid value '-3s' for '--duration <DURATION>': not a duration",
    );
}

/// As an unprivileged user, another user's process: its status is
/// readable, its smaps_rollup is not, and the output says so.
#[test]
fn pss_that_may_not_be_read_is_reported_not_invented() {
    let held = Target::start(&["hold", "8"]);
    let pid = held.pid().to_string();
    let bin = env!("CARGO_BIN_EXE_heapwise");
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let args = [
        "watch",
        "--no-tui",
        "--format",
        "json",
        "--pid",
        &pid,
        "--interval",
        "100ms",
        "--duration",
        "300ms",
    ];
    let out = if root {
        need("setpriv", "util-linux");
        // A copy nobody can reach, whatever the permissions of the build directory.
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new()
            .prefix("heapwise-nobody")
            .tempdir()
            .expect("temp dir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let copy = dir.path().join("heapwise");
        std::fs::copy(bin, &copy).expect("copy heapwise");
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&copy)
            .args(args)
            .output()
            .expect("setpriv runs");
        drop(dir);
        out
    } else {
        Command::new(bin)
            .args([
                "watch",
                "--no-tui",
                "--format",
                "json",
                "--pid",
                "1",
                "--interval",
                "100ms",
                "--duration",
                "300ms",
            ])
            .output()
            .expect("heapwise runs")
    };
    let r = json(&out);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(r["pss"]["state"], "unavailable");
    assert!(
        r["pss"]["reason"]
            .as_str()
            .is_some_and(|s| s.starts_with("not permitted to read /proc/"))
    );
    for s in r["samples"].as_array().expect("samples") {
        assert!(s["pss_bytes"].is_null());
        assert!(f(&s["rss_bytes"]) > 0.0);
    }
}

#[test]
fn help_lists_watch_and_its_options() {
    let out = heapwise().arg("--help").output().expect("heapwise runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().any(|l| l.trim_start().starts_with("watch ")
            && l.ends_with("Watch a running process's memory: verdict, forecast, dashboard")),
        "{text}"
    );
    let out = heapwise()
        .args(["watch", "--help"])
        .output()
        .expect("heapwise runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for option in [
        "--pid <PID>",
        "--interval <DURATION>",
        "--duration <DURATION>",
        "--format <FORMAT>",
        "--output <PATH>",
        "--no-tui",
        "--fail-on-leak",
        "--children",
        "--listen <ADDR:PORT>",
        "--window <DURATION>",
        "--no-pss",
        "[COMMAND]...",
    ] {
        assert!(text.contains(option), "{option} missing:\n{text}");
    }
}

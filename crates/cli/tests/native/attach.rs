//! `heapwise attach` on a running process of known behaviour: what it
//! leaks while attached is reported exactly (blocks, bytes, function and
//! line), frees are recorded, and after the detach it runs on as before —
//! not stopped, not traced, no descriptor or shared memory of heapwise's
//! left behind.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use super::util::*;

struct Running {
    child: Child,
    counts: Receiver<u64>,
}

impl Running {
    fn start() -> Running {
        Running::start_command(Command::new(program("attach_target.c")))
    }

    fn start_command(mut command: Command) -> Running {
        let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, counts) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line.trim().parse().unwrap_or(0)).is_err() {
                    break;
                }
            }
        });
        let running = Running { child, counts };
        running
            .counts
            .recv_timeout(Duration::from_secs(10))
            .unwrap();
        running
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The newest count, after draining what was printed.
    fn latest(&self) -> u64 {
        let mut last = self.counts.recv_timeout(Duration::from_secs(5)).unwrap();
        while let Ok(n) = self.counts.try_recv() {
            last = n;
        }
        last
    }

    fn status(&self, field: &str) -> String {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .unwrap()
            .trim()
            .to_string()
    }

    fn descriptors(&self) -> Vec<String> {
        let mut fds: Vec<String> = std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .map(|p| p.display().to_string())
            .collect();
        fds.sort();
        fds
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn attach_reports_what_leaked_while_attached_and_leaves_the_process_as_it_was() {
    let dir = test_dir("attach");
    let target = Running::start();
    let fds = target.descriptors();
    let before = target.latest();
    let trace = dir.join("attached.hwt");
    let out = heapwise()
        .args([
            "attach",
            "--pid",
            &target.pid().to_string(),
            "--sample",
            "1",
            "--duration",
            "1s",
            "-o",
        ])
        .arg(&trace)
        .output()
        .unwrap();
    let after = target.latest();
    assert!(out.status.success(), "attach failed: {}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("detached from process"), "{err}");

    // What leaked while attached: between the counts printed before and
    // after, one 100-byte block per count, all from leak_here's line.
    let report = report_json(&trace);
    let leak = leak_from(&report, "leak_here");
    let blocks = leak["allocations"].as_u64().unwrap();
    assert!(
        blocks >= 30 && blocks <= after - before,
        "{blocks} blocks leaked, counts {before} -> {after}"
    );
    assert_eq!(leak["bytes"].as_u64().unwrap(), 100 * blocks);
    assert_eq!(
        leak["frames"][0]["line"].as_u64().unwrap(),
        line_of("attach_target.c", "leak")
    );
    // The 300- and 200-byte buffers are freed: recorded, and not leaks.
    assert!(report["summary"]["frees"].as_u64().unwrap() > blocks);
    let leaked_bytes = report["summary"]["leaked_bytes"].as_u64().unwrap();
    assert!(leaked_bytes < 100 * blocks + 1024, "leaked {leaked_bytes}");
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("attached to a running process"),
        "{warnings}"
    );

    // As before: counting on, sleeping (not stopped), not traced, the same
    // descriptors, no spill file in /dev/shm.
    let later = target.latest();
    std::thread::sleep(Duration::from_millis(300));
    assert!(target.latest() > later + 10);
    assert!(matches!(
        target.status("State:").chars().next(),
        Some('S' | 'R')
    ));
    assert_eq!(target.status("TracerPid:"), "0");
    assert_eq!(target.descriptors(), fds);
    let spill_left = std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("heapwise-{}-", target.pid()))
        });
    assert!(!spill_left, "a spill file is left in /dev/shm");

    // A second attach to the same process is refused in one sentence.
    let again = heapwise()
        .args([
            "attach",
            "--pid",
            &target.pid().to_string(),
            "--duration",
            "1s",
        ])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("cannot be attached again"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn attach_refuses_what_it_cannot_attach_to() {
    let out = heapwise()
        .args(["attach", "--pid", "999999999"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("there is no process 999999999"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn on_a_terminal_attach_shows_the_live_view_and_q_detaches() {
    let dir = test_dir("attach-live");
    let target = Running::start();
    let heapwise_bin = env!("CARGO_BIN_EXE_heapwise");
    // Build the preload before tmux starts heapwise.
    let _ = heapwise();
    let tmux = crate::common::tmux::Tmux::start(
        &scratch().join("tmux-attach"),
        &format!(
            "cd {} && {heapwise_bin} attach --pid {} --sample 1 -o live.hwt; echo EXIT=$?; sleep 120",
            dir.display(),
            target.pid()
        ),
    );
    let screen = tmux.wait_for("the attach's live view with the leaking stack", |s| {
        s.contains("heapwise attach · PID") && s.contains("leak_here")
    });
    assert!(screen.contains("q detaches"), "{screen}");
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("the summary after q", |s| s.contains("EXIT="));
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(screen.contains("detached from process"), "{screen}");
    // The process runs on, untraced.
    let before = target.latest();
    std::thread::sleep(Duration::from_millis(300));
    assert!(target.latest() > before + 10);
    assert_eq!(target.status("TracerPid:"), "0");
}

#[test]
fn a_sampled_attach_estimates_what_leaked_while_attached() {
    let dir = test_dir("attach-sampled");
    let target = Running::start();
    let before = target.latest();
    let started = std::time::Instant::now();
    let trace = dir.join("sampled.hwt");
    let out = heapwise()
        .args([
            "attach",
            "--pid",
            &target.pid().to_string(),
            "--sample",
            "256",
            "--duration",
            "2s",
            "-o",
        ])
        .arg(&trace)
        .output()
        .unwrap();
    let after = target.latest();
    let elapsed = started.elapsed().as_secs_f64();
    assert!(out.status.success(), "attach failed: {}", stderr(&out));
    let report = report_json(&trace);
    assert_eq!(
        report["sampling"]["mean_interval_bytes"].as_u64(),
        Some(256)
    );
    // The program's own rate, from what it printed, over the trace's span.
    let rate = (after - before) as f64 / elapsed;
    let truth = rate * report["summary"]["duration_s"].as_f64().unwrap();
    // 100-byte blocks are sampled with p = 1 − e^(−100/256) ≈ 0.32: about
    // a third are recorded, each standing for about three.
    let leak = leak_from(&report, "leak_here");
    let estimated = leak["allocations"].as_f64().unwrap();
    assert!(
        estimated > 0.5 * truth && estimated < 1.6 * truth,
        "estimated {estimated} blocks, about {truth:.0} leaked while attached"
    );
    let recorded = report["sampling"]["recorded_live"].as_u64().unwrap() as f64;
    assert!(
        recorded < 0.6 * estimated,
        "{recorded} recorded of ~{estimated}"
    );
}

#[test]
fn a_library_loaded_after_the_attach_is_traced_from_its_first_allocation() {
    let dir = test_dir("attach-dlopen");
    let plugin = program("plugin.c");
    let mut command = Command::new(program("attach_dlopen.c"));
    command.arg(&plugin).stdin(Stdio::piped());
    let mut target = Running::start_command(command);
    let trace = dir.join("dlopen.hwt");
    let mut attach = heapwise()
        .args([
            "attach",
            "--no-tui",
            "--pid",
            &target.pid().to_string(),
            "--sample",
            "1",
            "--duration",
            "2500ms",
            "-o",
        ])
        .arg(&trace)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once attached, the program is told to load the plugin.
    let mut err = BufReader::new(attach.stderr.take().unwrap());
    let mut said = String::new();
    loop {
        let mut line = String::new();
        if err.read_line(&mut line).unwrap() == 0 {
            panic!("attach ended before attaching: {said}");
        }
        said.push_str(&line);
        if line.contains("attached to process") {
            break;
        }
    }
    use std::io::Write as _;
    target
        .child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"load\n")
        .unwrap();
    let rest = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut rest);
        rest
    });
    let status = attach.wait().unwrap();
    let rest = rest.join().unwrap();
    assert!(status.success(), "attach failed: {said}{rest}");
    let printed = target.latest();
    let report = report_json(&trace);
    // Two call sites in the program: the burst and the steady leak.
    let groups: Vec<&serde_json::Value> = report["leaks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["frames"][0]["function"] == "plugin_leak")
        .collect();
    let blocks: u64 = groups
        .iter()
        .map(|l| l["allocations"].as_u64().unwrap())
        .sum();
    let bytes: u64 = groups.iter().map(|l| l["bytes"].as_u64().unwrap()).sum();
    let leak = leak_from(&report, "plugin_leak");
    // Every block the plugin leaked while attached is there, the 500 it
    // leaks right after it is loaded included: its calls were redirected
    // by dlopen, not at the writer's next module poll.
    assert_eq!(bytes, 72 * blocks);
    assert!(
        blocks >= 500 + 50 && blocks <= printed,
        "{blocks} blocks recorded, {printed} leaked by now"
    );
    assert_eq!(
        leak["frames"][0]["line"].as_u64().unwrap(),
        line_of("plugin.c", "plugin_leak")
    );
    assert_eq!(target.status("TracerPid:"), "0");
}

//! `heapwise attach` on a running process of known behaviour: what it
//! leaks while attached is reported exactly (blocks, bytes, function and
//! line), frees are recorded, and after the detach it runs on as before —
//! not stopped, not traced, no descriptor or shared memory of heapwise's
//! left behind; attached again, the same holds of the new trace. Many
//! attach/detach cycles and the time an attach takes: `cycles.rs`; fork and
//! exec while attached: `fork_exec.rs`.

mod cycles;
mod fork_exec;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use super::util::*;

/// A running test program and the lines it prints.
struct Running {
    child: Child,
    lines: Receiver<String>,
}

impl Running {
    fn start() -> Running {
        Running::start_command(Command::new(program("attach_target.c")))
    }

    /// Starts `command` and waits for its first line.
    fn start_command(mut command: Command) -> Running {
        let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let running = Running { child, lines };
        running.next_line();
        running
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next line it prints (within 10 s).
    fn next_line(&self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(10))
            .expect("the program printed nothing for 10 s")
    }

    /// The newest count, after draining what was printed.
    fn latest(&self) -> u64 {
        let mut last = self.next_line();
        while let Ok(line) = self.lines.try_recv() {
            last = line;
        }
        last.trim().parse().unwrap_or(0)
    }

    /// Writes a line to its standard input.
    fn tell(&mut self, line: &str) {
        let stdin = self
            .child
            .stdin
            .as_mut()
            .expect("started with a piped stdin");
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
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

    /// The state letter of each of its threads (`S`, `R`, `t`, ...).
    fn thread_states(&self) -> Vec<char> {
        std::fs::read_dir(format!("/proc/{}/task", self.pid()))
            .unwrap()
            .filter_map(|task| {
                let stat = std::fs::read_to_string(task.ok()?.path().join("stat")).ok()?;
                stat.rsplit_once(')')?.1.trim_start().chars().next()
            })
            .collect()
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

    /// Spill files of its in `/dev/shm`.
    fn spill_files(&self) -> Vec<PathBuf> {
        spill_files_of(self.pid())
    }

    /// Asserts it is as heapwise found it: running (no thread stopped),
    /// not traced, the same descriptors as `fds`, no spill file.
    fn assert_untouched(&self, fds: &[String], when: &str) {
        let states = self.thread_states();
        assert!(
            !states.iter().any(|s| matches!(s, 't' | 'T')),
            "{when}: a thread is stopped: {states:?}"
        );
        assert_eq!(self.status("TracerPid:"), "0", "{when}: still traced");
        assert_eq!(self.descriptors(), fds, "{when}: descriptors changed");
        assert_eq!(
            self.spill_files(),
            Vec::<PathBuf>::new(),
            "{when}: spill file left"
        );
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spill files of process `pid` in `/dev/shm`.
fn spill_files_of(pid: u32) -> Vec<PathBuf> {
    std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("heapwise-{pid}-"))
        })
        .map(|e| e.path())
        .collect()
}

/// `heapwise attach --no-tui --pid PID OPTIONS -o TRACE`, to the end.
fn attach(pid: u32, options: &[&str], trace: &Path) -> Output {
    heapwise()
        .args(["attach", "--no-tui", "--pid", &pid.to_string()])
        .args(options)
        .arg("-o")
        .arg(trace)
        .output()
        .unwrap()
}

/// `attach_target.c`'s leaks while attached, from `trace`: one 100-byte
/// block per count it printed, all from `leak_here`'s line, between the
/// counts printed before and after; its other blocks are freed.
fn assert_leaks_while_attached(trace: &Path, before: u64, after: u64) {
    let report = report_json(trace);
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
}

#[test]
fn attach_reports_what_leaked_while_attached_and_leaves_the_process_as_it_was() {
    let dir = test_dir("attach");
    let target = Running::start();
    let fds = target.descriptors();
    let before = target.latest();
    let trace = dir.join("attached.hwt");
    let out = attach(target.pid(), &["--sample", "1", "--duration", "1s"], &trace);
    let after = target.latest();
    assert!(out.status.success(), "attach failed: {}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("detached from process"), "{err}");
    assert_leaks_while_attached(&trace, before, after);

    // As before: counting on, sleeping (not stopped), not traced, the same
    // descriptors, no spill file in /dev/shm.
    let later = target.latest();
    std::thread::sleep(Duration::from_millis(300));
    assert!(target.latest() > later + 10);
    target.assert_untouched(&fds, "after the detach");
}

/// The library stays loaded, dormant, after a detach: an attach while
/// another is in effect is refused in one sentence, and an attach after
/// the detach starts a new trace that is exact on its own.
#[test]
fn a_process_is_attached_again_after_a_detach_but_never_twice_at_once() {
    let dir = test_dir("attach-again");
    let target = Running::start();
    let fds = target.descriptors();
    let mut first = heapwise()
        .args(["attach", "--no-tui", "--sample", "1", "--duration", "3s"])
        .args(["--pid", &target.pid().to_string(), "-o"])
        .arg(dir.join("first.hwt"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = BufReader::new(first.stderr.take().unwrap());
    let mut line = String::new();
    said.read_line(&mut line).unwrap();
    assert!(line.contains("attached to process"), "{line}");

    let twice = attach(target.pid(), &["--duration", "1s"], &dir.join("twice.hwt"));
    assert_eq!(twice.status.code(), Some(1));
    let err = stderr(&twice);
    assert!(err.contains("is already being traced by heapwise"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!dir.join("twice.hwt").exists());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut said, &mut rest).unwrap();
    assert!(first.wait().unwrap().success(), "{rest}");
    assert!(rest.contains("detached from process"), "{rest}");

    // Again, right after the detach: a new trace, decoded from scratch,
    // exact about what leaked while it was attached.
    let before = target.latest();
    let trace = dir.join("again.hwt");
    let again = attach(target.pid(), &["--sample", "1", "--duration", "1s"], &trace);
    let after = target.latest();
    assert!(again.status.success(), "{}", stderr(&again));
    assert_leaks_while_attached(&trace, before, after);
    let report = report_json(&trace);
    assert_eq!(report["trace"]["threads"], 2, "the program's two threads");
    assert_eq!(report["trace"]["lost_events"], 0);
    // The library was not loaded a second time.
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", target.pid())).unwrap();
    let libraries: std::collections::BTreeSet<&str> = maps
        .lines()
        .filter(|l| l.contains("libheapwise_preload"))
        .filter_map(|l| l.split_whitespace().nth(4))
        .collect();
    assert_eq!(libraries.len(), 1, "{maps}");
    target.assert_untouched(&fds, "after the second detach");
}

#[test]
fn a_process_started_under_heapwise_run_is_not_attached_to() {
    let dir = test_dir("attach-run");
    let mut run = heapwise()
        .args(["run", "--no-tui", "-o"])
        .arg(dir.join("run.hwt"))
        .arg("--")
        .arg(program("attach_target.c"))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let children = format!("/proc/{0}/task/{0}/children", run.id());
    let started = std::time::Instant::now();
    let traced: u32 = loop {
        let pids = std::fs::read_to_string(&children).unwrap_or_default();
        if let Some(pid) = pids.split_whitespace().next() {
            break pid.parse().unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no program");
        std::thread::sleep(Duration::from_millis(20));
    };
    // Running, with the library loaded.
    let maps = format!("/proc/{traced}/maps");
    while !std::fs::read_to_string(&maps)
        .unwrap_or_default()
        .contains("libheapwise_preload")
    {
        assert!(started.elapsed() < Duration::from_secs(10), "no library");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = attach(traced, &["--duration", "1s"], &dir.join("attach.hwt"));
    // SAFETY: a signal to the program this test started.
    let _ = unsafe { libc::kill(traced as i32, libc::SIGKILL) };
    let _ = run.wait();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "process {traced} is already being traced by heapwise"
        )),
        "{err}"
    );
    assert!(!dir.join("attach.hwt").exists());
}

/// The library answers that the process could not create its trace (it
/// runs as another user, who may not write there): heapwise says so, and
/// the process is as it was — the library's spill file and descriptors
/// given back — and can be attached to at once, with a trace it can write.
#[test]
fn an_attach_whose_trace_cannot_be_created_leaves_nothing_and_the_next_one_works() {
    use std::os::unix::fs::PermissionsExt;
    // A place the user `nobody` can run the program from, with a directory
    // it may not write to and one it may.
    let public = tempfile::Builder::new()
        .prefix("heapwise-attach-user-")
        .tempdir_in("/tmp")
        .unwrap();
    let mode = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    mode(public.path(), 0o755);
    let binary = public.path().join("attach_target");
    std::fs::copy(program("attach_target.c"), &binary).unwrap();
    mode(&binary, 0o755);
    let (closed, open) = (public.path().join("closed"), public.path().join("open"));
    std::fs::create_dir(&closed).unwrap();
    std::fs::create_dir(&open).unwrap();
    mode(&closed, 0o755);
    mode(&open, 0o777);
    let mut command = Command::new("setpriv");
    command
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&binary);
    let target = Running::start_command(command);
    let fds = target.descriptors();

    let refused = attach(target.pid(), &["--duration", "1s"], &closed.join("t.hwt"));
    assert_eq!(refused.status.code(), Some(1));
    let err = stderr(&refused);
    assert!(err.contains("could not create its trace"), "{err}");
    target.assert_untouched(&fds, "after the failed attach");

    let before = target.latest();
    let trace = open.join("t.hwt");
    let out = attach(target.pid(), &["--sample", "1", "--duration", "1s"], &trace);
    let after = target.latest();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_leaks_while_attached(&trace, before, after);
    target.assert_untouched(&fds, "after the detach");
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
    target.tell("load");
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

//! `fork` and `exec` while attached. A forked child is not traced: its
//! calls of the `malloc` family go back to glibc in `fork`'s child handler
//! (`heapwise attach` detaches the process it attached to, and a child
//! tracing on its own would never be detached), and it writes no trace.
//! An `exec` ends the trace, which records it; the new program runs
//! untraced. Either way the program's output and exit statuses are those
//! of an untraced run.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::super::util::*;
use super::Running;

/// The commands the test gives the program, and the line that says each
/// one is done.
const STEPS: [(&str, &str); 3] = [
    ("fork", "child exited with 7"),
    ("spawn", "child exited with 3"),
    ("exec", "exec'd: checksum"),
];

#[test]
fn a_fork_and_an_exec_while_attached_run_as_untraced_and_only_the_process_is_traced() {
    let dir = test_dir("attach-fork-exec");
    let binary = program("attach_fork_exec.c");

    // Untraced: what the program prints, and how it ends.
    let mut untraced = Command::new(&binary)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut stdin = untraced.stdin.take().unwrap();
        for (command, _) in STEPS {
            writeln!(stdin, "{command}").unwrap();
        }
    }
    let untraced = untraced.wait_with_output().unwrap();
    assert!(untraced.status.success());
    let expected: Vec<String> = String::from_utf8(untraced.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();

    // Attached, told one step at a time.
    let mut command = Command::new(&binary);
    command.stdin(Stdio::piped());
    let mut target = Running::start_command(command);
    let pid = target.pid();
    let trace = dir.join("parent.hwt");
    let mut attach = heapwise()
        .args(["attach", "--no-tui", "--sample", "1", "--duration", "60s"])
        .args(["--pid", &pid.to_string(), "-o"])
        .arg(&trace)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = BufReader::new(attach.stderr.take().unwrap());
    let mut line = String::new();
    said.read_line(&mut line).unwrap();
    assert!(line.contains("attached to process"), "{line}");
    let mut output = vec!["ready".to_string()];
    for (command, done) in STEPS {
        target.tell(command);
        loop {
            let line = target.next_line();
            output.push(line.clone());
            if line.starts_with(done) {
                break;
            }
        }
    }
    // The exec'd program runs on: heapwise notices the exec (its library
    // is gone from the process) and ends without a detach.
    let started = Instant::now();
    let ended = loop {
        if let Some(status) = attach.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "heapwise attach did not notice the exec"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut said, &mut rest).unwrap();
    assert!(ended.success(), "{rest}");
    assert!(rest.contains("replaced its program (exec)"), "{rest}");
    assert!(!rest.contains("detached from"), "{rest}");
    drop(target.child.stdin.take());
    let status = target.child.wait().unwrap();
    while let Ok(line) = target.lines.recv_timeout(Duration::from_secs(5)) {
        output.push(line);
    }
    assert!(status.success(), "the exec'd program ended with {status}");
    // The same lines as untraced: the children's checksums and exit
    // statuses, and the forked child's `malloc` is glibc's again (its GOT
    // restored), as is the exec'd programs'.
    assert_eq!(output, expected);
    assert!(
        output
            .iter()
            .any(|l| l.starts_with("forked child:") && l.ends_with("malloc in libc.so.6")),
        "{output:?}"
    );

    // The trace is the process's alone, up to its exec.
    let report = report_json(&trace);
    let leak = leak_from(&report, "parent_leak");
    assert!(leak["allocations"].as_u64().unwrap() >= 10, "{leak}");
    assert_eq!(
        leak["frames"][0]["line"].as_u64().unwrap(),
        line_of("attach_fork_exec.c", "parent")
    );
    let leaks = report["leaks"].to_string();
    assert!(!leaks.contains("child_leak"), "a child's blocks: {leaks}");
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("replaced its program with exec, where this trace ends"),
        "{warnings}"
    );
    let traces: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(traces, ["parent.hwt"], "a child wrote a trace");
    assert_eq!(super::spill_files_of(pid), Vec::<std::path::PathBuf>::new());
}

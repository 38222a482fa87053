//! Attaching again and again: 50 attach/detach cycles on a program whose
//! threads churn the heap leave it exactly as it was — the same output as
//! an untraced run of the same work, the same descriptors, nothing
//! stopped, traced or left in `/dev/shm` — and every cycle's trace is a
//! complete trace of its own. And how long an attach takes on a process of
//! 50 threads.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::super::util::*;
use super::{Running, attach};

const THREADS: usize = 4;
/// `attach_churn.c`'s ring: the most blocks a thread keeps alive.
const RING: u64 = 256;

#[test]
fn fifty_attach_detach_cycles_leave_a_churning_program_exactly_as_it_was() {
    let dir = test_dir("attach-cycles");
    let churn = program("attach_churn.c");
    let mut command = Command::new(&churn);
    command.arg(THREADS.to_string()).stdin(Stdio::piped());
    let mut target = Running::start_command(command);
    let fds = target.descriptors();
    // Each trace is read while the next cycle runs (the reports take as
    // long as the cycles).
    let (traces, to_read) = std::sync::mpsc::channel::<(usize, PathBuf, &str)>();
    let reader = std::thread::spawn(move || {
        to_read
            .into_iter()
            .map(|(cycle, trace, sample)| (cycle, report_json(&trace), sample))
            .collect::<Vec<_>>()
    });
    let started = Instant::now();
    let mut forks = 0;
    let mut output = vec!["ready".to_string()];
    for cycle in 0..50 {
        if cycle % 10 == 5 {
            // A fork between a detach and the next attach.
            target.tell("fork");
            output.push(target.next_line());
            forks += 1;
        }
        // Full and sampled traces in turn: each attach's settings are its
        // own.
        let sample = if cycle % 2 == 0 { "1" } else { "64KiB" };
        let options = ["--sample", sample, "--duration", "100ms"];
        let (trace, out) = if cycle < 47 {
            let trace = dir.join(format!("cycle-{cycle}.hwt"));
            let out = attach(target.pid(), &options, &trace);
            (trace, out)
        } else {
            // The default names: each attach takes the next free one.
            let out = heapwise()
                .current_dir(&dir)
                .args(["attach", "--no-tui", "--pid", &target.pid().to_string()])
                .args(options)
                .output()
                .unwrap();
            let name = match cycle - 47 {
                0 => format!("heapwise-attach_churn-{}.hwt", target.pid()),
                n => format!("heapwise-attach_churn-{}-{}.hwt", target.pid(), n + 1),
            };
            assert!(
                stderr(&out).contains(&format!("tracing into {}", dir.join(&name).display())),
                "cycle {cycle}: {}",
                stderr(&out)
            );
            (dir.join(name), out)
        };
        assert!(out.status.success(), "cycle {cycle}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("detached from process"),
            "cycle {cycle}: {}",
            stderr(&out)
        );
        target.assert_untouched(&fds, &format!("after cycle {cycle}"));
        traces.send((cycle, trace, sample)).unwrap();
    }
    drop(traces);
    let cycles_took = started.elapsed();
    // The spill mappings of earlier traces were unmapped once every thread
    // had re-armed its stream: the last trace's is left (its pages given
    // back), not one per attach.
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", target.pid())).unwrap();
    let spill_mappings = maps
        .lines()
        .filter(|l| l.contains("/dev/shm/heapwise-"))
        .count();
    assert!(
        spill_mappings <= 2,
        "{spill_mappings} spill mappings:\n{maps}"
    );
    target.tell("stop");
    let status = target.child.wait().unwrap();
    assert!(status.success(), "the program ended with {status}");
    while let Ok(line) = target.lines.recv_timeout(Duration::from_secs(5)) {
        output.push(line);
    }
    eprintln!("50 cycles took {cycles_took:.1?}; the program printed {output:?}");

    // The same work untraced prints the same: every block the program
    // read back held what it had written.
    let rounds: Vec<String> = output
        .iter()
        .filter_map(|l| l.strip_prefix("thread "))
        .map(|l| {
            l.split(": ")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(rounds.len(), THREADS, "{output:?}");
    let reference = Command::new(&churn)
        .arg(THREADS.to_string())
        .args(&rounds)
        .arg(forks.to_string())
        .output()
        .unwrap();
    assert!(reference.status.success());
    let expected: Vec<String> = String::from_utf8(reference.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(output, expected, "traced output differs from untraced");

    // Every trace is one of its own, decoded from its first byte.
    let reports = reader.join().expect("every trace has a JSON report");
    assert_eq!(reports.len(), 50);
    eprintln!("and their reports {:.1?}", started.elapsed());
    for (cycle, report, sample) in reports {
        let summary = &report["summary"];
        let what = format!("cycle {cycle}: {summary}");
        assert!(report["trace"]["damage"].is_null(), "{what}");
        assert_eq!(report["trace"]["lost_events"], 0, "{what}");
        assert_eq!(report["trace"]["spill_left"], false, "{what}");
        assert!(summary["allocations"].as_f64().unwrap() > 100.0, "{what}");
        if sample == "1" {
            assert!(report["sampling"].is_null(), "{what}");
            // Every thread's stream starts over: each is in the trace once.
            assert_eq!(report["trace"]["threads"], THREADS, "{what}");
            // Of what was allocated while attached, at most the rings'
            // blocks are still allocated at the end.
            let leaked = summary["leaked_allocations"].as_u64().unwrap();
            assert!(leaked > 0 && leaked <= THREADS as u64 * RING, "{what}");
            assert!(summary["frees"].as_u64().unwrap() > leaked, "{what}");
            let stack = super::super::util::functions(&report["leaks"][0]);
            assert!(stack.iter().any(|f| f == "round_of"), "{what}: {stack:?}");
        } else {
            assert_eq!(report["sampling"]["mean_interval_bytes"], 65536, "{what}");
        }
    }
}

#[test]
fn attaching_to_a_process_of_fifty_threads_takes_well_under_a_second() {
    let dir = test_dir("attach-threads");
    let mut command = Command::new(program("attach_threads.c"));
    command.arg("50").stdin(Stdio::piped());
    let target = Running::start_command(command);
    let trace = dir.join("threads.hwt");
    // Built before the clock starts.
    let mut attach = heapwise();
    attach
        .args(["attach", "--no-tui", "--sample", "1", "--duration", "500ms"])
        .args(["--pid", &target.pid().to_string(), "-o"])
        .arg(&trace)
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = attach.spawn().unwrap();
    let mut said = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    said.read_line(&mut line).unwrap();
    let until_attached = started.elapsed();
    assert!(line.contains("attached to process"), "{line}");
    // "attached to process PID in N ms": from heapwise's start to the
    // return of the library's entry point, when the process's calls are
    // redirected and recorded.
    let injection: u64 = line
        .split(" in ")
        .nth(1)
        .and_then(|rest| rest.split(" ms").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no time in {line:?}"));
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut said, &mut rest).unwrap();
    assert!(child.wait().unwrap().success(), "{line}{rest}");
    eprintln!(
        "attach to 51 threads: {injection} ms inside heapwise, {} ms from its start",
        until_attached.as_millis()
    );
    assert!(injection < 1000, "the attach took {injection} ms");
    // Recording from then on, on every thread.
    let report = report_json(&trace);
    assert_eq!(report["trace"]["threads"], 50, "{}", report["trace"]);
    assert!(report["summary"]["allocations"].as_u64().unwrap() >= 50 * 100);
}

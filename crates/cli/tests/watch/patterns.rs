//! Verdicts on shaped programs, a process that exits, process trees.

use super::util::*;

/// The four shapes of the issue, watched at the same time for 15 s at
/// 200 ms: linear and periodic jumps are leaks, sawtooth and warm-up are not.
#[test]
fn shaped_programs_get_the_right_pattern_and_verdict() {
    let modes = ["linear", "sawtooth", "plateau", "step"];
    let bin = shape().to_string_lossy().into_owned();
    let runs: Vec<_> = modes
        .iter()
        .map(|&mode| {
            let bin = bin.clone();
            std::thread::spawn(move || {
                let out = finish(
                    heapwise()
                        .args(["watch", "--no-tui", "--format", "json", "--fail-on-leak"])
                        .args(["--interval", "200ms", "--duration", "15s", "--", &bin, mode]),
                );
                let report = json(&out);
                if let Some(pid) = report["pid"].as_u64() {
                    kill_pid(pid);
                }
                (out, report)
            })
        })
        .collect();
    for (mode, run) in modes.iter().zip(runs) {
        let (out, r) = run.join().expect("watch thread");
        let v = &r["verdict"];
        let pattern = v["pattern"].as_str().unwrap_or_default();
        let leak = v["leak"].as_bool().unwrap_or_default();
        let context = format!("{mode}: {pattern} leak={leak}: {}", v["reason"]);
        // 15 s every 200 ms: 76 samples when nothing stalls.
        let samples = r["samples"].as_array().expect("samples").len();
        assert!((60..=80).contains(&samples), "{context}: {samples} samples");
        assert_eq!(r["end"]["reason"], "duration", "{context}");
        let peak = f(&r["peak"]["anon_bytes"]) / MIB;
        match *mode {
            "linear" => {
                assert_eq!((pattern, leak), ("linear", true), "{context}");
                // 1 MiB every 100 ms.
                let slope = f(&v["slope_bytes_per_s"]) / MIB;
                assert!((8.5..=11.5).contains(&slope), "{context}: {slope} MiB/s");
                assert!(
                    v["time_to_limit_s"].as_f64().is_some_and(|t| t > 0.0),
                    "{context}"
                );
                assert!(v["limit_bytes"].as_u64().is_some(), "{context}");
                assert_eq!(out.status.code(), Some(10), "--fail-on-leak: {context}");
            }
            "sawtooth" => {
                assert_eq!((pattern, leak), ("sawtooth", false), "{context}");
                // Rises to 40 MiB; sampling may just miss the top.
                assert!((30.0..=42.0).contains(&peak), "{context}: peak {peak} MiB");
                assert!(v["time_to_limit_s"].is_null(), "{context}");
                assert_eq!(out.status.code(), Some(0), "{context}");
            }
            "plateau" => {
                assert_eq!((pattern, leak), ("plateau", false), "{context}");
                assert!((99.0..=102.0).contains(&peak), "{context}: peak {peak} MiB");
                assert_eq!(out.status.code(), Some(0), "{context}");
            }
            "step" => {
                assert!(matches!(pattern, "step" | "periodic"), "{context}");
                assert!(leak, "{context}");
                // Jumps of 32 MiB at 1.5, 4.5, 7.5, 10.5 and 13.5 s.
                assert!(
                    (159.0..=162.0).contains(&peak),
                    "{context}: peak {peak} MiB"
                );
                if pattern == "periodic" {
                    let period = f(&v["whole_watch"]["period_s"]);
                    assert!((2.7..=3.3).contains(&period), "{context}: period {period}");
                }
                assert_eq!(out.status.code(), Some(10), "{context}");
            }
            _ => unreachable!(),
        }
    }
}

#[test]
fn a_process_that_exits_mid_watch_ends_the_watch_cleanly() {
    let bin = shape().to_string_lossy().into_owned();
    let started = Instant::now();
    let (out, r) = watch_json(&[
        "--interval",
        "100ms",
        "--duration",
        "60s",
        "--",
        &bin,
        "exit",
        "1.5",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(r["end"]["reason"], "exited");
    assert_eq!(r["end"]["exit"]["code"], 3);
    let samples = r["samples"].as_array().expect("samples");
    assert!(samples.len() >= 5, "{} samples", samples.len());
    // It holds 8 MiB of anonymous memory while it runs.
    let anon = f(&samples[samples.len() - 1]["anon_bytes"]) / MIB;
    assert!((8.0..=9.5).contains(&anon), "{anon} MiB");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("still running"));
}

#[test]
fn children_add_up_the_process_tree() {
    // The parent and 3 children hold 16 MiB each.
    let tree = Target::start_all(&["tree", "3"], 4);
    let pid = tree.pid().to_string();
    // Every process has touched its memory once it says "ready".
    let (_, with) = watch_json(&[
        "--pid",
        &pid,
        "--children",
        "--interval",
        "100ms",
        "--duration",
        "500ms",
    ]);
    let (_, alone) = watch_json(&["--pid", &pid, "--interval", "100ms", "--duration", "300ms"]);
    let latest = &with["latest"];
    assert_eq!(latest["processes"], 4);
    assert_eq!(with["children"], true);
    let sum = f(&latest["anon_bytes"]) / MIB;
    assert!((64.0..=70.0).contains(&sum), "tree anon {sum} MiB");
    // PSS is read on its own CPU budget: its latest reading.
    let pss = f(&with["pss"]["last_bytes"]) / MIB;
    assert!((64.0..=72.0).contains(&pss), "tree PSS {pss} MiB");
    let one = f(&alone["latest"]["anon_bytes"]) / MIB;
    assert_eq!(alone["latest"]["processes"], 1);
    assert!((16.0..=18.0).contains(&one), "parent anon {one} MiB");
}

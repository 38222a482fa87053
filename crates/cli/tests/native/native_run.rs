//! `heapwise run` + `heapwise report` on programs whose leaks are known.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::util::*;

fn u(v: &Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("not an unsigned integer: {v}"))
}

#[test]
fn leaks_from_three_functions_and_three_apis_are_exact() {
    let dir = test_dir("sites");
    let out = run_traced(&dir, "sites.hwt", &program("sites.c"), &["1000"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = report_json(&dir.join("sites.hwt"));

    let malloc = leak_from(&report, "leak_malloc");
    assert_eq!(
        (u(&malloc["allocations"]), u(&malloc["bytes"])),
        (1000, 1000 * 100)
    );
    assert_eq!(
        u(&malloc["frames"][0]["line"]),
        line_of("sites.c", "leak_malloc")
    );
    assert!(
        malloc["frames"][0]["file"]
            .as_str()
            .unwrap()
            .ends_with("sites.c")
    );
    assert_eq!(functions(malloc)[1], "main");

    let calloc = leak_from(&report, "leak_calloc");
    assert_eq!(
        (u(&calloc["allocations"]), u(&calloc["bytes"])),
        (500, 500 * 300)
    );
    assert_eq!(
        u(&calloc["frames"][0]["line"]),
        line_of("sites.c", "leak_calloc")
    );

    let memalign = leak_from(&report, "leak_memalign");
    assert_eq!(
        (u(&memalign["allocations"]), u(&memalign["bytes"])),
        (250, 250 * 200)
    );
    assert_eq!(
        u(&memalign["frames"][0]["line"]),
        line_of("sites.c", "leak_memalign")
    );

    // The program uses no stdio: everything it allocates is known.
    let summary = &report["summary"];
    assert_eq!(u(&summary["leaked_allocations"]), 1000 + 500 + 250);
    assert_eq!(u(&summary["leaked_bytes"]), 100_000 + 150_000 + 50_000);
    assert_eq!(u(&summary["allocations"]), 1000 + 1000 + 500 + 250);
    assert_eq!(u(&summary["frees"]), 1000);
    let churn: u64 = (0..1000u64).map(|i| 48 + i % 64).sum();
    assert_eq!(u(&summary["allocated_bytes"]), 300_000 + churn);
    assert_eq!(report["leaks"].as_array().unwrap().len(), 3);
    assert_eq!(report["process"]["exit"]["code"], 0);
    assert_eq!(report["schema"], "heapwise.native-report/1");
}

#[test]
fn run_exits_with_the_programs_status_and_prints_a_summary_on_stderr() {
    let dir = test_dir("exit-status");
    let out = run_traced(&dir, "f.hwt", &program("forks.c"), &["3", "4"]);
    // The parent returns the child's status (7) + 1.
    assert_eq!(out.status.code(), Some(8));
    assert!(
        out.stdout.is_empty(),
        "heapwise wrote to the program's stdout"
    );
    let text = stderr(&out);
    assert!(text.contains("parent_leak"), "{text}");
    assert!(text.contains("trace written to"), "{text}");
}

/// The run's summary symbolizes with a symbolizer warmed while the program
/// ran (`cmd/symbols.rs` `Warmed`: the stacks' addresses symbolized then
/// and remembered); the report with one made afresh. Every frame the
/// summary shows must be the report's, in the program (DWARF) and in libc.
#[test]
fn the_summary_symbolized_while_the_program_ran_shows_the_reports_frames_and_verdict() {
    let dir = test_dir("warmed");
    // 800 ms: the follower replays and hands over stacks every 100 ms.
    let out = run_traced_with(
        &dir,
        "warmed.hwt",
        &["--no-tui", "--top", "5"],
        &program("bounded.c"),
        &["800", "0"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary = stderr(&out);
    let report = heapwise()
        .arg("report")
        .arg(dir.join("warmed.hwt"))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&report.stdout).into_owned();
    let report_lines: Vec<&str> = report.lines().map(str::trim).collect();
    let mut compared = 0;
    for line in summary.lines().filter(|l| l.contains("  <-  ")) {
        // "1.1 MiB in 18,552 blocks  still reachable  leak_session  file:24  <-  main  …"
        let frames: Vec<&str> = line.split("  <-  ").map(str::trim).collect();
        let kind_end = [
            "still reachable",
            "definitely lost",
            "indirectly lost",
            "possibly lost",
        ]
        .iter()
        .find_map(|kind| frames[0].find(kind).map(|at| at + kind.len()))
        .unwrap_or_else(|| panic!("a leak kind in {line}"));
        let first = frames[0][kind_end..].trim();
        // The report lists a group's frames one per line, innermost first.
        let found = report_lines.windows(frames.len()).any(|window| {
            window[0] == first && window[1..].iter().zip(&frames[1..]).all(|(a, b)| a == b)
        });
        assert!(
            found,
            "summary frames {frames:?} ({first}) not in the report:\n{report}"
        );
        compared += 1;
    }
    assert!(compared >= 2, "{summary}");
    // Its heap grows, so the summary judged no stack (`summary` in
    // `ReportOptions`): its verdict is still the report's.
    let verdict = summary.lines().nth(1).unwrap_or_default();
    assert_eq!(
        Some(verdict.trim_start_matches("heapwise: ")),
        report.lines().nth(1),
        "{summary}"
    );
    assert!(verdict.contains("the live heap keeps growing"), "{summary}");
    assert!(summary.contains("leak_session"), "{summary}");
    assert!(summary.contains("libc_start_call_main"), "{summary}");
}

#[test]
fn four_threads_leak_exactly_amid_churn_and_cross_thread_frees() {
    let dir = test_dir("threads");
    let out = run_traced(&dir, "t.hwt", &program("threads.c"), &["100", "200000"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = report_json(&dir.join("t.hwt"));
    let leak = leak_from(&report, "thread_leak");
    // Thread t leaks (t + 1) * 100 blocks of 64 bytes.
    assert_eq!(u(&leak["allocations"]), 100 + 200 + 300 + 400);
    assert_eq!(u(&leak["bytes"]), 1000 * 64);
    assert_eq!(
        u(&leak["frames"][0]["line"]),
        line_of("threads.c", "thread_leak")
    );
    // Everything else the program allocated was freed; what remains can
    // only be the thread library's own (cached thread stacks' TLS).
    for other in report["leaks"].as_array().unwrap() {
        let names = functions(other);
        if names.first().map(String::as_str) == Some("thread_leak") {
            continue;
        }
        assert!(
            names.iter().any(|n| n.contains("pthread_create")
                || n.contains("allocate_dtv")
                || n.contains("_dl_allocate_tls")),
            "unexpected leak: {}",
            serde_json::to_string_pretty(other).unwrap()
        );
    }
    assert_eq!(report["trace"]["lost_events"], 0);
}

#[test]
fn stored_and_compressed_traces_report_the_same_leaks() {
    // `--compress never` is what `auto` does while the program keeps every
    // CPU busy: blocks stored as they are.
    let dir = test_dir("compress");
    let mut reports = Vec::new();
    for mode in ["never", "always"] {
        let name = format!("{mode}.hwt");
        let trace = dir.join(&name);
        let out = run_traced_with(
            &dir,
            &name,
            &["--no-tui", "--compress", mode],
            &program("threads.c"),
            &["100", "200000"],
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let report = report_json(&trace);
        let leak = leak_from(&report, "thread_leak");
        assert_eq!(
            (u(&leak["allocations"]), u(&leak["bytes"])),
            (1000, 1000 * 64),
            "heapwise said: {}; the trace: {}",
            stderr(&out),
            report["trace"]
        );
        assert_eq!(
            u(&report["trace"]["bytes"]),
            std::fs::metadata(&trace).unwrap().len()
        );
        reports.push(report);
    }
    let (never, always) = (&reports[0]["trace"], &reports[1]["trace"]);
    assert!(u(&never["blocks"]) > 0);
    assert_eq!(never["uncompressed_blocks"], never["blocks"]);
    assert!(u(&always["uncompressed_blocks"]) < u(&always["blocks"]));
    assert!(u(&never["bytes"]) > u(&always["bytes"]));
    assert_eq!(
        reports[0]["summary"]["allocations"],
        reports[1]["summary"]["allocations"]
    );
}

#[test]
fn cxx_new_leaks_name_the_caller_of_operator_new() {
    let dir = test_dir("cxx");
    let out = run_traced(&dir, "w.hwt", &program("widgets.cpp"), &["100", "50"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = report_json(&dir.join("w.hwt"));
    let widgets = leak_from(&report, "shop::make_widget(long)");
    assert_eq!(
        (u(&widgets["allocations"]), u(&widgets["bytes"])),
        (100, 100 * 64)
    );
    assert_eq!(
        u(&widgets["frames"][0]["line"]),
        line_of("widgets.cpp", "make_widget")
    );
    let arrays = leak_from(&report, "make_array()");
    assert_eq!(
        (u(&arrays["allocations"]), u(&arrays["bytes"])),
        (50, 50 * 100)
    );
    for leak in report["leaks"].as_array().unwrap() {
        let first = leak["frames"][0]["function"].as_str().unwrap_or("");
        assert!(
            !first.starts_with("operator new"),
            "operator new was not trimmed: {first}"
        );
    }
}

#[test]
fn realloc_chains_that_end_freed_leave_nothing_and_count_as_valgrind_does() {
    let dir = test_dir("realloc");
    let out = run_traced(&dir, "r.hwt", &program("reallocs.c"), &["50", "10"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = report_json(&dir.join("r.hwt"));
    let summary = &report["summary"];
    assert_eq!(u(&summary["leaked_allocations"]), 0);
    assert_eq!(u(&summary["leaked_bytes"]), 0);
    // Each chain: realloc(NULL, 16), 10 reallocs, one free.
    assert_eq!(u(&summary["allocations"]), 50 * 11);
    assert_eq!(u(&summary["frees"]), 50 * 11);
    let per_chain: u64 = (0..=10).map(|i| 16u64 << i).sum();
    assert_eq!(u(&summary["allocated_bytes"]), 50 * per_chain);
    assert_eq!(u(&summary["peak_live_bytes"]), 16 << 10);
}

#[test]
fn a_leak_in_a_library_unloaded_before_exit_still_symbolizes() {
    let dir = test_dir("dlopen");
    let plugin = program("plugin.c");
    let out = run_traced(
        &dir,
        "d.hwt",
        &program("dl.c"),
        &[plugin.to_str().unwrap(), "30"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = report_json(&dir.join("d.hwt"));
    let leak = leak_from(&report, "plugin_leak");
    assert_eq!((u(&leak["allocations"]), u(&leak["bytes"])), (30, 30 * 72));
    assert_eq!(
        u(&leak["frames"][0]["line"]),
        line_of("plugin.c", "plugin_leak")
    );
    assert!(
        leak["frames"][0]["module"]
            .as_str()
            .unwrap()
            .ends_with("libplugin.so")
    );
    assert_eq!(functions(leak)[1], "main");
}

#[test]
fn a_forked_child_writes_its_own_trace_with_its_own_leaks() {
    let dir = test_dir("fork");
    let out = run_traced(&dir, "p.hwt", &program("forks.c"), &["20", "30"]);
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
    let parent = report_json(&dir.join("p.hwt"));
    let parent_leak = leak_from(&parent, "parent_leak");
    assert_eq!(
        (u(&parent_leak["allocations"]), u(&parent_leak["bytes"])),
        (20, 20 * 40)
    );
    assert!(
        parent["leaks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["frames"][0]["function"] != "child_leak")
    );
    assert_eq!(parent["process"]["exit"]["code"], 8);

    let children: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("p.") && name.ends_with(".hwt") && name != "p.hwt"
        })
        .collect();
    assert_eq!(
        children.len(),
        1,
        "one child trace beside the parent's: {children:?}"
    );
    let child = report_json(&children[0]);
    let child_leak = leak_from(&child, "child_leak");
    assert_eq!(
        (u(&child_leak["allocations"]), u(&child_leak["bytes"])),
        (30, 30 * 88)
    );
    assert_eq!(
        u(&child["summary"]["leaked_allocations"]),
        30,
        "the child's trace starts at the fork"
    );
    assert_eq!(child["process"]["exit"]["code"], 7);
    assert!(stderr(&out).contains("1 more traces"), "{}", stderr(&out));
}

#[test]
fn a_program_killed_with_sigkill_keeps_what_it_leaked() {
    let dir = test_dir("killed");
    let out = run_traced(&dir, "k.hwt", &program("killed.c"), &["500"]);
    assert_eq!(out.status.code(), Some(128 + 9), "{}", stderr(&out));
    let report = report_json(&dir.join("k.hwt"));
    let leak = leak_from(&report, "before_death");
    assert_eq!(
        (u(&leak["allocations"]), u(&leak["bytes"])),
        (500, 500 * 128)
    );
    assert_eq!(report["process"]["exit"]["signal"], 9);
}

#[test]
fn allocations_in_a_signal_handler_are_all_recorded() {
    let dir = test_dir("signals");
    let out = run_traced(&dir, "s.hwt", &program("signals.c"), &["300"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let fired: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("the program prints its count");
    assert!(fired >= 300);
    let report = report_json(&dir.join("s.hwt"));
    // One group per place the signal interrupted; together, every block.
    let groups: Vec<&Value> = report["leaks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["frames"][0]["function"] == "on_alarm")
        .collect();
    assert_eq!(
        groups.iter().map(|g| u(&g["allocations"])).sum::<u64>(),
        fired
    );
    assert_eq!(
        groups.iter().map(|g| u(&g["bytes"])).sum::<u64>(),
        fired * 48
    );
    assert_eq!(report["trace"]["lost_events"], 0);
    // The stacks go through the signal frame into the interrupted code,
    // and never show heapwise's own frames.
    for group in &groups {
        let names = functions(group);
        assert!(names.iter().any(|n| n == "main"), "{names:?}");
        assert!(
            group["frames"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| !f["module"].as_str().unwrap_or("").contains("heapwise")),
            "{group}"
        );
    }
}

#[test]
fn leaked_bytes_match_valgrinds_definitely_lost() {
    if std::process::Command::new("valgrind")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("valgrind is part of this machine kind; install it (apt-get install valgrind)");
    }
    let dir = test_dir("valgrind");
    let sites = program("sites.c");
    let out = std::process::Command::new("valgrind")
        .args(["--leak-check=full", "--errors-for-leak-kinds=none"])
        .arg(&sites)
        .args(["400", "drop"])
        .output()
        .expect("valgrind runs");
    let text = String::from_utf8_lossy(&out.stderr);
    let line = text
        .lines()
        .find(|l| l.contains("definitely lost:"))
        .unwrap_or_else(|| panic!("{text}"));
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.replace(',', "").parse().ok())
        .collect();
    let (bytes, blocks) = (numbers[0], numbers[1]);

    let traced = run_traced(&dir, "v.hwt", &sites, &["400", "drop"]);
    assert_eq!(traced.status.code(), Some(0), "{}", stderr(&traced));
    let report = report_json(&dir.join("v.hwt"));
    assert_eq!(
        u(&report["summary"]["leaked_bytes"]),
        bytes,
        "valgrind: {line}"
    );
    assert_eq!(
        u(&report["summary"]["leaked_allocations"]),
        blocks,
        "valgrind: {line}"
    );
}

#[test]
fn allocations_in_a_constructor_before_main_are_recorded() {
    let dir = test_dir("ctor");
    let out = heapwise()
        .current_dir(&dir)
        .env("LIFECYCLE_CTOR", "1")
        .arg("run")
        .arg("-o")
        .arg(dir.join("c.hwt"))
        .arg("--")
        .arg(program("lifecycle.c"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = report_json(&dir.join("c.hwt"));
    let leak = leak_from(&report, "early_leak");
    assert_eq!((u(&leak["allocations"]), u(&leak["bytes"])), (7, 7 * 24));
    assert_eq!(
        u(&leak["frames"][0]["line"]),
        line_of("lifecycle.c", "early_leak")
    );
}

#[test]
fn exit_from_a_second_thread_keeps_its_leaks_and_status() {
    let dir = test_dir("thread-exit");
    let out = run_traced(&dir, "t.hwt", &program("lifecycle.c"), &["thread-exit"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let report = report_json(&dir.join("t.hwt"));
    let leak = leak_from(&report, "thread_leak_then_exit");
    assert_eq!((u(&leak["allocations"]), u(&leak["bytes"])), (11, 11 * 56));
    assert_eq!(report["process"]["exit"]["code"], 5);
}

#[test]
fn underscore_exit_skips_exit_handlers_but_not_the_trace() {
    let dir = test_dir("_exit");
    let out = run_traced(&dir, "u.hwt", &program("lifecycle.c"), &["_exit"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let report = report_json(&dir.join("u.hwt"));
    let leak = leak_from(&report, "leak_then__exit");
    assert_eq!((u(&leak["allocations"]), u(&leak["bytes"])), (13, 13 * 72));
    assert_eq!(report["process"]["exit"]["code"], 3);
    assert_eq!(report["trace"]["truncated"], false);
}

#[test]
fn exec_ends_one_trace_and_the_new_program_writes_the_next() {
    let dir = test_dir("exec");
    let sites = program("sites.c");
    let out = run_traced(
        &dir,
        "e.hwt",
        &program("lifecycle.c"),
        &["exec", sites.to_str().unwrap(), "100"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The image before exec: its own leak, and no exit status (it was replaced).
    let before = report_json(&dir.join("e.hwt"));
    let leak = leak_from(&before, "leak_before_exec");
    assert_eq!((u(&leak["allocations"]), u(&leak["bytes"])), (9, 9 * 40));
    assert!(before["process"]["exit"].is_null());
    assert!(
        before["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("exec"))
    );
    // The program it became, same pid, in the trace beside it.
    let pid = before["process"]["pid"].as_u64().unwrap();
    let after = report_json(&dir.join(format!("e.{pid}.hwt")));
    assert_eq!(after["process"]["pid"], pid);
    let malloc = leak_from(&after, "leak_malloc");
    assert_eq!(
        (u(&malloc["allocations"]), u(&malloc["bytes"])),
        (100, 100 * 100)
    );
    assert_eq!(after["process"]["exit"]["code"], 0);
    assert!(
        after["leaks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["frames"][0]["function"] != "leak_before_exec")
    );
    // run summarises the program the process ended as.
    assert!(stderr(&out).contains("leak_malloc"), "{}", stderr(&out));
}

/// A pre-fork server's worker: its report counts what it allocated itself
/// (30 × 96 B) and, apart, what it still holds of the master's blocks (the
/// 100 × 200 B table; the master's 50 × 64 B of scratch it freed, and the
/// master frees its own copy only after the fork).
#[test]
fn a_forked_worker_reports_what_it_still_holds_of_its_masters_blocks() {
    let dir = test_dir("prefork");
    let out = run_traced(&dir, "m.hwt", &program("prefork.c"), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let master = report_json(&dir.join("m.hwt"));
    assert!(master["inherited"].is_null(), "the master was not forked");
    let worker = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("m.") && name.ends_with(".hwt") && name != "m.hwt"
        })
        .expect("the worker's trace");
    let report = report_json(&worker);
    let own = leak_from(&report, "worker_own");
    assert_eq!((u(&own["allocations"]), u(&own["bytes"])), (30, 30 * 96));
    assert_eq!(u(&report["summary"]["leaked_allocations"]), 30);
    let inherited = &report["inherited"];
    assert_eq!(
        u(&inherited["parent_pid"]),
        u(&master["process"]["pid"]),
        "{inherited}"
    );
    assert_eq!(
        (
            u(&inherited["blocks_at_fork"]),
            u(&inherited["bytes_at_fork"])
        ),
        (150, 100 * 200 + 50 * 64)
    );
    assert_eq!(
        (u(&inherited["held_blocks"]), u(&inherited["held_bytes"])),
        (100, 100 * 200)
    );
    let groups = inherited["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{inherited}");
    assert_eq!(groups[0]["frames"][0]["function"], "build_table");
    assert_eq!(
        groups[0]["frames"][0]["line"],
        line_of("prefork.c", "build_table")
    );
    let text = heapwise()
        .arg("report")
        .arg(&worker)
        .output()
        .expect("heapwise runs");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("still held at the end: 19.5 KiB in 100 blocks"),
        "{text}"
    );
}

/// `-o` takes any name: with another extension, none, or in a
/// subdirectory; the summary is printed, the main trace is exact, and the
/// forked child's trace is named beside it and listed.
#[test]
fn any_output_name_works_and_child_traces_are_named_beside_it() {
    for (name, child_prefix, child_suffix) in [
        ("x.trace", "x.", ".trace"),
        ("x", "x.", ""),
        ("sub/x.bin", "x.", ".bin"),
    ] {
        let dir = test_dir(&format!("names-{}", name.replace('/', "-")));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let out = run_traced(&dir, name, &program("prefork.c"), &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "{name}: {err}");
        assert!(
            err.contains(&format!("trace written to {}", dir.join(name).display())),
            "{name}: {err}"
        );
        assert!(err.contains("1 more traces from this run"), "{name}: {err}");
        let main = report_json(&dir.join(name));
        let table = leak_from(&main, "build_table");
        assert_eq!(
            (u(&table["allocations"]), u(&table["bytes"])),
            (100, 20_000)
        );
        let home = dir.join(name).parent().unwrap().to_path_buf();
        let children: Vec<_> = std::fs::read_dir(&home)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| {
                n.starts_with(child_prefix)
                    && n.ends_with(child_suffix)
                    && home.join(n) != dir.join(name)
                    && n[child_prefix.len()..n.len() - child_suffix.len()]
                        .chars()
                        .all(|c| c.is_ascii_digit())
            })
            .collect();
        assert_eq!(children.len(), 1, "{name}: {children:?}");
        let child = report_json(&home.join(&children[0]));
        assert_eq!(u(&leak_from(&child, "worker_own")["allocations"]), 30);
        assert!(
            err.contains(&children[0]),
            "{name}: the child is listed: {err}"
        );
    }
}

/// The child traces of `dir/NAME.hwt`'s run: `NAME.PID.hwt`.
fn child_traces(dir: &Path, name: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let file = p.file_name().unwrap().to_string_lossy().into_owned();
            file.starts_with(&format!("{name}."))
                && file.ends_with(".hwt")
                && file != format!("{name}.hwt")
        })
        .collect()
}

/// valgrind's count of the allocations of each process of `program args`
/// (it follows forks), in the order it prints them.
fn valgrind_allocations(program: &Path, args: &[&str]) -> Vec<u64> {
    let out = std::process::Command::new("valgrind")
        .args(["--run-libc-freeres=no", "--run-cxx-freeres=no"])
        .arg(program)
        .args(args)
        .output()
        .expect("valgrind runs");
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| l.split("total heap usage: ").nth(1))
        .map(|rest| {
            rest.split_whitespace()
                .next()
                .unwrap()
                .replace(',', "")
                .parse()
                .unwrap()
        })
        .collect()
}

/// A forked child whose only allocations are glibc's inside
/// `pthread_create`: its trace exists and holds every allocation, as many
/// as valgrind counts for it.
#[test]
fn a_forked_child_that_only_starts_a_thread_is_traced_whole() {
    for leaked in ["0", "25"] {
        let dir = test_dir(&format!("fork-thread-{leaked}"));
        let out = run_traced(&dir, "f.hwt", &program("fork_thread.c"), &[leaked]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let children = child_traces(&dir, "f");
        assert_eq!(
            children.len(),
            1,
            "the child's trace exists: {}",
            stderr(&out)
        );
        let child = report_json(&children[0]);
        let counts = valgrind_allocations(&program("fork_thread.c"), &[leaked]);
        // valgrind prints the child's summary first (it exits first).
        assert_eq!(
            u(&child["summary"]["allocations"]),
            counts[0],
            "valgrind: {counts:?}"
        );
        assert!(
            child["leaks"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| functions(l).iter().any(|f| f.contains("pthread_create"))),
            "the thread's allocation, from pthread_create: {child}"
        );
        if leaked == "25" {
            let own = leak_from(&child, "after_join");
            assert_eq!((u(&own["allocations"]), u(&own["bytes"])), (25, 1000));
        }
    }
}

/// The tracer takes no pthread key: the program gets as many as without
/// it, and its threads' streams are still released at thread exit.
#[test]
fn the_program_gets_every_pthread_key() {
    let dir = test_dir("keys");
    let alone = std::process::Command::new(program("keys.c"))
        .output()
        .unwrap();
    let out = run_traced(&dir, "k.hwt", &program("keys.c"), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&alone.stdout)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1024");
    let report = report_json(&dir.join("k.hwt"));
    let leak = leak_from(&report, "thread_leak");
    assert_eq!((u(&leak["allocations"]), u(&leak["bytes"])), (50, 50 * 48));
}

#[test]
fn a_trace_damaged_while_the_program_runs_is_left_whole() {
    // `scribble.c` writes garbage over a block of its own trace, then
    // allocates on: `heapwise run` says the trace is damaged, and keeps
    // every byte of it — the blocks after the damage are whole, only out
    // of a reader's reach — instead of cutting it at the damage to
    // append how the program ended.
    let dir = test_dir("scribble");
    let trace = dir.join("s.hwt");
    let out = run_traced(&dir, "s.hwt", &program("scribble.c"), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let scribbled: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("the length it scribbled at");
    assert!(stderr(&out).contains("damaged"), "{}", stderr(&out));
    let report = report_json(&trace);
    assert!(report["trace"]["damage"].is_string(), "{}", report["trace"]);
    let kept = std::fs::metadata(&trace).unwrap().len();
    assert!(
        kept > scribbled,
        "the trace was {scribbled} bytes when damaged and is {kept} now"
    );
}

#[test]
fn stacks_alike_in_their_inner_frames_keep_their_own_outer_frames() {
    // splice.c allocates alternately through twins (via_a, via_b: the
    // same frames at the same stack addresses but one return address) and
    // through a recursion of 1 to 7 levels: the unwinder's reuse of the
    // previous stack's outer frames must give each allocation its own.
    let n = 7 * 300;
    let dir = test_dir("splice");
    let out = run_traced(&dir, "splice.hwt", &program("splice.c"), &[&n.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = report_json(&dir.join("splice.hwt"));
    let groups = report["leaks"].as_array().unwrap();
    let with = |outer: &[&str]| -> Vec<&Value> {
        groups
            .iter()
            .filter(|g| {
                let names = functions(g);
                let to_main = names.iter().position(|f| f == "main").map_or(0, |m| m + 1);
                names[..to_main] == *outer
            })
            .collect::<Vec<_>>()
    };
    for (via, size) in [("via_a", 100), ("via_b", 200)] {
        let found = with(&["leaf", "middle", via, "main"]);
        assert_eq!(found.len(), 1, "{via}: {groups:#?}");
        assert_eq!(
            (u(&found[0]["allocations"]), u(&found[0]["bytes"])),
            (n, n * size),
            "{via}"
        );
    }
    for k in 0..7 {
        let mut frames = vec!["leaf"];
        frames.extend(std::iter::repeat_n("deep", k + 1));
        frames.push("main");
        let found = with(&frames);
        assert_eq!(found.len(), 1, "depth {k}: {groups:#?}");
        assert_eq!(
            (u(&found[0]["allocations"]), u(&found[0]["bytes"])),
            (n / 7, n / 7 * 300),
            "depth {k}"
        );
    }
    assert_eq!(u(&report["summary"]["leaked_allocations"]), 3 * n);
}

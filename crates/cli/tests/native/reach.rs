//! Reachability at exit: blocks held (or not) every way a C or C++ program
//! holds them, split by `heapwise run`'s scan at exit into valgrind's four
//! kinds — and valgrind, run on the same program with
//! `--run-libc-freeres=no --run-cxx-freeres=no`, is the oracle: the four
//! totals are its totals, and each case's blocks are of the kind valgrind
//! gives them. Then what a scan cannot do (a killed program), and the CI
//! gate (`--fail-on-leak`, `--suppressions`).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::util::{
    heapwise, leak_from, program, report_json, run_traced, run_traced_with, stderr, test_dir,
};

const KINDS: [&str; 4] = [
    "definitely_lost",
    "indirectly_lost",
    "possibly_lost",
    "still_reachable",
];

/// Bytes and blocks, per kind or per (case, kind).
type Amounts<K> = BTreeMap<K, (u64, u64)>;

/// What valgrind said of a run.
struct Valgrind {
    /// Bytes and blocks of each kind, in [`KINDS`] order.
    totals: [(u64, u64); 4],
    /// Its loss records: kind, bytes (direct), blocks, functions innermost
    /// first.
    records: Vec<(String, u64, u64, Vec<String>)>,
    /// "of which reachable via heuristic": name → bytes and blocks.
    heuristics: Amounts<String>,
}

fn numbers(text: &str) -> Vec<u64> {
    text.split(|c: char| !c.is_ascii_digit() && c != ',')
        .filter_map(|w| w.replace(',', "").parse().ok())
        .collect()
}

/// Runs `program args` under valgrind's memcheck, every leak kind shown.
fn valgrind(program: &Path, args: &[&str]) -> Valgrind {
    let out = std::process::Command::new("valgrind")
        .args([
            "--leak-check=full",
            "--show-leak-kinds=all",
            "--run-libc-freeres=no",
            "--run-cxx-freeres=no",
        ])
        .arg(program)
        .args(args)
        .output()
        .expect("valgrind is part of this machine kind (apt-get install valgrind)");
    let text = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.split_once("== ").map_or(l, |(_, rest)| rest).trim())
        .collect();
    let mut totals = [(0, 0); 4];
    for (i, label) in [
        "definitely lost:",
        "indirectly lost:",
        "possibly lost:",
        "still reachable:",
    ]
    .iter()
    .enumerate()
    {
        let line = lines
            .iter()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("valgrind printed no {label}: {text}"));
        let n = numbers(line);
        totals[i] = (n[0], n[1]);
    }
    let mut records = Vec::new();
    let mut heuristics = BTreeMap::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(kind) = [
            "definitely lost",
            "indirectly lost",
            "possibly lost",
            "still reachable",
        ]
        .iter()
        .find(|k| line.contains(&format!("are {k} in loss record")))
        {
            // "N bytes in M blocks are ..." or "N (D direct, I indirect) bytes ...".
            let n = numbers(line.split(" are ").next().unwrap_or(""));
            let (bytes, blocks) = if line.contains(" direct, ") {
                (n[1], n[3])
            } else {
                (n[0], n[1])
            };
            let mut functions = Vec::new();
            while let Some(frame) = lines
                .get(i + 1)
                .filter(|l| l.starts_with("at 0x") || l.starts_with("by 0x"))
            {
                if let Some((_, rest)) = frame.split_once(": ") {
                    functions.push(function_name(rest.split(" (").next().unwrap_or(rest)));
                }
                i += 1;
            }
            records.push((kind.replace(' ', "_"), bytes, blocks, functions));
        }
        if let Some(rest) = line.strip_suffix(" blocks").filter(|_| {
            line.starts_with("stdstring")
                || line.starts_with("length64")
                || line.starts_with("newarray")
                || line.starts_with("multipleinheritance")
        }) {
            let name = rest
                .split_whitespace()
                .next()
                .unwrap_or("")
                .trim_end_matches(':')
                .to_string();
            let n = numbers(rest);
            heuristics.insert(name, (n[n.len() - 2], n[n.len() - 1]));
        }
        i += 1;
    }
    Valgrind {
        totals,
        records,
        heuristics,
    }
}

/// A function's name as both tools print it, without parameters or ABI
/// tags: `make_string[abi:cxx11]()` → `make_string`.
fn function_name(name: &str) -> String {
    let name = name.split('(').next().unwrap_or(name);
    name.split('[').next().unwrap_or(name).trim().to_string()
}

/// Per (case, kind): the first function of each group's stack that is one
/// of `cases`.
fn by_case<'a>(
    groups: impl Iterator<Item = (String, u64, u64, Vec<String>)>,
    cases: &[&'a str],
) -> Amounts<(&'a str, String)> {
    let mut out: Amounts<(&str, String)> = BTreeMap::new();
    for (kind, bytes, blocks, functions) in groups {
        let Some(case) = functions
            .iter()
            .find_map(|f| cases.iter().find(|c| *c == f))
        else {
            continue;
        };
        let entry = out.entry((*case, kind)).or_default();
        entry.0 += bytes;
        entry.1 += blocks;
    }
    out
}

/// heapwise's leak groups as valgrind's records.
fn groups(report: &Value) -> impl Iterator<Item = (String, u64, u64, Vec<String>)> + '_ {
    report["leaks"].as_array().expect("leaks").iter().map(|l| {
        let functions = l["frames"]
            .as_array()
            .expect("frames")
            .iter()
            .filter_map(|f| f["function"].as_str().map(function_name))
            .collect();
        (
            l["kind"]
                .as_str()
                .expect("a kind: the process was scanned")
                .to_string(),
            l["bytes"].as_u64().unwrap(),
            l["allocations"].as_u64().unwrap(),
            functions,
        )
    })
}

fn totals(report: &Value) -> [(u64, u64); 4] {
    let r = &report["summary"]["reachability"];
    assert!(r.is_object(), "scanned: {}", report["reachability_scan"]);
    KINDS.map(|k| {
        (
            r[k]["bytes"].as_u64().unwrap(),
            r[k]["blocks"].as_u64().unwrap(),
        )
    })
}

/// Each live thread's DTV (glibc's thread-local storage vector, possibly
/// lost for valgrind and heapwise alike: the thread points into it) is 16
/// bytes larger under heapwise, whose library adds a TLS module
/// (RESEARCH.md, "Side effects of the preload").
fn dtv_blocks(valgrind: &Valgrind) -> u64 {
    valgrind
        .records
        .iter()
        .filter(|r| r.3.iter().any(|f| f == "allocate_dtv"))
        .map(|r| r.2)
        .sum()
}

const C_CASES: [&str; 17] = [
    "held_by_global",
    "held_by_big_mapping",
    "thread_stack_main",
    "thread_tls_main",
    "held_by_main_tls",
    "thread_register_main",
    "held_by_interior_pointer",
    "interior_then_start",
    "interior_then_start_middle",
    "interior_then_start_target",
    "held_by_unaligned_pointer",
    "lost_tree_root",
    "lost_tree_node",
    "lost_cycle_node",
    "lost_chain_head",
    "lost_chain_link",
    "lost_small",
];

#[test]
fn c_blocks_held_every_way_are_split_as_valgrind_splits_them() {
    let dir = test_dir("reach-c");
    let reach = program("reach.c");
    let out = run_traced(&dir, "r.hwt", &reach, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    for case in [
        "held_by_global:",
        "held_in_register:",
        "lost_cycle:",
        "lost_chain:",
    ] {
        assert!(said.contains(case), "the program says what it did: {said}");
    }
    let report = report_json(&dir.join("r.hwt"));
    let oracle = valgrind(&reach, &[]);
    let mut expected = oracle.totals;
    expected[2].0 += 16 * dtv_blocks(&oracle);
    assert_eq!(totals(&report), expected, "valgrind: {:?}", oracle.totals);
    assert_eq!(
        by_case(groups(&report), &C_CASES),
        by_case(oracle.records.into_iter(), &C_CASES),
        "each case's blocks of valgrind's kind"
    );
    let scan = &report["reachability_scan"];
    assert_eq!(scan["threads"], 4, "main and three live threads: {scan}");
    assert_eq!(report["verdict"]["level"], "leak");
}

/// A heap large enough that step 2 of the scan runs on every core
/// (heapwise_reach's `PARALLEL_FROM` is 4,096 blocks): 20,000 blocks in
/// chains, every 100th chain lost, and 20,000 whose every word points to a
/// block (most blocks' states rise, several threads raise the same ones).
/// `reach_heap.c` is `bench/reach_bench.c`, the reachability benchmark's
/// program.
#[test]
fn a_heap_scanned_on_every_core_is_split_as_valgrind_splits_it() {
    let dir = test_dir("reach-parallel");
    let heap = program("reach_heap.c");
    for shape in ["chains", "dense"] {
        let trace = format!("{shape}.hwt");
        let out = run_traced(&dir, &trace, &heap, &["20000", shape]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let report = report_json(&dir.join(&trace));
        let oracle = valgrind(&heap, &["20000", shape]);
        assert_eq!(totals(&report), oracle.totals, "{shape}");
        let lost: u64 = totals(&report)[..2].iter().map(|k| k.1).sum();
        assert!(lost > 0, "{shape}: some chains are lost");
    }
}

const CPP_CASES: [&str; 8] = [
    "cookie_array",
    "second_base",
    "make_string",
    "owned_string",
    "lost_string",
    "lost_vector",
    "lost_vector_element",
    "_M_construct",
];

#[test]
fn cpp_blocks_that_only_valgrinds_heuristics_reach_are_split_as_valgrind_splits_them() {
    let dir = test_dir("reach-cpp");
    let reach = program("reach_cxx.cpp");
    let out = run_traced(&dir, "r.hwt", &reach, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = report_json(&dir.join("r.hwt"));
    let oracle = valgrind(&reach, &[]);
    assert_eq!(totals(&report), oracle.totals);
    let heuristics = &report["reachability_scan"]["reachable_via_heuristic"];
    for (name, &(bytes, blocks)) in &oracle.heuristics {
        assert_eq!(
            (
                heuristics[name]["bytes"].as_u64(),
                heuristics[name]["blocks"].as_u64()
            ),
            (Some(bytes), Some(blocks)),
            "{name}: {heuristics}"
        );
    }
    assert_eq!(
        oracle.heuristics.keys().collect::<Vec<_>>(),
        ["multipleinheritance", "newarray"],
        "the program exercises these two"
    );
    assert_eq!(
        by_case(groups(&report), &CPP_CASES),
        by_case(oracle.records.into_iter(), &CPP_CASES)
    );
}

#[test]
fn exits_through_exit_from_another_thread_and_through_underscore_exit_are_scanned_as_valgrind_does()
{
    let lifecycle = program("lifecycle.c");
    for (mode, code) in [("thread-exit", 5), ("_exit", 3)] {
        let dir = test_dir(&format!("reach-{mode}"));
        let out = run_traced(&dir, "l.hwt", &lifecycle, &[mode]);
        assert_eq!(out.status.code(), Some(code), "the program's own status");
        let report = report_json(&dir.join("l.hwt"));
        let oracle = valgrind(&lifecycle, &[mode]);
        let mut expected = oracle.totals;
        expected[2].0 += 16 * dtv_blocks(&oracle);
        assert_eq!(totals(&report), expected, "{mode}: {}", stderr(&out));
    }
}

#[test]
fn a_program_killed_by_a_signal_is_not_split_and_says_why_one_whose_handler_exits_is() {
    let dir = test_dir("reach-killed");
    let out = run_traced(&dir, "d.hwt", &program("dies.c"), &["abort"]);
    assert_eq!(out.status.code(), Some(128 + 6));
    let report = report_json(&dir.join("d.hwt"));
    assert!(report["summary"]["reachability"].is_null());
    assert_eq!(report["reachability_scan"]["scanned"], false);
    assert_eq!(
        report["reachability_scan"]["reason"],
        "the program was killed by signal 6 before it could be scanned, and a dead process's memory cannot be read"
    );
    assert!(
        report["leaks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["kind"].is_null())
    );
    assert!(
        stderr(&out).contains("Not scanned at exit"),
        "{}",
        stderr(&out)
    );

    // A program whose own handler turns the signal into an exit is scanned.
    let dir = test_dir("reach-handled");
    let dies = program("dies.c");
    let out = run_traced(&dir, "h.hwt", &dies, &["handler"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let oracle = valgrind(&dies, &["handler"]);
    let mut expected = oracle.totals;
    expected[2].0 += 16 * dtv_blocks(&oracle);
    let mut found = totals(&report_json(&dir.join("h.hwt")));
    // Its second thread mallocs and frees one 40-byte block in a loop: at
    // the instant of the exit it may hold that block (in a register, so
    // still reachable), in either run.
    for run in [&mut found, &mut expected] {
        if run[3] == (40, 1) {
            run[3] = (0, 0);
        }
    }
    assert_eq!(found, expected);
}

/// `heapwise run --fail-on-leak` on `reach.c` running `cases`, with
/// `options`: the exit code and what heapwise said.
fn gate(name: &str, options: &[&str], cases: &[&str]) -> (Option<i32>, String) {
    let dir = test_dir(name);
    let mut all = vec!["--fail-on-leak"];
    all.extend_from_slice(options);
    let out = run_traced_with(&dir, "g.hwt", &all, &program("reach.c"), cases);
    (out.status.code(), stderr(&out))
}

#[test]
fn the_gate_fails_on_lost_blocks_only_and_suppressions_in_either_format_lift_it() {
    let reachable = ["held_by_global", "held_by_main_tls", "held_by_thread_stack"];
    let (code, said) = gate("gate-reachable", &[], &reachable);
    assert_eq!(code, Some(0), "still reachable is no leak: {said}");
    assert!(
        said.contains(
            "No leak: the 3,400 bytes in 3 blocks still allocated at exit are all still reachable"
        ),
        "{said}"
    );

    let lost = ["held_by_global", "lost_small", "held_by_interior_pointer"];
    let (code, said) = gate("gate-lost", &[], &lost);
    assert_eq!(code, Some(10), "{said}");
    assert!(
        said.contains("24 bytes in 1 block definitely lost, 1,500 bytes in 1 block possibly lost"),
        "{said}"
    );

    let dir = test_dir("gate-supp");
    let valgrind_format = dir.join("valgrind.supp");
    std::fs::write(
        &valgrind_format,
        "# known leaks\n{\n   small\n   Memcheck:Leak\n   match-leak-kinds: definite\n   fun:malloc\n   ...\n   fun:lost_small\n}\n{\n   interior\n   Memcheck:Leak\n   fun:malloc\n   fun:filled\n   fun:held_by_interior_*\n}\n",
    )
    .unwrap();
    let lsan_format = dir.join("lsan.supp");
    std::fs::write(&lsan_format, "leak:lost_small\nleak:reach.c\n").unwrap();
    for file in [&valgrind_format, &lsan_format] {
        let file = file.to_string_lossy();
        let (code, said) = gate("gate-supp-run", &["--suppressions", &file], &lost);
        assert_eq!(code, Some(0), "{file}: {said}");
        assert!(
            said.contains("matched suppressions and are not counted"),
            "{said}"
        );
    }
    // A suppression of the wrong kind does not apply.
    let wrong = dir.join("wrong.supp");
    std::fs::write(&wrong, "{\n n\n Memcheck:Leak\n match-leak-kinds: reachable\n fun:malloc\n fun:lost_small\n}\n{\n i\n Memcheck:Leak\n ...\n fun:held_by_interior_pointer\n}\n").unwrap();
    let (code, said) = gate(
        "gate-wrong-kind",
        &["--suppressions", &wrong.to_string_lossy()],
        &lost,
    );
    assert_eq!(code, Some(10), "{said}");
}

#[test]
fn a_suppressions_file_that_cannot_be_used_stops_run_and_report_in_one_sentence() {
    let dir = test_dir("bad-supp");
    let bad = dir.join("bad.supp");
    std::fs::write(&bad, "{\n   name\n   Memcheck:Leak\n   fun:malloc\n").unwrap();
    let out = heapwise()
        .args(["run", "--suppressions"])
        .arg(&bad)
        .arg("--")
        .arg(program("reach.c"))
        .arg("lost_small")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "the program did not run");
    assert_eq!(
        stderr(&out).trim(),
        format!(
            "heapwise: {}, line 1: this entry is never closed with a line holding only }}",
            bad.display()
        )
    );
    let out = heapwise()
        .args([
            "report",
            "--suppressions",
            "/nonexistent/leaks.supp",
            "/nonexistent/t.hwt",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim(),
        "heapwise: cannot read the suppressions file /nonexistent/leaks.supp: No such file or directory"
    );
}

#[test]
fn the_text_report_leads_with_definitely_lost_and_ends_with_still_reachable() {
    let dir = test_dir("reach-text");
    let out = run_traced(
        &dir,
        "t.hwt",
        &program("reach.c"),
        &["held_by_global", "lost_chain", "held_by_interior_pointer"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = heapwise()
        .args(["report"])
        .arg(dir.join("t.hwt"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    let at = |heading: &str| {
        text.find(heading)
            .unwrap_or_else(|| panic!("{heading}: {text}"))
    };
    let order = [
        at("Definitely lost: 56 B in 1 block"),
        at("Indirectly lost: 96 B in 4 blocks"),
        at("Possibly lost: 1.5 KiB in 1 block"),
        at("Still reachable: 1000 B in 1 block"),
    ];
    assert!(order.is_sorted(), "{text}");
    assert!(text.contains("At exit: definitely lost 56 B in 1 block, indirectly lost 96 B in 4 blocks, possibly lost 1.5 KiB in 1 block, still reachable 1000 B in 1 block"), "{text}");
}

#[test]
fn the_image_a_program_execs_into_is_the_one_scanned() {
    let dir = test_dir("reach-exec");
    let reach = program("reach.c");
    let reach = reach.to_string_lossy();
    let out = run_traced(
        &dir,
        "e.hwt",
        &program("lifecycle.c"),
        &["exec", &reach, "lost_small", "held_by_global"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let said = stderr(&out);
    let main = said
        .split("trace written to ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("{said}"));
    let report = report_json(Path::new(main));
    assert_eq!(totals(&report)[0], (24, 1), "lost_small: {said}");
    assert_eq!(totals(&report)[3], (1000, 1), "held_by_global");
    // The image before the exec ended by exec, not exit: not scanned.
    let first = report_json(&dir.join("e.hwt"));
    assert!(first["summary"]["reachability"].is_null());
}

#[test]
fn a_program_traced_by_another_process_exits_as_it_would_and_says_why_it_was_not_scanned() {
    let dir = test_dir("reach-traced");
    let out = run_traced(&dir, "t.hwt", &program("traced.c"), &[]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("leaked 5 x 48 bytes, exiting with 7"),
        "{said}"
    );
    let report = report_json(&dir.join("t.hwt"));
    let reason = report["reachability_scan"]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(
        reason.starts_with("cannot stop process ")
            && reason.contains(" to read its memory: it is being traced by process ")
            && reason.ends_with(" (a debugger?)"),
        "{reason}"
    );
    let leak = leak_from(&report, "leak_while_traced");
    assert_eq!(
        (leak["allocations"].as_u64(), leak["kind"].as_str()),
        (Some(5), None)
    );
}

#[test]
fn a_forked_child_is_not_scanned_and_its_report_says_why() {
    let dir = test_dir("reach-fork");
    let out = run_traced(&dir, "f.hwt", &program("fork_thread.c"), &["25"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let child = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n != "f.hwt" && n.to_string_lossy().ends_with(".hwt"))
        })
        .expect("the child's trace");
    let report = report_json(&child);
    assert!(report["summary"]["reachability"].is_null());
    assert_eq!(
        report["reachability_scan"]["reason"],
        "the trace holds no scan at exit: only `heapwise run` scans the process it started, when it exits"
    );
    assert!(report_json(&dir.join("f.hwt"))["reachability_scan"]["scanned"] == true);
}

//! Tests of the verdict: every level, every headline.

use super::*;

fn exited() -> Evidence<'static> {
    Evidence {
        allocations: 5000,
        exit: Some(ExitStatus::Code(0)),
        ..Evidence::default()
    }
}

fn leaked(bytes: u64, allocations: u64) -> Held {
    Held { bytes, allocations }
}

fn jemalloc(replaces_malloc: bool) -> OwnAllocator {
    OwnAllocator {
        kind: AllocatorKind::Jemalloc,
        name: "jemalloc".into(),
        replaces_malloc,
        module: "/app".into(),
        symbols: vec!["_rjem_malloc".into()],
    }
}

#[test]
fn a_clean_exit_with_everything_freed_is_no_leak() {
    let v = verdict(&exited());
    assert_eq!((v.leak, v.level), (false, Level::None));
    assert_eq!(
        v.headline,
        "No leak: every block allocated while tracing was freed"
    );
}

#[test]
fn blocks_of_the_runtime_alone_are_no_leak_and_say_what_holds_them() {
    let v = verdict(&Evidence {
        runtime: leaked(73_728, 1),
        ..exited()
    });
    assert_eq!((v.leak, v.level), (false, Level::None));
    assert_eq!(
        v.headline,
        "No leak: what is still allocated (73,728 bytes in 1 block) is held by the C/C++ runtime until exit, by design"
    );
    assert_eq!(v.runtime_held_bytes, 73_728);
}

#[test]
fn own_blocks_left_at_exit_are_a_leak_with_exact_figures() {
    let v = verdict(&Evidence {
        own: leaked(16_000, 1000),
        runtime: leaked(1024, 1),
        ..exited()
    });
    assert_eq!((v.leak, v.level), (true, Level::Leak));
    assert_eq!(
        v.headline,
        "Leak: 16,000 bytes in 1,000 blocks were never freed before the program exited"
    );
    assert_eq!(
        (v.own_leaked_bytes, v.own_leaked_allocations),
        (16_000, 1000)
    );
}

#[test]
fn growth_is_a_leak_even_when_everything_was_freed_at_the_end() {
    let v = verdict(&Evidence {
        growing_stacks: 2,
        ..exited()
    });
    assert_eq!((v.leak, v.level), (true, Level::Leak));
    assert_eq!(v.headline, "Leak: 2 call stacks keep growing");
    let v = verdict(&Evidence {
        heap_grows: true,
        growing_stacks: 1,
        own: leaked(1, 1),
        ..exited()
    });
    assert_eq!(
        v.headline,
        "Leak: the live heap keeps growing, and 1 byte in 1 block were still allocated at the end"
    );
}

#[test]
fn own_blocks_of_a_killed_program_are_a_possible_leak_and_say_what_may_be_missing() {
    let v = verdict(&Evidence {
        own: leaked(16_000, 1000),
        exit: Some(ExitStatus::Signal(9)),
        missing: MissingEvidence {
            killed_by_signal: Some(9),
            ..MissingEvidence::default()
        },
        ..exited()
    });
    assert_eq!((v.leak, v.level), (true, Level::Possible));
    assert_eq!(
        v.headline,
        "Possible leak: 16,000 bytes in 1,000 blocks were still allocated when the trace ended; more may be missing: the process was killed by signal 9, so its last events may not have been written"
    );
    assert_eq!(v.details.len(), 1);
    assert!(
        v.details[0].contains("killed by signal 9"),
        "{:?}",
        v.details
    );
}

#[test]
fn nothing_left_is_never_no_leak_when_evidence_may_be_missing() {
    let cases = [
        (
            MissingEvidence {
                lost_events: 12,
                ..MissingEvidence::default()
            },
            "12 allocation calls could not be recorded",
        ),
        (
            MissingEvidence {
                partial_tail_bytes: 4096,
                ..MissingEvidence::default()
            },
            "its last 4,096 bytes are an incomplete block",
        ),
        (
            MissingEvidence {
                damage: Some("block 3: bad checksum".into()),
                ..MissingEvidence::default()
            },
            "the trace is damaged (block 3: bad checksum)",
        ),
        (
            MissingEvidence {
                killed_by_signal: Some(6),
                ..MissingEvidence::default()
            },
            "killed by signal 6",
        ),
        (
            MissingEvidence {
                end_unknown: true,
                ..MissingEvidence::default()
            },
            "does not say how the process ended",
        ),
    ];
    for (missing, clause) in cases {
        let v = verdict(&Evidence {
            missing,
            ..exited()
        });
        assert_eq!((v.leak, v.level), (false, Level::Unknown), "{clause}");
        assert!(
            v.headline
                .starts_with("No leak in what was recorded, but evidence may be missing: "),
            "{}",
            v.headline
        );
        assert!(v.headline.contains(clause), "{}", v.headline);
        assert!(!v.headline.starts_with("No leak:"), "{}", v.headline);
    }
}

#[test]
fn several_missing_facts_are_all_named() {
    let missing = MissingEvidence {
        lost_events: 1,
        partial_tail_bytes: 10,
        ..MissingEvidence::default()
    };
    assert!(missing.any());
    assert!(!MissingEvidence::default().any());
    let v = verdict(&Evidence {
        missing,
        ..exited()
    });
    assert_eq!(
        v.headline,
        "No leak in what was recorded, but evidence may be missing: its last 10 bytes are an incomplete block that could not be read, and 1 allocation call could not be recorded"
    );
}

#[test]
fn an_empty_trace_says_nothing_was_recorded() {
    let v = verdict(&Evidence {
        allocations: 0,
        ..exited()
    });
    assert_eq!((v.leak, v.level), (false, Level::Unknown));
    assert!(
        v.headline.starts_with("Nothing was recorded"),
        "{}",
        v.headline
    );
    let v = verdict(&Evidence {
        allocations: 0,
        exit: Some(ExitStatus::Signal(9)),
        missing: MissingEvidence {
            killed_by_signal: Some(9),
            ..MissingEvidence::default()
        },
        ..exited()
    });
    assert_eq!(
        v.headline,
        "Nothing was recorded: the trace holds no allocation at all, and the process was killed by signal 9, so its last events may not have been written"
    );
}

#[test]
fn an_allocator_that_replaces_malloc_makes_the_verdict_unknown_and_says_why() {
    let allocator = jemalloc(true);
    // Not only with nothing recorded: libc may still reach the tracer
    // through functions the executable does not define.
    for allocations in [0, 3] {
        let v = verdict(&Evidence {
            allocations,
            allocator: Some(&allocator),
            ..exited()
        });
        assert_eq!((v.leak, v.level), (false, Level::Unknown));
        assert_eq!(
            v.headline,
            "heapwise could not see this program's allocations: it allocates through its own statically linked jemalloc, which LD_PRELOAD cannot intercept; build it with the system allocator to trace it"
        );
    }
    let own = OwnAllocator {
        kind: AllocatorKind::OwnMalloc,
        name: "its own malloc".into(),
        ..allocator
    };
    let v = verdict(&Evidence {
        allocator: Some(&own),
        ..exited()
    });
    assert!(
        v.headline
            .contains("its executable defines malloc itself, which LD_PRELOAD cannot intercept"),
        "{}",
        v.headline
    );
}

#[test]
fn an_allocator_beside_malloc_is_named_even_when_leaks_were_seen() {
    let allocator = jemalloc(false);
    let v = verdict(&Evidence {
        allocator: Some(&allocator),
        ..exited()
    });
    assert_eq!(v.level, Level::Unknown);
    assert!(
        v.headline
            .starts_with("heapwise saw only part of this program's allocations")
            && v.headline.contains("#[global_allocator]"),
        "{}",
        v.headline
    );
    let v = verdict(&Evidence {
        own: leaked(64, 1),
        allocator: Some(&allocator),
        ..exited()
    });
    assert_eq!((v.leak, v.level), (true, Level::Leak));
    assert!(
        v.headline
            .starts_with("Leak: 64 bytes in 1 block were never freed")
            && v.headline.contains("heapwise saw only part"),
        "{}",
        v.headline
    );
}

#[test]
fn missing_evidence_follows_the_trace_and_how_the_process_ended() {
    let trace = TraceInfo {
        path: "t.hwt".into(),
        truncated: true,
        partial_tail_bytes: 77,
        lost_events: 3,
        threads: 1,
        bytes: 1000,
        blocks: 2,
        ..TraceInfo::default()
    };
    let missing = MissingEvidence::of(&trace, Some(ExitStatus::Signal(9)));
    assert_eq!(
        missing,
        MissingEvidence {
            damage: None,
            partial_tail_bytes: 77,
            lost_events: 3,
            killed_by_signal: Some(9),
            end_unknown: false,
            unrecovered_streams: 0,
            unrecovered_bytes: 0,
        }
    );
    assert!(MissingEvidence::of(&trace, None).end_unknown);
    assert!(!MissingEvidence::of(&trace, Some(ExitStatus::Exec)).end_unknown);
}

#[test]
fn a_crash_safe_trace_of_a_dead_process_misses_nothing_unless_records_were_cut() {
    let recovered = TraceInfo {
        crash_safe: true,
        recovered_bytes: 4608,
        ..TraceInfo::default()
    };
    assert!(!MissingEvidence::of(&recovered, Some(ExitStatus::Signal(9))).any());
    assert!(!MissingEvidence::of(&recovered, None).any());
    let still_there = TraceInfo {
        spill_left: true,
        ..recovered.clone()
    };
    assert!(MissingEvidence::of(&still_there, None).end_unknown);
    let cut = TraceInfo {
        unrecovered_streams: 2,
        unrecovered_bytes: 1000,
        ..recovered
    };
    let missing = MissingEvidence::of(&cut, Some(ExitStatus::Signal(6)));
    assert_eq!(
        missing.clauses(),
        vec![
            "the last records of 2 threads could not be recovered after the process died (1,000 bytes of records known missing)"
                .to_string()
        ]
    );
    let v = verdict(&Evidence {
        allocations: 10,
        exit: Some(ExitStatus::Signal(6)),
        missing,
        ..Evidence::default()
    });
    assert_eq!(v.level, Level::Unknown);
    assert!(!v.headline.contains("No leak:"), "{}", v.headline);
}

#[test]
fn with_a_scan_only_lost_blocks_are_a_leak_in_valgrinds_words() {
    let v = verdict(&Evidence {
        own: leaked(1_172, 4),
        own_lost: Some([leaked(24, 1), leaked(48, 2), Held::default()]),
        ..exited()
    });
    assert_eq!((v.leak, v.level), (true, Level::Leak));
    assert_eq!(
        v.headline,
        "Leak: 72 bytes in 3 blocks were lost by the time the program exited (24 bytes in 1 block definitely lost, 48 bytes in 2 blocks indirectly lost)"
    );
    assert_eq!(
        v.details,
        [
            "A further 1,100 bytes in 1 block of the program's own were still reachable at exit (pointed to by globals, stacks, thread-local storage or registers): not counted as leaks."
        ]
    );
    assert_eq!(
        (v.own_lost_bytes, v.own_lost_allocations),
        (Some(72), Some(3))
    );
    assert_eq!(v.own_leaked_bytes, 1_172);
}

#[test]
fn with_a_scan_blocks_all_still_reachable_are_no_leak() {
    let v = verdict(&Evidence {
        own: leaked(100, 1),
        own_lost: Some([Held::default(); 3]),
        runtime: leaked(4096, 1),
        ..exited()
    });
    assert_eq!((v.leak, v.level), (false, Level::None));
    assert_eq!(
        v.headline,
        "No leak: the 100 bytes in 1 block still allocated at exit are all still reachable (pointed to by globals, stacks, thread-local storage or registers)"
    );
    assert_eq!(
        (v.own_lost_bytes, v.own_lost_allocations),
        (Some(0), Some(0))
    );
}

#[test]
fn without_a_scan_every_own_block_counts_and_the_reason_is_given() {
    let v = verdict(&Evidence {
        own: leaked(100, 1),
        not_scanned: Some("cannot stop process 7 to read its memory: it is being traced by process 6 (a debugger?)".into()),
        ..exited()
    });
    assert_eq!(v.level, Level::Leak);
    assert_eq!(
        v.details,
        [
            "Blocks still reachable at exit could not be told from lost ones, so all are counted: cannot stop process 7 to read its memory: it is being traced by process 6 (a debugger?)."
        ]
    );
    assert_eq!(v.own_lost_bytes, None);
}

#[test]
fn suppressed_blocks_are_said_and_not_counted() {
    let v = verdict(&Evidence {
        own_lost: Some([Held::default(); 3]),
        suppressed: leaked(64, 2),
        ..exited()
    });
    assert_eq!(v.level, Level::None);
    assert_eq!(
        v.details,
        ["64 bytes in 2 blocks matched suppressions and are not counted."]
    );
    assert_eq!((v.suppressed_bytes, v.suppressed_allocations), (64, 2));
}

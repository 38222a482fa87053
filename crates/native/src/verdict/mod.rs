//! The report's headline: leak or not, in one sentence, decided here once
//! so that every format (JSON, text, HTML, `heapwise run`'s summary) says
//! the same and `--fail-on-leak` goes by the same decision.
//!
//! The invariant: the verdict never says "no leak" when evidence may be
//! missing. What may be missing is gathered in [`MissingEvidence`] (a
//! damaged or truncated trace, lost events, a process that was killed or
//! whose end is unknown) and, separately, an [`OwnAllocator`] the tracer
//! cannot see into; with any of them and no leak seen, the level is
//! [`Level::Unknown`] and the headline says what may be missing and how
//! much, where that is known.

use heapwise_trace::ExitStatus;
use heapwise_words::{Ended, plural, thousands};

use crate::model::{AllocatorKind, LeakVerdict, Level, OwnAllocator, TraceInfo};

/// Blocks still allocated at the end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Held {
    /// Their bytes.
    pub bytes: u64,
    /// How many.
    pub allocations: u64,
}

/// Facts that say the trace may not hold every allocation and free the
/// program made. Each fact that is set adds one clause to the headline.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MissingEvidence {
    /// Why reading stopped early, if the trace is damaged.
    pub damage: Option<String>,
    /// Bytes of an incomplete last block (the trace is truncated).
    pub partial_tail_bytes: u64,
    /// Allocation calls the tracer could not record.
    pub lost_events: u64,
    /// The signal that killed the process: its last events may not have
    /// been written.
    pub killed_by_signal: Option<i32>,
    /// The trace does not say how the process ended (still running, or
    /// killed before its end could be recorded).
    pub end_unknown: bool,
    /// Threads whose last records could not be recovered from the spill
    /// file after the process died.
    pub unrecovered_streams: u64,
    /// Bytes known missing from those (0: unknown).
    pub unrecovered_bytes: u64,
}

impl MissingEvidence {
    /// What the trace itself says may be missing: `trace` as the report
    /// shows it, and how the process ended as the trace recorded it.
    ///
    /// A crash-safe trace (its buffers were in a spill file) whose process
    /// is gone holds everything the process recorded, however it died: its
    /// death is then no evidence of anything missing — unless some records
    /// could not be recovered, or the spill file is still there (the
    /// process runs, or what it left was not recovered).
    pub fn of(trace: &TraceInfo, exit: Option<ExitStatus>) -> MissingEvidence {
        let complete = trace.crash_safe && !trace.spill_left;
        MissingEvidence {
            damage: trace.damage.clone(),
            partial_tail_bytes: trace.partial_tail_bytes,
            lost_events: trace.lost_events,
            killed_by_signal: match exit {
                Some(ExitStatus::Signal(signal)) if !complete => Some(signal),
                _ => None,
            },
            end_unknown: exit.is_none() && !complete,
            unrecovered_streams: trace.unrecovered_streams,
            unrecovered_bytes: trace.unrecovered_bytes,
        }
    }

    /// Whether any evidence may be missing.
    pub fn any(&self) -> bool {
        !self.clauses().is_empty()
    }

    /// One clause per fact, most serious first.
    pub fn clauses(&self) -> Vec<String> {
        let mut clauses = Vec::new();
        if let Some(damage) = &self.damage {
            clauses.push(format!(
                "the trace is damaged ({damage}) and was read only up to there"
            ));
        }
        if self.partial_tail_bytes > 0 {
            clauses.push(format!(
                "its last {} bytes are an incomplete block that could not be read",
                thousands(self.partial_tail_bytes)
            ));
        }
        if self.lost_events > 0 {
            clauses.push(format!(
                "{} allocation {} could not be recorded",
                thousands(self.lost_events),
                plural(self.lost_events, "call", "calls")
            ));
        }
        if self.unrecovered_streams > 0 {
            let known = if self.unrecovered_bytes > 0 {
                format!(
                    " ({} bytes of records known missing)",
                    thousands(self.unrecovered_bytes)
                )
            } else {
                String::new()
            };
            clauses.push(format!(
                "the last records of {} {} could not be recovered after the process died{known}",
                thousands(self.unrecovered_streams),
                plural(self.unrecovered_streams, "thread", "threads")
            ));
        }
        if let Some(signal) = self.killed_by_signal {
            clauses.push(format!(
                "{}, so its last events may not have been written",
                Ended::Signal(signal).said_of("the process")
            ));
        }
        if self.end_unknown {
            clauses.push(
                "the trace does not say how the process ended (it may still be running, or was killed before its end was recorded), so its last events may be missing"
                    .to_string(),
            );
        }
        clauses
    }
}

/// What the verdict is decided from.
#[derive(Clone, Debug, Default)]
pub struct Evidence<'a> {
    /// Allocations recorded.
    pub allocations: u64,
    /// The program's own blocks still allocated at the end.
    pub own: Held,
    /// Blocks the C/C++ runtime holds until exit by design.
    pub runtime: Held,
    /// Whether the live heap as a whole keeps growing.
    pub heap_grows: bool,
    /// Call stacks whose live bytes keep growing.
    pub growing_stacks: u64,
    /// How the process ended, as the trace recorded it.
    pub exit: Option<ExitStatus>,
    /// What may be missing from the trace.
    pub missing: MissingEvidence,
    /// An allocator of the program's own, if its executable has one.
    pub allocator: Option<&'a OwnAllocator>,
}

/// Decides the verdict.
pub fn verdict(evidence: &Evidence<'_>) -> LeakVerdict {
    let e = evidence;
    let missing = e.missing.clauses();
    let growing = if e.heap_grows {
        Some("the live heap keeps growing".to_string())
    } else if e.growing_stacks > 0 {
        let n = e.growing_stacks;
        Some(format!(
            "{} call {} keep{} growing",
            thousands(n),
            plural(n, "stack", "stacks"),
            plural(n, "s", "")
        ))
    } else {
        None
    };
    let held = describe(e.own);
    let exited = matches!(e.exit, Some(ExitStatus::Code(_)));
    let own_left = e.own.allocations > 0;
    let mut details = Vec::new();
    let seen = match (&growing, own_left) {
        (Some(growing), true) => Some((
            Level::Leak,
            format!("Leak: {growing}, and {held} were still allocated at the end"),
        )),
        (Some(growing), false) => Some((Level::Leak, format!("Leak: {growing}"))),
        (None, true) if exited => Some((
            Level::Leak,
            format!("Leak: {held} were never freed before the program exited"),
        )),
        (None, true) => {
            details.push(format!(
                "The program did not exit on its own ({}), so these blocks may still have been in use; memory did not keep growing.",
                ended(e.exit)
            ));
            Some((
                Level::Possible,
                format!("Possible leak: {held} were still allocated when the trace ended"),
            ))
        }
        (None, false) => None,
    };
    let (level, headline) = match seen {
        Some((level, mut headline)) => {
            if let Some(allocator) = e.allocator {
                headline.push_str(&format!(
                    "; heapwise saw only part of the program's allocations: {}; {}",
                    cause(allocator),
                    advice(allocator)
                ));
            }
            if !missing.is_empty() {
                headline.push_str(&format!(
                    "; more may be missing: {}",
                    missing.join(", and ")
                ));
            }
            (level, headline)
        }
        None => match unseen(e, &missing) {
            Some(headline) => (Level::Unknown, headline),
            None => (Level::None, no_leak(e.runtime)),
        },
    };
    LeakVerdict {
        leak: matches!(level, Level::Leak | Level::Possible),
        level,
        headline,
        details,
        own_leaked_bytes: e.own.bytes,
        own_leaked_allocations: e.own.allocations,
        runtime_held_bytes: e.runtime.bytes,
        runtime_held_allocations: e.runtime.allocations,
    }
}

/// The headline when no leak was seen but heapwise cannot say "no leak";
/// `None` when it can.
fn unseen(e: &Evidence<'_>, missing: &[String]) -> Option<String> {
    let also = |headline: String| {
        if missing.is_empty() {
            headline
        } else {
            format!("{headline}; also, {}", missing.join(", and "))
        }
    };
    if let Some(allocator) = e.allocator {
        let headline = if allocator.replaces_malloc {
            format!(
                "heapwise could not see this program's allocations: {}; {}",
                cause(allocator),
                advice(allocator)
            )
        } else {
            format!(
                "heapwise saw only part of this program's allocations: {}, so only what libc and other libraries allocate with malloc was traced; {}",
                cause(allocator),
                advice(allocator)
            )
        };
        return Some(also(headline));
    }
    if e.allocations == 0 {
        return Some(if missing.is_empty() {
            "Nothing was recorded: the trace holds no allocation at all, so heapwise cannot say whether the program leaks".to_string()
        } else {
            format!(
                "Nothing was recorded: the trace holds no allocation at all, and {}",
                missing.join(", and ")
            )
        });
    }
    if !missing.is_empty() {
        return Some(format!(
            "No leak in what was recorded, but evidence may be missing: {}",
            missing.join(", and ")
        ));
    }
    None
}

fn no_leak(runtime: Held) -> String {
    if runtime.allocations > 0 {
        format!(
            "No leak: what is still allocated ({}) is held by the C/C++ runtime until exit, by design",
            describe(runtime)
        )
    } else {
        "No leak: every block allocated while tracing was freed".to_string()
    }
}

/// Why the tracer does not see the allocator's allocations.
fn cause(allocator: &OwnAllocator) -> String {
    match allocator.kind {
        AllocatorKind::OwnMalloc => {
            "its executable defines malloc itself, which LD_PRELOAD cannot intercept".to_string()
        }
        _ => format!(
            "it allocates through its own statically linked {}, which LD_PRELOAD cannot intercept",
            allocator.name
        ),
    }
}

/// What to do about it.
fn advice(allocator: &OwnAllocator) -> &'static str {
    if allocator.replaces_malloc {
        "build it with the system allocator to trace it"
    } else {
        "build it with the system allocator (in Rust: without its #[global_allocator]) to trace it"
    }
}

fn ended(exit: Option<ExitStatus>) -> String {
    match exit {
        Some(status) => crate::model::ended(status).said_of("it"),
        None => "its end is not recorded".to_string(),
    }
}

fn describe(held: Held) -> String {
    format!(
        "{} {} in {} {}",
        thousands(held.bytes),
        plural(held.bytes, "byte", "bytes"),
        thousands(held.allocations),
        plural(held.allocations, "block", "blocks")
    )
}

#[cfg(test)]
mod tests {
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
            v.headline.contains(
                "its executable defines malloc itself, which LD_PRELOAD cannot intercept"
            ),
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
}

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

impl Held {
    /// Adds `other` to these.
    pub fn add(&mut self, other: Held) {
        self.bytes += other.bytes;
        self.allocations += other.allocations;
    }
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
    /// The program's own blocks still allocated at the end (not
    /// suppressed).
    pub own: Held,
    /// Of those, the ones the scan at exit found definitely, indirectly and
    /// possibly lost; `None` when the process was not scanned (then all of
    /// `own` counts).
    pub own_lost: Option<[Held; 3]>,
    /// Why the process was not scanned at exit, when the trace says.
    pub not_scanned: Option<String>,
    /// Blocks of groups that a suppression matched (not counted).
    pub suppressed: Held,
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
    let lost = e.own_lost.map(|kinds| {
        let mut all = Held::default();
        kinds.iter().for_each(|&k| all.add(k));
        all
    });
    let own_left = lost.unwrap_or(e.own).allocations > 0;
    let mut details = reachability_details(e, lost);
    let seen = match (&growing, own_left) {
        (Some(growing), true) => Some((
            Level::Leak,
            match lost {
                Some(lost) => format!("Leak: {growing}, and {} were lost at exit", describe(lost)),
                None => format!("Leak: {growing}, and {held} were still allocated at the end"),
            },
        )),
        (Some(growing), false) => Some((Level::Leak, format!("Leak: {growing}"))),
        (None, true) if exited => Some((
            Level::Leak,
            match (lost, e.own_lost) {
                (Some(lost), Some(kinds)) => format!(
                    "Leak: {} were lost by the time the program exited ({})",
                    describe(lost),
                    breakdown(&kinds)
                ),
                _ => format!("Leak: {held} were never freed before the program exited"),
            },
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
            None if e.own.allocations > 0 => (Level::None, all_reachable(e.own)),
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
        own_lost_bytes: lost.map(|l| l.bytes),
        own_lost_allocations: lost.map(|l| l.allocations),
        suppressed_bytes: e.suppressed.bytes,
        suppressed_allocations: e.suppressed.allocations,
    }
}

/// valgrind's kinds of the lost blocks, the ones there are:
/// `24 bytes in 1 block definitely lost, 48 bytes in 2 blocks indirectly lost`.
fn breakdown(kinds: &[Held; 3]) -> String {
    ["definitely", "indirectly", "possibly"]
        .iter()
        .zip(kinds)
        .filter(|(_, held)| held.allocations > 0)
        .map(|(word, &held)| format!("{} {word} lost", describe(held)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every own block still allocated at exit is still reachable.
fn all_reachable(own: Held) -> String {
    format!(
        "No leak: the {} still allocated at exit are all still reachable (pointed to by globals, stacks, thread-local storage or registers)",
        describe(own)
    )
}

/// What the scan at exit adds to the verdict: what is still reachable (not
/// counted), what was suppressed, or why there was no scan.
fn reachability_details(e: &Evidence<'_>, lost: Option<Held>) -> Vec<String> {
    let mut details = Vec::new();
    if let Some(lost) = lost {
        let reachable = Held {
            bytes: e.own.bytes - lost.bytes,
            allocations: e.own.allocations - lost.allocations,
        };
        if reachable.allocations > 0 && lost.allocations > 0 {
            details.push(format!(
                "A further {} of the program's own were still reachable at exit (pointed to by globals, stacks, thread-local storage or registers): not counted as leaks.",
                describe(reachable)
            ));
        }
    } else if let Some(why) = &e.not_scanned
        && e.own.allocations > 0
    {
        details.push(format!(
            "Blocks still reachable at exit could not be told from lost ones, so all are counted: {why}."
        ));
    }
    if e.suppressed.allocations > 0 {
        details.push(format!(
            "{} matched suppressions and are not counted.",
            capitalised(&describe(e.suppressed))
        ));
    }
    details
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
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
mod tests;

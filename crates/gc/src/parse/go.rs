//! Go `GODEBUG=gctrace=1`, as documented in the `runtime` package:
//!
//! ```text
//! gc 1 @0.012s 2%: 0.010+0.25+0.003 ms clock, 0.040+0.10/0.20/0.05+0.012 ms cpu, 4->4->0 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 4 P
//! gc 14 @3.218s 1%: 0.018+1.4+0.024 ms clock, 0.073+0.14/1.3/2.9+0.098 ms cpu, 8->8->4 MB, 9 MB goal, 4 P (forced)
//! ```
//!
//! `@t s` is seconds since the program started, `P%` the share of time
//! spent in GC since then. The clock times are stop-the-world sweep
//! termination + concurrent mark + stop-the-world mark termination: the
//! pause is the first plus the third. `A->B->C MB` is the heap at GC start,
//! at GC end, and the live heap marked; the live heap is the heap after GC.
//! Older Go versions print no `stacks`/`globals` fields. Every Go
//! collection is a (concurrent) whole-heap collection: kind major.

use crate::model::{Clock, GcEvent, GcKind, GcLog};
use crate::scan::{Interner, expect, integer, mib, number, skip_ws};

use super::{FormatParser, LineUse};

#[derive(Default)]
pub(crate) struct GoParser {
    names: Interner,
    /// The last `gc N`: a number that does not grow starts a new run.
    last_number: Option<u64>,
}

struct Cycle {
    number: u64,
    t_s: f64,
    gc_percent: f64,
    /// The stop-the-world sweep termination and mark termination, and the
    /// concurrent phases between them (one since Go 1.7; scan, synchronize
    /// Ps and mark in Go 1.5 and 1.6).
    stw_ms: [f64; 2],
    concurrent_ms: f64,
    heap_mb: [f64; 3],
    goal_mb: f64,
    forced: bool,
}

impl FormatParser for GoParser {
    fn line(&mut self, line: &str, number: u64, log: &mut GcLog) -> LineUse {
        let Some(start) = find_start(line) else {
            return LineUse::Skipped;
        };
        let Some(cycle) = parse_cycle(&line[start + 3..]) else {
            return LineUse::Malformed;
        };
        if self.last_number.is_some_and(|last| cycle.number <= last) {
            log.new_run(number);
        }
        self.last_number = Some(cycle.number);
        log.saw_time(cycle.t_s, Clock::Uptime);
        log.runtime_gc_cpu_percent = Some(cycle.gc_percent);
        let mut event = GcEvent::new(number, cycle.number, GcKind::Major, self.names.get("gc"));
        event.t_s = Some(cycle.t_s);
        event.pause_ms = Some(cycle.stw_ms[0] + cycle.stw_ms[1]);
        event.concurrent_ms = Some(cycle.concurrent_ms);
        event.run = log.run();
        event.heap_before_bytes = mib(cycle.heap_mb[0]);
        event.heap_after_bytes = mib(cycle.heap_mb[2]);
        event.heap_total_bytes = mib(cycle.goal_mb);
        if cycle.forced {
            event.cause = Some(self.names.get("forced"));
        }
        log.events.push(event);
        LineUse::Event
    }
}

/// Where `gc N @` starts (application output may precede it on the line).
fn find_start(line: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = line[from..].find("gc ") {
        let at = from + found;
        from = at + 3;
        if at > 0 && line.as_bytes()[at - 1].is_ascii_alphanumeric() {
            continue;
        }
        if let Some((_, rest)) = integer(&line[at + 3..])
            && rest.starts_with(" @")
        {
            return Some(at);
        }
    }
    None
}

/// Everything after `gc `; `None` unless the line is complete up to `N P`.
fn parse_cycle(text: &str) -> Option<Cycle> {
    let (number_, rest) = integer(text)?;
    let (t_s, rest) = number(expect(rest, "@")?)?;
    let rest = rest.strip_prefix('s')?;
    let (gc_percent, rest) = number(skip_ws(rest))?;
    let rest = rest.strip_prefix("%:")?;
    let (clock_ms, rest) = phases(skip_ws(rest))?;
    let rest = expect(rest, "ms clock,")?;
    let cpu_end = rest.find("ms cpu,")?;
    let rest = &rest[cpu_end + 7..];
    let (heap_mb, rest) = three(skip_ws(rest), '-')?;
    let rest = expect(rest, "MB,")?;
    let (goal_mb, rest) = number(skip_ws(rest))?;
    let mut rest = expect(rest, "MB goal,")?;
    // Optional `S MB stacks, G MB globals,` (Go 1.19+), then `N P`.
    loop {
        let (_, after) = number(skip_ws(rest))?;
        let after = skip_ws(after);
        if let Some(tail) = after.strip_prefix('P') {
            let forced = tail.trim_start().starts_with("(forced)");
            if !(tail.is_empty() || tail.starts_with(' ')) {
                return None;
            }
            return Some(Cycle {
                number: number_,
                t_s,
                gc_percent,
                stw_ms: [clock_ms[0], clock_ms[clock_ms.len() - 1]],
                concurrent_ms: clock_ms[1..clock_ms.len() - 1].iter().sum(),
                heap_mb,
                goal_mb,
                forced,
            });
        }
        let after = after.strip_prefix("MB ")?;
        let comma = after.find(',')?;
        rest = &after[comma + 1..];
    }
}

/// The wall-clock phases `a+b+c` (Go 1.7 and later) or `a+b+c+d+e` (Go 1.5
/// and 1.6).
fn phases(text: &str) -> Option<(Vec<f64>, &str)> {
    let (first, mut rest) = number(text)?;
    let mut values = vec![first];
    while let Some(next) = rest.strip_prefix('+') {
        let (value, after) = number(next)?;
        values.push(value);
        rest = after;
    }
    matches!(values.len(), 3 | 5).then_some((values, rest))
}

/// `a+b+c` (or `A->B->C` with `-` meaning `->`).
fn three(text: &str, separator: char) -> Option<([f64; 3], &str)> {
    fn arrow(t: &str, separator: char) -> Option<&str> {
        if separator == '-' {
            t.strip_prefix("->")
        } else {
            t.strip_prefix(separator)
        }
    }
    let (a, rest) = number(text)?;
    let (b, rest) = number(arrow(rest, separator)?)?;
    let (c, rest) = number(arrow(rest, separator)?)?;
    Some(([a, b, c], rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LogFormat;

    #[test]
    fn with_and_without_stacks_and_globals() {
        let mut log = GcLog::new(LogFormat::Go);
        let mut parser = GoParser::default();
        let lines = [
            "gc 1 @0.012s 2%: 0.010+0.25+0.003 ms clock, 0.040+0.10/0.20/0.05+0.012 ms cpu, 4->4->0 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 4 P",
            "gc 14 @3.218s 1%: 0.018+1.4+0.024 ms clock, 0.073+0.14/1.3/2.9+0.098 ms cpu, 8->8->4 MB, 9 MB goal, 4 P (forced)",
            "scvg: 0 MB released",
            "gc 15 @3.5s 1%: 0.018+1.4+0.024 ms clock, 0.073+0.14/1.3/2.9+0.098 ms cpu, 8->8->4 MB, 9 MB goal, 4",
            "hello gc 16 @4.0s 1%: 0.5+1+0.25 ms clock, 1+1/1/1+1 ms cpu, 10->11->5 MB, 12 MB goal, 1 MB stacks, 0 MB globals, 8 P",
        ];
        let uses: Vec<_> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| parser.line(l, i as u64 + 1, &mut log))
            .collect();
        assert_eq!(
            uses,
            [
                LineUse::Event,
                LineUse::Event,
                LineUse::Skipped,
                LineUse::Malformed,
                LineUse::Event
            ]
        );
        let first = &log.events[0];
        assert_eq!((first.collection, first.t_s), (1, Some(0.012)));
        assert!((first.pause_ms.unwrap() - 0.013).abs() < 1e-12);
        assert_eq!(first.heap_before_bytes, mib(4.0));
        assert_eq!(first.heap_after_bytes, Some(0));
        assert_eq!(log.events[1].cause.as_deref(), Some("forced"));
        assert_eq!(log.events[1].heap_total_bytes, mib(9.0));
        assert_eq!(log.events[2].pause_ms, Some(0.75));
        assert_eq!(log.events[2].heap_after_bytes, mib(5.0));
        assert_eq!(log.runtime_gc_cpu_percent, Some(1.0));
    }

    #[test]
    fn go_1_5_five_clock_phases_and_a_restart() {
        let mut log = GcLog::new(LogFormat::Go);
        let mut parser = GoParser::default();
        // The layout of Go 1.5 and 1.6 (runtime docs): sweep termination,
        // scan, synchronize Ps, mark, mark termination.
        let lines = [
            "gc 7 @1.5s 9%: 2.0+30+4.0+6.0+3.0 ms clock, 16+30+0+20/0.1/0+24 ms cpu, 900->950->800 MB, 1000 MB goal, 8 P",
            "gc 8 @1.7s 9%: 1.0+10+0+5.0+2.0 ms clock, 8+10+0+10/0.1/0+16 ms cpu, 850->880->810 MB, 1000 MB goal, 8 P (forced)",
            "gc 1 @0.010s 1%: 0.010+0.25+0.003 ms clock, 0.040+0.10/0.20/0.05+0.012 ms cpu, 4->4->0 MB, 4 MB goal, 4 P",
        ];
        for (i, line) in lines.iter().enumerate() {
            assert_eq!(parser.line(line, i as u64 + 1, &mut log), LineUse::Event);
        }
        assert_eq!(log.events[0].pause_ms, Some(5.0));
        assert_eq!(log.events[0].concurrent_ms, Some(40.0));
        assert_eq!(log.events[1].pause_ms, Some(3.0));
        assert_eq!(log.run_starts, [3]);
        assert_eq!(log.events[2].run, 1);
    }
}

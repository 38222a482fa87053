//! Node.js / V8 `--trace-gc`.
//!
//! ```text
//! [4678:0x25567c00]       25 ms: Scavenge 3.9 (4.0) -> 3.5 (5.0) MB, 1.88 / 0.00 ms  (average mu = 1.000, current mu = 1.000) allocation failure;
//! [4678:0x25567c00]      452 ms: Mark-Compact 141.3 (165.7) -> 128.1 (164.1) MB, 4.62 / 0.00 ms  (+ 63.6 ms in 407 steps since start of marking, biggest step 6.5 ms, walltime since start of marking 131 ms) (average mu = 0.786, current mu = 0.786) finalize incremental marking via stack guard; GC in old space requested
//! [9:0x6f1c000]     1510 ms: Scavenge (interleaved) 4.1 (5.2) -> 3.8 (6.2) MB, pooled: 0.0 MB, 1.23 / 0.00 ms  (average mu = 1.000, current mu = 1.000) allocation failure;
//! [12:0x102801e00]  1234 ms: Mark-sweep 10.5 (15.2) -> 8.3 (15.2) MB, 12.3 / 0.0 ms  [allocation failure] [GC in old space requested].
//! ```
//!
//! `A (B) -> C (D) MB`: objects before (heap committed before) -> objects
//! after (heap committed after). The first number after the sizes (and the
//! optional `pooled:` figure) is the atomic pause in milliseconds; the
//! second, external callbacks, is part of it. The `(+ … in N steps …)`
//! incremental marking before the pause is not counted as a pause.

use crate::model::{GcEvent, GcKind, GcLog};
use crate::scan::{self, Interner, expect, mib, number, skip_ws};

use super::{FormatParser, LineUse, NodeRuns, node_header_from, node_time};

/// State: the interner, the running collection number and the heaps.
#[derive(Default)]
pub(crate) struct NodeParser {
    names: Interner,
    next_collection: u64,
    runs: NodeRuns,
}

impl FormatParser for NodeParser {
    fn line(&mut self, line: &str, number: u64, log: &mut GcLog) -> LineUse {
        // V8 can print two events on one line when a line is cut short
        // (`current mu = 0.144[22479:0x6062fa0]   202782 ms: …`): each
        // header starts an event.
        let mut headers = Vec::new();
        let mut from = 0;
        while let Some(header) = node_header_from(line, from) {
            from = header.start + 1;
            headers.push(header);
        }
        if headers.is_empty() {
            return match old_header(line) {
                Some((rest, pid)) => self.event(pid, "0x0", rest, number, log),
                None => LineUse::Skipped,
            };
        }
        let mut used = LineUse::Skipped;
        for (i, header) in headers.iter().enumerate() {
            let offset = line.len() - header.rest.len();
            let end = headers.get(i + 1).map_or(line.len(), |next| next.start);
            let rest = line.get(offset..end.max(offset)).unwrap_or("");
            match self.event(header.pid, header.isolate, rest, number, log) {
                LineUse::Event => used = LineUse::Event,
                LineUse::Malformed if used != LineUse::Event => used = LineUse::Malformed,
                _ => {}
            }
        }
        used
    }

    fn finish(&mut self, log: &mut GcLog) {
        self.runs.assign(log);
    }
}

impl NodeParser {
    /// One event: `rest` is the text after its header.
    fn event(
        &mut self,
        pid: &str,
        isolate: &str,
        rest: &str,
        number: u64,
        log: &mut GcLog,
    ) -> LineUse {
        let Some((t_s, rest)) = node_time(rest) else {
            return LineUse::Skipped;
        };
        let Some((name, kind, rest)) = gc_name(rest) else {
            // A V8 line that is not a collection (memory reducer, ...).
            log.saw_time(t_s, crate::model::Clock::Uptime);
            return LineUse::Skipped;
        };
        let Some(parsed) = parse_body(rest) else {
            return LineUse::Malformed;
        };
        log.saw_time(t_s, crate::model::Clock::Uptime);
        let heap = self.runs.heap(log, pid, isolate);
        let name = self.names.get(&name);
        let mut event = GcEvent::new(number, self.next_collection, kind, name);
        self.next_collection += 1;
        event.t_s = Some(t_s);
        event.heap = heap;
        event.pause_ms = Some(parsed.pause_ms);
        event.heap_before_bytes = mib(parsed.before);
        event.heap_after_bytes = mib(parsed.after);
        event.heap_total_bytes = mib(parsed.total_after);
        event.cause = parsed.cause.map(|c| self.names.get(c));
        log.events.push(event);
        LineUse::Event
    }
}

/// Node before version 4 printed `[pid]` without the isolate, and older
/// versions nothing before the time (`   26707 ms: Scavenge …`). Returns
/// the text from the time on and the pid (empty when none).
fn old_header(line: &str) -> Option<(&str, &str)> {
    let trimmed = skip_ws(line);
    if trimmed.starts_with(|c: char| c.is_ascii_digit()) {
        let (_, rest) = node_time(trimmed)?;
        gc_name(rest)?;
        return Some((trimmed, ""));
    }
    let open = line.find('[')?;
    let rest = &line[open + 1..];
    let (_, after) = scan::integer(rest)?;
    let pid = &rest[..rest.len() - after.len()];
    let after = after.strip_prefix(']')?;
    node_time(after)?;
    Some((after, pid))
}

/// The collection's name (`Scavenge`, `Mark-Compact`, `Minor Mark-Sweep`,
/// qualifiers such as `(reduce)` dropped), its kind, and the text from the
/// first size on.
fn gc_name(rest: &str) -> Option<(String, GcKind, &str)> {
    let mut words: Vec<&str> = Vec::new();
    let mut rest = skip_ws(rest);
    loop {
        if rest.is_empty() || words.len() > 8 {
            return None;
        }
        if let Some((_, after)) = number(rest)
            && (after.starts_with(' ') || after.is_empty())
        {
            break;
        }
        let end = rest.find(' ').unwrap_or(rest.len());
        words.push(&rest[..end]);
        rest = skip_ws(&rest[end..]);
    }
    let base: Vec<&str> = words
        .iter()
        .copied()
        .filter(|w| !w.starts_with('(') && !w.ends_with(')'))
        .collect();
    let name = base.join(" ");
    let lower = name.to_ascii_lowercase();
    let kind =
        if lower.contains("scavenge") || lower.starts_with("minor") || lower.contains(" minor") {
            GcKind::Minor
        } else if lower.contains("mark-compact") || lower.contains("mark-sweep") {
            GcKind::Major
        } else {
            return None;
        };
    Some((name, kind, rest))
}

struct Body<'a> {
    before: f64,
    after: f64,
    total_after: f64,
    pause_ms: f64,
    cause: Option<&'a str>,
}

/// `A (B) -> C (D) MB, [pooled: P MB, ]X[ / Y] ms …reason`.
fn parse_body(rest: &str) -> Option<Body<'_>> {
    let (before, rest) = number(rest)?;
    let rest = expect(rest, "(")?;
    let (_, rest) = number(rest)?;
    let rest = expect(rest, ")")?;
    let rest = expect(rest, "->")?;
    let (after, rest) = number(skip_ws(rest))?;
    let rest = expect(rest, "(")?;
    let (total_after, rest) = number(rest)?;
    let rest = expect(rest, ")")?;
    let mut rest = expect(rest, "MB,")?;
    if let Some(pooled) = expect(rest, "pooled:") {
        let (_, after_pool) = number(skip_ws(pooled))?;
        rest = expect(after_pool, "MB,")?;
    }
    let (pause_ms, mut rest) = number(skip_ws(rest))?;
    if let Some(external) = expect(rest, "/") {
        let (_, after_external) = number(skip_ws(external))?;
        rest = after_external;
    }
    let rest = expect(rest, "ms")?;
    if rest.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some(Body {
        before,
        after,
        total_after,
        pause_ms,
        cause: reason(rest),
    })
}

/// The GC reason after the pause: skips the parenthesised incremental and
/// mutator-utilisation blocks; `allocation failure; …` or the old
/// `[allocation failure] […].` style.
fn reason(mut rest: &str) -> Option<&str> {
    loop {
        rest = skip_ws(rest);
        if !rest.starts_with('(') {
            break;
        }
        let close = matching_paren(rest)?;
        rest = &rest[close + 1..];
    }
    let rest = rest.trim();
    let text = if let Some(inner) = rest.strip_prefix('[') {
        &inner[..inner.find(']')?]
    } else {
        rest.split(';').next().unwrap_or("")
    };
    let text = text.trim().trim_end_matches('.');
    (!text.is_empty()).then_some(text)
}

/// Index of the `)` closing the `(` at the start of `text`.
fn matching_paren(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LogFormat;

    fn parse(lines: &[&str]) -> GcLog {
        let mut log = GcLog::new(LogFormat::Node);
        let mut parser = NodeParser::default();
        for (i, line) in lines.iter().enumerate() {
            parser.line(line, i as u64 + 1, &mut log);
        }
        log
    }

    #[test]
    fn node_20_scavenge_and_mark_compact() {
        let log = parse(&[
            "[4678:0x25567c00]       25 ms: Scavenge 3.9 (4.0) -> 3.5 (5.0) MB, 1.88 / 0.00 ms  (average mu = 1.000, current mu = 1.000) allocation failure; ",
            "[4678:0x25567c00]      452 ms: Mark-Compact 141.3 (165.7) -> 128.1 (164.1) MB, 4.62 / 0.00 ms  (+ 63.6 ms in 407 steps since start of marking, biggest step 6.5 ms, walltime since start of marking 131 ms) (average mu = 0.786, current mu = 0.786) finalize incremental marking via stack guard; GC in old space requested",
        ]);
        assert_eq!(log.events.len(), 2);
        let s = &log.events[0];
        assert_eq!((&*s.name, s.kind), ("Scavenge", GcKind::Minor));
        assert_eq!(s.t_s, Some(0.025));
        assert_eq!(s.pause_ms, Some(1.88));
        assert_eq!(s.heap_before_bytes, mib(3.9));
        assert_eq!(s.heap_after_bytes, mib(3.5));
        assert_eq!(s.heap_total_bytes, mib(5.0));
        assert_eq!(s.cause.as_deref(), Some("allocation failure"));
        let m = &log.events[1];
        assert_eq!((&*m.name, m.kind), ("Mark-Compact", GcKind::Major));
        assert_eq!(m.pause_ms, Some(4.62));
        assert_eq!(
            m.cause.as_deref(),
            Some("finalize incremental marking via stack guard")
        );
    }

    #[test]
    fn pooled_minor_ms_reduce_and_old_formats() {
        let log = parse(&[
            "[9:0x6f1c000]     1510 ms: Scavenge (interleaved) 4.1 (5.2) -> 3.8 (6.2) MB, pooled: 0.0 MB, 1.23 / 0.00 ms  (average mu = 1.000, current mu = 1.000) allocation failure;",
            "[9:0x6f1c000]     1600 ms: Minor Mark-Sweep 8.0 (9.0) -> 4.0 (9.0) MB, pooled: 1.0 MB, 0.50 / 0.00 ms  (average mu = 1.000, current mu = 1.000) allocation failure;",
            "[9:0x6f1c000]     1700 ms: Mark-Compact (reduce) 1.2 (3.0) -> 0.9 (2.0) MB, 3.10 / 0.00 ms  (average mu = 0.9, current mu = 0.9) memory reducer; GC in old space requested",
            "[12:0x102801e00]  1234 ms: Mark-sweep 10.5 (15.2) -> 8.3 (15.2) MB, 12.3 / 0.0 ms  [allocation failure] [GC in old space requested].",
            "[12345]     2000 ms: Scavenge 2.4 (36.5) -> 2.0 (37.5) MB, 0.8 ms [allocation failure].",
        ]);
        let names: Vec<_> = log.events.iter().map(|e| (&*e.name, e.kind)).collect();
        assert_eq!(
            names,
            [
                ("Scavenge", GcKind::Minor),
                ("Minor Mark-Sweep", GcKind::Minor),
                ("Mark-Compact", GcKind::Major),
                ("Mark-sweep", GcKind::Major),
                ("Scavenge", GcKind::Minor),
            ]
        );
        assert_eq!(log.events[1].pause_ms, Some(0.5));
        assert_eq!(log.events[3].cause.as_deref(), Some("allocation failure"));
        assert_eq!(log.events[4].pause_ms, Some(0.8));
        assert_eq!(log.heaps.len(), 3);
    }

    #[test]
    fn cut_off_and_foreign_lines_are_not_events() {
        let mut log = GcLog::new(LogFormat::Node);
        let mut parser = NodeParser::default();
        let cut = "[1:0x1]   25 ms: Scavenge 3.9 (4.0) -> 3.5 (5.0) MB, 1.8";
        assert_eq!(parser.line(cut, 1, &mut log), LineUse::Malformed);
        let reducer = "[1:0x1]  2000 ms: Memory reducer: started GC #1";
        assert_eq!(parser.line(reducer, 2, &mut log), LineUse::Skipped);
        assert_eq!(
            parser.line("Scavenge 1 (2) -> 1 (2) MB", 3, &mut log),
            LineUse::Skipped
        );
        assert_eq!(parser.line("", 4, &mut log), LineUse::Skipped);
        assert!(log.events.is_empty());
        let glued = "hello world[1:0x1]   25 ms: Scavenge 3.9 (4.0) -> 3.5 (5.0) MB, 1.88 / 0.00 ms  (average mu = 1.000, current mu = 1.000) allocation failure;";
        assert_eq!(parser.line(glued, 5, &mut log), LineUse::Event);
    }

    #[test]
    fn windows_headerless_and_glued_lines() {
        let mut log = GcLog::new(LogFormat::Node);
        let mut parser = NodeParser::default();
        let lines = [
            "[12168:00000145D1BE67B0]   199025 ms: Mark-sweep 2007.0 (2094.4) -> 2003.9 (2092.6) MB, 839.6 / 0.0 ms  (average mu = 0.127, current mu = 0.006) allocation failure scavenge might not succeed",
            "   26707 ms: Scavenge 1397.9 (1456.9) -> 1397.9 (1456.9) MB, 0.8 / 0 ms (+ 2.0 ms in 1 steps since last GC) [allocation failure] [incremental marking delaying mark-sweep].",
            "[22479:0x6062fa0]   200919 ms: Mark-sweep (reduce) 4093.9 (4101.1) -> 4092.6 (4104.2) MB, 1833.7 / 0.0 ms  (average mu = 0.453, current mu = 0.144[22479:0x6062fa0]   202782 ms: Mark-sweep (reduce) 4093.7 (4103.7) -> 4093.5 (4104.2) MB, 1859.2 / 0.0 ms  (average mu = 0.280, current mu = 0.002) allocation failure scavenge might not succeed",
        ];
        for (i, line) in lines.iter().enumerate() {
            assert_eq!(parser.line(line, i as u64 + 1, &mut log), LineUse::Event);
        }
        let pauses: Vec<_> = log.events.iter().map(|e| e.pause_ms).collect();
        assert_eq!(pauses, [Some(839.6), Some(0.8), Some(1833.7), Some(1859.2)]);
        assert_eq!(log.heaps[0], "00000145D1BE67B0");
        parser.finish(&mut log);
        // Three processes one after the other: three runs.
        assert_eq!(log.run_starts, [2, 3]);
    }
}

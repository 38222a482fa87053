//! JDK 8 (and 7) `-verbose:gc` / `-XX:+PrintGCDetails`, with or without
//! `-XX:+PrintGCTimeStamps` and `-XX:+PrintGCDateStamps`.
//!
//! ```text
//! 2015-05-26T14:45:37.987-0200: 151.126: [GC (Allocation Failure) [PSYoungGen: 132096K->16182K(152576K)] 132096K->16190K(500736K), 0.0195640 secs] [Times: user=0.06 sys=0.00, real=0.02 secs]
//! 172.829: [Full GC (Ergonomics) [PSYoungGen: 93677K->70109K(254976K)] [ParOldGen: 499597K->511230K(761856K)] 593275K->581339K(1016832K), [Metaspace: 2936K->2936K(1056768K)], 0.0713174 secs] [Times: user=0.21 sys=0.02, real=0.07 secs]
//! 151.126: [GC (Allocation Failure) 151.126: [DefNew: 629119K->69888K(629120K), 0.0584157 secs] 1619346K->1273247K(2027264K), 0.0585007 secs]
//! 0.107: [GC pause (G1 Evacuation Pause) (young), 0.0041820 secs]
//!    [Eden: 24.0M(24.0M)->0.0B(13.0M) Survivors: 0.0B->3072.0K Heap: 24.0M(256.0M)->21.8M(256.0M)]
//! 64.425: [GC (CMS Initial Mark) [1 CMS-initial-mark: 10812086K(11901376K)] 10887844K(12514816K), 0.0001997 secs]
//! [GC (Allocation Failure)  33280K->2960K(125952K), 0.0034 secs]
//! ```
//!
//! The event's pause is its last `, N secs]`; its heap change the last
//! `A->B(C)` outside the generation brackets. G1's detailed pause line is
//! followed by an `[Eden: … Heap: …]` line that gives the heap sizes.

use crate::model::{Clock, GcEvent, GcKind, GcLog};
use crate::scan::{Interner, after_last, iso_timestamp, number, size, skip_ws};

use super::{FormatParser, LineUse, bracketed};

#[derive(Default)]
pub(crate) struct Jvm8Parser {
    names: Interner,
    next_collection: u64,
    /// The last event was a G1 pause still waiting for its heap line.
    awaiting_g1_heap: bool,
}

impl FormatParser for Jvm8Parser {
    fn line(&mut self, line: &str, number: u64, log: &mut GcLog) -> LineUse {
        if let Some(flags) = line.trim_start().strip_prefix("CommandLine flags:") {
            if let Some(max) = max_heap_flag(flags) {
                log.max_heap_bytes = Some(max);
            }
            return LineUse::Detail;
        }
        let Some(start) = event_start(line) else {
            if self.awaiting_g1_heap && line.contains("[Eden:") && line.contains("Heap:") {
                self.awaiting_g1_heap = false;
                if let Some(event) = log.events.last_mut() {
                    g1_heap_line(line, event);
                }
                return LineUse::Detail;
            }
            return LineUse::Skipped;
        };
        let (time, clock) = match prefix_time(&line[..start]) {
            Some((t, clock)) => (Some(t), clock),
            None => (None, Clock::None),
        };
        let is_full = line[start..].starts_with("[Full GC");
        let head_start = start + if is_full { 8 } else { 3 };
        let text = &line[head_start..];
        let text = match text.find(" [Times:") {
            Some(at) => &text[..at],
            None => text,
        };
        let Some((body, pause_s)) = split_pause(text) else {
            return LineUse::Malformed;
        };
        if let Some(t) = time {
            log.saw_time(t, clock);
        }
        let (head, rest) = split_head(body);
        let top = depth_zero(rest);
        let sections = sections(rest);
        let has_old = sections.iter().any(|(name, _)| is_old_generation(name));
        let head_lower = head.to_ascii_lowercase();
        let is_g1 = head_lower.starts_with("pause") || head_lower.contains("g1 ");
        let is_remark = head_lower.contains("remark");
        let is_initial_mark = head_lower.contains("initial mark");
        let kind = if is_full || has_old {
            GcKind::Full
        } else if head_lower.contains("(mixed)")
            || is_remark
            || head_lower.starts_with("cleanup")
            || head_lower.contains("cms")
        {
            GcKind::Major
        } else {
            GcKind::Minor
        };
        if log.collector.is_none() {
            log.collector = infer_collector(&head_lower, &sections).map(str::to_string);
        }
        let (name, cause) = name_and_cause(is_full, &head);
        let mut event = GcEvent::new(number, self.next_collection, kind, self.names.get(&name));
        self.next_collection += 1;
        event.t_s = time;
        event.pause_ms = Some(pause_s * 1e3);
        event.cause = cause.map(|c| self.names.get(&c));
        // Marking pauses (and G1's cleanup, which frees only empty regions)
        // report a heap that still holds the garbage they found.
        event.ends_collection =
            !(is_remark || is_initial_mark || head_lower.starts_with("cleanup"));
        match heap_change(&top) {
            Some(Change::Sizes(before, after, total)) => {
                event.heap_before_bytes = Some(before);
                event.heap_after_bytes = Some(after);
                event.heap_total_bytes = total;
            }
            Some(Change::Occupancy(used, total)) => {
                event.heap_before_bytes = Some(used);
                event.heap_after_bytes = Some(used);
                event.heap_total_bytes = Some(total);
                event.ends_collection = false;
            }
            None => {}
        }
        if kind == GcKind::Minor
            && let Some(young) = sections.iter().find(|(name, _)| is_young_generation(name))
            && let Some(Change::Sizes(yb, ya, _)) = heap_change(young.1)
            && let (Some(hb), Some(ha)) = (event.heap_before_bytes, event.heap_after_bytes)
        {
            event.promoted_bytes =
                Some(yb.saturating_sub(ya).saturating_sub(hb.saturating_sub(ha)));
        }
        self.awaiting_g1_heap = is_g1 && event.heap_after_bytes.is_none();
        log.events.push(event);
        LineUse::Event
    }
}

/// Where the event's `[GC` or `[Full GC` starts; `None` for concurrent
/// phases, G1 worker detail lines and everything else.
fn event_start(line: &str) -> Option<usize> {
    let full = line.find("[Full GC");
    let young = line.find("[GC");
    let start = match (full, young) {
        (Some(f), Some(y)) => f.min(y),
        (Some(f), None) => f,
        (None, Some(y)) => y,
        (None, None) => return None,
    };
    let after = line[start..]
        .trim_start_matches("[Full GC")
        .trim_start_matches("[GC");
    let next = after.trim_start();
    let concurrent = next.starts_with("concurrent")
        || next.starts_with("Worker")
        || next.starts_with("ref-proc")
        || next.starts_with("Lock");
    if concurrent || !(after.starts_with([' ', '(', '[', '-'])) {
        return None;
    }
    Some(start)
}

/// `2015-05-26T14:45:37.987-0200: 151.126: ` → uptime 151.126 (preferred)
/// or the date stamp. Text before them (application output) is ignored.
fn prefix_time(prefix: &str) -> Option<(f64, Clock)> {
    let prefix = prefix.trim_end().strip_suffix(':')?;
    let last = prefix.rsplit([' ', ']']).next().unwrap_or(prefix);
    if let Some((t, rest)) = number(last)
        && rest.is_empty()
    {
        return Some((t, Clock::Uptime));
    }
    // Only a date stamp: find where it starts.
    let at = after_last(prefix, |c| {
        !(c.is_ascii_alphanumeric() || "-:.+".contains(c))
    });
    let stamp = prefix.get(at..).unwrap_or(prefix);
    iso_timestamp(stamp)
        .or_else(|| iso_timestamp(prefix))
        .filter(|(_, rest)| rest.is_empty())
        .map(|(t, _)| (t, Clock::Wall))
}

/// Splits `… , 0.0195640 secs]` into the body and the seconds.
fn split_pause(text: &str) -> Option<(&str, f64)> {
    let end = text.rfind(" secs]")?;
    let before = &text[..end];
    let comma = before.rfind(", ")?;
    let (secs, rest) = number(skip_ws(&before[comma + 2..]))?;
    if !rest.trim().is_empty() {
        return None;
    }
    Some((&text[..comma], secs))
}

/// The head (`(Allocation Failure)`, `pause (G1 Evacuation Pause) (young)`,
/// `remark`) and the rest, which starts at the first `[` or size.
fn split_head(body: &str) -> (String, &str) {
    let mut depth = 0usize;
    for (i, c) in body.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            '[' if depth == 0 => return (body[..i].trim().to_string(), &body[i..]),
            c if depth == 0 && c.is_ascii_digit() => {
                // A time stamp (`151.126: [DefNew`) or the first size.
                return (body[..i].trim().to_string(), &body[i..]);
            }
            _ => {}
        }
    }
    (body.trim().to_string(), "")
}

/// The text outside any `[…]`.
fn depth_zero(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// The top-level `[Name: …]` sections: (`PSYoungGen`, `132096K->…`).
fn sections(text: &str) -> Vec<(&str, &str)> {
    bracketed(text, '[', ']')
        .filter_map(|section| section.split_once(':'))
        .map(|(name, value)| (name.trim(), value.trim()))
        .collect()
}

fn is_old_generation(name: &str) -> bool {
    ["ParOldGen", "Tenured", "CMS", "PSOldGen"].contains(&name)
}

fn is_young_generation(name: &str) -> bool {
    ["PSYoungGen", "DefNew", "ParNew", "ASParNew"]
        .iter()
        .any(|young| name.starts_with(young))
}

enum Change {
    /// Used before, used after, capacity after.
    Sizes(u64, u64, Option<u64>),
    /// CMS marking pauses print the occupancy only: used, capacity.
    Occupancy(u64, u64),
}

/// The last `A->B(C)` in `text`, or a lone `A(C)` occupancy.
fn heap_change(text: &str) -> Option<Change> {
    if let Some(arrow) = text.rfind("->") {
        let before = size_ending_at(&text[..arrow])?;
        let (after, rest) = size(&text[arrow + 2..])?;
        let total = rest.strip_prefix('(').and_then(|r| size(r)).map(|(t, _)| t);
        return Some(Change::Sizes(before, after, total));
    }
    let open = text.rfind('(')?;
    let used = size_ending_at(&text[..open])?;
    let (total, _) = size(&text[open + 1..])?;
    Some(Change::Occupancy(used, total))
}

/// The size that ends `text` (`…] 593275K` → 593275 KiB).
fn size_ending_at(text: &str) -> Option<u64> {
    let start = after_last(text, |c| {
        !(c.is_ascii_digit() || c == '.' || "BKMG".contains(c))
    });
    let (bytes, rest) = size(&text[start..])?;
    rest.is_empty().then_some(bytes)
}

/// `[Eden: 24.0M(24.0M)->0.0B(13.0M) Survivors: 0.0B->3072.0K Heap:
/// 24.0M(256.0M)->21.8M(256.0M)]`.
fn g1_heap_line(line: &str, event: &mut GcEvent) {
    let Some(heap) = line.find("Heap:").map(|at| skip_ws(&line[at + 5..])) else {
        return;
    };
    let parse = || -> Option<(u64, u64, u64)> {
        let (before, rest) = size(heap)?;
        let rest = rest.strip_prefix('(')?.split_once(")->")?.1;
        let (after, rest) = size(rest)?;
        let (total, _) = size(rest.strip_prefix('(')?)?;
        Some((before, after, total))
    };
    let Some((before, after, total)) = parse() else {
        return;
    };
    event.heap_before_bytes = Some(before);
    event.heap_after_bytes = Some(after);
    event.heap_total_bytes = Some(total);
    let young = || -> Option<(u64, u64)> {
        let eden = skip_ws(&line[line.find("Eden:")? + 5..]);
        let (eden_before, rest) = size(eden)?;
        let rest = rest.strip_prefix('(')?.split_once(")->")?.1;
        let (eden_after, _) = size(rest)?;
        let survivors = skip_ws(&line[line.find("Survivors:")? + 10..]);
        let (surv_before, rest) = size(survivors)?;
        let (surv_after, _) = size(rest.strip_prefix("->")?)?;
        Some((eden_before + surv_before, eden_after + surv_after))
    };
    if event.kind == GcKind::Minor
        && let Some((young_before, young_after)) = young()
    {
        let freed_young = young_before.saturating_sub(young_after);
        event.promoted_bytes = Some(freed_young.saturating_sub(before.saturating_sub(after)));
    }
}

/// `Full GC` / `GC`, or G1's `GC pause (young)`, `GC remark`, `GC cleanup`;
/// the cause is the first parenthesised group that is not a G1 type.
fn name_and_cause(is_full: bool, head: &str) -> (String, Option<String>) {
    let groups: Vec<&str> = bracketed(head, '(', ')').map(str::trim).collect();
    let word = head
        .split(['(', ' '])
        .next()
        .unwrap_or("")
        .trim_start_matches('-');
    let g1_type = groups.iter().find(|g| matches!(**g, "young" | "mixed"));
    let mut name = if is_full {
        "Full GC".to_string()
    } else {
        "GC".to_string()
    };
    if !word.is_empty() {
        name = format!("{name} {word}");
    }
    if let Some(kind) = g1_type {
        name = format!("{name} ({kind})");
    }
    let cause = groups
        .into_iter()
        .find(|g| !matches!(*g, "young" | "mixed" | "initial-mark"))
        .map(str::to_string);
    (name, cause)
}

fn infer_collector(head: &str, sections: &[(&str, &str)]) -> Option<&'static str> {
    if head.starts_with("pause") || head.contains("g1 ") {
        return Some("G1");
    }
    for (name, _) in sections {
        match *name {
            "PSYoungGen" | "ParOldGen" | "PSOldGen" => return Some("Parallel"),
            "DefNew" | "Tenured" => return Some("Serial"),
            n if n.starts_with("ParNew") || n == "CMS" || n.contains("CMS-") => return Some("CMS"),
            _ => {}
        }
    }
    head.contains("cms").then_some("CMS")
}

/// `-XX:MaxHeapSize=268435456` among the command-line flags.
fn max_heap_flag(flags: &str) -> Option<u64> {
    let value = flags
        .split_ascii_whitespace()
        .find_map(|f| f.strip_prefix("-XX:MaxHeapSize="))?;
    let (bytes, rest) = crate::scan::integer(value)?;
    rest.is_empty().then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LogFormat;

    const K: u64 = 1024;

    fn parse(lines: &[&str]) -> (GcLog, Vec<LineUse>) {
        crate::parse::parse_lines(&mut Jvm8Parser::default(), LogFormat::Jvm8, lines)
    }

    #[test]
    fn parallel_young_and_full() {
        let (log, _) = parse(&[
            "CommandLine flags: -XX:InitialHeapSize=16777216 -XX:MaxHeapSize=268435456 -XX:+PrintGCDetails",
            "2015-05-26T14:45:37.987-0200: 151.126: [GC (Allocation Failure) [PSYoungGen: 132096K->16182K(152576K)] 132096K->16190K(500736K), 0.0195640 secs] [Times: user=0.06 sys=0.00, real=0.02 secs]",
            "2015-05-26T14:45:59.690-0200: 172.829: [Full GC (Ergonomics) [PSYoungGen: 93677K->70109K(254976K)] [ParOldGen: 499597K->511230K(761856K)] 593275K->581339K(1016832K), [Metaspace: 2936K->2936K(1056768K)], 0.0713174 secs] [Times: user=0.21 sys=0.02, real=0.07 secs]",
        ]);
        assert_eq!(log.max_heap_bytes, Some(268_435_456));
        assert_eq!(log.collector.as_deref(), Some("Parallel"));
        let young = &log.events[0];
        assert_eq!((young.kind, young.t_s), (GcKind::Minor, Some(151.126)));
        assert_eq!(young.pause_ms, Some(19.564));
        assert_eq!(young.heap_before_bytes, Some(132_096 * K));
        assert_eq!(young.heap_after_bytes, Some(16_190 * K));
        assert_eq!(young.heap_total_bytes, Some(500_736 * K));
        assert_eq!(young.promoted_bytes, Some(8 * K));
        assert_eq!(young.cause.as_deref(), Some("Allocation Failure"));
        let full = &log.events[1];
        assert_eq!((full.kind, &*full.name), (GcKind::Full, "Full GC"));
        assert_eq!(full.heap_after_bytes, Some(581_339 * K));
        assert_eq!(full.pause_ms, Some(71.3174));
    }

    #[test]
    fn serial_cms_and_bare() {
        let (log, uses) = parse(&[
            "151.126: [GC (Allocation Failure) 151.126: [DefNew: 629119K->69888K(629120K), 0.0584157 secs] 1619346K->1273247K(2027264K), 0.0585007 secs] [Times: user=0.06 sys=0.00, real=0.06 secs]",
            "152.0: [GC (Allocation Failure) 152.0: [DefNew: 629120K->629120K(629120K), 0.0000372 secs]152.0: [Tenured: 1203359K->755802K(1398144K), 0.1855567 secs] 1832479K->755802K(2027264K), [Metaspace: 6741K->6741K(1056768K)], 0.1856954 secs]",
            "64.425: [GC (CMS Initial Mark) [1 CMS-initial-mark: 10812086K(11901376K)] 10887844K(12514816K), 0.0001997 secs] [Times: user=0.00 sys=0.00, real=0.00 secs]",
            "64.425: [CMS-concurrent-mark-start]",
            "[GC (Allocation Failure)  33280K->2960K(125952K), 0.0034 secs]",
            "[GC (Allocation Failure)  33280K->2960K(125952K), 0.00",
        ]);
        assert_eq!(
            uses,
            [
                LineUse::Event,
                LineUse::Event,
                LineUse::Event,
                LineUse::Skipped,
                LineUse::Event,
                LineUse::Malformed
            ]
        );
        assert_eq!(log.collector.as_deref(), Some("Serial"));
        assert_eq!(log.events[0].pause_ms, Some(58.5007));
        assert_eq!(log.events[0].heap_after_bytes, Some(1_273_247 * K));
        assert_eq!(log.events[1].kind, GcKind::Full);
        let mark = &log.events[2];
        assert_eq!(mark.kind, GcKind::Major);
        assert!(!mark.ends_collection);
        assert_eq!(mark.heap_total_bytes, Some(12_514_816 * K));
        assert_eq!(log.events[3].t_s, None);
    }

    #[test]
    fn g1_detail_and_plain() {
        let (log, uses) = parse(&[
            "2014-07-14T01:33:18.136-0400: 0.107: [GC pause (G1 Evacuation Pause) (young), 0.0041820 secs]",
            "   [Parallel Time: 3.5 ms, GC Workers: 8]",
            "      [GC Worker Start (ms): Min: 107.1, Avg: 107.2, Max: 107.2, Diff: 0.1]",
            "   [Eden: 24.0M(24.0M)->0.0B(13.0M) Survivors: 0.0B->3072.0K Heap: 24.0M(256.0M)->21.8M(256.0M)]",
            " [Times: user=0.01 sys=0.00, real=0.00 secs]",
            "2014-07-14T01:33:19.136-0400: 1.107: [GC pause (G1 Evacuation Pause) (mixed) 30M->12M(256M), 0.0061 secs]",
            "1.7: [GC remark 1.7: [Finalize Marking, 0.0001 secs] 1.7: [GC ref-proc, 0.0001 secs] 1.7: [Unloading, 0.0010 secs], 0.0021 secs]",
            "1.8: [GC cleanup 22M->22M(256M), 0.0003 secs]",
            "1.6: [GC concurrent-root-region-scan-start]",
            "2.0: [Full GC (Allocation Failure)  255M->180M(256M), 0.5000000 secs]",
        ]);
        assert_eq!(uses[2], LineUse::Skipped);
        assert_eq!(uses[3], LineUse::Detail);
        assert_eq!(uses[8], LineUse::Skipped);
        assert_eq!(log.collector.as_deref(), Some("G1"));
        let kinds: Vec<_> = log.events.iter().map(|e| (&*e.name, e.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("GC pause (young)", GcKind::Minor),
                ("GC pause (mixed)", GcKind::Major),
                ("GC remark", GcKind::Major),
                ("GC cleanup", GcKind::Major),
                ("Full GC", GcKind::Full),
            ]
        );
        let young = &log.events[0];
        assert_eq!(
            young.heap_after_bytes,
            Some((21.8 * 1024.0 * 1024.0f64).round() as u64)
        );
        assert_eq!(young.cause.as_deref(), Some("G1 Evacuation Pause"));
        // Young 24 MiB -> 3 MiB, heap 24 MiB -> 21.8 MiB: 18.8 MiB promoted.
        let promoted = young.promoted_bytes.unwrap() as f64 / (1024.0 * 1024.0);
        assert!((promoted - 18.8).abs() < 0.01, "{promoted}");
        assert_eq!(log.events[2].pause_ms, Some(2.1));
        assert_eq!(log.events[4].heap_after_bytes, Some(180 * 1024 * K));
    }
}

//! JVM unified logging (JDK 9 and later): `-Xlog:gc`, `-Xlog:gc*`, any
//! decorators (`uptime`, `uptimemillis`, `uptimenanos`, `time`, `utctime`,
//! `timemillis`, `timenanos`, `pid`, `tid`, `level`, `tags`, or none).
//!
//! ```text
//! [0.049s][info][gc] GC(0) Pause Young (Normal) (G1 Evacuation Pause) 6M->3M(128M) 2.335ms
//! [0.124s][info][gc] GC(9) Pause Remark 47M->47M(64M) 0.377ms
//! [0.127s][info][gc] GC(9) Concurrent Mark Cycle 16.197ms
//! [0.143s][info][gc] GC(13) Pause Full (Ergonomics) 47M->38M(57M) 12.809ms
//! [0.194s][info][gc] GC(0) Garbage Collection (Warmup) 52M(41%)->10M(8%)
//! [0.091s][info][gc] GC(0) Concurrent cleanup 33M->11M(128M) 0.018ms
//! [0.091s][info][gc,phases] GC(0) Pause Mark Start 0.012ms
//! [0.051s][info][gc,heap] GC(0) PSYoungGen: 32256K(37888K)->5104K(37888K) Eden: …
//! ```
//!
//! An event is a `GC(N)` line that is a pause with its duration (`Pause …
//! 1.2ms`), a concurrent cycle's end (`Concurrent Mark Cycle 16.2ms`), or
//! a collection summary with heap sizes (ZGC `Garbage Collection`,
//! Shenandoah `Concurrent cleanup`). `[gc,start]` lines (no duration) and
//! phase details are not events. Generation lines of `-Xlog:gc*`
//! (`PSYoungGen`/`ParOldGen`, `DefNew`/`Tenured`, G1 `Old regions`) give the
//! bytes a young collection promoted.

use crate::model::{Clock, GcEvent, GcKind, GcLog};
use crate::scan::{Interner, integer, iso_timestamp, number, size, skip_ws};

use super::{FormatParser, LineUse, bracketed};

#[derive(Default)]
pub(crate) struct JvmParser {
    names: Interner,
    /// JVM starts seen in this file (`Using …` after events): the high bits
    /// of collection ids, so ids of a restarted JVM do not merge.
    epoch: u64,
    region_bytes: Option<u64>,
    /// Old generation before/after for a `GC(N)` whose summary line has not
    /// come yet.
    pending_old: Option<(u64, u64, u64)>,
    /// Reused for building event names.
    scratch: String,
    /// The latest uptime seen: one that goes back by more than a second
    /// is a restarted JVM even without its `Using …` line.
    last_uptime: Option<f64>,
    /// A restart was seen and no `GC(N)` line since: a `Using …` line now
    /// belongs to it.
    restarted_without_using: bool,
}

impl FormatParser for JvmParser {
    fn line(&mut self, line: &str, number: u64, log: &mut GcLog) -> LineUse {
        let (decorators, message) = split(line);
        let time = decorators.and_then(decorator_time);
        let Some(message) = message else {
            return LineUse::Skipped;
        };
        // `GC(N)` lines, and other lines only when their decorators carry a
        // log level: `[INFO] …` or `[2024-…] …` application output is not
        // the JVM's, and its time stamps must not stretch the log's span.
        if !message.starts_with("GC(") && !decorators.is_some_and(has_level) {
            return LineUse::Skipped;
        }
        if let Some((t, Clock::Uptime)) = time {
            if self.last_uptime.is_some_and(|last| t < last - 1.0) && !log.events.is_empty() {
                self.restart(number, log);
            }
            self.last_uptime = Some(t);
        }
        if let Some(name) = message.strip_prefix("Using ")
            && collector_name(name).is_some()
            && !log.events.is_empty()
            && log.run_starts.last() != Some(&number)
            && !self.restarted_without_using
        {
            self.restart(number, log);
        }
        if let Some((t, clock)) = time {
            log.saw_time(t, clock);
        }
        match message.strip_prefix("GC(") {
            Some(rest) => {
                self.restarted_without_using = false;
                self.gc_line(rest, number, time.map(|(t, _)| t), log)
            }
            None => {
                self.metadata(message, log);
                LineUse::Detail
            }
        }
    }
}

/// The collector a `Using …` line names.
fn collector_name(name: &str) -> Option<&'static str> {
    match name.trim() {
        "G1" => Some("G1"),
        "Parallel" => Some("Parallel"),
        "Serial" => Some("Serial"),
        "Shenandoah" => Some("Shenandoah"),
        "The Z Garbage Collector" => Some("ZGC"),
        "Concurrent Mark Sweep" => Some("CMS"),
        "Epsilon" => Some("Epsilon"),
        _ => None,
    }
}

impl JvmParser {
    /// A new JVM wrote to the same file from `line` on: its `GC(N)` ids
    /// start again and are kept apart.
    fn restart(&mut self, line: u64, log: &mut GcLog) {
        self.epoch += 1;
        self.pending_old = None;
        // The uptime fell back before the `Using …` line: that line is
        // part of the same restart.
        self.restarted_without_using = true;
        log.new_run(line);
    }

    fn metadata(&mut self, message: &str, log: &mut GcLog) {
        if let Some(name) = message.strip_prefix("Using ") {
            if let Some(collector) = collector_name(name) {
                log.collector = Some(collector.to_string());
            }
        } else if let Some(value) = message
            .strip_prefix("Heap Max Capacity:")
            .or_else(|| message.strip_prefix("Max Capacity:"))
        {
            if let Some((bytes, _)) = size(skip_ws(value)) {
                log.max_heap_bytes = Some(bytes);
            }
        } else if let Some(value) = message
            .strip_prefix("Heap Region Size:")
            .or_else(|| message.strip_prefix("Heap region size:"))
            && let Some((bytes, _)) = size(skip_ws(value))
        {
            self.region_bytes = Some(bytes);
        }
    }

    /// A `GC(N) …` line; `rest` starts after `GC(`.
    fn gc_line(&mut self, rest: &str, number: u64, t_s: Option<f64>, log: &mut GcLog) -> LineUse {
        let Some((id, rest)) = integer(rest) else {
            return LineUse::Skipped;
        };
        let Some(body) = rest.strip_prefix(')') else {
            return LineUse::Skipped;
        };
        let body = body.trim();
        let collection = (self.epoch << 40) | (id & ((1 << 40) - 1));
        if self.generation_line(collection, body) {
            return LineUse::Detail;
        }
        // Generational ZGC prefixes its phases with `Y:` (young) / `O:` (old)
        // in a major collection, and `y:` in a minor one (JDK 21 and later).
        let (generation, body) = match body.get(..3) {
            Some("Y: " | "y: ") => (Some(GcKind::Minor), &body[3..]),
            Some("O: " | "o: ") => (Some(GcKind::Major), &body[3..]),
            _ => (None, body),
        };
        let is_pause = body.starts_with("Pause ");
        let is_summary = body.starts_with("Garbage Collection")
            || body.starts_with("Minor Collection")
            || body.starts_with("Major Collection")
            || body.starts_with("Concurrent");
        if !is_pause && !is_summary {
            return LineUse::Detail;
        }
        let (rest, duration_ms) = match last_word(body) {
            Some((head, last)) if duration_ms(last).is_some() => (head, duration_ms(last)),
            _ => (body, None),
        };
        let (head, heap) = match last_word(rest) {
            Some((head, last)) if last.contains("->") => match heap_sizes(last) {
                Some(heap) => (head, Some(heap)),
                None => return LineUse::Malformed,
            },
            _ => (rest, None),
        };
        if duration_ms.is_none() && heap.is_none() {
            // A start line (`[gc,start] GC(3) Pause Young …`), a concurrent
            // cycle's start, or a line cut off in its duration.
            return if body.ends_with(|c: char| c.is_ascii_digit() || c == '.' || c == 'm') {
                LineUse::Malformed
            } else {
                LineUse::Detail
            };
        }
        let (name, qualifiers) = name_and_qualifiers(head);
        if is_summary && heap.is_none() && !name.ends_with("Cycle") {
            // Concurrent phases without sizes (`Concurrent Mark 1.2ms`).
            return LineUse::Detail;
        }
        if log.collector.is_none() {
            log.collector = infer_collector(name, &qualifiers).map(str::to_string);
        }
        let kind = generation.unwrap_or_else(|| kind_of(name, &qualifiers, log));
        self.scratch.clear();
        self.scratch.push_str(name);
        if let Some(q) = qualifiers.iter().find(|q| is_g1_young_type(q)) {
            self.scratch.push_str(" (");
            self.scratch.push_str(q);
            self.scratch.push(')');
        }
        let display = self.names.get(&self.scratch);
        let mut event = GcEvent::new(number, collection, kind, display);
        event.t_s = t_s;
        event.run = log.run();
        event.cause = qualifiers
            .iter()
            .rev()
            .find(|q| !is_g1_young_type(q) && !is_phase_qualifier(q))
            .map(|q| self.names.get(q));
        if is_pause {
            event.pause_ms = duration_ms;
        } else {
            event.concurrent_ms = duration_ms;
        }
        if let Some(heap) = heap {
            event.heap_before_bytes = Some(heap.before);
            event.heap_after_bytes = Some(heap.after);
            event.heap_total_bytes = heap.total;
        }
        event.ends_collection = ends_collection(name, is_pause);
        if let Some((pending, before, after)) = self.pending_old.take()
            && pending == collection
            && kind == GcKind::Minor
        {
            event.promoted_bytes = Some(after.saturating_sub(before));
        }
        log.events.push(event);
        LineUse::Event
    }

    /// `-Xlog:gc*` generation lines: remembers the old generation's
    /// occupancy before and after for the coming summary line.
    fn generation_line(&mut self, collection: u64, body: &str) -> bool {
        for old in ["ParOldGen:", "Tenured:", "PSOldGen:", "CMS:"] {
            if let Some(rest) = body.strip_prefix(old) {
                if let Some((before, after)) = generation_sizes(skip_ws(rest)) {
                    self.pending_old = Some((collection, before, after));
                }
                return true;
            }
        }
        if let Some(rest) = body.strip_prefix("Old regions:") {
            let regions = || -> Option<(u64, u64)> {
                let (before, rest) = integer(skip_ws(rest))?;
                let (after, _) = integer(rest.strip_prefix("->")?)?;
                Some((before, after))
            };
            if let (Some((before, after)), Some(region)) = (regions(), self.region_bytes) {
                self.pending_old = Some((collection, before * region, after * region));
            }
            return true;
        }
        ["PSYoungGen:", "DefNew:", "ParNew:"]
            .iter()
            .any(|young| body.starts_with(young))
    }
}

/// The text before the last word (trimmed) and the last word.
fn last_word(text: &str) -> Option<(&str, &str)> {
    text.rsplit_once(|c: char| c.is_ascii_whitespace())
        .map(|(head, last)| (head.trim_end(), last))
}

/// The decorators (`[0.049s][info][gc]`, or `None` when the line has none)
/// and the message. Application output before the decorators is ignored.
fn split(line: &str) -> (Option<&str>, Option<&str>) {
    if let Some(at) = find_gc_id(line) {
        let before = line[..at].trim_end();
        let mut start = before.len();
        let mut text = before;
        while text.ends_with(']') {
            let Some(open) = text.rfind('[') else { break };
            if !is_decorator(&text[open + 1..text.len() - 1]) {
                break;
            }
            start = open;
            text = text[..open].trim_end();
        }
        if start == before.len() && !before.trim().is_empty() {
            // `GC(` inside other text, without decorators: not a JVM line.
            return (None, None);
        }
        let decorators = (start < before.len()).then(|| &before[start..]);
        return (decorators, Some(&line[at..]));
    }
    let Some(open) = line.find('[') else {
        return (None, None);
    };
    let mut rest = &line[open..];
    while rest.starts_with('[') {
        let Some(close) = rest.find(']') else {
            return (None, None);
        };
        rest = &rest[close + 1..];
    }
    let decorators = &line[open..line.len() - rest.len()];
    (Some(decorators), Some(rest.trim()))
}

/// Whether a `[…]` group can be a unified-logging decorator: a time stamp,
/// a number (pid, tid), or lower-case words (level, tags, host name). An
/// application logger's `[INFO]` or `[Thread-1]` prefix is not.
fn is_decorator(group: &str) -> bool {
    let group = group.trim();
    if group.is_empty() {
        return false;
    }
    if iso_timestamp(group).is_some_and(|(_, rest)| rest.is_empty()) {
        return true;
    }
    group
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b" ,._-".contains(&b))
}

/// Position of the `GC(N)` that starts the message: the first `GC(` that is
/// at the start of the line or follows a `]` or a blank.
fn find_gc_id(line: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = line[from..].find("GC(") {
        let at = from + found;
        let ok = at == 0 || matches!(line.as_bytes()[at - 1], b']' | b' ' | b'\t');
        if ok && integer(&line[at + 3..]).is_some_and(|(_, rest)| rest.starts_with(')')) {
            return Some(at);
        }
        from = at + 3;
    }
    None
}

/// Whether the decorators include a unified-logging level.
fn has_level(decorators: &str) -> bool {
    decorators.split('[').any(|group| {
        matches!(
            group.trim_end_matches(']').trim(),
            "info" | "debug" | "trace" | "warning" | "error"
        )
    })
}

/// The time stamp among the decorators, preferring uptime to wall time.
fn decorator_time(decorators: &str) -> Option<(f64, Clock)> {
    let mut wall = None;
    for group in decorators.split('[') {
        let text = group.trim_end_matches(']').trim();
        if text.is_empty() {
            continue;
        }
        if let Some((t, rest)) = iso_timestamp(text)
            && rest.is_empty()
        {
            wall = Some(t);
            continue;
        }
        let Some((value, unit)) = number(text) else {
            continue;
        };
        match unit {
            "s" => return Some((value, Clock::Uptime)),
            "ms" if value > 1e11 => wall = Some(value / 1e3),
            "ms" => return Some((value / 1e3, Clock::Uptime)),
            "ns" if value > 1e17 => wall = Some(value / 1e9),
            "ns" => return Some((value / 1e9, Clock::Uptime)),
            _ => {}
        }
    }
    wall.map(|t| (t, Clock::Wall))
}

/// `2.335ms`, `0.021s`, `15us`, `1200ns` in milliseconds.
fn duration_ms(token: &str) -> Option<f64> {
    let (value, unit) = number(token)?;
    match unit {
        "ms" => Some(value),
        "s" => Some(value * 1e3),
        "us" | "µs" => Some(value / 1e3),
        "ns" => Some(value / 1e6),
        _ => None,
    }
}

struct HeapSizes {
    before: u64,
    after: u64,
    total: Option<u64>,
}

/// `78M->5M(128M)` or ZGC's `52M(41%)->10M(8%)`.
fn heap_sizes(token: &str) -> Option<HeapSizes> {
    let (before, rest) = size(token)?;
    let rest = match rest.strip_prefix('(') {
        Some(percent) => percent.split_once(")->")?.1,
        None => rest.strip_prefix("->")?,
    };
    let (after, rest) = size(rest)?;
    let total = match rest.strip_prefix('(') {
        Some(inner) if !inner.contains('%') => Some(size(inner)?.0),
        _ => None,
    };
    Some(HeapSizes {
        before,
        after,
        total,
    })
}

/// `32256K(37888K)->5104K(37888K)`: used before and after.
fn generation_sizes(text: &str) -> Option<(u64, u64)> {
    let (before, rest) = size(text)?;
    let rest = match rest.strip_prefix('(') {
        Some(inner) => inner.split_once(')')?.1,
        None => rest,
    };
    let (after, _) = size(rest.strip_prefix("->")?)?;
    Some((before, after))
}

/// `Pause Young (Normal) (G1 Evacuation Pause)` → (`Pause Young`,
/// [`Normal`, `G1 Evacuation Pause`]); nested parentheses such as
/// `(System.gc())` stay whole.
fn name_and_qualifiers(head: &str) -> (&str, Vec<&str>) {
    let name_end = head.find('(').unwrap_or(head.len());
    let name = head[..name_end].trim();
    let qualifiers = bracketed(&head[name_end..], '(', ')')
        .map(str::trim)
        .collect();
    (name, qualifiers)
}

fn is_g1_young_type(q: &str) -> bool {
    matches!(
        q,
        "Normal" | "Concurrent Start" | "Prepare Mixed" | "Mixed" | "Young" | "Initial Mark"
    )
}

/// Shenandoah's phase qualifiers, which are not causes.
fn is_phase_qualifier(q: &str) -> bool {
    matches!(
        q,
        "unload classes" | "process weakrefs" | "update refs" | "Outside of Cycle" | "Mark"
    ) || q.ends_with('%')
}

fn kind_of(name: &str, qualifiers: &[&str], log: &GcLog) -> GcKind {
    let lower = name.to_ascii_lowercase();
    if lower.contains("full") {
        GcKind::Full
    } else if lower == "pause young" {
        if qualifiers.contains(&"Mixed") {
            GcKind::Major
        } else {
            GcKind::Minor
        }
    } else if lower == "minor collection" {
        GcKind::Minor
    } else if lower == "pause initial mark" && log.collector.as_deref() == Some("G1") {
        // G1 before JDK 12: a young collection that starts marking.
        GcKind::Minor
    } else {
        GcKind::Major
    }
}

/// Whether the heap after this event is the heap at the end of a collection.
/// Pauses that only mark or finish marking (G1 Remark and Cleanup — Cleanup
/// frees only regions that are entirely empty; old garbage waits for the
/// mixed collections — CMS and Shenandoah marks, ZGC phases) are not.
fn ends_collection(name: &str, is_pause: bool) -> bool {
    if !is_pause {
        return true;
    }
    let lower = name.to_ascii_lowercase();
    ["young", "mixed", "full", "degenerated"]
        .iter()
        .any(|word| lower.contains(word))
}

fn infer_collector(name: &str, qualifiers: &[&str]) -> Option<&'static str> {
    let has = |text: &str| qualifiers.iter().any(|q| q.contains(text));
    if has("G1 ") || name == "Concurrent Mark Cycle" || name == "Pause Mixed" {
        Some("G1")
    } else if matches!(
        name,
        "Garbage Collection" | "Minor Collection" | "Major Collection"
    ) {
        Some("ZGC")
    } else if name.starts_with("Pause Init ")
        || name.starts_with("Pause Final ")
        || name == "Concurrent cleanup"
        || name.starts_with("Pause Degenerated")
    {
        Some("Shenandoah")
    } else {
        None
    }
}

/// Region size from `[gc,init] Heap Region Size: 1M`, for tests.
#[cfg(test)]
fn region(parser: &JvmParser) -> Option<u64> {
    parser.region_bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LogFormat;

    fn parse(lines: &[&str]) -> (GcLog, Vec<LineUse>, JvmParser) {
        let mut parser = JvmParser::default();
        let (log, uses) = crate::parse::parse_lines(&mut parser, LogFormat::Jvm, lines);
        (log, uses, parser)
    }

    const M: u64 = 1024 * 1024;

    #[test]
    fn g1_pauses_cycles_and_metadata() {
        let (log, uses, parser) = parse(&[
            "[0.003s][info][gc] Using G1",
            "[0.005s][info][gc,init] Heap Region Size: 1M",
            "[0.005s][info][gc,init] Heap Max Capacity: 128M",
            "[0.049s][info][gc,start    ] GC(0) Pause Young (Normal) (G1 Evacuation Pause)",
            "[0.051s][info][gc,heap     ] GC(0) Old regions: 2->5",
            "[0.051s][info][gc          ] GC(0) Pause Young (Normal) (G1 Evacuation Pause) 6M->3M(128M) 2.335ms",
            "[0.110s][8541][info][gc    ] GC(9) Concurrent Mark Cycle",
            "[0.124s][8545][info][gc    ] GC(9) Pause Remark 47M->47M(64M) 0.377ms",
            "[0.125s][8545][info][gc    ] GC(9) Pause Cleanup 47M->47M(64M) 0.003ms",
            "[0.127s][8541][info][gc    ] GC(9) Concurrent Mark Cycle 16.197ms",
            "[0.2s][info][gc] GC(10) Pause Young (Mixed) (G1 Evacuation Pause) 50M->20M(64M) 3.0ms",
            "[0.3s][info][gc] GC(11) Pause Full (System.gc()) 24M->4M(56M) 11.4ms",
        ]);
        assert_eq!(log.collector.as_deref(), Some("G1"));
        assert_eq!(log.max_heap_bytes, Some(128 * M));
        assert_eq!(region(&parser), Some(M));
        assert_eq!(uses[3], LineUse::Detail);
        assert_eq!(uses[6], LineUse::Detail);
        let events: Vec<_> = log
            .events
            .iter()
            .map(|e| (e.collection, e.kind, &*e.name, e.pause_ms))
            .collect();
        assert_eq!(
            events,
            [
                (0, GcKind::Minor, "Pause Young (Normal)", Some(2.335)),
                (9, GcKind::Major, "Pause Remark", Some(0.377)),
                (9, GcKind::Major, "Pause Cleanup", Some(0.003)),
                (9, GcKind::Major, "Concurrent Mark Cycle", None),
                (10, GcKind::Major, "Pause Young (Mixed)", Some(3.0)),
                (11, GcKind::Full, "Pause Full", Some(11.4)),
            ]
        );
        let young = &log.events[0];
        assert_eq!(young.t_s, Some(0.051));
        assert_eq!(young.cause.as_deref(), Some("G1 Evacuation Pause"));
        assert_eq!(young.promoted_bytes, Some(3 * M));
        assert_eq!(
            (
                young.heap_before_bytes,
                young.heap_after_bytes,
                young.heap_total_bytes
            ),
            (Some(6 * M), Some(3 * M), Some(128 * M))
        );
        assert!(!log.events[1].ends_collection);
        assert_eq!(log.events[3].concurrent_ms, Some(16.197));
        assert_eq!(log.events[5].cause.as_deref(), Some("System.gc()"));
        assert_eq!((log.first_t_s, log.last_t_s), (Some(0.003), Some(0.3)));
    }

    #[test]
    fn parallel_generations_give_promotion() {
        let (log, _, _) = parse(&[
            "[0.118s][info][gc,heap     ] GC(0) PSYoungGen: 32256K(37888K)->5104K(37888K) Eden: 32256K(32256K)->0K(32256K) From: 0K(5632K)->5104K(5632K)",
            "[0.118s][info][gc,heap     ] GC(0) ParOldGen: 100K(86016K)->1124K(86016K)",
            "[0.118s][info][gc          ] GC(0) Pause Young (Allocation Failure) 32M->2M(123M) 8.684ms",
        ]);
        assert_eq!(log.events.len(), 1);
        assert_eq!(log.events[0].promoted_bytes, Some(1024 * 1024));
        assert_eq!(log.events[0].cause.as_deref(), Some("Allocation Failure"));
    }

    #[test]
    fn generational_zgc_minor_collections_prefix_their_phases_with_lowercase_y() {
        // JDK 25, -Xlog:gc*: a minor collection's phases say `y:`, a major
        // collection's `Y:` and `O:`.
        let (log, _, _) = parse(&[
            "[0.068s][info][gc          ] GC(3) Minor Collection (Allocation Rate)",
            "[0.068s][info][gc,phases   ] GC(3) y: Pause Mark Start 0.006ms",
            "[0.069s][info][gc,phases   ] GC(3) y: Concurrent Mark 0.268ms",
            "[0.069s][info][gc,phases   ] GC(3) y: Pause Mark End 0.004ms",
            "[0.069s][info][gc,phases   ] GC(3) y: Pause Relocate Start 0.003ms",
            "[0.069s][info][gc,phases   ] GC(3) y: Young Generation 32M(50%)->8M(12%) 0.001s",
            "[0.069s][info][gc          ] GC(3) Minor Collection (Allocation Rate) 32M(50%)->8M(12%) 0.001s",
            "[0.053s][info][gc,phases   ] GC(4) O: Pause Mark End 0.004ms",
        ]);
        let pauses: Vec<_> = log
            .events
            .iter()
            .filter_map(|e| e.pause_ms.map(|p| (e.kind, p)))
            .collect();
        assert_eq!(
            pauses,
            [
                (GcKind::Minor, 0.006),
                (GcKind::Minor, 0.004),
                (GcKind::Minor, 0.003),
                (GcKind::Major, 0.004),
            ]
        );
    }

    #[test]
    fn zgc_shenandoah_and_decorators() {
        let (log, uses, _) = parse(&[
            "[2024-05-01T10:00:00.194+0000][info][gc] GC(0) Garbage Collection (Warmup) 52M(41%)->10M(8%)",
            "[2024-05-01T10:00:00.200+0000][info][gc,phases] GC(0) Pause Mark Start 0.012ms",
            "[2024-05-01T10:00:00.201+0000][info][gc,phases] GC(0) Concurrent Mark 1.2ms",
            "[1714557600300ms][info][gc] GC(1) Concurrent cleanup 33M->11M(128M) 0.018ms",
            "[1714557600301ms][info][gc] GC(1) Pause Init Mark (unload classes) 0.012ms",
            "[0.5s][info][gc] GC(2) Y: Pause Mark Start 0.010ms",
            "[0.6s][info][gc] GC(2) Minor Collection (Allocation Rate) 56M(1%)->10M(0%) 0.021s",
        ]);
        assert_eq!(uses[2], LineUse::Detail);
        let kinds: Vec<_> = log.events.iter().map(|e| (e.kind, e.pause_ms)).collect();
        assert_eq!(
            kinds,
            [
                (GcKind::Major, None),
                (GcKind::Major, Some(0.012)),
                (GcKind::Major, None),
                (GcKind::Major, Some(0.012)),
                (GcKind::Minor, Some(0.010)),
                (GcKind::Minor, None),
            ]
        );
        assert_eq!(log.clock, Clock::Wall);
        assert_eq!(log.events[0].t_s, Some(1_714_557_600.194));
        assert_eq!(log.events[3].t_s, Some(1_714_557_600.301));
        assert_eq!(log.events[0].heap_after_bytes, Some(10 * M));
        assert_eq!(log.events[0].heap_total_bytes, None);
        assert_eq!(log.events[4].cause, None);
        assert_eq!(log.events[5].concurrent_ms, Some(21.0));
        assert_eq!(log.collector.as_deref(), Some("ZGC"));
    }

    #[test]
    fn cut_garbled_and_bare_lines() {
        let (log, uses, _) = parse(&[
            "GC(3) Pause Young (Allocation Failure) 32M->2M(123M) 8.684ms",
            "[0.1s][info][gc] GC(4) Pause Young (Allocation Failure) 32M->2M(123M) 8.6",
            "[0.1s][info][gc] GC(5) Pause Young (Allocation Failure) 32M->2",
            "app says GC(6) Pause Young 1M->0M(2M) 1ms",
            "noise[0.2s][info][gc] GC(7) Pause Young (Allocation Failure) 3M->1M(8M) 1.000ms",
            "[0.1s][info][gc,stats] Pause Init Mark (N)    12 us",
            "[INFO] GC(8) Pause Young (Allocation Failure) 3M->1M(8M) 1.000ms",
        ]);
        assert_eq!(
            uses,
            [
                LineUse::Event,
                LineUse::Malformed,
                LineUse::Malformed,
                LineUse::Skipped,
                LineUse::Event,
                LineUse::Detail,
                LineUse::Skipped,
            ]
        );
        assert_eq!(log.events.len(), 2);
        assert_eq!(log.events[1].t_s, Some(0.2));
    }

    #[test]
    fn decimal_commas_and_a_restarted_jvm() {
        let (log, _, _) = parse(&[
            "[0.005s][info][gc] Using G1",
            "[0,051s][info][gc] GC(0) Pause Young (Normal) (G1 Evacuation Pause) 8M->1M(64M) 1,570ms",
            "[1,700s][info][gc] GC(1) Pause Young (Normal) (G1 Evacuation Pause) 8M->1M(64M) 0,906ms",
            "[0.004s][info][gc] Using G1",
            "[0,049s][info][gc] GC(0) Pause Young (Normal) (G1 Evacuation Pause) 8M->1M(64M) 2,000ms",
        ]);
        let events: Vec<_> = log
            .events
            .iter()
            .map(|e| (e.t_s, e.pause_ms, e.run))
            .collect();
        assert_eq!(
            events,
            [
                (Some(0.051), Some(1.57), 0),
                (Some(1.7), Some(0.906), 0),
                (Some(0.049), Some(2.0), 1)
            ]
        );
        assert_eq!(log.run_starts, [4]);
        assert_ne!(log.events[0].collection, log.events[2].collection);
        assert!((log.duration_s().unwrap() - (1.695 + 0.045)).abs() < 1e-9);
    }
}

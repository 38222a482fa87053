//! JDK 8 (and 7) `-verbose:gc` / `-XX:+PrintGCDetails`, with or without
//! `-XX:+PrintGCTimeStamps` and `-XX:+PrintGCDateStamps`, and the flags
//! users add to them.
//!
//! ```text
//! 2015-05-26T14:45:37.987-0200: 151.126: [GC (Allocation Failure) [PSYoungGen: 132096K->16182K(152576K)] 132096K->16190K(500736K), 0.0195640 secs] [Times: user=0.06 sys=0.00, real=0.02 secs]
//! 172.829: [Full GC (Ergonomics) [PSYoungGen: 93677K->70109K(254976K)] [ParOldGen: 499597K->511230K(761856K)] 593275K->581339K(1016832K), [Metaspace: 2936K->2936K(1056768K)], 0.0713174 secs] [Times: user=0.21 sys=0.02, real=0.07 secs]
//! 0.107: [GC pause (G1 Evacuation Pause) (young), 0.0041820 secs]
//!    [Eden: 24.0M(24.0M)->0.0B(13.0M) Survivors: 0.0B->3072.0K Heap: 24.0M(256.0M)->21.8M(256.0M)]
//! 12.357: [GC 12.357: [ParNew
//! Desired survivor size 134217728 bytes, new threshold 1 (max 1)
//! - age   1:   19742112 bytes,   19742112 total
//! : 830688K->25255K(1310720K), 0.1302057 secs] 830688K->36167K(4980736K), 0.1306264 secs]
//! 25.465: [Pause Init Mark, 43.460 ms]                                    Shenandoah backport
//! ```
//!
//! An event is assembled from its `[GC`, `[Full GC` (or the Shenandoah
//! backport's `[Pause`) to the matching `]`, across as many lines as it
//! takes: tenuring distributions, adaptive-size and G1 ergonomics lines,
//! reference phases, FLS statistics, class histograms, heap-at-GC blocks
//! and concurrent phases another thread printed into it all sit inside
//! the brackets ([`event`] reads the assembled text). An event printed
//! inside another (the young collection of `-XX:+CMSScavengeBeforeRemark`)
//! is an event of its own. An event whose end never comes (the file was
//! cut, or the JVM died and a new one started writing) is counted as
//! unfinished, with its lines, never guessed.
//!
//! A file holds several runs when the uptime goes back or a JVM header
//! (`Java HotSpot(TM) …`, `OpenJDK …`, `CommandLine flags:`) follows
//! events; the header at the top of each file of a rotated set is not a
//! restart.

mod event;

use crate::model::{Clock, GcEvent, GcKind, GcLog};
use crate::scan::Interner;

use super::{FormatParser, LineUse};
use event::{Heap, Parsed, g1_heap_line, prefix_time};

/// An event still open after this many lines, or this many bytes, never
/// ends: its brackets are garbled. (A class histogram inside a full
/// collection has a line per class: tens of thousands.)
const MAX_EVENT_LINES: u64 = 500_000;
const MAX_EVENT_BYTES: usize = 64 << 20;

pub(crate) struct Jvm8Parser {
    names: Interner,
    next_collection: u64,
    /// The G1 pause (index into the events) still waiting for its
    /// `[Eden: … Heap: …]` line.
    awaiting_g1_heap: Option<usize>,
    open: Option<Open>,
    last_uptime: Option<f64>,
    /// No event since the start of the current file: its header is not a
    /// restart.
    at_file_start: bool,
    /// A JVM header started a run and no event has come since: the first
    /// event's uptime going back is the same restart.
    fresh_run: bool,
    /// The Shenandoah backport's current cycle.
    shenandoah_cycle: Option<u64>,
}

impl Default for Jvm8Parser {
    fn default() -> Self {
        Jvm8Parser {
            names: Interner::default(),
            next_collection: 0,
            awaiting_g1_heap: None,
            open: None,
            last_uptime: None,
            at_file_start: true,
            fresh_run: false,
            shenandoah_cycle: None,
        }
    }
}

/// An event being assembled.
struct Open {
    /// From its `[` on.
    text: String,
    depth: usize,
    first_line: u64,
    lines: u64,
    time: Option<(f64, Clock)>,
    /// Events that started inside this one and are still open.
    nested: Vec<Nested>,
}

struct Nested {
    offset: usize,
    depth: usize,
    line: u64,
    time: Option<(f64, Clock)>,
}

impl FormatParser for Jvm8Parser {
    fn line(&mut self, line: &str, number: u64, log: &mut GcLog) -> LineUse {
        let mut used = LineUse::Skipped;
        let mut position = None;
        if self.open.is_some() && is_jvm_header(line) {
            // The JVM died in the middle of an event and a new one writes.
            self.give_up(log);
        }
        if let Some(open) = &mut self.open {
            open.text.push('\n');
            open.lines += 1;
            used = LineUse::Detail;
            position = self.advance(line, 0, number, log, &mut used);
            if position.is_none() {
                self.check_limits(log);
                return used;
            }
        }
        let mut from = match position {
            Some(at) => at,
            None => {
                if let Some(metadata) = self.metadata(line, number, log) {
                    return metadata;
                }
                0
            }
        };
        while let Some(start) = event_start(line, from) {
            let time = prefix_time(&line[from..start]);
            self.open = Some(Open {
                text: String::new(),
                depth: 0,
                first_line: number,
                lines: 1,
                time,
                nested: Vec::new(),
            });
            if used == LineUse::Skipped {
                used = LineUse::Detail;
            }
            match self.advance(line, start, number, log, &mut used) {
                Some(end) => from = end,
                None => break,
            }
        }
        if self.open.is_none() && self.awaiting_g1_heap.is_some() && from > 0 {
            // `…, 0.3314995 secs][Eden: … Heap: …]` on the event's own line.
            let rest = &line[from..];
            if rest.contains("[Eden:") && rest.contains("Heap:") {
                self.g1_heap(rest, log);
            }
        }
        used
    }

    fn new_file(&mut self) {
        self.at_file_start = true;
    }

    fn finish(&mut self, log: &mut GcLog) {
        if self.open.is_some() {
            self.give_up(log);
        }
    }
}

impl Jvm8Parser {
    /// Lines outside events: the command line, a JVM header (a restart),
    /// G1's heap line.
    fn metadata(&mut self, line: &str, number: u64, log: &mut GcLog) -> Option<LineUse> {
        if let Some(flags) = line.trim_start().strip_prefix("CommandLine flags:") {
            if let Some(max) = max_heap_flag(flags) {
                log.max_heap_bytes = Some(max);
            }
            if let Some(collector) = collector_flag(flags) {
                log.collector = Some(collector.to_string());
            }
        }
        if is_jvm_header(line) {
            if !self.at_file_start && !self.fresh_run && !log.events.is_empty() {
                log.new_run(number);
                self.fresh_run = true;
                self.shenandoah_cycle = None;
            }
            return Some(LineUse::Detail);
        }
        if self.awaiting_g1_heap.is_some()
            && line.contains("[Eden:")
            && line.contains("Heap:")
            && event_start(line, 0).is_none()
        {
            self.g1_heap(line, log);
            return Some(LineUse::Detail);
        }
        None
    }

    /// G1's `[Eden: … Heap: …]` gives the sizes of the pause before it.
    fn g1_heap(&mut self, line: &str, log: &mut GcLog) {
        if let Some(index) = self.awaiting_g1_heap.take()
            && let (Some(event), Some(g1)) = (log.events.get_mut(index), g1_heap_line(line))
        {
            {
                let (before, after, total) = g1.heap;
                let young = g1.young;
                event.heap_before_bytes = Some(before);
                event.heap_after_bytes = Some(after);
                event.heap_total_bytes = Some(total);
                if event.kind == GcKind::Minor
                    && let Some((young_before, young_after)) = young
                {
                    let freed_young = young_before.saturating_sub(young_after);
                    event.promoted_bytes =
                        Some(freed_young.saturating_sub(before.saturating_sub(after)));
                }
            }
        }
    }

    /// Feeds `line[from..]` to the open event; returns where the text after
    /// its closing `]` starts when it closed on this line.
    fn advance(
        &mut self,
        line: &str,
        from: usize,
        number: u64,
        log: &mut GcLog,
        used: &mut LineUse,
    ) -> Option<usize> {
        if from == 0 && is_class_histogram_row(line) {
            // `   1:   9249662   876131272  [C`: a class name, no bracket,
            // and nothing the event says.
            return None;
        }
        let mut address_range_end = None;
        for (i, c) in line[from..].char_indices() {
            let at = from + i;
            let open = self.open.as_mut()?;
            if address_range_end.is_some_and(|end| at <= end) {
                open.text.push(c);
                continue;
            }
            match c {
                '[' if line[at + 1..].starts_with("0x") => {
                    // `[0x…, 0x…, 0x…)` (heap at GC) or `[0x…,0x…]` (G1
                    // remembered-set summaries): an address range, no bracket.
                    address_range_end = address_range_close(line, at);
                    open.text.push(c);
                }
                '[' => {
                    open.depth += 1;
                    if open.depth > 1 && opens_event(&line[at + 1..]) {
                        let line_start = line[..at].rfind(']').map_or(0, |p| p + 1);
                        open.nested.push(Nested {
                            offset: open.text.len(),
                            depth: open.depth,
                            line: number,
                            time: prefix_time(&line[line_start..at]),
                        });
                    }
                    open.text.push(c);
                }
                ']' if open.depth > 0 => {
                    open.text.push(c);
                    if open.nested.last().is_some_and(|n| n.depth == open.depth)
                        && let Some(nested) = open.nested.pop()
                    {
                        let text = open.text[nested.offset..].to_string();
                        let result = self.emit(&text, true, nested.line, nested.time, log);
                        merge(used, result);
                    }
                    let open = self.open.as_mut()?;
                    open.depth -= 1;
                    if open.depth == 0 {
                        let Open {
                            text,
                            first_line,
                            lines,
                            time,
                            nested,
                            ..
                        } = self.open.take()?;
                        log.lines.unfinished_events += nested.len() as u64;
                        let result = self.emit(&text, false, first_line, time, log);
                        if result == LineUse::Malformed {
                            log.lines.unread += lines.saturating_sub(1);
                        }
                        merge(used, result);
                        return Some(at + 1);
                    }
                }
                _ => open.text.push(c),
            }
        }
        None
    }

    /// Turns an assembled event into a [`GcEvent`].
    fn emit(
        &mut self,
        text: &str,
        nested: bool,
        line: u64,
        time: Option<(f64, Clock)>,
        log: &mut GcLog,
    ) -> LineUse {
        if text.starts_with("[Pause ") && text.ends_with(", start]") {
            // The Shenandoah backport announces a pause before it ends.
            return LineUse::Detail;
        }
        let Some(parsed) = event::parse(text, nested) else {
            return LineUse::Malformed;
        };
        if let Some((t, Clock::Uptime)) = time {
            if !nested
                && !self.fresh_run
                && self.last_uptime.is_some_and(|last| t < last - 1.0)
                && !log.events.is_empty()
            {
                log.new_run(line);
                self.shenandoah_cycle = None;
            }
            self.last_uptime = Some(t);
        }
        if let Some((t, clock)) = time {
            log.saw_time(t, clock);
        }
        if log.collector.is_none() {
            log.collector = parsed.collector.map(str::to_string);
        }
        let collection = self.collection(&parsed);
        let Parsed {
            kind,
            name,
            cause,
            pause_ms,
            heap,
            promoted_bytes,
            ends_collection,
            g1,
            ..
        } = parsed;
        let mut event = GcEvent::new(line, collection, kind, self.names.get(&name));
        event.t_s = time.map(|(t, _)| t);
        event.pause_ms = Some(pause_ms);
        event.cause = cause.map(|c| self.names.get(&c));
        event.ends_collection = ends_collection;
        event.promoted_bytes = promoted_bytes;
        event.run = log.run();
        match heap {
            Some(Heap::Change(before, after, total)) => {
                event.heap_before_bytes = Some(before);
                event.heap_after_bytes = Some(after);
                event.heap_total_bytes = total;
            }
            Some(Heap::Occupancy(used, total)) => {
                event.heap_before_bytes = Some(used);
                event.heap_after_bytes = Some(used);
                event.heap_total_bytes = Some(total);
            }
            None => {}
        }
        self.awaiting_g1_heap =
            (g1 && event.heap_after_bytes.is_none()).then_some(log.events.len());
        log.events.push(event);
        self.at_file_start = false;
        self.fresh_run = false;
        LineUse::Event
    }

    /// Every event is a collection of its own, except the pauses of one
    /// Shenandoah cycle (from its `Pause Init Mark`).
    fn collection(&mut self, parsed: &Parsed) -> u64 {
        let shenandoah = parsed.name.starts_with("Pause ");
        if shenandoah
            && !parsed.starts_cycle
            && let Some(cycle) = self.shenandoah_cycle
        {
            return cycle;
        }
        let id = self.next_collection;
        self.next_collection += 1;
        self.shenandoah_cycle = shenandoah.then_some(id);
        id
    }

    /// An event that never ended: its lines were not read.
    fn give_up(&mut self, log: &mut GcLog) {
        if let Some(open) = self.open.take() {
            log.lines.unfinished_events += 1 + open.nested.len() as u64;
            log.lines.unread += open.lines;
        }
    }

    fn check_limits(&mut self, log: &mut GcLog) {
        if self
            .open
            .as_ref()
            .is_some_and(|o| o.lines > MAX_EVENT_LINES || o.text.len() > MAX_EVENT_BYTES)
        {
            self.give_up(log);
        }
    }
}

/// Where the address range opened by the `[0x` at `at` closes (its `)` or
/// `]` on the same line).
pub(super) fn address_range_close(line: &str, at: usize) -> Option<usize> {
    line[at + 1..]
        .find([')', ']'])
        .map(|offset| at + 1 + offset)
}

/// A row of a class histogram (`-XX:+PrintClassHistogramBeforeFullGC`):
/// `num: instances bytes class`. Its class name can be an array type
/// (`[C`, `[Ljava.lang.Object;`) whose `[` opens nothing.
fn is_class_histogram_row(line: &str) -> bool {
    let Some((num, rest)) = line.trim_start().split_once(':') else {
        return false;
    };
    let mut fields = rest.split_ascii_whitespace();
    let number = |f: Option<&str>| f.is_some_and(|f| f.bytes().all(|b| b.is_ascii_digit()));
    !num.is_empty()
        && num.bytes().all(|b| b.is_ascii_digit())
        && number(fields.next())
        && number(fields.next())
        && fields.next().is_some()
}

/// A line's use when it holds several events' ends.
fn merge(used: &mut LineUse, result: LineUse) {
    *used = match (*used, result) {
        (_, LineUse::Event) | (LineUse::Event, _) => LineUse::Event,
        (_, LineUse::Malformed) | (LineUse::Malformed, _) => LineUse::Malformed,
        _ => LineUse::Detail,
    };
}

/// Where the next event (`[GC`, `[Full GC`, `[Pause`) starts at or after
/// `from`. Not events: concurrent phases (`[GC concurrent-…]`), G1 worker
/// detail lines, reference processing (`[GC ref-proc`), `[Times: …]`.
/// Accepted: a time stamp glued to it (`[GC2015-11-18T…`, `[Full GC0.855:`),
/// `[GC--` (promotion failed), `[GCBefore GC:` (FLS statistics),
/// `[GCAdaptiveSizePolicy::…`, `[Full GCAdaptiveSizeStart:` (JDK 1.4–6
/// `-XX:+PrintAdaptiveSizePolicy`).
fn event_start(line: &str, from: usize) -> Option<usize> {
    let mut search = from;
    while let Some(found) = line.get(search..)?.find('[') {
        let at = search + found;
        search = at + 1;
        if opens_event(&line[at + 1..]) {
            return Some(at);
        }
    }
    None
}

/// Whether the text after a `[` opens an event.
fn opens_event(rest: &str) -> bool {
    let after = if let Some(after) = rest.strip_prefix("Full GC") {
        after
    } else if let Some(after) = rest.strip_prefix("GC") {
        after
    } else if let Some(after) = rest.strip_prefix("Pause ") {
        return after.starts_with(|c: char| c.is_ascii_uppercase());
    } else {
        return false;
    };
    if let Some(next) = after.strip_prefix(' ') {
        let next = next.trim_start();
        return !["concurrent", "Worker", "ref-proc", "Lock"]
            .iter()
            .any(|word| next.starts_with(word));
    }
    after.starts_with(['(', '[', '-'])
        || after.starts_with(|c: char| c.is_ascii_digit())
        || after.starts_with("Before")
        || after.starts_with("AdaptiveSize")
}

/// The first lines a JDK 8 JVM writes to its GC log.
fn is_jvm_header(line: &str) -> bool {
    let line = line.trim_start();
    line.starts_with("Java HotSpot(TM)")
        || (line.starts_with("OpenJDK") && line.contains(" VM ("))
        || line.starts_with("CommandLine flags:")
}

/// `-XX:MaxHeapSize=268435456` among the command-line flags.
fn max_heap_flag(flags: &str) -> Option<u64> {
    let value = flags
        .split_ascii_whitespace()
        .find_map(|f| f.strip_prefix("-XX:MaxHeapSize="))?;
    let (bytes, rest) = crate::scan::integer(value)?;
    rest.is_empty().then_some(bytes)
}

/// The collector the command-line flags choose.
fn collector_flag(flags: &str) -> Option<&'static str> {
    flags.split_ascii_whitespace().find_map(|flag| match flag {
        "-XX:+UseG1GC" => Some("G1"),
        "-XX:+UseConcMarkSweepGC" => Some("CMS"),
        "-XX:+UseParallelGC" | "-XX:+UseParallelOldGC" => Some("Parallel"),
        "-XX:+UseSerialGC" => Some("Serial"),
        "-XX:+UseShenandoahGC" => Some("Shenandoah"),
        _ => None,
    })
}

#[cfg(test)]
mod tests;

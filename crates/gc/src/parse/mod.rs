//! One parser per log format family. Each reads one complete line at a
//! time, keeps whatever state its format needs (the JVM's generation sizes
//! that precede a pause line, JDK 8 G1's heap line that follows one), and
//! adds events to a [`GcLog`].

mod go;
mod jvm;
mod jvm8;
mod node;
mod node_nvp;

use crate::model::{GcLog, LogFormat};

/// What a line was to the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineUse {
    /// The line reported a pause or collection: one event was added.
    Event,
    /// The line added detail to an event, or carried metadata (collector,
    /// maximum heap): not an event, counted as skipped.
    Detail,
    /// Not a line of this format's GC events.
    Skipped,
    /// Looked like an event line of this format but could not be read.
    Malformed,
}

/// A parser for one format family.
pub(crate) trait FormatParser: Send {
    /// Reads one complete line (without its line ending). Line numbers
    /// start at 1.
    fn line(&mut self, line: &str, number: u64, log: &mut GcLog) -> LineUse;

    /// A new file of a rotated set starts with the next line: its header
    /// lines are not a restart of the program.
    fn new_file(&mut self) {}

    /// The input has ended: an event still open is unfinished, and runs
    /// that only the whole log shows are assigned.
    fn finish(&mut self, _log: &mut GcLog) {}
}

/// A fresh parser for `format`.
pub(crate) fn parser_for(format: LogFormat) -> Box<dyn FormatParser> {
    match format {
        LogFormat::Node => Box::new(node::NodeParser::default()),
        LogFormat::NodeNvp => Box::new(node_nvp::NvpParser::default()),
        LogFormat::Jvm => Box::new(jvm::JvmParser::default()),
        LogFormat::Jvm8 => Box::new(jvm8::Jvm8Parser::default()),
        LogFormat::Go => Box::new(go::GoParser::default()),
    }
}

/// A Node `[pid:isolate]` line header found in a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NodeHeader<'a> {
    /// Where the `[` is.
    pub start: usize,
    /// The process id.
    pub pid: &'a str,
    /// The isolate address: `0x25567c00`, or on Windows `000001C3A99505C0`.
    pub isolate: &'a str,
    /// The text after the `]`.
    pub rest: &'a str,
}

/// Node's `[pid:0xisolate]` (or `[pid:0xisolate:thread]`; on Windows the
/// isolate has no `0x`: `[7824:000001C3A99505C0]`) line header, found
/// anywhere in the line (application output may precede it on the same
/// line).
pub(crate) fn node_header(line: &str) -> Option<NodeHeader<'_>> {
    node_header_from(line, 0)
}

/// The first Node header at or after byte `from`.
pub(crate) fn node_header_from(line: &str, mut from: usize) -> Option<NodeHeader<'_>> {
    while let Some(found) = line.get(from..)?.find('[') {
        let open = from + found;
        from = open + 1;
        let inside = &line[open + 1..];
        let Some(pid_end) = inside.bytes().position(|b| !b.is_ascii_digit()) else {
            continue;
        };
        if pid_end == 0 || inside.as_bytes()[pid_end] != b':' {
            continue;
        }
        let after = &inside[pid_end + 1..];
        let Some(close) = after.find(']') else {
            continue;
        };
        let group = &after[..close];
        let isolate = group.split(':').next().unwrap_or(group);
        let hex = isolate.strip_prefix("0x").unwrap_or(isolate);
        let windows = !isolate.starts_with("0x");
        if hex.is_empty()
            || !hex.bytes().all(|b| b.is_ascii_hexdigit())
            || (windows && hex.len() < 8)
        {
            continue;
        }
        return Some(NodeHeader {
            start: open,
            pid: &inside[..pid_end],
            isolate,
            rest: &after[close + 1..],
        });
    }
    None
}

/// The `   1234 ms: ` time stamp after a Node header, in seconds, and the
/// rest of the line.
pub(crate) fn node_time(rest: &str) -> Option<(f64, &str)> {
    let (ms, rest) = crate::scan::number(crate::scan::skip_ws(rest))?;
    let rest = crate::scan::expect(rest, "ms:")?;
    Some((ms / 1000.0, rest))
}

/// The text inside each outermost `open`…`close` pair of `text`, in order:
/// `(Normal) (System.gc())` → `Normal`, `System.gc()`. Nested pairs stay
/// whole; a `close` with no `open` before it is ignored.
pub(crate) fn bracketed(text: &str, open: char, close: char) -> impl Iterator<Item = &str> {
    let mut chars = text.char_indices();
    std::iter::from_fn(move || {
        let mut depth = 0usize;
        let mut start = 0;
        for (i, c) in chars.by_ref() {
            if c == open {
                if depth == 0 {
                    start = i + c.len_utf8();
                }
                depth += 1;
            } else if c == close && depth > 0 {
                depth -= 1;
                if depth == 0 {
                    return Some(&text[start..i]);
                }
            }
        }
        None
    })
}

/// Feeds `lines` to `parser`, numbered from 1: the log and what each line was.
#[cfg(test)]
pub(crate) fn parse_lines(
    parser: &mut dyn FormatParser,
    format: LogFormat,
    lines: &[&str],
) -> (GcLog, Vec<LineUse>) {
    let mut log = GcLog::new(format);
    let uses = lines
        .iter()
        .enumerate()
        .map(|(i, l)| parser.line(l, i as u64 + 1, &mut log))
        .collect();
    (log, uses)
}

/// The heaps of a Node log (one per process and isolate) and the runs
/// they make: several processes one after the other in one file (a
/// service restarted with `>>`), or one isolate's clock starting again.
#[derive(Default)]
pub(crate) struct NodeRuns {
    /// (pid, isolate) of each heap, the index of `GcLog::heaps`.
    keys: Vec<(String, String)>,
}

impl NodeRuns {
    /// The heap of `pid`'s isolate, added when new.
    pub(crate) fn heap(&mut self, log: &mut GcLog, pid: &str, isolate: &str) -> u16 {
        if let Some(at) = self.keys.iter().position(|(p, i)| p == pid && i == isolate) {
            return at as u16;
        }
        if self.keys.len() >= usize::from(u16::MAX) {
            return u16::MAX;
        }
        self.keys.push((pid.to_string(), isolate.to_string()));
        log.heaps.push(isolate.to_string());
        (self.keys.len() - 1) as u16
    }

    /// Splits the events into runs. A run ends where one process's last
    /// event is followed by another process's first (processes that
    /// interleave, a cluster's workers, are one run), or where a heap's
    /// clock goes back by more than a second (the same pid reused, or a
    /// log without pids).
    pub(crate) fn assign(&self, log: &mut GcLog) {
        let pid_of = |heap: u16| self.keys.get(usize::from(heap)).map(|k| k.0.as_str());
        let mut first: rustc_hash::FxHashMap<&str, usize> = Default::default();
        let mut last: rustc_hash::FxHashMap<&str, usize> = Default::default();
        for (index, event) in log.events.iter().enumerate() {
            let pid = pid_of(event.heap).unwrap_or("");
            first.entry(pid).or_insert(index);
            last.insert(pid, index);
        }
        let mut starts = Vec::new();
        let mut clocks: Vec<Option<f64>> = vec![None; self.keys.len() + 1];
        let mut previous_pid: Option<&str> = None;
        let mut run = 0u16;
        let mut spans: Vec<Option<(f64, f64)>> = vec![None];
        for index in 0..log.events.len() {
            let event = &log.events[index];
            let pid = pid_of(event.heap).unwrap_or("");
            let mut restart = false;
            if let Some(previous) = previous_pid
                && previous != pid
                && last.get(previous).is_some_and(|&l| l < index)
                && first.get(pid) == Some(&index)
            {
                restart = true;
            }
            let slot = usize::from(event.heap).min(clocks.len() - 1);
            if let (Some(t), Some(seen)) = (event.t_s, clocks[slot])
                && t < seen - 1.0
            {
                restart = true;
            }
            if restart {
                run = run.saturating_add(1);
                starts.push(event.line);
                spans.push(None);
                clocks.iter_mut().for_each(|c| *c = None);
            }
            if let Some(t) = event.t_s {
                clocks[slot] = Some(t);
                let span = &mut spans[usize::from(run)];
                *span = Some(span.map_or((t, t), |(a, b)| (a.min(t), b.max(t))));
            }
            previous_pid = Some(pid);
            log.events[index].run = run;
        }
        if !starts.is_empty() {
            log.run_starts = starts;
            log.run_spans = spans;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_headers_anywhere_in_the_line() {
        let header = node_header("[4678:0x25567c00]       25 ms: Scavenge").unwrap();
        assert_eq!((header.pid, header.isolate), ("4678", "0x25567c00"));
        assert_eq!(node_time(header.rest).unwrap(), (0.025, " Scavenge"));
        let header = node_header("tick 3[12:0xabc:0]  1 ms: x").unwrap();
        assert_eq!((header.start, header.isolate), (6, "0xabc"));
        let windows = node_header("[12168:00000145D1BE67B0]   199025 ms: Mark-sweep").unwrap();
        assert_eq!(windows.isolate, "00000145D1BE67B0");
        assert!(node_header("[a:0x12] 1 ms:").is_none());
        assert!(node_header("[12:0xZZ] 1 ms:").is_none());
        assert!(node_header("[12:34] 1 ms:").is_none());
        assert!(node_header("no header :0x").is_none());
    }

    #[test]
    fn bracketed_groups_are_the_outermost_ones() {
        let groups = |text| bracketed(text, '(', ')').collect::<Vec<_>>();
        assert_eq!(
            groups("Pause Young (Normal) (G1 Evacuation Pause)"),
            ["Normal", "G1 Evacuation Pause"]
        );
        assert_eq!(groups("Pause Full (System.gc())"), ["System.gc()"]);
        assert_eq!(groups(") (a) (b"), ["a"]);
        assert!(groups("no groups").is_empty());
        let sections: Vec<_> = bracketed("[A: 1] x [B: [C] 2]", '[', ']').collect();
        assert_eq!(sections, ["A: 1", "B: [C] 2"]);
    }
}

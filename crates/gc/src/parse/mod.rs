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

/// Node's `[pid:0xisolate]` (or `[pid:0xisolate:thread]`) line header,
/// found anywhere in the line (application output may precede it on the
/// same line). Returns the isolate address and the text after the `]`.
pub(crate) fn node_header(line: &str) -> Option<(&str, &str)> {
    let mut from = 0;
    while let Some(found) = line[from..].find(":0x") {
        let colon = from + found;
        from = colon + 3;
        let open = match line[..colon].rfind('[') {
            Some(open) => open,
            None => continue,
        };
        let pid = &line[open + 1..colon];
        if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let after = &line[colon + 1..];
        let Some(close) = after.find(']') else {
            continue;
        };
        let inside = &after[..close];
        let isolate = inside.split(':').next().unwrap_or(inside);
        if isolate.len() < 3 || !isolate[2..].bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        return Some((isolate, &after[close + 1..]));
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

/// The index of `isolate` in `log.heaps`, adding it when new.
pub(crate) fn heap_index(log: &mut GcLog, isolate: &str) -> u16 {
    if let Some(at) = log.heaps.iter().position(|h| h == isolate) {
        return at as u16;
    }
    if log.heaps.len() >= usize::from(u16::MAX) {
        return u16::MAX;
    }
    log.heaps.push(isolate.to_string());
    (log.heaps.len() - 1) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_headers_anywhere_in_the_line() {
        let (isolate, rest) = node_header("[4678:0x25567c00]       25 ms: Scavenge").unwrap();
        assert_eq!(isolate, "0x25567c00");
        assert_eq!(node_time(rest).unwrap(), (0.025, " Scavenge"));
        let (isolate, _) = node_header("tick 3[12:0xabc:0]  1 ms: x").unwrap();
        assert_eq!(isolate, "0xabc");
        assert!(node_header("[a:0x12] 1 ms:").is_none());
        assert!(node_header("[12:0xZZ] 1 ms:").is_none());
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

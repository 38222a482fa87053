//! Node.js / V8 `--trace-gc-nvp`: one line of name=value pairs per
//! collection, sizes in bytes.
//!
//! ```text
//! [4688:0x22569c00]       16 ms: pause=1.1 mutator=10.9 gc=s reduce_memory=0 … total_size_before=4074344 total_size_after=3691232 holes_size_before=7248 … allocated=4074344 promoted=0 … unmapper_chunks=0
//! [9:0x3b2e000]       16 ms: GC: {"pause":1.1,"mutator":10.9,"gc":"s",…,"start_object_size":4074344,"end_object_size":3691232,"start_memory_size":5242880,"end_memory_size":6291456,…,"promoted":0,…}
//! ```
//!
//! The first form is Node 20 and earlier, the second newer V8. `gc` is `s`
//! (Scavenge), `mms`/`mmc` (Minor Mark-Sweep/-Compact), `mc`/`ms`
//! (Mark-Compact, Mark-sweep). A value that ends the line is not trusted:
//! the line may have been cut there.

use std::sync::Arc;

use crate::model::{Clock, GcEvent, GcKind, GcLog};
use crate::scan::{Interner, number, skip_ws, to_bytes};

use super::{FormatParser, LineUse, NodeRuns, node_header, node_time};

#[derive(Default)]
pub(crate) struct NvpParser {
    names: Interner,
    next_collection: u64,
    runs: NodeRuns,
}

/// The fields a collection needs, whichever syntax carried them.
#[derive(Default)]
struct Fields {
    pause: Option<f64>,
    gc: Option<String>,
    before: Option<f64>,
    after: Option<f64>,
    total_after: Option<f64>,
    promoted: Option<f64>,
    reason: Option<String>,
}

impl FormatParser for NvpParser {
    fn line(&mut self, line: &str, number: u64, log: &mut GcLog) -> LineUse {
        let Some(header) = node_header(line) else {
            return LineUse::Skipped;
        };
        let (pid, isolate, rest) = (header.pid, header.isolate, header.rest);
        let Some((t_s, rest)) = node_time(rest) else {
            return LineUse::Skipped;
        };
        let rest = skip_ws(rest);
        let fields = if let Some(json) = rest.strip_prefix("GC:") {
            match json_fields(json) {
                Some(fields) => fields,
                None => return LineUse::Malformed,
            }
        } else if rest.starts_with("pause=") {
            pair_fields(rest)
        } else {
            log.saw_time(t_s, Clock::Uptime);
            return LineUse::Skipped;
        };
        let Some((kind, name)) = fields.gc.as_deref().and_then(kind_of) else {
            // `st` (start) or unknown.
            return if fields.gc.is_some() {
                LineUse::Skipped
            } else {
                LineUse::Malformed
            };
        };
        let (Some(pause), Some(before), Some(after)) = (fields.pause, fields.before, fields.after)
        else {
            return LineUse::Malformed;
        };
        log.saw_time(t_s, Clock::Uptime);
        let heap = self.runs.heap(log, pid, isolate);
        let name: Arc<str> = self.names.get(name);
        let mut event = GcEvent::new(number, self.next_collection, kind, name);
        self.next_collection += 1;
        event.t_s = Some(t_s);
        event.heap = heap;
        event.pause_ms = Some(pause);
        event.heap_before_bytes = to_bytes(before);
        event.heap_after_bytes = to_bytes(after);
        event.heap_total_bytes = fields.total_after.and_then(to_bytes);
        event.promoted_bytes = fields.promoted.and_then(to_bytes);
        event.cause = fields
            .reason
            .as_deref()
            .filter(|r| !r.is_empty())
            .map(|r| self.names.get(r));
        log.events.push(event);
        LineUse::Event
    }

    fn finish(&mut self, log: &mut GcLog) {
        self.runs.assign(log);
    }
}

fn kind_of(gc: &str) -> Option<(GcKind, &'static str)> {
    match gc {
        "s" => Some((GcKind::Minor, "Scavenge")),
        "mms" | "mmc" => Some((GcKind::Minor, "Minor Mark-Sweep")),
        "mc" | "ms" => Some((GcKind::Major, "Mark-Compact")),
        _ => None,
    }
}

/// `name=value name=value …`; the last pair of the line is ignored (it
/// may be cut off).
fn pair_fields(rest: &str) -> Fields {
    let mut fields = Fields::default();
    let mut tokens = rest.split_ascii_whitespace().peekable();
    while let Some(token) = tokens.next() {
        if tokens.peek().is_none() {
            break;
        }
        let Some((key, value)) = token.split_once('=') else {
            continue;
        };
        let numeric = || {
            number(value)
                .filter(|(_, tail)| tail.is_empty())
                .map(|(v, _)| v)
        };
        match key {
            "pause" => fields.pause = numeric(),
            "gc" => fields.gc = Some(value.to_string()),
            "total_size_before" => fields.before = numeric(),
            "total_size_after" => fields.after = numeric(),
            "promoted" => fields.promoted = numeric(),
            _ => {}
        }
    }
    fields
}

/// `GC: {…}` (newer V8): a JSON object; a cut-off line does not parse.
fn json_fields(json: &str) -> Option<Fields> {
    let value: serde_json::Value = serde_json::from_str(json.trim()).ok()?;
    let object = value.as_object()?;
    let num = |key: &str| object.get(key).and_then(serde_json::Value::as_f64);
    let text = |key: &str| object.get(key).and_then(|v| v.as_str()).map(str::to_string);
    Some(Fields {
        pause: num("pause"),
        gc: text("gc"),
        before: num("start_object_size").or_else(|| num("total_size_before")),
        after: num("end_object_size").or_else(|| num("total_size_after")),
        total_after: num("end_memory_size"),
        promoted: num("promoted"),
        reason: text("reason"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LogFormat;

    #[test]
    fn pairs_and_json() {
        let mut log = GcLog::new(LogFormat::NodeNvp);
        let mut parser = NvpParser::default();
        let pairs = "[4688:0x22569c00]       16 ms: pause=1.1 mutator=10.9 gc=s reduce_memory=0 total_size_before=4074344 total_size_after=3691232 allocated=4074344 promoted=500 nodes_promoted=0 unmapper_chunks=0";
        assert_eq!(parser.line(pairs, 1, &mut log), LineUse::Event);
        let json = r#"[9:0x3b2e000]     2016 ms: GC: {"pause":20.5,"mutator":4.5,"gc":"mc","reason":"allocation failure","start_object_size":26744432,"end_object_size":23857272,"start_memory_size":50000000,"end_memory_size":40000000,"promoted":7}"#;
        assert_eq!(parser.line(json, 2, &mut log), LineUse::Event);
        let (s, m) = (&log.events[0], &log.events[1]);
        assert_eq!(
            (s.kind, s.pause_ms, s.promoted_bytes),
            (GcKind::Minor, Some(1.1), Some(500))
        );
        assert_eq!(
            (s.heap_before_bytes, s.heap_after_bytes),
            (Some(4074344), Some(3691232))
        );
        assert_eq!((m.kind, &*m.name), (GcKind::Major, "Mark-Compact"));
        assert_eq!(m.heap_total_bytes, Some(40_000_000));
        assert_eq!(m.cause.as_deref(), Some("allocation failure"));
        assert_eq!(m.t_s, Some(2.016));
    }

    #[test]
    fn cut_lines_are_malformed() {
        let mut log = GcLog::new(LogFormat::NodeNvp);
        let mut parser = NvpParser::default();
        let cut = "[1:0x1]   16 ms: pause=1.1 mutator=10.9 gc=s total_size_before=4074344 total_size_after=36";
        assert_eq!(parser.line(cut, 1, &mut log), LineUse::Malformed);
        let cut_json = r#"[1:0x1]   16 ms: GC: {"pause":20.5,"gc":"mc","start_obj"#;
        assert_eq!(parser.line(cut_json, 2, &mut log), LineUse::Malformed);
        let trace_gc = "[1:0x1]   25 ms: Scavenge 3.9 (4.0) -> 3.5 (5.0) MB, 1.88 / 0.00 ms";
        assert_eq!(parser.line(trace_gc, 3, &mut log), LineUse::Skipped);
        assert!(log.events.is_empty());
    }
}

//! Logs as they are found: application output between the GC lines, a
//! last line cut off while being written, garbage. Nothing panics and
//! nothing is miscounted.

use std::path::Path;

use heapwise_gc::{AnalysisOptions, GcLogReader, LogFormat, analyze, read_log, read_path};

use crate::util::{Count, count_jvm, count_node, count_nvp, test_file};

/// Application output a service prints between GC lines, including lines
/// that contain GC words or brackets but are not GC events.
const APP_LINES: [&str; 8] = [
    "GET /api/users 200 12 ms",
    "Scavenge 3.9 (4.0) -> 3.5 (5.0) MB, 1.88 / 0.00 ms (no V8 header: not V8's)",
    "[INFO] GC(12) Pause Young (Allocation Failure) 3M->1M(8M) 1.000ms",
    "",
    "✓ cache warmed — 100 % of 12,000 entries",
    "[1234:0x5] not a trace line",
    "Exception in thread \"main\" java.lang.IllegalStateException: [gc] GC(",
    "gc 12 is not go's",
];

/// `text` with application lines after every third line and the last GC
/// line appended again, cut in half without its newline.
fn mixed(text: &str, is_gc: impl Fn(&str) -> bool) -> (String, u64) {
    let mut out = String::new();
    let mut lines = 0u64;
    for (i, line) in text.lines().enumerate() {
        if i % 3 == 0 {
            out.push_str(APP_LINES[(i / 3) % APP_LINES.len()]);
            out.push('\n');
            lines += 1;
        }
        out.push_str(line);
        out.push('\n');
        lines += 1;
    }
    let last = text.lines().rev().find(|l| is_gc(l)).unwrap();
    out.push_str(&last[..last.len() / 2]);
    (out, lines)
}

fn check_mixed(path: &Path, count: fn(&str) -> Count, is_gc: fn(&str) -> bool, format: LogFormat) {
    let text = std::fs::read_to_string(path).unwrap();
    let expected = count(&text);
    let (mixed_text, lines) = mixed(&text, is_gc);
    let log = read_log(mixed_text.as_bytes(), None).unwrap();
    assert_eq!(log.format, format);
    let report = analyze(&log, &AnalysisOptions::default());
    assert_eq!(
        report.collections,
        expected.collections,
        "{}",
        path.display()
    );
    assert_eq!(report.pauses.count, expected.pauses, "{}", path.display());
    assert_eq!(report.pauses.max_ms, Some(expected.max_pause_ms));
    // The cut last line is read, found cut, and counted as a line only.
    assert_eq!(log.lines.total, lines + 1);
    assert_eq!(log.lines.malformed, 0);
    assert!(log.lines.truncated_last_line);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("last line is incomplete"))
    );
    // The clean log and the mixed one agree on everything but the lines.
    let clean = analyze(&read_path(path, None).unwrap(), &AnalysisOptions::default());
    assert_eq!(clean.pauses, report.pauses);
    assert_eq!(clean.collections_by_kind, report.collections_by_kind);
    assert_eq!(clean.heap_after_gc.leak, report.heap_after_gc.leak);
}

#[test]
fn interleaved_output_and_a_cut_last_line_in_node_logs() {
    let logs = crate::node::logs();
    let is_gc = |l: &str| l.contains(" ms: Scavenge") || l.contains(" ms: Mark-Compact");
    check_mixed(&logs.leak, count_node, is_gc, LogFormat::Node);
    let is_nvp = |l: &str| l.contains(" ms: pause=");
    check_mixed(&logs.steady_nvp, count_nvp, is_nvp, LogFormat::NodeNvp);
}

#[test]
fn interleaved_output_and_a_cut_last_line_in_jvm_logs() {
    let logs = crate::jvm::logs();
    let is_gc = |l: &str| l.contains(" Pause ") && l.ends_with("ms");
    check_mixed(&logs.g1_leak.gc, count_jvm, is_gc, LogFormat::Jvm);
    check_mixed(
        &logs.parallel_steady.gc_star,
        count_jvm,
        is_gc,
        LogFormat::Jvm,
    );
}

#[test]
fn chunk_boundaries_do_not_matter() {
    let path = &crate::node::logs().leak;
    let bytes = std::fs::read(path).unwrap();
    let whole = read_path(path, None).unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3 {
        let mut reader = GcLogReader::new(None);
        let mut at = 0;
        while at < bytes.len() {
            let n = (1 + rng.next() % 5000) as usize;
            let end = (at + n).min(bytes.len());
            reader.feed(&bytes[at..end]);
            at = end;
        }
        assert_eq!(reader.finish().unwrap(), whole);
    }
}

/// xorshift64: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Real lines of every format, cut, garbled and spliced: every parser, with
/// and without detection, reads them without panicking, and never counts
/// more events than lines.
#[test]
fn garbled_lines_never_panic() {
    let node = crate::node::logs();
    let jvm = crate::jvm::logs();
    let mut sources = vec![
        std::fs::read_to_string(&node.leak).unwrap(),
        std::fs::read_to_string(&node.leak_nvp).unwrap(),
        std::fs::read_to_string(&jvm.g1_leak.gc_star).unwrap(),
    ];
    for fixture in [
        "go_leak.log",
        "jdk8_g1_steady.log",
        "jdk8_cms_steady.log",
        "jdk8_parallel_leak.log",
    ] {
        sources.push(std::fs::read_to_string(test_file(&format!("fixtures/{fixture}"))).unwrap());
    }
    // More rounds by hand: HEAPWISE_GC_FUZZ_ROUNDS=500 cargo test --release …
    let rounds: u64 = std::env::var("HEAPWISE_GC_FUZZ_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    for round in 0..rounds {
        garble_and_read(&sources, 42 + round);
    }
}

fn garble_and_read(sources: &[String], seed: u64) {
    let mut rng = Rng(seed.max(1));
    let mut garbled = Vec::new();
    for source in sources {
        for line in source.lines().take(300) {
            let mut bytes = line.as_bytes().to_vec();
            match rng.next() % 5 {
                0 => bytes.truncate((rng.next() as usize) % (bytes.len() + 1)),
                1 => {
                    for _ in 0..3 {
                        if !bytes.is_empty() {
                            let at = (rng.next() as usize) % bytes.len();
                            bytes[at] = (rng.next() % 256) as u8;
                        }
                    }
                }
                2 => {
                    let at = (rng.next() as usize) % (bytes.len() + 1);
                    bytes.splice(at..at, *b"->(%)[]:0x ms, secs]");
                }
                3 => {
                    let at = (rng.next() as usize) % (bytes.len() + 1);
                    bytes.truncate(at);
                    bytes.extend_from_slice(b"999999999999999999999999.9e400M");
                }
                _ => {}
            }
            garbled.extend_from_slice(&bytes);
            garbled.push(b'\n');
        }
    }
    for _ in 0..20_000 {
        garbled.push((rng.next() % 256) as u8);
    }
    let lines = garbled.iter().filter(|&&b| b == b'\n').count() as u64;
    let mut formats: Vec<Option<LogFormat>> = LogFormat::ALL.iter().copied().map(Some).collect();
    formats.push(None);
    for format in formats {
        let mut reader = GcLogReader::new(format);
        reader.feed(&garbled);
        if let Ok(log) = reader.finish() {
            assert!(log.lines.events <= lines);
            let report = analyze(&log, &AnalysisOptions::default());
            assert!(report.pauses.count <= log.lines.events);
            serde_json::to_string(&report).unwrap();
        }
    }
}

//! The corpus of real GC logs (`tests/corpus`, sources in `MANIFEST.tsv`):
//! each log is read by the parsers and counted by the independent counters
//! of `counters.rs`. Collections, pause count, longest and total pause must
//! agree on at least 98 % of the logs, and a log where they do not must say
//! in its report that part of it could not be read.

use std::io::Read;
use std::path::{Path, PathBuf};

use heapwise_gc::{AnalysisOptions, GcError, GcReport, LogFormat, analyze, read_paths};

use crate::counters::{self, Tally};
use crate::util::test_file;

/// One log of the corpus: a file, or the files of a `rotated-*` folder.
struct CorpusLog {
    name: String,
    paths: Vec<PathBuf>,
}

fn corpus() -> Vec<CorpusLog> {
    let root = test_file("corpus");
    let mut logs = Vec::new();
    let mut folders = vec![root.clone()];
    while let Some(folder) = folders.pop() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let name = relative(&root, &path);
            if path.is_dir() {
                if name.rsplit('/').next().unwrap().starts_with("rotated-") {
                    let mut files: Vec<PathBuf> = std::fs::read_dir(&path)
                        .unwrap()
                        .map(|e| e.unwrap().path())
                        .collect();
                    files.sort();
                    logs.push(CorpusLog { name, paths: files });
                } else {
                    folders.push(path);
                }
            } else if !is_not_a_log(&name) {
                logs.push(CorpusLog {
                    name,
                    paths: vec![path],
                });
            }
        }
    }
    logs.sort_by(|a, b| a.name.cmp(&b.name));
    logs
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn is_not_a_log(name: &str) -> bool {
    name == "MANIFEST.tsv"
        || name.ends_with(".sh")
        || name.ends_with(".go")
        || name.ends_with(".md")
}

/// The text of a log's files, decompressed.
fn text(paths: &[PathBuf]) -> String {
    let mut all = String::new();
    for path in paths {
        let bytes = std::fs::read(path).unwrap();
        let mut plain = Vec::new();
        if bytes.starts_with(&[0x1f, 0x8b]) {
            flate2::read::MultiGzDecoder::new(&bytes[..])
                .read_to_end(&mut plain)
                .unwrap();
        } else {
            plain = bytes;
        }
        all.push_str(&String::from_utf8_lossy(&plain));
        if !all.ends_with('\n') {
            all.push('\n');
        }
    }
    all
}

fn count(format: LogFormat, text: &str) -> Tally {
    match format {
        LogFormat::Jvm8 => counters::jdk8(text),
        LogFormat::Jvm => counters::unified(text),
        LogFormat::Node => counters::node(text),
        LogFormat::NodeNvp => counters::node_nvp(text),
        LogFormat::Go => counters::go(text),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

fn agrees(report: &GcReport, tally: &Tally) -> bool {
    report.collections == tally.collections
        && report.pauses.count == tally.pauses
        && close(report.pauses.max_ms.unwrap_or(0.0), tally.max_pause_ms)
        && close(report.pauses.total_ms, tally.total_pause_ms)
}

#[test]
fn the_parsers_agree_with_an_independent_count_on_at_least_98_percent_of_the_real_logs() {
    let logs = corpus();
    let mut checked = 0usize;
    let mut agreeing = 0usize;
    let mut table = String::new();
    let mut silent_disagreements = Vec::new();
    for log in logs.iter().filter(|l| !l.name.starts_with("foreign/")) {
        let parsed =
            read_paths(&log.paths, None).unwrap_or_else(|err| panic!("{}: {err}", log.name));
        let report = analyze(&parsed, &AnalysisOptions::default());
        let tally = count(parsed.format, &text(&log.paths));
        checked += 1;
        let ok = agrees(&report, &tally);
        agreeing += usize::from(ok);
        let coverage = &report.coverage;
        table.push_str(&format!(
            "{:<4} {:<70} {:<8} collections {:>6}/{:<6} pauses {:>6}/{:<6} max {:>10.3}/{:<10.3} total {:>12.3}/{:<12.3} unread {} missed {} runs {}\n",
            if ok { "ok" } else { "DIFF" },
            log.name,
            parsed.format.as_str(),
            report.collections,
            tally.collections,
            report.pauses.count,
            tally.pauses,
            report.pauses.max_ms.unwrap_or(0.0),
            tally.max_pause_ms,
            report.pauses.total_ms,
            tally.total_pause_ms,
            coverage.lines_unread,
            coverage.events_possibly_missed,
            report.runs.len(),
        ));
        let says_so = coverage.events_possibly_missed > 0 && !report.warnings.is_empty();
        if !ok && !says_so {
            silent_disagreements.push(log.name.clone());
        }
    }
    eprintln!("parser/counter on the corpus:\n{table}");
    eprintln!("{agreeing} of {checked} logs agree");
    assert!(checked >= 40, "the corpus has only {checked} logs");
    assert!(
        agreeing * 100 >= checked * 98,
        "only {agreeing} of {checked} logs agree:\n{table}"
    );
    assert!(
        silent_disagreements.is_empty(),
        "numbers differ and the report does not say so: {silent_disagreements:?}\n{table}"
    );
}

#[test]
fn every_corpus_file_names_its_source_in_the_manifest() {
    let manifest = std::fs::read_to_string(test_file("corpus/MANIFEST.tsv")).unwrap();
    let listed: Vec<&str> = manifest
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .collect();
    for log in corpus() {
        for path in &log.paths {
            let name = relative(&test_file("corpus"), path);
            assert!(
                listed.contains(&name.as_str()),
                "{name} is not in MANIFEST.tsv"
            );
        }
    }
}

#[test]
fn logs_of_runtimes_heapwise_does_not_read_are_named_in_one_sentence() {
    let foreign: Vec<CorpusLog> = corpus()
        .into_iter()
        .filter(|l| l.name.starts_with("foreign/"))
        .collect();
    assert!(foreign.len() >= 2);
    for log in foreign {
        let err = read_paths(&log.paths, None).unwrap_err();
        let GcError::NoEvents { looks_like, .. } = &err else {
            panic!("{}: {err}", log.name);
        };
        assert!(looks_like.is_some(), "{}: {err}", log.name);
        let message = err.to_string();
        assert!(message.starts_with("this looks like "), "{message}");
        assert_eq!(message.matches(". ").count(), 0, "one sentence: {message}");
    }
}

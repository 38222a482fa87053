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
    let mut per_format = std::collections::BTreeMap::new();
    let mut table = String::new();
    let mut silent_disagreements = Vec::new();
    for log in logs.iter().filter(|l| !l.name.starts_with("foreign/")) {
        let parsed =
            read_paths(&log.paths, None).unwrap_or_else(|err| panic!("{}: {err}", log.name));
        let report = analyze(&parsed, &AnalysisOptions::default());
        let tally = count(parsed.format, &text(&log.paths));
        checked += 1;
        *per_format.entry(parsed.format.as_str()).or_insert(0usize) += 1;
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
    eprintln!("{agreeing} of {checked} logs agree; logs per format: {per_format:?}");
    assert!(checked >= 300, "the corpus has only {checked} logs");
    let jdk8 = per_format.get("jvm8").copied().unwrap_or(0);
    assert!(jdk8 >= 180, "only {jdk8} JDK 8 logs");
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

/// A third opinion: what GCViewer's own tests (chewiebug/GCViewer,
/// `src/test/java/com/tagtraum/perf/gcviewer/imp/`) expect of its sample
/// files, which the corpus holds byte for byte. GCViewer counts concurrent
/// phases as events of its model too; where a test states the model's size,
/// the concurrent phases (counted in the text here) are taken off it.
#[test]
fn gcviewer_s_own_expectations_for_its_samples_hold_here_too() {
    struct Expected {
        file: &'static str,
        /// GCViewer's event count and the marker of the concurrent phases
        /// it counts among them.
        events: Option<(u64, &'static str)>,
        max_ms: Option<f64>,
        total_ms: Option<f64>,
    }
    let expected = [
        // TestDataReaderSun1_6_0.testCmsMemory: "GC count", 41.
        Expected {
            file: "jdk8/gcviewer-SampleSun1_6_0CMS.txt",
            events: Some((41, "[CMS-concurrent-")),
            max_ms: None,
            total_ms: None,
        },
        // TestDataReaderSun1_7_0G1.printTenuringDistribution: 11 events,
        // 4 of them concurrent.
        Expected {
            file: "jdk8/gcviewer-SampleSun1_7_0G1TenuringDistribution.txt",
            events: Some((11, "[GC concurrent-")),
            max_ms: None,
            total_ms: None,
        },
        // testDetailedCollectionDatestampMixed1: 2 events, 1 pause, sum 0.286451 s.
        Expected {
            file: "jdk8/gcviewer-SampleSun1_7_0G1_DateStamp_Detailed-mixedLine1.txt",
            events: Some((2, "[GC concurrent-")),
            max_ms: None,
            total_ms: Some(286.451),
        },
        // testDetailedCollectionDatestampMixed3: 2 events, 1 pause, sum 0.088949 s.
        Expected {
            file: "jdk8/gcviewer-SampleSun1_7_0G1_DateStamp_Detailed-mixedLine3.txt",
            events: Some((2, "[GC concurrent-")),
            max_ms: None,
            total_ms: Some(88.949),
        },
        // youngPause_u1: longest pause 0.00631825 s.
        Expected {
            file: "jdk8/gcviewer-SampleSun1_7_0-01_G1_young.txt",
            events: None,
            max_ms: Some(6.31825),
            total_ms: None,
        },
        // youngPause_u2: longest pause 0.14482200 s.
        Expected {
            file: "jdk8/gcviewer-SampleSun1_7_0-02_G1_young.txt",
            events: None,
            max_ms: Some(144.822),
            total_ms: None,
        },
        // printAdaptiveSizePolicy: longest pause 0.158757 s, the file's
        // first pause, which the excerpt keeps.
        Expected {
            file: "jdk8/gcviewer-SampleSun1_7_0_12PrintAdaptiveSizePolicy-excerpt.txt",
            events: None,
            max_ms: Some(158.757),
            total_ms: None,
        },
        // gcRemarkWithDateTimeStamp, whose input is this file's two lines:
        // 1 event, pause 0.0347170 s.
        Expected {
            file: "jdk8/gcviewer-SampleSun1_7_0_40PrintGCCause2.txt",
            events: Some((1, "[GC concurrent-")),
            max_ms: Some(34.717),
            total_ms: None,
        },
        // TestDataReaderUJLSerial.parseGcDefaults: 11 events, 8 young and
        // 3 full pauses, the first 0.011421 s.
        Expected {
            file: "unified/gcviewer-sample-ujl-serial-gc-defaults.txt",
            events: Some((11, "Concurrent")),
            max_ms: None,
            total_ms: None,
        },
    ];
    for e in expected {
        let path = test_file(&format!("corpus/{}", e.file));
        let parsed = read_paths(std::slice::from_ref(&path), None)
            .unwrap_or_else(|err| panic!("{}: {err}", e.file));
        let report = analyze(&parsed, &AnalysisOptions::default());
        if let Some((events, concurrent)) = e.events {
            let concurrent = text(std::slice::from_ref(&path))
                .matches(concurrent)
                .count() as u64;
            assert_eq!(report.pauses.count, events - concurrent, "{}", e.file);
        }
        if let Some(max) = e.max_ms {
            assert!(close(report.pauses.max_ms.unwrap(), max), "{}", e.file);
        }
        if let Some(total) = e.total_ms {
            assert!(close(report.pauses.total_ms, total), "{}", e.file);
        }
    }
}

/// GCViewer's DataReaderFacadeTest.testLoadModelFromSeries reads its
/// SampleSun1_8_0Series-Part1…7 (a JDK 8 rotated set) given in the order
/// 4, 3, 6, 1, 7, 2, 5 and expects the same model as the files merged by
/// hand in order; so must heapwise.
#[test]
fn a_rotated_set_given_out_of_order_reads_as_the_set_in_order() {
    let folder = test_file("corpus/jdk8/rotated-gcviewer-series");
    let part = |n: u32| folder.join(format!("SampleSun1_8_0Series-Part{n}.txt"));
    let in_order: Vec<PathBuf> = (1..=7).map(part).collect();
    let shuffled: Vec<PathBuf> = [4, 3, 6, 1, 7, 2, 5].into_iter().map(part).collect();
    let a = analyze(
        &read_paths(&in_order, None).unwrap(),
        &AnalysisOptions::default(),
    );
    let b = analyze(
        &read_paths(&shuffled, None).unwrap(),
        &AnalysisOptions::default(),
    );
    assert_eq!(a.collections, b.collections);
    assert_eq!(a.pauses.count, b.pauses.count);
    assert!(close(a.pauses.total_ms, b.pauses.total_ms));
    assert_eq!(a.runs.len(), 1);
    let names: Vec<String> = b
        .files
        .iter()
        .map(|f| f.name.rsplit('/').next().unwrap_or("").to_string())
        .collect();
    let expected: Vec<String> = (1..=7)
        .map(|n| format!("SampleSun1_8_0Series-Part{n}.txt"))
        .collect();
    assert_eq!(names, expected);
}

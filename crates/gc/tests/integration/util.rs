//! What the tests share: where generated logs go, running the runtimes, and
//! independent counts of GC lines (plain string scans, written separately
//! from the parsers, so a parser bug cannot hide in both).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use heapwise_gc::{AnalysisOptions, GcLog, GcReport, analyze, read_path};

/// A scratch directory for this test binary's generated logs.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gc").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A file of `tests/`.
pub fn test_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(relative)
}

/// Runs a command that must succeed; a missing runtime fails with a message
/// saying so (node and a JDK 17 are part of this machine kind).
pub fn run(command: &mut Command) -> Output {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command.output().unwrap_or_else(|err| {
        panic!(
            "could not run {program} ({err}); the GC log tests need node and a JDK (java, javac)"
        )
    });
    assert!(
        output.status.success(),
        "{program} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Reads and analyses a log with default options.
pub fn analyse(path: &Path) -> (GcLog, GcReport) {
    let log = read_path(path, None).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    let report = analyze(&log, &AnalysisOptions::default());
    (log, report)
}

/// What an independent scan of a log finds.
#[derive(Debug, Default, PartialEq)]
pub struct Count {
    /// Collections (JVM: distinct `GC(N)` ids on `[gc]` lines).
    pub collections: u64,
    /// Major (or, for the JVM, non-young) collections.
    pub majors: u64,
    /// Pause lines.
    pub pauses: u64,
    /// Longest pause, milliseconds.
    pub max_pause_ms: f64,
    /// Heap after each collection, MiB (Node only).
    pub after_mib: Vec<f64>,
}

/// The text after `ms: ` when it is a `Scavenge`, `Mark-Compact`, ... line.
fn node_gc_text(line: &str) -> Option<&str> {
    let text = &line[line.find(" ms: ")? + 5..];
    ["Scavenge", "Mark-Compact", "Minor Mark-Sweep", "Mark-sweep"]
        .iter()
        .any(|name| text.starts_with(name))
        .then_some(text)
}

/// Node `--trace-gc`: `… MB, [pooled: P MB, ]PAUSE / EXTERNAL ms …`.
pub fn count_node(text: &str) -> Count {
    let mut count = Count::default();
    for line in text.lines() {
        let Some(gc) = node_gc_text(line) else {
            continue;
        };
        let Some(at) = gc.find(" MB, ") else { continue };
        let mut rest = &gc[at + 5..];
        if let Some(pooled) = rest.strip_prefix("pooled: ") {
            rest = &pooled[pooled.find(" MB, ").unwrap() + 5..];
        }
        let Some(slash) = rest.find(" / ") else {
            continue;
        };
        let Ok(pause) = rest[..slash].parse::<f64>() else {
            continue;
        };
        if !rest[slash..].contains(" ms") {
            continue;
        }
        count.collections += 1;
        count.pauses += 1;
        count.max_pause_ms = count.max_pause_ms.max(pause);
        if gc.starts_with("Mark-") {
            count.majors += 1;
        }
        let arrow = gc.find("-> ").unwrap();
        let after: f64 = gc[arrow + 3..].split(' ').next().unwrap().parse().unwrap();
        count.after_mib.push(after);
    }
    count
}

/// Node `--trace-gc-nvp`: `… ms: pause=P … gc=s|mc|mms …` pairs.
pub fn count_nvp(text: &str) -> Count {
    let mut count = Count::default();
    for line in text.lines() {
        if !line.contains(" ms: pause=") {
            continue;
        }
        let value = |key: &str| {
            line.split(' ')
                .find_map(|pair| pair.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        };
        let (Some(pause), Some(gc)) = (value("pause"), value("gc")) else {
            continue;
        };
        count.collections += 1;
        count.pauses += 1;
        count.max_pause_ms = count.max_pause_ms.max(pause.parse().unwrap());
        if gc == "mc" || gc == "ms" {
            count.majors += 1;
        }
    }
    count
}

/// JVM unified logging. Pauses: `GC(N) Pause … <number>ms` lines (any
/// tag). Collections: distinct N on lines tagged exactly `gc`; majors:
/// those whose lines never say `Pause Young` without `(Mixed)`.
pub fn count_jvm(text: &str) -> Count {
    use std::collections::BTreeMap;
    let mut count = Count::default();
    let mut ids: BTreeMap<u64, bool> = BTreeMap::new();
    for line in text.lines() {
        let Some(at) = line.find("GC(") else { continue };
        let close = at + line[at..].find(')').unwrap();
        let id: u64 = line[at + 3..close].parse().unwrap();
        let message = line[close + 1..].trim();
        if message.starts_with("Pause ")
            && let Some(ms) = message.rsplit(' ').next().unwrap().strip_suffix("ms")
            && let Ok(pause) = ms.parse::<f64>()
        {
            count.pauses += 1;
            count.max_pause_ms = count.max_pause_ms.max(pause);
        }
        let tagged_gc = line[..at]
            .split('[')
            .any(|decorator| decorator.trim_end_matches([']', ' ']).trim() == "gc");
        if tagged_gc {
            let young = message.starts_with("Pause Young") && !message.contains("(Mixed)");
            let entry = ids.entry(id).or_insert(true);
            *entry = *entry && !young;
        }
    }
    count.collections = ids.len() as u64;
    count.majors = ids.values().filter(|&&major| major).count() as u64;
    count
}

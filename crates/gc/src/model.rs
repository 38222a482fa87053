//! The typed model every parser produces: one [`GcLog`] of [`GcEvent`]s.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The runtime that wrote a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// Node.js (V8).
    Node,
    /// A Java virtual machine (HotSpot).
    Jvm,
    /// A Go program.
    Go,
}

impl Runtime {
    /// The serialised name: `node`, `jvm` or `go`.
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Node => "node",
            Runtime::Jvm => "jvm",
            Runtime::Go => "go",
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A log format family, one parser each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// Node.js / V8 `--trace-gc`.
    Node,
    /// Node.js / V8 `--trace-gc-nvp` (`key=value` pairs, or `GC: {json}` in
    /// newer V8).
    NodeNvp,
    /// JVM unified logging, `-Xlog:gc` or `-Xlog:gc*` (JDK 9 and later),
    /// any decorators.
    Jvm,
    /// JDK 8 (and 7) `-XX:+PrintGCDetails` / `-verbose:gc`.
    Jvm8,
    /// Go `GODEBUG=gctrace=1`.
    Go,
}

impl LogFormat {
    /// Every format, in the order auto-detection tries them.
    pub const ALL: [LogFormat; 5] = [
        LogFormat::Node,
        LogFormat::NodeNvp,
        LogFormat::Jvm,
        LogFormat::Jvm8,
        LogFormat::Go,
    ];

    /// The name used on the command line and in JSON (`node`, `node-nvp`,
    /// `jvm`, `jvm8`, `go`).
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Node => "node",
            LogFormat::NodeNvp => "node-nvp",
            LogFormat::Jvm => "jvm",
            LogFormat::Jvm8 => "jvm8",
            LogFormat::Go => "go",
        }
    }

    /// What the format is, for people (`Node --trace-gc`, ...).
    pub fn describe(self) -> &'static str {
        match self {
            LogFormat::Node => "Node --trace-gc",
            LogFormat::NodeNvp => "Node --trace-gc-nvp",
            LogFormat::Jvm => "JVM unified logging (-Xlog:gc, -Xlog:gc*)",
            LogFormat::Jvm8 => "JDK 8 -XX:+PrintGCDetails",
            LogFormat::Go => "Go GODEBUG=gctrace=1",
        }
    }

    /// The runtime that writes this format.
    pub fn runtime(self) -> Runtime {
        match self {
            LogFormat::Node | LogFormat::NodeNvp => Runtime::Node,
            LogFormat::Jvm | LogFormat::Jvm8 => Runtime::Jvm,
            LogFormat::Go => Runtime::Go,
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The seed's minor/major split, plus stop-the-world full collections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GcKind {
    /// Young generation only: V8 Scavenge and Minor Mark-Sweep, JVM
    /// `Pause Young` (except G1 mixed), JDK 8 `[GC` with only a young
    /// generation section.
    Minor,
    /// The old generation or the whole heap, mostly concurrently or
    /// incrementally: V8 Mark-Compact, G1 mixed collections and concurrent
    /// cycles (Remark, Cleanup), ZGC and Shenandoah cycles, CMS, every Go
    /// cycle.
    Major,
    /// Stop-the-world collection of the whole heap: JVM `Pause Full`,
    /// JDK 8 `[Full GC`, a young collection that fell back to the old
    /// generation.
    Full,
}

impl GcKind {
    /// `minor`, `major` or `full`.
    pub fn as_str(self) -> &'static str {
        match self {
            GcKind::Minor => "minor",
            GcKind::Major => "major",
            GcKind::Full => "full",
        }
    }
}

impl fmt::Display for GcKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a log's timestamps count from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Clock {
    /// Seconds since the process (or V8 isolate) started.
    Uptime,
    /// Seconds since the Unix epoch (JVM `time`/`utctime`/`timemillis`
    /// decorators, JDK 8 `-XX:+PrintGCDateStamps` without time stamps).
    Wall,
    /// The log has no timestamps: rates, overhead and slopes are unknown.
    None,
}

/// One GC log line that reported a pause or a collection.
///
/// A collection can be reported by several events: a G1 concurrent cycle
/// has a Remark and a Cleanup pause, a Shenandoah cycle four pauses and a
/// heap summary; they share [`GcEvent::collection`].
#[derive(Debug, Clone, PartialEq)]
pub struct GcEvent {
    /// When the line says the event happened, seconds on the log's
    /// [`Clock`] (`None` when the log has no timestamps).
    pub t_s: Option<f64>,
    /// The collection this event belongs to: the JVM's `GC(N)` (in the
    /// low 40 bits; the high bits count JVM restarts within one file), Go's
    /// `gc N`, otherwise a running number.
    pub collection: u64,
    /// Minor, major or full.
    pub kind: GcKind,
    /// The collector's name for it: `Scavenge`, `Mark-Compact`,
    /// `Pause Young`, `Pause Full`, `Garbage Collection`, `gc`, ...
    pub name: Arc<str>,
    /// Why it ran, when the log says: `allocation failure`,
    /// `G1 Evacuation Pause`, `System.gc()`, `forced`, ...
    pub cause: Option<Arc<str>>,
    /// Stop-the-world time of this event in milliseconds; `None` for
    /// concurrent work and where the log does not say.
    pub pause_ms: Option<f64>,
    /// Concurrent (not stop-the-world) time in milliseconds, where the log
    /// reports it (Go's concurrent mark, G1's concurrent cycle).
    pub concurrent_ms: Option<f64>,
    /// Heap in use before the collection, bytes.
    pub heap_before_bytes: Option<u64>,
    /// Heap in use after the collection, bytes (Go: the live heap marked).
    pub heap_after_bytes: Option<u64>,
    /// Heap size (committed, or Go's heap goal) after the collection, bytes.
    pub heap_total_bytes: Option<u64>,
    /// Bytes promoted to the old generation by this collection, where the
    /// log says or the generation sizes show it.
    pub promoted_bytes: Option<u64>,
    /// True when `heap_after_bytes` is the heap at the end of a collection
    /// that reclaimed memory; false for phases that only mark (G1 Remark and
    /// Cleanup, CMS marks), whose heap figure includes garbage not yet freed.
    pub ends_collection: bool,
    /// Which heap: the index of the V8 isolate in [`GcLog::heaps`] (worker
    /// threads have their own), 0 elsewhere.
    pub heap: u16,
    /// Which run of the program: 0 for the first, counting the restarts
    /// in the file ([`GcLog::run_starts`]).
    pub run: u16,
    /// 1-based line number in the log.
    pub line: u64,
}

impl GcEvent {
    /// An event with the given essentials and nothing else known.
    pub fn new(line: u64, collection: u64, kind: GcKind, name: Arc<str>) -> Self {
        GcEvent {
            t_s: None,
            collection,
            kind,
            name,
            cause: None,
            pause_ms: None,
            concurrent_ms: None,
            heap_before_bytes: None,
            heap_after_bytes: None,
            heap_total_bytes: None,
            promoted_bytes: None,
            ends_collection: true,
            heap: 0,
            run: 0,
            line,
        }
    }
}

/// How the lines of a log were used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineCounts {
    /// Complete lines read.
    pub total: u64,
    /// Lines that produced a [`GcEvent`].
    pub events: u64,
    /// Lines that are not GC events (application output, start-up and
    /// phase detail lines, blank lines): `total - events`.
    pub skipped: u64,
    /// Of the skipped lines, those that looked like a GC event of the log's
    /// format but could not be read (cut off, garbled).
    pub malformed: u64,
    /// True when the file did not end with a newline and its last,
    /// incomplete line was not a complete event: it was not read (it is
    /// being written, or the writer was killed).
    pub truncated_last_line: bool,
    /// Lines of GC output that could not be read: the malformed lines and
    /// every line of an event that could not be read or never ended.
    pub unread: u64,
    /// Events whose beginning was read but whose end never came: a last
    /// line cut in the middle of an event, a JDK 8 event cut off by the end
    /// of the file or garbled so that its brackets never close.
    pub unfinished_events: u64,
}

/// A parsed GC log.
#[derive(Debug, Clone, PartialEq)]
pub struct GcLog {
    /// The format the lines were read as.
    pub format: LogFormat,
    /// The collector, where the log names or implies it: `G1`, `Parallel`,
    /// `Serial`, `ZGC`, `Shenandoah`, `CMS`; `None` for Node and Go.
    pub collector: Option<String>,
    /// Every event, in log order.
    pub events: Vec<GcEvent>,
    /// Line accounting.
    pub lines: LineCounts,
    /// What the timestamps count from.
    pub clock: Clock,
    /// Earliest timestamp on any line of the log's format (GC or not).
    pub first_t_s: Option<f64>,
    /// Latest timestamp on any line of the log's format.
    pub last_t_s: Option<f64>,
    /// Maximum heap size, when the log states it (JVM `Heap Max Capacity`
    /// or `-XX:MaxHeapSize`).
    pub max_heap_bytes: Option<u64>,
    /// Node: the isolate addresses (`0x…`), one per heap, in order of first
    /// appearance; empty for other runtimes (one heap).
    pub heaps: Vec<String>,
    /// Go: the last `P%` figure, the runtime's own percentage of CPU time
    /// spent in GC since the program started.
    pub runtime_gc_cpu_percent: Option<f64>,
    /// First and last timestamp of each run (index = run), on the log's
    /// clock.
    pub run_spans: Vec<Option<(f64, f64)>>,
    /// Lines where a new run of the program starts in this file (it was
    /// restarted and wrote to the same file: GC numbers or uptime start
    /// again); empty for a file of one run.
    pub run_starts: Vec<u64>,
    /// The files read, in the order read, with the line each starts at
    /// (one entry per file of a rotated set; empty when the log was fed as
    /// bytes).
    pub files: Vec<LogFile>,
}

/// One file of a log read from several files (a rotated set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogFile {
    /// The path as given.
    pub name: String,
    /// The line number (in the whole log) of its first line.
    pub first_line: u64,
    /// True when the file was gzip-compressed.
    pub gzip: bool,
}

impl GcLog {
    /// An empty log of the given format.
    pub fn new(format: LogFormat) -> Self {
        GcLog {
            format,
            collector: None,
            events: Vec::new(),
            lines: LineCounts::default(),
            clock: Clock::None,
            first_t_s: None,
            last_t_s: None,
            max_heap_bytes: None,
            heaps: Vec::new(),
            runtime_gc_cpu_percent: None,
            run_starts: Vec::new(),
            run_spans: Vec::new(),
            files: Vec::new(),
        }
    }

    /// The run new events belong to.
    pub(crate) fn run(&self) -> u16 {
        u16::try_from(self.run_starts.len()).unwrap_or(u16::MAX)
    }

    /// Notes that the program was restarted at `line`: events from now on
    /// belong to a new run. Only after at least one event.
    pub(crate) fn new_run(&mut self, line: u64) {
        if !self.events.is_empty() && self.run_starts.last() != Some(&line) {
            self.run_starts.push(line);
        }
    }

    /// The number of runs in the file (at least 1).
    pub fn runs(&self) -> usize {
        self.run_starts.len() + 1
    }

    /// The runtime that wrote the log.
    pub fn runtime(&self) -> Runtime {
        self.format.runtime()
    }

    /// Notes a timestamp seen on a line of this log's format.
    pub(crate) fn saw_time(&mut self, t_s: f64, clock: Clock) {
        if !t_s.is_finite() {
            return;
        }
        if self.clock == Clock::None {
            self.clock = clock;
        }
        if clock != self.clock {
            return;
        }
        self.first_t_s = Some(self.first_t_s.map_or(t_s, |t| t.min(t_s)));
        self.last_t_s = Some(self.last_t_s.map_or(t_s, |t| t.max(t_s)));
        let run = usize::from(self.run());
        if self.run_spans.len() <= run {
            self.run_spans.resize(run + 1, None);
        }
        let span = &mut self.run_spans[run];
        *span = Some(match *span {
            Some((first, last)) => (first.min(t_s), last.max(t_s)),
            None => (t_s, t_s),
        });
    }

    /// Seconds the log covers: the sum of each run's first-to-last
    /// timestamp (a restart's downtime and its clock starting again do not
    /// count); `None` without timestamps.
    pub fn duration_s(&self) -> Option<f64> {
        let total: f64 = self
            .run_spans
            .iter()
            .flatten()
            .map(|(first, last)| last - first)
            .sum();
        (total > 0.0).then_some(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A million-line log holds a million events: keep them small.
    #[test]
    fn events_stay_small() {
        assert!(
            std::mem::size_of::<GcEvent>() <= 192,
            "{}",
            std::mem::size_of::<GcEvent>()
        );
    }
}

//! The report as plain data: what `heapwise report --format json` prints
//! (schema `heapwise.native-report/1`, see `docs/schemas.md`) and what every
//! other renderer reads.

use heapwise_series::{Pattern, Verdict};
use serde::Serialize;
use std::sync::Arc;

/// The schema string of [`NativeReport`].
pub const SCHEMA: &str = "heapwise.native-report/1";

/// A native trace, analysed.
#[derive(Clone, Debug, Serialize)]
pub struct NativeReport {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    /// The traced process.
    pub process: Process,
    /// Leak or not, in one sentence: what every format prints as its
    /// headline, and what `--fail-on-leak` goes by.
    pub verdict: LeakVerdict,
    /// An allocator of the program's own that the tracer cannot see into,
    /// found in its executable; `null` when it uses the system's.
    pub allocator: Option<OwnAllocator>,
    /// `null` for a full trace; for a sampled one, how it was sampled and
    /// how precise its estimates are. Every byte and block figure of a
    /// sampled trace is an unbiased estimate.
    pub sampling: Option<Sampling>,
    /// Totals.
    pub summary: Summary,
    /// How the reachability scan at exit went (what `summary.reachability`
    /// and `leaks[].kind` come from), or why there was none.
    pub reachability_scan: ReachabilityScan,
    /// The suppressions file given (`--suppressions`), and which of its
    /// entries matched what; `null` without one.
    pub suppressions: Option<Suppressions>,
    /// Allocations by size: under 1 KiB, 1 KiB–1 MiB, over 1 MiB.
    pub size_classes: Vec<SizeClass>,
    /// Blocks still allocated at the end, grouped by identical call stack,
    /// largest `bytes` first.
    pub leaks: Vec<Leak>,
    /// Live bytes (and RSS, the allocator's heap) over time, evenly
    /// spaced, at most a couple of thousand points.
    pub timeline: Vec<TimelinePoint>,
    /// Call stacks judged for growth, most suspicious first.
    pub growth: Vec<Growth>,
    /// Verdicts on the whole process over time.
    pub memory: MemoryOverTime,
    /// The moment the most bytes were live, and who held them.
    pub peak: Peak,
    /// Blocks still live at the end that were allocated long before it.
    pub old_allocations: OldAllocations,
    /// Allocations freed before their thread allocated anything else.
    pub temporary: Temporary,
    /// What to do, from the patterns found.
    pub recommendations: Vec<String>,
    /// About the trace file itself.
    pub trace: TraceInfo,
    /// For a forked child: the parent's blocks it inherited at the fork
    /// and still holds, by call stack (in the parent). `null` for a
    /// process that was not forked from a traced parent.
    pub inherited: Option<Inherited>,
    /// Things the reader should know (truncated trace, lost events,
    /// modules that could not be symbolized, ...).
    pub warnings: Vec<String>,
}

/// How a sampled trace was sampled, and how precise its estimates are
/// (`crate::weigh`; docs/statistics.md, "Sampled traces").
#[derive(Clone, Debug, Serialize)]
pub struct Sampling {
    /// R: one allocation recorded per R bytes allocated, on average.
    pub mean_interval_bytes: u64,
    /// Allocations recorded (the sample the estimates come from).
    pub recorded_allocations: u64,
    /// Of those, blocks still allocated at the end.
    pub recorded_live: u64,
    /// The standard error of `summary.leaked_bytes` (the estimate is
    /// within about two of these of the truth, 95 % of the time).
    pub leaked_bytes_standard_error: f64,
    /// A call stack that leaked at least this much was seen at least once
    /// with 95 % probability (3 R); smaller ones may be missing entirely.
    pub seen_above_bytes: u64,
    /// The slowest leak this run could call a leak: a stack's growth must
    /// be beyond twice its sampling error, which takes about 8 R leaked
    /// over the run (8 R / duration); a slower leak could go unseen.
    /// `null` for a run of no length.
    pub detectable_rate_bytes_per_s: Option<f64>,
    /// Seconds sampling was paused (its control file): nothing allocated
    /// then is known, and growth is judged on the time it was not.
    pub paused_s: f64,
    /// Times it was paused.
    pub pauses: u64,
}

/// What a forked child inherited from its parent and still holds at the
/// end (see `crates/native/src/inherit.rs`). Not counted in `summary` or
/// `leaks`, which are what the child itself allocated.
#[derive(Clone, Debug, Serialize)]
pub struct Inherited {
    /// The parent's pid.
    pub parent_pid: u32,
    /// The parent's trace, read for the blocks it held at the fork.
    pub parent_trace: String,
    /// Blocks the parent held at the fork.
    pub blocks_at_fork: u64,
    /// Their bytes.
    pub bytes_at_fork: u64,
    /// Of those, blocks the child never freed.
    pub held_blocks: u64,
    /// Their bytes.
    pub held_bytes: u64,
    /// The held blocks grouped by the parent's call stack that allocated
    /// them, largest first.
    pub groups: Vec<Leak>,
}

/// The report's headline verdict (built by [`crate::verdict::verdict`]).
#[derive(Clone, Debug, Serialize)]
pub struct LeakVerdict {
    /// Whether the program itself leaks: blocks of its own (not held by
    /// the C/C++ runtime by design) still allocated at the end, or memory
    /// that keeps growing. `true` exactly for the levels `leak` and
    /// `possible`.
    pub leak: bool,
    /// How sure: see [`Level`].
    pub level: Level,
    /// One sentence, the same in every format.
    pub headline: String,
    /// Sentences that explain the headline, if it needs them.
    pub details: Vec<String>,
    /// Bytes of the program's own blocks still allocated at the end.
    pub own_leaked_bytes: u64,
    /// The program's own blocks still allocated at the end.
    pub own_leaked_allocations: u64,
    /// Bytes still allocated at the end that the C/C++ runtime holds until
    /// exit by design (the leak groups with a `note`).
    pub runtime_held_bytes: u64,
    /// Blocks the C/C++ runtime holds until exit by design.
    pub runtime_held_allocations: u64,
    /// Of the program's own blocks, bytes definitely, indirectly or
    /// possibly lost at exit (not suppressed): what `--fail-on-leak`
    /// counts. `null` when the process was not scanned (then every own
    /// block still allocated counts).
    pub own_lost_bytes: Option<u64>,
    /// Those blocks.
    pub own_lost_allocations: Option<u64>,
    /// Bytes of the groups a suppression matched (not counted).
    pub suppressed_bytes: u64,
    /// Blocks of the groups a suppression matched.
    pub suppressed_allocations: u64,
}

/// How sure the verdict is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// A leak: memory keeps growing, or the program exited with blocks of
    /// its own never freed.
    Leak,
    /// The program's own blocks were still allocated when the trace ended,
    /// but it did not exit on its own (killed, still running), so they may
    /// still have been in use.
    Possible,
    /// No leak, and nothing suggests evidence is missing.
    None,
    /// No leak was seen, but the trace may not hold every allocation (it
    /// is truncated or damaged, events were lost, the program allocates
    /// through an allocator of its own, nothing was recorded at all):
    /// heapwise cannot say "no leak".
    Unknown,
}

impl Level {
    /// `leak`, `possible`, `none` or `unknown`, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Leak => "leak",
            Level::Possible => "possible",
            Level::None => "none",
            Level::Unknown => "unknown",
        }
    }
}

/// An allocator linked into the program's executable, which `LD_PRELOAD`
/// cannot intercept.
#[derive(Clone, Debug, Serialize)]
pub struct OwnAllocator {
    /// Which one.
    pub kind: AllocatorKind,
    /// `jemalloc`, `mimalloc`, `tcmalloc`, or `its own malloc`.
    pub name: String,
    /// Whether the executable defines `malloc` itself: then (almost) none
    /// of the process's allocations reach the tracer, libc's included.
    /// Otherwise the program allocates through it beside `malloc` (a Rust
    /// `#[global_allocator]`), and only what libc and other libraries
    /// allocate with `malloc` is traced.
    pub replaces_malloc: bool,
    /// The executable it was found in.
    pub module: String,
    /// The symbols that gave it away.
    pub symbols: Vec<String>,
}

/// Allocators [`OwnAllocator`] names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AllocatorKind {
    /// `malloc` defined in the executable, by none of the others.
    OwnMalloc,
    /// jemalloc.
    Jemalloc,
    /// mimalloc.
    Mimalloc,
    /// tcmalloc.
    Tcmalloc,
}

/// The traced process.
#[derive(Clone, Debug, Serialize)]
pub struct Process {
    /// Process id.
    pub pid: u32,
    /// Command line.
    pub command: Vec<String>,
    /// How it ended; `null` if unknown (still running, or killed before
    /// `heapwise run` could record it).
    pub exit: Option<Exit>,
}

/// How the process ended: `{"code": N}` or `{"signal": N}`.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Exit {
    /// Exit status.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

/// How the trace says the process ended, for sentences.
pub fn ended(status: heapwise_trace::ExitStatus) -> heapwise_words::Ended {
    match status {
        heapwise_trace::ExitStatus::Code(code) => heapwise_words::Ended::Code(code),
        heapwise_trace::ExitStatus::Signal(signal) => heapwise_words::Ended::Signal(signal),
        heapwise_trace::ExitStatus::Exec => heapwise_words::Ended::Exec,
    }
}

impl Exit {
    /// How the process ended, for sentences (`heapwise_words::Ended`).
    pub fn ended(self) -> heapwise_words::Ended {
        match self {
            Exit::Code(code) => heapwise_words::Ended::Code(code),
            Exit::Signal(signal) => heapwise_words::Ended::Signal(signal),
        }
    }
}

/// Totals over the whole trace (see `CONTRACTS.md` for what counts).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// Calls that returned a block (realloc counted once per call).
    pub allocations: u64,
    /// Frees of non-null pointers, plus those implied by realloc.
    pub frees: u64,
    /// Sum of requested sizes over all allocations.
    pub allocated_bytes: u64,
    /// The most bytes live at once.
    pub peak_live_bytes: u64,
    /// Seconds from start when the peak was reached.
    pub peak_t_s: f64,
    /// Bytes still allocated when the trace ends.
    pub leaked_bytes: u64,
    /// Blocks still allocated when the trace ends.
    pub leaked_allocations: u64,
    /// Seconds from the first to the last recorded event.
    pub duration_s: f64,
    /// The blocks still allocated at the end split into valgrind's four
    /// kinds by the scan at exit (runtime-held and suppressed blocks
    /// included); `null` when the process was not scanned
    /// (`reachability_scan.reason` says why).
    pub reachability: Option<ReachabilityTotals>,
}

/// Bytes and blocks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Amount {
    /// Bytes.
    pub bytes: u64,
    /// Blocks.
    pub blocks: u64,
}

impl Amount {
    /// Adds one block of `bytes`.
    pub fn add(&mut self, bytes: u64, blocks: u64) {
        self.bytes += bytes;
        self.blocks += blocks;
    }
}

/// valgrind's leak kinds of the blocks still allocated at exit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReachabilityTotals {
    /// No pointer to them anywhere.
    pub definitely_lost: Amount,
    /// Pointed to only by lost blocks.
    pub indirectly_lost: Amount,
    /// Reached only through pointers into their interior.
    pub possibly_lost: Amount,
    /// A pointer to their start is in a root or a reachable block.
    pub still_reachable: Amount,
}

impl ReachabilityTotals {
    /// The amount of `kind`.
    pub fn of(&self, kind: LeakKind) -> Amount {
        match kind {
            LeakKind::DefinitelyLost => self.definitely_lost,
            LeakKind::IndirectlyLost => self.indirectly_lost,
            LeakKind::PossiblyLost => self.possibly_lost,
            LeakKind::StillReachable => self.still_reachable,
        }
    }

    /// The amount of `kind`, to add to.
    pub fn of_mut(&mut self, kind: LeakKind) -> &mut Amount {
        match kind {
            LeakKind::DefinitelyLost => &mut self.definitely_lost,
            LeakKind::IndirectlyLost => &mut self.indirectly_lost,
            LeakKind::PossiblyLost => &mut self.possibly_lost,
            LeakKind::StillReachable => &mut self.still_reachable,
        }
    }

    /// Definitely, indirectly and possibly lost together: what
    /// `--fail-on-leak` counts.
    pub fn lost(&self) -> Amount {
        let mut lost = self.definitely_lost;
        lost.add(self.indirectly_lost.bytes, self.indirectly_lost.blocks);
        lost.add(self.possibly_lost.bytes, self.possibly_lost.blocks);
        lost
    }
}

/// valgrind's leak kinds (`leaks[].kind`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum LeakKind {
    /// No pointer to the block anywhere (or only from the lost blocks it
    /// leads).
    DefinitelyLost,
    /// Pointed to only by lost blocks.
    IndirectlyLost,
    /// Reached only through a pointer into its interior.
    PossiblyLost,
    /// A pointer to its start is in a root or a reachable block.
    StillReachable,
}

impl LeakKind {
    /// The four, most serious first (the order reports list them in).
    pub const ALL: [LeakKind; 4] = [
        LeakKind::DefinitelyLost,
        LeakKind::IndirectlyLost,
        LeakKind::PossiblyLost,
        LeakKind::StillReachable,
    ];

    /// valgrind's words: `definitely lost`, ...
    pub fn words(self) -> &'static str {
        match self {
            LeakKind::DefinitelyLost => "definitely lost",
            LeakKind::IndirectlyLost => "indirectly lost",
            LeakKind::PossiblyLost => "possibly lost",
            LeakKind::StillReachable => "still reachable",
        }
    }

    /// The JSON name (`definitely_lost`, ...).
    pub fn key(self) -> &'static str {
        match self {
            LeakKind::DefinitelyLost => "definitely_lost",
            LeakKind::IndirectlyLost => "indirectly_lost",
            LeakKind::PossiblyLost => "possibly_lost",
            LeakKind::StillReachable => "still_reachable",
        }
    }

    /// Whether it is lost (counted by `--fail-on-leak`).
    pub fn is_lost(self) -> bool {
        self != LeakKind::StillReachable
    }
}

/// How the reachability scan at exit went.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ReachabilityScan {
    /// Whether the process's memory was read and every block classified.
    pub scanned: bool,
    /// Why not, in one sentence (`null` when scanned).
    pub reason: Option<String>,
    /// Threads whose stacks and registers were roots.
    pub threads: u64,
    /// Bytes of root memory scanned (module data, stacks, TLS, anonymous
    /// memory).
    pub root_bytes: u64,
    /// Bytes of blocks scanned.
    pub block_bytes: u64,
    /// Bytes copied from the process to scan.
    pub copied_bytes: u64,
    /// Bytes of writable memory that could not be read.
    pub unread_bytes: u64,
    /// Blocks whose memory could not be read (scanned as empty).
    pub unreadable_blocks: u64,
    /// Seconds the process was held stopped at exit.
    pub held_s: f64,
    /// Seconds the scan took once the memory was copied.
    pub scan_s: f64,
    /// Seconds the exiting program waited for heapwise: the trace's replay
    /// (for the blocks still allocated), then `held_s`.
    pub waited_s: f64,
    /// Still reachable blocks that only one of valgrind's heuristics made
    /// so (an interior pointer C++ or a library keeps on purpose).
    pub reachable_via_heuristic: HeuristicAmounts,
}

/// Bytes and blocks made reachable by each of valgrind's heuristics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HeuristicAmounts {
    /// An old-ABI `std::string` rep.
    pub stdstring: Amount,
    /// A block behind its 64-bit length.
    pub length64: Amount,
    /// A C++ `new[]` array behind its element count.
    pub newarray: Amount,
    /// An object seen through a second base class.
    pub multipleinheritance: Amount,
}

/// The suppressions file and what it matched.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Suppressions {
    /// The file.
    pub file: String,
    /// Entries in it that apply to leaks.
    pub entries: usize,
    /// Everything suppressed.
    pub suppressed: Amount,
    /// The entries that matched, with what each suppressed, most first.
    pub used: Vec<UsedSuppression>,
}

/// One suppression that matched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UsedSuppression {
    /// Its name (valgrind's first line; LSan's pattern).
    pub name: String,
    /// Leak groups it matched.
    pub groups: u64,
    /// What it suppressed.
    pub suppressed: Amount,
}

/// One size class.
#[derive(Clone, Debug, Serialize)]
pub struct SizeClass {
    /// `"< 1 KiB"`, `"1 KiB - 1 MiB"`, `"> 1 MiB"`.
    pub name: &'static str,
    /// Smallest size in the class.
    pub min_bytes: u64,
    /// Largest size in the class (`null`: unbounded).
    pub max_bytes: Option<u64>,
    /// Allocations of this size.
    pub allocations: u64,
    /// Their bytes.
    pub allocated_bytes: u64,
    /// Of those, still allocated at the end.
    pub leaked_allocations: u64,
    /// Their bytes.
    pub leaked_bytes: u64,
}

/// Live blocks sharing one call stack.
#[derive(Clone, Debug, Serialize)]
pub struct Leak {
    /// Bytes still allocated.
    pub bytes: u64,
    /// Blocks still allocated.
    pub allocations: u64,
    /// The call stack, `frames[0]` being the function that called the
    /// allocation API.
    pub frames: Vec<Arc<Frame>>,
    /// Set when the C/C++ runtime holds these blocks until exit by design
    /// (a stdio buffer, the loader's records): what they are. `null` for
    /// the program's own.
    pub note: Option<&'static str>,
    /// valgrind's kind of these blocks (a call stack whose blocks are of
    /// several kinds is one group per kind); `null` when the process was
    /// not scanned at exit.
    pub kind: Option<LeakKind>,
    /// The name of the suppression (`--suppressions`) that matched this
    /// group; `null` when none did. Suppressed groups are listed but not
    /// counted as leaks.
    pub suppressed: Option<String>,
}

/// One stack frame. A report holds the frames of every leak group, and
/// the same frames recur in most of them (cc1plus's 23,107 groups hold
/// 932 k frames of 7,450 distinct ones): the stacks share them
/// (`Arc<Frame>`, one per frame the symbolizer gave) and they share their
/// strings (`Arc<str>`). Copies of both took most of cc1plus's report's
/// 401 MB, then 90 MB of its 266.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Demangled function name; `null` when unknown.
    pub function: Option<Arc<str>>,
    /// Source file; `null` without debug information.
    pub file: Option<Arc<str>>,
    /// Source line; `null` without debug information.
    pub line: Option<u32>,
    /// The module (executable or library) holding the code.
    pub module: Option<Arc<str>>,
    /// The instruction address in the traced process, hexadecimal.
    pub address: Arc<str>,
    /// Whether the function was inlined into the next frame.
    pub inlined: bool,
}

/// Field by field, or within [`crate::json::write_pretty`] as rendered
/// once for every frame equal to it.
impl Serialize for Frame {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match crate::json::serialize_rendered(self, serializer) {
            crate::json::Rendered::Written(result) => result,
            crate::json::Rendered::Not(serializer) => {
                crate::json::Fields(self).serialize(serializer)
            }
        }
    }
}

impl Frame {
    /// A frame of function `name` and nothing else known (for tests).
    #[cfg(test)]
    pub(crate) fn named(name: &str) -> Frame {
        Frame {
            function: Some(name.into()),
            file: None,
            line: None,
            module: None,
            address: "0x1".into(),
            inlined: false,
        }
    }

    /// The frame as people read it (`heapwise_words::FrameText`: its
    /// name, its place, its short form inside a sentence).
    pub fn text(&self) -> heapwise_words::FrameText<'_> {
        heapwise_words::FrameText {
            function: self.function.as_deref(),
            file: self.file.as_deref(),
            line: self.line,
            module: self.module.as_deref(),
            address: &self.address,
            inlined: self.inlined,
        }
    }
}

/// About the trace file.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TraceInfo {
    /// The file read.
    pub path: String,
    /// Whether it ended in the middle of a block (the writer was killed or
    /// is still writing).
    pub truncated: bool,
    /// Bytes after the last complete block (0 unless `truncated`).
    pub partial_tail_bytes: u64,
    /// Where and why reading stopped early, if the file is damaged.
    pub damage: Option<String>,
    /// Allocation calls the tracer could not record.
    pub lost_events: u64,
    /// Threads that wrote to the trace.
    pub threads: u64,
    /// Bytes of the file read (header and complete blocks).
    pub bytes: u64,
    /// Complete blocks read.
    pub blocks: u64,
    /// Blocks the tracer stored without compressing them, because the
    /// program kept every CPU busy (`heapwise run --compress`).
    pub uncompressed_blocks: u64,
    /// Whether the tracer kept its buffers in a spill file, so that a
    /// process that dies loses nothing (see `docs/trace-format.md`).
    pub crash_safe: bool,
    /// Bytes of records the process had not written when it died,
    /// recovered from its spill file.
    pub recovered_bytes: u64,
    /// Threads whose records could not be recovered to the end (a buffer of
    /// theirs was not in the spill file): their last events are missing.
    pub unrecovered_streams: u64,
    /// Bytes of records known to be missing from those threads (0 when
    /// unknown).
    pub unrecovered_bytes: u64,
    /// The process's spill file is still there: the process still runs, or
    /// what it left in it could not be recovered (so its last events may
    /// be missing).
    pub spill_left: bool,
    /// The trace was compacted to stay under its size limit: the time
    /// before `detail_from_s` is kept in summary (`null` otherwise).
    pub compacted: Option<Compaction>,
}

/// How a trace kept under a size limit keeps its past (see
/// `docs/trace-format.md`, "Checkpoints").
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Compaction {
    /// Times the tracer compacted the trace.
    pub compactions: u32,
    /// Every event from this second on is in the trace; before it, memory
    /// over time is kept as snapshots (totals and leaks are exact either
    /// way).
    pub detail_from_s: f64,
    /// Snapshots of memory over time kept from before `detail_from_s`.
    pub snapshots: usize,
    /// Bytes of the file its checkpoint takes (header included): what the
    /// trace keeps of the time before `detail_from_s`.
    pub checkpoint_bytes: u64,
}

/// One point of the timeline (the end of a time bucket).
#[derive(Clone, Debug, Serialize)]
pub struct TimelinePoint {
    /// Seconds from the start.
    pub t_s: f64,
    /// Bytes live at that moment.
    pub live_bytes: u64,
    /// The most bytes live during the bucket.
    pub max_live_bytes: u64,
    /// Allocations during the bucket.
    pub allocations: u64,
    /// Bytes allocated during the bucket.
    pub allocated_bytes: u64,
    /// Frees during the bucket.
    pub frees: u64,
    /// Allocation rate during the bucket.
    pub allocated_bytes_per_s: f64,
    /// Resident set size last sampled by then (`null`: not sampled).
    pub rss_bytes: Option<u64>,
    /// The allocator's heap from the kernel (glibc's `brk` heap and thread
    /// arenas' heaps; in older traces, `mallinfo2`'s arena plus mmapped
    /// chunks) last sampled by then.
    pub heap_bytes: Option<u64>,
}

/// One call stack's growth.
#[derive(Clone, Debug, Serialize)]
pub struct Growth {
    /// The call stack.
    pub frames: Vec<Arc<Frame>>,
    /// `stable`, `plateau`, `sawtooth`, `linear`, `step`, `periodic`, `spike`.
    pub pattern: Pattern,
    /// Growth that does not level off and is statistically significant.
    pub leak: bool,
    /// Robust slope of its live bytes (`null` with too few points).
    pub slope_bytes_per_s: Option<f64>,
    /// Bytes it still held at the end.
    pub live_bytes_end: u64,
    /// Blocks it still held at the end.
    pub allocations_end: u64,
    /// The full verdict (slope interval, Mann–Kendall test, change points,
    /// confidence, the reason in one sentence).
    pub verdict: Verdict,
}

/// Verdicts on the whole process.
#[derive(Clone, Debug, Serialize)]
pub struct MemoryOverTime {
    /// The live heap over time.
    pub live: Verdict,
    /// RSS over time (`null`: not sampled).
    pub rss: Option<Verdict>,
    /// How fast memory leaks: the live heap's slope when it leaks as a
    /// whole, else the sum of the leaking stacks' slopes; `null` when
    /// nothing leaks.
    pub leak_rate_bytes_per_s: Option<f64>,
    /// Set when RSS grows while the live heap does not.
    pub fragmentation: Option<Fragmentation>,
}

/// RSS growing without the live heap.
#[derive(Clone, Debug, Serialize)]
pub struct Fragmentation {
    /// `fragmentation` (the allocator keeps freed memory) or
    /// `outside-malloc` (the growth is not in the malloc heap at all).
    pub kind: &'static str,
    /// One sentence.
    pub finding: String,
    /// RSS at the end minus RSS at the start.
    pub rss_growth_bytes: i64,
    /// Live heap bytes at the end minus at the start.
    pub live_growth_bytes: i64,
    /// The allocator's heap at the end minus at the start.
    pub heap_growth_bytes: Option<i64>,
    /// What to try.
    pub advice: Vec<String>,
}

/// The peak.
#[derive(Clone, Debug, Serialize)]
pub struct Peak {
    /// When, seconds from the start.
    pub t_s: f64,
    /// How many bytes were live.
    pub live_bytes: u64,
    /// The stacks holding the most at that moment.
    pub stacks: Vec<StackBytes>,
}

/// Bytes held by one stack.
#[derive(Clone, Debug, Serialize)]
pub struct StackBytes {
    /// Bytes.
    pub bytes: u64,
    /// The call stack.
    pub frames: Vec<Arc<Frame>>,
}

/// Old blocks still live at the end.
#[derive(Clone, Debug, Serialize)]
pub struct OldAllocations {
    /// Minimum age in seconds (`--min-age`).
    pub min_age_s: f64,
    /// Blocks that old.
    pub allocations: u64,
    /// Their bytes.
    pub bytes: u64,
    /// By stack, most bytes first.
    pub stacks: Vec<StackBlocks>,
}

/// Blocks held by one stack.
#[derive(Clone, Debug, Serialize)]
pub struct StackBlocks {
    /// Blocks.
    pub allocations: u64,
    /// Bytes.
    pub bytes: u64,
    /// The call stack.
    pub frames: Vec<Arc<Frame>>,
}

/// Temporary allocations.
#[derive(Clone, Debug, Serialize)]
pub struct Temporary {
    /// How many.
    pub allocations: u64,
    /// Their share of all allocations.
    pub fraction: f64,
    /// The stacks making the most, most first.
    pub stacks: Vec<StackCount>,
}

/// A count for one stack.
#[derive(Clone, Debug, Serialize)]
pub struct StackCount {
    /// How many.
    pub allocations: u64,
    /// The call stack.
    pub frames: Vec<Arc<Frame>>,
}

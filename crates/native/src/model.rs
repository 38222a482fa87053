//! The report as plain data: what `heapwise report --format json` prints
//! (schema `heapwise.native-report/1`, see `docs/schemas.md`) and what every
//! other renderer reads.

use serde::Serialize;

/// The schema string of [`NativeReport`].
pub const SCHEMA: &str = "heapwise.native-report/1";

/// A native trace, analysed.
#[derive(Clone, Debug, Serialize)]
pub struct NativeReport {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    /// The traced process.
    pub process: Process,
    /// Totals.
    pub summary: Summary,
    /// Allocations by size: under 1 KiB, 1 KiB–1 MiB, over 1 MiB.
    pub size_classes: Vec<SizeClass>,
    /// Blocks still allocated at the end, grouped by identical call stack,
    /// largest `bytes` first.
    pub leaks: Vec<Leak>,
    /// About the trace file itself.
    pub trace: TraceInfo,
    /// Things the reader should know (truncated trace, lost events,
    /// modules that could not be symbolized, ...).
    pub warnings: Vec<String>,
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
    pub frames: Vec<Frame>,
    /// Set when the C/C++ runtime holds these blocks until exit by design
    /// (a stdio buffer, the loader's records): what they are. `null` for
    /// the program's own.
    pub note: Option<&'static str>,
}

/// One stack frame.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Frame {
    /// Demangled function name; `null` when unknown.
    pub function: Option<String>,
    /// Source file; `null` without debug information.
    pub file: Option<String>,
    /// Source line; `null` without debug information.
    pub line: Option<u32>,
    /// The module (executable or library) holding the code.
    pub module: Option<String>,
    /// The instruction address in the traced process, hexadecimal.
    pub address: String,
    /// Whether the function was inlined into the next frame.
    pub inlined: bool,
}

/// About the trace file.
#[derive(Clone, Debug, Serialize)]
pub struct TraceInfo {
    /// The file read.
    pub path: String,
    /// Whether it ended in the middle of a block (the writer was killed or
    /// is still writing).
    pub truncated: bool,
    /// Where and why reading stopped early, if the file is damaged.
    pub damage: Option<String>,
    /// Allocation calls the tracer could not record.
    pub lost_events: u64,
    /// Threads that wrote to the trace.
    pub threads: u64,
}

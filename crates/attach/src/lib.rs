//! Calling functions inside a running process with ptrace, and leaving it
//! exactly as it was: the injector behind `heapwise attach`. It loads a
//! library into the process (`dlopen`, called on one of its threads) and
//! calls an entry point of it with one string argument.
//!
//! The process belongs to someone else and is usually a production
//! service; each rule below exists because breaking it leaves that service
//! stopped, changed or crashed:
//!
//! 1. **Never leave it stopped.** Only one thread is ever stopped, with
//!    `PTRACE_SEIZE` + `PTRACE_INTERRUPT` (no `SIGSTOP` is sent, so no
//!    job-control stop can outlive us), and the stopped thread is a value
//!    ([`Stopped`]) whose `Drop` restores its registers and detaches, on
//!    every path: an error, a panic, a signal the call took.
//! 2. **Never change it.** Its registers are restored bit for bit before
//!    the detach, the scratch memory used for arguments is below its stack
//!    pointer's red zone (memory the thread does not own yet), a signal
//!    that arrives while our call runs is given back to the thread after
//!    the detach, and a system call the thread was blocked in is restarted
//!    by the kernel as if nothing happened (`orig_rax` is restored).
//! 3. **Never call into a thread that holds a lock our call needs.** The
//!    thread is stopped at a moment when it is blocked in a system call or
//!    running outside libc, the dynamic loader and heapwise's own library
//!    (a thread interrupted inside `malloc` holds its arena's lock, and
//!    `dlopen` allocates; one inside a hook may hold the tracer's locks);
//!    otherwise it runs a little longer and is stopped again.
//! 4. **Refuse before touching anything** when the attach cannot work: no
//!    such process, a static binary (no libc to find `dlopen` in), another
//!    tracer attached (`TracerPid`), ptrace not permitted (with the setting
//!    or capability that forbids it). One sentence each ([`AttachError`]).
//! 5. **Bounded waits.** A call that does not return within its time limit
//!    is abandoned: the thread is interrupted, restored and detached, and
//!    the error says so.
//!
//! x86-64 Linux only, like the preload.

mod maps;
mod ptrace;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use maps::{Mapping, mappings};
pub use ptrace::Stopped;

/// Why an attach was refused or failed. Every message is one sentence a
/// person can act on.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    /// No process with this id.
    #[error("there is no process {0}")]
    NoSuchProcess(i32),
    /// The process has no libc loaded: statically linked.
    #[error(
        "process {0} is statically linked (no libc is loaded into it), so heapwise cannot load its library into it"
    )]
    Static(i32),
    /// Another tracer (a debugger, strace) is attached.
    #[error(
        "process {pid} is already being traced by process {tracer} (a debugger or strace?): detach that first"
    )]
    Traced {
        /// The target.
        pid: i32,
        /// `TracerPid` of the target.
        tracer: i32,
    },
    /// The kernel refused ptrace.
    #[error("ptrace is not permitted on process {pid}: {why}")]
    NotPermitted {
        /// The target.
        pid: i32,
        /// Which setting or capability forbids it.
        why: String,
    },
    /// A function the attach needs is not in the process.
    #[error("cannot find {function} in process {pid}: {why}")]
    Missing {
        /// The target.
        pid: i32,
        /// `dlopen`, or the library's entry point.
        function: String,
        /// What was looked at.
        why: String,
    },
    /// `dlopen` failed inside the process.
    #[error("process {pid} could not load {library}: {message}")]
    LoadFailed {
        /// The target.
        pid: i32,
        /// The library.
        library: PathBuf,
        /// `dlerror()`'s message.
        message: String,
    },
    /// A call did not return in time; it was abandoned.
    #[error(
        "a call inside process {pid} did not return within {seconds} s and was abandoned; the process was restored and detached"
    )]
    Timeout {
        /// The target.
        pid: i32,
        /// The limit.
        seconds: u64,
    },
    /// The process exited or was killed while attached.
    #[error("process {0} ended during the attach")]
    Ended(i32),
    /// Another system error.
    #[error("{what} failed for process {pid}: {source}")]
    Os {
        /// The target.
        pid: i32,
        /// The operation.
        what: &'static str,
        /// The error.
        source: std::io::Error,
    },
}

/// How long one call may run inside the target.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Checks what can be checked without touching the process: it exists, it
/// is dynamically linked, no other tracer is attached. Returns its libc
/// mapping's path.
pub fn check(pid: i32) -> Result<PathBuf, AttachError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|_| AttachError::NoSuchProcess(pid))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
    };
    if field("State:").is_some_and(|s| s.starts_with('Z') || s.starts_with('X')) {
        return Err(AttachError::NoSuchProcess(pid));
    }
    let tracer: i32 = field("TracerPid:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if tracer != 0 {
        return Err(AttachError::Traced { pid, tracer });
    }
    let maps = read_maps(pid)?;
    libc_path(&maps).ok_or(AttachError::Static(pid))
}

/// The path of the libc mapped in a process, if any.
fn libc_path(maps: &[Mapping]) -> Option<PathBuf> {
    maps.iter()
        .filter_map(|m| m.path.as_ref())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libc.so") || n.starts_with("libc-"))
        })
        .cloned()
}

/// The runtime address of function `name` of the ELF file `file` in a
/// process whose mappings are `maps`.
pub fn function_address(
    pid: i32,
    maps: &[Mapping],
    file: &Path,
    name: &str,
) -> Result<u64, AttachError> {
    let missing = |why: String| AttachError::Missing {
        pid,
        function: name.to_string(),
        why,
    };
    // The file as the process sees it (its root may differ from ours).
    let on_disk = [
        PathBuf::from(format!("/proc/{pid}/root")).join(file.strip_prefix("/").unwrap_or(file)),
        file.to_path_buf(),
    ]
    .into_iter()
    .find(|p| p.exists())
    .ok_or_else(|| missing(format!("{} cannot be read", file.display())))?;
    let offset = heapwise_symbols::function_file_offset(&on_disk, name)
        .map_err(|err| missing(err.to_string()))?
        .ok_or_else(|| missing(format!("{} does not define it", file.display())))?;
    maps.iter()
        .find(|m| {
            m.path.as_deref() == Some(file)
                && m.executable
                && (m.offset..m.offset + (m.end - m.start)).contains(&offset)
        })
        .map(|m| m.start + (offset - m.offset))
        .ok_or_else(|| {
            missing(format!(
                "{} does not map that part of {}",
                pid,
                file.display()
            ))
        })
}

/// Loads `library` into process `pid` and calls its function `entry` with
/// the string `argument`; returns what `entry` returned. The process is
/// left running as it was, whatever happens (see the rules above).
pub fn load_and_call(
    pid: i32,
    library: &Path,
    entry: &str,
    argument: &str,
) -> Result<i64, AttachError> {
    let libc = check(pid)?;
    let maps = read_maps(pid)?;
    let dlopen = function_address(pid, &maps, &libc, "dlopen")?;
    let dlerror = function_address(pid, &maps, &libc, "dlerror")?;
    let library = canonical(pid, library)?;
    let mut thread = Stopped::stop(pid, &maps)?;
    let handle = thread.call(
        dlopen,
        &[
            ptrace::Arg::Str(library.to_string_lossy().as_bytes()),
            ptrace::Arg::Int(libc::RTLD_NOW as u64),
        ],
        CALL_TIMEOUT,
    )?;
    if handle == 0 {
        let message = thread.call(dlerror, &[], CALL_TIMEOUT)?;
        let message = if message == 0 {
            "dlopen failed without a reason".to_string()
        } else {
            thread.read_string(message as u64, 1024)
        };
        return Err(AttachError::LoadFailed {
            pid,
            library,
            message,
        });
    }
    let maps = read_maps(pid)?;
    let entry = function_address(pid, &maps, &library, entry)?;
    call_and_detach(thread, entry, argument)
}

/// Calls `entry(argument)` on the stopped thread, then restores and
/// detaches it; returns what `entry` returned.
fn call_and_detach(mut thread: Stopped, entry: u64, argument: &str) -> Result<i64, AttachError> {
    let result = thread.call(
        entry,
        &[ptrace::Arg::Str(argument.as_bytes())],
        CALL_TIMEOUT,
    )?;
    thread.detach()?;
    Ok(result)
}

fn read_maps(pid: i32) -> Result<Vec<Mapping>, AttachError> {
    mappings(pid).map_err(|source| AttachError::Os {
        pid,
        what: "reading /proc/PID/maps",
        source,
    })
}

fn canonical(pid: i32, library: &Path) -> Result<PathBuf, AttachError> {
    library.canonicalize().map_err(|source| AttachError::Os {
        pid,
        what: "finding the library",
        source,
    })
}

/// Calls the function `entry` of `library`, already loaded into process
/// `pid`, with the string `argument`; returns what it returned.
pub fn call_loaded(
    pid: i32,
    library: &Path,
    entry: &str,
    argument: &str,
) -> Result<i64, AttachError> {
    check(pid)?;
    let maps = read_maps(pid)?;
    let library = canonical(pid, library)?;
    let entry = function_address(pid, &maps, &library, entry)?;
    let thread = Stopped::stop(pid, &maps)?;
    call_and_detach(thread, entry, argument)
}

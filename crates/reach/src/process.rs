//! A process held still for the length of a scan: every thread stopped
//! with ptrace, its registers read, its writable memory copied; then let
//! go exactly as it was.
//!
//! Rules, and why:
//!
//! 1. **Never leave the process stopped.** The stopped threads are owned
//!    by a [`Snapshot`] whose `Drop` detaches every one of them, so an
//!    error or a panic on our side still lets the process go (and if
//!    heapwise itself dies, the kernel detaches its tracees).
//! 2. **Stop, do not change.** `PTRACE_SEIZE` plus `PTRACE_INTERRUPT` stop
//!    a thread without sending it a signal; a signal that arrives while it
//!    is stopped is handed back when it is let go. No register or byte of
//!    the process is written.
//! 3. **Every thread, even new ones.** The task list is read again until
//!    no thread appears that is not stopped yet (a running thread may
//!    start another meanwhile).
//! 4. **Copy in large reads.** Memory is copied with `process_vm_readv`,
//!    many megabytes per call; a page that cannot be read (a file mapping
//!    past its file's end) is skipped and said, not fatal.

use std::collections::HashMap;
use std::io;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::BlockTable;
use crate::buffers::Buffers;
use crate::maps::{self, Mapping};
use crate::{Memory, Probe, heuristics};

/// Why a process could not be scanned; every message is one sentence.
#[derive(Debug, thiserror::Error)]
pub enum ReachError {
    /// ptrace was refused.
    #[error("cannot stop process {pid} to read its memory: {why}")]
    NotPermitted {
        /// The process.
        pid: u32,
        /// Why, in words.
        why: String,
    },
    /// Another process traces it (a debugger).
    #[error(
        "cannot stop process {pid} to read its memory: it is being traced by process {tracer} (a debugger?)"
    )]
    AlreadyTraced {
        /// The process.
        pid: u32,
        /// The tracer's pid.
        tracer: u32,
    },
    /// It is gone.
    #[error("process {0} ended before its memory could be read")]
    Gone(u32),
    /// A thread did not stop in time.
    #[error("a thread of process {pid} did not stop within {seconds} s")]
    Timeout {
        /// The process.
        pid: u32,
        /// How long we waited.
        seconds: u64,
    },
    /// Any other system error.
    #[error("cannot read process {pid} ({what}): {source}")]
    Os {
        /// The process.
        pid: u32,
        /// What was being done.
        what: &'static str,
        /// The error.
        source: io::Error,
    },
}

/// A thread as it was stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thread {
    /// Kernel thread id.
    pub tid: u32,
    /// The general-purpose registers valgrind scans: rax, rcx, rdx, rbx,
    /// rsp, rbp, rsi, rdi, r8–r15.
    pub registers: [u64; 16],
    /// The stack pointer.
    pub sp: u64,
    /// The thread pointer (`fs` base): glibc's thread control block.
    pub tp: u64,
}

/// Memory copied from the process: one readable and writable mapping.
#[derive(Debug)]
pub struct Region {
    /// Its first address.
    pub start: u64,
    /// The words from `start`, zero where a page could not be read.
    pub words: Vec<u64>,
}

impl Region {
    /// One past its last address.
    pub fn end(&self) -> u64 {
        self.start + 8 * self.words.len() as u64
    }
}

/// A stopped process, its registers and a copy of its writable memory.
/// Dropping it lets the process go (see the module's rule 1).
pub struct Snapshot {
    /// The process.
    pub pid: u32,
    /// Every mapping, as `/proc/PID/maps` listed them while it was stopped.
    pub maps: Vec<Mapping>,
    /// The copied memory, in address order.
    pub regions: Vec<Region>,
    /// Every thread that was stopped.
    pub threads: Vec<Thread>,
    /// Ranges that could not be read, with why.
    pub unread: Vec<(u64, u64, String)>,
    /// Mappings too large to copy that are no heap: roots, which the scan
    /// reads in pieces while the process is stopped ([`STREAMED_FROM`]).
    pub streamed: Vec<(u64, u64)>,
    /// Bytes copied, and to be read in pieces.
    pub copied_bytes: u64,
    stopped: Vec<Stopped>,
    since: Instant,
    vtables: Mutex<HashMap<u64, bool>>,
}

/// One thread we stopped, and the signal to hand back when it goes.
#[derive(Debug)]
struct Stopped {
    tid: u32,
    signal: i32,
}

fn ptrace(request: libc::c_uint, tid: u32, addr: usize, data: usize) -> io::Result<()> {
    // SAFETY: the requests used take integers or pointers to our own live
    // buffers of the right type.
    let rc = unsafe { libc::ptrace(request, tid as libc::pid_t, addr, data) };
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl Snapshot {
    /// Stops every thread of `pid`, reads their registers and copies every
    /// readable and writable mapping that is not a device and not wholly
    /// inside one of `skip` (the tracer's own memory). The process stays
    /// stopped until the snapshot is released or dropped.
    ///
    /// The copies go into `buffers` (prepared earlier: see
    /// [`Buffers::prepare`]), or fresh memory where none was prepared.
    /// With `table`, of the allocator's heap (its `[heap]`, its arenas'
    /// heaps, any mapping in which a block starts: memory scanned only as
    /// blocks) only the blocks are copied, not the free memory between
    /// them: a program that freed most of its heap before exiting left
    /// hundreds of megabytes that would be copied for nothing.
    pub fn take(
        pid: u32,
        skip: &[(u64, u64)],
        mut buffers: Buffers,
        table: Option<&BlockTable>,
    ) -> Result<Snapshot, ReachError> {
        let since = Instant::now();
        let mut snapshot = Snapshot {
            pid,
            maps: Vec::new(),
            regions: Vec::new(),
            threads: Vec::new(),
            unread: Vec::new(),
            streamed: Vec::new(),
            copied_bytes: 0,
            stopped: Vec::new(),
            since,
            vtables: Mutex::new(HashMap::new()),
        };
        snapshot.stop_all()?;
        for stopped in &snapshot.stopped {
            // SAFETY: plain integers, filled by the kernel.
            let mut regs: libc::user_regs_struct = unsafe { std::mem::zeroed() };
            match ptrace(
                libc::PTRACE_GETREGS,
                stopped.tid,
                0,
                &mut regs as *mut _ as usize,
            ) {
                Ok(()) => snapshot.threads.push(Thread {
                    tid: stopped.tid,
                    registers: [
                        regs.rax, regs.rcx, regs.rdx, regs.rbx, regs.rsp, regs.rbp, regs.rsi,
                        regs.rdi, regs.r8, regs.r9, regs.r10, regs.r11, regs.r12, regs.r13,
                        regs.r14, regs.r15,
                    ],
                    sp: regs.rsp,
                    tp: regs.fs_base,
                }),
                // Killed meanwhile (SIGKILL ends even a stopped thread).
                Err(err) if err.raw_os_error() == Some(libc::ESRCH) => {}
                Err(source) => {
                    return Err(ReachError::Os {
                        pid,
                        what: "PTRACE_GETREGS",
                        source,
                    });
                }
            }
        }
        snapshot.maps = maps::read(pid).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => ReachError::Gone(pid),
            _ => ReachError::Os {
                pid,
                what: "reading /proc/PID/maps",
                source,
            },
        })?;
        for (start, end) in crate::buffers::wanted(&snapshot.maps, skip) {
            // A heap prepared whole is copied whole (`Buffers::prepare`).
            let prepared = buffers.prepared(start);
            let mapping = snapshot.maps.iter().find(|m| m.start == start);
            let spans = match (table, mapping) {
                (Some(table), Some(mapping)) if !prepared => {
                    heap_spans(mapping, table, |at| snapshot.read_word(at))
                }
                _ => None,
            };
            let Some(spans) = spans else {
                // A root mapping (no heap: `heap_spans` said so) too large
                // to copy is read in pieces by the scan.
                if table.is_some() && !prepared && end - start >= STREAMED_FROM {
                    snapshot.streamed.push((start, end));
                    snapshot.copied_bytes += end - start;
                    continue;
                }
                let words = buffers.take(start, ((end - start) / 8) as usize);
                let region = snapshot.copy(start, end, words);
                snapshot.copied_bytes += end - start;
                snapshot.regions.push(region);
                continue;
            };
            for (i, (from, to)) in spans.into_iter().enumerate() {
                let len = ((to - from) / 8) as usize;
                // A mapping prepared whole (one that holds a large block
                // glibc mapped for it alone) lends its buffer to its first
                // span.
                let words = if i == 0 {
                    buffers.take(start, len)
                } else {
                    crate::buffers::fresh(len, false)
                };
                let region = snapshot.copy(from, to, words);
                snapshot.copied_bytes += to - from;
                snapshot.regions.push(region);
            }
        }
        Ok(snapshot)
    }

    /// Lets the process go; returns how long it was held.
    pub fn release(mut self) -> Duration {
        self.detach_all();
        self.since.elapsed()
    }

    fn detach_all(&mut self) {
        for stopped in self.stopped.drain(..) {
            let detach = || ptrace(libc::PTRACE_DETACH, stopped.tid, 0, stopped.signal as usize);
            if detach().is_ok() {
                continue;
            }
            // Not stopped yet (a thread that did not stop in time): wait a
            // little for its stop, then let it go; a thread killed meanwhile
            // needs nothing.
            let deadline = Instant::now() + Duration::from_millis(500);
            while Instant::now() < deadline {
                let mut status = 0;
                // SAFETY: waiting for our own tracee.
                let rc = unsafe {
                    libc::waitpid(
                        stopped.tid as i32,
                        &mut status,
                        libc::__WALL | libc::WNOHANG,
                    )
                };
                if rc != 0 {
                    let _ = detach();
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    /// Rule 3: seize and interrupt every thread, until the task list holds
    /// no thread that is not stopped.
    fn stop_all(&mut self) -> Result<(), ReachError> {
        let pid = self.pid;
        let mut seen: Vec<u32> = Vec::new();
        let mut interrupted: Vec<u32> = Vec::new();
        loop {
            let tasks = tasks(pid)?;
            let new: Vec<u32> = tasks.into_iter().filter(|t| !seen.contains(t)).collect();
            if new.is_empty() {
                break;
            }
            for tid in new {
                seen.push(tid);
                if zombie(pid, tid) {
                    continue;
                }
                match ptrace(libc::PTRACE_SEIZE, tid, 0, 0) {
                    Ok(()) => {}
                    Err(err) if err.raw_os_error() == Some(libc::ESRCH) => continue,
                    Err(err) if err.raw_os_error() == Some(libc::EPERM) => {
                        return Err(refused(pid));
                    }
                    Err(source) => {
                        return Err(ReachError::Os {
                            pid,
                            what: "PTRACE_SEIZE",
                            source,
                        });
                    }
                }
                // From here on the thread is ours to let go (rule 1).
                self.stopped.push(Stopped { tid, signal: 0 });
                if ptrace(libc::PTRACE_INTERRUPT, tid, 0, 0).is_ok() {
                    interrupted.push(tid);
                }
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut waiting = interrupted;
        while !waiting.is_empty() {
            let mut still = Vec::new();
            for tid in waiting {
                let mut status = 0;
                // SAFETY: waiting for our own tracee.
                let rc =
                    unsafe { libc::waitpid(tid as i32, &mut status, libc::__WALL | libc::WNOHANG) };
                if rc == 0 {
                    still.push(tid);
                } else if rc < 0 || libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
                    self.stopped.retain(|s| s.tid != tid);
                } else if libc::WIFSTOPPED(status) && status >> 16 != libc::PTRACE_EVENT_STOP {
                    // A signal arrived first: it stays pending, handed back
                    // at the detach (rule 2).
                    if let Some(s) = self.stopped.iter_mut().find(|s| s.tid == tid) {
                        s.signal = libc::WSTOPSIG(status);
                    }
                }
            }
            waiting = still;
            if waiting.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                return Err(ReachError::Timeout { pid, seconds: 10 });
            }
            std::thread::sleep(Duration::from_micros(100));
        }
        if self.stopped.is_empty() {
            return Err(ReachError::Gone(pid));
        }
        Ok(())
    }

    /// Rule 4: copies `[start, end)` in large reads, skipping pages that
    /// cannot be read.
    fn copy(&mut self, start: u64, end: u64, words: Vec<u64>) -> Region {
        read_into(self.pid, start, end, words, &mut self.unread)
    }

    /// Reads one word of the process (it is stopped), from the copy if it
    /// was copied.
    fn read_word(&self, address: u64) -> Option<u64> {
        if let Some(words) = self.words(address, address + 8) {
            return Some(words[0]);
        }
        read_remote_word(self.pid, address)
    }

    fn mapping(&self, address: u64) -> Option<&Mapping> {
        let i = self.maps.partition_point(|m| m.end <= address);
        self.maps.get(i).filter(|m| m.contains(address))
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        self.detach_all();
    }
}

impl Memory for Snapshot {
    fn words(&self, from: u64, to: u64) -> Option<&[u64]> {
        let i = self.regions.partition_point(|r| r.end() <= from);
        let region = self.regions.get(i)?;
        if from < region.start || to > region.end() {
            return None;
        }
        let first = ((from - region.start) / 8) as usize;
        let last = ((to - region.start) / 8) as usize;
        region.words.get(first..last)
    }
}

impl Probe for Snapshot {
    fn is_vtable(&self, address: u64) -> bool {
        // Most candidates point into the heap: one look at the mappings
        // (a binary search) rules them out without the cache's lock and
        // hash — in perl's heap, full of interior pointers, the cache was
        // a fifth of the scan's time.
        if !self.mapping(address).is_some_and(|m| m.is_file() && m.read) {
            return false;
        }
        if let Ok(cache) = self.vtables.lock()
            && let Some(&known) = cache.get(&address)
        {
            return known;
        }
        let found = heuristics::looks_like_vtable(
            address,
            |a| {
                self.mapping(a)
                    .filter(|m| m.is_file() && m.read)
                    .map(|m| (m.exec, m.end))
            },
            |a| self.read_word(a),
        );
        if let Ok(mut cache) = self.vtables.lock() {
            cache.insert(address, found);
        }
        found
    }
}

/// Reads `[start, end)` of process `pid` into `words` (empty, with room
/// for it); a page that cannot be read reads as zeros and is added to
/// `unread` (merged with the range skipped just before), with why.
///
/// A large range is read by several threads at once, a part each: the
/// kernel's copy (pinning the process's pages, then copying them) runs on
/// the calling thread, and one thread copied perl's 133 MB heap in
/// about 70 ms while the other core had nothing to do.
pub(crate) fn read_into(
    pid: u32,
    start: u64,
    end: u64,
    mut words: Vec<u64>,
    unread: &mut Vec<(u64, u64, String)>,
) -> Region {
    /// Ranges smaller than this are read by one thread.
    const SPLIT_FROM: u64 = 16 << 20;
    let len = ((end - start) / 8) as usize;
    // Read straight into the vector's memory (empty, with room for
    // `len` words): zeroing it first would touch every page twice.
    debug_assert!(words.is_empty() && words.capacity() >= len);
    let base = Destination(words.as_mut_ptr());
    let threads = if end - start < SPLIT_FROM {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
    };
    if threads <= 1 {
        // SAFETY: `base` has room for `[start, end)`.
        unsafe { read_part(pid, (start, end), start, base, unread) };
    } else {
        // Parts of whole pages from `start` (a range that cannot be read
        // across two parts is merged back into one below).
        let part = ((end - start) / threads as u64).next_multiple_of(PAGE);
        let bounds: Vec<(u64, u64)> = (0..threads as u64)
            .map(|i| (start + i * part, (start + (i + 1) * part).min(end)))
            .filter(|&(from, to)| from < to)
            .collect();
        let read = move |bounds: (u64, u64)| {
            let mut unread = Vec::new();
            // SAFETY: `base` has room for `[start, end)`, and the parts do
            // not overlap.
            unsafe { read_part(pid, bounds, start, base, &mut unread) };
            unread
        };
        let parts: Vec<Vec<(u64, u64, String)>> = std::thread::scope(|scope| {
            // The first part on this thread; a part whose thread the
            // system will not start, too, after it.
            let readers: Vec<_> = bounds[1..]
                .iter()
                .map(|&part| {
                    std::thread::Builder::new()
                        .name("heapwise-copy".into())
                        .spawn_scoped(scope, move || read(part))
                        .map_err(|_| part)
                })
                .collect();
            let mut parts = vec![read(bounds[0])];
            for reader in readers {
                parts.push(match reader {
                    Ok(reader) => reader
                        .join()
                        .unwrap_or_else(|e| std::panic::resume_unwind(e)),
                    Err(part) => read(part),
                });
            }
            parts
        });
        for (from, to, why) in parts.into_iter().flatten() {
            match unread.last_mut() {
                Some((_, last_end, last_why)) if *last_end == from && *last_why == why => {
                    *last_end = to;
                }
                _ => unread.push((from, to, why)),
            }
        }
    }
    // SAFETY: every word was written, by the kernel or with zeros.
    unsafe { words.set_len(len) };
    Region { start, words }
}

/// A page.
const PAGE: u64 = 4096;

/// Where a range is copied to: the first word of a vector's memory, for
/// the address `start` given with it. Several threads write into it at
/// once, each into its own part.
#[derive(Clone, Copy)]
struct Destination(*mut u64);

// SAFETY: the threads sharing a destination write disjoint parts of it,
// and the vector outlives them (`read_into` joins them first).
unsafe impl Send for Destination {}

/// Copies `[from, to)` of process `pid` to `base` (the word for address
/// `start`) in large reads, zeros for a page that cannot be read, said in
/// `unread`.
///
/// # Safety
///
/// `base` must have room for the words from `start` to `to`, and no one
/// else may touch those from `from` to `to` meanwhile.
unsafe fn read_part(
    pid: u32,
    (from, to): (u64, u64),
    start: u64,
    base: Destination,
    unread: &mut Vec<(u64, u64, String)>,
) {
    const CHUNK: u64 = 64 << 20;
    let base = base.0;
    let mut at = from;
    while at < to {
        let want = (to - at).min(CHUNK);
        let offset = ((at - start) / 8) as usize;
        let local = libc::iovec {
            // SAFETY: inside the room the caller vouches for.
            iov_base: unsafe { base.add(offset) }.cast(),
            iov_len: want as usize,
        };
        let remote = libc::iovec {
            iov_base: at as *mut libc::c_void,
            iov_len: want as usize,
        };
        // SAFETY: `local` is inside that room; the kernel checks `remote`.
        let n = unsafe { libc::process_vm_readv(pid as i32, &local, 1, &remote, 1, 0) };
        if n > 0 {
            at += n as u64;
            continue;
        }
        let why = io::Error::last_os_error();
        // Skip the page that failed, and say so (merged with the range
        // skipped just before); it reads as zeros.
        let next = ((at / PAGE) + 1) * PAGE;
        let zeros = ((next.min(to) - at) / 8) as usize;
        // SAFETY: inside that room.
        unsafe { base.add(offset).write_bytes(0, zeros) };
        match unread.last_mut() {
            Some((_, last_end, _)) if *last_end == at => *last_end = next.min(to),
            _ => unread.push((at, next.min(to), plain(&why))),
        }
        at = next;
    }
}

/// One word of process `pid`'s memory, read with `process_vm_readv`.
pub(crate) fn read_remote_word(pid: u32, address: u64) -> Option<u64> {
    let mut word = 0u64;
    let local = libc::iovec {
        iov_base: (&mut word as *mut u64).cast(),
        iov_len: 8,
    };
    let remote = libc::iovec {
        iov_base: address as *mut libc::c_void,
        iov_len: 8,
    };
    // SAFETY: `local` is our own word; the kernel checks `remote`.
    let n = unsafe { libc::process_vm_readv(pid as i32, &local, 1, &remote, 1, 0) };
    (n == 8).then_some(word)
}

/// Whether `mapping` is glibc's `[heap]` or one of its arenas' heaps (by
/// its header, read with `read`): the heap as it can be told apart before
/// the blocks are known.
pub(crate) fn is_glibc_heap(mapping: &Mapping, read: impl Fn(u64) -> Option<u64>) -> bool {
    mapping.name == "[heap]"
        || crate::roots::may_be_arena_heap(mapping) && {
            let header: Option<Vec<u64>> = (0..crate::roots::ARENA_HEADER / 8)
                .map(|i| read(mapping.start + 8 * i))
                .collect();
            header.is_some_and(|h| crate::roots::is_arena_header(&h))
        }
}

/// Mappings of at least this many bytes that are no heap are not copied
/// but read in pieces by the scan: roots are scanned once, in address
/// order, so they need no copy, and memory for a copy must be faulted in
/// first (cc1plus's 137 MB of garbage-collected pools took 0.87 s to
/// prepare buffers for, while the program waited).
pub const STREAMED_FROM: u64 = 16 << 20;

/// Blocks closer than this are copied as one span (fewer regions to look
/// words up in, and about the cost of a page's copy).
const SPAN_GAP: u64 = 4096;

/// If `mapping` is the allocator's heap (as `roots` tells it), the ranges
/// of it to copy: its blocks (8-byte aligned, neighbours merged) and an
/// arena heap's header; `None` for any other mapping. `read` reads a word
/// of the process.
pub(crate) fn heap_spans(
    mapping: &Mapping,
    table: &BlockTable,
    read: impl Fn(u64) -> Option<u64>,
) -> Option<Vec<(u64, u64)>> {
    let glibc = is_glibc_heap(mapping, read);
    if !glibc && !table.any_start_in(mapping.start, mapping.end) {
        return None;
    }
    let arena = glibc && mapping.name != "[heap]";
    let mut spans: Vec<(u64, u64)> = Vec::new();
    if arena {
        spans.push((mapping.start, mapping.start + crate::roots::ARENA_HEADER));
    }
    let first = table.first_start_at_or_after(mapping.start);
    for index in first..table.len() as u32 {
        let start = table.start(index);
        if start >= mapping.end {
            break;
        }
        let from = start & !7;
        let to = table.end(index).next_multiple_of(8).min(mapping.end);
        match spans.last_mut() {
            Some((_, end)) if from <= end.saturating_add(SPAN_GAP) => *end = (*end).max(to),
            _ => spans.push((from, to)),
        }
    }
    Some(spans)
}

/// The threads of `pid`.
fn tasks(pid: u32) -> Result<Vec<u32>, ReachError> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/task")).map_err(|_| ReachError::Gone(pid))?;
    Ok(dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect())
}

/// Whether thread `tid` has exited but not been reaped (a main thread that
/// called `pthread_exit` stays so while others run).
fn zombie(pid: u32, tid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']))
        })
        .unwrap_or(true)
}

/// Why `PTRACE_SEIZE` said EPERM: a tracer already, or not allowed.
fn refused(pid: u32) -> ReachError {
    let tracer = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("TracerPid:"))
                .and_then(|v| v.trim().parse::<u32>().ok())
        })
        .unwrap_or(0);
    if tracer != 0 {
        return ReachError::AlreadyTraced { pid, tracer };
    }
    let scope = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok());
    let why = match scope {
        Some(3) => "kernel.yama.ptrace_scope is 3, which forbids ptrace until the next boot",
        Some(2) => {
            "kernel.yama.ptrace_scope is 2: only a process with CAP_SYS_PTRACE may trace (run heapwise as root)"
        }
        _ => {
            "the kernel refused ptrace (a seccomp or security policy, or a container without ptrace)"
        }
    };
    ReachError::NotPermitted {
        pid,
        why: why.to_string(),
    }
}

/// An I/O error's message without the "(os error N)" suffix.
fn plain(err: &io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    /// A `sleep` that we start, stop, copy and let go: it is left as it was
    /// and still ends normally.
    #[test]
    fn a_running_process_is_stopped_copied_and_let_go() {
        let mut child = Command::new("sleep")
            .arg("0.5")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        std::thread::sleep(Duration::from_millis(100));
        let snapshot = Snapshot::take(pid, &[], Buffers::default(), None).unwrap();
        assert_eq!(snapshot.threads.len(), 1);
        assert_eq!(snapshot.threads[0].tid, pid);
        let stack = snapshot.maps.iter().find(|m| m.name == "[stack]").unwrap();
        assert!(stack.contains(snapshot.threads[0].sp));
        assert!(snapshot.regions.iter().any(|r| r.start == stack.start));
        assert!(snapshot.copied_bytes > 0);
        // Its stack holds its stack pointer's neighbourhood: readable.
        let sp = snapshot.threads[0].sp & !7;
        assert!(snapshot.words(sp, sp + 64).is_some());
        let held = snapshot.release();
        assert!(held < Duration::from_secs(5));
        let status = child.wait().unwrap();
        assert!(status.success(), "{status:?}");
    }

    /// A large range is read in parts by several threads: every word
    /// lands where it belongs, and pages that cannot be read — one inside
    /// a part, two on either side of the parts' boundary — read as zeros
    /// and are said once each, the two as one range.
    #[test]
    fn a_large_range_read_in_parts_is_whole_and_says_what_it_could_not_read() {
        const LEN: usize = 24 << 20;
        // SAFETY: a fresh private mapping of our own.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(base, libc::MAP_FAILED);
        let start = base as u64;
        let words = LEN / 8;
        // SAFETY: the mapping holds `words` words.
        let memory = unsafe { std::slice::from_raw_parts_mut(base.cast::<u64>(), words) };
        for (i, w) in memory.iter_mut().enumerate() {
            *w = i as u64 ^ 0x5555;
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        let part = (LEN as u64 / threads as u64).next_multiple_of(PAGE);
        let inside = start + 3 * PAGE;
        let boundary = start + part.min(LEN as u64 / 2);
        let protect = |at: u64, len: u64| {
            // SAFETY: pages of our own mapping, no longer read by us.
            assert_eq!(
                unsafe { libc::mprotect(at as *mut libc::c_void, len as usize, libc::PROT_NONE) },
                0
            );
        };
        protect(inside, PAGE);
        protect(boundary - PAGE, 2 * PAGE);
        let mut unread = Vec::new();
        let end = start + LEN as u64;
        let buffer = crate::buffers::fresh(words, false);
        let region = read_into(std::process::id(), start, end, buffer, &mut unread);
        let spans: Vec<(u64, u64)> = unread.iter().map(|&(s, e, _)| (s, e)).collect();
        assert_eq!(
            spans,
            [(inside, inside + PAGE), (boundary - PAGE, boundary + PAGE)]
        );
        let blank = |address: u64| {
            (inside..inside + PAGE).contains(&address)
                || (boundary - PAGE..boundary + PAGE).contains(&address)
        };
        for (i, &w) in region.words.iter().enumerate() {
            let address = start + 8 * i as u64;
            let expected = if blank(address) { 0 } else { i as u64 ^ 0x5555 };
            assert_eq!(w, expected, "word {i} at {address:#x}");
        }
        // SAFETY: our own mapping, no longer used.
        unsafe { libc::munmap(base, LEN) };
    }

    fn mapping(start: u64, end: u64, name: &str) -> Mapping {
        Mapping {
            start,
            end,
            read: true,
            write: true,
            exec: false,
            shared: false,
            inode: 0,
            name: name.into(),
        }
    }

    #[test]
    fn of_the_heap_only_the_blocks_are_copied_neighbours_merged() {
        let heap = 0x55_0000_0000u64;
        let table = BlockTable::new(vec![
            (heap + 0x10, 24),
            (heap + 0x30, 100),
            // More than a page after the one before: a span of its own.
            (heap + 0x3000, 8),
        ])
        .unwrap();
        let nothing = |_| None;
        let spans = heap_spans(&mapping(heap, heap + 0x10_0000, "[heap]"), &table, nothing);
        assert_eq!(
            spans,
            Some(vec![
                (heap + 0x10, heap + 0x98),
                (heap + 0x3000, heap + 0x3008)
            ])
        );
        // Memory that holds no block and is no glibc heap: copied whole.
        let other = 0x7f00_0000_0000u64;
        assert_eq!(
            heap_spans(&mapping(other, other + 4096, ""), &table, nothing),
            None
        );
        // A thread arena's heap without blocks: its header only.
        let arena = 0x7f10_0000_0000u64;
        let header = |at: u64| match at - arena {
            0 => Some(arena + 0x30),
            8 => Some(0),
            16 => Some(0x2_1000),
            24 => Some(0x2_1000),
            _ => None,
        };
        assert_eq!(
            heap_spans(&mapping(arena, arena + 0x2_1000, ""), &table, header),
            Some(vec![(arena, arena + 32)])
        );
    }

    #[test]
    fn a_process_that_is_gone_is_said_to_be() {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let err = Snapshot::take(pid, &[], Buffers::default(), None)
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            format!("process {pid} ended before its memory could be read")
        );
    }
}

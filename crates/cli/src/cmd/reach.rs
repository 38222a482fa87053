//! `heapwise run`'s reachability scan at exit (docs/reachability.md).
//!
//! The traced program's preload, once its trace is complete at exit,
//! connects to the abstract Unix socket this module listens on
//! (`HEAPWISE_REACH`) and waits (`crates/preload/src/reach.rs`). Here, on
//! the thread that started the program (ptrace wants the same thread
//! throughout, and that thread is the one that waits for the program):
//! the trace is replayed for the blocks still allocated, every thread of
//! the program is stopped, its memory copied and scanned from the roots
//! (`heapwise-reach`), and the program let go — all before it is told to
//! go on. After the program has exited, what the scan found (or why there
//! was none) is appended to its trace.

use super::native::Background;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use heapwise_native::Analysis;
use heapwise_reach::{BlockTable, Buffers, Exclusions, Kind, Snapshot};
use heapwise_trace::{ControlRecord, ExitStatus, ReachScan, Reachability};

/// The preload's message starts with this.
const MAGIC: &[u8; 8] = b"HWREACH1";
/// Lost blocks per `LOST_BLOCKS` record (each record is one trace block,
/// well under its 16 MiB limit).
const LOST_PER_RECORD: usize = 500_000;

/// What the scan at exit found, ready to be appended to the trace.
pub struct Scanned {
    /// The trace of the scanned process.
    pub trace: PathBuf,
    /// The trace, replayed (up to the exit).
    pub analysis: Analysis,
    /// The `REACHABILITY` record.
    pub record: Reachability,
    /// Every lost block: address and kind (0 definitely, 1 indirectly, 2
    /// possibly lost).
    pub lost: Vec<(u64, u8)>,
}

/// The socket the program's preload asks on at exit, and what came of it.
pub struct ReachListener {
    listener: UnixListener,
    name: String,
    child: u32,
    /// The scan, or why it failed.
    outcome: Option<Result<Scanned, String>>,
}

impl ReachListener {
    /// Listens on an abstract socket named after the session.
    pub fn bind(session: &str) -> std::io::Result<ReachListener> {
        let name = format!("heapwise-reach-{session}");
        let address = SocketAddr::from_abstract_name(name.as_bytes())?;
        let listener = UnixListener::bind_addr(&address)?;
        listener.set_nonblocking(true)?;
        Ok(ReachListener {
            listener,
            name,
            child: 0,
            outcome: None,
        })
    }

    /// The name the preload is given (`HEAPWISE_REACH`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process whose question is answered with a scan.
    pub fn set_child(&mut self, pid: u32) {
        self.child = pid;
    }

    /// Waits up to `timeout` for the program to ask; scans it if it does
    /// (`trace_of` finds its trace).
    /// `followed`, if the trace is being replayed while the program runs,
    /// spares the scan a replay of its own.
    /// `exit`, a pidfd of the program, ends the wait as soon as the program
    /// does.
    pub fn poll(
        &mut self,
        timeout: Duration,
        exit: Option<&std::os::fd::OwnedFd>,
        trace_of: &dyn Fn(u32) -> Option<PathBuf>,
        followed: &mut Option<Background>,
    ) {
        let watch = |fd: i32| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let mut fds = [
            watch(self.listener.as_raw_fd()),
            watch(exit.map_or(-1, |fd| fd.as_raw_fd())),
        ];
        // SAFETY: two valid pollfds (a negative fd is ignored).
        unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout.as_millis() as i32) };
        while let Ok((stream, _)) = self.listener.accept() {
            self.answer(stream, trace_of, followed);
        }
    }

    fn answer(
        &mut self,
        mut stream: UnixStream,
        trace_of: &dyn Fn(u32) -> Option<PathBuf>,
        followed: &mut Option<Background>,
    ) {
        // Only the program we started is scanned: anyone on the machine
        // may connect to an abstract socket.
        if peer_pid(&stream) != Some(self.child) || self.outcome.is_some() {
            return;
        }
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let outcome = match read_question(&mut stream) {
            Ok(question) if question.pid == self.child => match trace_of(question.pid) {
                Some(trace) => scan(trace, question, followed.take()),
                None => Err("its trace could not be found".to_string()),
            },
            Ok(_) => return,
            Err(err) => Err(format!("its question at exit could not be read: {err}")),
        };
        // Go on: the process was let go already (or never stopped).
        let _ = stream.write_all(b"g");
        self.outcome = Some(outcome);
    }

    /// After the program ended: the scan, or why there was none.
    pub fn finish(self, ended: ExitStatus) -> Result<Scanned, String> {
        match self.outcome {
            Some(outcome) => outcome,
            None => Err(match ended {
                ExitStatus::Signal(signal) => format!(
                    "the program was killed by signal {signal} before it could be scanned, and a dead process's memory cannot be read"
                ),
                _ => "the program did not stop at exit to be scanned (it ended without exit or _exit, e.g. by the exit_group system call, or cleared heapwise's environment)".to_string(),
            }),
        }
    }
}

/// The pid of the process at the other end of `stream`.
fn peer_pid(stream: &UnixStream) -> Option<u32> {
    // SAFETY: getsockopt into a ucred of the right size.
    unsafe {
        let mut cred: libc::ucred = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
        let rc = libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast(),
            &mut len,
        );
        (rc == 0).then_some(cred.pid as u32)
    }
}

/// What the preload says at exit.
struct Question {
    pid: u32,
    /// The exiting thread and the program's stack pointer where it called
    /// heapwise's exit path.
    exiting: (u32, u64),
    /// The tracer's own memory.
    regions: Vec<(u64, u64)>,
}

/// The preload's message: `HWREACH1`, pid, tid, the program's stack
/// pointer, count (little-endian u32, u32, u64, u32), then `count` regions
/// `(start, length)` of its own memory.
fn read_question(stream: &mut UnixStream) -> std::io::Result<Question> {
    let mut head = [0u8; 28];
    stream.read_exact(&mut head)?;
    if &head[..8] != MAGIC {
        return Err(std::io::Error::other("not heapwise's preload"));
    }
    let word = |at: usize| u32::from_le_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
    let (pid, tid, count) = (word(8), word(12), word(24));
    let sp = u64::from_le_bytes(head[16..24].try_into().unwrap_or_default());
    let mut regions = Vec::with_capacity(count.min(1 << 20) as usize);
    let mut entry = [0u8; 16];
    for _ in 0..count {
        stream.read_exact(&mut entry)?;
        let start = u64::from_le_bytes(entry[..8].try_into().unwrap_or_default());
        let len = u64::from_le_bytes(entry[8..].try_into().unwrap_or_default());
        if start != 0 && len != 0 {
            // Whole pages, as the kernel maps them.
            let end = start.saturating_add(len).saturating_add(4095) & !4095;
            regions.push((start & !4095, end));
        }
    }
    Ok(Question {
        pid,
        exiting: (tid, sp),
        regions,
    })
}

/// Replays the trace, stops and copies the process, classifies every
/// block and lets the process go.
fn scan(
    trace: PathBuf,
    question: Question,
    followed: Option<Background>,
) -> Result<Scanned, String> {
    let asked = std::time::Instant::now();
    let pid = question.pid;
    // While the trace is replayed, the other core prepares the buffers the
    // memory will be copied into (heapwise_reach::buffers says why).
    // Two threads: the heap's buffers are only worth it if the heap is
    // mostly full, which the replay tells (`Buffers::prepare`).
    let heap_bytes = Arc::new(AtomicU64::new(u64::MAX));
    let cancel = Arc::new(AtomicBool::new(false));
    let prepare = |heaps: bool| {
        let (own, heap_bytes, cancel) =
            (question.regions.clone(), heap_bytes.clone(), cancel.clone());
        std::thread::spawn(move || Buffers::prepare(pid, &own, heaps, &heap_bytes, &cancel))
    };
    let (roots, heaps) = (prepare(false), prepare(true));
    let analysis =
        replayed(&trace, followed).map_err(|e| format!("its trace could not be read: {e}"));
    let mut buffers = roots.join().unwrap_or_default();
    let live = analysis.as_ref().map_or(0, |a| a.replay.live_bytes);
    let heap = heap_bytes.load(Ordering::Acquire);
    // (Its size not read yet: waited for, as the heap may be full.)
    if heap == u64::MAX || live >= heap / 4 {
        buffers.extend(heaps.join().unwrap_or_default());
    } else {
        // Left to stop at its next huge page, and drop what it made.
        cancel.store(true, Ordering::Release);
    }
    let analysis = analysis?;
    if analysis.replay.weigh.sampled() {
        return Err("the trace is sampled: reachability needs every block".into());
    }
    let mut blocks = Vec::with_capacity(analysis.replay.recorded_live() as usize);
    analysis
        .replay
        .for_each_live(|block| blocks.push((block.ptr, block.size)));
    let table = BlockTable::new(blocks).map_err(|e| e.to_string())?;
    let mut exclusions = Exclusions {
        ranges: question.regions,
        exiting: Some(question.exiting),
    };
    exclusions.ranges.extend(tracer_segments(&analysis));
    let snapshot = Snapshot::take(pid, &exclusions.ranges, buffers, Some(&table))
        .map_err(|e| e.to_string())?;
    let classified = heapwise_reach::classify(&table, &snapshot, &exclusions);
    let unread_bytes = snapshot
        .unread
        .iter()
        .chain(&classified.unread)
        .map(|(s, e, _)| e - s)
        .sum();
    let copied_bytes = snapshot.copied_bytes;
    let held = snapshot.release();
    let lost = (0..table.len() as u32)
        .filter_map(|i| {
            let code = match classified.kinds[i as usize] {
                Kind::DefinitelyLost => 0,
                Kind::IndirectlyLost => 1,
                Kind::PossiblyLost => 2,
                Kind::StillReachable => return None,
            };
            Some((table.start(i), code))
        })
        .collect();
    let record = Reachability::Scanned(ReachScan {
        totals: classified.totals,
        heuristics: classified.heuristics,
        threads: classified.threads as u64,
        root_bytes: classified.root_bytes,
        block_bytes: classified.block_bytes,
        copied_bytes,
        unread_bytes,
        unreadable_blocks: classified.unreadable_blocks,
        held_ns: held.as_nanos() as u64,
        scan_ns: classified.duration.as_nanos() as u64,
        waited_ns: asked.elapsed().as_nanos() as u64,
    });
    Ok(Scanned {
        trace,
        analysis,
        record,
        lost,
    })
}

/// The trace replayed up to now: the replay that followed it while the
/// program ran, caught up (the preload wrote everything before asking), or
/// a replay of the whole trace.
fn replayed(
    trace: &Path,
    followed: Option<Background>,
) -> Result<Analysis, heapwise_native::NativeError> {
    if let Some(mut follower) = followed.and_then(Background::finish)
        && Path::new(&follower.analysis.path) == trace
    {
        follower.poll()?;
        follower.finish();
        return Ok(follower.analysis);
    }
    heapwise_native::analyze(trace, &Default::default())
}

/// The writable segments of heapwise's own library (its statics hold the
/// tracer's state, never the program's pointers).
fn tracer_segments(analysis: &Analysis) -> Vec<(u64, u64)> {
    const PF_W: u32 = 2;
    analysis
        .replay
        .modules
        .iter()
        .filter(|m| m.load.path.ends_with("libheapwise_preload.so"))
        .flat_map(|m| {
            m.load
                .segments
                .iter()
                .filter(|s| s.flags & PF_W != 0)
                .map(|s| {
                    let start = m.load.base.wrapping_add(s.vaddr) & !4095;
                    let end = (m.load.base.wrapping_add(s.vaddr) + s.memsz).next_multiple_of(4096);
                    (start, end)
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The control records that say what the scan found (`record` and the
/// `lost` blocks), or why there was none.
pub fn records(record: &Reachability, lost: &[(u64, u8)]) -> Vec<ControlRecord> {
    let mut records = vec![ControlRecord::Reachability(record.clone())];
    records.extend(
        lost.chunks(LOST_PER_RECORD)
            .map(|chunk| ControlRecord::LostBlocks(chunk.to_vec())),
    );
    records
}

/// Whether `path` is the trace `scanned` was made from.
pub fn same_trace(scanned: &Scanned, path: &Path) -> bool {
    scanned.trace == path
}

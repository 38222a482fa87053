//! The writer thread: the only code that does file I/O.
//!
//! Several times a second it copies every stream's new records, the
//! control queue and the shared queue into one payload, and writes it as one
//! checksummed block; so a trace is readable while the program runs and
//! loses at most the last fraction of a second when the program is killed.
//! It also samples process counters and polls the module list. The target's
//! threads never wait for the disk: they wait for the writer only when the
//! bounded buffer memory is full.

use std::ffi::c_void;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU32, Ordering};

use heapwise_trace::block::{BLOCK_HEADER_LEN, BlockEncoder, put_segment_header, stored_header};
use heapwise_trace::pack::Packer;
use heapwise_trace::{ControlRecord, Counters, ExitStatus, StreamEncoder};

use crate::bound::{Bound, WriteError};
use crate::config::{self, Compress};
use crate::control;
use crate::gauge::CpuGauge;
use crate::pause::Pause;
use crate::state::{WRITER_NONE, WRITER_RUNNING, WRITER_STATE, WRITER_STOPPED, WRITER_STOPPING};
use crate::stream::{self, Block};
use crate::sys::{self, SpinLock};

/// The zstd level of packed payloads (`heapwise_trace::pack`): their
/// columns reward a deeper search than rows do — CPython's 21 M events
/// packed take 1.65 MB at level 1, 1.25 MB at level 6 — and they are a
/// fifth of the rows' bytes once packed, so the writer still compresses
/// only a few megabytes a second (and none while the program keeps every
/// core busy: then blocks are stored).
const PACKED_ZSTD_LEVEL: i32 = 6;
/// A payload this large means the writer fell behind (see `Framer::frame`).
const BEHIND: usize = 3 * BLOCK_TARGET;
/// Bytes of payload after which a block is written at once.
const BLOCK_TARGET: usize = 1 << 20;
/// The longest time records wait before being written.
const WRITE_INTERVAL_NS: u64 = 200_000_000;
/// How often the writer wakes up when nobody wakes it.
const TICK_NS: u64 = 50_000_000;
/// How often counters are sampled.
const COUNTER_INTERVAL_NS: u64 = 250_000_000;
/// How often the writer looks for threads that exited.
const THREAD_POLL_NS: u64 = 100_000_000;
/// How often the module list is re-read.
const MODULE_POLL_NS: u64 = 1_000_000_000;
/// How often the control file is read (`pause.rs`).
const CONTROL_POLL_NS: u64 = 1_000_000_000;

/// Futex word: changes when the writer stops.
static STOPPED_WORD: AtomicU32 = AtomicU32::new(0);
static FLUSH_REQUESTED: AtomicU32 = AtomicU32::new(0);
static FLUSH_DONE: AtomicU32 = AtomicU32::new(0);
/// Held during each pass; `fork` takes it so the child never inherits a
/// half-written block.
pub static PASS_LOCK: SpinLock = SpinLock::new();
/// The pid whose trace the writer writes.
static TRACE_PID: AtomicI64 = AtomicI64::new(-1);
/// The trace's file descriptor (a forked child closes its inherited copy).
static TRACE_FD: AtomicI32 = AtomicI32::new(-1);
/// The status passed to `exit`, recorded by the `on_exit` handler.
pub static EXIT_CODE: AtomicI64 = AtomicI64::new(i64::MIN);
/// A forked child announces the modules it inherited when it starts.
static ANNOUNCE_AT_START: AtomicBool = AtomicBool::new(false);
/// The writer's state, handed from `start` to the thread.
static WRITER: Mutex<Option<Writer>> = Mutex::new(None);

/// The pid this trace belongs to (-1 before a trace was opened).
pub fn trace_pid() -> i64 {
    TRACE_PID.load(Ordering::Acquire)
}

struct Writer {
    fd: i32,
    path: String,
    /// The size limit, if the trace has one.
    bound: Option<Bound>,
    /// Payload bytes after which a block is written.
    block_target: usize,
    /// The control file that pauses sampling.
    pause: Option<Pause>,
    last_control_ns: u64,
    framer: Framer,
    compress: Compress,
    /// Created on the writer thread (it measures the other threads).
    gauge: Option<CpuGauge>,
    payload: Vec<u8>,
    /// Blocks emptied since the last write: handed back once their records
    /// are in the file.
    drained: Vec<*mut Block>,
    pool: Vec<*mut Block>,
    last_write_ns: u64,
    last_counters_ns: u64,
    counter_cost_ns: u64,
    last_modules_ns: u64,
    last_threads_ns: u64,
    failed: bool,
    /// Which passes end with a `SYNC`.
    syncs: Syncs,
}

/// Which writer passes end with a `SYNC` record.
///
/// A reader releases the events stamped before the tick of the *previous*
/// `SYNC` (heapwise-native's `merge`): a record a thread had stamped but not
/// yet committed when a pass began may still come in the next pass. A pass
/// that copied events therefore ends with a `SYNC`, and so do the passes
/// after it, events or not, until the reader's release point has passed
/// every tick those events can carry — otherwise the last events before the
/// program goes idle would wait for its next allocation (a live view of an
/// idle program would stop short). Ticks are coarse (about 0.4 ms), so an
/// event is often stamped in the very tick its pass starts in: the `SYNC`
/// right after it does not release it, the one after a later-stamped
/// `SYNC` does.
#[derive(Default)]
struct Syncs {
    /// The newest tick an event copied so far can carry (the tick read
    /// after the copy).
    copied_until: Option<u64>,
    /// The ticks of the last two `SYNC`s written: the reader has released
    /// what is stamped before `released`.
    last: u64,
    released: u64,
}

impl Syncs {
    /// After a pass that began at tick `start` and copied events (or not)
    /// up to tick `now`: whether it ends with a `SYNC` (stamped `start`).
    fn due(&mut self, copied: bool, start: u64, now: u64) -> bool {
        if copied {
            self.copied_until = Some(now);
        }
        let due = copied
            || self
                .copied_until
                .is_some_and(|until| self.released <= until);
        if due {
            self.released = std::mem::replace(&mut self.last, start);
        }
        due
    }
}

// SAFETY: the raw block pointers are only used by the writer thread.
unsafe impl Send for Writer {}

/// Opens this process's trace, writes its header and starts the writer
/// thread. Returns false (after saying why on stderr) if tracing cannot go
/// on; the spill file is then removed (no trace will ever name it).
pub fn start() -> bool {
    let started = open_and_spawn();
    if !started {
        crate::spill::remove();
    }
    started
}

fn open_and_spawn() -> bool {
    if WRITER_STATE.load(Ordering::Acquire) == WRITER_RUNNING {
        return true;
    }
    let Some(config) = config::get() else {
        return false;
    };
    let pid = sys::getpid();
    let blocks = stream::MAX_BLOCKS.load(Ordering::Relaxed);
    crate::spill::ensure(config.spill_dir.as_deref(), crate::spill::slots_for(blocks));
    if ANNOUNCE_AT_START.swap(false, Ordering::AcqRel) {
        // A forked child: its module records go to its own trace, into
        // blocks of its own spill file.
        crate::unwind::modules::announce_all();
    }
    let opened = match config::open(config, pid) {
        Ok(opened) => opened,
        Err(message) => {
            complain(&format!("not tracing process {pid}: {message}"));
            return false;
        }
    };
    config::remember_trace(&opened.path);
    let header = config::header(config, pid, opened.sequence, sys::clock_sync());
    if let Err(err) = sys::write_all(opened.fd, &header.encode()) {
        complain(&format!(
            "not tracing process {pid}: could not write {}: {}",
            opened.path,
            std::io::Error::from_raw_os_error(err)
        ));
        // SAFETY: our fd.
        unsafe { libc::close(opened.fd) };
        return false;
    }
    let fd = opened.fd;
    let bound = match config.max_size {
        0 => None,
        max_size => Bound::new(max_size, &header, &config::trace_path()),
    };
    let block_target = bound
        .as_ref()
        .map_or(BLOCK_TARGET, |b| b.block_target(BLOCK_TARGET));
    let Ok(encoder) = BlockEncoder::new() else {
        complain(&format!("not tracing process {pid}: out of memory"));
        // SAFETY: our fd.
        unsafe { libc::close(fd) };
        return false;
    };
    let mut pause = Pause::new(
        config.control.as_deref(),
        &config::trace_path(),
        pid,
        config.sample > 0,
    );
    // A service started while its control file says `off` starts paused.
    if let Some(pause) = &mut pause {
        pause.poll();
    }
    let Ok(packed_encoder) = BlockEncoder::with_level(PACKED_ZSTD_LEVEL) else {
        complain(&format!("not tracing process {pid}: out of memory"));
        // SAFETY: our fd.
        unsafe { libc::close(fd) };
        return false;
    };
    let framer = Framer {
        encoder,
        framed: Vec::new(),
        // Packing pays off only in compressed blocks.
        packer: (config.compress != Compress::Never).then(Packer::new),
        packed: Vec::new(),
        packed_encoder,
    };
    let writer = Writer {
        pause,
        last_control_ns: 0,
        bound,
        block_target,
        framer,
        compress: config.compress,
        gauge: None,
        fd,
        path: opened.path,
        payload: Vec::with_capacity(BLOCK_TARGET * 2),
        drained: Vec::new(),
        pool: Vec::new(),
        last_write_ns: sys::monotonic_ns(),
        syncs: Syncs::default(),
        last_counters_ns: 0,
        counter_cost_ns: 0,
        last_modules_ns: sys::monotonic_ns(),
        last_threads_ns: 0,
        failed: false,
    };
    if let Ok(mut slot) = WRITER.lock() {
        *slot = Some(writer);
    }
    TRACE_PID.store(i64::from(pid), Ordering::Release);
    TRACE_FD.store(fd, Ordering::Release);
    // (A process attached again: the last trace's writer stopped.)
    STOPPED_WORD.store(0, Ordering::Release);
    WRITER_STATE.store(WRITER_RUNNING, Ordering::Release);
    if !spawn() {
        WRITER_STATE.store(WRITER_STOPPED, Ordering::Release);
        complain(&format!(
            "not tracing process {pid}: could not start the writer thread"
        ));
        return false;
    }
    true
}

/// The writer thread's stack, guard page included.
const WRITER_STACK: usize = 1 << 20;

/// Starts the writer thread on a stack of its own. A stack glibc allocated
/// would go to glibc's stack cache in a forked child (where the writer
/// does not exist) and be handed to the child's first `pthread_create`
/// with its thread vector already allocated: the child would then not
/// make the allocation it makes without heapwise.
fn spawn() -> bool {
    // SAFETY: a fresh anonymous mapping, checked; its lowest page becomes
    // the guard.
    let stack = unsafe {
        let stack = libc::mmap(
            std::ptr::null_mut(),
            WRITER_STACK,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
            -1,
            0,
        );
        if stack == libc::MAP_FAILED {
            return false;
        }
        libc::mprotect(stack, 4096, libc::PROT_NONE);
        crate::regions::add(stack.cast(), WRITER_STACK);
        stack
    };
    // The writer must never run the program's signal handlers.
    // SAFETY: plain pthread calls with valid pointers.
    unsafe {
        let mut attr = std::mem::zeroed::<libc::pthread_attr_t>();
        libc::pthread_attr_init(&mut attr);
        libc::pthread_attr_setstack(&mut attr, stack, WRITER_STACK);
        libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
        let mut all = std::mem::zeroed::<libc::sigset_t>();
        let mut old = std::mem::zeroed::<libc::sigset_t>();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let mut thread = std::mem::zeroed::<libc::pthread_t>();
        let rc = libc::pthread_create(&mut thread, &attr, writer_main, std::ptr::null_mut());
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        libc::pthread_attr_destroy(&mut attr);
        if rc != 0 {
            crate::regions::remove(stack.cast());
            libc::munmap(stack, WRITER_STACK);
        }
        rc == 0
    }
}

extern "C" fn writer_main(_: *mut c_void) -> *mut c_void {
    crate::tls::mark_internal_thread();
    let Some(mut writer) = WRITER.lock().ok().and_then(|mut slot| slot.take()) else {
        WRITER_STATE.store(WRITER_STOPPED, Ordering::Release);
        return std::ptr::null_mut();
    };
    // SAFETY: naming our own thread; the name is NUL-terminated and short.
    unsafe { libc::pthread_setname_np(libc::pthread_self(), c"heapwise".as_ptr()) };
    if writer.compress == Compress::Auto {
        writer.gauge = Some(CpuGauge::new(stream::STALLS.load(Ordering::Relaxed)));
    }
    loop {
        stream::WRITER_WAKE.store(0, Ordering::Release);
        let stopping = WRITER_STATE.load(Ordering::Acquire) == WRITER_STOPPING;
        let flush_target = FLUSH_REQUESTED.load(Ordering::Acquire);
        let must_write = stopping || flush_target != FLUSH_DONE.load(Ordering::Acquire);
        writer.pass(must_write);
        if must_write {
            FLUSH_DONE.store(flush_target, Ordering::Release);
            sys::futex_wake_all(&FLUSH_DONE);
        }
        if stopping || writer.failed {
            break;
        }
        writer.housekeeping();
        sys::futex_wait(&stream::WRITER_WAKE, 0, TICK_NS);
    }
    if writer.failed {
        crate::state::turn_off();
    } else {
        // Everything recorded is in the trace.
        crate::spill::remove();
    }
    {
        // Forgotten before it is closed, and under the pass lock, which
        // `fork` takes: a child forked later (this process goes on after a
        // detach) must not close a descriptor of the program's that got
        // the same number.
        let _lock = PASS_LOCK.lock_for(u64::MAX);
        TRACE_FD.store(-1, Ordering::Release);
        // SAFETY: our fd.
        unsafe { libc::close(writer.fd) };
    }
    WRITER_STATE.store(WRITER_STOPPED, Ordering::Release);
    STOPPED_WORD.store(1, Ordering::Release);
    sys::futex_wake_all(&STOPPED_WORD);
    std::ptr::null_mut()
}

impl Writer {
    fn pass(&mut self, force: bool) {
        let _lock = PASS_LOCK.lock_for(u64::MAX);
        let pass_start = sys::ticks();
        if let Some(refused) = crate::live::full_to_report() {
            control::push(&ControlRecord::Note {
                ts: pass_start,
                message: format!(
                    "sampling: the table of sampled blocks was full, so {refused} or more blocks due to be sampled were not recorded: estimates from this trace are too low"
                ),
            });
        }
        let lost = control::LOST.swap(0, Ordering::Relaxed);
        if lost > 0 {
            let mut buf = [0u8; 16];
            let len = StreamEncoder::new().lost(&mut buf, 0, lost);
            if control::SHARED.with(1_000_000, |q| q.extend_from_slice(&buf[..len])) != Some(true) {
                control::LOST.fetch_add(lost, Ordering::Relaxed);
            }
        }
        let mut copied = false;
        {
            let Writer {
                payload,
                drained,
                pool,
                fd,
                failed,
                framer,
                compress,
                gauge,
                bound,
                block_target,
                path,
                ..
            } = self;
            let mut emit = |id: u32, bytes: &[u8]| {
                copied |= id != 0;
                put_segment_header(payload, id, bytes.len());
                payload.extend_from_slice(bytes);
                if payload.len() >= *block_target * 4 && !*failed {
                    let compress = should_compress(*compress, gauge);
                    if let Err(err) = write_block(framer, compress, fd, payload, bound) {
                        *failed = true;
                        complain_write(path, err);
                    }
                }
            };
            for queue in [&control::CONTROL, &control::SHARED] {
                if let Some(stream) = control::stream_of(queue) {
                    stream::drain(stream, drained, pool, &mut emit);
                }
            }
            stream::drain_all(drained, pool, &mut emit);
        }
        // The pass's own records go through the control queue too, so that
        // the trace's stream 0 is exactly the queue's records (which is how
        // a reader of the spill file knows what is missing).
        if self.syncs.due(copied, pass_start, sys::ticks()) {
            control::push(&ControlRecord::Sync { tick: pass_start });
        }
        let now = sys::monotonic_ns();
        let due = force
            || self.payload.len() >= self.block_target
            || stream::threads_waiting()
            || now.saturating_sub(self.last_write_ns) >= WRITE_INTERVAL_NS;
        let writing = due && !self.failed;
        if writing {
            control::push(&ControlRecord::Clock(sys::clock_sync()));
        }
        if let Some(stream) = control::stream_of(&control::CONTROL) {
            let Writer {
                payload,
                drained,
                pool,
                ..
            } = self;
            stream::drain(stream, drained, pool, &mut |id, bytes| {
                put_segment_header(payload, id, bytes.len());
                payload.extend_from_slice(bytes);
            });
        }
        if writing && !self.payload.is_empty() {
            let compress = should_compress(self.compress, &mut self.gauge);
            match write_block(
                &mut self.framer,
                compress,
                &mut self.fd,
                &mut self.payload,
                &mut self.bound,
            ) {
                // Everything copied from the drained blocks is in the file
                // now: they may be written over.
                Ok(()) => self.pool.append(&mut self.drained),
                Err(err) => {
                    self.failed = true;
                    complain_write(&self.path, err);
                }
            }
            self.last_write_ns = now;
        }
        if self.failed {
            self.payload.clear();
        }
    }

    fn housekeeping(&mut self) {
        let now = sys::monotonic_ns();
        // Reading the maps costs more in a process with many mappings:
        // keep its share of time below 1/1000.
        let counter_interval = COUNTER_INTERVAL_NS.max(self.counter_cost_ns * 1000);
        if now.saturating_sub(self.last_counters_ns) >= counter_interval {
            self.last_counters_ns = now;
            control::push(&ControlRecord::Counters(sample_counters()));
            self.counter_cost_ns = sys::monotonic_ns() - now;
        }
        if now.saturating_sub(self.last_threads_ns) >= THREAD_POLL_NS {
            self.last_threads_ns = now;
            stream::detach_exited();
        }
        if now.saturating_sub(self.last_control_ns) >= CONTROL_POLL_NS {
            self.last_control_ns = now;
            if let Some(pause) = &mut self.pause {
                pause.poll();
            }
        }
        if now.saturating_sub(self.last_modules_ns) >= MODULE_POLL_NS {
            self.last_modules_ns = now;
            if crate::unwind::modules::refresh_if_changed() {
                crate::attach::redirect_new_modules();
            }
        }
    }
}

fn should_compress(mode: Compress, gauge: &mut Option<CpuGauge>) -> bool {
    match mode {
        Compress::Always => true,
        Compress::Never => false,
        Compress::Auto => !gauge
            .as_mut()
            .is_some_and(|gauge| gauge.program_busy(stream::STALLS.load(Ordering::Relaxed))),
    }
}

/// Turns payloads into blocks: packed (`heapwise_trace::pack`: records in
/// columns) and compressed, or stored as they are.
struct Framer {
    encoder: BlockEncoder,
    framed: Vec<u8>,
    /// `None` when blocks are never compressed (`--compress never`), or
    /// after records failed to decode (then nothing more is packed).
    packer: Option<Packer>,
    packed: Vec<u8>,
    packed_encoder: BlockEncoder,
}

impl Framer {
    /// Frames `payload` into `framed` when compressing (packed first),
    /// and returns the block's length; a stored block is written from
    /// the payload itself.
    fn frame(&mut self, payload: &[u8], compress: bool) -> u64 {
        if !compress {
            if let Some(packer) = &mut self.packer
                && packer.skip(payload).is_err()
            {
                self.packer = None;
            }
            return (BLOCK_HEADER_LEN + payload.len()) as u64;
        }
        self.framed.clear();
        self.packed.clear();
        if payload.len() >= BEHIND {
            // The program records faster than the writer packs and
            // compresses at level 6 (a pass that gathered this much took
            // long): rows at level 1 from now on, which keep up — the reader
            // holds a pass in memory, so passes must stay short.
            self.packer = None;
        }
        let packed = match &mut self.packer {
            Some(packer) => match packer.pack(payload, &mut self.packed) {
                Ok(()) => true,
                Err(_) => {
                    self.packer = None;
                    false
                }
            },
            None => false,
        };
        if packed {
            self.packed_encoder.encode(&self.packed, &mut self.framed);
        } else {
            self.encoder.encode(payload, &mut self.framed);
        }
        self.framed.len() as u64
    }
}

/// Writes `payload` as one block (packed and compressed, or stored
/// without a copy) and empties it. Under a size limit, a block that would
/// take the file past it is not written: the trace is compacted instead
/// (`bound.rs`), and `fd` is then the new file's.
fn write_block(
    framer: &mut Framer,
    compress: bool,
    fd: &mut i32,
    payload: &mut Vec<u8>,
    bound: &mut Option<Bound>,
) -> Result<(), WriteError> {
    if payload.is_empty() {
        return Ok(());
    }
    let block_len = framer.frame(payload, compress);
    if let Some(bound) = bound {
        let compacted = bound.before_write(payload, block_len, &mut framer.encoder);
        if let Some(new_fd) = compacted? {
            // The new file holds this payload's records in its checkpoint.
            // SAFETY: the old trace's fd is ours.
            unsafe { libc::close(*fd) };
            *fd = new_fd;
            TRACE_FD.store(new_fd, Ordering::Release);
            payload.clear();
            return Ok(());
        }
        bound.wrote(block_len);
    }
    let written = if compress {
        sys::write_all(*fd, &framer.framed)
    } else {
        sys::write_all(*fd, &stored_header(payload)).and_then(|()| sys::write_all(*fd, payload))
    };
    payload.clear();
    written.map_err(WriteError::Io)
}

/// Says why tracing stopped (the trace cannot be written).
fn complain_write(path: &str, err: WriteError) {
    let why = match err {
        WriteError::Io(err) => format!(
            "could not write {path}: {}",
            std::io::Error::from_raw_os_error(err)
        ),
        WriteError::Limit(why) => format!("{path}: {why}"),
    };
    complain(&format!("stopped tracing process {}: {why}", sys::getpid()));
}

fn sample_counters() -> Counters {
    let mut counters = Counters {
        ts: sys::ticks(),
        ..Counters::default()
    };
    let mut buf = [0u8; 256];
    if let Some(len) = sys::read_file(c"/proc/self/statm", &mut buf) {
        let text = String::from_utf8_lossy(&buf[..len]);
        // SAFETY: no arguments.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
        counters.rss_bytes = text
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse::<u64>().ok())
            .map(|pages| pages * page);
    }
    // Not `mallinfo2`: it walks every free chunk under the arenas' locks
    // (`heaps.rs`).
    counters.heap_arena_bytes = crate::heaps::own_heap_bytes();
    counters
}

/// Writes everything recorded so far and waits (at most `timeout_ns`) until
/// it is in the file. Returns whether it is.
pub fn flush(timeout_ns: u64) -> bool {
    if WRITER_STATE.load(Ordering::Acquire) != WRITER_RUNNING {
        return false;
    }
    let target = FLUSH_REQUESTED
        .fetch_add(1, Ordering::AcqRel)
        .wrapping_add(1);
    stream::wake_writer();
    let deadline = sys::monotonic_ns() + timeout_ns;
    loop {
        let done = FLUSH_DONE.load(Ordering::Acquire);
        if done.wrapping_sub(target) as i32 >= 0 {
            return true;
        }
        if WRITER_STATE.load(Ordering::Acquire) != WRITER_RUNNING {
            return false;
        }
        let now = sys::monotonic_ns();
        if now >= deadline {
            return false;
        }
        sys::futex_wait(&FLUSH_DONE, done, (deadline - now).min(50_000_000));
    }
}

/// Ends the trace: records how the process ended, writes everything and
/// stops the writer (waiting at most `timeout_ns`). Recording stops.
pub fn shutdown(status: Option<ExitStatus>, timeout_ns: u64) {
    if WRITER_STATE.load(Ordering::Acquire) != WRITER_RUNNING {
        crate::state::turn_off();
        return;
    }
    // Queued before the writer is told to stop, so its last pass has it.
    if let Some(status) = status {
        control::push(&ControlRecord::Exit {
            ts: sys::ticks(),
            status,
        });
    }
    if WRITER_STATE
        .compare_exchange(
            WRITER_RUNNING,
            WRITER_STOPPING,
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_err()
    {
        crate::state::turn_off();
        return;
    }
    stream::wake_writer();
    let deadline = sys::monotonic_ns() + timeout_ns;
    while WRITER_STATE.load(Ordering::Acquire) != WRITER_STOPPED {
        let now = sys::monotonic_ns();
        if now >= deadline {
            break;
        }
        sys::futex_wait(&STOPPED_WORD, 0, (deadline - now).min(50_000_000));
    }
    crate::state::turn_off();
}

/// The exit status to record at the end (from `exit`'s argument).
pub fn exit_status() -> Option<ExitStatus> {
    let code = EXIT_CODE.load(Ordering::Acquire);
    (code != i64::MIN).then_some(ExitStatus::Code(code as i32))
}

/// Forgets the parent's writer (a forked child; it has no writer thread).
pub fn reset_after_fork() {
    ANNOUNCE_AT_START.store(true, Ordering::Release);
    PASS_LOCK.force_unlock();
    WRITER_STATE.store(WRITER_NONE, Ordering::Release);
    STOPPED_WORD.store(0, Ordering::Release);
    FLUSH_REQUESTED.store(0, Ordering::Release);
    FLUSH_DONE.store(0, Ordering::Release);
    TRACE_PID.store(-1, Ordering::Release);
    EXIT_CODE.store(i64::MIN, Ordering::Release);
    let fd = TRACE_FD.swap(-1, Ordering::AcqRel);
    if fd >= 0 {
        // The parent's trace fd was inherited: close this process's copy.
        // SAFETY: the fd is ours to close.
        unsafe { libc::close(fd) };
    }
}

/// One line on stderr: the only way to reach the user from inside the
/// traced program when the trace itself cannot be written.
fn complain(message: &str) {
    let line = format!("heapwise: {message}\n");
    let _ = sys::write_all(2, line.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::Syncs;

    /// Passes starting at the given ticks, the first copying an event
    /// stamped at `event` (up to tick `copied_until`); then idle. Returns
    /// the tick the reader's release point reaches (it releases what is
    /// stamped before the previous `SYNC`'s tick) and how many `SYNC`s the
    /// idle passes wrote.
    fn idle_after(event: u64, copied_until: u64, starts: &[u64]) -> (u64, usize) {
        let mut syncs = Syncs::default();
        let mut written = vec![];
        assert!(syncs.due(true, event, copied_until));
        written.push(event);
        for &start in starts {
            if syncs.due(false, start, start) {
                written.push(start);
            }
        }
        let released = written.len().checked_sub(2).map_or(0, |i| written[i]);
        (released, written.len() - 1)
    }

    #[test]
    fn an_event_stamped_in_its_pass_tick_is_released_while_the_program_idles() {
        // The event and the pass share tick 10: the next SYNC (also in tick
        // 10) releases nothing new, nor does one at 11; at 12 the reader's
        // point is 11 > 10.
        let (released, idle_syncs) = idle_after(10, 10, &[10, 11, 12, 13, 14, 15]);
        assert!(released > 10, "released up to {released}");
        assert_eq!(idle_syncs, 3);
    }

    #[test]
    fn an_event_committed_during_its_pass_is_released_too() {
        // Copied at tick 12 though the pass began at 10.
        let (released, idle_syncs) = idle_after(10, 12, &[20, 30, 40, 50]);
        assert!(released > 12, "released up to {released}");
        assert_eq!(idle_syncs, 2);
    }

    #[test]
    fn a_program_that_never_allocated_gets_no_syncs() {
        let mut syncs = Syncs::default();
        assert!((0..100).all(|t| !syncs.due(false, t, t)));
    }
}

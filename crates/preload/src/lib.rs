//! `libheapwise_preload.so`: loaded with `LD_PRELOAD` into any dynamically
//! linked program, it records every allocation — with its call stack — and
//! every free into a heapwise trace (see the `heapwise-trace` crate and
//! `docs/trace-format.md`); or, with `HEAPWISE_SAMPLE=R`, a sample of them
//! (one per R bytes allocated on average, `sample.rs`) and the frees of the
//! sampled blocks (`live.rs`), everything else going straight to glibc.
//!
//! This code runs inside other people's programs, inside `malloc`. Each
//! rule below exists because breaking it has crashed, hung or corrupted a
//! real program under some tracer:
//!
//! 1. **Never allocate through our own hooks, nor from the program's
//!    heap.** The Rust allocator of this library maps its own memory
//!    (`alloc.rs`); a hook that recursed into itself would loop forever, and
//!    one that held glibc's arena lock when a signal handler called `malloc`
//!    would deadlock the program. A hook holds the thread's recursion guard
//!    while it runs (`hooks::Guard`); glibc functions that allocate on our
//!    behalf run with the guard set to "internal" (`tls::internal`), so
//!    their calls pass straight through.
//! 2. **No `__tls_get_addr` on the hot path.** Per-thread state is in
//!    initial-exec TLS (`shim.c`): the general-dynamic model may call
//!    `malloc` after a `dlopen` grows the DTV (a bug that hit bytehound,
//!    tcmalloc and seastar). No `thread_local!` with destructors either:
//!    registering them allocates.
//! 3. **Never take a lock the program (or a signal handler) could be
//!    waiting on.** The allocation path takes no lock at all: each thread
//!    appends to its own stream (`stream.rs`) and one writer thread drains
//!    them. The few locks (stream hand-over, module refresh, control queue)
//!    are spin locks only taken outside signal context, with bounded waits;
//!    a signal handler that interrupts a hook records into a lock-free side
//!    buffer (`side.rs`). `fork` takes them all in its prepare handler
//!    (`lifecycle.rs`) so a child never inherits one half-held. Nor does
//!    the writer hold the program's locks for long: it never calls glibc's
//!    heap walkers (`mallinfo2`, `malloc_info`), which hold an arena's lock
//!    while they visit every free chunk — one `mallinfo2` held CPython's
//!    `malloc` 0.37 s (`heaps.rs` reads the heap's size instead).
//! 4. **Never block the program on disk I/O.** Only the writer thread
//!    touches the file. A thread waits only if the bounded buffer memory is
//!    full (back-pressure, instead of bytehound's unbounded queue that grew
//!    to gigabytes).
//! 5. **`malloc` runs before constructors.** Start-up is a small atomic
//!    state machine (`state.rs`, moved by `startup.rs`): the first hook
//!    reads the settings (`config.rs`) and starts recording into memory; the
//!    constructor opens the file and starts the writer. Settings come from
//!    `getenv`, which does not allocate.
//! 6. **Degrade to "tracking off", never crash.** Every read of memory we
//!    do not own (unwind tables, stacks) is bounds-checked; a failure to
//!    write the trace switches recording off and says so once on stderr;
//!    the target's `errno`, return values and output are untouched.
//! 7. **Keep the hot path small.** Cached unwind rules per instruction
//!    address (`unwind/`), a stack spliced onto the thread's previous one
//!    where their outer frames are provably the same (`unwind/`'s trail),
//!    stacks interned per stream (`intern.rs`), events
//!    delta-encoded into per-thread blocks: no system call and no shared
//!    cache line per event. In a sampled trace, an allocation that is not
//!    sampled costs a TLS countdown and a free of a block that was not one
//!    byte of a read-mostly filter; the table of sampled blocks is
//!    lock-free (compare-and-swap on its slots), signal handlers included.
//! 8. **Nothing a thread recorded dies with the process.** The blocks are
//!    slots of a spill file in shared memory (`spill.rs`) that the kernel
//!    keeps after `abort`, a crash or `SIGKILL`, and the writer hands a
//!    block back only once its records are in the trace; the next reader
//!    of the trace appends what is missing. No signal handler is involved,
//!    so the program's own handlers and exit status are untouched.
//! 9. **One trace may follow another in the same process, and nothing is
//!    reset under a running thread.** `heapwise attach` detaches and
//!    attaches again (`attach.rs`) while the program's threads run on,
//!    some inside a hook they entered before the detach, and only a
//!    stream's own thread may touch it. So each trace has an epoch
//!    (`state.rs`); a stream carries the one it was armed for, and its
//!    thread re-arms it before recording into a newer trace (`stream.rs`);
//!    memory an older trace's streams may still write to is retired, and
//!    unmapped only once no stream in use belongs to that trace
//!    (`spill.rs`). Handlers (`fork`, exit) are registered once per
//!    process, never once per trace: registered twice, they run twice.
//!
//! **What the program can still see of the tracer** (the rest — its
//! output, exit status, signal handlers, `errno`, pthread keys — is
//! untouched): one more thread (`heapwise`, the writer, on a stack of its
//! own, so that glibc never hands it to a forked child's first
//! `pthread_create`); two more file descriptors, both close-on-exec (the
//! trace, and the spill file with its shared mapping); the tracer's
//! initial-exec TLS segment, which makes glibc's per-thread vector 16 bytes
//! larger (288 instead of 272 bytes per thread); in a sampled trace, the
//! table of sampled blocks (8.25 MiB of address space, of which only the
//! pages written become resident). No pthread key is taken and
//! no thread-exit destructor registered: the writer notices threads that
//! exited (`stream.rs`; why, in `lifecycle.rs`). After `heapwise attach`
//! detaches, no thread, descriptor or file of the tracer's is left; the
//! library stays mapped, dormant, and so does the address space (not the
//! pages) of the last trace's spill mapping, which a later attach unmaps
//! once no thread can write to it, and of the table of sampled blocks,
//! which the next sampled attach uses again. A `fork` returns in the
//! parent up to one tick (about 0.4 ms) later, so that what the parent
//! does after it is stamped after the fork's tick (`lifecycle.rs`). At the end of a full trace
//! under `heapwise run`, the exiting thread waits while heapwise stops the
//! process with ptrace and reads its memory for the reachability scan
//! (`reach.rs`): for that moment the process has a tracer, and its exit
//! takes that much longer (a second or two per gigabyte of heap).
//!
//! **Modules, in layers.** An allocation goes hooks → record → stream →
//! writer → the trace file; the modules below are listed (and declared)
//! in that order. `a → b`: `a` uses `b` (`sys` is used by most, not shown).
//! The arrows follow the flow down to the streams; the writer drains them
//! and is itself called only by the entry points (a stream asks `state`
//! whether a writer runs). The circles: `stream → unwind → control →
//! stream` (a stream keeps its thread's unwind caches; the unwinder
//! announces modules through the control queue, itself a stream), and
//! `attach → writer → attach` (the writer's module poll redirects the
//! calls of modules loaded since the attach).
//!
//! ```text
//! entry points  hooks     → sample, live, record, startup, tls, state, unwind (Regs),
//!                           alloc (glibc's functions)
//!               lifecycle → attach, writer, control, stream, config, spill, unwind, sample,
//!                           tls, state, reach (the fork handlers take every module's lock)
//!               startup   → lifecycle, writer, config, control, stream, spill, unwind, sample,
//!                           live, tls, state, reach
//!               reach     → config, writer, regions (the scan at exit)
//!               attach    → got, startup, writer, control, stream, spill, config, unwind,
//!                           tls, state (`heapwise attach`'s entry points; got: GOT slots)
//! recording     sample    → tls, live
//!               live
//!               record    → tls, stream, control, unwind, intern
//!               tls       → stream, unwind (StackBounds)
//!               unwind    → control (unwind/modules.rs: module announcements)
//!               intern
//! buffers       stream    → unwind, intern, side, spill, state
//!               control   → stream, state
//!               side, spill
//! writer        writer    → stream, control, unwind, gauge, config, bound, pause, spill, live,
//!                           tls, state, attach
//!               bound     (the size limit: heapwise-trace's compaction)
//!               pause     → control, sample (the control file)
//!               config    → spill
//!               gauge
//! base          alloc, regions (the tracer's own mappings), state, sys
//! ```
#![allow(clippy::missing_safety_doc)]
// Unit tests link this crate without its exported hooks (a test binary that
// interposed malloc would trace itself), so much of it is unreachable there.
#![cfg_attr(test, allow(dead_code))]

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
compile_error!("libheapwise_preload supports Linux on x86-64 only");

// Entry points: what the program and the dynamic loader call.
mod hooks;
mod lifecycle;
mod startup;
// The reachability scan at exit: `heapwise run` reads the memory.
mod reach;
// Attaching to a running process: the entry points `heapwise attach`
// calls, and its calls redirected through its GOT.
mod attach;
mod got;

// Recording, on the program's threads: which calls (in a sampled trace),
// then the records.
mod intern;
mod live;
mod record;
mod sample;
mod tls;
mod unwind;

// Buffers: per-thread streams, the control queues, the spill file.
mod control;
mod side;
mod spill;
mod stream;

// The writer thread, its settings, and the trace's size limit.
mod bound;
mod config;
mod gauge;
mod heaps;
mod pause;
mod writer;

// Under everything.
mod alloc;
mod regions;
mod state;
mod sys;

#[cfg(not(test))]
#[global_allocator]
pub(crate) static ALLOCATOR: alloc::TracerAllocator = alloc::TracerAllocator::new();

//! What happens to the tracer when the program's threads exit, and when it
//! calls `fork`, `exec`, `_exit` or `dlclose`. (Start-up, `exit` and the
//! library's constructor and destructor are in `startup.rs`.)
//!
//! - Thread exit: no destructor is registered — a pthread key would be one
//!   the program misses, and glibc's thread-exit list
//!   (`__cxa_thread_atexit_impl`) takes the loader's lock, which deadlocks
//!   when a library constructor inside `dlopen` waits for a thread that is
//!   making its first allocation. Instead the writer checks every 100 ms
//!   which streams' threads are gone (`tgkill` with signal 0) and recycles
//!   those streams, and a new thread that finds no free stream takes over
//!   one whose thread is gone.
//! - `fork`: the prepare handler takes every tracer lock so the child never
//!   inherits one half-held; the child forgets the parent's streams (their
//!   events belong to the parent's trace) and starts its own trace at its
//!   first allocation — unless the parent is traced by `heapwise attach`:
//!   that child is not traced at all (`attach.rs` says why). `vfork` and `posix_spawn` children run no handlers
//!   and share memory with the parent: every entry point that could write
//!   (exec, `_exit`) first checks that the calling process owns the trace.
//! - `exec`: buffered events are written before the image is replaced.
//! - `_exit` skips the exit handler and the destructor, which end the trace
//!   after `exit` (`startup.rs`), so it is interposed and ends the trace
//!   itself.
//! - `dlclose`: the module list is re-read at once, so cached unwind rules
//!   for the unloaded code are dropped before anything else is mapped there.

use std::ffi::c_int;
#[cfg(not(test))]
use std::ffi::c_void;
use std::sync::atomic::AtomicUsize;
#[cfg(not(test))]
use std::sync::atomic::Ordering;

use heapwise_trace::{ControlRecord, ExitStatus};

use crate::stream;
use crate::sys;
use crate::tls;
use crate::unwind::modules;
use crate::writer;

/// Registers the fork handlers. Called once per process, by the first
/// trace's start-up (`startup.rs`).
pub fn install() {
    // SAFETY: a plain registration with valid function pointers.
    unsafe {
        libc::pthread_atfork(Some(fork_prepare), Some(fork_parent), Some(fork_child));
    }
}

/// The tick of the last `fork`, taken by its prepare handler after every
/// event the forking thread recorded before it: the child's `fork_tick`.
static FORK_TICK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

extern "C" fn fork_prepare() {
    FORK_TICK.store(sys::ticks(), std::sync::atomic::Ordering::Relaxed);
    crate::attach::lock_for_fork();
    writer::PASS_LOCK.lock_raw();
    modules::REFRESH_LOCK.lock_raw();
    crate::control::CONTROL.lock.lock_raw();
    crate::control::SHARED.lock.lock_raw();
    stream::FREE_LOCK.lock_raw();
    // Last: code holding the locks above may allocate.
    #[cfg(not(test))]
    crate::ALLOCATOR.lock_for_fork();
}

extern "C" fn fork_parent() {
    let tls = tls::get();
    // SAFETY: the forking thread's TLS; it is not inside a hook (fork is not
    // one) and owns its stream.
    unsafe {
        if let Some(stream) = (*tls).stream.as_ref() {
            stream.private().enc.stamp_next_free();
        }
    }
    #[cfg(not(test))]
    crate::ALLOCATOR.reset_after_fork();
    stream::FREE_LOCK.force_unlock();
    crate::control::SHARED.lock.force_unlock();
    crate::control::CONTROL.lock.force_unlock();
    modules::REFRESH_LOCK.force_unlock();
    writer::PASS_LOCK.force_unlock();
    crate::attach::unlock_after_fork();
    // The child's report takes the blocks this process held at the fork's
    // tick for inherited (`heapwise_native::inherit`): what this thread
    // does from now on must be stamped later. Ticks are coarse (about
    // 0.4 ms), so wait for the next one — only when a child's trace will
    // ask, and at most one tick (or 2 ms: a TSC that lags on this core
    // must not hold the program).
    let forked_at = FORK_TICK.load(std::sync::atomic::Ordering::Relaxed);
    if crate::state::active() && crate::config::get().is_some_and(|c| c.follow_fork) {
        let deadline = sys::monotonic_ns().saturating_add(2_000_000);
        while sys::ticks() <= forked_at && sys::monotonic_ns() < deadline {
            std::hint::spin_loop();
        }
    }
}

extern "C" fn fork_child() {
    if crate::state::current() == crate::state::STARTING {
        // The thread running a start-up stage is not in the child.
        crate::state::turn_off();
    }
    #[cfg(not(test))]
    crate::ALLOCATOR.reset_after_fork();
    modules::REFRESH_LOCK.force_unlock();
    crate::control::reset_after_fork();
    stream::reset_after_fork();
    crate::spill::reset_after_fork();
    crate::config::forked(FORK_TICK.load(std::sync::atomic::Ordering::Relaxed));
    writer::reset_after_fork();
    let tls = tls::get();
    // SAFETY: the calling (and only) thread's TLS.
    unsafe {
        (*tls).stream = std::ptr::null();
        (*tls).exited = 0;
        (*tls).lost = 0;
    }
    // A sampled trace: the child inherits the table of sampled blocks (its
    // memory is the parent's) and the countdown, but draws its own numbers.
    crate::sample::reseed_after_fork(tls);
    let follow = crate::config::get().is_some_and(|c| c.follow_fork);
    if crate::attach::forked_child() {
        crate::state::turn_off();
    } else if follow {
        // Module records go to the child's new trace, announced when it
        // starts (a child that never allocates makes no files).
        crate::state::set_child_pending();
    } else {
        crate::state::turn_off();
    }
}

/// Whether the calling process is the one writing the trace (not a vfork
/// child sharing its memory).
fn owns_trace() -> bool {
    writer::trace_pid() == i64::from(sys::getpid())
}

#[unsafe(no_mangle)]
extern "C" fn heapwise_before_exec() {
    if owns_trace() {
        tls::internal(|| {
            crate::control::push(&ControlRecord::Exit {
                ts: sys::ticks(),
                status: ExitStatus::Exec,
            });
            if writer::flush(2_000_000_000) {
                // The new image has a spill file of its own. (Should exec
                // fail, records from then on are no longer kept safe from
                // a crash: see docs/trace-format.md.)
                crate::spill::remove();
            }
        });
    }
}

#[unsafe(no_mangle)]
extern "C" fn heapwise_after_failed_exec() {
    if owns_trace() {
        tls::internal(|| {
            crate::control::push(&ControlRecord::Note {
                ts: sys::ticks(),
                message: "exec failed; the process went on".into(),
            });
        });
    }
}

/// `_exit` and `_Exit`: `caller_sp` is the program's stack pointer at the
/// call (see `reach.rs`).
extern "C" fn exit_now(status: c_int, caller_sp: usize) -> ! {
    if owns_trace() {
        tls::internal(|| {
            writer::shutdown(Some(ExitStatus::Code(status)), 5_000_000_000);
            crate::reach::at_exit(caller_sp);
        });
    }
    // SAFETY: ends the process, as _exit does.
    unsafe { libc::syscall(libc::SYS_exit_group, status) };
    loop {
        std::hint::spin_loop();
    }
}

#[cfg(not(test))]
#[unsafe(no_mangle)]
#[unsafe(naked)]
pub(crate) extern "C" fn _exit(status: c_int) -> ! {
    core::arch::naked_asm!("lea rsi, [rsp + 8]", "jmp {exit}", exit = sym exit_now)
}

#[cfg(not(test))]
#[unsafe(no_mangle)]
#[unsafe(naked)]
pub(crate) extern "C" fn _Exit(status: c_int) -> ! {
    core::arch::naked_asm!("lea rsi, [rsp + 8]", "jmp {exit}", exit = sym exit_now)
}

static REAL_DLCLOSE: AtomicUsize = AtomicUsize::new(0);

#[cfg(not(test))]
#[unsafe(no_mangle)]
pub(crate) extern "C" fn dlclose(handle: *mut c_void) -> c_int {
    let mut real = REAL_DLCLOSE.load(Ordering::Acquire);
    if real == 0 {
        // SAFETY: looking up glibc's definition.
        real =
            tls::internal(|| unsafe { libc::dlsym(libc::RTLD_NEXT, c"dlclose".as_ptr()) }) as usize;
        REAL_DLCLOSE.store(real, Ordering::Release);
    }
    if real == 0 {
        return -1;
    }
    // SAFETY: `real` is glibc's dlclose.
    let real: extern "C" fn(*mut c_void) -> c_int = unsafe { std::mem::transmute(real) };
    let rc = real(handle);
    if crate::state::active() {
        let saved = sys::errno();
        tls::internal(modules::refresh);
        sys::set_errno(saved);
    }
    rc
}

/// The version of the preload, for `heapwise run` to check it loaded the
/// right one.
#[unsafe(no_mangle)]
pub extern "C" fn heapwise_preload_version() -> *const std::ffi::c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

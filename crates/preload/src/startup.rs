//! How tracing starts and how it ends: the first hook's start-up stage, the
//! library's constructor, the exit handler and the destructor.
//!
//! `malloc` is called before any constructor runs (by the dynamic loader
//! and by libc's own start-up), so start-up happens in two stages: the first
//! hook call reads the settings and starts recording into memory; the
//! library constructor (or, in a forked child, the first hook call) opens
//! the trace and starts the writer thread. While a stage is in progress,
//! calls from other threads pass through unrecorded rather than wait.
//!
//! `exit`: an `on_exit` handler keeps the status; the destructor (which
//! runs after the program's own destructors) writes it and everything
//! still buffered. (`_exit` skips both: `lifecycle.rs` interposes it.)
//! Whichever of the two ends the trace then lets `heapwise run` scan the
//! process for reachability (`reach.rs`).

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::{self, Config};
use crate::state::{self, ACTIVE, CHILD, OFF, UNINIT};
use crate::tls;
use crate::writer;

/// Called by a hook when tracing is not active: runs whichever start-up
/// stage is due. Returns whether the hook should record.
pub fn ensure_started() -> bool {
    loop {
        match state::current() {
            ACTIVE => return true,
            UNINIT => {
                if !environment_ready() {
                    return false;
                }
                if !state::begin_stage(UNINIT) {
                    continue;
                }
                let next = tls::internal(first_stage);
                state::finish_stage(next);
            }
            CHILD => {
                if !state::begin_stage(CHILD) {
                    continue;
                }
                let started = tls::internal(writer::start);
                state::finish_stage(if started { ACTIVE } else { OFF });
            }
            _ => return false,
        }
    }
}

/// The dynamic loader calls `malloc` before libc has set up `environ`;
/// settings can only be read once it has.
fn environment_ready() -> bool {
    unsafe extern "C" {
        static environ: *const *const libc::c_char;
    }
    // SAFETY: reading a pointer-sized global.
    !unsafe { environ }.is_null()
}

fn first_stage() -> u8 {
    match Config::from_env() {
        None => OFF,
        Some(Ok(config)) => start_recording(config),
        Some(Err(message)) => {
            complain(&format!("not tracing: {message}"));
            OFF
        }
    }
}

/// Starts recording into memory with `config`: buffers, the spill file,
/// the table of sampled blocks, the fork and exit handlers, the module
/// list. Returns the next state. (Also for each later trace of a process
/// attached again: `attach.rs` calls it after `restart`.)
pub(crate) fn start_recording(config: Config) -> u8 {
    crate::sample::set_interval(config.sample);
    if config.sample > 0 {
        // Before recording starts: the hooks read the table to know the
        // trace is sampled.
        if !crate::live::enable() {
            complain("not tracing: no memory for the table of sampled blocks");
            return OFF;
        }
    } else {
        // A full trace of an attached process whose last one was sampled.
        crate::live::disable();
    }
    let blocks = config.buffer_mb * (1 << 20) / crate::stream::BLOCK_SIZE;
    crate::stream::MAX_BLOCKS.store(blocks, Ordering::Relaxed);
    crate::spill::ensure(config.spill_dir.as_deref(), crate::spill::slots_for(blocks));
    // An earlier trace's queues start over, in this trace's spill file,
    // before anything is queued for this trace.
    if !crate::control::restart() {
        complain("not tracing: the tracer's queues are busy");
        return OFF;
    }
    config::set(config);
    if !HANDLERS_INSTALLED.swap(true, Ordering::AcqRel) {
        crate::lifecycle::install();
        // SAFETY: a plain registration with a valid function pointer.
        unsafe { on_exit(on_exit_handler, std::ptr::null_mut()) };
    }
    // Every module, in a trace that knows none yet.
    crate::unwind::modules::refresh_for_new_trace();
    ACTIVE
}

/// The fork and exit handlers are registered once per process, however
/// many traces it records: registered twice, they would run twice (and
/// the fork handler would wait for the locks it took itself).
static HANDLERS_INSTALLED: AtomicBool = AtomicBool::new(false);

/// One line on stderr (start-up cannot write a trace yet).
fn complain(message: &str) {
    let line = format!("heapwise: {message}\n");
    let _ = crate::sys::write_all(2, line.as_bytes());
}

unsafe extern "C" {
    fn on_exit(function: extern "C" fn(c_int, *mut c_void), arg: *mut c_void) -> c_int;
}

/// Set when the library destructor has run.
static DESTRUCTOR_RAN: AtomicBool = AtomicBool::new(false);

/// `exit` runs exit handlers in reverse order of registration, and the
/// destructors of all libraries (ours included) from one of them,
/// `_dl_fini`, registered when the program started. Ours is usually
/// registered earlier (at the first `malloc`), so it usually runs after the
/// destructors: then it ends the trace, after everything the destructors
/// freed. Otherwise the destructor ends it, with the status known.
///
/// Both hand on the stack pointer of the code that called them (`exit`'s),
/// for the reachability scan (`reach.rs`): what is below it is heapwise's.
#[unsafe(naked)]
extern "C" fn on_exit_handler(status: c_int, arg: *mut c_void) {
    core::arch::naked_asm!("lea rdx, [rsp + 8]", "jmp {handler}", handler = sym after_exit)
}

extern "C" fn after_exit(status: c_int, _: *mut c_void, caller_sp: usize) {
    writer::EXIT_CODE.store(i64::from(status), Ordering::Release);
    if DESTRUCTOR_RAN.load(Ordering::Acquire) {
        tls::internal(|| {
            writer::shutdown(writer::exit_status(), 5_000_000_000);
            crate::reach::at_exit(caller_sp);
        });
    }
}

/// The library constructor: second stage for the process's first image.
extern "C" fn constructor() {
    if !ensure_started() {
        return;
    }
    if !tls::internal(writer::start) {
        state::turn_off();
    }
}

#[unsafe(naked)]
extern "C" fn destructor() {
    core::arch::naked_asm!("lea rdi, [rsp + 8]", "jmp {finish}", finish = sym finish)
}

extern "C" fn finish(caller_sp: usize) {
    DESTRUCTOR_RAN.store(true, Ordering::Release);
    tls::internal(|| match writer::exit_status() {
        Some(status) => {
            writer::shutdown(Some(status), 5_000_000_000);
            crate::reach::at_exit(caller_sp);
        }
        // The exit handler comes later and ends the trace; write what we
        // have in case the process dies before that.
        None => {
            writer::flush(1_000_000_000);
        }
    });
}

#[cfg(not(test))]
#[used]
#[unsafe(link_section = ".init_array")]
static CONSTRUCTOR: extern "C" fn() = constructor;

#[cfg(not(test))]
#[used]
#[unsafe(link_section = ".fini_array")]
static DESTRUCTOR: extern "C" fn() = destructor;

//! `heapwise attach`'s entry points inside the process. `heapwise attach`
//! loads this library into a running process (`crates/attach`: its own
//! `dlopen`, called with ptrace) and calls [`heapwise_attach`] with the
//! settings `heapwise run` would have put in the environment, as
//! `KEY=VALUE` lines. The library's constructor found no settings in the
//! environment and left tracing off; the entry point starts recording
//! with the settings given, opens the trace and redirects the process's
//! calls of the `malloc` family to the hooks through every module's GOT
//! (`got.rs`), and the writer redirects those of modules loaded later at
//! its module poll. [`heapwise_detach`] writes the original GOT entries
//! back, ends the trace and leaves the library dormant: it is never
//! unloaded, since a thread may still be inside a hook.
//!
//! **Attached again.** A later `heapwise attach` finds the library loaded
//! and calls [`heapwise_attach`] again: a new trace, with the new settings,
//! that a reader decodes from scratch. Everything of the last trace that
//! lives on in the process starts over ([`restart`]): a new spill file
//! (the old mapping retired until no thread can write to it, `spill.rs`),
//! the queues, the buffer count, the table of sampled blocks, every module
//! announced again — and each thread's stream, which only its own thread
//! may touch, is re-armed by that thread before it records again (the
//! trace's epoch, `stream.rs`). A thread still inside a hook it entered
//! before the detach writes into its old stream, which no writer reads.
//! The attach waits for the last trace's writer to be gone first.
//!
//! **Forks and execs while attached.** A forked child is not traced: its
//! calls go back to glibc in `fork`'s child handler, before it runs any
//! of its own code ([`forked_child`]). `heapwise attach` detaches the
//! process it attached to, not its children: a child that went on tracing
//! would write a trace nobody ends, for as long as it lives (a pre-forking
//! server's workers). An `exec` is redirected like under `LD_PRELOAD`: the
//! trace records it and ends there; the new program runs untraced.
//!
//! Blocks allocated before the attach are not known; their frees are
//! recorded as frees of unknown blocks and ignored by the report.

use std::ffi::{CStr, c_char, c_int};
use std::sync::atomic::{AtomicBool, Ordering};

use heapwise_trace::ControlRecord;

use crate::config::Config;
use crate::got::{self, Patched};
use crate::state::{self, ACTIVE, OFF, WRITER_RUNNING, WRITER_STATE, WRITER_STOPPING};
use crate::sys::{self, Locked};
use crate::{control, tls, writer};

/// [`heapwise_attach`]'s results, as `heapwise attach` reads them.
pub const ATTACHED: c_int = 0;
/// This process is traced already (started under `heapwise run`, or
/// attached by another `heapwise attach` right now).
pub const ALREADY: c_int = 1;
/// The settings are not valid (no `HEAPWISE_OUTPUT`).
pub const BAD_SETTINGS: c_int = 2;
/// The trace could not be opened (the reason is on the process's stderr).
pub const NO_TRACE: c_int = 3;
/// [`heapwise_detach`]: not attached.
pub const NOT_ATTACHED: c_int = 4;
/// The last trace's end is still being written, or the tracer's locks are
/// busy: nothing was changed, and a moment later an attach can succeed.
pub const BUSY: c_int = 5;

/// Whether this process's calls are redirected to the hooks.
static REDIRECTED: AtomicBool = AtomicBool::new(false);

/// The GOT slots redirected, for restoring.
static PATCHED: Locked<Patched> = Locked::new(Patched::new());

/// How long a redirection or restore waits for the slots' lock.
const LOCK_WAIT_US: u64 = 1_000_000;

/// How long an attach waits for the last trace's writer to finish (a
/// detach waits up to 5 s for it, and returns sooner only when it ended).
const WRITER_WAIT_US: u64 = 3_000_000;

/// Starts tracing a running process: see the module documentation.
///
/// # Safety
/// `settings` is a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn heapwise_attach(settings: *const c_char) -> c_int {
    // SAFETY: the caller passes a C string.
    let settings = unsafe { CStr::from_ptr(settings) }.to_string_lossy();
    tls::internal(|| attach(&settings))
}

fn attach(settings: &str) -> c_int {
    // Recording (`heapwise run`, or attached now), or another attach is
    // starting (the state is taken below).
    if state::current() != OFF {
        return ALREADY;
    }
    let Some(Ok(config)) = Config::from_lines(settings) else {
        return BAD_SETTINGS;
    };
    if !state::begin_stage(OFF) {
        return ALREADY;
    }
    // From here on this call alone moves the state, and hooks pass
    // through until it is `ACTIVE`.
    let previous = crate::config::get().map(|c| c.sample);
    if !writer_gone() || (previous.is_some() && !restart()) {
        state::finish_stage(OFF);
        return BUSY;
    }
    let sample = config.sample;
    if crate::startup::start_recording(config) != ACTIVE {
        state::finish_stage(OFF);
        // (No trace names the spill file, if one was made.)
        crate::spill::release();
        return NO_TRACE;
    }
    if !writer::start() {
        state::finish_stage(OFF);
        // Its descriptor and lock too, not only its name: the process is
        // left as it was.
        crate::spill::release();
        return NO_TRACE;
    }
    note("attached to a running process: what it allocated before the attach is not known");
    if let Some(previous) = previous.filter(|&p| p > 0 && sample > 0 && p != sample) {
        note(&format!(
            "sampling: this process's last trace sampled one allocation per {previous} bytes on average, this one per {sample}: each thread's first sample here comes after what was left of the countdown it drew for the last one, so the estimates of the first bytes each thread allocated are off"
        ));
    }
    REDIRECTED.store(true, Ordering::Release);
    redirect_new_modules();
    // Recording starts once every slot is redirected: the calls made while
    // they were being written went straight to glibc (the state is still
    // `STARTING`). Otherwise a block allocated through a slot written
    // already and freed through one not yet would be recorded as leaked.
    state::finish_stage(ACTIVE);
    sweep_retired();
    ATTACHED
}

/// Whether the last trace's writer thread is gone (waiting for it a
/// while: a detach that timed out leaves it finishing its last pass).
fn writer_gone() -> bool {
    let mut waited = 0;
    while matches!(
        WRITER_STATE.load(Ordering::Acquire),
        WRITER_RUNNING | WRITER_STOPPING
    ) {
        if waited >= WRITER_WAIT_US {
            return false;
        }
        sys::nap_us(1000);
        waited += 1000;
    }
    true
}

/// Makes a process that recorded a trace before ready for a new one (the
/// rest is `startup::start_recording`'s, as for any trace). The order
/// matters: the last trace's spill mapping is retired before the epoch
/// moves on, so a stream re-armed for the new trace takes its blocks from
/// the new spill file (or private memory until it exists), never from the
/// old mapping, which `spill::sweep` may unmap once no stream of the old
/// trace is in use. False if the spill file's lock could not be had.
fn restart() -> bool {
    if !crate::spill::retire() {
        return false;
    }
    state::next_epoch();
    crate::stream::restart();
    true
}

/// Unmaps the spill mappings of earlier traces that no thread can write to
/// any more (see `spill.rs`).
fn sweep_retired() {
    let oldest = crate::stream::oldest_epoch_in_use().min(control::oldest_epoch());
    crate::spill::sweep(oldest);
}

fn note(message: &str) {
    control::push(&ControlRecord::Note {
        ts: sys::ticks(),
        message: message.into(),
    });
}

/// Redirects the calls of modules not redirected yet (all of them at the
/// attach; those loaded since, at the writer's module poll), and says in
/// the trace when some could not be.
pub fn redirect_new_modules() {
    // (Unit tests have no exported hooks to redirect to.)
    #[cfg(not(test))]
    if REDIRECTED.load(Ordering::Acquire) {
        let redirects = redirects();
        let own = heapwise_attach as *const () as usize;
        let missed = PATCHED.with(LOCK_WAIT_US, |patched| {
            got::patch(&redirects, own, patched);
            patched.unreported_overflow()
        });
        if let Some(slots) = missed.filter(|&n| n > 0) {
            note(&overflow_note(slots));
        }
    }
}

/// The note a trace carries when GOT slots could not be redirected.
fn overflow_note(slots: usize) -> String {
    format!(
        "attach: {slots} GOT slots of the malloc family could not be redirected (heapwise redirects at most {} in a process): calls through them are not in this trace",
        got::MAX_SLOTS
    )
}

/// What an attach redirects: the `malloc` family to the hooks, and the
/// calls the preload interposes under `LD_PRELOAD` to keep the trace
/// right — `dlopen` (so that a library loaded later is redirected before
/// it allocates, not at the writer's next poll), `dlclose`, `_exit` and
/// the `exec` family (so that the trace records the exec and is complete
/// before the image is replaced).
#[cfg(not(test))]
fn redirects() -> [got::Redirect<'static>; 23] {
    unsafe extern "C" {
        // `shim.c`'s wrappers, under their hidden names.
        static hw_exec_execve: u8;
        static hw_exec_execv: u8;
        static hw_exec_execvp: u8;
        static hw_exec_execvpe: u8;
        static hw_exec_fexecve: u8;
        static hw_exec_execl: u8;
        static hw_exec_execlp: u8;
        static hw_exec_execle: u8;
    }
    let hooks = crate::hooks::redirects();
    let mut all = [(c"", 0usize); 23];
    all[..hooks.len()].copy_from_slice(&hooks);
    all[11] = (c"dlopen", attached_dlopen as *const () as usize);
    all[12] = (c"dlclose", crate::lifecycle::dlclose as *const () as usize);
    all[13] = (c"_exit", crate::lifecycle::_exit as *const () as usize);
    all[14] = (c"_Exit", crate::lifecycle::_Exit as *const () as usize);
    all[15] = (c"execve", &raw const hw_exec_execve as usize);
    all[16] = (c"execv", &raw const hw_exec_execv as usize);
    all[17] = (c"execvp", &raw const hw_exec_execvp as usize);
    all[18] = (c"execvpe", &raw const hw_exec_execvpe as usize);
    all[19] = (c"fexecve", &raw const hw_exec_fexecve as usize);
    all[20] = (c"execl", &raw const hw_exec_execl as usize);
    all[21] = (c"execlp", &raw const hw_exec_execlp as usize);
    all[22] = (c"execle", &raw const hw_exec_execle as usize);
    all
}

/// `dlopen`, in an attached process: glibc's, then the new library's calls
/// redirected at once.
#[cfg(not(test))]
extern "C" fn attached_dlopen(file: *const c_char, mode: c_int) -> *mut std::ffi::c_void {
    // SAFETY: forwarding the caller's arguments to glibc.
    let handle = unsafe { libc::dlopen(file, mode) };
    if !handle.is_null() && REDIRECTED.load(Ordering::Acquire) {
        let saved = sys::errno();
        tls::internal(|| {
            crate::unwind::modules::refresh();
            redirect_new_modules();
        });
        sys::set_errno(saved);
    }
    handle
}

/// Stops tracing an attached process: the original GOT entries are written
/// back, the trace is ended, the library stays loaded but dormant.
#[unsafe(no_mangle)]
pub extern "C" fn heapwise_detach() -> c_int {
    if !REDIRECTED.swap(false, Ordering::AcqRel) {
        return NOT_ATTACHED;
    }
    tls::internal(|| {
        // Recording stops before the slots are written back, for the same
        // reason it starts after they are redirected (see `attach`).
        state::turn_off();
        PATCHED.with(LOCK_WAIT_US, |patched| patched.restore(got::mapped));
        note("detached: blocks still allocated at the end were live when heapwise detached");
        writer::shutdown(None, 5_000_000_000);
        crate::spill::release();
        sweep_retired();
    });
    ATTACHED
}

/// `fork`'s prepare handler: the slots' lock is taken so that the child
/// never inherits it half-held (`lifecycle.rs`).
pub fn lock_for_fork() {
    PATCHED.lock.lock_raw();
}

/// `fork`'s parent handler.
pub fn unlock_after_fork() {
    PATCHED.lock.force_unlock();
}

/// In a forked child (`fork`'s child handler: the only thread), before it
/// runs any code of its own: if the parent is attached, the child's calls
/// go back to glibc and it is not traced (see the module documentation).
/// Returns whether it was attached. The slots are read and written with
/// checked copies, without `got::mapped`, which would take the loader's
/// lock inside a fork handler.
pub fn forked_child() -> bool {
    PATCHED.lock.force_unlock();
    if !REDIRECTED.swap(false, Ordering::AcqRel) {
        return false;
    }
    PATCHED.with(0, |patched| patched.restore(|_| true));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overflow_note_names_the_slots_missed_and_the_limit() {
        let note = overflow_note(17);
        assert!(note.contains("17 GOT slots"), "{note}");
        assert!(note.contains("at most 4096"), "{note}");
        assert!(note.contains("not in this trace"), "{note}");
    }
}

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
//! Blocks allocated before the attach are not known; their frees are
//! recorded as frees of unknown blocks and ignored by the report.

use std::ffi::{CStr, c_char, c_int};
use std::sync::atomic::{AtomicBool, Ordering};

use heapwise_trace::ControlRecord;

use crate::config::Config;
use crate::got::{self, Patched};
use crate::state::{self, ACTIVE, OFF};
use crate::sys::{self, Locked};
use crate::{control, tls, writer};

/// [`heapwise_attach`]'s results, as `heapwise attach` reads them.
pub const ATTACHED: c_int = 0;
/// This process is traced already (started under `heapwise run`, or
/// attached before).
pub const ALREADY: c_int = 1;
/// The settings are not valid (no `HEAPWISE_OUTPUT`).
pub const BAD_SETTINGS: c_int = 2;
/// The trace could not be opened (the reason is on the process's stderr).
pub const NO_TRACE: c_int = 3;
/// [`heapwise_detach`]: not attached.
pub const NOT_ATTACHED: c_int = 4;

/// Whether this process's calls are redirected to the hooks.
static REDIRECTED: AtomicBool = AtomicBool::new(false);

/// The GOT slots redirected, for restoring.
static PATCHED: Locked<Patched> = Locked::new(Patched::new());

/// How long a redirection or restore waits for the slots' lock.
const LOCK_WAIT_US: u64 = 1_000_000;

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
    if state::current() != OFF || crate::config::get().is_some() {
        return ALREADY;
    }
    let Some(Ok(config)) = Config::from_lines(settings) else {
        return BAD_SETTINGS;
    };
    if !state::begin_stage(OFF) {
        return ALREADY;
    }
    let next = crate::startup::start_recording(config);
    state::finish_stage(next);
    if next != ACTIVE {
        return NO_TRACE;
    }
    if !writer::start() {
        state::turn_off();
        return NO_TRACE;
    }
    control::push(&ControlRecord::Note {
        ts: sys::ticks(),
        message: "attached to a running process: what it allocated before the attach is not known"
            .into(),
    });
    REDIRECTED.store(true, Ordering::Release);
    redirect_new_modules();
    ATTACHED
}

/// Redirects the calls of modules not redirected yet (all of them at the
/// attach; those loaded since, at the writer's module poll).
pub fn redirect_new_modules() {
    // (Unit tests have no exported hooks to redirect to.)
    #[cfg(not(test))]
    if REDIRECTED.load(Ordering::Acquire) {
        let redirects = redirects();
        let own = heapwise_attach as *const () as usize;
        PATCHED.with(LOCK_WAIT_US, |patched| got::patch(&redirects, own, patched));
    }
}

/// What an attach redirects: the `malloc` family to the hooks, and the
/// calls the preload interposes under `LD_PRELOAD` to keep the trace
/// right — `dlopen` (so that a library loaded later is redirected before
/// it allocates, not at the writer's next poll), `dlclose`, `_exit`.
#[cfg(not(test))]
fn redirects() -> [got::Redirect<'static>; 15] {
    let hooks = crate::hooks::redirects();
    let mut all = [(c"", 0usize); 15];
    all[..hooks.len()].copy_from_slice(&hooks);
    all[11] = (c"dlopen", attached_dlopen as *const () as usize);
    all[12] = (c"dlclose", crate::lifecycle::dlclose as *const () as usize);
    all[13] = (c"_exit", crate::lifecycle::_exit as *const () as usize);
    all[14] = (c"_Exit", crate::lifecycle::_Exit as *const () as usize);
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
        PATCHED.with(LOCK_WAIT_US, |patched| patched.restore(got::mapped));
        control::push(&ControlRecord::Note {
            ts: sys::ticks(),
            message: "detached: blocks still allocated at the end were live when heapwise detached"
                .into(),
        });
        writer::shutdown(None, 5_000_000_000);
        crate::spill::release();
    });
    ATTACHED
}

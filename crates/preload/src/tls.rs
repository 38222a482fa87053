//! The calling thread's tracer state, in initial-exec TLS (see `shim.c`).

use crate::stream::Stream;
use crate::unwind::StackBounds;

/// Not inside a hook.
pub const IDLE: u8 = 0;
/// Inside a hook: a nested call is a signal handler that interrupted it.
pub const IN_HOOK: u8 = 1;
/// The tracer's own thread or code: calls pass straight to glibc.
pub const INTERNAL: u8 = 2;

/// Mirror of `struct hw_tls` in `shim.c`.
#[repr(C)]
pub struct Tls {
    /// [`IDLE`], [`IN_HOOK`] or [`INTERNAL`].
    pub guard: u8,
    /// The thread-exit destructor released the stream.
    pub exited: u8,
    pad: u16,
    /// Calls not recorded while no stream was attached.
    pub lost: u32,
    /// The stream this thread writes, or null.
    pub stream: *const Stream,
    /// The thread's stack, for bounds-checked reads while unwinding.
    pub stack: StackBounds,
    /// Sampled traces: bytes this thread may still allocate before its
    /// next sampled block (0 in a full trace, and before the first draw).
    pub sample_left: u64,
    /// Sampled traces: the thread's PRNG state (0: not seeded yet).
    pub rng: u64,
}

const _: () = assert!(std::mem::size_of::<Tls>() == 48);

// `Tls` points to a Rust type the C side treats as opaque.
#[allow(improper_ctypes)]
unsafe extern "C" {
    /// The calling thread's block (`shim.c`): a thread-local in the
    /// initial-exec model, only ever reached through [`get`].
    pub(crate) static heapwise_tls_block: Tls;
}

/// The calling thread's state. A fixed offset from the thread pointer (two
/// instructions, the initial-exec model's, as the C compiler emits them
/// for `shim.c`'s own accesses): never allocates, never takes a lock,
/// never calls `__tls_get_addr`.
#[inline(always)]
pub fn get() -> *mut Tls {
    let tls: *mut Tls;
    // SAFETY: reads the thread pointer and the block's offset from it in
    // the GOT, which the dynamic loader filled in before any code ran.
    unsafe {
        std::arch::asm!(
            "mov {tls}, qword ptr [rip + {block}@GOTTPOFF]",
            "add {tls}, qword ptr fs:[0]",
            tls = out(reg) tls,
            block = sym heapwise_tls_block,
            options(pure, readonly, nostack, preserves_flags),
        );
    }
    tls
}

/// Used by the writer thread and other tracer-owned threads: everything
/// they allocate passes straight through.
pub fn mark_internal_thread() {
    // SAFETY: the calling thread's TLS.
    unsafe { (*get()).guard = INTERNAL };
}

/// Runs `f` with the guard set to [`INTERNAL`], so allocations made by
/// glibc on the tracer's behalf are neither recorded nor recursed into.
/// Signals wait until `f` is done: a handler's `malloc` is the program's
/// and must be recorded, which the guard would prevent.
pub fn internal<R>(f: impl FnOnce() -> R) -> R {
    let _blocked = crate::sys::SignalsBlocked::new();
    let tls = get();
    // SAFETY: the TLS block of the calling thread is always valid.
    let saved = unsafe { (*tls).guard };
    unsafe { (*tls).guard = INTERNAL };
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
    let result = f();
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
    // SAFETY: as above.
    unsafe { (*tls).guard = saved };
    result
}

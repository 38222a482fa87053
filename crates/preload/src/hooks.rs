//! The exported allocation functions.
//!
//! Each exported symbol is a three-instruction trampoline that hands the
//! implementation the stack pointer and RBP it was entered with, then jumps
//! (the return address stays on the stack, so the implementation returns
//! straight to the caller). That gives the unwinder the caller's exact
//! registers without unwinding through any heapwise frame, so `frames[0]`
//! of every stack is the function that called the allocation API.
//!
//! Ordering rules that keep the trace exact when threads reuse each other's
//! memory: a block's free is recorded (and timestamped) *before* glibc gets
//! it back, an allocation *after* glibc returns it; `realloc` records the
//! tick at entry for its implicit free.
//!
//! In a sampled trace (`sample.rs`) an allocation whose bytes leave the
//! thread's countdown above zero goes straight to glibc before anything
//! else, and a free whose address the filter of sampled blocks does not
//! know (`live.rs`) after one byte load; the rest is in functions of their
//! own (`sampled_*`). A full trace's hooks only gain the test that tells
//! it is not sampled (`full_*` are the hooks as they were). A sampled block is
//! put into the table after glibc returns it and taken out before glibc
//! gets it back, so an address is never in the table twice.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{Ordering, compiler_fence};

use heapwise_trace::AllocApi;

use crate::alloc::*;
use crate::live;
use crate::record::{self, Call};
use crate::sample;
use crate::state;
use crate::sys;
use crate::tls::{self, IDLE, IN_HOOK, Tls};
use crate::unwind::Regs;

/// Declares an exported trampoline `$name` that jumps to `$target` with the
/// entry stack pointer in `$sp` and RBP in `$bp` (the next free argument
/// registers after the function's own arguments).
#[cfg(all(not(test), target_arch = "x86_64"))]
macro_rules! trampoline {
    ($name:literal, $target:path, $sp:literal, $bp:literal) => {
        core::arch::global_asm!(
            concat!(".globl ", $name),
            concat!(".type ", $name, ",@function"),
            // The same code under a hidden name, which the library's own
            // code can take the address of (`redirects`): `malloc` itself
            // would resolve to libc's in a process that loaded us late.
            concat!(".globl hw_hook_", $name),
            concat!(".hidden hw_hook_", $name),
            ".p2align 4",
            concat!($name, ":"),
            concat!("hw_hook_", $name, ":"),
            ".cfi_startproc",
            concat!("mov ", $sp, ", rsp"),
            concat!("mov ", $bp, ", rbp"),
            "jmp {target}",
            ".cfi_endproc",
            concat!(".size ", $name, ", .-", $name),
            target = sym $target,
        );
    };
}

/// Declares an exported function `$name` whose body `$fast` (assembly
/// lines) either finishes the call in glibc or jumps to the local label
/// `2`, where the function becomes the trampoline to `$target` (see
/// [`trampoline!`]). `$fast` may use the scratch registers `rax`, `rcx`
/// and the argument registers the trampoline then sets (`$sp`, `$bp`).
#[cfg(all(not(test), target_arch = "x86_64"))]
macro_rules! fast_path {
    ($name:literal, $target:path, $sp:literal, $bp:literal, [$($fast:expr),* $(,)?], $($operands:tt)*) => {
        core::arch::global_asm!(
            concat!(".globl ", $name),
            concat!(".type ", $name, ",@function"),
            concat!(".globl hw_hook_", $name),
            concat!(".hidden hw_hook_", $name),
            ".p2align 4",
            concat!($name, ":"),
            concat!("hw_hook_", $name, ":"),
            ".cfi_startproc",
            $($fast,)*
            "2:",
            concat!("mov ", $sp, ", rsp"),
            concat!("mov ", $bp, ", rbp"),
            "jmp {target}",
            ".cfi_endproc",
            concat!(".size ", $name, ", .-", $name),
            target = sym $target,
            $($operands)*
        );
    };
}

/// The four calls a program makes by the million have a fast path of their
/// own in a sampled trace, written out in assembly because every
/// instruction on it costs CPython about 0.1 % of its instructions: a
/// `malloc` the countdown skips is 5 instructions and the jump to glibc
/// (the filter's pointer is not null, the thread's countdown lowered by the
/// size stays above zero), a `free` the filter clears 7 and the jump (the
/// filter's counter of the address's granule is 0) — against 13 and 15 when
/// the trampoline led to the same tests compiled from Rust. A full trace
/// (the filter's pointer is null) and every call the fast path does not
/// finish go through the trampoline to the hooks below, which test
/// everything again.
#[cfg(all(not(test), target_arch = "x86_64"))]
mod exported {
    use crate::alloc::{__libc_calloc, __libc_free, __libc_malloc, __libc_realloc};
    use crate::live::{FILTER, FILTER_GRAIN};
    use crate::tls::{Tls, heapwise_tls_block};

    // To `3:` unless the thread's countdown (through `$tls`), lowered by
    // the size in `$size`, stays above zero. The countdown is lowered in
    // place, so one that runs out is left below zero (countdowns are under
    // 2^62, so as a signed number): `3:` ([`ran_out!`]) sets it to 0 before
    // the trampoline, and the hooks draw the next one as they would have
    // from what was left (draws are memoryless, `sample.rs`). A signal
    // handler that allocates between the two instructions finds the
    // countdown below zero too — the signed test (`jle`) sends it down the
    // hooks' path, which samples it, as `sample::skip` treats a negative
    // countdown as run out.
    #[rustfmt::skip]
    macro_rules! countdown {
        ($tls:literal, $size:literal) => {
            concat!(
                "mov ", $tls, ", qword ptr [rip + {tls}@GOTTPOFF]\n",
                "sub qword ptr fs:[", $tls, " + {left}], ", $size, "\n",
                "jle 3f",
            )
        };
    }
    // `3:`, where [`countdown!`] goes when the countdown runs out: the
    // countdown to 0, then on to the trampoline at `2:`.
    #[rustfmt::skip]
    macro_rules! ran_out {
        ($tls:literal) => {
            concat!(
                "3:\n",
                "mov qword ptr fs:[", $tls, " + {left}], 0",
            )
        };
    }
    // To `2:` in a full trace (no filter) or if the filter's counter of
    // the granule of the block in `$ptr32` (a pointer's low 32 bits: the
    // counter's index once shifted, see `live::FILTER_LOG2`) is set (it
    // may be sampled).
    #[rustfmt::skip]
    macro_rules! not_sampled {
        ($ptr32:literal) => {
            concat!(
                "mov rax, qword ptr [rip + {filter}]\n",
                "test rax, rax\n",
                "je 2f\n",
                "mov ecx, ", $ptr32, "\n",
                "shr ecx, {grain}\n",
                "cmp byte ptr [rax + rcx], 0\n",
                "jne 2f",
            )
        };
    }

    fast_path!("malloc", super::hw_malloc, "rsi", "rdx", [
        "cmp qword ptr [rip + {filter}], 0",
        "je 2f",
        countdown!("rax", "rdi"),
        "jmp qword ptr [rip + {glibc}@GOTPCREL]",
        ran_out!("rax"),
    ],
        filter = sym FILTER,
        tls = sym heapwise_tls_block,
        left = const std::mem::offset_of!(Tls, sample_left),
        glibc = sym __libc_malloc,
    );
    fast_path!("free", super::hw_free, "rsi", "rdx", [
        not_sampled!("edi"),
        "jmp qword ptr [rip + {glibc}@GOTPCREL]",
    ],
        filter = sym FILTER,
        grain = const FILTER_GRAIN,
        glibc = sym __libc_free,
    );
    // `mul` sets the overflow flag when the product does not fit in 64
    // bits (glibc's calloc fails then; the hook tells it).
    fast_path!("calloc", super::hw_calloc, "rdx", "rcx", [
        "cmp qword ptr [rip + {filter}], 0",
        "je 2f",
        "mov rax, rdi",
        "mul rsi",
        "jo 2f",
        countdown!("rdx", "rax"),
        "jmp qword ptr [rip + {glibc}@GOTPCREL]",
        ran_out!("rdx"),
    ],
        filter = sym FILTER,
        tls = sym heapwise_tls_block,
        left = const std::mem::offset_of!(Tls, sample_left),
        glibc = sym __libc_calloc,
    );
    // The old block is not sampled (`free`'s test) and the new one is
    // skipped (`malloc`'s).
    fast_path!("realloc", super::hw_realloc, "rdx", "rcx", [
        not_sampled!("edi"),
        countdown!("rax", "rsi"),
        "jmp qword ptr [rip + {glibc}@GOTPCREL]",
        ran_out!("rax"),
    ],
        filter = sym FILTER,
        grain = const FILTER_GRAIN,
        tls = sym heapwise_tls_block,
        left = const std::mem::offset_of!(Tls, sample_left),
        glibc = sym __libc_realloc,
    );
    trampoline!("cfree", super::hw_free, "rsi", "rdx");
    trampoline!("reallocarray", super::hw_reallocarray, "rcx", "r8");
    trampoline!("posix_memalign", super::hw_posix_memalign, "rcx", "r8");
    trampoline!("aligned_alloc", super::hw_aligned_alloc, "rdx", "rcx");
    trampoline!("memalign", super::hw_memalign, "rdx", "rcx");
    trampoline!("valloc", super::hw_valloc, "rsi", "rdx");
    trampoline!("pvalloc", super::hw_pvalloc, "rsi", "rdx");
}

/// The exported functions and the addresses of their hooks, for
/// redirecting a running process's calls to them (`got.rs`, `attach.rs`).
#[cfg(all(not(test), target_arch = "x86_64"))]
pub fn redirects() -> [crate::got::Redirect<'static>; 11] {
    unsafe extern "C" {
        static hw_hook_malloc: u8;
        static hw_hook_free: u8;
        static hw_hook_cfree: u8;
        static hw_hook_calloc: u8;
        static hw_hook_realloc: u8;
        static hw_hook_reallocarray: u8;
        static hw_hook_posix_memalign: u8;
        static hw_hook_aligned_alloc: u8;
        static hw_hook_memalign: u8;
        static hw_hook_valloc: u8;
        static hw_hook_pvalloc: u8;
    }
    [
        (c"malloc", &raw const hw_hook_malloc as usize),
        (c"free", &raw const hw_hook_free as usize),
        (c"cfree", &raw const hw_hook_cfree as usize),
        (c"calloc", &raw const hw_hook_calloc as usize),
        (c"realloc", &raw const hw_hook_realloc as usize),
        (c"reallocarray", &raw const hw_hook_reallocarray as usize),
        (
            c"posix_memalign",
            &raw const hw_hook_posix_memalign as usize,
        ),
        (c"aligned_alloc", &raw const hw_hook_aligned_alloc as usize),
        (c"memalign", &raw const hw_hook_memalign as usize),
        (c"valloc", &raw const hw_hook_valloc as usize),
        (c"pvalloc", &raw const hw_hook_pvalloc as usize),
    ]
}

#[inline(always)]
fn caller(sp: *const u64, bp: u64) -> Regs {
    // SAFETY: `sp` is the stack pointer at the exported symbol's entry,
    // where the return address was just pushed.
    let ip = unsafe { sp.read() };
    Regs {
        ip,
        sp: sp as u64 + 8,
        bp,
    }
}

/// A hook's hold on the thread's recursion guard (`Tls::guard`), and what
/// the hook may do with its call: entered before the hook calls glibc and
/// dropped when it returns, on every path. Dropping it leaves the guard
/// only if this hook set it (`Record`): a signal handler's nested call must
/// not clear the guard of the hook it interrupted, nor a call from the
/// tracer's own code its `INTERNAL`. A scope guard like heaptrack's and
/// memray's; per call it executes the instructions explicit enter and
/// leave calls did (its one addition is a cleanup path for a panic, which
/// aborts at the hook's C boundary anyway).
enum Guard {
    /// Record on the fast path; the guard is now `IN_HOOK`.
    Record(*mut Tls),
    /// A signal handler interrupted a hook on this thread.
    Nested(*mut Tls),
    /// Tracing is off, starting, or this is the tracer's own code.
    Pass,
}

impl Guard {
    /// Takes the guard of `tls` (the calling thread's) if this thread is
    /// in no hook and tracing is on (or starts tracing when it is due).
    #[inline(always)]
    fn enter(tls: *mut Tls) -> Guard {
        // SAFETY: the calling thread's TLS.
        let guard = unsafe { (*tls).guard };
        if guard == IDLE && state::active() {
            // SAFETY: as above.
            unsafe { (*tls).guard = IN_HOOK };
            compiler_fence(Ordering::SeqCst);
            return Guard::Record(tls);
        }
        enter_slow(tls, guard)
    }

    /// Whether calls are recorded (on the fast or the nested path).
    #[inline(always)]
    fn records(&self) -> bool {
        !matches!(self, Guard::Pass)
    }

    /// Records `call` in whatever way the guard allows. (The fast path
    /// makes no system call; the cold paths that may keep `errno` intact
    /// themselves.)
    #[inline(always)]
    fn note(&self, call: Call, regs: Regs) {
        match *self {
            Guard::Record(tls) => record::record(tls, call, regs),
            Guard::Nested(tls) => {
                let saved = sys::errno();
                record::record_nested(tls, call, regs);
                sys::set_errno(saved);
            }
            Guard::Pass => {}
        }
    }
}

impl Drop for Guard {
    #[inline(always)]
    fn drop(&mut self) {
        if let Guard::Record(tls) = *self {
            leave(tls);
        }
    }
}

#[cold]
fn enter_slow(tls: *mut Tls, guard: u8) -> Guard {
    match guard {
        IN_HOOK if state::active() => Guard::Nested(tls),
        IDLE => {
            if crate::startup::ensure_started() {
                // SAFETY: the calling thread's TLS.
                unsafe { (*tls).guard = IN_HOOK };
                compiler_fence(Ordering::SeqCst);
                Guard::Record(tls)
            } else {
                Guard::Pass
            }
        }
        _ => Guard::Pass,
    }
}

/// Clears the guard. A signal handler that called `malloc` after the
/// record's last look at the side buffer parked its record there: look
/// again once the guard is clear (a later handler takes the normal path),
/// and move what is there into the stream.
#[inline(always)]
fn leave(tls: *mut Tls) {
    loop {
        compiler_fence(Ordering::SeqCst);
        // SAFETY: the calling thread's TLS.
        unsafe { (*tls).guard = IDLE };
        compiler_fence(Ordering::SeqCst);
        if !record::side_pending(tls) {
            return;
        }
        // SAFETY: as above.
        unsafe { (*tls).guard = IN_HOOK };
        record::drain_pending(tls);
    }
}

/// The shared entry of the functions that return a new block: which kind
/// of trace (one load of a read-mostly global), the countdown of a sampled
/// one, then the body. The bodies are functions of their own, so that this
/// stays a leaf that saves no register and ends in a jump: in a sampled
/// trace, a call the countdown skips is that load, a TLS load, a compare, a
/// store and a jump to glibc; a full trace pays the load and a jump to the
/// body. The bodies are `extern "C"`, so they cannot unwind and the hook
/// needs no cleanup after them, and `call` captures its arguments by value
/// (in registers).
#[inline(always)]
fn allocating(
    api: AllocApi,
    size: u64,
    sp: *const u64,
    bp: u64,
    call: impl FnOnce() -> *mut c_void,
) -> *mut c_void {
    if !sample::on() {
        return full_allocating(api, size, sp, bp, call);
    }
    if sample::skip(tls::get(), size) {
        return call();
    }
    sampled_allocating(api, size, sp, bp, call)
}

/// [`allocating`] in a full trace: every block is recorded.
#[inline(never)]
#[allow(improper_ctypes_definitions)]
extern "C" fn full_allocating(
    api: AllocApi,
    size: u64,
    sp: *const u64,
    bp: u64,
    call: impl FnOnce() -> *mut c_void,
) -> *mut c_void {
    let guard = Guard::enter(tls::get());
    let ptr = call();
    if !ptr.is_null() {
        guard.note(
            Call::Alloc {
                api,
                size,
                ptr: ptr as u64,
            },
            caller(sp, bp),
        );
    }
    ptr
}

/// [`allocating`] in a sampled trace, once the countdown ran out: the
/// block is sampled (unless this is the thread's first draw and it says
/// otherwise, or the table of sampled blocks is full).
#[inline(never)]
#[allow(improper_ctypes_definitions)]
extern "C" fn sampled_allocating(
    api: AllocApi,
    size: u64,
    sp: *const u64,
    bp: u64,
    call: impl FnOnce() -> *mut c_void,
) -> *mut c_void {
    let tls = tls::get();
    let guard = Guard::enter(tls);
    let due = sample::take(tls, size);
    let ptr = call();
    if due && !ptr.is_null() && guard.records() && live::insert(ptr as u64) {
        guard.note(
            Call::Alloc {
                api,
                size,
                ptr: ptr as u64,
            },
            caller(sp, bp),
        );
    }
    ptr
}

pub(crate) unsafe extern "C" fn hw_malloc(size: usize, sp: *const u64, bp: u64) -> *mut c_void {
    // SAFETY: forwarding to glibc.
    allocating(AllocApi::Malloc, size as u64, sp, bp, move || unsafe {
        __libc_malloc(size)
    })
}

pub(crate) unsafe extern "C" fn hw_calloc(
    count: usize,
    size: usize,
    sp: *const u64,
    bp: u64,
) -> *mut c_void {
    // SAFETY: forwarding to glibc, which checks the multiplication.
    allocating(
        AllocApi::Calloc,
        (count as u64).wrapping_mul(size as u64),
        sp,
        bp,
        move || unsafe { __libc_calloc(count, size) },
    )
}

pub(crate) unsafe extern "C" fn hw_memalign(
    align: usize,
    size: usize,
    sp: *const u64,
    bp: u64,
) -> *mut c_void {
    // SAFETY: forwarding to glibc.
    allocating(AllocApi::Memalign, size as u64, sp, bp, move || unsafe {
        __libc_memalign(align, size)
    })
}

pub(crate) unsafe extern "C" fn hw_aligned_alloc(
    align: usize,
    size: usize,
    sp: *const u64,
    bp: u64,
) -> *mut c_void {
    // glibc's aligned_alloc accepts any power-of-two alignment and is
    // memalign with a validity check; reproduce the check.
    if !align.is_power_of_two() {
        sys::set_errno(libc::EINVAL);
        return std::ptr::null_mut();
    }
    // SAFETY: forwarding to glibc.
    allocating(
        AllocApi::AlignedAlloc,
        size as u64,
        sp,
        bp,
        move || unsafe { __libc_memalign(align, size) },
    )
}

pub(crate) unsafe extern "C" fn hw_valloc(size: usize, sp: *const u64, bp: u64) -> *mut c_void {
    // SAFETY: forwarding to glibc.
    allocating(AllocApi::Valloc, size as u64, sp, bp, move || unsafe {
        __libc_valloc(size)
    })
}

pub(crate) unsafe extern "C" fn hw_pvalloc(size: usize, sp: *const u64, bp: u64) -> *mut c_void {
    // SAFETY: forwarding to glibc.
    allocating(AllocApi::Pvalloc, size as u64, sp, bp, move || unsafe {
        __libc_pvalloc(size)
    })
}

pub(crate) unsafe extern "C" fn hw_posix_memalign(
    out: *mut *mut c_void,
    align: usize,
    size: usize,
    sp: *const u64,
    bp: u64,
) -> c_int {
    if !align.is_multiple_of(std::mem::size_of::<*mut c_void>()) || !align.is_power_of_two() {
        return libc::EINVAL;
    }
    let saved = sys::errno();
    // SAFETY: forwarding to glibc.
    let ptr = allocating(
        AllocApi::PosixMemalign,
        size as u64,
        sp,
        bp,
        move || unsafe { __libc_memalign(align, size) },
    );
    let rc = if ptr.is_null() {
        libc::ENOMEM
    } else {
        // SAFETY: the caller passed a valid out-pointer.
        unsafe { out.write(ptr) };
        0
    };
    // posix_memalign does not set errno.
    sys::set_errno(saved);
    rc
}

pub(crate) unsafe extern "C" fn hw_free(ptr: *mut c_void, sp: *const u64, bp: u64) {
    let filter = live::filter();
    if !filter.is_null() {
        // (`free(NULL)` too: 0 is never in the table, and glibc ignores it.)
        if live::may_be_sampled(filter, ptr as u64) {
            return sampled_free(ptr, sp, bp);
        }
        // SAFETY: forwarding to glibc.
        return unsafe { __libc_free(ptr) };
    }
    if ptr.is_null() {
        return;
    }
    full_free(ptr, sp, bp)
}

/// `free` in a full trace (a function of its own, as in [`allocating`]).
#[inline(never)]
#[allow(improper_ctypes_definitions)]
extern "C" fn full_free(ptr: *mut c_void, sp: *const u64, bp: u64) {
    let guard = Guard::enter(tls::get());
    guard.note(Call::Free { ptr: ptr as u64 }, caller(sp, bp));
    // SAFETY: forwarding to glibc.
    unsafe { __libc_free(ptr) };
}

/// `free` in a sampled trace of a block the filter may know: recorded if
/// it is a sampled block.
#[inline(never)]
#[allow(improper_ctypes_definitions)]
extern "C" fn sampled_free(ptr: *mut c_void, sp: *const u64, bp: u64) {
    if live::remove(ptr as u64) {
        let guard = Guard::enter(tls::get());
        guard.note(Call::Free { ptr: ptr as u64 }, caller(sp, bp));
        // SAFETY: forwarding to glibc.
        unsafe { __libc_free(ptr) };
        return;
    }
    // SAFETY: forwarding to glibc.
    unsafe { __libc_free(ptr) };
}

pub(crate) unsafe extern "C" fn hw_realloc(
    ptr: *mut c_void,
    size: usize,
    sp: *const u64,
    bp: u64,
) -> *mut c_void {
    // SAFETY: forwarding to glibc.
    reallocating(
        AllocApi::Realloc,
        ptr,
        size as u64,
        sp,
        bp,
        move || unsafe { __libc_realloc(ptr, size) },
    )
}

pub(crate) unsafe extern "C" fn hw_reallocarray(
    ptr: *mut c_void,
    count: usize,
    size: usize,
    sp: *const u64,
    bp: u64,
) -> *mut c_void {
    let Some(total) = count.checked_mul(size) else {
        sys::set_errno(libc::ENOMEM);
        return std::ptr::null_mut();
    };
    // SAFETY: forwarding to glibc.
    reallocating(
        AllocApi::Reallocarray,
        ptr,
        total as u64,
        sp,
        bp,
        move || unsafe { __libc_realloc(ptr, total) },
    )
}

#[inline(always)]
fn reallocating(
    api: AllocApi,
    old: *mut c_void,
    size: u64,
    sp: *const u64,
    bp: u64,
    call: impl FnOnce() -> *mut c_void,
) -> *mut c_void {
    if sample::on() {
        return sampled_reallocating(api, old, size, sp, bp, call);
    }
    full_reallocating(api, old, size, sp, bp, call)
}

/// [`reallocating`] in a full trace.
#[inline(never)]
#[allow(improper_ctypes_definitions)]
extern "C" fn full_reallocating(
    api: AllocApi,
    old: *mut c_void,
    size: u64,
    sp: *const u64,
    bp: u64,
    call: impl FnOnce() -> *mut c_void,
) -> *mut c_void {
    let guard = Guard::enter(tls::get());
    let regs = caller(sp, bp);
    if size == 0 && !old.is_null() {
        // glibc frees the block and returns NULL: a free.
        guard.note(Call::Free { ptr: old as u64 }, regs);
        let new = call();
        if !new.is_null() {
            guard.note(
                Call::Realloc {
                    api,
                    entry: sys::ticks(),
                    old: 0,
                    size,
                    new: new as u64,
                },
                regs,
            );
        }
        return new;
    }
    let entry = sys::ticks();
    let new = call();
    if !new.is_null() {
        guard.note(
            Call::Realloc {
                api,
                entry,
                old: old as u64,
                size,
                new: new as u64,
            },
            regs,
        );
    }
    new
}

/// [`reallocating`] in a sampled trace. The old block's free is recorded
/// iff it was sampled, and the new block goes through the countdown like
/// any allocation: one `REALLOC` record when both are sampled, else a free
/// (stamped at entry) or an allocation (a `REALLOC` from no block) alone.
#[inline(never)]
#[allow(improper_ctypes_definitions)]
extern "C" fn sampled_reallocating(
    api: AllocApi,
    old: *mut c_void,
    size: u64,
    sp: *const u64,
    bp: u64,
    call: impl FnOnce() -> *mut c_void,
) -> *mut c_void {
    let tls = tls::get();
    // Out of the table before glibc may hand the address to another thread.
    let was_sampled = !old.is_null() && live::remove(old as u64);
    let skip = sample::skip(tls, size);
    if skip && !was_sampled {
        return call();
    }
    let guard = Guard::enter(tls);
    let due = !skip && sample::take(tls, size);
    let regs = caller(sp, bp);
    if size == 0 && !old.is_null() {
        // glibc frees the block and returns NULL: a free.
        if was_sampled {
            guard.note(Call::Free { ptr: old as u64 }, regs);
        }
        let new = call();
        if !new.is_null() && due && guard.records() && live::insert(new as u64) {
            guard.note(
                Call::Realloc {
                    api,
                    entry: sys::ticks(),
                    old: 0,
                    size,
                    new: new as u64,
                },
                regs,
            );
        }
        return new;
    }
    let entry = sys::ticks();
    let new = call();
    if new.is_null() {
        // The old block is still allocated, and still sampled.
        if was_sampled {
            live::insert(old as u64);
        }
        return new;
    }
    let new_sampled = due && guard.records() && live::insert(new as u64);
    let call = match (was_sampled, new_sampled) {
        (true, true) => Call::Realloc {
            api,
            entry,
            old: old as u64,
            size,
            new: new as u64,
        },
        (true, false) => Call::FreeEntered {
            ptr: old as u64,
            entry,
        },
        (false, true) => Call::Realloc {
            api,
            entry,
            old: 0,
            size,
            new: new as u64,
        },
        (false, false) => return new,
    };
    guard.note(call, regs);
    new
}

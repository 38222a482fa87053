//! Thin wrappers over the system: clocks, thread ids, futexes, a spin lock
//! (and a value behind one), raw file I/O. Nothing here allocates.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// The event clock: the invariant TSC on x86-64 (≈10 ns to read here, no
/// shared cache line, monotonic across cores) divided by 2^20 — about
/// 0.4 ms of resolution (`TickSource::TscSubMs`) — and `CLOCK_MONOTONIC`
/// elsewhere. Coarse on purpose: events are ordered by their streams and,
/// across threads, by the merge (frees first at equal ticks, which is the
/// only order a freed address can be handed out again in), so finer stamps
/// only add bytes — a busy thread's consecutive stamps are mostly equal,
/// which compression removes (on CPython, the stamps took 4.8 MB of a
/// 20 MB trace at TSC ÷ 64, about 150 kB at TSC ÷ 65,536 and take 40 kB
/// now). Ages, timelines and the peak's time need no finer than this
/// (heaptrack stamps every 10 ms); a `fork` waits for the next tick in the
/// parent (`lifecycle.rs`), so the child's inherited blocks stay exact.
#[inline(always)]
pub fn ticks() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: rdtsc has no preconditions on x86-64.
        unsafe { core::arch::x86_64::_rdtsc() >> TSC_SHIFT }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        monotonic_ns()
    }
}

/// The TSC's cycles per tick: 2^`TSC_SHIFT`.
pub const TSC_SHIFT: u32 = 20;

/// Whether [`ticks`] counts TSC cycles (else monotonic nanoseconds).
pub const TICKS_ARE_TSC: bool = cfg!(target_arch = "x86_64");

/// `CLOCK_MONOTONIC` in nanoseconds.
pub fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// CPU time used by the whole process, in nanoseconds.
pub fn process_cpu_ns() -> u64 {
    clock_ns(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// CPU time used by the calling thread, in nanoseconds.
pub fn thread_cpu_ns() -> u64 {
    clock_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// `CLOCK_REALTIME` in nanoseconds.
pub fn realtime_ns() -> u64 {
    clock_ns(libc::CLOCK_REALTIME)
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// A clock sample for the trace.
pub fn clock_sync() -> heapwise_trace::ClockSync {
    let monotonic_ns = monotonic_ns();
    let tick = ticks();
    let realtime_ns = realtime_ns();
    heapwise_trace::ClockSync {
        tick,
        monotonic_ns,
        realtime_ns,
    }
}

/// The kernel thread id of the calling thread.
pub fn gettid() -> u64 {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as u64 }
}

/// The process id (a system call: glibc no longer caches it).
pub fn getpid() -> u32 {
    // SAFETY: cannot fail.
    unsafe { libc::getpid() as u32 }
}

/// Waits while `*word == expected`, at most `timeout_ns` (0 = forever).
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout_ns: u64) {
    let ts = libc::timespec {
        tv_sec: (timeout_ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (timeout_ns % 1_000_000_000) as libc::c_long,
    };
    let ts_ptr = if timeout_ns == 0 {
        std::ptr::null()
    } else {
        &ts as *const libc::timespec
    };
    // SAFETY: `word` is a valid, aligned u32 for the duration of the call.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            ts_ptr,
        );
    }
}

/// Wakes every waiter on `word`.
pub fn futex_wake_all(word: &AtomicU32) {
    // SAFETY: as above.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            i32::MAX,
        );
    }
}

/// Sleeps the calling thread briefly (back-pressure waits).
pub fn nap_us(us: u64) {
    let ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: (us * 1000) as libc::c_long,
    };
    // SAFETY: valid timespec; a null remainder is allowed.
    unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
}

/// Blocks every signal for the calling thread until the guard is dropped.
/// Used around the tracer's rare internal sections (thread set-up, module
/// refresh, start-up): a handler that ran inside them and called `malloc`
/// could not be recorded; delayed until after, it is.
pub struct SignalsBlocked {
    old: libc::sigset_t,
}

impl SignalsBlocked {
    /// Blocks all signals, remembering the previous mask.
    pub fn new() -> SignalsBlocked {
        let saved = errno();
        // SAFETY: valid sigset pointers.
        let old = unsafe {
            let mut all = std::mem::zeroed::<libc::sigset_t>();
            let mut old = std::mem::zeroed::<libc::sigset_t>();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
            old
        };
        set_errno(saved);
        SignalsBlocked { old }
    }
}

impl Drop for SignalsBlocked {
    fn drop(&mut self) {
        let saved = errno();
        // SAFETY: restores the mask saved in `new`.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut()) };
        set_errno(saved);
    }
}

/// A spin lock for rare operations (stream hand-over, module refresh,
/// control records). Code that may run inside a signal handler only ever
/// uses [`SpinLock::try_lock`]: a handler that waited for a lock held by the
/// code it interrupted would wait forever.
pub struct SpinLock {
    locked: AtomicBool,
}

/// Holds a [`SpinLock`] until dropped.
pub struct SpinGuard<'a> {
    lock: &'a SpinLock,
}

impl SpinLock {
    /// An unlocked lock.
    pub const fn new() -> SpinLock {
        SpinLock {
            locked: AtomicBool::new(false),
        }
    }

    /// Takes the lock if it is free.
    pub fn try_lock(&self) -> Option<SpinGuard<'_>> {
        self.locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| SpinGuard { lock: self })
    }

    /// Takes the lock, spinning and then yielding; gives up after about
    /// `max_wait_us` microseconds.
    pub fn lock_for(&self, max_wait_us: u64) -> Option<SpinGuard<'_>> {
        let mut waited = 0;
        loop {
            for _ in 0..64 {
                if let Some(guard) = self.try_lock() {
                    return Some(guard);
                }
                std::hint::spin_loop();
            }
            if waited >= max_wait_us {
                return None;
            }
            nap_us(20);
            waited += 20;
        }
    }

    /// Takes the lock without a guard (fork's prepare handler); pair with
    /// [`SpinLock::force_unlock`].
    pub fn lock_raw(&self) {
        while self.try_lock().map(std::mem::forget).is_none() {
            nap_us(10);
        }
    }

    /// Releases a lock taken with [`SpinLock::lock_raw`], or resets one in a
    /// forked child whose holder no longer exists.
    pub fn force_unlock(&self) {
        self.locked.store(false, Ordering::Release);
    }
}

impl Drop for SpinGuard<'_> {
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}

/// A value behind a [`SpinLock`].
pub struct Locked<T> {
    pub lock: SpinLock,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached while the lock is held.
unsafe impl<T: Send> Sync for Locked<T> {}

impl<T> Locked<T> {
    pub const fn new(value: T) -> Locked<T> {
        Locked {
            lock: SpinLock::new(),
            value: UnsafeCell::new(value),
        }
    }

    /// Runs `f` on the value if the lock is obtained within `max_wait_us`.
    pub fn with<R>(&self, max_wait_us: u64, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let _guard = self.lock.lock_for(max_wait_us)?;
        // SAFETY: we hold the lock.
        Some(f(unsafe { &mut *self.value.get() }))
    }
}

/// Writes all of `buf` to `fd`, retrying on interruption and short writes.
pub fn write_all(fd: i32, mut buf: &[u8]) -> Result<(), i32> {
    while !buf.is_empty() {
        // SAFETY: `buf` is valid for `buf.len()` bytes.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            let err = errno();
            if err == libc::EINTR {
                continue;
            }
            return Err(err);
        }
        if n == 0 {
            return Err(libc::EIO);
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

/// The calling thread's `errno`.
pub fn errno() -> i32 {
    // SAFETY: __errno_location always returns a valid thread-local pointer.
    unsafe { *libc::__errno_location() }
}

/// Restores `errno` (the hooks must not change it on success).
pub fn set_errno(value: i32) {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = value };
}

/// Copies `len` bytes at `address` of this process into `into` with
/// `process_vm_readv`: false where they are not all mapped, instead of a
/// fault.
pub fn read_checked(address: u64, into: *mut u8, len: usize) -> bool {
    let local = libc::iovec {
        iov_base: into.cast(),
        iov_len: len,
    };
    let remote = libc::iovec {
        iov_base: address as *mut libc::c_void,
        iov_len: len,
    };
    // SAFETY: `into` holds `len` bytes (the caller's promise); the kernel
    // checks the remote range.
    let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    n == len as isize
}

/// Reads a whole small file (`/proc/self/...`) into `buf`, returning the
/// length read.
pub fn read_file(path: &std::ffi::CStr, buf: &mut [u8]) -> Option<usize> {
    // SAFETY: `path` is NUL-terminated; the fd is closed below.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    let mut len = 0;
    while len < buf.len() {
        // SAFETY: the destination range is inside `buf`.
        let n = unsafe { libc::read(fd, buf[len..].as_mut_ptr().cast(), buf.len() - len) };
        if n < 0 && errno() == libc::EINTR {
            continue;
        }
        if n <= 0 {
            break;
        }
        len += n as usize;
    }
    // SAFETY: `fd` is ours.
    unsafe { libc::close(fd) };
    Some(len)
}

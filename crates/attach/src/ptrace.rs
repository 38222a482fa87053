//! One thread of the target, stopped with ptrace, on which functions are
//! called; dropping it restores the thread and detaches (rules 1 and 2 of
//! the crate).

use std::io;
use std::time::{Duration, Instant};

use crate::{AttachError, Mapping};

/// An argument of a call: a number, or a string copied into the thread's
/// scratch memory (its address is passed).
pub enum Arg<'a> {
    /// Passed as is.
    Int(u64),
    /// Copied with a terminating NUL; its address is passed.
    Str(&'a [u8]),
}

/// A thread of the target stopped by us: calls run on it; `Drop` restores
/// its registers and detaches.
pub struct Stopped {
    pid: i32,
    tid: i32,
    saved: libc::user_regs_struct,
    /// Signals that arrived during our calls, given back after the detach.
    held: Vec<i32>,
    attached: bool,
}

/// How often to look for a safe moment before giving up (rule 3).
const SAFE_MOMENT_TRIES: u32 = 200;

fn os(pid: i32, what: &'static str) -> impl FnOnce(io::Error) -> AttachError {
    move |source| AttachError::Os { pid, what, source }
}

fn errno_result(rc: libc::c_long) -> io::Result<libc::c_long> {
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// `ptrace(request, tid, addr, data)`.
fn ptrace(request: libc::c_uint, tid: i32, addr: usize, data: usize) -> io::Result<libc::c_long> {
    // SAFETY: the requests used here take plain integers or pointers to
    // our own live buffers.
    errno_result(unsafe { libc::ptrace(request, tid, addr, data) })
}

/// Why ptrace was refused, in words: the Yama setting, or missing privilege.
fn not_permitted(pid: i32) -> AttachError {
    let scope = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok());
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let why = match scope {
        Some(3) => "kernel.yama.ptrace_scope is 3, which forbids ptrace for everyone until the next boot".to_string(),
        Some(2) => "kernel.yama.ptrace_scope is 2: only a process with CAP_SYS_PTRACE may attach (run heapwise as root)".to_string(),
        Some(1) if !root => "kernel.yama.ptrace_scope is 1: only a parent may trace its children without CAP_SYS_PTRACE (run heapwise as root, or set the sysctl to 0)".to_string(),
        _ if !root => "it belongs to another user, or heapwise lacks CAP_SYS_PTRACE (run it as the process's user or as root)".to_string(),
        _ => "the kernel refused even root (a seccomp or LSM policy, or a container without CAP_SYS_PTRACE)".to_string(),
    };
    AttachError::NotPermitted { pid, why }
}

/// The thread to call on: the main thread if it is alive, else the first
/// live one.
fn pick_thread(pid: i32) -> Result<i32, AttachError> {
    let alive = |tid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .map(|(_, rest)| rest.trim_start().chars().next())
            })
            .flatten()
            .is_some_and(|state| state != 'Z' && state != 'X')
    };
    if alive(pid) {
        return Ok(pid);
    }
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map_err(|_| AttachError::NoSuchProcess(pid))?;
    tasks
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .find(|&tid| alive(tid))
        .ok_or(AttachError::NoSuchProcess(pid))
}

impl Stopped {
    /// Seizes a thread of `pid` and stops it at a safe moment (rule 3):
    /// blocked in a system call, or running outside the modules in `maps`
    /// that hold the locks a call may need (libc, the dynamic loader,
    /// heapwise's own library).
    pub fn stop(pid: i32, maps: &[Mapping]) -> Result<Stopped, AttachError> {
        let tid = pick_thread(pid)?;
        if let Err(err) = ptrace(libc::PTRACE_SEIZE, tid, 0, 0) {
            return Err(match err.raw_os_error() {
                Some(libc::EPERM) => not_permitted(pid),
                Some(libc::ESRCH) => AttachError::NoSuchProcess(pid),
                _ => AttachError::Os {
                    pid,
                    what: "PTRACE_SEIZE",
                    source: err,
                },
            });
        }
        let mut thread = Stopped {
            pid,
            tid,
            // SAFETY: plain integers; overwritten before any use.
            saved: unsafe { std::mem::zeroed() },
            held: Vec::new(),
            attached: true,
        };
        let risky: Vec<(u64, u64)> = maps
            .iter()
            .filter(|m| m.executable)
            .filter(|m| {
                m.path
                    .as_ref()
                    .and_then(|p| p.file_name())
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| {
                        n.starts_with("libc.so")
                            || n.starts_with("libc-")
                            || n.starts_with("ld-linux")
                            // heapwise's library, loaded by an earlier
                            // attach: a thread inside one of its hooks may
                            // hold its locks.
                            || n.starts_with("libheapwise_preload")
                    })
            })
            .map(|m| (m.start, m.end))
            .collect();
        for _ in 0..SAFE_MOMENT_TRIES {
            thread.interrupt()?;
            thread.saved = thread.regs()?;
            let in_syscall = thread.saved.orig_rax as i64 >= 0;
            let in_risky = risky
                .iter()
                .any(|&(start, end)| (start..end).contains(&thread.saved.rip));
            if in_syscall || !in_risky {
                return Ok(thread);
            }
            thread.resume(0)?;
            std::thread::sleep(Duration::from_millis(1));
        }
        // Always inside libc: a thread that spins in malloc. Take it in a
        // system call next time, or say so.
        Err(AttachError::Timeout {
            pid,
            seconds: SAFE_MOMENT_TRIES as u64 / 1000 + 1,
        })
    }

    /// Stops the (seized) thread and waits for the stop.
    fn interrupt(&mut self) -> Result<(), AttachError> {
        ptrace(libc::PTRACE_INTERRUPT, self.tid, 0, 0).map_err(os(self.pid, "PTRACE_INTERRUPT"))?;
        self.wait_stop(Duration::from_secs(5)).map(|_| ())
    }

    /// Waits until the thread stops; returns the signal of the stop (0 for
    /// the interrupt's event stop). Signals other than ours are held.
    fn wait_stop(&mut self, limit: Duration) -> Result<i32, AttachError> {
        let deadline = Instant::now() + limit;
        loop {
            let mut status = 0;
            // SAFETY: waiting on our own tracee.
            let rc = unsafe { libc::waitpid(self.tid, &mut status, libc::__WALL | libc::WNOHANG) };
            if rc == -1 {
                return Err(AttachError::Ended(self.pid));
            }
            if rc == 0 {
                if Instant::now() >= deadline {
                    return Err(AttachError::Timeout {
                        pid: self.pid,
                        seconds: limit.as_secs(),
                    });
                }
                std::thread::sleep(Duration::from_micros(200));
                continue;
            }
            if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
                self.attached = false;
                return Err(AttachError::Ended(self.pid));
            }
            if libc::WIFSTOPPED(status) {
                let signal = libc::WSTOPSIG(status);
                // PTRACE_INTERRUPT's stop (and a group stop) is an event
                // stop: SIGTRAP with PTRACE_EVENT_STOP in the high bits.
                if status >> 16 == libc::PTRACE_EVENT_STOP {
                    return Ok(0);
                }
                return Ok(signal);
            }
        }
    }

    fn regs(&self) -> Result<libc::user_regs_struct, AttachError> {
        // SAFETY: plain integers.
        let mut regs: libc::user_regs_struct = unsafe { std::mem::zeroed() };
        ptrace(
            libc::PTRACE_GETREGS,
            self.tid,
            0,
            &mut regs as *mut _ as usize,
        )
        .map_err(os(self.pid, "PTRACE_GETREGS"))?;
        Ok(regs)
    }

    fn set_regs(&self, regs: &libc::user_regs_struct) -> Result<(), AttachError> {
        ptrace(libc::PTRACE_SETREGS, self.tid, 0, regs as *const _ as usize)
            .map(|_| ())
            .map_err(os(self.pid, "PTRACE_SETREGS"))
    }

    fn resume(&self, signal: i32) -> Result<(), AttachError> {
        ptrace(libc::PTRACE_CONT, self.tid, 0, signal as usize)
            .map(|_| ())
            .map_err(os(self.pid, "PTRACE_CONT"))
    }

    fn write(&self, address: u64, bytes: &[u8]) -> Result<(), AttachError> {
        let local = libc::iovec {
            iov_base: bytes.as_ptr() as *mut _,
            iov_len: bytes.len(),
        };
        let remote = libc::iovec {
            iov_base: address as *mut _,
            iov_len: bytes.len(),
        };
        // SAFETY: both iovecs describe live memory of the right length.
        let n = unsafe { libc::process_vm_writev(self.pid, &local, 1, &remote, 1, 0) };
        if n != bytes.len() as isize {
            return Err(AttachError::Os {
                pid: self.pid,
                what: "writing the call's arguments",
                source: io::Error::last_os_error(),
            });
        }
        Ok(())
    }

    /// Reads a NUL-terminated string of at most `max` bytes at `address`.
    pub fn read_string(&self, address: u64, max: usize) -> String {
        let mut buf = vec![0u8; max];
        let local = libc::iovec {
            iov_base: buf.as_mut_ptr() as *mut _,
            iov_len: max,
        };
        let remote = libc::iovec {
            iov_base: address as *mut _,
            iov_len: max,
        };
        // SAFETY: as in `write`; a short read leaves zeros.
        let n = unsafe { libc::process_vm_readv(self.pid, &local, 1, &remote, 1, 0) };
        let n = n.max(0) as usize;
        let end = buf[..n].iter().position(|&b| b == 0).unwrap_or(n);
        String::from_utf8_lossy(&buf[..end]).into_owned()
    }

    /// Calls `function(args...)` on the thread and returns its `rax`. The
    /// call returns to address 0, whose fault stops the thread again.
    pub fn call(
        &mut self,
        function: u64,
        args: &[Arg<'_>],
        limit: Duration,
    ) -> Result<i64, AttachError> {
        const ARG_REGS: usize = 6;
        assert!(args.len() <= ARG_REGS, "at most six arguments");
        // Scratch memory below the red zone: strings first, then the
        // return address, with the stack 16-byte aligned at the call.
        let mut top = (self.saved.rsp - 128 - 64) & !0xf;
        let mut values = [0u64; ARG_REGS];
        for (i, arg) in args.iter().enumerate() {
            values[i] = match arg {
                Arg::Int(v) => *v,
                Arg::Str(bytes) => {
                    let mut s = bytes.to_vec();
                    s.push(0);
                    top = (top - s.len() as u64) & !0xf;
                    self.write(top, &s)?;
                    top
                }
            };
        }
        let rsp = (top - 256) & !0xf;
        // The return address: 0.
        self.write(rsp - 8, &0u64.to_le_bytes())?;
        let mut regs = self.saved;
        regs.rip = function;
        regs.rsp = rsp - 8;
        regs.rdi = values[0];
        regs.rsi = values[1];
        regs.rdx = values[2];
        regs.rcx = values[3];
        regs.r8 = values[4];
        regs.r9 = values[5];
        regs.rax = 0;
        // Not in a system call: no restart of the interrupted one into
        // our call.
        regs.orig_rax = u64::MAX;
        self.set_regs(&regs)?;
        self.resume(0)?;
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let signal = match self.wait_stop(left) {
                Ok(signal) => signal,
                Err(AttachError::Timeout { .. }) => {
                    // Abandon the call (rule 5): stop the thread where it is;
                    // `Drop` restores and detaches.
                    let _ = self.interrupt();
                    return Err(AttachError::Timeout {
                        pid: self.pid,
                        seconds: limit.as_secs(),
                    });
                }
                Err(err) => return Err(err),
            };
            let now = self.regs()?;
            if signal == libc::SIGSEGV && now.rip == 0 {
                return Ok(now.rax as i64);
            }
            if signal != 0 {
                // The program's own signal: hold it for after the detach
                // (rule 2) and let our call go on.
                self.held.push(signal);
            }
            self.resume(0)?;
        }
    }

    /// Restores the thread and detaches; the signals that came during our
    /// calls are given back to it.
    pub fn detach(mut self) -> Result<(), AttachError> {
        self.release()
    }

    fn release(&mut self) -> Result<(), AttachError> {
        if !self.attached {
            return Ok(());
        }
        self.attached = false;
        let restored = self.set_regs(&self.saved);
        let detached =
            ptrace(libc::PTRACE_DETACH, self.tid, 0, 0).map_err(os(self.pid, "PTRACE_DETACH"));
        for &signal in &self.held {
            // SAFETY: sending a signal to the thread it was meant for.
            unsafe { libc::syscall(libc::SYS_tgkill, self.pid, self.tid, signal) };
        }
        restored.and(detached.map(|_| ()))
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.release();
    }
}

//! The reachability scan at exit (`heapwise run`): once the trace is
//! complete, the exiting thread tells `heapwise run` and waits while it
//! reads the process's memory, so that every block still allocated can be
//! called still reachable or lost (`heapwise-reach`; docs/reachability.md).
//!
//! Nothing of this runs before exit: the program pays nothing while it
//! runs. At exit — after the program's `atexit` handlers and static
//! destructors, where the trace ends (`startup.rs`), or in `_exit`
//! (`lifecycle.rs`) — the thread connects to the abstract Unix socket
//! `HEAPWISE_REACH` names, sends `HWREACH1`, its pid and thread id, the
//! stack pointer of the program's code that called heapwise's exit path,
//! and the tracer's own mappings (`regions.rs`: never roots), then blocks until
//! heapwise answers one byte — or closes the connection, which a
//! `heapwise` that died does too: the program is never left waiting.
//! Meanwhile heapwise stops every thread with ptrace, copies the memory
//! and lets them go (`heapwise_reach::process`).
//!
//! Only the process `heapwise run` started asks (its parent is heapwise),
//! and only for a full trace: the live blocks of a sampled one are a
//! sample, from which reachability cannot be told. Nothing is allocated,
//! and the caller runs with signals blocked (`tls::internal`).

use std::sync::atomic::{AtomicBool, Ordering};

use crate::config;
use crate::sys;

/// Set once the question was asked (exit paths may meet: `_exit` called
/// from an exit handler).
static ASKED: AtomicBool = AtomicBool::new(false);

/// The message's first bytes.
const MAGIC: &[u8; 8] = b"HWREACH1";

/// Asks `heapwise run` to scan the process, and waits until it has.
/// `caller_sp` is the stack pointer of the program's code that called
/// heapwise's exit path: the exiting thread's stack is a root from there
/// up — below it are heapwise's own frames, which hold copies of the
/// program's registers (valgrind scans neither those frames nor the
/// exiting thread's registers).
pub fn at_exit(caller_sp: usize) {
    let Some(config) = config::get() else {
        return;
    };
    let Some(name) = config.reach.as_deref() else {
        return;
    };
    // SAFETY: no arguments.
    let parent = unsafe { libc::getppid() } as u32;
    if config.sample > 0
        || config.parent != Some(parent)
        || crate::writer::trace_pid() != i64::from(sys::getpid())
        || ASKED.swap(true, Ordering::AcqRel)
    {
        return;
    }
    let saved = sys::errno();
    ask(name, caller_sp);
    sys::set_errno(saved);
}

fn ask(name: &str, caller_sp: usize) {
    // SAFETY: plain socket calls on our own descriptor and buffers.
    unsafe {
        let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return;
        }
        let mut address: libc::sockaddr_un = std::mem::zeroed();
        address.sun_family = libc::AF_UNIX as libc::sa_family_t;
        // Abstract: a NUL, then the name.
        let bytes = name.as_bytes();
        let len = bytes.len().min(address.sun_path.len() - 1);
        for (slot, &b) in address.sun_path[1..=len].iter_mut().zip(bytes) {
            *slot = b as libc::c_char;
        }
        let address_len = (std::mem::size_of::<libc::sa_family_t>() + 1 + len) as libc::socklen_t;
        let connected = libc::connect(fd, (&raw const address).cast(), address_len) == 0;
        if connected && send(fd, caller_sp) {
            wait_for_answer(fd);
        }
        libc::close(fd);
    }
}

/// Sends the message; false if the connection broke.
fn send(fd: i32, caller_sp: usize) -> bool {
    let mut count = 0u32;
    crate::regions::for_each(|_, _| count += 1);
    let mut head = [0u8; 28];
    head[..8].copy_from_slice(MAGIC);
    head[8..12].copy_from_slice(&sys::getpid().to_le_bytes());
    // SAFETY: no arguments.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) } as u32;
    head[12..16].copy_from_slice(&tid.to_le_bytes());
    head[16..24].copy_from_slice(&(caller_sp as u64).to_le_bytes());
    head[24..28].copy_from_slice(&count.to_le_bytes());
    if sys::write_all(fd, &head).is_err() {
        return false;
    }
    // Entries in batches from a buffer on the stack; exactly `count` of
    // them (a region listed meanwhile is not sent).
    let mut batch = [0u8; 16 * 128];
    let mut filled = 0;
    let mut sent = 0u32;
    let mut ok = true;
    crate::regions::for_each(|start, len| {
        if !ok || sent == count {
            return;
        }
        batch[filled..filled + 8].copy_from_slice(&(start as u64).to_le_bytes());
        batch[filled + 8..filled + 16].copy_from_slice(&(len as u64).to_le_bytes());
        filled += 16;
        sent += 1;
        if filled == batch.len() {
            ok = sys::write_all(fd, &batch).is_ok();
            filled = 0;
        }
    });
    // Fewer than counted (a region was removed meanwhile): pad with empty
    // entries, which heapwise ignores.
    while ok && sent < count {
        if filled == batch.len() {
            ok = sys::write_all(fd, &batch).is_ok();
            filled = 0;
        }
        batch[filled..filled + 16].fill(0);
        filled += 16;
        sent += 1;
    }
    ok && sys::write_all(fd, &batch[..filled]).is_ok()
}

/// Blocks until heapwise answers or closes the connection.
fn wait_for_answer(fd: i32) {
    let mut byte = 0u8;
    loop {
        // SAFETY: reading one byte into our own buffer.
        let n = unsafe { libc::read(fd, (&raw mut byte).cast(), 1) };
        if n >= 0 || sys::errno() != libc::EINTR {
            return;
        }
    }
}

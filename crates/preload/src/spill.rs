//! The spill file: the memory the streams' blocks live in, shared with the
//! kernel's page cache so that it outlives the process.
//!
//! A process that dies by a signal (`abort`, a crash, `SIGKILL` from the
//! OOM killer) runs none of our code, so whatever its threads recorded
//! since the writer's last pass would die with it if the blocks were
//! private memory. Instead every block is a slot of one file in `/dev/shm`
//! (`HEAPWISE_SPILL_DIR`), mapped `MAP_SHARED`: the pages stay when the
//! process is gone, and whoever reads the trace next copies what is missing
//! from the trace out of them (`heapwise_trace::spill`, which documents the
//! layout). Nothing on the allocation path changes: a thread writes into
//! its block exactly as before. No handler is installed, so the program's
//! own signal handlers and its exit status are untouched.
//!
//! Why shared memory and not a file next to the trace: writing to a mapped
//! page of a disk file can block the writing thread on the disk (page
//! write-back, block allocation on the first write to a page), and the
//! allocation path must never wait for a disk. tmpfs pages are memory. They
//! are reserved with `fallocate` when a block is created, so a full tmpfs
//! is an error we see (and answer by falling back to private memory for
//! that block), never a `SIGBUS` in the program.
//!
//! The process holds an exclusive `flock` on the file while it runs, so a
//! reader knows when it is gone; the file is removed when the trace is
//! complete (normal exit, `_exit`, `exec`).
//!
//! A process attached again after a detach (`attach.rs`) gets a new file
//! and a new mapping for its new trace. The old mapping is retired, not
//! unmapped: a thread that was inside a hook at the detach may still write
//! to its block there, and so may any thread whose stream still belongs to
//! the old trace, until it re-arms its stream for the new one
//! (`stream.rs`). [`sweep`] unmaps a retired mapping once no stream of its
//! trace or an older one is in use. Slots are taken and the descriptor is
//! closed under [`LOCK`], so a slot is never taken from a mapping that is
//! being retired, nor reserved through a descriptor number the program
//! may have reused.

use std::cell::UnsafeCell;
use std::ffi::CString;
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU32, AtomicUsize, Ordering};

use heapwise_trace::spill::{SLOT_LEN, SPILL_HEADER_LEN, SPILL_MAGIC, USED_OFFSET};

use crate::sys::{self, Locked, SpinLock};

/// The mapping (null: none yet, or none possible).
static BASE: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
/// Slots in the mapping.
static CAPACITY: AtomicUsize = AtomicUsize::new(0);
/// The file's descriptor (holds the lock).
static FD: AtomicI32 = AtomicI32::new(-1);
/// The process that created the mapping (a `vfork` child shares it).
static OWNER: AtomicU32 = AtomicU32::new(0);
/// [`UNTRIED`], [`READY`], [`UNAVAILABLE`].
static STATE: AtomicU32 = AtomicU32::new(UNTRIED);
/// The trace (`state::epoch`) the mapping was made for.
static MAPPING_EPOCH: AtomicU32 = AtomicU32::new(0);
/// Serialises creation, removal, retirement and the taking of slots.
static LOCK: SpinLock = SpinLock::new();
/// Mappings of earlier traces that may still be written to (see the
/// module documentation).
static RETIRED: Locked<Retired> = Locked::new(Retired {
    mappings: [(0, 0, 0); MAX_RETIRED],
    len: 0,
});
/// Retired mappings kept track of; one more stays mapped for good (its
/// pages are given back all the same, only its addresses stay taken).
const MAX_RETIRED: usize = 16;

struct Retired {
    /// Address, length, and the trace it was made for.
    mappings: [(usize, usize, u32); MAX_RETIRED],
    len: usize,
}
/// The file's path, NUL-terminated (written under `LOCK` before `STATE`
/// becomes `READY`, read only after).
static PATH: PathBuf = PathBuf(UnsafeCell::new([0; PATH_MAX]));

struct PathBuf(UnsafeCell<[u8; PATH_MAX]>);

// SAFETY: see `PATH`.
unsafe impl Sync for PathBuf {}
/// Blocks that had to live in private memory: their records are lost if
/// the process dies before they are written.
pub static VOLATILE_BLOCKS: AtomicUsize = AtomicUsize::new(0);

const UNTRIED: u32 = 0;
const READY: u32 = 1;
const UNAVAILABLE: u32 = 2;
const PATH_MAX: usize = 512;

/// Slots for a buffer limit of `blocks` thread blocks: the queues (control
/// records, the shared stream) may take a few more.
pub fn slots_for(blocks: usize) -> usize {
    blocks + 64
}

/// Creates this process's spill file with room for `slots` blocks, unless
/// it has one (or cannot have one). `dir` is `None` when the user switched
/// spilling off.
pub fn ensure(dir: Option<&str>, slots: usize) {
    if STATE.load(Ordering::Acquire) != UNTRIED {
        return;
    }
    let Some(_guard) = LOCK.lock_for(100_000) else {
        return;
    };
    if STATE.load(Ordering::Acquire) != UNTRIED {
        return;
    }
    let ready = dir.is_some_and(|dir| create(dir, slots));
    STATE.store(if ready { READY } else { UNAVAILABLE }, Ordering::Release);
}

fn create(dir: &str, slots: usize) -> bool {
    let pid = sys::getpid();
    let name = format!("{dir}/heapwise-{pid}-{:x}.spill", sys::ticks());
    if name.len() >= PATH_MAX {
        return false;
    }
    let Ok(c_name) = CString::new(name.as_bytes()) else {
        return false;
    };
    let len = SPILL_HEADER_LEN + slots * SLOT_LEN;
    // SAFETY: plain system calls on a path we own; every result is checked.
    unsafe {
        let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC;
        let fd = libc::open(c_name.as_ptr(), flags, 0o600);
        if fd < 0 {
            return false;
        }
        let fail = |fd: i32| {
            libc::unlink(c_name.as_ptr());
            libc::close(fd);
            false
        };
        if libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) != 0
            || libc::ftruncate(fd, len as libc::off_t) != 0
            || libc::fallocate(fd, 0, 0, SPILL_HEADER_LEN as libc::off_t) != 0
        {
            return fail(fd);
        }
        let base = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        );
        if base == libc::MAP_FAILED {
            return fail(fd);
        }
        let base = base.cast::<u8>();
        crate::regions::add(base, len);
        std::ptr::copy_nonoverlapping(SPILL_MAGIC.as_ptr(), base, SPILL_MAGIC.len());
        base.add(8).cast::<u32>().write(SLOT_LEN as u32);
        base.add(12).cast::<u32>().write(slots as u32);
        base.add(16).cast::<u32>().write(pid);
        let path = &mut *PATH.0.get();
        path[..name.len()].copy_from_slice(name.as_bytes());
        path[name.len()] = 0;
        CAPACITY.store(slots, Ordering::Release);
        MAPPING_EPOCH.store(crate::state::epoch(), Ordering::Release);
        FD.store(fd, Ordering::Release);
        OWNER.store(pid, Ordering::Release);
        BASE.store(base, Ordering::Release);
    }
    true
}

fn used_counter(base: *mut u8) -> &'static AtomicU32 {
    // SAFETY: the header page is mapped for the life of the process and the
    // counter is 4-byte aligned.
    unsafe { &*base.add(USED_OFFSET).cast::<AtomicU32>() }
}

/// A zeroed slot of the spill file for one block, or `None` (no spill
/// file, it is full, or tmpfs has no room): the caller then uses private
/// memory.
pub fn take_slot() -> Option<*mut u8> {
    // A block is filled for 128 KiB of records: the lock is rare and short.
    let _guard = LOCK.lock_for(2000)?;
    let base = BASE.load(Ordering::Acquire);
    if base.is_null() || OWNER.load(Ordering::Acquire) != sys::getpid() {
        return None;
    }
    let used = used_counter(base);
    let capacity = CAPACITY.load(Ordering::Acquire) as u32;
    let index = used
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < capacity).then_some(n + 1)
        })
        .ok()? as usize;
    let offset = SPILL_HEADER_LEN + index * SLOT_LEN;
    // SAFETY: reserving pages of our own file; a failure leaves the slot
    // unused (its stream id stays 0, so readers skip it).
    let reserved = unsafe {
        libc::fallocate(
            FD.load(Ordering::Acquire),
            0,
            offset as libc::off_t,
            SLOT_LEN as libc::off_t,
        )
    } == 0;
    // SAFETY: the slot is inside the mapping and now backed by memory.
    reserved.then(|| unsafe { base.add(offset) })
}

/// The spill file's path, for the trace header ("" when there is none).
pub fn path() -> String {
    if STATE.load(Ordering::Acquire) != READY || OWNER.load(Ordering::Acquire) != sys::getpid() {
        return String::new();
    }
    // SAFETY: written once before READY was published.
    let path = unsafe { &*PATH.0.get() };
    let len = path.iter().position(|&b| b == 0).unwrap_or(0);
    String::from_utf8_lossy(&path[..len]).into_owned()
}

/// Removes the spill file once everything in it is in the trace. The
/// mapping stays: threads may still touch their blocks.
pub fn remove() {
    if STATE.load(Ordering::Acquire) != READY || OWNER.load(Ordering::Acquire) != sys::getpid() {
        return;
    }
    let Some(_guard) = LOCK.lock_for(100_000) else {
        return;
    };
    // SAFETY: a NUL-terminated path written before READY.
    unsafe { libc::unlink(PATH.0.get().cast()) };
}

/// After a detach (`attach.rs`), with the trace ended: gives back what
/// the spill file holds — its name, its descriptor (and with it the lock)
/// and its memory — while keeping the mapping itself, which a thread still
/// inside a hook may touch (a page it writes to comes back empty).
pub fn release() {
    remove();
    let base = BASE.load(Ordering::Acquire);
    let slots = CAPACITY.load(Ordering::Acquire);
    if !base.is_null() {
        // SAFETY: our own shared mapping; MADV_REMOVE frees its pages.
        unsafe {
            libc::madvise(
                base.cast(),
                SPILL_HEADER_LEN + slots * SLOT_LEN,
                libc::MADV_REMOVE,
            )
        };
    }
    close_descriptor();
}

/// Closes the file's descriptor (and with it the lock), under [`LOCK`]: a
/// slot being taken reserves its pages through it.
fn close_descriptor() {
    let Some(_guard) = LOCK.lock_for(100_000) else {
        return;
    };
    let fd = FD.swap(-1, Ordering::AcqRel);
    if fd >= 0 {
        // SAFETY: our descriptor; the mapping does not need it.
        unsafe { libc::close(fd) };
    }
}

/// A new trace of an attached process is starting: the file of the last
/// one is given back (if its end did not already) and its mapping retired,
/// so that [`ensure`] makes a new one. Returns false if the lock could not
/// be had (the attach then fails and changes nothing).
pub fn retire() -> bool {
    release();
    let Some(_guard) = LOCK.lock_for(100_000) else {
        return false;
    };
    let base = BASE.swap(std::ptr::null_mut(), Ordering::AcqRel);
    let slots = CAPACITY.swap(0, Ordering::AcqRel);
    if !base.is_null() {
        let mapping = (
            base as usize,
            SPILL_HEADER_LEN + slots * SLOT_LEN,
            MAPPING_EPOCH.load(Ordering::Acquire),
        );
        RETIRED.with(100_000, |retired| {
            if retired.len < MAX_RETIRED {
                retired.mappings[retired.len] = mapping;
                retired.len += 1;
            }
        });
    }
    OWNER.store(0, Ordering::Release);
    STATE.store(UNTRIED, Ordering::Release);
    true
}

/// Unmaps the retired mappings of traces older than `oldest_in_use`, the
/// oldest trace a stream in use may still write for (`stream.rs`).
pub fn sweep(oldest_in_use: u32) {
    RETIRED.with(100_000, |retired| {
        let mut kept = 0;
        for i in 0..retired.len {
            let (base, len, epoch) = retired.mappings[i];
            if epoch < oldest_in_use {
                crate::regions::remove(base as *const u8);
                // SAFETY: a mapping of ours that no thread writes to any
                // more (see the module documentation).
                unsafe { libc::munmap(base as *mut libc::c_void, len) };
            } else {
                retired.mappings[kept] = retired.mappings[i];
                kept += 1;
            }
        }
        retired.len = kept;
    });
}

/// In a forked child: forgets the parent's file (the child makes its own
/// when it starts its trace). The child's copy of the descriptor is closed
/// so that the parent's death is seen while the child lives.
pub fn reset_after_fork() {
    LOCK.force_unlock();
    RETIRED.lock.force_unlock();
    // The child's only thread was not inside a hook: no stream of the
    // parent's is written to here again.
    sweep(u32::MAX);
    let base = BASE.swap(std::ptr::null_mut(), Ordering::AcqRel);
    let slots = CAPACITY.swap(0, Ordering::AcqRel);
    if !base.is_null() {
        crate::regions::remove(base);
        // SAFETY: the child's view of the parent's mapping; nothing in the
        // child refers to it once the streams are forgotten.
        unsafe { libc::munmap(base.cast(), SPILL_HEADER_LEN + slots * SLOT_LEN) };
    }
    let fd = FD.swap(-1, Ordering::AcqRel);
    if fd >= 0 {
        // SAFETY: our inherited copy.
        unsafe { libc::close(fd) };
    }
    OWNER.store(0, Ordering::Release);
    STATE.store(UNTRIED, Ordering::Release);
}

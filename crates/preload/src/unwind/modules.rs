//! Which module (executable, shared library, vDSO) holds an address, with
//! its unwind tables; kept as an immutable snapshot that hooks read without
//! locks and that is replaced whole when modules come and go.
//!
//! Every module seen is announced in the trace (a `MODULE_LOAD` control
//! record with path, build-id and segments) the first time it is seen, and
//! its disappearance as `MODULE_UNLOAD`, so addresses inside a library that
//! was unloaded before the end still symbolize. New modules are found when
//! an unwound address is in no known module (a `dlopen`, including glibc's
//! internal ones), when `dlclose` returns (interposed), and by the writer's
//! periodic poll.

use std::ffi::{CStr, c_int, c_void};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};

use heapwise_trace::{ControlRecord, LoadSegment, ModuleLoad};

use crate::sys::{self, SpinLock};

/// Loaded segments kept per module for bounds checks.
const MAX_SEGMENTS: usize = 8;

/// A loaded module, as the unwinder needs it.
pub struct Module {
    /// Trace-wide id.
    pub id: u32,
    /// Load bias.
    pub base: u64,
    /// Runtime address of `.eh_frame_hdr`, 0 if none.
    pub eh_frame_hdr: u64,
    segments: [(u64, u64); MAX_SEGMENTS],
    segment_count: usize,
    /// Identity for diffing snapshots: (base, hash of the name).
    key: (u64, u64),
}

impl Module {
    /// Whether `[addr, addr + len)` lies inside one loaded segment.
    #[inline]
    pub fn is_readable(&self, addr: u64, len: u64) -> bool {
        let Some(end) = addr.checked_add(len) else {
            return false;
        };
        self.segments[..self.segment_count]
            .iter()
            .any(|&(start, stop)| addr >= start && end <= stop)
    }
}

/// An immutable view of the modules loaded at some moment.
pub struct Snapshot {
    modules: Vec<Module>,
    /// Loaded segments, sorted: (start, end, index into `modules`). Return
    /// addresses only ever fall in executable ones.
    code: Vec<(u64, u64, usize)>,
}

impl Snapshot {
    /// The module whose code holds `pc`.
    #[inline]
    pub fn find(&self, pc: u64) -> Option<&Module> {
        let idx = self.code.partition_point(|&(start, _, _)| start <= pc);
        let &(start, end, module) = self.code.get(idx.checked_sub(1)?)?;
        (pc >= start && pc < end).then(|| &self.modules[module])
    }
}

static SNAPSHOT: AtomicPtr<Snapshot> = AtomicPtr::new(ptr::null_mut());
/// Bumped whenever the module list changes: cached unwind rules (including
/// "no module here" answers) may be stale.
pub static GENERATION: AtomicU32 = AtomicU32::new(0);
static NEXT_ID: AtomicU32 = AtomicU32::new(1);
pub static REFRESH_LOCK: SpinLock = SpinLock::new();
/// glibc's counts of objects loaded and unloaded (`dlpi_adds`,
/// `dlpi_subs`) when the snapshot was taken.
static SEEN_CHANGES: AtomicU64 = AtomicU64::new(u64::MAX);

/// The current snapshot (None before the first refresh).
#[inline]
pub fn current() -> Option<&'static Snapshot> {
    let snap = SNAPSHOT.load(Ordering::Acquire);
    // SAFETY: snapshots are never freed (they are small and rare).
    unsafe { snap.as_ref() }
}

/// glibc's load and unload counters, packed; read with one callback of
/// `dl_iterate_phdr` (a fraction of a microsecond).
fn change_counters() -> u64 {
    unsafe extern "C" fn first(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut c_void,
    ) -> c_int {
        // SAFETY: glibc passes a valid info struct and our u64.
        unsafe { *data.cast::<u64>() = ((*info).dlpi_adds << 32) ^ (*info).dlpi_subs };
        1
    }
    let mut counters = 0u64;
    // SAFETY: the callback writes only our local.
    unsafe { libc::dl_iterate_phdr(Some(first), (&mut counters as *mut u64).cast()) };
    counters
}

/// Re-reads the module list if glibc loaded or unloaded anything since the
/// last look. Returns whether the list changed. Never waits long for the
/// lock: a caller on the allocation path gives up and unwinds less.
pub fn refresh_if_changed() -> bool {
    if change_counters() == SEEN_CHANGES.load(Ordering::Acquire) {
        return false;
    }
    refresh()
}

/// Re-reads the module list now, announcing changes in the trace. Returns
/// whether it changed.
pub fn refresh() -> bool {
    refresh_announcing(false)
}

/// Re-reads the module list for a new trace of an attached process, which
/// knows no module yet: every one is announced, with the id it had.
pub fn refresh_for_new_trace() {
    refresh_announcing(true);
}

fn refresh_announcing(all: bool) -> bool {
    let Some(_guard) = REFRESH_LOCK.lock_for(if all { 1_000_000 } else { 2000 }) else {
        return false;
    };
    SEEN_CHANGES.store(change_counters(), Ordering::Release);
    let found = collect();
    let old = current();
    let mut changed = false;
    let ts = sys::ticks();
    let mut modules = Vec::with_capacity(found.len());
    for mut m in found {
        let known = old.and_then(|snap| snap.modules.iter().find(|o| o.key == m.module.key));
        let announce = match known {
            Some(o) => {
                m.module.id = o.id;
                all
            }
            None => {
                changed = true;
                m.module.id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
                true
            }
        };
        if announce {
            crate::control::push(&ControlRecord::ModuleLoad(ModuleLoad {
                id: m.module.id,
                ts,
                base: m.module.base,
                path: m.path,
                build_id: m.build_id,
                segments: m.segments,
            }));
        }
        modules.push(m.module);
    }
    if let Some(old) = old {
        for o in &old.modules {
            if !modules.iter().any(|m| m.key == o.key) {
                // (A new trace never knew it.)
                if !all {
                    crate::control::push(&ControlRecord::ModuleUnload { id: o.id, ts });
                }
                changed = true;
            }
        }
    }
    publish(modules);
    if changed {
        GENERATION.fetch_add(1, Ordering::AcqRel);
    }
    changed
}

/// Announces every current module again (a forked child's new trace).
pub fn announce_all() {
    let Some(_guard) = REFRESH_LOCK.lock_for(10_000) else {
        return;
    };
    let ts = sys::ticks();
    for m in collect() {
        let id = current()
            .and_then(|snap| snap.modules.iter().find(|o| o.key == m.module.key))
            .map(|o| o.id);
        let Some(id) = id else { continue };
        crate::control::push(&ControlRecord::ModuleLoad(ModuleLoad {
            id,
            ts,
            base: m.module.base,
            path: m.path,
            build_id: m.build_id,
            segments: m.segments,
        }));
    }
}

fn publish(modules: Vec<Module>) {
    let mut code = Vec::new();
    for (index, m) in modules.iter().enumerate() {
        for &(start, end) in &m.segments[..m.segment_count] {
            code.push((start, end, index));
        }
    }
    code.sort_unstable_by_key(|&(start, _, _)| start);
    let snap = Box::into_raw(Box::new(Snapshot { modules, code }));
    // The old snapshot stays allocated: another thread may still read it.
    SNAPSHOT.store(snap, Ordering::Release);
}

struct Found {
    module: Module,
    path: String,
    build_id: Vec<u8>,
    segments: Vec<LoadSegment>,
}

fn collect() -> Vec<Found> {
    let mut found: Vec<Found> = Vec::new();
    // SAFETY: the callback only reads the info glibc passes for the call.
    unsafe { libc::dl_iterate_phdr(Some(on_module), (&mut found as *mut Vec<Found>).cast()) };
    found
}

unsafe extern "C" fn on_module(
    info: *mut libc::dl_phdr_info,
    _size: usize,
    data: *mut c_void,
) -> c_int {
    // SAFETY: glibc passes a valid info struct and our Vec.
    let (info, found) = unsafe { (&*info, &mut *data.cast::<Vec<Found>>()) };
    let name = if info.dlpi_name.is_null() {
        String::new()
    } else {
        // SAFETY: a NUL-terminated string owned by the loader.
        unsafe { CStr::from_ptr(info.dlpi_name) }
            .to_string_lossy()
            .into_owned()
    };
    let phdrs: &[libc::Elf64_Phdr] = if info.dlpi_phdr.is_null() {
        &[]
    } else {
        // SAFETY: `dlpi_phnum` headers at `dlpi_phdr`.
        unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) }
    };
    let base = info.dlpi_addr;
    let mut module = Module {
        id: 0,
        base,
        eh_frame_hdr: 0,
        segments: [(0, 0); MAX_SEGMENTS],
        segment_count: 0,
        key: (base, fnv(name.as_bytes())),
    };
    let mut segments = Vec::new();
    let mut build_id = Vec::new();
    for ph in phdrs {
        match ph.p_type {
            libc::PT_LOAD => {
                segments.push(LoadSegment {
                    vaddr: ph.p_vaddr,
                    memsz: ph.p_memsz,
                    file_offset: ph.p_offset,
                    flags: ph.p_flags,
                });
                if module.segment_count < MAX_SEGMENTS {
                    let start = base.wrapping_add(ph.p_vaddr);
                    module.segments[module.segment_count] = (start, start.wrapping_add(ph.p_memsz));
                    module.segment_count += 1;
                }
            }
            libc::PT_GNU_EH_FRAME => module.eh_frame_hdr = base.wrapping_add(ph.p_vaddr),
            _ => {}
        }
    }
    for ph in phdrs {
        if ph.p_type == libc::PT_NOTE && build_id.is_empty() {
            let start = base.wrapping_add(ph.p_vaddr);
            if module.is_readable(start, ph.p_memsz) {
                build_id = find_build_id(start, ph.p_memsz);
            }
        }
    }
    if segments.is_empty() {
        return 0;
    }
    found.push(Found {
        module,
        path: name,
        build_id,
        segments,
    });
    0
}

/// Reads the GNU build-id out of a loaded `PT_NOTE` segment.
fn find_build_id(start: u64, len: u64) -> Vec<u8> {
    const NT_GNU_BUILD_ID: u32 = 3;
    // SAFETY: the caller checked the range is a loaded segment.
    let notes = unsafe { std::slice::from_raw_parts(start as *const u8, len as usize) };
    let word = |at: usize| {
        notes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let align4 = |n: usize| (n + 3) & !3;
    let mut pos = 0;
    while let (Some(namesz), Some(descsz), Some(kind)) = (word(pos), word(pos + 4), word(pos + 8)) {
        let name_at = pos + 12;
        let desc_at = name_at + align4(namesz as usize);
        let next = desc_at + align4(descsz as usize);
        if next > notes.len() {
            break;
        }
        if kind == NT_GNU_BUILD_ID
            && notes.get(name_at..name_at + namesz as usize) == Some(b"GNU\0")
        {
            return notes[desc_at..desc_at + descsz as usize].to_vec();
        }
        pos = next;
    }
    Vec::new()
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

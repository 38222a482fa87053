//! Redirecting a running process's calls of the `malloc` family to the
//! hooks, for `heapwise attach`: the process bound those calls to libc
//! long before the library was loaded, so `LD_PRELOAD`'s interposition
//! cannot apply. Every loaded module calls them through its global offset
//! table (GOT): a `JUMP_SLOT` relocation for a PLT call, a `GLOB_DAT` for
//! `-fno-plt` code and function pointers taken with `&malloc`. Writing the
//! hook's address into those slots redirects the calls; writing back what
//! was there undoes it exactly ([`Patched::restore`]).
//!
//! Why it is safe while the program runs: a slot is one aligned 8-byte
//! word, written with one store, so a thread calling through it sees the
//! old function or the new one, never a torn address; both are the same
//! allocator underneath (the hooks call glibc's `__libc_*` functions), so
//! a block allocated through one slot may be freed through the other.
//! Pages the loader made read-only after relocation (RELRO) are made
//! writable for the store and read-only again.
//!
//! The preload itself is skipped (its own calls of the family are glibc's
//! by construction), and so is a module that does not call the family.
//! Nothing here allocates: the slots found are kept in a fixed array.

use std::ffi::{CStr, c_int, c_void};

/// Slots remembered for restoring (modules × functions; a process with
/// more is patched as far as this goes, and its trace says so).
pub const MAX_SLOTS: usize = 4096;

/// One patched slot: its address, what it held, what it holds now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Slot {
    /// Address of the GOT entry.
    pub address: usize,
    /// The function it pointed to before.
    pub original: usize,
    /// The hook it points to now.
    pub hook: usize,
}

/// The slots redirected by [`patch`], to be restored by
/// [`Patched::restore`].
pub struct Patched {
    slots: [Slot; MAX_SLOTS],
    len: usize,
    /// How many of `slots` may be used (`MAX_SLOTS`; fewer in tests).
    limit: usize,
    /// Slots the last [`patch`] found no room for (left unpatched; a later
    /// walk finds them again).
    overflow: usize,
    /// The most [`Patched::unreported_overflow`] returned since the last
    /// restore.
    reported: usize,
}

impl Patched {
    /// Nothing patched yet.
    pub const fn new() -> Patched {
        Patched {
            slots: [Slot {
                address: 0,
                original: 0,
                hook: 0,
            }; MAX_SLOTS],
            len: 0,
            limit: MAX_SLOTS,
            overflow: 0,
            reported: 0,
        }
    }

    /// Nothing patched yet, and room for only `limit` slots.
    #[cfg(test)]
    pub fn with_limit(limit: usize) -> Patched {
        Patched {
            limit: limit.min(MAX_SLOTS),
            ..Patched::new()
        }
    }

    /// How many slots are left unpatched for want of room, if more than
    /// this said last time (else 0): each call of the family through one
    /// of them goes to glibc unseen.
    pub fn unreported_overflow(&mut self) -> usize {
        if self.overflow <= self.reported {
            return 0;
        }
        self.reported = self.overflow;
        self.overflow
    }

    /// The patched slots.
    #[cfg(test)]
    pub fn slots(&self) -> &[Slot] {
        &self.slots[..self.len]
    }

    /// Writes back every original value whose slot still holds our hook,
    /// skipping slots for which `still_mapped` says their module was
    /// unloaded since (the slot is read with a checked copy, so an
    /// unmapped one is skipped too). Returns the slots restored.
    pub fn restore(&mut self, still_mapped: impl Fn(usize) -> bool) -> usize {
        let mut restored = 0;
        for slot in &self.slots[..self.len] {
            if still_mapped(slot.address)
                && read_checked(slot.address) == Some(slot.hook)
                && write_slot(slot.address, slot.original)
            {
                restored += 1;
            }
        }
        self.len = 0;
        self.overflow = 0;
        self.reported = 0;
        restored
    }

    fn remember(&mut self, slot: Slot) -> bool {
        if self.slots[..self.len]
            .iter()
            .any(|s| s.address == slot.address)
        {
            return false;
        }
        if self.len == self.limit {
            self.overflow += 1;
            return false;
        }
        self.slots[self.len] = slot;
        self.len += 1;
        true
    }
}

impl Default for Patched {
    fn default() -> Patched {
        Patched::new()
    }
}

// ELF64 structures and constants (`<elf.h>`).
const PT_DYNAMIC: u32 = 2;
const DT_NULL: i64 = 0;
const DT_PLTRELSZ: i64 = 2;
const DT_STRTAB: i64 = 5;
const DT_SYMTAB: i64 = 6;
const DT_RELA: i64 = 7;
const DT_RELASZ: i64 = 8;
const DT_JMPREL: i64 = 23;
const R_X86_64_64: u32 = 1;
const R_X86_64_GLOB_DAT: u32 = 6;
const R_X86_64_JUMP_SLOT: u32 = 7;

#[repr(C)]
struct Dyn {
    tag: i64,
    value: u64,
}

#[repr(C)]
struct Rela {
    offset: u64,
    info: u64,
    addend: i64,
}

#[repr(C)]
struct Sym {
    name: u32,
    info: u8,
    other: u8,
    shndx: u16,
    value: u64,
    size: u64,
}

/// What [`patch`] redirects: a function's name and its hook's address.
pub type Redirect<'a> = (&'a CStr, usize);

struct Walk<'a, 'b> {
    redirects: &'a [Redirect<'b>],
    skip_containing: usize,
    patched: &'a mut Patched,
    count: usize,
}

/// Redirects, in every loaded module but the one holding the address
/// `skip_containing` (the preload), each GOT slot bound to a function
/// named in `redirects` to its hook.
/// Slots already pointing to the hook are left alone, so calling it again
/// (for modules loaded since) patches only what is new. Returns the
/// number of slots patched by this call.
pub fn patch(redirects: &[Redirect<'_>], skip_containing: usize, patched: &mut Patched) -> usize {
    patched.overflow = 0;
    let mut walk = Walk {
        redirects,
        skip_containing,
        patched,
        count: 0,
    };
    // SAFETY: the callback only reads the loader's structures for the
    // module it is given, during the call.
    unsafe { libc::dl_iterate_phdr(Some(on_module), (&mut walk as *mut Walk<'_, '_>).cast()) };
    walk.count
}

unsafe extern "C" fn on_module(
    info: *mut libc::dl_phdr_info,
    _size: usize,
    data: *mut c_void,
) -> c_int {
    // SAFETY: `data` is the `Walk` passed to `dl_iterate_phdr`; `info` is
    // the loader's description of a loaded module.
    let (walk, info) = unsafe { (&mut *(data as *mut Walk<'_, '_>), &*info) };
    let base = info.dlpi_addr as usize;
    if info.dlpi_phdr.is_null() {
        return 0;
    }
    // SAFETY: `dlpi_phdr` has `dlpi_phnum` entries.
    let phdrs = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) };
    if contains(base, phdrs, walk.skip_containing) {
        return 0;
    }
    let Some(dynamic) = phdrs.iter().find(|p| p.p_type == PT_DYNAMIC) else {
        return 0;
    };
    // SAFETY: the module's dynamic section, mapped while it is loaded.
    walk.count +=
        unsafe { patch_module(base, (base + dynamic.p_vaddr as usize) as *const Dyn, walk) };
    0
}

const PT_LOAD: u32 = 1;

/// Whether a loaded segment of the module at `base` holds `address`.
fn contains(base: usize, phdrs: &[libc::Elf64_Phdr], address: usize) -> bool {
    phdrs.iter().any(|p| {
        p.p_type == PT_LOAD
            && (base + p.p_vaddr as usize..base + (p.p_vaddr + p.p_memsz) as usize)
                .contains(&address)
    })
}

/// Whether `address` is in a loaded segment of any module (a module
/// unloaded since a slot was patched has none).
pub fn mapped(address: usize) -> bool {
    unsafe extern "C" fn look(info: *mut libc::dl_phdr_info, _: usize, data: *mut c_void) -> c_int {
        // SAFETY: as in `on_module`; `data` is the `(address, found)` pair.
        let (info, found) = unsafe { (&*info, &mut *(data as *mut (usize, bool))) };
        if info.dlpi_phdr.is_null() {
            return 0;
        }
        // SAFETY: `dlpi_phdr` has `dlpi_phnum` entries.
        let phdrs =
            unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) };
        if contains(info.dlpi_addr as usize, phdrs, found.0) {
            found.1 = true;
            return 1;
        }
        0
    }
    let mut found = (address, false);
    // SAFETY: the callback reads the loader's structures during the call.
    unsafe { libc::dl_iterate_phdr(Some(look), (&mut found as *mut (usize, bool)).cast()) };
    found.1
}

/// The loader rewrites most address entries of `.dynamic` in place to
/// runtime addresses; the vDSO's (read-only) are still offsets.
fn runtime(base: usize, value: u64) -> usize {
    let value = value as usize;
    if value < base { base + value } else { value }
}

unsafe fn patch_module(base: usize, mut dynamic: *const Dyn, walk: &mut Walk<'_, '_>) -> usize {
    let (mut strtab, mut symtab) = (0, 0);
    let (mut jmprel, mut pltrelsz, mut rela, mut relasz) = (0, 0, 0, 0);
    // SAFETY: `.dynamic` ends with DT_NULL.
    unsafe {
        while (*dynamic).tag != DT_NULL {
            let value = (*dynamic).value;
            match (*dynamic).tag {
                DT_STRTAB => strtab = runtime(base, value),
                DT_SYMTAB => symtab = runtime(base, value),
                DT_JMPREL => jmprel = runtime(base, value),
                DT_PLTRELSZ => pltrelsz = value as usize,
                DT_RELA => rela = runtime(base, value),
                DT_RELASZ => relasz = value as usize,
                _ => {}
            }
            dynamic = dynamic.add(1);
        }
    }
    if strtab == 0 || symtab == 0 {
        return 0;
    }
    let mut count = 0;
    for (table, size) in [(jmprel, pltrelsz), (rela, relasz)] {
        if table == 0 {
            continue;
        }
        let entries = size / std::mem::size_of::<Rela>();
        for i in 0..entries {
            // SAFETY: the relocation table has `entries` entries; each
            // names a symbol of the module's symbol table, whose name is in
            // its string table.
            let (offset, name) = unsafe {
                let r = &*(table as *const Rela).add(i);
                let kind = (r.info & 0xffff_ffff) as u32;
                if !matches!(kind, R_X86_64_JUMP_SLOT | R_X86_64_GLOB_DAT | R_X86_64_64) {
                    continue;
                }
                let sym = &*(symtab as *const Sym).add((r.info >> 32) as usize);
                if sym.name == 0 {
                    continue;
                }
                (
                    r.offset as usize,
                    CStr::from_ptr((strtab + sym.name as usize) as *const _),
                )
            };
            let Some(&(_, hook)) = walk.redirects.iter().find(|(n, _)| *n == name) else {
                continue;
            };
            let address = base + offset;
            // SAFETY: a relocated GOT word of a loaded module.
            let original = unsafe { (address as *const usize).read_volatile() };
            if original == hook || original == 0 {
                continue;
            }
            let slot = Slot {
                address,
                original,
                hook,
            };
            if walk.patched.remember(slot) && write_slot(address, hook) {
                count += 1;
            }
        }
    }
    count
}

/// Writes `value` into the GOT word at `address`, making its page
/// writable for the store when the loader made it read-only (RELRO) and
/// read-only again after.
fn write_slot(address: usize, value: usize) -> bool {
    // A writable page takes the store through the kernel's checked copy
    // (it fails with EFAULT on a read-only page instead of faulting).
    if write_checked(address, value) {
        return true;
    }
    // SAFETY: sysconf has no preconditions.
    let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    let page = (address & !(page_size - 1)) as *mut c_void;
    // SAFETY: changing the protection of a page of a loaded module's GOT.
    if unsafe { libc::mprotect(page, page_size, libc::PROT_READ | libc::PROT_WRITE) } != 0 {
        return false;
    }
    let written = write_checked(address, value);
    // SAFETY: back to read-only, as RELRO left it.
    unsafe { libc::mprotect(page, page_size, libc::PROT_READ) };
    written
}

/// One aligned word read with `process_vm_readv` on ourselves: `None`
/// where nothing is mapped, instead of a fault.
fn read_checked(address: usize) -> Option<usize> {
    let mut value = 0usize;
    crate::sys::read_checked(
        address as u64,
        (&mut value as *mut usize).cast(),
        std::mem::size_of::<usize>(),
    )
    .then_some(value)
}

/// One aligned word written with `process_vm_writev` on ourselves: the
/// kernel checks the page's protection and copies the 8 bytes at once.
fn write_checked(address: usize, value: usize) -> bool {
    let local = libc::iovec {
        iov_base: (&value as *const usize).cast_mut().cast(),
        iov_len: std::mem::size_of::<usize>(),
    };
    let remote = libc::iovec {
        iov_base: address as *mut c_void,
        iov_len: std::mem::size_of::<usize>(),
    };
    // SAFETY: both iovecs describe one word; the remote one is in our own
    // address space and checked by the kernel.
    let n = unsafe { libc::process_vm_writev(libc::getpid(), &local, 1, &remote, 1, 0) };
    n == std::mem::size_of::<usize>() as isize
}

#[cfg(test)]
mod tests {
    use super::*;

    extern "C" fn fake_getppid() -> libc::pid_t {
        4242
    }

    /// The tests below patch the same slots: one at a time.
    static GETPPID: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// This test binary calls `getppid` through its GOT (or libstd's):
    /// redirected, the call returns the fake's value; restored, the real
    /// one. (`getppid` because no test harness thread calls it.)
    #[test]
    fn a_redirected_function_is_called_instead_until_restored() {
        let _one = GETPPID.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: getppid has no preconditions.
        let real = unsafe { libc::getppid() };
        assert_ne!(real, 4242);
        let mut patched = Patched::new();
        let redirects = [(c"getppid", fake_getppid as *const () as usize)];
        let count = patch(&redirects, 0, &mut patched);
        assert!(count >= 1, "no GOT slot of getppid found");
        // SAFETY: as above; now through the patched slot.
        assert_eq!(unsafe { libc::getppid() }, 4242);
        // Patching again finds nothing new.
        assert_eq!(patch(&redirects, 0, &mut patched), 0);
        assert_eq!(patched.restore(mapped), count);
        // SAFETY: as above.
        assert_eq!(unsafe { libc::getppid() }, real);
        assert!(patched.slots().is_empty());
    }

    /// With no room left, the slots found are counted, left unpatched, and
    /// reported once.
    #[test]
    fn slots_that_do_not_fit_are_left_alone_and_counted_once() {
        let _one = GETPPID.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: getppid has no preconditions.
        let real = unsafe { libc::getppid() };
        let mut patched = Patched::with_limit(0);
        let redirects = [(c"getppid", fake_getppid as *const () as usize)];
        assert_eq!(patch(&redirects, 0, &mut patched), 0);
        // SAFETY: as above.
        assert_eq!(unsafe { libc::getppid() }, real, "a slot was patched");
        let missed = patched.unreported_overflow();
        assert!(missed >= 1, "no slot of getppid counted");
        assert_eq!(patched.unreported_overflow(), 0, "reported twice");
        // Looking again finds the same slots: nothing new to say.
        patch(&redirects, 0, &mut patched);
        assert_eq!(patched.unreported_overflow(), 0);
        assert_eq!(patched.restore(mapped), 0);
        // After a restore (a new trace), they are said again.
        patch(&redirects, 0, &mut patched);
        assert_eq!(patched.unreported_overflow(), missed);
    }

    #[test]
    fn an_unmapped_word_reads_as_nothing() {
        assert_eq!(read_checked(8), None);
        let word = 0x1234usize;
        assert_eq!(read_checked(&word as *const usize as usize), Some(0x1234));
    }
}

//! Large tables in huge pages. The scan reads the block table and the
//! blocks' states in no order (a block, then whatever it points to): with
//! 4 KiB pages nearly every read of them misses the TLB. Transparent huge
//! pages are asked for with `madvise` (the kernel's default, `madvise`
//! mode, gives them only to who asks); where the kernel gives none,
//! nothing else changes. (The copies of the process's memory are in
//! ordinary pages: `buffers.rs` says why.)

use std::mem::size_of;

/// The size of a huge page on x86-64.
const HUGE: usize = 2 << 20;

/// A vector of `len` copies of `value`, in huge pages where the kernel
/// allows (large vectors only: small ones are not worth a system call).
pub fn filled<T: Clone>(len: usize, value: T) -> Vec<T> {
    let mut v = Vec::with_capacity(len);
    advise(v.as_ptr() as usize, len * size_of::<T>());
    v.resize(len, value);
    v
}

/// Asks for huge pages for the whole 2 MiB pages inside `[start, start +
/// len)`; pages not touched yet are then faulted in as huge pages.
pub fn advise(start: usize, len: usize) {
    let from = start.next_multiple_of(HUGE);
    let to = (start + len) & !(HUGE - 1);
    if to > from {
        // SAFETY: advice on memory we own; it changes no content.
        unsafe { libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_HUGEPAGE) };
    }
}

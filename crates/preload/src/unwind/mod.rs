//! Call-stack capture: DWARF CFI unwinding with a per-thread cache of
//! unwind rules keyed by instruction address.
//!
//! Frame-pointer walking is wrong on code built without frame pointers
//! (Debian's glibc, `-O2`), and libgcc's unwinder costs microseconds per
//! stack. Evaluating CFI once per distinct return address and caching the
//! resulting [`Rule`] makes a step one hash probe and two or three stack
//! reads. Every stack read is bounds-checked against the thread's stack, so
//! a wrong rule ends a stack early instead of faulting.

pub mod cfi;
pub mod modules;

use std::mem::MaybeUninit;

use cfi::{Rule, cfa, loc};

/// The deepest stack recorded.
pub const MAX_FRAMES: usize = 128;

/// The calling thread's stack: the memory a walk may read (besides an
/// alternate signal stack it starts on). Kept in the thread's TLS
/// (`tls.rs`), set when the thread takes a stream.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct StackBounds {
    /// Lowest address (0 if unknown).
    pub lo: u64,
    /// One past the highest address (0 if unknown).
    pub hi: u64,
}

/// The registers unwinding starts from: the caller of the allocation
/// function as it was when the call returns.
#[derive(Clone, Copy, Debug)]
pub struct Regs {
    /// Return address into the caller.
    pub ip: u64,
    /// The caller's stack pointer after the return.
    pub sp: u64,
    /// The caller's RBP (callee-saved, so unchanged at hook entry).
    pub bp: u64,
}

/// Rules cached per stream, direct-mapped: 4,096 (64 KiB). CPython's
/// allocations return through some 3,400 distinct addresses: with 1,024
/// entries it computed each rule about 47 times (its 3,000-record
/// `json_records.py`: 160 k computations) and computing them was a fifth
/// of its traced thread's instructions; with 4,096, 27 k (3 %). Two ways
/// of 2,048 sets computed only the 3,400 but cost two instructions more
/// a frame, more than they saved; 8,192 entries save 3 % more at twice
/// the memory, per thread.
const CACHE_BITS: u32 = 12;
const CACHE_SIZE: usize = 1 << CACHE_BITS;

/// A cached rule. The common shape — CFA = RSP + n, return address at
/// CFA − 8, RBP unchanged or saved at CFA + m — is packed so that a step
/// is one 16-byte load; anything else points to the general path.
#[derive(Clone, Copy)]
struct CacheEntry {
    pc: u64,
    /// Low 32 bits: CFA offset from RSP. Bits 32..48: RBP's offset from
    /// the CFA (0 = unchanged). Bit 63: not the common shape (look at
    /// `general`). Bit 62: end of stack.
    packed: u64,
}

const GENERAL: u64 = 1 << 63;
const END: u64 = 1 << 62;

fn pack(rule: &Rule) -> u64 {
    let common = rule.cfa == cfa::RSP
        && rule.ra == loc::AT_CFA
        && rule.ra_off == -8
        && !rule.signal
        && (rule.bp == loc::SAME
            || (rule.bp == loc::AT_CFA && rule.bp_off != 0 && i16::try_from(rule.bp_off).is_ok()));
    if rule.cfa == cfa::END {
        return END;
    }
    if !common {
        return GENERAL;
    }
    let bp = if rule.bp == loc::SAME {
        0
    } else {
        rule.bp_off as i16 as u16 as u64
    };
    (rule.cfa_off as u32 as u64) | (bp << 32)
}

/// Stack words a memoized unwind may depend on (two per frame).
const MEMO_READS: usize = 2 * MAX_FRAMES;
/// Memoized unwinds per stream (distinct call sites alternating).
const MEMOS: usize = 4;

/// A previous unwind and everything it depended on. An unwind is a pure
/// function of the starting registers, the unwind rules (fixed per address
/// until the module list changes) and the stack words it read; if those are
/// all the same, so is the stack, and its interned node can be reused
/// without walking, hashing or looking it up again. Only unwinds that never
/// left the fast path (CFA = RSP + n in every frame) are memoized, and
/// those depend on neither RBP nor the saved RBP values: the memo keys on
/// IP and SP and checks the return-address slots.
struct Memo {
    ip: u64,
    sp: u64,
    generation: u32,
    /// Interned leaf node of the stack; 0 = empty memo.
    leaf: u32,
    reads: u16,
    words: [(u64, u64); MEMO_READS],
}

/// Stack words read by one unwind, for its memo.
struct Reads {
    count: usize,
    words: [MaybeUninit<(u64, u64)>; MEMO_READS],
    /// False once a step left the memoizable fast path.
    memoizable: bool,
}

impl Reads {
    #[inline(always)]
    fn note(&mut self, addr: u64, value: u64) {
        if self.count < MEMO_READS {
            self.words[self.count].write((addr, value));
            self.count += 1;
        } else {
            self.memoizable = false;
        }
    }

    fn as_slice(&self) -> &[(u64, u64)] {
        // SAFETY: the first `count` words were written by `note`.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr().cast(), self.count) }
    }
}

/// Per-stream unwinding state.
pub struct UnwindState {
    cache: Box<[CacheEntry; CACHE_SIZE]>,
    memos: Box<[Memo; MEMOS]>,
    /// The stack words the last unwind read.
    reads: Box<Reads>,
    /// Full rules of the addresses whose rule is not the common shape.
    general: Box<[(u64, Rule); GENERAL_SIZE]>,
    generation: u32,
}

const GENERAL_SIZE: usize = 64;

impl UnwindState {
    /// An empty cache.
    pub fn new() -> UnwindState {
        let empty = CacheEntry {
            pc: 0,
            packed: GENERAL,
        };
        // SAFETY: all-zero memos are empty (leaf 0).
        let memos = unsafe { Box::<[Memo; MEMOS]>::new_zeroed().assume_init() };
        // SAFETY: an empty list: zero count; the words are never read
        // beyond it.
        let reads = unsafe { Box::<Reads>::new_zeroed().assume_init() };
        UnwindState {
            // (Built in place: 64 KiB is too much for a small thread stack.)
            cache: vec![empty; CACHE_SIZE]
                .into_boxed_slice()
                .try_into()
                .unwrap_or_else(|_| unreachable!()),
            memos,
            reads,
            general: Box::new([(0, Rule::UNSUPPORTED); GENERAL_SIZE]),
            generation: modules::GENERATION.load(std::sync::atomic::Ordering::Acquire),
        }
    }

    /// A new thread took over the stream: memos hold addresses in the
    /// previous thread's stack.
    pub fn attach_thread(&mut self) {
        self.memos.iter_mut().for_each(|m| m.leaf = 0);
    }

    fn memo_slot(regs: Regs) -> usize {
        ((regs.ip ^ (regs.sp >> 4)).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 62) as usize % MEMOS
    }

    /// The interned node of the stack starting at `regs`, if an earlier
    /// unwind from the same registers read stack words that all still hold
    /// the same values.
    #[inline(always)]
    pub fn recall(&self, regs: Regs) -> Option<u32> {
        let memo = &self.memos[Self::memo_slot(regs)];
        if memo.leaf == 0
            || memo.ip != regs.ip
            || memo.sp != regs.sp
            || memo.generation != self.generation
        {
            return None;
        }
        let same = memo.words[..memo.reads as usize]
            .iter()
            .all(|&(addr, value)| {
                // SAFETY: the memo was made by this thread (memos are cleared
                // when a stream changes threads) from reads at addresses at or
                // above this same stack pointer, all inside its stack.
                unsafe { (addr as *const u64).read() == value }
            });
        same.then_some(memo.leaf)
    }

    /// Remembers that the stack from `regs` of the last
    /// [`UnwindState::backtrace`] is interned as `leaf`.
    #[inline(always)]
    pub fn remember(&mut self, regs: Regs, leaf: u32) {
        let reads = &self.reads;
        if !reads.memoizable {
            return;
        }
        let memo = &mut self.memos[Self::memo_slot(regs)];
        memo.ip = regs.ip;
        memo.sp = regs.sp;
        memo.generation = self.generation;
        memo.leaf = leaf;
        let words = reads.as_slice();
        memo.reads = words.len() as u16;
        memo.words[..words.len()].copy_from_slice(words);
    }

    /// Drops cached rules and memos if the module list changed.
    #[inline(always)]
    pub fn check_generation(&mut self) {
        let generation = modules::GENERATION.load(std::sync::atomic::Ordering::Acquire);
        if generation != self.generation {
            self.cache.iter_mut().for_each(|e| e.pc = 0);
            self.general.iter_mut().for_each(|e| e.0 = 0);
            self.memos.iter_mut().for_each(|m| m.leaf = 0);
            self.generation = generation;
        }
    }

    /// Captures the stack from `regs` into `out`, innermost first; returns
    /// the number of frames. The return-address slots read are kept for
    /// [`UnwindState::remember`]. Call [`UnwindState::check_generation`]
    /// first.
    #[inline(always)]
    pub fn backtrace(
        &mut self,
        stack: *const StackBounds,
        regs: Regs,
        out: &mut [MaybeUninit<u64>; MAX_FRAMES],
    ) -> usize {
        let reads = &mut *self.reads;
        reads.count = 0;
        reads.memoizable = true;
        let window = StackWindow::new(stack, regs.sp);
        let Regs {
            mut ip,
            mut sp,
            mut bp,
        } = regs;
        let mut n = 0;
        // The common case inline: cached, RSP-based frames.
        while n < MAX_FRAMES && ip != 0 {
            let pc = ip - 1;
            let slot = &mut self.cache
                [(pc.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - CACHE_BITS)) as usize];
            if slot.pc != pc {
                *slot = CacheEntry {
                    pc,
                    packed: pack(&lookup_rule(pc, true)),
                };
            }
            let packed = slot.packed;
            if packed & (GENERAL | END) != 0 {
                if packed & END != 0 {
                    out[n].write(ip);
                    return n + 1;
                }
                // Hand the rest of the stack to the general walker (its
                // reads are not tracked: such stacks are not memoized).
                reads.memoizable = false;
                let general = &mut self.general;
                return n + walk(Regs { ip, sp, bp }, &mut out[n..], &window, |pc| {
                    let slot = &mut general[(pc as usize ^ (pc as usize >> 6)) % GENERAL_SIZE];
                    if slot.0 != pc {
                        *slot = (pc, lookup_rule(pc, true));
                    }
                    slot.1
                });
            }
            let frame = sp.wrapping_add(packed as u32 as i32 as i64 as u64);
            let ra_at = frame.wrapping_sub(8);
            let Some(ra) = window.read(ra_at) else {
                break;
            };
            reads.note(ra_at, ra);
            let bp_off = (packed >> 32) as u16 as i16;
            if bp_off != 0 {
                // Only an RBP-based frame (the general path) uses RBP.
                bp = window
                    .read(frame.wrapping_add(bp_off as i64 as u64))
                    .unwrap_or(0);
            }
            if frame <= sp {
                break;
            }
            out[n].write(ip);
            n += 1;
            ip = ra;
            sp = frame;
        }
        if n < MAX_FRAMES && ip != 0 {
            out[n].write(ip);
            n += 1;
        }
        n
    }
}

/// Captures a stack without touching any cache or lock: for signal handlers
/// that interrupted a hook, and for threads whose stream is gone.
pub fn backtrace_uncached(
    stack: *const StackBounds,
    regs: Regs,
    out: &mut [MaybeUninit<u64>; MAX_FRAMES],
) -> usize {
    let window = StackWindow::new(stack, regs.sp);
    walk(regs, &mut out[..], &window, |pc| lookup_rule(pc, false))
}

#[cold]
fn lookup_rule(pc: u64, may_refresh: bool) -> Rule {
    let saved = crate::sys::errno();
    let rule = compute_rule(pc, may_refresh);
    crate::sys::set_errno(saved);
    rule
}

fn compute_rule(pc: u64, may_refresh: bool) -> Rule {
    if let Some(module) = modules::current().and_then(|snap| snap.find(pc)) {
        return cfi::rule_for(module, pc);
    }
    // An address in no known module: a library loaded since the last look,
    // or code without a module (JIT). Look again if glibc's module list
    // changed.
    if may_refresh
        && modules::refresh_if_changed()
        && let Some(module) = modules::current().and_then(|snap| snap.find(pc))
    {
        return cfi::rule_for(module, pc);
    }
    Rule::UNSUPPORTED
}

/// The memory a stack walk may read: the part of the thread's stack above
/// the starting stack pointer, plus the alternate signal stack when the walk
/// starts on it.
struct StackWindow {
    ranges: [(u64, u64); 2],
}

impl StackWindow {
    fn new(stack: *const StackBounds, sp: u64) -> StackWindow {
        // SAFETY: the calling thread's bounds, in its TLS.
        let (lo, hi) = unsafe { ((*stack).lo, (*stack).hi) };
        if sp >= lo && sp < hi {
            return StackWindow {
                ranges: [(sp, hi), (0, 0)],
            };
        }
        let mut alt = libc::stack_t {
            ss_sp: std::ptr::null_mut(),
            ss_flags: 0,
            ss_size: 0,
        };
        let saved = crate::sys::errno();
        // SAFETY: querying only.
        let queried = unsafe { libc::sigaltstack(std::ptr::null(), &mut alt) } == 0;
        crate::sys::set_errno(saved);
        if queried && alt.ss_flags & libc::SS_ONSTACK != 0 {
            let alt_lo = alt.ss_sp as u64;
            let alt_hi = alt_lo + alt.ss_size as u64;
            if sp >= alt_lo && sp < alt_hi {
                return StackWindow {
                    ranges: [(sp, alt_hi), (lo, hi)],
                };
            }
        }
        // An unknown stack (a coroutine's, say): only the current page is
        // known to be mapped.
        StackWindow {
            ranges: [(sp, (sp | 0xfff) + 1), (0, 0)],
        }
    }

    #[inline(always)]
    fn read(&self, addr: u64) -> Option<u64> {
        let ok = addr & 7 == 0
            && self
                .ranges
                .iter()
                .any(|&(lo, hi)| addr >= lo && addr.checked_add(8).is_some_and(|end| end <= hi));
        // SAFETY: the address is inside mapped stack memory of this thread.
        ok.then(|| unsafe { (addr as *const u64).read() })
    }
}

/// The general walker: every rule shape, signal frames included. Records
/// `regs.ip` first, then each caller.
#[inline(never)]
fn walk(
    regs: Regs,
    out: &mut [MaybeUninit<u64>],
    window: &StackWindow,
    mut rule_of: impl FnMut(u64) -> Rule,
) -> usize {
    let Regs {
        mut ip,
        mut sp,
        mut bp,
    } = regs;
    let mut exact = false;
    let mut n = 0;
    while n < out.len() && ip != 0 {
        out[n].write(ip);
        n += 1;
        let pc = if exact { ip } else { ip - 1 };
        let rule = rule_of(pc);
        let base = match rule.cfa {
            cfa::RSP | cfa::RSP_DEREF => sp,
            cfa::RBP | cfa::RBP_DEREF => bp,
            _ => break,
        };
        let mut frame = base.wrapping_add(rule.cfa_off as i64 as u64);
        if rule.cfa == cfa::RSP_DEREF || rule.cfa == cfa::RBP_DEREF {
            match window.read(frame) {
                Some(value) => frame = value,
                None => break,
            }
        }
        let at = |kind: u8, off: i32| -> Option<u64> {
            let addr = match kind {
                loc::AT_CFA => frame,
                loc::AT_RSP => sp,
                loc::AT_RBP => bp,
                _ => return None,
            };
            window.read(addr.wrapping_add(off as i64 as u64))
        };
        let Some(ra) = at(rule.ra, rule.ra_off) else {
            break;
        };
        let next_bp = match rule.bp {
            loc::SAME => bp,
            loc::UNDEFINED => 0,
            kind => at(kind, rule.bp_off).unwrap_or(0),
        };
        // Frames must move up the stack, except across a signal frame,
        // which may switch stacks.
        if !rule.signal && frame <= sp {
            break;
        }
        ip = ra;
        sp = frame;
        bp = next_bp;
        exact = rule.signal;
    }
    n
}

/// The calling thread's stack (it may allocate: call it with the guard
/// set to internal).
pub fn thread_stack() -> StackBounds {
    let (lo, hi) = thread_stack_bounds();
    StackBounds { lo, hi }
}

/// The calling thread's stack as (lowest address, one past the highest).
fn thread_stack_bounds() -> (u64, u64) {
    if crate::sys::gettid() == u64::from(crate::sys::getpid()) {
        unsafe extern "C" {
            static __libc_stack_end: *const libc::c_void;
        }
        // SAFETY: set by the dynamic loader before any code runs.
        let end = unsafe { __libc_stack_end } as u64;
        if end != 0 {
            // The page holding __libc_stack_end is mapped; nothing the
            // unwinder needs lies above it.
            let hi = (end | 0xfff) + 1;
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: valid out-pointer.
            let size = if unsafe { libc::getrlimit(libc::RLIMIT_STACK, &mut limit) } == 0
                && limit.rlim_cur != libc::RLIM_INFINITY
            {
                limit.rlim_cur
            } else {
                1 << 30
            };
            return (hi.saturating_sub(size), hi);
        }
    }
    // SAFETY: the attr is initialised by pthread_getattr_np and destroyed.
    unsafe {
        let mut attr = MaybeUninit::<libc::pthread_attr_t>::uninit();
        if libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) != 0 {
            return (0, 0);
        }
        let mut addr = std::ptr::null_mut();
        let mut size = 0;
        let ok = libc::pthread_attr_getstack(attr.as_ptr(), &mut addr, &mut size) == 0;
        libc::pthread_attr_destroy(attr.as_mut_ptr());
        if ok {
            (addr as u64, addr as u64 + size as u64)
        } else {
            (0, 0)
        }
    }
}

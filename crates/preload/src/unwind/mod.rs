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

/// Entries of the second-level cache (512 KiB).
const SECOND_BITS: u32 = 15;
/// First-level misses after which a stream gets its second level.
const SECOND_AFTER: u32 = 8192;

/// Behind the first-level cache, for the threads that miss it often: a
/// program whose allocations return through more addresses than it holds
/// (cc1plus: tens of thousands) would compute their rules again and again
/// — a fifth of its traced time with 4,096 entries. A stream allocates its
/// 32,768 entries only after 8,192 misses, so that the many threads of a
/// server that allocate from a few places do not each hold half a
/// megabyte.
struct SecondLevel {
    cache: Option<Box<[CacheEntry; 1 << SECOND_BITS]>>,
    misses: u32,
}

impl SecondLevel {
    /// The rule of `pc`, which the first level does not hold.
    #[cold]
    #[inline(never)]
    fn entry(&mut self, pc: u64) -> CacheEntry {
        let Some(cache) = &mut self.cache else {
            self.misses += 1;
            if self.misses >= SECOND_AFTER {
                let empty = CacheEntry {
                    pc: 0,
                    packed: GENERAL,
                };
                self.cache = vec![empty; 1 << SECOND_BITS]
                    .into_boxed_slice()
                    .try_into()
                    .ok();
            }
            return CacheEntry {
                pc,
                packed: pack(&lookup_rule(pc, true)),
            };
        };
        // (Another hash than the first level's, so that addresses that
        // collide there do not collide here too.)
        let slot = &mut cache[((pc ^ (pc >> 17)).wrapping_mul(0xff51_afd7_ed55_8ccd)
            >> (64 - SECOND_BITS)) as usize];
        if slot.pc != pc {
            *slot = CacheEntry {
                pc,
                packed: pack(&lookup_rule(pc, true)),
            };
        }
        *slot
    }

    fn clear(&mut self) {
        if let Some(cache) = &mut self.cache {
            cache.iter_mut().for_each(|e| e.pc = 0);
        }
    }
}

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

/// The last stack unwound, outermost frame first, and everything its
/// frames depended on. An unwind step is a pure function of the frame's
/// IP and SP, its unwind rule (fixed per address until the module list
/// changes) and the return-address slot it reads; so when a new unwind
/// reaches a frame with the IP and SP of one of the trail's, and every
/// slot the trail read from that frame outwards still holds what it held,
/// the rest of the new stack is the trail's — not walked, hashed or looked
/// up again: its interned node is the trail's at that depth, and only the
/// new inner frames are interned, as its children. Checking a slot is a
/// load and a compare where a step is a cache probe, a bounds check and a
/// load; an interpreter's allocations differ from the previous one in a
/// few inner frames under fifty or more alike, and CPython spent half its
/// traced thread's instructions walking, hashing and verifying those.
/// Only fast-path frames (CFA = RSP + n) go into the trail: they depend on
/// neither RBP nor the saved RBP values.
struct Trail {
    /// Frames (0: nothing to splice onto).
    len: usize,
    /// The end of the stack window the trail was read through.
    hi: u64,
    ips: [u64; MAX_FRAMES],
    sps: [u64; MAX_FRAMES],
    /// The return-address slot each frame's step read and its value
    /// (`(0, 0)`: the step read none).
    reads: [(u64, u64); MAX_FRAMES],
    /// Interned node of the stack from the outermost frame to this one.
    nodes: [u32; MAX_FRAMES],
}

/// What one unwind read, innermost frame first, for the trail.
struct Scratch {
    /// Frames whose step read a slot (they come first).
    count: usize,
    words: [MaybeUninit<(u64, u64)>; MAX_FRAMES],
    sps: [MaybeUninit<u64>; MAX_FRAMES],
    /// False once a step left the fast path or the stack was cut at
    /// [`MAX_FRAMES`]: then the unwind is not kept as a trail.
    fast: bool,
    /// The end of the window the unwind read through (0: not only this
    /// thread's stack).
    hi: u64,
}

/// The outcome of [`UnwindState::backtrace`].
#[derive(Clone, Copy, Debug)]
pub struct Unwound {
    /// Frames written to `out`, innermost first.
    pub new: usize,
    /// If set, the stack goes on with the trail's frames from this depth
    /// outwards (see [`UnwindState::spliced_node`]).
    pub splice: Option<usize>,
}

/// Per-stream unwinding state.
pub struct UnwindState {
    cache: Box<[CacheEntry; CACHE_SIZE]>,
    second: SecondLevel,
    trail: Box<Trail>,
    scratch: Box<Scratch>,
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
        // SAFETY: all zeros is an empty trail (no frames).
        let trail = unsafe { Box::<Trail>::new_zeroed().assume_init() };
        // SAFETY: zero frames; the words are never read beyond `count`.
        let scratch = unsafe { Box::<Scratch>::new_zeroed().assume_init() };
        UnwindState {
            // (Built in place: 64 KiB is too much for a small thread stack.)
            cache: vec![empty; CACHE_SIZE]
                .into_boxed_slice()
                .try_into()
                .unwrap_or_else(|_| unreachable!()),
            trail,
            scratch,
            second: SecondLevel {
                cache: None,
                misses: 0,
            },
            general: Box::new([(0, Rule::UNSUPPORTED); GENERAL_SIZE]),
            generation: modules::GENERATION.load(std::sync::atomic::Ordering::Acquire),
        }
    }

    /// A new thread took over the stream: the trail holds addresses in the
    /// previous thread's stack.
    pub fn attach_thread(&mut self) {
        self.trail.len = 0;
    }

    /// Drops cached rules and the trail if the module list changed.
    #[inline(always)]
    pub fn check_generation(&mut self) {
        let generation = modules::GENERATION.load(std::sync::atomic::Ordering::Acquire);
        if generation != self.generation {
            self.cache.iter_mut().for_each(|e| e.pc = 0);
            self.second.clear();
            self.general.iter_mut().for_each(|e| e.0 = 0);
            self.trail.len = 0;
            self.generation = generation;
        }
    }

    /// Captures the stack from `regs`: its frames innermost first into
    /// `out`, until it reaches a frame of the trail from which on the
    /// stack is the trail's (then `splice` says at which depth). Call
    /// [`UnwindState::check_generation`] first, and after interning the
    /// stack [`UnwindState::keep_trail`] or [`UnwindState::spliced_node`].
    #[inline(always)]
    pub fn backtrace(
        &mut self,
        stack: *const StackBounds,
        regs: Regs,
        out: &mut [MaybeUninit<u64>; MAX_FRAMES],
    ) -> Unwound {
        let scratch = &mut *self.scratch;
        let trail = &*self.trail;
        scratch.count = 0;
        scratch.fast = true;
        let window = StackWindow::new(stack, regs.sp);
        scratch.hi = window.hi();
        let Regs {
            mut ip,
            mut sp,
            mut bp,
        } = regs;
        // The trail's frame to compare with next: the innermost whose SP
        // is not below this frame's (frames' SPs grow outwards). None once
        // a comparison failed (one try per unwind bounds the checking).
        let mut cursor = if trail.len > 0 && scratch.hi == trail.hi {
            Some(trail.len - 1)
        } else {
            None
        };
        let mut n = 0;
        // The common case inline: cached, RSP-based frames.
        while n < MAX_FRAMES && ip != 0 {
            if let Some(mut d) = cursor {
                while trail.sps[d] < sp && d > 0 {
                    d -= 1;
                }
                cursor = Some(d);
                if trail.sps[d] == sp && trail.ips[d] == ip {
                    if d + 1 + n <= MAX_FRAMES && trail_holds(trail, d) {
                        return Unwound {
                            new: n,
                            splice: Some(d),
                        };
                    }
                    cursor = None;
                } else if trail.sps[d] < sp {
                    cursor = None;
                }
            }
            let pc = ip - 1;
            let slot = &mut self.cache
                [(pc.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - CACHE_BITS)) as usize];
            if slot.pc != pc {
                *slot = self.second.entry(pc);
            }
            let packed = slot.packed;
            if packed & (GENERAL | END) != 0 {
                if packed & END != 0 {
                    scratch.sps[n].write(sp);
                    out[n].write(ip);
                    return Unwound {
                        new: n + 1,
                        splice: None,
                    };
                }
                // Hand the rest of the stack to the general walker (its
                // reads are not tracked: such stacks are no trail).
                scratch.fast = false;
                let general = &mut self.general;
                let new = n + walk(Regs { ip, sp, bp }, &mut out[n..], &window, |pc| {
                    let slot = &mut general[(pc as usize ^ (pc as usize >> 6)) % GENERAL_SIZE];
                    if slot.0 != pc {
                        *slot = (pc, lookup_rule(pc, true));
                    }
                    slot.1
                });
                return Unwound { new, splice: None };
            }
            let frame = sp.wrapping_add(packed as u32 as i32 as i64 as u64);
            let ra_at = frame.wrapping_sub(8);
            let Some(ra) = window.read(ra_at) else {
                break;
            };
            // One read per frame, in order: frame `n` read word `n`.
            scratch.words[n].write((ra_at, ra));
            scratch.sps[n].write(sp);
            scratch.count = n + 1;
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
            scratch.sps[n].write(sp);
            out[n].write(ip);
            n += 1;
        } else if ip != 0 {
            // Cut at MAX_FRAMES: a stack spliced onto it would be cut
            // elsewhere.
            scratch.fast = false;
        }
        Unwound {
            new: n,
            splice: None,
        }
    }

    /// The interned node of the trail's stack from its outermost frame to
    /// depth `d` (a splice point [`UnwindState::backtrace`] returned).
    #[inline(always)]
    pub fn spliced_node(&self, d: usize) -> u32 {
        self.trail.nodes[d]
    }

    /// Makes the stack just unwound the trail: its `new` frames (in
    /// `ips`, innermost first) at depths `base + new − 1` down to `base`
    /// (`base` = 0 for a whole stack, the splice depth + 1 for a spliced
    /// one, whose outer frames the trail holds already), with their nodes
    /// (`nodes[i]`: the node of frame `i` of `ips` and everything outside
    /// it).
    #[inline(always)]
    pub fn keep_trail(&mut self, base: usize, ips: &[u64], nodes: &[u32]) {
        let scratch = &*self.scratch;
        let trail = &mut *self.trail;
        let new = ips.len();
        if !scratch.fast || scratch.hi == 0 || base + new > MAX_FRAMES || (base == 0 && new == 0) {
            trail.len = 0;
            return;
        }
        for i in 0..new {
            let depth = base + new - 1 - i;
            trail.ips[depth] = ips[i];
            // SAFETY: `backtrace` wrote the SP of every frame it returned
            // and the word of the first `count`.
            unsafe {
                trail.sps[depth] = scratch.sps[i].assume_init();
                trail.reads[depth] = if i < scratch.count {
                    scratch.words[i].assume_init()
                } else {
                    (0, 0)
                };
            }
            trail.nodes[depth] = nodes[i];
        }
        trail.len = base + new;
        trail.hi = scratch.hi;
    }
}

/// Whether every return-address slot the trail's frames from depth `d`
/// outwards read still holds the value it held.
#[inline(always)]
fn trail_holds(trail: &Trail, d: usize) -> bool {
    trail.reads[..=d].iter().all(|&(addr, value)| {
        // SAFETY: the trail was read by this thread (it is cleared when a
        // stream changes threads) through a window of this same stack
        // (same end), at addresses at or above the SP of frame `d`, which
        // the current unwind has reached: inside the stack, above the
        // current stack pointer.
        addr == 0 || unsafe { (addr as *const u64).read() } == value
    })
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
    /// The end of the window if it is one range of the thread's stack
    /// (or of the page an unknown stack was entered on), else 0.
    fn hi(&self) -> u64 {
        if self.ranges[1] == (0, 0) {
            self.ranges[0].1
        } else {
            0
        }
    }

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

//! A DWARF call-frame-information evaluator for x86-64, reduced to what
//! unwinding an allocation's call stack needs: find the FDE of an address
//! through `.eh_frame_hdr`'s sorted table, run the CIE's and FDE's
//! instructions up to the address, and reduce the row to a [`Rule`] that
//! says where the caller's CFA, return address and RBP are.
//!
//! It reads the loaded module's own memory (`.eh_frame_hdr` and `.eh_frame`
//! are in a loaded segment), checking every read against the module's
//! segments, and never allocates. Anything it does not understand (CFA from
//! another register, long DWARF expressions as in PLT entries, unknown
//! opcodes) yields [`Rule::UNSUPPORTED`], which ends the stack there.

use super::modules::Module;

/// DWARF register numbers on x86-64.
const RBP: u8 = 6;
const RSP: u8 = 7;

/// Where the caller's CFA comes from.
pub mod cfa {
    /// CFA = RSP + off.
    pub const RSP: u8 = 1;
    /// CFA = RBP + off.
    pub const RBP: u8 = 2;
    /// CFA = *(RSP + off).
    pub const RSP_DEREF: u8 = 3;
    /// CFA = *(RBP + off).
    pub const RBP_DEREF: u8 = 4;
    /// The outermost frame: there is no caller.
    pub const END: u8 = 5;
    /// Not understood: stop unwinding.
    pub const UNSUPPORTED: u8 = 0;
}

/// Where a saved register (return address, RBP) is.
pub mod loc {
    /// Unchanged from the callee (RBP only).
    pub const SAME: u8 = 0;
    /// At CFA + off.
    pub const AT_CFA: u8 = 1;
    /// At RSP + off.
    pub const AT_RSP: u8 = 2;
    /// At RBP + off.
    pub const AT_RBP: u8 = 3;
    /// Unknown.
    pub const UNDEFINED: u8 = 4;
}

/// How to step from a frame to its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Rule {
    /// Offset for the CFA rule.
    pub cfa_off: i32,
    /// Offset for the return-address location.
    pub ra_off: i32,
    /// Offset for the RBP location.
    pub bp_off: i32,
    /// One of [`cfa`].
    pub cfa: u8,
    /// One of [`loc`].
    pub ra: u8,
    /// One of [`loc`].
    pub bp: u8,
    /// Whether this frame is a signal trampoline (the caller's IP is the
    /// interrupted instruction, not a return address).
    pub signal: bool,
}

impl Rule {
    /// Stop here.
    pub const UNSUPPORTED: Rule = Rule {
        cfa_off: 0,
        ra_off: 0,
        bp_off: 0,
        cfa: cfa::UNSUPPORTED,
        ra: loc::UNDEFINED,
        bp: loc::UNDEFINED,
        signal: false,
    };
}

/// Bounds-checked reads of a module's loaded memory.
struct Mem<'a> {
    module: &'a Module,
}

impl Mem<'_> {
    #[inline]
    fn check(&self, addr: u64, len: u64) -> Option<()> {
        self.module.is_readable(addr, len).then_some(())
    }

    fn u8(&self, pos: &mut u64) -> Option<u8> {
        self.check(*pos, 1)?;
        // SAFETY: the byte is inside a loaded segment of the module.
        let v = unsafe { (*pos as *const u8).read() };
        *pos += 1;
        Some(v)
    }

    fn bytes<const N: usize>(&self, pos: &mut u64) -> Option<[u8; N]> {
        self.check(*pos, N as u64)?;
        // SAFETY: as above.
        let v = unsafe { (*pos as *const [u8; N]).read_unaligned() };
        *pos += N as u64;
        Some(v)
    }

    fn u16(&self, pos: &mut u64) -> Option<u16> {
        self.bytes::<2>(pos).map(u16::from_le_bytes)
    }

    fn u32(&self, pos: &mut u64) -> Option<u32> {
        self.bytes::<4>(pos).map(u32::from_le_bytes)
    }

    fn u64(&self, pos: &mut u64) -> Option<u64> {
        self.bytes::<8>(pos).map(u64::from_le_bytes)
    }

    fn uleb(&self, pos: &mut u64) -> Option<u64> {
        let mut result = 0u64;
        let mut shift = 0;
        loop {
            let byte = self.u8(pos)?;
            if shift < 64 {
                result |= u64::from(byte & 0x7f) << shift;
            }
            shift += 7;
            if byte & 0x80 == 0 {
                return Some(result);
            }
            if shift > 70 {
                return None;
            }
        }
    }

    fn sleb(&self, pos: &mut u64) -> Option<i64> {
        let mut result = 0i64;
        let mut shift = 0;
        loop {
            let byte = self.u8(pos)?;
            if shift < 64 {
                result |= i64::from(byte & 0x7f) << shift;
            }
            shift += 7;
            if byte & 0x80 == 0 {
                if shift < 64 && byte & 0x40 != 0 {
                    result |= -1i64 << shift;
                }
                return Some(result);
            }
            if shift > 70 {
                return None;
            }
        }
    }

    /// Reads a pointer in DWARF `DW_EH_PE_*` encoding `enc`.
    fn encoded(&self, pos: &mut u64, enc: u8, data_base: u64) -> Option<u64> {
        if enc == 0xff {
            return None;
        }
        let start = *pos;
        let value = match enc & 0x0f {
            0x00 | 0x04 => self.u64(pos)?,
            0x01 => self.uleb(pos)?,
            0x02 => u64::from(self.u16(pos)?),
            0x03 => u64::from(self.u32(pos)?),
            0x09 => self.sleb(pos)? as u64,
            0x0a => self.u16(pos)? as i16 as i64 as u64,
            0x0b => self.u32(pos)? as i32 as i64 as u64,
            0x0c => self.u64(pos)?,
            _ => return None,
        };
        let value = match enc & 0x70 {
            0x00 => value,
            0x10 => start.wrapping_add(value),
            0x30 => data_base.wrapping_add(value),
            _ => return None,
        };
        if enc & 0x80 != 0 {
            let mut at = value;
            return self.u64(&mut at);
        }
        Some(value)
    }
}

/// A register's rule while interpreting CFI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RegRule {
    Same,
    Undefined,
    /// Saved at CFA + off.
    Offset(i64),
    /// Saved at (DWARF register) + off, from a `DW_CFA_expression`.
    AtReg(u8, i64),
    Unsupported,
}

#[derive(Clone, Copy, Debug)]
enum CfaRule {
    RegOffset(u8, i64),
    /// `DW_OP_bregN off [DW_OP_deref]`.
    Expr(u8, i64, bool),
    Unsupported,
}

#[derive(Clone, Copy, Debug)]
struct Row {
    cfa: CfaRule,
    ra: RegRule,
    bp: RegRule,
}

struct Cie {
    code_align: u64,
    data_align: i64,
    ra_reg: u8,
    fde_enc: u8,
    has_z: bool,
    signal: bool,
    instructions: (u64, u64),
}

/// The unwind rule for `pc` in `module`, or [`Rule::UNSUPPORTED`].
pub fn rule_for(module: &Module, pc: u64) -> Rule {
    compute(module, pc).unwrap_or(Rule::UNSUPPORTED)
}

fn compute(module: &Module, pc: u64) -> Option<Rule> {
    let mem = Mem { module };
    let hdr = module.eh_frame_hdr;
    if hdr == 0 {
        return None;
    }
    let mut pos = hdr;
    if mem.u8(&mut pos)? != 1 {
        return None;
    }
    let eh_frame_ptr_enc = mem.u8(&mut pos)?;
    let fde_count_enc = mem.u8(&mut pos)?;
    let table_enc = mem.u8(&mut pos)?;
    mem.encoded(&mut pos, eh_frame_ptr_enc, hdr)?;
    let count = mem.encoded(&mut pos, fde_count_enc, hdr)?;
    // The binary-search table: sorted (initial location, FDE address)
    // pairs, as signed 32-bit offsets from the header in every toolchain we
    // know of.
    if table_enc != 0x3b || count == 0 {
        return None;
    }
    let table = pos;
    mem.check(table, count.checked_mul(8)?)?;
    let entry = |i: u64| -> (u64, u64) {
        let mut at = table + i * 8;
        // SAFETY of unwrap_or: the whole table was checked above.
        let loc = mem.u32(&mut at).unwrap_or(0) as i32 as i64;
        let fde = mem.u32(&mut at).unwrap_or(0) as i32 as i64;
        (hdr.wrapping_add(loc as u64), hdr.wrapping_add(fde as u64))
    };
    // Last entry whose initial location is <= pc.
    let (mut lo, mut hi) = (0u64, count);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if entry(mid).0 <= pc {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let (first, fde) = entry(lo);
    if first > pc {
        return None;
    }
    evaluate_fde(&mem, fde, pc)
}

fn read_length(mem: &Mem<'_>, pos: &mut u64) -> Option<u64> {
    let len = mem.u32(pos)?;
    match len {
        0 => None,
        0xffff_ffff => mem.u64(pos),
        _ => Some(u64::from(len)),
    }
}

fn evaluate_fde(mem: &Mem<'_>, fde: u64, pc: u64) -> Option<Rule> {
    let mut pos = fde;
    let len = read_length(mem, &mut pos)?;
    let end = pos.checked_add(len)?;
    let id_pos = pos;
    let cie_offset = u64::from(mem.u32(&mut pos)?);
    if cie_offset == 0 {
        return None; // a CIE, not an FDE
    }
    let cie = parse_cie(mem, id_pos.checked_sub(cie_offset)?)?;
    let pc_begin = mem.encoded(&mut pos, cie.fde_enc, 0)?;
    let pc_range = mem.encoded(&mut pos, cie.fde_enc & 0x0f, 0)?;
    if pc < pc_begin || pc - pc_begin >= pc_range {
        return None;
    }
    if cie.has_z {
        let aug_len = mem.uleb(&mut pos)?;
        pos = pos.checked_add(aug_len)?;
    }
    let initial = Row {
        cfa: CfaRule::Unsupported,
        ra: RegRule::Undefined,
        bp: RegRule::Same,
    };
    let after_cie = run(
        mem,
        &cie,
        cie.instructions,
        pc_begin,
        u64::MAX,
        initial,
        initial,
    )?;
    let row = run(mem, &cie, (pos, end), pc_begin, pc, after_cie, after_cie)?;
    Some(to_rule(&row, cie.signal))
}

fn parse_cie(mem: &Mem<'_>, at: u64) -> Option<Cie> {
    let mut pos = at;
    let len = read_length(mem, &mut pos)?;
    let end = pos.checked_add(len)?;
    if mem.u32(&mut pos)? != 0 {
        return None;
    }
    let version = mem.u8(&mut pos)?;
    if version != 1 && version != 3 {
        return None;
    }
    let mut aug = [0u8; 8];
    let mut aug_len = 0;
    loop {
        let c = mem.u8(&mut pos)?;
        if c == 0 {
            break;
        }
        if aug_len == aug.len() {
            return None;
        }
        aug[aug_len] = c;
        aug_len += 1;
    }
    let aug = &aug[..aug_len];
    if aug.windows(2).any(|w| w == b"eh") {
        return None;
    }
    let code_align = mem.uleb(&mut pos)?;
    let data_align = mem.sleb(&mut pos)?;
    let ra_reg = if version == 1 {
        mem.u8(&mut pos)?
    } else {
        u8::try_from(mem.uleb(&mut pos)?).ok()?
    };
    let mut cie = Cie {
        code_align,
        data_align,
        ra_reg,
        fde_enc: 0,
        has_z: false,
        signal: false,
        instructions: (0, end),
    };
    if aug.first() == Some(&b'z') {
        cie.has_z = true;
        let data_len = mem.uleb(&mut pos)?;
        let data_end = pos.checked_add(data_len)?;
        for &c in &aug[1..] {
            match c {
                b'L' => {
                    mem.u8(&mut pos)?;
                }
                b'R' => cie.fde_enc = mem.u8(&mut pos)?,
                b'P' => {
                    let enc = mem.u8(&mut pos)?;
                    mem.encoded(&mut pos, enc & 0x7f, 0)?;
                }
                b'S' => cie.signal = true,
                b'B' | b'G' => {}
                _ => break,
            }
        }
        pos = data_end;
    }
    cie.instructions = (pos, end);
    Some(cie)
}

const REMEMBER_DEPTH: usize = 8;

/// Runs CFI instructions in `range` from location `start` until the row
/// for `pc` is reached.
fn run(
    mem: &Mem<'_>,
    cie: &Cie,
    range: (u64, u64),
    start: u64,
    pc: u64,
    mut row: Row,
    initial: Row,
) -> Option<Row> {
    let (mut pos, end) = range;
    let mut loc = start;
    let mut stack = [row; REMEMBER_DEPTH];
    let mut depth = 0;
    let data = |v: i64| v.wrapping_mul(cie.data_align);
    while pos < end {
        let op = mem.u8(&mut pos)?;
        let (high, low) = (op & 0xc0, op & 0x3f);
        match high {
            0x40 => {
                loc = loc.wrapping_add(u64::from(low) * cie.code_align);
                if loc > pc {
                    return Some(row);
                }
                continue;
            }
            0x80 => {
                let off = data(mem.uleb(&mut pos)? as i64);
                set(&mut row, cie, low, RegRule::Offset(off));
                continue;
            }
            0xc0 => {
                restore(&mut row, &initial, cie, low);
                continue;
            }
            _ => {}
        }
        match op {
            0x00 => {}
            0x01 => {
                loc = mem.encoded(&mut pos, cie.fde_enc, 0)?;
                if loc > pc {
                    return Some(row);
                }
            }
            0x02..=0x04 => {
                let delta = match op {
                    0x02 => u64::from(mem.u8(&mut pos)?),
                    0x03 => u64::from(mem.u16(&mut pos)?),
                    _ => u64::from(mem.u32(&mut pos)?),
                };
                loc = loc.wrapping_add(delta * cie.code_align);
                if loc > pc {
                    return Some(row);
                }
            }
            0x05 => {
                let reg = reg(mem.uleb(&mut pos)?);
                let off = data(mem.uleb(&mut pos)? as i64);
                set(&mut row, cie, reg, RegRule::Offset(off));
            }
            0x06 => {
                let reg = reg(mem.uleb(&mut pos)?);
                restore(&mut row, &initial, cie, reg);
            }
            0x07 => set(&mut row, cie, reg(mem.uleb(&mut pos)?), RegRule::Undefined),
            0x08 => set(&mut row, cie, reg(mem.uleb(&mut pos)?), RegRule::Same),
            0x09 => {
                let reg = reg(mem.uleb(&mut pos)?);
                mem.uleb(&mut pos)?;
                set(&mut row, cie, reg, RegRule::Unsupported);
            }
            0x0a => {
                if depth == REMEMBER_DEPTH {
                    return None;
                }
                stack[depth] = row;
                depth += 1;
            }
            0x0b => {
                if depth == 0 {
                    return None;
                }
                depth -= 1;
                // The CFA is not part of the remembered state in practice,
                // but GCC emits remember/restore around it; restore it all.
                row = stack[depth];
            }
            0x0c => {
                let reg = reg(mem.uleb(&mut pos)?);
                let off = mem.uleb(&mut pos)? as i64;
                row.cfa = CfaRule::RegOffset(reg, off);
            }
            0x0d => {
                let reg = reg(mem.uleb(&mut pos)?);
                row.cfa = match row.cfa {
                    CfaRule::RegOffset(_, off) => CfaRule::RegOffset(reg, off),
                    _ => CfaRule::RegOffset(reg, 0),
                };
            }
            0x0e | 0x13 => {
                let off = if op == 0x0e {
                    mem.uleb(&mut pos)? as i64
                } else {
                    data(mem.sleb(&mut pos)?)
                };
                row.cfa = match row.cfa {
                    CfaRule::RegOffset(reg, _) => CfaRule::RegOffset(reg, off),
                    _ => CfaRule::Unsupported,
                };
            }
            0x0f => {
                let len = mem.uleb(&mut pos)?;
                row.cfa = match expression(mem, pos, len) {
                    Some((reg, off, deref)) => CfaRule::Expr(reg, off, deref),
                    None => match plt_expression(mem, pos, len, pc) {
                        Some(off) => CfaRule::RegOffset(RSP, off),
                        None => CfaRule::Unsupported,
                    },
                };
                pos = pos.checked_add(len)?;
            }
            0x10 | 0x16 => {
                let reg = reg(mem.uleb(&mut pos)?);
                let len = mem.uleb(&mut pos)?;
                let rule = match (op, expression(mem, pos, len)) {
                    (0x10, Some((base, off, false))) => RegRule::AtReg(base, off),
                    _ => RegRule::Unsupported,
                };
                set(&mut row, cie, reg, rule);
                pos = pos.checked_add(len)?;
            }
            0x11 => {
                let reg = reg(mem.uleb(&mut pos)?);
                let off = data(mem.sleb(&mut pos)?);
                set(&mut row, cie, reg, RegRule::Offset(off));
            }
            0x12 => {
                let reg = reg(mem.uleb(&mut pos)?);
                let off = data(mem.sleb(&mut pos)?);
                row.cfa = CfaRule::RegOffset(reg, off);
            }
            0x14 | 0x15 => {
                let reg = reg(mem.uleb(&mut pos)?);
                if op == 0x14 {
                    mem.uleb(&mut pos)?;
                } else {
                    mem.sleb(&mut pos)?;
                }
                set(&mut row, cie, reg, RegRule::Unsupported);
            }
            0x2e => {
                mem.uleb(&mut pos)?;
            }
            0x2f => {
                let reg = reg(mem.uleb(&mut pos)?);
                let off = -data(mem.uleb(&mut pos)? as i64);
                set(&mut row, cie, reg, RegRule::Offset(off));
            }
            _ => return None,
        }
    }
    Some(row)
}

/// Register numbers above 255 are not ones we track.
fn reg(value: u64) -> u8 {
    u8::try_from(value).unwrap_or(u8::MAX)
}

fn set(row: &mut Row, cie: &Cie, reg: u8, rule: RegRule) {
    if reg == cie.ra_reg {
        row.ra = rule;
    } else if reg == RBP {
        row.bp = rule;
    }
}

fn restore(row: &mut Row, initial: &Row, cie: &Cie, reg: u8) {
    if reg == cie.ra_reg {
        row.ra = initial.ra;
    } else if reg == RBP {
        row.bp = initial.bp;
    }
}

/// Recognises `DW_OP_bregN off` optionally followed by `DW_OP_deref`, for
/// N = RSP or RBP: the forms GCC uses for realigned stacks and glibc for
/// signal frames.
fn expression(mem: &Mem<'_>, start: u64, len: u64) -> Option<(u8, i64, bool)> {
    let mut pos = start;
    let end = start.checked_add(len)?;
    let op = mem.u8(&mut pos)?;
    if !(0x70..=0x8f).contains(&op) {
        return None;
    }
    let reg = op - 0x70;
    if reg != RSP && reg != RBP {
        return None;
    }
    let off = mem.sleb(&mut pos)?;
    if pos == end {
        return Some((reg, off, false));
    }
    if mem.u8(&mut pos)? == 0x06 && pos == end {
        return Some((reg, off, true));
    }
    None
}

/// Recognises the CFA expression GNU ld emits for PLT entries,
/// `rsp + n + ((rip & 15) >= k ? 8 : 0)` (`DW_OP_breg7 n; DW_OP_breg16 0;
/// DW_OP_lit15; DW_OP_and; DW_OP_litk; DW_OP_ge; DW_OP_lit3; DW_OP_shl;
/// DW_OP_plus`), and evaluates it for `pc`: inside a PLT stub, before or
/// after its push. Only a signal can interrupt a PLT stub, so `pc` is exact.
fn plt_expression(mem: &Mem<'_>, start: u64, len: u64, pc: u64) -> Option<i64> {
    let mut pos = start;
    let end = start.checked_add(len)?;
    if mem.u8(&mut pos)? != 0x70 + RSP {
        return None;
    }
    let base = mem.sleb(&mut pos)?;
    if mem.u8(&mut pos)? != 0x70 + 16 || mem.sleb(&mut pos)? != 0 {
        return None;
    }
    let (lit15, and) = (mem.u8(&mut pos)?, mem.u8(&mut pos)?);
    let threshold = mem.u8(&mut pos)?;
    let tail = [
        mem.u8(&mut pos)?,
        mem.u8(&mut pos)?,
        mem.u8(&mut pos)?,
        mem.u8(&mut pos)?,
    ];
    // DW_OP_lit0 is 0x30; and = 0x1a, ge = 0x2a, shl = 0x24, plus = 0x22.
    if lit15 != 0x30 + 15
        || and != 0x1a
        || !(0x30..=0x4f).contains(&threshold)
        || tail != [0x2a, 0x33, 0x24, 0x22]
        || pos != end
    {
        return None;
    }
    let k = u64::from(threshold - 0x30);
    Some(base + if pc & 15 >= k { 8 } else { 0 })
}

fn to_rule(row: &Row, signal: bool) -> Rule {
    let mut rule = Rule {
        signal,
        ..Rule::UNSUPPORTED
    };
    let small = |v: i64| i32::try_from(v).ok();
    let (kind, off) = match row.cfa {
        CfaRule::RegOffset(RSP, off) => (cfa::RSP, off),
        CfaRule::RegOffset(RBP, off) => (cfa::RBP, off),
        CfaRule::Expr(RSP, off, deref) => (if deref { cfa::RSP_DEREF } else { cfa::RSP }, off),
        CfaRule::Expr(RBP, off, deref) => (if deref { cfa::RBP_DEREF } else { cfa::RBP }, off),
        _ => return Rule::UNSUPPORTED,
    };
    let Some(off) = small(off) else {
        return Rule::UNSUPPORTED;
    };
    rule.cfa = kind;
    rule.cfa_off = off;
    let location = |r: RegRule| -> Option<(u8, i32)> {
        match r {
            RegRule::Same => Some((loc::SAME, 0)),
            RegRule::Undefined => Some((loc::UNDEFINED, 0)),
            RegRule::Offset(off) => Some((loc::AT_CFA, small(off)?)),
            RegRule::AtReg(RSP, off) => Some((loc::AT_RSP, small(off)?)),
            RegRule::AtReg(RBP, off) => Some((loc::AT_RBP, small(off)?)),
            _ => None,
        }
    };
    match location(row.ra) {
        Some((loc::UNDEFINED, _)) => {
            rule.cfa = cfa::END;
            return rule;
        }
        Some((loc::SAME, _)) | None => return Rule::UNSUPPORTED,
        Some((kind, off)) => {
            rule.ra = kind;
            rule.ra_off = off;
        }
    }
    match location(row.bp) {
        Some((kind, off)) => {
            rule.bp = kind;
            rule.bp_off = off;
        }
        None => rule.bp = loc::UNDEFINED,
    }
    rule
}

//! Entry points for translated code: the commonest x87 instructions with an m32/m64
//! operand (FLD, FADD, FSUB, FSUBR, FMUL, FST, FSTP) once the caller has done the
//! memory access itself. Each takes only the plain case: no pending unmasked exception,
//! no stack fault, operands and results the fast paths (`fast`) compute. Anything else
//! returns "not done" with nothing changed, and the caller runs the general handler,
//! which has the one meaning of the instruction; in the plain case both agree bit for
//! bit (the JIT's differential fuzzer compares them).
//!
//! Unlike a handler, these run with EIP at the instruction (not past it) and leave it
//! past it when done.

use iced_x86::{MemorySize, Mnemonic as M};

use super::state::*;
use super::*;

/// What a direct entry does with its memory operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemOp {
    Fld,
    Add,
    Sub,
    SubR,
    Mul,
    Fst,
    Fstp,
}

impl MemOp {
    /// Every form, indexed by `self as usize` (for passing one as a number).
    pub const ALL: [MemOp; 7] = [
        MemOp::Fld,
        MemOp::Add,
        MemOp::Sub,
        MemOp::SubR,
        MemOp::Mul,
        MemOp::Fst,
        MemOp::Fstp,
    ];

    /// The direct form of `d` and its operand's size in bytes (4 or 8), if it has one.
    pub fn of(d: &DecodedInsn) -> Option<(MemOp, u8)> {
        let size = match d.i.memory_size() {
            MemorySize::Float32 => 4,
            MemorySize::Float64 => 8,
            _ => return None,
        };
        if !crate::interp::has_mem(d) {
            return None;
        }
        let op = match d.i.mnemonic() {
            M::Fld => MemOp::Fld,
            M::Fadd => MemOp::Add,
            M::Fsub => MemOp::Sub,
            M::Fsubr => MemOp::SubR,
            M::Fmul => MemOp::Mul,
            M::Fst => MemOp::Fst,
            M::Fstp => MemOp::Fstp,
            _ => return None,
        };
        Some((op, size))
    }

    /// True for FST and FSTP, which write their operand.
    pub fn stores(self) -> bool {
        matches!(self, MemOp::Fst | MemOp::Fstp)
    }
}

/// The checks every direct entry shares: no #NM, nothing pending.
fn plain(c: &Cpu) -> bool {
    c.s.cr0 & (CR0_EM | CR0_TS) == 0 && c.s.fpu.sw & SW_ES == 0
}

/// `note_ip` for EIP at the instruction, then EIP past it (32-bit code).
fn retire(c: &mut Cpu, d: &DecodedInsn) {
    c.s.eip = c.s.eip.wrapping_add(d.len as u32);
    note_ip(c, d, true);
}

/// FLD or an arithmetic `op` with the operand's bits (`size` 4 or 8 bytes): true when
/// done.
#[inline]
pub fn load(c: &mut Cpu, d: &DecodedInsn, op: MemOp, bits: u64, size: u8) -> bool {
    if !plain(c) {
        return false;
    }
    let (v, de) = if size == 4 {
        loadstore::from_f32(bits as u32)
    } else {
        loadstore::from_f64(bits)
    };
    if de != 0 || v.class() == Class::SNan {
        return false;
    }
    let f = &c.s.fpu;
    let (result, flags) = match op {
        MemOp::Fld if f.is_empty(7) => (v, 0),
        MemOp::Add | MemOp::Sub | MemOp::SubR | MemOp::Mul if !f.is_empty(0) => {
            let dst = f.st(0);
            let r = match op {
                MemOp::Add => fast::add(dst, v, false, f.cw),
                MemOp::Sub => fast::add(dst, v, true, f.cw),
                MemOp::SubR => fast::add(v, dst, true, f.cw),
                _ => fast::mul(dst, v, f.cw),
            };
            match r {
                Some(r) => r,
                None => return false,
            }
        }
        _ => return false,
    };
    retire(c, d);
    let f = &mut c.s.fpu;
    // Only PE and C1 can be raised here, and neither blocks the result.
    apply(f, flags);
    if op == MemOp::Fld {
        f.push(result);
    } else {
        f.set_st(0, result);
    }
    true
}

/// FST or FSTP (`op`) to `size` (4 or 8) bytes: the bits to store when done.
#[inline]
pub fn store(c: &mut Cpu, d: &DecodedInsn, op: MemOp, size: u8) -> Option<u64> {
    if !plain(c) || c.s.fpu.is_empty(0) {
        return None;
    }
    let f = &c.s.fpu;
    let v = f.st(0);
    let mbits = if size == 4 { 23 } else { 52 };
    let (bits, flags) = if v.class() == Class::Zero {
        ((v.sign() as u64) << (8 * size as u32 - 1), 0)
    } else {
        fast::to_ieee(v, f.rc(), mbits)?
    };
    retire(c, d);
    let f = &mut c.s.fpu;
    // Only PE and C1 here: nothing blocks the store.
    apply(f, flags);
    if op == MemOp::Fstp {
        f.pop();
    }
    Some(bits)
}

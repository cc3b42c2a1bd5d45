//! MUL, IMUL (one, two and three operands), DIV, IDIV.

use iced_x86::Mnemonic as M;

use super::{sext, size_mask};
use crate::cpu::exception::{Exception, Result};
use crate::cpu::flags::LazyOp;
use crate::decode::{DecodedInsn, Handler};
use crate::{Bus, Cpu};

/// SF/ZF/PF from the low half (what these CPUs leave there), AF=0, CF=OF=`wide`.
fn set_mul_flags(c: &mut Cpu, low: u32, size: u8, wide: bool) {
    c.s.flags
        .set_lazy(LazyOp::Mul, size, wide as u32, 0, low & size_mask(size));
}

/// Read the accumulator pair as one value: AX (8-bit op), DX:AX, EDX:EAX.
fn acc_pair(c: &Cpu, size: u8) -> u64 {
    match size {
        1 => (c.s.regs[0] & 0xffff) as u64,
        2 => ((c.s.regs[2] & 0xffff) as u64) << 16 | (c.s.regs[0] & 0xffff) as u64,
        _ => (c.s.regs[2] as u64) << 32 | c.s.regs[0] as u64,
    }
}

/// Store a (low, high) result in AL:AH, AX:DX or EAX:EDX.
fn set_pair(c: &mut Cpu, size: u8, lo: u32, hi: u32) {
    match size {
        1 => {
            let v = (lo & 0xff) | ((hi & 0xff) << 8);
            c.s.regs[0] = (c.s.regs[0] & !0xffff) | v;
        }
        2 => {
            c.s.regs[0] = (c.s.regs[0] & !0xffff) | (lo & 0xffff);
            c.s.regs[2] = (c.s.regs[2] & !0xffff) | (hi & 0xffff);
        }
        _ => {
            c.s.regs[0] = lo;
            c.s.regs[2] = hi;
        }
    }
}

fn mul<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let size = d.osz;
    let bits = size as u32 * 8;
    let m = size_mask(size) as u64;
    let src = c.op_read(bus, d, 0)? as u64 & m;
    let acc = c.s.regs[0] as u64 & m;
    let p = acc * src;
    let (lo, hi) = ((p & m) as u32, ((p >> bits) & m) as u32);
    set_pair(c, size, lo, hi);
    set_mul_flags(c, lo, size, hi != 0);
    Ok(())
}

fn imul1<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let size = d.osz;
    let bits = size as u32 * 8;
    let src = sext(c.op_read(bus, d, 0)?, size) as i32 as i64;
    let acc = sext(c.s.regs[0], size) as i32 as i64;
    let p = acc * src;
    let m = size_mask(size) as u64;
    let (lo, hi) = ((p as u64 & m) as u32, ((p as u64 >> bits) & m) as u32);
    set_pair(c, size, lo, hi);
    let fits = sext(lo, size) as i32 as i64 == p;
    set_mul_flags(c, lo, size, !fits);
    Ok(())
}

/// IMUL r, r/m [, imm].
fn imul_n<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let size = d.osz;
    let (a, b) = if d.i.op_count() == 3 {
        (c.op_read(bus, d, 1)?, c.op_read(bus, d, 2)?)
    } else {
        (c.op_read(bus, d, 0)?, c.op_read(bus, d, 1)?)
    };
    let p = sext(a, size) as i32 as i64 * sext(b, size) as i32 as i64;
    let lo = p as u32 & size_mask(size);
    c.reg_set(d.i.op0_register(), lo);
    let fits = sext(lo, size) as i32 as i64 == p;
    set_mul_flags(c, lo, size, !fits);
    Ok(())
}

fn div<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let size = d.osz;
    let m = size_mask(size) as u64;
    let src = c.op_read(bus, d, 0)? as u64 & m;
    if src == 0 {
        return Err(Exception::de());
    }
    let n = acc_pair(c, size);
    let q = n / src;
    if q > m {
        return Err(Exception::de());
    }
    set_pair(c, size, q as u32, (n % src) as u32);
    Ok(())
}

fn idiv<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let size = d.osz;
    let bits = size as u32 * 8;
    let src = sext(c.op_read(bus, d, 0)?, size) as i32 as i64;
    if src == 0 {
        return Err(Exception::de());
    }
    let raw = acc_pair(c, size);
    // Sign-extend the 2*bits-wide dividend.
    let n = ((raw << (64 - 2 * bits)) as i64) >> (64 - 2 * bits);
    let (q, r) = (n.wrapping_div(src), n.wrapping_rem(src));
    let max = (1i64 << (bits - 1)) - 1;
    if q > max || q < -max - 1 {
        return Err(Exception::de());
    }
    set_pair(c, size, q as u32, r as u32);
    Ok(())
}

pub fn handler<B: Bus>(m: M) -> Option<Handler<B>> {
    Some(match m {
        M::Mul => mul::<B>,
        M::Div => div::<B>,
        M::Idiv => idiv::<B>,
        M::Imul => |c, b, d| {
            if d.i.op_count() == 1 {
                imul1(c, b, d)
            } else {
                imul_n(c, b, d)
            }
        },
        _ => return None,
    })
}

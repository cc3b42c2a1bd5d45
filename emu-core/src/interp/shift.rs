//! Shifts and rotates (flags computed eagerly: they depend on the count).

use iced_x86::Mnemonic as M;

use super::{sign_bit, size_mask};
use crate::cpu::exception::Result;
use crate::cpu::flags::{LazyOp, AF, CF, OF, PF, SF, ZF};
use crate::decode::{DecodedInsn, Handler};
use crate::{Bus, Cpu};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rol,
    Ror,
    Rcl,
    Rcr,
    Shl,
    Shr,
    Sar,
}

/// Flags for a result: SF, ZF, PF.
fn szp(r: u32, size: u8) -> u32 {
    let mut f = 0;
    if r & sign_bit(size) != 0 {
        f |= SF;
    }
    if r & size_mask(size) == 0 {
        f |= ZF;
    }
    if (r as u8).count_ones().is_multiple_of(2) {
        f |= PF;
    }
    f
}

/// Returns (result, new flags) or None when the count leaves everything unchanged.
fn compute(kind: Kind, a: u32, count: u32, size: u8, old: u32) -> Option<(u32, u32)> {
    let bits = size as u32 * 8;
    let m = size_mask(size);
    let a = a & m;
    let msb = |v: u32| (v >> (bits - 1)) & 1;
    let cf_in = old & CF;
    let mut f = old;
    let r;
    match kind {
        Kind::Rol | Kind::Ror => {
            if count == 0 {
                return None;
            }
            let n = count % bits;
            r = if kind == Kind::Rol {
                ((a << n) | (a.checked_shr(bits - n).unwrap_or(0))) & m
            } else {
                ((a >> n) | (a.checked_shl(bits - n).unwrap_or(0))) & m
            };
            let (cf, of) = if kind == Kind::Rol {
                (r & 1, msb(r) ^ (r & 1))
            } else {
                (msb(r), msb(r) ^ ((r >> (bits - 2)) & 1))
            };
            f = (f & !(CF | OF)) | (cf * CF) | (of * OF);
        }
        Kind::Rcl | Kind::Rcr => {
            let n = count % (bits + 1);
            if count == 0 {
                return None;
            }
            // Rotate the (bits+1)-bit value CF:a.
            let wide = ((cf_in as u64) << bits) | a as u64;
            let total = bits + 1;
            let rot = if n == 0 {
                wide
            } else if kind == Kind::Rcl {
                ((wide << n) | (wide >> (total - n))) & ((1u64 << total) - 1)
            } else {
                ((wide >> n) | (wide << (total - n))) & ((1u64 << total) - 1)
            };
            r = (rot as u32) & m;
            let cf = ((rot >> bits) & 1) as u32;
            let of = if kind == Kind::Rcl {
                msb(r) ^ cf
            } else {
                msb(r) ^ ((r >> (bits - 2)) & 1)
            };
            f = (f & !(CF | OF)) | (cf * CF) | (of * OF);
        }
        Kind::Shl => {
            if count == 0 {
                return None;
            }
            let wide = (a as u64) << count;
            r = wide as u32 & m;
            let cf = ((wide >> bits) & 1) as u32;
            let of = msb(r) ^ cf;
            f = (f & !(CF | OF | SF | ZF | PF | AF)) | szp(r, size) | (cf * CF) | (of * OF);
        }
        Kind::Shr => {
            if count == 0 {
                return None;
            }
            r = if count >= bits { 0 } else { a >> count };
            let cf = if count > bits {
                0
            } else {
                (a >> (count - 1)) & 1
            };
            let of = if count == 1 { msb(a) } else { 0 };
            f = (f & !(CF | OF | SF | ZF | PF | AF)) | szp(r, size) | (cf * CF) | (of * OF);
        }
        Kind::Sar => {
            if count == 0 {
                return None;
            }
            let sa = super::sext(a, size) as i32;
            r = (sa >> count.min(31)) as u32 & m;
            let cf = ((sa >> (count - 1).min(31)) & 1) as u32;
            f = (f & !(CF | OF | SF | ZF | PF | AF)) | szp(r, size) | (cf * CF);
        }
    }
    Some((r, f))
}

fn shift<B: Bus, const K: u8>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let kind = match K {
        0 => Kind::Rol,
        1 => Kind::Ror,
        2 => Kind::Rcl,
        3 => Kind::Rcr,
        4 => Kind::Shl,
        5 => Kind::Shr,
        _ => Kind::Sar,
    };
    let a = c.op_read(bus, d, 0)?;
    let count = if d.i.op_count() > 1 {
        c.op_read(bus, d, 1)? & 0x1f
    } else {
        1
    };
    // Plain shifts leave their flags lazy; rotates need the old CF and compute at once.
    if matches!(kind, Kind::Shl | Kind::Shr | Kind::Sar) {
        if count == 0 {
            return Ok(());
        }
        let size = d.osz;
        let m = size_mask(size);
        let a = a & m;
        let (r, op) = match kind {
            Kind::Shl => (((a as u64) << count) as u32 & m, LazyOp::Shl),
            Kind::Shr => (a.checked_shr(count).unwrap_or(0), LazyOp::Shr),
            _ => (
                ((super::sext(a, size) as i32) >> count.min(31)) as u32 & m,
                LazyOp::Sar,
            ),
        };
        c.op_write(bus, d, 0, r)?;
        c.s.flags.set_lazy(op, size, a, count, r);
        return Ok(());
    }
    let old = c.s.flags.get();
    if let Some((r, f)) = compute(kind, a, count, d.osz, old) {
        c.op_write(bus, d, 0, r)?;
        c.s.flags.set(f);
    }
    Ok(())
}

/// SHL/SHR/SAR of a register by an immediate or by 1: the common case, kept small.
fn shift_reg<B: Bus, const K: u8>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    let crate::decode::Opd::Reg(r0) = d.ops[0] else {
        return Err(crate::Exception::ud());
    };
    let count = match d.ops[1] {
        crate::decode::Opd::Imm(n) => n & 0x1f,
        _ => 1,
    };
    if count == 0 {
        return Ok(());
    }
    let size = d.osz;
    let m = size_mask(size);
    let a = c.slot_get(r0) & m;
    let (r, op) = match K {
        4 => (((a as u64) << count) as u32 & m, LazyOp::Shl),
        5 => (a.checked_shr(count).unwrap_or(0), LazyOp::Shr),
        _ => (
            ((super::sext(a, size) as i32) >> count.min(31)) as u32 & m,
            LazyOp::Sar,
        ),
    };
    c.slot_set(r0, r);
    c.s.flags.set_lazy(op, size, a, count, r);
    Ok(())
}

/// SHLD/SHRD.
fn double_shift<B: Bus, const LEFT: bool>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let a = c.op_read(bus, d, 0)?;
    let b = c.op_read(bus, d, 1)?;
    let count = c.op_read(bus, d, 2)? & 0x1f;
    if count == 0 {
        return Ok(());
    }
    let size = d.osz;
    let bits = size as u32 * 8;
    let m = size_mask(size) as u128;
    let (a, b) = (a as u128 & m, b as u128 & m);
    // Shift within dest:src:dest (16-bit counts above 16 see the destination again).
    let wide = (a << (2 * bits)) | (b << bits) | a;
    let (r, cf) = if LEFT {
        let sh = wide << count;
        (
            ((sh >> (2 * bits)) & m) as u32,
            ((sh >> (3 * bits)) & 1) as u32,
        )
    } else {
        (
            ((wide >> count) & m) as u32,
            ((wide >> (count - 1)) & 1) as u32,
        )
    };
    let a = a as u32;
    let msb = |v: u32| (v >> (bits - 1)) & 1;
    let of = msb(r) ^ msb(a);
    let old = c.s.flags.get();
    let f = (old & !(CF | OF | SF | ZF | PF | AF)) | szp(r, size) | (cf * CF) | (of * OF);
    c.op_write(bus, d, 0, r)?;
    c.s.flags.set(f);
    Ok(())
}

pub fn handler<B: Bus>(m: M, d: &DecodedInsn) -> Option<Handler<B>> {
    use crate::decode::Opd;
    let reg_imm = matches!(d.ops[0], Opd::Reg(_))
        && (d.i.op_count() == 1
            || matches!(d.ops[1], Opd::Imm(_))
            || d.i.op1_kind() == iced_x86::OpKind::Immediate8);
    Some(match m {
        M::Shl | M::Sal if reg_imm => shift_reg::<B, 4>,
        M::Shr if reg_imm => shift_reg::<B, 5>,
        M::Sar if reg_imm => shift_reg::<B, 6>,
        M::Rol => shift::<B, 0>,
        M::Ror => shift::<B, 1>,
        M::Rcl => shift::<B, 2>,
        M::Rcr => shift::<B, 3>,
        M::Shl | M::Sal => shift::<B, 4>,
        M::Shr => shift::<B, 5>,
        M::Sar => shift::<B, 6>,
        M::Shld => double_shift::<B, true>,
        M::Shrd => double_shift::<B, false>,
        _ => return None,
    })
}

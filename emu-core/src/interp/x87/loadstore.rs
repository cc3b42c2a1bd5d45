//! Loads, stores, integer conversions, constants and register moves.

use iced_x86::{MemorySize, Mnemonic as M};
use rustc_apfloat::ieee::{Double, Single};
use rustc_apfloat::{Float, FloatConvert, Status};

use super::float::*;
use super::state::*;
use super::*;

pub fn handler<B: Bus>(m: M, d: &DecodedInsn) -> Option<Handler<B>> {
    let mem = crate::interp::has_mem(d);
    Some(match m {
        M::Fld | M::Fild if mem => fld_mem::<B>,
        M::Fld => fld_st::<B>,
        M::Fst | M::Fstp if mem => fst_mem::<B>,
        // FSTPNCE (D9 D8+i) is an undocumented alias of FSTP ST(i).
        M::Fst | M::Fstp | M::Fstpnce => fst_st::<B>,
        M::Fist | M::Fistp => fist::<B>,
        M::Fld1 | M::Fldz | M::Fldpi | M::Fldl2e | M::Fldl2t | M::Fldlg2 | M::Fldln2 => {
            fld_const::<B>
        }
        M::Fxch => fxch::<B>,
        M::Fchs | M::Fabs => fchs_fabs::<B>,
        M::Ffree | M::Ffreep => ffree::<B>,
        M::Fincstp | M::Fdecstp => fincdec::<B>,
        M::Fbld => fbld::<B>,
        M::Fbstp => fbstp::<B>,
        _ => return None,
    })
}

/// IEEE single to register format (exact): (value, DE for a denormal input).
pub fn from_f32(b: u32) -> (F80, Flags) {
    let s = ((b >> 31) as u16) << 15;
    let e = (b >> 23) & 0xff;
    let m = (b & 0x7f_ffff) as u64;
    widen(s, e, m, 0xff, 127, 23)
}

pub fn from_f64(b: u64) -> (F80, Flags) {
    let s = ((b >> 63) as u16) << 15;
    let e = ((b >> 52) & 0x7ff) as u32;
    let m = b & ((1 << 52) - 1);
    widen(s, e, m, 0x7ff, 1023, 52)
}

fn widen(s: u16, e: u32, m: u64, emax: u32, bias: i32, mbits: u32) -> (F80, Flags) {
    let sh = 63 - mbits;
    if e == emax {
        return (
            F80 {
                sig: 1 << 63 | m << sh,
                se: s | 0x7fff,
            },
            0,
        );
    }
    if e == 0 {
        if m == 0 {
            return (F80 { sig: 0, se: s }, 0);
        }
        // Denormal: normalize into the wide exponent range.
        let lz = m.leading_zeros() as i32;
        let sig = m << lz;
        let exp = (1 - bias) + 16383 - (lz - sh as i32);
        return (
            F80 {
                sig,
                se: s | exp as u16,
            },
            SW_DE,
        );
    }
    (
        F80 {
            sig: 1 << 63 | m << sh,
            se: s | (e as i32 - bias + 16383) as u16,
        },
        0,
    )
}

pub fn from_int(v: i64) -> F80 {
    if v == 0 {
        return F80::ZERO;
    }
    let s = if v < 0 { 0x8000 } else { 0 };
    let a = v.unsigned_abs();
    let lz = a.leading_zeros();
    F80 {
        sig: a << lz,
        se: s | (16383 + 63 - lz) as u16,
    }
}

/// Register value to IEEE single/double bits under `rc`, with flags and C1.
fn to_ieee<T>(v: F80, rc: u8, bits: u32, mbits: u32) -> (u64, Flags)
where
    X: FloatConvert<T>,
    T: Float + FloatConvert<X>,
{
    super::fast::to_ieee(v, rc, mbits).unwrap_or_else(|| to_ieee_general::<T>(v, rc, bits, mbits))
}

/// `to_ieee` for every value class, on `rustc_apfloat`.
pub(super) fn to_ieee_general<T>(v: F80, rc: u8, bits: u32, mbits: u32) -> (u64, Flags)
where
    X: FloatConvert<T>,
    T: Float + FloatConvert<X>,
{
    let sign = (v.sign() as u64) << (bits - 1);
    let expall = ((1u64 << (bits - 1 - mbits)) - 1) << mbits;
    let qbit = 1u64 << (mbits - 1);
    match v.class() {
        Class::Unsupported => return (1 << (bits - 1) | expall | qbit, SW_IE),
        Class::QNan | Class::SNan => {
            let f = if v.class() == Class::SNan { SW_IE } else { 0 };
            let payload = (v.sig << 1) >> (64 - mbits);
            return (sign | expall | qbit | payload, f);
        }
        _ => {}
    }
    // A denormal source does not signal DE here (only the result's UE/PE).
    let mut li = false;
    let r: rustc_apfloat::StatusAnd<T> = to_x(v).convert_r(round_mode(rc), &mut li);
    let st = overflow_fix(to_x(v), r.value, r.status);
    let mut f = flags_of(st & !Status::INVALID_OP);
    if f & SW_PE != 0 {
        let back: X = r.value.convert(&mut li).value;
        if back.abs() > to_x(v).abs() {
            f |= SW_C1;
        }
    }
    (r.value.to_bits() as u64, f)
}

fn fld_mem<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    enter(c, true)?;
    let (v, de) = load_operand(c, bus, d)?;
    note_ip(c, d, true);
    let f = &mut c.s.fpu;
    let mut flags = de;
    let mut v = v;
    if d.i.memory_size() != MemorySize::Float80 && v.class() == Class::SNan {
        flags |= SW_IE;
        v = v.quiet();
    }
    if !f.is_empty(7) {
        flags = OVERFLOW;
        v = F80::INDEFINITE;
    }
    if apply(f, flags) {
        f.push(v);
    }
    Ok(())
}

fn fld_st<B: Bus>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    enter(c, true)?;
    note_ip(c, d, false);
    let i = st_op(d, 0).unwrap_or(1);
    let f = &mut c.s.fpu;
    let (v, flags) = if !f.is_empty(7) {
        (F80::INDEFINITE, OVERFLOW)
    } else if f.is_empty(i) {
        (F80::INDEFINITE, UNDERFLOW)
    } else {
        (f.st(i), 0)
    };
    if apply(f, flags) {
        f.push(v);
    }
    Ok(())
}

fn fst_st<B: Bus>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    enter(c, true)?;
    note_ip(c, d, false);
    let i = st_op(d, 0).unwrap_or(1);
    let f = &mut c.s.fpu;
    let (v, flags) = if f.is_empty(0) {
        (F80::INDEFINITE, UNDERFLOW)
    } else {
        (f.st(0), 0)
    };
    if apply(f, flags) {
        f.set_st(i, v);
        if matches!(d.i.mnemonic(), M::Fstp | M::Fstpnce) {
            f.pop();
        }
    }
    Ok(())
}

fn fst_mem<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    enter(c, true)?;
    let f = &c.s.fpu;
    let empty = f.is_empty(0);
    let v = if empty { F80::INDEFINITE } else { f.st(0) };
    let rc = f.rc();
    let (bits, len, mut flags) = match d.i.memory_size() {
        MemorySize::Float32 => {
            let (b, fl) = to_ieee::<Single>(v, rc, 32, 23);
            (b as u128, 4, fl)
        }
        MemorySize::Float64 => {
            let (b, fl) = to_ieee::<Double>(v, rc, 64, 52);
            (b as u128, 8, fl)
        }
        _ => (v.bits(), 10, 0),
    };
    if empty {
        flags = UNDERFLOW;
    }
    let blocked = flags & !f.cw & (SW_IE | SW_DE | SW_OE | SW_UE) != 0;
    if !blocked {
        probe(c, bus, d, len)?;
        write_mem(c, bus, d, 0, len, bits)?;
    }
    note_ip(c, d, true);
    let f = &mut c.s.fpu;
    apply(f, flags);
    if !blocked && d.i.mnemonic() == M::Fstp {
        f.pop();
    }
    Ok(())
}

/// Round to an integer of `width` bits: (value, flags); out of range → IE.
fn to_int(v: F80, rc: u8, width: usize) -> (Option<i64>, Flags) {
    match v.class() {
        Class::Unsupported | Class::QNan | Class::SNan | Class::Inf => return (None, SW_IE),
        _ => {}
    }
    let x = to_x(v);
    let r = x.round_to_integral(round_mode(rc)).value;
    let mut exact = false;
    let n = r.to_i128_r(width, rustc_apfloat::Round::TowardZero, &mut exact);
    if n.status.contains(Status::INVALID_OP) {
        return (None, SW_IE);
    }
    let mut f = 0;
    if r.bitwise_eq(x) || (r.is_zero() && x.is_zero()) {
        return (Some(n.value as i64), 0);
    }
    f |= SW_PE;
    if r.abs() > x.abs() {
        f |= SW_C1;
    }
    (Some(n.value as i64), f)
}

fn fist<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    enter(c, true)?;
    let f = &c.s.fpu;
    let len = d.i.memory_size().size() as u32;
    let (v, mut flags) = if f.is_empty(0) {
        (None, UNDERFLOW)
    } else {
        to_int(f.st(0), f.rc(), 8 * len as usize)
    };
    if f.is_empty(0) {
        flags = UNDERFLOW;
    }
    let indefinite = 1i64 << (8 * len - 1);
    let blocked = flags & !f.cw & SW_IE != 0;
    if !blocked {
        probe(c, bus, d, len)?;
        write_mem(c, bus, d, 0, len, v.unwrap_or(indefinite) as u64 as u128)?;
    }
    note_ip(c, d, true);
    let f = &mut c.s.fpu;
    apply(f, flags);
    if !blocked && d.i.mnemonic() == M::Fistp {
        f.pop();
    }
    Ok(())
}

fn fld_const<B: Bus>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    enter(c, true)?;
    note_ip(c, d, false);
    let f = &mut c.s.fpu;
    let rc = f.rc();
    // Intel keeps these constants with extra bits and rounds them by RC (not PC).
    let down = rc == 1 || rc == 3;
    let (se, sig) = match d.i.mnemonic() {
        M::Fld1 => (0x3fff, 1u64 << 63),
        M::Fldz => (0, 0),
        M::Fldl2t => (0x4000, 0xd49a_784b_cd1b_8afe + (rc == 2) as u64),
        M::Fldl2e => (0x3fff, 0xb8aa_3b29_5c17_f0bc - down as u64),
        M::Fldpi => (0x4000, 0xc90f_daa2_2168_c235 - down as u64),
        M::Fldlg2 => (0x3ffd, 0x9a20_9a84_fbcf_f799 - down as u64),
        _ => (0x3ffe, 0xb172_17f7_d1cf_79ac - down as u64),
    };
    let (v, flags) = if f.is_empty(7) {
        (F80 { sig, se }, 0)
    } else {
        (F80::INDEFINITE, OVERFLOW)
    };
    if apply(f, flags) {
        f.push(v);
    }
    Ok(())
}

fn fxch<B: Bus>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    enter(c, true)?;
    note_ip(c, d, false);
    let i = st_op(d, 1).or_else(|| st_op(d, 0)).unwrap_or(1);
    let f = &mut c.s.fpu;
    let (e0, ei) = (f.is_empty(0), f.is_empty(i));
    let flags = if e0 || ei { UNDERFLOW } else { 0 };
    if apply(f, flags) {
        let a = if e0 { F80::INDEFINITE } else { f.st(0) };
        let b = if ei { F80::INDEFINITE } else { f.st(i) };
        f.set_st(0, b);
        f.set_st(i, a);
    }
    Ok(())
}

fn fchs_fabs<B: Bus>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    enter(c, true)?;
    note_ip(c, d, false);
    let f = &mut c.s.fpu;
    if f.is_empty(0) {
        if apply(f, UNDERFLOW) {
            f.set_st(0, F80::INDEFINITE);
        }
        return Ok(());
    }
    let mut v = f.st(0);
    if d.i.mnemonic() == M::Fchs {
        v.se ^= 0x8000;
    } else {
        v.se &= 0x7fff;
    }
    apply(f, 0);
    f.set_st(0, v);
    Ok(())
}

fn ffree<B: Bus>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    enter(c, true)?;
    note_ip(c, d, false);
    let i = st_op(d, 0).unwrap_or(0);
    c.s.fpu.free(i);
    // FFREEP (DF C0+i, undocumented) also pops.
    if d.i.mnemonic() == M::Ffreep {
        c.s.fpu.top = (c.s.fpu.top + 1) & 7;
    }
    Ok(())
}

fn fincdec<B: Bus>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    enter(c, true)?;
    note_ip(c, d, false);
    let f = &mut c.s.fpu;
    f.top = if d.i.mnemonic() == M::Fincstp {
        (f.top + 1) & 7
    } else {
        (f.top + 7) & 7
    };
    f.sw &= !SW_C1;
    Ok(())
}

/// FBLD: 18 packed BCD digits plus a sign byte; invalid digits are undefined on Intel
/// and here simply weighted as given.
fn fbld<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    enter(c, true)?;
    let raw = read_mem(c, bus, d, 0, 10)?;
    note_ip(c, d, true);
    let mut n: i64 = 0;
    for i in (0..9).rev() {
        let byte = (raw >> (8 * i)) as u8;
        n = n * 100 + (byte >> 4) as i64 * 10 + (byte & 15) as i64;
    }
    let mut v = from_int(n);
    if raw >> 79 != 0 {
        v.se |= 0x8000;
    }
    let f = &mut c.s.fpu;
    let (v, flags) = if f.is_empty(7) {
        (v, 0)
    } else {
        (F80::INDEFINITE, OVERFLOW)
    };
    if apply(f, flags) {
        f.push(v);
    }
    Ok(())
}

/// FBSTP: round by RC to an 18-digit integer; out of range or NaN stores the packed BCD
/// indefinite (masked IE).
fn fbstp<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    enter(c, true)?;
    let f = &c.s.fpu;
    let (v, mut flags) = if f.is_empty(0) {
        (None, UNDERFLOW)
    } else {
        to_int(f.st(0), f.rc(), 64)
    };
    let v = v.filter(|n| n.unsigned_abs() < 1_000_000_000_000_000_000);
    if v.is_none() && flags & SW_IE == 0 {
        flags = SW_IE;
    }
    let image = match v {
        Some(n) => {
            let mut a = n.unsigned_abs();
            let mut out = 0u128;
            for i in 0..9 {
                let lo = a % 10;
                let hi = (a / 10) % 10;
                a /= 100;
                out |= ((hi << 4 | lo) as u128) << (8 * i);
            }
            if c.s.fpu.st(0).sign() {
                out |= 1 << 79;
            }
            out
        }
        None => 0xffff_c000_0000_0000_0000,
    };
    let blocked = flags & !c.s.fpu.cw & SW_IE != 0;
    if !blocked {
        probe(c, bus, d, 10)?;
        write_mem(c, bus, d, 0, 10, image)?;
    }
    note_ip(c, d, true);
    let f = &mut c.s.fpu;
    apply(f, flags);
    if !blocked {
        f.pop();
    }
    Ok(())
}

//! Arithmetic: the six basic operations in all their forms, FSQRT, FRNDINT, FSCALE,
//! FXTRACT, FPREM and FPREM1.

use iced_x86::Mnemonic as M;
use rustc_apfloat::{Float, Round};

use super::float::*;
use super::state::*;
use super::*;

pub fn handler<B: Bus>(m: M, _d: &DecodedInsn) -> Option<Handler<B>> {
    Some(match m {
        M::Fadd | M::Faddp | M::Fiadd => basic::<B, 0>,
        M::Fsub | M::Fsubp | M::Fisub => basic::<B, 1>,
        M::Fsubr | M::Fsubrp | M::Fisubr => basic::<B, 2>,
        M::Fmul | M::Fmulp | M::Fimul => basic::<B, 3>,
        M::Fdiv | M::Fdivp | M::Fidiv => basic::<B, 4>,
        M::Fdivr | M::Fdivrp | M::Fidivr => basic::<B, 5>,
        M::Fsqrt => unary::<B, 0>,
        M::Frndint => unary::<B, 1>,
        M::Fscale => fscale::<B>,
        M::Fxtract => fxtract::<B>,
        M::Fprem => fprem::<B, false>,
        M::Fprem1 => fprem::<B, true>,
        _ => return None,
    })
}

/// OP: 0 add, 1 sub, 2 subr, 3 mul, 4 div, 5 divr.
fn basic<B: Bus, const OP: u8>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    enter(c, true)?;
    let m = d.i.mnemonic();
    let pop = matches!(
        m,
        M::Faddp | M::Fsubp | M::Fsubrp | M::Fmulp | M::Fdivp | M::Fdivrp
    );
    // Destination ST(di); sources: destination and ST(si) or the memory operand.
    let (di, src, de, empty) = if crate::interp::has_mem(d) {
        let (v, de) = load_operand(c, bus, d)?;
        (0u8, v, de, false)
    } else {
        let di = st_op(d, 0).unwrap_or(1);
        let si = st_op(d, 1).unwrap_or(0);
        (di, c.s.fpu.st(si), 0, c.s.fpu.is_empty(si))
    };
    note_ip(c, d, crate::interp::has_mem(d));
    let f = &mut c.s.fpu;
    let empty = empty || f.is_empty(di);
    let dst = f.st(di);
    let cw = f.cw;
    let (v, flags) = if empty {
        (F80::INDEFINITE, UNDERFLOW)
    } else {
        let (a, b, op) = match OP {
            0 => (dst, src, Op::Add),
            1 => (dst, src, Op::Sub),
            2 => (src, dst, Op::Sub),
            3 => (dst, src, Op::Mul),
            4 => (dst, src, Op::Div),
            _ => (src, dst, Op::Div),
        };
        let (v, fl) = binop(op, a, b, cw);
        // A denormal m32/m64 operand was normalized on load; it still signals DE,
        // unless a NaN, an invalid operation or a zero divide decides the result.
        let nan = a.is_nan() || b.is_nan() || a.class() == Class::Unsupported;
        let nan = nan || b.class() == Class::Unsupported;
        let fl = if fl & (SW_IE | SW_ZE) == 0 && !nan {
            fl | de
        } else {
            fl
        };
        (v, fl)
    };
    if apply(f, flags) {
        f.set_st(di, v);
        if pop {
            f.pop();
        }
    }
    Ok(())
}

/// Integer square root of a u128.
fn isqrt(n: u128) -> u128 {
    if n == 0 {
        return 0;
    }
    let mut x = (n as f64).sqrt() as u128;
    while x * x > n {
        x -= 1;
    }
    while (x + 1) * (x + 1) <= n {
        x += 1;
    }
    x
}

/// Square root: exact to 64+ bits plus sticky, then one rounding.
fn sqrt(v: F80, cw: u16) -> (F80, Flags) {
    match v.class() {
        Class::Unsupported => return (F80::INDEFINITE, SW_IE),
        Class::SNan => return (v.quiet(), SW_IE),
        Class::QNan | Class::Zero => return (v, 0),
        _ if v.sign() => return (F80::INDEFINITE, SW_IE),
        Class::Inf => return (v, 0),
        _ => {}
    }
    let de = denormal_flag(&[v]);
    // value = sig * 2^(e - 16383 - 63); make the power even and the radicand ~127 bits.
    let lz = v.sig.leading_zeros() as i32;
    let sig = (v.sig << lz) as u128;
    let mut e = v.exp().max(1) as i32 - 16383 - 63 - lz;
    let mut n = sig << 62;
    e -= 62;
    if e & 1 != 0 {
        n <<= 1;
        e -= 1;
    }
    let r0 = isqrt(n);
    // Four more root bits (68 in all, enough for round-to-odd): the largest d with
    // (16 r0 + d)^2 <= 256 n, i.e. 32 r0 d + d^2 <= 256 (n - r0^2).
    let rem = (n - r0 * r0) << 8;
    let mut dd = 15u128;
    while 32 * r0 * dd + dd * dd > rem {
        dd -= 1;
    }
    let r = 16 * r0 + dd;
    let sticky = rem != 32 * r0 * dd + dd * dd;
    let w = W::from_u128(r).value.scalbn(e / 2 - 4);
    let w = if sticky {
        W::from_bits(w.to_bits() | 1)
    } else {
        w
    };
    let (x, f) = round_cw(w, cw);
    (x, f | de)
}

fn frndint(v: F80, rc: u8) -> (F80, Flags) {
    match v.class() {
        Class::Unsupported => return (F80::INDEFINITE, SW_IE),
        Class::SNan => return (v.quiet(), SW_IE),
        Class::QNan | Class::Zero | Class::Inf => return (v, 0),
        _ => {}
    }
    let de = denormal_flag(&[v]);
    let x = to_x(v);
    let r = x.round_to_integral(round_mode(rc)).value;
    let mut f = de;
    if !r.bitwise_eq(x) {
        f |= SW_PE;
        if r.abs() > x.abs() {
            f |= SW_C1;
        }
    }
    (from_x(r), f)
}

fn unary<B: Bus, const OP: u8>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    enter(c, true)?;
    note_ip(c, d, false);
    let f = &mut c.s.fpu;
    let (v, flags) = if f.is_empty(0) {
        (F80::INDEFINITE, UNDERFLOW)
    } else if OP == 0 {
        sqrt(f.st(0), f.cw)
    } else {
        frndint(f.st(0), f.rc())
    };
    if apply(f, flags) {
        f.set_st(0, v);
    }
    Ok(())
}

fn fscale<B: Bus>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    enter(c, true)?;
    note_ip(c, d, false);
    let f = &mut c.s.fpu;
    let (a, b) = (f.st(0), f.st(1));
    let (v, flags) = if f.is_empty(0) || f.is_empty(1) {
        (F80::INDEFINITE, UNDERFLOW)
    } else if let Err(r) = check_nan2(a, b) {
        r
    } else {
        scale(a, b, f.cw)
    };
    if apply(f, flags) {
        f.set_st(0, v);
    }
    Ok(())
}

fn scale(a: F80, b: F80, cw: u16) -> (F80, Flags) {
    let (ca, cb) = (a.class(), b.class());
    let de = denormal_flag(&[a, b]);
    if cb == Class::Inf {
        // 0 * 2^+inf and inf * 2^-inf are invalid; otherwise the limit.
        return match (ca, b.sign()) {
            (Class::Zero, false) | (Class::Inf, true) => (F80::INDEFINITE, SW_IE),
            (Class::Zero, true) | (Class::Inf, false) => (a, de),
            (_, false) => (
                F80 {
                    sig: 1 << 63,
                    se: (a.se & 0x8000) | 0x7fff,
                },
                de,
            ),
            (_, true) => (
                F80 {
                    sig: 0,
                    se: a.se & 0x8000,
                },
                de,
            ),
        };
    }
    if matches!(ca, Class::Zero | Class::Inf) {
        return (a, de);
    }
    let n = to_x(b).round_to_integral(Round::TowardZero).value;
    let mut exact = false;
    let k = n
        .to_i128_r(32, Round::TowardZero, &mut exact)
        .value
        .clamp(-70000, 70000) as i32;
    let w = to_w(a).scalbn(k);
    // FSCALE is exact apart from over/underflow: precision control does not apply.
    let (v, fl) = round_cw(w, cw | 0x300);
    (v, fl | de)
}

fn fxtract<B: Bus>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    enter(c, true)?;
    note_ip(c, d, false);
    let f = &mut c.s.fpu;
    let v = f.st(0);
    let (e, s, flags) = if f.is_empty(0) {
        (F80::INDEFINITE, F80::INDEFINITE, UNDERFLOW)
    } else if !f.is_empty(7) {
        (F80::INDEFINITE, F80::INDEFINITE, OVERFLOW)
    } else {
        match v.class() {
            Class::Unsupported => (F80::INDEFINITE, F80::INDEFINITE, SW_IE),
            Class::SNan | Class::QNan => {
                let fl = if v.class() == Class::SNan { SW_IE } else { 0 };
                (v.quiet(), v.quiet(), fl)
            }
            Class::Zero => (
                F80 {
                    sig: 1 << 63,
                    se: 0xffff,
                },
                v,
                SW_ZE,
            ),
            Class::Inf => (
                F80 {
                    sig: 1 << 63,
                    se: 0x7fff,
                },
                v,
                0,
            ),
            _ => {
                let lz = v.sig.leading_zeros() as i32;
                let e = v.exp().max(1) as i32 - 16383 - lz;
                let sig = F80 {
                    sig: v.sig << lz,
                    se: (v.se & 0x8000) | 16383,
                };
                (
                    super::loadstore::from_int(e as i64),
                    sig,
                    denormal_flag(&[v]),
                )
            }
        }
    };
    if apply(f, flags) {
        if flags & SW_SF != 0 && flags & SW_C1 != 0 {
            // Overflow: masked response pushes an indefinite.
            f.push(F80::INDEFINITE);
        } else {
            f.set_st(0, e);
            f.push(s);
        }
    }
    Ok(())
}

/// Exact partial remainder on significands: returns (remainder sign, |r| as W, q low
/// bits, complete?).
fn fprem<B: Bus, const IEEE: bool>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    enter(c, true)?;
    note_ip(c, d, false);
    let f = &mut c.s.fpu;
    let (a, b) = (f.st(0), f.st(1));
    let (mut v, flags, mut cc);
    v = F80::INDEFINITE;
    cc = f.sw & SW_CC;
    if f.is_empty(0) || f.is_empty(1) {
        flags = UNDERFLOW;
    } else if let Err((r, fl)) = check_nan2(a, b) {
        flags = fl;
        v = r;
    } else {
        let (ca, cb) = (a.class(), b.class());
        let de = denormal_flag(&[a, b]);
        if ca == Class::Inf || cb == Class::Zero {
            flags = SW_IE;
        } else if ca == Class::Zero || cb == Class::Inf {
            v = a;
            flags = de;
            cc = 0;
        } else {
            let (r, q, done) = remainder(a, b, IEEE);
            let (x, fl) = round_w(r, 3, f.rc());
            v = x;
            flags = (fl & SW_UE) | de;
            cc = if done {
                // Q2→C0, Q1→C3, Q0→C1.
                (if q & 4 != 0 { SW_C0 } else { 0 })
                    | (if q & 2 != 0 { SW_C3 } else { 0 })
                    | (if q & 1 != 0 { SW_C1 } else { 0 })
            } else {
                SW_C2
            };
        }
    }
    if apply(f, flags | (cc & SW_C1)) {
        f.set_cc(cc);
        f.set_st(0, v);
    }
    Ok(())
}

/// (normalized significand, unbiased exponent of its integer bit).
fn norm(v: F80) -> (u64, i32) {
    let lz = v.sig.leading_zeros() as i32;
    (v.sig << lz, v.exp().max(1) as i32 - 16383 - lz)
}

/// Remainder of finite nonzero a by b: (exact result, low quotient bits, complete).
/// Exponent differences of 64 or more are reduced by 32-63 bits per step (the AMD-
/// documented choice Intel also follows).
fn remainder(a: F80, b: F80, ieee: bool) -> (W, u64, bool) {
    let (ma, ea) = norm(a);
    let (mb, eb) = norm(b);
    let diff = ea - eb;
    let partial = diff >= 64;
    let (shift, round_near) = if partial {
        (32 + (diff - 64) % 32, false)
    } else {
        (diff, ieee)
    };
    // a = ma * 2^(ea-63); b' = mb * 2^(ea - shift - 63).
    let (num, den, scale_e) = if shift >= 0 {
        ((ma as u128) << shift, mb as u128, ea - shift - 63)
    } else if shift == -1 {
        ((ma as u128), (mb as u128) << 1, ea - 63)
    } else {
        // |a| < |b|/2: nothing to subtract.
        return (to_w(a), 0, true);
    };
    let mut q = num / den;
    let mut r = num % den;
    let mut neg = false;
    if round_near && (2 * r > den || (2 * r == den && q & 1 == 1)) {
        q += 1;
        r = den - r;
        neg = true;
    }
    let mut w = W::from_u128(r).value.scalbn(scale_e);
    if a.sign() != neg {
        w = -w;
    }
    if r == 0 {
        // Exact zero keeps the dividend's sign.
        w = if a.sign() { -W::ZERO } else { W::ZERO };
    }
    (w, q as u64, !partial)
}

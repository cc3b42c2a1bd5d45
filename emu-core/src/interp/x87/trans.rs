//! Transcendental instructions: F2XM1, FYL2X, FYL2XP1, FPTAN, FPATAN, FSIN, FCOS,
//! FSINCOS.
//!
//! Each function is evaluated in the 100-bit `W` format (series with round-to-odd
//! steps, far more precise than the result) and rounded once to 64 bits by RC;
//! precision control does not apply. FSIN/FCOS/FSINCOS/FPTAN reduce the argument by
//! pi rounded down to 66 bits, as the hardware does (so for x near a multiple of pi the
//! result follows the hardware, not the true function). The results are therefore the
//! correctly rounded values of the functions the hardware approximates.
//!
//! Real FPUs evaluate these in microcode with about 68 bits, so when the exact value
//! lies within a small fraction of an ulp of a rounding boundary (measured on an AMD
//! Zen 3 host over 700,000 operands: up to 0.19 ulp for F2XM1, 0.13 for FYL2XP1 and
//! FPTAN, 0.1 for FYL2X and FPATAN, 0.04 for FSIN/FCOS/FSINCOS) the hardware's
//! result or C1 can differ from the correctly rounded one by one unit, in about 2 % of
//! random operands; the microcode's own algorithm is unpublished, so those cases
//! cannot be matched. `rounding_positions` lets the host differential test
//! recognise them. Everything else (special operands, flags including PE and UE,
//! C1 of the rest, the out-of-domain responses) follows the hardware exactly.

use iced_x86::Mnemonic as M;
use rustc_apfloat::{Float, FloatConvert, Round};

use super::float::*;
use super::state::*;
use super::*;

pub fn handler<B: Bus>(m: M, _d: &DecodedInsn) -> Option<Handler<B>> {
    Some(match m {
        M::F2xm1 => f2xm1::<B>,
        M::Fyl2x => fyl2x::<B, false>,
        M::Fyl2xp1 => fyl2x::<B, true>,
        M::Fpatan => fpatan::<B>,
        M::Fsin => trig::<B, 0>,
        M::Fcos => trig::<B, 1>,
        M::Fsincos => trig::<B, 2>,
        M::Fptan => trig::<B, 3>,
        _ => return None,
    })
}

const PI_BITS: u128 = 0xc90f_daa2_2168_c234_c4c6_628b_80dc_1cd1; // pi * 2^126
const LN2_BITS: u128 = 0xb172_17f7_d1cf_79ab_c9e3_b398_03f2_f6af; // ln 2 * 2^128

fn w(v: u128, e: i32) -> W {
    W::from_u128(v).value.scalbn(e)
}
fn pi() -> W {
    w(PI_BITS, -126)
}
fn ln2() -> W {
    w(LN2_BITS, -128)
}
fn one() -> W {
    W::from_u128(1).value
}
// Intermediate steps round to odd, so a correction far below the last place (sin x =
// x - x³/6 for tiny x) still steers the final directed rounding the right way.
fn add(a: W, b: W) -> W {
    jam(a.add_r(b, Round::TowardZero))
}
fn sub(a: W, b: W) -> W {
    jam(a.sub_r(b, Round::TowardZero))
}
fn mul(a: W, b: W) -> W {
    jam(a.mul_r(b, Round::TowardZero))
}
fn div(a: W, b: W) -> W {
    jam(a.div_r(b, Round::TowardZero))
}
fn small(t: W) -> bool {
    t.is_zero() || t.ilogb() < -110
}

/// e^y - 1 by Taylor series (|y| up to about 1).
fn expm1(y: W) -> W {
    let mut term = y;
    let mut sum = y;
    for n in 2..80u128 {
        term = div(mul(term, y), W::from_u128(n).value);
        sum = add(sum, term);
        if small(term) {
            break;
        }
    }
    sum
}

/// 2 atanh(t) = ln((1+t)/(1-t)), for |t| well below 1.
fn atanh2(t: W) -> W {
    let t2 = mul(t, t);
    let mut p = t;
    let mut sum = t;
    for k in 1..200u128 {
        p = mul(p, t2);
        let term = div(p, W::from_u128(2 * k + 1).value);
        sum = add(sum, term);
        if small(term) {
            break;
        }
    }
    sum.scalbn(1)
}

/// log2 of a finite positive value.
fn log2(x: W) -> W {
    // x = m 2^e with m in [sqrt(1/2), sqrt(2)).
    let mut e = x.ilogb();
    let mut m = x.scalbn(-e);
    if m > w(0xb504_f333_f9de_6484_597d_89b3_754a_be9f, -127) {
        m = m.scalbn(-1);
        e += 1;
    }
    let t = div(sub(m, one()), add(m, one()));
    add(W::from_i128(e as i128).value, div(atanh2(t), ln2()))
}

/// log2(1 + x) for x > -1, without forming 1 + x when |x| is small.
fn log2p1(x: W) -> W {
    if x.is_zero() || x.abs().ilogb() < -2 {
        let t = div(x, add(W::from_u128(2).value, x));
        div(atanh2(t), ln2())
    } else {
        log2(add(one(), x))
    }
}

/// atan(x) for 0 <= x <= 1 (Euler's series, converging as (x²/(1+x²))^n).
fn atan01(x: W) -> W {
    let x2 = mul(x, x);
    let q = div(x2, add(one(), x2));
    let mut term = div(x, add(one(), x2));
    let mut sum = term;
    for n in 1..400u128 {
        term = mul(
            term,
            div(
                mul(q, W::from_u128(2 * n).value),
                W::from_u128(2 * n + 1).value,
            ),
        );
        sum = add(sum, term);
        if small(term) {
            break;
        }
    }
    sum
}

/// (sin r, cos r) for |r| <= pi/4.
fn sincos_small(r: W) -> (W, W) {
    let r2 = mul(r, r);
    let (mut s, mut c) = (r, one());
    let (mut ts, mut tc) = (r, one());
    for n in 1..60u128 {
        ts = -div(mul(ts, r2), W::from_u128((2 * n) * (2 * n + 1)).value);
        tc = -div(mul(tc, r2), W::from_u128((2 * n - 1) * (2 * n)).value);
        s = add(s, ts);
        c = add(c, tc);
        if small(ts) && small(tc) {
            break;
        }
    }
    (s, c)
}

/// x = k pi/2 + r with |r| <= pi/4 (Cody-Waite with pi/2 in 36-bit pieces): returns
/// (r, k mod 4). Like Intel's microcode this reduces by pi rounded to 66 bits, so the
/// results match the hardware (including its loss of accuracy for large |x|).
fn reduce(x: W) -> (W, u32) {
    let half_pi = pi().scalbn(-1);
    let k = div(x, half_pi)
        .round_to_integral(Round::NearestTiesToEven)
        .value;
    let mut exact = false;
    let kq = k.to_i128_r(80, Round::TowardZero, &mut exact).value;
    // pi/2 = PI_BITS * 2^-127; pieces of 36 bits from the top.
    let mut r = x;
    let mut rest = PI_BITS & !((1u128 << 62) - 1);
    for i in 0..3 {
        let sh = 128 - 36 * (i + 1);
        let piece = (rest >> sh) << sh;
        rest -= piece;
        r = sub(r, mul(k, w(piece, -127)));
    }
    r = sub(r, mul(k, w(rest, -127)));
    (r, (kq & 3) as u32)
}

/// Round a W result to the register format: 64 bits by RC (precision control does not
/// apply), the unmasked overflow/underflow responses of the control word, PE always (the
/// hardware reports every computed result as inexact, exact ones included) and so UE
/// for every tiny result.
fn out(v: W, cw: u16) -> (F80, Flags) {
    let (x, f) = round_cw(v, cw | 0x300);
    let tiny = !v.is_zero() && x.exp() == 0;
    (x, f | SW_PE | if tiny { SW_UE } else { 0 })
}

/// Common operand screening for one-operand functions: Err = (result, flags) decided.
fn screen(v: F80) -> core::result::Result<(), (F80, Flags)> {
    match v.class() {
        Class::Unsupported => Err((F80::INDEFINITE, SW_IE)),
        Class::SNan => Err((v.quiet(), SW_IE)),
        Class::QNan => Err((v, 0)),
        _ => Ok(()),
    }
}

const ONE: F80 = F80 {
    sig: 1 << 63,
    se: 0x3fff,
};

fn inf(neg: bool) -> F80 {
    F80 {
        sig: 1 << 63,
        se: 0x7fff | (neg as u16) << 15,
    }
}

fn zero(neg: bool) -> F80 {
    F80 {
        sig: 0,
        se: (neg as u16) << 15,
    }
}

/// A computed result: the register value, its flags, and the precise value it was
/// rounded from (None when the result is exact by definition).
type Val = (F80, Flags, Option<W>);

fn exact(r: F80, f: Flags) -> Val {
    (r, f, None)
}

fn rounded(w: W, cw: u16) -> Val {
    let (r, f) = out(w, cw);
    (r, f, Some(w))
}

/// F2XM1 of a non-empty ST(0).
fn f2xm1_val(v: F80, cw: u16) -> Val {
    if let Err((r, f)) = screen(v) {
        return exact(r, f);
    }
    match v.class() {
        Class::Zero => exact(v, 0),
        Class::Inf if v.sign() => exact(
            F80 {
                sig: 1 << 63,
                se: 0xbfff,
            },
            0,
        ),
        Class::Inf => exact(v, 0),
        // Outside [-1, 1] the result is undefined; the hardware returns the operand
        // unchanged and reports PE.
        _ if v.exp() >= 0x3fff && !(v.exp() == 0x3fff && v.sig == 1 << 63) => exact(v, SW_PE),
        _ => {
            let (r, f, w) = rounded(expm1(mul(to_w(v), ln2())), cw);
            (r, f | denormal_flag(&[v]), w)
        }
    }
}

/// FYL2X (`P1` false: ST(1) * log2(ST(0))) or FYL2XP1 (ST(1) * log2(ST(0) + 1)) of
/// non-empty registers: x = ST(0), y = ST(1).
fn fyl2x_val(x: F80, y: F80, cw: u16, p1: bool) -> Val {
    if let Err((r, f)) = check_nan2(x, y) {
        return exact(r, f);
    }
    let de = denormal_flag(&[x, y]);
    let (cx, cy) = (x.class(), y.class());
    let arg = to_w(x);
    if cx == Class::Inf && x.sign() {
        return exact(F80::INDEFINITE, SW_IE);
    }
    if p1 && arg <= -one() {
        // Undefined (below -1 there is no logarithm): the hardware treats log2(1 + x)
        // as a negative number, so a zero or infinite ST(1) gives a zero or infinity
        // of the opposite sign, and any other ST(1) gives ST(0) itself, inexact.
        return match cy {
            Class::Zero => exact(zero(!y.sign()), de),
            Class::Inf => exact(inf(!y.sign()), de),
            _ => exact(x, de | SW_PE),
        };
    }
    if !p1 && x.sign() && cx != Class::Zero {
        return exact(F80::INDEFINITE, SW_IE);
    }
    if !p1 && cx == Class::Zero {
        return match cy {
            Class::Zero => exact(F80::INDEFINITE, SW_IE),
            Class::Inf => exact(inf(!y.sign()), 0),
            // A denormal ST(1) is not reported: the zero decides first.
            _ => exact(inf(!y.sign()), SW_ZE),
        };
    }
    if cx == Class::Inf {
        return match cy {
            Class::Zero => exact(F80::INDEFINITE, SW_IE),
            _ => exact(inf(y.sign()), de),
        };
    }
    let l = if p1 { log2p1(arg) } else { log2(arg) };
    if l.is_zero() {
        return if cy == Class::Inf {
            exact(F80::INDEFINITE, SW_IE)
        } else {
            // log2(1 + ±0) = ±0, log2(1) = +0: the product's sign.
            let s = if p1 { x.sign() ^ y.sign() } else { y.sign() };
            exact(zero(s), de)
        };
    }
    match cy {
        Class::Inf => exact(inf(y.sign() ^ l.is_negative()), de),
        // A zero ST(1) gives an exact zero: no PE.
        Class::Zero => exact(zero(y.sign() ^ l.is_negative()), de),
        _ => {
            let (r, f, w) = rounded(mul(to_w(y), l), cw);
            (r, f | de, w)
        }
    }
}

/// FPATAN of non-empty registers: the angle of (x, y) = (ST(0), ST(1)).
fn fpatan_val(x: F80, y: F80, cw: u16) -> Val {
    if let Err((r, f)) = check_nan2(x, y) {
        return exact(r, f);
    }
    let de = denormal_flag(&[x, y]);
    let (cx, cy) = (x.class(), y.class());
    let p = pi();
    // Angle of (x, |y|) in [0, pi]; the sign of y is applied at the end.
    let a = if cy == Class::Zero {
        if x.sign() {
            p
        } else {
            W::ZERO
        }
    } else if cx == Class::Inf && cy == Class::Inf {
        if x.sign() {
            mul(p, w(3, -2))
        } else {
            p.scalbn(-2)
        }
    } else if cy == Class::Inf || cx == Class::Zero {
        p.scalbn(-1)
    } else if cx == Class::Inf {
        if x.sign() {
            p
        } else {
            W::ZERO
        }
    } else {
        let (ax, ay) = (to_w(x).abs(), to_w(y).abs());
        let t = if ay <= ax {
            atan01(div(ay, ax))
        } else {
            sub(p.scalbn(-1), atan01(div(ax, ay)))
        };
        if x.sign() {
            sub(p, t)
        } else {
            t
        }
    };
    let a = if y.sign() { -a } else { a };
    if a.is_zero() {
        exact(zero(y.sign()), de)
    } else {
        let (r, f, w) = rounded(a, cw);
        (r, f | de, w)
    }
}

/// Outcome of FSIN/FCOS/FSINCOS/FPTAN on a non-empty ST(0) (with room to push).
enum Trig {
    /// |x| >= 2^63: C2=1, nothing else changes.
    OutOfRange,
    /// ST(0) := a, then (FSINCOS, FPTAN) push b.
    Done { a: Val, b: Val, flags: Flags },
}

/// OP: 0 FSIN, 1 FCOS, 2 FSINCOS, 3 FPTAN.
fn trig_val(op: u8, v: F80, cw: u16) -> Trig {
    let done = |r: F80, f: Flags| Trig::Done {
        a: exact(r, f),
        b: exact(r, f),
        flags: f,
    };
    if let Err((r, f)) = screen(v) {
        return done(r, f);
    }
    match v.class() {
        Class::Inf => return done(F80::INDEFINITE, SW_IE),
        Class::Zero => {
            let (a, b) = match op {
                1 => (ONE, v),
                2 | 3 => (v, ONE),
                _ => (v, v),
            };
            return Trig::Done {
                a: exact(a, 0),
                b: exact(b, 0),
                flags: 0,
            };
        }
        _ if v.exp() >= 16383 + 63 => return Trig::OutOfRange,
        _ => {}
    }
    let de = denormal_flag(&[v]);
    let (r, q) = reduce(to_w(v));
    let (s, co) = sincos_small(r);
    let (sin, cos) = match q {
        0 => (s, co),
        1 => (co, -s),
        2 => (-s, -co),
        _ => (-co, s),
    };
    let a = match op {
        1 => rounded(cos, cw),
        // Tiny r: tan r = r + r³/3 directly (sin/cos would lose the direction of the
        // correction to rounding-to-odd in both).
        3 if q == 0 && !r.is_zero() && r.ilogb() < -40 => {
            rounded(add(r, div(mul(mul(r, r), r), W::from_u128(3).value)), cw)
        }
        3 => rounded(div(sin, cos), cw),
        _ => rounded(sin, cw),
    };
    let b = match op {
        2 => rounded(cos, cw),
        _ => exact(ONE, 0),
    };
    // FSINCOS reports C1 for the sine (the value underneath), the flags of both.
    let flags = ((a.1 | b.1) & !SW_C1 | a.1 & SW_C1) | de;
    Trig::Done { a, b, flags }
}

fn f2xm1<B: Bus>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    enter(c, true)?;
    note_ip(c, d, false);
    let f = &mut c.s.fpu;
    let (r, flags) = if f.is_empty(0) {
        (F80::INDEFINITE, UNDERFLOW)
    } else {
        let (r, fl, _) = f2xm1_val(f.st(0), f.cw);
        (r, fl)
    };
    if apply(f, flags) {
        f.set_st(0, r);
    }
    Ok(())
}

fn fyl2x<B: Bus, const P1: bool>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    enter(c, true)?;
    note_ip(c, d, false);
    let f = &mut c.s.fpu;
    let (r, flags) = if f.is_empty(0) || f.is_empty(1) {
        (F80::INDEFINITE, UNDERFLOW)
    } else {
        let (r, fl, _) = fyl2x_val(f.st(0), f.st(1), f.cw, P1);
        (r, fl)
    };
    if apply(f, flags) {
        f.set_st(1, r);
        f.pop();
    }
    Ok(())
}

fn fpatan<B: Bus>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    enter(c, true)?;
    note_ip(c, d, false);
    let f = &mut c.s.fpu;
    let (r, flags) = if f.is_empty(0) || f.is_empty(1) {
        (F80::INDEFINITE, UNDERFLOW)
    } else {
        let (r, fl, _) = fpatan_val(f.st(0), f.st(1), f.cw);
        (r, fl)
    };
    if apply(f, flags) {
        f.set_st(1, r);
        f.pop();
    }
    Ok(())
}

/// OP: 0 FSIN, 1 FCOS, 2 FSINCOS, 3 FPTAN. |x| >= 2^63 sets C2 and leaves ST(0).
fn trig<B: Bus, const OP: u8>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    enter(c, true)?;
    note_ip(c, d, false);
    let f = &mut c.s.fpu;
    let pushes = OP >= 2;
    let (a, b, flags) = if f.is_empty(0) || (pushes && !f.is_empty(7)) {
        let fl = if f.is_empty(0) { UNDERFLOW } else { OVERFLOW };
        (F80::INDEFINITE, F80::INDEFINITE, fl)
    } else {
        match trig_val(OP, f.st(0), f.cw) {
            Trig::OutOfRange => {
                f.sw |= SW_C2;
                return Ok(());
            }
            Trig::Done { a, b, flags } => (a.0, b.0, flags),
        }
    };
    if apply(f, flags) {
        f.sw &= !SW_C2;
        f.set_st(0, a);
        if pushes {
            f.push(b);
        }
    }
    Ok(())
}

/// For the host differential test: where the precise results of a transcendental lie
/// between the two 64-bit values around them. For each register the instruction
/// writes, in the order ST(0), ST(1) after it, `Some(p)` with `p` in [0, 1): the
/// distance of the precise value's magnitude above the next smaller representable
/// magnitude, in units of the last place; `None` where the result is exact by
/// definition. Operands are finite or special register values (no stack faults), the
/// control word is `cw`.
#[doc(hidden)]
pub fn rounding_positions(m: M, st0: F80, st1: F80, cw: u16) -> [Option<f64>; 2] {
    let pos = |v: &Val| v.2.map(position);
    match m {
        M::F2xm1 => [pos(&f2xm1_val(st0, cw)), None],
        M::Fyl2x => [pos(&fyl2x_val(st0, st1, cw, false)), None],
        M::Fyl2xp1 => [pos(&fyl2x_val(st0, st1, cw, true)), None],
        M::Fpatan => [pos(&fpatan_val(st0, st1, cw)), None],
        M::Fsin | M::Fcos | M::Fsincos | M::Fptan => {
            let op = match m {
                M::Fsin => 0,
                M::Fcos => 1,
                M::Fsincos => 2,
                _ => 3,
            };
            match trig_val(op, st0, cw) {
                Trig::OutOfRange => [None, None],
                Trig::Done { a, b, .. } if op >= 2 => [pos(&b), pos(&a)],
                Trig::Done { a, .. } => [pos(&a), None],
            }
        }
        _ => [None, None],
    }
}

/// Position of a nonzero W above its 64-bit truncation, in ulps of the 80-bit format.
fn position(v: W) -> f64 {
    let (t, _) = round_w(v, 3, 3);
    let lsb = t.exp().max(1) as i32 - 16383 - 63;
    let rest = sub(v.abs(), to_w(t).abs()).scalbn(-lsb);
    let mut li = false;
    let d: rustc_apfloat::ieee::Double = rest.convert(&mut li).value;
    f64::from_bits(d.to_bits() as u64)
}

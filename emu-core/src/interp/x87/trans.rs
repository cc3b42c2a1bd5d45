//! Transcendental instructions: F2XM1, FYL2X, FYL2XP1, FPTAN, FPATAN, FSIN, FCOS,
//! FSINCOS.
//!
//! Precision: each function is evaluated in the 100-bit `W` format (series with
//! argument reduction; reduction modulo pi/2 uses a 128-bit pi, Cody-Waite split) and
//! rounded once to 64 bits by RC (precision control does not apply, as on Intel). The
//! results are within about one unit in the last place of the exact value but are not
//! bit-identical to Intel's microcode in every case (Intel reduces with a 66-bit pi,
//! so for large |x| near multiples of pi the hardware itself is less accurate).

use iced_x86::Mnemonic as M;
use rustc_apfloat::{Float, Round};

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

/// log2(1 + x) for small |x|, without forming 1 + x.
fn log2p1(x: W) -> W {
    let t = div(x, add(W::from_u128(2).value, x));
    div(atanh2(t), ln2())
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

/// Round a W result to the register format (64 bits, RC) with PE and C1.
fn out(v: W, rc: u8) -> (F80, Flags) {
    let (x, f) = round_w(v, 3, rc);
    // The series are inexact unless the result is exactly representable and trivial.
    (x, f | SW_PE)
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

fn f2xm1<B: Bus>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    enter(c, true)?;
    note_ip(c, d, false);
    let f = &mut c.s.fpu;
    let v = f.st(0);
    let (r, flags) = if f.is_empty(0) {
        (F80::INDEFINITE, UNDERFLOW)
    } else if let Err(e) = screen(v) {
        e
    } else {
        match v.class() {
            Class::Zero => (v, 0),
            Class::Inf if v.sign() => (
                from_x(-to_x(F80 {
                    sig: 1 << 63,
                    se: 0x3fff,
                })),
                0,
            ),
            Class::Inf => (v, 0),
            // Outside [-1, 1] the result is undefined; current Intel parts return the
            // operand unchanged.
            _ if v.exp() >= 0x3fff && !(v.exp() == 0x3fff && v.sig == 1 << 63) => (v, 0),
            _ => {
                let (r, fl) = out(expm1(mul(to_w(v), ln2())), f.rc());
                (r, fl | denormal_flag(&[v]))
            }
        }
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
    let (x, y) = (f.st(0), f.st(1));
    let rc = f.rc();
    let (r, flags) = if f.is_empty(0) || f.is_empty(1) {
        (F80::INDEFINITE, UNDERFLOW)
    } else if let Err(e) = check_nan2(x, y) {
        e
    } else {
        let de = denormal_flag(&[x, y]);
        let (cx, cy) = (x.class(), y.class());
        let arg = to_w(x);
        // log2 of the argument (None: -inf for a zero argument of FYL2X).
        let neg = if P1 {
            arg < -one() || (arg == -one())
        } else {
            x.sign() && cx != Class::Zero
        };
        if neg {
            (F80::INDEFINITE, SW_IE)
        } else if !P1 && cx == Class::Zero {
            if cy == Class::Zero {
                (F80::INDEFINITE, SW_IE)
            } else if cy == Class::Inf {
                (
                    F80 {
                        sig: 1 << 63,
                        se: 0x7fff | (!y.se & 0x8000),
                    },
                    0,
                )
            } else {
                (
                    F80 {
                        sig: 1 << 63,
                        se: 0x7fff | (!y.se & 0x8000),
                    },
                    SW_ZE,
                )
            }
        } else if cx == Class::Inf {
            if cy == Class::Zero {
                (F80::INDEFINITE, SW_IE)
            } else {
                (
                    F80 {
                        sig: 1 << 63,
                        se: 0x7fff | (y.se & 0x8000),
                    },
                    de,
                )
            }
        } else {
            let l = if P1 { log2p1(arg) } else { log2(arg) };
            if l.is_zero() {
                if cy == Class::Inf {
                    (F80::INDEFINITE, SW_IE)
                } else {
                    // log2(1 + ±0) = ±0, log2(1) = +0: the product's sign.
                    let s = if P1 { x.sign() ^ y.sign() } else { y.sign() };
                    (
                        F80 {
                            sig: 0,
                            se: (s as u16) << 15,
                        },
                        de,
                    )
                }
            } else if cy == Class::Inf {
                let s = (y.se ^ if l.is_negative() { 0x8000 } else { 0 }) & 0x8000;
                (
                    F80 {
                        sig: 1 << 63,
                        se: 0x7fff | s,
                    },
                    de,
                )
            } else {
                let (r, fl) = out(mul(to_w(y), l), rc);
                (r, fl | de)
            }
        }
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
    let (x, y) = (f.st(0), f.st(1));
    let rc = f.rc();
    let (r, flags) = if f.is_empty(0) || f.is_empty(1) {
        (F80::INDEFINITE, UNDERFLOW)
    } else if let Err(e) = check_nan2(x, y) {
        e
    } else {
        let de = denormal_flag(&[x, y]);
        let (cx, cy) = (x.class(), y.class());
        let p = pi();
        // Angle of (x, y) in [0, pi] for y >= 0; the sign of y is applied at the end.
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
            (
                F80 {
                    sig: 0,
                    se: y.se & 0x8000,
                },
                de,
            )
        } else {
            let (r, fl) = out(a, rc);
            (r, fl | de)
        }
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
    let v = f.st(0);
    let rc = f.rc();
    let pushes = OP >= 2;
    if f.is_empty(0) || (pushes && !f.is_empty(7)) {
        let fl = if f.is_empty(0) { UNDERFLOW } else { OVERFLOW };
        if apply(f, fl) {
            f.sw &= !SW_C2;
            f.set_st(0, F80::INDEFINITE);
            if pushes {
                f.push(F80::INDEFINITE);
            }
        }
        return Ok(());
    }
    let res: core::result::Result<(F80, F80, Flags), (F80, Flags)> = if let Err(e) = screen(v) {
        Err(e)
    } else if v.class() == Class::Inf {
        Err((F80::INDEFINITE, SW_IE))
    } else if v.class() != Class::Zero && v.exp() >= 16383 + 63 {
        // Out of range: C2=1, operand unchanged.
        f.sw |= SW_C2;
        return Ok(());
    } else if v.class() == Class::Zero {
        let one = F80 {
            sig: 1 << 63,
            se: 0x3fff,
        };
        Ok(match OP {
            1 => (one, v, 0),
            2 => (v, one, 0),
            3 => (v, one, 0),
            _ => (v, v, 0),
        })
    } else {
        let de = denormal_flag(&[v]);
        let (r, q) = reduce(to_w(v));
        let (s, co) = sincos_small(r);
        let (sin, cos) = match q {
            0 => (s, co),
            1 => (co, -s),
            2 => (-s, -co),
            _ => (-co, s),
        };
        let one = F80 {
            sig: 1 << 63,
            se: 0x3fff,
        };
        let (a, fa) = match OP {
            1 => out(cos, rc),
            // Tiny r: tan r = r + r³/3 directly (sin/cos would lose the direction of
            // the correction to rounding-to-odd in both).
            3 if q == 0 && !r.is_zero() && r.ilogb() < -40 => {
                out(add(r, div(mul(mul(r, r), r), W::from_u128(3).value)), rc)
            }
            3 => out(div(sin, cos), rc),
            _ => out(sin, rc),
        };
        let (b, fb) = match OP {
            2 => out(cos, rc),
            _ => (one, 0),
        };
        // FSINCOS reports C1 for the cosine (the value on top), the flags of both.
        let fl = if OP == 2 {
            (fa | fb) & !SW_C1 | (fb & SW_C1)
        } else {
            fa
        };
        Ok((a, b, fl | de))
    };
    match res {
        Err((r, fl)) => {
            if apply(f, fl) {
                f.sw &= !SW_C2;
                f.set_st(0, r);
                if pushes {
                    f.push(r);
                }
            }
        }
        Ok((a, b, fl)) => {
            if apply(f, fl) {
                f.sw &= !SW_C2;
                f.set_st(0, a);
                if pushes {
                    f.push(b);
                }
            }
        }
    }
    Ok(())
}

//! Soft-float core on `rustc_apfloat`: every result is computed exactly (or rounded to
//! odd in a 100-bit format, which preserves the final rounding), then rounded once to
//! the precision-control width with the full 15-bit exponent range, so PC=24/53 give
//! the x87's "narrow significand, wide exponent" results bit-exactly.

use rustc_apfloat::ieee::{IeeeFloat, Semantics, X87DoubleExtended, X87DoubleExtendedS};
use rustc_apfloat::{Float, FloatConvert, Round, Status, StatusAnd};

use super::state::*;

pub type X = X87DoubleExtended;

/// Intermediate: 100-bit significand, 20-bit exponent (no overflow/underflow for any
/// product, quotient or scaled value of extended operands).
pub struct WideS;
impl Semantics for WideS {
    const BITS: usize = 120;
    const EXP_BITS: usize = 20;
}
pub type W = IeeeFloat<WideS>;

/// 24-bit significand with the extended exponent range (PC=00).
pub struct P24S;
impl Semantics for P24S {
    const BITS: usize = 39;
    const EXP_BITS: usize = 15;
}
/// 53-bit significand with the extended exponent range (PC=10).
pub struct P53S;
impl Semantics for P53S {
    const BITS: usize = 68;
    const EXP_BITS: usize = 15;
}

pub fn round_mode(rc: u8) -> Round {
    match rc & 3 {
        0 => Round::NearestTiesToEven,
        1 => Round::TowardNegative,
        2 => Round::TowardPositive,
        _ => Round::TowardZero,
    }
}

pub fn to_x(v: F80) -> X {
    X::from_bits(v.bits())
}
pub fn from_x(x: X) -> F80 {
    F80::from_bits(x.to_bits())
}

pub fn to_w(v: F80) -> W {
    let mut li = false;
    to_x(v).convert(&mut li).value
}

/// Exact result of an operation done with round-toward-zero in W: make it round-to-odd.
pub fn jam(r: StatusAnd<W>) -> W {
    if r.status.contains(Status::INEXACT) && r.value.is_finite_non_zero() {
        W::from_bits(r.value.to_bits() | 1)
    } else {
        r.value
    }
}

/// Map apfloat status to x87 exception flags.
pub fn flags_of(s: Status) -> Flags {
    let mut f = 0;
    if s.contains(Status::INVALID_OP) {
        f |= SW_IE;
    }
    if s.contains(Status::DIV_BY_ZERO) {
        f |= SW_ZE;
    }
    if s.contains(Status::OVERFLOW) {
        f |= SW_OE;
    }
    if s.contains(Status::UNDERFLOW) {
        f |= SW_UE;
    }
    if s.contains(Status::INEXACT) {
        f |= SW_PE;
    }
    f
}

/// apfloat does not report overflow when a directed rounding gives the largest finite
/// value; the x87 does (OE and PE).
pub fn overflow_fix<S, T>(src: S, res: T, status: Status) -> Status
where
    S: Float,
    T: Float + FloatConvert<S>,
{
    let mut li = false;
    let big: S = T::largest().convert(&mut li).value;
    if res.is_finite() && res.abs().bitwise_eq(T::largest()) && src.abs() > big {
        status | Status::OVERFLOW | Status::INEXACT
    } else {
        status
    }
}

fn narrow<T>(w: W, r: Round) -> (X, Status)
where
    W: FloatConvert<T>,
    T: Float + FloatConvert<X> + FloatConvert<W>,
{
    let mut li = false;
    let mut n: StatusAnd<T> = w.convert_r(r, &mut li);
    n.status = overflow_fix(w, n.value, n.status);
    let x: StatusAnd<X> = n.value.convert(&mut li);
    (x.value, n.status)
}

/// Round an exact (or round-to-odd) W value to the register format under `pc`/`rc`.
/// Returns the value and flags, with C1 set when the significand was rounded up.
pub fn round_w(w: W, pc: u8, rc: u8) -> (F80, Flags) {
    let r = round_mode(rc);
    let (x, st) = match pc {
        0 => narrow::<IeeeFloat<P24S>>(w, r),
        1 | 2 => narrow::<IeeeFloat<P53S>>(w, r),
        _ => narrow::<IeeeFloat<X87DoubleExtendedS>>(w, r),
    };
    let mut f = flags_of(st);
    if f & SW_PE != 0 {
        let mut li = false;
        let back: W = x.convert(&mut li).value;
        if back.abs() > w.abs() {
            f |= SW_C1;
        }
    }
    (from_x(x), f)
}

/// Round like `round_w` under a whole control word, with the unmasked responses to
/// overflow and underflow: the exponent is wrapped by 24576 (3 * 2^13) so a handler
/// can recover the true result, and the flag is raised with ES.
pub fn round_cw(w: W, cw: u16) -> (F80, Flags) {
    let pc = ((cw >> 8) & 3) as u8;
    let rc = ((cw >> 10) & 3) as u8;
    let (v, f) = round_w(w, pc, rc);
    if f & SW_OE != 0 && cw & SW_OE == 0 {
        let (v2, f2) = round_w(w.scalbn(-24576), pc, rc);
        return (v2, SW_OE | (f2 & (SW_PE | SW_C1)));
    }
    if cw & SW_UE == 0 && w.is_finite_non_zero() && w.ilogb() < -16382 {
        let (v2, f2) = round_w(w.scalbn(24576), pc, rc);
        return (v2, SW_UE | (f2 & (SW_PE | SW_C1)));
    }
    (v, f)
}

/// The NaN an operation with NaN operand(s) returns (x87 rules: an SNaN is quieted; of
/// two NaNs a QNaN beats an SNaN, else the larger significand wins).
pub fn propagate_nan(a: F80, b: F80) -> F80 {
    let (an, bn) = (a.is_nan(), b.is_nan());
    if an && bn {
        let (aq, bq) = (a.class() == Class::QNan, b.class() == Class::QNan);
        if aq != bq {
            return if aq { a } else { b.quiet() };
        }
        let (qa, qb) = (a.quiet(), b.quiet());
        if qa.sig > qb.sig {
            qa
        } else if qb.sig > qa.sig {
            qb
        } else if qa.se < qb.se {
            qa
        } else {
            qb
        }
    } else if an {
        a.quiet()
    } else {
        b.quiet()
    }
}

/// Operand checks shared by the arithmetic: returns `Err((flags, masked result))` when
/// an invalid operand, or a NaN, decides the outcome.
pub fn check_nan2(a: F80, b: F80) -> Result<(), (F80, Flags)> {
    let (ca, cb) = (a.class(), b.class());
    if ca == Class::Unsupported || cb == Class::Unsupported {
        return Err((F80::INDEFINITE, SW_IE));
    }
    if a.is_nan() || b.is_nan() {
        let f = if ca == Class::SNan || cb == Class::SNan {
            SW_IE
        } else {
            0
        };
        return Err((propagate_nan(a, b), f));
    }
    Ok(())
}

pub fn denormal_flag(vs: &[F80]) -> Flags {
    if vs.iter().any(|v| v.class() == Class::Denormal) {
        SW_DE
    } else {
        0
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

/// a op b, with x87 special cases, flags and C1.
pub fn binop(op: Op, a: F80, b: F80, cw: u16) -> (F80, Flags) {
    let fast = match op {
        Op::Add => super::fast::add(a, b, false, cw),
        Op::Sub => super::fast::add(a, b, true, cw),
        Op::Mul => super::fast::mul(a, b, cw),
        Op::Div => None,
    };
    fast.unwrap_or_else(|| binop_general(op, a, b, cw))
}

/// `binop` for every operand class, on `rustc_apfloat`.
pub fn binop_general(op: Op, a: F80, b: F80, cw: u16) -> (F80, Flags) {
    let rc = ((cw >> 10) & 3) as u8;
    if let Err(r) = check_nan2(a, b) {
        return r;
    }
    let (ca, cb) = (a.class(), b.class());
    let inv = match op {
        Op::Add => ca == Class::Inf && cb == Class::Inf && a.sign() != b.sign(),
        Op::Sub => ca == Class::Inf && cb == Class::Inf && a.sign() == b.sign(),
        Op::Mul => {
            (ca == Class::Inf && cb == Class::Zero) || (ca == Class::Zero && cb == Class::Inf)
        }
        Op::Div => {
            (ca == Class::Inf && cb == Class::Inf) || (ca == Class::Zero && cb == Class::Zero)
        }
    };
    if inv {
        return (F80::INDEFINITE, SW_IE);
    }
    if op == Op::Div && cb == Class::Zero && ca != Class::Inf {
        let s = (a.sign() ^ b.sign()) as u16;
        return (
            F80 {
                sig: 1 << 63,
                se: 0x7fff | s << 15,
            },
            SW_ZE,
        );
    }
    let de = denormal_flag(&[a, b]);
    let (wa, wb) = (to_w(a), to_w(b));
    let r = round_mode(rc);
    // Exact zero results take their sign from the real rounding mode.
    let exact = match op {
        Op::Add => wa.add_r(wb, Round::TowardZero),
        Op::Sub => wa.sub_r(wb, Round::TowardZero),
        Op::Mul => wa.mul_r(wb, Round::TowardZero),
        Op::Div => wa.div_r(wb, Round::TowardZero),
    };
    let w = if exact.value.is_zero() && matches!(op, Op::Add | Op::Sub) {
        match op {
            Op::Add => wa.add_r(wb, r).value,
            _ => wa.sub_r(wb, r).value,
        }
    } else {
        jam(exact)
    };
    let (v, f) = round_cw(w, cw);
    (v, f | de)
}

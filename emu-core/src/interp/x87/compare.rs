//! Comparisons (condition codes or EFLAGS), FTST, FXAM and FCMOVcc.

use iced_x86::Mnemonic as M;

use super::float::*;
use super::state::*;
use super::*;
use crate::cpu::flags;

pub fn handler<B: Bus>(m: M, _d: &DecodedInsn) -> Option<Handler<B>> {
    Some(match m {
        M::Fcom | M::Fcomp | M::Fcompp | M::Ficom | M::Ficomp => fcom::<B, false>,
        M::Fucom | M::Fucomp | M::Fucompp => fcom::<B, true>,
        M::Fcomi | M::Fcomip => fcomi::<B, false>,
        M::Fucomi | M::Fucomip => fcomi::<B, true>,
        M::Ftst => fcom::<B, false>,
        M::Fxam => fxam::<B>,
        M::Fcmovb
        | M::Fcmove
        | M::Fcmovbe
        | M::Fcmovu
        | M::Fcmovnb
        | M::Fcmovne
        | M::Fcmovnbe
        | M::Fcmovnu => fcmov::<B>,
        _ => return None,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Rel {
    Gt,
    Lt,
    Eq,
    Un,
}

/// Compare a with b: (relation, flags). Ordered compares signal IE for any NaN;
/// unordered ones only for SNaNs (and both for unsupported formats).
fn compare(a: F80, b: F80, unordered: bool) -> (Rel, Flags) {
    let (ca, cb) = (a.class(), b.class());
    if ca == Class::Unsupported || cb == Class::Unsupported {
        return (Rel::Un, SW_IE);
    }
    if a.is_nan() || b.is_nan() {
        let sn = ca == Class::SNan || cb == Class::SNan;
        return (Rel::Un, if sn || !unordered { SW_IE } else { 0 });
    }
    let de = denormal_flag(&[a, b]);
    let r = match to_x(a).partial_cmp(&to_x(b)) {
        Some(std::cmp::Ordering::Greater) => Rel::Gt,
        Some(std::cmp::Ordering::Less) => Rel::Lt,
        _ => Rel::Eq,
    };
    (r, de)
}

fn cc_of(r: Rel) -> u16 {
    match r {
        Rel::Gt => 0,
        Rel::Lt => SW_C0,
        Rel::Eq => SW_C3,
        Rel::Un => SW_C0 | SW_C2 | SW_C3,
    }
}

fn fcom<B: Bus, const U: bool>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    enter(c, true)?;
    let m = d.i.mnemonic();
    let mem = crate::interp::has_mem(d);
    let (b, de, b_empty) = if mem {
        let (v, de) = load_operand(c, bus, d)?;
        (v, de, false)
    } else if m == M::Ftst {
        (F80::ZERO, 0, false)
    } else {
        let i = st_op(d, 1).or_else(|| st_op(d, 0)).unwrap_or(1);
        (c.s.fpu.st(i), 0, c.s.fpu.is_empty(i))
    };
    note_ip(c, d, mem);
    let f = &mut c.s.fpu;
    let (rel, mut flags) = if b_empty || f.is_empty(0) {
        (Rel::Un, UNDERFLOW)
    } else {
        compare(f.st(0), b, U)
    };
    if flags & SW_IE == 0 {
        flags |= de;
    }
    if apply(f, flags) {
        f.set_cc(cc_of(rel));
        match m {
            M::Fcomp | M::Ficomp | M::Fucomp => f.pop(),
            M::Fcompp | M::Fucompp => {
                f.pop();
                f.pop();
            }
            _ => {}
        }
    }
    Ok(())
}

fn fcomi<B: Bus, const U: bool>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    enter(c, true)?;
    note_ip(c, d, false);
    let i = st_op(d, 1).unwrap_or(1);
    let f = &mut c.s.fpu;
    let (rel, flags) = if f.is_empty(0) || f.is_empty(i) {
        (Rel::Un, UNDERFLOW)
    } else {
        compare(f.st(0), f.st(i), U)
    };
    if apply(f, flags) {
        if matches!(d.i.mnemonic(), M::Fcomip | M::Fucomip) {
            f.pop();
        }
        let bits = match rel {
            Rel::Gt => 0,
            Rel::Lt => flags::CF,
            Rel::Eq => flags::ZF,
            Rel::Un => flags::ZF | flags::PF | flags::CF,
        };
        let mask = flags::ZF | flags::PF | flags::CF | flags::OF | flags::SF | flags::AF;
        c.s.flags.set_masked(bits, mask);
    }
    Ok(())
}

fn fxam<B: Bus>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    enter(c, true)?;
    note_ip(c, d, false);
    let f = &mut c.s.fpu;
    let v = f.st(0);
    let cc = if f.is_empty(0) {
        SW_C3 | SW_C0
    } else {
        match v.class() {
            Class::Unsupported => 0,
            Class::QNan | Class::SNan => SW_C0,
            Class::Normal => SW_C2,
            Class::Inf => SW_C2 | SW_C0,
            Class::Zero => SW_C3,
            Class::Denormal => SW_C3 | SW_C2,
        }
    };
    let c1 = if v.sign() { SW_C1 } else { 0 };
    f.set_cc(cc | c1);
    Ok(())
}

fn fcmov<B: Bus>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    enter(c, true)?;
    note_ip(c, d, false);
    let i = st_op(d, 1).unwrap_or(1);
    let cc = match d.i.mnemonic() {
        M::Fcmovb => 2,
        M::Fcmove => 4,
        M::Fcmovbe => 6,
        M::Fcmovu => 0xa,
        M::Fcmovnb => 3,
        M::Fcmovne => 5,
        M::Fcmovnbe => 7,
        _ => 0xb,
    };
    let take = c.s.flags.cond(cc);
    let f = &mut c.s.fpu;
    if f.is_empty(0) || f.is_empty(i) {
        if apply(f, UNDERFLOW) {
            f.set_st(0, F80::INDEFINITE);
        }
        return Ok(());
    }
    apply(f, 0);
    if take {
        let v = f.st(i);
        f.set_st(0, v);
    }
    Ok(())
}

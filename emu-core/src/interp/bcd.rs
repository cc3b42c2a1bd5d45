//! Decimal adjust: DAA, DAS, AAA, AAS, AAM, AAD.

use iced_x86::Mnemonic as M;

use crate::cpu::exception::{Exception, Result};
use crate::cpu::flags::{self, LazyOp, AF, CF, OF};
use crate::decode::{DecodedInsn, Handler};
use crate::{Bus, Cpu};

fn al(c: &Cpu) -> u32 {
    c.s.regs[0] & 0xff
}

fn set_al(c: &mut Cpu, v: u32) {
    c.s.regs[0] = (c.s.regs[0] & !0xff) | (v & 0xff);
}

/// Set SF/ZF/PF from `r` and CF/AF as given; OF per `of`.
fn finish(c: &mut Cpu, r: u32, cf: bool, af: bool, of: bool) {
    c.s.flags.set_lazy(LazyOp::Logic, 1, r, 0, r & 0xff);
    let mut f = c.s.flags.get() & !(CF | AF | OF);
    if cf {
        f |= CF;
    }
    if af {
        f |= AF;
    }
    if of {
        f |= OF;
    }
    c.s.flags.set(f);
}

fn daa<B: Bus>(c: &mut Cpu, _: &mut B, _: &DecodedInsn) -> Result<()> {
    let old = al(c);
    let old_cf = c.s.flags.cf();
    let mut a = old;
    let mut cf = false;
    let mut af = false;
    if (a & 0x0f) > 9 || c.s.flags.af() {
        a = a.wrapping_add(6);
        cf = old_cf || a > 0xff;
        af = true;
    }
    if old > 0x99 || old_cf {
        a = a.wrapping_add(0x60);
        cf = true;
    }
    let r = a & 0xff;
    set_al(c, r);
    // OF is undefined; report the signed overflow of the adjustment as later CPUs do.
    let of = (old & 0x80) == 0 && (r & 0x80) != 0;
    finish(c, r, cf, af, of);
    Ok(())
}

fn das<B: Bus>(c: &mut Cpu, _: &mut B, _: &DecodedInsn) -> Result<()> {
    let old = al(c);
    let old_cf = c.s.flags.cf();
    let mut a = old;
    let mut cf = false;
    let mut af = false;
    if (a & 0x0f) > 9 || c.s.flags.af() {
        cf = old_cf || a < 6;
        a = a.wrapping_sub(6);
        af = true;
    }
    if old > 0x99 || old_cf {
        a = a.wrapping_sub(0x60);
        cf = true;
    }
    let r = a & 0xff;
    set_al(c, r);
    let of = (old & 0x80) != 0 && (r & 0x80) == 0;
    finish(c, r, cf, af, of);
    Ok(())
}

fn aaa_aas<B: Bus, const SUB: bool>(c: &mut Cpu, _: &mut B, _: &DecodedInsn) -> Result<()> {
    let ax = c.s.regs[0] & 0xffff;
    let adjust = (ax & 0x0f) > 9 || c.s.flags.af();
    let r = if adjust {
        if SUB {
            // AX -= 6 (a borrow reaches AH), then AH -= 1.
            ax.wrapping_sub(6).wrapping_sub(0x100) & 0xffff
        } else {
            ax.wrapping_add(0x106) & 0xffff
        }
    } else {
        ax
    };
    let r = r & 0xff0f;
    c.s.regs[0] = (c.s.regs[0] & !0xffff) | r;
    finish(c, r & 0xff, adjust, adjust, false);
    Ok(())
}

fn aam<B: Bus>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    let base = d.i.immediate8() as u32;
    if base == 0 {
        if c.is_286() {
            // The 286 leaves SF=0 ZF=0 PF=1 behind before the #DE (every recorded case).
            let f = c.s.flags.get() & !(flags::SF | flags::ZF);
            c.s.flags.set(f | flags::PF);
        }
        return Err(Exception::de());
    }
    let a = al(c);
    let r = ((a / base) << 8) | (a % base);
    c.s.regs[0] = (c.s.regs[0] & !0xffff) | r;
    finish(c, r & 0xff, false, false, false);
    Ok(())
}

fn aad<B: Bus>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    let base = d.i.immediate8() as u32;
    let ax = c.s.regs[0];
    let a = ax & 0xff;
    let h = (ax >> 8) & 0xff;
    let prod = (h * base) & 0xff;
    let r = (a + prod) & 0xff;
    c.s.regs[0] = (c.s.regs[0] & !0xffff) | r;
    // Flags as the 8-bit addition AL + AH*base.
    c.s.flags.set_lazy(LazyOp::Add, 1, a, prod, r);
    Ok(())
}

pub fn handler<B: Bus>(m: M) -> Option<Handler<B>> {
    Some(match m {
        M::Daa => daa::<B>,
        M::Das => das::<B>,
        M::Aaa => aaa_aas::<B, false>,
        M::Aas => aaa_aas::<B, true>,
        M::Aam => aam::<B>,
        M::Aad => aad::<B>,
        _ => return None,
    })
}

//! Control instructions: init, control/status word access, environment and full state
//! save/restore.

use iced_x86::Mnemonic as M;

use super::state::*;
use super::*;

pub fn handler<B: Bus>(m: M, _d: &DecodedInsn) -> Option<Handler<B>> {
    Some(match m {
        M::Fninit => finit::<B, false>,
        M::Finit => finit::<B, true>,
        M::Fnclex => fclex::<B, false>,
        M::Fclex => fclex::<B, true>,
        M::Fnstsw => fstsw::<B, false>,
        M::Fstsw => fstsw::<B, true>,
        M::Fnstcw => fstcw::<B, false>,
        M::Fstcw => fstcw::<B, true>,
        M::Fldcw => fldcw::<B>,
        M::Fnop => fnop::<B>,
        M::Fnstenv => fstenv::<B, false>,
        M::Fstenv => fstenv::<B, true>,
        M::Fnsave => fsave::<B, false>,
        M::Fsave => fsave::<B, true>,
        M::Fldenv => fldenv::<B, false>,
        M::Frstor => fldenv::<B, true>,
        _ => return None,
    })
}

/// WAIT/FWAIT: #NM when MP and TS are both set, then #MF for a pending unmasked
/// exception (CR0.NE=1).
pub fn wait_check(c: &Cpu) -> Result<()> {
    use crate::cpu::state::CR0_MP;
    if c.s.cr0 & (CR0_MP | CR0_TS) == (CR0_MP | CR0_TS) {
        return Err(Exception::nm());
    }
    pending_mf(c)
}

fn finit<B: Bus, const W: bool>(c: &mut Cpu, _: &mut B, _: &DecodedInsn) -> Result<()> {
    enter(c, W)?;
    c.s.fpu.init();
    Ok(())
}

fn fclex<B: Bus, const W: bool>(c: &mut Cpu, _: &mut B, _: &DecodedInsn) -> Result<()> {
    enter(c, W)?;
    c.s.fpu.sw &= !(SW_EXC | SW_SF | SW_ES | SW_B);
    Ok(())
}

fn fnop<B: Bus>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    enter(c, true)?;
    note_ip(c, d, false);
    Ok(())
}

fn fstsw<B: Bus, const W: bool>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    enter(c, W)?;
    let v = c.s.fpu.status() as u32;
    if crate::interp::has_mem(d) {
        let ea = c.ea(d);
        c.write_seg(bus, d.seg, ea, 2, v)
    } else {
        c.s.regs[0] = (c.s.regs[0] & !0xffff) | v;
        Ok(())
    }
}

fn fstcw<B: Bus, const W: bool>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    enter(c, W)?;
    let ea = c.ea(d);
    c.write_seg(bus, d.seg, ea, 2, c.s.fpu.cw as u32)
}

fn fldcw<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    enter(c, true)?;
    let ea = c.ea(d);
    let v = c.read_seg(bus, d.seg, ea, 2)?;
    // Unmasking a flagged exception makes it pending (ES); #MF comes at the next
    // waiting instruction.
    c.s.fpu.set_cw(v as u16);
    Ok(())
}

/// Environment image: 14 bytes (16-bit operand size) or 28 bytes (32-bit), with the
/// real-mode layout (linear 20/32-bit pointers split around the opcode) outside
/// protected mode. The 16-bit protected-mode image has no FOP. Reserved upper halves of
/// the 32-bit images read as ones (CW, SW, TW, and FDS or the low pointer halves), as
/// on the hardware.
fn env_image(c: &Cpu, o32: bool) -> Vec<u32> {
    let f = &c.s.fpu;
    let [cw, sw, tw] = [f.cw, f.status(), f.full_tags()].map(|v| v as u32 | 0xffff_0000);
    let fop = f.fop as u32 & 0x7ff;
    if c.s.protected_mode() && !c.s.v86() {
        vec![
            cw,
            sw,
            tw,
            f.fip,
            f.fcs as u32 | fop << 16,
            f.fdp,
            f.fds as u32 | 0xffff_0000,
        ]
    } else {
        let fip = f.fip.wrapping_add((f.fcs as u32) << 4);
        let fdp = f.fdp.wrapping_add((f.fds as u32) << 4);
        let hi = if o32 { 0xffff } else { 0xf };
        vec![
            cw,
            sw,
            tw,
            fip & 0xffff | 0xffff_0000,
            ((fip >> 16) & hi) << 12 | fop,
            fdp & 0xffff | 0xffff_0000,
            ((fdp >> 16) & hi) << 12,
        ]
    }
}

fn env_len(o32: bool) -> u32 {
    if o32 {
        28
    } else {
        14
    }
}

fn store_env<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let words = env_image(c, d.o32);
    let (w, sz) = if d.o32 { (4, 4u8) } else { (2, 2u8) };
    for (n, v) in words.into_iter().enumerate() {
        c.mem_write_at(bus, d, n as u32 * w, sz, v)?;
    }
    Ok(())
}

fn fstenv<B: Bus, const W: bool>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    enter(c, W)?;
    probe(c, bus, d, env_len(d.o32))?;
    store_env(c, bus, d)?;
    // FNSTENV masks all exceptions afterwards (handlers use it to get a clean state).
    c.s.fpu.cw |= 0x3f;
    c.s.fpu.update_es();
    Ok(())
}

fn fsave<B: Bus, const W: bool>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    enter(c, W)?;
    let base = env_len(d.o32);
    probe(c, bus, d, base + 80)?;
    store_env(c, bus, d)?;
    for i in 0..8u8 {
        let v = c.s.fpu.st(i).bits();
        write_mem(c, bus, d, base + 10 * i as u32, 10, v)?;
    }
    c.s.fpu.init();
    Ok(())
}

/// FLDENV (FULL=false) and FRSTOR (FULL=true).
fn fldenv<B: Bus, const FULL: bool>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    // A waiting instruction: a pending exception is reported before the load.
    enter(c, true)?;
    let (w, sz) = if d.o32 { (4, 4u8) } else { (2, 2u8) };
    let mut words = [0u32; 7];
    for (n, x) in words.iter_mut().enumerate() {
        *x = c.mem_read_at(bus, d, n as u32 * w, sz)?;
    }
    let mut regs = [F80::ZERO; 8];
    if FULL {
        let base = env_len(d.o32);
        for (i, r) in regs.iter_mut().enumerate() {
            *r = F80::from_bits(read_mem(c, bus, d, base + 10 * i as u32, 10)?);
        }
    }
    let prot = c.s.protected_mode() && !c.s.v86();
    let f = &mut c.s.fpu;
    f.cw = (words[0] as u16 & 0x1f3f) | 0x40;
    f.set_status(words[1] as u16);
    if prot {
        f.fip = words[3];
        f.fcs = words[4] as u16;
        f.fop = (words[4] >> 16) as u16 & 0x7ff;
        f.fdp = words[5];
        f.fds = words[6] as u16;
    } else {
        let hi = if d.o32 { 0xffff } else { 0xf };
        f.fip = (words[3] & 0xffff) | ((words[4] >> 12) & hi) << 16;
        f.fop = words[4] as u16 & 0x7ff;
        f.fcs = 0;
        f.fdp = (words[5] & 0xffff) | ((words[6] >> 12) & hi) << 16;
        f.fds = 0;
    }
    if FULL {
        for (i, r) in regs.into_iter().enumerate() {
            let p = f.phys(i as u8);
            f.regs[p] = r;
        }
    }
    // The tag word only says which registers are empty; the rest is recomputed.
    let tw = words[2] as u16;
    for p in 0..8 {
        let t = if (tw >> (2 * p)) & 3 == TAG_EMPTY {
            TAG_EMPTY
        } else {
            f.regs[p].tag()
        };
        f.set_tag(p, t);
    }
    f.update_es();
    Ok(())
}

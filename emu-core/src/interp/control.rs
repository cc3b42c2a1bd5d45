//! Control transfer: jumps, calls, returns, loops, software interrupts, BOUND, HLT.

use iced_x86::{Mnemonic as M, OpKind};

use super::sext;
use crate::cpu::exception::{Exception, Result};
use crate::cpu::flags;
use crate::cpu::interrupt::Source;
use crate::cpu::state::Seg;
use crate::decode::{DecodedInsn, Handler};
use crate::{Bus, Cpu};

#[inline]
fn op_mask(d: &DecodedInsn) -> u32 {
    if d.o32 {
        u32::MAX
    } else {
        0xffff
    }
}

/// Jump within CS (the limit is checked first).
#[inline]
fn near_jump(c: &mut Cpu, target: u32) -> Result<()> {
    if target > c.s.segs[Seg::Cs as usize].limit {
        return Err(Exception::gp0());
    }
    c.s.eip = target;
    Ok(())
}

fn jmp_rel<B: Bus>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    near_jump(c, c.s.eip.wrapping_add(d.rel) & op_mask(d))
}

fn jcc<B: Bus>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    if c.s.flags.cond(d.cc) {
        near_jump(c, c.s.eip.wrapping_add(d.rel) & op_mask(d))?;
    }
    Ok(())
}

/// Far pointer operand: (selector, offset) from ptr16:16/32 or m16:16/32.
fn far_target<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<(u16, u32)> {
    match d.i.op0_kind() {
        OpKind::FarBranch16 => Ok((d.i.far_branch_selector(), d.i.far_branch16() as u32)),
        OpKind::FarBranch32 => Ok((d.i.far_branch_selector(), d.i.far_branch32())),
        _ => {
            let size = if d.o32 { 4 } else { 2 };
            let off = c.mem_read_at(bus, d, 0, size)?;
            let sel = c.mem_read_at(bus, d, size as u32, 2)?;
            Ok((sel as u16, off))
        }
    }
}

fn jmp<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    match d.i.op0_kind() {
        OpKind::NearBranch16 | OpKind::NearBranch32 => jmp_rel(c, bus, d),
        OpKind::FarBranch16 | OpKind::FarBranch32 => {
            let (sel, off) = far_target(c, bus, d)?;
            c.far_jmp(bus, sel, off)
        }
        _ if d.i.is_jmp_far_indirect() => {
            let (sel, off) = far_target(c, bus, d)?;
            c.far_jmp(bus, sel, off)
        }
        _ => {
            let t = c.op_read(bus, d, 0)? & op_mask(d);
            near_jump(c, t)
        }
    }
}

fn call<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let ret = c.s.eip;
    let size = if d.o32 { 4 } else { 2 };
    let far = matches!(d.i.op0_kind(), OpKind::FarBranch16 | OpKind::FarBranch32)
        || d.i.is_call_far_indirect();
    if far {
        let (sel, off) = far_target(c, bus, d)?;
        return c.far_call(bus, sel, off, size, ret);
    }
    let target = match d.i.op0_kind() {
        OpKind::NearBranch16 | OpKind::NearBranch32 => ret.wrapping_add(d.rel) & op_mask(d),
        _ => c.op_read(bus, d, 0)? & op_mask(d),
    };
    if target > c.s.segs[Seg::Cs as usize].limit {
        return Err(Exception::gp0());
    }
    c.push(bus, ret, size)?;
    c.s.eip = target;
    Ok(())
}

/// CALL rel16/rel32.
fn call_rel<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let ret = c.s.eip;
    let target = ret.wrapping_add(d.rel) & op_mask(d);
    if target > c.s.segs[Seg::Cs as usize].limit {
        return Err(Exception::gp0());
    }
    c.push(bus, ret, if d.o32 { 4 } else { 2 })?;
    c.s.eip = target;
    Ok(())
}

/// RET without an immediate.
fn ret_plain<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let size = if d.o32 { 4 } else { 2 };
    let t = c.peek(bus, 0, size)?;
    near_jump(c, t)?;
    c.adjust_sp(size as u32);
    Ok(())
}

fn ret<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let size = if d.o32 { 4 } else { 2 };
    let t = c.peek(bus, 0, size)?;
    near_jump(c, t)?;
    let imm = if d.i.op_count() > 0 {
        d.i.immediate16() as u32
    } else {
        0
    };
    c.adjust_sp(size as u32 + imm);
    Ok(())
}

fn retf<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let size = if d.o32 { 4 } else { 2 };
    let imm = if d.i.op_count() > 0 {
        d.i.immediate16() as u32
    } else {
        0
    };
    c.far_ret(bus, size, imm)
}

/// LOOP, LOOPE, LOOPNE, JCXZ/JECXZ (the counter's width is the address size).
fn loop_<B: Bus, const KIND: u8>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    let mask = if d.a32 { u32::MAX } else { 0xffff };
    let count = c.s.regs[1] & mask;
    let take = if KIND == 3 {
        count == 0
    } else {
        let n = count.wrapping_sub(1) & mask;
        let ok = n != 0
            && match KIND {
                1 => c.s.flags.zf(),
                2 => !c.s.flags.zf(),
                _ => true,
            };
        let target = c.s.eip.wrapping_add(d.rel) & op_mask(d);
        if ok && target > c.s.segs[Seg::Cs as usize].limit {
            return Err(Exception::gp0());
        }
        c.s.regs[1] = (c.s.regs[1] & !mask) | n;
        ok
    };
    if take {
        c.s.eip = c.s.eip.wrapping_add(d.rel) & op_mask(d);
    }
    Ok(())
}

/// INT n: in virtual-8086 mode it needs IOPL 3 (INT3 and INTO go to the IDT regardless).
fn int_n<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    if c.s.v86() && c.s.flags.bits & flags::IOPL != flags::IOPL {
        return Err(Exception::gp0());
    }
    c.stats.interrupts += 1;
    let ret = c.s.eip;
    c.deliver(bus, d.i.immediate8(), Source::Software, None, ret)
}

fn int3<B: Bus>(c: &mut Cpu, bus: &mut B, _: &DecodedInsn) -> Result<()> {
    c.stats.interrupts += 1;
    let ret = c.s.eip;
    c.deliver(bus, 3, Source::Software, None, ret)
}

fn into<B: Bus>(c: &mut Cpu, bus: &mut B, _: &DecodedInsn) -> Result<()> {
    if c.s.flags.of() {
        c.stats.interrupts += 1;
        let ret = c.s.eip;
        return c.deliver(bus, 4, Source::Software, None, ret);
    }
    Ok(())
}

/// INT1 (ICEBP, F1): a debug trap that ignores the gate's DPL.
fn int1<B: Bus>(c: &mut Cpu, bus: &mut B, _: &DecodedInsn) -> Result<()> {
    c.stats.interrupts += 1;
    let ret = c.s.eip;
    c.deliver(bus, 1, Source::External, None, ret)
}

fn iret<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    c.iret(bus, if d.o32 { 4 } else { 2 })
}

fn bound<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let size = d.osz;
    let idx = sext(c.reg_get(d.i.op0_register()), size) as i32;
    let lo = sext(c.mem_read_at(bus, d, 0, size)?, size) as i32;
    let hi = sext(c.mem_read_at(bus, d, size as u32, size)?, size) as i32;
    if idx < lo || idx > hi {
        return Err(Exception::br());
    }
    Ok(())
}

fn hlt<B: Bus>(c: &mut Cpu, _: &mut B, _: &DecodedInsn) -> Result<()> {
    if c.s.protected_mode() && c.s.cpl != 0 {
        return Err(Exception::gp0());
    }
    c.s.halted = true;
    c.end_block = true;
    Ok(())
}

fn enter<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let size = if d.o32 { 4 } else { 2 };
    let alloc = d.i.immediate16() as u32;
    let level = (d.i.immediate8_2nd() & 31) as u32;
    let saved_esp = c.s.regs[4];
    let saved_ebp = c.s.regs[5];
    let restore = |c: &mut Cpu| {
        c.s.regs[4] = saved_esp;
        c.s.regs[5] = saved_ebp;
    };
    let ss32 = c.s.stack32();
    let bp = if ss32 { saved_ebp } else { saved_ebp & 0xffff };
    c.push(bus, saved_ebp, size).inspect_err(|_| restore(c))?;
    let frame = c.sp();
    let mut bp_walk = bp;
    for _ in 1..level.max(1) {
        if level == 0 {
            break;
        }
        bp_walk = bp_walk.wrapping_sub(size as u32);
        let off = if ss32 { bp_walk } else { bp_walk & 0xffff };
        let v = c
            .read_seg(bus, Seg::Ss, off, size)
            .inspect_err(|_| restore(c))?;
        c.push(bus, v, size).inspect_err(|_| restore(c))?;
    }
    if level > 0 {
        c.push(bus, frame, size).inspect_err(|_| restore(c))?;
    }
    let new_sp = c.sp().wrapping_sub(alloc);
    // The final stack pointer must be addressable (the CPU probes the allocation).
    let mask = if ss32 { u32::MAX } else { 0xffff };
    if alloc > 0 {
        c.seg_lin(Seg::Ss, new_sp & mask, 1, true)
            .inspect_err(|_| restore(c))?;
    }
    if d.o32 {
        c.s.regs[5] = frame;
    } else {
        c.s.regs[5] = (c.s.regs[5] & !0xffff) | (frame & 0xffff);
    }
    c.set_sp(new_sp & mask);
    Ok(())
}

fn leave<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let size = if d.o32 { 4 } else { 2 };
    let bp = if c.s.stack32() {
        c.s.regs[5]
    } else {
        c.s.regs[5] & 0xffff
    };
    let v = c.read_seg(bus, Seg::Ss, bp, size)?;
    c.set_sp(bp.wrapping_add(size as u32));
    if d.o32 {
        c.s.regs[5] = v;
    } else {
        c.s.regs[5] = (c.s.regs[5] & !0xffff) | (v & 0xffff);
    }
    Ok(())
}

pub fn handler<B: Bus>(m: M, d: &DecodedInsn) -> Option<Handler<B>> {
    let _ = d;
    Some(match m {
        M::Jmp => {
            if matches!(d.i.op0_kind(), OpKind::NearBranch16 | OpKind::NearBranch32) {
                jmp_rel::<B>
            } else {
                jmp::<B>
            }
        }
        M::Jo
        | M::Jno
        | M::Jb
        | M::Jae
        | M::Je
        | M::Jne
        | M::Jbe
        | M::Ja
        | M::Js
        | M::Jns
        | M::Jp
        | M::Jnp
        | M::Jl
        | M::Jge
        | M::Jle
        | M::Jg => jcc::<B>,
        M::Call if matches!(d.i.op0_kind(), OpKind::NearBranch16 | OpKind::NearBranch32) => {
            call_rel::<B>
        }
        M::Call => call::<B>,
        M::Ret if d.i.op_count() == 0 => ret_plain::<B>,
        M::Ret => ret::<B>,
        M::Retf => retf::<B>,
        M::Loop => loop_::<B, 0>,
        M::Loope => loop_::<B, 1>,
        M::Loopne => loop_::<B, 2>,
        M::Jcxz | M::Jecxz => loop_::<B, 3>,
        M::Int => int_n::<B>,
        M::Int3 => int3::<B>,
        M::Into => into::<B>,
        M::Int1 => int1::<B>,
        M::Iret | M::Iretd => iret::<B>,
        M::Bound => bound::<B>,
        M::Hlt => hlt::<B>,
        M::Enter => enter::<B>,
        M::Leave => leave::<B>,
        _ => return None,
    })
}

//! PUSH/POP (registers, memory, segment registers, immediates), PUSHA/POPA, PUSHF/POPF.

use iced_x86::{Mnemonic as M, OpKind, Register};

use crate::cpu::exception::{Exception, Result};
use crate::cpu::flags;
use crate::cpu::state::Seg;
use crate::decode::{DecodedInsn, Handler, Opd};
use crate::{Bus, Cpu};

fn push_size(d: &DecodedInsn) -> u8 {
    if d.o32 {
        4
    } else {
        2
    }
}

fn push<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let size = push_size(d);
    let v = match d.i.op0_kind() {
        OpKind::Register => {
            let r = d.i.op0_register();
            // PUSH SP pushes the value before the push (286 and later).
            c.reg_get(r)
        }
        OpKind::Memory => c.op_read(bus, d, 0)?,
        OpKind::Immediate8to16 => d.i.immediate8to16() as u16 as u32,
        OpKind::Immediate8to32 => d.i.immediate8to32() as u32,
        OpKind::Immediate16 => d.i.immediate16() as u32,
        OpKind::Immediate32 => d.i.immediate32(),
        _ => 0,
    };
    c.push(bus, v, size)
}

fn push_reg<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let Opd::Reg(r0) = d.ops[0] else {
        return Err(Exception::ud());
    };
    let v = c.slot_get(r0);
    c.push(bus, v, push_size(d))
}

fn push_reg32<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let Opd::Reg(r0) = d.ops[0] else {
        return Err(Exception::ud());
    };
    let v = c.s.regs[(r0 & 7) as usize];
    c.push(bus, v, 4)
}

fn pop_reg32<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let Opd::Reg(r0) = d.ops[0] else {
        return Err(Exception::ud());
    };
    let v = c.peek(bus, 0, 4)?;
    c.adjust_sp(4);
    c.s.regs[(r0 & 7) as usize] = v;
    Ok(())
}

fn pop<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let size = push_size(d);
    let v = c.peek(bus, 0, size)?;
    match d.i.op0_kind() {
        OpKind::Register => {
            let r = d.i.op0_register();
            if let Some(seg) = Cpu::sreg_of(r) {
                c.load_seg(bus, seg, v as u16)?;
                if seg == Seg::Ss {
                    c.irq_inhibit = true;
                }
                c.adjust_sp(size as u32);
            } else {
                c.adjust_sp(size as u32);
                c.reg_set(r, v);
            }
        }
        _ => {
            // POP r/m: the address is computed with ESP already incremented.
            let old_esp = c.s.regs[4];
            c.adjust_sp(size as u32);
            if let Err(e) = c.op_write(bus, d, 0, v) {
                // The 286 keeps the incremented SP when the store faults.
                if !c.is_286() {
                    c.s.regs[4] = old_esp;
                }
                return Err(e);
            }
        }
    }
    Ok(())
}

fn pop_reg<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let size = push_size(d);
    let Opd::Reg(r0) = d.ops[0] else {
        return Err(Exception::ud());
    };
    let v = c.peek(bus, 0, size)?;
    c.adjust_sp(size as u32);
    c.slot_set(r0, v);
    Ok(())
}

fn pusha<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let size = push_size(d);
    let esp = c.s.regs[4];
    let frame: Vec<u32> = (0..8)
        .map(|r| if r == 4 { esp } else { c.s.regs[r] })
        .collect();
    c.push_frame_current(bus, &frame, size)
}

fn popa<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let size = push_size(d);
    let mut vals = [0u32; 8];
    for (k, v) in vals.iter_mut().enumerate() {
        *v = c.peek(bus, (7 - k as u32) * size as u32, size)?;
    }
    for (r, &v) in vals.iter().enumerate() {
        if r == 4 {
            continue; // the saved SP is skipped
        }
        if size == 4 {
            c.s.regs[r] = v;
        } else {
            c.s.regs[r] = (c.s.regs[r] & !0xffff) | (v & 0xffff);
        }
    }
    c.adjust_sp(8 * size as u32);
    Ok(())
}

fn pushf<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let iopl = (c.s.flags.bits >> 12) & 3;
    if c.s.v86() && iopl < 3 {
        return Err(Exception::gp0());
    }
    // VM and RF read as zero in the pushed image.
    let f = c.eflags() & !(flags::VM | flags::RF);
    c.push(bus, f, push_size(d))
}

fn popf<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let size = push_size(d);
    let iopl = (c.s.flags.bits >> 12) & 3;
    if c.s.v86() && iopl < 3 {
        return Err(Exception::gp0());
    }
    let v = c.peek(bus, 0, size)?;
    let mut mask = flags::ARITH | flags::TF | flags::DF | flags::NT;
    if size == 4 {
        mask |= flags::AC | flags::ID;
    }
    if !c.s.protected_mode() || c.s.cpl == 0 {
        mask |= flags::IOPL;
    }
    if !c.s.protected_mode() || c.s.cpl as u32 <= iopl {
        mask |= flags::IF;
    }
    if c.s.v86() {
        mask &= !flags::IOPL;
    }
    if size == 2 {
        mask &= 0xffff;
    }
    c.adjust_sp(size as u32);
    c.write_eflags(v, mask);
    Ok(())
}

pub fn handler<B: Bus>(m: M, d: &DecodedInsn) -> Option<Handler<B>> {
    let gpr0 = d.i.op0_kind() == OpKind::Register && d.i.op0_register().is_gpr();
    let _ = Register::None;
    Some(match m {
        M::Push if gpr0 && d.o32 && d.osz == 4 => push_reg32::<B>,
        M::Pop if gpr0 && d.o32 && d.osz == 4 => pop_reg32::<B>,
        M::Push if gpr0 => push_reg::<B>,
        M::Push => push::<B>,
        M::Pop if gpr0 => pop_reg::<B>,
        M::Pop => pop::<B>,
        M::Pusha | M::Pushad => pusha::<B>,
        M::Popa | M::Popad => popa::<B>,
        M::Pushf | M::Pushfd => pushf::<B>,
        M::Popf | M::Popfd => popf::<B>,
        _ => return None,
    })
}

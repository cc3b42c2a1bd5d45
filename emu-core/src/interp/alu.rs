//! Integer ALU, moves and bit instructions.

use iced_x86::{Mnemonic as M, OpKind, Register};

use super::{sext, sign_bit, size_mask};
use crate::cpu::exception::{Exception, Result};
use crate::cpu::flags::{self, LazyOp};
use crate::cpu::state::Seg;
use crate::decode::{DecodedInsn, Handler, Opd};
use crate::{Bus, Cpu};

/// The eight classic ALU operations, in opcode order.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Op {
    Add = 0,
    Or,
    Adc,
    Sbb,
    And,
    Sub,
    Xor,
    Cmp,
}

impl Op {
    const fn of(n: u8) -> Op {
        match n {
            0 => Op::Add,
            1 => Op::Or,
            2 => Op::Adc,
            3 => Op::Sbb,
            4 => Op::And,
            5 => Op::Sub,
            6 => Op::Xor,
            _ => Op::Cmp,
        }
    }
}

/// Compute `a OP b` at `size` and record the flags. Returns the result.
#[inline(always)]
fn arith(c: &mut Cpu, op: Op, a: u32, b: u32, size: u8) -> u32 {
    let m = size_mask(size);
    let (r, lazy) = match op {
        Op::Add => (a.wrapping_add(b), LazyOp::Add),
        Op::Adc => {
            let cf = c.s.flags.cf() as u32;
            (
                a.wrapping_add(b).wrapping_add(cf),
                if cf != 0 { LazyOp::Adc } else { LazyOp::Add },
            )
        }
        Op::Sub | Op::Cmp => (a.wrapping_sub(b), LazyOp::Sub),
        Op::Sbb => {
            let cf = c.s.flags.cf() as u32;
            (
                a.wrapping_sub(b).wrapping_sub(cf),
                if cf != 0 { LazyOp::Sbb } else { LazyOp::Sub },
            )
        }
        Op::Or => (a | b, LazyOp::Logic),
        Op::And => (a & b, LazyOp::Logic),
        Op::Xor => (a ^ b, LazyOp::Logic),
    };
    let r = r & m;
    c.s.flags.set_lazy(lazy, size, a & m, b & m, r);
    r
}

fn alu<B: Bus, const OP: u8>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let op = Op::of(OP);
    let a = c.op_read(bus, d, 0)?;
    let b = c.op_read(bus, d, 1)?;
    if op == Op::Cmp {
        arith(c, op, a, b, d.osz);
        return Ok(());
    }
    // Compute on a copy of the flags so a faulting store leaves them untouched.
    let saved = c.s.flags;
    let r = arith(c, op, a, b, d.osz);
    if let Err(e) = c.op_write(bus, d, 0, r) {
        c.s.flags = saved;
        return Err(e);
    }
    Ok(())
}

/// Register-register forms skip the operand-kind dispatch.
/// Second operand of a register-destination form: an immediate (IMM) or a register.
#[inline(always)]
fn reg_or_imm<const IMM: bool>(c: &Cpu, o: Opd) -> u32 {
    match o {
        Opd::Imm(v) if IMM => v,
        Opd::Reg(r) if !IMM => c.slot_get(r),
        _ => 0,
    }
}

fn alu_r_for<B: Bus, const OP: u8>(imm: bool) -> Handler<B> {
    if imm {
        alu_r::<B, OP, true>
    } else {
        alu_r::<B, OP, false>
    }
}

fn alu_r32_for<B: Bus, const OP: u8>(imm: bool) -> Handler<B> {
    if imm {
        alu_r32::<B, OP, true>
    } else {
        alu_r32::<B, OP, false>
    }
}

/// Register destination, register or immediate source.
fn alu_r<B: Bus, const OP: u8, const IMM: bool>(
    c: &mut Cpu,
    _: &mut B,
    d: &DecodedInsn,
) -> Result<()> {
    let Opd::Reg(r0) = d.ops[0] else {
        return Err(Exception::ud());
    };
    let r = arith(
        c,
        Op::of(OP),
        c.slot_get(r0),
        reg_or_imm::<IMM>(c, d.ops[1]),
        d.osz,
    );
    if OP != Op::Cmp as u8 {
        c.slot_set(r0, r);
    }
    Ok(())
}

/// The same at 32 bits: no partial-register views or masks.
fn alu_r32<B: Bus, const OP: u8, const IMM: bool>(
    c: &mut Cpu,
    _: &mut B,
    d: &DecodedInsn,
) -> Result<()> {
    let Opd::Reg(r0) = d.ops[0] else {
        return Err(Exception::ud());
    };
    let i = (r0 & 7) as usize;
    let b = match d.ops[1] {
        Opd::Imm(v) if IMM => v,
        Opd::Reg(j) if !IMM => c.s.regs[(j & 7) as usize],
        _ => 0,
    };
    let r = arith(c, Op::of(OP), c.s.regs[i], b, 4);
    if OP != Op::Cmp as u8 {
        c.s.regs[i] = r;
    }
    Ok(())
}

fn test<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let a = c.op_read(bus, d, 0)?;
    let b = c.op_read(bus, d, 1)?;
    arith(c, Op::And, a, b, d.osz);
    Ok(())
}

fn inc_dec<B: Bus, const DEC: bool>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let a = c.op_read(bus, d, 0)?;
    let m = size_mask(d.osz);
    let r = if DEC {
        a.wrapping_sub(1)
    } else {
        a.wrapping_add(1)
    } & m;
    c.op_write(bus, d, 0, r)?;
    c.s.flags.set_lazy(
        if DEC { LazyOp::Dec } else { LazyOp::Inc },
        d.osz,
        a & m,
        1,
        r,
    );
    Ok(())
}

fn inc_dec_r32<B: Bus, const DEC: bool>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    let Opd::Reg(r0) = d.ops[0] else {
        return Err(Exception::ud());
    };
    let i = (r0 & 7) as usize;
    let a = c.s.regs[i];
    let r = if DEC {
        a.wrapping_sub(1)
    } else {
        a.wrapping_add(1)
    };
    c.s.regs[i] = r;
    c.s.flags
        .set_lazy(if DEC { LazyOp::Dec } else { LazyOp::Inc }, 4, a, 1, r);
    Ok(())
}

fn inc_dec_r<B: Bus, const DEC: bool>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    let Opd::Reg(r0) = d.ops[0] else {
        return Err(Exception::ud());
    };
    let a = c.slot_get(r0);
    let m = size_mask(d.osz);
    let r = if DEC {
        a.wrapping_sub(1)
    } else {
        a.wrapping_add(1)
    } & m;
    c.slot_set(r0, r);
    c.s.flags.set_lazy(
        if DEC { LazyOp::Dec } else { LazyOp::Inc },
        d.osz,
        a & m,
        1,
        r,
    );
    Ok(())
}

fn neg<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let a = c.op_read(bus, d, 0)?;
    let m = size_mask(d.osz);
    let r = 0u32.wrapping_sub(a) & m;
    c.op_write(bus, d, 0, r)?;
    c.s.flags.set_lazy(LazyOp::Sub, d.osz, 0, a & m, r);
    Ok(())
}

fn not<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let a = c.op_read(bus, d, 0)?;
    c.op_write(bus, d, 0, !a & size_mask(d.osz))
}

fn mov<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let v = c.op_read(bus, d, 1)?;
    c.op_write(bus, d, 0, v)
}

fn mov_rr<B: Bus>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    let (Opd::Reg(r0), Opd::Reg(r1)) = (d.ops[0], d.ops[1]) else {
        return Err(Exception::ud());
    };
    let v = c.slot_get(r1);
    c.slot_set(r0, v);
    Ok(())
}

fn mov_r_imm<B: Bus>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    let (Opd::Reg(r0), Opd::Imm(v)) = (d.ops[0], d.ops[1]) else {
        return Err(Exception::ud());
    };
    c.slot_set(r0, v);
    Ok(())
}

fn mov_r_mem<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let Opd::Reg(r0) = d.ops[0] else {
        return Err(Exception::ud());
    };
    let ea = c.ea(d);
    let v = c.read_seg(bus, d.seg, ea, d.osz)?;
    c.slot_set(r0, v);
    Ok(())
}

/// 32-bit loads and stores: the access size is a constant all the way down.
fn mov_r_mem32<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let Opd::Reg(r0) = d.ops[0] else {
        return Err(Exception::ud());
    };
    let ea = c.ea(d);
    c.s.regs[(r0 & 7) as usize] = c.read_seg(bus, d.seg, ea, 4)?;
    Ok(())
}

fn mov_mem_r32<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let Opd::Reg(r1) = d.ops[1] else {
        return Err(Exception::ud());
    };
    let ea = c.ea(d);
    let v = c.s.regs[(r1 & 7) as usize];
    c.write_seg(bus, d.seg, ea, 4, v)
}

fn mov_mem_r<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let Opd::Reg(r1) = d.ops[1] else {
        return Err(Exception::ud());
    };
    let ea = c.ea(d);
    let v = c.slot_get(r1);
    c.write_seg(bus, d.seg, ea, d.osz, v)
}

/// MOV r/m, Sreg (a register destination gets the zero-extended selector with o32).
fn mov_from_sreg<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let v = c.reg_get(d.i.op1_register());
    if d.i.op0_kind() == OpKind::Register {
        let r = d.i.op0_register();
        let full = if r.is_gpr32() { r } else { r.full_register32() };
        if r.is_gpr32() || d.o32 {
            c.reg_set(full, v);
        } else {
            c.reg_set(r, v);
        }
        return Ok(());
    }
    let ea = c.ea(d);
    c.write_seg(bus, d.seg, ea, 2, v)
}

/// MOV Sreg, r/m.
fn mov_to_sreg<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let seg = Cpu::sreg_of(d.i.op0_register()).ok_or(Exception::ud())?;
    if seg == Seg::Cs {
        return Err(Exception::ud());
    }
    let v = if d.i.op1_kind() == OpKind::Register {
        c.reg_get(d.i.op1_register())
    } else {
        let ea = c.ea(d);
        c.read_seg(bus, d.seg, ea, 2)?
    };
    c.load_seg(bus, seg, v as u16)?;
    if seg == Seg::Ss {
        c.irq_inhibit = true;
    }
    Ok(())
}

fn movzx_sx<B: Bus, const SIGNED: bool>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let src_size = if d.i.op1_kind() == OpKind::Register {
        d.i.op1_register().size() as u8
    } else {
        d.msize
    };
    let v = c.op_read(bus, d, 1)?;
    let v = if SIGNED { sext(v, src_size) } else { v };
    c.reg_set(d.i.op0_register(), v & size_mask(d.osz));
    Ok(())
}

fn xchg<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let a = c.op_read(bus, d, 0)?;
    let b = c.op_read(bus, d, 1)?;
    // Memory (if any) is written first so a fault changes nothing.
    if d.i.op0_kind() == OpKind::Memory {
        c.op_write(bus, d, 0, b)?;
        c.op_write(bus, d, 1, a)
    } else {
        c.op_write(bus, d, 1, a)?;
        c.op_write(bus, d, 0, b)
    }
}

fn lea<B: Bus>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    let Opd::Reg(r0) = d.ops[0] else {
        return Err(Exception::ud());
    };
    let ea = c.ea(d);
    c.slot_set(r0, ea);
    Ok(())
}

/// CBW/CWDE (sign-extend into the accumulator).
fn cbw<B: Bus>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    if d.o32 {
        c.s.regs[0] = sext(c.s.regs[0], 2);
    } else {
        c.reg_set(Register::AX, sext(c.s.regs[0], 1));
    }
    Ok(())
}

/// CWD/CDQ (sign into DX/EDX).
fn cwd<B: Bus>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    if d.o32 {
        c.s.regs[2] = if c.s.regs[0] & 0x8000_0000 != 0 {
            u32::MAX
        } else {
            0
        };
    } else {
        let v = if c.s.regs[0] & 0x8000 != 0 { 0xffff } else { 0 };
        c.reg_set(Register::DX, v);
    }
    Ok(())
}

fn bswap<B: Bus>(c: &mut Cpu, _: &mut B, d: &DecodedInsn) -> Result<()> {
    let r = d.i.op0_register();
    let v = c.reg_get(r);
    // With a 16-bit operand the result is undefined; real CPUs give zero.
    c.reg_set(r, if r.is_gpr32() { v.swap_bytes() } else { 0 });
    Ok(())
}

fn xadd<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let a = c.op_read(bus, d, 0)?;
    let b = c.op_read(bus, d, 1)?;
    let saved = c.s.flags;
    let r = arith(c, Op::Add, a, b, d.osz);
    if let Err(e) = c.op_write(bus, d, 0, r) {
        c.s.flags = saved;
        return Err(e);
    }
    c.op_write(bus, d, 1, a)
}

fn cmpxchg<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let dst = c.op_read(bus, d, 0)?;
    let src = c.op_read(bus, d, 1)?;
    let m = size_mask(d.osz);
    let acc = c.s.regs[0] & m;
    let saved = c.s.flags;
    arith(c, Op::Cmp, acc, dst, d.osz);
    if acc == dst & m {
        if let Err(e) = c.op_write(bus, d, 0, src) {
            c.s.flags = saved;
            return Err(e);
        }
    } else {
        // The destination is written back (locked cycle) even on mismatch.
        if let Err(e) = c.op_write(bus, d, 0, dst) {
            c.s.flags = saved;
            return Err(e);
        }
        let acc_reg = match d.osz {
            1 => Register::AL,
            2 => Register::AX,
            _ => Register::EAX,
        };
        c.reg_set(acc_reg, dst);
    }
    Ok(())
}

fn cmpxchg8b<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let lo = c.mem_read_at(bus, d, 0, 4)?;
    let hi = c.mem_read_at(bus, d, 4, 4)?;
    let (eax, edx) = (c.s.regs[0], c.s.regs[2]);
    let equal = lo == eax && hi == edx;
    let (nlo, nhi) = if equal {
        (c.s.regs[3], c.s.regs[1])
    } else {
        (lo, hi)
    };
    c.probe_write(bus, d.seg, c.ea(d), 4)?;
    c.probe_write(bus, d.seg, c.ea(d).wrapping_add(4), 4)?;
    c.mem_write_at(bus, d, 0, 4, nlo)?;
    c.mem_write_at(bus, d, 4, 4, nhi)?;
    if !equal {
        c.s.regs[0] = lo;
        c.s.regs[2] = hi;
    }
    c.s.flags.set_bit(flags::ZF, equal);
    Ok(())
}

fn setcc<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let v = c.s.flags.cond(d.cc) as u32;
    c.op_write(bus, d, 0, v)
}

fn cmovcc<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    // The source is read (and may fault) whether or not the move happens.
    let v = c.op_read(bus, d, 1)?;
    if c.s.flags.cond(d.cc) {
        c.reg_set(d.i.op0_register(), v);
    }
    Ok(())
}

/// BT/BTS/BTR/BTC: 0 test, 1 set, 2 reset, 3 complement.
fn bt<B: Bus, const KIND: u8>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let bits = d.osz as u32 * 8;
    let off = c.op_read(bus, d, 1)?;
    let (val, bit, addr_adj) = if d.i.op0_kind() == OpKind::Register {
        (c.reg_get(d.i.op0_register()), off % bits, None)
    } else if d.i.op1_kind() == OpKind::Register {
        // A register bit offset addresses memory beyond the operand (signed).
        let soff = sext(off, d.osz) as i32;
        let adj = (soff >> (if bits == 32 { 5 } else { 4 })).wrapping_mul(d.osz as i32);
        let v = c.mem_read_at(bus, d, adj as u32, d.osz)?;
        (v, (soff as u32) % bits, Some(adj as u32))
    } else {
        (c.op_read(bus, d, 0)?, off % bits, Some(0))
    };
    let cf = (val >> bit) & 1 != 0;
    let nv = match KIND {
        1 => val | (1 << bit),
        2 => val & !(1 << bit),
        3 => val ^ (1 << bit),
        _ => val,
    };
    if KIND != 0 {
        match addr_adj {
            None => c.reg_set(d.i.op0_register(), nv),
            Some(adj) => c.mem_write_at(bus, d, adj, d.osz, nv)?,
        }
    }
    c.s.flags.set_bit(flags::CF, cf);
    Ok(())
}

fn bsf_bsr<B: Bus, const REV: bool>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let v = c.op_read(bus, d, 1)? & size_mask(d.osz);
    if v == 0 {
        c.s.flags.set_bit(flags::ZF, true);
        return Ok(());
    }
    let n = if REV {
        31 - v.leading_zeros()
    } else {
        v.trailing_zeros()
    };
    c.reg_set(d.i.op0_register(), n);
    let f = c.s.flags.get() & !flags::ZF;
    c.s.flags.set(f);
    Ok(())
}

fn lahf<B: Bus>(c: &mut Cpu, _: &mut B, _: &DecodedInsn) -> Result<()> {
    let f = c.s.flags.get();
    c.reg_set(Register::AH, (f & 0xd5) | 2);
    Ok(())
}

fn sahf<B: Bus>(c: &mut Cpu, _: &mut B, _: &DecodedInsn) -> Result<()> {
    let ah = (c.s.regs[0] >> 8) & 0xff;
    c.s.flags.set_masked(
        ah,
        flags::SF | flags::ZF | flags::AF | flags::PF | flags::CF,
    );
    Ok(())
}

fn flag_op<B: Bus, const BIT: u32, const HOW: u8>(
    c: &mut Cpu,
    _: &mut B,
    _: &DecodedInsn,
) -> Result<()> {
    let on = match HOW {
        0 => false,
        1 => true,
        _ => c.s.flags.get() & BIT == 0,
    };
    c.s.flags.set_bit(BIT, on);
    Ok(())
}

fn nop<B: Bus>(_: &mut Cpu, _: &mut B, _: &DecodedInsn) -> Result<()> {
    Ok(())
}

/// PAUSE: a NOP that lets `PAUSE_NS` of virtual time pass (on the P6 model, which has
/// it), taken off the instruction budget of the blocks chained after it as well.
fn pause<B: Bus>(c: &mut Cpu, _: &mut B, _: &DecodedInsn) -> Result<()> {
    if !c.is_286() {
        let extra = crate::cpu::PAUSE_NS - 1;
        c.stats.idle += extra;
        c.chain_end = c.chain_end.saturating_sub(extra);
    }
    Ok(())
}

/// SALC (undocumented D6): AL = CF ? 0xFF : 0.
fn salc<B: Bus>(c: &mut Cpu, _: &mut B, _: &DecodedInsn) -> Result<()> {
    let v = if c.s.flags.cf() { 0xff } else { 0 };
    c.reg_set(Register::AL, v);
    Ok(())
}

fn xlat<B: Bus>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let base = if d.a32 {
        c.s.regs[3]
    } else {
        c.s.regs[3] & 0xffff
    };
    let mut off = base.wrapping_add(c.s.regs[0] & 0xff);
    if !d.a32 {
        off &= 0xffff;
    }
    let v = c.read_seg(bus, d.seg, off, 1)?;
    c.reg_set(Register::AL, v);
    Ok(())
}

/// LDS/LES/LSS/LFS/LGS: offset then selector from memory.
fn load_far<B: Bus, const SEG: u8>(c: &mut Cpu, bus: &mut B, d: &DecodedInsn) -> Result<()> {
    let size = if d.o32 { 4 } else { 2 };
    let off = c.mem_read_at(bus, d, 0, size)?;
    let sel = c.mem_read_at(bus, d, size as u32, 2)?;
    let seg = Seg::from_index(SEG).ok_or(Exception::ud())?;
    c.load_seg(bus, seg, sel as u16)?;
    c.reg_set(d.i.op0_register(), off);
    if seg == Seg::Ss {
        c.irq_inhibit = true;
    }
    Ok(())
}

pub fn handler<B: Bus>(m: M, d: &DecodedInsn) -> Option<Handler<B>> {
    let rr = d.i.op_count() == 2
        && d.i.op0_kind() == OpKind::Register
        && d.i.op1_kind() == OpKind::Register;
    let rr = rr && d.i.op0_register().is_gpr() && d.i.op1_register().is_gpr();
    let ri = matches!((d.ops[0], d.ops[1]), (Opd::Reg(_), Opd::Imm(_))) && d.i.op_count() == 2;
    let w32 = d.osz == 4;
    let h: Handler<B> = match m {
        M::Add if (rr || ri) && w32 => alu_r32_for::<B, 0>(ri),
        M::Or if (rr || ri) && w32 => alu_r32_for::<B, 1>(ri),
        M::Adc if (rr || ri) && w32 => alu_r32_for::<B, 2>(ri),
        M::Sbb if (rr || ri) && w32 => alu_r32_for::<B, 3>(ri),
        M::And if (rr || ri) && w32 => alu_r32_for::<B, 4>(ri),
        M::Sub if (rr || ri) && w32 => alu_r32_for::<B, 5>(ri),
        M::Xor if (rr || ri) && w32 => alu_r32_for::<B, 6>(ri),
        M::Cmp if (rr || ri) && w32 => alu_r32_for::<B, 7>(ri),
        M::Add if rr || ri => alu_r_for::<B, 0>(ri),
        M::Or if rr || ri => alu_r_for::<B, 1>(ri),
        M::Adc if rr || ri => alu_r_for::<B, 2>(ri),
        M::Sbb if rr || ri => alu_r_for::<B, 3>(ri),
        M::And if rr || ri => alu_r_for::<B, 4>(ri),
        M::Sub if rr || ri => alu_r_for::<B, 5>(ri),
        M::Xor if rr || ri => alu_r_for::<B, 6>(ri),
        M::Cmp if rr || ri => alu_r_for::<B, 7>(ri),
        M::Add => alu::<B, 0>,
        M::Or => alu::<B, 1>,
        M::Adc => alu::<B, 2>,
        M::Sbb => alu::<B, 3>,
        M::And => alu::<B, 4>,
        M::Sub => alu::<B, 5>,
        M::Xor => alu::<B, 6>,
        M::Cmp => alu::<B, 7>,
        M::Test => test::<B>,
        M::Inc if matches!(d.ops[0], Opd::Reg(_)) && w32 => inc_dec_r32::<B, false>,
        M::Dec if matches!(d.ops[0], Opd::Reg(_)) && w32 => inc_dec_r32::<B, true>,
        M::Inc if matches!(d.ops[0], Opd::Reg(_)) => inc_dec_r::<B, false>,
        M::Dec if matches!(d.ops[0], Opd::Reg(_)) => inc_dec_r::<B, true>,
        M::Inc => inc_dec::<B, false>,
        M::Dec => inc_dec::<B, true>,
        M::Neg => neg::<B>,
        M::Not => not::<B>,
        M::Mov => {
            let (k0, k1) = (d.i.op0_kind(), d.i.op1_kind());
            let r0 = d.i.op0_register();
            let r1 = d.i.op1_register();
            if k0 == OpKind::Register && Cpu::sreg_of(r0).is_some() {
                mov_to_sreg::<B>
            } else if k1 == OpKind::Register && Cpu::sreg_of(r1).is_some() {
                mov_from_sreg::<B>
            } else if (k0 == OpKind::Register && !r0.is_gpr())
                || (k1 == OpKind::Register && !r1.is_gpr())
            {
                return None; // control/debug/test registers: system.rs
            } else if rr {
                mov_rr::<B>
            } else if k0 == OpKind::Register && k1 == OpKind::Memory {
                if w32 {
                    mov_r_mem32::<B>
                } else {
                    mov_r_mem::<B>
                }
            } else if k0 == OpKind::Memory && k1 == OpKind::Register {
                if w32 {
                    mov_mem_r32::<B>
                } else {
                    mov_mem_r::<B>
                }
            } else if matches!((d.ops[0], d.ops[1]), (Opd::Reg(_), Opd::Imm(_))) {
                mov_r_imm::<B>
            } else {
                mov::<B>
            }
        }
        M::Movzx => movzx_sx::<B, false>,
        M::Movsx => movzx_sx::<B, true>,
        M::Xchg => xchg::<B>,
        M::Nop => nop::<B>,
        M::Pause => pause::<B>,
        M::Lea => lea::<B>,
        M::Cbw | M::Cwde => cbw::<B>,
        M::Cwd | M::Cdq => cwd::<B>,
        M::Bswap => bswap::<B>,
        M::Xadd => xadd::<B>,
        M::Cmpxchg => cmpxchg::<B>,
        M::Cmpxchg8b => cmpxchg8b::<B>,
        M::Seto
        | M::Setno
        | M::Setb
        | M::Setae
        | M::Sete
        | M::Setne
        | M::Setbe
        | M::Seta
        | M::Sets
        | M::Setns
        | M::Setp
        | M::Setnp
        | M::Setl
        | M::Setge
        | M::Setle
        | M::Setg => setcc::<B>,
        M::Cmovo
        | M::Cmovno
        | M::Cmovb
        | M::Cmovae
        | M::Cmove
        | M::Cmovne
        | M::Cmovbe
        | M::Cmova
        | M::Cmovs
        | M::Cmovns
        | M::Cmovp
        | M::Cmovnp
        | M::Cmovl
        | M::Cmovge
        | M::Cmovle
        | M::Cmovg => cmovcc::<B>,
        M::Bt => bt::<B, 0>,
        M::Bts => bt::<B, 1>,
        M::Btr => bt::<B, 2>,
        M::Btc => bt::<B, 3>,
        M::Bsf => bsf_bsr::<B, false>,
        M::Bsr => bsf_bsr::<B, true>,
        M::Lahf => lahf::<B>,
        M::Sahf => sahf::<B>,
        M::Clc => flag_op::<B, { flags::CF }, 0>,
        M::Stc => flag_op::<B, { flags::CF }, 1>,
        M::Cmc => flag_op::<B, { flags::CF }, 2>,
        M::Cld => flag_op::<B, { flags::DF }, 0>,
        M::Std => flag_op::<B, { flags::DF }, 1>,
        M::Salc => salc::<B>,
        M::Xlatb => xlat::<B>,
        M::Les => load_far::<B, 0>,
        M::Lss => load_far::<B, 2>,
        M::Lds => load_far::<B, 3>,
        M::Lfs => load_far::<B, 4>,
        M::Lgs => load_far::<B, 5>,
        _ => return None,
    };
    let _ = sign_bit(1);
    Some(h)
}

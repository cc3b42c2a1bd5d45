//! The memory accesses of the instruction at CS:EIP, worked out before it runs (iced-x86's
//! instruction info: explicit operands and implicit ones such as stack pushes and string
//! operands), for read and access watchpoints.

use iced_x86::{Decoder, DecoderOptions, InstructionInfoFactory, OpAccess, Register};
use ox86_core::cpu::state::{CpuState, Seg};

use super::mem;
use crate::board::Board;

/// One predicted access: linear address, size in bytes, and whether it reads or writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    pub lin: u32,
    pub len: u32,
    pub read: bool,
    pub write: bool,
}

fn seg_base(s: &CpuState, r: Register) -> Option<u64> {
    let seg = match r {
        Register::ES => Seg::Es,
        Register::CS => Seg::Cs,
        Register::SS => Seg::Ss,
        Register::DS => Seg::Ds,
        Register::FS => Seg::Fs,
        Register::GS => Seg::Gs,
        _ => return None,
    };
    Some(s.seg(seg).base as u64)
}

fn reg_value(s: &CpuState, r: Register) -> Option<u64> {
    if r.is_segment_register() {
        return seg_base(s, r);
    }
    let n = r.number();
    if r.is_gpr32() {
        Some(s.regs[n] as u64)
    } else if r.is_gpr16() {
        Some((s.regs[n] & 0xffff) as u64)
    } else if r.is_gpr8() && n < 4 {
        Some((s.regs[n] & 0xff) as u64)
    } else if r.is_gpr8() && n < 8 {
        Some(((s.regs[n - 4] >> 8) & 0xff) as u64)
    } else if r == Register::EIP {
        Some(s.eip as u64)
    } else {
        None
    }
}

/// The accesses the next instruction will make, as far as its encoding tells (an
/// instruction that faults makes none of them; a REP string instruction is described by
/// its first iteration).
pub fn next_accesses(s: &CpuState, board: &mut Board) -> Vec<Access> {
    let cs = s.seg(Seg::Cs);
    let mut bytes = [0u8; 15];
    let n = mem::read_linear(s, board, cs.base.wrapping_add(s.eip), &mut bytes);
    let bitness = if cs.is_32() { 32 } else { 16 };
    let mut dec = Decoder::with_ip(bitness, &bytes[..n], s.eip as u64, DecoderOptions::NONE);
    if !dec.can_decode() {
        return Vec::new();
    }
    let insn = dec.decode();
    if insn.is_invalid() {
        return Vec::new();
    }
    let mut factory = InstructionInfoFactory::new();
    let info = factory.info(&insn);
    info.used_memory()
        .iter()
        .filter_map(|m| {
            let (read, write) = match m.access() {
                OpAccess::Read | OpAccess::CondRead => (true, false),
                OpAccess::Write | OpAccess::CondWrite => (false, true),
                OpAccess::ReadWrite | OpAccess::ReadCondWrite => (true, true),
                _ => return None,
            };
            let lin = m.virtual_address(0, |r, _, _| reg_value(s, r))? as u32;
            let len = m.memory_size().size().max(1) as u32;
            Some(Access {
                lin,
                len,
                read,
                write,
            })
        })
        .collect()
}

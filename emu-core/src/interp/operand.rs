//! Operand access from the decoded instruction: registers, immediates, memory.

use iced_x86::{OpKind, Register};

use crate::cpu::exception::Result;
use crate::cpu::state::Seg;
use crate::decode::{DecodedInsn, Opd, NO_REG};
use crate::{Bus, Cpu};

impl Cpu {
    /// Read a general register (8, 16 or 32 bits) or segment selector.
    #[inline]
    pub fn reg_get(&self, r: Register) -> u32 {
        let n = r as u32;
        match n {
            1..=4 => self.s.regs[(n - 1) as usize] & 0xff,
            5..=8 => (self.s.regs[(n - 5) as usize] >> 8) & 0xff,
            21..=28 => self.s.regs[(n - 21) as usize] & 0xffff,
            37..=44 => self.s.regs[(n - 37) as usize],
            71..=76 => self.s.segs[(n - 71) as usize].selector as u32,
            _ => 0,
        }
    }

    /// Write a general register (8, 16 or 32 bits), leaving the other bits.
    #[inline]
    pub fn reg_set(&mut self, r: Register, v: u32) {
        let n = r as u32;
        match n {
            1..=4 => {
                let x = &mut self.s.regs[(n - 1) as usize];
                *x = (*x & !0xff) | (v & 0xff);
            }
            5..=8 => {
                let x = &mut self.s.regs[(n - 5) as usize];
                *x = (*x & !0xff00) | ((v & 0xff) << 8);
            }
            21..=28 => {
                let x = &mut self.s.regs[(n - 21) as usize];
                *x = (*x & !0xffff) | (v & 0xffff);
            }
            37..=44 => self.s.regs[(n - 37) as usize] = v,
            _ => {}
        }
    }

    /// Read a register by slot code (see `decode::reg_slot`).
    #[inline(always)]
    pub fn slot_get(&self, code: u8) -> u32 {
        let v = self.s.regs[(code & 7) as usize];
        if code >= 0x18 {
            return v;
        }
        match code >> 3 {
            0 => v & 0xff,
            1 => (v >> 8) & 0xff,
            2 => v & 0xffff,
            _ => v,
        }
    }

    /// Write a register by slot code, leaving the bits outside its view.
    #[inline(always)]
    pub fn slot_set(&mut self, code: u8, v: u32) {
        let r = &mut self.s.regs[(code & 7) as usize];
        if code >= 0x18 {
            *r = v;
            return;
        }
        *r = match code >> 3 {
            0 => (*r & !0xff) | (v & 0xff),
            1 => (*r & !0xff00) | ((v & 0xff) << 8),
            2 => (*r & !0xffff) | (v & 0xffff),
            _ => v,
        };
    }

    /// Effective address (offset within the segment) of the memory operand.
    #[inline]
    pub fn ea(&self, d: &DecodedInsn) -> u32 {
        let mut a = d.disp;
        if d.base != NO_REG {
            a = a.wrapping_add(self.slot_get(d.base));
        }
        if d.index != NO_REG {
            a = a.wrapping_add(self.slot_get(d.index) << d.shift);
        }
        if d.a32 {
            a
        } else {
            a & 0xffff
        }
    }

    /// Read operand `n`.
    #[inline]
    pub fn op_read<B: Bus>(&mut self, bus: &mut B, d: &DecodedInsn, n: u32) -> Result<u32> {
        match d.ops[n as usize] {
            Opd::Reg(c) => return Ok(self.slot_get(c)),
            Opd::Imm(v) => return Ok(v),
            Opd::Mem => {
                let ea = self.ea(d);
                return self.read_seg(bus, d.seg, ea, d.msize.min(4));
            }
            Opd::Other => {}
        }
        let i = &d.i;
        Ok(match i.op_kind(n) {
            OpKind::Register => self.reg_get(i.op_register(n)),
            OpKind::Memory => {
                let ea = self.ea(d);
                return self.read_seg(bus, d.seg, ea, d.msize.min(4));
            }
            OpKind::Immediate8 => i.immediate8() as u32,
            OpKind::Immediate8_2nd => i.immediate8_2nd() as u32,
            OpKind::Immediate16 => i.immediate16() as u32,
            OpKind::Immediate32 => i.immediate32(),
            OpKind::Immediate8to16 => i.immediate8to16() as u16 as u32,
            OpKind::Immediate8to32 => i.immediate8to32() as u32,
            _ => 0,
        })
    }

    /// Write operand `n` (register or memory).
    #[inline]
    pub fn op_write<B: Bus>(&mut self, bus: &mut B, d: &DecodedInsn, n: u32, v: u32) -> Result<()> {
        if let Opd::Reg(c) = d.ops[n as usize] {
            self.slot_set(c, v);
            return Ok(());
        }
        let i = &d.i;
        match i.op_kind(n) {
            OpKind::Register => {
                self.reg_set(i.op_register(n), v);
                Ok(())
            }
            _ => {
                let ea = self.ea(d);
                self.write_seg(bus, d.seg, ea, d.msize.min(4), v)
            }
        }
    }

    /// Read a memory operand of an explicit size at `extra` bytes past the EA.
    #[inline]
    pub fn mem_read_at<B: Bus>(
        &mut self,
        bus: &mut B,
        d: &DecodedInsn,
        extra: u32,
        size: u8,
    ) -> Result<u32> {
        let mut ea = self.ea(d).wrapping_add(extra);
        if !d.a32 {
            ea &= 0xffff;
        }
        self.read_seg(bus, d.seg, ea, size)
    }

    #[inline]
    pub fn mem_write_at<B: Bus>(
        &mut self,
        bus: &mut B,
        d: &DecodedInsn,
        extra: u32,
        size: u8,
        v: u32,
    ) -> Result<()> {
        let mut ea = self.ea(d).wrapping_add(extra);
        if !d.a32 {
            ea &= 0xffff;
        }
        self.write_seg(bus, d.seg, ea, size, v)
    }

    /// Segment register named by an operand.
    pub fn sreg_of(r: Register) -> Option<Seg> {
        match r {
            Register::ES => Some(Seg::Es),
            Register::CS => Some(Seg::Cs),
            Register::SS => Some(Seg::Ss),
            Register::DS => Some(Seg::Ds),
            Register::FS => Some(Seg::Fs),
            Register::GS => Some(Seg::Gs),
            _ => None,
        }
    }
}

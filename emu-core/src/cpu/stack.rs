//! Stack pushes and pops through SS, honouring the stack-size (B) bit.

use super::exception::Result;
use super::state::{Reg, Seg};
use super::Cpu;
use crate::Bus;

impl Cpu {
    /// The stack pointer as an offset (ESP or SP).
    #[inline(always)]
    pub fn sp(&self) -> u32 {
        if self.s.stack32() {
            self.s.regs[Reg::Esp as usize]
        } else {
            self.s.regs[Reg::Esp as usize] & 0xffff
        }
    }

    #[inline(always)]
    pub fn set_sp(&mut self, v: u32) {
        let esp = &mut self.s.regs[Reg::Esp as usize];
        if self.s.segs[Seg::Ss as usize].is_32() {
            *esp = v;
        } else {
            *esp = (*esp & 0xffff_0000) | (v & 0xffff);
        }
    }

    #[inline(always)]
    fn sp_mask(&self) -> u32 {
        if self.s.stack32() {
            u32::MAX
        } else {
            0xffff
        }
    }

    /// Push `size` bytes; ESP changes only if the write succeeds.
    #[inline(always)]
    pub fn push<B: Bus>(&mut self, bus: &mut B, v: u32, size: u8) -> Result<()> {
        let sp = self.sp().wrapping_sub(size as u32) & self.sp_mask();
        self.write_seg(bus, Seg::Ss, sp, size, v)?;
        self.set_sp(sp);
        Ok(())
    }

    /// Read the value `size` bytes at SP + `skip` without popping.
    #[inline(always)]
    pub fn peek<B: Bus>(&mut self, bus: &mut B, skip: u32, size: u8) -> Result<u32> {
        let sp = self.sp().wrapping_add(skip) & self.sp_mask();
        self.read_seg(bus, Seg::Ss, sp, size)
    }

    #[inline(always)]
    pub fn pop<B: Bus>(&mut self, bus: &mut B, size: u8) -> Result<u32> {
        let v = self.peek(bus, 0, size)?;
        self.adjust_sp(size as u32);
        Ok(v)
    }

    #[inline(always)]
    pub fn adjust_sp(&mut self, by: u32) {
        let sp = self.sp().wrapping_add(by);
        self.set_sp(sp);
    }
}

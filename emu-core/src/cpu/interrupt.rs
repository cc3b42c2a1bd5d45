//! Interrupt and exception delivery through the IVT (real mode) or the IDT (protected
//! mode), with double- and triple-fault detection.

use super::exception::{Exception, Result, Vector};
use super::flags;
use super::protected::{sel_err, Descriptor};
use super::state::{attr, Reg, Seg, Segment};
use super::task::SwitchKind;
use super::Cpu;
use crate::Bus;

/// Where an interrupt comes from: decides DPL checks, the EXT bit and error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A fault or trap raised by the CPU.
    Exception,
    /// INTR from the interrupt controller.
    External,
    /// INT n, INT3, INTO: the gate's DPL must allow the caller.
    Software,
}

impl Cpu {
    /// Deliver a fault raised by the current instruction (EIP points at it), turning a
    /// fault during delivery into #DF and a fault during #DF into a triple fault.
    pub fn deliver_exception<B: Bus>(&mut self, bus: &mut B, e: Exception) {
        self.stats.exceptions += 1;
        let eip = self.s.eip;
        let mut cur = e;
        // Bounded: each round either succeeds, escalates, or ends in shutdown.
        for _ in 0..4 {
            let Err(next) = self.deliver(bus, cur.vector(), Source::Exception, cur.error(), eip)
            else {
                return;
            };
            if cur.vector() == Vector::DF as u8 {
                self.shutdown = true;
                return;
            }
            let pf = Vector::PF as u8;
            let double = (cur.is_contributory() && next.is_contributory())
                || (cur.vector() == pf && (next.is_contributory() || next.vector() == pf));
            cur = if double { Exception::df() } else { next };
        }
        self.shutdown = true;
    }

    /// Deliver an external interrupt (EIP is the next instruction).
    pub fn deliver_external<B: Bus>(&mut self, bus: &mut B, vector: u8) {
        self.stats.interrupts += 1;
        self.s.halted = false;
        let eip = self.s.eip;
        if let Err(e) = self.deliver(bus, vector, Source::External, None, eip) {
            self.deliver_exception(bus, e);
        }
    }

    /// Deliver interrupt `vector`; `ret` is the EIP pushed as the return address.
    pub fn deliver<B: Bus>(
        &mut self,
        bus: &mut B,
        vector: u8,
        src: Source,
        error: Option<u32>,
        ret: u32,
    ) -> Result<()> {
        self.end_block = true;
        if !self.s.protected_mode() {
            return self.deliver_real(bus, vector, ret);
        }
        self.deliver_protected(bus, vector, src, error, ret)
    }

    fn deliver_real<B: Bus>(&mut self, bus: &mut B, vector: u8, ret: u32) -> Result<()> {
        let off = vector as u32 * 4;
        if off + 3 > self.s.idtr.limit as u32 {
            return Err(Exception::gp0());
        }
        let ip = self.read_sys(bus, self.s.idtr.base.wrapping_add(off), 2)?;
        let cs = self.read_sys(bus, self.s.idtr.base.wrapping_add(off + 2), 2)? as u16;
        let fl = self.eflags();
        let old_cs = self.s.segs[Seg::Cs as usize].selector as u32;
        self.push_frame_current(bus, &[fl, old_cs, ret], 2)?;
        self.s.flags.set_bit(flags::IF, false);
        self.s.flags.set_bit(flags::TF, false);
        self.s.flags.set_bit(flags::AC, false);
        let s = &mut self.s.segs[Seg::Cs as usize];
        s.selector = cs;
        s.base = (cs as u32) << 4;
        s.attr = (s.attr & !attr::DB) | attr::CODE | attr::RW | attr::PRESENT | attr::S;
        self.s.eip = ip;
        Ok(())
    }

    fn deliver_protected<B: Bus>(
        &mut self,
        bus: &mut B,
        vector: u8,
        src: Source,
        error: Option<u32>,
        ret: u32,
    ) -> Result<()> {
        let ext = (src != Source::Software) as u32;
        let idt_err = vector as u32 * 8 + 2 + ext;
        let off = vector as u32 * 8;
        if off + 7 > self.s.idtr.limit as u32 {
            return Err(Exception::gp(idt_err));
        }
        let base = self.s.idtr.base.wrapping_add(off);
        let gate = Descriptor {
            lo: self.read_sys(bus, base, 4)?,
            hi: self.read_sys(bus, base.wrapping_add(4), 4)?,
        };
        let ty = gate.sys_type();
        if gate.is_segment() || !matches!(ty, 5 | 6 | 7 | 14 | 15) {
            return Err(Exception::gp(idt_err));
        }
        let cpl = self.s.cpl;
        if src == Source::Software && gate.dpl() < cpl {
            return Err(Exception::gp(idt_err));
        }
        if !gate.present() {
            return Err(Exception::np(idt_err));
        }
        if ty == 5 {
            let (tss_sel, tss) = self.task_gate_target(bus, &gate)?;
            return self.task_switch(bus, tss_sel, tss, SwitchKind::Int, ret, error);
        }
        let gate32 = ty >= 14;
        let size = if gate32 { 4 } else { 2 };
        let trap = ty & 1 != 0;
        let sel = gate.gate_selector();
        if sel & 0xfffc == 0 {
            return Err(Exception::gp(ext));
        }
        let d = self
            .try_read_descriptor(bus, sel)?
            .ok_or(Exception::gp(sel_err(sel) + ext))?;
        if !d.is_code() || d.dpl() > cpl {
            return Err(Exception::gp(sel_err(sel) + ext));
        }
        if !d.present() {
            return Err(Exception::np(sel_err(sel) + ext));
        }
        let offset = gate.gate_offset(gate32);
        let old_flags = self.eflags();
        let old_cs = self.s.segs[Seg::Cs as usize].selector as u32;
        let v86 = self.s.v86();
        let inner = !d.conforming() && d.dpl() < cpl;
        if v86 && (!inner || d.dpl() != 0) {
            return Err(Exception::gp(sel_err(sel) + ext));
        }
        let new_cpl = if inner { d.dpl() } else { cpl };
        let mut cs = d.to_segment((sel & !3) | new_cpl as u16);
        cs.attr |= attr::ACCESSED;
        if offset > cs.limit {
            return Err(Exception::gp(ext));
        }
        if inner {
            let (ss_sel, esp) = self.tss_stack(bus, new_cpl)?;
            let ss = self.check_inner_ss(bus, ss_sel, new_cpl)?;
            let old_ss = self.s.segs[Seg::Ss as usize].selector as u32;
            let old_esp = self.s.regs[Reg::Esp as usize];
            let mut frame = Vec::with_capacity(10);
            if v86 {
                for seg in [Seg::Gs, Seg::Fs, Seg::Ds, Seg::Es] {
                    frame.push(self.s.segs[seg as usize].selector as u32);
                }
            }
            frame.extend_from_slice(&[old_ss, old_esp, old_flags, old_cs, ret]);
            if let Some(e) = error {
                frame.push(e);
            }
            let new_sp = self.push_frame_to(bus, &ss, esp, &frame, size, new_cpl)?;
            if v86 {
                for seg in [Seg::Gs, Seg::Fs, Seg::Ds, Seg::Es] {
                    self.s.segs[seg as usize] = Segment::default();
                }
            }
            self.s.segs[Seg::Ss as usize] = ss;
            self.s.regs[Reg::Esp as usize] = if ss.is_32() {
                new_sp
            } else {
                (esp & 0xffff_0000) | (new_sp & 0xffff)
            };
        } else {
            let mut frame = vec![old_flags, old_cs, ret];
            if let Some(e) = error {
                frame.push(e);
            }
            self.push_frame_current(bus, &frame, size)?;
        }
        self.s.cpl = new_cpl;
        self.s.segs[Seg::Cs as usize] = cs;
        self.s.eip = offset;
        let mut clear = flags::TF | flags::NT | flags::RF | flags::VM;
        if !trap {
            clear |= flags::IF;
        }
        let f = self.s.flags.get() & !clear;
        self.s.flags.set(f);
        Ok(())
    }
}

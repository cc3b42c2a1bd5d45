//! Hardware task switching: JMP/CALL to a TSS or task gate, interrupts through a task
//! gate, and IRET with NT set (return to the back-linked task). 16- and 32-bit TSSs.

use super::exception::{Exception, Result};
use super::flags;
use super::protected::{sel_err, Descriptor};
use super::state::{attr, Seg, Segment, CR0_PG, CR0_TS};
use super::Cpu;
use crate::Bus;

/// Why the task switch happens: decides busy bits, NT and the back link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwitchKind {
    Jmp,
    Call,
    /// An interrupt or exception through a task gate (like CALL).
    Int,
    Iret,
}

/// TSS field offsets: (32-bit, 16-bit).
const EIP: (u32, u32) = (0x20, 0x0e);
const EFLAGS: (u32, u32) = (0x24, 0x10);
const REGS: (u32, u32) = (0x28, 0x12);
const SEGS: (u32, u32) = (0x48, 0x22);
const LDT: (u32, u32) = (0x60, 0x2a);

impl Cpu {
    /// Resolve a task gate (in the GDT/LDT or IDT) to its TSS selector and descriptor.
    pub fn task_gate_target<B: Bus>(
        &mut self,
        bus: &mut B,
        gate: &Descriptor,
    ) -> Result<(u16, Descriptor)> {
        let sel = gate.gate_selector();
        if sel & 4 != 0 || sel & 0xfffc == 0 {
            return Err(Exception::gp(sel_err(sel)));
        }
        let d = self.read_descriptor(bus, sel)?;
        Ok((sel, d))
    }

    /// Switch to the task of TSS selector `sel` (descriptor `d`). `ret` is the EIP saved
    /// in the outgoing task; `error` an exception's error code for the new task's stack.
    pub fn task_switch<B: Bus>(
        &mut self,
        bus: &mut B,
        sel: u16,
        d: Descriptor,
        kind: SwitchKind,
        ret: u32,
        error: Option<u32>,
    ) -> Result<()> {
        let err = sel_err(sel);
        if sel & 4 != 0 || d.is_segment() {
            return Err(Exception::gp(err));
        }
        let busy_wanted = kind == SwitchKind::Iret;
        let ty = d.sys_type();
        let ok_type = if busy_wanted {
            matches!(ty, 3 | 11)
        } else {
            matches!(ty, 1 | 9)
        };
        if !ok_type {
            return Err(if busy_wanted {
                Exception::ts(err)
            } else {
                Exception::gp(err)
            });
        }
        if !d.present() {
            return Err(Exception::np(err));
        }
        let new32 = ty & 8 != 0;
        if d.limit() < if new32 { 0x67 } else { 0x2b } {
            return Err(Exception::ts(err));
        }
        let new_base = d.base();
        let field = |f: (u32, u32)| if new32 { f.0 } else { f.1 };

        // Save the outgoing task.
        let old = self.s.tr;
        let old32 = old.attr & 8 != 0;
        let w = if old32 { 4 } else { 2 };
        let ofield = |f: (u32, u32)| if old32 { f.0 } else { f.1 };
        let mut fl = self.eflags();
        if kind == SwitchKind::Iret {
            fl &= !flags::NT;
        }
        self.write_sys(bus, old.base.wrapping_add(ofield(EIP)), w, ret)?;
        self.write_sys(bus, old.base.wrapping_add(ofield(EFLAGS)), w, fl)?;
        for r in 0..8 {
            let v = self.s.regs[r];
            self.write_sys(
                bus,
                old.base.wrapping_add(ofield(REGS) + r as u32 * w as u32),
                w,
                v,
            )?;
        }
        let nsegs = if old32 { 6 } else { 4 };
        for i in 0..nsegs {
            let v = self.s.segs[i].selector as u32;
            self.write_sys(
                bus,
                old.base.wrapping_add(ofield(SEGS) + i as u32 * w as u32),
                2,
                v,
            )?;
        }
        if matches!(kind, SwitchKind::Jmp | SwitchKind::Iret) {
            self.set_tss_busy(bus, old.selector, false)?;
        }

        // Read the incoming task's state before committing anything else.
        let nw = if new32 { 4 } else { 2 };
        let rd = |c: &mut Cpu, bus: &mut B, off: u32, size: u8| {
            c.read_sys(bus, new_base.wrapping_add(off), size)
        };
        let eip = rd(self, bus, field(EIP), nw)?;
        let mut new_flags = rd(self, bus, field(EFLAGS), nw)?;
        let mut regs = [0u32; 8];
        for (r, v) in regs.iter_mut().enumerate() {
            *v = rd(self, bus, field(REGS) + r as u32 * nw as u32, nw)?;
        }
        let mut sels = [0u16; 6];
        for (i, s) in sels.iter_mut().enumerate().take(if new32 { 6 } else { 4 }) {
            *s = rd(self, bus, field(SEGS) + i as u32 * nw as u32, 2)? as u16;
        }
        let ldt = rd(self, bus, field(LDT), 2)? as u16;
        let cr3 = if new32 {
            Some(rd(self, bus, 0x1c, 4)?)
        } else {
            None
        };

        if matches!(kind, SwitchKind::Call | SwitchKind::Int) {
            self.write_sys(bus, new_base, 2, old.selector as u32)?;
            new_flags |= flags::NT;
        }
        if kind != SwitchKind::Iret {
            self.set_tss_busy(bus, sel, true)?;
        }
        let mut tr = d.to_segment(sel);
        tr.attr |= 2; // busy
        self.s.tr = tr;
        self.s.cr0 |= CR0_TS;
        if let Some(cr3) = cr3 {
            if self.s.cr0 & CR0_PG != 0 {
                self.s.cr3 = cr3;
                self.flush_tlb_nonglobal();
            }
        }

        // Load the new state; faults from here on belong to the new task.
        self.s.regs = if new32 {
            regs
        } else {
            regs.map(|v| v & 0xffff)
        };
        self.s.eip = if new32 { eip } else { eip & 0xffff };
        if !new32 {
            new_flags &= 0xffff;
        }
        self.s.flags.set(new_flags);
        self.end_block = true;
        if new_flags & flags::VM != 0 {
            for (i, &s) in sels.iter().enumerate() {
                let mut seg = Segment::real(s);
                seg.attr |= 3 << attr::DPL_SHIFT;
                if i == Seg::Cs as usize {
                    seg.attr |= attr::CODE;
                }
                self.s.segs[i] = seg;
            }
            self.s.cpl = 3;
        } else {
            self.load_task_segments(bus, ldt, &sels, new32)?;
        }
        if let Some(e) = error {
            let size = if new32 { 4 } else { 2 };
            self.push(bus, e, size)?;
        }
        if self.s.eip > self.s.segs[Seg::Cs as usize].limit {
            return Err(Exception::gp0());
        }
        Ok(())
    }

    fn set_tss_busy<B: Bus>(&mut self, bus: &mut B, sel: u16, busy: bool) -> Result<()> {
        let addr = self.s.gdtr.base.wrapping_add((sel & !7) as u32 + 5);
        let b = self.read_sys(bus, addr, 1)?;
        let b = if busy { b | 2 } else { b & !2 };
        self.write_sys(bus, addr, 1, b)
    }

    /// LDTR, CS (CPL from its RPL), SS and the data segments from a TSS; a bad selector
    /// is #TS with that selector.
    fn load_task_segments<B: Bus>(
        &mut self,
        bus: &mut B,
        ldt: u16,
        sels: &[u16; 6],
        new32: bool,
    ) -> Result<()> {
        let ts = |e: Exception, sel: u16| {
            if e.vector() == 13 {
                Exception::ts(sel_err(sel))
            } else {
                e
            }
        };
        // Invalidate the caches first: a failure leaves them unusable, as on hardware.
        if ldt & 0xfffc == 0 {
            self.s.ldtr = Segment {
                selector: ldt,
                ..Default::default()
            };
        } else {
            let d = self
                .try_read_descriptor(bus, ldt & !4)?
                .ok_or(Exception::ts(sel_err(ldt)))?;
            if ldt & 4 != 0 || d.is_segment() || d.sys_type() != 2 {
                return Err(Exception::ts(sel_err(ldt)));
            }
            if !d.present() {
                return Err(Exception::ts(sel_err(ldt)));
            }
            self.s.ldtr = d.to_segment(ldt);
        }
        let cs = sels[Seg::Cs as usize];
        let d = self
            .try_read_descriptor(bus, cs)?
            .ok_or(Exception::ts(sel_err(cs)))?;
        let rpl = (cs & 3) as u8;
        let dpl_ok = if d.conforming() {
            d.dpl() <= rpl
        } else {
            d.dpl() == rpl
        };
        if cs & 0xfffc == 0 || !d.is_code() || !dpl_ok {
            return Err(Exception::ts(sel_err(cs)));
        }
        if !d.present() {
            return Err(Exception::np(sel_err(cs)));
        }
        let mut cseg = d.to_segment(cs);
        cseg.attr |= attr::ACCESSED;
        self.s.segs[Seg::Cs as usize] = cseg;
        self.s.cpl = rpl;
        let ss = sels[Seg::Ss as usize];
        self.load_seg(bus, Seg::Ss, ss).map_err(|e| ts(e, ss))?;
        let data = if new32 {
            &[Seg::Es, Seg::Ds, Seg::Fs, Seg::Gs][..]
        } else {
            &[Seg::Es, Seg::Ds][..]
        };
        for &seg in data {
            let s = sels[seg as usize];
            self.load_seg(bus, seg, s).map_err(|e| ts(e, s))?;
        }
        if !new32 {
            self.s.segs[Seg::Fs as usize] = Segment::default();
            self.s.segs[Seg::Gs as usize] = Segment::default();
        }
        Ok(())
    }
}

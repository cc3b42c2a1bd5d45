//! Protected-mode segmentation: descriptor loads with their privilege checks, and the
//! far transfers (JMP/CALL/RET/IRET) that change CS, including call gates with a stack
//! switch through the TSS. Real and virtual-8086 mode take the simple paths here too.

use super::exception::{Exception, Result};
use super::flags;
use super::state::{attr, Reg, Seg, Segment};
use super::task::SwitchKind;
use super::Cpu;
use crate::Bus;

/// A descriptor as read from the GDT/LDT.
#[derive(Clone, Copy, Debug)]
pub struct Descriptor {
    pub lo: u32,
    pub hi: u32,
}

impl Descriptor {
    pub fn present(&self) -> bool {
        self.hi & (1 << 15) != 0
    }
    pub fn dpl(&self) -> u8 {
        ((self.hi >> 13) & 3) as u8
    }
    /// Code or data (S bit set).
    pub fn is_segment(&self) -> bool {
        self.hi & (1 << 12) != 0
    }
    pub fn is_code(&self) -> bool {
        self.is_segment() && self.hi & (1 << 11) != 0
    }
    pub fn conforming(&self) -> bool {
        self.is_code() && self.hi & (1 << 10) != 0
    }
    pub fn readable(&self) -> bool {
        !self.is_code() || self.hi & (1 << 9) != 0
    }
    pub fn writable_data(&self) -> bool {
        self.is_segment() && !self.is_code() && self.hi & (1 << 9) != 0
    }
    /// System descriptor type (S clear): 0-15.
    pub fn sys_type(&self) -> u8 {
        ((self.hi >> 8) & 0xf) as u8
    }
    pub fn base(&self) -> u32 {
        (self.lo >> 16) | ((self.hi & 0xff) << 16) | (self.hi & 0xff00_0000)
    }
    pub fn limit(&self) -> u32 {
        let raw = (self.lo & 0xffff) | (self.hi & 0x000f_0000);
        if self.hi & (1 << 23) != 0 {
            (raw << 12) | 0xfff
        } else {
            raw
        }
    }
    pub fn to_segment(&self, selector: u16) -> Segment {
        Segment {
            selector,
            base: self.base(),
            limit: self.limit(),
            attr: (((self.hi >> 8) & 0xff) | ((self.hi >> 8) & 0xf000)) as u16,
        }
    }
    /// Gate fields (call/interrupt/trap gates).
    pub fn gate_selector(&self) -> u16 {
        (self.lo >> 16) as u16
    }
    pub fn gate_offset(&self, is32: bool) -> u32 {
        if is32 {
            (self.lo & 0xffff) | (self.hi & 0xffff_0000)
        } else {
            self.lo & 0xffff
        }
    }
    pub fn gate_params(&self) -> u32 {
        self.hi & 0x1f
    }
}

/// Selector error code: index and TI bit (RPL cleared).
#[inline]
pub fn sel_err(sel: u16) -> u32 {
    (sel & 0xfffc) as u32
}

impl Cpu {
    pub fn real_or_v86(&self) -> bool {
        !self.s.protected_mode() || self.s.v86()
    }

    /// Linear address of a selector's descriptor, or None if beyond the table limit.
    fn descriptor_addr(&self, sel: u16) -> Option<u32> {
        let (base, limit) = if sel & 4 != 0 {
            if self.s.ldtr.is_unusable() {
                return None;
            }
            (self.s.ldtr.base, self.s.ldtr.limit)
        } else {
            (self.s.gdtr.base, self.s.gdtr.limit as u32)
        };
        let off = (sel & !7) as u32;
        (off + 7 <= limit).then(|| base.wrapping_add(off))
    }

    /// Read the descriptor of a (non-null) selector; #GP(selector) if outside its table.
    pub fn read_descriptor<B: Bus>(&mut self, bus: &mut B, sel: u16) -> Result<Descriptor> {
        self.try_read_descriptor(bus, sel)?
            .ok_or(Exception::gp(sel_err(sel)))
    }

    /// Like `read_descriptor` but None instead of #GP for a selector outside its table.
    pub fn try_read_descriptor<B: Bus>(
        &mut self,
        bus: &mut B,
        sel: u16,
    ) -> Result<Option<Descriptor>> {
        let Some(addr) = self.descriptor_addr(sel) else {
            return Ok(None);
        };
        let lo = self.read_sys(bus, addr, 4)?;
        let hi = self.read_sys(bus, addr.wrapping_add(4), 4)?;
        Ok(Some(Descriptor { lo, hi }))
    }

    /// Set the accessed bit of a code/data descriptor in memory.
    fn mark_accessed<B: Bus>(&mut self, bus: &mut B, sel: u16, d: &Descriptor) -> Result<()> {
        if d.hi & (1 << 8) == 0 {
            if let Some(addr) = self.descriptor_addr(sel) {
                self.write_sys(bus, addr.wrapping_add(5), 1, (d.hi >> 8) | 1)?;
            }
        }
        Ok(())
    }

    /// Load a data segment register or SS (MOV, POP, LDS...), with protected-mode checks.
    pub fn load_seg<B: Bus>(&mut self, bus: &mut B, seg: Seg, sel: u16) -> Result<()> {
        if !self.s.protected_mode() {
            self.load_seg_real(seg, sel);
            return Ok(());
        }
        if self.s.v86() {
            self.s.segs[seg as usize] = Segment::real(sel);
            self.s.segs[seg as usize].attr |= 3 << attr::DPL_SHIFT;
            return Ok(());
        }
        let cpl = self.s.cpl;
        let rpl = (sel & 3) as u8;
        if sel & 0xfffc == 0 {
            if seg == Seg::Ss {
                return Err(Exception::gp0());
            }
            self.s.segs[seg as usize] = Segment {
                selector: sel,
                ..Default::default()
            };
            return Ok(());
        }
        let d = self.read_descriptor(bus, sel)?;
        let err = sel_err(sel);
        if seg == Seg::Ss {
            if rpl != cpl || !d.writable_data() || d.dpl() != cpl {
                return Err(Exception::gp(err));
            }
            if !d.present() {
                return Err(Exception::ss(err));
            }
        } else {
            if !d.is_segment() || !d.readable() {
                return Err(Exception::gp(err));
            }
            // Data and non-conforming code: DPL must be >= both CPL and RPL.
            if !d.conforming() && (rpl > d.dpl() || cpl > d.dpl()) {
                return Err(Exception::gp(err));
            }
            if !d.present() {
                return Err(Exception::np(err));
            }
        }
        self.mark_accessed(bus, sel, &d)?;
        self.s.segs[seg as usize] = d.to_segment(sel);
        self.s.segs[seg as usize].attr |= attr::ACCESSED;
        Ok(())
    }

    /// Real mode: only selector and base change; limit and attributes stay (unreal mode).
    fn load_seg_real(&mut self, seg: Seg, sel: u16) {
        let s = &mut self.s.segs[seg as usize];
        s.selector = sel;
        s.base = (sel as u32) << 4;
        s.attr |= attr::PRESENT | attr::S;
        if seg == Seg::Cs {
            s.attr = (s.attr & !attr::DB) | attr::CODE | attr::RW;
        } else if s.attr & attr::CODE != 0 {
            s.attr = (s.attr & !(attr::CODE | attr::DC)) | attr::RW;
        }
    }

    /// Load CS in real/V86 mode and jump.
    fn jump_real(&mut self, sel: u16, off: u32) -> Result<()> {
        if self.s.v86() {
            self.s.segs[Seg::Cs as usize] = Segment::real(sel);
            self.s.segs[Seg::Cs as usize].attr |= attr::CODE | (3 << attr::DPL_SHIFT);
        } else {
            self.load_seg_real(Seg::Cs, sel);
        }
        if off > self.s.segs[Seg::Cs as usize].limit {
            return Err(Exception::gp0());
        }
        self.s.eip = off;
        Ok(())
    }

    /// Check a code-segment descriptor for a direct JMP/CALL and return the CS cache.
    fn check_direct_code<B: Bus>(
        &mut self,
        bus: &mut B,
        sel: u16,
        d: &Descriptor,
    ) -> Result<Segment> {
        let err = sel_err(sel);
        let cpl = self.s.cpl;
        if d.conforming() {
            if d.dpl() > cpl {
                return Err(Exception::gp(err));
            }
        } else if (sel & 3) as u8 > cpl || d.dpl() != cpl {
            return Err(Exception::gp(err));
        }
        if !d.present() {
            return Err(Exception::np(err));
        }
        self.mark_accessed(bus, sel, d)?;
        let mut cs = d.to_segment((sel & !3) | cpl as u16);
        cs.attr |= attr::ACCESSED;
        Ok(cs)
    }

    fn set_cs(&mut self, cs: Segment, eip: u32) -> Result<()> {
        if eip > cs.limit {
            return Err(Exception::gp0());
        }
        self.s.cpl = (cs.selector & 3) as u8;
        self.s.segs[Seg::Cs as usize] = cs;
        self.s.eip = eip;
        self.end_block = true;
        Ok(())
    }

    /// Read and check the code segment a gate points to.
    fn gate_target<B: Bus>(&mut self, bus: &mut B, gate: &Descriptor) -> Result<(u16, Descriptor)> {
        let sel = gate.gate_selector();
        if sel & 0xfffc == 0 {
            return Err(Exception::gp0());
        }
        let d = self.read_descriptor(bus, sel)?;
        if !d.is_code() || d.dpl() > self.s.cpl {
            return Err(Exception::gp(sel_err(sel)));
        }
        if !d.present() {
            return Err(Exception::np(sel_err(sel)));
        }
        Ok((sel, d))
    }

    /// JMP ptr16:16/32 and JMP m16:16/32.
    pub fn far_jmp<B: Bus>(&mut self, bus: &mut B, sel: u16, off: u32) -> Result<()> {
        if self.real_or_v86() {
            self.end_block = true;
            return self.jump_real(sel, off);
        }
        if sel & 0xfffc == 0 {
            return Err(Exception::gp0());
        }
        let d = self.read_descriptor(bus, sel)?;
        let err = sel_err(sel);
        if d.is_segment() {
            if !d.is_code() {
                return Err(Exception::gp(err));
            }
            let cs = self.check_direct_code(bus, sel, &d)?;
            return self.set_cs(cs, off);
        }
        match d.sys_type() {
            4 | 12 => {
                // Call gate: no privilege change for JMP.
                if d.dpl() < self.s.cpl || d.dpl() < (sel & 3) as u8 {
                    return Err(Exception::gp(err));
                }
                if !d.present() {
                    return Err(Exception::np(err));
                }
                let (tsel, t) = self.gate_target(bus, &d)?;
                if (!t.conforming() && t.dpl() != self.s.cpl) || t.dpl() > self.s.cpl {
                    return Err(Exception::gp(sel_err(tsel)));
                }
                let mut cs = t.to_segment((tsel & !3) | self.s.cpl as u16);
                cs.attr |= attr::ACCESSED;
                let off = d.gate_offset(d.sys_type() == 12);
                self.set_cs(cs, off)
            }
            1 | 9 | 5 => {
                let ret = self.s.eip;
                self.task_via(bus, sel, d, SwitchKind::Jmp, ret)
            }
            _ => Err(Exception::gp(err)),
        }
    }

    /// JMP/CALL to a TSS or a task gate: privilege checks, then the switch.
    fn task_via<B: Bus>(
        &mut self,
        bus: &mut B,
        sel: u16,
        d: Descriptor,
        kind: SwitchKind,
        ret: u32,
    ) -> Result<()> {
        let err = sel_err(sel);
        if d.dpl() < self.s.cpl || d.dpl() < (sel & 3) as u8 {
            return Err(Exception::gp(err));
        }
        if !d.present() {
            return Err(Exception::np(err));
        }
        let (tss_sel, tss) = if d.sys_type() == 5 {
            self.task_gate_target(bus, &d)?
        } else {
            (sel, d)
        };
        self.task_switch(bus, tss_sel, tss, kind, ret, None)
    }

    /// CALL ptr16:16/32 and CALL m16:16/32. `size` is the operand size (2 or 4);
    /// `ret` the return EIP.
    pub fn far_call<B: Bus>(
        &mut self,
        bus: &mut B,
        sel: u16,
        off: u32,
        size: u8,
        ret: u32,
    ) -> Result<()> {
        if self.real_or_v86() {
            let cs = self.s.segs[Seg::Cs as usize].selector as u32;
            let sp = self.sp();
            self.push(bus, cs, size).inspect_err(|_| self.set_sp(sp))?;
            self.push(bus, ret, size).inspect_err(|_| self.set_sp(sp))?;
            self.end_block = true;
            return self.jump_real(sel, off).inspect_err(|_| self.set_sp(sp));
        }
        if sel & 0xfffc == 0 {
            return Err(Exception::gp0());
        }
        let d = self.read_descriptor(bus, sel)?;
        let err = sel_err(sel);
        let old_cs = self.s.segs[Seg::Cs as usize];
        if d.is_segment() {
            if !d.is_code() {
                return Err(Exception::gp(err));
            }
            let cs = self.check_direct_code(bus, sel, &d)?;
            if off > cs.limit {
                return Err(Exception::gp0());
            }
            let frame = [old_cs.selector as u32, ret];
            self.push_frame_current(bus, &frame, size)?;
            return self.set_cs(cs, off);
        }
        match d.sys_type() {
            4 | 12 => {
                let cpl = self.s.cpl;
                if d.dpl() < cpl || d.dpl() < (sel & 3) as u8 {
                    return Err(Exception::gp(err));
                }
                if !d.present() {
                    return Err(Exception::np(err));
                }
                let gate32 = d.sys_type() == 12;
                let gsize = if gate32 { 4 } else { 2 };
                let (tsel, t) = self.gate_target(bus, &d)?;
                let off = d.gate_offset(gate32);
                if !t.conforming() && t.dpl() < cpl {
                    // More privileged: switch to the inner stack from the TSS.
                    let new_cpl = t.dpl();
                    let (ss_sel, esp) = self.tss_stack(bus, new_cpl)?;
                    let ss = self.check_inner_ss(bus, ss_sel, new_cpl)?;
                    let mut cs = t.to_segment((tsel & !3) | new_cpl as u16);
                    cs.attr |= attr::ACCESSED;
                    if off > cs.limit {
                        return Err(Exception::gp0());
                    }
                    // Parameters come from the old stack.
                    let n = d.gate_params();
                    let mut params = Vec::with_capacity(n as usize);
                    for i in (0..n).rev() {
                        params.push(self.peek(bus, i * gsize as u32, gsize)?);
                    }
                    let old_ss = self.s.segs[Seg::Ss as usize].selector as u32;
                    let old_esp = self.s.regs[Reg::Esp as usize];
                    let mut frame = vec![old_ss, old_esp];
                    frame.extend_from_slice(&params);
                    frame.push(old_cs.selector as u32);
                    frame.push(ret);
                    let new_sp = self.push_frame_to(bus, &ss, esp, &frame, gsize, new_cpl)?;
                    self.s.segs[Seg::Ss as usize] = ss;
                    self.s.regs[Reg::Esp as usize] = if ss.is_32() {
                        new_sp
                    } else {
                        (esp & 0xffff_0000) | (new_sp & 0xffff)
                    };
                    self.set_cs(cs, off)
                } else {
                    let mut cs = t.to_segment((tsel & !3) | cpl as u16);
                    cs.attr |= attr::ACCESSED;
                    if off > cs.limit {
                        return Err(Exception::gp0());
                    }
                    self.push_frame_current(bus, &[old_cs.selector as u32, ret], gsize)?;
                    self.set_cs(cs, off)
                }
            }
            1 | 9 | 5 => self.task_via(bus, sel, d, SwitchKind::Call, ret),
            _ => Err(Exception::gp(err)),
        }
    }

    /// SS:ESP for privilege level `pl` from the current TSS.
    pub fn tss_stack<B: Bus>(&mut self, bus: &mut B, pl: u8) -> Result<(u16, u32)> {
        let tr = self.s.tr;
        let is32 = tr.attr & 0x8 != 0;
        let (off, w) = if is32 {
            (4 + pl as u32 * 8, 4)
        } else {
            (2 + pl as u32 * 4, 2)
        };
        if off + 2 * w - 1 > tr.limit {
            return Err(Exception::ts(sel_err(tr.selector)));
        }
        let esp = self.read_sys(bus, tr.base.wrapping_add(off), w as u8)?;
        let ss = self.read_sys(bus, tr.base.wrapping_add(off + w), 2)? as u16;
        Ok((ss, esp))
    }

    /// Check the inner stack segment named by the TSS (#TS on failure, #SS if absent).
    pub fn check_inner_ss<B: Bus>(&mut self, bus: &mut B, sel: u16, pl: u8) -> Result<Segment> {
        let err = sel_err(sel);
        if sel & 0xfffc == 0 {
            return Err(Exception::ts(0));
        }
        let d = self
            .try_read_descriptor(bus, sel)?
            .ok_or(Exception::ts(err))?;
        if (sel & 3) as u8 != pl || d.dpl() != pl || !d.writable_data() {
            return Err(Exception::ts(err));
        }
        if !d.present() {
            return Err(Exception::ss(err));
        }
        self.mark_accessed(bus, sel, &d)?;
        let mut s = d.to_segment(sel);
        s.attr |= attr::ACCESSED;
        Ok(s)
    }

    /// Write `frame` (first element pushed first) below `sp` on the stack `ss`, checking
    /// the whole frame against the limit first. Returns the new stack offset.
    pub fn push_frame_to<B: Bus>(
        &mut self,
        bus: &mut B,
        ss: &Segment,
        sp: u32,
        frame: &[u32],
        size: u8,
        pl: u8,
    ) -> Result<u32> {
        let mask = if ss.is_32() { u32::MAX } else { 0xffff };
        let total = frame.len() as u32 * size as u32;
        let new_sp = sp.wrapping_sub(total) & mask;
        // A new (inner) stack faults with its selector, the current one with 0.
        let fault = Exception::ss(if pl == self.s.cpl {
            0
        } else {
            sel_err(ss.selector)
        });
        let probe = *ss;
        for i in 0..frame.len() as u32 {
            let off = new_sp.wrapping_add(i * size as u32) & mask;
            let last = off as u64 + size as u64 - 1;
            let bad = if probe.expand_down() {
                off <= probe.limit || last > if probe.is_32() { 0xffff_ffff } else { 0xffff }
            } else {
                last > probe.limit as u64
            };
            if bad {
                return Err(fault);
            }
        }
        for (i, &v) in frame.iter().enumerate() {
            let off = sp.wrapping_sub((i as u32 + 1) * size as u32) & mask;
            self.write_lin_as(bus, ss.base.wrapping_add(off), size, v, pl == 3)?;
        }
        Ok(new_sp)
    }

    /// Push a frame on the current stack atomically (all or nothing).
    pub fn push_frame_current<B: Bus>(
        &mut self,
        bus: &mut B,
        frame: &[u32],
        size: u8,
    ) -> Result<()> {
        let ss = self.s.segs[Seg::Ss as usize];
        let sp = self.sp();
        let pl = self.s.cpl;
        let new_sp = self.push_frame_to(bus, &ss, sp, frame, size, pl)?;
        self.set_sp(new_sp);
        Ok(())
    }

    /// RETF [imm16].
    pub fn far_ret<B: Bus>(&mut self, bus: &mut B, size: u8, imm: u32) -> Result<()> {
        let eip = self.peek(bus, 0, size)?;
        let sel = self.peek(bus, size as u32, size)? as u16;
        if self.real_or_v86() {
            let eip = if size == 2 { eip & 0xffff } else { eip };
            self.jump_real(sel, eip)?;
            self.adjust_sp(2 * size as u32 + imm);
            self.end_block = true;
            return Ok(());
        }
        let cpl = self.s.cpl;
        let rpl = (sel & 3) as u8;
        if sel & 0xfffc == 0 {
            return Err(Exception::gp0());
        }
        let d = self.read_descriptor(bus, sel)?;
        let err = sel_err(sel);
        if !d.is_code()
            || rpl < cpl
            || (d.conforming() && d.dpl() > rpl)
            || (!d.conforming() && d.dpl() != rpl)
        {
            return Err(Exception::gp(err));
        }
        if !d.present() {
            return Err(Exception::np(err));
        }
        let eip = if size == 2 { eip & 0xffff } else { eip };
        let mut cs = d.to_segment(sel);
        cs.attr |= attr::ACCESSED;
        if rpl == cpl {
            if eip > cs.limit {
                return Err(Exception::gp0());
            }
            self.mark_accessed(bus, sel, &d)?;
            self.adjust_sp(2 * size as u32 + imm);
            return self.set_cs(cs, eip);
        }
        // Return to an outer level: SS:ESP follow the parameters.
        let skip = 2 * size as u32 + imm;
        let esp = self.peek(bus, skip, size)?;
        let ss_sel = self.peek(bus, skip + size as u32, size)? as u16;
        let ss = self.check_outer_ss(bus, ss_sel, rpl)?;
        if eip > cs.limit {
            return Err(Exception::gp0());
        }
        self.mark_accessed(bus, sel, &d)?;
        self.set_cs(cs, eip)?;
        self.s.segs[Seg::Ss as usize] = ss;
        let esp = if size == 2 { esp & 0xffff } else { esp };
        self.set_sp(esp.wrapping_add(imm));
        self.null_outer_segments();
        Ok(())
    }

    fn check_outer_ss<B: Bus>(&mut self, bus: &mut B, sel: u16, rpl: u8) -> Result<Segment> {
        let err = sel_err(sel);
        if sel & 0xfffc == 0 {
            return Err(Exception::gp0());
        }
        let d = self.read_descriptor(bus, sel)?;
        if (sel & 3) as u8 != rpl || !d.writable_data() || d.dpl() != rpl {
            return Err(Exception::gp(err));
        }
        if !d.present() {
            return Err(Exception::ss(err));
        }
        self.mark_accessed(bus, sel, &d)?;
        let mut s = d.to_segment(sel);
        s.attr |= attr::ACCESSED;
        Ok(s)
    }

    /// After a return to an outer level, data segments the new CPL may not use become null.
    fn null_outer_segments(&mut self) {
        let cpl = self.s.cpl;
        for seg in [Seg::Es, Seg::Ds, Seg::Fs, Seg::Gs] {
            let s = &mut self.s.segs[seg as usize];
            let conforming_code = s.attr & (attr::CODE | attr::DC) == (attr::CODE | attr::DC);
            if !s.is_unusable() && !conforming_code && s.dpl() < cpl {
                *s = Segment {
                    selector: 0,
                    ..Default::default()
                };
            }
        }
    }

    /// IRET/IRETD.
    pub fn iret<B: Bus>(&mut self, bus: &mut B, size: u8) -> Result<()> {
        self.end_block = true;
        if !self.s.protected_mode() {
            let eip = self.peek(bus, 0, size)?;
            let cs = self.peek(bus, size as u32, size)? as u16;
            let fl = self.peek(bus, 2 * size as u32, size)?;
            let eip = if size == 2 { eip & 0xffff } else { eip };
            self.jump_real(cs, eip)?;
            self.adjust_sp(3 * size as u32);
            let mask =
                if size == 2 { 0xffff } else { 0x257fd5 } & !(flags::VM | flags::VIP | flags::VIF);
            self.write_eflags(fl, mask);
            return Ok(());
        }
        if self.s.v86() {
            if self.s.flags.bits & flags::IOPL != flags::IOPL {
                return Err(Exception::gp0());
            }
            let eip = self.peek(bus, 0, size)?;
            let cs = self.peek(bus, size as u32, size)? as u16;
            let fl = self.peek(bus, 2 * size as u32, size)?;
            let eip = if size == 2 { eip & 0xffff } else { eip };
            self.jump_real(cs, eip)?;
            self.adjust_sp(3 * size as u32);
            let mask = if size == 2 { 0xffff } else { 0x257fd5 }
                & !(flags::VM | flags::IOPL | flags::VIP | flags::VIF);
            self.write_eflags(fl, mask);
            return Ok(());
        }
        if self.s.flags.bits & flags::NT != 0 {
            // Return to the task in the back link.
            let link = self.read_sys(bus, self.s.tr.base, 2)? as u16;
            let d = self
                .try_read_descriptor(bus, link & !4)?
                .ok_or(Exception::ts(sel_err(link)))?;
            let ret = self.s.eip;
            return self.task_switch(bus, link, d, SwitchKind::Iret, ret, None);
        }
        let eip = self.peek(bus, 0, size)?;
        let sel = self.peek(bus, size as u32, size)? as u16;
        let fl = self.peek(bus, 2 * size as u32, size)?;
        let cpl = self.s.cpl;
        if size == 4 && fl & flags::VM != 0 && cpl == 0 {
            return self.iret_to_v86(bus, eip, sel, fl);
        }
        let rpl = (sel & 3) as u8;
        if sel & 0xfffc == 0 {
            return Err(Exception::gp0());
        }
        let d = self.read_descriptor(bus, sel)?;
        let err = sel_err(sel);
        if !d.is_code()
            || rpl < cpl
            || (d.conforming() && d.dpl() > rpl)
            || (!d.conforming() && d.dpl() != rpl)
        {
            return Err(Exception::gp(err));
        }
        if !d.present() {
            return Err(Exception::np(err));
        }
        let eip = if size == 2 { eip & 0xffff } else { eip };
        let mut cs = d.to_segment(sel);
        cs.attr |= attr::ACCESSED;
        let old_iopl = (self.s.flags.bits >> 12) & 3;
        let mut mask = flags::ARITH | flags::TF | flags::DF | flags::NT;
        if size == 4 {
            mask |= flags::RF | flags::AC | flags::ID;
        }
        if cpl == 0 {
            mask |= flags::IOPL;
            if size == 4 {
                mask |= flags::VIF | flags::VIP;
            }
        }
        if cpl as u32 <= old_iopl {
            mask |= flags::IF;
        }
        if rpl == cpl {
            if eip > cs.limit {
                return Err(Exception::gp0());
            }
            self.mark_accessed(bus, sel, &d)?;
            self.adjust_sp(3 * size as u32);
            self.set_cs(cs, eip)?;
            self.write_eflags(fl, mask);
            return Ok(());
        }
        let esp = self.peek(bus, 3 * size as u32, size)?;
        let ss_sel = self.peek(bus, 4 * size as u32, size)? as u16;
        let ss = self.check_outer_ss(bus, ss_sel, rpl)?;
        if eip > cs.limit {
            return Err(Exception::gp0());
        }
        self.mark_accessed(bus, sel, &d)?;
        self.set_cs(cs, eip)?;
        self.write_eflags(fl, mask);
        self.s.segs[Seg::Ss as usize] = ss;
        self.set_sp(if size == 2 { esp & 0xffff } else { esp });
        self.null_outer_segments();
        Ok(())
    }

    /// IRETD from CPL 0 with VM set in the popped EFLAGS: enter virtual-8086 mode.
    fn iret_to_v86<B: Bus>(&mut self, bus: &mut B, eip: u32, cs: u16, fl: u32) -> Result<()> {
        let mut vals = [0u32; 6];
        for (i, v) in vals.iter_mut().enumerate() {
            *v = self.peek(bus, 12 + 4 * i as u32, 4)?;
        }
        let [esp, ss, es, ds, fs, gs] = vals;
        self.s.flags.set(fl);
        let v86seg = |sel: u32| {
            let mut s = Segment::real(sel as u16);
            s.attr |= 3 << attr::DPL_SHIFT;
            s
        };
        self.s.segs[Seg::Cs as usize] = v86seg(cs as u32);
        self.s.segs[Seg::Cs as usize].attr |= attr::CODE;
        self.s.segs[Seg::Ss as usize] = v86seg(ss);
        self.s.segs[Seg::Es as usize] = v86seg(es);
        self.s.segs[Seg::Ds as usize] = v86seg(ds);
        self.s.segs[Seg::Fs as usize] = v86seg(fs);
        self.s.segs[Seg::Gs as usize] = v86seg(gs);
        self.s.regs[Reg::Esp as usize] = esp;
        self.s.eip = eip & 0xffff;
        self.s.cpl = 3;
        self.end_block = true;
        Ok(())
    }

    /// Write EFLAGS bits in `mask` (POPF, IRET): the caller decides which bits the current
    /// privilege may change.
    pub fn write_eflags(&mut self, v: u32, mask: u32) {
        let mut v = v;
        if self.is_286() && !self.s.protected_mode() {
            v &= 0x0fff;
        }
        self.s.flags.set_masked(v, mask);
        self.end_block = true;
    }
}

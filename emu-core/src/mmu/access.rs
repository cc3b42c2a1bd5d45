//! Guest memory accesses: segment checks, then the soft TLB (hit: a direct RAM access),
//! then the page walk and the physical slow path (ROM, MMIO, code tracking).

use crate::cpu::exception::{Exception, Result};
use crate::cpu::state::{attr, Seg, CR0_PE};
use crate::cpu::Cpu;
use crate::Bus;

#[inline(always)]
fn ram_read(m: &crate::PhysMemory, pa: u64, size: u8) -> u32 {
    match size {
        1 => m.read_u8(pa) as u32,
        2 => m.read_u16(pa) as u32,
        _ => m.read_u32(pa),
    }
}

/// Store into RAM without code tracking (the caller has dealt with it).
#[inline(always)]
fn ram_write(m: &mut crate::PhysMemory, pa: u64, size: u8, v: u32) {
    match size {
        1 => m.write_u8_fast(pa, v as u8),
        2 => m.write_u16_fast(pa, v as u16),
        _ => m.write_u32_fast(pa, v),
    }
}

impl Cpu {
    #[inline]
    fn user_access(&self) -> bool {
        self.s.cpl == 3
    }

    /// Read `size` (1, 2, 4) bytes at a linear address with the current privilege.
    #[inline(always)]
    pub fn read_lin<B: Bus>(&mut self, bus: &mut B, lin: u32, size: u8) -> Result<u32> {
        let user = self.user_access();
        self.read_lin_as(bus, lin, size, user)
    }

    /// Read as a system access (descriptor tables, TSS, IDT): supervisor privilege.
    pub fn read_sys<B: Bus>(&mut self, bus: &mut B, lin: u32, size: u8) -> Result<u32> {
        self.read_lin_as(bus, lin, size, false)
    }

    pub fn write_sys<B: Bus>(&mut self, bus: &mut B, lin: u32, size: u8, v: u32) -> Result<()> {
        self.write_lin_as(bus, lin, size, v, false)
    }

    #[inline(always)]
    pub fn read_lin_as<B: Bus>(
        &mut self,
        bus: &mut B,
        lin: u32,
        size: u8,
        user: bool,
    ) -> Result<u32> {
        if (lin & 0xfff) + size as u32 <= 0x1000 {
            if let Some(pa) = self.tlb.read_hit(user, lin) {
                return Ok(ram_read(bus.mem(), pa as u64, size));
            }
        }
        self.read_lin_slow(bus, lin, size, user)
    }

    /// TLB miss, a page-crossing access, or memory outside RAM.
    #[inline(never)]
    fn read_lin_slow<B: Bus>(
        &mut self,
        bus: &mut B,
        lin: u32,
        size: u8,
        user: bool,
    ) -> Result<u32> {
        self.check_data_breakpoints(lin, size, false);
        if (lin & 0xfff) + size as u32 <= 0x1000 {
            let pa = self.translate_fill(bus, lin, false, user)?;
            return Ok(self.phys_read(bus, pa, size));
        }
        // Crosses a page: each byte translated on its own (faults before any effect).
        let mut v = 0;
        for i in 0..size as u32 {
            let pa = self.translate_fill(bus, lin.wrapping_add(i), false, user)?;
            v |= self.phys_read(bus, pa, 1) << (8 * i);
        }
        Ok(v)
    }

    #[inline(always)]
    pub fn write_lin<B: Bus>(&mut self, bus: &mut B, lin: u32, size: u8, v: u32) -> Result<()> {
        let user = self.user_access();
        self.write_lin_as(bus, lin, size, v, user)
    }

    #[inline(always)]
    pub fn write_lin_as<B: Bus>(
        &mut self,
        bus: &mut B,
        lin: u32,
        size: u8,
        v: u32,
        user: bool,
    ) -> Result<()> {
        if (lin & 0xfff) + size as u32 <= 0x1000 {
            if let Some(pa) = self.tlb.write_hit(user, lin) {
                ram_write(bus.mem(), pa as u64, size, v);
                return Ok(());
            }
        }
        self.write_lin_slow(bus, lin, size, v, user)
    }

    #[inline(never)]
    fn write_lin_slow<B: Bus>(
        &mut self,
        bus: &mut B,
        lin: u32,
        size: u8,
        v: u32,
        user: bool,
    ) -> Result<()> {
        self.check_data_breakpoints(lin, size, true);
        if (lin & 0xfff) + size as u32 <= 0x1000 {
            let pa = self.translate_fill(bus, lin, true, user)?;
            self.phys_write(bus, pa, size, v);
            return Ok(());
        }
        // Crosses a page: translate both pages before writing anything.
        let last = lin.wrapping_add(size as u32 - 1);
        self.translate_fill(bus, lin, true, user)?;
        self.translate_fill(bus, last, true, user)?;
        for i in 0..size as u32 {
            let pa = self.translate_fill(bus, lin.wrapping_add(i), true, user)?;
            self.phys_write(bus, pa, 1, v >> (8 * i));
        }
        Ok(())
    }

    /// Walk and, for RAM, fill the TLB.
    pub(crate) fn translate_fill<B: Bus>(
        &mut self,
        bus: &mut B,
        lin: u32,
        write: bool,
        user: bool,
    ) -> Result<u64> {
        let t = self.walk(bus, lin, write, user)?;
        let m = bus.mem();
        if m.is_ram(t.phys | 0xfff) && t.phys < 1 << 32 && !self.watched_page(lin) {
            let writable = t.writable && m.page_fast_writable(t.phys);
            if writable {
                m.note_writable_fill(t.phys);
            }
            self.tlb.fill(user, lin, t.phys as u32, writable, t.global);
        }
        Ok(t.phys)
    }

    /// A physical read outside the TLB fast path.
    pub fn phys_read<B: Bus>(&mut self, bus: &mut B, pa: u64, size: u8) -> u32 {
        let m = bus.mem();
        if m.is_ram(pa + size as u64 - 1) {
            ram_read(m, pa, size)
        } else {
            // Keep only the bytes asked for, whatever the device returned.
            bus.mmio_read(pa, size) & crate::interp::size_mask(size)
        }
    }

    /// A physical write outside the TLB fast path: read-only (ROM or shadow) pages hand it
    /// to the bus as an MMIO write (which may drop it), code pages are tracked.
    pub fn phys_write<B: Bus>(&mut self, bus: &mut B, pa: u64, size: u8, v: u32) {
        let m = bus.mem();
        if m.is_ram(pa + size as u64 - 1) {
            if m.page_readonly(pa) {
                bus.mmio_write(pa, size, v);
                return;
            }
            if m.note_write(pa, size as usize) {
                self.code_dirty = true;
                self.end_block = true;
            }
            ram_write(m, pa, size, v);
        } else {
            bus.mmio_write(pa, size, v);
        }
    }

    /// Check a segment access and return the linear address.
    #[inline(always)]
    pub fn seg_lin(&self, seg: Seg, off: u32, size: u8, write: bool) -> Result<u32> {
        let s = &self.s.segs[seg as usize];
        // Fast path: real mode (no permission checks), or a protected-mode data segment
        // that is present, writable and expand-up; the access lies within the limit.
        let plain = if self.s.cr0 & CR0_PE == 0 {
            true
        } else {
            s.attr & (attr::PRESENT | attr::CODE | attr::DC | attr::RW) == attr::PRESENT | attr::RW
        };
        if plain && (off as u64 + size as u64 - 1) <= s.limit as u64 && !s.expand_down() {
            return Ok(s.base.wrapping_add(off));
        }
        self.seg_lin_slow(seg, off, size, write)
    }

    #[inline(never)]
    fn seg_lin_slow(&self, seg: Seg, off: u32, size: u8, write: bool) -> Result<u32> {
        let s = &self.s.segs[seg as usize];
        // The 286 reports every real-mode segment overrun as exception 13.
        let real_286 = self.is_286() && self.s.cr0 & CR0_PE == 0;
        let fault = || {
            if seg == Seg::Ss && !real_286 {
                Exception::ss(0)
            } else {
                Exception::gp0()
            }
        };
        if self.s.cr0 & CR0_PE != 0 && !self.s.v86() {
            if s.is_unusable() {
                return Err(fault());
            }
            let ok = if write {
                s.attr & (attr::CODE | attr::RW) == attr::RW
            } else {
                s.attr & (attr::CODE | attr::RW) != attr::CODE
            };
            if !ok {
                return Err(Exception::gp0());
            }
        }
        let last = off as u64 + size as u64 - 1;
        if s.expand_down() {
            let upper = if s.is_32() { 0xffff_ffff } else { 0xffff };
            if off <= s.limit || last > upper {
                return Err(fault());
            }
        } else if last > s.limit as u64 {
            return Err(fault());
        }
        Ok(s.base.wrapping_add(off))
    }

    #[inline(always)]
    pub fn read_seg<B: Bus>(&mut self, bus: &mut B, seg: Seg, off: u32, size: u8) -> Result<u32> {
        let lin = self.seg_lin(seg, off, size, false)?;
        self.read_lin(bus, lin, size)
    }

    #[inline(always)]
    pub fn write_seg<B: Bus>(
        &mut self,
        bus: &mut B,
        seg: Seg,
        off: u32,
        size: u8,
        v: u32,
    ) -> Result<()> {
        let lin = self.seg_lin(seg, off, size, true)?;
        self.write_lin(bus, lin, size, v)
    }

    /// Read `len` (<= 16) bytes at `seg:off` in one step when the whole operand is in
    /// the segment, in one page and in the TLB; `None` sends the caller to the general
    /// per-piece path (which also raises any fault).
    #[inline]
    pub fn read_seg_wide<B: Bus>(
        &mut self,
        bus: &mut B,
        seg: Seg,
        off: u32,
        len: u32,
    ) -> Option<u128> {
        let lin = self.seg_lin(seg, off, len as u8, false).ok()?;
        if (lin & 0xfff) + len > 0x1000 {
            return None;
        }
        let pa = self.tlb.read_hit(self.user_access(), lin)? as usize;
        let src = bus.mem().ram().get(pa..pa + len as usize)?;
        // Whole-integer loads for the common sizes (no store-to-load stall).
        Some(match len {
            8 => u64::from_le_bytes(src.try_into().ok()?) as u128,
            4 => u32::from_le_bytes(src.try_into().ok()?) as u128,
            _ => {
                let mut b = [0u8; 16];
                b[..len as usize].copy_from_slice(src);
                u128::from_le_bytes(b)
            }
        })
    }

    /// Write the low `len` (<= 16) bytes of `v` like `read_seg_wide` reads; false sends
    /// the caller to the general path. TLB write hits are pages without code, so no
    /// code tracking is needed.
    #[inline]
    pub fn write_seg_wide<B: Bus>(
        &mut self,
        bus: &mut B,
        seg: Seg,
        off: u32,
        len: u32,
        v: u128,
    ) -> bool {
        let Ok(lin) = self.seg_lin(seg, off, len as u8, true) else {
            return false;
        };
        if (lin & 0xfff) + len > 0x1000 {
            return false;
        }
        let Some(pa) = self.tlb.write_hit(self.user_access(), lin) else {
            return false;
        };
        let pa = pa as usize;
        match bus.mem().ram_mut().get_mut(pa..pa + len as usize) {
            Some(dst) => dst.copy_from_slice(&v.to_le_bytes()[..len as usize]),
            None => return false,
        }
        true
    }

    /// Check that a write would succeed (segment and page), without writing: for
    /// instructions that must fault before changing any state.
    pub fn probe_write<B: Bus>(&mut self, bus: &mut B, seg: Seg, off: u32, size: u8) -> Result<()> {
        let lin = self.seg_lin(seg, off, size, true)?;
        let user = self.user_access();
        let last = lin.wrapping_add(size as u32 - 1);
        // A TLB write hit is a page a write walk already passed.
        if self.tlb.write_hit(user, lin).is_some() && self.tlb.write_hit(user, last).is_some() {
            return Ok(());
        }
        self.translate_fill(bus, lin, true, user)?;
        self.translate_fill(bus, lin.wrapping_add(size as u32 - 1), true, user)?;
        Ok(())
    }

    /// Keep the TLB coherent with the memory's code/ROM map (called at block boundaries).
    #[inline]
    pub fn sync_tlb<B: Bus>(&mut self, bus: &mut B) {
        let m = bus.mem();
        let (g, mg) = (m.write_gen, m.map_gen);
        if mg != self.tlb.map_gen {
            self.tlb.flush_all();
            self.tlb.map_gen = mg;
        }
        if g != self.tlb.mem_gen {
            self.tlb.drop_writes();
            self.tlb.mem_gen = g;
        }
    }

    pub fn flush_tlb_page(&mut self, lin: u32) {
        self.tlb.flush_page(lin);
    }

    pub fn flush_tlb_nonglobal(&mut self) {
        self.tlb.flush_nonglobal();
    }
}

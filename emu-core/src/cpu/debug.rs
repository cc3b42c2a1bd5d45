//! Debug registers: instruction and data breakpoints from DR0-DR3 under DR7.
//!
//! Data breakpoints cost nothing on the fast path: a page holding a watched address never
//! gets a soft-TLB entry, so every access to it takes the slow path, which checks here.

use super::flags;
use super::state::Seg;
use super::Cpu;

impl Cpu {
    /// Has a debugger set breakpoints (`debug_breaks`, `debug_phys_breaks`)?
    #[inline]
    pub fn debug_breaks_armed(&self) -> bool {
        !(self.debug_breaks.is_empty() && self.debug_phys_breaks.is_empty())
    }

    /// Is any breakpoint enabled in DR7?
    #[inline]
    pub fn breakpoints_armed(&self) -> bool {
        self.s.dr[7] & 0xff != 0
    }

    fn bp_enabled(&self, i: usize) -> bool {
        (self.s.dr[7] >> (2 * i)) & 3 != 0
    }

    /// R/W field: 0 execute, 1 write, 3 read/write (2, I/O, needs CR4.DE: unsupported).
    fn bp_kind(&self, i: usize) -> u32 {
        (self.s.dr[7] >> (16 + 4 * i)) & 3
    }

    fn bp_len(&self, i: usize) -> u32 {
        match (self.s.dr[7] >> (18 + 4 * i)) & 3 {
            0 => 1,
            1 => 2,
            2 => 8,
            _ => 4,
        }
    }

    /// DR6 B-bits of instruction breakpoints matching CS:EIP (none while RF is set).
    pub fn instruction_breakpoint(&self) -> Option<u32> {
        if !self.breakpoints_armed() || self.s.flags.bits & flags::RF != 0 {
            return None;
        }
        let lin = self.s.segs[Seg::Cs as usize].base.wrapping_add(self.s.eip);
        let hits: u32 = (0..4)
            .filter(|&i| self.bp_enabled(i) && self.bp_kind(i) == 0 && self.s.dr[i] == lin)
            .map(|i| 1 << i)
            .sum();
        (hits != 0).then_some(hits)
    }

    /// Does the linear page of `lin` hold a watched address (keep it out of the TLB)?
    pub(crate) fn watched_page(&self, lin: u32) -> bool {
        self.breakpoints_armed()
            && (0..4).any(|i| {
                self.bp_enabled(i) && self.bp_kind(i) != 0 && (self.s.dr[i] ^ lin) & !0xfff == 0
            })
    }

    /// Record data breakpoints an access of `size` bytes at `lin` hits.
    pub(crate) fn check_data_breakpoints(&mut self, lin: u32, size: u8, write: bool) {
        if !self.breakpoints_armed() {
            return;
        }
        for i in 0..4 {
            let kind = self.bp_kind(i);
            if !self.bp_enabled(i) || !(kind == 3 || (kind == 1 && write)) {
                continue;
            }
            let len = self.bp_len(i);
            let start = self.s.dr[i] & !(len - 1);
            let (a0, a1) = (lin as u64, lin as u64 + size as u64);
            if a0 < start as u64 + len as u64 && (start as u64) < a1 {
                self.db_hits |= 1 << i;
            }
        }
    }
}

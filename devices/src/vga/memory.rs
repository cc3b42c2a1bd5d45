//! CPU access to the 256 KiB of planar video memory through the legacy window
//! (0xA0000-0xBFFFF): memory map select, chain-4 and odd/even addressing, the latches,
//! read modes 0 and 1, write modes 0-3 (rotate, set/reset, logical operation, bit mask)
//! and the map mask.
//!
//! Layout (as QEMU keeps it): plane offset `o` of plane `p` is byte `4 * o + p` of video
//! memory, so the four planes at one offset form a little-endian u32 (the latch width).
//! Chain-4 addresses then reach byte `addr` directly, odd/even addresses offset
//! `addr >> 1` of plane 0/1 (or 2/3), and planar addresses offset `addr`.

use super::regs::*;
use super::Vga;

/// Plane offsets in 256 KiB.
pub const PLANE_SIZE: usize = 0x10000;

/// Each of the low 4 bits of `m` widened to a byte of ones (one byte per plane).
#[inline]
pub fn expand4(m: u8) -> u32 {
    (0..4).fold(0, |v, p| {
        if m >> p & 1 != 0 {
            v | 0xff << (8 * p)
        } else {
            v
        }
    })
}

/// A byte repeated in all four planes.
#[inline]
fn splat(b: u8) -> u32 {
    b as u32 * 0x0101_0101
}

impl Vga {
    /// The window the graphics controller's memory map select decodes, as (start, size)
    /// offsets from 0xA0000.
    fn window(&self) -> (u32, u32) {
        match (self.regs.gc[GC_MISC] >> 2) & 3 {
            0 => (0, 0x20000),
            1 => (0, 0x10000),
            2 => (0x10000, 0x8000),
            _ => (0x18000, 0x8000),
        }
    }

    /// The address within the decoded window, or None when `off` (from 0xA0000) is
    /// outside it.
    fn window_addr(&self, off: u32) -> Option<u32> {
        let (start, size) = self.window();
        (off >= start && off < start + size).then(|| off - start)
    }

    #[inline]
    fn word(&self, o: usize) -> u32 {
        let a = (o & (PLANE_SIZE - 1)) * 4;
        u32::from_le_bytes([
            self.vram[a],
            self.vram[a + 1],
            self.vram[a + 2],
            self.vram[a + 3],
        ])
    }

    #[inline]
    fn set_word(&mut self, o: usize, v: u32) {
        let a = (o & (PLANE_SIZE - 1)) * 4;
        self.vram[a..a + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// A byte read at `off` from 0xA0000.
    pub fn mem_read(&mut self, off: u32) -> u8 {
        if self.vbe.enabled() {
            // The bank window: 0xA0000-0xAFFFF, plain bytes of video memory.
            return match off {
                0..0x10000 => self
                    .vram
                    .get(self.vbe.bank_addr(off))
                    .copied()
                    .unwrap_or(0xff),
                _ => 0xff,
            };
        }
        let Some(addr) = self.window_addr(off) else {
            return 0xff;
        };
        let r = &self.regs;
        let (o, plane) = if r.seq[SEQ_MEMORY] & 0x08 != 0 {
            ((addr >> 2) as usize, Some(addr & 3))
        } else if r.gc[GC_MODE] & 0x10 != 0 {
            (
                (addr >> 1) as usize,
                Some((r.gc[GC_READ_MAP] as u32 & 2) | (addr & 1)),
            )
        } else {
            (addr as usize, None)
        };
        self.latch = self.word(o);
        let r = &self.regs;
        if let Some(p) = plane {
            return (self.latch >> (8 * p)) as u8;
        }
        if r.gc[GC_MODE] & 0x08 == 0 {
            // Read mode 0: the selected plane.
            (self.latch >> (8 * (r.gc[GC_READ_MAP] & 3))) as u8
        } else {
            // Read mode 1: colour compare; a bit is 1 where every plane that counts
            // matches the colour compare register.
            let mut x = (self.latch ^ expand4(r.gc[GC_COMPARE])) & expand4(r.gc[GC_DONT_CARE]);
            x |= x >> 16;
            x |= x >> 8;
            !(x as u8)
        }
    }

    /// A byte written at `off` from 0xA0000.
    pub fn mem_write(&mut self, off: u32, val: u8) {
        if self.vbe.enabled() {
            if off < 0x10000 {
                let a = self.vbe.bank_addr(off);
                if let Some(b) = self.vram.get_mut(a) {
                    *b = val;
                }
            }
            return;
        }
        let Some(addr) = self.window_addr(off) else {
            return;
        };
        let r = &self.regs;
        let (o, planes) = if r.seq[SEQ_MEMORY] & 0x08 != 0 {
            ((addr >> 2) as usize, 1u8 << (addr & 3))
        } else if r.seq[SEQ_MEMORY] & 0x04 == 0 {
            // Odd/even: even addresses write planes 0 and 2, odd ones 1 and 3.
            (
                (addr >> 1) as usize,
                if addr & 1 != 0 { 0b1010 } else { 0b0101 },
            )
        } else {
            (addr as usize, 0b1111)
        };
        let v = self.write_data(val);
        let mask = expand4(self.regs.seq[SEQ_MAP_MASK] & planes);
        let old = self.word(o);
        self.set_word(o, (old & !mask) | (v & mask));
    }

    /// The four plane bytes a CPU write of `val` produces (before the map mask).
    fn write_data(&self, val: u8) -> u32 {
        let gc = &self.regs.gc;
        let latch = self.latch;
        let rotate = (gc[GC_ROTATE] & 7) as u32;
        let (v, bit_mask) = match gc[GC_MODE] & 3 {
            0 => {
                let d = splat(val.rotate_right(rotate));
                let en = expand4(gc[GC_SR_ENABLE]);
                ((d & !en) | (expand4(gc[GC_SR_VALUE]) & en), gc[GC_BIT_MASK])
            }
            // Write mode 1: the latches, as they are.
            1 => return latch,
            2 => (expand4(val), gc[GC_BIT_MASK]),
            _ => (
                expand4(gc[GC_SR_VALUE]),
                gc[GC_BIT_MASK] & val.rotate_right(rotate),
            ),
        };
        let v = match (gc[GC_ROTATE] >> 3) & 3 {
            1 => v & latch,
            2 => v | latch,
            3 => v ^ latch,
            _ => v,
        };
        let bm = splat(bit_mask);
        (v & bm) | (latch & !bm)
    }
}

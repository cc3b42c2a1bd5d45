//! The Bochs VBE extension ("dispi"): an index port (0x1CE) and a data port (0x1CF) for
//! linear modes of 8, 15, 16, 24 and 32 bits per pixel, seen through the 64 KiB bank
//! window at 0xA0000 or the linear framebuffer (the PCI function's BAR0).

use serde::{Deserialize, Serialize};

pub const INDEX_PORT: u16 = 0x1ce;
pub const DATA_PORT: u16 = 0x1cf;
/// QEMU also answers the data port here.
pub const DATA_PORT_ALT: u16 = 0x1d0;

pub const ID: usize = 0;
pub const XRES: usize = 1;
pub const YRES: usize = 2;
pub const BPP: usize = 3;
pub const ENABLE: usize = 4;
pub const BANK: usize = 5;
pub const VIRT_WIDTH: usize = 6;
pub const VIRT_HEIGHT: usize = 7;
pub const X_OFFSET: usize = 8;
pub const Y_OFFSET: usize = 9;
pub const VIDEO_MEMORY_64K: usize = 10;
const REGS: usize = 11;

pub const ID0: u16 = 0xb0c0;
pub const ID5: u16 = 0xb0c5;

pub const ENABLED: u16 = 0x01;
pub const GETCAPS: u16 = 0x02;
pub const DAC_8BIT: u16 = 0x20;
pub const LFB_ENABLED: u16 = 0x40;
pub const NOCLEARMEM: u16 = 0x80;

/// The limits QEMU reports (GETCAPS); video memory limits the height further.
pub const MAX_XRES: u16 = 16000;
pub const MAX_YRES: u16 = 12000;
pub const MAX_BPP: u16 = 32;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vbe {
    pub index: u16,
    pub regs: [u16; REGS],
    /// Video memory size in bytes (a multiple of 64 KiB).
    pub vram_size: u32,
}

/// Bytes per pixel of a depth (15 bits take two bytes).
pub fn bytes_per_pixel(bpp: u16) -> u32 {
    (bpp as u32).div_ceil(8)
}

impl Vbe {
    pub fn new(vram_size: u32) -> Self {
        let mut regs = [0; REGS];
        regs[ID] = ID5;
        regs[VIDEO_MEMORY_64K] = (vram_size >> 16) as u16;
        Vbe {
            index: 0,
            regs,
            vram_size,
        }
    }

    pub fn enabled(&self) -> bool {
        self.regs[ENABLE] & ENABLED != 0
    }

    pub fn dac_8bit(&self) -> bool {
        self.regs[ENABLE] & DAC_8BIT != 0
    }

    /// Bytes from one line to the next.
    pub fn line_bytes(&self) -> u32 {
        self.regs[VIRT_WIDTH] as u32 * bytes_per_pixel(self.regs[BPP])
    }

    /// The video memory byte behind `off` (from 0xA0000, below 0x10000) in the 64 KiB
    /// window at 0xA0000, which shows the selected bank while a VBE mode is on.
    pub fn bank_addr(&self, off: u32) -> usize {
        ((self.regs[BANK] as u32) << 16 | (off & 0xffff)) as usize
    }

    pub fn read(&self, port: u16) -> u16 {
        if port == INDEX_PORT {
            return self.index;
        }
        let i = self.index as usize;
        if self.regs[ENABLE] & GETCAPS != 0 {
            match i {
                XRES => return MAX_XRES,
                YRES => return MAX_YRES,
                BPP => return MAX_BPP,
                _ => {}
            }
        }
        self.regs.get(i).copied().unwrap_or(0)
    }

    /// A write to the index or data port. Returns how many bytes of video memory to clear
    /// (a mode was enabled without NOCLEARMEM).
    pub fn write(&mut self, port: u16, v: u16) -> u32 {
        if port == INDEX_PORT {
            self.index = v;
            return 0;
        }
        let i = self.index as usize;
        match i {
            ID if (ID0..=ID5).contains(&v) => self.regs[ID] = v,
            XRES | YRES | BPP | VIRT_WIDTH | X_OFFSET | Y_OFFSET => {
                self.regs[i] = v;
                self.fixup();
            }
            BANK => {
                let banks = (self.vram_size >> 16).max(1) as u16;
                self.regs[BANK] = v % banks;
            }
            ENABLE => {
                let was = self.enabled();
                self.regs[ENABLE] = v & (ENABLED | GETCAPS | DAC_8BIT | LFB_ENABLED | NOCLEARMEM);
                if v & ENABLED != 0 && !was {
                    self.regs[VIRT_WIDTH] = 0;
                    self.regs[X_OFFSET] = 0;
                    self.regs[Y_OFFSET] = 0;
                    self.fixup();
                    if v & NOCLEARMEM == 0 {
                        return self.regs[YRES] as u32 * self.line_bytes();
                    }
                } else if v & ENABLED == 0 {
                    self.regs[BANK] = 0;
                }
            }
            _ => {}
        }
        0
    }

    /// Bring the geometry registers into a consistent state while a mode is on, as the
    /// Bochs/QEMU model does: a supported depth, a width that is a multiple of 8, a
    /// virtual screen at least as large as the visible one and inside video memory,
    /// offsets that keep the visible screen inside the virtual one. (Before the mode is
    /// enabled the registers hold what was written.)
    fn fixup(&mut self) {
        if !self.enabled() {
            return;
        }
        let r = &mut self.regs;
        if !matches!(r[BPP], 8 | 15 | 16 | 24 | 32) {
            r[BPP] = 8;
        }
        r[XRES] = (r[XRES] & !7).clamp(8, MAX_XRES);
        r[YRES] = r[YRES].clamp(1, MAX_YRES);
        let bpp = bytes_per_pixel(r[BPP]);
        let mut virt_w = (r[VIRT_WIDTH] & !7).max(r[XRES]) as u32;
        // The visible screen must fit in video memory at this width.
        let max_w = self.vram_size / bpp / r[YRES] as u32;
        if virt_w > max_w {
            virt_w = max_w.max(r[XRES] as u32);
        }
        r[VIRT_WIDTH] = virt_w as u16;
        let line = virt_w * bpp;
        let virt_h = (self.vram_size / line).min(0xffff);
        if (r[YRES] as u32) > virt_h {
            r[YRES] = virt_h as u16;
        }
        r[VIRT_HEIGHT] = virt_h as u16;
        r[X_OFFSET] = r[X_OFFSET].min((virt_w - r[XRES] as u32) as u16);
        r[Y_OFFSET] = r[Y_OFFSET].min((virt_h - r[YRES] as u32) as u16);
    }

    /// Where the visible screen starts in video memory.
    pub fn start(&self) -> u32 {
        let r = &self.regs;
        r[Y_OFFSET] as u32 * self.line_bytes() + r[X_OFFSET] as u32 * bytes_per_pixel(r[BPP])
    }
}

//! A standard VGA adapter with the Bochs VBE extension, as QEMU's `-vga std` (PCI
//! 1234:1111) presents it:
//!
//! - the VGA registers (`regs.rs`) at 0x3B4-0x3DA;
//! - 256 KiB of planar memory behind the legacy window 0xA0000-0xBFFFF (`memory.rs`);
//! - the VBE "dispi" registers at 0x1CE/0x1CF (`vbe.rs`) and a linear framebuffer of
//!   `VRAM_SIZE` bytes behind BAR0 of the PCI function (`pci_function`);
//! - a renderer (`render.rs`) and PNG output (`png.rs`).
//!
//! Video memory is one buffer: the planar memory is its first 256 KiB, as in QEMU.

pub mod memory;
pub mod png;
pub mod regs;
pub mod render;
#[cfg(test)]
mod tests;
pub mod text;
pub mod vbe;

use serde::{Deserialize, Serialize};

pub use render::Screen;

/// Video memory: 16 MiB, what QEMU's std VGA has by default.
pub const VRAM_SIZE: u32 = 16 << 20;
/// The legacy memory window.
pub const LEGACY_BASE: u64 = 0xa0000;
pub const LEGACY_SIZE: u64 = 0x20000;
/// Where a VGA BIOS image lives (the first option ROM).
pub const BIOS_BASE: u64 = 0xc0000;

/// PCI identity of QEMU's std VGA.
pub const PCI_VENDOR: u16 = 0x1234;
pub const PCI_DEVICE: u16 = 0x1111;
/// 00:02.0, where QEMU's `pc` machine puts it.
pub const PCI_DEVFN: u8 = 0x10;
/// Where BAR0 (the framebuffer) points before firmware moves it (where SeaBIOS puts it on
/// QEMU), so a directly booted kernel finds it assigned.
pub const DEFAULT_LFB: u32 = 0xfd00_0000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vga {
    pub regs: regs::Regs,
    pub vbe: vbe::Vbe,
    /// The four planes' bytes at the last read offset.
    pub latch: u32,
    pub vram: Vec<u8>,
}

impl Default for Vga {
    fn default() -> Self {
        Self::new()
    }
}

impl Vga {
    /// Power-on state: registers zero (no BIOS has set a mode), memory clear.
    pub fn new() -> Self {
        Vga {
            regs: regs::Regs::default(),
            vbe: vbe::Vbe::new(VRAM_SIZE),
            latch: 0,
            vram: vec![0; VRAM_SIZE as usize],
        }
    }

    /// Is `port` one of the adapter's (VGA registers or VBE)? The others in 0x3B0-0x3DF
    /// (an MDA-era parallel port at 0x3BC, ...) are left to whoever claims them.
    pub fn is_port(port: u16) -> bool {
        matches!(
            port,
            0x3b4 | 0x3b5 | 0x3ba | 0x3c0..=0x3cf | 0x3d4 | 0x3d5 | 0x3da
        ) || matches!(port, vbe::INDEX_PORT | vbe::DATA_PORT | vbe::DATA_PORT_ALT)
    }

    /// A port read of `size` bytes at virtual time `now` (ns).
    pub fn io_read(&mut self, port: u16, size: u8, now: u64) -> u32 {
        if matches!(port, vbe::INDEX_PORT | vbe::DATA_PORT | vbe::DATA_PORT_ALT) {
            let p = if port == vbe::DATA_PORT_ALT {
                vbe::DATA_PORT
            } else {
                port
            };
            let v = self.vbe.read(p) as u32;
            return if size == 1 { v & 0xff } else { v };
        }
        (0..size as u16).fold(0, |v, k| {
            v | (self.regs.read(port.wrapping_add(k), now) as u32) << (8 * k)
        })
    }

    /// A port write of `size` bytes (a word to an index port sets index and data).
    pub fn io_write(&mut self, port: u16, size: u8, value: u32) {
        if matches!(port, vbe::INDEX_PORT | vbe::DATA_PORT | vbe::DATA_PORT_ALT) {
            let p = if port == vbe::DATA_PORT_ALT {
                vbe::DATA_PORT
            } else {
                port
            };
            let clear = self.vbe.write(p, value as u16) as usize;
            let n = clear.min(self.vram.len());
            self.vram[..n].fill(0);
            return;
        }
        for k in 0..size as u16 {
            self.regs
                .write(port.wrapping_add(k), (value >> (8 * k)) as u8);
        }
    }

    /// A read of `size` bytes at `off` from 0xA0000 (the legacy window).
    pub fn legacy_read(&mut self, off: u32, size: u8) -> u32 {
        (0..size as u32).fold(0, |v, k| v | (self.mem_read(off + k) as u32) << (8 * k))
    }

    pub fn legacy_write(&mut self, off: u32, size: u8, value: u32) {
        for k in 0..size as u32 {
            self.mem_write(off + k, (value >> (8 * k)) as u8);
        }
    }

    /// A read of `size` bytes at `off` into the linear framebuffer.
    pub fn lfb_read(&self, off: u64, size: u8) -> u32 {
        (0..size as u64).fold(0, |v, k| {
            let b = self.vram.get((off + k) as usize).copied().unwrap_or(0xff);
            v | (b as u32) << (8 * k)
        })
    }

    pub fn lfb_write(&mut self, off: u64, size: u8, value: u32) {
        for k in 0..size as u64 {
            if let Some(b) = self.vram.get_mut((off + k) as usize) {
                *b = (value >> (8 * k)) as u8;
            }
        }
    }
}

/// The adapter's PCI function (a type-0 header): QEMU's std VGA, class 0300 (VGA
/// compatible), BAR0 a prefetchable 32-bit memory BAR of `VRAM_SIZE` bytes, preset at
/// `DEFAULT_LFB` with memory and I/O decoding on (firmware may move it).
pub fn pci_function() -> crate::pci::Function {
    let mut config = vec![0u8; 256];
    let mut wmask = vec![0u8; 256];
    config[0x00..0x02].copy_from_slice(&PCI_VENDOR.to_le_bytes());
    config[0x02..0x04].copy_from_slice(&PCI_DEVICE.to_le_bytes());
    config[0x04] = 0x03; // I/O and memory space on
    wmask[0x04] = 0x03;
    config[0x06] = 0x00; // status: nothing to report
    config[0x08] = 0x02; // revision, as QEMU
    config[0x0a] = 0x00; // subclass: VGA
    config[0x0b] = 0x03; // display controller
                         // BAR0: memory, 32-bit, prefetchable (bit 3); the size's low bits read as zero.
    let bar = DEFAULT_LFB | 0x08;
    config[0x10..0x14].copy_from_slice(&bar.to_le_bytes());
    wmask[0x10..0x14].copy_from_slice(&(!(VRAM_SIZE - 1)).to_le_bytes());
    // Subsystem: QEMU's (Red Hat) ids.
    config[0x2c..0x2e].copy_from_slice(&0x1af4u16.to_le_bytes());
    config[0x2e..0x30].copy_from_slice(&0x1100u16.to_le_bytes());
    wmask[0x0c] = 0xff; // cache line size
    wmask[0x0d] = 0xff; // latency timer
    wmask[0x3c] = 0xff; // interrupt line
    crate::pci::Function {
        devfn: PCI_DEVFN,
        config,
        wmask,
    }
}

/// Where the linear framebuffer decodes, from the PCI function's BAR0 and command
/// register: None while memory decoding is off or BAR0 is unassigned.
pub fn lfb_base(f: &crate::pci::Function) -> Option<u64> {
    let bar = u32::from_le_bytes([
        f.config[0x10],
        f.config[0x11],
        f.config[0x12],
        f.config[0x13],
    ]);
    let base = bar & !0xf;
    (f.config[0x04] & 0x02 != 0 && base != 0).then_some(base as u64)
}

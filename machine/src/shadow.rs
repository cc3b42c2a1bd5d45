//! Shadow RAM under the BIOS area (0xC0000-0xFFFFF), steered by the i440FX's PAM
//! registers (host bridge configuration bytes 0x59-0x5F).
//!
//! Each of 13 segments (twelve of 16 KiB from 0xC0000, one of 64 KiB at 0xF0000) has two
//! bits: RE (reads from RAM) and WE (writes to RAM). With RE clear, reads go to the PCI
//! side, which shows the last 128 KiB of the firmware ROM at 0xE0000-0xFFFFF (QEMU's
//! "isa-bios") and all ones elsewhere; with WE clear, writes go there too and are lost.
//! That is what SeaBIOS does with them: from reset (all zero) it sets 0x30/0x33 (RAM read
//! and write), copies itself in from the ROM's alias below 4 GiB, then sets 0x10/0x11
//! (RAM read, writes discarded).
//!
//! `PhysMemory` has one byte array, so the bytes there are what reads see. While a
//! segment reads the PCI side, its RAM contents wait in `hidden`, and the pages are read
//! only; stores to read-only pages reach the board (`Bus::mmio_write`), which hands them
//! to `write`: kept in `hidden` when the segment has WE, dropped otherwise.

use ox86_core::PhysMemory;

pub const BASE: u64 = 0xc_0000;
const LEN: usize = 0x4_0000;
const SEGMENTS: usize = 13;
const RE: u8 = 1;
const WE: u8 = 2;

/// Segment `i`: (offset from BASE, length).
fn segment(i: usize) -> (usize, usize) {
    if i < 12 {
        (i * 0x4000, 0x4000)
    } else {
        (0x3_0000, 0x1_0000)
    }
}

fn segment_of(off: usize) -> usize {
    (off / 0x4000).min(12)
}

/// The 13 segment modes from PAM0-PAM6 (configuration bytes 0x59-0x5F).
pub fn modes_from_pam(pam: &[u8; 7]) -> [u8; SEGMENTS] {
    let mut m = [0; SEGMENTS];
    m[12] = (pam[0] >> 4) & 3;
    for k in 1..7 {
        m[2 * (k - 1)] = pam[k] & 3;
        m[2 * (k - 1) + 1] = (pam[k] >> 4) & 3;
    }
    m
}

#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Shadow {
    /// What the PCI side shows at 0xC0000-0xFFFFF.
    rom_view: Vec<u8>,
    /// RAM of the segments whose reads go to the PCI side.
    hidden: Vec<u8>,
    modes: [u8; SEGMENTS],
}

impl Shadow {
    /// The power-on state (every segment reading the PCI side) for firmware `rom`,
    /// applied to `mem`, whose RAM there is taken as the hidden contents.
    pub fn new(rom: &[u8], mem: &mut PhysMemory) -> Self {
        let mut rom_view = vec![0xff; LEN];
        let n = rom.len().min(128 << 10);
        rom_view[LEN - n..].copy_from_slice(&rom[rom.len() - n..]);
        // Start from "all RAM" so that every segment switches to the PCI side.
        let mut s = Shadow {
            rom_view,
            hidden: vec![0; LEN],
            modes: [RE | WE; SEGMENTS],
        };
        s.set(mem, [0; SEGMENTS]);
        s
    }

    /// Switch the segments to `modes`, moving RAM contents in and out of view.
    pub fn set(&mut self, mem: &mut PhysMemory, modes: [u8; SEGMENTS]) {
        for (i, (&old, &new)) in self.modes.iter().zip(&modes).enumerate() {
            if old == new {
                continue;
            }
            let (off, len) = segment(i);
            let at = BASE + off as u64;
            let r = off..off + len;
            if old & RE != 0 && new & RE == 0 {
                mem.read_bytes(at, &mut self.hidden[r.clone()]);
                mem.write_bytes(at, &self.rom_view[r]);
            } else if old & RE == 0 && new & RE != 0 {
                mem.write_bytes(at, &self.hidden[r]);
            }
            mem.set_readonly(at, len as u64, new != RE | WE);
        }
        self.modes = modes;
    }

    /// A store to a read-only page at `pa`: true when it was in the shadow area (kept in
    /// hidden RAM if the segment has WE and reads the PCI side, otherwise lost).
    pub fn write(&mut self, pa: u64, size: u8, v: u32) -> bool {
        if !(BASE..BASE + LEN as u64).contains(&pa) {
            return false;
        }
        for k in 0..size as u64 {
            let off = (pa + k - BASE) as usize;
            if off >= LEN {
                break;
            }
            if self.modes[segment_of(off)] == WE {
                self.hidden[off] = (v >> (8 * k)) as u8;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seabios_sequence() {
        let mut mem = PhysMemory::new(2 << 20).unwrap();
        let mut rom = vec![0u8; 128 << 10];
        rom[0x1_fff0] = 0xea; // reset vector
        rom[0] = 0x11; // at 0xE0000
        let mut s = Shadow::new(&rom, &mut mem);
        assert_eq!(mem.read_u8(0xffff0), 0xea);
        assert_eq!(mem.read_u8(0xe0000), 0x11);
        assert_eq!(mem.read_u8(0xc0000), 0xff);
        assert!(mem.page_readonly(0xc0000) && mem.page_readonly(0xf0000));
        // 0x30/0x33: RAM read and write; RAM is still zero.
        let rw = modes_from_pam(&[0x30, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33]);
        s.set(&mut mem, rw);
        assert_eq!(mem.read_u8(0xffff0), 0);
        assert!(!mem.page_readonly(0xf0000));
        mem.write_bytes(0xffff0, &[0xea]);
        mem.write_bytes(0xc0000, &[0x55]);
        // 0x10/0x11: RAM read, writes discarded.
        let ro = modes_from_pam(&[0x10, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11]);
        s.set(&mut mem, ro);
        assert!(mem.page_readonly(0xf0000));
        assert!(s.write(0xffff0, 1, 0x90));
        assert_eq!(mem.read_u8(0xffff0), 0xea);
        // Back to the PCI side (reset), then write-only: stores reach hidden RAM.
        s.set(&mut mem, [0; SEGMENTS]);
        assert_eq!(mem.read_u8(0xc0000), 0xff);
        let wo = modes_from_pam(&[0x20, 0x02, 0, 0, 0, 0, 0]);
        s.set(&mut mem, wo);
        assert!(s.write(0xc0001, 2, 0x7766));
        assert_eq!(mem.read_u8(0xc0001), 0xff);
        s.set(&mut mem, rw);
        assert_eq!(mem.read_u8(0xc0000), 0x55);
        assert_eq!(mem.read_u16(0xc0001), 0x7766);
        assert!(!s.write(0xa0000, 1, 0));
    }
}

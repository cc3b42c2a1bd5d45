//! The VGA register set behind ports 0x3B4-0x3DA: miscellaneous output, sequencer, CRT
//! controller (colour and mono addresses), graphics controller, attribute controller
//! (with its index/data flip-flop), DAC and input status 1.

use serde::{Deserialize, Serialize};

/// Sequencer registers and the bits a write may set in each.
const SEQ_MASK: [u8; 5] = [0x03, 0x3d, 0x0f, 0x3f, 0x0e];
/// Graphics controller registers and their writable bits.
const GC_MASK: [u8; 9] = [0x0f, 0x0f, 0x0f, 0x1f, 0x03, 0x7b, 0x0f, 0x0f, 0xff];
pub const CRTC_REGS: usize = 0x19;
pub const AR_REGS: usize = 0x15;

// Register indices used elsewhere.
pub const SEQ_CLOCK: usize = 1;
pub const SEQ_MAP_MASK: usize = 2;
pub const SEQ_CHARMAP: usize = 3;
pub const SEQ_MEMORY: usize = 4;
pub const GC_SR_VALUE: usize = 0;
pub const GC_SR_ENABLE: usize = 1;
pub const GC_COMPARE: usize = 2;
pub const GC_ROTATE: usize = 3;
pub const GC_READ_MAP: usize = 4;
pub const GC_MODE: usize = 5;
pub const GC_MISC: usize = 6;
pub const GC_DONT_CARE: usize = 7;
pub const GC_BIT_MASK: usize = 8;
pub const AR_MODE: usize = 0x10;
pub const AR_PLANE_ENABLE: usize = 0x12;
pub const AR_COLOR_SELECT: usize = 0x14;

/// Input status 1: display enable inactive (a horizontal or vertical blank).
const ST1_DISPLAY_OFF: u8 = 0x01;
/// Input status 1: vertical retrace.
const ST1_VRETRACE: u8 = 0x08;
/// A 70 Hz frame (the 400-line modes) in virtual ns, the last 1/20 of it in retrace.
const FRAME_NS: u64 = 14_285_714;
const VRETRACE_NS: u64 = FRAME_NS / 20;
/// One scan line (31.5 kHz) and its blanking part.
const LINE_NS: u64 = 31_778;
const HBLANK_NS: u64 = 6_000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Regs {
    pub misc: u8,
    pub feature: u8,
    pub seq_index: u8,
    pub seq: [u8; 5],
    pub crtc_index: u8,
    pub crtc: [u8; CRTC_REGS],
    pub gc_index: u8,
    pub gc: [u8; 9],
    /// The attribute controller's index register, bit 5 the palette address source
    /// (clear: the CPU owns the palette and the screen is blank).
    pub ar_index: u8,
    pub ar: [u8; AR_REGS],
    /// False: the next write to 0x3C0 is an index; true: data.
    pub ar_flip: bool,
    /// 256 entries of red, green, blue (6 bits each, or 8 with the VBE 8-bit DAC).
    pub dac: Vec<u8>,
    pub dac_read: u8,
    pub dac_write: u8,
    /// Which component of the current entry comes next (0-2).
    pub dac_sub: u8,
    /// DAC state (0x3C7 read): 0 after a write-index write, 3 after a read-index write.
    pub dac_state: u8,
    /// A colour being written, committed at its third component.
    pub dac_latch: [u8; 3],
    pub pel_mask: u8,
}

impl Default for Regs {
    fn default() -> Self {
        Regs {
            misc: 0,
            feature: 0,
            seq_index: 0,
            seq: [0; 5],
            crtc_index: 0,
            crtc: [0; CRTC_REGS],
            gc_index: 0,
            gc: [0; 9],
            ar_index: 0,
            ar: [0; AR_REGS],
            ar_flip: false,
            dac: vec![0; 768],
            dac_read: 0,
            dac_write: 0,
            dac_sub: 0,
            dac_state: 0,
            dac_latch: [0; 3],
            pel_mask: 0xff,
        }
    }
}

/// Input status 1 at virtual time `now` (ns): the retrace bits follow a 70 Hz frame.
pub fn input_status1(now: u64) -> u8 {
    let vretrace = now % FRAME_NS >= FRAME_NS - VRETRACE_NS;
    let hblank = now % LINE_NS >= LINE_NS - HBLANK_NS;
    match (vretrace, hblank) {
        (true, _) => ST1_VRETRACE | ST1_DISPLAY_OFF,
        (false, true) => ST1_DISPLAY_OFF,
        (false, false) => 0,
    }
}

impl Regs {
    /// The CRT controller answers at 0x3Dx with misc output bit 0 set (colour), at 0x3Bx
    /// otherwise (mono).
    fn crtc_port_ok(&self, port: u16) -> bool {
        let colour = self.misc & 1 != 0;
        if colour {
            (0x3d0..=0x3df).contains(&port)
        } else {
            (0x3b0..=0x3bf).contains(&port)
        }
    }

    /// A byte read from a VGA port (0x3B0-0x3DF).
    pub fn read(&mut self, port: u16, now: u64) -> u8 {
        if matches!(port, 0x3b0..=0x3bf | 0x3d0..=0x3df) && !self.crtc_port_ok(port) {
            return 0xff;
        }
        match port {
            0x3c0 => self.ar_index,
            0x3c1 => {
                let i = (self.ar_index & 0x1f) as usize;
                self.ar.get(i).copied().unwrap_or(0)
            }
            0x3c2 => 0x10, // input status 0: switch sense (a colour monitor)
            0x3c3 => 1,    // video subsystem enable
            0x3c4 => self.seq_index,
            0x3c5 => self.seq.get(self.seq_index as usize).copied().unwrap_or(0),
            0x3c6 => self.pel_mask,
            0x3c7 => self.dac_state,
            0x3c8 => self.dac_write,
            0x3c9 => {
                let v = self.dac[self.dac_read as usize * 3 + self.dac_sub as usize];
                self.dac_sub += 1;
                if self.dac_sub == 3 {
                    self.dac_sub = 0;
                    self.dac_read = self.dac_read.wrapping_add(1);
                }
                v
            }
            0x3ca => self.feature,
            0x3cc => self.misc,
            0x3ce => self.gc_index,
            0x3cf => self.gc.get(self.gc_index as usize).copied().unwrap_or(0),
            0x3b4 | 0x3d4 => self.crtc_index,
            0x3b5 | 0x3d5 => self
                .crtc
                .get(self.crtc_index as usize)
                .copied()
                .unwrap_or(0),
            0x3ba | 0x3da => {
                self.ar_flip = false;
                input_status1(now)
            }
            _ => 0xff,
        }
    }

    /// A byte written to a VGA port (0x3B0-0x3DF).
    pub fn write(&mut self, port: u16, v: u8) {
        if matches!(port, 0x3b0..=0x3bf | 0x3d0..=0x3df) && !self.crtc_port_ok(port) {
            return;
        }
        match port {
            0x3c0 => self.write_ar(v),
            0x3c2 => self.misc = v & !0x10,
            0x3c4 => self.seq_index = v & 7,
            0x3c5 => {
                if let Some(m) = SEQ_MASK.get(self.seq_index as usize) {
                    self.seq[self.seq_index as usize] = v & m;
                }
            }
            0x3c6 => self.pel_mask = v,
            0x3c7 => {
                self.dac_read = v;
                self.dac_sub = 0;
                self.dac_state = 3;
            }
            0x3c8 => {
                self.dac_write = v;
                self.dac_sub = 0;
                self.dac_state = 0;
            }
            0x3c9 => {
                self.dac_latch[self.dac_sub as usize] = v;
                self.dac_sub += 1;
                if self.dac_sub == 3 {
                    let at = self.dac_write as usize * 3;
                    self.dac[at..at + 3].copy_from_slice(&self.dac_latch);
                    self.dac_sub = 0;
                    self.dac_write = self.dac_write.wrapping_add(1);
                }
            }
            0x3ce => self.gc_index = v & 0x0f,
            0x3cf => {
                if let Some(m) = GC_MASK.get(self.gc_index as usize) {
                    self.gc[self.gc_index as usize] = v & m;
                }
            }
            0x3b4 | 0x3d4 => self.crtc_index = v,
            0x3b5 | 0x3d5 => self.write_crtc(v),
            0x3ba | 0x3da => self.feature = v,
            _ => {}
        }
    }

    fn write_ar(&mut self, v: u8) {
        if !self.ar_flip {
            self.ar_index = v & 0x3f;
        } else {
            let i = (self.ar_index & 0x1f) as usize;
            match i {
                0x00..=0x0f => self.ar[i] = v & 0x3f,
                AR_MODE => self.ar[i] = v & !0x10,
                0x11 => self.ar[i] = v,
                AR_PLANE_ENABLE => self.ar[i] = v & 0x3f,
                0x13 | AR_COLOR_SELECT => self.ar[i] = v & 0x0f,
                _ => {}
            }
        }
        self.ar_flip = !self.ar_flip;
    }

    fn write_crtc(&mut self, v: u8) {
        let i = self.crtc_index as usize;
        if i >= CRTC_REGS {
            return;
        }
        // CR11 bit 7 write-protects CR0-CR7, except the line compare bit of CR7.
        if self.crtc[0x11] & 0x80 != 0 && i <= 7 {
            if i == 7 {
                self.crtc[7] = (self.crtc[7] & !0x10) | (v & 0x10);
            }
            return;
        }
        self.crtc[i] = v;
    }

    /// Vertical display end: the number of visible scan lines, less one.
    pub fn vertical_display_end(&self) -> u32 {
        let ov = self.crtc[7] as u32;
        self.crtc[0x12] as u32 | (ov & 0x02) << 7 | (ov & 0x40) << 3
    }

    /// Start address (in plane offsets).
    pub fn start_address(&self) -> u32 {
        (self.crtc[0x0c] as u32) << 8 | self.crtc[0x0d] as u32
    }

    /// The distance between two character rows or pixel rows, in plane offsets.
    pub fn line_offset(&self) -> u32 {
        self.crtc[0x13] as u32 * 2
    }

    /// The DAC index for a 4-bit attribute colour: the palette register, then the colour
    /// select bits (AR10 bit 7 chooses P5-P4 from AR14).
    pub fn palette_index(&self, c: u8) -> u8 {
        let p = self.ar[(c & 0x0f) as usize];
        let cs = self.ar[AR_COLOR_SELECT];
        let low = if self.ar[AR_MODE] & 0x80 != 0 {
            (p & 0x0f) | (cs & 0x03) << 4
        } else {
            p & 0x3f
        };
        low | (cs & 0x0c) << 4
    }

    /// The RGB colour (0xRRGGBB) of DAC entry `i` after the pixel mask; `dac8`: the
    /// entries hold 8 bits (VBE's 8-bit DAC), else 6.
    pub fn dac_rgb(&self, i: u8, dac8: bool) -> u32 {
        let at = (i & self.pel_mask) as usize * 3;
        let c = |v: u8| -> u32 {
            if dac8 {
                v as u32
            } else {
                let v = v & 0x3f;
                ((v << 2) | (v >> 4)) as u32
            }
        };
        c(self.dac[at]) << 16 | c(self.dac[at + 1]) << 8 | c(self.dac[at + 2])
    }
}

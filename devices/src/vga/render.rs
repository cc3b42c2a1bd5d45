//! The picture the adapter would send to the monitor, from video memory and registers:
//! text modes (glyphs from plane 2, 8- or 9-dot characters, attributes, the cursor; blink
//! is shown steady), 16-colour planar modes, 256-colour modes and VBE linear modes.
//! Scan lines repeated by the CRTC (double scan, maximum scan line) are drawn once, so a
//! picture has the mode's nominal size: 720x400 for mode 3, 320x200 for mode 13h.

use super::regs::*;
use super::vbe;
use super::Vga;

/// The largest picture drawn (anything larger is a guest's nonsense, cut to this).
const MAX_W: u32 = 4096;
const MAX_H: u32 = 4096;
/// What is shown with no usable mode programmed ("no signal").
const BLANK: (u32, u32) = (640, 480);
/// The planar memory: four planes of 64 KiB at the start of video memory.
const PLANAR_SIZE: usize = 256 << 10;

/// A rendered screen: width, height and 0xRRGGBB pixels, row by row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Screen {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u32>,
}

impl Screen {
    fn black(width: u32, height: u32) -> Self {
        Screen {
            width,
            height,
            pixels: vec![0; (width * height) as usize],
        }
    }

    pub fn pixel(&self, x: u32, y: u32) -> u32 {
        self.pixels[(y * self.width + x) as usize]
    }
}

impl Vga {
    /// The current screen.
    pub fn render(&self) -> Screen {
        let r = &self.regs;
        // The screen is blank while the CPU owns the palette (attribute index bit 5
        // clear), VBE modes included (drivers write 0x20 to 0x3C0 to unblank).
        let owned = r.ar_index & 0x20 == 0;
        if self.vbe.enabled() {
            let mut s = self.render_vbe();
            if owned {
                s.pixels.fill(0);
            }
            return s;
        }
        let cols = r.crtc[1] as u32 + 1;
        let lines = r.vertical_display_end() + 1;
        // Unprogrammed CRTC: no picture.
        if cols < 2 || lines < 2 {
            return Screen::black(BLANK.0, BLANK.1);
        }
        let mut s = if r.ar[AR_MODE] & 1 != 0 {
            self.render_graphics(cols, lines)
        } else {
            self.render_text(cols, lines)
        };
        // Blank, or the sequencer's screen-off bit.
        if owned || r.seq[SEQ_CLOCK] & 0x20 != 0 {
            s.pixels.fill(0);
        }
        s
    }

    /// A copy of what `render` reads: the registers and the part of video memory the
    /// picture comes from (the 256 KiB of planar memory, or a VBE mode's frame from its
    /// display start), so that a display can draw it on another thread. The copy's
    /// `render` gives the same picture as this adapter's.
    pub fn display_copy(&self) -> Vga {
        let used = if self.vbe.enabled() {
            let v = &self.vbe;
            v.start() as u64 + v.regs[vbe::YRES] as u64 * v.line_bytes() as u64
        } else {
            PLANAR_SIZE as u64
        };
        let n = used.min(self.vram.len() as u64) as usize;
        Vga {
            regs: self.regs.clone(),
            vbe: self.vbe.clone(),
            latch: self.latch,
            vram: self.vram[..n].to_vec(),
        }
    }

    /// Plane `p` at offset `o` (wrapping in 64 Ki offsets).
    #[inline]
    pub(super) fn plane(&self, p: u32, o: u32) -> u8 {
        self.vram[((o & 0xffff) * 4 + p) as usize]
    }

    fn attr_rgb(&self, c: u8) -> u32 {
        let dac8 = self.vbe.dac_8bit();
        self.regs.dac_rgb(self.regs.palette_index(c), dac8)
    }

    fn render_text(&self, cols: u32, lines: u32) -> Screen {
        let r = &self.regs;
        let cheight = (r.crtc[9] & 0x1f) as u32 + 1;
        let dot9 = r.seq[SEQ_CLOCK] & 1 == 0;
        let cw = if dot9 { 9 } else { 8 };
        // Dot clock halved (40-column modes): every dot twice as wide.
        let xscale = if r.seq[SEQ_CLOCK] & 0x08 != 0 { 2 } else { 1 };
        let rows = (lines / cheight).max(1);
        let width = (cols * cw * xscale).min(MAX_W);
        let height = (rows * cheight).min(MAX_H);
        let mut s = Screen::black(width, height);
        let start = r.start_address();
        let stride = r.line_offset();
        let blink = r.ar[AR_MODE] & 0x08 != 0;
        let line_graphics = r.ar[AR_MODE] & 0x04 != 0;
        // Character maps: A for attribute bit 3 set, B for clear (plane 2 offsets).
        let cm = r.seq[SEQ_CHARMAP] as u32;
        let map_a = ((cm >> 5) & 1 | (cm >> 1) & 6) * 0x2000;
        let map_b = ((cm >> 4) & 1 | (cm << 1) & 6) * 0x2000;
        let cursor = self.cursor(start, stride, cols, rows, cheight);
        let mut colours = [0u32; 16];
        for (i, c) in colours.iter_mut().enumerate() {
            *c = self.attr_rgb(i as u8);
        }
        for row in 0..rows {
            for col in 0..cols {
                let o = start + row * stride + col;
                let ch = self.plane(0, o);
                let at = self.plane(1, o);
                let fg = colours[(at & 0x0f) as usize];
                let bg = colours[(if blink { (at >> 4) & 7 } else { at >> 4 }) as usize];
                let font = if at & 0x08 != 0 { map_a } else { map_b };
                for l in 0..cheight {
                    let mut bits = self.plane(2, font + ch as u32 * 32 + l) as u32;
                    if cursor.is_some_and(|(cr, cc, a, b)| {
                        cr == row && cc == col && (a..=b).contains(&l)
                    }) {
                        bits = 0x1ff;
                    } else {
                        bits <<= 1;
                        if dot9 && line_graphics && (0xc0..=0xdf).contains(&ch) {
                            bits |= bits >> 1 & 1;
                        }
                    }
                    let y = row * cheight + l;
                    for d in 0..cw {
                        let on = bits >> (8 - d) & 1 != 0;
                        let c = if on { fg } else { bg };
                        for k in 0..xscale {
                            let x = (col * cw + d) * xscale + k;
                            if x < width && y < height {
                                s.pixels[(y * width + x) as usize] = c;
                            }
                        }
                    }
                }
            }
        }
        s
    }

    /// Where the cursor shows: (row, column, first line, last line), if it does.
    pub(super) fn cursor(
        &self,
        start: u32,
        stride: u32,
        cols: u32,
        rows: u32,
        ch: u32,
    ) -> Option<(u32, u32, u32, u32)> {
        let r = &self.regs;
        if r.crtc[0x0a] & 0x20 != 0 || stride == 0 {
            return None;
        }
        let loc = (r.crtc[0x0e] as u32) << 8 | r.crtc[0x0f] as u32;
        let rel = loc.checked_sub(start)?;
        let (row, col) = (rel / stride, rel % stride);
        let first = (r.crtc[0x0a] & 0x1f) as u32;
        let last = ((r.crtc[0x0b] & 0x1f) as u32).min(ch - 1);
        (row < rows && col < cols && first <= last).then_some((row, col, first, last))
    }

    fn render_graphics(&self, cols: u32, lines: u32) -> Screen {
        let r = &self.regs;
        let shift = (r.gc[GC_MODE] >> 5) & 3;
        let double = if r.crtc[9] & 0x80 != 0 { 2 } else { 1 };
        let scan = ((r.crtc[9] & 0x1f) as u32 + 1) * double;
        let (width, height) = if shift >= 2 {
            (cols * 4, lines / scan)
        } else {
            (cols * 8, lines / scan)
        };
        let (width, height) = (width.min(MAX_W), height.clamp(1, MAX_H));
        let mut s = Screen::black(width, height);
        let start = r.start_address();
        let stride = r.line_offset();
        let dac8 = self.vbe.dac_8bit();
        if shift >= 2 {
            // 256 colours: one byte per pixel, planes interleaved (chain-4's view).
            for y in 0..height {
                let base = (start + y * stride) * 4;
                for x in 0..width {
                    let b = self.vram[((base + x) & 0x3ffff) as usize];
                    s.pixels[(y * width + x) as usize] = r.dac_rgb(b, dac8);
                }
            }
            return s;
        }
        let enable = r.ar[AR_PLANE_ENABLE] & 0x0f;
        let mut colours = [0u32; 16];
        for (i, c) in colours.iter_mut().enumerate() {
            *c = self.attr_rgb(i as u8);
        }
        for y in 0..height {
            for x in 0..width {
                let o = start + y * stride + x / 8;
                let bit = 7 - (x & 7);
                let mut c = 0;
                for p in 0..4 {
                    c |= (self.plane(p, o) >> bit & 1) << p;
                }
                s.pixels[(y * width + x) as usize] = colours[(c & enable) as usize];
            }
        }
        s
    }

    fn render_vbe(&self) -> Screen {
        let v = &self.vbe;
        let (w, h) = (v.regs[vbe::XRES] as u32, v.regs[vbe::YRES] as u32);
        let bpp = v.regs[vbe::BPP];
        let bytes = vbe::bytes_per_pixel(bpp);
        let line = v.line_bytes();
        let start = v.start();
        let mut s = Screen::black(w, h);
        let dac8 = v.dac_8bit();
        for y in 0..h {
            for x in 0..w {
                let a = (start + y * line + x * bytes) as usize;
                let Some(px) = self.vram.get(a..a + bytes as usize) else {
                    continue;
                };
                let c = match bpp {
                    8 => self.regs.dac_rgb(px[0], dac8),
                    15 | 16 => {
                        let p = u16::from_le_bytes([px[0], px[1]]) as u32;
                        let g_bits = if bpp == 15 { 5 } else { 6 };
                        let r = widen(p >> (5 + g_bits) & 31, 5);
                        let g = widen(p >> 5 & ((1 << g_bits) - 1), g_bits);
                        r << 16 | g << 8 | widen(p & 31, 5)
                    }
                    _ => (px[2] as u32) << 16 | (px[1] as u32) << 8 | px[0] as u32,
                };
                s.pixels[(y * w + x) as usize] = c;
            }
        }
        s
    }
}

/// A colour component of `bits` bits widened to 8 by repeating its top bits.
fn widen(v: u32, bits: u32) -> u32 {
    (v << (8 - bits)) | (v >> (2 * bits - 8))
}

//! What a text-only display (`--display text`) shows of the adapter: the character cells
//! of a text mode with their attributes and the cursor, or only the size of a graphics
//! picture.

use super::regs::*;
use super::{vbe, Vga};

/// The adapter's picture, as a text terminal can show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TextView {
    /// A text mode.
    Text(TextScreen),
    /// A graphics mode (VGA or VBE) of this size in pixels.
    Graphics { width: u32, height: u32 },
    /// No picture: no mode programmed, the screen blanked or switched off.
    Blank,
}

/// The cells of a text mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextScreen {
    pub cols: u32,
    pub rows: u32,
    /// (code page 437 character, attribute), row by row.
    pub cells: Vec<(u8, u8)>,
    /// (row, column) of a visible cursor.
    pub cursor: Option<(u32, u32)>,
    /// Attribute bit 7 blinks the character (the background then has 8 colours), rather
    /// than selecting a bright background.
    pub blink: bool,
}

/// The most cells a text view has in either direction (beyond: a guest's nonsense).
const MAX_CELLS: u32 = 256;

impl Vga {
    /// The current picture for a text display.
    pub fn text_view(&self) -> TextView {
        let r = &self.regs;
        if r.ar_index & 0x20 == 0 || r.seq[SEQ_CLOCK] & 0x20 != 0 {
            return TextView::Blank;
        }
        if self.vbe.enabled() {
            return TextView::Graphics {
                width: self.vbe.regs[vbe::XRES] as u32,
                height: self.vbe.regs[vbe::YRES] as u32,
            };
        }
        let cols = r.crtc[1] as u32 + 1;
        let lines = r.vertical_display_end() + 1;
        if cols < 2 || lines < 2 {
            return TextView::Blank;
        }
        if r.ar[AR_MODE] & 1 != 0 {
            // As the renderer sizes it: 256-colour modes have 4 dots per character clock.
            let shift = (r.gc[GC_MODE] >> 5) & 3;
            let double = if r.crtc[9] & 0x80 != 0 { 2 } else { 1 };
            let scan = ((r.crtc[9] & 0x1f) as u32 + 1) * double;
            return TextView::Graphics {
                width: cols * if shift >= 2 { 4 } else { 8 },
                height: (lines / scan).max(1),
            };
        }
        let cheight = (r.crtc[9] & 0x1f) as u32 + 1;
        let rows = (lines / cheight).clamp(1, MAX_CELLS);
        let cols = cols.min(MAX_CELLS);
        let start = r.start_address();
        let stride = r.line_offset();
        let mut cells = Vec::with_capacity((cols * rows) as usize);
        for row in 0..rows {
            for col in 0..cols {
                let o = start + row * stride + col;
                cells.push((self.plane(0, o), self.plane(1, o)));
            }
        }
        let cursor = self
            .cursor(start, stride, cols, rows, cheight)
            .map(|(row, col, _, _)| (row, col));
        TextView::Text(TextScreen {
            cols,
            rows,
            cells,
            cursor,
            blink: r.ar[AR_MODE] & 0x08 != 0,
        })
    }
}

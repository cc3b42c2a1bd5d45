//! `ox86 bench --plot`: the table as a PNG bar chart (MIPS and seconds per engine and
//! peer), drawn into an RGB buffer with a built-in 5x7 font; no plotting library.

const W: usize = 720;
const H: usize = 400;
/// Font pixels per glyph pixel.
const SCALE: usize = 2;
/// Horizontal advance of one character (5 columns and a gap, scaled).
const ADVANCE: usize = 6 * SCALE;

const BG: [u8; 3] = [255, 255, 255];
const INK: [u8; 3] = [32, 32, 32];
const AXIS: [u8; 3] = [160, 160, 160];
const COLOURS: [[u8; 3]; 4] = [
    [66, 110, 180],
    [230, 130, 40],
    [120, 120, 120],
    [90, 160, 90],
];

/// One bar group entry: a label, its MIPS (if known) and its seconds.
pub struct Bar {
    pub label: String,
    pub mips: Option<f64>,
    pub secs: f64,
}

struct Canvas {
    px: Vec<u8>,
}

impl Canvas {
    fn new() -> Self {
        Canvas {
            px: BG.repeat(W * H),
        }
    }

    fn rect(&mut self, x: usize, y: usize, w: usize, h: usize, c: [u8; 3]) {
        for yy in y.min(H)..(y + h).min(H) {
            for xx in x.min(W)..(x + w).min(W) {
                let i = (yy * W + xx) * 3;
                self.px[i..i + 3].copy_from_slice(&c);
            }
        }
    }

    fn text(&mut self, x: usize, y: usize, s: &str, c: [u8; 3]) {
        for (n, ch) in s.chars().enumerate() {
            let g = glyph(ch);
            for (row, bits) in g.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        let gx = x + n * ADVANCE + col * SCALE;
                        self.rect(gx, y + row * SCALE, SCALE, SCALE, c);
                    }
                }
            }
        }
    }

    /// Text centred on column `cx`.
    fn text_centred(&mut self, cx: usize, y: usize, s: &str, c: [u8; 3]) {
        let w = s.chars().count() * ADVANCE;
        self.text(cx.saturating_sub(w / 2), y, s, c);
    }
}

/// A readable value: 3 significant digits or so.
fn fmt(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// One panel of bars, values scaled to the largest.
fn panel(c: &mut Canvas, x0: usize, title: &str, bars: &[(&str, Option<f64>)]) {
    const PW: usize = 340;
    const TOP: usize = 90;
    const BASE: usize = 340;
    c.text_centred(x0 + PW / 2, 50, title, INK);
    c.rect(x0 + 10, BASE, PW - 20, 2, AXIS);
    let max = bars
        .iter()
        .filter_map(|b| b.1)
        .fold(0.0f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let slot = (PW - 20) / bars.len().max(1);
    let bw = (slot * 3 / 5).min(90);
    for (i, (label, v)) in bars.iter().enumerate() {
        let cx = x0 + 10 + slot * i + slot / 2;
        let colour = COLOURS[i % COLOURS.len()];
        c.text_centred(cx, BASE + 12, label, INK);
        let Some(v) = *v else {
            c.text_centred(cx, BASE - 20, "-", INK);
            continue;
        };
        let h = ((BASE - TOP) as f64 * (v / max)).round() as usize;
        c.rect(cx - bw / 2, BASE - h, bw, h, colour);
        c.text_centred(cx, BASE - h - 20, &fmt(v), INK);
    }
}

/// The chart as PNG bytes.
pub fn render(title: &str, bars: &[Bar]) -> Result<Vec<u8>, png::EncodingError> {
    let mut c = Canvas::new();
    c.text_centred(W / 2, 12, title, INK);
    let mips: Vec<(&str, Option<f64>)> = bars.iter().map(|b| (&*b.label, b.mips)).collect();
    let secs: Vec<(&str, Option<f64>)> = bars.iter().map(|b| (&*b.label, Some(b.secs))).collect();
    panel(&mut c, 10, "MIPS", &mips);
    panel(&mut c, W / 2 + 10, "SECONDS", &secs);
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, W as u32, H as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header()?;
    w.write_image_data(&c.px)?;
    w.finish()?;
    Ok(out)
}

/// 5x7 glyphs, one byte a row, bit 4 leftmost; lower case drawn as upper case.
fn glyph(ch: char) -> [u8; 7] {
    match ch.to_ascii_uppercase() {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        'A' => [0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '.' => [0, 0, 0, 0, 0, 0x0C, 0x0C],
        ',' => [0, 0, 0, 0, 0x0C, 0x04, 0x08],
        '-' => [0, 0, 0, 0x1F, 0, 0, 0],
        '_' => [0, 0, 0, 0, 0, 0, 0x1F],
        ':' => [0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0],
        '/' => [0, 0x01, 0x02, 0x04, 0x08, 0x10, 0],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        ' ' => [0; 7],
        _ => [0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_value() {
        let mut c = Canvas::new();
        panel(&mut c, 10, "T", &[("a", Some(1.0)), ("b", Some(2.0))]);
        // Column of each bar's centre: count its coloured pixels.
        let height = |x: usize, col: [u8; 3]| {
            (0..H)
                .filter(|&y| c.px[(y * W + x) * 3..(y * W + x) * 3 + 3] == col)
                .count()
        };
        let slot = 320 / 2;
        let (a, b) = (
            height(20 + slot / 2, COLOURS[0]),
            height(20 + slot + slot / 2, COLOURS[1]),
        );
        assert_eq!(b, 250);
        assert_eq!(a, 125);
    }
}

//! Screens as PNG files (8-bit RGB), for screenshots and the debugger's `screendump`.

use super::Screen;

#[derive(Debug, thiserror::Error)]
pub enum PngError {
    #[error("cannot encode the screen as PNG: {0}")]
    Encode(#[from] ::png::EncodingError),
}

/// The screen encoded as a PNG image.
pub fn encode(s: &Screen) -> Result<Vec<u8>, PngError> {
    let mut out = Vec::new();
    let mut enc = ::png::Encoder::new(&mut out, s.width, s.height);
    enc.set_color(::png::ColorType::Rgb);
    enc.set_depth(::png::BitDepth::Eight);
    let mut w = enc.write_header()?;
    let mut data = Vec::with_capacity(s.pixels.len() * 3);
    for &p in &s.pixels {
        data.extend_from_slice(&[(p >> 16) as u8, (p >> 8) as u8, p as u8]);
    }
    w.write_image_data(&data)?;
    w.finish()?;
    Ok(out)
}

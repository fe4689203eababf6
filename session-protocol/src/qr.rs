//! QR rendering of pairing URIs and linking challenges: Unicode half blocks for
//! terminals and grayscale PNG for screens.

use qrcode::{Color, QrCode};

/// Light modules around the code, as the QR spec asks for.
const QUIET_ZONE: usize = 4;

/// Why a QR code could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum QrError {
    /// The text does not fit in a QR code.
    #[error("text does not fit in a QR code: {0}")]
    TooLong(qrcode::types::QrError),
    /// The PNG encoder failed.
    #[error("PNG encoding failed: {0}")]
    Png(#[from] png::EncodingError),
    /// Zero pixels per module were asked for.
    #[error("a QR module must be at least one pixel wide")]
    ZeroScale,
}

/// A QR code of some text (e.g. a pairing URI), ready to render.
pub struct Qr {
    width: usize,
    dark: Vec<bool>,
}

impl Qr {
    /// Encodes `text` with the smallest version that fits (error correction M).
    pub fn new(text: &str) -> Result<Self, QrError> {
        let code = QrCode::new(text.as_bytes()).map_err(QrError::TooLong)?;
        let dark = code.to_colors().into_iter().map(|c| c == Color::Dark).collect();
        Ok(Qr { width: code.width(), dark })
    }

    /// Modules per side, without the quiet zone.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Whether the module at (x, y) is dark; coordinates include the quiet zone.
    fn is_dark(&self, x: usize, y: usize) -> bool {
        let (x, y) = (x.wrapping_sub(QUIET_ZONE), y.wrapping_sub(QUIET_ZONE));
        x < self.width && y < self.width && self.dark[y * self.width + x]
    }

    /// Renders for a terminal with dark text on a light background: two modules per
    /// character cell using `█ ▀ ▄` and space, one line per row pair.
    pub fn to_unicode(&self) -> String {
        let side = self.width + 2 * QUIET_ZONE;
        let mut out = String::with_capacity(side * side / 2 * 3);
        for y in (0..side).step_by(2) {
            for x in 0..side {
                // Light modules are drawn as ink so the code reads on dark terminals.
                let top = !self.is_dark(x, y);
                let bottom = y + 1 < side && !self.is_dark(x, y + 1);
                out.push(match (top, bottom) {
                    (true, true) => '█',
                    (true, false) => '▀',
                    (false, true) => '▄',
                    (false, false) => ' ',
                });
            }
            out.push('\n');
        }
        out
    }

    /// Renders a grayscale PNG with `scale` pixels per module.
    pub fn to_png(&self, scale: usize) -> Result<Vec<u8>, QrError> {
        if scale == 0 {
            return Err(QrError::ZeroScale);
        }
        let side = (self.width + 2 * QUIET_ZONE) * scale;
        let mut pixels = Vec::with_capacity(side * side);
        for py in 0..side {
            for px in 0..side {
                pixels.push(if self.is_dark(px / scale, py / scale) { 0u8 } else { 255u8 });
            }
        }
        let mut out = Vec::new();
        let side32 = u32::try_from(side).map_err(|_| QrError::ZeroScale)?;
        let mut encoder = png::Encoder::new(&mut out, side32, side32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&pixels)?;
        writer.finish()?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URI: &str = "wc:66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925@2?expiryTimestamp=1700000300&relay-protocol=irn&symKey=0000000000000000000000000000000000000000000000000000000000000000";

    #[test]
    fn unicode_has_one_line_per_two_rows() {
        let qr = Qr::new(URI).unwrap();
        let text = qr.to_unicode();
        let side = qr.width() + 2 * QUIET_ZONE;
        assert_eq!(text.lines().count(), side.div_ceil(2));
        assert!(text.lines().all(|l| l.chars().count() == side));
        // The quiet zone is light, drawn as full blocks.
        assert!(text.lines().next().unwrap().chars().all(|c| c == '█'));
    }

    #[test]
    fn png_decodes_to_the_same_modules() {
        let qr = Qr::new(URI).unwrap();
        let bytes = qr.to_png(3).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let side = (qr.width() + 2 * QUIET_ZONE) * 3;
        assert_eq!((info.width as usize, info.height as usize), (side, side));
        for y in 0..qr.width() + 2 * QUIET_ZONE {
            for x in 0..qr.width() + 2 * QUIET_ZONE {
                let px = buf[(y * 3 + 1) * side + x * 3 + 1];
                assert_eq!(px == 0, qr.is_dark(x, y));
            }
        }
        assert!(matches!(qr.to_png(0), Err(QrError::ZeroScale)));
    }
}

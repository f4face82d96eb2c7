//! Decoding one tile's bytes into packed 96x96 RGB (HWC, u8).
//!
//! Kaggle tiles are uncompressed 8-bit RGB TIFFs; parsing their IFD ourselves and copying the
//! strips is several times faster than a general decoder. Anything unusual (compression,
//! planar layout, other formats) falls back to the `image` crate, whose result is validated
//! the same way.

/// Side of a tile in pixels.
pub const SIDE: usize = 96;
/// Bytes of one decoded tile (96 x 96 x RGB).
pub const TILE_BYTES: usize = SIDE * SIDE * 3;

/// Decodes `bytes` into `out` (HWC RGB). The error is a reason for a human ("wrong size 64x64").
pub fn decode_into(bytes: &[u8], out: &mut [u8]) -> Result<(), String> {
    debug_assert_eq!(out.len(), TILE_BYTES);
    if bytes.is_empty() {
        return Err("empty file".into());
    }
    match fast_tiff(bytes, out) {
        Fast::Done => Ok(()),
        Fast::Bad(reason) => Err(reason),
        Fast::Unusual => decode_general(bytes, out),
    }
}

enum Fast {
    Done,
    /// A definite problem (wrong size, truncated strips) found by the fast path.
    Bad(String),
    /// Not a plain uncompressed RGB TIFF: let the general decoder decide.
    Unusual,
}

/// Little/big-endian readers over a TIFF buffer.
struct Tiff<'a> {
    b: &'a [u8],
    le: bool,
}

impl Tiff<'_> {
    fn u16(&self, at: usize) -> Option<u16> {
        let s = self.b.get(at..at + 2)?;
        Some(if self.le {
            u16::from_le_bytes([s[0], s[1]])
        } else {
            u16::from_be_bytes([s[0], s[1]])
        })
    }
    fn u32(&self, at: usize) -> Option<u32> {
        let s = self.b.get(at..at + 4)?;
        let a = [s[0], s[1], s[2], s[3]];
        Some(if self.le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        })
    }
    /// Value `i` of an IFD entry at `entry` (SHORT or LONG, inline or at an offset).
    fn value(&self, entry: usize, i: usize) -> Option<u32> {
        let typ = self.u16(entry + 2)?;
        let count = self.u32(entry + 4)? as usize;
        if i >= count {
            return None;
        }
        let size = match typ {
            3 => 2,
            4 => 4,
            _ => return None,
        };
        let base = if size * count <= 4 {
            entry + 8
        } else {
            self.u32(entry + 8)? as usize
        };
        let at = base.checked_add(i * size)?;
        if size == 2 {
            self.u16(at).map(u32::from)
        } else {
            self.u32(at)
        }
    }
    fn count(&self, entry: usize) -> Option<usize> {
        self.u32(entry + 4).map(|c| c as usize)
    }
}

fn fast_tiff(bytes: &[u8], out: &mut [u8]) -> Fast {
    let le = match bytes.get(0..4) {
        Some([b'I', b'I', 42, 0]) => true,
        Some([b'M', b'M', 0, 42]) => false,
        _ => return Fast::Unusual,
    };
    let t = Tiff { b: bytes, le };
    let Some(ifd) = t.u32(4).map(|v| v as usize) else {
        return Fast::Bad("truncated TIFF header".into());
    };
    let Some(n) = t.u16(ifd) else {
        return Fast::Bad(format!(
            "truncated TIFF: directory at byte {ifd} is past the end ({} bytes)",
            bytes.len()
        ));
    };
    let (mut w, mut h, mut spp, mut comp, mut photo, mut planar) = (0, 0, 1, 1, u32::MAX, 1);
    let mut bits_ok = true;
    let (mut offsets, mut counts) = (None, None);
    for k in 0..n as usize {
        let e = ifd + 2 + 12 * k;
        let Some(tag) = t.u16(e) else {
            return Fast::Bad("truncated TIFF directory".into());
        };
        let v0 = || t.value(e, 0);
        match tag {
            256 => w = v0().unwrap_or(0),
            257 => h = v0().unwrap_or(0),
            258 => {
                let c = t.count(e).unwrap_or(0);
                bits_ok = (0..c).all(|i| t.value(e, i) == Some(8));
            }
            259 => comp = v0().unwrap_or(0),
            262 => photo = v0().unwrap_or(u32::MAX),
            273 => offsets = Some(e),
            277 => spp = v0().unwrap_or(0),
            279 => counts = Some(e),
            284 => planar = v0().unwrap_or(0),
            _ => {}
        }
    }
    if (w, h) != (0, 0) && (w as usize, h as usize) != (SIDE, SIDE) {
        return Fast::Bad(format!("wrong size {w}x{h} (expected {SIDE}x{SIDE})"));
    }
    if spp == 1 || spp == 4 {
        return Fast::Bad(format!("wrong channel count {spp} (expected 3, RGB)"));
    }
    if !bits_ok && spp == 3 {
        return Fast::Bad("wrong bit depth (expected 8 bits per channel)".into());
    }
    if comp != 1 || photo != 2 || planar != 1 || spp != 3 || !bits_ok {
        return Fast::Unusual;
    }
    let (Some(oe), Some(ce)) = (offsets, counts) else {
        return Fast::Unusual;
    };
    let strips = t.count(oe).unwrap_or(0);
    if strips == 0 || t.count(ce) != Some(strips) {
        return Fast::Unusual;
    }
    let mut filled = 0usize;
    for s in 0..strips {
        let (Some(off), Some(len)) = (t.value(oe, s), t.value(ce, s)) else {
            return Fast::Unusual;
        };
        let (off, len) = (off as usize, len as usize);
        let len = len.min(TILE_BYTES - filled);
        let Some(src) = bytes.get(off..off.saturating_add(len)) else {
            return Fast::Bad(format!(
                "truncated TIFF: pixel data needs bytes {off}..{} but the file has {}",
                off + len,
                bytes.len()
            ));
        };
        out[filled..filled + len].copy_from_slice(src);
        filled += len;
    }
    if filled != TILE_BYTES {
        return Fast::Bad(format!(
            "truncated TIFF: {filled} bytes of pixels, expected {TILE_BYTES}"
        ));
    }
    Fast::Done
}

fn decode_general(bytes: &[u8], out: &mut [u8]) -> Result<(), String> {
    use image::{ColorType, ImageReader};
    let reader = ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("unreadable: {e}"))?;
    if reader.format().is_none() {
        return Err("not an image (unrecognised bytes)".into());
    }
    let img = reader.decode().map_err(|e| format!("cannot decode: {e}"))?;
    if (img.width() as usize, img.height() as usize) != (SIDE, SIDE) {
        return Err(format!(
            "wrong size {}x{} (expected {SIDE}x{SIDE})",
            img.width(),
            img.height()
        ));
    }
    match img.color() {
        ColorType::Rgb8 => {
            out.copy_from_slice(img.as_bytes());
            Ok(())
        }
        ColorType::L8 | ColorType::La8 | ColorType::Rgba8 => Err(format!(
            "wrong channel count {} (expected 3, RGB)",
            img.color().channel_count()
        )),
        other => Err(format!("wrong bit depth: {other:?} (expected 8-bit RGB)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32, color: image::ColorType) -> Vec<u8> {
        let n = (w * h) as usize * color.bytes_per_pixel() as usize;
        let mut buf = Vec::new();
        image::write_buffer_with_format(
            &mut std::io::Cursor::new(&mut buf),
            &vec![7u8; n],
            w,
            h,
            color,
            image::ImageFormat::Png,
        )
        .unwrap();
        buf
    }

    #[test]
    fn png_rgb_decodes_and_bad_shapes_are_named() {
        let mut out = vec![0u8; TILE_BYTES];
        decode_into(&png(96, 96, image::ColorType::Rgb8), &mut out).unwrap();
        assert!(out.iter().all(|&v| v == 7));
        let e = decode_into(&png(64, 96, image::ColorType::Rgb8), &mut out).unwrap_err();
        assert!(e.contains("wrong size 64x96"), "{e}");
        let e = decode_into(&png(96, 96, image::ColorType::L8), &mut out).unwrap_err();
        assert!(e.contains("channel count 1"), "{e}");
        let e = decode_into(&png(96, 96, image::ColorType::Rgb16), &mut out).unwrap_err();
        assert!(e.contains("bit depth"), "{e}");
        let e = decode_into(b"definitely not an image", &mut out).unwrap_err();
        assert!(e.contains("not an image"), "{e}");
        assert_eq!(decode_into(&[], &mut out).unwrap_err(), "empty file");
    }

    #[test]
    fn tiff_fast_path_matches_image_crate() {
        // An uncompressed RGB TIFF written by `image` (its layout differs from Kaggle's,
        // so this checks the IFD parsing rather than one fixed file).
        let px: Vec<u8> = (0..TILE_BYTES).map(|i| (i * 31 % 251) as u8).collect();
        let mut buf = Vec::new();
        image::write_buffer_with_format(
            &mut std::io::Cursor::new(&mut buf),
            &px,
            96,
            96,
            image::ColorType::Rgb8,
            image::ImageFormat::Tiff,
        )
        .unwrap();
        let mut out = vec![0u8; TILE_BYTES];
        assert!(matches!(fast_tiff(&buf, &mut out), Fast::Done));
        assert_eq!(out, px);
        let e = decode_into(&buf[..buf.len() / 2], &mut out).unwrap_err();
        assert!(e.contains("truncated"), "{e}");
    }
}

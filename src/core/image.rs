//! `Image`: an upright RGB8 photo loaded from PNG, JPEG, WebP, TIFF or BMP.
//!
//! Loading applies the EXIF orientation, converts grey/16-bit/alpha to RGB8 (alpha is composited
//! over white), and refuses images larger than [`Image::MAX_PIXELS`] before decoding them.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};

/// Errors from loading or saving an image; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("cannot read image {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: not an image Carve can read (supported: PNG, JPEG, WebP, TIFF, BMP)", path.display())]
    UnknownFormat { path: PathBuf },
    #[error(
        "{}: image is {width}×{height} ({megapixels:.1} megapixels), more than the {limit} megapixel limit",
        path.display()
    )]
    TooLarge { path: PathBuf, width: u32, height: u32, megapixels: f64, limit: u64 },
    #[error("{}: corrupt or truncated image: {message}", path.display())]
    Corrupt { path: PathBuf, message: String },
    #[error("{}: image has zero width or height", path.display())]
    Empty { path: PathBuf },
    #[error("cannot encode image {}: {source}", path.display())]
    Encode { path: PathBuf, source: image::ImageError },
    #[error("cannot write image {}: {source}", path.display())]
    Write { path: PathBuf, source: crate::core::fs::FileError },
}

/// An upright 8-bit RGB image, row-major, origin top-left.
#[derive(Clone, PartialEq)]
pub struct Image {
    rgb: RgbImage,
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Image({}×{})", self.width(), self.height())
    }
}

impl Image {
    /// Largest image Carve decodes, in pixels (150 megapixels, e.g. 15000×10000).
    pub const MAX_PIXELS: u64 = 150_000_000;
    /// Decoder allocation limit (a 150 MP RGBA 16-bit image needs 1.2 GB).
    const MAX_DECODE_BYTES: u64 = 1_400_000_000;

    /// Wraps an RGB buffer.
    pub fn from_rgb(rgb: RgbImage) -> Self {
        Self { rgb }
    }

    /// Loads an image file. The error names the file and the problem.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ImageError> {
        let path = path.as_ref();
        let bytes = crate::core::fs::read_input(path, crate::core::fs::InputLimit::Image)
            .map_err(|e| ImageError::Io { path: path.to_owned(), source: e.source })?;
        Self::from_bytes(&bytes, path)
    }

    /// Decodes an in-memory image; `name` is used in error messages.
    pub fn from_bytes(bytes: &[u8], name: impl AsRef<Path>) -> Result<Self, ImageError> {
        let path = name.as_ref().to_owned();
        let format = image::guess_format(bytes).map_err(|_| ImageError::UnknownFormat { path: path.clone() })?;
        if !matches!(
            format,
            ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP | ImageFormat::Tiff | ImageFormat::Bmp
        ) {
            return Err(ImageError::UnknownFormat { path });
        }
        let reader = || {
            let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
            let mut limits = image::Limits::default();
            limits.max_alloc = Some(Self::MAX_DECODE_BYTES);
            reader.limits(limits);
            reader
        };
        let corrupt = |e: image::ImageError| ImageError::Corrupt { path: path.clone(), message: e.to_string() };

        if format == ImageFormat::Tiff
            && let Some(message) = tiff_oversized_tag(bytes)
        {
            // The tiff crate refuses these too, but prints a stray debug line first.
            return Err(ImageError::Corrupt { path, message });
        }
        if format == ImageFormat::WebP && !webp_is_whole(bytes) {
            // The WebP decoder decodes a cut-off file without complaint.
            return Err(ImageError::Corrupt { path, message: "WebP data ends before its declared size".into() });
        }
        if format == ImageFormat::Jpeg && !jpeg_has_end_marker(bytes) {
            // Decoders fill a cut-off JPEG with grey and report success; we refuse it.
            return Err(ImageError::Corrupt { path, message: "JPEG data ends before its end-of-image marker".into() });
        }
        // Check the size from the header first: a lying header must not make us allocate.
        let (width, height) = reader().into_dimensions().map_err(corrupt)?;
        check_size(&path, width, height)?;

        let mut decoder = reader().into_decoder().map_err(corrupt)?;
        let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
        let mut decoded = DynamicImage::from_decoder(decoder).map_err(corrupt)?;
        decoded.apply_orientation(orientation);
        Ok(Self { rgb: to_rgb8_over_white(decoded) })
    }

    pub fn width(&self) -> u32 {
        self.rgb.width()
    }

    pub fn height(&self) -> u32 {
        self.rgb.height()
    }

    /// The pixels, row-major RGB8.
    pub fn rgb(&self) -> &RgbImage {
        &self.rgb
    }

    /// RGB of pixel `(x, y)`, or `None` outside the image.
    pub fn pixel(&self, x: u32, y: u32) -> Option<[u8; 3]> {
        (x < self.width() && y < self.height()).then(|| self.rgb.get_pixel(x, y).0)
    }

    /// Saves as PNG, atomically (an existing file stays intact if writing fails).
    pub fn save_png(&self, path: impl AsRef<Path>) -> Result<(), ImageError> {
        let path = path.as_ref();
        let mut bytes = Vec::new();
        self.rgb
            .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
            .map_err(|source| ImageError::Encode { path: path.to_owned(), source })?;
        crate::core::fs::write_atomic(path, &bytes)
            .map_err(|source| ImageError::Write { path: path.to_owned(), source })
    }
}

/// A classic TIFF whose IFDs (the main chain and EXIF/GPS sub-IFDs, at most 64) declare a tag
/// larger than the file: the reason, or `None`. BigTIFF is left to the decoder.
fn tiff_oversized_tag(bytes: &[u8]) -> Option<String> {
    let little = bytes.starts_with(b"II*\0");
    if !little && !bytes.starts_with(b"MM\0*") {
        return None;
    }
    let u16_at = |at: usize| {
        let b: [u8; 2] = bytes.get(at..at + 2)?.try_into().ok()?;
        Some(if little { u16::from_le_bytes(b) } else { u16::from_be_bytes(b) })
    };
    let u32_at = |at: usize| {
        let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
        Some(if little { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) })
    };
    let mut queue = vec![u32_at(4)? as usize];
    let mut seen = std::collections::HashSet::new();
    while let Some(ifd) = queue.pop() {
        if ifd == 0 || !seen.insert(ifd) || seen.len() > 64 {
            continue;
        }
        let entries = usize::from(u16_at(ifd)?);
        for e in 0..entries {
            let at = ifd + 2 + 12 * e;
            let (tag, kind, count) = (u16_at(at)?, u16_at(at + 2)?, u64::from(u32_at(at + 4)?));
            let size = match kind {
                1 | 2 | 6 | 7 => 1,
                3 | 8 => 2,
                4 | 9 | 11 | 13 => 4,
                5 | 10 | 12 => 8,
                _ => 1,
            };
            if count.saturating_mul(size) > bytes.len() as u64 {
                return Some(format!("TIFF tag {tag} declares {count} values, more than the file holds"));
            }
            if matches!(tag, 34665 | 34853) {
                queue.push(u32_at(at + 8)? as usize); // EXIF and GPS sub-IFDs
            }
        }
        queue.push(u32_at(ifd + 2 + 12 * entries)? as usize);
    }
    None
}

/// Whether a WebP file holds the whole RIFF chunk its header declares.
fn webp_is_whole(bytes: &[u8]) -> bool {
    let Some(size) = bytes.get(4..8).and_then(|b| <[u8; 4]>::try_from(b).ok()) else { return false };
    u64::from(u32::from_le_bytes(size)) + 8 <= bytes.len() as u64
}

/// Whether a JPEG's last scan (after the last SOS marker `FF DA`) is followed by the end-of-image
/// marker `FF D9`. Inside entropy-coded data `FF` is always stuffed (`FF 00`), so `FF D9` cannot
/// appear there by accident; an EXIF thumbnail's own `FF D9` comes before the main image's scans.
fn jpeg_has_end_marker(bytes: &[u8]) -> bool {
    let last_sos = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    match last_sos {
        Some(sos) => bytes[sos..].windows(2).any(|w| w == [0xFF, 0xD9]),
        None => false,
    }
}

fn check_size(path: &Path, width: u32, height: u32) -> Result<(), ImageError> {
    if width == 0 || height == 0 {
        return Err(ImageError::Empty { path: path.to_owned() });
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels > Image::MAX_PIXELS {
        return Err(ImageError::TooLarge {
            path: path.to_owned(),
            width,
            height,
            megapixels: pixels as f64 / 1e6,
            limit: Image::MAX_PIXELS / 1_000_000,
        });
    }
    Ok(())
}

/// Converts any decoded image to RGB8; transparent pixels are composited over white so that
/// cut-out PNGs do not turn into black blobs.
fn to_rgb8_over_white(decoded: DynamicImage) -> RgbImage {
    if !decoded.color().has_alpha() {
        return decoded.to_rgb8();
    }
    let rgba = decoded.to_rgba8();
    let mut rgb = RgbImage::new(rgba.width(), rgba.height());
    for (dst, src) in rgb.pixels_mut().zip(rgba.pixels()) {
        let a = u32::from(src.0[3]);
        for c in 0..3 {
            dst.0[c] = ((u32::from(src.0[c]) * a + 255 * (255 - a) + 127) / 255) as u8;
        }
    }
    rgb
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpha_is_composited_over_white() {
        let mut rgba = image::RgbaImage::new(2, 1);
        rgba.put_pixel(0, 0, image::Rgba([0, 0, 0, 0]));
        rgba.put_pixel(1, 0, image::Rgba([10, 20, 30, 255]));
        let rgb = to_rgb8_over_white(DynamicImage::ImageRgba8(rgba));
        assert_eq!(rgb.get_pixel(0, 0).0, [255, 255, 255]);
        assert_eq!(rgb.get_pixel(1, 0).0, [10, 20, 30]);
    }

    #[test]
    fn garbage_is_unknown_format() {
        let err = Image::from_bytes(b"definitely not an image", "junk.bin").unwrap_err();
        assert!(matches!(err, ImageError::UnknownFormat { .. }), "{err}");
        assert!(err.to_string().contains("junk.bin"));
    }
}

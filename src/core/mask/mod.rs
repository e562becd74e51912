//! `Mask`: a binary mask the size of its image, with a COCO run-length form (bit-exact with
//! pycocotools, both the uncompressed counts and the compressed string), PNG in/out, and polygon
//! extraction (exact pixel-boundary contours, outer rings and holes, optionally simplified).
//!
//! Files: this one holds the mask itself (pixels, area, IoU, bounding box, components, PNG);
//! `rle.rs` the COCO run-length form ([`CocoRle`]), `polygon.rs` contours and [`Polygon`],
//! `distance.rs` the distance transform.

mod distance;
mod polygon;
mod rle;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use self::polygon::Polygon;
pub use self::rle::CocoRle;

/// Errors from building, decoding or reading a mask.
#[derive(Debug, thiserror::Error)]
pub enum MaskError {
    #[error("RLE counts sum to {sum} but the mask is {width}×{height} = {pixels} pixels")]
    RleLength { sum: u64, width: u32, height: u32, pixels: u64 },
    #[error("RLE string is malformed at byte {offset}: {reason}")]
    RleString { offset: usize, reason: &'static str },
    #[error("RLE has a negative run ({value}) at position {index}")]
    RleNegative { index: usize, value: i64 },
    #[error("mask size {width}×{height} does not match the image size {expected_width}×{expected_height}")]
    SizeMismatch { width: u32, height: u32, expected_width: u32, expected_height: u32 },
    /// Every image error names the file already.
    #[error("{source}")]
    Image { path: PathBuf, source: Box<crate::core::image::ImageError> },
    #[error("cannot encode mask {}: {source}", path.display())]
    Encode { path: PathBuf, source: image::ImageError },
    #[error("cannot write mask {}: {source}", path.display())]
    Write { path: PathBuf, source: crate::core::fs::FileError },
    #[error("mask of {width}×{height} is too large")]
    TooLarge { width: u32, height: u32 },
}

/// A binary mask, row-major, one byte per pixel (0 or 1).
#[derive(Clone, PartialEq, Eq)]
pub struct Mask {
    width: u32,
    height: u32,
    bits: Vec<u8>,
}

impl std::fmt::Debug for Mask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mask({}×{}, area {})", self.width, self.height, self.area())
    }
}

impl Mask {
    /// An empty mask.
    pub fn new(width: u32, height: u32) -> Self {
        Self { width, height, bits: vec![0; width as usize * height as usize] }
    }

    /// A mask from a predicate on pixel `(x, y)`.
    pub fn from_fn(width: u32, height: u32, mut inside: impl FnMut(u32, u32) -> bool) -> Self {
        let mut bits = Vec::with_capacity(width as usize * height as usize);
        for y in 0..height {
            for x in 0..width {
                bits.push(u8::from(inside(x, y)));
            }
        }
        Self { width, height, bits }
    }

    /// A mask from row-major bytes (non-zero = inside).
    pub fn from_bytes(width: u32, height: u32, bytes: &[u8]) -> Option<Self> {
        (bytes.len() == width as usize * height as usize).then(|| Self {
            width,
            height,
            bits: bytes.iter().map(|&b| u8::from(b != 0)).collect(),
        })
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// Row-major bytes, 0 or 1.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bits
    }

    /// Whether pixel `(x, y)` is inside; `false` outside the image.
    pub fn get(&self, x: u32, y: u32) -> bool {
        x < self.width && y < self.height && self.bits[self.index(x, y)] != 0
    }

    /// Sets pixel `(x, y)`; ignored outside the image.
    pub fn set(&mut self, x: u32, y: u32, inside: bool) {
        if x < self.width && y < self.height {
            let i = self.index(x, y);
            self.bits[i] = u8::from(inside);
        }
    }

    fn index(&self, x: u32, y: u32) -> usize {
        y as usize * self.width as usize + x as usize
    }

    /// Number of inside pixels.
    pub fn area(&self) -> u64 {
        self.bits.iter().map(|&b| u64::from(b)).sum()
    }

    /// Intersection over union; two empty masks have IoU 1.
    pub fn iou(&self, other: &Mask) -> f64 {
        assert_eq!((self.width, self.height), (other.width, other.height), "IoU of masks of different sizes");
        let (mut inter, mut union) = (0u64, 0u64);
        for (&a, &b) in self.bits.iter().zip(&other.bits) {
            inter += u64::from(a & b);
            union += u64::from(a | b);
        }
        if union == 0 { 1.0 } else { inter as f64 / union as f64 }
    }

    /// Tight bounding box `[x0, y0, x1, y1)` in pixels, or `None` when empty.
    pub fn bbox(&self) -> Option<[u32; 4]> {
        let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
        for y in 0..self.height {
            let row = &self.bits[self.index(0, y)..][..self.width as usize];
            if let Some(first) = row.iter().position(|&b| b != 0) {
                let last = row.iter().rposition(|&b| b != 0).unwrap_or(first);
                x0 = x0.min(first as u32);
                x1 = x1.max(last as u32 + 1);
                y0 = y0.min(y);
                y1 = y + 1;
            }
        }
        (x0 != u32::MAX).then_some([x0, y0, x1, y1])
    }

    /// Connected components (8-connected) of the inside pixels: a label per pixel (0 = outside,
    /// 1.. = component) and each component's area.
    pub fn components(&self) -> (Vec<u32>, Vec<u64>) {
        let (w, h) = (self.width as i64, self.height as i64);
        let mut labels = vec![0u32; self.bits.len()];
        let mut areas = vec![0u64];
        let mut stack = Vec::new();
        for start in 0..self.bits.len() {
            if self.bits[start] == 0 || labels[start] != 0 {
                continue;
            }
            let label = areas.len() as u32;
            let mut area = 0u64;
            labels[start] = label;
            stack.push(start);
            while let Some(i) = stack.pop() {
                area += 1;
                let (x, y) = ((i as i64) % w, (i as i64) / w);
                for dy in -1..=1 {
                    for dx in -1..=1 {
                        let (nx, ny) = (x + dx, y + dy);
                        if nx < 0 || ny < 0 || nx >= w || ny >= h {
                            continue;
                        }
                        let j = (ny * w + nx) as usize;
                        if self.bits[j] != 0 && labels[j] == 0 {
                            labels[j] = label;
                            stack.push(j);
                        }
                    }
                }
            }
            areas.push(area);
        }
        (labels, areas)
    }

    /// The complement of this mask.
    pub fn inverted(&self) -> Mask {
        Mask { width: self.width, height: self.height, bits: self.bits.iter().map(|&b| 1 - b).collect() }
    }

    /// Reads a mask image (any format [`crate::Image`] reads): pixels brighter than mid-grey
    /// are inside. Alpha is composited over white first, so a transparent area is not inside
    /// unless it is white; use a greyscale or black/white PNG.
    pub fn load_png(path: impl AsRef<Path>) -> Result<Self, MaskError> {
        let path = path.as_ref();
        let image = crate::core::image::Image::load(path)
            .map_err(|e| MaskError::Image { path: path.to_owned(), source: Box::new(e) })?;
        let rgb = image.rgb();
        Ok(Self::from_fn(rgb.width(), rgb.height(), |x, y| {
            let [r, g, b] = rgb.get_pixel(x, y).0;
            u32::from(r) + u32::from(g) + u32::from(b) > 3 * 127
        }))
    }

    /// Writes the mask as an 8-bit greyscale PNG (0 / 255), atomically.
    pub fn save_png(&self, path: impl AsRef<Path>) -> Result<(), MaskError> {
        let path = path.as_ref();
        let grey = image::GrayImage::from_fn(self.width, self.height, |x, y| {
            image::Luma([if self.get(x, y) { 255 } else { 0 }])
        });
        let mut bytes = Vec::new();
        grey.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)
            .map_err(|source| MaskError::Encode { path: path.to_owned(), source })?;
        crate::core::fs::write_atomic(path, &bytes).map_err(|source| MaskError::Write { path: path.to_owned(), source })
    }
}

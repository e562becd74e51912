//! `Mask`: a binary mask the size of its image, with a COCO run-length form (bit-exact with
//! pycocotools, both the uncompressed counts and the compressed string), PNG in/out, and polygon
//! extraction (exact pixel-boundary contours, outer rings and holes, optionally simplified).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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
    #[error("{}: {source}", path.display())]
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

    /// Euclidean distance (pixels) from each pixel to the nearest outside pixel, row-major; 0
    /// outside. Everything beyond the image border counts as outside. Exact (Felzenszwalb &
    /// Huttenlocher's separable squared-distance transform).
    pub fn distance_to_outside(&self) -> Vec<f32> {
        let (w, h) = (self.width as usize, self.height as usize);
        const INF: f32 = 1e20;
        // Columns: 1-D transform of 0 (outside) / INF (inside), with virtual outside rows at -1 and h.
        let mut cols = vec![0f32; w * h];
        let mut f = vec![0f32; h + 2];
        let mut d = vec![0f32; h + 2];
        for x in 0..w {
            f[0] = 0.0;
            f[h + 1] = 0.0;
            for y in 0..h {
                f[y + 1] = if self.bits[y * w + x] != 0 { INF } else { 0.0 };
            }
            edt_1d(&f, &mut d);
            for y in 0..h {
                cols[y * w + x] = d[y + 1];
            }
        }
        let mut out = vec![0f32; w * h];
        let mut f = vec![0f32; w + 2];
        let mut d = vec![0f32; w + 2];
        for y in 0..h {
            f[0] = 0.0;
            f[w + 1] = 0.0;
            f[1..=w].copy_from_slice(&cols[y * w..(y + 1) * w]);
            edt_1d(&f, &mut d);
            for x in 0..w {
                out[y * w + x] = d[x + 1].sqrt();
            }
        }
        out
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

    /// COCO run-length encoding (column-major runs, starting with a run of zeros).
    pub fn to_coco_rle(&self) -> CocoRle {
        let mut counts = Vec::new();
        let mut current = 0u8;
        let mut run = 0u32;
        for x in 0..self.width {
            for y in 0..self.height {
                let b = self.bits[self.index(x, y)];
                if b != current {
                    counts.push(run);
                    run = 0;
                    current = b;
                }
                run += 1;
            }
        }
        counts.push(run);
        CocoRle { height: self.height, width: self.width, counts }
    }

    /// Decodes a COCO RLE; the counts must cover the mask exactly.
    pub fn from_coco_rle(rle: &CocoRle) -> Result<Self, MaskError> {
        let pixels = u64::from(rle.width) * u64::from(rle.height);
        let sum: u64 = rle.counts.iter().map(|&c| u64::from(c)).sum();
        if sum != pixels {
            return Err(MaskError::RleLength { sum, width: rle.width, height: rle.height, pixels });
        }
        if pixels > crate::core::image::Image::MAX_PIXELS {
            return Err(MaskError::TooLarge { width: rle.width, height: rle.height });
        }
        let mut mask = Mask::new(rle.width, rle.height);
        let h = rle.height as u64;
        let mut pos = 0u64;
        for (i, &count) in rle.counts.iter().enumerate() {
            if i % 2 == 1 {
                for p in pos..pos + u64::from(count) {
                    let (x, y) = ((p / h) as u32, (p % h) as u32);
                    let idx = mask.index(x, y);
                    mask.bits[idx] = 1;
                }
            }
            pos += u64::from(count);
        }
        Ok(mask)
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

    /// Exact boundary polygons along pixel edges (vertices on pixel corners). Outer rings run
    /// clockwise on screen (positive [`Polygon::signed_area`]), holes counter-clockwise.
    /// Diagonally touching pixels belong to one ring (8-connectivity). Rasterising the result
    /// with [`Mask::from_polygons`] gives back this mask exactly.
    pub fn polygons(&self) -> Vec<Polygon> {
        trace_contours(self)
    }

    /// Rasterises polygons with the even-odd rule, sampling pixel centres.
    pub fn from_polygons(width: u32, height: u32, polygons: &[Polygon]) -> Self {
        let mut mask = Mask::new(width, height);
        let mut xs: Vec<f64> = Vec::new();
        for y in 0..height {
            let yc = f64::from(y) + 0.5;
            xs.clear();
            for poly in polygons {
                let n = poly.points.len();
                for i in 0..n {
                    let [ax, ay] = poly.points[i];
                    let [bx, by] = poly.points[(i + 1) % n];
                    if (ay <= yc) != (by <= yc) {
                        xs.push(ax + (yc - ay) * (bx - ax) / (by - ay));
                    }
                }
            }
            xs.sort_by(f64::total_cmp);
            for pair in xs.chunks_exact(2) {
                // Pixel centres x + 0.5 in [pair[0], pair[1]).
                let start = (pair[0] - 0.5).ceil().max(0.0);
                let end = (pair[1] - 0.5).ceil().min(f64::from(width));
                let mut x = start;
                while x < end {
                    mask.set(x as u32, y, true);
                    x += 1.0;
                }
            }
        }
        mask
    }
}

/// A closed polygon in pixel coordinates (see the pixel convention in [`crate::core`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Polygon {
    pub points: Vec<[f64; 2]>,
}

impl Polygon {
    /// Shoelace area in image coordinates (y down): positive for clockwise-on-screen rings.
    pub fn signed_area(&self) -> f64 {
        let n = self.points.len();
        (0..n)
            .map(|i| {
                let [ax, ay] = self.points[i];
                let [bx, by] = self.points[(i + 1) % n];
                ax * by - bx * ay
            })
            .sum::<f64>()
            / 2.0
    }

    /// Whether this ring is a hole (counter-clockwise on screen).
    pub fn is_hole(&self) -> bool {
        self.signed_area() < 0.0
    }

    /// Douglas–Peucker simplification with tolerance `tolerance_px`; keeps at least 3 points.
    pub fn simplified(&self, tolerance_px: f64) -> Polygon {
        let n = self.points.len();
        if n <= 3 || tolerance_px <= 0.0 {
            return self.clone();
        }
        // Split the closed ring at the point farthest from the first one.
        let p0 = self.points[0];
        let far =
            (1..n).max_by(|&a, &b| dist2(self.points[a], p0).total_cmp(&dist2(self.points[b], p0))).unwrap_or(n / 2);
        let mut keep = vec![false; n + 1];
        keep[0] = true;
        keep[far] = true;
        keep[n] = true;
        let ring: Vec<[f64; 2]> = self.points.iter().copied().chain(std::iter::once(p0)).collect();
        douglas_peucker(&ring, 0, far, tolerance_px * tolerance_px, &mut keep);
        douglas_peucker(&ring, far, n, tolerance_px * tolerance_px, &mut keep);
        let points: Vec<[f64; 2]> = (0..n).filter(|&i| keep[i]).map(|i| ring[i]).collect();
        if points.len() < 3 { self.clone() } else { Polygon { points } }
    }

    /// COCO polygon form: `[x0, y0, x1, y1, …]`.
    pub fn to_coco(&self) -> Vec<f64> {
        self.points.iter().flat_map(|p| [p[0], p[1]]).collect()
    }
}

/// 1-D squared Euclidean distance transform of a sampled function (lower envelope of parabolas).
fn edt_1d(f: &[f32], d: &mut [f32]) {
    let n = f.len();
    let mut v = vec![0usize; n];
    let mut z = vec![0f64; n + 1];
    let mut k = 0usize;
    z[0] = f64::NEG_INFINITY;
    z[1] = f64::INFINITY;
    let parabola = |q: usize| f64::from(f[q]) + (q * q) as f64;
    for q in 1..n {
        let mut s = (parabola(q) - parabola(v[k])) / (2.0 * (q - v[k]) as f64);
        while s <= z[k] {
            k -= 1;
            s = (parabola(q) - parabola(v[k])) / (2.0 * (q - v[k]) as f64);
        }
        k += 1;
        v[k] = q;
        z[k] = s;
        z[k + 1] = f64::INFINITY;
    }
    k = 0;
    for (q, out) in d.iter_mut().enumerate().take(n) {
        while z[k + 1] < q as f64 {
            k += 1;
        }
        let p = v[k];
        *out = ((q as f64 - p as f64).powi(2) + f64::from(f[p])) as f32;
    }
}

fn dist2(a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)
}

fn douglas_peucker(pts: &[[f64; 2]], first: usize, last: usize, tol2: f64, keep: &mut [bool]) {
    if last <= first + 1 {
        return;
    }
    let (a, b) = (pts[first], pts[last]);
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len2 = dx * dx + dy * dy;
    let mut best = (0.0, first);
    for (i, &p) in pts.iter().enumerate().take(last).skip(first + 1) {
        let d2 = if len2 == 0.0 {
            dist2(p, a)
        } else {
            let cross = dx * (p[1] - a[1]) - dy * (p[0] - a[0]);
            cross * cross / len2
        };
        if d2 > best.0 {
            best = (d2, i);
        }
    }
    if best.0 > tol2 {
        keep[best.1] = true;
        douglas_peucker(pts, first, best.1, tol2, keep);
        douglas_peucker(pts, best.1, last, tol2, keep);
    }
}

/// Crack-following contour tracer. Every boundary edge of every inside pixel is a directed edge
/// with the inside on its right (on screen); edges are chained into rings, taking the left-most
/// turn at saddle corners so diagonal neighbours join one ring.
fn trace_contours(mask: &Mask) -> Vec<Polygon> {
    type V = (i64, i64);
    // Directions: 0 = +x, 1 = +y, 2 = -x, 3 = -y (screen: right, down, left, up).
    const STEP: [V; 4] = [(1, 0), (0, 1), (-1, 0), (0, -1)];
    let inside = |x: i64, y: i64| x >= 0 && y >= 0 && mask.get(x as u32, y as u32);
    let mut out_edges: HashMap<V, [Option<u8>; 2]> = HashMap::new();
    let mut add = |v: V, dir: u8| {
        let slot = out_edges.entry(v).or_insert([None, None]);
        if slot[0].is_none() {
            slot[0] = Some(dir);
        } else {
            slot[1] = Some(dir);
        }
    };
    for y in 0..i64::from(mask.height) {
        for x in 0..i64::from(mask.width) {
            if !inside(x, y) {
                continue;
            }
            if !inside(x, y - 1) {
                add((x, y), 0);
            }
            if !inside(x + 1, y) {
                add((x + 1, y), 1);
            }
            if !inside(x, y + 1) {
                add((x + 1, y + 1), 2);
            }
            if !inside(x - 1, y) {
                add((x, y + 1), 3);
            }
        }
    }
    let take = |edges: &mut HashMap<V, [Option<u8>; 2]>, v: V, incoming: Option<u8>| -> Option<u8> {
        let slot = edges.get_mut(&v)?;
        let pick = match (slot[0], slot[1], incoming) {
            (Some(a), Some(b), Some(inc)) => {
                // Prefer the left turn (dir - 1) for 8-connectivity.
                let left = (inc + 3) % 4;
                usize::from(b == left && a != left)
            }
            (Some(_), _, _) => 0,
            (None, Some(_), _) => 1,
            (None, None, _) => return None,
        };
        let dir = slot[pick].take();
        if pick == 0 {
            slot[0] = slot[1].take();
        }
        if slot[0].is_none() {
            edges.remove(&v);
        }
        dir
    };
    let mut starts: Vec<V> = out_edges.keys().copied().collect();
    starts.sort_unstable_by_key(|&(x, y)| (y, x));
    let mut rings = Vec::new();
    for start in starts {
        while let Some(first_dir) = take(&mut out_edges, start, None) {
            let mut points: Vec<V> = vec![start];
            let mut dirs: Vec<u8> = vec![first_dir];
            let mut v = (start.0 + STEP[first_dir as usize].0, start.1 + STEP[first_dir as usize].1);
            let mut dir = first_dir;
            while v != start {
                let Some(next) = take(&mut out_edges, v, Some(dir)) else { break };
                points.push(v);
                dirs.push(next);
                dir = next;
                v = (v.0 + STEP[dir as usize].0, v.1 + STEP[dir as usize].1);
            }
            // Keep only corners (where the direction changes).
            let n = points.len();
            let corners: Vec<[f64; 2]> = (0..n)
                .filter(|&i| dirs[i] != dirs[(i + n - 1) % n])
                .map(|i| [points[i].0 as f64, points[i].1 as f64])
                .collect();
            if corners.len() >= 3 {
                rings.push(Polygon { points: corners });
            }
        }
    }
    rings
}

/// COCO run-length encoding of a mask: `counts` alternate runs of 0 and 1 in column-major
/// (Fortran) order, starting with zeros. Serialises as pycocotools does:
/// `{"size": [height, width], "counts": "<compressed string>"}`; reads either the string or a
/// plain list of counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CocoRle {
    pub height: u32,
    pub width: u32,
    pub counts: Vec<u32>,
}

impl CocoRle {
    /// pycocotools' compressed string (`rleToString`): each count (delta-coded against the count
    /// two places back, from the third on) in little-endian 5-bit groups, offset by 48.
    pub fn to_compressed_string(&self) -> String {
        let mut s = String::with_capacity(self.counts.len() * 2);
        for (i, &count) in self.counts.iter().enumerate() {
            let mut x = i64::from(count);
            if i > 2 {
                x -= i64::from(self.counts[i - 2]);
            }
            loop {
                let mut c = x & 0x1f;
                x >>= 5;
                let more = if c & 0x10 != 0 { x != -1 } else { x != 0 };
                if more {
                    c |= 0x20;
                }
                s.push(char::from((c + 48) as u8));
                if !more {
                    break;
                }
            }
        }
        s
    }

    /// Parses pycocotools' compressed string (`rleFrString`).
    pub fn from_compressed_string(height: u32, width: u32, s: &str) -> Result<Self, MaskError> {
        let bytes = s.as_bytes();
        let mut counts: Vec<u32> = Vec::new();
        let mut values: Vec<i64> = Vec::new();
        let mut p = 0;
        while p < bytes.len() {
            let mut x: i64 = 0;
            let mut k = 0u32;
            loop {
                let Some(&byte) = bytes.get(p) else {
                    return Err(MaskError::RleString { offset: p, reason: "string ends inside a count" });
                };
                if !(48..48 + 64).contains(&byte) {
                    return Err(MaskError::RleString { offset: p, reason: "character outside the RLE alphabet" });
                }
                if k >= 12 {
                    return Err(MaskError::RleString { offset: p, reason: "count too long" });
                }
                let c = i64::from(byte - 48);
                x |= (c & 0x1f) << (5 * k);
                p += 1;
                k += 1;
                if c & 0x20 == 0 {
                    if c & 0x10 != 0 {
                        x |= -1i64 << (5 * k);
                    }
                    break;
                }
            }
            let m = values.len();
            if m > 2 {
                x += values[m - 2];
            }
            if x < 0 || x > i64::from(u32::MAX) {
                return Err(MaskError::RleNegative { index: m, value: x });
            }
            values.push(x);
            counts.push(x as u32);
        }
        Ok(Self { height, width, counts })
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum CountsJson {
    Compressed(String),
    Plain(Vec<i64>),
}

#[derive(Serialize, Deserialize)]
struct RleJson {
    size: [u32; 2],
    counts: CountsJson,
}

impl Serialize for CocoRle {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RleJson { size: [self.height, self.width], counts: CountsJson::Compressed(self.to_compressed_string()) }
            .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for CocoRle {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let json = RleJson::deserialize(deserializer)?;
        let [height, width] = json.size;
        match json.counts {
            CountsJson::Compressed(s) => {
                CocoRle::from_compressed_string(height, width, &s).map_err(serde::de::Error::custom)
            }
            CountsJson::Plain(values) => {
                let counts = values
                    .iter()
                    .enumerate()
                    .map(|(index, &value)| u32::try_from(value).map_err(|_| MaskError::RleNegative { index, value }))
                    .collect::<Result<Vec<u32>, _>>()
                    .map_err(serde::de::Error::custom)?;
                Ok(CocoRle { height, width, counts })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disc_with_hole() -> Mask {
        Mask::from_fn(40, 30, |x, y| {
            let d = ((x as f64 - 20.0).powi(2) + (y as f64 - 15.0).powi(2)).sqrt();
            (5.0..12.0).contains(&d)
        })
    }

    #[test]
    fn rle_round_trip_and_known_string() {
        // A 3×2 mask, column-major: col0 = [0,1], col1 = [1,1], col2 = [0,0] → counts 1,3,2.
        let mask = Mask::from_bytes(3, 2, &[0, 1, 0, 1, 1, 0]).unwrap();
        let rle = mask.to_coco_rle();
        assert_eq!(rle.counts, vec![1, 3, 2]);
        assert_eq!(rle.to_compressed_string(), "132");
        assert_eq!(Mask::from_coco_rle(&rle).unwrap(), mask);
        let m = disc_with_hole();
        let s = m.to_coco_rle().to_compressed_string();
        let back = CocoRle::from_compressed_string(30, 40, &s).unwrap();
        assert_eq!(Mask::from_coco_rle(&back).unwrap(), m);
    }

    #[test]
    fn rle_rejects_bad_input() {
        let bad_sum = CocoRle { height: 2, width: 2, counts: vec![1, 1] };
        assert!(matches!(Mask::from_coco_rle(&bad_sum), Err(MaskError::RleLength { .. })));
        assert!(CocoRle::from_compressed_string(2, 2, "1 ").is_err());
        assert!(CocoRle::from_compressed_string(2, 2, "P").is_err(), "dangling continuation");
        let json: Result<CocoRle, _> = serde_json::from_str(r#"{"size":[2,2],"counts":[1,-3]}"#);
        assert!(json.is_err());
    }

    #[test]
    fn rle_json_matches_pycocotools_shape() {
        let mask = Mask::from_bytes(3, 2, &[0, 1, 0, 1, 1, 0]).unwrap();
        let json = serde_json::to_string(&mask.to_coco_rle()).unwrap();
        assert_eq!(json, r#"{"size":[2,3],"counts":"132"}"#);
        let plain: CocoRle = serde_json::from_str(r#"{"size":[2,3],"counts":[1,3,2]}"#).unwrap();
        assert_eq!(plain, mask.to_coco_rle());
    }

    #[test]
    fn polygons_rasterise_back_exactly() {
        let m = disc_with_hole();
        let polys = m.polygons();
        assert_eq!(polys.len(), 2);
        assert_eq!(polys.iter().filter(|p| p.is_hole()).count(), 1);
        let area: f64 = polys.iter().map(Polygon::signed_area).sum();
        assert_eq!(area as u64, m.area());
        assert_eq!(Mask::from_polygons(40, 30, &polys), m);
    }

    #[test]
    fn diagonal_pixels_make_one_ring_and_rasterise_back() {
        let m = Mask::from_bytes(3, 3, &[1, 0, 0, 0, 1, 0, 0, 0, 1]).unwrap();
        let polys = m.polygons();
        assert_eq!(polys.len(), 1, "{polys:?}");
        assert_eq!(Mask::from_polygons(3, 3, &polys), m);
    }

    #[test]
    fn simplification_keeps_shape() {
        let m =
            Mask::from_fn(200, 200, |x, y| ((x as f64 - 100.0).powi(2) + (y as f64 - 100.0).powi(2)) < 80.0f64.powi(2));
        let poly = &m.polygons()[0];
        let simple = poly.simplified(1.0);
        assert!(simple.points.len() < poly.points.len() / 2, "{} → {}", poly.points.len(), simple.points.len());
        let back = Mask::from_polygons(200, 200, std::slice::from_ref(&simple));
        assert!(back.iou(&m) > 0.98, "IoU {}", back.iou(&m));
    }

    #[test]
    fn distance_transform_matches_brute_force() {
        let m = disc_with_hole();
        let dt = m.distance_to_outside();
        let (w, h) = (40i64, 30i64);
        for y in 0..h {
            for x in 0..w {
                let mut best = f64::MAX;
                for oy in -1..=h {
                    for ox in -1..=w {
                        let outside = ox < 0 || oy < 0 || ox >= w || oy >= h || !m.get(ox as u32, oy as u32);
                        if outside {
                            best = best.min((((ox - x).pow(2) + (oy - y).pow(2)) as f64).sqrt());
                        }
                    }
                }
                let got = f64::from(dt[(y * w + x) as usize]);
                assert!((got - best).abs() < 1e-3, "({x},{y}): {got} vs {best}");
            }
        }
    }

    #[test]
    fn components_are_8_connected() {
        let m = Mask::from_bytes(4, 3, &[1, 0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0]).unwrap();
        let (labels, areas) = m.components();
        assert_eq!(areas.len(), 3, "{labels:?}");
        assert_eq!(labels[0], labels[5]);
        assert_eq!(areas[1..].iter().sum::<u64>(), 4);
    }

    #[test]
    fn bbox_and_area() {
        let m = Mask::from_fn(10, 8, |x, y| (2..5).contains(&x) && (3..7).contains(&y));
        assert_eq!(m.bbox(), Some([2, 3, 5, 7]));
        assert_eq!(m.area(), 12);
        assert_eq!(Mask::new(4, 4).bbox(), None);
    }
}

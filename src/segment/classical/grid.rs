//! The working grid: the region of interest averaged into cells (at most `max_cells` of them), the
//! per-cell features the colour models see (mean RGB and local luminance contrast), the
//! contrast-sensitive smoothness edges, and one graph cut over it.

use crate::core::image::Image;

use super::gmm::{Feature, MAX_DIMS};
use crate::segment::maxflow::Graph;

/// Capacity of a hard constraint: more than any sum of smoothness weights around a node.
pub const HARD: f32 = 1e6;

/// Hard labels of working cells (or pixels).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hard {
    Unknown,
    Fg,
    Bg,
}

/// 8-neighbourhood offsets, each pair once, with their lengths (in cells).
pub const NEIGHBOURS: [(i64, i64, f32); 4] =
    [(1, 0, 1.0), (0, 1, 1.0), (1, 1, std::f32::consts::SQRT_2), (-1, 1, std::f32::consts::SQRT_2)];

pub fn colour_dist2(a: [f32; 3], b: [f32; 3]) -> f32 {
    (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)
}

/// Per-pixel features of the region of interest at full resolution.
pub struct PixelFeatures {
    pub roi: [u32; 4],
    pub width: usize,
    /// Luminance standard deviation in a (2r+1)² window around each pixel.
    pub texture: Vec<f32>,
}

impl PixelFeatures {
    pub fn new(image: &Image, roi: [u32; 4], radius_px: usize) -> Self {
        let (w, h) = ((roi[2] - roi[0]) as usize, (roi[3] - roi[1]) as usize);
        let rgb = image.rgb();
        // Integral images of luminance and its square (one row and column of zeros in front).
        let mut sum = vec![0f64; (w + 1) * (h + 1)];
        let mut sum2 = vec![0f64; (w + 1) * (h + 1)];
        for y in 0..h {
            let (mut row, mut row2) = (0f64, 0f64);
            for x in 0..w {
                let c = rgb.get_pixel(roi[0] + x as u32, roi[1] + y as u32).0;
                let l = 0.299 * f64::from(c[0]) + 0.587 * f64::from(c[1]) + 0.114 * f64::from(c[2]);
                row += l;
                row2 += l * l;
                sum[(y + 1) * (w + 1) + x + 1] = sum[y * (w + 1) + x + 1] + row;
                sum2[(y + 1) * (w + 1) + x + 1] = sum2[y * (w + 1) + x + 1] + row2;
            }
        }
        let r = radius_px;
        let texture = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                let (x0, y0, x1, y1) =
                    (x.saturating_sub(r), y.saturating_sub(r), (x + r + 1).min(w), (y + r + 1).min(h));
                let n = ((x1 - x0) * (y1 - y0)) as f64;
                let at = |s: &[f64]| {
                    s[y1 * (w + 1) + x1] - s[y0 * (w + 1) + x1] - s[y1 * (w + 1) + x0] + s[y0 * (w + 1) + x0]
                };
                let mean = at(&sum) / n;
                (at(&sum2) / n - mean * mean).max(0.0).sqrt() as f32
            })
            .collect();
        Self { roi, width: w, texture }
    }

    /// The feature vector of pixel (x, y) (image coordinates inside the ROI) with colour `c`.
    pub fn feature(&self, x: u32, y: u32, c: [f32; 3], dims: usize) -> Feature {
        let mut f = [0f32; MAX_DIMS];
        f[..3].copy_from_slice(&c);
        if dims > 3 {
            f[3] = self.texture[(y - self.roi[1]) as usize * self.width + (x - self.roi[0]) as usize];
        }
        f
    }
}

/// The region of interest at working resolution.
pub struct Grid {
    /// Full-resolution pixels `[x0, y0, x1, y1)`.
    pub roi: [u32; 4],
    /// Cells per pixel (≤ 1).
    pub scale: f64,
    pub w: usize,
    pub h: usize,
    /// Mean colour per cell (0..255).
    pub colour: Vec<[f32; 3]>,
    /// Model features per cell (colour, then texture when `dims > 3`).
    pub feature: Vec<Feature>,
    pub dims: usize,
}

impl Grid {
    /// The grid of `pixels.roi` at `scale` cells per pixel (≤ 1).
    pub fn new(image: &Image, pixels: &PixelFeatures, scale: f64, dims: usize) -> Self {
        let roi = pixels.roi;
        let (rw, rh) = ((roi[2] - roi[0]) as usize, (roi[3] - roi[1]) as usize);
        let scale = scale.clamp(1e-3, 1.0);
        let (w, h) = (((rw as f64 * scale).ceil() as usize).max(1), ((rh as f64 * scale).ceil() as usize).max(1));
        let mut grid = Self { roi, scale, w, h, colour: Vec::new(), feature: Vec::new(), dims };
        let rgb = image.rgb();
        let mut sums = vec![[0f32; 5]; w * h];
        for y in roi[1]..roi[3] {
            for x in roi[0]..roi[2] {
                let c = rgb.get_pixel(x, y).0;
                let s = &mut sums[grid.cell_of(x, y)];
                s[0] += f32::from(c[0]);
                s[1] += f32::from(c[1]);
                s[2] += f32::from(c[2]);
                s[3] += pixels.texture[(y - roi[1]) as usize * rw + (x - roi[0]) as usize];
                s[4] += 1.0;
            }
        }
        grid.colour = sums.iter().map(|s| [s[0], s[1], s[2]].map(|v| v / s[4].max(1.0))).collect();
        grid.feature = sums
            .iter()
            .map(|s| {
                let n = s[4].max(1.0);
                let mut f = [0f32; MAX_DIMS];
                for (a, v) in f.iter_mut().enumerate().take(dims.min(4)) {
                    *v = s[a] / n;
                }
                f
            })
            .collect();
        grid
    }

    pub fn len(&self) -> usize {
        self.w * self.h
    }

    /// The cell holding full-resolution pixel (x, y) (which must lie in the ROI).
    pub fn cell_of(&self, x: u32, y: u32) -> usize {
        let u = (((x - self.roi[0]) as f64 * self.scale) as usize).min(self.w - 1);
        let v = (((y - self.roi[1]) as f64 * self.scale) as usize).min(self.h - 1);
        v * self.w + u
    }

    /// Cell centre in full-resolution pixel coordinates.
    pub fn centre_of(&self, i: usize) -> (f32, f32) {
        let (u, v) = (i % self.w, i / self.w);
        (
            self.roi[0] as f32 + ((u as f64 + 0.5) / self.scale) as f32,
            self.roi[1] as f32 + ((v as f64 + 0.5) / self.scale) as f32,
        )
    }

    /// GrabCut's β = 1 / (2 ⟨‖Ip − Iq‖²⟩) over neighbouring cells.
    pub fn beta(&self) -> f32 {
        let (mut sum, mut n) = (0f64, 0u64);
        self.for_each_pair(|i, j, _| {
            sum += f64::from(colour_dist2(self.colour[i], self.colour[j]));
            n += 1;
        });
        if sum <= 0.0 { 0.0 } else { (n as f64 / (2.0 * sum)) as f32 }
    }

    /// Calls `f(i, j, length)` for every 8-neighbour pair once.
    pub fn for_each_pair(&self, mut f: impl FnMut(usize, usize, f32)) {
        for y in 0..self.h {
            for x in 0..self.w {
                for &(dx, dy, len) in &NEIGHBOURS {
                    let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                    if nx >= 0 && (nx as usize) < self.w && (ny as usize) < self.h {
                        f(y * self.w + x, ny as usize * self.w + nx as usize, len);
                    }
                }
            }
        }
    }

    /// Contrast-sensitive smoothness edges `(i, j, weight)`: `gamma / length · exp(−β‖ci − cj‖²)`.
    pub fn edges(&self, gamma: f32, beta: f32) -> Vec<(u32, u32, f32)> {
        let mut edges = Vec::with_capacity(self.len() * 4);
        self.for_each_pair(|i, j, len| {
            let w = gamma / len * (-beta * colour_dist2(self.colour[i], self.colour[j])).exp();
            edges.push((i as u32, j as u32, w));
        });
        edges
    }
}

/// One s–t min cut: `cost_fg[i]` / `cost_bg[i]` are the unary costs of labelling cell i
/// foreground / background; returns the foreground labelling. Only cells without a hard label
/// become graph nodes (an edge to a fixed cell is a terminal cost), so the ring of hard
/// background around a box costs nothing.
pub fn min_cut(cost_fg: &[f32], cost_bg: &[f32], hard: &[Hard], edges: &[(u32, u32, f32)]) -> Vec<bool> {
    let n = cost_fg.len();
    let mut node = vec![u32::MAX; n];
    let mut free = Vec::new();
    for i in 0..n {
        if hard[i] == Hard::Unknown {
            node[i] = free.len() as u32;
            free.push(i);
        }
    }
    let mut source = vec![0f32; free.len()];
    let mut sink = vec![0f32; free.len()];
    for (k, &i) in free.iter().enumerate() {
        source[k] = cost_bg[i];
        sink[k] = cost_fg[i];
    }
    let mut graph = Graph::new(free.len(), edges.len());
    for &(i, j, w) in edges {
        let (a, b) = (node[i as usize], node[j as usize]);
        match (a != u32::MAX, b != u32::MAX) {
            (true, true) => graph.add_edge(a as usize, b as usize, w, w),
            // Disagreeing with a fixed neighbour costs w.
            (true, false) => {
                if hard[j as usize] == Hard::Fg {
                    source[a as usize] += w
                } else {
                    sink[a as usize] += w
                }
            }
            (false, true) => {
                if hard[i as usize] == Hard::Fg {
                    source[b as usize] += w
                } else {
                    sink[b as usize] += w
                }
            }
            (false, false) => {}
        }
    }
    for k in 0..free.len() {
        // Source side = foreground: the sink link is cut when the node is foreground.
        graph.add_terminal(k, source[k], sink[k]);
    }
    let t = std::time::Instant::now();
    graph.maxflow();
    if std::env::var_os("CARVE_PROFILE").is_some() {
        eprintln!("  maxflow {} nodes: {:.1} ms", free.len(), t.elapsed().as_secs_f64() * 1e3);
    }
    (0..n)
        .map(|i| match hard[i] {
            Hard::Fg => true,
            Hard::Bg => false,
            Hard::Unknown => graph.is_source_side(node[i] as usize),
        })
        .collect()
}

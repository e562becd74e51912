//! Full-resolution refinement: the pixels of every working cell within `band` cells of the coarse
//! boundary are cut again at full resolution (colour models refitted on pixels, the contrast term
//! with the full-resolution β, fixed neighbours outside the band as terminal costs), so edges
//! are pixel-accurate while the graph stays a thin band.

use crate::core::image::Image;
use crate::core::mask::Mask;
use crate::segment::maxflow::Graph;

use super::gmm::{Feature, Gmm};
use super::grid::{Grid, HARD, Hard, PixelFeatures, colour_dist2};

/// What the caller knows about a full-resolution pixel: a hard label and extra unary costs
/// (foreground, background).
pub type PixelPrior<'a> = dyn Fn(u32, u32) -> (Hard, f32, f32) + 'a;

/// Settings of one refinement.
pub struct Band<'a> {
    pub image: &'a Image,
    pub pixels: &'a PixelFeatures,
    pub grid: &'a Grid,
    /// Coarse labelling (foreground per cell).
    pub coarse: &'a [bool],
    pub fg: &'a Gmm,
    pub bg: &'a Gmm,
    /// Smoothness weight per pixel of boundary.
    pub gamma: f32,
    /// Cells around the coarse boundary to re-cut.
    pub band: usize,
    pub components: usize,
    pub variance_floor: f32,
}

impl Band<'_> {
    /// Returns the full-resolution mask of the whole image.
    pub fn run(&self, prior: &PixelPrior) -> Mask {
        let (grid, image) = (self.grid, self.image);
        let roi = grid.roi;
        let (img_w, img_h) = (image.width(), image.height());
        let mut full = Mask::new(img_w, img_h);
        for y in roi[1]..roi[3] {
            for x in roi[0]..roi[2] {
                if self.coarse[grid.cell_of(x, y)] {
                    full.set(x, y, true);
                }
            }
        }
        // Cells near the other label.
        let band = self.band as i64;
        let mut near = vec![false; grid.len()];
        for v in 0..grid.h as i64 {
            for u in 0..grid.w as i64 {
                let here = self.coarse[v as usize * grid.w + u as usize];
                'n: for dv in -band..=band {
                    for du in -band..=band {
                        let (nu, nv) = (u + du, v + dv);
                        if nu >= 0
                            && nv >= 0
                            && (nu as usize) < grid.w
                            && (nv as usize) < grid.h
                            && self.coarse[nv as usize * grid.w + nu as usize] != here
                        {
                            near[v as usize * grid.w + u as usize] = true;
                            break 'n;
                        }
                    }
                }
            }
        }
        let (rw, rh) = ((roi[2] - roi[0]) as usize, (roi[3] - roi[1]) as usize);
        let mut node = vec![u32::MAX; rw * rh];
        let mut band_px: Vec<(u32, u32)> = Vec::new();
        for y in roi[1]..roi[3] {
            for x in roi[0]..roi[2] {
                if near[grid.cell_of(x, y)] {
                    node[(y - roi[1]) as usize * rw + (x - roi[0]) as usize] = band_px.len() as u32;
                    band_px.push((x, y));
                }
            }
        }
        if band_px.is_empty() {
            return full;
        }
        let rgb = image.rgb();
        let colour = |x: u32, y: u32| rgb.get_pixel(x, y).0.map(f32::from);
        let dims = grid.dims;
        let feature = |x: u32, y: u32| -> Feature { self.pixels.feature(x, y, colour(x, y), dims) };

        // Colour models refitted on pixels (cell averages are smoother than pixels), warm-started
        // from the coarse fit: every other pixel of the band, labelled by the coarse cut.
        let samples: Vec<Feature> = band_px.iter().map(|&(x, y)| feature(x, y)).collect();
        let labels: Vec<bool> = band_px.iter().map(|&(x, y)| full.get(x, y)).collect();
        let stride = |i: usize| i.is_multiple_of(2);
        let fg = Gmm::fit(
            &samples,
            |i| f32::from(u8::from(labels[i] && stride(i))),
            dims,
            self.components,
            self.variance_floor,
            Some(self.fg),
        )
        .unwrap_or_else(|| self.fg.clone());
        let bg = Gmm::fit(
            &samples,
            |i| f32::from(u8::from(!labels[i] && stride(i))),
            dims,
            self.components,
            self.variance_floor,
            Some(self.bg),
        )
        .unwrap_or_else(|| self.bg.clone());

        // β over the band's own neighbour pairs.
        let (mut sum, mut n) = (0f64, 0u64);
        for &(x, y) in &band_px {
            if x + 1 < roi[2] {
                sum += f64::from(colour_dist2(colour(x, y), colour(x + 1, y)));
                n += 1;
            }
            if y + 1 < roi[3] {
                sum += f64::from(colour_dist2(colour(x, y), colour(x, y + 1)));
                n += 1;
            }
        }
        let beta = if sum <= 0.0 { 0.0 } else { (n as f64 / (2.0 * sum)) as f32 };

        let mut graph = Graph::new(band_px.len(), band_px.len() * 4);
        let mut extra_fg = vec![0f32; band_px.len()];
        let mut extra_bg = vec![0f32; band_px.len()];
        const ALL: [(i64, i64, f32); 8] = [
            (1, 0, 1.0),
            (0, 1, 1.0),
            (1, 1, std::f32::consts::SQRT_2),
            (-1, 1, std::f32::consts::SQRT_2),
            (-1, 0, 1.0),
            (0, -1, 1.0),
            (-1, -1, std::f32::consts::SQRT_2),
            (1, -1, std::f32::consts::SQRT_2),
        ];
        for (k, &(x, y)) in band_px.iter().enumerate() {
            let c = colour(x, y);
            for (m, &(dx, dy, len)) in ALL.iter().enumerate() {
                let (nx, ny) = (i64::from(x) + dx, i64::from(y) + dy);
                if nx < i64::from(roi[0])
                    || ny < i64::from(roi[1])
                    || nx >= i64::from(roi[2])
                    || ny >= i64::from(roi[3])
                {
                    continue;
                }
                let (nx, ny) = (nx as u32, ny as u32);
                let w = self.gamma / len * (-beta * colour_dist2(c, colour(nx, ny))).exp();
                let j = node[(ny - roi[1]) as usize * rw + (nx - roi[0]) as usize];
                if j == u32::MAX {
                    // A fixed neighbour: disagreeing with it costs w.
                    if full.get(nx, ny) {
                        extra_bg[k] += w;
                    } else {
                        extra_fg[k] += w;
                    }
                } else if m < 4 {
                    graph.add_edge(k, j as usize, w, w);
                }
            }
        }
        for (k, &(x, y)) in band_px.iter().enumerate() {
            let (hard, prior_fg, prior_bg) = prior(x, y);
            match hard {
                Hard::Fg => graph.add_terminal(k, HARD, 0.0),
                Hard::Bg => graph.add_terminal(k, 0.0, HARD),
                Hard::Unknown => {
                    let f = &samples[k];
                    let cost_fg = fg.nll(f) + prior_fg + extra_fg[k];
                    let cost_bg = bg.nll(f) + prior_bg + extra_bg[k];
                    graph.add_terminal(k, cost_bg, cost_fg);
                }
            }
        }
        graph.maxflow();
        for (k, &(x, y)) in band_px.iter().enumerate() {
            full.set(x, y, graph.is_source_side(k));
        }
        full
    }
}

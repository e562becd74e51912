//! The classical engine: interactive graph cut that needs no weights, built to beat GrabCut on
//! real photos, where object and background share colours.
//!
//! What it does (each choice measured on the hard set, `tools/make_hard_seg_dataset.py`, tuning
//! seeds 0–9 only; figures in BENCHMARKS.md):
//! - **Multi-scale**: the region of interest is averaged into a working grid of at most
//!   `max_work_cells` cells where the colour models are iterated and cut; then the pixels within
//!   `refine_band` cells of the coarse boundary are cut again at full resolution ([`refine`]). The
//!   coarse grid is where the speed comes from; the band is where the edges come from.
//! - **GrabCut's colour models**, done the same way: fg/bg Gaussian mixtures with full covariances
//!   ([`gmm`]), re-estimated from each cut, warm-started. Features are RGB plus the local luminance
//!   contrast (texture), which separates same-coloured fur from same-coloured wall.
//! - **Contrast-sensitive smoothness** with GrabCut's β taken from the image (working grid and
//!   full-resolution band each their own).
//! - **Box semantics**: outside the box is hard background; the background model is weighted
//!   towards a ring around the box (the local background) but keeps samples from the whole image;
//!   the object is expected to touch every side of the box: when a cut stops short of a side, the
//!   cheapest path (by the colour models) from the object to that side is pinned as foreground for
//!   the next round ("pinpointing", Lempitsky et al. 2009), so thin parts reaching the box edge
//!   and objects whose colours recur outside the box are not lost.
//! - **Click semantics**: a positive click means "this region": its neighbourhood seeds the
//!   foreground model and sets a spatial prior; negative clicks are hard background with the same
//!   influence. The distance is geodesic ([`geodesic`]) with a contrast weight per prompt kind: for
//!   clicks it measured best at 0 (plain distance, see `click_geodesic_contrast`). A click that
//!   refines a previous mask edits it locally: away from the new click the previous labels are kept
//!   by a prior, near it they may change.
//!
//! A clean-up (specks, holes) never undoes a click: hard labels are re-imposed after it.
//!
//! Measured (BENCHMARKS.md, seeds never tuned on): boxes beat GrabCut where colours overlap at a
//! tenth of its time; clicks alone need ~4.3–4.6 clicks for 85 % IoU on that hard set.

mod geodesic;
mod gmm;
mod grid;
mod refine;

use crate::core::image::Image;
use crate::core::mask::Mask;
use crate::core::prompt::{BoxPrompt, PointLabel, Prompt};
use crate::core::task::Progress;

use super::postprocess::Cleanup;
use super::{EngineKind, ScoredMask, SegmentError, Segmenter};
use gmm::{Feature, Gmm};
use grid::{Grid, Hard, PixelFeatures};

/// Tuning of the classical engine.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassicalParams {
    /// Largest working grid (cells) for the coarse cuts of a box prompt.
    pub max_work_cells: usize,
    /// Largest working grid (cells) for click prompts (the whole image is the region).
    pub max_click_cells: usize,
    /// Colour-model / cut rounds.
    pub iterations: usize,
    /// Gaussians per colour model.
    pub components: usize,
    /// Smoothness weight per pixel of boundary (GrabCut's γ).
    pub gamma: f32,
    /// Add the local luminance contrast to the colour features.
    pub texture: bool,
    /// Half-size of the texture window, in pixels.
    pub texture_radius_px: usize,
    /// Width of the context ring around a box, as a fraction of the box's larger side.
    pub ring: f32,
    /// Weight of background samples from outside the ring (the rest of the image).
    pub global_bg_weight: f32,
    /// Pin paths to box sides the cut does not reach.
    pub tight_box: bool,
    /// Spatial prior weight (nats) around positive clicks.
    pub click_prior: f32,
    /// Prior (nats) for keeping the previous label away from the newest click.
    pub keep_prior: f32,
    /// How much an edge lengthens geodesic distance (per mean neighbour contrast), for box prompts.
    pub geodesic_contrast: f32,
    /// The same for click prompts. 0 (plain distance) measured best on the tuning seeds: with
    /// texture inside the object (fur, print) any contrast term shrinks a click's region to the
    /// click itself; the colour models and the contrast-sensitive cut find the edges.
    pub click_geodesic_contrast: f32,
    /// Radius of the disc a click fixes (hard label), as a fraction of the image diagonal
    /// (0.012: ~10 px on a 640×480 photo; NoC@85 on hard seed 0: 4.75 at 0.009, 3.50 at 0.012 and
    /// at 0.016).
    pub click_radius: f32,
    /// Re-cut this many cells around the coarse boundary at full resolution (0: no refinement).
    pub refine_band: usize,
    /// Box: background prior (nats) on cells geodesically close to the outside of the box.
    pub box_geodesic_prior: f32,
    /// Box: reach of that prior, as a fraction of the box diagonal (in geodesic units).
    pub box_geodesic_reach: f32,
}

impl Default for ClassicalParams {
    fn default() -> Self {
        Self {
            max_work_cells: 10_000,
            max_click_cells: 60_000,
            iterations: 5,
            components: 5,
            gamma: 50.0,
            texture: true,
            texture_radius_px: 2,
            ring: 0.25,
            global_bg_weight: 0.3,
            tight_box: true,
            click_prior: 4.0,
            keep_prior: 3.0,
            geodesic_contrast: 4.0,
            click_geodesic_contrast: 0.0,
            click_radius: 0.012,
            refine_band: 1,
            box_geodesic_prior: 2.0,
            box_geodesic_reach: 0.1,
        }
    }
}

/// The engine; cheap to create, `set_image` just keeps the image.
#[derive(Default)]
pub struct ClassicalSegmenter {
    pub params: ClassicalParams,
    image: Option<Image>,
}

impl ClassicalSegmenter {
    pub fn new(params: ClassicalParams) -> Self {
        Self { params, image: None }
    }
}

impl Segmenter for ClassicalSegmenter {
    fn engine(&self) -> EngineKind {
        EngineKind::Classical
    }

    fn set_image(&mut self, image: &Image, progress: &Progress) -> Result<(), SegmentError> {
        progress.check()?;
        self.image = Some(image.clone());
        progress.set(1.0, "image ready");
        Ok(())
    }

    fn segment(&mut self, prompt: &Prompt, previous: Option<&Mask>) -> Result<Vec<ScoredMask>, SegmentError> {
        let image = self.image.as_ref().ok_or(SegmentError::NoImage)?;
        if prompt.text.as_deref().is_some_and(|t| !t.trim().is_empty()) {
            return Err(SegmentError::TextNeedsModel);
        }
        prompt.validate(image.width(), image.height())?;
        if let Some(prev) = previous
            && (prev.width(), prev.height()) != (image.width(), image.height())
        {
            return Err(SegmentError::MaskSize {
                got_width: prev.width(),
                got_height: prev.height(),
                width: image.width(),
                height: image.height(),
            });
        }
        let (mask, score) = cut(image, prompt, previous, &self.params);
        if mask.area() == 0 {
            // A box of a few pixels, a flat photo: say so rather than present an empty mask.
            return Err(SegmentError::NothingFound { engine: EngineKind::Classical.as_str() });
        }
        Ok(vec![ScoredMask { mask, score, label: None, box_xyxy: None, engine: EngineKind::Classical }])
    }
}

fn inside_box(b: &BoxPrompt, x: f32, y: f32) -> bool {
    x >= b.x0_px && x <= b.x1_px && y >= b.y0_px && y <= b.y1_px
}

/// Everything one prompt is solved with.
struct Problem<'a> {
    image: &'a Image,
    params: &'a ClassicalParams,
    prompt: &'a Prompt,
    pixels: PixelFeatures,
    grid: Grid,
    hard: Vec<Hard>,
    /// Extra unary costs per cell (spatial priors).
    prior_fg: Vec<f32>,
    prior_bg: Vec<f32>,
    /// Background samples from outside the region of interest, and their weight.
    outside: Vec<Feature>,
    click_radius_px: f32,
}

impl<'a> Problem<'a> {
    fn new(image: &'a Image, prompt: &'a Prompt, params: &'a ClassicalParams, roi: [u32; 4], scale: f64) -> Self {
        let dims = if params.texture { 4 } else { 3 };
        let pixels = PixelFeatures::new(image, roi, params.texture_radius_px);
        let grid = Grid::new(image, &pixels, scale, dims);
        let n = grid.len();
        let diag = f64::from(image.width()).hypot(f64::from(image.height())) as f32;
        let click_radius_px = (params.click_radius * diag).max(3.0);
        let mut problem = Self {
            image,
            params,
            prompt,
            pixels,
            grid,
            hard: vec![Hard::Unknown; n],
            prior_fg: vec![0.0; n],
            prior_bg: vec![0.0; n],
            outside: Vec::new(),
            click_radius_px,
        };
        problem.hard =
            (0..n).map(|i| problem.hard_at(problem.grid.centre_of(i), 0.75 / problem.grid.scale as f32)).collect();
        // Every click hits its own cell even when its disc is smaller than a cell.
        for p in &prompt.points {
            let (x, y) = ((p.x_px as u32).clamp(roi[0], roi[2] - 1), (p.y_px as u32).clamp(roi[1], roi[3] - 1));
            problem.hard[problem.grid.cell_of(x, y)] =
                if p.label == PointLabel::Positive { Hard::Fg } else { Hard::Bg };
        }
        problem
    }

    /// Hard label at a full-resolution point: outside the box is background, click discs are fixed.
    fn hard_at(&self, (x, y): (f32, f32), min_radius: f32) -> Hard {
        let r = self.click_radius_px.max(min_radius);
        if let Some(p) = self.prompt.points.iter().rev().find(|p| (x - p.x_px).powi(2) + (y - p.y_px).powi(2) <= r * r)
        {
            return if p.label == PointLabel::Positive { Hard::Fg } else { Hard::Bg };
        }
        match &self.prompt.bbox {
            Some(b) if !inside_box(b, x, y) => Hard::Bg,
            _ => Hard::Unknown,
        }
    }

    /// Samples of the image outside the region of interest (every `stride`-th pixel), for the
    /// background model.
    fn sample_outside(&mut self, target: usize) {
        let (w, h) = (self.image.width(), self.image.height());
        let roi = self.grid.roi;
        let outside_px =
            (u64::from(w) * u64::from(h)).saturating_sub(u64::from(roi[2] - roi[0]) * u64::from(roi[3] - roi[1]));
        if outside_px == 0 || target == 0 {
            return;
        }
        let stride = ((outside_px as f64 / target as f64).sqrt().ceil() as u32).max(1);
        let rgb = self.image.rgb();
        let dims = self.grid.dims;
        // The texture feature needs the window around the pixel: compute it on the fly.
        let r = self.params.texture_radius_px as i64;
        for y in (stride / 2..h).step_by(stride as usize) {
            for x in (stride / 2..w).step_by(stride as usize) {
                if x >= roi[0] && x < roi[2] && y >= roi[1] && y < roi[3] {
                    continue;
                }
                let c = rgb.get_pixel(x, y).0.map(f32::from);
                let mut f = [0f32; gmm::MAX_DIMS];
                f[..3].copy_from_slice(&c);
                if dims > 3 {
                    let (mut s, mut s2, mut n) = (0f64, 0f64, 0f64);
                    for dy in -r..=r {
                        for dx in -r..=r {
                            let (nx, ny) = (i64::from(x) + dx, i64::from(y) + dy);
                            if nx >= 0 && ny >= 0 && nx < i64::from(w) && ny < i64::from(h) {
                                let q = rgb.get_pixel(nx as u32, ny as u32).0;
                                let l = 0.299 * f64::from(q[0]) + 0.587 * f64::from(q[1]) + 0.114 * f64::from(q[2]);
                                s += l;
                                s2 += l * l;
                                n += 1.0;
                            }
                        }
                    }
                    let mean = s / n;
                    f[3] = (s2 / n - mean * mean).max(0.0).sqrt() as f32;
                }
                self.outside.push(f);
            }
        }
    }

    /// Fits the two colour models to a labelling. `bg_weight(i)` weighs background cells.
    fn fit(&self, fg: &[bool], bg_weight: &dyn Fn(usize) -> f32, warm: Option<&(Gmm, Gmm)>) -> Option<(Gmm, Gmm)> {
        let n = self.grid.len();
        let (k, floor, dims) = (self.params.components, VARIANCE_FLOOR, self.grid.dims);
        let fg_model = Gmm::fit(
            &self.grid.feature,
            |i| if fg[i] && self.hard[i] != Hard::Bg { 1.0 } else { 0.0 },
            dims,
            k,
            floor,
            warm.map(|w| &w.0),
        )?;
        let samples: Vec<Feature> = self.grid.feature.iter().chain(&self.outside).copied().collect();
        let global = self.params.global_bg_weight;
        let bg_model = Gmm::fit(
            &samples,
            |i| {
                if i >= n {
                    global
                } else if !fg[i] {
                    bg_weight(i)
                } else {
                    0.0
                }
            },
            dims,
            k,
            floor,
            warm.map(|w| &w.1),
        )?;
        Some((fg_model, bg_model))
    }

    /// Unary costs (foreground, background) per cell.
    /// (Cells with a hard label get zeros: the cut never reads them.)
    fn unaries(&self, models: &(Gmm, Gmm)) -> (Vec<f32>, Vec<f32>) {
        use rayon::prelude::*;
        let n = self.grid.len();
        let (mut fg, mut bg) = (vec![0f32; n], vec![0f32; n]);
        fg.par_chunks_mut(4096).zip(bg.par_chunks_mut(4096)).enumerate().for_each(|(chunk, (fg, bg))| {
            for (k, (f, b)) in fg.iter_mut().zip(bg.iter_mut()).enumerate() {
                let i = chunk * 4096 + k;
                if self.hard[i] == Hard::Unknown {
                    let x = &self.grid.feature[i];
                    *f = models.0.nll(x) + self.prior_fg[i];
                    *b = models.1.nll(x) + self.prior_bg[i];
                }
            }
        });
        (fg, bg)
    }
}

/// Floor added to every feature variance (8-bit units²): sensor noise, quantisation.
const VARIANCE_FLOOR: f32 = 4.0;

/// The whole cut: returns the full-resolution mask and a confidence.
fn cut(image: &Image, prompt: &Prompt, previous: Option<&Mask>, params: &ClassicalParams) -> (Mask, f32) {
    match &prompt.bbox {
        Some(b) => box_cut(image, prompt, b, previous, params),
        None => click_cut(image, prompt, previous, params),
    }
}

mod box_cut;
mod click_cut;
use box_cut::box_cut;
use click_cut::click_cut;

/// A hook after each cut: (labelling, foreground costs, background costs, hard labels to extend)
/// → whether to cut again.
type AfterCut<'a> = dyn FnMut(&[bool], &[f32], &[f32], &mut [Hard]) -> bool + 'a;

/// GrabCut's iteration on the working grid, shared by boxes and clicks: fit the colour models to
/// the labelling (background cells weighted by `bg_weight`), cut, repeat for at most `rounds` or
/// until fewer than 0.1 % of the cells change. `after_cut` may pin more cells (the box's tight-side
/// prior) and asks for a re-cut by returning true. Then keeps what the user pointed at and refines
/// the boundary at full resolution; returns the mask and a confidence.
fn iterate_and_finish(
    problem: &Problem,
    mut fg: Vec<bool>,
    bg_weight: &dyn Fn(usize) -> f32,
    rounds: usize,
    after_cut: &mut AfterCut<'_>,
) -> (Mask, f32) {
    let grid = &problem.grid;
    let n = grid.len();
    let edges = grid.edges(problem.params.gamma * grid.scale as f32, grid.beta());
    let mut hard = problem.hard.clone();
    let mut models = None;
    let (mut cost_fg, mut cost_bg) = (vec![0f32; n], vec![0f32; n]);
    for _ in 0..rounds {
        let Some(fitted) = problem.fit(&fg, bg_weight, models.as_ref()) else { break };
        (cost_fg, cost_bg) = problem.unaries(&fitted);
        models = Some(fitted);
        let mut new_fg = grid::min_cut(&cost_fg, &cost_bg, &hard, &edges);
        if after_cut(&new_fg, &cost_fg, &cost_bg, &mut hard) {
            new_fg = grid::min_cut(&cost_fg, &cost_bg, &hard, &edges);
        }
        let changed = new_fg.iter().zip(&fg).filter(|(a, b)| a != b).count();
        fg = new_fg;
        if changed * 1000 < n {
            break;
        }
    }
    let Some(models) = models else {
        return (Mask::new(problem.image.width(), problem.image.height()), 0.0);
    };
    let fg = keep_pointed(problem, &fg);
    let score = confidence(&fg, &cost_fg, &cost_bg);
    (finish(problem, &fg, &models), score)
}

/// Keeps what the user pointed at: components holding a positive click or a pinned cell, else the
/// largest one and those at least a fifth of its size; cleans specks and holes.
fn keep_pointed(problem: &Problem, fg: &[bool]) -> Vec<bool> {
    let grid = &problem.grid;
    let coarse = Mask::from_fn(grid.w as u32, grid.h as u32, |u, v| fg[v as usize * grid.w + u as usize]);
    let (labels, areas) = coarse.components();
    let mut keep = vec![false; areas.len()];
    for p in problem.prompt.points.iter().filter(|p| p.label == PointLabel::Positive) {
        let (x, y) =
            ((p.x_px as u32).clamp(grid.roi[0], grid.roi[2] - 1), (p.y_px as u32).clamp(grid.roi[1], grid.roi[3] - 1));
        let l = labels[grid.cell_of(x, y)];
        if l != 0 {
            keep[l as usize] = true;
        }
    }
    if !keep.iter().any(|&k| k) {
        let largest = areas.iter().skip(1).copied().max().unwrap_or(0);
        for (k, &a) in keep.iter_mut().zip(&areas).skip(1) {
            *k = a * 5 >= largest;
        }
    }
    let kept = Mask::from_fn(grid.w as u32, grid.h as u32, |u, v| {
        let l = labels[v as usize * grid.w + u as usize];
        l != 0 && keep[l as usize]
    });
    let clean = Cleanup::for_image(grid.w as u32, grid.h as u32).apply(&kept);
    // The clean-up must not undo a click: a positive click's disc can be a "speck", a negative
    // one's a "hole" (without this a click that does not change the cut is lost, and the next
    // click lands on the same spot).
    clean
        .as_bytes()
        .iter()
        .zip(&problem.hard)
        .map(|(&b, hard)| match hard {
            Hard::Fg => true,
            Hard::Bg => false,
            Hard::Unknown => b != 0,
        })
        .collect()
}

/// Mean foreground posterior over the mask (a confidence in 0..1).
fn confidence(fg: &[bool], cost_fg: &[f32], cost_bg: &[f32]) -> f32 {
    let (n, s) = fg
        .iter()
        .enumerate()
        .filter(|(_, f)| **f)
        .fold((0u64, 0f64), |(n, s), (i, _)| (n + 1, s + 1.0 / (1.0 + f64::from(cost_fg[i] - cost_bg[i]).exp())));
    if n == 0 { 0.0 } else { (s / n as f64) as f32 }
}

/// Full-resolution refinement of a coarse labelling, with the problem's hard labels and priors.
fn finish(problem: &Problem, fg: &[bool], models: &(Gmm, Gmm)) -> Mask {
    let grid = &problem.grid;
    let prior = |x: u32, y: u32| -> (Hard, f32, f32) {
        let hard = problem.hard_at((x as f32 + 0.5, y as f32 + 0.5), 0.0);
        let c = grid.cell_of(x, y);
        (hard, problem.prior_fg[c], problem.prior_bg[c])
    };
    if problem.params.refine_band == 0 || grid.scale >= 0.999 {
        let mut full = Mask::new(problem.image.width(), problem.image.height());
        for y in grid.roi[1]..grid.roi[3] {
            for x in grid.roi[0]..grid.roi[2] {
                if fg[grid.cell_of(x, y)] {
                    full.set(x, y, true);
                }
            }
        }
        return full;
    }
    refine::Band {
        image: problem.image,
        pixels: &problem.pixels,
        grid,
        coarse: fg,
        fg: &models.0,
        bg: &models.1,
        gamma: problem.params.gamma,
        band: problem.params.refine_band,
        components: problem.params.components,
        variance_floor: VARIANCE_FLOOR,
    }
    .run(&prior)
}

#[cfg(test)]
mod tests;

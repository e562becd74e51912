//! The classical engine: interactive graph cut on colour histograms, needing no weights.
//!
//! Box and/or +/- clicks (and optionally the mask being refined) → one mask. Like GrabCut it
//! alternates colour-model estimation and an s–t min cut with contrast-sensitive smoothness, but it
//! works on a region of interest downsampled to at most `max_work_pixels`, uses smoothed 3-D colour
//! histograms instead of GMMs (cheaper and sharper for textured objects), treats clicks as hard
//! constraints with a spatial prior around positive clicks, and then re-cuts a thin band around the
//! boundary at full resolution so edges are pixel-accurate.

use crate::core::image::Image;
use crate::core::mask::Mask;
use crate::core::prompt::{BoxPrompt, PointLabel, Prompt};
use crate::core::task::Progress;

use super::maxflow::Graph;
use super::postprocess::Cleanup;
use super::{EngineKind, ScoredMask, SegmentError, Segmenter};

/// Tuning of the classical engine.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassicalParams {
    /// Largest working grid (pixels) for the coarse cuts.
    pub max_work_pixels: usize,
    /// Colour-model / cut rounds.
    pub iterations: usize,
    /// Smoothness weight (GrabCut's γ).
    pub gamma: f32,
    /// Spatial prior weight (nats at the far end) around positive clicks when there is no box.
    pub click_prior: f32,
    /// Re-cut the boundary band at full resolution.
    pub refine_boundary: bool,
}

impl Default for ClassicalParams {
    fn default() -> Self {
        Self { max_work_pixels: 90_000, iterations: 4, gamma: 50.0, click_prior: 4.0, refine_boundary: true }
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
        Ok(vec![ScoredMask { mask, score, label: None, box_xyxy: None, engine: EngineKind::Classical }])
    }
}

/// Hard labels of the working cells.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hard {
    Unknown,
    Fg,
    Bg,
}

const LEVELS: usize = 32;
const BINS: usize = LEVELS * LEVELS * LEVELS;
/// Capacity of a hard constraint: more than any sum of smoothness weights around a node.
const HARD: f32 = 1e5;

/// Colour bin of an RGB colour: each channel quantised on a square-root scale, so dark shades
/// (where sensors and scenes put less contrast) keep as much resolution as bright ones.
fn bin_of(c: [f32; 3]) -> u16 {
    let q = |v: f32| ((v.clamp(0.0, 255.0) / 256.0).sqrt() * LEVELS as f32) as usize;
    (q(c[0]).min(LEVELS - 1) * LEVELS * LEVELS + q(c[1]).min(LEVELS - 1) * LEVELS + q(c[2]).min(LEVELS - 1)) as u16
}

/// A smoothed colour histogram turned into negative log-likelihoods per bin.
fn colour_cost(bins: &[u16], weight: impl Fn(usize) -> bool) -> Vec<f32> {
    let mut hist = vec![0f32; BINS];
    let mut total = 0f32;
    for (i, &b) in bins.iter().enumerate() {
        if weight(i) {
            hist[b as usize] += 1.0;
            total += 1.0;
        }
    }
    // Separable [1 2 1] blur along each colour axis: neighbouring shades share evidence.
    for axis in 0..3 {
        let stride = [LEVELS * LEVELS, LEVELS, 1][axis];
        let src = hist.clone();
        for (i, h) in hist.iter_mut().enumerate() {
            let level = (i / stride) % LEVELS;
            let mut acc = 2.0 * src[i];
            let mut norm = 2.0;
            if level > 0 {
                acc += src[i - stride];
                norm += 1.0;
            }
            if level + 1 < LEVELS {
                acc += src[i + stride];
                norm += 1.0;
            }
            *h = acc / norm;
        }
    }
    let floor = total.max(1.0) * 1e-4 / BINS as f32 + 1e-6;
    let sum: f32 = hist.iter().sum::<f32>() + floor * BINS as f32;
    hist.iter().map(|&h| -((h + floor) / sum * BINS as f32).ln()).collect()
}

fn expand_box(b: &BoxPrompt, margin: f32, w: u32, h: u32) -> [u32; 4] {
    [
        (b.x0_px - margin).floor().max(0.0) as u32,
        (b.y0_px - margin).floor().max(0.0) as u32,
        ((b.x1_px + margin).ceil() as u32).min(w),
        ((b.y1_px + margin).ceil() as u32).min(h),
    ]
}

/// 8-neighbourhood offsets used for smoothness edges (each pair once) and their lengths.
const NEIGHBOURS: [(i64, i64, f32); 4] =
    [(1, 0, 1.0), (0, 1, 1.0), (1, 1, std::f32::consts::SQRT_2), (-1, 1, std::f32::consts::SQRT_2)];

fn colour_dist2(a: [f32; 3], b: [f32; 3]) -> f32 {
    (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)
}

/// GrabCut's β = 1 / (2 ⟨‖Ip − Iq‖²⟩) over neighbouring pairs.
fn contrast_beta(colours: &[[f32; 3]], w: usize, h: usize) -> f32 {
    let (mut sum, mut n) = (0f64, 0u64);
    for y in 0..h {
        for x in 0..w {
            for &(dx, dy, _) in &NEIGHBOURS {
                let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                if nx >= 0 && (nx as usize) < w && (ny as usize) < h {
                    sum += f64::from(colour_dist2(colours[y * w + x], colours[ny as usize * w + nx as usize]));
                    n += 1;
                }
            }
        }
    }
    if sum <= 0.0 { 0.0 } else { (n as f64 / (2.0 * sum)) as f32 }
}

/// The whole cut: returns the full-resolution mask and a confidence.
fn cut(image: &Image, prompt: &Prompt, previous: Option<&Mask>, params: &ClassicalParams) -> (Mask, f32) {
    let (img_w, img_h) = (image.width(), image.height());
    let diag = f64::from(img_w).hypot(f64::from(img_h)) as f32;
    let positives: Vec<(f32, f32)> =
        prompt.points.iter().filter(|p| p.label == PointLabel::Positive).map(|p| (p.x_px, p.y_px)).collect();

    // Region of interest (full-resolution pixels, half-open).
    let roi = match &prompt.bbox {
        Some(b) => {
            let margin = (0.2 * (b.x1_px - b.x0_px).max(b.y1_px - b.y0_px)).max(12.0);
            let mut r = expand_box(b, margin, img_w, img_h);
            for p in &prompt.points {
                r[0] = r[0].min(p.x_px as u32);
                r[1] = r[1].min(p.y_px as u32);
                r[2] = r[2].max((p.x_px as u32 + 1).min(img_w));
                r[3] = r[3].max((p.y_px as u32 + 1).min(img_h));
            }
            r
        }
        None => [0, 0, img_w, img_h],
    };
    let (roi_w, roi_h) = ((roi[2] - roi[0]) as usize, (roi[3] - roi[1]) as usize);
    let scale = (params.max_work_pixels as f64 / (roi_w * roi_h) as f64).sqrt().min(1.0);
    let (ww, wh) = (((roi_w as f64 * scale).ceil() as usize).max(1), ((roi_h as f64 * scale).ceil() as usize).max(1));
    let cell_of = |x: u32, y: u32| -> usize {
        let u = (((x - roi[0]) as f64 * scale) as usize).min(ww - 1);
        let v = (((y - roi[1]) as f64 * scale) as usize).min(wh - 1);
        v * ww + u
    };
    // Cell centre in full-resolution pixel coordinates.
    let centre_of = |i: usize| -> (f32, f32) {
        let (u, v) = (i % ww, i / ww);
        (roi[0] as f32 + ((u as f64 + 0.5) / scale) as f32, roi[1] as f32 + ((v as f64 + 0.5) / scale) as f32)
    };

    // Average colours per cell.
    let rgb = image.rgb();
    let mut sums = vec![[0f32; 4]; ww * wh];
    for y in roi[1]..roi[3] {
        for x in roi[0]..roi[2] {
            let c = rgb.get_pixel(x, y).0;
            let s = &mut sums[cell_of(x, y)];
            s[0] += f32::from(c[0]);
            s[1] += f32::from(c[1]);
            s[2] += f32::from(c[2]);
            s[3] += 1.0;
        }
    }
    let colours: Vec<[f32; 3]> =
        sums.iter().map(|s| [s[0] / s[3].max(1.0), s[1] / s[3].max(1.0), s[2] / s[3].max(1.0)]).collect();
    let bins: Vec<u16> = colours.iter().map(|&c| bin_of(c)).collect();

    // Hard constraints: outside the box is background; click discs are fixed.
    let click_radius = (0.006 * diag).max(3.0);
    let mut hard = vec![Hard::Unknown; ww * wh];
    for (i, h) in hard.iter_mut().enumerate() {
        let (cx, cy) = centre_of(i);
        if let Some(b) = &prompt.bbox
            && (cx < b.x0_px || cx > b.x1_px || cy < b.y0_px || cy > b.y1_px)
        {
            *h = Hard::Bg;
        }
        for p in &prompt.points {
            let r = click_radius.max(0.75 / scale as f32);
            if (cx - p.x_px).powi(2) + (cy - p.y_px).powi(2) <= r * r {
                *h = if p.label == PointLabel::Positive { Hard::Fg } else { Hard::Bg };
            }
        }
    }
    // Make sure every click hits its own cell even when the disc is smaller than a cell.
    for p in &prompt.points {
        let (x, y) = ((p.x_px as u32).clamp(roi[0], roi[2] - 1), (p.y_px as u32).clamp(roi[1], roi[3] - 1));
        hard[cell_of(x, y)] = if p.label == PointLabel::Positive { Hard::Fg } else { Hard::Bg };
    }

    // Spatial prior (no box): being foreground costs more far from the positive clicks.
    let prior_fg: Vec<f32> = if prompt.bbox.is_none() && !positives.is_empty() {
        let reach = 0.35 * diag;
        (0..ww * wh)
            .map(|i| {
                let (cx, cy) = centre_of(i);
                let d = positives.iter().map(|&(px, py)| (cx - px).hypot(cy - py)).fold(f32::MAX, f32::min);
                params.click_prior * (d / reach).min(1.5)
            })
            .collect()
    } else {
        vec![0.0; ww * wh]
    };

    // Initial labelling: the mask being refined, else the box, else the clicked discs.
    let mut fg: Vec<bool> = (0..ww * wh)
        .map(|i| match hard[i] {
            Hard::Fg => true,
            Hard::Bg => false,
            Hard::Unknown => match previous {
                Some(prev) => {
                    let (cx, cy) = centre_of(i);
                    prev.get(cx as u32, cy as u32)
                }
                None => prompt.bbox.is_some(),
            },
        })
        .collect();
    // With clicks only, the first background model comes from a band along the image border (an
    // object seldom fills all of it) and the negative clicks, not from everything unclicked.
    let border_band = ((ww.min(wh) as f32) * 0.06).max(1.0) as usize;
    let mut bg_model: Vec<bool> = if previous.is_none() && prompt.bbox.is_none() {
        (0..ww * wh)
            .map(|i| {
                let (u, v) = (i % ww, i / ww);
                let near_border = u < border_band || v < border_band || u + border_band >= ww || v + border_band >= wh;
                hard[i] == Hard::Bg || (near_border && hard[i] != Hard::Fg)
            })
            .collect()
    } else {
        fg.iter().map(|&f| !f).collect()
    };

    let beta = contrast_beta(&colours, ww, wh);
    // Smoothness weights are per unit of cell side: scale them so the coarse cut behaves like a
    // full-resolution one of the same region.
    let gamma = params.gamma;
    let mut posterior = vec![0.5f32; ww * wh];
    for _ in 0..params.iterations.max(1) {
        if !fg.iter().any(|&f| f) {
            break;
        }
        let fg_cost = colour_cost(&bins, |i| fg[i] && hard[i] != Hard::Bg);
        let bg_cost = colour_cost(&bins, |i| bg_model[i]);
        let mut graph = Graph::new(ww * wh, ww * wh * 4);
        for i in 0..ww * wh {
            let (cost_fg, cost_bg) = (fg_cost[bins[i] as usize] + prior_fg[i], bg_cost[bins[i] as usize]);
            posterior[i] = 1.0 / (1.0 + (cost_fg - cost_bg).exp());
            match hard[i] {
                Hard::Fg => graph.add_terminal(i, HARD, 0.0),
                Hard::Bg => graph.add_terminal(i, 0.0, HARD),
                Hard::Unknown => graph.add_terminal(i, cost_bg, cost_fg),
            }
        }
        for y in 0..wh {
            for x in 0..ww {
                let i = y * ww + x;
                for &(dx, dy, len) in &NEIGHBOURS {
                    let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                    if nx >= 0 && (nx as usize) < ww && (ny as usize) < wh {
                        let j = ny as usize * ww + nx as usize;
                        let w = gamma / len * (-beta * colour_dist2(colours[i], colours[j])).exp();
                        graph.add_edge(i, j, w, w);
                    }
                }
            }
        }
        graph.maxflow();
        let new_fg: Vec<bool> = (0..ww * wh).map(|i| graph.is_source_side(i)).collect();
        let changed = new_fg.iter().zip(&fg).filter(|(a, b)| a != b).count();
        fg = new_fg;
        bg_model = fg.iter().map(|&f| !f).collect();
        if changed * 1000 < ww * wh {
            break;
        }
    }

    // Keep what the user pointed at: components holding a positive click (or, with only a box,
    // the largest one and those at least a fifth of its size).
    let coarse = Mask::from_bytes(ww as u32, wh as u32, &fg.iter().map(|&f| u8::from(f)).collect::<Vec<_>>())
        .unwrap_or_else(|| Mask::new(ww as u32, wh as u32));
    let (labels, areas) = coarse.components();
    let mut keep = vec![false; areas.len()];
    for (i, h) in hard.iter().enumerate() {
        if *h == Hard::Fg && labels[i] != 0 {
            keep[labels[i] as usize] = true;
        }
    }
    if !keep.iter().any(|&k| k) {
        let largest = areas.iter().skip(1).copied().max().unwrap_or(0);
        for (k, &a) in keep.iter_mut().zip(&areas).skip(1) {
            *k = a * 5 >= largest;
        }
    }
    let coarse = Mask::from_fn(ww as u32, wh as u32, |u, v| {
        let l = labels[v as usize * ww + u as usize];
        l != 0 && keep[l as usize]
    });
    let coarse = Cleanup::for_image(ww as u32, wh as u32).apply(&coarse);
    let score = {
        let (n, s) = (0..ww * wh)
            .filter(|&i| coarse.as_bytes()[i] != 0)
            .fold((0u64, 0f64), |(n, s), i| (n + 1, s + f64::from(posterior[i])));
        if n == 0 { 0.0 } else { (s / n as f64) as f32 }
    };

    // Back to full resolution.
    let mut full = Mask::new(img_w, img_h);
    for y in roi[1]..roi[3] {
        for x in roi[0]..roi[2] {
            if coarse.as_bytes()[cell_of(x, y)] != 0 {
                full.set(x, y, true);
            }
        }
    }
    if params.refine_boundary && scale < 0.999 {
        full = refine_band(image, &full, roi, &coarse, ww, wh, &cell_of, prompt, &bins, &fg, gamma, beta, click_radius);
    }
    (full, score)
}

/// Re-cuts, at full resolution, the pixels whose working cell touches a cell of the other label.
#[allow(clippy::too_many_arguments)]
fn refine_band(
    image: &Image,
    full: &Mask,
    roi: [u32; 4],
    coarse: &Mask,
    ww: usize,
    wh: usize,
    cell_of: &dyn Fn(u32, u32) -> usize,
    prompt: &Prompt,
    cell_bins: &[u16],
    cell_fg: &[bool],
    gamma: f32,
    beta: f32,
    click_radius: f32,
) -> Mask {
    // Which cells border the other label.
    let coarse_bits = coarse.as_bytes();
    let mut border_cell = vec![false; ww * wh];
    for v in 0..wh {
        for u in 0..ww {
            let here = coarse_bits[v * ww + u];
            'n: for dv in -1i64..=1 {
                for du in -1i64..=1 {
                    let (nu, nv) = (u as i64 + du, v as i64 + dv);
                    if nu >= 0
                        && nv >= 0
                        && (nu as usize) < ww
                        && (nv as usize) < wh
                        && coarse_bits[nv as usize * ww + nu as usize] != here
                    {
                        border_cell[v * ww + u] = true;
                        break 'n;
                    }
                }
            }
        }
    }
    let (rw, rh) = ((roi[2] - roi[0]) as usize, (roi[3] - roi[1]) as usize);
    let mut node = vec![u32::MAX; rw * rh];
    let mut pixels: Vec<(u32, u32)> = Vec::new();
    for y in roi[1]..roi[3] {
        for x in roi[0]..roi[2] {
            if border_cell[cell_of(x, y)] {
                node[(y - roi[1]) as usize * rw + (x - roi[0]) as usize] = pixels.len() as u32;
                pixels.push((x, y));
            }
        }
    }
    if pixels.is_empty() {
        return full.clone();
    }
    // Colour models from the coarse labelling (cells are averages, pixels are sharper: the
    // histogram blur absorbs the difference).
    let fg_cost = colour_cost(cell_bins, |i| cell_fg[i] && coarse_bits[i] != 0);
    let bg_cost = colour_cost(cell_bins, |i| coarse_bits[i] == 0);
    let rgb = image.rgb();
    let colour = |x: u32, y: u32| {
        let c = rgb.get_pixel(x, y).0;
        [f32::from(c[0]), f32::from(c[1]), f32::from(c[2])]
    };
    let mut graph = Graph::new(pixels.len(), pixels.len() * 4);
    let mut extra_source = vec![0f32; pixels.len()];
    let mut extra_sink = vec![0f32; pixels.len()];
    for (k, &(x, y)) in pixels.iter().enumerate() {
        let c = colour(x, y);
        for &(dx, dy, len) in &[
            (1i64, 0i64, 1.0f32),
            (0, 1, 1.0),
            (1, 1, std::f32::consts::SQRT_2),
            (-1, 1, std::f32::consts::SQRT_2),
            (-1, 0, 1.0),
            (0, -1, 1.0),
            (-1, -1, std::f32::consts::SQRT_2),
            (1, -1, std::f32::consts::SQRT_2),
        ] {
            let (nx, ny) = (x as i64 + dx, y as i64 + dy);
            if nx < i64::from(roi[0]) || ny < i64::from(roi[1]) || nx >= i64::from(roi[2]) || ny >= i64::from(roi[3]) {
                continue;
            }
            let (nx, ny) = (nx as u32, ny as u32);
            let w = gamma / len * (-beta * colour_dist2(c, colour(nx, ny))).exp();
            let j = node[(ny - roi[1]) as usize * rw + (nx - roi[0]) as usize];
            if j == u32::MAX {
                // A fixed neighbour: disagreeing with it costs w.
                if full.get(nx, ny) {
                    extra_source[k] += w;
                } else {
                    extra_sink[k] += w;
                }
            } else if (j as usize) > k && (dy > 0 || (dy == 0 && dx > 0)) {
                graph.add_edge(k, j as usize, w, w);
            }
        }
    }
    for (k, &(x, y)) in pixels.iter().enumerate() {
        let b = bin_of(colour(x, y)) as usize;
        let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
        let outside_box =
            prompt.bbox.as_ref().is_some_and(|b| px < b.x0_px || px > b.x1_px || py < b.y0_px || py > b.y1_px);
        let clicked = prompt
            .points
            .iter()
            .rev()
            .find(|p| (p.x_px - px).powi(2) + (p.y_px - py).powi(2) <= click_radius * click_radius);
        match (outside_box, clicked) {
            (_, Some(p)) if p.label == PointLabel::Positive => graph.add_terminal(k, HARD, 0.0),
            (true, _) | (_, Some(_)) => graph.add_terminal(k, 0.0, HARD),
            _ => graph.add_terminal(k, bg_cost[b] + extra_source[k], fg_cost[b] + extra_sink[k]),
        }
    }
    graph.maxflow();
    let mut out = full.clone();
    for (k, &(x, y)) in pixels.iter().enumerate() {
        out.set(x, y, graph.is_source_side(k));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::prompt::PointPrompt;

    fn prepared(image: &Image) -> ClassicalSegmenter {
        let mut seg = ClassicalSegmenter::default();
        seg.set_image(image, &Progress::new()).unwrap();
        seg
    }

    #[test]
    fn box_on_the_demo_ball_finds_the_ball() {
        let image = crate::core::demo::still_life();
        let masks = crate::core::demo::still_life_masks();
        let mut seg = prepared(&image);
        for (name, truth) in &masks {
            let [x0, y0, x1, y1] = truth.bbox().unwrap();
            let bbox = BoxPrompt {
                x0_px: x0 as f32 - 5.0,
                y0_px: y0 as f32 - 5.0,
                x1_px: x1 as f32 + 5.0,
                y1_px: y1 as f32 + 5.0,
            };
            let prompt = Prompt { bbox: Some(bbox), ..Default::default() };
            let out = seg.segment(&prompt, None).unwrap();
            let iou = out[0].mask.iou(truth);
            assert!(iou > 0.9, "{name}: IoU {iou:.3}");
        }
    }

    #[test]
    fn one_click_on_the_mug_finds_the_mug() {
        let image = crate::core::demo::still_life();
        let truth = &crate::core::demo::still_life_masks()[1].1;
        let mut seg = prepared(&image);
        let prompt = Prompt {
            points: vec![PointPrompt { x_px: 620.0, y_px: 480.0, label: PointLabel::Positive }],
            ..Default::default()
        };
        let out = seg.segment(&prompt, None).unwrap();
        let iou = out[0].mask.iou(truth);
        assert!(iou > 0.8, "IoU {iou:.3}");
    }

    #[test]
    fn text_needs_a_model_and_bad_prompts_are_errors() {
        let image = crate::core::demo::still_life();
        let mut seg = prepared(&image);
        let text = Prompt { text: Some("red ball".into()), ..Default::default() };
        let err = seg.segment(&text, None).unwrap_err().to_string();
        assert!(err.contains("SAM 3 model folder") && err.contains("export_sam3.py"), "{err}");
        let outside = Prompt {
            points: vec![PointPrompt { x_px: 5000.0, y_px: 1.0, label: PointLabel::Positive }],
            ..Default::default()
        };
        assert!(seg.segment(&outside, None).is_err());
        assert!(ClassicalSegmenter::default().segment(&outside, None).is_err());
    }
}

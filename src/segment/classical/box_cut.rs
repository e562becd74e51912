//! Box prompts (with or without clicks): GrabCut's iteration on the working grid of the box and a
//! ring around it, with the tight-box pinpointing and the full-resolution band at the end.

use crate::core::image::Image;
use crate::core::mask::Mask;
use crate::core::prompt::{BoxPrompt, Prompt};

use super::grid::Hard;
use super::{ClassicalParams, Problem, geodesic, inside_box, iterate_and_finish};

/// Background samples drawn from the rest of the image.
const OUTSIDE_SAMPLES: usize = 4000;

pub(super) fn box_cut(
    image: &Image,
    prompt: &Prompt,
    b: &BoxPrompt,
    previous: Option<&Mask>,
    params: &ClassicalParams,
) -> (Mask, f32) {
    let (img_w, img_h) = (image.width(), image.height());
    let (box_w, box_h) = (b.x1_px - b.x0_px, b.y1_px - b.y0_px);
    let margin = (params.ring * box_w.max(box_h)).max(12.0);
    let mut roi = [
        (b.x0_px - margin).floor().max(0.0) as u32,
        (b.y0_px - margin).floor().max(0.0) as u32,
        ((b.x1_px + margin).ceil().max(1.0) as u32).min(img_w),
        ((b.y1_px + margin).ceil().max(1.0) as u32).min(img_h),
    ];
    for p in &prompt.points {
        roi[0] = roi[0].min(p.x_px as u32);
        roi[1] = roi[1].min(p.y_px as u32);
        roi[2] = roi[2].max((p.x_px as u32 + 1).min(img_w));
        roi[3] = roi[3].max((p.y_px as u32 + 1).min(img_h));
    }
    let scale = (params.max_work_cells as f64 / f64::from(box_w.max(1.0) * box_h.max(1.0))).sqrt().min(1.0);
    let mut problem = Problem::new(image, prompt, params, roi, scale);
    if params.global_bg_weight > 0.0 {
        problem.sample_outside(OUTSIDE_SAMPLES);
    }
    let grid = &problem.grid;
    let n = grid.len();
    let in_box: Vec<bool> = (0..n)
        .map(|i| {
            let (x, y) = grid.centre_of(i);
            inside_box(b, x, y)
        })
        .collect();
    if !in_box.iter().any(|&v| v) {
        return (Mask::new(img_w, img_h), 0.0);
    }
    let fg: Vec<bool> = (0..n)
        .map(|i| match problem.hard[i] {
            Hard::Fg => true,
            Hard::Bg => false,
            Hard::Unknown => previous.is_none_or(|prev| {
                let (x, y) = grid.centre_of(i);
                prev.get(x as u32, y as u32)
            }),
        })
        .collect();
    if params.box_geodesic_prior > 0.0 {
        let outside: Vec<usize> = (0..n).filter(|&i| !in_box[i]).collect();
        let d_out = geodesic::distance(grid, &outside, params.geodesic_contrast, geodesic::mean_step(grid));
        let reach = params.box_geodesic_reach * (box_w.hypot(box_h) * grid.scale as f32);
        for (p, d) in problem.prior_fg.iter_mut().zip(&d_out) {
            *p += params.box_geodesic_prior * (-d / reach).exp();
        }
    }
    let rounds = params.iterations.max(1);
    let mut pin = |fg: &[bool], cost_fg: &[f32], cost_bg: &[f32], hard: &mut [Hard]| {
        params.tight_box && pin_sides(&problem, b, &in_box, fg, cost_fg, cost_bg, hard)
    };
    iterate_and_finish(&problem, fg, &|_| 1.0, rounds, &mut pin)
}

/// Tight-box prior: for every side of the box the labelling does not come near, pins the cheapest
/// path (entering a cell costs how much more it looks like background than foreground) from the
/// foreground to that side as hard foreground. Returns whether anything was pinned.
#[allow(clippy::too_many_arguments)]
fn pin_sides(
    problem: &Problem,
    b: &BoxPrompt,
    in_box: &[bool],
    fg: &[bool],
    cost_fg: &[f32],
    cost_bg: &[f32],
    hard: &mut [Hard],
) -> bool {
    let grid = &problem.grid;
    let n = grid.len();
    let cell_px = 1.0 / grid.scale as f32;
    let (box_w, box_h) = (b.x1_px - b.x0_px, b.y1_px - b.y0_px);
    let tol = |side: f32| (2.5 * cell_px).max(0.05 * side);
    // Distance of a cell centre to each side, inside the box.
    let gaps = |i: usize| {
        let (x, y) = grid.centre_of(i);
        [x - b.x0_px, b.x1_px - x, y - b.y0_px, b.y1_px - y]
    };
    let tols = [tol(box_w), tol(box_w), tol(box_h), tol(box_h)];
    let mut reached = [false; 4];
    let mut sources = Vec::new();
    for i in (0..n).filter(|&i| fg[i] && in_box[i]) {
        sources.push(i);
        for (side, gap) in gaps(i).into_iter().enumerate() {
            reached[side] |= gap <= tols[side];
        }
    }
    if reached.iter().all(|&r| r) {
        return false;
    }
    if sources.is_empty() {
        // Nothing inside: start from the cell that most looks like foreground.
        let best = (0..n)
            .filter(|&i| in_box[i] && hard[i] != Hard::Bg)
            .min_by(|&i, &j| (cost_fg[i] - cost_bg[i]).total_cmp(&(cost_fg[j] - cost_bg[j])));
        let Some(best) = best else { return false };
        sources.push(best);
        hard[best] = Hard::Fg;
    }
    let step: Vec<f32> = (0..n)
        .map(
            |i| if in_box[i] && hard[i] != Hard::Bg { (cost_fg[i] - cost_bg[i]).max(0.0) + 0.5 } else { f32::INFINITY },
        )
        .collect();
    let mut pinned = false;
    for side in (0..4).filter(|&s| !reached[s]) {
        let target: Vec<bool> = (0..n).map(|i| in_box[i] && gaps(i)[side] <= tols[side]).collect();
        for i in geodesic::cheapest_path(grid.w, grid.h, &sources, &step, &target) {
            if hard[i] == Hard::Unknown && !fg[i] {
                hard[i] = Hard::Fg;
                pinned = true;
            }
        }
    }
    pinned
}

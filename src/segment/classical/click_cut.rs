//! Click prompts without a box: a positive click seeds its geodesic region ("this region", not
//! "this colour"); a click refining a previous mask edits it near the click and keeps it elsewhere.

use crate::core::image::Image;
use crate::core::mask::Mask;
use crate::core::prompt::{PointLabel, Prompt};

use super::grid::Hard;
use super::{ClassicalParams, Problem, geodesic, iterate_and_finish};

pub(super) fn click_cut(
    image: &Image,
    prompt: &Prompt,
    previous: Option<&Mask>,
    params: &ClassicalParams,
) -> (Mask, f32) {
    let (img_w, img_h) = (image.width(), image.height());
    let scale = (params.max_click_cells as f64 / (f64::from(img_w) * f64::from(img_h))).sqrt().min(1.0);
    let mut problem = Problem::new(image, prompt, params, [0, 0, img_w, img_h], scale);
    let grid = &problem.grid;
    let n = grid.len();
    let diag = (grid.w as f32).hypot(grid.h as f32);
    let unit = geodesic::mean_step(grid);
    let kappa = params.click_geodesic_contrast;
    let cells_of = |label: Option<PointLabel>, only_last: bool| -> Vec<usize> {
        let points: Vec<_> = if only_last {
            prompt.points.last().into_iter().collect()
        } else {
            prompt.points.iter().filter(|p| label.is_none_or(|l| p.label == l)).collect()
        };
        let r = problem.click_radius_px;
        (0..n)
            .filter(|&i| {
                let (x, y) = grid.centre_of(i);
                points.iter().any(|p| (x - p.x_px).powi(2) + (y - p.y_px).powi(2) <= r * r)
            })
            .chain(points.iter().map(|p| grid.cell_of((p.x_px as u32).min(img_w - 1), (p.y_px as u32).min(img_h - 1))))
            .collect()
    };
    let positives = cells_of(Some(PointLabel::Positive), false);
    let negatives = cells_of(Some(PointLabel::Negative), false);
    let reach = 0.35 * diag;
    let seed_radius = 0.05 * diag;

    let fg: Vec<bool>;
    let bg_weight: Vec<f32>;
    let rounds;
    match previous {
        None => {
            let d_pos = if positives.is_empty() {
                vec![f32::INFINITY; n]
            } else {
                geodesic::distance(grid, &positives, kappa, unit)
            };
            let d_neg = if negatives.is_empty() {
                vec![f32::INFINITY; n]
            } else {
                geodesic::distance(grid, &negatives, kappa, unit)
            };
            for i in 0..n {
                problem.prior_fg[i] += params.click_prior * (d_pos[i] / reach).min(1.5);
                problem.prior_bg[i] += params.click_prior * (1.0 - d_neg[i] / seed_radius).max(0.0);
            }
            fg = (0..n)
                .map(|i| problem.hard[i] == Hard::Fg || (problem.hard[i] == Hard::Unknown && d_pos[i] < seed_radius))
                .collect();
            bg_weight = d_pos.iter().map(|&d| ((d - seed_radius) / (reach - seed_radius)).clamp(0.05, 1.0)).collect();
            rounds = params.iterations.max(1);
        }
        Some(prev) => {
            let last = prompt.points.last().map(|p| p.label);
            let d_last = geodesic::distance(grid, &cells_of(None, true), kappa, unit);
            let local = 0.08 * diag;
            fg = (0..n)
                .map(|i| match problem.hard[i] {
                    Hard::Fg => true,
                    Hard::Bg => false,
                    Hard::Unknown => {
                        let (x, y) = grid.centre_of(i);
                        prev.get(x as u32, y as u32)
                    }
                })
                .collect();
            for i in 0..n {
                let phi = (-d_last[i] / local).exp();
                let was_fg = fg[i];
                match (last, was_fg) {
                    (Some(PointLabel::Positive), false) => problem.prior_fg[i] += params.keep_prior * (1.0 - phi),
                    (Some(PointLabel::Negative), true) => problem.prior_bg[i] += params.keep_prior * (1.0 - phi),
                    (_, false) => problem.prior_fg[i] += params.keep_prior,
                    (_, true) => problem.prior_bg[i] += params.keep_prior,
                }
                match last {
                    Some(PointLabel::Positive) => problem.prior_bg[i] += params.click_prior * phi,
                    Some(PointLabel::Negative) => problem.prior_fg[i] += params.click_prior * phi,
                    None => {}
                }
            }
            bg_weight = vec![1.0; n];
            rounds = 2;
        }
    }
    iterate_and_finish(&problem, fg, &|i| bg_weight[i], rounds, &mut |_, _, _, _| false)
}

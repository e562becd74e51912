//! The lift judged from unseen views (issue 14): every shape of `tests/support/lift_eval.rs`,
//! staged at W×H, lifted at iteration 0 and at the default refinement, against the flat card of
//! the mask. Prints per shape: silhouette IoU from 60° left / right / above and their mean,
//! Chamfer distance relative to the bounding diagonal (and as a share of the card's), F-score at
//! 5 %, and the lift's time.
//!
//!     cargo bench --profile dev --bench lift_eval -- [W H]

// Shared with the test suite, which uses the parts this benchmark does not.
#[allow(dead_code)]
#[path = "../tests/support/lift_eval.rs"]
mod eval;

use carve::lift::{LiftParams, lift};
use carve::render::headless::Headless;

fn main() -> anyhow::Result<()> {
    let args: Vec<u32> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (w, h) = (args.first().copied().unwrap_or(480), args.get(1).copied().unwrap_or(360));
    let headless = Headless::new()?;
    println!("photo {w}×{h}, lift defaults (64³ voxels), {} rayon threads", rayon::current_num_threads());
    println!(
        "| shape | surface | IoU 60° left | 60° right | 60° above | mean | Chamfer / diag | × card | F@5% | lift s |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut means: Vec<(&str, Vec<f64>, Vec<f64>)> = Vec::new();
    for shape in eval::shapes() {
        let staged = eval::stage(&headless, &shape, w, h);
        let card = eval::score(&headless, &staged, &eval::card(&staged));
        let mut rows = vec![("card", card.clone(), 0.0)];
        // The mesh comes from the voxel grid, which refinement does not change: scored once. The
        // splats are scored at iteration 0 and refined.
        for (label, iterations) in [("iteration 0", 0), ("refined", LiftParams::default().iterations)] {
            let t0 = std::time::Instant::now();
            let params = LiftParams { iterations, ..Default::default() };
            let out = lift(&staged.photo, &staged.mask, &params, &carve::Progress::new())?;
            let secs = t0.elapsed().as_secs_f64();
            if iterations == 0 {
                rows.push(("mesh (object.glb)", eval::score(&headless, &staged, &out.mesh), secs));
            }
            let splats = if label == "iteration 0" { "splats, iteration 0" } else { "splats, refined" };
            rows.push((splats, eval::score_splats(&headless, &staged, &out.splats), secs));
        }
        for (label, s, secs) in rows {
            let ious: Vec<String> = s.iou_views.iter().map(|(_, v)| format!("{v:.3}")).collect();
            println!(
                "| {} | {label} | {} | {:.3} | {:.4} | {:.2} | {:.3} | {} |",
                shape.name,
                ious.join(" | "),
                s.iou_mean(),
                s.chamfer_rel,
                s.chamfer_rel / card.chamfer_rel,
                s.f_score,
                if secs > 0.0 { format!("{secs:.2}") } else { "–".into() }
            );
            match means.iter_mut().find(|(l, _, _)| *l == label) {
                Some((_, i, c)) => {
                    i.push(s.iou_mean());
                    c.push(s.chamfer_rel / card.chamfer_rel);
                }
                None => means.push((label, vec![s.iou_mean()], vec![s.chamfer_rel / card.chamfer_rel])),
            }
        }
    }
    for (label, ious, ratios) in means {
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        println!("mean over shapes, {label}: unseen-view IoU {:.3}, Chamfer × card {:.3}", mean(&ious), mean(&ratios));
    }
    Ok(())
}

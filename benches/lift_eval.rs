//! The lift judged from unseen views (issue 14): every shape of `tests/support/lift_eval.rs`,
//! staged at W×H, lifted at iteration 0 and at the default refinement, without a model and with
//! an oracle depth model (the true depth behind the depth-model interface, photo taken at 0.75×
//! the default focal length, `tools/make_depth_oracle.py`), against the flat card of the mask.
//! Prints per shape: silhouette IoU from 60° left / right / above and their mean, Chamfer
//! distance relative to the bounding diagonal (and as a share of the card's), F-score at 5 %, and
//! the lift's time; then the time of a five-object scene lift at defaults.
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
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let oracle_dir = tempfile::tempdir()?;
    let shapes = eval::shapes();
    let mut wide = carve::lift::default_camera(w, h);
    (wide.fx, wide.fy) = (wide.fx * 0.75, wide.fy * 0.75);
    let oracle_staged: Vec<_> = shapes.iter().map(|s| eval::stage_with_camera(&headless, s, wide)).collect();
    let jobs: Vec<_> = oracle_staged.iter().map(|s| (s, eval::OracleKind::DepthWithFov)).collect();
    let oracles = eval::make_oracles(&root.join(".venv/bin/python"), oracle_dir.path(), &jobs);
    for (index, shape) in shapes.iter().enumerate() {
        let staged = eval::stage(&headless, shape, w, h);
        if let Ok(dir) = std::env::var("CARVE_EVAL_DUMP") {
            staged.photo.save_png(std::path::Path::new(&dir).join(format!("{}.png", shape.name.replace(' ', "_"))))?;
        }
        if std::env::var("CARVE_EVAL_ONLY").is_ok_and(|only| !shape.name.contains(only.as_str())) {
            continue;
        }
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
        // With the oracle depth model (its own staging: the wider lens).
        let folder = carve::model::registry::ModelFolder::inspect(
            &oracles[index],
            carve::model::registry::SearchOrigin::Explicit,
        );
        let model = carve::lift::DepthModel::load(&folder)?;
        let ostaged = &oracle_staged[index];
        let ocard = eval::score(&headless, ostaged, &eval::card(ostaged));
        let t0 = std::time::Instant::now();
        let out = carve::lift::lift_with(
            &ostaged.photo,
            &ostaged.mask,
            &LiftParams::default(),
            Some(&model),
            &carve::Progress::new(),
        )?;
        let secs = t0.elapsed().as_secs_f64();
        let relative = |mut s: eval::Score| {
            // Rows share the no-model card's column: rescale to report × the oracle stage's own card.
            s.chamfer_rel *= card.chamfer_rel / ocard.chamfer_rel;
            s
        };
        rows.push(("oracle depth: mesh", relative(eval::score(&headless, ostaged, &out.mesh)), secs));
        rows.push((
            "oracle depth: splats, refined",
            relative(eval::score_splats(&headless, ostaged, &out.splats)),
            secs,
        ));
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
    // Shapes kept out of the tuning, and the six shapes again with noise in the photo (σ = 8
    // grey levels per channel): the mesh at defaults against the card, and what the lift chose.
    println!();
    println!("held out of the tuning, and noisy photos (σ = 8 grey levels); mesh (object.glb) at defaults");
    println!(
        "| shape | photo | IoU 60° left | 60° right | 60° above | mean | Chamfer × card | F@5% | card IoU | built-in surface |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---|");
    let mut groups: Vec<(&str, Vec<f64>, Vec<f64>)> =
        vec![("held out", vec![], vec![]), ("noisy", vec![], vec![]), ("second held out", vec![], vec![])];
    let held = eval::held_out_shapes();
    let second = eval::second_held_out_shapes();
    let cases: Vec<(usize, &eval::Shape)> =
        held.iter().map(|s| (0, s)).chain(shapes.iter().map(|s| (1, s))).chain(second.iter().map(|s| (2, s))).collect();
    for (group, shape) in cases {
        if std::env::var("CARVE_EVAL_ONLY").is_ok_and(|only| !shape.name.contains(only.as_str())) {
            continue;
        }
        let clean = eval::stage(&headless, shape, w, h);
        let staged = if group == 1 { eval::with_noise(&clean, 8.0, 7) } else { clean };
        if let Ok(dir) = std::env::var("CARVE_EVAL_DUMP") {
            let name = format!("{}{}.png", shape.name.replace(' ', "_"), if group == 1 { "_noisy" } else { "" });
            staged.photo.save_png(std::path::Path::new(&dir).join(name))?;
        }
        let card = eval::score(&headless, &staged, &eval::card(&staged));
        let out = lift(
            &staged.photo,
            &staged.mask,
            &LiftParams { iterations: 0, ..Default::default() },
            &carve::Progress::new(),
        )?;
        let s = eval::score(&headless, &staged, &out.mesh);
        let ious: Vec<String> = s.iou_views.iter().map(|(_, v)| format!("{v:.3}")).collect();
        println!(
            "| {} | {} | {} | {:.3} | {:.2} | {:.3} | {:.3} | {} |",
            shape.name,
            ["clean", "noisy", "clean"][group],
            ious.join(" | "),
            s.iou_mean(),
            s.chamfer_rel / card.chamfer_rel,
            s.f_score,
            card.iou_mean(),
            out.engine
        );
        groups[group].1.push(s.iou_mean());
        groups[group].2.push(s.chamfer_rel / card.chamfer_rel);
    }
    for (label, ious, ratios) in groups {
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        println!("mean over shapes, {label}: unseen-view IoU {:.3}, Chamfer × card {:.3}", mean(&ious), mean(&ratios));
    }
    if std::env::var("CARVE_EVAL_ONLY").is_ok() {
        return Ok(());
    }
    // A scene of five objects on one ground plane, at defaults (refined), three runs.
    let five: Vec<_> = eval::shapes().into_iter().take(5).collect();
    let placements = [(-1.6, 4.0), (-0.5, 6.0), (0.6, 5.0), (1.7, 7.0), (0.0, 8.5)];
    let scene = eval::stage_scene(&headless, &five, &placements, 0.9, w, h);
    let objects: Vec<_> = scene
        .objects
        .iter()
        .map(|(name, mask, _)| carve::lift::scene::SceneObject { name: (*name).into(), mask: mask.clone() })
        .collect();
    let mut times = Vec::new();
    for _ in 0..3 {
        let t0 = std::time::Instant::now();
        let lifted = carve::lift::scene::lift_scene(
            &scene.photo,
            &objects,
            &LiftParams::default(),
            None,
            false,
            &carve::Progress::new(),
        )?;
        times.push(t0.elapsed().as_secs_f64());
        assert_eq!(lifted.objects.len(), 5);
    }
    times.sort_by(f64::total_cmp);
    println!("scene of 5 objects at defaults ({w}×{h}): median {:.2} s (runs {times:.2?})", times[1]);
    Ok(())
}

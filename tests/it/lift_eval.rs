//! The 3D evaluation of the lift (issue 14, `tests/support/lift_eval.rs`): first that the
//! evaluation itself can tell right from wrong (the true surface scores perfectly, a flat card and
//! a displaced copy do not), then the lift's goals on unseen views — not met yet by silhouette
//! inflation, so that test is ignored with the figures it gets; `cargo bench --bench lift_eval`
//! prints them per shape.

use carve::lift::{LiftParams, lift};
use carve::render::headless::Headless;
use glam::Vec3;

use crate::lift_eval_support as eval;

const W: u32 = 240;
const H: u32 = 180;

#[test]
fn the_evaluation_tells_right_from_wrong() {
    let headless = Headless::new().expect("a wgpu adapter (lavapipe)");
    let shapes = eval::shapes();
    assert_eq!(shapes.len(), 6, "five primitives and the MHR body");
    for shape in &shapes {
        let staged = eval::stage(&headless, shape, W, H);
        assert!(staged.mask.area() > 1_000, "{}: the shape fills the photo ({} px)", shape.name, staged.mask.area());
        // The truth against itself, even at another scale (the one ambiguity removed); Chamfer is not
        // 0 because the two sides are sampled independently (`SURFACE_SAMPLES` points each).
        let scaled = eval::transformed_for_test(&staged.truth, 1.7);
        let perfect = eval::score(&headless, &staged, &scaled);
        assert!(perfect.chamfer_rel < 0.02 && perfect.f_score > 0.99, "{}: {perfect:?}", shape.name);
        assert!(perfect.iou_views.iter().all(|(_, iou)| *iou > 0.98), "{}: {perfect:?}", shape.name);
        // A copy moved sideways by a fifth of its size (no scale undoes that) scores worse.
        let moved = eval::moved_for_test(&staged.truth, Vec3::new(0.2, 0.1, 0.0));
        let off = eval::score(&headless, &staged, &moved);
        assert!(off.chamfer_rel > 0.04 && off.iou_mean() < perfect.iou_mean() - 0.1, "{}: {off:?}", shape.name);
        // The flat card looks right from the photo's camera only.
        let card = eval::score(&headless, &staged, &eval::card(&staged));
        assert!(card.iou_mean() < 0.75, "{}: card {card:?}", shape.name);
    }
}

#[test]
#[ignore = "issue 14 item 3 not built: silhouette inflation extrudes along the view ray (mean unseen-view IoU \
            0.6-0.7 on these shapes, see BENCHMARKS.md 'Lift from unseen views'); goal ≥ 0.8 and Chamfer ≤ 0.3× the card's"]
fn the_lift_meets_its_unseen_view_goals() {
    let headless = Headless::new().expect("a wgpu adapter (lavapipe)");
    let (mut ious, mut ratios) = (Vec::new(), Vec::new());
    for shape in eval::shapes() {
        let staged = eval::stage(&headless, &shape, W, H);
        let out = lift(&staged.photo, &staged.mask, &LiftParams::default(), &carve::Progress::new()).expect("lift");
        let lifted = eval::score(&headless, &staged, &out.mesh);
        let card = eval::score(&headless, &staged, &eval::card(&staged));
        eprintln!(
            "{}: IoU {:.3} {:.3?}, Chamfer {:.3}× card",
            shape.name,
            lifted.iou_mean(),
            lifted.iou_views.iter().map(|v| v.1).collect::<Vec<_>>(),
            lifted.chamfer_rel / card.chamfer_rel
        );
        ious.push(lifted.iou_mean());
        ratios.push(lifted.chamfer_rel / card.chamfer_rel);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(mean(&ious) >= 0.8, "mean unseen-view IoU {:.3} ({ious:.3?})", mean(&ious));
    assert!(mean(&ratios) <= 0.3, "Chamfer / card {:.3} ({ratios:.3?})", mean(&ratios));
}

/// Issue 14 item 2: with a depth model that knows the true depth (an oracle with the interface of
/// the real ones, `tools/make_depth_oracle.py`), everything downstream of the model — the focal
/// length taken from the model, the completion of the hidden side, the voxels — must be right from
/// the unseen views: mean IoU ≥ 0.9 and Chamfer ≤ 0.15× the card's, per oracle contract (metric
/// depth with a field of view, as Depth Pro gives; a point map, as MoGe gives). The photo is taken
/// with a focal length 0.75× the lift's default, so a lift that ignored the model's would be wrong.
#[test]
fn oracle_depth_lift_meets_its_goals() {
    let headless = Headless::new().expect("a wgpu adapter (lavapipe)");
    let tmp = tempfile::tempdir().unwrap();
    let shapes = eval::shapes();
    let mut camera = carve::lift::default_camera(W, H);
    camera.fx *= 0.75;
    camera.fy *= 0.75;
    let staged: Vec<_> = shapes.iter().map(|s| eval::stage_with_camera(&headless, s, camera)).collect();
    let kinds = [eval::OracleKind::DepthWithFov, eval::OracleKind::Points];
    let jobs: Vec<_> = kinds.iter().flat_map(|k| staged.iter().map(move |s| (s, *k))).collect();
    let folders = eval::make_oracles(&crate::common::python(), tmp.path(), &jobs);
    // The mesh (object.glb) is scored: it comes from the voxels, which refinement does not change.
    let params = LiftParams { iterations: 0, ..Default::default() };
    let mut report = String::new();
    for (kind_index, kind) in kinds.iter().enumerate() {
        let (mut ious, mut ratios) = (Vec::new(), Vec::new());
        for (i, s) in staged.iter().enumerate() {
            let folder = carve::model::registry::ModelFolder::inspect(
                &folders[kind_index * staged.len() + i],
                carve::model::registry::SearchOrigin::Explicit,
            );
            let model = carve::lift::DepthModel::load(&folder).expect("oracle loads");
            let out = carve::lift::lift_with(&s.photo, &s.mask, &params, Some(&model), &carve::Progress::new())
                .expect("lift");
            assert!(
                (out.camera.fx / camera.fx - 1.0).abs() < 0.01,
                "{kind:?} {}: focal {} vs {}",
                s.name,
                out.camera.fx,
                camera.fx
            );
            let lifted = eval::score(&headless, s, &out.mesh);
            let card = eval::score(&headless, s, &eval::card(s));
            let ratio = lifted.chamfer_rel / card.chamfer_rel;
            report += &format!(
                "{kind:?} {}: IoU {:.3} {:.3?} (card {:.3}), Chamfer {:.4} = {ratio:.3}× card, F {:.3}; {}\n",
                s.name,
                lifted.iou_mean(),
                lifted.iou_views.iter().map(|v| v.1).collect::<Vec<_>>(),
                card.iou_mean(),
                lifted.chamfer_rel,
                lifted.f_score,
                out.engine
            );
            ious.push(lifted.iou_mean());
            ratios.push(ratio);
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        eprintln!("{report}");
        assert!(mean(&ious) >= 0.9, "{kind:?}: mean unseen-view IoU {:.3}\n{report}", mean(&ious));
        assert!(mean(&ratios) <= 0.15, "{kind:?}: mean Chamfer / card {:.3}\n{report}", mean(&ratios));
    }
}

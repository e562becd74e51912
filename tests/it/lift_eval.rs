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
        // 0 because the two sides are sampled independently (3000 points each).
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
        ious.push(lifted.iou_mean());
        ratios.push(lifted.chamfer_rel / card.chamfer_rel);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(mean(&ious) >= 0.8, "mean unseen-view IoU {:.3} ({ious:.3?})", mean(&ious));
    assert!(mean(&ratios) <= 0.3, "Chamfer / card {:.3} ({ratios:.3?})", mean(&ratios));
}

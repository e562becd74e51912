//! The 3D evaluation of the lift (issue 14, `tests/support/lift_eval.rs`): first that the
//! evaluation itself can tell right from wrong (the true surface scores perfectly, a flat card and
//! a displaced copy do not); the goal without a model, on the evaluation's shapes, on shapes held
//! out of the tuning and on noisy photos; the lift with an oracle depth model (the goal asserted);
//! the scene lift against ground truth. `cargo bench --bench lift_eval` prints the figures per shape.

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

/// Issue 14 item 3: without a depth model, the lift meets its goals on the evaluation's shapes:
/// mean unseen-view IoU ≥ 0.8 and Chamfer ≤ 0.3× the card's; per shape it never does worse than
/// the card. (Boxes and rings are fitted as primitives, `carve::lift::primitive`; the rest is
/// inflated. Per shape the MHR body, ≈ 0.61, stays below 0.8: see BENCHMARKS.md.)
#[test]
fn the_lift_meets_its_unseen_view_goals() {
    let headless = Headless::new().expect("a wgpu adapter (lavapipe)");
    let (report, ious, ratios) = lift_and_score(&headless, &eval::shapes(), None);
    eprintln!("{report}");
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(mean(&ious) >= 0.8, "mean unseen-view IoU {:.3}\n{report}", mean(&ious));
    assert!(mean(&ratios) <= 0.3, "Chamfer / card {:.3}\n{report}", mean(&ratios));
}

/// The same lift on shapes kept out of its tuning (`held_out_shapes`: another box, a slab, another
/// ring, a lying cylinder) and on the evaluation's photos with noise (σ = 8 grey levels): the boxes
/// and the ring are fitted, the cylinders (upright and lying) are left to the inflation, the
/// held-out mean still meets the goals, and the noise costs at most the plank's fit; on a second
/// held-out set the cone is left to the inflation.
#[test]
fn the_lift_holds_on_held_out_shapes_and_noisy_photos() {
    let headless = Headless::new().expect("a wgpu adapter (lavapipe)");
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (report, ious, ratios) = lift_and_score(&headless, &eval::held_out_shapes(), None);
    eprintln!("{report}");
    assert!(mean(&ious) >= 0.8, "held out: mean unseen-view IoU {:.3}\n{report}", mean(&ious));
    assert!(mean(&ratios) <= 0.3, "held out: Chamfer / card {:.3}\n{report}", mean(&ratios));
    for (name, fitted) in
        [("box held out", true), ("slab held out", true), ("ring held out", true), ("cylinder lying", false)]
    {
        let line = report.lines().find(|l| l.starts_with(name)).expect("reported");
        assert_eq!(line.contains("fitted"), fitted, "{line}");
    }
    let (report, ious, ratios) = lift_and_score(&headless, &eval::shapes(), Some(8.0));
    eprintln!("{report}");
    assert!(mean(&ious) >= 0.75, "noisy: mean unseen-view IoU {:.3}\n{report}", mean(&ious));
    assert!(mean(&ratios) <= 0.35, "noisy: Chamfer / card {:.3}\n{report}", mean(&ratios));
    for name in ["sphere", "cylinder upright", "MHR body"] {
        let line = report.lines().find(|l| l.starts_with(name)).expect("reported");
        assert!(line.contains("silhouette inflation"), "{line}");
    }
    // The second held-out set (added after the first had been used): never worse than the card
    // (asserted inside), the cone left to the inflation; its means are reported, not asserted
    // (0.812 / 0.249× here, 0.881 / 0.139× at 480×360).
    let (report, _, _) = lift_and_score(&headless, &eval::second_held_out_shapes(), None);
    eprintln!("{report}");
    let line = report.lines().find(|l| l.starts_with("cone second")).expect("reported");
    assert!(line.contains("silhouette inflation"), "{line}");
}

/// Lifts each shape at defaults (photo noise of `noise` grey levels when given) and scores its
/// mesh: a report line per shape (name, IoU, Chamfer × card, the surface used), the IoUs and the
/// Chamfer ratios. Asserts that no shape does worse than its flat card.
fn lift_and_score(headless: &Headless, shapes: &[eval::Shape], noise: Option<f32>) -> (String, Vec<f64>, Vec<f64>) {
    let (mut report, mut ious, mut ratios) = (String::new(), Vec::new(), Vec::new());
    for shape in shapes {
        let clean = eval::stage(headless, shape, W, H);
        let staged = match noise {
            Some(sigma) => eval::with_noise(&clean, sigma, 7),
            None => clean,
        };
        let out = lift(&staged.photo, &staged.mask, &LiftParams::default(), &carve::Progress::new()).expect("lift");
        let lifted = eval::score(headless, &staged, &out.mesh);
        let card = eval::score(headless, &staged, &eval::card(&staged));
        let ratio = lifted.chamfer_rel / card.chamfer_rel;
        report += &format!(
            "{}: IoU {:.3} {:.3?} (card {:.3}), Chamfer {ratio:.3}× card; {}\n",
            shape.name,
            lifted.iou_mean(),
            lifted.iou_views.iter().map(|v| v.1).collect::<Vec<_>>(),
            card.iou_mean(),
            out.engine
        );
        assert!(lifted.iou_mean() > card.iou_mean() && ratio < 1.0, "{}: worse than the card\n{report}", shape.name);
        ious.push(lifted.iou_mean());
        ratios.push(ratio);
    }
    (report, ious, ratios)
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

/// Issue 14 item 4, against ground truth: five shapes standing on one ground plane at different
/// depths, lifted together without a depth model (`lift_scene`), come out at consistent depths —
/// after the one global scale a single photo cannot know, each object's mean depth is within 12 %
/// of the truth and the near-to-far order holds — and each reprojects onto its own mask (that no
/// solid enters another is checked on the demo scene in `lift.rs`).
#[test]
fn scene_lift_places_objects_on_the_shared_ground() {
    let headless = Headless::new().expect("a wgpu adapter (lavapipe)");
    let shapes: Vec<_> = eval::shapes().into_iter().take(5).collect();
    let placements = [(-1.6, 4.0), (-0.5, 6.0), (0.6, 5.0), (1.7, 7.0), (0.0, 8.5)];
    let staged = eval::stage_scene(&headless, &shapes, &placements, 0.9, 480, 360);
    let objects: Vec<_> = staged
        .objects
        .iter()
        .map(|(name, mask, _)| carve::lift::scene::SceneObject { name: (*name).into(), mask: mask.clone() })
        .collect();
    let params = LiftParams { iterations: 0, ..Default::default() };
    let scene = carve::lift::scene::lift_scene(&staged.photo, &objects, &params, None, false, &carve::Progress::new())
        .expect("scene lift");
    assert_eq!(scene.objects.len(), 5);
    let mean_z = |m: &carve::core::geometry::Mesh| {
        m.positions.iter().map(|p| f64::from(p[2])).sum::<f64>() / m.positions.len().max(1) as f64
    };
    let lifted: Vec<f64> = scene.objects.iter().map(|o| mean_z(&o.output.mesh)).collect();
    let truth: Vec<f64> = staged.objects.iter().map(|(_, _, m)| eval::true_mean_depth(m)).collect();
    // The global scale: least squares over the objects.
    let s = truth.iter().zip(&lifted).map(|(t, l)| t * l).sum::<f64>() / lifted.iter().map(|l| l * l).sum::<f64>();
    for ((o, l), t) in scene.objects.iter().zip(&lifted).zip(&truth) {
        let err = (l * s / t - 1.0).abs();
        eprintln!("{}: depth {:.3} (scaled {:.3}) vs true {t:.3}: {:.1} %", o.name, l, l * s, err * 100.0);
        assert!(err <= 0.12, "{}: depth off by {:.1} %", o.name, err * 100.0);
    }
    let order = |v: &[f64]| {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
        idx
    };
    assert_eq!(order(&lifted), order(&truth), "near-to-far order");
    // Each object projects onto its own mask (voxel surface through the one camera).
    for (o, (name, mask, _)) in scene.objects.iter().zip(&staged.objects) {
        let covered = carve::Mask::from_fn(mask.width(), mask.height(), |x, y| {
            let ray = scene.camera.ray_world(f64::from(x) + 0.5, f64::from(y) + 0.5);
            let g = &o.output.grid;
            // March the ray through the object's grid.
            let (t0, t1) = (g.layout.translation[2] - g.layout.scale, g.layout.translation[2] + g.layout.scale);
            (0..256).any(|k| {
                let z = t0 + (t1 - t0) * f64::from(k) / 255.0;
                let p = ray * (z / ray.z);
                let c = (p - glam::DVec3::from_array(g.layout.translation)) / g.layout.scale + glam::DVec3::splat(0.5);
                let i = (c * g.resolution as f64).floor();
                i.min_element() >= 0.0
                    && i.max_element() < g.resolution as f64
                    && g.is_occupied(i.x as usize, i.y as usize, i.z as usize)
            })
        });
        let iou = covered.iou(mask);
        eprintln!("{name}: reprojection IoU {iou:.3}");
        assert!(iou >= 0.9, "{name}: reprojection IoU {iou:.3}");
    }
}

//! Fitting recovers a known pose: the demo rig posed with known parameters is seen by a known
//! camera (silhouette mask + projected keypoints), then fitted from the rest pose.

use std::sync::Arc;

use carve::body::fit::{FitOptions, fit, rig_to_camera};
use carve::body::sam3d::{Intrinsics, silhouette};
use carve::body::{Evaluator, demo_rig::demo_rig};

/// Mean distance after aligning the centroids (pose and shape error without the depth/translation
/// ambiguity of a single view).
fn aligned_distance_cm(a: &[[f32; 3]], b: &[[f32; 3]]) -> f64 {
    let centroid = |v: &[[f32; 3]]| {
        let s = v.iter().fold([0.0f64; 3], |s, p| [s[0] + p[0] as f64, s[1] + p[1] as f64, s[2] + p[2] as f64]);
        [s[0] / v.len() as f64, s[1] / v.len() as f64, s[2] / v.len() as f64]
    };
    let (ca, cb) = (centroid(a), centroid(b));
    let shift = |v: &[[f32; 3]], c: [f64; 3]| -> Vec<[f32; 3]> {
        v.iter()
            .map(|p| [(p[0] as f64 - c[0]) as f32, (p[1] as f64 - c[1]) as f32, (p[2] as f64 - c[2]) as f32])
            .collect()
    };
    mean_distance_cm(&shift(a, ca), &shift(b, cb))
}

fn mean_distance_cm(a: &[[f32; 3]], b: &[[f32; 3]]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(p, q)| ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).sqrt() as f64)
        .sum::<f64>()
        / a.len() as f64
        * 100.0
}

/// The rig's keypoints after the last evaluation, placed at `t` and projected by `k` (confidence 1).
fn projected_keypoints(
    ev: &Evaluator,
    metres_per_unit: f32,
    t: [f32; 3],
    k: &Intrinsics,
) -> Vec<(usize, [f32; 2], f32)> {
    rig_to_camera(&ev.keypoints(), metres_per_unit, t)
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let uv = k.project(*p).expect("in front");
            (i, [uv[0] as f32, uv[1] as f32], 1.0)
        })
        .collect()
}

#[test]
fn fitting_recovers_a_known_pose() {
    let rig = Arc::new(demo_rig().expect("demo rig"));
    let mut truth = rig.zero_params();
    let set = |p: &mut carve::body::BodyParams, name: &str, v: f32| {
        let i = rig.parameter_names.iter().position(|n| n == name).expect(name);
        p.model[i] = v;
    };
    set(&mut truth, "l_shoulder_rz", 0.5);
    set(&mut truth, "l_elbow_rz", 0.9);
    set(&mut truth, "r_shoulder_rz", -0.4);
    set(&mut truth, "r_elbow_ry", -0.6);
    set(&mut truth, "l_hip_rz", 0.25);
    set(&mut truth, "r_knee_rx", 0.5);
    set(&mut truth, "spine1_rx", 0.1);
    set(&mut truth, "head_ry", 0.3);
    set(&mut truth, "root_ry", 0.3);
    truth.identity[1] = 1.0; // belly
    let (w, h) = (640u32, 800u32);
    let k = Intrinsics { focal_px: 1000.0, cx: w as f64 / 2.0, cy: h as f64 / 2.0 };
    let t_true = [0.05f32, 0.85, 3.0];
    let mut ev = Evaluator::new(rig.clone(), 1).expect("evaluator");
    let posed = ev.evaluate(&truth).expect("evaluate").to_vec();
    let truth_cam = rig_to_camera(&posed, rig.metres_per_unit, t_true);
    let mask = silhouette(&truth_cam, &ev.lod.triangles, &k, w, h);
    assert!(mask.area() > 20_000, "the target silhouette is {} px", mask.area());
    let keypoints = projected_keypoints(&ev, rig.metres_per_unit, t_true, &k);
    // Before: the rest pose placed by the mask's box alone.
    let rest = ev.evaluate(&rig.zero_params()).expect("rest").to_vec();
    let start = std::time::Instant::now();
    let result = fit(&rig, &mask, &keypoints, k, &FitOptions::default(), &carve::Progress::new()).expect("fit");
    let fit_s = start.elapsed().as_secs_f64();
    let fitted = ev.evaluate(&result.params).expect("fitted").to_vec();
    let fitted_cam = rig_to_camera(&fitted, rig.metres_per_unit, result.camera_translation);
    let rest_cam = rig_to_camera(&rest, rig.metres_per_unit, result.camera_translation);
    let error_cm = mean_distance_cm(&fitted_cam, &truth_cam);
    let aligned_cm = aligned_distance_cm(&fitted_cam, &truth_cam);
    let rest_aligned_cm = aligned_distance_cm(&rest_cam, &truth_cam);
    let iou = silhouette(&fitted_cam, &ev.lod.triangles, &k, w, h).iou(&mask);
    eprintln!(
        "fit: {fit_s:.1} s, mean vertex error {error_cm:.2} cm, centroid-aligned {aligned_cm:.2} cm (rest pose {rest_aligned_cm:.2} cm), silhouette IoU {iou:.3}, keypoints {:.2} px, translation {:?} (true {t_true:?})",
        result.keypoint_error_px.unwrap_or(f64::NAN),
        result.camera_translation
    );
    assert!(aligned_cm < 5.0, "centroid-aligned vertex error {aligned_cm:.2} cm");
    assert!(aligned_cm < rest_aligned_cm / 3.0);
    assert!(error_cm < 8.0, "camera-frame vertex error {error_cm:.2} cm");
    assert!(iou > 0.9, "silhouette IoU {iou:.3}");
    // Silhouette only (no keypoints) still improves on the rest pose.
    let result = fit(&rig, &mask, &Vec::new(), k, &FitOptions::default(), &carve::Progress::new()).expect("fit");
    let fitted = ev.evaluate(&result.params).expect("fitted").to_vec();
    let fitted_cam = rig_to_camera(&fitted, rig.metres_per_unit, result.camera_translation);
    let sil_error_cm = aligned_distance_cm(&fitted_cam, &truth_cam);
    let sil_iou = silhouette(&fitted_cam, &ev.lod.triangles, &k, w, h).iou(&mask);
    eprintln!("silhouette-only fit: centroid-aligned vertex error {sil_error_cm:.2} cm, IoU {sil_iou:.3}");
    assert!(sil_iou > 0.8, "silhouette-only IoU {sil_iou:.3}");
    assert!(sil_error_cm < rest_aligned_cm * 0.75, "silhouette-only error {sil_error_cm:.2} cm");
}

#[test]
fn fitting_refuses_an_empty_mask() {
    let rig = demo_rig().expect("demo rig");
    let mask = carve::Mask::new(64, 64);
    let k = Intrinsics { focal_px: 100.0, cx: 32.0, cy: 32.0 };
    let err = fit(&rig, &mask, &Vec::new(), k, &FitOptions::default(), &carve::Progress::new()).unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
}

#[test]
fn cli_fit_writes_a_valid_skinned_body() {
    let dir = tempfile::tempdir().unwrap();
    let rig = Arc::new(demo_rig().expect("demo rig"));
    let mut truth = rig.zero_params();
    let i = rig.parameter_names.iter().position(|n| n == "l_elbow_rz").unwrap();
    truth.model[i] = 0.8;
    let (w, h) = (480u32, 640u32);
    let focal = ((w * w + h * h) as f64).sqrt();
    let k = Intrinsics { focal_px: focal, cx: w as f64 / 2.0, cy: h as f64 / 2.0 };
    let mut ev = Evaluator::new(rig.clone(), 1).unwrap();
    let posed = ev.evaluate(&truth).unwrap().to_vec();
    let cam = rig_to_camera(&posed, rig.metres_per_unit, [0.0, 0.85, 3.2]);
    let mask = silhouette(&cam, &ev.lod.triangles, &k, w, h);
    let mask_path = dir.path().join("person.png");
    mask.save_png(&mask_path).unwrap();
    let photo = dir.path().join("photo.png");
    image::RgbImage::from_fn(
        w,
        h,
        |x, y| if mask.get(x, y) { image::Rgb([200, 150, 120]) } else { image::Rgb([40, 60, 80]) },
    )
    .save(&photo)
    .unwrap();
    let keypoints: Vec<serde_json::Value> = rig_to_camera(&ev.keypoints(), rig.metres_per_unit, [0.0, 0.85, 3.2])
        .iter()
        .zip(&rig.keypoint_joints)
        .map(|(p, &j)| {
            let uv = k.project(*p).unwrap();
            serde_json::json!({"name": rig.joint_names[j as usize], "x": uv[0], "y": uv[1]})
        })
        .collect();
    let kp_path = dir.path().join("k.json");
    std::fs::write(&kp_path, serde_json::json!({ "keypoints": keypoints }).to_string()).unwrap();
    let out = dir.path().join("fit.glb");
    let res = std::process::Command::new(env!("CARGO_BIN_EXE_carve"))
        .args(["body", "fit"])
        .arg(&photo)
        .arg("--mask")
        .arg(&mask_path)
        .arg("--keypoints")
        .arg(&kp_path)
        .args(["--lod", "2", "--iterations", "300", "--json", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let s: serde_json::Value = serde_json::from_slice(&res.stdout).unwrap();
    eprintln!(
        "carve body fit: IoU {}, keypoints {} px, {} ms",
        s["silhouette_iou"], s["keypoint_error_px"], s["fit_ms"]
    );
    assert_eq!(s["vertices"], 10_661);
    assert!(s["silhouette_iou"].as_f64().unwrap() > 0.85, "{s}");
    assert!(s["keypoint_error_px"].as_f64().unwrap() < 6.0, "{s}");
    let report = std::process::Command::new("node")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tools/validate_gltf.mjs"))
        .arg(&out)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(report["errors"], 0, "{report}");
    // A keypoint the rig does not know is a clear error.
    std::fs::write(&kp_path, r#"{"keypoints": [{"name": "tail", "x": 1, "y": 2}]}"#).unwrap();
    let res = std::process::Command::new(env!("CARGO_BIN_EXE_carve"))
        .args(["body", "fit"])
        .arg(&photo)
        .arg("--mask")
        .arg(&mask_path)
        .arg("--keypoints")
        .arg(&kp_path)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!res.status.success());
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(err.contains("k.json") && err.contains("tail"), "{err}");
}

#[test]
fn fitting_can_be_cancelled() {
    let rig = demo_rig().expect("demo rig");
    let mask = carve::Mask::from_fn(64, 128, |x, y| (16..48).contains(&x) && (8..120).contains(&y));
    let k = Intrinsics { focal_px: 150.0, cx: 32.0, cy: 64.0 };
    let progress = carve::Progress::new();
    progress.cancel();
    let err = fit(&rig, &mask, &Vec::new(), k, &FitOptions::default(), &progress).unwrap_err();
    assert!(matches!(err, carve::body::BodyError::Cancelled(_)), "{err}");
}

/// MHR-70 keypoint indices (`sam_3d_body/metadata/mhr70.py`, official order) of the demo rig's
/// keypoint joints, where MHR has the same landmark.
const MHR70: [(&str, usize); 16] = [
    ("nose", 0),
    ("l_shoulder", 5),
    ("r_shoulder", 6),
    ("l_elbow", 7),
    ("r_elbow", 8),
    ("l_hip", 9),
    ("r_hip", 10),
    ("l_knee", 11),
    ("r_knee", 12),
    ("l_ankle", 13),
    ("r_ankle", 14),
    ("l_toe", 15),
    ("r_toe", 18),
    ("r_wrist", 41),
    ("l_wrist", 62),
    ("neck", 69),
];

/// A deterministic N(0, σ²) sample (Box–Muller on an LCG).
fn gaussian(state: &mut u64, sigma: f64) -> f64 {
    let mut uniform = || {
        *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let (u1, u2) = (uniform(), uniform());
    sigma * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Issue 16, body evidence not self-made: Carve's fitting on the four real SAM 3D Body outputs in
/// `assets/mhr` (bodies made by another model — the demo rig only shares MHR's LOD 1 mesh). Targets:
/// each body's LOD 1 silhouette projected with the camera solved from its own keypoints, and its
/// 2D keypoints (the 16 landmarks the demo rig has). Scored against the body's own vertices
/// (centroid-aligned), beside the rig's best possible fit to those vertices in 3D (the floor no
/// photo fit can beat) and the rest pose placed by the same fit's camera. Honest figures: the fits
/// are far from the floor (see the bounds below).
#[test]
fn fitting_real_sam3d_body_outputs_comes_near_the_rigs_floor() {
    let rig = Arc::new(demo_rig().expect("demo rig"));
    let keypoint_name = |i: usize| rig.joint_names[rig.keypoint_joints[i] as usize].clone();
    let mut ev = Evaluator::new(rig.clone(), 1).expect("evaluator");
    let rest = ev.evaluate(&rig.zero_params()).expect("rest").to_vec();
    let (mut fits, mut floors, mut rests) = (Vec::new(), Vec::new(), Vec::new());
    for subject in 0..4 {
        let path = crate::common::repo_root().join(format!("assets/mhr/sam3d_body_output_subj{subject:02}.npz"));
        let body = carve::body::sam3d::Sam3dBody::load(&path).expect("real output");
        let (k, rms, _) = body.solve_intrinsics().expect("camera");
        let (w, h) = ((2.0 * k.cx).ceil() as u32, (2.0 * k.cy).ceil() as u32);
        let target = &body.vertices_lod1;
        let mask = silhouette(target, &ev.lod.triangles, &k, w, h);
        let keypoints: Vec<(usize, [f32; 2], f32)> = (0..rig.keypoint_joints.len())
            .filter_map(|i| {
                let name = keypoint_name(i);
                MHR70.iter().find(|(n, _)| *n == name).map(|&(_, m)| (i, body.keypoints_2d[m], 1.0))
            })
            .collect();
        assert_eq!(keypoints.len(), 16);
        let result = fit(&rig, &mask, &keypoints, k, &FitOptions::default(), &carve::Progress::new()).expect("fit");
        let fitted =
            rig_to_camera(ev.evaluate(&result.params).expect("fitted"), rig.metres_per_unit, result.camera_translation);
        let fit_cm = aligned_distance_cm(&fitted, target);
        let iou = silhouette(&fitted, &ev.lod.triangles, &k, w, h).iou(&mask);
        let floor_options = FitOptions { iterations: 400, learning_rate: 0.02, ..FitOptions::default() };
        let (floor_params, floor_t, _) =
            carve::body::fit::fit_to_vertices(&rig, target, &floor_options, &carve::Progress::new()).expect("floor");
        let floor = rig_to_camera(ev.evaluate(&floor_params).expect("floor"), rig.metres_per_unit, floor_t);
        let floor_cm = aligned_distance_cm(&floor, target);
        let rest_cm =
            aligned_distance_cm(&rig_to_camera(&rest, rig.metres_per_unit, result.camera_translation), target);
        eprintln!(
            "subject {subject}: {w}×{h}, camera from its keypoints (rms {rms:.1} px); fit from mask + 16 keypoints \
             {fit_cm:.2} cm (IoU {iou:.3}, keypoints {:.1} px), rig's floor (3D fit) {floor_cm:.2} cm, rest pose \
             {rest_cm:.2} cm",
            result.keypoint_error_px.unwrap_or(f64::NAN)
        );
        fits.push(fit_cm);
        floors.push(floor_cm);
        rests.push(rest_cm);
        assert!(
            fit_cm < rest_cm,
            "subject {subject}: the fit ({fit_cm:.2} cm) hardly beats the rest pose ({rest_cm:.2} cm)"
        );
        assert!(iou > 0.7, "subject {subject}: silhouette IoU {iou:.3}");
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    eprintln!(
        "real outputs, mean: fit {:.2} cm, floor {:.2} cm, rest {:.2} cm",
        mean(&fits),
        mean(&floors),
        mean(&rests)
    );
    // Far from the floor (13–20 cm against 1.5–3.7 cm on 2026-12-05): the demo rig's joints are not
    // MHR's keypoints (up to 60 px apart at the floor fit) and one view leaves the legs' bend
    // ambiguous. These bounds guard today's level; the goal (near the floor) is not met.
    assert!(mean(&fits) < mean(&rests) * 0.6, "the fits hardly beat the rest pose");
    assert!(mean(&fits) < mean(&floors) + 16.0, "the photo fit is far from what the rig can reach");
}

/// Issue 16: the known-pose fit of `fitting_recovers_a_known_pose` under realistic errors —
/// keypoints with σ = 3 px noise, and the focal length wrong by ±20 % (the fit assumes the wrong
/// one; the scene was rendered with the true one).
#[test]
fn fitting_holds_under_keypoint_noise_and_a_wrong_focal_length() {
    let rig = Arc::new(demo_rig().expect("demo rig"));
    let mut truth = rig.zero_params();
    for (name, v) in
        [("l_shoulder_rz", 0.5f32), ("l_elbow_rz", 0.9), ("r_elbow_ry", -0.6), ("r_knee_rx", 0.5), ("root_ry", 0.3)]
    {
        let i = rig.parameter_names.iter().position(|n| n == name).expect(name);
        truth.model[i] = v;
    }
    let (w, h) = (640u32, 800u32);
    let k = Intrinsics { focal_px: 1000.0, cx: w as f64 / 2.0, cy: h as f64 / 2.0 };
    let t_true = [0.05f32, 0.85, 3.0];
    let mut ev = Evaluator::new(rig.clone(), 1).expect("evaluator");
    let truth_cam = rig_to_camera(ev.evaluate(&truth).expect("evaluate"), rig.metres_per_unit, t_true);
    let mask = silhouette(&truth_cam, &ev.lod.triangles, &k, w, h);
    let clean = projected_keypoints(&ev, rig.metres_per_unit, t_true, &k);
    let mut state = 7u64;
    let noisy: Vec<(usize, [f32; 2], f32)> = clean
        .iter()
        .map(|(i, p, c)| (*i, [p[0] + gaussian(&mut state, 3.0) as f32, p[1] + gaussian(&mut state, 3.0) as f32], *c))
        .collect();
    let rest_cm = aligned_distance_cm(
        &rig_to_camera(ev.evaluate(&rig.zero_params()).expect("rest"), rig.metres_per_unit, t_true),
        &truth_cam,
    );
    for (label, keypoints, focal_scale) in [
        ("clean", &clean, 1.0),
        ("keypoints σ = 3 px", &noisy, 1.0),
        ("focal −20 %", &noisy, 0.8),
        ("focal +20 %", &noisy, 1.2),
    ] {
        let assumed = Intrinsics { focal_px: k.focal_px * focal_scale, ..k };
        let result =
            fit(&rig, &mask, keypoints, assumed, &FitOptions::default(), &carve::Progress::new()).expect("fit");
        let fitted =
            rig_to_camera(ev.evaluate(&result.params).expect("fitted"), rig.metres_per_unit, result.camera_translation);
        let aligned_cm = aligned_distance_cm(&fitted, &truth_cam);
        let iou = silhouette(&fitted, &ev.lod.triangles, &assumed, w, h).iou(&mask);
        eprintln!(
            "{label}: centroid-aligned vertex error {aligned_cm:.2} cm (rest {rest_cm:.2} cm), IoU {iou:.3} under the assumed camera, depth {:.2} m (true {})",
            result.camera_translation[2], t_true[2]
        );
        assert!(aligned_cm < 6.0, "{label}: {aligned_cm:.2} cm");
        assert!(iou > 0.85, "{label}: IoU {iou:.3}");
    }
}

//! Photo → body through SAM 3D Body (issue 16): the official architecture exported in pieces by
//! `tools/export_sam3d_body.py` (tiny, random weights) with an MHR stand-in of MHR's shape
//! (`tools/make_mhr_standin.py`), run by Carve's loop (`carve::body::predict`) and compared with
//! the official eager model's `forward_step(batch, "body")` on the same photo, box and mask.
//!
//! The official source is not on PyPI: the test needs `../shared/vendor` (present in CI and in the
//! project's sessions, absent in a user's clone, where the test is ignored with that reason — the
//! build script sets `carve_vendor` when the folder is there).

use std::path::Path;

use carve::body::predict::{CropInputs, Sam3dBodyModel};
use carve::body::torchscript::TorchScriptBody;
use carve::core::task::Progress;
use carve::model::precision::PrecisionChoice;
use tch::{Kind, Tensor};

use crate::common::{carve, repo_root, run_python};
use crate::official::{load_tensor, reference_json};

fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).contiguous().view([-1])).unwrap()
}

/// Builds the stand-in MHR, exports the tiny model and writes the official reference.
fn export(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let vendor = repo_root().join("../shared/vendor");
    let (mhr_dir, model, refdir) = (dir.join("mhr"), dir.join("model"), dir.join("ref"));
    run_python(&[repo_root().join("tools/make_mhr_standin.py").as_os_str(), mhr_dir.as_os_str()]);
    let out = run_python(&[
        repo_root().join("tools/export_sam3d_body.py").as_os_str(),
        "--repo".as_ref(),
        vendor.join("sam-3d-body-repo").as_os_str(),
        "--dinov3-repo".as_ref(),
        vendor.join("dinov3-repo").as_os_str(),
        "--mhr".as_ref(),
        mhr_dir.join("mhr_model.pt").as_os_str(),
        "--out".as_ref(),
        model.as_os_str(),
        "--tiny".as_ref(),
        "--reference".as_ref(),
        refdir.as_os_str(),
    ]);
    eprintln!("{}", out.lines().filter(|l| l.contains("wrote") || l.contains("FAIL")).collect::<Vec<_>>().join("\n"));
    (mhr_dir.join("mhr_model.pt"), model, refdir)
}

#[test]
#[cfg_attr(
    not(carve_vendor),
    ignore = "needs ../shared/vendor (the official sam-3d-body and dinov3 source), absent in this clone"
)]
fn body_from_a_photo_equals_the_official_sam3d_body() {
    let dir = tempfile::tempdir().unwrap();
    let (mhr_path, model_dir, refdir) = export(dir.path());
    let reference = reference_json(&refdir);
    let model = Sam3dBodyModel::load(&model_dir, PrecisionChoice::Fp32).unwrap();
    let mhr = TorchScriptBody::load(&mhr_path).unwrap();
    let t = |key: &str| load_tensor(&refdir, &reference, key);
    let b: Vec<f64> = reference["box"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let person_box = [b[0], b[1], b[2], b[3]];

    // 1. The crop Carve makes from the photo, box and mask, against the official transforms (cv2).
    let photo = carve::Image::load(refdir.join("photo.png")).unwrap();
    let mask = carve::Mask::load_png(refdir.join("person_mask.png")).unwrap();
    let ours = model.crop_inputs(&photo, person_box, Some(&mask), None).unwrap();
    let affine = values(&t("affine"));
    let ours_affine: Vec<f64> = ours.crop_from_image.iter().flatten().copied().collect();
    let affine_err = affine.iter().zip(&ours_affine).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    let k = values(&t("cam_int"));
    let ours_k: Vec<f64> = ours.intrinsics.iter().flatten().copied().collect();
    let k_err = k.iter().zip(&ours_k).map(|(a, b)| (a - b).abs() / a.abs().max(1.0)).fold(0.0, f64::max);
    let crop_diff = (&ours.crop - t("crop")).abs();
    let (crop_mean, crop_max) = (crop_diff.mean(Kind::Double).double_value(&[]), crop_diff.max().double_value(&[]));
    let mask_agree = ours
        .mask
        .view([-1])
        .eq_tensor(&t("mask").view([-1]))
        .to_kind(Kind::Double)
        .mean(Kind::Double)
        .double_value(&[]);
    eprintln!(
        "crop vs official: affine {affine_err:.2e}, intrinsics {k_err:.2e} rel, pixels mean {:.3}/255 max {:.0}/255, \
         mask agreement {mask_agree:.5}",
        crop_mean * 255.0,
        crop_max * 255.0
    );
    assert!(affine_err < 1e-3 && k_err < 1e-6, "affine {affine_err}, intrinsics {k_err}");
    assert!(crop_mean * 255.0 < 0.5 && crop_max * 255.0 <= 3.0, "crop mean {crop_mean}, max {crop_max}");
    assert!(mask_agree > 0.995, "mask agreement {mask_agree}");

    // 2. Carve's loop on the official crop and batch equals the official eager model.
    let centre = values(&t("box_centre"));
    let scale = values(&t("box_scale"));
    let size = values(&t("image_size"));
    let inputs = CropInputs {
        crop: t("crop"),
        crop_from_image: [[affine[0], affine[1], affine[2]], [affine[3], affine[4], affine[5]]],
        intrinsics: [[k[0], k[1], k[2]], [k[3], k[4], k[5]], [k[6], k[7], k[8]]],
        box_centre_px: [centre[0], centre[1]],
        box_scale_px: [scale[0], scale[1]],
        image_size_px: [size[0], size[1]],
        mask: t("mask").view([1, 1, model.input_size as i64, model.input_size as i64]),
        mask_score: values(&t("mask_score"))[0] as f32,
    };
    let prediction = model.predict(&inputs, person_box, &mhr, &Progress::new()).unwrap();
    let mut worst_param = 0.0f64;
    for key in ["pred_pose_raw", "global_rot", "body_pose", "shape", "scale", "hand", "mhr_model_params", "pred_cam"] {
        let (got, want) = (values(prediction.get(key).unwrap()), values(&t(&format!("official_{key}"))));
        assert_eq!(got.len(), want.len(), "{key}");
        let scale = want.iter().fold(1e-6f64, |m, v| m.max(v.abs()));
        let err = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max) / scale;
        worst_param = worst_param.max(err);
        assert!(err <= 1e-4, "{key}: relative difference {err:e}");
    }
    let mut worst_m = 0.0f64;
    for key in ["pred_vertices", "pred_keypoints_3d", "pred_joint_coords", "pred_cam_t"] {
        let (got, want) = (values(prediction.get(key).unwrap()), values(&t(&format!("official_{key}"))));
        assert_eq!(got.len(), want.len(), "{key}");
        let err = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        worst_m = worst_m.max(err);
        assert!(err <= 1e-5, "{key}: {err:e} m");
    }
    let (got, want) = (values(prediction.get("pred_keypoints_2d").unwrap()), values(&t("official_pred_keypoints_2d")));
    let px = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    eprintln!(
        "Carve's loop vs official forward_step: parameters {worst_param:.2e} relative, 3D {worst_m:.2e} m, 2D {px:.2e} px"
    );
    assert!(px <= 1e-3, "2D keypoints {px} px");
    // A keypoint-prompt pass (two clicks) equals the official `run_keypoint_prompt`.
    let clicks = t("clicks");
    let prompted = model.predict_prompted_crop(&inputs, &prediction, &clicks, &mhr, &Progress::new()).unwrap();
    let mut worst_prompt = 0.0f64;
    for key in ["pred_pose_raw", "shape", "mhr_model_params", "pred_cam", "pred_vertices", "pred_keypoints_2d"] {
        let (got, want) = (values(prompted.get(key).unwrap()), values(&t(&format!("official_prompt_{key}"))));
        assert_eq!(got.len(), want.len(), "{key}");
        let scale = want.iter().fold(1e-6f64, |m, v| m.max(v.abs()));
        let err = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max) / scale;
        worst_prompt = worst_prompt.max(err);
        assert!(err <= 1e-5, "prompt pass {key}: relative difference {err:e}");
    }
    let clicked = (prompted.get("pred_vertices").unwrap() - prediction.get("pred_vertices").unwrap())
        .abs()
        .max()
        .double_value(&[]);
    eprintln!(
        "prompt pass (2 clicks) vs official run_keypoint_prompt: {worst_prompt:.2e} relative; moved the body {clicked:.2e} m"
    );
    assert!(clicked > 1e-6, "the clicks changed nothing");
    // The bf16 encoder (weights in bf16, autocast's graph): close to fp32, not equal.
    let bf16 = Sam3dBodyModel::load(&model_dir, PrecisionChoice::Bf16).unwrap();
    let p16 = bf16.predict(&inputs, person_box, &mhr, &Progress::new()).unwrap();
    let (got, want) = (values(p16.get("pred_vertices").unwrap()), values(&t("official_pred_vertices")));
    let bf16_m = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    let (got, want) = (values(p16.get("mhr_model_params").unwrap()), values(&t("official_mhr_model_params")));
    let scale = want.iter().fold(1e-6f64, |m, v| m.max(v.abs()));
    let bf16_rel = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max) / scale;
    eprintln!("bf16 encoder vs official fp32: vertices {bf16_m:.2e} m, parameters {bf16_rel:.2e} relative");
    assert!(bf16_m < 5e-3 && bf16_rel < 1e-2, "bf16: {bf16_m} m, {bf16_rel}");
    // A different mask changes the answer (the mask prompt reaches the network).
    // The clicks in photo pixels, for the command line below.
    let c = values(&clicks);
    let s_px = f64::from(model.input_size);
    let clicks_json = serde_json::json!({"keypoints": c.chunks_exact(3).map(|k| serde_json::json!({
        "keypoint": k[2] as usize,
        "x": (k[0] * s_px - affine[2]) / affine[0],
        "y": (k[1] * s_px - affine[5]) / affine[4],
    })).collect::<Vec<_>>()});
    let clicks_path = dir.path().join("clicks.json");
    std::fs::write(&clicks_path, clicks_json.to_string()).unwrap();
    let without = CropInputs { mask_score: 0.0, mask: Tensor::zeros_like(&inputs.mask), ..inputs };
    let other = model.predict(&without, person_box, &mhr, &Progress::new()).unwrap();
    let moved =
        (prediction.get("pred_vertices").unwrap() - other.get("pred_vertices").unwrap()).abs().max().double_value(&[]);
    assert!(moved > 1e-6, "the mask prompt changed nothing ({moved})");

    // 3. The command line: a GLB the Khronos validator accepts, with the LOD's vertex count, and
    // the official npz keys, read back by numpy (a second reader) and by `carve body import`.
    let out = dir.path().join("person.glb");
    let npz = dir.path().join("person.npz");
    // `carve body predict` on the reference photo, box and mask.
    let predict_cmd = || {
        let mut cmd = carve(dir.path());
        cmd.args(["body", "predict"])
            .arg(refdir.join("photo.png"))
            .arg("--box")
            .arg(format!("{},{},{},{}", b[0], b[1], b[2], b[3]))
            .arg("--mask")
            .arg(refdir.join("person_mask.png"))
            .arg("--models")
            .arg(&model_dir)
            .arg("--mhr")
            .arg(&mhr_path);
        cmd
    };
    let res = predict_cmd()
        .args(["--precision", "bf16", "--lod", "3", "--json", "--out"])
        .arg(&out)
        .arg("--npz")
        .arg(&npz)
        .arg("--keypoints")
        .arg(&clicks_path)
        .output()
        .unwrap();
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let s: serde_json::Value = serde_json::from_slice(&res.stdout).unwrap();
    assert_eq!(s["vertices"], carve::body::lod::LOD_VERTEX_COUNTS[3], "{s}");
    assert_eq!(s["clicks"], 2, "{s}");
    assert_eq!(s["precision"], "bf16", "{s}");
    let report =
        std::process::Command::new("node").arg(repo_root().join("tools/validate_gltf.mjs")).arg(&out).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(report["errors"], 0, "{report}");
    let keys = run_python(&[
        "-c".as_ref(),
        "import sys, numpy as np; z = np.load(sys.argv[1]); print(sorted(z.keys())); \
         print(z['pred_vertices'].shape, z['pred_keypoints_2d'].shape, z['focal_length'].shape)"
            .as_ref(),
        npz.as_os_str(),
    ]);
    for key in ["pred_vertices", "pred_keypoints_3d", "pred_cam_t", "mhr_model_params", "shape_params", "bbox"] {
        assert!(keys.contains(&format!("'{key}'")), "{key} missing: {keys}");
    }
    assert!(keys.contains("(18439, 3) (70, 2) ()"), "{keys}");
    let imported = carve::body::sam3d::Sam3dBody::load(&npz).unwrap();
    assert_eq!(imported.vertices_lod1.len(), 18_439);

    // --refine: Carve's fitting of the MHR-layout rig (the stand-in's own rig file, whose
    // evaluation is what mhr_model.pt traced) from the prediction, against the person mask.
    let refined_out = dir.path().join("refined.glb");
    let res = predict_cmd()
        .arg("--refine")
        .arg("--rig")
        .arg(mhr_path.with_file_name("mhr_standin.rig.safetensors"))
        .args(["--iterations", "80", "--lod", "4", "--json", "--out"])
        .arg(&refined_out)
        .output()
        .unwrap();
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let s: serde_json::Value = serde_json::from_slice(&res.stdout).unwrap();
    let (before, after) =
        (s["refine"]["silhouette_iou_before"].as_f64().unwrap(), s["refine"]["silhouette_iou_after"].as_f64().unwrap());
    eprintln!("--refine: silhouette IoU with the person mask {before:.3} (prediction) → {after:.3} (fitted)");
    // Random weights predict a small body far away: the fit must pull it onto the mask.
    assert!(after > before + 0.1, "{s}");
    assert_eq!(s["vertices"], carve::body::lod::LOD_VERTEX_COUNTS[4], "{s}");
    // --refine without --rig is refused by the parser; a rig of another layout is named.
    let e = {
        let res = carve(dir.path())
            .args(["body", "predict"])
            .arg(refdir.join("photo.png"))
            .args(["--box", "150,40,330,350", "--mask"])
            .arg(refdir.join("person_mask.png"))
            .arg("--models")
            .arg(&model_dir)
            .arg("--mhr")
            .arg(&mhr_path)
            .args(["--refine", "--rig", "demo", "--out"])
            .arg(dir.path().join("bad.glb"))
            .output()
            .unwrap();
        assert!(!res.status.success());
        String::from_utf8_lossy(&res.stderr).into_owned()
    };
    assert!(e.contains("MHR-layout") || e.contains("parameters"), "{e}");

    // 4. Bad input: one clear line each, no output written.
    let bad = |extra: &[&str], mhr: &Path| -> String {
        let res = carve(dir.path())
            .args(["body", "predict"])
            .arg(refdir.join("photo.png"))
            .args(extra)
            .arg("--models")
            .arg(&model_dir)
            .arg("--mhr")
            .arg(mhr)
            .arg("--out")
            .arg(dir.path().join("bad.glb"))
            .output()
            .unwrap();
        assert!(!res.status.success());
        assert!(!dir.path().join("bad.glb").exists());
        String::from_utf8_lossy(&res.stderr).into_owned()
    };
    let e = bad(&["--box", "900,900,950,950"], &mhr_path);
    assert!(e.contains("outside"), "{e}");
    let e = bad(&["--box", "10,10,12,12"], &mhr_path);
    assert!(e.contains("smaller than"), "{e}");
    // A keypoint index out of range, a click outside the crop.
    std::fs::write(&clicks_path, r#"{"keypoints": [{"keypoint": 70, "x": 240, "y": 200}]}"#).unwrap();
    let e = bad(&["--box", "150,40,330,350", "--keypoints", clicks_path.to_str().unwrap()], &mhr_path);
    assert!(e.contains("out of range") && e.contains("clicks.json"), "{e}");
    std::fs::write(&clicks_path, r#"{"keypoints": [{"keypoint": 3, "x": 5, "y": 5}]}"#).unwrap();
    let e = bad(&["--box", "150,40,330,350", "--keypoints", clicks_path.to_str().unwrap()], &mhr_path);
    assert!(e.contains("outside the person's crop"), "{e}");
    // A checkpoint without the model's keys: the export names what is missing and writes nothing.
    let ckpt = dir.path().join("empty.ckpt");
    run_python(&[
        "-c".as_ref(),
        "import sys, torch; torch.save({'state_dict': {'unrelated.weight': torch.zeros(1)}}, sys.argv[1])".as_ref(),
        ckpt.as_os_str(),
    ]);
    let vendor = repo_root().join("../shared/vendor");
    let res = std::process::Command::new(crate::common::python())
        .arg(repo_root().join("tools/export_sam3d_body.py"))
        .arg("--repo")
        .arg(vendor.join("sam-3d-body-repo"))
        .arg("--dinov3-repo")
        .arg(vendor.join("dinov3-repo"))
        .arg("--config")
        .arg(vendor.join("sam-3d-body-config/model_config.yaml"))
        .arg("--mhr")
        .arg(&mhr_path)
        .arg("--checkpoint")
        .arg(&ckpt)
        .args(["--tiny", "--out"])
        .arg(dir.path().join("from_bad_ckpt"))
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&res.stderr);
    assert!(!res.status.success() && e.contains("empty.ckpt") && e.contains("missing required keys"), "{e}");
    assert!(!dir.path().join("from_bad_ckpt/manifest.toml").exists());
    // A TorchScript file with another signature as MHR.
    let e = bad(&["--box", "150,40,330,350"], &model_dir.join("layer0.pt"));
    assert!(e.contains("layer0.pt"), "{e}");
}

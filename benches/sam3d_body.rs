//! SAM 3D Body through Carve's loop (`carve::body::predict`) at any size, against the official
//! eager model's answer written by the export (issue 16): the body branch on the official crop
//! and batch (fidelity: parameters relative to their largest value, vertices and keypoints in
//! metres), then timed — encoder and loop (six layers, six MHR calls) medians over RUNS.
//! `tools/bench_sam3d_body.py` runs this beside the official Python path in one script.
//!
//!     cargo bench --profile dev --bench sam3d_body -- MODEL_DIR MHR.pt REFERENCE_DIR [RUNS]
//!
//! MODEL_DIR and REFERENCE_DIR: `tools/export_sam3d_body.py --out MODEL_DIR --reference
//! REFERENCE_DIR` (full size or `--tiny`); MHR.pt: the `--mhr` it was given. libtorch uses its
//! default thread count unless `--threads N` follows.

use std::path::PathBuf;
use std::time::Instant;

use carve::body::predict::{CropInputs, Sam3dBodyModel};
use carve::body::torchscript::TorchScriptBody;
use carve::core::task::Progress;
use tch::{Kind, Tensor};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn values(t: &Tensor) -> anyhow::Result<Vec<f64>> {
    Ok(Vec::<f64>::try_from(t.to_kind(Kind::Double).contiguous().view([-1]))?)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let threads = args.iter().position(|a| a == "--threads").and_then(|i| args.get(i + 1)).and_then(|t| t.parse().ok());
    let positional: Vec<&String> = args
        .iter()
        .enumerate()
        .filter(|(i, a)| !a.starts_with("--") && (*i == 0 || args[i - 1] != "--threads"))
        .map(|(_, a)| a)
        .collect();
    let [model_dir, mhr, refdir] = match positional.as_slice() {
        [m, h, r, ..] => [PathBuf::from(m), PathBuf::from(h), PathBuf::from(r)],
        _ => {
            eprintln!(
                "usage: cargo bench --profile dev --bench sam3d_body -- MODEL_DIR MHR.pt REFERENCE_DIR [RUNS] [--threads N]"
            );
            return Ok(());
        }
    };
    let runs: usize = positional.get(3).and_then(|r| r.parse().ok()).unwrap_or(3);
    if let Some(n) = threads {
        tch::set_num_threads(n);
    }
    let reference: serde_json::Value = serde_json::from_slice(&std::fs::read(refdir.join("reference.json"))?)?;
    let load = |key: &str| -> anyhow::Result<Tensor> {
        let meta = &reference["tensors"][key];
        let shape: Vec<i64> = meta["shape"].as_array().into_iter().flatten().filter_map(|v| v.as_i64()).collect();
        let bytes = std::fs::read(refdir.join(meta["file"].as_str().unwrap_or_default()))?;
        let floats: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        Ok(Tensor::from_slice(&floats).view(shape.as_slice()))
    };
    let t0 = Instant::now();
    let model = Sam3dBodyModel::load(&model_dir, carve::model::precision::PrecisionChoice::Fp32)?;
    let mhr = TorchScriptBody::load(&mhr)?;
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let b: Vec<f64> = reference["box"].as_array().into_iter().flatten().filter_map(|v| v.as_f64()).collect();
    anyhow::ensure!(b.len() == 4, "reference.json has no box");
    let person_box = [b[0], b[1], b[2], b[3]];
    let (a, k) = (values(&load("affine")?)?, values(&load("cam_int")?)?);
    let (c, s, z) = (values(&load("box_centre")?)?, values(&load("box_scale")?)?, values(&load("image_size")?)?);
    let n = i64::from(model.input_size);
    let inputs = CropInputs {
        crop: load("crop")?,
        crop_from_image: [[a[0], a[1], a[2]], [a[3], a[4], a[5]]],
        intrinsics: [[k[0], k[1], k[2]], [k[3], k[4], k[5]], [k[6], k[7], k[8]]],
        box_centre_px: [c[0], c[1]],
        box_scale_px: [s[0], s[1]],
        image_size_px: [z[0], z[1]],
        mask: load("mask")?.view([1, 1, n, n]),
        mask_score: values(&load("mask_score")?)?[0] as f32,
    };
    let compare = |prediction: &carve::body::predict::Prediction| -> anyhow::Result<(f64, f64, f64)> {
        let mut rel = 0.0f64;
        for key in
            ["pred_pose_raw", "global_rot", "body_pose", "shape", "scale", "hand", "mhr_model_params", "pred_cam"]
        {
            let (got, want) = (values(prediction.get(key).expect("key"))?, values(&load(&format!("official_{key}"))?)?);
            let scale = want.iter().fold(1e-6f64, |m, v| m.max(v.abs()));
            rel = rel.max(got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max) / scale);
        }
        let mut metres = 0.0f64;
        for key in ["pred_vertices", "pred_keypoints_3d", "pred_joint_coords", "pred_cam_t"] {
            let (got, want) = (values(prediction.get(key).expect("key"))?, values(&load(&format!("official_{key}"))?)?);
            metres = metres.max(got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max));
        }
        let (got, want) =
            (values(prediction.get("pred_keypoints_2d").expect("key"))?, values(&load("official_pred_keypoints_2d")?)?);
        let px = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        Ok((rel, metres, px))
    };
    let progress = Progress::new();
    let (mut encode, mut looped) = (Vec::new(), Vec::new());
    let mut first = None;
    for _ in 0..runs.max(1) {
        let p = model.predict(&inputs, person_box, &mhr, &progress)?;
        encode.push(p.encode_ms);
        looped.push(p.loop_ms);
        first.get_or_insert(p);
    }
    let prediction = first.expect("one run");
    let (rel, metres, px) = compare(&prediction)?;
    // End to end: Carve's own crop of the photo (a bilinear warp like cv2's, not bit for bit).
    let photo = carve::Image::load(refdir.join("photo.png"))?;
    let mask = carve::Mask::load_png(refdir.join("person_mask.png"))?;
    let own = model.crop_inputs(&photo, person_box, Some(&mask), None)?;
    let (own_rel, own_metres, own_px) = compare(&model.predict(&own, person_box, &mhr, &progress)?)?;
    // The bf16 encoder, when the folder has one (timed and compared the same way).
    let name = model.name.clone();
    drop(model); // one encoder in memory at a time
    let bf16 = Sam3dBodyModel::load(&model_dir, carve::model::precision::PrecisionChoice::Bf16).ok();
    let mut bf16_row = serde_json::Value::Null;
    if let Some(m16) = &bf16 {
        let mut enc16 = Vec::new();
        let mut first16 = None;
        for _ in 0..runs.max(1) {
            let p = m16.predict(&inputs, person_box, &mhr, &progress)?;
            enc16.push(p.encode_ms);
            first16.get_or_insert(p);
        }
        let (r16, m16_err, px16) = compare(&first16.expect("one run"))?;
        println!(
            "bf16 encoder: median {:.0} ms {:?}; vs the official fp32 model: parameters {r16:.2e} relative, 3D {m16_err:.2e} m, 2D {px16:.2e} px",
            median(enc16.clone()),
            enc16.iter().map(|v| v.round()).collect::<Vec<_>>()
        );
        bf16_row = serde_json::json!({"encode_ms_median": median(enc16), "parameters_rel": r16, "metres": m16_err, "pixels": px16});
    }
    println!("model: {} ({})", name, model_dir.display());
    println!("threads: libtorch {}", tch::get_num_threads());
    println!("load (every piece + MHR): {load_ms:.0} ms");
    println!(
        "official crop: parameters {rel:.2e} relative, 3D {metres:.2e} m, 2D {px:.2e} px vs the official eager model"
    );
    println!("Carve's crop:  parameters {own_rel:.2e} relative, 3D {own_metres:.2e} m, 2D {own_px:.2e} px");
    println!(
        "encoder median {:.0} ms, loop (prepare + {} layers + MHR) median {:.0} ms, runs {:?} / {:?}",
        median(encode.clone()),
        6,
        median(looped.clone()),
        encode.iter().map(|v| v.round()).collect::<Vec<_>>(),
        looped.iter().map(|v| v.round()).collect::<Vec<_>>()
    );
    println!(
        "{}",
        serde_json::json!({
            "encode_ms_median": median(encode), "loop_ms_median": median(looped), "load_ms": load_ms,
            "parameters_rel": rel, "metres": metres, "pixels": px,
            "own_crop": {"parameters_rel": own_rel, "metres": own_metres, "pixels": own_px},
            "bf16": bf16_row,
            "threads": tch::get_num_threads(),
        })
    );
    Ok(())
}

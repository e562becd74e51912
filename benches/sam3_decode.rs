//! SAM 3 click decode with cached features, Carve (tch) vs Python (torch.jit) on the same exported
//! TorchScript, same machine, same run; plus one encoder run each. Goal: Carve adds ≤ 5 %.
//!
//!     cargo bench --profile dev --bench sam3_decode -- MODEL_DIR [--precision fp32|bf16|auto]
//!
//! MODEL_DIR is a folder made by `tools/export_sam3.py` (e.g. `--tiny`). The decoder inputs are the
//! raw tensors (a click at (600, 620) and a box in 1008 space), so both sides run the same graph on
//! the same shapes; Carve's side also includes its output conversion to host tensors.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use carve::model::precision::PrecisionChoice;
use carve::model::{ModelFolder, SearchOrigin};
use carve::segment::Segmenter;
use carve::segment::sam3::Sam3Segmenter;
use tch::{Kind, Tensor};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `MODEL_DIR`, the first argument that is neither a flag nor the value of `--precision`.
fn model_arg() -> Option<String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    args.iter()
        .enumerate()
        .find(|(i, a)| !a.starts_with('-') && (*i == 0 || args[i - 1] != "--precision"))
        .map(|(_, a)| a.clone())
}

/// `--precision fp32|bf16|auto` (default fp32, the exported model as it is).
fn precision_arg() -> PrecisionChoice {
    let args: Vec<String> = std::env::args().collect();
    let value = args.iter().position(|a| a == "--precision").and_then(|i| args.get(i + 1));
    match value.map(String::as_str) {
        Some("bf16") => PrecisionChoice::Bf16,
        Some("auto") => PrecisionChoice::Auto,
        _ => PrecisionChoice::Fp32,
    }
}

fn main() {
    let Some(model) = model_arg().map(PathBuf::from) else {
        eprintln!("usage: cargo bench --profile dev --bench sam3_decode -- MODEL_DIR [--precision fp32|bf16|auto]");
        return;
    };
    // Rounds alternate Python and Carve (ABAB…) so that machine noise hits both alike.
    const REPEAT: usize = 20;
    const ROUNDS: usize = 3;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().expect("temp dir");
    let python_round = || -> serde_json::Value {
        let py_json = tmp.path().join("python.json");
        let status = Command::new(root.join(".venv/bin/python"))
            .arg(root.join("tools/bench_sam3_python.py"))
            .arg(&model)
            .arg(&py_json)
            .args(["--repeat", &REPEAT.to_string()])
            .status()
            .expect("run tools/bench_sam3_python.py");
        assert!(status.success());
        serde_json::from_slice(&std::fs::read(&py_json).unwrap()).unwrap()
    };

    let folder = ModelFolder::inspect(&model, SearchOrigin::Explicit);
    let engine = Sam3Segmenter::load(&folder, precision_arg()).expect("load model");
    let image = (Tensor::rand([1, 3, 1008, 1008], (Kind::Float, tch::Device::Cpu)) * 2.0) - 1.0;
    let t0 = Instant::now();
    let features = engine.encode_tensor(&image).expect("encode");
    let encode_ms = t0.elapsed().as_secs_f64() * 1e3;
    let cases = [
        ("click_ms", Tensor::from_slice(&[600.0f32, 620.0]).view([1, 1, 2]), Tensor::from_slice(&[1i64]).view([1, 1])),
        (
            "box_ms",
            Tensor::from_slice(&[540.0f32, 460.0, 760.0, 760.0]).view([1, 2, 2]),
            Tensor::from_slice(&[2i64, 3]).view([1, 2]),
        ),
    ];
    for (_, coords, labels) in &cases {
        let _ = engine.decode_clicks(&features, coords, labels, None).expect("warm-up");
    }
    let mut ours: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    let mut theirs: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    let mut py_encode_ms = Vec::new();
    let mut py_threads = serde_json::Value::Null;
    for _ in 0..ROUNDS {
        let py = python_round();
        py_encode_ms.push(py["encode_ms"].as_f64().unwrap_or(f64::NAN));
        py_threads = py["threads"].clone();
        for (i, (name, coords, labels)) in cases.iter().enumerate() {
            theirs[i].extend(py[*name].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()));
            for _ in 0..REPEAT {
                let t0 = Instant::now();
                let out = engine.decode_clicks(&features, coords, labels, None).expect("decode");
                let _host = Vec::<f32>::try_from(&out.iou_scores.view([-1])).expect("scores");
                ours[i].push(t0.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    println!(
        "SAM 3 click decoder ({}), {ROUNDS} alternating rounds × {REPEAT} runs, torch threads: Carve {} / Python {py_threads}; \
         Carve's encoder precision: {}",
        model.display(),
        tch::get_num_threads(),
        engine.precision().as_str()
    );
    println!("{:<10} {:>14} {:>14} {:>8}", "", "Carve ms", "Python ms", "ratio");
    for (i, (name, _, _)) in cases.iter().enumerate() {
        let (a, b) = (median(ours[i].clone()), median(theirs[i].clone()));
        println!("{name:<10} {a:>14.2} {b:>14.2} {:>8.3}", a / b);
    }
    println!("encoder, one run: Carve {encode_ms:.0} ms, Python median {:.0} ms", median(py_encode_ms));

    // End to end as the user waits for it (Carve only): a click on the 1024×768 demo photo → three
    // masks at photo size (decoder, hole filling, upsampling, threshold, masks on the host).
    drop(features);
    let mut engine = engine;
    let photo = carve::core::demo::still_life();
    engine.set_image(&photo, &carve::Progress::new()).expect("set_image");
    let click = carve::Prompt {
        points: vec![carve::PointPrompt { x_px: 620.0, y_px: 480.0, label: carve::PointLabel::Positive }],
        ..Default::default()
    };
    let _ = engine.segment(&click, None).expect("warm-up");
    let times: Vec<f64> = (0..REPEAT)
        .map(|_| {
            let t0 = Instant::now();
            let masks = engine.segment(&click, None).expect("segment");
            assert!(!masks.is_empty());
            t0.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    println!(
        "click → 3 masks at {}×{}, end to end (Carve): median {:.2} ms over {REPEAT}",
        photo.width(),
        photo.height(),
        median(times)
    );
}

//! SAM 2.1 speed, Carve (tch, TorchScript export) beside the official Python `SAM2ImagePredictor`
//! (eager, same weights), same machine, same run: image encoding (pre-processing + encoder, what
//! `set_image` does) and one decode (prompt → masks at the photo size, what `predict` does).
//!
//!     cargo bench --profile dev --bench sam2_speed -- MODEL_DIR [PHOTO]
//!
//! MODEL_DIR: a folder made by `tools/export_sam2.py` with random weights (the Python side loads
//! its `random_weights.pt`). PHOTO defaults to the demo still life (1024×768). Rounds alternate
//! Python and Carve so that machine noise hits both alike. Goals (issue 18, tiny, this 2-core
//! machine): encoder ≤ 1.5 s, decode ≤ 30 ms.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use carve::core::image::Image;
use carve::model::precision::PrecisionChoice;
use carve::model::{ModelFolder, SearchOrigin};
use carve::segment::Segmenter;
use carve::segment::sam2::Sam2Segmenter;
use carve::{BoxPrompt, PointLabel, PointPrompt, Prompt};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() { f64::NAN } else { v[v.len() / 2] }
}

fn main() {
    // Positional arguments: every one that is neither a flag nor the value of `--precision`.
    let all: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<String> = all
        .iter()
        .enumerate()
        .filter(|(i, a)| !a.starts_with('-') && (*i == 0 || all[i - 1] != "--precision"))
        .map(|(_, a)| a.clone())
        .collect();
    let precision = match all.iter().position(|a| a == "--precision").and_then(|i| all.get(i + 1)).map(String::as_str) {
        Some("bf16") => PrecisionChoice::Bf16,
        Some("auto") => PrecisionChoice::Auto,
        _ => PrecisionChoice::Fp32,
    };
    let Some(model) = args.first().map(PathBuf::from) else {
        eprintln!(
            "usage: cargo bench --profile dev --bench sam2_speed -- MODEL_DIR [PHOTO] [--precision fp32|bf16|auto]"
        );
        return;
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let photo_path = args.get(1).map_or_else(|| root.join("assets/demo/still_life.jpg"), PathBuf::from);
    const ENCODES: usize = 3;
    const DECODES: usize = 20;
    const ROUNDS: usize = 2;
    let tmp = tempfile::tempdir().expect("temp dir");
    // Python reads the same pixels Carve decodes.
    let photo = Image::load(&photo_path).expect("photo");
    let png = tmp.path().join("photo.png");
    photo.save_png(&png).expect("write photo");
    let python_round = || -> serde_json::Value {
        let out = tmp.path().join("python.json");
        let status = Command::new(root.join(".venv/bin/python"))
            .arg(root.join("tools/bench_sam2_python.py"))
            .arg(&model)
            .arg(&png)
            .arg(&out)
            .args(["--encode-repeat", &ENCODES.to_string(), "--repeat", &DECODES.to_string()])
            .status()
            .expect("run tools/bench_sam2_python.py");
        assert!(status.success());
        serde_json::from_slice(&std::fs::read(&out).expect("python.json")).expect("json")
    };
    let values = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array().map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect()).unwrap_or_default()
    };

    let folder = ModelFolder::inspect(&model, SearchOrigin::Explicit);
    let mut engine = Sam2Segmenter::load(&folder, precision).expect("load model");
    let (w, h) = (photo.width() as f32, photo.height() as f32);
    let prompts = [
        (
            "click",
            Prompt {
                points: vec![PointPrompt { x_px: 0.6 * w, y_px: 0.62 * h, label: PointLabel::Positive }],
                ..Default::default()
            },
        ),
        (
            "box",
            Prompt {
                bbox: Some(BoxPrompt { x0_px: 0.53 * w, y0_px: 0.45 * h, x1_px: 0.76 * w, y1_px: 0.76 * h }),
                ..Default::default()
            },
        ),
    ];
    // Warm-up: TorchScript's first runs profile and optimise the graphs.
    let x = engine.preprocess(&photo).expect("preprocess");
    let _ = engine.encode_tensor(&x).expect("encode");
    engine.set_image(&photo, &carve::Progress::new()).expect("set_image");
    for (_, p) in &prompts {
        let _ = engine.segment(p, None);
    }

    let mut ours_encode = Vec::new();
    let mut theirs_encode = Vec::new();
    let mut ours: Vec<Vec<f64>> = vec![Vec::new(); prompts.len()];
    let mut theirs: Vec<Vec<f64>> = vec![Vec::new(); prompts.len()];
    let mut py_threads = serde_json::Value::Null;
    let mut masks = [0usize; 2];
    for _ in 0..ROUNDS {
        let py = python_round();
        py_threads = py["threads"].clone();
        theirs_encode.extend(values(&py["encode_ms"]));
        theirs[0].extend(values(&py["click_ms"]));
        theirs[1].extend(values(&py["box_ms"]));
        for _ in 0..ENCODES {
            let t0 = Instant::now();
            let x = engine.preprocess(&photo).expect("preprocess");
            let _features = engine.encode_tensor(&x).expect("encode");
            ours_encode.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        for (i, (_, prompt)) in prompts.iter().enumerate() {
            for _ in 0..DECODES {
                let t0 = Instant::now();
                let answer = engine.segment(prompt, None);
                ours[i].push(t0.elapsed().as_secs_f64() * 1e3);
                masks[i] = answer.map_or(0, |m| m.len());
            }
        }
    }
    println!(
        "SAM 2.1 ({}), photo {}×{}, {ROUNDS} alternating rounds × ({ENCODES} encodes, {DECODES} decodes per prompt), \
         torch threads: Carve {} / Python {py_threads}; Carve's encoder precision: {}",
        model.display(),
        photo.width(),
        photo.height(),
        tch::get_num_threads(),
        engine.precision().as_str()
    );
    println!("{:<34} {:>10} {:>12} {:>8}", "median", "Carve ms", "Python ms", "ratio");
    let row = |name: &str, a: f64, b: f64| println!("{name:<34} {a:>10.1} {b:>12.1} {:>8.3}", a / b);
    row("encode (set_image)", median(ours_encode), median(theirs_encode));
    row(&format!("click → {} masks (Python: 3)", masks[0]), median(ours[0].clone()), median(theirs[0].clone()));
    row(&format!("box → {} masks (Python: 1)", masks[1]), median(ours[1].clone()), median(theirs[1].clone()));
}

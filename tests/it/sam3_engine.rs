//! SAM 3 through tch, on the `--tiny` export of the official `sam3` package (random weights,
//! same architecture and interface): Carve's tokenizer, preprocessing and module calls equal the
//! Python outputs of the same TorchScript files to 1e-4; the engine answers clicks (3 hypotheses),
//! boxes and text (instances); the CLI uses it; a broken folder gives a clear error.
//!
//! The export (~1 min, ~3 GB RAM) is cached under `target/test-models/`, keyed by the scripts. It
//! runs the exporter's own cross-check with the official API (`Sam3Processor.set_image`,
//! `predict_inst`, `forward_grounding`) and fails the fixture when any check fails.
use crate::common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use carve::model::{ModelFolder, SearchOrigin};
use carve::segment::sam3::Sam3Segmenter;
use carve::segment::{SegmentError, Segmenter};
use carve::{BoxPrompt, PointLabel, PointPrompt, Prompt};
use tch::{Kind, Tensor};

pub(crate) struct Fixture {
    pub model: PathBuf,
    reference: PathBuf,
}

pub(crate) fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        use std::hash::{Hash, Hasher};
        let root = common::repo_root();
        let (export, reference) = (root.join("tools/export_sam3.py"), root.join("tools/sam3_reference.py"));
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::fs::read(&export).unwrap().hash(&mut h);
        std::fs::read(&reference).unwrap().hash(&mut h);
        std::fs::read(root.join("tools/torchscript_export.py")).unwrap().hash(&mut h);
        let dir = root.join("target/test-models").join(format!("sam3-tiny-{:016x}", h.finish()));
        let (model, refdir) = (dir.join("model"), dir.join("reference"));
        if !model.join("manifest.toml").exists() {
            let _ = std::fs::remove_dir_all(&model);
            common::run_python(&[export.as_os_str(), "--out".as_ref(), model.as_os_str(), "--tiny".as_ref()]);
        }
        if !refdir.join("reference.json").exists() {
            common::run_python(&[
                reference.as_os_str(),
                "--model".as_ref(),
                model.as_os_str(),
                "--out".as_ref(),
                refdir.as_os_str(),
            ]);
        }
        Fixture { model, reference: refdir }
    })
}

fn reference_json() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(fixture().reference.join("reference.json")).unwrap()).unwrap()
}

fn load_tensor(reference: &serde_json::Value, key: &str) -> Tensor {
    let meta = &reference["tensors"][key];
    let shape: Vec<i64> = meta["shape"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    let bytes = std::fs::read(fixture().reference.join(meta["file"].as_str().unwrap())).unwrap();
    match meta["dtype"].as_str().unwrap() {
        "float32" => {
            let v: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
            Tensor::from_slice(&v).view(shape.as_slice())
        }
        "int64" => {
            let v: Vec<i64> = bytes.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect();
            Tensor::from_slice(&v).view(shape.as_slice())
        }
        other => panic!("{key}: unexpected dtype {other}"),
    }
}

fn max_abs_diff(got: &Tensor, want: &Tensor) -> f64 {
    assert_eq!(got.size(), want.size(), "shape");
    (got.to_kind(Kind::Double) - want.to_kind(Kind::Double)).abs().max().double_value(&[])
}

fn engine() -> Sam3Segmenter {
    let folder = ModelFolder::inspect(&fixture().model, SearchOrigin::Explicit);
    assert!(folder.valid, "{:?}", folder.problems);
    Sam3Segmenter::load(&folder, carve::model::precision::PrecisionChoice::Fp32).unwrap()
}

#[test]
fn tokenizer_matches_python() {
    let reference = reference_json();
    let engine = engine();
    let cases = reference["tokenizer"]["cases"].as_array().unwrap();
    assert!(cases.len() >= 20);
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let want: Vec<i64> = case["ids"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
        assert_eq!(
            carve::model::clip_tokenizer::clean_lower(text),
            case["cleaned"].as_str().unwrap(),
            "cleaning {text:?}"
        );
        assert_eq!(engine.tokenizer().tokenize(text, 32), want, "ids of {text:?}");
    }
}

#[test]
fn modules_match_python_to_1e4() {
    let reference = reference_json();
    let engine = engine();
    let t = |key: &str| load_tensor(&reference, key);
    let features = engine.encode_tensor(&t("image")).unwrap();
    let encoder_outputs = [
        (&features.fpn[0], "fpn0"),
        (&features.fpn[1], "fpn1"),
        (&features.fpn[2], "fpn2"),
        (&features.sam_feat_s0, "sam_feat_s0"),
        (&features.sam_feat_s1, "sam_feat_s1"),
        (&features.sam_image_embed, "sam_image_embed"),
    ];
    for (got, key) in encoder_outputs {
        let d = max_abs_diff(got, &t(key));
        assert!(d <= 1e-4, "{key}: max |diff| {d}");
    }
    for case in ["click_point", "click_box", "click_mask"] {
        let has_mask = t(&format!("{case}.has_mask_input")).double_value(&[0]) > 0.5;
        let mask_input = t(&format!("{case}.mask_input"));
        let out = engine
            .decode_clicks(
                &features,
                &t(&format!("{case}.point_coords")),
                &t(&format!("{case}.point_labels")),
                has_mask.then_some(&mask_input),
            )
            .unwrap();
        for (got, name) in [
            (&out.masks, "masks"),
            (&out.iou_scores, "iou_scores"),
            (&out.object_score_logits, "object_score_logits"),
            (&out.single_mask, "single_mask"),
            (&out.single_iou, "single_iou_score"),
        ] {
            let d = max_abs_diff(got, &t(&format!("{case}.{name}")));
            assert!(d <= 1e-4, "{case}.{name}: max |diff| {d}");
        }
    }
    // Text: the ids Carve's tokenizer makes for "red ball" are the reference input.
    let ids = engine.tokenizer().tokenize("red ball", 32);
    assert!(Tensor::from_slice(&ids).view([1, 32]).equal(&t("token_ids")));
    let (text_features, text_mask) = engine.encode_text(&t("token_ids")).unwrap();
    assert!(max_abs_diff(&text_features, &t("text_features")) <= 1e-4);
    assert_eq!(max_abs_diff(&text_mask, &t("text_mask")), 0.0);
    let out = engine.ground(&features, &text_features, &text_mask).unwrap();
    for (got, key) in [
        (&out.logits, "pred_logits"),
        (&out.boxes, "pred_boxes"),
        (&out.masks, "pred_masks"),
        (&out.presence_logit, "presence_logit"),
    ] {
        let d = max_abs_diff(got, &t(key));
        assert!(d <= 1e-4, "{key}: max |diff| {d}");
    }
}

#[test]
fn preprocessing_matches_torchvision() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x.f32");
    let script = r#"
import sys, numpy as np, torch
from PIL import Image
from torchvision.transforms import v2
img = v2.functional.to_image(Image.open(sys.argv[1]).convert("RGB"))  # a PNG: same pixels as Carve's
t = v2.Compose([v2.ToDtype(torch.uint8, scale=True), v2.Resize(size=(1008, 1008)), v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean=[0.5]*3, std=[0.5]*3)])(img)
open(sys.argv[2], "wb").write(t.contiguous().numpy().astype("<f4").tobytes())
"#;
    // JPEG decoders differ by a grey level here and there: hand Python Carve's decoded pixels.
    let image = carve::core::demo::still_life();
    let image_path = tmp.path().join("demo.png");
    image.save_png(&image_path).unwrap();
    common::run_python(&["-c".as_ref(), script.as_ref(), image_path.as_os_str(), out.as_os_str()]);
    let want = Tensor::from_slice(&common::read_f32(&out)).view([1, 3, 1008, 1008]);
    let spec = carve::model::InputSpec { width: 1008, height: 1008, mean: [0.5; 3], std: [0.5; 3] };
    let got = carve::model::runtime::image_to_model_input(&image, &spec, carve::model::ComputeDevice::Cpu).unwrap();
    let d = max_abs_diff(&got, &want);
    assert!(d <= 1e-4, "max |diff| {d}");
}

#[test]
fn engine_answers_clicks_boxes_and_text() {
    let mut engine = engine();
    let image = carve::core::demo::still_life();
    engine.set_image(&image, &carve::Progress::new()).unwrap();
    let click = Prompt {
        points: vec![PointPrompt { x_px: 620.0, y_px: 480.0, label: PointLabel::Positive }],
        ..Default::default()
    };
    let masks = engine.segment(&click, None).unwrap();
    assert_eq!(masks.len(), 3, "one click gives three hypotheses");
    assert!(masks.windows(2).all(|w| w[0].score >= w[1].score), "best first");
    for m in &masks {
        assert_eq!((m.mask.width(), m.mask.height()), (1024, 768));
        assert!((0.0..=1.0).contains(&m.score));
    }
    // Refinement with the previous answer and a negative click; a box.
    let refine = Prompt {
        points: vec![click.points[0], PointPrompt { x_px: 300.0, y_px: 520.0, label: PointLabel::Negative }],
        ..Default::default()
    };
    assert!(!engine.segment(&refine, Some(&masks[0].mask)).unwrap().is_empty());
    let boxed = Prompt {
        bbox: Some(BoxPrompt { x0_px: 550.0, y0_px: 350.0, x1_px: 780.0, y1_px: 580.0 }),
        ..Default::default()
    };
    assert!(!engine.segment(&boxed, None).unwrap().is_empty());

    // Text: every instance above the threshold, with a label and a box in image pixels.
    engine.score_threshold = 0.0;
    let text = Prompt { text: Some("red ball".into()), ..Default::default() };
    let instances = engine.segment(&text, None).unwrap();
    assert_eq!(instances.len(), 200, "all queries pass a zero threshold");
    assert!(instances.windows(2).all(|w| w[0].score >= w[1].score));
    assert!(instances.iter().all(|m| m.label.as_deref() == Some("red ball") && m.box_xyxy.is_some()));
    let long = Prompt { text: Some("word ".repeat(40)), ..Default::default() };
    assert!(matches!(engine.segment(&long, None), Err(SegmentError::TextTooLong { .. })));
}

#[test]
fn cli_auto_picks_sam3_and_broken_folders_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("m.png");
    let image = common::repo_root().join("assets/demo/still_life.jpg");
    let result = common::carve(tmp.path())
        .arg("segment")
        .arg(&image)
        .args(["--point", "620,480", "--json", "--models"])
        .arg(&fixture().model)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let json: serde_json::Value = serde_json::from_slice(&result.stdout).unwrap();
    assert_eq!(json["engine"], "sam3");
    assert_eq!(json["masks"].as_array().unwrap().len(), 3);
    assert!(carve::Mask::load_png(&out).is_ok());

    // A folder whose click decoder (for a first click: `click_decoder_prepared`) is some other
    // TorchScript module.
    let broken = tmp.path().join("broken");
    copy_dir(&fixture().model, &broken);
    common::make_selftest_model(&tmp.path().join("selftest"));
    std::fs::copy(tmp.path().join("selftest/selftest.pt"), broken.join("click_decoder_prepared.pt")).unwrap();
    let result = common::carve(tmp.path())
        .arg("segment")
        .arg(&image)
        .args(["--point", "620,480", "--engine", "sam3", "--models"])
        .arg(&broken)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("carve: error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("click_decoder_prepared.pt"), "{stderr}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// The on-disk feature cache (`model::feature_store`), through the CLI as a user meets it: a
/// second `carve segment` of the same photo reads the features instead of running the encoder and
/// gives byte-identical masks; a damaged entry (a flipped byte, truncated, someone else's file) is
/// reported naming the entry, deleted and encoded again — never used; a cache folder that cannot
/// be written only warns; `CARVE_FEATURE_CACHE_MB=0` turns the cache off.
#[test]
fn feature_cache_skips_the_encoder_and_survives_bad_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let image = common::repo_root().join("assets/demo/still_life.jpg");
    let cache = tmp.path().join("cache");
    let entries_dir = cache.join("features");
    let run = |cache_dir: &Path, cap_mb: Option<&str>| -> (String, serde_json::Value, Vec<Vec<u8>>, String) {
        let masks_dir = tmp.path().join("masks");
        let _ = std::fs::remove_dir_all(&masks_dir);
        let mut cmd = common::carve(tmp.path());
        cmd.env("CARVE_CACHE_DIR", cache_dir).env_remove(carve::model::feature_store::CAP_ENV);
        if let Some(mb) = cap_mb {
            cmd.env(carve::model::feature_store::CAP_ENV, mb);
        }
        let result = cmd
            .arg("segment")
            .arg(&image)
            .args(["--point", "620,480", "--engine", "sam3", "--json", "--models"])
            .arg(&fixture().model)
            .arg("--out")
            .arg(tmp.path().join("best.png"))
            .arg("--all-masks")
            .arg(&masks_dir)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&result.stderr).into_owned();
        assert!(result.status.success(), "{stderr}");
        let json: serde_json::Value = serde_json::from_slice(&result.stdout).unwrap();
        let masks = (1..=json["masks"].as_array().unwrap().len())
            .map(|i| std::fs::read(masks_dir.join(format!("mask_{i:02}.png"))).unwrap())
            .collect();
        (json["features"].as_str().unwrap_or("missing").to_owned(), json["masks"].clone(), masks, stderr)
    };
    let entries = || -> Vec<PathBuf> {
        std::fs::read_dir(&entries_dir).map_or_else(|_| Vec::new(), |d| d.map(|e| e.unwrap().path()).collect())
    };

    let (source, summary, masks, _) = run(&cache, None);
    assert_eq!(source, "encoded");
    assert_eq!(masks.len(), 3);
    let stored = entries();
    assert_eq!(stored.len(), 1, "one entry per image and model: {stored:?}");
    let entry = stored[0].clone();

    let (source, summary2, masks2, _) = run(&cache, None);
    assert_eq!(source, "disk_cache", "the second open reads the features");
    assert_eq!((summary2, masks2), (summary.clone(), masks.clone()), "identical masks from cached features");

    let bytes = std::fs::read(&entry).unwrap();
    let mut flipped = bytes.clone();
    let at = bytes.len() - 1000;
    flipped[at] ^= 0x40;
    let truncated = bytes[..bytes.len() / 2].to_vec();
    let foreign = b"not a safetensors file at all".to_vec();
    for (what, damaged, reason) in
        [("flipped byte", flipped, "checksum"), ("truncated", truncated, ""), ("foreign", foreign, "")]
    {
        std::fs::write(&entry, &damaged).unwrap();
        let (source, summary3, masks3, stderr) = run(&cache, None);
        assert_eq!(source, "encoded", "{what}: a damaged entry is never used");
        assert!(
            stderr.contains("not a usable feature cache entry") && stderr.contains(&entry.display().to_string()),
            "{what}: the warning names the entry:\n{stderr}"
        );
        assert!(stderr.contains(reason), "{what}: {stderr}");
        assert_eq!((summary3, masks3), (summary.clone(), masks.clone()), "{what}: same masks after re-encoding");
        // Written again, whole (the header's metadata order may differ; the size may not).
        let len = std::fs::metadata(&entry).map(|m| m.len()).unwrap_or(0);
        assert_eq!(len, bytes.len() as u64, "{what}: the entry is written again");
    }
    assert_eq!(run(&cache, None).0, "disk_cache", "the rewritten entry is read");

    // Off: nothing read, nothing written.
    std::fs::remove_file(&entry).unwrap();
    let (source, _, masks4, _) = run(&cache, Some("0"));
    assert_eq!((source.as_str(), masks4), ("encoded", masks.clone()));
    assert!(entries().is_empty(), "CARVE_FEATURE_CACHE_MB=0 writes nothing");

    // A cache folder that cannot be created (a file is in the way): a warning, same masks.
    let blocked = tmp.path().join("blocked");
    std::fs::write(&blocked, b"a file, not a folder").unwrap();
    let (source, _, masks5, stderr) = run(&blocked, None);
    assert_eq!((source.as_str(), masks5), ("encoded", masks));
    assert!(stderr.contains("feature cache"), "{stderr}");
}

/// Issue 15: while photo k is labelled, the workbench encodes the next photos in the background
/// (`Workbench::preencode`); going to one then takes its features from memory (no encoder run),
/// and the first click's masks equal those of a fresh engine that encoded the photo itself.
#[test]
fn preencoded_photos_open_from_the_feature_cache() {
    use carve::app::workbench::Workbench;
    use carve::segment::FeatureSource;
    let dir = tempfile::tempdir().unwrap();
    let demo = carve::core::demo::still_life();
    let small = image::imageops::resize(demo.rgb(), 320, 240, image::imageops::FilterType::Triangle);
    let flipped = image::imageops::flip_horizontal(&small);
    let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
    small.save(&a).unwrap();
    flipped.save(&b).unwrap();
    let mut wb = Workbench::new(carve::Image::load(&a).unwrap(), Box::new(engine()));
    wb.wait();
    wb.preencode(vec![b.clone(), dir.path().join("missing.png")]);
    assert_eq!(wb.wait_preencode(), Some(Ok(2)), "a missing photo is left for when it is opened");
    wb.show_photo(carve::Image::load(&b).unwrap(), Vec::new());
    wb.wait();
    let source = wb.segmenter_handle().lock().unwrap().feature_source();
    assert_eq!(source, Some(FeatureSource::Memory));
    wb.click(200.0, 120.0, PointLabel::Positive);
    wb.wait();
    let mut fresh = engine();
    let image = carve::Image::load(&b).unwrap();
    fresh.set_image(&image, &carve::Progress::new()).unwrap();
    let prompt = Prompt {
        points: vec![PointPrompt { x_px: 200.0, y_px: 120.0, label: PointLabel::Positive }],
        ..Default::default()
    };
    let want = fresh.segment(&prompt, None).unwrap();
    assert_eq!(wb.masks.len(), 1);
    assert_eq!(wb.masks[0].mask, want[0].mask, "the same mask as from a fresh encode");
}

//! `carve body fit`: a rig fitted to a person mask (and optional 2D keypoints) in a photo, written
//! as a skinned GLB, with the silhouette IoU it reaches and an optional overlay.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use carve::body::{self, Evaluator};
use serde::Serialize;

use crate::args;
use crate::output::{self, Text};

#[derive(clap::Args)]
pub struct FitArgs {
    /// The photo.
    image: PathBuf,
    /// The person's mask (PNG, image size).
    #[arg(long, value_name = "PERSON.png")]
    mask: PathBuf,
    /// 2D keypoints: {"keypoints": [{"name": "l_wrist", "x": .., "y": .., "confidence": ..}]}.
    #[arg(long, value_name = "K.json")]
    keypoints: Option<PathBuf>,
    /// Rig file (.rig.safetensors); the demo rig by default.
    #[arg(long, value_name = "RIG")]
    rig: Option<PathBuf>,
    #[arg(long, default_value_t = 1, value_parser = args::lod)]
    lod: usize,
    /// Output skinned GLB of the fitted body.
    #[arg(long, value_name = "X.glb")]
    out: PathBuf,
    /// Focal length in pixels (default: the image diagonal, as SAM 3D Body assumes).
    #[arg(long)]
    focal: Option<f64>,
    #[arg(long, default_value_t = 400)]
    iterations: usize,
    /// Write the photo with the fitted body over it.
    #[arg(long, value_name = "OUT.png")]
    overlay: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

/// What `carve body fit --json` prints.
#[derive(Serialize)]
struct FitSummary<'a> {
    lod: usize,
    vertices: usize,
    triangles: usize,
    out: &'a Path,
    /// IoU of the fitted body's silhouette with the person mask.
    silhouette_iou: f64,
    keypoint_error_px: Option<f64>,
    iterations: usize,
    final_loss: Option<f32>,
    fit_ms: f64,
    camera: FitCamera,
    /// Model parameters by name.
    model_params: BTreeMap<&'a str, f32>,
    /// Identity (shape) parameters by name.
    identity: BTreeMap<&'a str, f32>,
}

/// The pinhole camera of the fit, in pixels, and the body's translation in it, in metres.
#[derive(Serialize)]
struct FitCamera {
    focal_px: f64,
    cx: f64,
    cy: f64,
    translation_m: [f32; 3],
}

pub fn run(a: &FitArgs) -> anyhow::Result<()> {
    let photo = carve::Image::load(&a.image)?;
    let mask = carve::Mask::load_png(&a.mask)?;
    anyhow::ensure!(
        mask.width() == photo.width() && mask.height() == photo.height(),
        "{}: the mask is {}×{}, the photo {}×{}",
        a.mask.display(),
        mask.width(),
        mask.height(),
        photo.width(),
        photo.height()
    );
    anyhow::ensure!(mask.area() > 0, "{}: the person mask is empty", a.mask.display());
    let rig = body::load_rig(a.rig.as_deref())?;
    let keypoints = match &a.keypoints {
        Some(p) => body::read_keypoints_json(p, &rig)?,
        None => Vec::new(),
    };
    let (w, h) = (f64::from(photo.width()), f64::from(photo.height()));
    let focal = a.focal.unwrap_or((w * w + h * h).sqrt());
    anyhow::ensure!(focal.is_finite() && focal > 0.0, "--focal must be a positive number of pixels");
    let k = body::sam3d::Intrinsics { focal_px: focal, cx: w / 2.0, cy: h / 2.0 };
    let options = body::fit::FitOptions { iterations: a.iterations, ..Default::default() };
    let start = std::time::Instant::now();
    let result = {
        let rig = rig.clone();
        let mask = mask.clone();
        crate::progress::run_with_terminal_progress("fitting", move |progress| {
            body::fit::fit(&rig, &mask, &keypoints, k, &options, progress)
        })?
    }?;
    let fit_ms = start.elapsed().as_secs_f64() * 1e3;
    let rig = Arc::new(rig);
    let mut outputs = carve::core::fs::OutputSet::new();
    let written = super::write_skinned(&outputs.stage(&a.out)?, rig.clone(), a.lod, &result.params)?;
    let mut ev = Evaluator::new(rig.clone(), a.lod)?;
    let posed = ev.evaluate(&result.params)?.to_vec();
    let camera_vertices = body::fit::rig_to_camera(&posed, rig.metres_per_unit, result.camera_translation);
    let fitted = body::sam3d::silhouette(&camera_vertices, &ev.lod.triangles, &k, photo.width(), photo.height());
    let silhouette_iou = fitted.iou(&mask);
    if let Some(path) = &a.overlay {
        let out = body::sam3d::overlay(photo.rgb(), &camera_vertices, &ev.lod.triangles, &k, &[], &[]);
        carve::Image::from_rgb(out).save_png(outputs.stage(path)?)?;
    }
    outputs.commit()?;
    let summary = FitSummary {
        lod: a.lod,
        vertices: written.vertices,
        triangles: written.triangles,
        out: &a.out,
        silhouette_iou,
        keypoint_error_px: result.keypoint_error_px,
        iterations: result.losses.len(),
        final_loss: result.losses.last().copied(),
        fit_ms,
        camera: FitCamera { focal_px: focal, cx: k.cx, cy: k.cy, translation_m: result.camera_translation },
        model_params: named(&rig.parameter_names, &result.params.model),
        identity: named(&rig.identity_names, &result.params.identity),
    };
    output::finish(a.json, &summary, |s| {
        Text::Stderr(format!(
            "fitted in {:.1} s: silhouette IoU {:.3} → {}",
            s.fit_ms / 1e3,
            s.silhouette_iou,
            s.out.display()
        ))
    })
}

/// Parameter values by name.
fn named<'n>(names: &'n [String], values: &[f32]) -> BTreeMap<&'n str, f32> {
    names.iter().map(String::as_str).zip(values.iter().copied()).collect()
}

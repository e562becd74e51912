//! `carve body predict`: a body from a photo and a person box (and mask) through SAM 3D Body
//! (`carve::body::predict`), written as a mesh at any LOD and, on request, the official `.npz`;
//! `--refine` then fits an MHR-layout rig from the prediction to the person mask
//! (`carve::body::fit` with the prediction as its start).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use carve::body::{self, lod, predict::Sam3dBodyModel, torchscript::TorchScriptBody};
use carve::model::{ModelKind, registry::first_valid};
use serde::Serialize;

use crate::args;
use crate::output::{self, Text};

#[derive(clap::Args)]
pub struct PredictArgs {
    /// The photo.
    image: PathBuf,
    /// The person's box, X0,Y0,X1,Y1 in pixels.
    #[arg(long = "box", value_name = "X0,Y0,X1,Y1", value_parser = args::bbox)]
    person_box: carve::BoxPrompt,
    /// The person's mask (PNG, image size): SAM 3D Body's mask prompt.
    #[arg(long, value_name = "PERSON.png")]
    mask: Option<PathBuf>,
    /// Keypoint clicks, {"keypoints": [{"keypoint": 0-69, "x": px, "y": px}]} (MHR70 order): a
    /// second pass with them as prompts, as the official `run_keypoint_prompt`.
    #[arg(long, value_name = "K.json")]
    keypoints: Option<PathBuf>,
    #[command(flatten)]
    models: args::ModelsArg,
    /// MHR as TorchScript (the official `mhr_model.pt`); default: `mhr_model.pt` in the SAM 3D
    /// Body model folder.
    #[arg(long, value_name = "mhr_model.pt")]
    mhr: Option<PathBuf>,
    /// Encoder precision: auto = bf16 where the CPU has AMX or AVX-512-BF16 and the folder has
    /// `encoder_bf16`, else fp32.
    #[arg(long, value_enum, default_value = "auto")]
    precision: carve::model::precision::PrecisionChoice,
    /// Focal length in pixels (default: the image diagonal, as SAM 3D Body assumes).
    #[arg(long)]
    focal: Option<f64>,
    #[arg(long, default_value_t = 1, value_parser = args::lod)]
    lod: usize,
    /// Output mesh (.glb or .ply), metres, glTF axes (y up).
    #[arg(long, value_name = "X.glb")]
    out: PathBuf,
    /// Also write the official estimator's output keys (.npz), for `carve body import` and others
    /// (the network's answer, before --refine).
    #[arg(long, value_name = "OUT.npz")]
    npz: Option<PathBuf>,
    /// Refine the prediction with Carve's fitting against --mask: the rig (--rig, MHR's layout:
    /// 204 model and 45 identity parameters, e.g. the official MHR through tools/convert_mhr.py)
    /// starts at the predicted parameters and camera translation.
    #[arg(long, requires_all = ["rig", "mask"])]
    refine: bool,
    /// The MHR-layout rig file (.rig.safetensors) that --refine fits.
    #[arg(long, value_name = "RIG")]
    rig: Option<PathBuf>,
    /// Fitting iterations for --refine.
    #[arg(long, default_value_t = 150)]
    iterations: usize,
    #[arg(long)]
    json: bool,
}

/// `--keypoints` file.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ClicksFile {
    keypoints: Vec<ClickRow>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ClickRow {
    keypoint: usize,
    x: f64,
    y: f64,
}

fn read_clicks(path: &Path) -> anyhow::Result<Vec<body::predict::Click>> {
    let text = carve::core::fs::read_input_string(path, carve::core::fs::InputLimit::Document)?;
    let file: ClicksFile =
        serde_json::from_str(&text).with_context(|| format!("{}: not a keypoints file", path.display()))?;
    anyhow::ensure!(!file.keypoints.is_empty(), "{}: no keypoints", path.display());
    file.keypoints
        .iter()
        .map(|k| {
            anyhow::ensure!(
                k.x.is_finite() && k.y.is_finite() && k.x.abs() <= 1e6 && k.y.abs() <= 1e6,
                "{}: keypoint {} at ({}, {}) is not a pixel position",
                path.display(),
                k.keypoint,
                k.x,
                k.y
            );
            Ok(body::predict::Click { keypoint: k.keypoint, x_px: k.x, y_px: k.y })
        })
        .collect()
}

/// What `carve body predict --json` prints.
#[derive(Serialize)]
struct PredictSummary<'a> {
    model: String,
    /// The encoder's precision ("fp32", "bf16").
    precision: &'static str,
    lod: usize,
    vertices: usize,
    triangles: usize,
    out: &'a Path,
    npz: Option<&'a Path>,
    focal_px: f64,
    /// Camera translation of the body, metres (OpenCV axes).
    cam_t: [f32; 3],
    keypoints: usize,
    /// Keypoint clicks given as prompts (a second pass when any).
    clicks: usize,
    encode_ms: f64,
    loop_ms: f64,
    refine: Option<Refined>,
}

/// What `--refine` did: the silhouette IoU with the person mask before (the prediction, through
/// the rig) and after the fit.
#[derive(Serialize)]
struct Refined {
    silhouette_iou_before: f64,
    silhouette_iou_after: f64,
    iterations: usize,
    fit_ms: f64,
    translation_m: [f32; 3],
}

pub fn run(a: &PredictArgs) -> anyhow::Result<()> {
    let models = a.models.discover()?;
    let folder = first_valid(&models, &ModelKind::Sam3dBody).with_context(|| {
        "no SAM 3D Body model found (a folder with kind = \"sam3d_body\"); make one with tools/export_sam3d_body.py \
         and name it with --models DIR"
            .to_owned()
    })?;
    let model = Sam3dBodyModel::load(&folder.path, a.precision)?;
    let mhr_path = a.mhr.clone().unwrap_or_else(|| folder.path.join("mhr_model.pt"));
    anyhow::ensure!(
        mhr_path.is_file(),
        "{}: no MHR model (the official mhr_model.pt); name it with --mhr",
        mhr_path.display()
    );
    let mhr = TorchScriptBody::load(&mhr_path)?;
    let photo = carve::Image::load(&a.image)?;
    let mask = a.mask.as_ref().map(carve::Mask::load_png).transpose()?;
    let b = &a.person_box;
    let person_box = [b.x0_px, b.y0_px, b.x1_px, b.y1_px].map(f64::from);
    let inputs = model
        .crop_inputs(&photo, person_box, mask.as_ref(), a.focal)
        .with_context(|| format!("{}", a.image.display()))?;
    let clicks = a.keypoints.as_deref().map(read_clicks).transpose()?.unwrap_or_default();
    let progress = carve::core::task::Progress::new();
    let mut prediction = model.predict(&inputs, person_box, &mhr, &progress)?;
    if !clicks.is_empty() {
        let (encode_ms, first_loop_ms) = (prediction.encode_ms, prediction.loop_ms);
        let keypoints = a.keypoints.as_deref().unwrap_or(Path::new("--keypoints"));
        prediction = model
            .predict_prompted(&inputs, &prediction, &clicks, &mhr, &progress)
            .with_context(|| format!("{}", keypoints.display()))?;
        // Both passes' loops; the encoder ran once.
        prediction.encode_ms = encode_ms;
        prediction.loop_ms += first_loop_ms;
    }
    let person = prediction.to_body()?;
    let data = lod::MhrLods::embedded();
    let (mut gltf_vertices, refine) = match (&a.refine, &a.rig, &mask) {
        (true, Some(rig), Some(mask)) => {
            let k = &inputs.intrinsics;
            let k = body::sam3d::Intrinsics { focal_px: k[0][0], cx: k[0][2], cy: k[1][2] };
            let (vertices, refined) = refine(&prediction, &person, rig, mask, k, a)?;
            (vertices, Some(refined))
        }
        _ => (person.vertices(a.lod)?, None),
    };
    body::sam3d::opencv_to_gltf(&mut gltf_vertices);
    let mesh = body::export::body_mesh(gltf_vertices, data.triangles(a.lod)?);
    // The mesh and the npz together or not at all.
    let mut outputs = carve::core::fs::OutputSet::new();
    body::write_mesh(&outputs.stage(&a.out)?, &mesh)?;
    if let Some(npz) = &a.npz {
        prediction.write_npz(&outputs.stage(npz)?)?;
    }
    outputs.commit()?;
    let summary = PredictSummary {
        model: model.name.clone(),
        precision: model.precision.as_str(),
        lod: a.lod,
        vertices: mesh.positions.len(),
        triangles: mesh.triangle_count(),
        out: &a.out,
        npz: a.npz.as_deref(),
        focal_px: prediction.focal_px,
        cam_t: person.cam_t,
        keypoints: person.keypoints_2d.len(),
        clicks: clicks.len(),
        encode_ms: prediction.encode_ms,
        loop_ms: prediction.loop_ms,
        refine,
    };
    output::finish(a.json, &summary, |s| {
        Text::Stderr(format!(
            "{}: LOD {}, {} vertices, {} triangles → {} (encoder {:.0} ms, loop {:.0} ms)",
            s.model,
            s.lod,
            s.vertices,
            s.triangles,
            s.out.display(),
            s.encode_ms,
            s.loop_ms
        ))
    })
}

/// Fits the MHR-layout rig `rig_path` to `mask`, starting from the prediction; returns the fitted
/// body's vertices at `a.lod` (camera frame, metres) and what the fit did.
fn refine(
    prediction: &body::predict::Prediction,
    person: &body::sam3d::Sam3dBody,
    rig_path: &Path,
    mask: &carve::Mask,
    k: body::sam3d::Intrinsics,
    a: &PredictArgs,
) -> anyhow::Result<(Vec<[f32; 3]>, Refined)> {
    let rig = std::sync::Arc::new(body::load_rig(Some(rig_path))?);
    let values = |name: &str| -> anyhow::Result<Vec<f32>> {
        let t = prediction.get(name).with_context(|| format!("the prediction has no '{name}'"))?;
        Ok(Vec::<f32>::try_from(t.to_kind(tch::Kind::Float).contiguous().view([-1]))?)
    };
    let start = body::fit::FitStart {
        model: values("mhr_model_params")?,
        identity: values("shape")?,
        translation_m: person.cam_t,
    };
    anyhow::ensure!(
        rig.base_lod == 1 && rig.vertex_count() == lod::LOD_VERTEX_COUNTS[1],
        "{}: --refine needs an MHR-layout rig (base LOD 1 with {} vertices)",
        rig_path.display(),
        lod::LOD_VERTEX_COUNTS[1]
    );
    let (w, h) = (mask.width(), mask.height());
    let data = lod::MhrLods::embedded();
    let lod1_triangles = data.triangles(1)?;
    // The rig at its base LOD (MHR's LOD 1) in the camera frame; other LODs by the official maps.
    let silhouette_iou = |params: &body::BodyParams, t: [f32; 3]| -> anyhow::Result<(f64, Vec<[f32; 3]>)> {
        let mut ev = body::Evaluator::new(rig.clone(), 1)?;
        let posed = ev.evaluate(params)?.to_vec();
        let camera = body::fit::rig_to_camera(&posed, rig.metres_per_unit, t);
        let iou = body::sam3d::silhouette(&camera, lod1_triangles, &k, w, h).iou(mask);
        Ok((iou, data.vertices(&camera, a.lod)?))
    };
    let before = body::BodyParams {
        model: start.model.clone(),
        identity: start.identity.clone(),
        expression: vec![0.0; rig.expression_names.len()],
    };
    let (iou_before, _) = silhouette_iou(&before, start.translation_m)?;
    let options = body::fit::FitOptions { iterations: a.iterations, start: Some(start), ..Default::default() };
    let started = std::time::Instant::now();
    let result = {
        let (rig, mask) = (rig.clone(), mask.clone());
        crate::progress::run_with_terminal_progress("refining", move |progress| {
            body::fit::fit(&rig, &mask, &Vec::new(), k, &options, progress)
        })?
    }?;
    let fit_ms = started.elapsed().as_secs_f64() * 1e3;
    let (iou_after, vertices) = silhouette_iou(&result.params, result.camera_translation)?;
    Ok((
        vertices,
        Refined {
            silhouette_iou_before: iou_before,
            silhouette_iou_after: iou_after,
            iterations: result.losses.len(),
            fit_ms,
            translation_m: result.camera_translation,
        },
    ))
}

//! `carve body predict`: a body from a photo and a person box (and mask) through SAM 3D Body
//! (`carve::body::predict`), written as a mesh at any LOD and, on request, the official `.npz`.

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
    #[command(flatten)]
    models: args::ModelsArg,
    /// MHR as TorchScript (the official `mhr_model.pt`); default: `mhr_model.pt` in the SAM 3D
    /// Body model folder.
    #[arg(long, value_name = "mhr_model.pt")]
    mhr: Option<PathBuf>,
    /// Focal length in pixels (default: the image diagonal, as SAM 3D Body assumes).
    #[arg(long)]
    focal: Option<f64>,
    #[arg(long, default_value_t = 1, value_parser = args::lod)]
    lod: usize,
    /// Output mesh (.glb or .ply), metres, glTF axes (y up).
    #[arg(long, value_name = "X.glb")]
    out: PathBuf,
    /// Also write the official estimator's output keys (.npz), for `carve body import` and others.
    #[arg(long, value_name = "OUT.npz")]
    npz: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

/// What `carve body predict --json` prints.
#[derive(Serialize)]
struct PredictSummary<'a> {
    model: String,
    lod: usize,
    vertices: usize,
    triangles: usize,
    out: &'a Path,
    npz: Option<&'a Path>,
    focal_px: f64,
    /// Camera translation of the body, metres (OpenCV axes).
    cam_t: [f32; 3],
    keypoints: usize,
    encode_ms: f64,
    loop_ms: f64,
}

pub fn run(a: &PredictArgs) -> anyhow::Result<()> {
    let models = a.models.discover()?;
    let folder = first_valid(&models, &ModelKind::Sam3dBody).with_context(|| {
        "no SAM 3D Body model found (a folder with kind = \"sam3d_body\"); make one with tools/export_sam3d_body.py \
         and name it with --models DIR"
            .to_owned()
    })?;
    let model = Sam3dBodyModel::load(&folder.path)?;
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
    let progress = carve::core::task::Progress::new();
    let prediction = model.predict(&inputs, person_box, &mhr, &progress)?;
    let person = prediction.to_body()?;
    let data = lod::MhrLods::embedded();
    let mut gltf_vertices = person.vertices(a.lod)?;
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
        lod: a.lod,
        vertices: mesh.positions.len(),
        triangles: mesh.triangle_count(),
        out: &a.out,
        npz: a.npz.as_deref(),
        focal_px: prediction.focal_px,
        cam_t: person.cam_t,
        keypoints: person.keypoints_2d.len(),
        encode_ms: prediction.encode_ms,
        loop_ms: prediction.loop_ms,
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

//! `carve body pose`: a TorchScript body model (the official `mhr_model.pt`, or one with its
//! signature) posed through libtorch, written at any LOD through the official maps.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use carve::body::torchscript::{MHR_EXPRESSION, MHR_IDENTITY, MHR_MODEL, TorchScriptBody};
use carve::body::{self, lod};
use serde::{Deserialize, Serialize};

use crate::args;
use crate::output::{self, Text};

#[derive(clap::Args)]
pub struct PoseArgs {
    /// TorchScript model: forward(identity [1,n], model [1,p], expression [1,m]) → (vertices [1,18439,3] cm, …).
    #[arg(long, value_name = "mhr_model.pt")]
    model: PathBuf,
    /// Parameters: {"identity": [...], "model": [...], "expression": [...]} (default: MHR's 45/204/72 zeros).
    #[arg(long, value_name = "PARAMS.json")]
    params: Option<PathBuf>,
    #[arg(long, default_value_t = 1, value_parser = args::lod)]
    lod: usize,
    /// Output mesh (.glb or .ply), metres, y up.
    #[arg(long, value_name = "X.glb")]
    out: PathBuf,
    #[arg(long)]
    json: bool,
}

/// The `--params` file: each list replaces MHR's zeros; a missing (or null) list keeps them; other
/// keys are ignored.
#[derive(Debug, Default, Deserialize)]
struct PoseParams {
    identity: Option<Vec<f32>>,
    model: Option<Vec<f32>>,
    expression: Option<Vec<f32>>,
}

impl PoseParams {
    fn read(path: &Path) -> anyhow::Result<Self> {
        let text = carve::core::fs::read_input_string(path, carve::core::fs::InputLimit::Document)?;
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{}: expected {{\"identity\": [...], \"model\": [...], \"expression\": [...]}} with lists of numbers",
                path.display()
            )
        })
    }
}

/// What `carve body pose --json` prints.
#[derive(Serialize)]
struct PoseSummary<'a> {
    lod: usize,
    vertices: usize,
    triangles: usize,
    joints: usize,
    out: &'a Path,
}

pub fn run(a: &PoseArgs) -> anyhow::Result<()> {
    let params = match &a.params {
        Some(path) => PoseParams::read(path)?,
        None => PoseParams::default(),
    };
    let identity = params.identity.unwrap_or_else(|| vec![0.0; MHR_IDENTITY]);
    let model = params.model.unwrap_or_else(|| vec![0.0; MHR_MODEL]);
    let expression = params.expression.unwrap_or_else(|| vec![0.0; MHR_EXPRESSION]);
    let body = TorchScriptBody::load(&a.model)?;
    let out = body.evaluate(&identity, &model, &expression)?;
    let data = lod::MhrLods::embedded();
    anyhow::ensure!(
        out.vertices.len() == data.rest_lod1.len(),
        "{}: the model gave {} vertices, MHR LOD 1 has {}",
        a.model.display(),
        out.vertices.len(),
        data.rest_lod1.len()
    );
    // Centimetres → metres; the model's frame is already y up.
    let lod1: Vec<[f32; 3]> = out.vertices.iter().map(|p| [p[0] * 0.01, p[1] * 0.01, p[2] * 0.01]).collect();
    let vertices = data.vertices(&lod1, a.lod)?;
    let mesh = body::export::body_mesh(vertices, data.triangles(a.lod)?);
    body::write_mesh(&a.out, &mesh)?;
    let summary = PoseSummary {
        lod: a.lod,
        vertices: mesh.positions.len(),
        triangles: mesh.triangle_count(),
        joints: out.joint_translations.len(),
        out: &a.out,
    };
    output::finish(a.json, &summary, |s| {
        Text::Stderr(format!("LOD {}: {} vertices → {}", s.lod, s.vertices, s.out.display()))
    })
}

//! `carve body …`: MHR-layout body rigs from the command line (import a SAM 3D Body output, the
//! demo rig, fitting to a person mask, LOD counts, rig files, a TorchScript body model). Every step
//! calls `carve::body`; one file per subcommand.
//!
//! The `body` subcommands spell `--json` and `--lod` as plain fields: unlike the pipeline
//! subcommands they have never shown a help line for them, and `--help` stays as it was.

mod demo;
mod fit;
mod import;
mod lods;
mod pose;
mod predict;
mod save_rig;

use std::path::Path;
use std::sync::Arc;

use carve::body::{self, BodyParams, Evaluator};

#[derive(clap::Subcommand)]
pub enum BodyCommand {
    /// Import a SAM 3D Body output (.npz): the posed body at any LOD, its camera, an overlay.
    Import(import::ImportArgs),
    /// Export the built-in demo rig, skinned, as a GLB.
    Demo(demo::DemoArgs),
    /// Fit a rig to a person mask (and optional 2D keypoints) in a photo.
    Fit(fit::FitArgs),
    /// Vertex and triangle counts per LOD.
    Lods(lods::LodsArgs),
    /// Write a rig file (.rig.safetensors): the demo rig, or a copy of --rig.
    SaveRig(save_rig::SaveRigArgs),
    /// Pose a TorchScript body model (the official mhr_model.pt, or one with its signature)
    /// through libtorch; any LOD through the official maps.
    Pose(pose::PoseArgs),
    /// A body from a photo and a person box (and mask) through SAM 3D Body (a model folder made
    /// by tools/export_sam3d_body.py) and MHR: a mesh at any LOD and the official .npz.
    Predict(predict::PredictArgs),
}

pub fn run(command: &BodyCommand) -> anyhow::Result<()> {
    match command {
        BodyCommand::Import(args) => import::run(args),
        BodyCommand::Demo(args) => demo::run(args),
        BodyCommand::Fit(args) => fit::run(args),
        BodyCommand::Lods(args) => lods::run(args),
        BodyCommand::SaveRig(args) => save_rig::run(args),
        BodyCommand::Pose(args) => pose::run(args),
        BodyCommand::Predict(args) => predict::run(args),
    }
}

/// Vertex and triangle counts of a written body.
struct Written {
    vertices: usize,
    triangles: usize,
}

/// Writes `rig` posed by `params` at `lod`: a skinned `.glb`, or the posed mesh in metres as `.ply`.
fn write_skinned(path: &Path, rig: Arc<body::Rig>, lod: usize, params: &BodyParams) -> anyhow::Result<Written> {
    let mut ev = Evaluator::new(rig, lod)?;
    let (mesh, skin) = body::export::skinned_export(&mut ev, params, true)?;
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("glb") => carve::io::gltf::write_skinned_glb(path, &mesh, &skin)?,
        // PLY has no skeleton: the posed mesh, in metres.
        Some("ply") => {
            let m = ev.rig.metres_per_unit;
            let posed = ev.vertices().iter().map(|p| [p[0] * m, p[1] * m, p[2] * m]).collect();
            body::write_mesh(path, &body::export::body_mesh(posed, &ev.lod.triangles))?;
        }
        _ => anyhow::bail!("{}: the output must end in .glb (skinned) or .ply (posed mesh)", path.display()),
    }
    Ok(Written { vertices: mesh.positions.len(), triangles: mesh.triangle_count() })
}

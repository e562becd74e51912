//! Body rigs in the MHR (Momentum Human Rig) layout: the rig file format, native evaluation
//! (blendshapes → forward kinematics → pose correctives → linear blend skinning), the seven
//! levels of detail from the official barycentric maps, SAM 3D Body import, fitting with tch,
//! and the built-in demo rig.

pub mod demo_rig;
pub mod eval;
pub mod export;
pub mod fit;
pub mod lod;
pub mod manifold;
pub mod predict;
pub mod rig;
mod rig_file;
pub mod sam3d;
pub mod torchscript;
pub mod triangulate;

pub use eval::Evaluator;
pub use rig::{BodyParams, Rig};

use std::path::PathBuf;

/// Errors from body rigs and body files; file errors name the file.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    #[error("{0}")]
    Npz(#[from] crate::io::npz::NpzError),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Write(#[from] crate::core::fs::FileError),
    #[error(transparent)]
    Manifold(#[from] manifold::ManifoldError),
    #[error(transparent)]
    Cancelled(#[from] crate::core::task::Cancelled),
}

/// The rig named on the command line or in the UI: a `.rig.safetensors` file, or the built-in
/// demo rig when `None` or `"demo"`.
pub fn load_rig(path: Option<&std::path::Path>) -> Result<Rig, BodyError> {
    match path {
        None => demo_rig::demo_rig(),
        Some(p) if p.as_os_str() == "demo" => demo_rig::demo_rig(),
        Some(p) => Rig::load(p),
    }
}

/// Writes a body mesh as `.glb` (glTF) or `.ply`, chosen by the extension.
pub fn write_mesh(path: &std::path::Path, mesh: &crate::core::geometry::Mesh) -> Result<(), BodyError> {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("glb") => crate::io::gltf::write_glb(path, mesh)?,
        Some("ply") => crate::io::ply::write_mesh_ply(path, mesh)?,
        _ => {
            return Err(BodyError::File {
                path: path.to_owned(),
                message: "the output must end in .glb or .ply".into(),
            });
        }
    }
    Ok(())
}

/// A keypoints file, as read: `{"keypoints": [{"name": "l_wrist", "x": 10, "y": 20,
/// "confidence": 1}]}` (confidence optional, 1 by default).
#[derive(Debug, serde::Deserialize)]
pub struct KeypointsFile {
    pub keypoints: Vec<KeypointEntry>,
}

/// One named 2D keypoint in pixels.
#[derive(Debug, serde::Deserialize)]
pub struct KeypointEntry {
    pub name: String,
    pub x: f64,
    pub y: f64,
    #[serde(default = "one")]
    pub confidence: f64,
}

fn one() -> f64 {
    1.0
}

/// Reads 2D keypoints for fitting ([`KeypointsFile`]) with names from the rig's keypoint joints.
pub fn read_keypoints_json(path: &std::path::Path, rig: &Rig) -> Result<fit::Keypoints2d, BodyError> {
    let bad = |m: String| BodyError::File { path: path.to_owned(), message: m };
    let text = crate::core::fs::read_input_string(path, crate::core::fs::InputLimit::Document)
        .map_err(|e| bad(e.source.to_string()))?;
    let file: KeypointsFile = serde_json::from_str(&text)
        .map_err(|e| bad(format!("not a keypoints file ({{\"keypoints\": [{{\"name\", \"x\", \"y\"}}]}}): {e}")))?;
    let mut out = Vec::new();
    for k in &file.keypoints {
        let name = k.name.as_str();
        let index = rig
            .keypoint_joints
            .iter()
            .position(|&j| rig.joint_names[j as usize] == name)
            .ok_or_else(|| bad(format!("keypoint '{name}' is not one of the rig's keypoints")))?;
        if !(k.x.is_finite() && k.y.is_finite() && k.confidence.is_finite()) {
            return Err(bad(format!("keypoint '{name}' is not finite")));
        }
        // Pixel positions of a photo (a keypoint may lie a little outside it), not 1e38.
        if k.x.abs() > 1e6 || k.y.abs() > 1e6 {
            return Err(bad(format!("keypoint '{name}' at ({}, {}) is not a pixel position", k.x, k.y)));
        }
        if !(0.0..=1.0).contains(&k.confidence) {
            return Err(bad(format!("keypoint '{name}' has confidence {}, expected 0 to 1", k.confidence)));
        }
        out.push((index, [k.x as f32, k.y as f32], k.confidence as f32));
    }
    Ok(out)
}

//! Body rigs in the MHR (Momentum Human Rig) layout: the rig file format, native evaluation
//! (blendshapes → forward kinematics → pose correctives → linear blend skinning), the seven
//! levels of detail from the official barycentric maps, SAM 3D Body import, fitting with tch,
//! and the built-in demo rig.

pub mod demo_rig;
pub mod eval;
pub mod export;
pub mod fit;
pub mod lod;
pub mod rig;
pub mod sam3d;
pub mod torchscript;

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
    #[error("cancelled")]
    Cancelled,
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

/// Reads 2D keypoints for fitting: `{"keypoints": [{"name": "l_wrist", "x": 10, "y": 20,
/// "confidence": 1}]}` with names from the rig's keypoint joints (confidence optional).
pub fn read_keypoints_json(path: &std::path::Path, rig: &Rig) -> Result<fit::Keypoints2d, BodyError> {
    let bad = |m: String| BodyError::File { path: path.to_owned(), message: m };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let list = v["keypoints"].as_array().ok_or_else(|| bad("no \"keypoints\" array".into()))?;
    let mut out = Vec::new();
    for (i, k) in list.iter().enumerate() {
        let name = k["name"].as_str().ok_or_else(|| bad(format!("keypoint {i} has no name")))?;
        let index = rig
            .keypoint_joints
            .iter()
            .position(|&j| rig.joint_names[j as usize] == name)
            .ok_or_else(|| bad(format!("keypoint '{name}' is not one of the rig's keypoints")))?;
        let (x, y) = (k["x"].as_f64(), k["y"].as_f64());
        let (Some(x), Some(y)) = (x, y) else { return Err(bad(format!("keypoint '{name}' needs numbers x and y"))) };
        let c = k["confidence"].as_f64().unwrap_or(1.0);
        if !(x.is_finite() && y.is_finite() && c.is_finite()) {
            return Err(bad(format!("keypoint '{name}' is not finite")));
        }
        out.push((index, [x as f32, y as f32], c as f32));
    }
    Ok(out)
}

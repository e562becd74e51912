//! Body rigs in the MHR (Momentum Human Rig) layout: the rig file format, native evaluation
//! (blendshapes → forward kinematics → pose correctives → linear blend skinning), the seven
//! levels of detail from the official barycentric maps, SAM 3D Body import, fitting with tch,
//! and the built-in demo rig.

pub mod lod;

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
    Write(#[from] crate::io::FileError),
    #[error("cancelled")]
    Cancelled,
}

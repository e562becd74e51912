//! PLY files: 3D Gaussian splats in the standard 3DGS layout, triangle meshes (with colours) and
//! point clouds, read and written. The header is parsed by `ply-rs-bw`; payloads are decoded here
//! (binary little/big endian and ASCII) with every count checked against the file size before
//! anything is allocated, and the splat path decodes records in parallel (a 1M-splat file is the
//! measured hot path).
//!
//! 3DGS layout: `x y z nx ny nz f_dc_0..2 f_rest_0..(3·((d+1)²−1)−1) opacity scale_0..2 rot_0..3`,
//! opacity as a logit, scales as logs, rotation `w x y z`; `f_rest` is channel-major (all red
//! coefficients, then green, then blue).
//!
//! Files: `parse.rs` splits the header from the payload and decodes elements, `read.rs` makes
//! splats, a mesh or points of them, `write.rs` writes splats and meshes.

mod parse;
mod read;
#[cfg(test)]
mod tests;
mod write;

use std::path::PathBuf;

pub use self::read::{read_ply, read_ply_bytes};
pub use self::write::{write_mesh_ply, write_splats_ply};

/// Errors from reading a PLY file; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum PlyError {
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: not a PLY file or a broken header: {message}", path.display())]
    Header { path: PathBuf, message: String },
    #[error("{}: truncated: element '{element}' needs {needed} bytes but only {available} remain", path.display())]
    Truncated { path: PathBuf, element: String, needed: u64, available: u64 },
    #[error("{}: {message}", path.display())]
    Content { path: PathBuf, message: String },
}

/// What a PLY file held: splats, a mesh or points.
pub use crate::core::geometry::Geometry as PlyContent;

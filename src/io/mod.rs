//! File formats → core types and back: glTF/GLB, PLY, npz, mask exports, `.carve` projects,
//! `scene.json`, and [`load_3d`], which reads any 3D file Carve views. Nothing here knows the
//! pipelines or the renderer.

pub mod dataset;
pub mod gltf;
pub mod label_import;
pub mod mask_export;
pub mod npz;
pub mod ply;
pub mod project;
pub mod scene;

use std::path::{Path, PathBuf};

use crate::core::geometry::Geometry;
use crate::core::layout::{Layout, place_canonical};

/// Errors from loading a 3D file for viewing or rendering.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Ply(#[from] ply::PlyError),
    #[error(transparent)]
    Gltf(#[from] gltf::GltfError),
    #[error("{}: not a mesh or splat file Carve reads (.ply, .glb, .gltf)", path.display())]
    Unknown { path: PathBuf },
    #[error("{}: bad layout: {source}", path.display())]
    Layout { path: PathBuf, source: serde_json::Error },
}

/// A 3D file, read: what it held and how to describe it ("splats", "splats (placed by layout)",
/// "mesh", "points").
#[derive(Clone, Debug)]
pub struct Loaded3d {
    pub geometry: Geometry,
    pub kind: &'static str,
}

/// Reads a `.ply`, `.glb` or `.gltf` file (splats, mesh or points, detected from the file
/// itself). Splats in a canonical cube with a layout file beside them (`<stem>.layout.json` or
/// `layout.json`, as SAM 3D Objects writes them) are placed in the world by that layout.
pub fn load_3d(path: &Path) -> Result<Loaded3d, LoadError> {
    let head = {
        use std::io::Read;
        let mut buf = [0u8; 4];
        crate::core::fs::open_input(path)
            .and_then(|(mut f, _)| {
                f.read(&mut buf)
                    .map(|n| buf[..n].to_vec())
                    .map_err(|source| crate::core::fs::FileError { path: path.to_owned(), source })
            })
            .map_err(|e| LoadError::Ply(ply::PlyError::Io { path: path.to_owned(), source: e.source }))?
    };
    if head.starts_with(b"ply") {
        let geometry = ply::read_ply(path)?;
        let kind = match &geometry {
            Geometry::Splats(s) => {
                let layout_path = [path.with_extension("layout.json"), path.with_file_name("layout.json")]
                    .into_iter()
                    .find(|p| p.is_file());
                if let Some(layout_path) = layout_path {
                    let text = crate::core::fs::read_input_string(&layout_path, crate::core::fs::InputLimit::Document)
                        .map_err(|e| {
                            LoadError::Ply(ply::PlyError::Io { path: layout_path.clone(), source: e.source })
                        })?;
                    let layout: Layout = serde_json::from_str(&text)
                        .map_err(|source| LoadError::Layout { path: layout_path.clone(), source })?;
                    let placed = place_canonical(s, &layout);
                    return Ok(Loaded3d { geometry: Geometry::Splats(placed), kind: "splats (placed by layout)" });
                }
                "splats"
            }
            Geometry::Mesh(_) => "mesh",
            Geometry::Points(_) => "points",
        };
        return Ok(Loaded3d { geometry, kind });
    }
    let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default();
    if head.starts_with(b"glTF") {
        let bytes = crate::core::fs::read_input(path, crate::core::fs::InputLimit::Data)
            .map_err(|e| LoadError::Ply(ply::PlyError::Io { path: path.to_owned(), source: e.source }))?;
        if gltf::splats::uses_gaussian_splatting(&bytes) {
            let splats = gltf::splats::read_splats_glb(path)?;
            return Ok(Loaded3d { geometry: Geometry::Splats(splats), kind: "splats (KHR_gaussian_splatting)" });
        }
    }
    if head.starts_with(b"glTF") || ext == "gltf" || ext == "glb" {
        return Ok(Loaded3d { geometry: Geometry::Mesh(gltf::read_gltf(path)?), kind: "mesh" });
    }
    Err(LoadError::Unknown { path: path.to_owned() })
}

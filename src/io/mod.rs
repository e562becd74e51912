//! File input/output shared by every format: atomic writes (temp file in the same folder, then
//! rename), so a failed export or save never destroys the previous file.

pub mod gltf;
pub mod mask_export;
pub mod npz;
pub mod ply;

use std::io::Write;
use std::path::{Path, PathBuf};

/// An I/O error that names the file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct FileError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<(), FileError> {
    write_atomic_with(path, |file| file.write_all(bytes))
}

/// Creates `path` atomically from whatever `write` puts into the temporary file. If `write`
/// fails, the temporary file is removed and any existing `path` is left untouched.
pub fn write_atomic_with(
    path: impl AsRef<Path>,
    write: impl FnOnce(&mut std::io::BufWriter<&mut std::fs::File>) -> std::io::Result<()>,
) -> Result<(), FileError> {
    let path = path.as_ref();
    let err = |source| FileError { path: path.to_owned(), source };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| err(std::io::Error::other("not a file path")))?;
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{}.", name.to_string_lossy()))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(err)?;
    {
        let mut writer = std::io::BufWriter::new(temp.as_file_mut());
        write(&mut writer).map_err(err)?;
        writer.flush().map_err(err)?;
    }
    temp.as_file().sync_all().map_err(err)?;
    temp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_write_keeps_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        write_atomic(&path, b"first").unwrap();
        let failed = write_atomic_with(&path, |w| {
            w.write_all(b"partial")?;
            Err(std::io::Error::other("disk on fire"))
        });
        assert!(failed.unwrap_err().to_string().contains("out.txt"));
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        // No temporary files left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
    }

    #[test]
    fn missing_folder_is_named() {
        let err = write_atomic("/nonexistent-carve-dir/x.png", b"x").unwrap_err();
        assert!(err.to_string().contains("/nonexistent-carve-dir/x.png"), "{err}");
    }
}

/// Errors from loading a 3D file for viewing or rendering.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Ply(#[from] ply::PlyError),
    #[error(transparent)]
    Gltf(#[from] gltf::GltfError),
    #[error("{}: not a mesh or splat file Carve reads (.ply, .glb, .gltf)", path.display())]
    Unknown { path: PathBuf },
    #[error("{}: bad layout: {message}", path.display())]
    Layout { path: PathBuf, message: String },
}

/// Adds the contents of a `.ply`, `.glb` or `.gltf` file to `scene` (splats, mesh or points,
/// detected from the file itself) and returns what it was ("splats", "mesh", "points").
pub fn load_into_scene(path: &Path, scene: &mut crate::render::Scene) -> Result<&'static str, LoadError> {
    let head = {
        use std::io::Read;
        let mut buf = [0u8; 4];
        std::fs::File::open(path)
            .and_then(|mut f| f.read(&mut buf).map(|n| buf[..n].to_vec()))
            .map_err(|source| LoadError::Ply(ply::PlyError::Io { path: path.to_owned(), source }))?
    };
    if head.starts_with(b"ply") {
        return Ok(match ply::read_ply(path)? {
            ply::PlyContent::Splats(s) => {
                // SAM 3D Objects output: splats in the canonical cube plus a layout file beside
                // them (`<stem>.layout.json` or `layout.json`): place them in the scene.
                let layout_path = [path.with_extension("layout.json"), path.with_file_name("layout.json")]
                    .into_iter()
                    .find(|p| p.is_file());
                if let Some(layout_path) = layout_path {
                    let text = std::fs::read_to_string(&layout_path)
                        .map_err(|source| LoadError::Ply(ply::PlyError::Io { path: layout_path.clone(), source }))?;
                    let layout = serde_json::from_str::<serde_json::Value>(&text)
                        .map_err(|e| e.to_string())
                        .and_then(|v| crate::lift::Layout::from_json(&v))
                        .map_err(|message| LoadError::Layout { path: layout_path.clone(), message })?;
                    scene.splats.push(crate::lift::place_canonical(&s, &layout));
                    return Ok("splats (placed by layout)");
                }
                scene.splats.push(s);
                "splats"
            }
            ply::PlyContent::Mesh(m) => {
                scene.meshes.push(m);
                "mesh"
            }
            ply::PlyContent::Points(p) => {
                scene.points.push(p);
                "points"
            }
        });
    }
    let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default();
    if head.starts_with(b"glTF") || ext == "gltf" || ext == "glb" {
        scene.meshes.push(gltf::read_gltf(path)?);
        return Ok("mesh");
    }
    Err(LoadError::Unknown { path: path.to_owned() })
}

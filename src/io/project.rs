//! Carve projects (`.carve`, versioned JSON): the photo, its masks (COCO RLE) with names,
//! colours and prompts, 3D files shown, and the body (source, LOD, parameters, placement).
//! Written atomically; the window autosaves one after every edit so a crash or a failed model run
//! never loses masks, and keeps a list of recent files.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::core::mask::{CocoRle, Mask};
use crate::core::prompt::PointPrompt;

pub const FORMAT: &str = "carve-project";
pub const VERSION: u32 = 1;

/// Errors reading or writing a project; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    #[error(transparent)]
    Write(#[from] crate::core::fs::FileError),
}

/// A project mask whose RLE does not decode.
#[derive(Debug, thiserror::Error)]
#[error("mask '{name}': {source}")]
pub struct ProjectMaskError {
    pub name: String,
    pub source: crate::core::mask::MaskError,
}

/// The first two fields of a project file, read before the rest to refuse other files and
/// newer versions with a clear message.
#[derive(Deserialize)]
struct ProjectHeader {
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    version: Option<u64>,
}

/// One mask.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProjectMask {
    pub name: String,
    pub color: [u8; 3],
    pub visible: bool,
    pub engine: String,
    pub score: f32,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub points: Vec<PointPrompt>,
    /// `[height, width]`.
    pub size: [u32; 2],
    /// COCO compressed RLE counts.
    pub counts: String,
}

impl ProjectMask {
    pub fn encode(mask: &Mask) -> ([u32; 2], String) {
        ([mask.height(), mask.width()], mask.to_coco_rle().to_compressed_string())
    }

    pub fn decode(&self) -> Result<Mask, ProjectMaskError> {
        let err = |source| ProjectMaskError { name: self.name.clone(), source };
        let rle = CocoRle::from_compressed_string(self.size[0], self.size[1], &self.counts).map_err(err)?;
        Mask::from_coco_rle(&rle).map_err(err)
    }
}

/// The body panel's state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProjectBody {
    /// `demo`, `rig` (with `path`) or `sam3d` (with `path`).
    pub source: String,
    #[serde(default)]
    pub path: Option<PathBuf>,
    pub lod: usize,
    #[serde(default)]
    pub model: Vec<f32>,
    #[serde(default)]
    pub identity: Vec<f32>,
    #[serde(default)]
    pub expression: Vec<f32>,
    /// Focal, cx, cy (pixels) and camera translation (metres) of a fitted body.
    #[serde(default)]
    pub placement: Option<([f64; 3], [f32; 3])>,
}

/// A project.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Project {
    pub format: String,
    pub version: u32,
    /// The photo; `None` for the embedded demo.
    pub image: Option<PathBuf>,
    pub masks: Vec<ProjectMask>,
    #[serde(default)]
    pub selected: Option<usize>,
    /// 3D files shown in the viewport (PLY/GLB).
    #[serde(default)]
    pub scene_files: Vec<PathBuf>,
    #[serde(default)]
    pub body: Option<ProjectBody>,
}

impl Project {
    pub fn new(image: Option<PathBuf>) -> Self {
        Self {
            format: FORMAT.into(),
            version: VERSION,
            image,
            masks: Vec::new(),
            selected: None,
            scene_files: Vec::new(),
            body: None,
        }
    }

    pub fn save(&self, path: &Path) -> Result<(), ProjectError> {
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| ProjectError::File { path: path.to_owned(), message: e.to_string() })?;
        crate::core::fs::write_atomic(path, &bytes)?;
        Ok(())
    }

    pub fn load(path: &Path) -> Result<Self, ProjectError> {
        let err = |m: String| ProjectError::File { path: path.to_owned(), message: m };
        let bytes = crate::core::fs::read_input(path, crate::core::fs::InputLimit::Document)
            .map_err(|e| err(e.source.to_string()))?;
        let header: ProjectHeader =
            serde_json::from_slice(&bytes).map_err(|e| err(format!("not a Carve project: {e}")))?;
        if header.format.as_deref() != Some(FORMAT) {
            return Err(err("not a Carve project (no \"format\": \"carve-project\")".into()));
        }
        let version = header.version.unwrap_or(0);
        if version == 0 || version > VERSION as u64 {
            return Err(err(format!("project version {version} is not supported (this Carve reads 1 to {VERSION})")));
        }
        let project: Project = serde_json::from_slice(&bytes).map_err(|e| err(format!("malformed project: {e}")))?;
        for m in &project.masks {
            m.decode().map_err(|e| err(e.to_string()))?;
        }
        // Only 3D files: a project listing a project (itself, or two listing each other) would
        // otherwise be opened again and again.
        for f in &project.scene_files {
            let ext = f.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default();
            if !matches!(ext.as_str(), "ply" | "glb" | "gltf") {
                return Err(err(format!("scene file {} is not a .ply, .glb or .gltf file", f.display())));
            }
        }
        Ok(project)
    }
}

/// Carve's data folder (`$XDG_DATA_HOME/carve`).
pub fn data_dir() -> Option<PathBuf> {
    dirs::data_dir().map(|d| d.join("carve"))
}

/// Where the window autosaves.
pub fn autosave_path() -> Option<PathBuf> {
    data_dir().map(|d| d.join("autosave.carve"))
}

/// The recent-files list (most recent first, at most 10, existing files only).
pub fn recent_files() -> Vec<PathBuf> {
    let Some(path) = data_dir().map(|d| d.join("recent.json")) else { return Vec::new() };
    let list: Vec<PathBuf> =
        std::fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    list.into_iter().filter(|p| p.exists()).collect()
}

/// Puts `file` first in the recent-files list.
pub fn add_recent(file: &Path) {
    let Some(dir) = data_dir() else { return };
    let file = file.canonicalize().unwrap_or_else(|_| file.to_owned());
    let mut list = recent_files();
    list.retain(|p| *p != file);
    list.insert(0, file);
    list.truncate(10);
    // The list is a convenience: failing to write it must not disturb the user, only the log.
    let written = std::fs::create_dir_all(&dir)
        .map_err(|source| crate::core::fs::FileError { path: dir.clone(), source })
        .and_then(|()| {
            let bytes = serde_json::to_vec_pretty(&list)
                .map_err(|e| crate::core::fs::FileError { path: dir.join("recent.json"), source: e.into() })?;
            crate::core::fs::write_atomic(dir.join("recent.json"), &bytes)
        });
    if let Err(e) = written {
        tracing::warn!("recent-files list not updated: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let mask = Mask::from_fn(40, 30, |x, y| (x as i32 - 20).pow(2) + (y as i32 - 15).pow(2) < 64);
        let (size, counts) = ProjectMask::encode(&mask);
        let mut p = Project::new(Some("photo.jpg".into()));
        p.masks.push(ProjectMask {
            name: "ball".into(),
            color: [1, 2, 3],
            visible: true,
            engine: "classical".into(),
            score: 0.9,
            label: None,
            points: vec![],
            size,
            counts,
        });
        p.body = Some(ProjectBody {
            source: "demo".into(),
            path: None,
            lod: 3,
            model: vec![0.5; 4],
            identity: vec![],
            expression: vec![],
            placement: None,
        });
        let path = dir.path().join("p.carve");
        p.save(&path).unwrap();
        let back = Project::load(&path).unwrap();
        assert_eq!(back, p);
        assert_eq!(back.masks[0].decode().unwrap(), mask);
        std::fs::write(&path, b"{\"format\": \"carve-project\", \"version\": 99}").unwrap();
        assert!(Project::load(&path).unwrap_err().to_string().contains("version 99"));
        std::fs::write(&path, b"garbage").unwrap();
        assert!(Project::load(&path).unwrap_err().to_string().contains("p.carve"));
        let mut bad = p.clone();
        bad.masks[0].counts = "!!".into();
        bad.save(&path).unwrap();
        assert!(Project::load(&path).unwrap_err().to_string().contains("ball"));
    }
}

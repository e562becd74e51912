//! `scene.json`: the camera a lift was seen from and where the object sits in it. Written by
//! `carve lift` (and the window's lift), read by `carve render --camera` and the window; one
//! serde type for both sides.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::core::camera::Camera;
use crate::core::fs::{FileError, write_atomic};
use crate::core::layout::Layout;

/// Errors from reading a `scene.json`.
#[derive(Debug, thiserror::Error)]
pub enum SceneFileError {
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: not a scene file (a \"camera\" object, optionally \"layout\", \"voxel_resolution\", \"engine\"): {source}", path.display())]
    Parse { path: PathBuf, source: serde_json::Error },
    #[error(transparent)]
    Write(#[from] FileError),
}

/// The document. Only the camera is required when reading (a hand-written camera file is enough for
/// `carve render --camera`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SceneFile {
    /// The source camera (OpenCV axes; see [`Camera`] for the JSON form).
    pub camera: Camera,
    /// Which front-surface estimate the lift used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// Where the object's unit cube sits in the camera's world.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<Layout>,
    /// Voxels per side of the lift's grid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voxel_resolution: Option<usize>,
    /// A scene lift (`carve lift --masks`): every object, in the camera's world.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<SceneObjectEntry>,
}

/// One object of a scene lift.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SceneObjectEntry {
    pub name: String,
    /// Where the object's unit cube sits in the camera's world.
    pub layout: Layout,
    /// Which front-surface estimate and completion this object used.
    pub engine: String,
    /// The scale about the camera centre that moved it back out of a nearer object (1 = none).
    pub pushed_back: f64,
    /// Its outputs, relative to the scene file's folder.
    pub files: Vec<String>,
}

impl SceneFile {
    /// Reads and validates a scene file (the camera is checked as it is parsed).
    pub fn read(path: &Path) -> Result<Self, SceneFileError> {
        let text = crate::core::fs::read_input_string(path, crate::core::fs::InputLimit::Document)
            .map_err(|e| SceneFileError::Io { path: path.to_owned(), source: e.source })?;
        serde_json::from_str(&text).map_err(|source| SceneFileError::Parse { path: path.to_owned(), source })
    }

    /// Writes the scene file atomically (pretty JSON, keys sorted at every level, as Carve has
    /// always written it: through a `serde_json::Value`).
    pub fn write(&self, path: &Path) -> Result<(), FileError> {
        let text = serde_json::to_value(self)
            .and_then(|value| serde_json::to_vec_pretty(&value))
            .map_err(|e| FileError { path: path.to_owned(), source: e.into() })?;
        write_atomic(path, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_only_files_read_and_bad_cameras_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let camera = Camera::from_fov_y(64, 48, 1.0).unwrap();
        let path = dir.path().join("scene.json");
        std::fs::write(&path, serde_json::json!({"camera": camera}).to_string()).unwrap();
        let read = SceneFile::read(&path).unwrap();
        assert_eq!(read.camera, camera);
        assert_eq!(read.layout, None);
        let mut bad = serde_json::to_value(camera).unwrap();
        bad["fx"] = serde_json::json!(-1.0);
        std::fs::write(&path, serde_json::json!({"camera": bad}).to_string()).unwrap();
        let err = SceneFile::read(&path).unwrap_err().to_string();
        assert!(err.contains("scene.json") && err.contains("fx"), "{err}");
        std::fs::write(&path, "{}").unwrap();
        assert!(SceneFile::read(&path).unwrap_err().to_string().contains("camera"));
    }

    #[test]
    fn written_keys_are_the_historical_ones_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let camera = Camera::from_fov_y(64, 48, 1.0).unwrap();
        let layout = Layout { rotation_wxyz: [1.0, 0.0, 0.0, 0.0], translation: [0.0, 0.0, 2.0], scale: 0.5 };
        let file = SceneFile {
            camera,
            engine: Some("silhouette".into()),
            layout: Some(layout),
            voxel_resolution: Some(64),
            objects: Vec::new(),
        };
        let path = dir.path().join("scene.json");
        file.write(&path).unwrap();
        // The document Carve wrote before this type existed: serde_json::json! (sorted keys).
        let before = serde_json::to_vec_pretty(&serde_json::json!({
            "camera": camera, "voxel_resolution": 64, "layout": layout, "engine": "silhouette",
        }))
        .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert_eq!(SceneFile::read(&path).unwrap(), file);
    }
}

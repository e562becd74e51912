//! `manifest.toml`: what a model folder holds and how to feed it.
//!
//! ```toml
//! format = 1
//! kind = "sam3"                       # sam3 | sam2 | depth | mhr | selftest
//! name = "SAM 3 (tiny, random weights)"
//! weights = "random"                  # random | checkpoint: random weights only test the plumbing
//! [files]                             # role = file relative to the folder
//! encoder = "image_encoder.pt"
//! [input]                             # optional: image models
//! width = 1008
//! height = 1008
//! mean = [0.5, 0.5, 0.5]              # applied to RGB in 0..1: (x - mean) / std
//! std = [0.5, 0.5, 0.5]
//! [tensors.encoder]                   # optional: tensor names per file, for documentation/checks
//! inputs = ["image"]
//! outputs = ["fpn0", "fpn1"]
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ModelError;

/// Manifest format this Carve reads.
pub const MANIFEST_FORMAT: u32 = 1;

/// What a model does; decides which pipeline step uses it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// SAM 3: image encoder, click decoder, text encoder, grounding decoder.
    Sam3,
    /// SAM 2.1: image encoder and click decoder (`tools/export_sam2.py`).
    Sam2,
    /// Monocular depth: RGB image → depth map.
    Depth,
    /// MHR body model (`mhr_model.pt`).
    Mhr,
    /// SAM 3D Body's body branch as TorchScript pieces (`tools/export_sam3d_body.py`).
    #[serde(rename = "sam3d_body")]
    Sam3dBody,
    /// A tiny module that proves the libtorch path works (`tools/make_selftest_model.py`).
    Selftest,
}

impl ModelKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Sam3 => "sam3",
            Self::Sam2 => "sam2",
            Self::Depth => "depth",
            Self::Mhr => "mhr",
            Self::Sam3dBody => "sam3d_body",
            Self::Selftest => "selftest",
        }
    }
}

/// Where the weights came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weights {
    /// Trained weights from a checkpoint.
    #[default]
    Checkpoint,
    /// Random weights: the architecture is real, the outputs are meaningless.
    Random,
}

/// Image input of a model: size and normalisation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    pub width: u32,
    pub height: u32,
    #[serde(default = "default_mean")]
    pub mean: [f32; 3],
    #[serde(default = "default_std")]
    pub std: [f32; 3],
}

fn default_mean() -> [f32; 3] {
    [0.0; 3]
}

fn default_std() -> [f32; 3] {
    [1.0; 3]
}

/// Tensor names of one file's inputs and outputs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorNames {
    #[serde(default)]
    pub inputs: Vec<String>,
    #[serde(default)]
    pub outputs: Vec<String>,
}

/// A parsed `manifest.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    pub kind: ModelKind,
    pub name: String,
    #[serde(default)]
    pub weights: Weights,
    #[serde(default)]
    pub description: String,
    pub files: BTreeMap<String, PathBuf>,
    pub input: Option<InputSpec>,
    #[serde(default)]
    pub tensors: BTreeMap<String, TensorNames>,
    /// Free-form settings a kind needs (context length, vocabulary file, …).
    #[serde(default)]
    pub config: BTreeMap<String, toml::Value>,
}

impl Manifest {
    /// Reads and checks `manifest.toml` (the format, the input spec and the file names; not
    /// whether the files exist, see [`Manifest::missing_files`]).
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let text = crate::core::fs::read_input_string(path, crate::core::fs::InputLimit::Document)
            .map_err(|e| ModelError::Io { path: path.to_owned(), source: e.source })?;
        Self::parse(&text, path)
    }

    /// Parses manifest text; `path` is used in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ModelError> {
        let bad = |message: String| ModelError::Manifest { path: path.to_owned(), message };
        let manifest: Manifest = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|span| text[..span.start.min(text.len())].lines().count().max(1));
            match line {
                Some(line) => bad(format!("line {line}: {}", e.message())),
                None => bad(e.message().to_owned()),
            }
        })?;
        if manifest.format != MANIFEST_FORMAT {
            return Err(bad(format!(
                "format {} is not supported (this Carve reads format {MANIFEST_FORMAT})",
                manifest.format
            )));
        }
        if manifest.files.is_empty() {
            return Err(bad("[files] names no model file".into()));
        }
        for (role, file) in &manifest.files {
            if file.is_absolute() || file.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
                return Err(bad(format!(
                    "file '{role}' must be a path inside the model folder, got {}",
                    file.display()
                )));
            }
        }
        if let Some(input) = &manifest.input {
            if input.width == 0 || input.height == 0 || input.width > 16384 || input.height > 16384 {
                return Err(bad(format!("input size {}×{} is out of range", input.width, input.height)));
            }
            if input.std.iter().any(|s| !s.is_finite() || *s <= 0.0) || input.mean.iter().any(|m| !m.is_finite()) {
                return Err(bad("input mean/std must be finite and std positive".into()));
            }
        }
        Ok(manifest)
    }

    /// Files named in the manifest that are absent from `folder`.
    pub fn missing_files(&self, folder: &Path) -> Vec<PathBuf> {
        self.files.values().map(|f| folder.join(f)).filter(|p| !p.is_file()).collect()
    }

    /// Absolute path of the file with role `role`.
    pub fn file(&self, folder: &Path, role: &str) -> Option<PathBuf> {
        self.files.get(role).map(|f| folder.join(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
format = 1
kind = "sam3"
name = "tiny"
weights = "random"
[files]
encoder = "enc.pt"
[input]
width = 1008
height = 1008
mean = [0.5, 0.5, 0.5]
std = [0.5, 0.5, 0.5]
[tensors.encoder]
inputs = ["image"]
outputs = ["a", "b"]
[config]
context_length = 32
"#;

    #[test]
    fn parses_a_full_manifest() {
        let m = Manifest::parse(GOOD, Path::new("m/manifest.toml")).unwrap();
        assert_eq!(m.kind, ModelKind::Sam3);
        assert_eq!(m.weights, Weights::Random);
        assert_eq!(m.input.as_ref().unwrap().std, [0.5; 3]);
        assert_eq!(m.tensors["encoder"].outputs.len(), 2);
        assert_eq!(m.config["context_length"].as_integer(), Some(32));
        assert_eq!(m.file(Path::new("/x"), "encoder"), Some(PathBuf::from("/x/enc.pt")));
    }

    #[test]
    fn errors_name_the_file_and_the_problem() {
        let path = Path::new("models/bad/manifest.toml");
        for (text, needle) in [
            ("kind = \"sam3\"", "missing field"),
            (&GOOD.replace("sam3", "sam9"), "unknown variant"),
            (&GOOD.replace("format = 1", "format = 7"), "format 7"),
            (&GOOD.replace("enc.pt", "../../etc/passwd"), "inside the model folder"),
            (&GOOD.replace("std = [0.5, 0.5, 0.5]", "std = [0.5, 0.0, 0.5]"), "std"),
            ("format = 1\nkind = [", "line 2: unclosed array"),
        ] {
            let err = Manifest::parse(text, path).unwrap_err().to_string();
            assert!(err.contains("models/bad/manifest.toml"), "{err}");
            assert!(err.contains(needle), "expected {needle:?} in {err}");
        }
    }
}

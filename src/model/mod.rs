//! Model runtime: model folders and their `manifest.toml`, discovery in the search path, and
//! TorchScript loading and tensor conversion through libtorch (tch).
//!
//! A model folder holds `manifest.toml` and the files it names. Carve looks for folders in
//! `--models DIR`, then each folder of `$CARVE_MODELS` (a path list), then the user data folder
//! (`~/.local/share/carve/models` on Linux). A search folder may itself be a model folder or hold
//! model folders one level down. Nothing is ever downloaded.

pub mod alloc;
pub mod clip_tokenizer;
pub mod feature_store;
pub mod manifest;
pub mod precision;
pub mod registry;
pub mod runtime;

pub use manifest::{InputSpec, Manifest, ModelKind};
pub use registry::{
    MODELS_ENV, ModelFolder, SearchDir, SearchOrigin, discover, find_models, search_dirs, search_dirs_from_env,
};
pub use runtime::{ComputeDevice, DeviceInfo, device_info, libtorch_version, load_torchscript};

use std::path::PathBuf;

/// Errors from finding, reading or running a model; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{}: cannot read: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: broken manifest: {message}", path.display())]
    Manifest { path: PathBuf, message: String },
    #[error("{}: model file is missing (named in {})", path.display(), manifest.display())]
    MissingFile { path: PathBuf, manifest: PathBuf },
    #[error("{}: not a usable TorchScript module: {message}", path.display())]
    TorchScript { path: PathBuf, message: String },
    #[error("{}: running the model failed: {message}", path.display())]
    Run { path: PathBuf, message: String },
    #[error("models folder {} does not exist", path.display())]
    NoSuchFolder { path: PathBuf },
    #[error("{what} needs a model of kind '{kind}', none was found; {hint}")]
    NotFound { what: String, kind: String, hint: String },
    #[error("{what} needs a model of kind '{kind}', and the model folders found cannot be used: {problems}")]
    Unusable { what: String, kind: String, problems: String },
    #[error("CUDA device {index} requested but {available} CUDA device(s) are available")]
    NoCuda { index: usize, available: i64 },
}

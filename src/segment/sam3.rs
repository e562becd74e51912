//! The SAM 3 engine: TorchScript modules exported by `tools/export_sam3.py`, run through tch.
//! The image encoder runs once per image (features cached, LRU by image content); clicks and
//! boxes go through the click decoder, text through the text encoder and grounding decoder.

use std::path::{Path, PathBuf};

use tch::{IValue, Tensor};

use super::{EngineKind, ScoredMask, SegmentError, Segmenter};
use crate::core::image::Image;
use crate::core::mask::Mask;
use crate::core::prompt::Prompt;
use crate::model::manifest::{InputSpec, Manifest};
use crate::model::runtime::{first_line, image_to_model_input};
use crate::model::{ComputeDevice, ModelError, ModelFolder, load_torchscript};
use crate::task::Progress;

/// Images whose encoder features stay cached.
const FEATURE_CACHE: usize = 4;

/// Loaded SAM 3 modules and the features of recent images.
pub struct Sam3Segmenter {
    folder: PathBuf,
    manifest: Manifest,
    input: InputSpec,
    device: ComputeDevice,
    image_encoder: tch::CModule,
    /// (content hash, width, height, features), most recent last.
    cache: Vec<(u64, u32, u32, Vec<Tensor>)>,
    current: Option<usize>,
}

impl Sam3Segmenter {
    /// Loads the modules named by a valid `sam3` model folder.
    pub fn load(folder: &ModelFolder) -> Result<Self, SegmentError> {
        let manifest_path = folder.path.join("manifest.toml");
        let manifest = folder
            .manifest
            .clone()
            .ok_or_else(|| ModelError::Manifest { path: manifest_path.clone(), message: folder.problems.join("; ") })?;
        let input = manifest.input.clone().ok_or_else(|| ModelError::Manifest {
            path: manifest_path.clone(),
            message: "a sam3 model needs an [input] section".into(),
        })?;
        let device = ComputeDevice::best();
        let file = |role: &str| -> Result<PathBuf, ModelError> {
            manifest.file(&folder.path, role).ok_or_else(|| ModelError::Manifest {
                path: manifest_path.clone(),
                message: format!("[files] lacks '{role}'"),
            })
        };
        let image_encoder = load_torchscript(&file("image_encoder")?, device)?;
        Ok(Self {
            folder: folder.path.clone(),
            manifest,
            input,
            device,
            image_encoder,
            cache: Vec::new(),
            current: None,
        })
    }

    pub fn folder(&self) -> &Path {
        &self.folder
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn encode(&self, image: &Image) -> Result<Vec<Tensor>, ModelError> {
        let path = self.manifest.file(&self.folder, "image_encoder").unwrap_or_default();
        let x = image_to_model_input(image, &self.input, self.device)?;
        let out = tch::no_grad(|| self.image_encoder.forward_is(&[IValue::Tensor(x)]))
            .map_err(|e| ModelError::Run { path: path.clone(), message: first_line(&e.to_string()) })?;
        flatten_tensors(out).map_err(|message| ModelError::Run { path, message })
    }
}

/// The tensors of a module's output (a tensor, or a tuple/list of them).
pub(crate) fn flatten_tensors(value: IValue) -> Result<Vec<Tensor>, String> {
    match value {
        IValue::Tensor(t) => Ok(vec![t]),
        IValue::Tuple(items) | IValue::GenericList(items) => items
            .into_iter()
            .map(flatten_tensors)
            .collect::<Result<Vec<_>, _>>()
            .map(|v| v.into_iter().flatten().collect()),
        IValue::TensorList(ts) => Ok(ts),
        other => Err(format!("unexpected output {other:?}")),
    }
}

fn content_hash(image: &Image) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    image.rgb().as_raw().hash(&mut h);
    h.finish()
}

impl Segmenter for Sam3Segmenter {
    fn engine(&self) -> EngineKind {
        EngineKind::Sam3
    }

    fn set_image(&mut self, image: &Image, progress: &Progress) -> Result<(), SegmentError> {
        let key = (content_hash(image), image.width(), image.height());
        if let Some(i) = self.cache.iter().position(|c| (c.0, c.1, c.2) == key) {
            let entry = self.cache.remove(i);
            self.cache.push(entry);
            self.current = Some(self.cache.len() - 1);
            progress.set(1.0, "features cached");
            return Ok(());
        }
        progress.check()?;
        progress.set(0.05, "encoding image with SAM 3");
        let features = self.encode(image)?;
        progress.check()?;
        if self.cache.len() >= FEATURE_CACHE {
            self.cache.remove(0);
        }
        self.cache.push((key.0, key.1, key.2, features));
        self.current = Some(self.cache.len() - 1);
        progress.set(1.0, "image encoded");
        Ok(())
    }

    fn segment(&mut self, _prompt: &Prompt, _previous: Option<&Mask>) -> Result<Vec<ScoredMask>, SegmentError> {
        let _features = self.current.and_then(|i| self.cache.get(i)).ok_or(SegmentError::NoImage)?;
        Err(ModelError::Run {
            path: self.folder.clone(),
            message: "the SAM 3 decoders are not wired up in this build yet".into(),
        }
        .into())
    }
}

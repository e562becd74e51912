//! What the SAM 2.1 and SAM 3 engines share: SAM 3's click path *is* SAM 2's prompt encoder and
//! mask decoder, exported by both `tools/export_sam2.py` and `tools/export_sam3.py` through the same
//! wrapper (`tools/torchscript_export.py`, `ClickDecoder`). Here: opening a model folder, the
//! per-image feature cache (memory, then disk), running a TorchScript module, and [`ClickDecoder`] — prompts to
//! model-input points and labels, the order of the answers (three hypotheses for a lone click, the
//! single stability-selected mask first otherwise), mask feedback for refinement, and the official
//! post-processing (optional hole filling, bilinear upsampling to the photo, threshold at 0).

use std::path::{Path, PathBuf};

use tch::{IValue, Kind, Tensor};

use super::{EngineKind, FeatureSource, ScoredMask, SegmentError};
use crate::core::image::Image;
use crate::core::mask::Mask;
use crate::core::prompt::{PointLabel, Prompt};
use crate::core::task::Progress;
use crate::model::feature_store::{FeatureStore, Lookup, image_key, model_identity};
use crate::model::manifest::{InputSpec, Manifest};
use crate::model::precision::{Precision, PrecisionChoice, cpu_features};
use crate::model::runtime::first_line;
use crate::model::{ComputeDevice, ModelError, ModelFolder, load_torchscript};

/// `previous` (a mask being refined) must have the photo's size.
pub(crate) fn check_previous_size(previous: Option<&Mask>, width: u32, height: u32) -> Result<(), SegmentError> {
    match previous {
        Some(prev) if (prev.width(), prev.height()) != (width, height) => {
            Err(SegmentError::MaskSize { got_width: prev.width(), got_height: prev.height(), width, height })
        }
        _ => Ok(()),
    }
}

/// A valid model folder, opened: its manifest, image input and the device its files run on.
pub(crate) struct OpenFolder {
    pub path: PathBuf,
    pub manifest: Manifest,
    pub input: InputSpec,
    pub device: ComputeDevice,
}

impl OpenFolder {
    pub fn open(folder: &ModelFolder) -> Result<Self, ModelError> {
        let manifest_path = folder.path.join("manifest.toml");
        let manifest = folder
            .manifest
            .clone()
            .ok_or_else(|| ModelError::Manifest { path: manifest_path.clone(), message: folder.problems.join("; ") })?;
        let input = manifest.input.clone().ok_or_else(|| ModelError::Manifest {
            path: manifest_path,
            message: format!("a {} model needs an [input] section", manifest.kind.as_str()),
        })?;
        // The exported graphs carry no trace device since 2026-12-04 (tools/SAM3_EXPORT_NOTES.md
        // §8), but CUDA has not been verified on a GPU: they run on the CPU unless the manifest
        // says `cuda = true`.
        let cuda_ok = manifest.config.get("cuda").and_then(toml::Value::as_bool) == Some(true);
        let device = if cuda_ok { ComputeDevice::best() } else { ComputeDevice::Cpu };
        Ok(Self { path: folder.path.clone(), manifest, input, device })
    }

    /// The file with role `role`, which the manifest must name.
    pub fn file(&self, role: &str) -> Result<PathBuf, ModelError> {
        self.manifest.file(&self.path, role).ok_or_else(|| ModelError::Manifest {
            path: self.path.join("manifest.toml"),
            message: format!("[files] lacks '{role}'"),
        })
    }

    /// Loads the TorchScript file with role `role` on the folder's device.
    pub fn module(&self, role: &str) -> Result<(tch::CModule, PathBuf), ModelError> {
        let path = self.file(role)?;
        Ok((load_torchscript(&path, self.device)?, path))
    }

    /// Like [`OpenFolder::module`] for a role the manifest may leave out (`None` then).
    pub fn optional_module(&self, role: &str) -> Result<Option<(tch::CModule, PathBuf)>, ModelError> {
        match self.manifest.file(&self.path, role) {
            Some(path) => Ok(Some((load_torchscript(&path, self.device)?, path))),
            None => Ok(None),
        }
    }

    /// The image encoder at the precision `choice` resolves to on this CPU (notes logged), lazily.
    pub fn image_encoder(&self, choice: PrecisionChoice) -> Result<(LazyModule, Precision), ModelError> {
        let has_bf16 = self.manifest.file(&self.path, Precision::Bf16.encoder_role()).is_some();
        let (precision, note) = choice
            .resolve(has_bf16, &cpu_features())
            .map_err(|message| ModelError::Manifest { path: self.path.join("manifest.toml"), message })?;
        if let Some(note) = note {
            tracing::warn!("{}: {note}", self.path.display());
        }
        Ok((LazyModule::new(self, precision.encoder_role())?, precision))
    }

    pub fn config_int(&self, key: &str, default: i64) -> i64 {
        self.manifest.config.get(key).and_then(toml::Value::as_integer).unwrap_or(default)
    }
}

/// A module of a model folder, loaded on first use (a SAM 3 click never loads the text path; a
/// photo whose features are in the disk cache never loads the encoder), then kept.
pub(crate) struct LazyModule {
    path: PathBuf,
    device: ComputeDevice,
    module: std::sync::OnceLock<tch::CModule>,
}

impl LazyModule {
    /// The module with role `role` (the manifest must name it; the folder was checked to hold it).
    /// Checked now only as far as it is cheap: a regular file that starts like a TorchScript
    /// archive (a zip), so a folder with a broken file is named when it is chosen.
    pub fn new(folder: &OpenFolder, role: &str) -> Result<Self, ModelError> {
        use std::io::Read;
        let path = folder.file(role)?;
        let bad = |message: &str| ModelError::TorchScript { path: path.clone(), message: message.into() };
        let (mut file, _) =
            crate::core::fs::open_input(&path).map_err(|e| ModelError::Io { path: e.path, source: e.source })?;
        let mut magic = [0u8; 4];
        file.read_exact(&mut magic).map_err(|_| bad("too short to be a TorchScript archive"))?;
        if &magic != b"PK\x03\x04" {
            return Err(bad("not a TorchScript archive (no zip header)"));
        }
        Ok(Self { path, device: folder.device, module: std::sync::OnceLock::new() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The module, loading it the first time.
    pub fn get(&self) -> Result<&tch::CModule, ModelError> {
        if let Some(m) = self.module.get() {
            return Ok(m);
        }
        let loaded = load_torchscript(&self.path, self.device)?;
        Ok(self.module.get_or_init(|| loaded))
    }

    /// Runs the module (loading it first if needed); see [`run_module`].
    pub fn run(&self, inputs: Vec<Tensor>, expected: usize) -> Result<Vec<Tensor>, ModelError> {
        run_module(self.get()?, &self.path, inputs, expected)
    }

    /// Runs an image encoder: `expected` outputs, each float32 and finite — a file of the wrong
    /// precision (bf16 outputs), or one that overflows, is named here instead of giving wrong masks.
    pub fn run_encoder(&self, x: Tensor, expected: usize) -> Result<Vec<Tensor>, ModelError> {
        let outputs = self.run(vec![x], expected)?;
        let bad = |message: String| ModelError::Run { path: self.path.clone(), message };
        for (i, t) in outputs.iter().enumerate() {
            if t.kind() != Kind::Float {
                return Err(bad(format!(
                    "output {i} is {:?}, expected float32 (a file exported for another precision?)",
                    t.kind()
                )));
            }
            if !bool::try_from(t.isfinite().all()).unwrap_or(false) {
                return Err(bad(format!("output {i} holds NaN or infinite values")));
            }
        }
        Ok(outputs)
    }
}

/// Runs `module` (loaded from `path`) on tensors and returns its `expected` output tensors.
pub(crate) fn run_module(
    module: &tch::CModule,
    path: &Path,
    inputs: Vec<Tensor>,
    expected: usize,
) -> Result<Vec<Tensor>, ModelError> {
    let err = |message| ModelError::Run { path: path.to_owned(), message };
    let inputs: Vec<IValue> = inputs.into_iter().map(IValue::Tensor).collect();
    let out = tch::no_grad(|| module.forward_is(&inputs)).map_err(|e| err(first_line(&e.to_string())))?;
    let tensors = flatten_tensors(out).map_err(err)?;
    if tensors.len() != expected {
        return Err(err(format!("returned {} tensors, expected {expected}", tensors.len())));
    }
    Ok(tensors)
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

/// Images whose encoder features stay in memory (per engine).
const FEATURE_CACHE: usize = 4;

/// Encoder outputs of recent images in memory, keyed by content and size, most recent last; and,
/// below it, the on-disk [`FeatureStore`] (other processes, earlier sessions).
pub(crate) struct FeatureCache<T> {
    entries: Vec<(String, u32, u32, T)>,
    current: Option<usize>,
    capacity: usize,
    disk: Option<FeatureStore>,
    source: Option<FeatureSource>,
}

impl<T> FeatureCache<T> {
    pub fn new(capacity: usize) -> Self {
        Self { entries: Vec::new(), current: None, capacity: capacity.max(1), disk: None, source: None }
    }

    /// The cache of an engine: [`FEATURE_CACHE`] images in memory, and the on-disk cache for
    /// `encoder` of `folder` at `precision` (user cache folder, cap from the environment; off when
    /// that cannot be had, logged).
    pub fn for_encoder(folder: &OpenFolder, encoder: &LazyModule, precision: Precision) -> Self {
        let mut cache = Self::new(FEATURE_CACHE);
        cache.disk = match model_identity(&folder.path.join("manifest.toml"), encoder.path()) {
            Ok(id) => FeatureStore::for_model(id, precision.as_str()),
            Err(e) => {
                tracing::warn!("feature cache off: {e}");
                None
            }
        };
        cache
    }

    /// Where the current image's features came from.
    pub fn source(&self) -> Option<FeatureSource> {
        self.source
    }

    /// Makes the image with `key` current if its features are in memory.
    fn select(&mut self, key: &str) -> bool {
        match self.entries.iter().position(|c| c.0 == key) {
            Some(i) => {
                let entry = self.entries.remove(i);
                self.entries.push(entry);
                self.current = Some(self.entries.len() - 1);
                true
            }
            None => false,
        }
    }

    /// Stores features in memory and makes them current (dropping the oldest when full).
    fn insert(&mut self, key: String, image: &Image, features: T) {
        if self.entries.len() >= self.capacity {
            self.entries.remove(0);
        }
        self.entries.push((key, image.width(), image.height(), features));
        self.current = Some(self.entries.len() - 1);
    }

    /// Makes `image` current: its features from memory, else from the disk cache, else
    /// `encode`'s (reported as encoding with `model`, cancellable; then stored on disk). `build`
    /// turns the encoder outputs (`expected` tensors, in the encoder's order) into `T`. True when
    /// the current image changed (whatever the features came from).
    pub fn set_image(
        &mut self,
        image: &Image,
        progress: &Progress,
        model: &str,
        (expected, device): (usize, tch::Device),
        encode: impl FnOnce() -> Result<Vec<Tensor>, SegmentError>,
        build: impl FnOnce(Vec<Tensor>) -> Result<T, ModelError>,
    ) -> Result<bool, SegmentError> {
        let key = image_key(image);
        let changed = self.current.and_then(|i| self.entries.get(i)).is_none_or(|e| e.0 != key);
        if self.select(&key) {
            self.source = Some(FeatureSource::Memory);
            progress.set(1.0, "features cached");
            return Ok(changed);
        }
        progress.check()?;
        if let Some(disk) = &self.disk {
            match disk.load(&key, expected, device) {
                Lookup::Hit(outputs) => {
                    let features = build(outputs)?;
                    self.insert(key, image, features);
                    self.source = Some(FeatureSource::DiskCache);
                    progress.set(1.0, "features from the disk cache");
                    return Ok(true);
                }
                Lookup::Corrupt(e) => tracing::warn!("{e}; encoding the image again"),
                Lookup::Miss => {}
            }
        }
        progress.set(0.05, format!("encoding image with {model}"));
        // Contiguous, so that a later read from disk hands the decoder exactly the same tensors.
        let outputs: Vec<Tensor> = encode()?.iter().map(Tensor::contiguous).collect();
        progress.check()?;
        if let Some(disk) = &self.disk
            && let Err(e) = disk.store(&key, &outputs)
        {
            tracing::warn!("feature cache: {e}");
        }
        let features = build(outputs)?;
        self.insert(key, image, features);
        self.source = Some(FeatureSource::Encoded);
        progress.set(1.0, "image encoded");
        Ok(true)
    }

    /// The current image's features and its size.
    pub fn current(&self) -> Result<(&T, u32, u32), SegmentError> {
        self.current.and_then(|i| self.entries.get(i)).map(|c| (&c.3, c.1, c.2)).ok_or(SegmentError::NoImage)
    }
}

/// `Segmenter::set_image` of the SAM engines: the features of `image` from `cache` (memory, disk)
/// or from `encoder` run on `preprocess()` (checked: float32, finite), turned into `T` by `build`;
/// the click decoder forgets its last answer whenever the current image changes.
pub(crate) fn set_image_encoded<T>(
    cache: &mut FeatureCache<T>,
    click: &mut ClickDecoder,
    encoder: &LazyModule,
    expected: usize,
    (image, progress, model): (&Image, &Progress, &str),
    preprocess: impl FnOnce() -> Result<Tensor, ModelError>,
    build: impl FnOnce(&ClickDecoder, &Path, Vec<Tensor>) -> Result<T, ModelError>,
) -> Result<(), SegmentError> {
    let device = click.device.to_tch();
    let decoder = &*click;
    let encode = || Ok(encoder.run_encoder(preprocess()?, expected)?);
    let changed =
        cache.set_image(image, progress, model, (expected, device), encode, |t| build(decoder, encoder.path(), t))?;
    if changed {
        click.forget();
    }
    Ok(())
}

/// What the click decoder reads of an image: the low-resolution embedding (with `no_mem_embed`
/// added) and the two high-resolution levels (after `conv_s0` / `conv_s1`); and, when the folder
/// has a `click_prepare` module, its outputs (what the decoder computes of the image alone, for
/// the faster `click_decoder_prepared` on prompts without a mask input).
#[derive(Clone, Copy)]
pub struct ClickFeatures<'a> {
    pub image_embed: &'a Tensor,
    pub feat_s0: &'a Tensor,
    pub feat_s1: &'a Tensor,
    pub prepared: Option<&'a [Tensor]>,
}

/// Raw click-decoder outputs: 3 hypotheses (low-res logits `1×3×m×m`, predicted IoU `1×3`), the
/// object score logit, and the single-mask answer (`multimask_output=False`).
pub struct ClickOutputs {
    pub masks: Tensor,
    pub iou_scores: Tensor,
    pub object_score_logits: Tensor,
    pub single_mask: Tensor,
    pub single_iou: Tensor,
}

/// The SAM 2-style prompt encoder + mask decoder of a model folder (role `click_decoder`, and the
/// optional `click_decoder_prepared`: the same function without a mask input, on
/// [`ClickFeatures::prepared`]; `tools/export_sam2.py` checks the two agree exactly).
pub struct ClickDecoder {
    module: tch::CModule,
    path: PathBuf,
    /// `click_prepare` (run once per image) and `click_decoder_prepared`, when the folder has both.
    prepare: Option<(tch::CModule, PathBuf)>,
    prepared: Option<(tch::CModule, PathBuf)>,
    device: ComputeDevice,
    engine: EngineKind,
    /// Model input size; points are mapped into it.
    input_width: u32,
    input_height: u32,
    /// Side of the low-resolution logits (SAM 2.1: 256, SAM 3: 288).
    mask_size: i64,
    /// Background components of at most this many low-res pixels become foreground (0 = off).
    max_hole_area: u64,
    /// The last answer: (the mask it led with, its low-res logits), for refinement.
    last_logits: Option<(Mask, Tensor)>,
}

impl ClickDecoder {
    pub(crate) fn load(folder: &OpenFolder, engine: EngineKind, default_mask_size: i64) -> Result<Self, ModelError> {
        let (module, path) = folder.module("click_decoder")?;
        Ok(Self {
            module,
            path,
            prepare: folder.optional_module("click_prepare")?,
            prepared: folder.optional_module("click_decoder_prepared")?,
            device: folder.device,
            engine,
            input_width: folder.input.width,
            input_height: folder.input.height,
            mask_size: folder.config_int("mask_size", default_mask_size).clamp(1, 4096),
            max_hole_area: folder.config_int("max_hole_area", 0).max(0) as u64,
            last_logits: None,
        })
    }

    fn run_err(&self, e: impl std::fmt::Display) -> ModelError {
        ModelError::Run { path: self.path.clone(), message: first_line(&e.to_string()) }
    }

    /// What the decoder computes of an image alone (`click_prepare`, once per image, after the
    /// encoder), for [`ClickFeatures::prepared`]; `None` when the folder has no such module.
    pub fn prepare(
        &self,
        image_embed: &Tensor,
        feat_s0: &Tensor,
        feat_s1: &Tensor,
    ) -> Result<Option<Vec<Tensor>>, ModelError> {
        let (Some((module, path)), Some(_)) = (&self.prepare, &self.prepared) else {
            return Ok(None);
        };
        let inputs = vec![image_embed.shallow_clone(), feat_s0.shallow_clone(), feat_s1.shallow_clone()];
        Ok(Some(run_module(module, path, inputs, 6)?))
    }

    /// Forgets the last answer (a new image was set).
    pub fn forget(&mut self) {
        self.last_logits = None;
    }

    /// Runs the decoder: `coords` `1×N×2` in model-input pixels, `labels` `1×N` int64 (1 positive,
    /// 0 negative, 2/3 box corners first), `mask_input` `1×1×m×m` logits or `None`.
    pub fn decode(
        &self,
        features: ClickFeatures<'_>,
        coords: &Tensor,
        labels: &Tensor,
        mask_input: Option<&Tensor>,
    ) -> Result<ClickOutputs, ModelError> {
        let dev = self.device.to_tch();
        if let (None, Some(prepared), Some((module, path))) = (mask_input, features.prepared, &self.prepared) {
            let mut inputs: Vec<Tensor> = prepared.iter().map(Tensor::shallow_clone).collect();
            inputs.extend([coords.to_device(dev), labels.to_device(dev)]);
            return self.outputs(run_module(module, path, inputs, 5)?);
        }
        let (mask, has_mask) = match mask_input {
            Some(m) => (m.shallow_clone(), Tensor::from_slice(&[1.0f32])),
            None => (
                Tensor::zeros([1, 1, self.mask_size, self.mask_size], (Kind::Float, dev)),
                Tensor::from_slice(&[0.0f32]),
            ),
        };
        let inputs = vec![
            features.image_embed.shallow_clone(),
            features.feat_s0.shallow_clone(),
            features.feat_s1.shallow_clone(),
            coords.to_device(dev),
            labels.to_device(dev),
            mask.to_device(dev),
            has_mask.to_device(dev),
        ];
        self.outputs(run_module(&self.module, &self.path, inputs, 5)?)
    }

    fn outputs(&self, tensors: Vec<Tensor>) -> Result<ClickOutputs, ModelError> {
        let [masks, iou_scores, object_score_logits, single_mask, single_iou]: [Tensor; 5] =
            tensors.try_into().map_err(|_| self.run_err("returned the wrong number of tensors"))?;
        Ok(ClickOutputs { masks, iou_scores, object_score_logits, single_mask, single_iou })
    }

    /// A click/box prompt on a `width`×`height` image as decoder inputs: coordinates `1×N×2` in
    /// model-input pixels (`x / width * input_width`, as `SAM2Transforms.transform_coords` does)
    /// and labels `1×N`, the box corners (labels 2, 3) first.
    pub fn prompt_tensors(&self, prompt: &Prompt, width: u32, height: u32) -> (Tensor, Tensor) {
        let (w, h) = (width as f32, height as f32);
        let (iw, ih) = (self.input_width as f32, self.input_height as f32);
        let mut coords: Vec<f32> = Vec::new();
        let mut labels: Vec<i64> = Vec::new();
        if let Some(b) = &prompt.bbox {
            coords.extend([b.x0_px / w * iw, b.y0_px / h * ih, b.x1_px / w * iw, b.y1_px / h * ih]);
            labels.extend([2, 3]);
        }
        for p in &prompt.points {
            coords.extend([p.x_px / w * iw, p.y_px / h * ih]);
            labels.push(if p.label == PointLabel::Positive { 1 } else { 0 });
        }
        let n = labels.len() as i64;
        (Tensor::from_slice(&coords).view([1, n, 2]), Tensor::from_slice(&labels).view([1, n]))
    }

    /// Runs the decoder on a prompt; `previous` is the mask being refined, if any.
    pub fn decode_prompt(
        &self,
        features: ClickFeatures<'_>,
        prompt: &Prompt,
        previous: Option<&Mask>,
        width: u32,
        height: u32,
    ) -> Result<ClickOutputs, ModelError> {
        let (coords, labels) = self.prompt_tensors(prompt, width, height);
        let mask_input = previous.map(|prev| self.mask_logits_for(prev));
        self.decode(features, &coords, &labels, mask_input.as_ref())
    }

    /// The answers to a click/box prompt, best first: for one click without a box the three
    /// hypotheses by predicted IoU (the official `multimask_output=True` use); otherwise the
    /// single-mask answer (`multimask_output=False`: token 0, or the best hypothesis when token 0
    /// is unstable), then the two best hypotheses. Empty masks are dropped; when every answer is
    /// empty the result is [`SegmentError::NothingFound`], never an empty mask.
    pub fn answer(
        &mut self,
        features: ClickFeatures<'_>,
        prompt: &Prompt,
        previous: Option<&Mask>,
        width: u32,
        height: u32,
    ) -> Result<Vec<ScoredMask>, SegmentError> {
        let start = std::time::Instant::now();
        let out = self.decode_prompt(features, prompt, previous, width, height)?;
        let decoder_ms = start.elapsed().as_secs_f64() * 1e3;
        let ambiguous = prompt.bbox.is_none() && prompt.points.len() == 1;
        let scores = |t: &Tensor| {
            Vec::<f32>::try_from(&t.to_kind(Kind::Float).to_device(tch::Device::Cpu).contiguous().view([-1]))
                .map_err(|e| self.run_err(e))
        };
        let mut candidates: Vec<(Tensor, f32)> = scores(&out.iou_scores)?
            .into_iter()
            .enumerate()
            .map(|(i, s)| (out.masks.narrow(1, i as i64, 1), s))
            .collect();
        candidates.sort_by(|a, b| b.1.total_cmp(&a.1));
        if !ambiguous {
            let single = scores(&out.single_iou)?.first().copied().unwrap_or(0.0);
            candidates.insert(0, (out.single_mask.shallow_clone(), single));
        }
        candidates.truncate(3);
        // All candidates resized and thresholded in one go (one upsampling, one copy out).
        let low_res: Vec<Tensor> =
            candidates.iter().map(|(t, _)| t.to_kind(Kind::Float).view([1, 1, -1, t.size()[t.dim() - 1]])).collect();
        let all = self.logits_at(&Tensor::cat(&low_res, 1), width, height)?;
        // A decoder that returns NaN gives no mask, not an empty or arbitrary one.
        if bool::try_from(all.isnan().any()).unwrap_or(true) || candidates.iter().any(|(_, s)| !s.is_finite()) {
            return Err(self.run_err("the click decoder returned NaN or infinite values").into());
        }
        let bits = all.gt(0.0).to_kind(Kind::Uint8).to_device(tch::Device::Cpu).contiguous().view([-1]);
        let bytes = Vec::<u8>::try_from(&bits).map_err(|e| self.run_err(e))?;
        let per_mask = width as usize * height as usize;
        let mut masks = Vec::new();
        let mut lead = None;
        for ((logits, score), bits) in candidates.iter().zip(bytes.chunks_exact(per_mask)) {
            let mask = Mask::from_bytes(width, height, bits).ok_or_else(|| self.run_err("mask size mismatch"))?;
            if mask.area() == 0 {
                continue;
            }
            lead.get_or_insert_with(|| (mask.clone(), logits.shallow_clone()));
            let score = score.clamp(0.0, 1.0);
            masks.push(ScoredMask { mask, score, label: None, box_xyxy: None, engine: self.engine });
        }
        self.last_logits = lead;
        tracing::debug!(decoder_ms, post_ms = start.elapsed().as_secs_f64() * 1e3 - decoder_ms, "click decode");
        if masks.is_empty() {
            return Err(SegmentError::NothingFound { engine: self.engine.as_str() });
        }
        Ok(masks)
    }

    /// Low-res logits (`1×k×m×m`) as the official post-processing leaves them at the photo size
    /// (`SAM2Transforms.postprocess_masks`): small background holes filled when the manifest asks
    /// (`max_hole_area`), then bilinear upsampling (align_corners=False) to `height`×`width`.
    /// Threshold at 0 for the mask.
    pub fn logits_at(&self, low_res: &Tensor, width: u32, height: u32) -> Result<Tensor, ModelError> {
        let size = low_res.size();
        let (h, w) = (size[size.len() - 2], size[size.len() - 1]);
        let x = low_res.to_kind(Kind::Float).view([-1, 1, h, w]);
        let x = if self.max_hole_area > 0 {
            fill_small_holes(&x, self.max_hole_area).map_err(|e| self.run_err(e))?
        } else {
            x
        };
        upsample_logits(&x, width, height).map_err(|e| self.run_err(e))
    }

    /// Low-res logits to feed back for a mask being refined: the decoder's own logits (clamped to
    /// ±32, as the official predictor returns them) when the mask is the one it led with last,
    /// else the mask resized to the decoder's mask size as ±10.
    fn mask_logits_for(&self, mask: &Mask) -> Tensor {
        if let Some((last, logits)) = &self.last_logits
            && last == mask
        {
            return logits.clamp(-32.0, 32.0);
        }
        let size = self.mask_size;
        let t = Tensor::from_slice(mask.as_bytes())
            .view([1, 1, i64::from(mask.height()), i64::from(mask.width())])
            .to_kind(Kind::Float);
        let small = t.upsample_bilinear2d([size, size], false, None, None);
        (small * 20.0 - 10.0).to_device(self.device.to_tch())
    }
}

/// Logits `…×h×w` resized to `height`×`width` (bilinear, align_corners=False, as
/// `F.interpolate` in the official post-processing): `1×k×height×width`.
pub fn upsample_logits(logits: &Tensor, width: u32, height: u32) -> Result<Tensor, tch::TchError> {
    let size = logits.size();
    let (h, w) = (size[size.len() - 2], size[size.len() - 1]);
    let (height, width) = (i64::from(height), i64::from(width));
    let x = logits.to_kind(Kind::Float).view([-1, 1, h, w]);
    Ok(x.f_upsample_bilinear2d([height, width], false, None, None)?.view([1, -1, height, width]))
}

/// The official click post-processing at low resolution, per mask of a `k×1×h×w` batch:
/// background components (8-connected, logit ≤ 0) of at most `max_area` pixels become
/// foreground (logit 10).
fn fill_small_holes(logits: &Tensor, max_area: u64) -> Result<Tensor, tch::TchError> {
    let size = logits.size();
    let (h, w) = (size[size.len() - 2], size[size.len() - 1]);
    let mut planes = Vec::new();
    for plane in logits.to_device(tch::Device::Cpu).contiguous().split(1, 0) {
        let values = Vec::<f32>::try_from(&plane.view([-1]))?;
        let background: Vec<u8> = values.iter().map(|&v| u8::from(v <= 0.0)).collect();
        let Some(mask) = Mask::from_bytes(w as u32, h as u32, &background) else {
            planes.push(plane);
            continue;
        };
        let (labels, areas) = mask.components();
        let filled: Vec<f32> = values
            .iter()
            .zip(&labels)
            .map(|(&v, &l)| if l != 0 && areas[l as usize] <= max_area { 10.0 } else { v })
            .collect();
        planes.push(Tensor::from_slice(&filled).view([1, 1, h, w]));
    }
    Ok(Tensor::cat(&planes, 0).to_device(logits.device()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_cache_says_when_the_current_image_changes() {
        // Memory only (no disk store): encoding, reuse of the current image, switching back to a
        // cached one — the decoder must forget its last answer on every switch, not only on encodes.
        let mut cache: FeatureCache<u8> = FeatureCache::new(4);
        let image = |v: u8| Image::from_rgb(image::RgbImage::from_pixel(8, 8, image::Rgb([v, v, v])));
        let (a, b) = (image(10), image(200));
        let mut set = |img: &Image, value: u8| {
            let encode = || Ok(vec![Tensor::zeros([1], (Kind::Float, tch::Device::Cpu))]);
            cache.set_image(img, &Progress::new(), "test", (1, tch::Device::Cpu), encode, |_| Ok(value)).unwrap()
        };
        assert!(set(&a, 1), "first image: encoded, changed");
        assert!(!set(&a, 9), "same image again: nothing changed");
        assert!(set(&b, 2), "another image: changed");
        assert!(set(&a, 9), "back to a cached image: changed, though nothing was encoded");
        assert_eq!(cache.source(), Some(FeatureSource::Memory));
        assert_eq!(cache.current().unwrap().0, &1, "the cached features, not a new encode");
    }

    #[test]
    fn small_background_holes_are_filled_per_mask() {
        // Two 6×6 masks: the first has a 1-pixel hole, the second a 9-pixel hole.
        let mut values = vec![5.0f32; 72];
        values[2 * 6 + 2] = -1.0;
        for y in 1..4 {
            for x in 1..4 {
                values[36 + y * 6 + x] = -1.0;
            }
        }
        let t = Tensor::from_slice(&values).view([2, 1, 6, 6]);
        let filled = Vec::<f32>::try_from(&fill_small_holes(&t, 4).unwrap().view([-1])).unwrap();
        assert_eq!(filled[2 * 6 + 2], 10.0, "1-pixel hole filled");
        assert_eq!(filled[36 + 2 * 6 + 2], -1.0, "9-pixel hole kept");
    }

    #[test]
    fn logits_upsample_like_interpolate() {
        let t = Tensor::from_slice(&[-1.0f32, 1.0, 1.0, -1.0]).view([1, 1, 2, 2]);
        let up = upsample_logits(&t, 4, 2).unwrap();
        assert_eq!(up.size(), [1, 1, 2, 4]);
        // align_corners=False: the outer columns copy the edge values.
        assert_eq!(up.double_value(&[0, 0, 0, 0]), -1.0);
        assert_eq!(up.double_value(&[0, 0, 0, 3]), 1.0);
    }

    #[test]
    fn previous_mask_must_have_the_photo_size() {
        assert!(check_previous_size(Some(&Mask::new(4, 3)), 4, 3).is_ok());
        assert!(matches!(check_previous_size(Some(&Mask::new(3, 4)), 4, 3), Err(SegmentError::MaskSize { .. })));
        assert!(check_previous_size(None, 4, 3).is_ok());
    }
}

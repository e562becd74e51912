//! The SAM 3 engine: TorchScript modules exported by `tools/export_sam3.py`, run through tch.
//! The image encoder runs once per image (features cached, LRU by image content); clicks and
//! boxes go through the click decoder, text through the text encoder and grounding decoder.

use std::path::{Path, PathBuf};

use tch::{IValue, Kind, Tensor};

use super::{EngineKind, ScoredMask, SegmentError, Segmenter};
use crate::core::image::Image;
use crate::core::mask::Mask;
use crate::core::prompt::{PointLabel, Prompt};
use crate::core::task::Progress;
use crate::model::clip_tokenizer::ClipTokenizer;
use crate::model::manifest::{InputSpec, Manifest};
use crate::model::runtime::{first_line, image_to_model_input};
use crate::model::{ComputeDevice, ModelError, ModelFolder, load_torchscript};

/// Images whose encoder features stay cached.
const FEATURE_CACHE: usize = 4;

/// Encoder outputs of one image (see `tools/SAM3_EXPORT_NOTES.md`): the detector's FPN levels and
/// the SAM 2-style branch the click decoder reads.
pub struct Sam3Features {
    pub fpn: [Tensor; 3],
    pub sam_feat_s0: Tensor,
    pub sam_feat_s1: Tensor,
    pub sam_image_embed: Tensor,
}

/// Raw click-decoder outputs: 3 hypotheses (low-res logits, predicted IoU), the object score
/// logit, and the single-mask answer.
pub struct ClickOutputs {
    pub masks: Tensor,
    pub iou_scores: Tensor,
    pub object_score_logits: Tensor,
    pub single_mask: Tensor,
    pub single_iou: Tensor,
}

/// Raw grounding-decoder outputs for one text prompt.
pub struct GroundingOutputs {
    /// `1×Q×1` logits.
    pub logits: Tensor,
    /// `1×Q×4`, (cx, cy, w, h) normalised to 0..1.
    pub boxes: Tensor,
    /// `1×Q×h×w` mask logits.
    pub masks: Tensor,
    /// `1×1` presence logit.
    pub presence_logit: Tensor,
}

/// Loaded SAM 3 modules and the features of recent images.
pub struct Sam3Segmenter {
    folder: PathBuf,
    manifest: Manifest,
    input: InputSpec,
    device: ComputeDevice,
    image_encoder: tch::CModule,
    click_decoder: tch::CModule,
    text_encoder: tch::CModule,
    grounding_decoder: tch::CModule,
    tokenizer: ClipTokenizer,
    context_length: usize,
    /// Instances scoring below this (score × presence) are dropped.
    pub score_threshold: f32,
    /// (content hash, width, height, features), most recent last.
    cache: Vec<(u64, u32, u32, Sam3Features)>,
    current: Option<usize>,
    /// The last click answer: (binary mask it produced, its low-res logits), for refinement.
    last_logits: Option<(Mask, Tensor)>,
}

fn config_int(manifest: &Manifest, key: &str, default: i64) -> i64 {
    manifest.config.get(key).and_then(toml::Value::as_integer).unwrap_or(default)
}

impl Sam3Segmenter {
    /// Loads the modules and the vocabulary named by a valid `sam3` model folder.
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
        // The exports record CPU constants while tracing (tools/SAM3_EXPORT_NOTES.md §8): they run
        // on the CPU unless the manifest says the folder was traced for CUDA.
        let cuda_ok = manifest.config.get("cuda").and_then(toml::Value::as_bool) == Some(true);
        let device = if cuda_ok { ComputeDevice::best() } else { ComputeDevice::Cpu };
        let file = |role: &str| -> Result<PathBuf, ModelError> {
            manifest.file(&folder.path, role).ok_or_else(|| ModelError::Manifest {
                path: manifest_path.clone(),
                message: format!("[files] lacks '{role}'"),
            })
        };
        let vocab = file("vocab")?;
        let tokenizer = ClipTokenizer::load(&vocab)
            .map_err(|e| ModelError::Manifest { path: vocab.clone(), message: e.to_string() })?;
        let score_threshold =
            manifest.config.get("score_threshold").and_then(toml::Value::as_float).unwrap_or(0.5) as f32;
        Ok(Self {
            folder: folder.path.clone(),
            context_length: config_int(&manifest, "context_length", 32).clamp(2, 1024) as usize,
            image_encoder: load_torchscript(&file("image_encoder")?, device)?,
            click_decoder: load_torchscript(&file("click_decoder")?, device)?,
            text_encoder: load_torchscript(&file("text_encoder")?, device)?,
            grounding_decoder: load_torchscript(&file("grounding_decoder")?, device)?,
            manifest,
            input,
            device,
            tokenizer,
            score_threshold,
            cache: Vec::new(),
            current: None,
            last_logits: None,
        })
    }

    pub fn folder(&self) -> &Path {
        &self.folder
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn tokenizer(&self) -> &ClipTokenizer {
        &self.tokenizer
    }

    fn run_err(&self, role: &str) -> impl Fn(String) -> ModelError + '_ {
        let path = self.manifest.file(&self.folder, role).unwrap_or_else(|| self.folder.clone());
        move |message| ModelError::Run { path: path.clone(), message }
    }

    fn forward(
        &self,
        module: &tch::CModule,
        role: &str,
        inputs: Vec<Tensor>,
        expected: usize,
    ) -> Result<Vec<Tensor>, ModelError> {
        let err = self.run_err(role);
        let inputs: Vec<IValue> = inputs.into_iter().map(IValue::Tensor).collect();
        let out = tch::no_grad(|| module.forward_is(&inputs)).map_err(|e| err(first_line(&e.to_string())))?;
        let tensors = flatten_tensors(out).map_err(&err)?;
        if tensors.len() != expected {
            return Err(err(format!("returned {} tensors, expected {expected}", tensors.len())));
        }
        Ok(tensors)
    }

    /// Runs the image encoder on a normalised `1×3×H×W` input.
    pub fn encode_tensor(&self, x: &Tensor) -> Result<Sam3Features, ModelError> {
        let mut t = self.forward(&self.image_encoder, "image_encoder", vec![x.shallow_clone()], 6)?.into_iter();
        let mut next = || t.next().unwrap_or_else(|| Tensor::zeros([0], (Kind::Float, tch::Device::Cpu)));
        Ok(Sam3Features {
            fpn: [next(), next(), next()],
            sam_feat_s0: next(),
            sam_feat_s1: next(),
            sam_image_embed: next(),
        })
    }

    /// Runs the click decoder: `coords` `1×N×2` in model-input pixels, `labels` `1×N` (1 positive,
    /// 0 negative, 2/3 box corners), `mask_input` `1×1×m×m` logits or `None`.
    pub fn decode_clicks(
        &self,
        features: &Sam3Features,
        coords: &Tensor,
        labels: &Tensor,
        mask_input: Option<&Tensor>,
    ) -> Result<ClickOutputs, ModelError> {
        let mask_size = config_int(&self.manifest, "mask_size", 288);
        let dev = self.device.to_tch();
        let (mask, has_mask) = match mask_input {
            Some(m) => (m.shallow_clone(), Tensor::from_slice(&[1.0f32])),
            None => (Tensor::zeros([1, 1, mask_size, mask_size], (Kind::Float, dev)), Tensor::from_slice(&[0.0f32])),
        };
        let inputs = vec![
            features.sam_image_embed.shallow_clone(),
            features.sam_feat_s0.shallow_clone(),
            features.sam_feat_s1.shallow_clone(),
            coords.to_device(dev),
            labels.to_device(dev),
            mask.to_device(dev),
            has_mask.to_device(dev),
        ];
        let mut t = self.forward(&self.click_decoder, "click_decoder", inputs, 5)?.into_iter();
        let mut next = || t.next().unwrap_or_else(|| Tensor::zeros([0], (Kind::Float, tch::Device::Cpu)));
        Ok(ClickOutputs {
            masks: next(),
            iou_scores: next(),
            object_score_logits: next(),
            single_mask: next(),
            single_iou: next(),
        })
    }

    /// Runs the text encoder on `1×L` token ids: `(text_features, text_mask)`.
    pub fn encode_text(&self, token_ids: &Tensor) -> Result<(Tensor, Tensor), ModelError> {
        let mut t = self
            .forward(&self.text_encoder, "text_encoder", vec![token_ids.to_device(self.device.to_tch())], 2)?
            .into_iter();
        let features = t.next().unwrap_or_else(|| Tensor::zeros([0], (Kind::Float, tch::Device::Cpu)));
        let mask = t.next().unwrap_or_else(|| Tensor::zeros([0], (Kind::Int64, tch::Device::Cpu)));
        Ok((features, mask))
    }

    /// Runs the grounding decoder on cached features and encoded text.
    pub fn ground(
        &self,
        features: &Sam3Features,
        text_features: &Tensor,
        text_mask: &Tensor,
    ) -> Result<GroundingOutputs, ModelError> {
        let inputs = vec![
            features.fpn[0].shallow_clone(),
            features.fpn[1].shallow_clone(),
            features.fpn[2].shallow_clone(),
            text_features.shallow_clone(),
            text_mask.shallow_clone(),
        ];
        let mut t = self.forward(&self.grounding_decoder, "grounding_decoder", inputs, 5)?.into_iter();
        let mut next = || t.next().unwrap_or_else(|| Tensor::zeros([0], (Kind::Float, tch::Device::Cpu)));
        Ok(GroundingOutputs { logits: next(), boxes: next(), masks: next(), presence_logit: next() })
    }

    fn features(&self) -> Result<&Sam3Features, SegmentError> {
        self.current.and_then(|i| self.cache.get(i)).map(|c| &c.3).ok_or(SegmentError::NoImage)
    }

    fn image_size(&self) -> Result<(u32, u32), SegmentError> {
        self.current.and_then(|i| self.cache.get(i)).map(|c| (c.1, c.2)).ok_or(SegmentError::NoImage)
    }

    fn click_masks(&mut self, prompt: &Prompt, previous: Option<&Mask>) -> Result<Vec<ScoredMask>, SegmentError> {
        let (w, h) = self.image_size()?;
        let (sx, sy) = (self.input.width as f32 / w as f32, self.input.height as f32 / h as f32);
        let mut coords: Vec<f32> = Vec::new();
        let mut labels: Vec<i64> = Vec::new();
        if let Some(b) = &prompt.bbox {
            coords.extend([b.x0_px * sx, b.y0_px * sy, b.x1_px * sx, b.y1_px * sy]);
            labels.extend([2, 3]);
        }
        for p in &prompt.points {
            coords.extend([p.x_px * sx, p.y_px * sy]);
            labels.push(if p.label == PointLabel::Positive { 1 } else { 0 });
        }
        let n = labels.len() as i64;
        let coords = Tensor::from_slice(&coords).view([1, n, 2]);
        let labels = Tensor::from_slice(&labels).view([1, n]);
        let mask_input = previous.map(|prev| self.mask_logits_for(prev));
        let out = self.decode_clicks(self.features()?, &coords, &labels, mask_input.as_ref())?;
        let to_err = |e: tch::TchError| SegmentError::from(self.run_err("click_decoder")(first_line(&e.to_string())));
        // One click with no box is ambiguous: offer the three hypotheses, best first. Otherwise
        // the single (stability-selected) answer leads, then the hypotheses.
        let ambiguous = prompt.bbox.is_none() && prompt.points.len() == 1;
        let mut candidates: Vec<(Tensor, f32)> = Vec::new();
        let ious = Vec::<f32>::try_from(&out.iou_scores.to_kind(Kind::Float).to_device(tch::Device::Cpu).view([-1]))
            .map_err(to_err)?;
        for (i, &iou) in ious.iter().enumerate() {
            candidates.push((out.masks.narrow(1, i as i64, 1), iou));
        }
        candidates.sort_by(|a, b| b.1.total_cmp(&a.1));
        if !ambiguous {
            let single_iou =
                out.single_iou.to_kind(Kind::Float).view([-1]).f_double_value(&[0]).map_err(to_err)? as f32;
            candidates.insert(0, (out.single_mask.shallow_clone(), single_iou));
        }
        candidates.truncate(3);
        let mut masks = Vec::new();
        let max_hole_area = config_int(&self.manifest, "max_hole_area", 256).max(0) as u64;
        for (logits, score) in &candidates {
            let filled = fill_small_holes(logits, max_hole_area).map_err(to_err)?;
            masks.push(ScoredMask {
                mask: self.upsample_to_mask(&filled, w, h)?,
                score: score.clamp(0.0, 1.0),
                label: None,
                box_xyxy: None,
                engine: EngineKind::Sam3,
            });
        }
        if let (Some(first), Some((logits, _))) = (masks.first(), candidates.first()) {
            self.last_logits = Some((first.mask.clone(), logits.shallow_clone()));
        }
        Ok(masks)
    }

    /// Low-res logits to feed back for a mask being refined: the decoder's own logits when the
    /// mask is the one it produced last, else the mask resized to the decoder's mask size as ±10.
    fn mask_logits_for(&self, mask: &Mask) -> Tensor {
        if let Some((last, logits)) = &self.last_logits
            && last == mask
        {
            return logits.clamp(-32.0, 32.0);
        }
        let size = config_int(&self.manifest, "mask_size", 288);
        let t = Tensor::from_slice(mask.as_bytes())
            .view([1, 1, i64::from(mask.height()), i64::from(mask.width())])
            .to_kind(Kind::Float);
        let small = t.upsample_bilinear2d([size, size], false, None, None);
        (small * 20.0 - 10.0).to_device(self.device.to_tch())
    }

    /// Mask logits (`1×1×h×w` or `h×w`) resized to the original image (bilinear) and thresholded at 0.
    fn upsample_to_mask(&self, logits: &Tensor, width: u32, height: u32) -> Result<Mask, SegmentError> {
        let size = logits.size();
        let (h, w) = (size[size.len() - 2], size[size.len() - 1]);
        let x = logits.view([1, 1, h, w]).to_kind(Kind::Float);
        let x = x
            .f_upsample_bilinear2d([i64::from(height), i64::from(width)], false, None, None)
            .map_err(|e| SegmentError::from(self.run_err("click_decoder")(first_line(&e.to_string()))))?;
        Ok(crate::model::runtime::tensor_to_mask(&x, 0.0)?)
    }

    fn text_masks(&mut self, text: &str) -> Result<Vec<ScoredMask>, SegmentError> {
        let (w, h) = self.image_size()?;
        let needed = self.tokenizer.token_count(text);
        if needed > self.context_length {
            return Err(SegmentError::TextTooLong { tokens: needed, context: self.context_length });
        }
        let ids = self.tokenizer.tokenize(text, self.context_length);
        let ids = Tensor::from_slice(&ids).view([1, self.context_length as i64]);
        let (features, mask) = self.encode_text(&ids)?;
        let out = self.ground(self.features()?, &features, &mask)?;
        let to_err =
            |e: tch::TchError| SegmentError::from(self.run_err("grounding_decoder")(first_line(&e.to_string())));
        let presence =
            out.presence_logit.to_kind(Kind::Float).sigmoid().view([-1]).f_double_value(&[0]).map_err(to_err)? as f32;
        let scores = Vec::<f32>::try_from(
            &(out.logits.to_kind(Kind::Float).sigmoid().view([-1]) * f64::from(presence)).to_device(tch::Device::Cpu),
        )
        .map_err(to_err)?;
        let boxes =
            Vec::<f32>::try_from(&out.boxes.to_kind(Kind::Float).to_device(tch::Device::Cpu).contiguous().view([-1]))
                .map_err(to_err)?;
        let mut order: Vec<usize> = (0..scores.len()).filter(|&i| scores[i] > self.score_threshold).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        let mut masks = Vec::new();
        for i in order {
            let logits = out.masks.select(1, i as i64);
            masks.push(ScoredMask {
                mask: self.upsample_to_mask(&logits, w, h)?,
                score: scores[i],
                label: Some(text.trim().to_owned()),
                box_xyxy: boxes.get(4 * i..4 * i + 4).map(|b| {
                    let (wf, hf) = (w as f32, h as f32);
                    [
                        (b[0] - b[2] / 2.0) * wf,
                        (b[1] - b[3] / 2.0) * hf,
                        (b[0] + b[2] / 2.0) * wf,
                        (b[1] + b[3] / 2.0) * hf,
                    ]
                }),
                engine: EngineKind::Sam3,
            });
        }
        Ok(masks)
    }
}

/// The official click post-processing at low resolution: background components (8-connected,
/// logit ≤ 0) of at most `max_area` pixels become foreground (logit 10).
fn fill_small_holes(logits: &Tensor, max_area: u64) -> Result<Tensor, tch::TchError> {
    let size = logits.size();
    let (h, w) = (size[size.len() - 2], size[size.len() - 1]);
    let values =
        Vec::<f32>::try_from(&logits.to_kind(Kind::Float).to_device(tch::Device::Cpu).contiguous().view([-1]))?;
    let background: Vec<u8> = values.iter().map(|&v| u8::from(v <= 0.0)).collect();
    let Some(mask) = Mask::from_bytes(w as u32, h as u32, &background) else { return Ok(logits.shallow_clone()) };
    let (labels, areas) = mask.components();
    if max_area == 0 || !areas.iter().skip(1).any(|&a| a <= max_area) {
        return Ok(logits.shallow_clone());
    }
    let filled: Vec<f32> = values
        .iter()
        .zip(&labels)
        .map(|(&v, &l)| if l != 0 && areas[l as usize] <= max_area { 10.0 } else { v })
        .collect();
    Ok(Tensor::from_slice(&filled).view([1, 1, h, w]).to_device(logits.device()))
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
        let x = image_to_model_input(image, &self.input, self.device)?;
        let features = self.encode_tensor(&x)?;
        progress.check()?;
        if self.cache.len() >= FEATURE_CACHE {
            self.cache.remove(0);
        }
        self.cache.push((key.0, key.1, key.2, features));
        self.current = Some(self.cache.len() - 1);
        self.last_logits = None;
        progress.set(1.0, "image encoded");
        Ok(())
    }

    fn segment(&mut self, prompt: &Prompt, previous: Option<&Mask>) -> Result<Vec<ScoredMask>, SegmentError> {
        let (w, h) = self.image_size()?;
        prompt.validate(w, h)?;
        if let Some(prev) = previous
            && (prev.width(), prev.height()) != (w, h)
        {
            return Err(SegmentError::MaskSize {
                got_width: prev.width(),
                got_height: prev.height(),
                width: w,
                height: h,
            });
        }
        match prompt.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            Some(text) => self.text_masks(text),
            None => self.click_masks(prompt, previous),
        }
    }
}

//! The SAM 3 engine: TorchScript modules exported by `tools/export_sam3.py`, run through tch.
//! The image encoder runs once per image (features cached, LRU by image content); clicks and
//! boxes go through the click decoder, text through the text encoder and grounding decoder.

use std::path::Path;

use tch::{Kind, Tensor};

pub use super::sam_click::ClickOutputs;
use super::sam_click::{
    ClickDecoder, ClickFeatures, FeatureCache, LazyModule, OpenFolder, check_previous_size, set_image_encoded,
    upsample_logits,
};
use super::{EngineKind, FeatureSource, ScoredMask, SegmentError, Segmenter};
use crate::core::image::Image;
use crate::core::mask::Mask;
use crate::core::prompt::Prompt;
use crate::core::task::Progress;
use crate::model::clip_tokenizer::ClipTokenizer;
use crate::model::manifest::Manifest;
use crate::model::precision::{Precision, PrecisionChoice};
use crate::model::runtime::{first_line, image_to_model_input};
use crate::model::{ModelError, ModelFolder};

/// `fpn0..2`, `sam_feat_s0`, `sam_feat_s1`, `sam_image_embed`.
const ENCODER_OUTPUTS: usize = 6;

/// Encoder outputs of one image (see `tools/SAM3_EXPORT_NOTES.md`): the detector's FPN levels and
/// the SAM 2-style branch the click decoder reads.
pub struct Sam3Features {
    pub fpn: [Tensor; 3],
    pub sam_feat_s0: Tensor,
    pub sam_feat_s1: Tensor,
    pub sam_image_embed: Tensor,
    /// [`ClickDecoder::prepare`]'s outputs, when the folder has `click_prepare` (exports since 2026-12-04).
    pub click_prepared: Option<Vec<Tensor>>,
}

impl Sam3Features {
    fn click(&self) -> ClickFeatures<'_> {
        ClickFeatures {
            image_embed: &self.sam_image_embed,
            feat_s0: &self.sam_feat_s0,
            feat_s1: &self.sam_feat_s1,
            prepared: self.click_prepared.as_deref(),
        }
    }
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
    open: OpenFolder,
    image_encoder: LazyModule,
    precision: Precision,
    click: ClickDecoder,
    text_encoder: LazyModule,
    grounding_decoder: LazyModule,
    tokenizer: ClipTokenizer,
    context_length: usize,
    /// Instances scoring below this (score × presence) are dropped.
    pub score_threshold: f32,
    cache: FeatureCache<Sam3Features>,
}

impl Sam3Segmenter {
    /// Opens a valid `sam3` model folder: the vocabulary and the click decoder now, the image
    /// encoder (at the precision `precision` resolves to) and the text path on first use.
    pub fn load(folder: &ModelFolder, precision: PrecisionChoice) -> Result<Self, SegmentError> {
        let open = OpenFolder::open(folder)?;
        let (image_encoder, precision) = open.image_encoder(precision)?;
        let vocab = open.file("vocab")?;
        let tokenizer = ClipTokenizer::load(&vocab)
            .map_err(|e| ModelError::Manifest { path: vocab.clone(), message: e.to_string() })?;
        let score_threshold =
            open.manifest.config.get("score_threshold").and_then(toml::Value::as_float).unwrap_or(0.5) as f32;
        Ok(Self {
            context_length: open.config_int("context_length", 32).clamp(2, 1024) as usize,
            cache: FeatureCache::for_encoder(&open, &image_encoder, precision),
            image_encoder,
            precision,
            click: ClickDecoder::load(&open, EngineKind::Sam3, 288)?,
            text_encoder: LazyModule::new(&open, "text_encoder")?,
            grounding_decoder: LazyModule::new(&open, "grounding_decoder")?,
            tokenizer,
            score_threshold,
            open,
        })
    }

    pub fn folder(&self) -> &Path {
        &self.open.path
    }

    pub fn manifest(&self) -> &Manifest {
        &self.open.manifest
    }

    pub fn tokenizer(&self) -> &ClipTokenizer {
        &self.tokenizer
    }

    fn run_err(&self, role: &str) -> impl Fn(String) -> ModelError + '_ {
        let path = self.open.manifest.file(&self.open.path, role).unwrap_or_else(|| self.open.path.clone());
        move |message| ModelError::Run { path: path.clone(), message }
    }

    /// The precision the image encoder runs at.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Runs the image encoder on a normalised `1×3×H×W` input.
    pub fn encode_tensor(&self, x: &Tensor) -> Result<Sam3Features, ModelError> {
        encode(&self.image_encoder, &self.click, x)
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
        self.click.decode(features.click(), coords, labels, mask_input)
    }

    pub fn click_decoder(&self) -> &ClickDecoder {
        &self.click
    }

    /// The raw click-decoder answer to a click/box prompt on the current image (low-res logits of
    /// the three hypotheses and of the single mask, with scores); `mask_input` is `1×1×288×288`
    /// logits, as the official `predict_inst(mask_input=...)` takes them.
    pub fn predict(&self, prompt: &Prompt, mask_input: Option<&Tensor>) -> Result<ClickOutputs, SegmentError> {
        let (features, w, h) = self.cache.current()?;
        prompt.validate(w, h)?;
        let (coords, labels) = self.click.prompt_tensors(prompt, w, h);
        Ok(self.click.decode(features.click(), &coords, &labels, mask_input)?)
    }

    /// Runs the text encoder on `1×L` token ids: `(text_features, text_mask)`.
    pub fn encode_text(&self, token_ids: &Tensor) -> Result<(Tensor, Tensor), ModelError> {
        let mut t = self.text_encoder.run(vec![token_ids.to_device(self.open.device.to_tch())], 2)?.into_iter();
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
        let mut t = self.grounding_decoder.run(inputs, 5)?.into_iter();
        let mut next = || t.next().unwrap_or_else(|| Tensor::zeros([0], (Kind::Float, tch::Device::Cpu)));
        Ok(GroundingOutputs { logits: next(), boxes: next(), masks: next(), presence_logit: next() })
    }

    /// Mask logits (`1×1×h×w` or `h×w`) resized to the original image (bilinear) and thresholded at 0.
    fn upsample_to_mask(&self, logits: &Tensor, width: u32, height: u32) -> Result<Mask, SegmentError> {
        let x = upsample_logits(logits, width, height)
            .map_err(|e| SegmentError::from(self.run_err("grounding_decoder")(first_line(&e.to_string()))))?;
        Ok(crate::model::runtime::tensor_to_mask(&x, 0.0)?)
    }

    fn text_masks(&mut self, text: &str) -> Result<Vec<ScoredMask>, SegmentError> {
        let (features, w, h) = self.cache.current()?;
        let needed = self.tokenizer.token_count(text);
        if needed > self.context_length {
            return Err(SegmentError::TextTooLong { tokens: needed, context: self.context_length });
        }
        let ids = self.tokenizer.tokenize(text, self.context_length);
        let ids = Tensor::from_slice(&ids).view([1, self.context_length as i64]);
        let (text_features, text_mask) = self.encode_text(&ids)?;
        let out = self.ground(features, &text_features, &text_mask)?;
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

fn encode(encoder: &LazyModule, click: &ClickDecoder, x: &Tensor) -> Result<Sam3Features, ModelError> {
    features_from(click, encoder.path(), encoder.run_encoder(x.shallow_clone(), ENCODER_OUTPUTS)?)
}

/// The encoder's outputs as [`Sam3Features`] (with `click_prepare` run on the SAM 2-style branch).
fn features_from(click: &ClickDecoder, encoder: &Path, outputs: Vec<Tensor>) -> Result<Sam3Features, ModelError> {
    let [fpn0, fpn1, fpn2, sam_feat_s0, sam_feat_s1, sam_image_embed]: [Tensor; ENCODER_OUTPUTS] =
        outputs
            .try_into()
            .map_err(|_| ModelError::Run { path: encoder.to_owned(), message: "wrong number of outputs".into() })?;
    let click_prepared = click.prepare(&sam_image_embed, &sam_feat_s0, &sam_feat_s1)?;
    Ok(Sam3Features { fpn: [fpn0, fpn1, fpn2], sam_feat_s0, sam_feat_s1, sam_image_embed, click_prepared })
}

impl Segmenter for Sam3Segmenter {
    fn set_min_instance_score(&mut self, score: f32) {
        self.score_threshold = score;
    }

    fn engine(&self) -> EngineKind {
        EngineKind::Sam3
    }

    fn feature_source(&self) -> Option<FeatureSource> {
        self.cache.source()
    }

    fn precision(&self) -> Option<Precision> {
        Some(self.precision)
    }

    fn set_image(&mut self, image: &Image, progress: &Progress) -> Result<(), SegmentError> {
        let open = &self.open;
        let preprocess = || image_to_model_input(image, &open.input, open.device);
        set_image_encoded(
            &mut self.cache,
            &mut self.click,
            &self.image_encoder,
            ENCODER_OUTPUTS,
            (image, progress, "SAM 3"),
            preprocess,
            features_from,
        )
    }

    fn segment(&mut self, prompt: &Prompt, previous: Option<&Mask>) -> Result<Vec<ScoredMask>, SegmentError> {
        let (_, w, h) = self.cache.current()?;
        prompt.validate(w, h)?;
        check_previous_size(previous, w, h)?;
        match prompt.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            Some(text) => self.text_masks(text),
            None => {
                let (features, w, h) = self.cache.current()?;
                self.click.answer(features.click(), prompt, previous, w, h)
            }
        }
    }
}

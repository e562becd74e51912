//! The SAM 2.1 engine: the image encoder and click decoder exported by `tools/export_sam2.py`
//! from the official `sam2` package (open weights: tiny, small, base+, large), run through tch.
//! It answers what `SAM2ImagePredictor` answers: the image is encoded once (features cached per
//! image), then clicks, a box or a box with clicks are decoded into three hypotheses with their
//! predicted IoU, or the single stability-selected mask when the prompt is not ambiguous.
//! Pre-processing is `SAM2Transforms` (RGB to 0..1, bilinear antialiased resize of the float image
//! to 1024×1024, ImageNet mean/std); masks are the logits upsampled to the photo and cut at 0.
//! Text prompts need SAM 3.

use std::path::Path;

use tch::Tensor;

use super::sam_click::{
    ClickDecoder, ClickFeatures, ClickOutputs, FeatureCache, LazyModule, OpenFolder, check_previous_size,
    set_image_encoded,
};
use super::{EngineKind, FeatureSource, ScoredMask, SegmentError, Segmenter};
use crate::core::image::Image;
use crate::core::mask::Mask;
use crate::core::prompt::Prompt;
use crate::core::task::Progress;
use crate::model::manifest::Manifest;
use crate::model::precision::{Precision, PrecisionChoice};
use crate::model::runtime::image_to_model_input_float_resize;
use crate::model::{ModelError, ModelFolder};

/// `image_embed`, `feat_s0`, `feat_s1`.
const ENCODER_OUTPUTS: usize = 3;

/// Encoder outputs of one image, as `SAM2ImagePredictor.set_image` caches them.
pub struct Sam2Features {
    /// `1×256×64×64`, with `no_mem_embed` added.
    pub image_embed: Tensor,
    /// `1×32×256×256` (after `conv_s0`).
    pub feat_s0: Tensor,
    /// `1×64×128×128` (after `conv_s1`).
    pub feat_s1: Tensor,
    /// [`ClickDecoder::prepare`]'s outputs, when the folder has `click_prepare` (exports since 2026-12-04).
    pub prepared: Option<Vec<Tensor>>,
}

impl Sam2Features {
    pub fn click(&self) -> ClickFeatures<'_> {
        ClickFeatures {
            image_embed: &self.image_embed,
            feat_s0: &self.feat_s0,
            feat_s1: &self.feat_s1,
            prepared: self.prepared.as_deref(),
        }
    }
}

/// Loaded SAM 2.1 modules and the features of recent images.
pub struct Sam2Segmenter {
    open: OpenFolder,
    image_encoder: LazyModule,
    precision: Precision,
    click: ClickDecoder,
    cache: FeatureCache<Sam2Features>,
}

impl Sam2Segmenter {
    /// Opens a valid `sam2` model folder: the click decoder now, the image encoder (at the
    /// precision `precision` resolves to) on first use.
    pub fn load(folder: &ModelFolder, precision: PrecisionChoice) -> Result<Self, SegmentError> {
        let open = OpenFolder::open(folder)?;
        let (image_encoder, precision) = open.image_encoder(precision)?;
        Ok(Self {
            cache: FeatureCache::for_encoder(&open, &image_encoder, precision),
            image_encoder,
            precision,
            click: ClickDecoder::load(&open, EngineKind::Sam2, 256)?,
            open,
        })
    }

    /// The precision the image encoder runs at.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    pub fn folder(&self) -> &Path {
        &self.open.path
    }

    pub fn manifest(&self) -> &Manifest {
        &self.open.manifest
    }

    pub fn click_decoder(&self) -> &ClickDecoder {
        &self.click
    }

    /// The image as the encoder takes it (`SAM2Transforms`): `1×3×1024×1024`, normalised.
    pub fn preprocess(&self, image: &Image) -> Result<Tensor, ModelError> {
        image_to_model_input_float_resize(image, &self.open.input, self.open.device)
    }

    /// Runs the image encoder (and `click_prepare`) on a pre-processed `1×3×H×W` input.
    pub fn encode_tensor(&self, x: &Tensor) -> Result<Sam2Features, ModelError> {
        encode(&self.image_encoder, &self.click, x)
    }

    /// The current image's features and its size (after [`Segmenter::set_image`]).
    pub fn features(&self) -> Result<(&Sam2Features, u32, u32), SegmentError> {
        self.cache.current()
    }

    /// The raw decoder answer to a click/box prompt on the current image (low-res logits of the
    /// three hypotheses and of the single mask, with scores); `mask_input` is `1×1×256×256`
    /// logits, as the official `predict(mask_input=...)` takes them.
    pub fn predict(&self, prompt: &Prompt, mask_input: Option<&Tensor>) -> Result<ClickOutputs, SegmentError> {
        let (features, w, h) = self.cache.current()?;
        prompt.validate(w, h)?;
        let (coords, labels) = self.click.prompt_tensors(prompt, w, h);
        Ok(self.click.decode(features.click(), &coords, &labels, mask_input)?)
    }
}

fn encode(encoder: &LazyModule, click: &ClickDecoder, x: &Tensor) -> Result<Sam2Features, ModelError> {
    features_from(click, encoder.path(), encoder.run_encoder(x.shallow_clone(), ENCODER_OUTPUTS)?)
}

/// The encoder's outputs as [`Sam2Features`] (with `click_prepare` run on them).
fn features_from(click: &ClickDecoder, encoder: &Path, outputs: Vec<Tensor>) -> Result<Sam2Features, ModelError> {
    let [image_embed, feat_s0, feat_s1]: [Tensor; ENCODER_OUTPUTS] = outputs
        .try_into()
        .map_err(|_| ModelError::Run { path: encoder.to_owned(), message: "wrong number of outputs".into() })?;
    let prepared = click.prepare(&image_embed, &feat_s0, &feat_s1)?;
    Ok(Sam2Features { image_embed, feat_s0, feat_s1, prepared })
}

impl Segmenter for Sam2Segmenter {
    fn engine(&self) -> EngineKind {
        EngineKind::Sam2
    }

    fn feature_source(&self) -> Option<FeatureSource> {
        self.cache.source()
    }

    fn precision(&self) -> Option<Precision> {
        Some(self.precision)
    }

    fn set_image(&mut self, image: &Image, progress: &Progress) -> Result<(), SegmentError> {
        let open = &self.open;
        let preprocess = || image_to_model_input_float_resize(image, &open.input, open.device);
        set_image_encoded(
            &mut self.cache,
            &mut self.click,
            &self.image_encoder,
            ENCODER_OUTPUTS,
            (image, progress, "SAM 2.1"),
            preprocess,
            features_from,
        )
    }

    fn segment(&mut self, prompt: &Prompt, previous: Option<&Mask>) -> Result<Vec<ScoredMask>, SegmentError> {
        let (features, w, h) = self.cache.current()?;
        prompt.validate(w, h)?;
        if prompt.text.as_deref().is_some_and(|t| !t.trim().is_empty()) {
            return Err(SegmentError::TextNeedsModel);
        }
        check_previous_size(previous, w, h)?;
        self.click.answer(features.click(), prompt, previous, w, h)
    }
}

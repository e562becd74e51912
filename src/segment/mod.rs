//! Segmentation: the [`Segmenter`] trait (set an image once, then answer prompts cheaply), the
//! engines (the classical graph-cut engine that needs no weights; SAM 3 and SAM 2.1 through
//! libtorch, sharing their click path in `sam_click`), mask post-processing, and the interactive
//! evaluation protocol (NoC) used by tests and benchmarks.

pub mod classical;
pub mod eval;
pub mod maxflow;
pub mod postprocess;
pub mod prelabel;
pub mod run;
pub mod sam2;
pub mod sam3;
pub mod sam_click;

use serde::Serialize;

use crate::core::image::Image;
use crate::core::mask::Mask;
use crate::core::prompt::{Prompt, PromptError};
use crate::core::task::{Cancelled, Progress};

pub use classical::{ClassicalParams, ClassicalSegmenter};

/// Where a model engine took the current image's encoder features from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureSource {
    /// The encoder ran.
    Encoded,
    /// Kept in memory from an earlier `set_image` of the same picture.
    Memory,
    /// Read from the on-disk feature cache (`model::feature_store`).
    DiskCache,
}

/// Which engine produced a mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// Graph cut on colour models; needs no weights.
    Classical,
    /// SAM 3 through libtorch.
    Sam3,
    /// SAM 2.1 through libtorch (clicks and boxes).
    Sam2,
}

impl EngineKind {
    pub const ALL: [EngineKind; 3] = [Self::Classical, Self::Sam3, Self::Sam2];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Classical => "classical",
            Self::Sam3 => "sam3",
            Self::Sam2 => "sam2",
        }
    }

    /// The engine named `name` (as [`EngineKind::as_str`] writes it).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Whether the engine runs a model that encodes each image once (worth doing in the background).
    pub fn encodes_images(self) -> bool {
        self != Self::Classical
    }
}

/// What the user asked for on the command line or in the engine picker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineChoice {
    /// SAM 3 when a valid model folder is found, else SAM 2.1, else classical.
    #[default]
    Auto,
    Classical,
    Sam3,
    /// SAM 2.1 (open weights; clicks and boxes).
    Sam2,
}

/// Errors from segmentation.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    #[error(transparent)]
    Prompt(#[from] PromptError),
    #[error(
        "text prompts need a SAM 3 model folder (the classical and SAM 2.1 engines understand clicks and boxes only); \
         make one with `.venv/bin/python tools/export_sam3.py --out DIR [--checkpoint sam3.pt]` and pass \
         `--models DIR` or put it in $CARVE_MODELS"
    )]
    TextNeedsModel,
    #[error("the text prompt needs {tokens} tokens but the model reads at most {context}: shorten it")]
    TextTooLong { tokens: usize, context: usize },
    #[error(
        "the {engine} engine found no object at this prompt (every mask it proposed is empty): click inside the \
         object or draw a larger box"
    )]
    NothingFound { engine: &'static str },
    #[error("no image set: call set_image first")]
    NoImage,
    #[error("mask is {got_width}×{got_height} but the image is {width}×{height}")]
    MaskSize { got_width: u32, got_height: u32, width: u32, height: u32 },
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error("cancelled")]
    Cancelled(#[from] Cancelled),
}

/// One mask hypothesis (a click/box answer) or instance (a text answer).
#[derive(Clone, Debug)]
pub struct ScoredMask {
    pub mask: Mask,
    /// Engine confidence in 0..1 (SAM 3: predicted IoU or score × presence).
    pub score: f32,
    /// The concept it answers, for text prompts.
    pub label: Option<String>,
    /// The engine's own box `[x0, y0, x1, y1]` in image pixels (text instances), if any.
    pub box_xyxy: Option<[f32; 4]>,
    pub engine: EngineKind,
}

/// A segmentation engine: [`Segmenter::set_image`] once per image (the expensive part, cached),
/// then [`Segmenter::segment`] per prompt (cheap).
pub trait Segmenter: Send {
    fn engine(&self) -> EngineKind;

    /// Prepares the image (encodes it, for model engines). Reports progress; can be cancelled.
    fn set_image(&mut self, image: &Image, progress: &Progress) -> Result<(), SegmentError>;

    /// Where the current image's encoder features came from (`None`: the engine has no encoder).
    fn feature_source(&self) -> Option<FeatureSource> {
        None
    }

    /// The precision the engine's image encoder runs at (`None`: the engine has no encoder).
    fn precision(&self) -> Option<crate::model::precision::Precision> {
        None
    }

    /// Sets the score below which concept (text) instances are dropped; engines without concepts
    /// ignore it.
    fn set_min_instance_score(&mut self, _score: f32) {}

    /// Answers a prompt on the current image: up to 3 hypotheses, best first, for clicks/boxes;
    /// every instance for text. `previous` is the mask being refined, if any.
    fn segment(&mut self, prompt: &Prompt, previous: Option<&Mask>) -> Result<Vec<ScoredMask>, SegmentError>;
}

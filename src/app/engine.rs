//! The segmentation engine of the window: `auto` over the model folders found at start, and the
//! engine picker's choice loaded in the background (a failure keeps the current engine and every
//! mask).

use std::path::Path;

use crate::core::task::{Task, TaskPanicked};
use crate::model::precision::PrecisionChoice;
use crate::model::{ModelError, ModelFolder, SearchOrigin};
use crate::segment::{EngineChoice, SegmentError, Segmenter};

/// Why the chosen engine could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("model folder {folder}: {}", problems.join("; "))]
    InvalidFolder { folder: String, problems: Vec<String> },
    #[error(transparent)]
    Search(#[from] ModelError),
    #[error(transparent)]
    Load(#[from] SegmentError),
}

/// What a model load gives.
pub type EngineResult = Result<Box<dyn Segmenter>, EngineError>;

/// The engine picker: the choice, the model folder typed or browsed, and the load in progress.
#[derive(Default)]
pub struct EngineState {
    pub choice: EngineChoice,
    /// The image encoder's precision for model engines (auto: bf16 where the CPU runs it natively).
    pub precision: PrecisionChoice,
    pub model_folder: String,
    task: Option<Task<EngineResult>>,
}

impl EngineState {
    pub fn busy(&self) -> bool {
        self.task.is_some()
    }

    /// How far the load is (0..1), while one runs.
    pub fn fraction(&self) -> Option<f32> {
        self.task.as_ref().map(|t| t.progress().fraction())
    }

    pub fn cancel(&self) {
        if let Some(task) = &self.task {
            task.cancel();
        }
    }

    /// Loads the chosen engine (and model folder; empty: the search path) in the background.
    pub fn load(&mut self) {
        let (choice, precision) = (self.choice, self.precision);
        let folder = self.model_folder.trim().to_owned();
        self.task = Some(Task::spawn("loading model", move |_| {
            let models = if folder.is_empty() {
                crate::model::discover(None)?
            } else {
                let f = ModelFolder::inspect(Path::new(&folder), SearchOrigin::Explicit);
                if !f.valid {
                    return Err(EngineError::InvalidFolder { folder, problems: f.problems });
                }
                vec![f]
            };
            Ok(crate::segment::run::make_segmenter(choice, precision, &models)?)
        }));
    }

    /// The finished load, once.
    pub fn poll(&mut self) -> Option<Result<EngineResult, TaskPanicked>> {
        let result = self.task.as_mut()?.try_take()?;
        self.task = None;
        Some(result)
    }
}

/// The engine a new photo starts with: `auto` over the model folders found (SAM 3, else SAM 2.1,
/// when a valid one is present), else the classical engine and the reason, for an error toast.
pub fn window_segmenter() -> (Box<dyn Segmenter>, Option<String>) {
    let models = crate::model::discover(None).unwrap_or_else(|e| {
        tracing::warn!("looking for model folders: {e}");
        Vec::new()
    });
    match crate::segment::run::make_segmenter(EngineChoice::Auto, PrecisionChoice::Auto, &models) {
        Ok(s) => (s, None),
        Err(e) => (
            Box::new(crate::segment::ClassicalSegmenter::default()),
            Some(format!("model engine unavailable, using the classical engine: {e}")),
        ),
    }
}

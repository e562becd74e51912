//! Pre-labelling a dataset's images with concept prompts (SAM 3): each concept (a text, and the
//! class its instances get) finds every instance in an image; what comes back are pre-labels for
//! [`crate::io::dataset::Dataset::add_prelabels`], which puts them beside the human labels and
//! never into them. The one loop here serves `carve dataset prelabel`, `carve segment --batch
//! --dataset` and the window's "concept across the folder" (which applies each image's result on
//! the UI thread as it arrives).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::core::image::Image;
use crate::core::mask::Mask;
use crate::core::prompt::Prompt;
use crate::core::task::Progress;
use crate::segment::postprocess::Cleanup;
use crate::segment::run::segment_image;
use crate::segment::{SegmentError, Segmenter};

/// A text prompt and the class its instances are labelled with.
#[derive(Clone, Debug, PartialEq)]
pub struct Concept {
    pub text: String,
    pub class: String,
}

impl Concept {
    /// A concept whose class is its own text.
    pub fn named(text: &str) -> Self {
        Self { text: text.trim().to_owned(), class: text.trim().to_owned() }
    }
}

/// What a pre-labelling run looks for and keeps.
#[derive(Clone, Debug)]
pub struct PrelabelOptions {
    pub concepts: Vec<Concept>,
    /// Instances kept per concept and image, best first.
    pub max_per_image: usize,
    /// Instances scored at or below are dropped (`None`: the engine's own threshold, SAM 3's
    /// manifest `score_threshold`, 0.5 by default).
    pub min_score: Option<f32>,
    /// Instances smaller than this (pixels, after clean-up) are dropped.
    pub min_area_px: u64,
}

impl Default for PrelabelOptions {
    fn default() -> Self {
        Self { concepts: Vec::new(), max_per_image: 50, min_score: None, min_area_px: 16 }
    }
}

/// One pre-label: the mask, its class, the engine that made it and its score.
#[derive(Clone, Debug)]
pub struct Prelabel {
    pub mask: Mask,
    pub class: String,
    pub engine: String,
    pub score: f32,
}

impl Prelabel {
    /// As [`crate::io::dataset::Dataset::add_prelabels`] takes it.
    pub fn into_tuple(self) -> (Mask, String, String, f32) {
        (self.mask, self.class, self.engine, self.score)
    }
}

/// Why an image could not be pre-labelled (the run goes on with the next).
#[derive(Debug, thiserror::Error)]
pub enum PrelabelError {
    #[error(transparent)]
    Image(#[from] crate::core::image::ImageError),
    #[error("{}: {source}", path.display())]
    Segment { path: PathBuf, source: SegmentError },
    #[error("give at least one concept (a text prompt)")]
    NoConcept,
}

/// Every concept of `options` on one image, cleaned, best first per concept.
pub fn prelabel_image(
    segmenter: &mut dyn Segmenter,
    image: &Image,
    options: &PrelabelOptions,
    progress: &Progress,
) -> Result<Vec<Prelabel>, SegmentError> {
    let cleanup = Cleanup::for_image(image.width(), image.height());
    let engine = segmenter.engine().as_str().to_owned();
    if let Some(score) = options.min_score {
        segmenter.set_min_instance_score(score);
    }
    let mut out = Vec::new();
    let n = options.concepts.len().max(1) as f32;
    for (k, concept) in options.concepts.iter().enumerate() {
        let prompt = Prompt { text: Some(concept.text.clone()), ..Default::default() };
        let step = progress.sub(k as f32 / n, (k + 1) as f32 / n);
        let outcome = segment_image(segmenter, image, &prompt, Some(cleanup), &step)?;
        out.extend(
            outcome.masks.into_iter().filter(|m| m.mask.area() >= options.min_area_px).take(options.max_per_image).map(
                |m| Prelabel { mask: m.mask, class: concept.class.clone(), engine: engine.clone(), score: m.score },
            ),
        );
    }
    Ok(out)
}

/// Pre-labels the images `items` (id, path) one after another, handing each result to `each`
/// as soon as it is there (`each` returning an error stops the run with it). The engine is held
/// only while an image is segmented, so a window can answer clicks between images. Progress
/// counts images; a cancel stops between images and returns `Ok` with how many were done.
pub fn prelabel_images<E>(
    segmenter: &Mutex<Box<dyn Segmenter>>,
    items: &[(u64, PathBuf)],
    options: &PrelabelOptions,
    progress: &Progress,
    mut each: impl FnMut(u64, &Path, Result<Vec<Prelabel>, PrelabelError>) -> Result<(), E>,
) -> Result<usize, E> {
    let n = items.len().max(1) as f32;
    let mut done = 0;
    for (k, (id, path)) in items.iter().enumerate() {
        if progress.is_cancelled() {
            break;
        }
        let name = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        progress.set(k as f32 / n, format!("{}/{} {name}", k + 1, items.len()));
        let step = progress.sub(k as f32 / n, (k + 1) as f32 / n);
        let result = if options.concepts.is_empty() {
            Err(PrelabelError::NoConcept)
        } else {
            match Image::load(path) {
                Err(e) => Err(PrelabelError::Image(e)),
                Ok(image) => match segmenter.lock() {
                    Ok(mut engine) => prelabel_image(engine.as_mut(), &image, options, &step),
                    Err(_) => Err(SegmentError::NoImage),
                }
                .map_err(|source| PrelabelError::Segment { path: path.clone(), source }),
            }
        };
        // A cancel inside the image is no failure of the image: it stays to do.
        if progress.is_cancelled() && result.is_err() {
            break;
        }
        each(*id, path, result)?;
        done += 1;
    }
    progress.set(1.0, format!("{done} images pre-labelled"));
    Ok(done)
}

//! The standard interactive-segmentation protocol (as in RITM/SimpleClick evaluations): each
//! next click goes to the interior-most point of the largest error region, positive when that
//! region is missed foreground; NoC@t is the number of clicks until IoU ≥ t (capped).

use crate::core::mask::Mask;
use crate::core::prompt::{PointLabel, PointPrompt};

/// The next simulated click for prediction `predicted` against ground truth `truth`, or `None`
/// when they agree.
pub fn next_click(predicted: &Mask, truth: &Mask) -> Option<PointPrompt> {
    let (w, h) = (truth.width(), truth.height());
    let missed = Mask::from_fn(w, h, |x, y| truth.get(x, y) && !predicted.get(x, y));
    let extra = Mask::from_fn(w, h, |x, y| predicted.get(x, y) && !truth.get(x, y));
    let largest = |m: &Mask| -> Option<(u64, Mask)> {
        let (labels, areas) = m.components();
        let (best, &area) = areas.iter().enumerate().skip(1).max_by_key(|(_, a)| **a)?;
        let best = best as u32;
        Some((area, Mask::from_bytes(w, h, &labels.iter().map(|&l| u8::from(l == best)).collect::<Vec<_>>())?))
    };
    let (label, region) = match (largest(&missed), largest(&extra)) {
        (Some((a, m)), Some((b, e))) => {
            if a >= b {
                (PointLabel::Positive, m)
            } else {
                (PointLabel::Negative, e)
            }
        }
        (Some((_, m)), None) => (PointLabel::Positive, m),
        (None, Some((_, e))) => (PointLabel::Negative, e),
        (None, None) => return None,
    };
    let dt = region.distance_to_outside();
    let (i, _) = dt.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
    let (x, y) = ((i % w as usize) as f32, (i / w as usize) as f32);
    Some(PointPrompt { x_px: x + 0.5, y_px: y + 0.5, label })
}

/// Result of running the click protocol on one image.
#[derive(Clone, Debug)]
pub struct ClickRun {
    /// IoU after each click.
    pub ious: Vec<f64>,
}

impl ClickRun {
    /// Clicks needed to reach `threshold` IoU; `max_clicks` when never reached.
    pub fn noc(&self, threshold: f64, max_clicks: usize) -> usize {
        self.ious.iter().position(|&iou| iou >= threshold).map_or(max_clicks, |i| i + 1)
    }
}

/// Runs up to `max_clicks` simulated clicks, calling `segment(clicks, previous)` after each one.
pub fn run_clicks<E>(
    truth: &Mask,
    max_clicks: usize,
    stop_at_iou: f64,
    mut segment: impl FnMut(&[PointPrompt], Option<&Mask>) -> Result<Mask, E>,
) -> Result<ClickRun, E> {
    let mut clicks = Vec::new();
    let mut predicted = Mask::new(truth.width(), truth.height());
    let mut previous: Option<Mask> = None;
    let mut ious = Vec::new();
    for _ in 0..max_clicks {
        let Some(click) = next_click(&predicted, truth) else { break };
        clicks.push(click);
        predicted = segment(&clicks, previous.as_ref())?;
        let iou = predicted.iou(truth);
        ious.push(iou);
        previous = Some(predicted.clone());
        if iou >= stop_at_iou {
            break;
        }
    }
    Ok(ClickRun { ious })
}

/// One image of an evaluation set: the photo, its ground-truth mask and its prompt.
pub struct EvalItem {
    pub name: String,
    pub image: crate::core::image::Image,
    pub truth: Mask,
    pub prompt: crate::core::prompt::Prompt,
}

/// Why an evaluation set could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum EvalSetError {
    #[error(transparent)]
    Prompts(#[from] super::run::BatchError),
    #[error(transparent)]
    Image(#[from] crate::core::image::ImageError),
    #[error(transparent)]
    Truth(#[from] crate::core::mask::MaskError),
    #[error("{name}: {source}")]
    Prompt { name: String, source: crate::core::prompt::PromptError },
}

/// Loads an evaluation set in the layout `tools/make_seg_dataset.py` writes: `NNN.png`,
/// `NNN_gt.png` and `prompts.json`.
pub fn load_eval_set(dir: &std::path::Path) -> Result<Vec<EvalItem>, EvalSetError> {
    let prompts = super::run::read_prompts(&dir.join("prompts.json"))?;
    prompts
        .iter()
        .map(|(name, spec)| {
            let image = crate::core::image::Image::load(dir.join(name))?;
            let stem =
                std::path::Path::new(name).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let truth = Mask::load_png(dir.join(format!("{stem}_gt.png")))?;
            let prompt = spec.to_prompt().map_err(|source| EvalSetError::Prompt { name: name.clone(), source })?;
            Ok(EvalItem { name: name.clone(), image, truth, prompt })
        })
        .collect()
}

/// Runs the click protocol for one item with a segmenter (clicks only, the previous mask passed
/// along), returning the IoU after each click.
pub fn click_protocol(
    segmenter: &mut dyn super::Segmenter,
    item: &EvalItem,
    max_clicks: usize,
    stop_at_iou: f64,
) -> Result<ClickRun, super::SegmentError> {
    segmenter.set_image(&item.image, &crate::core::task::Progress::new())?;
    run_clicks(&item.truth, max_clicks, stop_at_iou, |clicks, previous| {
        let prompt = crate::core::prompt::Prompt { points: clicks.to_vec(), ..Default::default() };
        let masks = segmenter.segment(&prompt, previous)?;
        Ok(masks
            .into_iter()
            .next()
            .map(|m| m.mask)
            .unwrap_or_else(|| Mask::new(item.truth.width(), item.truth.height())))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_click_is_the_centre_of_a_missed_object() {
        let truth = Mask::from_fn(50, 40, |x, y| (10..31).contains(&x) && (5..26).contains(&y));
        let click = next_click(&Mask::new(50, 40), &truth).unwrap();
        assert_eq!(click.label, PointLabel::Positive);
        assert_eq!((click.x_px, click.y_px), (20.5, 15.5));
        // Too much predicted: a negative click in the extra region.
        let predicted = Mask::from_fn(50, 40, |x, y| truth.get(x, y) || x >= 35);
        let click = next_click(&predicted, &truth).unwrap();
        assert_eq!(click.label, PointLabel::Negative);
        assert!(click.x_px > 35.0);
        assert!(next_click(&truth, &truth).is_none());
    }

    #[test]
    fn perfect_oracle_needs_one_click() {
        let truth = Mask::from_fn(30, 30, |x, y| x + y < 30);
        let run = run_clicks(&truth, 20, 0.99, |_, _| Ok::<_, ()>(truth.clone())).unwrap();
        assert_eq!(run.noc(0.85, 20), 1);
    }
}

//! The workbench's state without any UI: the photo's masks (with undo/redo), segmentation and
//! lifting running as background tasks, and what the window shows next. The egui layer only
//! forwards clicks and draws this state, so it can be tested without a window.

use std::sync::{Arc, Mutex};

use crate::core::image::Image;
use crate::core::mask::Mask;
use crate::core::prompt::{PointLabel, PointPrompt, Prompt};
use crate::lift::{LiftOutput, LiftParams};
use crate::segment::{EngineKind, ScoredMask, SegmentError, Segmenter};
use crate::task::{Progress, Task};

/// Distinct mask colours, cycled.
const PALETTE: [[u8; 3]; 8] = [
    [255, 99, 71],
    [65, 145, 255],
    [60, 200, 120],
    [255, 200, 40],
    [190, 90, 255],
    [0, 210, 210],
    [255, 120, 200],
    [160, 160, 160],
];

/// One mask of the photo.
#[derive(Clone, Debug)]
pub struct MaskEntry {
    pub name: String,
    pub mask: Mask,
    pub color: [u8; 3],
    pub visible: bool,
    pub engine: EngineKind,
    pub score: f32,
    /// The clicks that made it (refinement adds to them).
    pub points: Vec<PointPrompt>,
}

enum Pending {
    /// A new mask (`None`) or a refinement of mask `Some(i)`.
    Segment {
        target: Option<usize>,
        points: Vec<PointPrompt>,
        task: Task<Result<Vec<ScoredMask>, SegmentError>>,
    },
    Lift {
        name: String,
        task: Task<Result<LiftOutput, crate::lift::LiftError>>,
    },
}

/// Masks, history and background work for one photo.
pub struct Workbench {
    pub image: Arc<Image>,
    pub masks: Vec<MaskEntry>,
    pub selected: Option<usize>,
    undo: Vec<(Vec<MaskEntry>, Option<usize>)>,
    redo: Vec<(Vec<MaskEntry>, Option<usize>)>,
    segmenter: Arc<Mutex<Box<dyn Segmenter>>>,
    pending: Vec<Pending>,
    /// Bumped whenever masks change, so the UI can refresh its overlays.
    pub generation: u64,
    next_name: usize,
}

/// What finished since the last [`Workbench::poll`].
pub enum Finished {
    Lifted { name: String, output: Box<LiftOutput> },
    Failed(String),
}

impl Workbench {
    pub fn new(image: Image, segmenter: Box<dyn Segmenter>) -> Self {
        Self {
            image: Arc::new(image),
            masks: Vec::new(),
            selected: None,
            undo: Vec::new(),
            redo: Vec::new(),
            segmenter: Arc::new(Mutex::new(segmenter)),
            pending: Vec::new(),
            generation: 0,
            next_name: 1,
        }
    }

    /// Replaces the segmentation engine; masks and history stay.
    pub fn set_segmenter(&mut self, segmenter: Box<dyn Segmenter>) {
        self.segmenter = Arc::new(Mutex::new(segmenter));
    }

    /// The engine new masks come from.
    pub fn engine(&self) -> Option<EngineKind> {
        self.segmenter.lock().ok().map(|s| s.engine())
    }

    /// Whether a segmentation or lift is running.
    pub fn busy(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Progress of the running tasks: (label, fraction, message).
    pub fn progress(&self) -> Vec<(String, f32, String)> {
        self.pending
            .iter()
            .map(|p| {
                let task_progress = match p {
                    Pending::Segment { task, .. } => (task.label().to_owned(), task.progress().clone()),
                    Pending::Lift { task, .. } => (task.label().to_owned(), task.progress().clone()),
                };
                (task_progress.0, task_progress.1.fraction(), task_progress.1.message())
            })
            .collect()
    }

    /// Asks every running task to stop.
    pub fn cancel_all(&self) {
        for p in &self.pending {
            match p {
                Pending::Segment { task, .. } => task.cancel(),
                Pending::Lift { task, .. } => task.cancel(),
            }
        }
    }

    fn snapshot(&mut self) {
        self.undo.push((self.masks.clone(), self.selected));
        self.redo.clear();
        if self.undo.len() > 100 {
            self.undo.remove(0);
        }
    }

    fn changed(&mut self) {
        self.generation += 1;
    }

    /// A click at image pixel `(x, y)`: positive starts a new mask, negative refines the selected
    /// one (with all its clicks). Runs in the background; see [`Workbench::poll`].
    pub fn click(&mut self, x_px: f32, y_px: f32, label: PointLabel) {
        let point = PointPrompt { x_px, y_px, label };
        let (target, points) = match (label, self.selected) {
            (PointLabel::Negative, Some(i)) if i < self.masks.len() => {
                let mut pts = self.masks[i].points.clone();
                pts.push(point);
                (Some(i), pts)
            }
            (PointLabel::Negative, _) => return,
            (PointLabel::Positive, _) => (None, vec![point]),
        };
        let previous = target.map(|i| self.masks[i].mask.clone());
        let (image, segmenter) = (self.image.clone(), self.segmenter.clone());
        let prompt = Prompt { points: points.clone(), ..Default::default() };
        let task = Task::spawn("segment", move |progress: &Progress| {
            let mut engine = segmenter.lock().map_err(|_| SegmentError::NoImage)?;
            engine.set_image(&image, &progress.sub(0.0, 0.8))?;
            progress.set(0.85, "answering the click");
            engine.segment(&prompt, previous.as_ref())
        });
        self.pending.push(Pending::Segment { target, points, task });
    }

    /// Lifts the selected mask in the background.
    pub fn lift_selected(&mut self) -> Result<(), String> {
        let i = self.selected.filter(|&i| i < self.masks.len()).ok_or("select a mask to lift")?;
        let (image, mask, name) = (self.image.clone(), self.masks[i].mask.clone(), self.masks[i].name.clone());
        let task = Task::spawn("lift", move |progress: &Progress| {
            crate::lift::lift(&image, &mask, &LiftParams::default(), progress)
        });
        self.pending.push(Pending::Lift { name, task });
        Ok(())
    }

    /// Collects finished tasks: new masks enter the list (undoable); lifts and errors are returned.
    pub fn poll(&mut self) -> Vec<Finished> {
        let mut finished = Vec::new();
        let mut still = Vec::new();
        for p in std::mem::take(&mut self.pending) {
            match p {
                Pending::Segment { target, points, mut task } => match task.try_take() {
                    None => still.push(Pending::Segment { target, points, task }),
                    Some(Ok(Ok(masks))) => match masks.into_iter().next() {
                        Some(best) => self.add_result(target, points, best),
                        None => finished.push(Finished::Failed("the engine found no mask there".into())),
                    },
                    Some(Ok(Err(e))) => finished.push(Finished::Failed(e.to_string())),
                    Some(Err(e)) => finished.push(Finished::Failed(e.to_string())),
                },
                Pending::Lift { name, mut task } => match task.try_take() {
                    None => still.push(Pending::Lift { name, task }),
                    Some(Ok(Ok(output))) => finished.push(Finished::Lifted { name, output: Box::new(output) }),
                    Some(Ok(Err(e))) => finished.push(Finished::Failed(e.to_string())),
                    Some(Err(e)) => finished.push(Finished::Failed(e.to_string())),
                },
            }
        }
        self.pending = still;
        finished
    }

    fn add_result(&mut self, target: Option<usize>, points: Vec<PointPrompt>, best: ScoredMask) {
        self.snapshot();
        match target.filter(|&i| i < self.masks.len()) {
            Some(i) => {
                let entry = &mut self.masks[i];
                entry.mask = best.mask;
                entry.score = best.score;
                entry.engine = best.engine;
                entry.points = points;
                self.selected = Some(i);
            }
            None => {
                let color = PALETTE[(self.next_name - 1) % PALETTE.len()];
                self.masks.push(MaskEntry {
                    name: format!("object {}", self.next_name),
                    mask: best.mask,
                    color,
                    visible: true,
                    engine: best.engine,
                    score: best.score,
                    points,
                });
                self.next_name += 1;
                self.selected = Some(self.masks.len() - 1);
            }
        }
        self.changed();
    }

    /// Removes mask `i` (undoable).
    pub fn delete(&mut self, i: usize) {
        if i < self.masks.len() {
            self.snapshot();
            self.masks.remove(i);
            self.selected = None;
            self.changed();
        }
    }

    /// Shows or hides mask `i` (undoable).
    pub fn set_visible(&mut self, i: usize, visible: bool) {
        if i < self.masks.len() && self.masks[i].visible != visible {
            self.snapshot();
            self.masks[i].visible = visible;
            self.changed();
        }
    }

    pub fn undo(&mut self) -> bool {
        let Some((masks, selected)) = self.undo.pop() else { return false };
        self.redo.push((std::mem::replace(&mut self.masks, masks), self.selected));
        self.selected = selected;
        self.changed();
        true
    }

    pub fn redo(&mut self) -> bool {
        let Some((masks, selected)) = self.redo.pop() else { return false };
        self.undo.push((std::mem::replace(&mut self.masks, masks), self.selected));
        self.selected = selected;
        self.changed();
        true
    }

    /// Blocks until every running task has finished (tests, CLI-like use).
    pub fn wait(&mut self) -> Vec<Finished> {
        let mut all = Vec::new();
        while self.busy() {
            all.extend(self.poll());
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn click_undo_redo_and_refine() {
        let mut wb = Workbench::new(crate::demo::still_life(), Box::new(crate::segment::ClassicalSegmenter::default()));
        let mug = crate::demo::still_life_masks().into_iter().find(|(n, _)| *n == "mug").unwrap().1;
        wb.click(620.0, 480.0, PointLabel::Positive);
        assert!(wb.busy());
        assert!(wb.wait().is_empty());
        assert_eq!(wb.masks.len(), 1);
        assert!(wb.masks[0].mask.iou(&mug) > 0.9, "IoU {}", wb.masks[0].mask.iou(&mug));
        assert_eq!(wb.masks[0].engine, EngineKind::Classical);
        // A negative click refines the selected mask instead of adding one.
        wb.click(300.0, 520.0, PointLabel::Negative);
        wb.wait();
        assert_eq!(wb.masks.len(), 1);
        assert_eq!(wb.masks[0].points.len(), 2);
        assert!(wb.undo() && wb.masks[0].points.len() == 1);
        assert!(wb.undo() && wb.masks.is_empty());
        assert!(!wb.undo());
        assert!(wb.redo() && wb.masks.len() == 1);
        wb.delete(0);
        assert!(wb.masks.is_empty());
        assert!(wb.undo() && wb.masks.len() == 1);
    }

    #[test]
    fn lift_runs_in_the_background_and_errors_are_reported() {
        let mut wb = Workbench::new(crate::demo::still_life(), Box::new(crate::segment::ClassicalSegmenter::default()));
        assert!(wb.lift_selected().is_err(), "nothing selected");
        wb.click(5000.0, 10.0, PointLabel::Positive);
        let finished = wb.wait();
        assert!(
            matches!(&finished[..], [Finished::Failed(m)] if m.contains("outside")),
            "a bad click is an error, not a crash"
        );
        wb.click(300.0, 520.0, PointLabel::Positive);
        wb.wait();
        wb.lift_selected().unwrap();
        let finished = wb.wait();
        let [Finished::Lifted { output, .. }] = &finished[..] else { panic!("no lift") };
        assert!(output.splats.len() > 1000);
    }
}

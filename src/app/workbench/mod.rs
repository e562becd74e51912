//! The workbench's state without any UI: the photo's masks (with undo/redo), segmentation and
//! lifting running as background tasks, and what the window shows next. The egui layer only
//! forwards clicks and draws this state, so it can be tested without a window.
//!
//! `edits` holds the mask edits (brush, merge, rename, undo…), `files` the exports and the
//! project round trip.

mod edits;
mod files;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};

pub use files::{ExportError, RestoreError};

use crate::app::history::History;
use crate::app::tasks::TaskProgress;
use crate::core::image::Image;
use crate::core::mask::Mask;
use crate::core::prompt::{BoxPrompt, PointLabel, PointPrompt, Prompt};
use crate::core::task::{Progress, Task};
use crate::lift::{LiftOutput, LiftParams};
use crate::segment::{EngineKind, ScoredMask, SegmentError, Segmenter};

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
    /// Every hypothesis the engine gave for the last prompt (SAM 3 gives three per click), best
    /// first; [`Workbench::choose_hypothesis`] swaps one in.
    pub hypotheses: Vec<ScoredMask>,
    /// The concept, for masks from a text prompt; the class, for the masks of a dataset's photo.
    pub label: Option<String>,
    /// A model's proposal not yet accepted by the user (a dataset's pre-label): drawn apart,
    /// accepted with a key, never merged into a human label.
    pub prelabel: bool,
}

/// The classes of a dataset's photo: new masks take the active one, and concept results arrive
/// as pre-labels of the concept's class.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClassList {
    /// The class new masks get.
    pub active: String,
    /// Every class and its colour.
    pub colors: Vec<(String, [u8; 3])>,
}

impl ClassList {
    /// The colour of class `name`, if it is listed.
    pub fn color_of(&self, name: &str) -> Option<[u8; 3]> {
        self.colors.iter().find(|(n, _)| n == name).map(|(_, c)| *c)
    }
}

/// What one undo step restores: the mask list and the selection.
#[derive(Clone, Debug)]
struct MaskSnapshot {
    masks: Vec<MaskEntry>,
    selected: Option<usize>,
}

enum Pending {
    /// A new mask (`None`) or a refinement of mask `Some(i)`.
    Segment {
        target: Option<usize>,
        points: Vec<PointPrompt>,
        /// A text prompt: every instance becomes its own mask.
        text: Option<String>,
        task: Task<Result<Vec<ScoredMask>, SegmentError>>,
    },
    Lift {
        name: String,
        task: Task<Result<LiftOutput, crate::lift::LiftError>>,
    },
    /// Every mask into one scene.
    LiftScene {
        task: Task<Result<crate::lift::scene::SceneLift, crate::lift::LiftError>>,
    },
    /// A model engine preparing the photo (SAM 3: encoding it).
    Prepare {
        task: Task<Result<(), SegmentError>>,
    },
}

impl Pending {
    fn progress(&self) -> TaskProgress {
        match self {
            Pending::Segment { task, .. } => TaskProgress::of(task),
            Pending::Lift { task, .. } => TaskProgress::of(task),
            Pending::LiftScene { task } => TaskProgress::of(task),
            Pending::Prepare { task } => TaskProgress::of(task),
        }
    }

    fn cancel(&self) {
        match self {
            Pending::Segment { task, .. } => task.cancel(),
            Pending::Lift { task, .. } => task.cancel(),
            Pending::LiftScene { task } => task.cancel(),
            Pending::Prepare { task } => task.cancel(),
        }
    }
}

/// Why a lift could not start.
#[derive(Debug, thiserror::Error)]
pub enum LiftStartError {
    #[error("select a mask to lift")]
    NothingSelected,
    #[error("make a mask first: there is nothing to lift")]
    NoMasks,
}

/// Masks, history and background work for one photo.
pub struct Workbench {
    pub image: Arc<Image>,
    pub masks: Vec<MaskEntry>,
    pub selected: Option<usize>,
    history: History<MaskSnapshot>,
    segmenter: Arc<Mutex<Box<dyn Segmenter>>>,
    engine_kind: EngineKind,
    /// Answers while the model engine is busy (e.g. SAM 3 encoding the photo).
    fallback: Arc<Mutex<Box<dyn Segmenter>>>,
    pending: Vec<Pending>,
    /// Bumped whenever masks change, so the UI can refresh its overlays.
    pub generation: u64,
    next_name: usize,
    /// Set while the photo belongs to a dataset.
    pub classes: Option<ClassList>,
    /// Photos of the folder encoded ahead into the feature cache (not counted as busy: nothing
    /// waits for it).
    preencode: Option<Task<Result<usize, SegmentError>>>,
}

/// What finished since the last [`Workbench::poll`].
pub enum Finished {
    Lifted { name: String, output: Box<LiftOutput> },
    LiftedScene(Box<crate::lift::scene::SceneLift>),
    Failed(String),
}

impl Workbench {
    pub fn new(image: Image, segmenter: Box<dyn Segmenter>) -> Self {
        let mut wb = Self {
            image: Arc::new(image),
            masks: Vec::new(),
            selected: None,
            history: History::default(),
            engine_kind: segmenter.engine(),
            segmenter: Arc::new(Mutex::new(segmenter)),
            fallback: Arc::new(Mutex::new(Box::new(crate::segment::ClassicalSegmenter::default()))),
            pending: Vec::new(),
            generation: 0,
            next_name: 1,
            classes: None,
            preencode: None,
        };
        wb.start_prepare();
        wb
    }

    /// Shows another photo with its masks (a dataset's next image): the engine stays (and its
    /// cache of encoded photos), what ran for the last photo is cancelled and dropped, the history
    /// starts afresh, and a model engine starts encoding the photo.
    pub fn show_photo(&mut self, image: Image, masks: Vec<MaskEntry>) {
        self.cancel_all();
        self.pending.clear();
        self.image = Arc::new(image);
        self.next_name = masks.len() + 1;
        self.masks = masks;
        self.selected = None;
        self.history.clear();
        self.changed();
        self.start_prepare();
    }

    /// Encodes the photos at `paths` ahead, one after the other, into the engine's feature cache
    /// (memory and disk), so going to them later answers at once; replaces any earlier run. Clicks
    /// meanwhile are answered by the classical engine while the model is held. Nothing happens
    /// for engines without an image encoder.
    pub fn preencode(&mut self, paths: Vec<std::path::PathBuf>) {
        if let Some(task) = self.preencode.take() {
            task.cancel();
        }
        if paths.is_empty() || !self.engine_kind.encodes_images() {
            return;
        }
        let segmenter = self.segmenter.clone();
        self.preencode = Some(Task::spawn("pre-encoding", move |progress: &Progress| {
            let n = paths.len() as f32;
            for (k, path) in paths.iter().enumerate() {
                progress.check()?;
                progress.set(k as f32 / n, format!("pre-encoding {}", path.display()));
                // An unreadable photo is reported when the user goes to it, not here.
                let Ok(image) = Image::load(path) else { continue };
                let mut engine = segmenter.lock().map_err(|_| SegmentError::NoImage)?;
                engine.set_image(&image, &progress.sub(k as f32 / n, (k + 1) as f32 / n))?;
            }
            Ok(paths.len())
        }));
    }

    /// The engine, for work on other photos (a concept over a folder); hold it briefly.
    pub fn segmenter_handle(&self) -> Arc<Mutex<Box<dyn Segmenter>>> {
        self.segmenter.clone()
    }

    /// The pre-encoding run's progress, while one runs.
    pub fn preencode_progress(&self) -> Option<TaskProgress> {
        self.preencode.as_ref().filter(|t| !t.is_finished()).map(TaskProgress::of)
    }

    /// Waits for the pre-encoding run (tests).
    pub fn wait_preencode(&mut self) -> Option<Result<usize, String>> {
        let task = self.preencode.take()?;
        Some(match task.wait() {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        })
    }

    /// Starts preparing the photo for a model engine (SAM 3 / SAM 2.1 encode it once, in the background).
    fn start_prepare(&mut self) {
        if self.engine().is_some_and(EngineKind::encodes_images) {
            let (image, segmenter) = (self.image.clone(), self.segmenter.clone());
            let task = Task::spawn("encoding image", move |progress: &Progress| {
                let mut engine = segmenter.lock().map_err(|_| SegmentError::NoImage)?;
                engine.set_image(&image, progress)
            });
            self.pending.push(Pending::Prepare { task });
        }
    }

    /// Replaces the segmentation engine; masks and history stay.
    pub fn set_segmenter(&mut self, segmenter: Box<dyn Segmenter>) {
        self.engine_kind = segmenter.engine();
        self.segmenter = Arc::new(Mutex::new(segmenter));
        self.start_prepare();
    }

    /// The engine new masks come from. Never locks the engine (which a model holds while it
    /// encodes a photo), so the UI can ask every frame.
    pub fn engine(&self) -> Option<EngineKind> {
        Some(self.engine_kind)
    }

    /// Whether a segmentation or lift is running.
    pub fn busy(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Progress of the running tasks.
    pub fn progress(&self) -> Vec<TaskProgress> {
        self.pending.iter().map(Pending::progress).collect()
    }

    /// Asks every running task to stop.
    pub fn cancel_all(&self) {
        for p in &self.pending {
            p.cancel();
        }
        if let Some(task) = &self.preencode {
            task.cancel();
        }
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
        let prompt = Prompt { points: points.clone(), ..Default::default() };
        self.run(target, points, None, prompt, previous);
    }

    /// A box dragged on the photo (image pixels): a new mask.
    pub fn drag_box(&mut self, b: BoxPrompt) {
        let prompt = Prompt { bbox: Some(b), ..Default::default() };
        self.run(None, Vec::new(), None, prompt, None);
    }

    /// A concept prompt: every instance found becomes its own mask (needs a text-capable engine).
    pub fn text(&mut self, query: &str) {
        let query = query.trim().to_owned();
        if query.is_empty() {
            return;
        }
        let prompt = Prompt { text: Some(query.clone()), ..Default::default() };
        self.run(None, Vec::new(), Some(query), prompt, None);
    }

    fn run(
        &mut self,
        target: Option<usize>,
        points: Vec<PointPrompt>,
        text: Option<String>,
        prompt: Prompt,
        previous: Option<Mask>,
    ) {
        let (image, segmenter, fallback) = (self.image.clone(), self.segmenter.clone(), self.fallback.clone());
        let task = Task::spawn("segment", move |progress: &Progress| {
            // While the model engine is busy (encoding the photo), the classical engine answers
            // clicks and boxes at once; text prompts wait for the model.
            let mut engine = match segmenter.try_lock() {
                Ok(guard) => guard,
                Err(std::sync::TryLockError::WouldBlock) if prompt.text.is_none() => {
                    fallback.lock().map_err(|_| SegmentError::NoImage)?
                }
                Err(_) => segmenter.lock().map_err(|_| SegmentError::NoImage)?,
            };
            engine.set_image(&image, &progress.sub(0.0, 0.8))?;
            progress.set(0.85, "answering the prompt");
            engine.segment(&prompt, previous.as_ref())
        });
        self.pending.push(Pending::Segment { target, points, text, task });
    }

    /// Lifts the selected mask in the background.
    pub fn lift_selected(&mut self) -> Result<(), LiftStartError> {
        let i = self.selected.filter(|&i| i < self.masks.len()).ok_or(LiftStartError::NothingSelected)?;
        let (image, mask, name) = (self.image.clone(), self.masks[i].mask.clone(), self.masks[i].name.clone());
        let task = Task::spawn("lift", move |progress: &Progress| {
            crate::lift::lift(&image, &mask, &LiftParams::default(), progress)
        });
        self.pending.push(Pending::Lift { name, task });
        Ok(())
    }

    /// Lifts every mask into one scene in the background (one camera, shared ground; see
    /// [`crate::lift::scene`]).
    pub fn lift_all(&mut self) -> Result<(), LiftStartError> {
        if self.masks.is_empty() {
            return Err(LiftStartError::NoMasks);
        }
        let image = self.image.clone();
        let objects: Vec<crate::lift::scene::SceneObject> = self
            .masks
            .iter()
            .map(|m| crate::lift::scene::SceneObject { name: m.name.clone(), mask: m.mask.clone() })
            .collect();
        let task = Task::spawn("lift all", move |progress: &Progress| {
            crate::lift::scene::lift_scene(&image, &objects, &LiftParams::default(), None, false, progress)
        });
        self.pending.push(Pending::LiftScene { task });
        Ok(())
    }

    /// Collects finished tasks: new masks enter the list (undoable); lifts and errors are returned.
    pub fn poll(&mut self) -> Vec<Finished> {
        let mut finished = Vec::new();
        let mut still = Vec::new();
        for p in std::mem::take(&mut self.pending) {
            match p {
                Pending::Segment { target, points, text, mut task } => match task.try_take() {
                    None => still.push(Pending::Segment { target, points, text, task }),
                    Some(Ok(Ok(masks))) if text.is_some() => {
                        let found: Vec<ScoredMask> = masks.into_iter().filter(|m| m.score >= 0.5).collect();
                        if found.is_empty() {
                            finished.push(Finished::Failed(format!("no '{}' found", text.unwrap_or_default())));
                        } else {
                            self.snapshot();
                            let prelabels = self.classes.is_some();
                            for m in found {
                                self.push_mask(Vec::new(), m, Vec::new(), text.clone());
                                if let Some(last) = self.masks.last_mut() {
                                    last.prelabel = prelabels;
                                }
                            }
                            self.changed();
                        }
                    }
                    Some(Ok(Ok(masks))) => match masks.first().cloned() {
                        Some(best) => self.add_result(target, points, best, masks),
                        None => finished.push(Finished::Failed("the engine found no mask there".into())),
                    },
                    Some(Ok(Err(e))) => finished.push(Finished::Failed(e.to_string())),
                    Some(Err(e)) => finished.push(Finished::Failed(e.to_string())),
                },
                Pending::Prepare { mut task } => match task.try_take() {
                    None => still.push(Pending::Prepare { task }),
                    Some(Ok(Ok(()))) => {}
                    Some(Ok(Err(e))) => finished.push(Finished::Failed(format!("preparing the photo: {e}"))),
                    Some(Err(e)) => finished.push(Finished::Failed(e.to_string())),
                },
                Pending::LiftScene { mut task } => match task.try_take() {
                    None => still.push(Pending::LiftScene { task }),
                    Some(Ok(Ok(scene))) => finished.push(Finished::LiftedScene(Box::new(scene))),
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

    fn add_result(&mut self, target: Option<usize>, points: Vec<PointPrompt>, best: ScoredMask, all: Vec<ScoredMask>) {
        self.snapshot();
        match target.filter(|&i| i < self.masks.len()) {
            Some(i) => {
                let entry = &mut self.masks[i];
                entry.mask = best.mask;
                entry.score = best.score;
                entry.engine = best.engine;
                entry.points = points;
                entry.hypotheses = all;
                self.selected = Some(i);
            }
            None => self.push_mask(points, best, all, None),
        }
        self.changed();
    }

    fn push_mask(&mut self, points: Vec<PointPrompt>, best: ScoredMask, all: Vec<ScoredMask>, label: Option<String>) {
        let label = label.or_else(|| self.classes.as_ref().map(|c| c.active.clone()));
        let class_color = self.classes.as_ref().zip(label.as_deref()).and_then(|(c, l)| c.color_of(l));
        let color = class_color.unwrap_or(PALETTE[(self.next_name - 1) % PALETTE.len()]);
        let name = match &label {
            Some(l) => format!("{l} {}", self.next_name),
            None => format!("object {}", self.next_name),
        };
        self.masks.push(MaskEntry {
            name,
            mask: best.mask,
            color,
            visible: true,
            engine: best.engine,
            score: best.score,
            points,
            hypotheses: all,
            label,
            prelabel: false,
        });
        self.next_name += 1;
        self.selected = Some(self.masks.len() - 1);
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

//! The workbench's state without any UI: the photo's masks (with undo/redo), segmentation and
//! lifting running as background tasks, and what the window shows next. The egui layer only
//! forwards clicks and draws this state, so it can be tested without a window.

use std::sync::{Arc, Mutex};

use crate::core::image::Image;
use crate::core::mask::Mask;
use crate::core::prompt::{BoxPrompt, PointLabel, PointPrompt, Prompt};
use crate::lift::{LiftOutput, LiftParams};
use crate::segment::{EngineKind, ScoredMask, SegmentError, Segmenter};
use crate::core::task::{Progress, Task};

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
    /// The concept, for masks from a text prompt.
    pub label: Option<String>,
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
    /// A model engine preparing the photo (SAM 3: encoding it).
    Prepare {
        task: Task<Result<(), SegmentError>>,
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
    engine_kind: EngineKind,
    /// Answers while the model engine is busy (e.g. SAM 3 encoding the photo).
    fallback: Arc<Mutex<Box<dyn Segmenter>>>,
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
        let mut wb = Self {
            image: Arc::new(image),
            masks: Vec::new(),
            selected: None,
            undo: Vec::new(),
            redo: Vec::new(),
            engine_kind: segmenter.engine(),
            segmenter: Arc::new(Mutex::new(segmenter)),
            fallback: Arc::new(Mutex::new(Box::new(crate::segment::ClassicalSegmenter::default()))),
            pending: Vec::new(),
            generation: 0,
            next_name: 1,
        };
        wb.start_prepare();
        wb
    }

    /// Starts preparing the photo for a model engine (SAM 3 encodes it once, in the background).
    fn start_prepare(&mut self) {
        if self.engine() == Some(EngineKind::Sam3) {
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

    /// Progress of the running tasks: (label, fraction, message).
    pub fn progress(&self) -> Vec<(String, f32, String)> {
        self.pending
            .iter()
            .map(|p| {
                let task_progress = match p {
                    Pending::Segment { task, .. } => (task.label().to_owned(), task.progress().clone()),
                    Pending::Lift { task, .. } => (task.label().to_owned(), task.progress().clone()),
                    Pending::Prepare { task } => (task.label().to_owned(), task.progress().clone()),
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
                Pending::Prepare { task } => task.cancel(),
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

    /// Swaps hypothesis `k` of mask `i` in (undoable).
    pub fn choose_hypothesis(&mut self, i: usize, k: usize) {
        let Some(h) = self.masks.get(i).and_then(|m| m.hypotheses.get(k)).cloned() else { return };
        self.snapshot();
        let m = &mut self.masks[i];
        m.mask = h.mask;
        m.score = h.score;
        self.changed();
    }

    /// Starts a brush or eraser stroke on mask `i` (one undo step per stroke).
    pub fn begin_stroke(&mut self) {
        self.snapshot();
    }

    /// Paints (or erases) a disc of `radius_px` at image pixel `(x, y)` into mask `i`.
    pub fn paint(&mut self, i: usize, x_px: f32, y_px: f32, radius_px: f32, add: bool) {
        let Some(m) = self.masks.get_mut(i) else { return };
        let (w, h) = (m.mask.width() as i64, m.mask.height() as i64);
        let r = radius_px.max(0.5);
        let (x0, x1) = (((x_px - r).floor() as i64).max(0), ((x_px + r).ceil() as i64).min(w - 1));
        let (y0, y1) = (((y_px - r).floor() as i64).max(0), ((y_px + r).ceil() as i64).min(h - 1));
        for y in y0..=y1 {
            for x in x0..=x1 {
                let (dx, dy) = (x as f32 + 0.5 - x_px, y as f32 + 0.5 - y_px);
                if dx * dx + dy * dy <= r * r {
                    m.mask.set(x as u32, y as u32, add);
                }
            }
        }
        m.hypotheses.clear();
        self.changed();
    }

    /// Merges mask `j` into mask `i` (union; `j` is removed; undoable).
    pub fn merge(&mut self, i: usize, j: usize) {
        if i == j || i >= self.masks.len() || j >= self.masks.len() {
            return;
        }
        self.snapshot();
        let other = self.masks[j].mask.clone();
        let (w, h) = (other.width(), other.height());
        let m = &mut self.masks[i];
        for y in 0..h {
            for x in 0..w {
                if other.get(x, y) {
                    m.mask.set(x, y, true);
                }
            }
        }
        m.hypotheses.clear();
        let points = self.masks[j].points.clone();
        self.masks[i].points.extend(points);
        self.masks.remove(j);
        self.selected = Some(if j < i { i - 1 } else { i });
        self.changed();
    }

    /// Renames mask `i` (undoable).
    pub fn rename(&mut self, i: usize, name: &str) {
        if i < self.masks.len() && self.masks[i].name != name {
            self.snapshot();
            self.masks[i].name = name.to_owned();
            self.changed();
        }
    }

    /// Writes mask `i` as a PNG, a COCO RLE JSON or a polygon JSON (by the extension).
    pub fn export(&self, i: usize, path: &std::path::Path, file_name: &str) -> Result<(), String> {
        let m = self.masks.get(i).ok_or("no such mask")?;
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
        let image = crate::io::mask_export::ExportImage {
            file_name,
            width: m.mask.width(),
            height: m.mask.height(),
            masks: vec![crate::io::mask_export::ExportMask {
                mask: &m.mask,
                score: m.score,
                label: m.label.as_deref(),
                engine: m.engine.as_str(),
            }],
        };
        match ext.as_str() {
            "png" => m.mask.save_png(path).map_err(|e| e.to_string()),
            "json" if path.to_string_lossy().ends_with(".polygons.json") => {
                crate::io::mask_export::write_polygons(path, &image).map_err(|e| e.to_string())
            }
            "json" => crate::io::mask_export::write_coco(path, &[image]).map_err(|e| e.to_string()),
            _ => Err(format!("{}: export as .png, .json (COCO RLE) or .polygons.json", path.display())),
        }
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
                Pending::Segment { target, points, text, mut task } => match task.try_take() {
                    None => still.push(Pending::Segment { target, points, text, task }),
                    Some(Ok(Ok(masks))) if text.is_some() => {
                        let found: Vec<ScoredMask> = masks.into_iter().filter(|m| m.score >= 0.5).collect();
                        if found.is_empty() {
                            finished.push(Finished::Failed(format!("no '{}' found", text.unwrap_or_default())));
                        } else {
                            self.snapshot();
                            for m in found {
                                self.push_mask(Vec::new(), m, Vec::new(), text.clone());
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
        let color = PALETTE[(self.next_name - 1) % PALETTE.len()];
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
        });
        self.next_name += 1;
        self.selected = Some(self.masks.len() - 1);
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

    /// The masks as project entries.
    pub fn project_masks(&self) -> Vec<crate::io::project::ProjectMask> {
        self.masks
            .iter()
            .map(|m| {
                let (size, counts) = crate::io::project::ProjectMask::encode(&m.mask);
                crate::io::project::ProjectMask {
                    name: m.name.clone(),
                    color: m.color,
                    visible: m.visible,
                    engine: m.engine.as_str().to_owned(),
                    score: m.score,
                    label: m.label.clone(),
                    points: m.points.clone(),
                    size,
                    counts,
                }
            })
            .collect()
    }

    /// Replaces the masks with a project's (history starts afresh). Masks of another image size
    /// are refused, naming the mask.
    pub fn restore(&mut self, masks: &[crate::io::project::ProjectMask], selected: Option<usize>) -> Result<(), String> {
        let (w, h) = (self.image.width(), self.image.height());
        let mut entries = Vec::with_capacity(masks.len());
        for m in masks {
            let mask = m.decode()?;
            if (mask.width(), mask.height()) != (w, h) {
                return Err(format!("mask '{}' is {}×{}, the photo {w}×{h}", m.name, mask.width(), mask.height()));
            }
            entries.push(MaskEntry {
                name: m.name.clone(),
                mask,
                color: m.color,
                visible: m.visible,
                engine: if m.engine == "sam3" { EngineKind::Sam3 } else { EngineKind::Classical },
                score: m.score,
                points: m.points.clone(),
                hypotheses: Vec::new(),
                label: m.label.clone(),
            });
        }
        self.next_name = entries.len() + 1;
        self.masks = entries;
        self.selected = selected.filter(|&i| i < self.masks.len());
        self.undo.clear();
        self.redo.clear();
        self.changed();
        Ok(())
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
        let mut wb = Workbench::new(crate::core::demo::still_life(), Box::new(crate::segment::ClassicalSegmenter::default()));
        let mug = crate::core::demo::still_life_masks().into_iter().find(|(n, _)| *n == "mug").unwrap().1;
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
    fn box_merge_paint_and_export() {
        let mut wb = Workbench::new(crate::core::demo::still_life(), Box::new(crate::segment::ClassicalSegmenter::default()));
        let masks = crate::core::demo::still_life_masks();
        let mug = &masks.iter().find(|(n, _)| *n == "mug").unwrap().1;
        let [x0, y0, x1, y1] = mug.bbox().unwrap();
        wb.drag_box(BoxPrompt {
            x0_px: x0 as f32 - 4.0,
            y0_px: y0 as f32 - 4.0,
            x1_px: x1 as f32 + 4.0,
            y1_px: y1 as f32 + 4.0,
        });
        assert!(wb.wait().is_empty());
        assert!(wb.masks[0].mask.iou(mug) > 0.85, "box IoU {}", wb.masks[0].mask.iou(mug));
        // Text needs SAM 3: a readable error, no mask.
        wb.text("red ball");
        let failed = wb.wait();
        assert!(matches!(&failed[..], [Finished::Failed(_)]) && wb.masks.len() == 1);
        // Brush adds a disc, eraser removes it, one undo step per stroke.
        let area = wb.masks[0].mask.area();
        wb.begin_stroke();
        wb.paint(0, 100.0, 100.0, 10.0, true);
        assert!(wb.masks[0].mask.area() > area + 250);
        wb.begin_stroke();
        wb.paint(0, 100.0, 100.0, 10.0, false);
        assert_eq!(wb.masks[0].mask.area(), area);
        assert!(wb.undo() && wb.masks[0].mask.area() > area);
        assert!(wb.undo() && wb.masks[0].mask.area() == area);
        // Merge two masks into one.
        wb.click(300.0, 520.0, PointLabel::Positive);
        wb.wait();
        assert_eq!(wb.masks.len(), 2);
        let total = wb.masks[0].mask.area() + wb.masks[1].mask.area();
        wb.merge(0, 1);
        assert_eq!(wb.masks.len(), 1);
        assert_eq!(wb.masks[0].mask.area(), total);
        assert!(wb.undo() && wb.masks.len() == 2);
        // Exports: PNG, COCO RLE, polygons.
        let dir = tempfile::tempdir().unwrap();
        for name in ["m.png", "m.json", "m.polygons.json"] {
            wb.export(0, &dir.path().join(name), "still_life.jpg").unwrap();
            assert!(dir.path().join(name).metadata().unwrap().len() > 50);
        }
        let back = Mask::load_png(dir.path().join("m.png")).unwrap();
        assert_eq!(back.iou(&wb.masks[0].mask), 1.0);
        assert!(wb.export(0, &dir.path().join("m.txt"), "x").is_err());
    }

    /// A model engine whose photo preparation takes until the test says so.
    struct SlowModel(std::sync::mpsc::Receiver<()>);

    impl Segmenter for SlowModel {
        fn engine(&self) -> EngineKind {
            EngineKind::Sam3
        }
        fn set_image(&mut self, _image: &Image, _progress: &Progress) -> Result<(), SegmentError> {
            let _ = self.0.recv_timeout(std::time::Duration::from_secs(30));
            Ok(())
        }
        fn segment(&mut self, _prompt: &Prompt, _previous: Option<&Mask>) -> Result<Vec<ScoredMask>, SegmentError> {
            Ok(Vec::new())
        }
    }

    #[test]
    fn the_classical_engine_answers_while_the_model_prepares() {
        let (release, rx) = std::sync::mpsc::channel();
        let mut wb = Workbench::new(crate::core::demo::still_life(), Box::new(SlowModel(rx)));
        assert!(wb.busy(), "the model starts preparing the photo at once");
        // Asking which engine answers must not wait for the busy model (the UI asks every frame).
        assert_eq!(wb.engine(), Some(EngineKind::Sam3));
        std::thread::sleep(std::time::Duration::from_millis(50));
        wb.click(620.0, 480.0, PointLabel::Positive);
        // The click is answered while the model is still busy.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while wb.masks.is_empty() {
            wb.poll();
            assert!(std::time::Instant::now() < deadline, "no answer while the model prepares");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(wb.masks[0].engine, EngineKind::Classical);
        assert!(wb.busy(), "the model is still preparing");
        release.send(()).unwrap();
        wb.wait();
        assert!(!wb.busy());
    }

    #[test]
    fn lift_runs_in_the_background_and_errors_are_reported() {
        let mut wb = Workbench::new(crate::core::demo::still_life(), Box::new(crate::segment::ClassicalSegmenter::default()));
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

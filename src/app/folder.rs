//! A folder of photos labelled as a dataset (`io::dataset`: `dataset.json` in the folder is the
//! source of truth): which photo is open, the class new masks get, the dataset written after
//! every edit, concept runs over the folder, and thumbnails decoded lazily in the background.
//! No UI here: `folder_panel` draws it, `CarveApp` moves between photos.
//!
//! The open photo's masks live in the workbench while it is shown; [`Folder::store`] puts them
//! back into the dataset (its annotations of that image are replaced by the workbench's, human
//! labels and pre-labels kept apart). Pre-labels a concept run finds for other images go straight
//! into the dataset with [`Dataset::add_prelabels`], beside the human labels, never into them.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::tasks::TaskProgress;
use super::workbench::{ClassList, MaskEntry};
use crate::core::image::Image;
use crate::core::task::{Progress, Task};
use crate::io::dataset::{DATASET_FILE, Dataset, DatasetError, Origin, Skipped, Status};
use crate::segment::prelabel::{Concept, Prelabel, PrelabelOptions, prelabel_images};
use crate::segment::{EngineKind, Segmenter};

/// The class a dataset without classes starts with.
pub const DEFAULT_CLASS: &str = "object";

/// Thumbnail width (pixels).
const THUMBNAIL_PX: u32 = 96;

/// What a concept run found for one image (pre-labels, or why the image failed).
pub type ConceptResult = (u64, Result<Vec<Prelabel>, String>);

/// A concept prompt running over the folder's images in the background.
pub struct ConceptRun {
    pub concept: Concept,
    task: Task<Result<usize, String>>,
    /// Results not yet applied, in the order they came.
    arrived: Arc<Mutex<Vec<ConceptResult>>>,
}

impl ConceptRun {
    pub fn progress(&self) -> TaskProgress {
        TaskProgress::of(&self.task)
    }

    pub fn cancel(&self) {
        self.task.cancel();
    }
}

/// A thumbnail decoded in the background (`None`: the photo could not be read).
type DecodedThumbnail = (u64, Option<egui::ColorImage>);

/// Thumbnails of the folder's photos, decoded one at a time in the background, the most recently
/// asked for first (the rows on screen).
#[derive(Default)]
pub struct Thumbnails {
    wanted: Arc<Mutex<Vec<(u64, PathBuf)>>>,
    decoded: Arc<Mutex<Vec<DecodedThumbnail>>>,
    asked: HashSet<u64>,
    worker: Option<Task<()>>,
    textures: HashMap<u64, Option<egui::TextureHandle>>,
}

impl Thumbnails {
    /// The thumbnail of image `id` once decoded (`Some(None)`: it could not be); asks for it
    /// otherwise.
    pub fn get(&mut self, id: u64, path: &Path) -> Option<Option<&egui::TextureHandle>> {
        if let Some(t) = self.textures.get(&id) {
            return Some(t.as_ref());
        }
        if self.asked.insert(id)
            && let Ok(mut wanted) = self.wanted.lock()
        {
            wanted.push((id, path.to_owned()));
        }
        if self.worker.as_ref().is_none_or(Task::is_finished) {
            let (wanted, decoded) = (self.wanted.clone(), self.decoded.clone());
            self.worker = Some(Task::spawn("thumbnails", move |progress: &Progress| {
                while !progress.is_cancelled() {
                    let Some((id, path)) = wanted.lock().ok().and_then(|mut w| w.pop()) else { break };
                    let thumb = Image::load(&path).ok().map(|im| {
                        let t = image::imageops::thumbnail(
                            im.rgb(),
                            THUMBNAIL_PX,
                            (THUMBNAIL_PX * im.height() / im.width().max(1)).max(1),
                        );
                        egui::ColorImage::from_rgb([t.width() as usize, t.height() as usize], t.as_raw())
                    });
                    if let Ok(mut d) = decoded.lock() {
                        d.push((id, thumb));
                    }
                }
            }));
        }
        None
    }

    /// Turns what was decoded into textures; true when something new is there.
    pub fn poll(&mut self, ctx: &egui::Context) -> bool {
        let decoded: Vec<_> = self.decoded.lock().map(|mut d| std::mem::take(&mut *d)).unwrap_or_default();
        let any = !decoded.is_empty();
        for (id, thumb) in decoded {
            let texture = thumb.map(|t| ctx.load_texture(format!("thumbnail {id}"), t, egui::TextureOptions::LINEAR));
            self.textures.insert(id, texture);
        }
        any
    }

    /// Whether thumbnails are being decoded.
    pub fn busy(&self) -> bool {
        self.worker.as_ref().is_some_and(|w| !w.is_finished())
    }
}

impl Drop for Thumbnails {
    fn drop(&mut self) {
        if let Some(w) = &self.worker {
            w.cancel();
        }
    }
}

/// A folder being labelled.
pub struct Folder {
    pub dir: PathBuf,
    pub dataset: Dataset,
    /// Index into `dataset.images` of the photo shown.
    pub current: usize,
    /// The class new masks get.
    pub active_class: String,
    /// The workbench generation last stored into the dataset (`None`: nothing shown yet).
    pub stored_generation: Option<u64>,
    /// Files of the folder that are not in the dataset, and why.
    pub skipped: Vec<Skipped>,
    pub concept: Option<ConceptRun>,
    pub thumbnails: Thumbnails,
}

impl Folder {
    /// Opens the dataset of folder `dir` (made, or brought up to date with new images, and saved):
    /// an error when it cannot be read or written, or holds no image.
    pub fn open(dir: &Path) -> Result<Self, DatasetError> {
        let (mut dataset, _, skipped) = Dataset::open_folder(dir, &[])?;
        if dataset.images.is_empty() {
            return Err(DatasetError::Invalid {
                path: dir.to_owned(),
                message: "no image Carve can read in this folder (or its sub-folders)".into(),
            });
        }
        if dataset.categories.is_empty() {
            dataset.category_id(DEFAULT_CLASS);
        }
        dataset.save(&dir.join(DATASET_FILE))?;
        let active_class = dataset.categories[0].name.clone();
        let current = dataset.images.iter().position(|im| im.status != Status::Done).unwrap_or(0);
        Ok(Self {
            dir: dir.to_owned(),
            dataset,
            current,
            active_class,
            stored_generation: None,
            skipped,
            concept: None,
            thumbnails: Thumbnails::default(),
        })
    }

    /// The dataset file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(DATASET_FILE)
    }

    /// The photo file of image `index`.
    pub fn image_path(&self, index: usize) -> Option<PathBuf> {
        self.dataset.images.get(index).map(|im| self.dir.join(&im.file_name))
    }

    /// The classes, for the workbench.
    pub fn class_list(&self) -> ClassList {
        ClassList {
            active: self.active_class.clone(),
            colors: self
                .dataset
                .categories
                .iter()
                .map(|c| (c.name.clone(), c.color.unwrap_or([200, 200, 200])))
                .collect(),
        }
    }

    /// The class bound to key `key` ("1".."9", a letter), if any.
    pub fn class_for_key(&self, key: &str) -> Option<String> {
        self.dataset.categories.iter().find(|c| c.key.as_deref() == Some(key)).map(|c| c.name.clone())
    }

    /// Adds class `name` (with the next colour and key) and makes it active.
    pub fn add_class(&mut self, name: &str) -> Result<(), DatasetError> {
        let name = name.trim();
        if !name.is_empty() {
            self.dataset.category_id(name);
            self.active_class = name.to_owned();
            self.dataset.save(&self.path())?;
        }
        Ok(())
    }

    /// The masks of image `index`, as the workbench shows them (class colours, pre-labels apart).
    pub fn masks_of(&self, index: usize) -> Vec<MaskEntry> {
        let Some(image) = self.dataset.images.get(index) else { return Vec::new() };
        let classes: HashMap<u64, (&str, [u8; 3])> = self
            .dataset
            .categories
            .iter()
            .map(|c| (c.id, (c.name.as_str(), c.color.unwrap_or([200, 200, 200]))))
            .collect();
        let mut counts: HashMap<&str, usize> = HashMap::new();
        self.dataset
            .annotations
            .iter()
            .filter(|a| a.image_id == image.id)
            .filter_map(|a| {
                let mask = self.dataset.mask_of(a)?;
                let (class, color) = classes.get(&a.category_id).copied().unwrap_or(("?", [200, 200, 200]));
                let n = counts.entry(class).or_default();
                *n += 1;
                let (engine, score, prelabel) = match &a.origin {
                    Origin::Human => (EngineKind::Classical, 1.0, false),
                    Origin::Prelabel { engine, score } => {
                        (EngineKind::from_name(engine).unwrap_or(EngineKind::Sam3), *score, true)
                    }
                };
                Some(MaskEntry {
                    name: format!("{class} {n}"),
                    mask,
                    color,
                    visible: true,
                    engine,
                    score,
                    points: Vec::new(),
                    hypotheses: Vec::new(),
                    label: Some(class.to_owned()),
                    prelabel,
                })
            })
            .collect()
    }

    /// Puts the workbench's `masks` of image `index` into the dataset (replacing that image's
    /// annotations; a mask without a class gets the active one), updates the image's status and
    /// saves. The status: pre-labelled while pre-labels wait; once the last is accepted or
    /// deleted, done (to do if nothing is left); otherwise as it was (done comes from
    /// [`Folder::leave`] or the user).
    pub fn store(&mut self, index: usize, masks: &[MaskEntry]) -> Result<(), DatasetError> {
        let Some(image) = self.dataset.images.get(index) else { return Ok(()) };
        let (image_id, was) = (image.id, image.status);
        self.dataset.annotations.retain(|a| a.image_id != image_id);
        for m in masks {
            let class = m.label.clone().unwrap_or_else(|| self.active_class.clone());
            let origin = if m.prelabel {
                Origin::Prelabel { engine: m.engine.as_str().to_owned(), score: m.score }
            } else {
                Origin::Human
            };
            self.dataset.add(image_id, &class, &m.mask, origin);
        }
        let status = match was {
            _ if masks.iter().any(|m| m.prelabel) => Status::Prelabelled,
            Status::Prelabelled if masks.is_empty() => Status::Todo,
            Status::Prelabelled => Status::Done,
            other => other,
        };
        if let Some(im) = self.dataset.images.get_mut(index) {
            im.status = status;
        }
        self.dataset.save(&self.path())
    }

    /// The user moves on from image `index`: labelled by hand (human labels only) and still to
    /// do, it is done.
    pub fn leave(&mut self, index: usize) -> Result<(), DatasetError> {
        let Some(image) = self.dataset.images.get(index) else { return Ok(()) };
        let id = image.id;
        let mut mine = self.dataset.annotations.iter().filter(|a| a.image_id == id).peekable();
        let labelled = mine.peek().is_some();
        let human_only = mine.all(|a| a.origin == Origin::Human);
        if image.status == Status::Todo && labelled && human_only {
            self.dataset.images[index].status = Status::Done;
            return self.dataset.save(&self.path());
        }
        Ok(())
    }

    /// Marks image `index` done (checked, even with nothing in it) or, when it is, to do again.
    pub fn toggle_done(&mut self, index: usize) -> Result<(), DatasetError> {
        if let Some(im) = self.dataset.images.get_mut(index) {
            im.status = if im.status == Status::Done { Status::Todo } else { Status::Done };
        }
        self.dataset.save(&self.path())
    }

    /// Starts `concept` over every image not done that has no pre-label of its class yet, in the
    /// background on `segmenter` (held one image at a time). Results arrive through
    /// [`Folder::take_concept_results`].
    pub fn start_concept(&mut self, concept: Concept, segmenter: Arc<Mutex<Box<dyn Segmenter>>>) {
        if let Some(run) = &self.concept {
            run.cancel();
        }
        let class_id = self.dataset.categories.iter().find(|c| c.name == concept.class).map(|c| c.id);
        let items: Vec<(u64, PathBuf)> = self
            .dataset
            .images
            .iter()
            .filter(|im| im.status != Status::Done)
            .filter(|im| {
                !self.dataset.annotations.iter().any(|a| {
                    a.image_id == im.id
                        && Some(a.category_id) == class_id
                        && matches!(a.origin, Origin::Prelabel { .. })
                })
            })
            .map(|im| (im.id, self.dir.join(&im.file_name)))
            .collect();
        let arrived: Arc<Mutex<Vec<ConceptResult>>> = Arc::default();
        let sink = arrived.clone();
        let options = PrelabelOptions { concepts: vec![concept.clone()], ..Default::default() };
        let task = Task::spawn(format!("\"{}\" across the folder", concept.text), move |progress: &Progress| {
            prelabel_images(&segmenter, &items, &options, progress, |id, _, found| {
                sink.lock()
                    .map_err(|_| "the results list was poisoned".to_owned())?
                    .push((id, found.map_err(|e| e.to_string())));
                Ok::<(), String>(())
            })
        });
        self.concept = Some(ConceptRun { concept, task, arrived });
    }

    /// What the concept run found since the last call, and its end (`Some` once, when it ended:
    /// how many images it went through, or why it stopped).
    pub fn take_concept_results(&mut self) -> (Vec<ConceptResult>, Option<Result<usize, String>>) {
        let Some(run) = &mut self.concept else { return (Vec::new(), None) };
        let results = run.arrived.lock().map(|mut a| std::mem::take(&mut *a)).unwrap_or_default();
        let end = match run.task.try_take() {
            None => None,
            Some(Ok(r)) => Some(r),
            Some(Err(panicked)) => Some(Err(panicked.to_string())),
        };
        if end.is_some() {
            // Whatever arrived between the take above and the end.
            let rest = self.concept.take().map(|r| r.arrived.lock().map(|mut a| std::mem::take(&mut *a)).ok());
            let mut results = results;
            results.extend(rest.flatten().unwrap_or_default());
            return (results, end);
        }
        (results, None)
    }

    /// Applies pre-labels found for an image that is not shown (the shown one's go to the
    /// workbench) and saves: beside the human labels, never into them.
    pub fn add_prelabels(&mut self, image_id: u64, found: Vec<Prelabel>) -> Result<usize, DatasetError> {
        let found: Vec<_> = found.into_iter().map(Prelabel::into_tuple).collect();
        let added = self.dataset.add_prelabels(image_id, &found).len();
        self.dataset.save(&self.path())?;
        Ok(added)
    }

    /// The workbench entries of pre-labels found for the shown image.
    pub fn prelabel_entries(&mut self, found: Vec<Prelabel>, first_number: usize) -> Vec<MaskEntry> {
        found
            .into_iter()
            .enumerate()
            .map(|(k, p)| {
                self.dataset.category_id(&p.class);
                let color = self.class_list().color_of(&p.class).unwrap_or([200, 200, 200]);
                MaskEntry {
                    name: format!("{} {}", p.class, first_number + k),
                    mask: p.mask,
                    color,
                    visible: true,
                    engine: EngineKind::from_name(&p.engine).unwrap_or(EngineKind::Sam3),
                    score: p.score,
                    points: Vec::new(),
                    hypotheses: Vec::new(),
                    label: Some(p.class),
                    prelabel: true,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::mask::Mask;

    fn folder_of(n: u32) -> (tempfile::TempDir, Folder) {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..n {
            let img =
                image::RgbImage::from_fn(32, 24, |x, y| image::Rgb([(x * 8) as u8, (y * 10) as u8, (i * 40) as u8]));
            img.save(dir.path().join(format!("im{i}.png"))).unwrap();
        }
        let folder = Folder::open(dir.path()).unwrap();
        (dir, folder)
    }

    fn square(x0: u32, y0: u32, side: u32) -> Mask {
        let mut m = Mask::new(32, 24);
        for y in y0..y0 + side {
            for x in x0..x0 + side {
                m.set(x, y, true);
            }
        }
        m
    }

    fn entry(mask: Mask, class: &str, prelabel: bool) -> MaskEntry {
        MaskEntry {
            name: class.into(),
            mask,
            color: [1, 2, 3],
            visible: true,
            engine: EngineKind::Sam3,
            score: 0.9,
            points: Vec::new(),
            hypotheses: Vec::new(),
            label: Some(class.into()),
            prelabel,
        }
    }

    #[test]
    fn stored_masks_come_back_with_their_classes_and_statuses() {
        let (dir, mut folder) = folder_of(3);
        folder.add_class("cat").unwrap();
        folder.store(0, &[entry(square(2, 2, 5), "cat", false), entry(square(10, 10, 4), "dog", true)]).unwrap();
        folder.store(1, &[entry(square(1, 1, 3), "object", false)]).unwrap();
        assert_eq!(folder.dataset.images[1].status, Status::Todo, "labelled, not yet left");
        folder.leave(1).unwrap();
        folder.leave(2).unwrap();
        let back = Folder::open(dir.path()).unwrap();
        let statuses: Vec<Status> = back.dataset.images.iter().map(|im| im.status).collect();
        assert_eq!(statuses, [Status::Prelabelled, Status::Done, Status::Todo]);
        assert_eq!(back.current, 0, "the first image not done is shown first");
        let masks = back.masks_of(0);
        assert_eq!(masks.len(), 2);
        assert_eq!((masks[0].label.as_deref(), masks[0].prelabel), (Some("cat"), false));
        assert_eq!((masks[1].label.as_deref(), masks[1].prelabel), (Some("dog"), true));
        assert_eq!(masks[0].mask, square(2, 2, 5));
        assert_eq!(masks[1].mask, square(10, 10, 4));
        assert_eq!(back.class_for_key("2").as_deref(), Some("cat"));
    }

    #[test]
    fn concept_results_for_other_images_never_touch_human_labels() {
        let (_dir, mut folder) = folder_of(2);
        let human = entry(square(2, 2, 8), "cat", false);
        folder.store(1, std::slice::from_ref(&human)).unwrap();
        folder.leave(1).unwrap();
        let before: Vec<_> = folder.dataset.annotations.clone();
        // A pre-label on exactly the human mask, and one elsewhere.
        let found = vec![
            Prelabel { mask: square(2, 2, 8), class: "cat".into(), engine: "sam3".into(), score: 0.8 },
            Prelabel { mask: square(20, 10, 3), class: "cat".into(), engine: "sam3".into(), score: 0.7 },
        ];
        let image_id = folder.dataset.images[1].id;
        assert_eq!(folder.add_prelabels(image_id, found).unwrap(), 2);
        let saved = Dataset::load(&folder.path()).unwrap();
        for a in &before {
            assert!(saved.annotations.contains(a), "human label {} changed", a.id);
        }
        assert_eq!(saved.annotations.len(), before.len() + 2);
        assert_eq!(saved.images[1].status, Status::Done, "a done image stays done");
    }
}

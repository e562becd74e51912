//! Datasets: a folder of images and one COCO file that is the source of truth (`dataset.json`
//! in the folder). Carve's additions ride in fields COCO readers ignore: per image a `status`
//! (to do / pre-labelled / done), per category a colour and a shortcut key, per annotation its
//! `origin` (a human label, or a pre-label with the engine and score that made it; annotations
//! without one — imported from elsewhere — are human labels).
//!
//! Pre-labels never replace or merge into a human label: they are added beside the image's human
//! labels and become human labels only when accepted ([`Dataset::accept_prelabels`]). The file is
//! validated when read (duplicate ids, annotations pointing to missing images or categories,
//! polygons of fewer than 3 points, RLE of another size than its image, file names leaving the
//! folder: one message naming the file and the entry) and written atomically (temp + rename) by
//! [`Dataset::save`], so a crash or a kill mid-write leaves the previous file.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::core::fs::{FileError, InputLimit, write_atomic};
use crate::core::mask::{CocoRle, Mask, Polygon};

/// The dataset file's name inside the folder.
pub const DATASET_FILE: &str = "dataset.json";

/// Image extensions a folder scan takes.
pub const IMAGE_EXTENSIONS: [&str; 7] = ["jpg", "jpeg", "png", "webp", "tif", "tiff", "bmp"];

/// The largest side a dataset image may declare (pixels).
const MAX_SIDE: u32 = 65_535;

/// Errors from reading, checking or writing a dataset; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: not a COCO dataset file: {source}", path.display())]
    Parse { path: PathBuf, source: serde_json::Error },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error(transparent)]
    Write(#[from] FileError),
}

/// Where an image stands in the labelling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[default]
    Todo,
    Prelabelled,
    Done,
}

/// One image of the dataset (COCO `images[]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetImage {
    pub id: u64,
    /// Relative to the dataset folder, `/`-separated.
    pub file_name: String,
    pub width: u32,
    pub height: u32,
    #[serde(default)]
    pub status: Status,
}

/// One class (COCO `categories[]`), with Carve's colour and shortcut key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Category {
    pub id: u64,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supercategory: Option<String>,
    /// sRGB colour of its masks in the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<[u8; 3]>,
    /// The key that assigns it (`"1"`..`"9"`, a letter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// An annotation's shape: COCO RLE (compressed or counts) or polygons (`[x0, y0, x1, y1, …]` rings).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Segmentation {
    Rle(CocoRle),
    Polygons(Vec<Vec<f64>>),
}

/// Who made an annotation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    #[default]
    Human,
    /// Made by a model or the classical engine, not yet accepted.
    Prelabel { engine: String, score: f32 },
}

/// One mask (COCO `annotations[]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Annotation {
    pub id: u64,
    pub image_id: u64,
    pub category_id: u64,
    pub segmentation: Segmentation,
    #[serde(default)]
    pub area: f64,
    /// `[x, y, width, height]` in pixels.
    #[serde(default)]
    pub bbox: [f64; 4],
    #[serde(default)]
    pub iscrowd: u8,
    #[serde(default)]
    pub origin: Origin,
}

/// The COCO document (any other top-level keys are kept as they were).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    #[serde(default)]
    pub images: Vec<DatasetImage>,
    #[serde(default)]
    pub annotations: Vec<Annotation>,
    #[serde(default)]
    pub categories: Vec<Category>,
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// A file a folder scan could not take, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Skipped {
    pub file: PathBuf,
    pub reason: String,
}

/// Counts per status, per category and per origin.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Stats {
    pub images: usize,
    pub todo: usize,
    pub prelabelled: usize,
    pub done: usize,
    pub annotations: usize,
    pub human: usize,
    pub prelabels: usize,
    /// Annotations per category name.
    pub per_category: BTreeMap<String, usize>,
}

/// Colours given to new categories in turn (distinct on a photo, colour-blind friendly first).
const PALETTE: [[u8; 3]; 10] = [
    [230, 25, 75],
    [60, 180, 75],
    [0, 130, 200],
    [245, 130, 48],
    [145, 30, 180],
    [70, 240, 240],
    [240, 50, 230],
    [210, 245, 60],
    [250, 190, 190],
    [0, 128, 128],
];

impl Dataset {
    /// Reads and validates a dataset file.
    pub fn load(path: &Path) -> Result<Self, DatasetError> {
        let text = crate::core::fs::read_input_string(path, InputLimit::Data)
            .map_err(|e| DatasetError::Io { path: path.to_owned(), source: e.source })?;
        let dataset: Dataset =
            serde_json::from_str(&text).map_err(|source| DatasetError::Parse { path: path.to_owned(), source })?;
        dataset.validate().map_err(|message| DatasetError::Invalid { path: path.to_owned(), message })?;
        Ok(dataset)
    }

    /// Writes the dataset atomically (pretty JSON).
    pub fn save(&self, path: &Path) -> Result<(), DatasetError> {
        let bytes =
            serde_json::to_vec_pretty(self).map_err(|e| FileError { path: path.to_owned(), source: e.into() })?;
        Ok(write_atomic(path, &bytes)?)
    }

    /// Checks ids, references, shapes and file names; the first problem, naming the entry.
    pub fn validate(&self) -> Result<(), String> {
        let mut image_ids = HashMap::new();
        let mut names = HashSet::new();
        for (i, im) in self.images.iter().enumerate() {
            if image_ids.insert(im.id, im).is_some() {
                return Err(format!("images[{i}]: id {} is used twice", im.id));
            }
            if !names.insert(im.file_name.as_str()) {
                return Err(format!("images[{i}]: file \"{}\" is listed twice", im.file_name));
            }
            check_file_name(&im.file_name).map_err(|m| format!("images[{i}]: {m}"))?;
            if im.width == 0 || im.height == 0 || im.width > MAX_SIDE || im.height > MAX_SIDE {
                return Err(format!("images[{i}] ({}): size {}×{} is out of range", im.file_name, im.width, im.height));
            }
        }
        let mut category_ids = HashSet::new();
        for (i, c) in self.categories.iter().enumerate() {
            if !category_ids.insert(c.id) {
                return Err(format!("categories[{i}]: id {} is used twice", c.id));
            }
        }
        let mut annotation_ids = HashSet::new();
        for (i, a) in self.annotations.iter().enumerate() {
            if !annotation_ids.insert(a.id) {
                return Err(format!("annotations[{i}]: id {} is used twice", a.id));
            }
            let Some(image) = image_ids.get(&a.image_id) else {
                return Err(format!("annotations[{i}] (id {}): image_id {} is not in images", a.id, a.image_id));
            };
            if !category_ids.contains(&a.category_id) {
                return Err(format!(
                    "annotations[{i}] (id {}): category_id {} is not in categories",
                    a.id, a.category_id
                ));
            }
            check_segmentation(&a.segmentation, image.width, image.height)
                .map_err(|m| format!("annotations[{i}] (id {}): {m}", a.id))?;
        }
        Ok(())
    }

    /// A new dataset of the images in `dir` (and its sub-folders; hidden ones skipped), sorted by
    /// path, with `classes` as its categories. Only each file's header is read (its size); files
    /// that cannot be read are skipped with the reason.
    pub fn scan(dir: &Path, classes: &[String]) -> Result<(Self, Vec<Skipped>), DatasetError> {
        let io = |source| DatasetError::Io { path: dir.to_owned(), source };
        let mut files = Vec::new();
        collect_images(dir, dir, 0, &mut files).map_err(io)?;
        files.sort();
        let mut dataset = Dataset::default();
        let mut skipped = Vec::new();
        for rel in files {
            let path = dir.join(&rel);
            match image_size(&path) {
                Ok((width, height)) if (1..=MAX_SIDE).contains(&width) && (1..=MAX_SIDE).contains(&height) => {
                    let id = dataset.images.len() as u64 + 1;
                    let file_name =
                        rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
                    dataset.images.push(DatasetImage { id, file_name, width, height, status: Status::Todo });
                }
                Ok((width, height)) => {
                    skipped.push(Skipped { file: rel, reason: format!("size {width}×{height} is out of range") })
                }
                Err(reason) => skipped.push(Skipped { file: rel, reason }),
            }
        }
        for name in classes {
            dataset.category_id(name);
        }
        Ok((dataset, skipped))
    }

    /// The dataset of folder `dir`: its `dataset.json` with the images added since (labels kept),
    /// or a new one from a scan; `classes` are added when missing. Returns the dataset (not yet
    /// saved), how many images are new, and the files the scan skipped with the reason.
    pub fn open_folder(dir: &Path, classes: &[String]) -> Result<(Self, usize, Vec<Skipped>), DatasetError> {
        let path = dir.join(DATASET_FILE);
        let (scanned, skipped) = Dataset::scan(dir, classes)?;
        if !path.exists() {
            let added = scanned.images.len();
            return Ok((scanned, added, skipped));
        }
        let mut dataset = Dataset::load(&path)?;
        let known: HashSet<String> = dataset.images.iter().map(|im| im.file_name.clone()).collect();
        let first = dataset.images.iter().map(|im| im.id).max().unwrap_or(0) + 1;
        let new: Vec<DatasetImage> = scanned.images.into_iter().filter(|im| !known.contains(&im.file_name)).collect();
        let added = new.len();
        for (id, mut image) in (first..).zip(new) {
            image.id = id;
            dataset.images.push(image);
        }
        for c in classes {
            dataset.category_id(c);
        }
        Ok((dataset, added, skipped))
    }

    /// The id of the category `name`, added (with the next colour and, for the first nine, the
    /// key `1`..`9`) when missing.
    pub fn category_id(&mut self, name: &str) -> u64 {
        if let Some(c) = self.categories.iter().find(|c| c.name == name) {
            return c.id;
        }
        let id = self.categories.iter().map(|c| c.id).max().unwrap_or(0) + 1;
        let n = self.categories.len();
        self.categories.push(Category {
            id,
            name: name.to_owned(),
            supercategory: None,
            color: Some(PALETTE[n % PALETTE.len()]),
            key: (n < 9).then(|| (n + 1).to_string()),
        });
        id
    }

    /// The image `id`.
    pub fn image(&self, id: u64) -> Option<&DatasetImage> {
        self.images.iter().find(|im| im.id == id)
    }

    fn next_annotation_id(&self) -> u64 {
        self.annotations.iter().map(|a| a.id).max().unwrap_or(0) + 1
    }

    /// Adds a mask to image `image_id` (as RLE) and returns its id; `None` when the image is not in
    /// the dataset or the mask is not its size or empty.
    pub fn add(&mut self, image_id: u64, category: &str, mask: &Mask, origin: Origin) -> Option<u64> {
        let image = self.image(image_id)?;
        if (image.width, image.height) != (mask.width(), mask.height()) || mask.area() == 0 {
            return None;
        }
        let category_id = self.category_id(category);
        let id = self.next_annotation_id();
        let [x0, y0, x1, y1] = mask.bbox()?;
        self.annotations.push(Annotation {
            id,
            image_id,
            category_id,
            segmentation: Segmentation::Rle(mask.to_coco_rle()),
            area: mask.area() as f64,
            bbox: [f64::from(x0), f64::from(y0), f64::from(x1 - x0), f64::from(y1 - y0)],
            iscrowd: 0,
            origin,
        });
        Some(id)
    }

    /// Adds pre-labels (mask, category, engine, score) to image `image_id` beside its human labels,
    /// which are never changed; an image still to do becomes pre-labelled. Returns the new ids.
    pub fn add_prelabels(&mut self, image_id: u64, prelabels: &[(Mask, String, String, f32)]) -> Vec<u64> {
        let ids: Vec<u64> = prelabels
            .iter()
            .filter_map(|(mask, category, engine, score)| {
                self.add(image_id, category, mask, Origin::Prelabel { engine: engine.clone(), score: *score })
            })
            .collect();
        if !ids.is_empty()
            && let Some(image) = self.images.iter_mut().find(|im| im.id == image_id)
            && image.status == Status::Todo
        {
            image.status = Status::Prelabelled;
        }
        ids
    }

    /// Accepts image `image_id`'s pre-labels (all, or only `only`) as human labels; returns how
    /// many. Accepting all marks the image done.
    pub fn accept_prelabels(&mut self, image_id: u64, only: Option<&[u64]>) -> usize {
        let mut accepted = 0;
        for a in &mut self.annotations {
            if a.image_id == image_id
                && matches!(a.origin, Origin::Prelabel { .. })
                && only.is_none_or(|ids| ids.contains(&a.id))
            {
                a.origin = Origin::Human;
                accepted += 1;
            }
        }
        if only.is_none()
            && let Some(image) = self.images.iter_mut().find(|im| im.id == image_id)
        {
            image.status = Status::Done;
        }
        accepted
    }

    /// The mask of annotation `a` (RLE decoded, polygons filled at pixel centres).
    pub fn mask_of(&self, a: &Annotation) -> Option<Mask> {
        let image = self.image(a.image_id)?;
        match &a.segmentation {
            Segmentation::Rle(rle) => Mask::from_coco_rle(rle).ok(),
            Segmentation::Polygons(rings) => {
                let polygons: Vec<Polygon> = rings
                    .iter()
                    .map(|r| Polygon { points: r.chunks_exact(2).map(|p| [p[0], p[1]]).collect() })
                    .collect();
                Some(Mask::from_polygons(image.width, image.height, &polygons))
            }
        }
    }

    /// Counts per status, per category and per origin.
    pub fn stats(&self) -> Stats {
        let mut s = Stats { images: self.images.len(), annotations: self.annotations.len(), ..Default::default() };
        for im in &self.images {
            match im.status {
                Status::Todo => s.todo += 1,
                Status::Prelabelled => s.prelabelled += 1,
                Status::Done => s.done += 1,
            }
        }
        let names: HashMap<u64, &str> = self.categories.iter().map(|c| (c.id, c.name.as_str())).collect();
        for a in &self.annotations {
            match a.origin {
                Origin::Human => s.human += 1,
                Origin::Prelabel { .. } => s.prelabels += 1,
            }
            *s.per_category.entry(names.get(&a.category_id).copied().unwrap_or("?").to_owned()).or_default() += 1;
        }
        s
    }

    /// A copy whose segmentations are polygons (outer rings and holes, simplified to
    /// [`crate::io::mask_export::POLYGON_TOLERANCE_PX`]) instead of RLE.
    pub fn with_polygons(&self) -> Self {
        let mut out = self.clone();
        for a in &mut out.annotations {
            if let (Segmentation::Rle(_), Some(mask)) = (&a.segmentation, self.mask_of(a)) {
                let rings: Vec<Vec<f64>> = mask
                    .polygons()
                    .iter()
                    .map(|p| p.simplified(crate::io::mask_export::POLYGON_TOLERANCE_PX).to_coco())
                    .filter(|r| r.len() >= 6)
                    .collect();
                if !rings.is_empty() {
                    a.segmentation = Segmentation::Polygons(rings);
                }
            }
        }
        out
    }

    /// Merges another COCO file's annotations (as human labels unless they say otherwise) into
    /// this dataset: images are matched by file name, categories by name (added when missing).
    /// Annotations of images this dataset does not hold are skipped, each with the reason.
    pub fn import_coco(&mut self, other: &Dataset) -> (usize, Vec<String>) {
        let mut skipped = Vec::new();
        let mut imported = 0;
        let by_name: HashMap<&str, (u64, u32, u32)> =
            self.images.iter().map(|im| (im.file_name.as_str(), (im.id, im.width, im.height))).collect();
        let mut plan = Vec::new();
        for a in &other.annotations {
            let (Some(theirs), Some(category)) =
                (other.image(a.image_id), other.categories.iter().find(|c| c.id == a.category_id))
            else {
                continue;
            };
            match by_name.get(theirs.file_name.as_str()) {
                None => skipped.push(format!("annotation {}: image {} is not in this dataset", a.id, theirs.file_name)),
                Some(&(_, w, h)) if (w, h) != (theirs.width, theirs.height) => skipped.push(format!(
                    "annotation {}: {} is {}×{} here but {}×{} in the imported file",
                    a.id, theirs.file_name, w, h, theirs.width, theirs.height
                )),
                Some(&(id, _, _)) => plan.push((id, category.name.clone(), other.mask_of(a), a.origin.clone(), a.id)),
            }
        }
        for (image_id, category, mask, origin, their_id) in plan {
            match mask.and_then(|m| self.add(image_id, &category, &m, origin)) {
                Some(_) => imported += 1,
                None => skipped.push(format!("annotation {their_id}: its mask is empty or unreadable")),
            }
        }
        (imported, skipped)
    }
}

/// Merges datasets (shards of one labelling job, or datasets of overlapping folders) into one:
/// images united by file name (their status the furthest along), categories by name, every
/// annotation kept. The result does not depend on the order of `parts`: they are put in a canonical
/// order first, images sorted by file name, categories by name, annotations by image, class and
/// content, and ids given afresh from 1 — merging the same labels split into 1, 2 or 7 parts, in
/// any order, gives the same bytes. An image listed with two sizes is an error naming it.
pub fn merge(parts: &[Dataset]) -> Result<Dataset, String> {
    let mut ordered: Vec<(String, &Dataset)> =
        parts.iter().map(|d| (serde_json::to_string(d).unwrap_or_default(), d)).collect();
    ordered.sort_by(|a, b| a.0.cmp(&b.0));
    let mut images: BTreeMap<String, DatasetImage> = BTreeMap::new();
    let mut categories: BTreeMap<String, Category> = BTreeMap::new();
    // (file name, category name, segmentation JSON, origin JSON, annotation).
    let mut annotations: Vec<(String, String, String, String, Annotation)> = Vec::new();
    let rank = |s: Status| match s {
        Status::Todo => 0,
        Status::Prelabelled => 1,
        Status::Done => 2,
    };
    for (_, d) in &ordered {
        for im in &d.images {
            match images.get_mut(&im.file_name) {
                Some(known) if (known.width, known.height) != (im.width, im.height) => {
                    return Err(format!(
                        "{} is {}×{} in one part and {}×{} in another",
                        im.file_name, known.width, known.height, im.width, im.height
                    ));
                }
                Some(known) => {
                    if rank(im.status) > rank(known.status) {
                        known.status = im.status;
                    }
                }
                None => {
                    images.insert(im.file_name.clone(), im.clone());
                }
            }
        }
        for c in &d.categories {
            categories.entry(c.name.clone()).or_insert_with(|| c.clone());
        }
        let file_of: HashMap<u64, &str> = d.images.iter().map(|im| (im.id, im.file_name.as_str())).collect();
        let class_of: HashMap<u64, &str> = d.categories.iter().map(|c| (c.id, c.name.as_str())).collect();
        for a in &d.annotations {
            let (Some(file), Some(class)) = (file_of.get(&a.image_id), class_of.get(&a.category_id)) else {
                return Err(format!("annotation {} points to an image or class its part lacks", a.id));
            };
            let seg = serde_json::to_string(&a.segmentation).unwrap_or_default();
            let origin = serde_json::to_string(&a.origin).unwrap_or_default();
            annotations.push(((*file).to_owned(), (*class).to_owned(), seg, origin, a.clone()));
        }
    }
    annotations.sort_by(|a, b| (&a.0, &a.1, &a.2, &a.3).cmp(&(&b.0, &b.1, &b.2, &b.3)));
    let mut out =
        Dataset { other: ordered.first().map(|(_, d)| d.other.clone()).unwrap_or_default(), ..Default::default() };
    let mut image_ids = HashMap::new();
    for (i, (name, mut im)) in images.into_iter().enumerate() {
        im.id = i as u64 + 1;
        image_ids.insert(name, im.id);
        out.images.push(im);
    }
    let mut category_ids = HashMap::new();
    for (i, (name, mut c)) in categories.into_iter().enumerate() {
        c.id = i as u64 + 1;
        category_ids.insert(name, c.id);
        out.categories.push(c);
    }
    for (i, (file, class, _, _, mut a)) in annotations.into_iter().enumerate() {
        a.id = i as u64 + 1;
        a.image_id = image_ids[&file];
        a.category_id = category_ids[&class];
        out.annotations.push(a);
    }
    Ok(out)
}

/// A file name must stay inside the dataset folder: relative, no `..`, no root or prefix.
fn check_file_name(name: &str) -> Result<(), String> {
    let path = Path::new(name);
    if name.is_empty() || name.contains('\\') || name.contains('\0') {
        return Err(format!("file name \"{name}\" is not a relative path inside the folder"));
    }
    if path.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir)) {
        return Err(format!("file name \"{name}\" leaves the dataset folder"));
    }
    Ok(())
}

fn check_segmentation(s: &Segmentation, width: u32, height: u32) -> Result<(), String> {
    match s {
        Segmentation::Rle(rle) => {
            if (rle.width, rle.height) != (width, height) {
                return Err(format!("RLE of {}×{} for a {width}×{height} image", rle.width, rle.height));
            }
            let total: u64 = rle.counts.iter().map(|&c| u64::from(c)).sum();
            if total != u64::from(width) * u64::from(height) {
                return Err(format!(
                    "RLE counts cover {total} pixels, the image has {}",
                    u64::from(width) * u64::from(height)
                ));
            }
        }
        Segmentation::Polygons(rings) => {
            if rings.is_empty() {
                return Err("no polygon".into());
            }
            for (k, r) in rings.iter().enumerate() {
                if r.len() < 6 || r.len() % 2 != 0 {
                    return Err(format!(
                        "polygon {k} has {} numbers: a ring needs at least 3 points (x, y pairs)",
                        r.len()
                    ));
                }
                if r.iter().any(|v| !v.is_finite()) {
                    return Err(format!("polygon {k} has a coordinate that is not a number"));
                }
            }
        }
    }
    Ok(())
}

/// The image files under `dir` (relative paths), at most 16 folders deep, hidden entries and
/// links skipped.
fn collect_images(root: &Path, dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if depth > 16 {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let kind = entry.file_type()?;
        let path = entry.path();
        if kind.is_dir() {
            collect_images(root, &path, depth + 1, out)?;
        } else if kind.is_file()
            && path.extension().is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
            && let Ok(rel) = path.strip_prefix(root)
        {
            out.push(rel.to_owned());
        }
    }
    Ok(())
}

/// An image file's size from its header, through Carve's guarded open (regular files only, never
/// blocking).
fn image_size(path: &Path) -> Result<(u32, u32), String> {
    let (file, _) = crate::core::fs::open_input(path).map_err(|e| e.source.to_string())?;
    image::ImageReader::new(std::io::BufReader::new(file))
        .with_guessed_format()
        .map_err(|e| e.to_string())?
        .into_dimensions()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_image() -> Dataset {
        Dataset {
            images: vec![DatasetImage { id: 1, file_name: "a.png".into(), width: 8, height: 6, status: Status::Todo }],
            ..Default::default()
        }
    }

    #[test]
    fn prelabels_never_touch_human_labels() {
        let mut d = one_image();
        let human = Mask::from_fn(8, 6, |x, y| x < 4 && y < 3);
        let hid = d.add(1, "cat", &human, Origin::Human).unwrap();
        let before = d.annotations.clone();
        let overlapping = Mask::from_fn(8, 6, |x, _| x < 6);
        let ids = d.add_prelabels(1, &[(overlapping, "cat".into(), "sam3".into(), 0.9)]);
        assert_eq!(ids.len(), 1);
        assert_eq!(d.annotations[0], before[0], "the human label is unchanged");
        assert_eq!(d.mask_of(&d.annotations[0]).unwrap(), human);
        assert_eq!(d.images[0].status, Status::Prelabelled);
        assert_eq!(d.accept_prelabels(1, None), 1);
        assert_eq!(d.images[0].status, Status::Done);
        assert!(d.annotations.iter().all(|a| a.origin == Origin::Human) && hid == 1);
    }

    #[test]
    fn merging_does_not_depend_on_the_split_or_the_order() {
        let mut whole = Dataset::default();
        for (i, name) in ["a.png", "b.png", "c.png", "d.png"].iter().enumerate() {
            whole.images.push(DatasetImage {
                id: i as u64 + 1,
                file_name: (*name).into(),
                width: 8,
                height: 6,
                status: Status::Todo,
            });
        }
        for i in 0..4u64 {
            let m = Mask::from_fn(8, 6, |x, y| x as u64 <= i && y < 3);
            whole.add(i + 1, if i % 2 == 0 { "cat" } else { "dog" }, &m, Origin::Human).unwrap();
            whole
                .add(
                    i + 1,
                    "cat",
                    &Mask::from_fn(8, 6, |x, _| x == 7),
                    Origin::Prelabel { engine: "sam3".into(), score: 0.5 },
                )
                .unwrap();
        }
        // Split by image into 1, 2 and 4 parts (ids renumbered per part, as shards would).
        let part_of = |keep: &[&str]| {
            let mut d = whole.clone();
            d.images.retain(|im| keep.contains(&im.file_name.as_str()));
            let ids: HashSet<u64> = d.images.iter().map(|im| im.id).collect();
            d.annotations.retain(|a| ids.contains(&a.image_id));
            for a in &mut d.annotations {
                a.id += 100;
            }
            d
        };
        let one = serde_json::to_string(&merge(&[whole.clone()]).unwrap()).unwrap();
        let two = merge(&[part_of(&["c.png", "d.png"]), part_of(&["a.png", "b.png"])]).unwrap();
        let four: Vec<Dataset> = ["d.png", "b.png", "a.png", "c.png"].iter().map(|n| part_of(&[n])).collect();
        let mut four_reversed = four.clone();
        four_reversed.reverse();
        assert_eq!(serde_json::to_string(&two).unwrap(), one);
        assert_eq!(serde_json::to_string(&merge(&four).unwrap()).unwrap(), one);
        assert_eq!(serde_json::to_string(&merge(&four_reversed).unwrap()).unwrap(), one);
        assert!(merge(&[whole.clone()]).unwrap().validate().is_ok());
        let mut other_size = part_of(&["a.png"]);
        other_size.images[0].width = 9;
        assert!(merge(&[whole, other_size]).unwrap_err().contains("a.png is 8×6"));
    }

    #[test]
    fn validation_names_the_entry() {
        let mut d = one_image();
        d.add(1, "cat", &Mask::from_fn(8, 6, |x, _| x < 2), Origin::Human).unwrap();
        assert!(d.validate().is_ok());
        let mut dup = d.clone();
        dup.annotations.push(dup.annotations[0].clone());
        assert!(dup.validate().unwrap_err().contains("id 1 is used twice"));
        let mut missing = d.clone();
        missing.annotations[0].image_id = 7;
        assert!(missing.validate().unwrap_err().contains("image_id 7 is not in images"));
        let mut thin = d.clone();
        thin.annotations[0].segmentation = Segmentation::Polygons(vec![vec![0.0, 0.0, 1.0, 1.0]]);
        assert!(thin.validate().unwrap_err().contains("at least 3 points"));
        let mut escape = d.clone();
        escape.images[0].file_name = "../x.png".into();
        assert!(escape.validate().unwrap_err().contains("leaves the dataset folder"));
    }
}

//! `carve dataset`: a folder of images labelled in one COCO file (`DIR/dataset.json`, see
//! `carve::io::dataset`): `init` scans the folder (again: new images are added, labels kept),
//! `stats` counts, `import` merges another COCO file's labels, `merge` folds dataset files into
//! one (the same bytes whatever the split and order), `prelabel` runs a SAM 3 concept
//! over every image still to do (resumable, saved after each image, never touching a human label),
//! `export` writes COCO (RLE or polygons), YOLO-seg, labelme or PNG masks (instance and semantic) —
//! human labels only unless `--include-prelabels`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use carve::io::dataset::{DATASET_FILE, Dataset, Origin, Skipped, Stats};
use serde::Serialize;

use crate::args::JsonArg;
use crate::output::{self, Text};

#[derive(clap::Subcommand)]
pub enum DatasetCommand {
    /// Make (or update) DIR/dataset.json from the images in DIR; unreadable images are skipped
    /// with the reason.
    Init {
        dir: PathBuf,
        /// Class names, comma-separated (colours and keys 1-9 are given in order).
        #[arg(long, value_delimiter = ',')]
        classes: Vec<String>,
        #[command(flatten)]
        output: JsonArg,
    },
    /// Images per status, labels per class and origin.
    Stats {
        dir: PathBuf,
        #[command(flatten)]
        output: JsonArg,
    },
    /// Merge labels into the dataset as human labels: a COCO file (images matched by file name),
    /// a YOLO-seg folder (data.yaml + labels/*.txt) or a folder of labelme JSON files. Labels that
    /// cannot be taken are listed with the reason; the rest are imported.
    #[command(group(clap::ArgGroup::new("from").required(true).args(["coco", "yolo", "labelme"])))]
    Import {
        dir: PathBuf,
        #[arg(long, value_name = "FILE.json")]
        coco: Option<PathBuf>,
        #[arg(long, value_name = "DIR")]
        yolo: Option<PathBuf>,
        #[arg(long, value_name = "DIR")]
        labelme: Option<PathBuf>,
        #[command(flatten)]
        output: JsonArg,
    },
    /// Pre-label every image still to do with the instances of a concept SAM 3 finds (resumable:
    /// images already pre-labelled or done are skipped; the file is saved after each image).
    Prelabel {
        dir: PathBuf,
        /// The concept to find (text prompt).
        #[arg(long, value_name = "CONCEPT")]
        text: String,
        /// The class the pre-labels get (default: the concept).
        #[arg(long, value_name = "NAME")]
        class: Option<String>,
        /// Keep instances scoring at least this (0..1; default: SAM 3's own threshold).
        #[arg(long, value_name = "SCORE")]
        min_score: Option<f32>,
        /// At most this many pre-labels per image (the best scoring).
        #[arg(long, value_name = "N", default_value_t = 50)]
        max_per_image: usize,
        #[command(flatten)]
        models: crate::args::ModelsArg,
        #[command(flatten)]
        output: JsonArg,
    },
    /// Merge dataset files (shards of one job, or other folders' datasets) into one: the same
    /// labels give the same bytes whatever the split and the order.
    Merge {
        /// The merged file.
        #[arg(long, value_name = "OUT.json")]
        out: PathBuf,
        /// The dataset files to merge.
        #[arg(required = true, value_name = "DATASET.json")]
        parts: Vec<PathBuf>,
        #[command(flatten)]
        output: JsonArg,
    },
    /// Write the labels in another format.
    Export {
        dir: PathBuf,
        /// COCO JSON (RLE; --polygons for polygons).
        #[arg(long, value_name = "FILE.json")]
        coco: Option<PathBuf>,
        /// With --coco: polygons instead of RLE.
        #[arg(long, requires = "coco")]
        polygons: bool,
        /// YOLO-seg: OUT/labels/*.txt and OUT/data.yaml.
        #[arg(long, value_name = "OUT")]
        yolo: Option<PathBuf>,
        /// labelme: one OUT/<image>.json per image.
        #[arg(long, value_name = "OUT")]
        labelme: Option<PathBuf>,
        /// PNG masks: OUT/instances/<image>.png (0 = none, 1.. = annotation) and
        /// OUT/semantic/<image>.png (category id).
        #[arg(long, value_name = "OUT")]
        png: Option<PathBuf>,
        /// Export pre-labels too (default: human labels only).
        #[arg(long)]
        include_prelabels: bool,
        #[command(flatten)]
        output: JsonArg,
    },
}

#[derive(Serialize)]
struct InitSummary<'a> {
    dataset: PathBuf,
    images: usize,
    added: usize,
    skipped: &'a [Skipped],
    categories: Vec<&'a str>,
}

#[derive(Serialize)]
struct ImportSummary {
    imported: usize,
    skipped: Vec<String>,
    stats: Stats,
}

#[derive(Serialize)]
struct PrelabelSummary {
    #[serde(flatten)]
    run: PrelabelRun,
    stats: Stats,
}

/// What a pre-labelling run over a dataset did.
#[derive(Serialize)]
pub struct PrelabelRun {
    /// Images segmented this run.
    pub images: usize,
    pub prelabels: usize,
    /// Images left as they were (already pre-labelled or done).
    pub already: usize,
    /// Images that could not be read or segmented: [file, reason].
    pub failed: Vec<(String, String)>,
}

#[derive(Serialize)]
struct ExportSummary {
    written: Vec<PathBuf>,
    annotations: usize,
}

fn dataset_path(dir: &Path) -> PathBuf {
    dir.join(DATASET_FILE)
}

fn load(dir: &Path) -> anyhow::Result<Dataset> {
    let path = dataset_path(dir);
    if !path.exists() {
        anyhow::bail!("{}: not a dataset (no {DATASET_FILE}; make one with `carve dataset init`)", dir.display());
    }
    Ok(Dataset::load(&path)?)
}

pub fn run(command: &DatasetCommand) -> anyhow::Result<()> {
    match command {
        DatasetCommand::Init { dir, classes, output } => init(dir, classes, output.json),
        DatasetCommand::Stats { dir, output } => {
            let stats = load(dir)?.stats();
            output::finish(output.json, &stats, |s| {
                Text::Stdout(format!(
                    "{} images: {} to do, {} pre-labelled, {} done; {} labels ({} human, {} pre-labels)\n{}",
                    s.images,
                    s.todo,
                    s.prelabelled,
                    s.done,
                    s.annotations,
                    s.human,
                    s.prelabels,
                    s.per_category.iter().map(|(k, v)| format!("  {k}: {v}\n")).collect::<String>()
                ))
            })
        }
        DatasetCommand::Import { dir, coco, yolo, labelme, output } => {
            let mut dataset = load(dir)?;
            let (imported, skipped, from) = match (coco, yolo, labelme) {
                (Some(coco), _, _) => {
                    let other = Dataset::load(coco)?;
                    let (n, skipped) = dataset.import_coco(&other);
                    (n, skipped, coco)
                }
                (None, Some(from), _) | (None, None, Some(from)) => {
                    let (labels, notes) = if yolo.is_some() {
                        carve::io::label_import::read_yolo(from, &dataset)?
                    } else {
                        carve::io::label_import::read_labelme(from, &dataset)?
                    };
                    let n =
                        labels.iter().filter_map(|l| dataset.add(l.image_id, &l.class, &l.mask, Origin::Human)).count();
                    (n, notes, from)
                }
                (None, None, None) => anyhow::bail!("say what to import: --coco FILE, --yolo DIR or --labelme DIR"),
            };
            dataset.save(&dataset_path(dir))?;
            let summary = ImportSummary { imported, skipped, stats: dataset.stats() };
            output::finish(output.json, &summary, |s| {
                for why in &s.skipped {
                    eprintln!("note: skipped {why}");
                }
                Text::Stderr(format!("imported {} labels from {}", s.imported, from.display()))
            })
        }
        DatasetCommand::Prelabel { dir, text, class, min_score, max_per_image, models, output } => {
            prelabel(dir, text, class.as_deref().unwrap_or(text), *min_score, *max_per_image, models, output.json)
        }
        DatasetCommand::Merge { out, parts, output } => {
            let loaded: Vec<Dataset> = parts.iter().map(|p| Dataset::load(p)).collect::<Result<_, _>>()?;
            let merged = carve::io::dataset::merge(&loaded).map_err(|m| anyhow::anyhow!("cannot merge: {m}"))?;
            merged.save(out)?;
            let stats = merged.stats();
            output::finish(output.json, &stats, |s| {
                Text::Stderr(format!(
                    "merged {} files: {} images, {} labels → {}",
                    parts.len(),
                    s.images,
                    s.annotations,
                    out.display()
                ))
            })
        }
        DatasetCommand::Export { dir, coco, polygons, yolo, labelme, png, include_prelabels, output } => {
            let mut dataset = load(dir)?;
            if !include_prelabels {
                dataset.annotations.retain(|a| a.origin == Origin::Human);
            }
            if coco.is_none() && yolo.is_none() && labelme.is_none() && png.is_none() {
                anyhow::bail!("say what to export: --coco FILE, --yolo DIR, --labelme DIR or --png DIR");
            }
            let mut set = carve::core::fs::OutputSet::new();
            if let Some(path) = coco {
                let doc = if *polygons { dataset.with_polygons() } else { dataset.clone() };
                doc.save(&set.stage(path)?)?;
            }
            let decoded = decode(&dataset)?;
            let classes: Vec<String> = {
                let mut c = dataset.categories.clone();
                c.sort_by_key(|c| c.id);
                c.into_iter().map(|c| c.name).collect()
            };
            let images = export_images(&dataset, &decoded);
            if let Some(out) = yolo {
                use carve::io::mask_export::{write_text, yolo_data_yaml, yolo_seg_text};
                let labels = out.join("labels");
                std::fs::create_dir_all(&labels).with_context(|| format!("cannot create {}", labels.display()))?;
                for image in &images {
                    write_text(
                        &set.stage(&labels.join(format!("{}.txt", stem(image.file_name))))?,
                        &yolo_seg_text(image, &classes),
                    )?;
                }
                write_text(&set.stage(&out.join("data.yaml"))?, &yolo_data_yaml(&classes))?;
            }
            if let Some(out) = labelme {
                std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
                for image in &images {
                    carve::io::mask_export::write_labelme(
                        &set.stage(&out.join(format!("{}.json", stem(image.file_name))))?,
                        image,
                    )?;
                }
            }
            if let Some(out) = png {
                write_pngs(&mut set, out, &dataset, &decoded)?;
            }
            let written = set.commit()?;
            let summary = ExportSummary { written, annotations: dataset.annotations.len() };
            output::finish(output.json, &summary, |s| {
                Text::Stderr(format!("exported {} labels ({} files)", s.annotations, s.written.len()))
            })
        }
    }
}

fn prelabel(
    dir: &Path,
    concept: &str,
    class: &str,
    min_score: Option<f32>,
    max_per_image: usize,
    models: &crate::args::ModelsArg,
    json: bool,
) -> anyhow::Result<()> {
    let mut dataset = load(dir)?;
    if let Some(score) = min_score
        && !(0.0..=1.0).contains(&score)
    {
        anyhow::bail!("--min-score {score} is outside 0..1");
    }
    let found = models.discover()?;
    let Some(folder) = carve::model::registry::first_valid(&found, &carve::model::ModelKind::Sam3) else {
        // The engine factory says how to make one.
        carve::segment::run::make_segmenter(carve::segment::EngineChoice::Sam3, Default::default(), &found)?;
        anyhow::bail!("a SAM 3 model folder is needed for concepts");
    };
    let sam3 = carve::segment::sam3::Sam3Segmenter::load(folder, Default::default())?;
    let options = carve::segment::prelabel::PrelabelOptions {
        concepts: vec![carve::segment::prelabel::Concept { text: concept.to_owned(), class: class.to_owned() }],
        max_per_image,
        min_score,
        ..Default::default()
    };
    let run = prelabel_todo(dir, &mut dataset, &dataset_path(dir), Box::new(sam3), &options)?;
    let summary = PrelabelSummary { run, stats: dataset.stats() };
    output::finish(json, &summary, |s| {
        for (file, why) in &s.run.failed {
            eprintln!("note: skipped {file}: {why}");
        }
        Text::Stderr(format!(
            "pre-labelled {} images ({} pre-labels of \"{concept}\"); {} were already pre-labelled or done",
            s.run.images, s.run.prelabels, s.run.already
        ))
    })
}

/// Runs `options`' concepts over every image of `dataset` still to do, saving it to `path` after
/// each image (a kill loses at most the image being segmented; a re-run resumes).
pub fn prelabel_todo(
    dir: &Path,
    dataset: &mut Dataset,
    path: &Path,
    segmenter: Box<dyn carve::segment::Segmenter>,
    options: &carve::segment::prelabel::PrelabelOptions,
) -> anyhow::Result<PrelabelRun> {
    let todo: Vec<(u64, PathBuf)> = dataset
        .images
        .iter()
        .filter(|im| im.status == carve::io::dataset::Status::Todo)
        .map(|im| (im.id, dir.join(&im.file_name)))
        .collect();
    let already = dataset.images.len() - todo.len();
    let (mut prelabels, mut failed) = (0, Vec::new());
    let progress = carve::Progress::new();
    let segmenter = std::sync::Mutex::new(segmenter);
    let images =
        carve::segment::prelabel::prelabel_images(&segmenter, &todo, options, &progress, |id, file, found| {
            let name = file.strip_prefix(dir).unwrap_or(file).display().to_string();
            eprintln!("prelabel: {name}");
            match found {
                Ok(found) => {
                    let found: Vec<_> = found.into_iter().map(|p| p.into_tuple()).collect();
                    prelabels += dataset.add_prelabels(id, &found).len();
                    dataset.save(path)
                }
                Err(e) => {
                    failed.push((name, e.to_string()));
                    Ok(())
                }
            }
        })?;
    Ok(PrelabelRun { images: images - failed.len(), prelabels, already, failed })
}

fn init(dir: &Path, classes: &[String], json: bool) -> anyhow::Result<()> {
    let path = dataset_path(dir);
    let (dataset, added, skipped) = Dataset::open_folder(dir, classes)?;
    dataset.save(&path)?;
    for s in &skipped {
        eprintln!("note: skipped {}: {}", s.file.display(), s.reason);
    }
    let summary = InitSummary {
        dataset: path.clone(),
        images: dataset.images.len(),
        added,
        skipped: &skipped,
        categories: dataset.categories.iter().map(|c| c.name.as_str()).collect(),
    };
    output::finish(json, &summary, |s| {
        Text::Stderr(format!("{}: {} images ({} new), {} skipped", path.display(), s.images, s.added, s.skipped.len()))
    })
}

/// File stem of a dataset file name, sub-folders joined with `__` so exports stay flat (what the
/// importers match).
fn stem(file_name: &str) -> String {
    carve::io::label_import::export_stem(file_name)
}

/// Every annotation's mask, decoded once.
fn decode(dataset: &Dataset) -> anyhow::Result<Vec<carve::Mask>> {
    dataset
        .annotations
        .iter()
        .map(|a| dataset.mask_of(a).with_context(|| format!("annotation {}: its mask cannot be decoded", a.id)))
        .collect()
}

fn export_images<'a>(dataset: &'a Dataset, masks: &'a [carve::Mask]) -> Vec<carve::io::mask_export::ExportImage<'a>> {
    let names: std::collections::HashMap<u64, &str> =
        dataset.categories.iter().map(|c| (c.id, c.name.as_str())).collect();
    dataset
        .images
        .iter()
        .map(|im| carve::io::mask_export::ExportImage {
            file_name: &im.file_name,
            width: im.width,
            height: im.height,
            masks: dataset
                .annotations
                .iter()
                .zip(masks)
                .filter(|(a, _)| a.image_id == im.id)
                .map(|(a, m)| carve::io::mask_export::ExportMask {
                    mask: m,
                    score: match &a.origin {
                        Origin::Prelabel { score, .. } => *score,
                        Origin::Human => 1.0,
                    },
                    label: names.get(&a.category_id).copied(),
                    engine: match &a.origin {
                        Origin::Prelabel { engine, .. } => engine.as_str(),
                        Origin::Human => "human",
                    },
                })
                .collect(),
        })
        .collect()
}

/// Instance PNGs (16-bit: annotation index in the image, 1..) and semantic PNGs (16-bit category id).
fn write_pngs(
    set: &mut carve::core::fs::OutputSet,
    out: &Path,
    dataset: &Dataset,
    masks: &[carve::Mask],
) -> anyhow::Result<()> {
    let (inst_dir, sem_dir) = (out.join("instances"), out.join("semantic"));
    for d in [&inst_dir, &sem_dir] {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    for im in &dataset.images {
        let mut instances = image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::new(im.width, im.height);
        let mut semantic = instances.clone();
        let mine = dataset.annotations.iter().zip(masks).filter(|(a, _)| a.image_id == im.id);
        for (k, (a, m)) in mine.enumerate() {
            let (index, category) =
                (u16::try_from(k + 1).unwrap_or(u16::MAX), u16::try_from(a.category_id).unwrap_or(u16::MAX));
            for y in 0..im.height {
                for x in 0..im.width {
                    if m.get(x, y) {
                        instances.put_pixel(x, y, image::Luma([index]));
                        semantic.put_pixel(x, y, image::Luma([category]));
                    }
                }
            }
        }
        let name = format!("{}.png", stem(&im.file_name));
        for (dir, img) in [(&inst_dir, &instances), (&sem_dir, &semantic)] {
            let path = set.stage(&dir.join(&name))?;
            img.save_with_format(&path, image::ImageFormat::Png)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(())
}

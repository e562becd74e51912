//! `carve segment`: one photo from clicks, a box or a text prompt, or a folder of photos with a
//! prompts file (`--batch`); masks as PNG, optionally COCO and polygon JSON.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use carve::segment::EngineKind;
use carve::segment::run::{BatchItem, MaskSummary, make_segmenter, segment_image};
use carve::{BoxPrompt, PointPrompt, Prompt};
use serde::Serialize;

use crate::args::{self, JsonArg, ModelsArg};
use crate::output::{self, Text};

#[derive(clap::Args)]
#[command(
    after_help = "Coordinates are pixels of the original image: x right, y down, origin at the top-left corner.\n\
Batch mode: carve segment --batch DIR --prompts prompts.json --out-dir OUT, where prompts.json maps file names to\n\
{\"points\": [[x, y]], \"neg_points\": [[x, y]], \"box\": [x0, y0, x1, y1], \"text\": \"...\"}.\n\
Into a dataset: carve segment --batch DIR --dataset (--text CONCEPT [--class NAME] | --classes a,b): pre-labels in\n\
DIR/dataset.json for every image still to do (resumable; human labels are never touched)."
)]
pub struct SegmentArgs {
    /// The photo to segment.
    #[arg(required_unless_present = "batch", conflicts_with = "batch")]
    image: Option<PathBuf>,
    /// A positive click X,Y (repeatable).
    #[arg(long = "point", value_name = "X,Y", value_parser = args::positive_point)]
    points: Vec<PointPrompt>,
    /// A negative click X,Y (repeatable).
    #[arg(long = "neg-point", value_name = "X,Y", allow_hyphen_values = true, value_parser = args::negative_point)]
    neg_points: Vec<PointPrompt>,
    /// A box X0,Y0,X1,Y1.
    #[arg(long = "box", value_name = "X0,Y0,X1,Y1", value_parser = args::bbox)]
    bbox: Option<BoxPrompt>,
    /// A concept prompt ("red ball"); needs a SAM 3 model folder.
    #[arg(long)]
    text: Option<String>,
    /// Which engine: auto = SAM 3 when a valid model folder is found, else SAM 2.1, else classical.
    #[arg(long, value_enum, default_value = "auto")]
    engine: carve::segment::EngineChoice,
    /// Image-encoder precision of SAM 3 / SAM 2.1: auto = bf16 where the CPU has AMX or
    /// AVX-512-BF16 and the model folder has a bf16 encoder, else fp32.
    #[arg(long, value_enum, default_value = "auto")]
    precision: carve::model::precision::PrecisionChoice,
    #[command(flatten)]
    models: ModelsArg,
    /// Where to write the best mask (PNG, 0/255, image size).
    #[arg(long, value_name = "MASK.png", required_unless_present = "batch")]
    out: Option<PathBuf>,
    /// Also write every hypothesis/instance as numbered PNGs into this folder.
    #[arg(long, value_name = "DIR")]
    all_masks: Option<PathBuf>,
    /// Write COCO JSON (RLE segmentations, one annotation per mask).
    #[arg(long, value_name = "OUT.json")]
    coco: Option<PathBuf>,
    /// Write polygons JSON (simplified contours, holes kept).
    #[arg(long, value_name = "OUT.json")]
    polygons: Option<PathBuf>,
    /// Write YOLO-seg labels into this folder: `labels/<stem>.txt` (normalised outer contours)
    /// and `data.yaml` (class names).
    #[arg(long, value_name = "DIR")]
    yolo: Option<PathBuf>,
    /// Write a labelme JSON file (polygon shapes, `imagePath` the photo's file name).
    #[arg(long, value_name = "OUT.json")]
    labelme: Option<PathBuf>,
    /// Batch mode: segment the files named in --prompts from this folder (or, with --dataset, every
    /// image of it still to do).
    #[arg(long, value_name = "DIR")]
    batch: Option<PathBuf>,
    /// Batch mode: write pre-labels into the folder's dataset (`DIR/dataset.json`, made when
    /// missing) for every image still to do, saved after each image, so a re-run resumes; human
    /// labels are never changed. Concepts from --text (class: --class, else the text) or --classes.
    #[arg(long, requires = "batch", conflicts_with_all = ["prompts", "out_dir"])]
    dataset: bool,
    /// With --dataset: class names, each also the concept prompt that finds its instances.
    #[arg(long, value_delimiter = ',', requires = "dataset")]
    classes: Vec<String>,
    /// With --dataset --text: the class the concept's instances get (default: the text).
    #[arg(long, value_name = "NAME", requires_all = ["dataset", "text"])]
    class: Option<String>,
    /// With --dataset: instances scored at or below are dropped (default: the model's threshold).
    #[arg(long, value_name = "SCORE", requires = "dataset")]
    min_score: Option<f32>,
    /// With --dataset: instances kept per concept and image, best first.
    #[arg(long, value_name = "N", default_value_t = 50)]
    max_per_image: usize,
    /// Batch mode: prompts per file name (JSON).
    #[arg(long, value_name = "prompts.json")]
    prompts: Option<PathBuf>,
    /// Batch mode: where the masks go (<stem>.png each) and the shard's manifest
    /// (`manifest.shard-I-of-N.jsonl`: item, status, outputs with content hashes, error, engine,
    /// timings).
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
    #[command(flatten)]
    shards: crate::args::ShardArgs,
    #[command(flatten)]
    output: JsonArg,
}

/// What `carve segment IMAGE --json` prints.
#[derive(Serialize)]
struct SegmentSummary<'a> {
    image: &'a Path,
    width: u32,
    height: u32,
    engine: EngineKind,
    /// Best first.
    masks: Vec<MaskSummary>,
    encode_ms: f64,
    decode_ms: f64,
    /// Model engines: where the image features came from ("encoded", "memory", "disk_cache").
    #[serde(skip_serializing_if = "Option::is_none")]
    features: Option<carve::segment::FeatureSource>,
    /// Model engines: the precision the image encoder ran at ("fp32", "bf16").
    #[serde(skip_serializing_if = "Option::is_none")]
    precision: Option<carve::model::precision::Precision>,
    /// The best mask first, then --all-masks, --coco and --polygons files.
    written: Vec<PathBuf>,
}

/// What `carve segment --batch … --json` prints.
#[derive(Serialize)]
struct BatchSummary<'a> {
    images: &'a [BatchItem],
    summary: BatchCounts,
    engine: EngineKind,
    /// Model engines: the precision the image encoder ran at.
    #[serde(skip_serializing_if = "Option::is_none")]
    precision: Option<carve::model::precision::Precision>,
}

#[derive(Serialize)]
struct BatchCounts {
    total: usize,
    ok: usize,
    failed: usize,
    median_decode_ms: Option<f64>,
}

pub fn run(args: &SegmentArgs) -> anyhow::Result<()> {
    let models = args.models.discover()?;
    let mut segmenter = make_segmenter(args.engine, args.precision, &models)?;
    if let Some(dir) = &args.batch {
        if args.dataset {
            return dataset_batch(args, dir, segmenter);
        }
        return batch(args, dir, segmenter);
    }
    let (Some(image_path), Some(out)) = (&args.image, &args.out) else {
        anyhow::bail!("give an IMAGE and --out MASK.png (or --batch DIR --prompts FILE --out-dir DIR)");
    };
    let mut prompt = Prompt { text: args.text.clone(), bbox: args.bbox, ..Default::default() };
    prompt.points.extend(args.points.iter().chain(&args.neg_points));
    let image = carve::Image::load(image_path)?;
    prompt.validate(image.width(), image.height()).with_context(|| image_path.display().to_string())?;
    let cleanup = carve::segment::postprocess::Cleanup::for_image(image.width(), image.height());
    let outcome = crate::progress::run_with_terminal_progress("segment", {
        let image = image.clone();
        move |progress| {
            let outcome = segment_image(segmenter.as_mut(), &image, &prompt, Some(cleanup), progress);
            (outcome, segmenter)
        }
    })?
    .0
    .with_context(|| image_path.display().to_string())?;
    let empty = carve::Mask::new(image.width(), image.height());
    let (best_mask, best_score) = match outcome.masks.first() {
        Some(best) => (&best.mask, best.score),
        // A concept absent from the photo is an answer, not an error: an empty mask.
        None if args.text.is_some() => (&empty, 0.0),
        None => anyhow::bail!("{}: the engine returned no mask", image_path.display()),
    };
    // Every output or none: each is staged beside its destination and all are moved into place
    // at the end, so a failure (a missing --coco folder, a full disk) replaces nothing.
    let mut outputs = carve::core::fs::OutputSet::new();
    best_mask.save_png(outputs.stage(out)?)?;
    if let Some(dir) = &args.all_masks {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for (i, m) in outcome.masks.iter().enumerate() {
            m.mask.save_png(outputs.stage(&dir.join(format!("mask_{:02}.png", i + 1)))?)?;
        }
    }
    let file_name =
        image_path.file_name().map_or_else(|| image_path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let export = carve::io::mask_export::ExportImage {
        file_name: &file_name,
        width: image.width(),
        height: image.height(),
        masks: outcome
            .masks
            .iter()
            .map(|m| carve::io::mask_export::ExportMask {
                mask: &m.mask,
                score: m.score,
                label: m.label.as_deref().or(args.text.as_deref()),
                engine: m.engine.as_str(),
            })
            .collect(),
    };
    if let Some(path) = &args.coco {
        carve::io::mask_export::write_coco(&outputs.stage(path)?, std::slice::from_ref(&export))?;
    }
    if let Some(path) = &args.polygons {
        carve::io::mask_export::write_polygons(&outputs.stage(path)?, &export)?;
    }
    if let Some(dir) = &args.yolo {
        use carve::io::mask_export::{class_names, write_text, yolo_data_yaml, yolo_seg_text};
        let labels = dir.join("labels");
        std::fs::create_dir_all(&labels).with_context(|| format!("cannot create {}", labels.display()))?;
        let classes = class_names(std::slice::from_ref(&export));
        let stem = image_path.file_stem().map_or_else(|| "image".into(), |s| s.to_string_lossy().into_owned());
        write_text(&outputs.stage(&labels.join(format!("{stem}.txt")))?, &yolo_seg_text(&export, &classes))?;
        write_text(&outputs.stage(&dir.join("data.yaml"))?, &yolo_data_yaml(&classes))?;
    }
    if let Some(path) = &args.labelme {
        carve::io::mask_export::write_labelme(&outputs.stage(path)?, &export)?;
    }
    let written = outputs.commit()?;
    let summary = SegmentSummary {
        image: image_path,
        width: image.width(),
        height: image.height(),
        engine: outcome.engine,
        masks: outcome.masks.iter().map(MaskSummary::of).collect(),
        encode_ms: outcome.encode_ms,
        decode_ms: outcome.decode_ms,
        features: outcome.features,
        precision: outcome.precision,
        written,
    };
    output::finish(args.output.json, &summary, |s| {
        Text::Stderr(format!(
            "{} engine: {} mask(s), best score {best_score:.3}, area {} px; encode {:.0} ms, decode {:.0} ms → {}",
            s.engine.as_str(),
            s.masks.len(),
            best_mask.area(),
            s.encode_ms,
            s.decode_ms,
            out.display()
        ))
    })
}

/// What `carve segment --batch DIR --dataset --json` prints.
#[derive(Serialize)]
struct DatasetBatchSummary {
    dataset: PathBuf,
    engine: EngineKind,
    #[serde(flatten)]
    run: crate::dataset::PrelabelRun,
    stats: carve::io::dataset::Stats,
}

/// `--batch DIR --dataset`: every image of DIR's dataset still to do, pre-labelled with the concepts.
fn dataset_batch(args: &SegmentArgs, dir: &Path, segmenter: Box<dyn carve::segment::Segmenter>) -> anyhow::Result<()> {
    use carve::segment::prelabel::{Concept, PrelabelOptions};
    let mut concepts: Vec<Concept> =
        args.classes.iter().filter(|c| !c.trim().is_empty()).map(|c| Concept::named(c)).collect();
    if let Some(text) = args.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        concepts.push(Concept { text: text.to_owned(), class: args.class.clone().unwrap_or_else(|| text.to_owned()) });
    }
    if let Some(score) = args.min_score
        && !(0.0..=1.0).contains(&score)
    {
        anyhow::bail!("--min-score {score} is outside 0..1");
    }
    if concepts.is_empty() {
        anyhow::bail!("--dataset needs concepts: --text CONCEPT [--class NAME] or --classes a,b");
    }
    if let Some(long) = concepts.iter().find(|c| c.text.chars().count() > carve::core::prompt::MAX_TEXT_CHARS) {
        anyhow::bail!(
            "the concept \"{}…\" is longer than {} characters",
            long.text.chars().take(40).collect::<String>(),
            carve::core::prompt::MAX_TEXT_CHARS
        );
    }
    let engine = segmenter.engine();
    if engine != EngineKind::Sam3 {
        anyhow::bail!(
            "concept prompts need a SAM 3 model folder; the engine here is {} (see `carve models`)",
            engine.as_str()
        );
    }
    let base_path = dir.join(carve::io::dataset::DATASET_FILE);
    let classes: Vec<String> = concepts.iter().map(|c| c.class.clone()).collect();
    let shard = args.shards.shard()?;
    let (mut dataset, path) = if shard == carve::core::shard::Shard::ALL {
        let (dataset, added, skipped) = carve::io::dataset::Dataset::open_folder(dir, &classes)?;
        for s in &skipped {
            eprintln!("note: skipped {}: {}", s.file.display(), s.reason);
        }
        if added > 0 {
            eprintln!("{}: {added} new images", base_path.display());
        }
        dataset.save(&base_path)?;
        (dataset, base_path)
    } else {
        (shard_part(dir, &base_path, &classes, shard, args.shards.resume)?, dir.join(shard_file_name(shard)))
    };
    let options = PrelabelOptions {
        concepts,
        min_score: args.min_score,
        max_per_image: args.max_per_image,
        ..Default::default()
    };
    let run = crate::dataset::prelabel_todo(dir, &mut dataset, &path, segmenter, &options)?;
    let summary = DatasetBatchSummary { dataset: path, engine, run, stats: dataset.stats() };
    output::finish(args.output.json, &summary, |s| {
        for (file, why) in &s.run.failed {
            eprintln!("note: skipped {file}: {why}");
        }
        Text::Stderr(format!(
            "pre-labelled {} images ({} pre-labels) into {}; {} were already pre-labelled or done",
            s.run.images,
            s.run.prelabels,
            s.dataset.display(),
            s.run.already
        ))
    })
}

/// The file a shard of `--dataset` pre-labels into, beside `dataset.json`.
fn shard_file_name(shard: carve::core::shard::Shard) -> String {
    format!("dataset.shard-{:04}-of-{:04}.json", shard.index, shard.count)
}

/// A shard's part of a labelled folder: the images it owns (by the hash of their file name) with
/// their status, every class, and none of the folder's labels — only the pre-labels it adds, so
/// that `carve dataset merge --out NEW.json DIR/dataset.json DIR/dataset.shard-*.json` gives every
/// human label once and every pre-label. `dataset.json` is read, or made when missing (the same
/// scan in every shard), never changed otherwise; with `resume`, the shard's earlier part goes on.
fn shard_part(
    dir: &Path,
    base_path: &Path,
    classes: &[String],
    shard: carve::core::shard::Shard,
    resume: bool,
) -> anyhow::Result<carve::io::dataset::Dataset> {
    use carve::io::dataset::Dataset;
    let part_path = dir.join(shard_file_name(shard));
    if resume && part_path.exists() {
        let mut part = Dataset::load(&part_path)?;
        for c in classes {
            part.category_id(c);
        }
        return Ok(part);
    }
    let base = if base_path.exists() {
        Dataset::load(base_path)?
    } else {
        let (base, _, skipped) = Dataset::open_folder(dir, &[])?;
        for s in &skipped {
            eprintln!("note: skipped {}: {}", s.file.display(), s.reason);
        }
        base.save(base_path)?;
        base
    };
    let mut part = Dataset {
        images: base.images.iter().filter(|im| shard.owns(&im.file_name)).cloned().collect(),
        annotations: Vec::new(),
        categories: base.categories.clone(),
        other: base.other.clone(),
    };
    for c in classes {
        part.category_id(c);
    }
    part.save(&part_path)?;
    Ok(part)
}

/// `--batch DIR`: every file named in `--prompts`, masks into `--out-dir`.
fn batch(args: &SegmentArgs, dir: &Path, mut segmenter: Box<dyn carve::segment::Segmenter>) -> anyhow::Result<()> {
    let (Some(prompts_path), Some(out_dir)) = (&args.prompts, &args.out_dir) else {
        anyhow::bail!("--batch needs --prompts FILE and --out-dir DIR");
    };
    let prompts = carve::segment::run::read_prompts(prompts_path)?;
    let options = carve::core::shard::BatchOptions { shard: args.shards.shard()?, resume: args.shards.resume };
    let (dir, out_dir) = (dir.to_owned(), out_dir.clone());
    let (engine, precision) = (segmenter.engine(), segmenter.precision());
    let run = crate::progress::run_with_terminal_progress("segment", move |progress| {
        carve::segment::run::run_batch(segmenter.as_mut(), &dir, &prompts, &out_dir, options, progress)
    })??;
    for line in &run.corrupt_manifest_lines {
        eprintln!("note: {line}; its item is done again");
    }
    let items = run.items;
    let ok = items.iter().filter(|i| i.ok).count();
    let mut decode_ms: Vec<f64> = items.iter().filter(|i| i.ok).map(|i| i.decode_ms).collect();
    decode_ms.sort_by(f64::total_cmp);
    let median_decode_ms = decode_ms.get(decode_ms.len() / 2).copied();
    for item in items.iter().filter(|i| !i.ok) {
        eprintln!("skipped {}: {}", item.file, item.error.as_deref().unwrap_or("unknown error"));
    }
    let summary = BatchSummary {
        images: &items,
        summary: BatchCounts { total: items.len(), ok, failed: items.len() - ok, median_decode_ms },
        engine,
        precision,
    };
    output::finish(args.output.json, &summary, |s| {
        Text::Stderr(format!(
            "segmented {ok} of {} image(s); median decode {:.0} ms",
            s.summary.total,
            median_decode_ms.unwrap_or(0.0)
        ))
    })?;
    // A shard whose items all failed is no failed job: each failure is in its manifest, and the
    // merge reports them (a scheduler would otherwise hold back the merge for a bad image).
    if ok == 0 && !items.is_empty() && options.shard == carve::core::shard::Shard::ALL {
        let first = items.iter().find_map(|i| i.error.as_deref()).unwrap_or("?");
        anyhow::bail!("{}: no image of the batch could be segmented (first error: {first})", prompts_path.display());
    }
    Ok(())
}

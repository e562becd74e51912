//! `carve lift`: a masked object of a photo to 3D — voxels, Gaussian splats, a mesh and the scene
//! camera, written as `splats.ply`, `splats.glb`, `object.glb` and `scene.json` — or every object
//! of the photo into one scene (`--masks DIR`, or `--text "concept"`, whose instances SAM 3 finds):
//! `scene.json` listing every object, `scene.glb` with a node per object, `objects/NAME/…`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context as _;
use serde::Serialize;

use crate::args::{JsonArg, ModelsArg};
use crate::output::{self, Text};

/// The most objects one scene lift takes (each takes seconds).
const MAX_OBJECTS: usize = 256;

#[derive(clap::Args)]
#[command(mut_arg("models", |a| {
    a.help("Look for model folders here first (a `depth` model; the built-in estimate is used without; \
            a `sam3` model for --text)")
}))]
#[command(group(clap::ArgGroup::new("objects").required(true).args(["mask", "masks", "text", "batch"])))]
pub struct LiftArgs {
    /// The photo.
    #[arg(required_unless_present = "batch", conflicts_with = "batch")]
    image: Option<PathBuf>,
    /// Lift every human label of a labelled folder (DIR/dataset.json, see `carve dataset`), one
    /// object each, into OUT/<image>/<class>_<id>/; split with --shard, resumed with --resume (a
    /// manifest per shard in OUT; `carve batch merge OUT` sums them up).
    #[arg(long, value_name = "DIR")]
    batch: Option<PathBuf>,
    #[command(flatten)]
    shards: crate::args::ShardArgs,
    /// The object's mask (PNG, image size; brighter than mid-grey = inside).
    #[arg(long, value_name = "MASK.png")]
    mask: Option<PathBuf>,
    /// Lift every mask (`*.png`, one object each, named by file) of this folder into one scene.
    #[arg(long, value_name = "DIR")]
    masks: Option<PathBuf>,
    /// Lift every instance of this concept (found by SAM 3) into one scene.
    #[arg(long, value_name = "CONCEPT")]
    text: Option<String>,
    /// With --text: keep instances scoring at least this (0..1; default: SAM 3's own threshold).
    #[arg(long, value_name = "SCORE", requires = "text")]
    min_score: Option<f32>,
    /// With --text: lift at most this many instances (the best scoring).
    #[arg(long, value_name = "N", default_value_t = 16, requires = "text")]
    max_objects: usize,
    /// Output folder: splats.ply, splats.glb (KHR_gaussian_splatting), object.glb, scene.json; for
    /// a scene, scene.json, scene.glb and objects/NAME/{splats.ply, splats.glb, object.glb}.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Voxels per side of the grid.
    #[arg(long, default_value_t = 64)]
    voxels: usize,
    /// Refinement iterations against the photo (0 = none).
    #[arg(long, default_value_t = 120)]
    iters: usize,
    #[command(flatten)]
    models: ModelsArg,
    #[command(flatten)]
    output: JsonArg,
}

/// What `carve lift --json` prints.
#[derive(Serialize)]
struct LiftSummary<'a> {
    written: Vec<PathBuf>,
    /// Which front-surface estimate was used.
    engine: &'a str,
    /// Occupied voxels.
    voxels: usize,
    voxel_resolution: usize,
    splats: usize,
    triangles: usize,
    timings_ms: BTreeMap<&'static str, f64>,
    loss_first: Option<f32>,
    loss_last: Option<f32>,
    /// What `scene.json` holds.
    scene: carve::io::scene::SceneFile,
}

/// What `carve lift --masks/--text --json` prints.
#[derive(Serialize)]
struct SceneSummary<'a> {
    written: Vec<PathBuf>,
    engine: &'a str,
    objects: Vec<SceneObjectSummary<'a>>,
    /// Instances (--text) that could not be lifted: [name, reason].
    skipped: &'a [(String, String)],
    timings_ms: BTreeMap<&'static str, f64>,
    /// What `scene.json` holds.
    scene: carve::io::scene::SceneFile,
}

#[derive(Serialize)]
struct SceneObjectSummary<'a> {
    name: &'a str,
    voxels: usize,
    splats: usize,
    triangles: usize,
    pushed_back: f64,
    timings_ms: BTreeMap<&'static str, f64>,
}

fn load_mask(path: &std::path::Path) -> anyhow::Result<carve::Mask> {
    let mask = carve::Mask::load_png(path)?;
    if carve::Image::load(path)?.rgb().as_raw().iter().any(|&c| c != 0 && c != 255) {
        eprintln!("note: {} is not a binary mask; it was thresholded at mid-grey", path.display());
    }
    Ok(mask)
}

/// The objects of a scene lift: each `*.png` of `dir` (regular files, sorted by name).
fn masks_in(dir: &std::path::Path) -> anyhow::Result<Vec<carve::lift::scene::SceneObject>> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("cannot read the mask folder {}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")))
        .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file()))
        .collect();
    paths.sort();
    if paths.is_empty() {
        anyhow::bail!("{}: no *.png masks in this folder", dir.display());
    }
    if paths.len() > MAX_OBJECTS {
        anyhow::bail!("{}: {} masks; a scene lift takes at most {MAX_OBJECTS}", dir.display(), paths.len());
    }
    paths
        .iter()
        .map(|p| {
            let name = p.file_stem().map_or_else(|| "object".into(), |s| s.to_string_lossy().into_owned());
            Ok(carve::lift::scene::SceneObject { name, mask: load_mask(p)? })
        })
        .collect()
}

/// The instances of `concept` SAM 3 finds in `image`, named `concept_1`, `concept_2`, … (best first).
fn instances_of(
    args: &LiftArgs,
    image_path: &std::path::Path,
    concept: &str,
    image: &carve::Image,
    models: &[carve::model::ModelFolder],
) -> anyhow::Result<Vec<carve::lift::scene::SceneObject>> {
    use carve::segment::run::{make_segmenter, segment_image};
    if let Some(score) = args.min_score
        && !(0.0..=1.0).contains(&score)
    {
        anyhow::bail!("--min-score {score} is outside 0..1");
    }
    let mut segmenter: Box<dyn carve::segment::Segmenter> =
        match carve::model::registry::first_valid(models, &carve::model::ModelKind::Sam3) {
            Some(folder) => {
                let mut sam3 = carve::segment::sam3::Sam3Segmenter::load(folder, Default::default())?;
                if let Some(score) = args.min_score {
                    sam3.score_threshold = score;
                }
                Box::new(sam3)
            }
            // Not found: the engine factory's message says how to make one.
            None => make_segmenter(carve::segment::EngineChoice::Sam3, Default::default(), models)?,
        };
    let prompt = carve::core::prompt::Prompt { text: Some(concept.to_owned()), ..Default::default() };
    let cleanup = carve::segment::postprocess::Cleanup::for_image(image.width(), image.height());
    let outcome = crate::progress::run_with_terminal_progress("segment", {
        let image = image.clone();
        move |progress| segment_image(segmenter.as_mut(), &image, &prompt, Some(cleanup), progress)
    })?
    .with_context(|| image_path.display().to_string())?;
    // Specks are not objects; the best `--max-objects` (at most MAX_OBJECTS) are lifted.
    let limit = args.max_objects.clamp(1, MAX_OBJECTS);
    let masks: Vec<_> = outcome.masks.into_iter().filter(|m| m.mask.area() >= 64).take(limit).collect();
    if masks.is_empty() {
        anyhow::bail!("{}: SAM 3 found no instance of \"{concept}\"", image_path.display());
    }
    let stem: String = concept.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).take(40).collect();
    Ok(masks
        .into_iter()
        .enumerate()
        .map(|(i, m)| carve::lift::scene::SceneObject { name: format!("{stem}_{}", i + 1), mask: m.mask })
        .collect())
}

pub fn run(args: &LiftArgs) -> anyhow::Result<()> {
    let models = args.models.discover()?;
    let depth = match carve::model::registry::first_valid(&models, &carve::model::ModelKind::Depth) {
        Some(folder) => Some(carve::lift::DepthModel::load(folder)?),
        None => None,
    };
    let params = carve::lift::LiftParams { voxels: args.voxels, iterations: args.iters, ..Default::default() };
    if let Some(dir) = &args.batch {
        return lift_batch(args, dir, depth, params);
    }
    let Some(image_path) = &args.image else { anyhow::bail!("give a photo (or --batch DIR)") };
    let image = carve::Image::load(image_path)?;
    let objects = match (&args.mask, &args.masks, &args.text) {
        (Some(mask), _, _) => return lift_one(args, image_path, image, load_mask(mask)?, mask, depth, params),
        (None, Some(dir), _) => masks_in(dir)?,
        (None, None, Some(concept)) => instances_of(args, image_path, concept, &image, &models)?,
        (None, None, None) => anyhow::bail!("give --mask, --masks or --text"),
    };
    // Instances a model found may include specks: those are skipped (and named); masks the user
    // gave must all lift.
    let skip_unliftable = args.text.is_some();
    let scene = crate::progress::run_with_terminal_progress("lift", move |progress| {
        carve::lift::scene::lift_scene(&image, &objects, &params, depth.as_ref(), skip_unliftable, progress)
    })?
    .with_context(|| format!("cannot lift the objects of {}", image_path.display()))?;
    let written = carve::lift::scene::write_scene_outputs(&args.out, &scene)?;
    for (name, why) in &scene.skipped {
        eprintln!("note: skipped {name}: {why}");
    }
    let summary = SceneSummary {
        written,
        engine: &scene.engine,
        objects: scene
            .objects
            .iter()
            .map(|o| SceneObjectSummary {
                name: &o.name,
                voxels: o.output.grid.count(),
                splats: o.output.splats.len(),
                triangles: o.output.mesh.triangle_count(),
                pushed_back: o.pushed_back,
                timings_ms: o.output.timings_ms.iter().copied().collect(),
            })
            .collect(),
        skipped: &scene.skipped,
        timings_ms: scene.timings_ms.iter().copied().collect(),
        scene: carve::lift::scene::scene_file(&scene),
    };
    output::finish(args.output.json, &summary, |s| {
        Text::Stderr(format!("lifted {} objects into one scene → {}", s.objects.len(), args.out.display()))
    })
}

fn lift_one(
    args: &LiftArgs,
    image_path: &std::path::Path,
    image: carve::Image,
    mask: carve::Mask,
    mask_path: &std::path::Path,
    depth: Option<carve::lift::DepthModel>,
    params: carve::lift::LiftParams,
) -> anyhow::Result<()> {
    let out = crate::progress::run_with_terminal_progress("lift", move |progress| {
        carve::lift::lift_with(&image, &mask, &params, depth.as_ref(), progress)
    })?
    .with_context(|| format!("cannot lift {} with {}", image_path.display(), mask_path.display()))?;
    let written = carve::lift::write_outputs(&args.out, &out)?;
    let summary = LiftSummary {
        written,
        engine: &out.engine,
        voxels: out.grid.count(),
        voxel_resolution: out.grid.resolution,
        splats: out.splats.len(),
        triangles: out.mesh.triangle_count(),
        timings_ms: out.timings_ms.iter().copied().collect(),
        loss_first: out.losses.first().copied(),
        loss_last: out.losses.last().copied(),
        scene: carve::lift::scene_file(&out),
    };
    output::finish(args.output.json, &summary, |s| {
        Text::Stderr(format!(
            "lifted: {} voxels, {} splats, {} triangles → {}",
            s.voxels,
            s.splats,
            s.triangles,
            args.out.display()
        ))
    })
}

/// What `carve lift --batch … --json` prints.
#[derive(Serialize)]
struct LiftBatchSummary<'a> {
    shard: carve::core::shard::Shard,
    objects: &'a [carve::lift::batch::LiftBatchItem],
    ok: usize,
    failed: usize,
    resumed: usize,
}

/// `--batch DIR`: every human label of DIR's dataset lifted (this shard's share).
fn lift_batch(
    args: &LiftArgs,
    dir: &std::path::Path,
    depth: Option<carve::lift::DepthModel>,
    params: carve::lift::LiftParams,
) -> anyhow::Result<()> {
    let path = dir.join(carve::io::dataset::DATASET_FILE);
    if !path.exists() {
        anyhow::bail!(
            "{}: not a labelled folder (no {}; make one with `carve dataset init`)",
            dir.display(),
            carve::io::dataset::DATASET_FILE
        );
    }
    let dataset = carve::io::dataset::Dataset::load(&path)?;
    let options = carve::core::shard::BatchOptions { shard: args.shards.shard()?, resume: args.shards.resume };
    let (dir, out) = (dir.to_owned(), args.out.clone());
    let (items, corrupt) = crate::progress::run_with_terminal_progress("lift", move |progress| {
        carve::lift::batch::run_lift_batch(&dir, &dataset, &out, &params, depth.as_ref(), options, progress)
    })??;
    for line in &corrupt {
        eprintln!("note: {line}; its item is done again");
    }
    for item in items.iter().filter(|i| !i.ok) {
        eprintln!("skipped {}: {}", item.item, item.error.as_deref().unwrap_or("unknown error"));
    }
    let ok = items.iter().filter(|i| i.ok).count();
    let summary = LiftBatchSummary {
        shard: options.shard,
        objects: &items,
        ok,
        failed: items.len() - ok,
        resumed: items.iter().filter(|i| i.resumed).count(),
    };
    output::finish(args.output.json, &summary, |s| {
        Text::Stderr(format!(
            "shard {}: lifted {} objects ({} resumed, {} failed) into {}",
            s.shard,
            s.ok,
            s.resumed,
            s.failed,
            args.out.display()
        ))
    })
}

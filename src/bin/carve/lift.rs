//! `carve lift`: a masked object of a photo to 3D — voxels, Gaussian splats, a mesh and the scene
//! camera, written as `splats.ply`, `object.glb` and `scene.json`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context as _;
use serde::Serialize;

use crate::args::{JsonArg, ModelsArg};
use crate::output::{self, Text};

#[derive(clap::Args)]
#[command(mut_arg("models", |a| {
    a.help("Look for model folders here first (a `depth` model; the built-in estimate is used without)")
}))]
pub struct LiftArgs {
    /// The photo.
    image: PathBuf,
    /// The object's mask (PNG, image size; brighter than mid-grey = inside).
    #[arg(long, value_name = "MASK.png")]
    mask: PathBuf,
    /// Output folder: splats.ply, splats.glb (KHR_gaussian_splatting), object.glb, scene.json.
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

pub fn run(args: &LiftArgs) -> anyhow::Result<()> {
    let image = carve::Image::load(&args.image)?;
    let mask = carve::Mask::load_png(&args.mask)?;
    if carve::Image::load(&args.mask)?.rgb().as_raw().iter().any(|&c| c != 0 && c != 255) {
        eprintln!("note: {} is not a binary mask; it was thresholded at mid-grey", args.mask.display());
    }
    let models = args.models.discover()?;
    let depth = match carve::model::registry::first_valid(&models, &carve::model::ModelKind::Depth) {
        Some(folder) => Some(carve::lift::DepthModel::load(folder)?),
        None => None,
    };
    let params = carve::lift::LiftParams { voxels: args.voxels, iterations: args.iters, ..Default::default() };
    let out = crate::progress::run_with_terminal_progress("lift", move |progress| {
        carve::lift::lift_with(&image, &mask, &params, depth.as_ref(), progress)
    })?
    .with_context(|| format!("cannot lift {} with {}", args.image.display(), args.mask.display()))?;
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

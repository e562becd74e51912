//! `carve`: the command line. No subcommand opens the workbench window; each subcommand runs one
//! pipeline step headless. `--json` prints a machine-readable summary on stdout; progress and
//! messages go to stderr; errors exit non-zero with a one-line reason.

#[path = "body.rs"]
mod cli_body;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "carve",
    version,
    about = "Segment photos with SAM 3, lift objects to 3D, fit MHR bodies; GUI and CLI"
)]
#[command(after_help = "With no subcommand, carve opens the workbench window on the embedded demo photo.")]
struct Cli {
    /// Open this photo in the window instead of the demo.
    #[arg(long, value_name = "IMAGE")]
    open: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Segment a photo from clicks, a box or a text prompt; or a folder of photos (--batch).
    Segment(Box<SegmentArgs>),
    /// Lift a masked object to 3D: voxels, Gaussian splats, mesh and scene camera.
    Lift(LiftArgs),
    /// Render meshes, splats and point clouds (.glb, .gltf, .ply) to a PNG, offscreen.
    Render(RenderArgs),
    /// Report the libtorch version, compute devices and every model folder found.
    Models(ModelsArgs),
    /// Body rigs: import SAM 3D Body outputs, the demo rig, fitting, LODs.
    #[command(subcommand)]
    Body(cli_body::BodyCommand),
}

#[derive(clap::Args)]
struct LiftArgs {
    /// The photo.
    image: PathBuf,
    /// The object's mask (PNG, image size; brighter than mid-grey = inside).
    #[arg(long, value_name = "MASK.png")]
    mask: PathBuf,
    /// Output folder: splats.ply, object.glb, scene.json.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Voxels per side of the grid.
    #[arg(long, default_value_t = 64)]
    voxels: usize,
    /// Refinement iterations against the photo (0 = none).
    #[arg(long, default_value_t = 120)]
    iters: usize,
    /// Look for model folders here first (a `depth` model; the built-in estimate is used without).
    #[arg(long, value_name = "DIR")]
    models: Option<PathBuf>,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct RenderArgs {
    /// Files to draw together: .glb, .gltf or .ply (splats, mesh or points, from the header).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Where to write the PNG.
    #[arg(long, value_name = "OUT.png")]
    out: PathBuf,
    /// Image width in pixels (default 1280, or the scene camera's).
    #[arg(long)]
    width: Option<u32>,
    /// Image height in pixels (default 960, or the scene camera's).
    #[arg(long)]
    height: Option<u32>,
    /// `auto` frames everything from a 3/4 view; a scene.json (from `carve lift`) uses its camera.
    #[arg(long, default_value = "auto", value_name = "auto|SCENE.json")]
    camera: String,
    /// Background colour R,G,B (0-255).
    #[arg(long, value_name = "R,G,B", default_value = "30,30,36")]
    background: String,
    /// Draw triangle edges over the shaded mesh
    #[arg(long)]
    wireframe: bool,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
#[command(
    after_help = "Coordinates are pixels of the original image: x right, y down, origin at the top-left corner.\n\
Batch mode: carve segment --batch DIR --prompts prompts.json --out-dir OUT, where prompts.json maps file names to\n\
{\"points\": [[x, y]], \"neg_points\": [[x, y]], \"box\": [x0, y0, x1, y1], \"text\": \"...\"}."
)]
struct SegmentArgs {
    /// The photo to segment.
    #[arg(required_unless_present = "batch", conflicts_with = "batch")]
    image: Option<PathBuf>,
    /// A positive click X,Y (repeatable).
    #[arg(long = "point", value_name = "X,Y")]
    points: Vec<String>,
    /// A negative click X,Y (repeatable).
    #[arg(long = "neg-point", value_name = "X,Y", allow_hyphen_values = true)]
    neg_points: Vec<String>,
    /// A box X0,Y0,X1,Y1.
    #[arg(long = "box", value_name = "X0,Y0,X1,Y1")]
    bbox: Option<String>,
    /// A concept prompt ("red ball"); needs a SAM 3 model folder.
    #[arg(long)]
    text: Option<String>,
    /// Which engine: auto = SAM 3 when a valid model folder is found, else classical.
    #[arg(long, value_enum, default_value = "auto")]
    engine: carve::segment::EngineChoice,
    /// Look for model folders here first (then $CARVE_MODELS, then the user data folder).
    #[arg(long, value_name = "DIR")]
    models: Option<PathBuf>,
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
    /// Batch mode: segment the files named in --prompts from this folder.
    #[arg(long, value_name = "DIR", requires_all = ["prompts", "out_dir"])]
    batch: Option<PathBuf>,
    /// Batch mode: prompts per file name (JSON).
    #[arg(long, value_name = "prompts.json")]
    prompts: Option<PathBuf>,
    /// Batch mode: where the masks go (<stem>.png each).
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct ModelsArgs {
    /// Look for model folders here first (then $CARVE_MODELS, then the user data folder).
    #[arg(long, value_name = "DIR")]
    models: Option<PathBuf>,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("CARVE_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        None => gui(cli.open),
        Some(Command::Models(args)) => models(&args),
        Some(Command::Segment(args)) => segment(&args),
        Some(Command::Render(args)) => render(&args),
        Some(Command::Lift(args)) => lift(&args),
        Some(Command::Body(command)) => cli_body::run(&command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("carve: error: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

fn gui(open: Option<PathBuf>) -> anyhow::Result<()> {
    let start = match open {
        Some(path) => carve::app::StartImage::File(path),
        None => carve::app::StartImage::Demo,
    };
    carve::app::run_gui(start)?;
    Ok(())
}

fn models(args: &ModelsArgs) -> anyhow::Result<()> {
    use carve::model::{device_info, find_models, search_dirs};
    let env = std::env::var_os("CARVE_MODELS");
    let dirs = search_dirs(args.models.as_deref(), env.as_deref()).context("cannot search for models")?;
    let found = find_models(&dirs);
    let devices = device_info();
    if args.json {
        let short = devices.libtorch_version.split('+').next().unwrap_or_default().to_owned();
        let summary = serde_json::json!({
            "libtorch": short,
            "libtorch_build": devices.libtorch_version,
            "devices": devices,
            "search_path": dirs,
            "models": found,
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    println!("libtorch {}", devices.libtorch_version);
    let cuda = if devices.cuda_available {
        format!("{} CUDA device(s){}", devices.cuda_devices, if devices.cudnn_available { ", cuDNN" } else { "" })
    } else if devices.libtorch_built_with_cuda {
        "no CUDA device (libtorch has CUDA support)".to_owned()
    } else {
        "no CUDA (CPU-only libtorch)".to_owned()
    };
    println!("devices: cpu ({} threads); {cuda}", devices.cpu_threads);
    println!("search path:");
    for dir in &dirs {
        let origin = match dir.origin {
            carve::model::SearchOrigin::Explicit => "--models",
            carve::model::SearchOrigin::Environment => "$CARVE_MODELS",
            carve::model::SearchOrigin::UserData => "user data",
        };
        println!("  {origin:<14} {}{}", dir.path.display(), if dir.exists { "" } else { "  (absent)" });
    }
    if found.is_empty() {
        println!("models: none found. Put model folders (made by the scripts in tools/) in one of the folders above.");
    } else {
        println!("models:");
    }
    for m in &found {
        let kind = m.kind.as_ref().map_or("?", |k| k.as_str());
        let weights = match m.weights {
            Some(carve::model::manifest::Weights::Random) => " [random weights]",
            _ => "",
        };
        let status = if m.valid { "valid" } else { "INVALID" };
        println!("  {status:<8} {kind:<9} {}{weights}  {}", m.name.as_deref().unwrap_or("-"), m.path.display());
        for p in &m.problems {
            println!("           - {p}");
        }
    }
    Ok(())
}

fn find_models(dir: Option<&std::path::Path>) -> anyhow::Result<Vec<carve::model::ModelFolder>> {
    let env = std::env::var_os("CARVE_MODELS");
    let dirs = carve::model::search_dirs(dir, env.as_deref()).context("cannot search for models")?;
    Ok(carve::model::find_models(&dirs))
}

fn segment(args: &SegmentArgs) -> anyhow::Result<()> {
    use carve::segment::run::{MaskSummary, make_segmenter, segment_image};
    use carve::{PointLabel, PointPrompt, Prompt};
    let models = find_models(args.models.as_deref())?;
    let mut segmenter = make_segmenter(args.engine, &models)?;
    if let Some(dir) = &args.batch {
        return segment_batch(args, dir, segmenter);
    }
    let (Some(image_path), Some(out)) = (&args.image, &args.out) else {
        anyhow::bail!("give an IMAGE and --out MASK.png (or --batch DIR --prompts FILE --out-dir DIR)");
    };
    let mut prompt = Prompt { text: args.text.clone(), ..Default::default() };
    for (texts, label) in [(&args.points, PointLabel::Positive), (&args.neg_points, PointLabel::Negative)] {
        for t in texts {
            prompt.points.push(PointPrompt::parse(t, label)?);
        }
    }
    if let Some(b) = &args.bbox {
        prompt.bbox = Some(b.parse()?);
    }
    let image = carve::Image::load(image_path)?;
    prompt.validate(image.width(), image.height()).with_context(|| image_path.display().to_string())?;
    let cleanup = carve::segment::postprocess::Cleanup::for_image(image.width(), image.height());
    let outcome = carve::core::task::run_with_terminal_progress("segment", {
        let image = image.clone();
        move |progress| {
            let outcome = segment_image(segmenter.as_mut(), &image, &prompt, Some(cleanup), progress);
            (outcome, segmenter)
        }
    })?
    .0?;
    let empty = carve::Mask::new(image.width(), image.height());
    let (best_mask, best_score) = match outcome.masks.first() {
        Some(best) => (&best.mask, best.score),
        // A concept absent from the photo is an answer, not an error: an empty mask.
        None if args.text.is_some() => (&empty, 0.0),
        None => anyhow::bail!("{}: the engine returned no mask", image_path.display()),
    };
    best_mask.save_png(out)?;
    let mut written = vec![out.clone()];
    if let Some(dir) = &args.all_masks {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for (i, m) in outcome.masks.iter().enumerate() {
            let path = dir.join(format!("mask_{:02}.png", i + 1));
            m.mask.save_png(&path)?;
            written.push(path);
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
        carve::io::mask_export::write_coco(path, std::slice::from_ref(&export))?;
        written.push(path.clone());
    }
    if let Some(path) = &args.polygons {
        carve::io::mask_export::write_polygons(path, &export)?;
        written.push(path.clone());
    }
    if args.json {
        let summary = serde_json::json!({
            "image": image_path,
            "width": image.width(),
            "height": image.height(),
            "engine": outcome.engine,
            "masks": outcome.masks.iter().map(MaskSummary::of).collect::<Vec<_>>(),
            "encode_ms": outcome.encode_ms,
            "decode_ms": outcome.decode_ms,
            "written": written,
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        eprintln!(
            "{} engine: {} mask(s), best score {:.3}, area {} px; encode {:.0} ms, decode {:.0} ms → {}",
            outcome.engine.as_str(),
            outcome.masks.len(),
            best_score,
            best_mask.area(),
            outcome.encode_ms,
            outcome.decode_ms,
            out.display()
        );
    }
    Ok(())
}

fn segment_batch(
    args: &SegmentArgs,
    dir: &std::path::Path,
    mut segmenter: Box<dyn carve::segment::Segmenter>,
) -> anyhow::Result<()> {
    let (Some(prompts_path), Some(out_dir)) = (&args.prompts, &args.out_dir) else {
        anyhow::bail!("--batch needs --prompts FILE and --out-dir DIR");
    };
    let prompts = carve::segment::run::read_prompts(prompts_path)?;
    let (dir, out_dir) = (dir.to_owned(), out_dir.clone());
    let items = carve::core::task::run_with_terminal_progress("segment", move |progress| {
        carve::segment::run::run_batch(segmenter.as_mut(), &dir, &prompts, &out_dir, progress)
    })??;
    let ok = items.iter().filter(|i| i.ok).count();
    let mut decode: Vec<f64> = items.iter().filter(|i| i.ok).map(|i| i.decode_ms).collect();
    decode.sort_by(f64::total_cmp);
    let median_decode_ms = decode.get(decode.len() / 2).copied();
    for item in items.iter().filter(|i| !i.ok) {
        eprintln!("skipped {}: {}", item.file, item.error.as_deref().unwrap_or("unknown error"));
    }
    if args.json {
        let summary = serde_json::json!({
            "images": items,
            "summary": {"total": items.len(), "ok": ok, "failed": items.len() - ok, "median_decode_ms": median_decode_ms},
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        eprintln!(
            "segmented {ok} of {} image(s); median decode {:.0} ms",
            items.len(),
            median_decode_ms.unwrap_or(0.0)
        );
    }
    if ok == 0 && !items.is_empty() {
        anyhow::bail!("no image of the batch could be segmented");
    }
    Ok(())
}

fn render(args: &RenderArgs) -> anyhow::Result<()> {
    use carve::render::{RenderSettings, Scene, camera::OrbitCamera, headless::Headless};
    let parts: Vec<&str> = args.background.split(',').map(str::trim).collect();
    let background: [f32; 3] = match parts.iter().map(|p| p.parse::<u8>()).collect::<Result<Vec<u8>, _>>() {
        Ok(v) if v.len() == 3 => [v[0], v[1], v[2]].map(|c| f32::from(c) / 255.0),
        _ => anyhow::bail!("--background {:?}: expected R,G,B with each 0-255", args.background),
    };
    for (name, v) in [("--width", args.width), ("--height", args.height)] {
        if let Some(v) = v
            && !(1..=16384).contains(&v)
        {
            anyhow::bail!("{name} {v} is out of range (1..=16384)");
        }
    }
    let t0 = std::time::Instant::now();
    let mut scene = Scene::default();
    let mut kinds = Vec::new();
    for input in &args.inputs {
        let loaded = carve::io::load_3d(input)?;
        scene.add(loaded.geometry);
        kinds.push(loaded.kind);
    }
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let bounds = scene.bounds().ok_or_else(|| anyhow::anyhow!("the inputs hold nothing to draw"))?;
    let camera = if args.camera == "auto" {
        OrbitCamera::framing(bounds, glam::Vec3::Y).camera(args.width.unwrap_or(1280), args.height.unwrap_or(960))
    } else {
        let path = PathBuf::from(&args.camera);
        let cam = carve::io::scene::SceneFile::read(&path)?.camera;
        // Another output size keeps the field of view: scale the intrinsics.
        cam.resized(args.width.unwrap_or(cam.width), args.height.unwrap_or(cam.height))
    };
    let settings = RenderSettings { background, wireframe: args.wireframe, ..Default::default() };
    let headless = Headless::new()?;
    let mut gpu = headless.upload(&scene, &settings);
    let t1 = std::time::Instant::now();
    let image = headless.render(&mut gpu, &camera, &settings)?;
    let render_ms = t1.elapsed().as_secs_f64() * 1e3;
    image.save_png(&args.out)?;
    if args.json {
        let summary = serde_json::json!({
            "out": args.out,
            "width": camera.width,
            "height": camera.height,
            "inputs": args.inputs.iter().zip(&kinds).map(|(p, k)| serde_json::json!({"path": p, "kind": k})).collect::<Vec<_>>(),
            "triangles": scene.meshes.iter().map(carve::core::geometry::Mesh::triangle_count).sum::<usize>(),
            "splats": scene.splats.iter().map(carve::core::geometry::Splats::len).sum::<usize>(),
            "points": scene.points.iter().map(|p| p.positions.len()).sum::<usize>(),
            "camera": camera,
            "adapter": headless.adapter,
            "load_ms": load_ms,
            "render_ms": render_ms,
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        eprintln!(
            "rendered {} on {} in {render_ms:.0} ms → {}",
            kinds.join(" + "),
            headless.adapter,
            args.out.display()
        );
    }
    Ok(())
}

fn lift(args: &LiftArgs) -> anyhow::Result<()> {
    let image = carve::Image::load(&args.image)?;
    let mask = carve::Mask::load_png(&args.mask)?;
    if carve::Image::load(&args.mask)?.rgb().as_raw().iter().any(|&c| c != 0 && c != 255) {
        eprintln!("note: {} is not a binary mask; it was thresholded at mid-grey", args.mask.display());
    }
    let models = find_models(args.models.as_deref())?;
    let depth = match carve::model::registry::first_valid(&models, &carve::model::ModelKind::Depth) {
        Some(folder) => Some(carve::lift::DepthModel::load(folder)?),
        None => None,
    };
    let params = carve::lift::LiftParams { voxels: args.voxels, iterations: args.iters, ..Default::default() };
    let out = carve::core::task::run_with_terminal_progress("lift", move |progress| {
        carve::lift::lift_with(&image, &mask, &params, depth.as_ref(), progress)
    })?
    .with_context(|| format!("cannot lift {} with {}", args.image.display(), args.mask.display()))?;
    let written = carve::lift::write_outputs(&args.out, &out)?;
    if args.json {
        let summary = serde_json::json!({
            "written": written,
            "engine": out.engine,
            "voxels": out.grid.count(),
            "voxel_resolution": out.grid.resolution,
            "splats": out.splats.len(),
            "triangles": out.mesh.triangle_count(),
            "timings_ms": out.timings_ms.iter().map(|(k, v)| (k.to_string(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>(),
            "loss_first": out.losses.first(),
            "loss_last": out.losses.last(),
            "scene": carve::lift::scene_file(&out),
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        eprintln!(
            "lifted: {} voxels, {} splats, {} triangles → {}",
            out.grid.count(),
            out.splats.len(),
            out.mesh.triangle_count(),
            args.out.display()
        );
    }
    Ok(())
}

//! `carve render`: meshes, splats and point clouds (.glb, .gltf, .ply) drawn together, offscreen,
//! into a PNG — from an automatic 3/4 view or the camera of a `scene.json`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use carve::core::geometry::{Mesh, Splats};
use carve::render::{RenderSettings, Scene, camera::OrbitCamera, headless::Headless};
use serde::Serialize;

use crate::args::{self, JsonArg, Rgb8};
use crate::output::{self, Text};

#[derive(clap::Args)]
pub struct RenderArgs {
    /// Files to draw together: .glb, .gltf or .ply (splats, mesh or points, from the header).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Where to write the PNG.
    #[arg(long, value_name = "OUT.png")]
    out: PathBuf,
    /// Image width in pixels (default 1280, or the scene camera's).
    #[arg(long, value_parser = args::size_px())]
    width: Option<u32>,
    /// Image height in pixels (default 960, or the scene camera's).
    #[arg(long, value_parser = args::size_px())]
    height: Option<u32>,
    /// `auto` frames everything from a 3/4 view; a scene.json (from `carve lift`) uses its camera.
    #[arg(long, default_value = "auto", value_name = "auto|SCENE.json")]
    camera: String,
    /// Background colour R,G,B (0-255).
    #[arg(long, value_name = "R,G,B", default_value = "30,30,36")]
    background: Rgb8,
    /// Draw triangle edges over the shaded mesh
    #[arg(long)]
    wireframe: bool,
    #[command(flatten)]
    output: JsonArg,
}

/// What `carve render --json` prints.
#[derive(Serialize)]
struct RenderSummary<'a> {
    out: &'a Path,
    width: u32,
    height: u32,
    inputs: Vec<Input<'a>>,
    triangles: usize,
    splats: usize,
    points: usize,
    camera: carve::Camera,
    /// The GPU (or software rasteriser) that drew the image.
    adapter: &'a str,
    load_ms: f64,
    render_ms: f64,
}

/// One input file and what it held.
#[derive(Serialize)]
struct Input<'a> {
    path: &'a Path,
    /// `splats`, `mesh` or `points`.
    kind: &'static str,
}

pub fn run(args: &RenderArgs) -> anyhow::Result<()> {
    let t0 = std::time::Instant::now();
    let mut scene = Scene::default();
    let mut inputs = Vec::new();
    for path in &args.inputs {
        let loaded = carve::io::load_3d(path)?;
        scene.add(loaded.geometry);
        inputs.push(Input { path, kind: loaded.kind });
    }
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let bounds = scene.bounds().ok_or_else(|| anyhow::anyhow!("the inputs hold nothing to draw"))?;
    let camera = if args.camera == "auto" {
        OrbitCamera::framing(bounds, glam::Vec3::Y).camera(args.width.unwrap_or(1280), args.height.unwrap_or(960))
    } else {
        let cam = carve::io::scene::SceneFile::read(Path::new(&args.camera))?.camera;
        // Another output size keeps the field of view: scale the intrinsics.
        cam.resized(args.width.unwrap_or(cam.width), args.height.unwrap_or(cam.height))
    };
    let settings =
        RenderSettings { background: args.background.to_unit_f32(), wireframe: args.wireframe, ..Default::default() };
    let headless = Headless::new()?;
    let mut gpu = headless.upload(&scene, &settings);
    let t1 = std::time::Instant::now();
    let image = headless.render(&mut gpu, &camera, &settings).with_context(|| match args.camera.as_str() {
        "auto" => "cannot render".to_owned(),
        scene => format!("cannot render with the camera of {scene}"),
    })?;
    let render_ms = t1.elapsed().as_secs_f64() * 1e3;
    image.save_png(&args.out)?;
    let summary = RenderSummary {
        out: &args.out,
        width: camera.width,
        height: camera.height,
        inputs,
        triangles: scene.meshes.iter().map(Mesh::triangle_count).sum(),
        splats: scene.splats.iter().map(Splats::len).sum(),
        points: scene.points.iter().map(|p| p.positions.len()).sum(),
        camera,
        adapter: &headless.adapter,
        load_ms,
        render_ms,
    };
    output::finish(args.output.json, &summary, |s| {
        let kinds: Vec<&str> = s.inputs.iter().map(|i| i.kind).collect();
        Text::Stderr(format!(
            "rendered {} on {} in {render_ms:.0} ms → {}",
            kinds.join(" + "),
            s.adapter,
            s.out.display()
        ))
    })
}

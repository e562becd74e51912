//! `carve body …`: MHR-layout body rigs from the command line (import a SAM 3D Body output, the
//! demo rig, fitting to a person mask, LOD counts). Every step calls `carve::body`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use carve::body::{self, BodyParams, Evaluator, lod, sam3d::Sam3dBody};

#[derive(clap::Subcommand)]
pub enum BodyCommand {
    /// Import a SAM 3D Body output (.npz): the posed body at any LOD, its camera, an overlay.
    Import(ImportArgs),
    /// Export the built-in demo rig, skinned, as a GLB.
    Demo(DemoArgs),
    /// Fit a rig to a person mask (and optional 2D keypoints) in a photo.
    Fit(FitArgs),
    /// Vertex and triangle counts per LOD.
    Lods(LodsArgs),
    /// Write a rig file (.rig.safetensors): the demo rig, or a copy of --rig.
    SaveRig(SaveRigArgs),
    /// Pose a TorchScript body model (the official mhr_model.pt, or one with its signature)
    /// through libtorch; any LOD through the official maps.
    Pose(PoseArgs),
}

#[derive(clap::Args)]
pub struct PoseArgs {
    /// TorchScript model: forward(identity [1,n], model [1,p], expression [1,m]) → (vertices [1,18439,3] cm, …).
    #[arg(long, value_name = "mhr_model.pt")]
    model: PathBuf,
    /// Parameters: {"identity": [...], "model": [...], "expression": [...]} (default: MHR's 45/204/72 zeros).
    #[arg(long, value_name = "PARAMS.json")]
    params: Option<PathBuf>,
    #[arg(long, default_value_t = 1)]
    lod: usize,
    /// Output mesh (.glb or .ply), metres, y up.
    #[arg(long, value_name = "X.glb")]
    out: PathBuf,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct ImportArgs {
    /// SAM 3D Body output (.npz with pred_vertices, pred_keypoints_2d/3d, pred_cam_t).
    npz: PathBuf,
    /// Level of detail, 0 (73,639 vertices) to 6 (595).
    #[arg(long, default_value_t = 1)]
    lod: usize,
    /// Output mesh (.glb or .ply), metres, glTF axes (y up).
    #[arg(long, value_name = "X.glb")]
    out: PathBuf,
    /// The photo the output came from (for --overlay).
    #[arg(long, value_name = "PHOTO")]
    image: Option<PathBuf>,
    /// Write the photo with the projected mesh and keypoints.
    #[arg(long, value_name = "OUT.png", requires = "image")]
    overlay: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct DemoArgs {
    #[arg(long, default_value_t = 1)]
    lod: usize,
    /// Output: skinned .glb, or the posed mesh as .ply.
    #[arg(long, value_name = "X.glb")]
    out: PathBuf,
    /// Set a parameter, e.g. `--param l_elbow_rz=1.2` (repeatable; see `--list-params`).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// Print the rig's parameter names and exit.
    #[arg(long)]
    list_params: bool,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct FitArgs {
    /// The photo.
    image: PathBuf,
    /// The person's mask (PNG, image size).
    #[arg(long, value_name = "PERSON.png")]
    mask: PathBuf,
    /// 2D keypoints: {"keypoints": [{"name": "l_wrist", "x": .., "y": .., "confidence": ..}]}.
    #[arg(long, value_name = "K.json")]
    keypoints: Option<PathBuf>,
    /// Rig file (.rig.safetensors); the demo rig by default.
    #[arg(long, value_name = "RIG")]
    rig: Option<PathBuf>,
    #[arg(long, default_value_t = 1)]
    lod: usize,
    /// Output skinned GLB of the fitted body.
    #[arg(long, value_name = "X.glb")]
    out: PathBuf,
    /// Focal length in pixels (default: the image diagonal, as SAM 3D Body assumes).
    #[arg(long)]
    focal: Option<f64>,
    #[arg(long, default_value_t = 400)]
    iterations: usize,
    /// Write the photo with the fitted body over it.
    #[arg(long, value_name = "OUT.png")]
    overlay: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct LodsArgs {
    #[arg(long, value_name = "RIG")]
    rig: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct SaveRigArgs {
    /// Output rig file.
    out: PathBuf,
    #[arg(long, value_name = "RIG")]
    rig: Option<PathBuf>,
    /// Keep only this LOD, as the file's base mesh.
    #[arg(long)]
    lod: Option<usize>,
}

pub fn run(command: &BodyCommand) -> anyhow::Result<()> {
    match command {
        BodyCommand::Import(a) => import(a),
        BodyCommand::Demo(a) => demo(a),
        BodyCommand::Fit(a) => fit(a),
        BodyCommand::Lods(a) => lods(a),
        BodyCommand::Pose(a) => pose(a),
        BodyCommand::SaveRig(a) => {
            let mut rig = body::load_rig(a.rig.as_deref())?;
            if let Some(l) = a.lod {
                lod::check_lod(l)?;
                rig = rig.rebased(l)?;
            }
            rig.save(&a.out)?;
            eprintln!("wrote {}", a.out.display());
            Ok(())
        }
    }
}

fn import(a: &ImportArgs) -> anyhow::Result<()> {
    lod::check_lod(a.lod)?;
    let person = Sam3dBody::load(&a.npz)?;
    let data = lod::MhrLods::embedded();
    let camera_vertices = person.vertices(a.lod)?;
    let triangles = data.triangles(a.lod)?;
    let (k, rms, max) = person.solve_intrinsics()?;
    let mut gltf_vertices = camera_vertices.clone();
    body::sam3d::opencv_to_gltf(&mut gltf_vertices);
    let mesh = body::export::body_mesh(gltf_vertices, triangles);
    body::write_mesh(&a.out, &mesh)?;
    let mut photo_size = None;
    if let (Some(image), Some(overlay)) = (&a.image, &a.overlay) {
        let photo = carve::Image::load(image)?;
        photo_size = Some([photo.width(), photo.height()]);
        let projected: Vec<[f64; 2]> = person.keypoints_3d.iter().filter_map(|p| k.project(*p)).collect();
        let out = body::sam3d::overlay(photo.rgb(), &camera_vertices, triangles, &k, &person.keypoints_2d, &projected);
        carve::Image::from_rgb(out).save_png(overlay)?;
    }
    if a.json {
        let summary = serde_json::json!({
            "lod": a.lod,
            "vertices": mesh.positions.len(),
            "triangles": mesh.triangle_count(),
            "out": a.out,
            "camera": {"focal_px": k.focal_px, "cx": k.cx, "cy": k.cy, "cam_t": person.cam_t},
            "keypoints": person.keypoints_2d.len(),
            "reprojection_px": {"rms": rms, "max": max},
            "image_size": photo_size,
            "overlay": a.overlay,
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        eprintln!(
            "LOD {}: {} vertices, {} triangles → {}; camera f = {:.1} px, keypoint reprojection {rms:.4} px RMS",
            a.lod,
            mesh.positions.len(),
            mesh.triangle_count(),
            a.out.display(),
            k.focal_px
        );
    }
    Ok(())
}

fn parse_params(rig: &body::Rig, items: &[String]) -> anyhow::Result<BodyParams> {
    let mut p = rig.zero_params();
    for item in items {
        let (name, value) = item.split_once('=').with_context(|| format!("--param {item}: expected NAME=VALUE"))?;
        let value: f32 = value.trim().parse().with_context(|| format!("--param {item}: not a number"))?;
        let name = name.trim();
        if let Some(i) = rig.parameter_names.iter().position(|n| n == name) {
            p.model[i] = value;
        } else if let Some(i) = rig.identity_names.iter().position(|n| n == name) {
            p.identity[i] = value;
        } else if let Some(i) = rig.expression_names.iter().position(|n| n == name) {
            p.expression[i] = value;
        } else {
            anyhow::bail!("--param {item}: the rig has no parameter '{name}' (see --list-params)");
        }
    }
    rig.check_params(&p)?;
    Ok(p)
}

fn write_skinned(
    path: &Path,
    rig: std::sync::Arc<body::Rig>,
    lod: usize,
    params: &BodyParams,
) -> anyhow::Result<(usize, usize)> {
    let mut ev = Evaluator::new(rig, lod)?;
    let (mesh, skin) = body::export::skinned_export(&mut ev, params, true)?;
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("glb") => carve::io::gltf::write_skinned_glb(path, &mesh, &skin)?,
        // PLY has no skeleton: the posed mesh, in metres.
        Some("ply") => {
            let m = ev.rig.metres_per_unit;
            let posed = ev.vertices().iter().map(|p| [p[0] * m, p[1] * m, p[2] * m]).collect();
            body::write_mesh(path, &body::export::body_mesh(posed, &ev.lod.triangles))?;
        }
        _ => anyhow::bail!("{}: the output must end in .glb (skinned) or .ply (posed mesh)", path.display()),
    }
    Ok((mesh.positions.len(), mesh.triangle_count()))
}

fn demo(a: &DemoArgs) -> anyhow::Result<()> {
    let rig = body::demo_rig::demo_rig()?;
    if a.list_params {
        for (group, idx) in &rig.parameter_groups {
            let names: Vec<&str> = idx.iter().map(|&i| rig.parameter_names[i as usize].as_str()).collect();
            println!("{group}: {}", names.join(" "));
        }
        println!("identity: {}", rig.identity_names.join(" "));
        println!("expression: {}", rig.expression_names.join(" "));
        return Ok(());
    }
    lod::check_lod(a.lod)?;
    let params = parse_params(&rig, &a.params)?;
    let joints = rig.joint_count();
    let (v, t) = write_skinned(&a.out, std::sync::Arc::new(rig), a.lod, &params)?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"lod": a.lod, "vertices": v, "triangles": t, "joints": joints, "out": a.out})
            )?
        );
    } else {
        eprintln!("demo rig, LOD {}: {v} vertices, {t} triangles, {joints} joints → {}", a.lod, a.out.display());
    }
    Ok(())
}

fn fit(a: &FitArgs) -> anyhow::Result<()> {
    lod::check_lod(a.lod)?;
    let photo = carve::Image::load(&a.image)?;
    let mask = carve::Mask::load_png(&a.mask)?;
    anyhow::ensure!(
        mask.width() == photo.width() && mask.height() == photo.height(),
        "{}: the mask is {}×{}, the photo {}×{}",
        a.mask.display(),
        mask.width(),
        mask.height(),
        photo.width(),
        photo.height()
    );
    anyhow::ensure!(mask.area() > 0, "{}: the person mask is empty", a.mask.display());
    let rig = body::load_rig(a.rig.as_deref())?;
    let keypoints = match &a.keypoints {
        Some(p) => body::read_keypoints_json(p, &rig)?,
        None => Vec::new(),
    };
    let (w, h) = (photo.width() as f64, photo.height() as f64);
    let focal = a.focal.unwrap_or((w * w + h * h).sqrt());
    anyhow::ensure!(focal.is_finite() && focal > 0.0, "--focal must be a positive number of pixels");
    let k = body::sam3d::Intrinsics { focal_px: focal, cx: w / 2.0, cy: h / 2.0 };
    let options = body::fit::FitOptions { iterations: a.iterations, ..Default::default() };
    let start = std::time::Instant::now();
    let result = {
        let rig = rig.clone();
        carve::core::task::run_with_terminal_progress("fitting", move |progress| {
            body::fit::fit(&rig, &mask, &keypoints, k, &options, progress)
        })?
    }?;
    let fit_ms = start.elapsed().as_secs_f64() * 1e3;
    let rig = std::sync::Arc::new(rig);
    let (v, t) = write_skinned(&a.out, rig.clone(), a.lod, &result.params)?;
    let mut ev = Evaluator::new(rig.clone(), a.lod)?;
    let posed = ev.evaluate(&result.params)?.to_vec();
    let camera_vertices = body::fit::rig_to_camera(&posed, rig.metres_per_unit, result.camera_translation);
    let fitted = body::sam3d::silhouette(&camera_vertices, &ev.lod.triangles, &k, photo.width(), photo.height());
    let iou = fitted.iou(&carve::Mask::load_png(&a.mask)?);
    if let Some(path) = &a.overlay {
        let out = body::sam3d::overlay(photo.rgb(), &camera_vertices, &ev.lod.triangles, &k, &[], &[]);
        carve::Image::from_rgb(out).save_png(path)?;
    }
    if a.json {
        let named = |names: &[String], values: &[f32]| -> serde_json::Map<String, serde_json::Value> {
            names.iter().zip(values).map(|(n, v)| (n.clone(), serde_json::json!(v))).collect()
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "lod": a.lod, "vertices": v, "triangles": t, "out": a.out,
                "silhouette_iou": iou,
                "keypoint_error_px": result.keypoint_error_px,
                "iterations": result.losses.len(),
                "final_loss": result.losses.last(),
                "fit_ms": fit_ms,
                "camera": {"focal_px": focal, "cx": k.cx, "cy": k.cy, "translation_m": result.camera_translation},
                "model_params": named(&rig.parameter_names, &result.params.model),
                "identity": named(&rig.identity_names, &result.params.identity),
            }))?
        );
    } else {
        eprintln!("fitted in {:.1} s: silhouette IoU {iou:.3} → {}", fit_ms / 1e3, a.out.display());
    }
    Ok(())
}

fn lods(a: &LodsArgs) -> anyhow::Result<()> {
    let rig = body::load_rig(a.rig.as_deref())?;
    let mut rows = Vec::new();
    for l in rig.available_lods() {
        let data = rig.at_lod(l)?;
        let report = lod::check_closed_manifold(&data.triangles, data.vertex_count());
        rows.push(serde_json::json!({
            "lod": l,
            "vertices": data.vertex_count(),
            "triangles": data.triangles.len(),
            "official_vertices": lod::LOD_VERTEX_COUNTS.get(l),
            "official_triangles": lod::LOD_TRIANGLE_COUNTS.get(l),
            "watertight": report.as_ref().map(|r| r.euler_characteristic == 2).unwrap_or(false),
        }));
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"rig": rig.name, "lods": rows}))?);
    } else {
        println!("{}", rig.name);
        println!("LOD  vertices  triangles  (official)        watertight");
        for r in &rows {
            println!(
                "{:>3}  {:>8}  {:>9}  ({:>6} / {:>6})  {}",
                r["lod"],
                r["vertices"],
                r["triangles"],
                r["official_vertices"],
                r["official_triangles"],
                r["watertight"]
            );
        }
    }
    Ok(())
}

fn pose(a: &PoseArgs) -> anyhow::Result<()> {
    use carve::body::torchscript::{MHR_EXPRESSION, MHR_IDENTITY, MHR_MODEL, TorchScriptBody};
    lod::check_lod(a.lod)?;
    let (mut identity, mut model, mut expression) =
        (vec![0.0f32; MHR_IDENTITY], vec![0.0f32; MHR_MODEL], vec![0.0f32; MHR_EXPRESSION]);
    if let Some(path) = &a.params {
        let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
        for (key, target) in [("identity", &mut identity), ("model", &mut model), ("expression", &mut expression)] {
            if let Some(list) = v.get(key) {
                let values: Vec<f32> = serde_json::from_value(list.clone())
                    .with_context(|| format!("{}: \"{key}\" must be a list of numbers", path.display()))?;
                *target = values;
            }
        }
    }
    let body = TorchScriptBody::load(&a.model)?;
    let out = body.evaluate(&identity, &model, &expression)?;
    let data = lod::MhrLods::embedded();
    anyhow::ensure!(
        out.vertices.len() == data.rest_lod1.len(),
        "{}: the model gave {} vertices, MHR LOD 1 has {}",
        a.model.display(),
        out.vertices.len(),
        data.rest_lod1.len()
    );
    // Centimetres → metres; the model's frame is already y up.
    let lod1: Vec<[f32; 3]> = out.vertices.iter().map(|p| [p[0] * 0.01, p[1] * 0.01, p[2] * 0.01]).collect();
    let vertices = data.vertices(&lod1, a.lod)?;
    let mesh = body::export::body_mesh(vertices, data.triangles(a.lod)?);
    body::write_mesh(&a.out, &mesh)?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "lod": a.lod, "vertices": mesh.positions.len(), "triangles": mesh.triangle_count(),
                "joints": out.joint_translations.len(), "out": a.out,
            }))?
        );
    } else {
        eprintln!("LOD {}: {} vertices → {}", a.lod, mesh.positions.len(), a.out.display());
    }
    Ok(())
}

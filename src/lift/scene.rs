//! Every object of a photo lifted into one scene: one camera, depths that agree between objects, no
//! two solids inside each other; written as one `scene.json` listing every object, one `scene.glb`
//! with a node per object and each object's own outputs under `objects/NAME/`.
//!
//! How the objects are placed:
//! - with a depth model, the photo is run through it once and every object takes its front from
//!   that one map (relative inverse depth is normalised once for all the objects together), so the
//!   model's ordering and spacing hold between objects; the focal length is the model's (or fitted
//!   once to its point map);
//! - without one, the objects stand on a shared support: a level camera one world unit above a
//!   ground plane, whose horizon is the photo's middle row; an object whose silhouette reaches below
//!   the horizon touches the ground at its lowest row, which fixes its depth (lower = nearer), and
//!   its solid (a fitted box or ring, `primitive`, else the inflated silhouette) stands behind that
//!   contact. Objects wholly above the horizon (on a wall,
//!   flying) take the supported objects' median depth, or, when none is supported, the
//!   single-object rule (about one unit across);
//! - where two masks overlap, the nearer object (smaller median depth with a model, lower contact
//!   without) keeps the shared pixels — the farther one is occluded there;
//! - when two solids still intersect (a back reaching into the object behind), the farther object
//!   is scaled about the camera centre until they do not: that moves it back along its viewing
//!   rays and keeps its silhouette exactly where it was.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::core::camera::Camera;
use crate::core::image::Image;
use crate::core::mask::Mask;
use crate::core::task::Progress;

use super::depth::{DepthMap, DepthModel, DepthPrediction, focal_from_points};
use super::{LiftError, LiftOutput, LiftParams, check_mask, default_camera, lift_surface, surface};

/// One object to lift: a name (used for its node and output folder) and its mask.
#[derive(Clone, Debug)]
pub struct SceneObject {
    pub name: String,
    pub mask: Mask,
}

/// One lifted object of a scene.
pub struct LiftedObject {
    pub name: String,
    pub output: LiftOutput,
    /// The scale about the camera centre applied to keep it out of nearer objects (1 = none).
    pub pushed_back: f64,
}

/// A lifted scene.
pub struct SceneLift {
    pub camera: Camera,
    /// How the front surfaces and the layout were found.
    pub engine: String,
    pub objects: Vec<LiftedObject>,
    /// Objects left out (with `skip_unliftable`) and why.
    pub skipped: Vec<(String, String)>,
    pub timings_ms: Vec<(&'static str, f64)>,
}

/// Lifts every object of `image` into one scene (see the module doc for the placement). With
/// `skip_unliftable` (instances a model found, some of which may be specks or slivers), an object
/// that cannot be lifted is left out and listed in [`SceneLift::skipped`]; otherwise (masks the
/// user chose) it is an error naming the object. A cancel is always an error.
pub fn lift_scene(
    image: &Image,
    objects: &[SceneObject],
    params: &LiftParams,
    depth: Option<&DepthModel>,
    skip_unliftable: bool,
    progress: &Progress,
) -> Result<SceneLift, LiftError> {
    let (w, h) = (image.width(), image.height());
    if objects.is_empty() {
        return Err(LiftError::NoObjects);
    }
    let named = |name: &str, source: LiftError| LiftError::Object { name: name.to_owned(), source: Box::new(source) };
    for o in objects {
        if (o.mask.width(), o.mask.height()) != (w, h) {
            let source = LiftError::SizeMismatch {
                mask_width: o.mask.width(),
                mask_height: o.mask.height(),
                width: w,
                height: h,
            };
            return Err(named(&o.name, source));
        }
        check_mask(&o.mask).map_err(|e| named(&o.name, e))?;
    }
    let t0 = Instant::now();
    let mut camera = default_camera(w, h);
    // A shared depth map (metres or a common scale) when a model is given.
    let shared = match depth {
        Some(model) => {
            progress.set(0.02, format!("estimating depth with {}", model.name));
            Some(shared_prediction(&model.predict(image)?, objects, &mut camera)?)
        }
        None => None,
    };
    // Nearness for occlusion: median depth with a model, the contact row without.
    let nearness: Vec<f64> = objects
        .iter()
        .map(|o| match &shared {
            Some((DepthMap::Depth(d), _)) => median_inside(d, &o.mask),
            _ => -f64::from(o.mask.bbox().map_or(0, |b| b[3])),
        })
        .collect();
    let masks = resolve_overlaps(objects, &nearness).map_err(|(i, e)| named(&objects[i].name, e))?;
    let mids = if shared.is_none() { ground_mid_depths(&masks, &camera, params.thickness) } else { Vec::new() };
    let surface_ms = t0.elapsed().as_secs_f64() * 1e3;

    let n = objects.len() as f32;
    let mut lifted = Vec::with_capacity(objects.len());
    let mut skipped = Vec::new();
    let mut engine = String::new();
    for (i, (object, mask)) in objects.iter().zip(&masks).enumerate() {
        progress.check()?;
        let result = lift_object(
            image,
            object,
            mask,
            &shared,
            mids.get(i).copied(),
            camera,
            depth,
            params,
            surface_ms / f64::from(n),
            &progress.sub(0.05 + 0.9 * i as f32 / n, 0.05 + 0.9 * (i + 1) as f32 / n),
        );
        let (output, object_engine) = match result {
            Ok(done) => done,
            Err(LiftError::Cancelled(c)) => return Err(LiftError::Cancelled(c)),
            Err(e) if skip_unliftable => {
                skipped.push((object.name.clone(), e.to_string()));
                continue;
            }
            Err(e) => return Err(named(&object.name, e)),
        };
        if engine.is_empty() {
            engine = match depth {
                Some(m) => format!("depth model: {} (one map for every object)", m.name),
                None => object_engine,
            };
        }
        lifted.push(LiftedObject { name: object.name.clone(), output, pushed_back: 1.0 });
    }
    if lifted.is_empty() {
        let (name, why) = skipped.first().cloned().unwrap_or_default();
        return Err(LiftError::NothingLifted { count: objects.len(), name, why });
    }
    let t1 = Instant::now();
    progress.set(0.96, "separating the objects");
    separate(&mut lifted);
    progress.set(1.0, "lifted the scene");
    Ok(SceneLift {
        camera,
        engine,
        objects: lifted,
        skipped,
        timings_ms: vec![("surfaces", surface_ms), ("separate", t1.elapsed().as_secs_f64() * 1e3)],
    })
}

/// Lifts one object of a scene: its surface from the shared map or the ground layout.
#[allow(clippy::too_many_arguments)]
fn lift_object(
    image: &Image,
    object: &SceneObject,
    mask: &Mask,
    shared: &Option<(DepthMap, &'static str)>,
    mid_depth: Option<f64>,
    camera: Camera,
    depth: Option<&DepthModel>,
    params: &LiftParams,
    surface_ms: f64,
    part: &Progress,
) -> Result<(LiftOutput, String), LiftError> {
    part.set(0.0, format!("lifting {}", object.name));
    let (surface, object_engine, measured) = match shared {
        Some((map, focal_source)) => {
            let prediction = DepthPrediction { map: map.clone(), focal_px: Some(camera.fx) };
            let mut s = surface::from_model(mask, &prediction, camera)?;
            s.focal_source = focal_source;
            let e = super::model_engine(depth.map_or("", |m| m.name.as_str()), &s);
            (s, e, true)
        }
        None => match super::primitive::fitted_surface(image, mask, camera, mid_depth) {
            Some((s, _)) => {
                let e = format!("built-in: {}, standing on a shared ground plane", s.completion.describe());
                (s, e, true)
            }
            None => (
                surface::inflated_at(mask, camera, params.thickness, mid_depth)?,
                "silhouette inflation (built-in), standing on a shared ground plane".to_owned(),
                false,
            ),
        },
    };
    let output = lift_surface(image, mask, &surface, object_engine.clone(), measured, params, surface_ms, part)?;
    Ok((output, object_engine))
}

/// The model's answer turned into one map every object shares: metric depth stays; a point map
/// gives its depths and one focal length fitted over all the objects; relative inverse depth is
/// inverted once and scaled so the objects' median depth is where their joint extent fits the
/// focal length. Sets `camera`'s focal length when the model gives one.
fn shared_prediction(
    prediction: &DepthPrediction,
    objects: &[SceneObject],
    camera: &mut Camera,
) -> Result<(DepthMap, &'static str), LiftError> {
    let (w, h) = (camera.width, camera.height);
    let union = Mask::from_fn(w, h, |x, y| objects.iter().any(|o| o.mask.get(x, y)));
    let inside = union.as_bytes();
    let mut source = "default";
    if let Some(f) = prediction.focal_px {
        (camera.fx, camera.fy, source) = (f, f, "model");
    }
    let n = (w as usize) * (h as usize);
    let bad = |m: String| LiftError::BadDepth(m);
    let depth: Vec<f32> = match &prediction.map {
        DepthMap::Depth(d) if d.len() == n => d.clone(),
        DepthMap::Points(p) if p.len() == n => {
            if prediction.focal_px.is_none()
                && let Some(f) = focal_from_points(p, w, camera.cx, camera.cy, |k| inside[k] != 0)
            {
                (camera.fx, camera.fy, source) = (f, f, "point map");
            }
            p.iter().map(|p| p[2]).collect()
        }
        DepthMap::InverseDepth(d) if d.len() == n => {
            if d.iter().any(|v| !v.is_finite()) {
                return Err(bad("the model's inverse depth has NaN or infinite values".into()));
            }
            let top = d.iter().zip(inside).filter(|(_, m)| **m != 0).map(|(v, _)| *v).fold(0.0f32, f32::max);
            let z: Vec<f32> =
                if top <= 0.0 { vec![1.0; n] } else { d.iter().map(|&v| 1.0 / v.max(0.01 * top)).collect() };
            let [bx0, by0, bx1, by1] = union.bbox().ok_or(LiftError::EmptyMask)?;
            let extent_px = f64::from((bx1 - bx0).max(by1 - by0).max(1));
            let median = median_inside(&z, &union).max(1e-12);
            let scale = (camera.fx / extent_px / median) as f32;
            z.into_iter().map(|v| v * scale).collect()
        }
        _ => return Err(bad(format!("the model's map does not cover the {w}×{h} photo"))),
    };
    Ok((DepthMap::Depth(depth), source))
}

fn median_inside(values: &[f32], mask: &Mask) -> f64 {
    let mut inside: Vec<f32> =
        values.iter().zip(mask.as_bytes()).filter(|(v, m)| **m != 0 && v.is_finite()).map(|(v, _)| *v).collect();
    if inside.is_empty() {
        return f64::INFINITY;
    }
    let mid = inside.len() / 2;
    f64::from(*inside.select_nth_unstable_by(mid, f32::total_cmp).1)
}

/// Each object's mask without the pixels a nearer object's mask also covers (`nearness`: smaller
/// = nearer). An object left with too little is an error (index of the object).
fn resolve_overlaps(objects: &[SceneObject], nearness: &[f64]) -> Result<Vec<Mask>, (usize, LiftError)> {
    let mut out = Vec::with_capacity(objects.len());
    for (i, o) in objects.iter().enumerate() {
        let (w, h) = (o.mask.width(), o.mask.height());
        let nearer: Vec<&Mask> = objects
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i && (nearness[j], j) < (nearness[i], i))
            .map(|(_, other)| &other.mask)
            .collect();
        let mask = Mask::from_fn(w, h, |x, y| o.mask.get(x, y) && !nearer.iter().any(|m| m.get(x, y)));
        check_mask(&mask).map_err(|e| (i, e))?;
        out.push(mask);
    }
    Ok(out)
}

/// Mid-depths of inflated objects standing on a ground plane one unit below a level camera.
fn ground_mid_depths(masks: &[Mask], camera: &Camera, thickness: f32) -> Vec<f64> {
    // (mid depth, supported) per object.
    let placed: Vec<(f64, bool)> = masks
        .iter()
        .map(|m| {
            let [bx0, by0, bx1, by1] = m.bbox().unwrap_or([0, 0, 1, 1]);
            let below_horizon_px = f64::from(by1) - camera.cy;
            if below_horizon_px >= 1.0 {
                let contact = camera.fy / below_horizon_px;
                let r_max = f64::from(m.distance_to_outside().iter().copied().fold(0.0f32, f32::max));
                // The contact is the solid's nearest, lowest point; its middle is half its depth behind.
                (contact + r_max * f64::from(thickness) * contact / camera.fx, true)
            } else {
                (camera.fx / f64::from((bx1 - bx0).max(by1 - by0).max(1)), false)
            }
        })
        .collect();
    let mut supported: Vec<f64> = placed.iter().filter(|p| p.1).map(|p| p.0).collect();
    supported.sort_by(f64::total_cmp);
    let fallback = supported.get(supported.len() / 2).copied();
    placed.into_iter().map(|(mid, ok)| if ok { mid } else { fallback.unwrap_or(mid) }).collect()
}

/// Scales farther objects about the camera centre until no occupied voxel centre of one lies in an
/// occupied voxel of a nearer one.
fn separate(objects: &mut [LiftedObject]) {
    let mut order: Vec<usize> = (0..objects.len()).collect();
    let depth = |o: &LiftedObject| o.output.grid.layout.translation[2];
    order.sort_by(|&a, &b| depth(&objects[a]).total_cmp(&depth(&objects[b])));
    for (rank, &j) in order.iter().enumerate() {
        for &i in &order[..rank] {
            if overlap(&objects[i], &objects[j], 1.0) == 0 {
                continue;
            }
            // Bisect the smallest scale (≤ 4) that clears object i.
            let (mut lo, mut hi) = (1.0f64, 4.0f64);
            if overlap(&objects[i], &objects[j], hi) > 0 {
                continue;
            }
            for _ in 0..24 {
                let mid = 0.5 * (lo + hi);
                if overlap(&objects[i], &objects[j], mid) > 0 { lo = mid } else { hi = mid }
            }
            push_back(&mut objects[j], hi);
        }
    }
}

/// Occupied voxels of `far` (scaled by `scale` about the camera centre) inside occupied voxels of `near`.
fn overlap(near: &LiftedObject, far: &LiftedObject, scale: f64) -> usize {
    let (a, b) = (&near.output.grid, &far.output.grid);
    let r = a.resolution;
    let t = glam::DVec3::from_array(a.layout.translation);
    let mut count = 0;
    for z in 0..b.resolution {
        for y in 0..b.resolution {
            for x in 0..b.resolution {
                if !b.is_occupied(x, y, z) {
                    continue;
                }
                let p = b.world_of(x, y, z).as_dvec3() * scale;
                let o = (p - t) / a.layout.scale + glam::DVec3::splat(0.5);
                let idx = (o * r as f64).floor();
                if idx.min_element() < 0.0 || idx.max_element() >= r as f64 {
                    continue;
                }
                if a.is_occupied(idx.x as usize, idx.y as usize, idx.z as usize) {
                    count += 1;
                }
            }
        }
    }
    count
}

/// Scales an object about the camera centre (its silhouette does not move).
fn push_back(object: &mut LiftedObject, scale: f64) {
    let out = &mut object.output;
    out.grid.layout.translation = out.grid.layout.translation.map(|v| v * scale);
    out.grid.layout.scale *= scale;
    let s = scale as f32;
    for p in &mut out.splats.positions {
        *p = p.map(|v| v * s);
    }
    for sc in &mut out.splats.scales {
        *sc = sc.map(|v| v * s);
    }
    for p in &mut out.mesh.positions {
        *p = p.map(|v| v * s);
    }
    object.pushed_back *= scale;
}

/// A file-system-safe, unique folder name per object (letters, digits, `-`, `_`, `.`; others `_`).
fn folder_names(objects: &[LiftedObject]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    objects
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let mut base: String = o
                .name
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
                .take(64)
                .collect();
            if base.is_empty() || base.starts_with('.') {
                base = format!("object_{}", i + 1);
            }
            let mut name = base.clone();
            let mut k = 2;
            while !seen.insert(name.clone()) {
                name = format!("{base}_{k}");
                k += 1;
            }
            name
        })
        .collect()
}

/// The `scene.json` document of a scene lift.
pub fn scene_file(scene: &SceneLift) -> crate::io::scene::SceneFile {
    let folders = folder_names(&scene.objects);
    crate::io::scene::SceneFile {
        camera: scene.camera,
        engine: Some(scene.engine.clone()),
        layout: None,
        voxel_resolution: scene.objects.first().map(|o| o.output.grid.resolution),
        objects: scene
            .objects
            .iter()
            .zip(&folders)
            .map(|(o, folder)| crate::io::scene::SceneObjectEntry {
                name: o.name.clone(),
                layout: o.output.grid.layout,
                engine: o.output.engine.clone(),
                pushed_back: o.pushed_back,
                files: OBJECT_FILES.iter().map(|f| format!("objects/{folder}/{f}")).collect(),
            })
            .collect(),
    }
}

const OBJECT_FILES: [&str; 3] = ["splats.ply", "splats.glb", "object.glb"];

/// Writes `scene.json`, `scene.glb` (a node per object) and `objects/NAME/{splats.ply, splats.glb,
/// object.glb}` into `dir`: all or nothing.
pub fn write_scene_outputs(dir: &Path, scene: &SceneLift) -> Result<Vec<PathBuf>, LiftError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| crate::core::fs::FileError { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut set = crate::core::fs::OutputSet::new();
    let folders = folder_names(&scene.objects);
    for (o, folder) in scene.objects.iter().zip(&folders) {
        let sub = dir.join("objects").join(folder);
        std::fs::create_dir_all(&sub).map_err(io(&sub))?;
        crate::io::ply::write_splats_ply(&set.stage(&sub.join(OBJECT_FILES[0]))?, &o.output.splats)?;
        crate::io::gltf::splats::write_splats_glb(&set.stage(&sub.join(OBJECT_FILES[1]))?, &o.output.splats)?;
        crate::io::gltf::write_glb(&set.stage(&sub.join(OBJECT_FILES[2]))?, &o.output.mesh)?;
    }
    let nodes: Vec<(&str, &crate::core::geometry::Mesh)> =
        scene.objects.iter().map(|o| (o.name.as_str(), &o.output.mesh)).collect();
    crate::io::gltf::write_scene_glb(&set.stage(&dir.join("scene.glb"))?, &nodes)?;
    scene_file(scene).write(&set.stage(&dir.join("scene.json"))?)?;
    Ok(set.commit()?)
}

//! Lift a masked object to 3D: a front surface from the silhouette (inflation of the mask's
//! distance transform), a mirrored back surface closing the solid, a voxel grid (64³ by default)
//! in an object-centred unit cube with colours from the photo and a layout placing it in the
//! source camera's frame, Gaussian splats initialised on the surface voxels and refined by
//! gradient descent against the photo ([`refine`]), and the outputs: `splats.ply` (3DGS layout),
//! `object.glb` (the voxel surface with vertex colours) and `scene.json`.
//!
//! World frame = the source camera's OpenCV frame (x right, y down, z forward), so projecting the
//! splats through `scene.json`'s camera lands on the mask.

pub mod batch;
pub mod depth;
pub mod primitive;
pub mod refine;
pub mod scene;
pub mod surface;

pub use depth::{DepthMap, DepthModel, DepthOutput, DepthPrediction};

use std::path::{Path, PathBuf};
use std::time::Instant;

use glam::Vec3;
use tch::Tensor;

use crate::core::camera::Camera;
use crate::core::geometry::{Mesh, Splats, voxel_surface};
use crate::core::image::Image;
use crate::core::layout::Layout;
use crate::core::mask::Mask;
use crate::core::task::{Cancelled, Progress};

/// Errors from lifting.
#[derive(Debug, thiserror::Error)]
pub enum LiftError {
    #[error("the mask is empty: nothing to lift")]
    EmptyMask,
    #[error("the mask covers only {area} pixel(s): draw a larger mask")]
    TinyMask { area: u64 },
    #[error(
        "the masked object ({width_px}×{height_px} px) is too thin to make a solid at this voxel resolution: \
         draw a fuller mask or raise --voxels"
    )]
    TooThin { width_px: u32, height_px: u32 },
    #[error("mask is {mask_width}×{mask_height} but the image is {width}×{height}")]
    SizeMismatch { mask_width: u32, mask_height: u32, width: u32, height: u32 },
    #[error("voxel resolution {0} is out of range (8..=256)")]
    BadResolution(usize),
    #[error(transparent)]
    Cancelled(#[from] Cancelled),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error("the depth model's answer cannot be used: {0}")]
    BadDepth(String),
    #[error("no objects to lift: give at least one mask")]
    NoObjects,
    #[error("object {name}: {source}")]
    Object { name: String, source: Box<LiftError> },
    #[error("none of the {count} objects could be lifted (the first, {name}: {why})")]
    NothingLifted { count: usize, name: String, why: String },
    #[error(transparent)]
    Write(#[from] crate::core::fs::FileError),
}

/// Settings of a lift.
#[derive(Clone, Debug)]
pub struct LiftParams {
    /// Voxels per side of the grid.
    pub voxels: usize,
    /// Refinement iterations (0 = keep the initial splats).
    pub iterations: usize,
    /// Longest side of the view the refinement renders (the photo is resized to it).
    pub refine_max_side: u32,
    /// Half-thickness of the solid relative to a round profile (1 = as deep as wide).
    pub thickness: f32,
}

impl Default for LiftParams {
    fn default() -> Self {
        Self { voxels: 64, iterations: 120, refine_max_side: 192, thickness: 0.8 }
    }
}

/// An occupancy grid with a colour per voxel, in the object-centred unit cube (voxel `(x, y, z)`
/// has object coordinates `(idx + 0.5) / resolution − 0.5`, the SAM 3D convention).
#[derive(Clone, Debug)]
pub struct VoxelGrid {
    pub resolution: usize,
    /// `x + res · (y + res · z)`.
    pub occupied: Vec<bool>,
    pub colors: Vec<[f32; 3]>,
    pub layout: Layout,
}

impl VoxelGrid {
    fn index(&self, x: usize, y: usize, z: usize) -> usize {
        x + self.resolution * (y + self.resolution * z)
    }

    pub fn is_occupied(&self, x: usize, y: usize, z: usize) -> bool {
        self.occupied[self.index(x, y, z)]
    }

    /// World position of voxel `(x, y, z)`'s centre.
    pub fn world_of(&self, x: usize, y: usize, z: usize) -> Vec3 {
        let r = self.resolution as f32;
        let obj = Vec3::new((x as f32 + 0.5) / r - 0.5, (y as f32 + 0.5) / r - 0.5, (z as f32 + 0.5) / r - 0.5);
        let [w, qx, qy, qz] = self.layout.rotation_wxyz.map(|v| v as f32);
        let rot = glam::Quat::from_xyzw(qx, qy, qz, w);
        Vec3::from_array(self.layout.translation.map(|v| v as f32)) + rot * obj * self.layout.scale as f32
    }

    pub fn count(&self) -> usize {
        self.occupied.iter().filter(|&&o| o).count()
    }

    /// The visible faces as a coloured mesh in world coordinates.
    pub fn surface_mesh(&self) -> Mesh {
        let r = self.resolution;
        let size = (self.layout.scale / r as f64) as f32;
        let origin = (Vec3::from_array(self.layout.translation.map(|v| v as f32))
            - Vec3::splat(self.layout.scale as f32 * 0.5))
        .to_array();
        voxel_surface([r, r, r], origin, size, |x, y, z| {
            let i = self.index(x, y, z);
            self.occupied[i].then(|| {
                let c = self.colors[i];
                [c[0], c[1], c[2], 1.0]
            })
        })
    }
}

/// Everything a lift produces.
pub struct LiftOutput {
    pub camera: Camera,
    pub grid: VoxelGrid,
    pub splats: Splats,
    pub mesh: Mesh,
    /// Which front-surface estimate was used.
    pub engine: String,
    pub losses: Vec<f32>,
    /// Milliseconds per stage, in order.
    pub timings_ms: Vec<(&'static str, f64)>,
}

/// The source camera assumed for a photo without metadata: principal point at the centre and a
/// focal length of 1.1 × the longest side (about a 49° field of view across it).
pub fn default_camera(width: u32, height: u32) -> Camera {
    Camera::centered(width, height, 1.1 * f64::from(width.max(height)), glam::DMat4::IDENTITY)
}

/// Lifts the masked object of `image` with the built-in surface estimate.
pub fn lift(image: &Image, mask: &Mask, params: &LiftParams, progress: &Progress) -> Result<LiftOutput, LiftError> {
    lift_with(image, mask, params, None, progress)
}

/// Lifts the masked object of `image`, shaping the front surface with `depth` when given.
pub fn lift_with(
    image: &Image,
    mask: &Mask,
    params: &LiftParams,
    depth: Option<&DepthModel>,
    progress: &Progress,
) -> Result<LiftOutput, LiftError> {
    let (w, h) = (image.width(), image.height());
    if (mask.width(), mask.height()) != (w, h) {
        return Err(LiftError::SizeMismatch {
            mask_width: mask.width(),
            mask_height: mask.height(),
            width: w,
            height: h,
        });
    }
    if !(8..=256).contains(&params.voxels) {
        return Err(LiftError::BadResolution(params.voxels));
    }
    check_mask(mask)?;
    let t0 = Instant::now();
    progress.set(0.02, "estimating the surface");
    let (surface, engine, measured) = match depth {
        None => match primitive::fitted_surface(image, mask, default_camera(w, h), None) {
            Some((surface, _)) => {
                let engine = format!("built-in: {}", surface.completion.describe());
                (surface, engine, true)
            }
            None => (
                surface::inflated(mask, default_camera(w, h), params.thickness)?,
                "silhouette inflation (built-in)".to_owned(),
                false,
            ),
        },
        Some(model) => {
            progress.set(0.04, format!("estimating depth with {}", model.name));
            let prediction = model.predict(image)?;
            let surface = surface::from_model(mask, &prediction, default_camera(w, h))?;
            let engine = model_engine(&model.name, &surface);
            (surface, engine, true)
        }
    };
    let surface_ms = t0.elapsed().as_secs_f64() * 1e3;
    lift_surface(image, mask, &surface, engine, measured, params, surface_ms, progress)
}

/// The engine line of a lift through the depth model `name`: its completion and focal source.
fn model_engine(name: &str, surface: &surface::Surface) -> String {
    format!("depth model: {name} ({}; focal length from {})", surface.completion.describe(), surface.focal_source)
}

/// Refuses masks too small to lift.
fn check_mask(mask: &Mask) -> Result<(), LiftError> {
    let area = mask.area();
    if area == 0 {
        return Err(LiftError::EmptyMask);
    }
    if area < 4 {
        return Err(LiftError::TinyMask { area });
    }
    Ok(())
}

/// Voxelises the solid `surface` describes, places splats on its surface voxels and refines them
/// against the photo. `measured`: the front comes from a depth model (no slack in the voxel test).
#[allow(clippy::too_many_arguments)]
fn lift_surface(
    image: &Image,
    mask: &Mask,
    surface: &surface::Surface,
    engine: String,
    measured: bool,
    params: &LiftParams,
    surface_ms: f64,
    progress: &Progress,
) -> Result<LiftOutput, LiftError> {
    let (w, h) = (image.width(), image.height());
    let [bx0, by0, bx1, by1] = mask.bbox().ok_or(LiftError::EmptyMask)?;
    let mut timings = vec![("surface", surface_ms)];
    let camera = surface.camera;

    // Bounds of the solid: every visible point and its mirror image.
    let t1 = Instant::now();
    progress.check()?;
    progress.set(0.08, "voxelising");
    let mut lo = glam::DVec3::splat(f64::MAX);
    let mut hi = glam::DVec3::splat(f64::MIN);
    let mut depth_sum = (0.0f64, 0usize);
    for y in by0..by1.min(h) {
        for x in bx0..bx1.min(w) {
            let Some(p) = surface.front_point(x, y) else { continue };
            let Some(q) = surface.hidden_point(x, y) else { continue };
            lo = lo.min(p).min(q);
            hi = hi.max(p).max(q);
            depth_sum = (depth_sum.0 + p.z, depth_sum.1 + 1);
        }
    }
    if depth_sum.1 == 0 || !(lo.is_finite() && hi.is_finite()) {
        return Err(LiftError::EmptyMask);
    }
    let mean_depth = depth_sum.0 / depth_sum.1 as f64;
    let centre = ((lo + hi) * 0.5).as_vec3();
    let scale = (hi - lo).max_element().max(1e-9) * 1.04;
    let res = params.voxels;
    let mut grid = VoxelGrid {
        resolution: res,
        occupied: vec![false; res * res * res],
        colors: vec![[0.0; 3]; res * res * res],
        layout: Layout { rotation_wxyz: [1.0, 0.0, 0.0, 0.0], translation: centre.as_dvec3().to_array(), scale },
    };
    let rgb = image.rgb();
    // The inflation gets half a voxel of slack, so a rim thinner than a voxel still fills one; a
    // measured surface none (the slack would thicken every surface by a voxel).
    let tolerance = if measured { 0.0 } else { scale / res as f64 * 0.5 };
    for z in 0..res {
        for y in 0..res {
            for x in 0..res {
                let p = grid.world_of(x, y, z).as_dvec3();
                let Some((ui, vi)) = surface.inside(p, tolerance) else { continue };
                let i = grid.index(x, y, z);
                grid.occupied[i] = true;
                let c = rgb.get_pixel(ui, vi).0;
                grid.colors[i] = [f32::from(c[0]) / 255.0, f32::from(c[1]) / 255.0, f32::from(c[2]) / 255.0];
            }
        }
    }
    timings.push(("voxelise", t1.elapsed().as_secs_f64() * 1e3));
    if grid.count() == 0 {
        return Err(LiftError::TooThin { width_px: bx1 - bx0, height_px: by1 - by0 });
    }

    // Splats on the surface voxels.
    let t2 = Instant::now();
    let voxel = (scale / res as f64) as f32;
    let mut splats = Splats::default();
    let occupied = |x: i64, y: i64, z: i64| {
        x >= 0
            && y >= 0
            && z >= 0
            && (x as usize) < res
            && (y as usize) < res
            && (z as usize) < res
            && grid.is_occupied(x as usize, y as usize, z as usize)
    };
    for z in 0..res {
        for y in 0..res {
            for x in 0..res {
                if !grid.is_occupied(x, y, z) {
                    continue;
                }
                let (xi, yi, zi) = (x as i64, y as i64, z as i64);
                let interior = [(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)]
                    .iter()
                    .all(|(dx, dy, dz)| occupied(xi + dx, yi + dy, zi + dz));
                if interior {
                    continue;
                }
                splats.push_rgb(
                    grid.world_of(x, y, z).to_array(),
                    [voxel * 0.6; 3],
                    [1.0, 0.0, 0.0, 0.0],
                    0.9,
                    grid.colors[grid.index(x, y, z)],
                );
            }
        }
    }
    timings.push(("splats", t2.elapsed().as_secs_f64() * 1e3));

    // Refinement against the source view.
    let t3 = Instant::now();
    let losses = if params.iterations > 0 && !splats.is_empty() {
        let s = (f64::from(params.refine_max_side) / f64::from(w.max(h))).min(1.0);
        let (rw, rh) = (((f64::from(w) * s).round() as u32).max(8), ((f64::from(h) * s).round() as u32).max(8));
        let small = camera.resized(rw, rh);
        let photo = image::imageops::resize(rgb, rw, rh, image::imageops::FilterType::Triangle);
        let mask_img = image::GrayImage::from_fn(w, h, |x, y| image::Luma([if mask.get(x, y) { 255 } else { 0 }]));
        let mask_small = image::imageops::resize(&mask_img, rw, rh, image::imageops::FilterType::Triangle);
        let rgb_t =
            Tensor::from_slice(photo.as_raw()).view([i64::from(rh), i64::from(rw), 3]).to_kind(tch::Kind::Float)
                / 255.0;
        let mask_t =
            (Tensor::from_slice(mask_small.as_raw()).view([i64::from(rh), i64::from(rw)]).to_kind(tch::Kind::Float)
                / 255.0)
                .gt(0.5)
                .to_kind(tch::Kind::Float);
        let target = refine::RefineTarget { camera: &small, rgb: &rgb_t, mask: &mask_t };
        let window = (((voxel as f64 * 0.6 * 3.0 * 2.0) * small.fx / mean_depth).ceil() as i64 | 1).clamp(3, 11);
        let rp = refine::RefineParams {
            iterations: params.iterations,
            learning_rate: 0.01 * f64::from(voxel).max(1e-3) / 0.016,
            window,
            mask_weight: 3.0,
            max_scale: f64::from(voxel) * 1.5,
            anchor_weight: 10.0 / f64::from(voxel * voxel).max(1e-12),
        };
        refine::refine(&mut splats, &target, &rp, &progress.sub(0.15, 0.95))?
    } else {
        Vec::new()
    };
    timings.push(("refine", t3.elapsed().as_secs_f64() * 1e3));
    let t4 = Instant::now();
    let mesh = grid.surface_mesh();
    timings.push(("mesh", t4.elapsed().as_secs_f64() * 1e3));
    if mesh.positions.is_empty() || splats.is_empty() {
        return Err(LiftError::TooThin { width_px: bx1 - bx0, height_px: by1 - by0 });
    }
    progress.set(1.0, "lifted");
    tracing::info!(engine = %engine, voxels = grid.count(), splats = splats.len(), timings_ms = ?timings, "lifted");
    Ok(LiftOutput { camera, grid, splats, mesh, engine, losses, timings_ms: timings })
}

/// The `scene.json` document of a lift.
pub fn scene_file(out: &LiftOutput) -> crate::io::scene::SceneFile {
    crate::io::scene::SceneFile {
        camera: out.camera,
        engine: Some(out.engine.clone()),
        layout: Some(out.grid.layout),
        voxel_resolution: Some(out.grid.resolution),
        objects: Vec::new(),
    }
}

/// Writes `splats.ply`, `object.glb` and `scene.json` into `dir` (each atomically).
pub fn write_outputs(dir: &Path, out: &LiftOutput) -> Result<Vec<PathBuf>, LiftError> {
    std::fs::create_dir_all(dir).map_err(|source| crate::core::fs::FileError { path: dir.to_owned(), source })?;
    // All four or none: a failure leaves the folder's previous set untouched.
    let mut set = crate::core::fs::OutputSet::new();
    let (ply, glb, json) = (dir.join("splats.ply"), dir.join("object.glb"), dir.join("scene.json"));
    crate::io::ply::write_splats_ply(&set.stage(&ply)?, &out.splats)?;
    // The same splats as glTF (KHR_gaussian_splatting), for viewers that read glTF.
    crate::io::gltf::splats::write_splats_glb(&set.stage(&dir.join("splats.glb"))?, &out.splats)?;
    crate::io::gltf::write_glb(&set.stage(&glb)?, &out.mesh)?;
    scene_file(out).write(&set.stage(&json)?)?;
    Ok(set.commit()?)
}

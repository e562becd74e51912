//! `carve body import`: a SAM 3D Body output (.npz) as a mesh at any LOD, with the camera solved
//! from its keypoints and, on request, an overlay on the photo.

use std::path::{Path, PathBuf};

use carve::body::{self, lod, sam3d::Sam3dBody};
use serde::Serialize;

use crate::args;
use crate::output::{self, Text};

#[derive(clap::Args)]
pub struct ImportArgs {
    /// SAM 3D Body output (.npz with pred_vertices, pred_keypoints_2d/3d, pred_cam_t).
    npz: PathBuf,
    /// Level of detail, 0 (73,639 vertices) to 6 (595).
    #[arg(long, default_value_t = 1, value_parser = args::lod)]
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

/// What `carve body import --json` prints.
#[derive(Serialize)]
struct ImportSummary<'a> {
    lod: usize,
    vertices: usize,
    triangles: usize,
    out: &'a Path,
    camera: ImportCamera,
    /// 2D keypoints in the file.
    keypoints: usize,
    /// How well the solved camera reprojects the 3D keypoints onto the 2D ones.
    reprojection_px: Reprojection,
    /// `[width, height]` of --image, when given with --overlay.
    image_size: Option<[u32; 2]>,
    overlay: Option<&'a Path>,
}

/// The pinhole camera solved from the keypoints, in pixels, and SAM 3D Body's translation.
#[derive(Serialize)]
struct ImportCamera {
    focal_px: f64,
    cx: f64,
    cy: f64,
    cam_t: [f32; 3],
}

#[derive(Serialize)]
struct Reprojection {
    rms: f64,
    max: f64,
}

pub fn run(a: &ImportArgs) -> anyhow::Result<()> {
    let person = Sam3dBody::load(&a.npz)?;
    let data = lod::MhrLods::embedded();
    let camera_vertices = person.vertices(a.lod)?;
    let triangles = data.triangles(a.lod)?;
    let (k, rms, max) = person.solve_intrinsics()?;
    let mut gltf_vertices = camera_vertices.clone();
    body::sam3d::opencv_to_gltf(&mut gltf_vertices);
    let mesh = body::export::body_mesh(gltf_vertices, triangles);
    // Mesh and overlay together or not at all.
    let mut outputs = carve::core::fs::OutputSet::new();
    body::write_mesh(&outputs.stage(&a.out)?, &mesh)?;
    let mut image_size = None;
    if let (Some(image), Some(overlay)) = (&a.image, &a.overlay) {
        let photo = carve::Image::load(image)?;
        image_size = Some([photo.width(), photo.height()]);
        let projected: Vec<[f64; 2]> = person.keypoints_3d.iter().filter_map(|p| k.project(*p)).collect();
        let out = body::sam3d::overlay(photo.rgb(), &camera_vertices, triangles, &k, &person.keypoints_2d, &projected);
        carve::Image::from_rgb(out).save_png(outputs.stage(overlay)?)?;
    }
    outputs.commit()?;
    let summary = ImportSummary {
        lod: a.lod,
        vertices: mesh.positions.len(),
        triangles: mesh.triangle_count(),
        out: &a.out,
        camera: ImportCamera { focal_px: k.focal_px, cx: k.cx, cy: k.cy, cam_t: person.cam_t },
        keypoints: person.keypoints_2d.len(),
        reprojection_px: Reprojection { rms, max },
        image_size,
        overlay: a.overlay.as_deref(),
    };
    output::finish(a.json, &summary, |s| {
        Text::Stderr(format!(
            "LOD {}: {} vertices, {} triangles → {}; camera f = {:.1} px, keypoint reprojection {rms:.4} px RMS",
            s.lod,
            s.vertices,
            s.triangles,
            s.out.display(),
            s.camera.focal_px
        ))
    })
}

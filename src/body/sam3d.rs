//! SAM 3D Body import: its `.npz` output (MHR LOD 1 vertices, 70 keypoints in 2D and 3D, the
//! camera translation and all MHR parameters) → a posed body in the camera frame at any LOD, its
//! camera intrinsics (solved from its own 2D/3D keypoints: the npz stores no focal length), and an
//! overlay of the projected mesh and keypoints on the photo.
//!
//! Frames: SAM 3D Body's `pred_vertices` and `pred_keypoints_3d` are relative to the body; adding
//! `pred_cam_t` gives the OpenCV camera frame (x right, y down, z forward, metres).

use std::path::{Path, PathBuf};

use glam::{DVec3, Vec3};
use image::{Rgb, RgbImage};

use super::BodyError;
use super::lod::{LOD_VERTEX_COUNTS, MhrLods};
use crate::io::npz::Npz;

/// One person from a SAM 3D Body output.
#[derive(Clone, Debug)]
pub struct Sam3dBody {
    pub path: PathBuf,
    /// LOD 1 vertices, OpenCV camera frame, metres.
    pub vertices_lod1: Vec<[f32; 3]>,
    /// 70 keypoints, camera frame, metres.
    pub keypoints_3d: Vec<[f32; 3]>,
    /// 70 keypoints, pixels.
    pub keypoints_2d: Vec<[f32; 2]>,
    pub cam_t: [f32; 3],
    /// x0, y0, x1, y1 in pixels.
    pub bbox: [f32; 4],
    /// MHR parameters when present: (name, values).
    pub parameters: Vec<(String, Vec<f32>)>,
}

/// Pinhole intrinsics solved from keypoints.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Intrinsics {
    pub focal_px: f64,
    pub cx: f64,
    pub cy: f64,
}

impl Intrinsics {
    pub fn project(&self, p: [f32; 3]) -> Option<[f64; 2]> {
        let p = DVec3::new(p[0] as f64, p[1] as f64, p[2] as f64);
        (p.z > 1e-6).then(|| [self.focal_px * p.x / p.z + self.cx, self.focal_px * p.y / p.z + self.cy])
    }
}

const PARAMETER_KEYS: [&str; 8] = [
    "mhr_model_params",
    "shape_params",
    "expr_params",
    "global_rot",
    "body_pose_params",
    "hand_pose_params",
    "scale_params",
    "pred_joint_coords",
];

fn to_f32_rows<const N: usize>(data: &[f64]) -> Vec<[f32; N]> {
    data.chunks_exact(N)
        .map(|c| {
            let mut a = [0.0f32; N];
            for (o, v) in a.iter_mut().zip(c) {
                *o = *v as f32;
            }
            a
        })
        .collect()
}

impl Sam3dBody {
    /// Reads and checks a SAM 3D Body `.npz`.
    pub fn load(path: &Path) -> Result<Self, BodyError> {
        let mut npz = Npz::open(path)?;
        let v1 = LOD_VERTEX_COUNTS[1];
        let verts = npz.f64_shaped("pred_vertices", &[Some(v1), Some(3)])?;
        let k3 = npz.f64_shaped("pred_keypoints_3d", &[None, Some(3)])?;
        let nk = k3.shape[0];
        let k2 = npz.f64_shaped("pred_keypoints_2d", &[Some(nk), Some(2)])?;
        let cam_t = npz.f64_shaped("pred_cam_t", &[Some(3)])?;
        let bbox = if npz.contains("bbox") { npz.f64_shaped("bbox", &[Some(4)])?.data } else { vec![0.0; 4] };
        let bad = |m: String| BodyError::File { path: path.to_owned(), message: m };
        for (key, data) in [
            ("pred_vertices", &verts.data),
            ("pred_keypoints_3d", &k3.data),
            ("pred_keypoints_2d", &k2.data),
            ("pred_cam_t", &cam_t.data),
        ] {
            if let Some(i) = data.iter().position(|v| !v.is_finite()) {
                return Err(bad(format!("'{key}' holds a non-finite value at index {i}")));
            }
        }
        let t = [cam_t.data[0], cam_t.data[1], cam_t.data[2]];
        let shift = |rows: &[f64]| -> Vec<f64> {
            rows.chunks_exact(3).flat_map(|c| [c[0] + t[0], c[1] + t[1], c[2] + t[2]]).collect()
        };
        let vertices_lod1 = to_f32_rows::<3>(&shift(&verts.data));
        if vertices_lod1.iter().any(|v| v[2] <= 0.0) {
            return Err(bad("the body is not in front of the camera (z ≤ 0 after adding pred_cam_t)".into()));
        }
        let mut parameters = Vec::new();
        for key in PARAMETER_KEYS {
            if npz.contains(key) {
                let a = npz.f64_numbers(key)?;
                if a.data.iter().any(|v| !v.is_finite()) {
                    return Err(bad(format!("parameter array '{key}' holds NaN or infinite values")));
                }
                parameters.push((key.to_string(), a.data.iter().map(|&v| v as f32).collect()));
            }
        }
        Ok(Self {
            path: path.to_owned(),
            vertices_lod1,
            keypoints_3d: to_f32_rows::<3>(&shift(&k3.data)),
            keypoints_2d: to_f32_rows::<2>(&k2.data),
            cam_t: [t[0] as f32, t[1] as f32, t[2] as f32],
            bbox: [bbox[0] as f32, bbox[1] as f32, bbox[2] as f32, bbox[3] as f32],
            parameters,
        })
    }

    /// The body's vertices at `lod` (camera frame, metres), exact through the official maps.
    pub fn vertices(&self, lod: usize) -> Result<Vec<[f32; 3]>, BodyError> {
        MhrLods::embedded().vertices(&self.vertices_lod1, lod)
    }

    /// Solves focal length and principal point (least squares over the keypoints, square pixels)
    /// and returns them with the reprojection error (RMS and max, pixels).
    pub fn solve_intrinsics(&self) -> Result<(Intrinsics, f64, f64), BodyError> {
        // u = f·x/z + cx, v = f·y/z + cy: linear in (f, cx, cy).
        let mut ata = [[0.0f64; 3]; 3];
        let mut atb = [0.0f64; 3];
        let mut rows = Vec::new();
        for (p, q) in self.keypoints_3d.iter().zip(&self.keypoints_2d) {
            let (x, y, z) = (p[0] as f64, p[1] as f64, p[2] as f64);
            if z <= 1e-6 {
                continue;
            }
            rows.push(([x / z, 1.0, 0.0], q[0] as f64));
            rows.push(([y / z, 0.0, 1.0], q[1] as f64));
        }
        for (a, b) in &rows {
            for i in 0..3 {
                atb[i] += a[i] * b;
                for j in 0..3 {
                    ata[i][j] += a[i] * a[j];
                }
            }
        }
        let m = glam::DMat3::from_cols_array_2d(&ata).transpose();
        if rows.len() < 6 || m.determinant().abs() < 1e-12 {
            return Err(BodyError::File {
                path: self.path.clone(),
                message: "the keypoints do not determine a camera (too few or degenerate)".into(),
            });
        }
        let sol = m.inverse() * DVec3::from_array(atb);
        let k = Intrinsics { focal_px: sol.x, cx: sol.y, cy: sol.z };
        let errors: Vec<f64> = self
            .keypoints_3d
            .iter()
            .zip(&self.keypoints_2d)
            .filter_map(|(p, q)| {
                k.project(*p).map(|u| ((u[0] - q[0] as f64).powi(2) + (u[1] - q[1] as f64).powi(2)).sqrt())
            })
            .collect();
        let rms = (errors.iter().map(|e| e * e).sum::<f64>() / errors.len().max(1) as f64).sqrt();
        let max = errors.iter().copied().fold(0.0, f64::max);
        Ok((k, rms, max))
    }
}

/// Converts OpenCV camera-frame points to glTF axes (y up, z towards the viewer): a 180° turn
/// about x.
pub fn opencv_to_gltf(points: &mut [[f32; 3]]) {
    for p in points {
        p[1] = -p[1];
        p[2] = -p[2];
    }
}

/// Draws the projected mesh (shaded, half transparent, depth tested) and keypoints over `photo`:
/// `keypoints_b` as red crosses (our reprojection of its 3D keypoints) under `keypoints_a` as
/// green dots (the file's own 2D keypoints): where they agree, a green dot sits on a red cross.
pub fn overlay(
    photo: &RgbImage,
    vertices_camera: &[[f32; 3]],
    triangles: &[[u32; 3]],
    k: &Intrinsics,
    keypoints_a: &[[f32; 2]],
    keypoints_b: &[[f64; 2]],
) -> RgbImage {
    let (w, h) = (photo.width() as usize, photo.height() as usize);
    let mut out = photo.clone();
    let shade = rasterize(vertices_camera, triangles, k, w, h);
    for (i, s) in shade.iter().enumerate() {
        if *s < 0.0 {
            continue;
        }
        let (x, y) = ((i % w) as u32, (i / w) as u32);
        let p = out.get_pixel_mut(x, y);
        let body = [120.0 * s + 60.0, 170.0 * s + 50.0, 230.0 * s + 20.0];
        for (channel, b) in p.0.iter_mut().zip(body) {
            *channel = (0.45 * *channel as f32 + 0.55 * b.min(255.0)) as u8;
        }
    }
    let radius = ((w.max(h) as f32) / 400.0).ceil() as i64 + 1;
    let mut put = |x: i64, y: i64, c: [u8; 3]| {
        if x >= 0 && y >= 0 && (x as usize) < w && (y as usize) < h {
            out.put_pixel(x as u32, y as u32, Rgb(c));
        }
    };
    for q in keypoints_b {
        let (cx, cy) = (q[0].round() as i64, q[1].round() as i64);
        for d in -radius - 1..=radius + 1 {
            put(cx + d, cy + d, [235, 40, 40]);
            put(cx + d, cy - d, [235, 40, 40]);
        }
    }
    for q in keypoints_a {
        let (cx, cy) = (q[0].round() as i64, q[1].round() as i64);
        for dy in -radius..=radius {
            for dx in -radius..=radius {
                if dx * dx + dy * dy <= radius * radius {
                    put(cx + dx, cy + dy, [40, 220, 60]);
                }
            }
        }
    }
    out
}

/// Rasterises the projected mesh: per pixel a Lambert shade in 0.3..1, or −1 where empty.
pub fn rasterize(vertices_camera: &[[f32; 3]], triangles: &[[u32; 3]], k: &Intrinsics, w: usize, h: usize) -> Vec<f32> {
    let mut depth = vec![f32::INFINITY; w * h];
    let mut shade = vec![-1.0f32; w * h];
    let projected: Vec<Option<[f64; 2]>> = vertices_camera.iter().map(|p| k.project(*p)).collect();
    let light = Vec3::new(0.3, -0.5, -1.0).normalize();
    for t in triangles {
        let [a, b, c] = t.map(|i| i as usize);
        let (Some(pa), Some(pb), Some(pc)) = (projected[a], projected[b], projected[c]) else { continue };
        let (va, vb, vc) = (
            Vec3::from_array(vertices_camera[a]),
            Vec3::from_array(vertices_camera[b]),
            Vec3::from_array(vertices_camera[c]),
        );
        let n = (vb - va).cross(vc - va).normalize_or_zero();
        let lambert = n.dot(-light).abs() * 0.7 + 0.3;
        let z = (va.z + vb.z + vc.z) / 3.0;
        let min_x = pa[0].min(pb[0]).min(pc[0]).floor().max(0.0) as usize;
        let max_x = (pa[0].max(pb[0]).max(pc[0]).ceil() as i64).min(w as i64 - 1);
        let min_y = pa[1].min(pb[1]).min(pc[1]).floor().max(0.0) as usize;
        let max_y = (pa[1].max(pb[1]).max(pc[1]).ceil() as i64).min(h as i64 - 1);
        if max_x < 0 || max_y < 0 {
            continue;
        }
        let area = (pb[0] - pa[0]) * (pc[1] - pa[1]) - (pb[1] - pa[1]) * (pc[0] - pa[0]);
        if area.abs() < 1e-12 {
            continue;
        }
        for y in min_y..=max_y as usize {
            for x in min_x..=max_x as usize {
                let (px, py) = (x as f64 + 0.5, y as f64 + 0.5);
                let w0 = ((pb[0] - px) * (pc[1] - py) - (pb[1] - py) * (pc[0] - px)) / area;
                let w1 = ((pc[0] - px) * (pa[1] - py) - (pc[1] - py) * (pa[0] - px)) / area;
                let w2 = 1.0 - w0 - w1;
                if w0 < 0.0 || w1 < 0.0 || w2 < 0.0 {
                    continue;
                }
                let i = y * w + x;
                if z < depth[i] {
                    depth[i] = z;
                    shade[i] = lambert;
                }
            }
        }
    }
    shade
}

/// The projected mesh's silhouette as a mask.
pub fn silhouette(
    vertices_camera: &[[f32; 3]],
    triangles: &[[u32; 3]],
    k: &Intrinsics,
    w: u32,
    h: u32,
) -> crate::core::mask::Mask {
    let shade = rasterize(vertices_camera, triangles, k, w as usize, h as usize);
    crate::core::mask::Mask::from_fn(w, h, |x, y| shade[y as usize * w as usize + x as usize] >= 0.0)
}

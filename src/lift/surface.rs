//! The visible surface of a masked object and how its hidden side is completed.
//!
//! The front surface is a depth per mask pixel: from a depth model when one is given (the
//! [`depth`](super::depth) contract); otherwise from a box or a ring fitted to the silhouette and
//! the shading ([`primitive`](super::primitive), [`Completion::Fitted`]) when the object is one,
//! else from silhouette inflation (a round profile over the mask's distance transform). The hidden
//! side follows the object's own shape, not the view ray:
//!
//! - with a model, an object whose silhouette is point-symmetric (IoU with its 180° turn ≥
//!   [`POINT_SYMMETRY_IOU`]) and whose visible surface is mostly flat ([`planar_share`] ≥
//!   [`PLANAR_SHARE`]: boxes, planks, slabs at any tilt) is completed by point reflection through
//!   the centroid of its *rim* (the visible surface at the silhouette, each boundary pixel's depth
//!   extrapolated to the edge): a centrally symmetric solid maps its rim onto itself, so the
//!   completion is exact for such solids whatever their tilt. Any other object (spheres,
//!   cylinders, tori, bodies, limbs) gets round cross-sections: behind each pixel the solid is as
//!   deep as the chord, at that pixel's distance from the silhouette, of the largest inscribed
//!   circle covering it — exact for round sections at any tilt, since the front follows the
//!   measured depth. (A smooth rim lies in front of its section's axis under perspective, which
//!   biases a rim centroid; and a body is not point-symmetric.)
//! - a fitted primitive is its own completion: a voxel is inside when it is inside the box or ring;
//! - otherwise, without a model, the inflated front is mirrored along each pixel's ray about the
//!   mid-depth (the inflation has no tilt to honour).
//!
//! A voxel is occupied when it lies behind the visible surface inside the silhouette and in front
//! of the completed back: holes in the mask stay holes, and a thin part is as thin as its measured
//! depth says. What was tried and measured (the tightest feasible mirror, a best-covering mirror,
//! rim mid-surfaces, elliptic sections; for the fits, what was tried and dropped): `docs/LIFT.md`.

use glam::DVec3;

use crate::core::camera::Camera;
use crate::core::mask::Mask;

use super::LiftError;
use super::depth::{DepthMap, DepthPrediction, focal_from_points};

/// Silhouettes at least this point-symmetric (IoU with their 180° turn) complete by point reflection.
pub const POINT_SYMMETRY_IOU: f64 = 0.85;

/// How the hidden side mirrors the visible one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Symmetry {
    /// Along each pixel's ray about the depth `mid_depth` (camera at the origin).
    AlongRay { mid_depth: f64 },
    /// Point reflection through `centre`.
    Point { centre: DVec3 },
}

impl Symmetry {
    /// The mirror image of the camera-frame point `p`.
    pub fn mirror(&self, p: DVec3) -> DVec3 {
        match *self {
            Self::AlongRay { mid_depth } => p * ((2.0 * mid_depth - p.z) / p.z.max(1e-12)),
            Self::Point { centre } => 2.0 * centre - p,
        }
    }

    /// A short description for `scene.json`'s engine line.
    pub fn describe(&self) -> &'static str {
        match self {
            Self::AlongRay { .. } => "mirrored along the view ray",
            Self::Point { .. } => "completed by point symmetry",
        }
    }
}

/// How the hidden side is made.
#[derive(Clone, Debug)]
pub enum Completion {
    /// The visible surface's mirror image.
    Mirror(Symmetry),
    /// Round cross-sections about the object's own local axes: behind each pixel the solid is as
    /// deep as the chord, at that pixel's distance from the silhouette, of the circle inscribed
    /// there (the mask's local radius). `back_depth` per pixel, NaN outside the mask.
    Tubes { back_depth: Vec<f32> },
    /// A primitive fitted to the silhouette and shading ([`primitive`](super::primitive)): the
    /// front is where each pixel's ray enters it, `back_depth` where it leaves (NaN outside the mask).
    Fitted { back_depth: Vec<f32>, primitive: super::primitive::Primitive },
}

impl Completion {
    /// A short description for `scene.json`'s engine line.
    pub fn describe(&self) -> &'static str {
        match self {
            Self::Mirror(symmetry) => symmetry.describe(),
            Self::Tubes { .. } => "completed with round cross-sections",
            Self::Fitted { primitive, .. } => primitive.describe(),
        }
    }
}

/// The visible surface and its completion, in the camera frame (world = camera: OpenCV axes).
#[derive(Clone, Debug)]
pub struct Surface {
    pub camera: Camera,
    /// Camera-frame depth of the visible surface at each pixel (row-major); NaN outside the mask.
    pub front_depth: Vec<f32>,
    pub completion: Completion,
    /// Where the focal length came from (`"default"`, `"model"`, `"point map"`).
    pub focal_source: &'static str,
}

impl Surface {
    /// The depth of the visible surface at pixel `(x, y)` when it is inside the mask.
    pub fn front_at(&self, x: u32, y: u32) -> Option<f32> {
        let d = *self.front_depth.get((y * self.camera.width + x) as usize)?;
        d.is_finite().then_some(d)
    }

    /// True when `p` (camera frame) projects into the mask at or behind the visible surface, with
    /// `tolerance` world units of slack; the pixel it lands on.
    pub fn behind_front(&self, p: DVec3, tolerance: f64) -> Option<(u32, u32)> {
        let (u, v, depth) = self.camera.project(p)?;
        if u < 0.0 || v < 0.0 || u >= f64::from(self.camera.width) || v >= f64::from(self.camera.height) {
            return None;
        }
        let (x, y) = (u as u32, v as u32);
        let front = self.front_at(x, y)?;
        (depth >= f64::from(front) - tolerance).then_some((x, y))
    }

    /// True when `p` lies inside the completed solid (with `tolerance` world units of slack); the
    /// pixel it projects to.
    pub fn inside(&self, p: DVec3, tolerance: f64) -> Option<(u32, u32)> {
        let (x, y) = self.behind_front(p, tolerance)?;
        let ok = match &self.completion {
            Completion::Mirror(symmetry) => self.behind_front(symmetry.mirror(p), tolerance).is_some(),
            Completion::Fitted { primitive, .. } => primitive.signed_distance(p) <= tolerance,
            Completion::Tubes { back_depth } => {
                let back = back_depth[(y * self.camera.width + x) as usize];
                // Depth along the optical axis = camera-frame z (world = camera frame).
                p.z <= f64::from(back) + tolerance
            }
        };
        ok.then_some((x, y))
    }

    /// The hidden point paired with the visible point at pixel `(x, y)` (for the solid's bounds).
    pub fn hidden_point(&self, x: u32, y: u32) -> Option<DVec3> {
        let p = self.front_point(x, y)?;
        Some(match &self.completion {
            Completion::Mirror(symmetry) => symmetry.mirror(p),
            Completion::Tubes { back_depth } | Completion::Fitted { back_depth, .. } => {
                let back = back_depth[(y * self.camera.width + x) as usize];
                self.camera.unproject(f64::from(x) + 0.5, f64::from(y) + 0.5, f64::from(back))
            }
        })
    }

    /// The visible surface's camera-frame point at pixel `(x, y)`'s centre.
    pub fn front_point(&self, x: u32, y: u32) -> Option<DVec3> {
        let d = self.front_at(x, y)?;
        Some(self.camera.unproject(f64::from(x) + 0.5, f64::from(y) + 0.5, f64::from(d)))
    }
}

/// The silhouette-inflation surface (no model): a round profile over the distance transform about
/// the local axis (the radius of the largest inscribed disk covering each pixel), the object about
/// one world unit across at the depth where its extent fits the focal length.
pub fn inflated(mask: &Mask, camera: Camera, thickness: f32) -> Result<Surface, LiftError> {
    inflated_at(mask, camera, thickness, None)
}

/// [`inflated`] with the solid's middle at `mid_depth` when given (a scene places its objects).
pub fn inflated_at(mask: &Mask, camera: Camera, thickness: f32, mid_depth: Option<f64>) -> Result<Surface, LiftError> {
    let [bx0, by0, bx1, by1] = mask.bbox().ok_or(LiftError::EmptyMask)?;
    let extent_px = f64::from((bx1 - bx0).max(by1 - by0).max(1));
    let mid_depth = mid_depth.unwrap_or(camera.fx / extent_px);
    let dt = mask.distance_to_outside();
    let r_max = dt.iter().copied().fold(0.0f32, f32::max).max(1.0);
    let local = local_radius(mask, 160);
    let world_per_px = (mid_depth / camera.fx) as f32;
    let front_depth = dt
        .iter()
        .zip(mask.as_bytes())
        .enumerate()
        .map(|(k, (&d, &m))| {
            if m == 0 {
                return f32::NAN;
            }
            // Round about the local axis (a thin part stays thin), not the widest part's.
            let r = local[k].max(d).min(r_max);
            let d = d.min(r);
            let half = (2.0 * r * d - d * d).max(0.0).sqrt() * thickness * world_per_px;
            mid_depth as f32 - half
        })
        .collect();
    Ok(Surface {
        camera,
        front_depth,
        completion: Completion::Mirror(Symmetry::AlongRay { mid_depth }),
        focal_source: "default",
    })
}

/// The surface a depth model gives. `default_camera` is used unless the model gives a focal length
/// (its own, or one fitted to its point map). Metric depths or points that are NaN, infinite or not
/// positive inside the mask are refused. Relative inverse depth is turned into depth assuming no
/// shift (`z ∝ 1/d`, values ≤ 0 floored, a constant map flat), scaled so the object's median depth is where its extent fits the focal
/// length, like the inflation. Depths beyond the object's own extent from its median (a model's
/// background leaking in at the silhouette's edge) are clamped to it.
pub fn from_model(mask: &Mask, prediction: &DepthPrediction, default_camera: Camera) -> Result<Surface, LiftError> {
    let (w, h) = (mask.width(), mask.height());
    let n = (w as usize) * (h as usize);
    let inside = mask.as_bytes();
    let bad = |message: String| LiftError::BadDepth(message);
    let mut camera = default_camera;
    let mut focal_source = "default";
    if let Some(f) = prediction.focal_px {
        camera.fx = f;
        camera.fy = f;
        focal_source = "model";
    }
    let mut depth: Vec<f32> = match &prediction.map {
        DepthMap::Depth(d) | DepthMap::InverseDepth(d) if d.len() != n => {
            return Err(bad(format!("the depth map has {} values for a {w}×{h} photo", d.len())));
        }
        DepthMap::Points(p) if p.len() != n => {
            return Err(bad(format!("the point map has {} points for a {w}×{h} photo", p.len())));
        }
        DepthMap::Depth(d) => d.clone(),
        DepthMap::InverseDepth(d) => {
            // Relative inverse depth is known up to a shift too: values at or below zero (the far
            // end, clipped by the model) are floored at a hundredth of the object's largest, and
            // a constant map gives a flat front.
            if d.iter().any(|v| !v.is_finite()) {
                return Err(bad("the model's inverse depth has NaN or infinite values".into()));
            }
            let top = d.iter().zip(inside).filter(|(_, m)| **m != 0).map(|(v, _)| *v).fold(0.0f32, f32::max);
            if top <= 0.0 { vec![1.0; n] } else { d.iter().map(|&v| 1.0 / v.max(0.01 * top)).collect() }
        }
        DepthMap::Points(points) => {
            if prediction.focal_px.is_none()
                && let Some(f) = focal_from_points(points, w, camera.cx, camera.cy, |k| inside[k] != 0)
            {
                camera.fx = f;
                camera.fy = f;
                focal_source = "point map";
            }
            points.iter().map(|p| p[2]).collect()
        }
    };
    // Only the object's pixels matter; they must all be usable.
    let mut values: Vec<f32> = depth.iter().zip(inside).filter(|(_, m)| **m != 0).map(|(d, _)| *d).collect();
    if values.iter().any(|v| !v.is_finite() || *v <= 0.0) {
        return Err(bad("the model's depth inside the mask is NaN, infinite or not positive".into()));
    }
    if values.is_empty() {
        return Err(LiftError::EmptyMask);
    }
    let mid = values.len() / 2;
    let median = *values.select_nth_unstable_by(mid, f32::total_cmp).1;
    let [bx0, by0, bx1, by1] = mask.bbox().ok_or(LiftError::EmptyMask)?;
    let extent_px = f64::from((bx1 - bx0).max(by1 - by0).max(1));
    if matches!(prediction.map, DepthMap::InverseDepth(_)) {
        // Relative: scale so the median sits where the inflation would put the object.
        let scale = (camera.fx / extent_px) as f32 / median;
        depth.iter_mut().for_each(|d| *d *= scale);
    }
    let median =
        if matches!(prediction.map, DepthMap::InverseDepth(_)) { (camera.fx / extent_px) as f32 } else { median };
    let extent = (extent_px * f64::from(median) / camera.fx) as f32;
    let (lo, hi) = ((median - extent).max(median * 0.05), median + extent);
    let front_depth: Vec<f32> =
        depth.iter().zip(inside).map(|(&d, &m)| if m != 0 { d.clamp(lo, hi) } else { f32::NAN }).collect();
    let mut surface = Surface {
        camera,
        front_depth,
        completion: Completion::Mirror(Symmetry::AlongRay { mid_depth: f64::from(median) }),
        focal_source,
    };
    surface.completion = completion_of(mask, &surface);
    Ok(surface)
}

/// IoU of the mask with its own 180° turn about its area centroid.
pub fn point_symmetry_iou(mask: &Mask) -> f64 {
    let (w, h) = (mask.width(), mask.height());
    let (mut sx, mut sy, mut area) = (0.0f64, 0.0f64, 0u64);
    for y in 0..h {
        for x in 0..w {
            if mask.get(x, y) {
                sx += f64::from(x);
                sy += f64::from(y);
                area += 1;
            }
        }
    }
    if area == 0 {
        return 0.0;
    }
    let (cx, cy) = (sx / area as f64, sy / area as f64);
    let mut both = 0u64;
    for y in 0..h {
        for x in 0..w {
            if !mask.get(x, y) {
                continue;
            }
            let (mx, my) = ((2.0 * cx - f64::from(x)).round(), (2.0 * cy - f64::from(y)).round());
            if mx >= 0.0 && my >= 0.0 && mx < f64::from(w) && my < f64::from(h) && mask.get(mx as u32, my as u32) {
                both += 1;
            }
        }
    }
    both as f64 / (2 * area - both) as f64
}

/// The completion of a model surface: point symmetry through the rim's centroid when the
/// silhouette is point-symmetric and the visible surface mostly flat (boxes, planks, slabs: their
/// rims are creases, whose depths the depth map shows); round cross-sections otherwise (spheres,
/// cylinders, tori, limbs: a smooth rim lies in front of its section's axis, so its centroid is
/// biased, while the section's width is what the silhouette measures).
fn completion_of(mask: &Mask, surface: &Surface) -> Completion {
    let planar = planar_share(mask, surface);
    let symmetric = point_symmetry_iou(mask);
    tracing::debug!(planar, symmetric, "choosing the completion");
    if symmetric >= POINT_SYMMETRY_IOU
        && planar >= PLANAR_SHARE
        && let Some(centre) = rim_centroid(mask, surface)
    {
        return Completion::Mirror(Symmetry::Point { centre });
    }
    Completion::Tubes { back_depth: tube_back_depth(mask, surface) }
}

/// Objects with at least this share of flat visible surface (and a point-symmetric silhouette)
/// complete by point symmetry; others about their local mid-surface.
pub const PLANAR_SHARE: f64 = 0.7;

/// The share of the silhouette's interior (2 px in) where the visible surface is flat: the
/// discrete Laplacian of its inverse depth, in pixel units of depth, below 0.5 / the object's extent in pixels
/// (a sphere's is 8 / its extent, a plane's 0).
pub fn planar_share(mask: &Mask, surface: &Surface) -> f64 {
    let (w, h) = (mask.width(), mask.height());
    let Some([bx0, by0, bx1, by1]) = mask.bbox() else { return 0.0 };
    let extent_px = f64::from((bx1 - bx0).max(by1 - by0).max(1));
    let dt = mask.distance_to_outside();
    let (mut flat, mut total) = (0usize, 0usize);
    for y in 1..h.saturating_sub(1) {
        for x in 1..w.saturating_sub(1) {
            if dt[(y * w + x) as usize] < 3.0 {
                continue;
            }
            let z = |x: u32, y: u32| surface.front_at(x, y).map(f64::from);
            let (Some(c), Some(l), Some(r), Some(u), Some(d)) =
                (z(x, y), z(x - 1, y), z(x + 1, y), z(x, y - 1), z(x, y + 1))
            else {
                continue;
            };
            // On a plane the inverse depth is affine in the pixel coordinates: its Laplacian is 0.
            // In pixel units of depth at this depth: Δz ≈ −z²·Δ(1/z), times f / z.
            let inverse_laplacian = 1.0 / l + 1.0 / r + 1.0 / u + 1.0 / d - 4.0 / c;
            let laplacian_px = -inverse_laplacian * c * surface.camera.fx;
            total += 1;
            if laplacian_px.abs() < 0.5 / extent_px {
                flat += 1;
            }
        }
    }
    if total == 0 { 0.0 } else { flat as f64 / total as f64 }
}

/// The back depth of round cross-sections: at a pixel `d` px inside the silhouette whose largest
/// inscribed circle there has radius `R` px, the solid is `2·√(2Rd − d²)` px deep (converted to
/// world units at the visible surface's depth). `R` is the radius of the largest disk inside the
/// mask that covers the pixel, computed on a copy of the mask at most 160 px across.
pub fn tube_back_depth(mask: &Mask, surface: &Surface) -> Vec<f32> {
    let (w, h) = (mask.width(), mask.height());
    let dt = mask.distance_to_outside();
    let local = local_radius(mask, 160);
    let f = surface.camera.fx;
    let n = (w as usize) * (h as usize);
    (0..n)
        .map(|k| {
            let Some(front) = surface.front_depth.get(k).copied().filter(|d| d.is_finite()) else { return f32::NAN };
            let front = f64::from(front);
            // The pixel centre lies half a pixel inside the edge its distance is measured to.
            let d = f64::from(dt[k] - 0.5).max(0.25);
            let r = f64::from(local[k]).max(d);
            let chord_px = 2.0 * (2.0 * r * d - d * d).max(0.0).sqrt();
            (front + chord_px * front / f) as f32
        })
        .collect()
}

/// Per pixel, the radius (px) of the largest disk inside the mask that covers it (0 outside),
/// on a copy of the mask scaled to at most `max_side` px.
fn local_radius(mask: &Mask, max_side: u32) -> Vec<f32> {
    let (w, h) = (mask.width(), mask.height());
    let scale = (f64::from(max_side) / f64::from(w.max(h))).min(1.0);
    let (sw, sh) = (((f64::from(w) * scale).ceil() as u32).max(1), ((f64::from(h) * scale).ceil() as u32).max(1));
    let small = if scale < 1.0 {
        Mask::from_fn(sw, sh, |x, y| {
            let (fx, fy) = (((f64::from(x) + 0.5) / scale) as u32, ((f64::from(y) + 0.5) / scale) as u32);
            mask.get(fx.min(w - 1), fy.min(h - 1))
        })
    } else {
        mask.clone()
    };
    let dt = small.distance_to_outside();
    let mut radius = vec![0f32; (sw * sh) as usize];
    let at = |x: i64, y: i64| -> f32 {
        if x < 0 || y < 0 || x >= i64::from(sw) || y >= i64::from(sh) {
            0.0
        } else {
            dt[(y * i64::from(sw) + x) as usize]
        }
    };
    for y in 0..i64::from(sh) {
        for x in 0..i64::from(sw) {
            let r = at(x, y);
            // Only ridge pixels (no 4-neighbour deeper) centre a maximal disk.
            if r <= 0.0 || at(x - 1, y) > r || at(x + 1, y) > r || at(x, y - 1) > r || at(x, y + 1) > r {
                continue;
            }
            let reach = r.ceil() as i64;
            for yy in (y - reach).max(0)..=(y + reach).min(i64::from(sh) - 1) {
                for xx in (x - reach).max(0)..=(x + reach).min(i64::from(sw) - 1) {
                    let (dx, dy) = ((xx - x) as f32, (yy - y) as f32);
                    if dx * dx + dy * dy <= r * r {
                        let slot = &mut radius[(yy * i64::from(sw) + xx) as usize];
                        *slot = slot.max(r);
                    }
                }
            }
        }
    }
    if scale >= 1.0 {
        return radius;
    }
    (0..w * h)
        .map(|k| {
            let (x, y) = (k % w, k / w);
            let (sx, sy) = (((f64::from(x) + 0.5) * scale) as u32, ((f64::from(y) + 0.5) * scale) as u32);
            radius[(sy.min(sh - 1) * sw + sx.min(sw - 1)) as usize] / scale as f32
        })
        .collect()
}

/// A boundary pixel of the silhouette and the depth extrapolated to its edge.
#[derive(Clone, Copy, Debug)]
struct RimPoint {
    x: u32,
    y: u32,
    depth: f64,
}

/// The rim: each boundary pixel of the silhouette (not on the photo's border, which may cut the
/// object) with the depth where the surface turns away there.
fn rim_depths(mask: &Mask, surface: &Surface) -> Vec<RimPoint> {
    let (w, h) = (mask.width(), mask.height());
    let dt = mask.distance_to_outside();
    // The rim: where the surface turns away at the silhouette. A boundary pixel's centre is half a
    // pixel inside, where a smooth surface is already well in front of its rim (depth grows like
    // the square root of the distance to the edge), so each boundary pixel's depth is extrapolated
    // to the edge from it and its deepest-inside neighbour: z(d) = z_rim − a·√d.
    let mut rim = Vec::new();
    let extent_guess = {
        let (lo, hi) = surface
            .front_depth
            .iter()
            .filter(|d| d.is_finite())
            .fold((f32::MAX, f32::MIN), |(a, b), &d| (a.min(d), b.max(d)));
        f64::from((hi - lo).max(0.0))
    };
    for y in 1..h.saturating_sub(1) {
        for x in 1..w.saturating_sub(1) {
            let k = (y * w + x) as usize;
            let d1 = dt[k];
            if !(d1 > 0.0 && d1 <= 1.0) {
                continue;
            }
            let Some(z1) = surface.front_at(x, y) else { continue };
            let mut inner = None;
            for (dx, dy) in [(-1i64, -1i64), (0, -1), (1, -1), (-1, 0), (1, 0), (-1, 1), (0, 1), (1, 1)] {
                let (nx, ny) = ((i64::from(x) + dx) as u32, (i64::from(y) + dy) as u32);
                let d2 = dt[(ny * w + nx) as usize];
                if d2 > d1 && inner.is_none_or(|(best, _)| d2 > best) {
                    inner = Some((d2, (nx, ny)));
                }
            }
            let depth = match inner.and_then(|(d2, (nx, ny))| Some((d2, surface.front_at(nx, ny)?))) {
                Some((d2, z2)) => {
                    let (s1, s2) = (f64::from(d1 - 0.5).max(0.0).sqrt(), f64::from(d2 - 0.5).sqrt());
                    let a = (f64::from(z1) - f64::from(z2)) / (s2 - s1).max(1e-6);
                    f64::from(z1) + (a.clamp(0.0, extent_guess) * s1).min(0.25 * extent_guess)
                }
                None => f64::from(z1),
            };
            rim.push(RimPoint { x, y, depth });
        }
    }
    rim
}

/// The centroid of the rim's points (camera frame); `None` for fewer than 8.
fn rim_centroid(mask: &Mask, surface: &Surface) -> Option<DVec3> {
    let rim = rim_depths(mask, surface);
    (rim.len() >= 8).then(|| {
        rim.iter().map(|r| surface.camera.unproject(f64::from(r.x) + 0.5, f64::from(r.y) + 0.5, r.depth)).sum::<DVec3>()
            / rim.len() as f64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_are_involutions() {
        let p = DVec3::new(0.3, -0.2, 2.5);
        for s in [Symmetry::AlongRay { mid_depth: 2.0 }, Symmetry::Point { centre: DVec3::new(0.1, 0.0, 2.2) }] {
            assert!((s.mirror(s.mirror(p)) - p).length() < 1e-9, "{s:?}");
        }
    }

    #[test]
    fn point_symmetry_tells_a_box_from_a_letter_l() {
        let rect = Mask::from_fn(60, 40, |x, y| (10..50).contains(&x) && (8..30).contains(&y));
        assert!(point_symmetry_iou(&rect) > 0.95);
        let ell = Mask::from_fn(60, 40, |x, y| {
            (10..20).contains(&x) && (5..35).contains(&y) || (10..50).contains(&x) && (28..35).contains(&y)
        });
        assert!(point_symmetry_iou(&ell) < 0.5);
    }
}

//! Primitives fitted to a silhouette and its shading, for the lift without a depth model.
//!
//! A silhouette alone cannot say how far an object leans away from the camera: inflation makes
//! every object as deep as it is wide, right for a ball, wrong for a box turned away, a plank seen
//! along its length or a ring seen at an angle. Two kinds of object show their pose, though:
//!
//! - **A box**: its silhouette is a hexagon whose opposite sides are images of the same three edge
//!   directions, and three mutually orthogonal edges are fixed, up to a mirror image (the Necker
//!   reversal), by their images alone (`a'·b' + a_z·b_z = 0` for each pair: three equations in the
//!   three unknown depths). `weak_perspective_cuboid` solves that in closed form;
//!   `match_hexagon` moves the corners onto the hexagon's under the full pinhole.
//! - **A ring**: a silhouette with one clear hole. Its outline's and its hole's long semi-axes are
//!   `R ± r`, their short ones `R·cos θ ± r` (θ the tilt); `weak_perspective_torus` reads the
//!   ring from their moments.
//!
//! Each start, in both mirror poses, is refined on the silhouette (IoU on a coarse raster,
//! coordinate descent), then polished on silhouette and shading together. The pose kept is the
//! one whose visible surface explains the photo's shading best (`Shading`: a low-order lighting
//! fitted to its normals; a box's faces each evenly lit, a ring's terminator where its normals
//! put it — the wrong mirror image puts creases and terminators elsewhere). A primitive is refused
//! — and the lift inflates the silhouette as before — unless its silhouette IoU reaches
//! [`MIN_SILHOUETTE_IOU`], it leaves at most [`MAX_UNEXPLAINED_SHADING`] of the shading unexplained,
//! and it explains the shading clearly better than the inflated silhouette itself does
//! ([`SMOOTH_ALTERNATIVE_MARGIN`]): an upright cylinder fits a box turned edge-on to the camera
//! nearly as well as its round inflation, and is left to the inflation. A box must also show its
//! creases ([`crease_contrast`] ≥ [`MIN_CREASE_CONTRAST`]: the photo steps where two fitted faces
//! meet, against the faces' own texture and noise), which keeps a noisy cylinder a cylinder. A
//! textured object, whose shading no lighting explains (a box with a label), is left to the
//! inflation too.
//!
//! The hull, the corner reduction, the polygon tests and the small solvers are written here (about
//! 150 lines) rather than taken from `geo` and `nalgebra`: they run on a few hundred points and
//! 11×11 systems, and those crates would add a dozen crates to every build for them.

use glam::{DMat3, DVec2, DVec3};

use crate::core::camera::Camera;
use crate::core::image::Image;
use crate::core::mask::Mask;

use super::surface::{Completion, Surface};

/// The least silhouette IoU (at the fitting raster) of a primitive kept for the lift.
pub const MIN_SILHOUETTE_IOU: f64 = 0.95;

/// The largest share of the photo's luminance variance inside the mask (2 px in from the edge)
/// that a primitive's shading may leave unexplained: the residual of the best first-order lighting
/// (`luminance ≈ a + b·normal`) over its visible surface, divided by the total variance.
pub const MAX_UNEXPLAINED_SHADING: f64 = 0.15;

/// The longest side, in cells, of the raster a fit is scored on.
const RASTER_SIDE: u32 = 96;

/// A box in the camera frame (OpenCV axes, camera at the origin).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cuboid {
    pub centre: DVec3,
    /// Half an edge along each of the box's own axes (mutually orthogonal).
    pub half_axes: [DVec3; 3],
}

/// A ring (torus) in the camera frame: the points within `minor` of the circle of radius `major`
/// about `centre` in the plane normal to `axis`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Torus {
    pub centre: DVec3,
    /// Unit normal of the ring's plane.
    pub axis: DVec3,
    pub major: f64,
    pub minor: f64,
}

/// A solid fitted to a silhouette.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Primitive {
    Cuboid(Cuboid),
    Torus(Torus),
}

/// A primitive fitted to a mask, with how well it fits.
#[derive(Clone, Copy, Debug)]
pub struct Fit {
    pub primitive: Primitive,
    /// Silhouette IoU with the mask on the fitting raster.
    pub silhouette_iou: f64,
    /// Luminance variance the best first-order lighting of its visible surface leaves unexplained
    /// (share of the total; 0: the shading is exactly that of this shape).
    pub unexplained_shading: f64,
    /// The same for the mirror-image pose (how clearly the shading chose between them).
    pub unexplained_shading_mirrored: f64,
    /// The same for the inflated silhouette (the smooth alternative the primitive beat).
    pub unexplained_shading_inflated: f64,
}

impl Cuboid {
    /// The eight corners.
    pub fn corners(&self) -> [DVec3; 8] {
        let [a, b, c] = self.half_axes;
        std::array::from_fn(|i| {
            let s = |bit: usize| if i & bit == 0 { -1.0 } else { 1.0 };
            self.centre + a * s(1) + b * s(2) + c * s(4)
        })
    }

    /// The unit axes and half-lengths; `None` for a degenerate box.
    fn frame(&self) -> Option<[(DVec3, f64); 3]> {
        let mut out = [(DVec3::X, 0.0); 3];
        for (slot, half) in out.iter_mut().zip(&self.half_axes) {
            let h = half.length();
            if h <= 0.0 || !h.is_finite() {
                return None;
            }
            *slot = (*half / h, h);
        }
        Some(out)
    }

    /// Where the ray `t·direction` (camera at the origin) enters and leaves the box, as ray
    /// parameters, and the outward normal of the face it enters through; `None` when it misses.
    pub fn ray_span(&self, direction: DVec3) -> Option<(f64, f64, DVec3)> {
        let (mut t_in, mut t_out, mut normal) = (f64::NEG_INFINITY, f64::INFINITY, DVec3::ZERO);
        for (u, h) in self.frame()? {
            let (origin, speed) = (-self.centre.dot(u), direction.dot(u));
            if speed.abs() < 1e-12 {
                if origin.abs() > h {
                    return None;
                }
                continue;
            }
            let (t0, t1) = ((-h - origin) / speed, (h - origin) / speed);
            // Entering through the −u face when moving along +u.
            let (near, far, face) = if t0 < t1 { (t0, t1, -u) } else { (t1, t0, u) };
            if near > t_in {
                t_in = near;
                normal = face;
            }
            t_out = t_out.min(far);
        }
        (t_in.is_finite() && t_in < t_out && t_in > 0.0).then_some((t_in, t_out, normal))
    }

    /// Signed distance from `p` to the box's surface (negative inside).
    pub fn signed_distance(&self, p: DVec3) -> f64 {
        let Some(frame) = self.frame() else { return f64::INFINITY };
        let q = DVec3::from_array(frame.map(|(u, h)| (p - self.centre).dot(u).abs() - h));
        q.max(DVec3::ZERO).length() + q.max_element().min(0.0)
    }
}

impl Torus {
    /// Signed distance from `p` to the ring's surface (negative inside).
    pub fn signed_distance(&self, p: DVec3) -> f64 {
        let q = p - self.centre;
        let along = q.dot(self.axis);
        let radial = (q - self.axis * along).length();
        (radial - self.major).hypot(along) - self.minor
    }

    /// The outward normal at (or near) the surface point `p`.
    fn normal_at(&self, p: DVec3) -> DVec3 {
        let q = p - self.centre;
        let in_plane = q - self.axis * q.dot(self.axis);
        let core = self.centre + in_plane.normalize_or(self.axis.any_orthonormal_vector()) * self.major;
        (p - core).normalize_or_zero()
    }

    /// Two unit vectors spanning the ring's plane.
    fn plane(&self) -> (DVec3, DVec3) {
        self.axis.any_orthonormal_pair()
    }

    /// Where the ray `t·direction` first enters the ring and last leaves it (ray parameters),
    /// and the outward normal where it enters; `None` when it misses. Sphere tracing on the signed
    /// distance from the near side of the bounding sphere forwards, and from its far side backwards
    /// (the last exit is the first entry seen from behind).
    pub fn ray_span(&self, direction: DVec3) -> Option<(f64, f64, DVec3)> {
        let length = direction.length();
        if length <= 0.0 || !length.is_finite() {
            return None;
        }
        let unit = direction / length;
        let reach = self.major + self.minor;
        // The ray's distances inside the bounding sphere.
        let b = self.centre.dot(unit);
        let disc = b * b - (self.centre.length_squared() - reach * reach);
        if disc <= 0.0 {
            return None;
        }
        let (near, far) = ((b - disc.sqrt()).max(0.0), b + disc.sqrt());
        let tolerance = self.minor * 1e-4;
        let trace = |from: f64, forwards: bool| -> Option<f64> {
            let mut s = from;
            for _ in 0..200 {
                let d = self.signed_distance(unit * s);
                if d <= tolerance {
                    return Some(s);
                }
                s += if forwards { d } else { -d };
                if s > far || s < near {
                    return None;
                }
            }
            None
        };
        let first = trace(near, true)?;
        let last = trace(far, false).unwrap_or(first);
        Some((first / length, last / length, self.normal_at(unit * first)))
    }

    /// Points on the core circle, `n` of them.
    fn core_points(&self, n: usize) -> impl Iterator<Item = DVec3> + '_ {
        let (e1, e2) = self.plane();
        (0..n).map(move |k| {
            let phi = std::f64::consts::TAU * k as f64 / n as f64;
            self.centre + (e1 * phi.cos() + e2 * phi.sin()) * self.major
        })
    }
}

impl Primitive {
    /// First entry and last exit of the ray `t·direction` (camera at the origin; `t` is the depth
    /// when `direction.z` is 1), and the outward normal where it enters.
    pub fn ray_span(&self, direction: DVec3) -> Option<(f64, f64, DVec3)> {
        match self {
            Self::Cuboid(c) => c.ray_span(direction),
            Self::Torus(t) => t.ray_span(direction),
        }
    }

    /// Signed distance from `p` to the surface (negative inside).
    pub fn signed_distance(&self, p: DVec3) -> f64 {
        match self {
            Self::Cuboid(c) => c.signed_distance(p),
            Self::Torus(t) => t.signed_distance(p),
        }
    }

    /// What was fitted, for the engine line.
    pub fn describe(&self) -> &'static str {
        match self {
            Self::Cuboid(_) => "a box fitted to the silhouette and shading",
            Self::Torus(_) => "a ring fitted to the silhouette and shading",
        }
    }
}

/// The surface of a primitive fitted to `mask` (see [`fit`]), its middle at `mid_depth` (by
/// default where the object's extent fits the focal length, like the inflation); `None` when the
/// object is not clearly a box or a ring. Mask pixels whose ray misses the primitive get no depth
/// span (no voxels).
pub fn fitted_surface(image: &Image, mask: &Mask, camera: Camera, mid_depth: Option<f64>) -> Option<(Surface, Fit)> {
    let [bx0, by0, bx1, by1] = mask.bbox()?;
    let extent_px = f64::from((bx1 - bx0).max(by1 - by0).max(1));
    let mid_depth = mid_depth.unwrap_or(camera.fx / extent_px);
    let fit = fit(image, mask, &camera, mid_depth)?;
    let n = (mask.width() as usize) * (mask.height() as usize);
    let (mut front_depth, mut back_depth) = (vec![f32::NAN; n], vec![f32::NAN; n]);
    for (k, &m) in mask.as_bytes().iter().enumerate() {
        if m == 0 {
            continue;
        }
        let ray = pixel_ray(&camera, (k % mask.width() as usize) as u32, (k / mask.width() as usize) as u32);
        // The ray's z component is 1: its parameter is the depth.
        let (front, back) =
            fit.primitive.ray_span(ray).map_or((mid_depth, mid_depth), |(t_in, t_out, _)| (t_in, t_out));
        front_depth[k] = front as f32;
        back_depth[k] = back as f32;
    }
    let completion = Completion::Fitted { back_depth, primitive: fit.primitive };
    Some((Surface { camera, front_depth, completion, focal_source: "default" }, fit))
}

/// Fits a ring when the mask has one clear hole, a box otherwise; `None` when neither fits.
pub fn fit(image: &Image, mask: &Mask, camera: &Camera, mid_depth: f64) -> Option<Fit> {
    // Cheap refusals first: a ring needs one clear hole, a box a hexagon.
    let hole = ring_hole(mask);
    let hexagon = if hole.is_none() { Some(silhouette_hexagon(mask, camera)?) } else { None };
    let raster = Raster::new(mask, camera)?;
    let shading = Shading::new(image, mask, camera, 20_000)?;
    let quick = Shading::new(image, mask, camera, 3_000)?;
    let judge = |s: &Shading, p: &Primitive| s.unexplained(|_, _, ray| p.ray_span(ray).map(|(_, _, n)| n));
    let mut fits = Vec::new();
    match (hole, hexagon) {
        (Some(hole), _) => {
            for mirrored in [false, true] {
                let Some(start) = weak_perspective_torus(mask, &hole, camera, mid_depth, mirrored) else { continue };
                let (torus, _) = coordinate_descent(start, 6, 0.08, apply_torus, |t| raster.iou_torus(t));
                // Polished on silhouette and shading together: creases and terminators in place.
                let (torus, _) = coordinate_descent(torus, 6, 0.02, apply_torus, |t| {
                    raster.iou_torus(t) - judge(&quick, &Primitive::Torus(*t)).unwrap_or(1.0)
                });
                let primitive = Primitive::Torus(torus);
                if let Some(unexplained) = judge(&shading, &primitive) {
                    fits.push((primitive, raster.iou_torus(&torus), unexplained));
                }
            }
        }
        (None, Some(hexagon)) => {
            for mirrored in [false, true] {
                let Some(weak) = weak_perspective_cuboid(&hexagon, mid_depth, mirrored) else { continue };
                // From the weak-perspective pose and from its corners matched under perspective.
                for start in [weak, match_hexagon(&hexagon, weak)] {
                    let (cuboid, _) = coordinate_descent(start, 8, 0.08, apply_cuboid, |c| raster.iou_cuboid(c));
                    let (cuboid, _) = coordinate_descent(cuboid, 8, 0.02, apply_cuboid, |c| {
                        raster.iou_cuboid(c) - judge(&quick, &Primitive::Cuboid(*c)).unwrap_or(1.0)
                    });
                    let primitive = Primitive::Cuboid(cuboid);
                    if let Some(unexplained) = judge(&shading, &primitive) {
                        fits.push((primitive, raster.iou_cuboid(&cuboid), unexplained));
                    }
                }
            }
        }
        (None, None) => return None,
    }
    // The pose whose surface explains the shading; the silhouette decides a tie.
    fits.sort_by(|a, b| {
        let tie = (a.2 - b.2).abs() < 0.1 * a.2.max(b.2);
        if tie { b.1.total_cmp(&a.1) } else { a.2.total_cmp(&b.2) }
    });
    let (primitive, silhouette_iou, unexplained_shading) = *fits.first()?;
    let unexplained_shading_mirrored = fits.get(1).map_or(1.0, |f| f.2);
    tracing::debug!(silhouette_iou, unexplained_shading, unexplained_shading_mirrored, "primitive fit");
    if silhouette_iou < MIN_SILHOUETTE_IOU || unexplained_shading > MAX_UNEXPLAINED_SHADING {
        return None;
    }
    // A box shows its creases: somewhere the photo steps where two of its faces meet.
    if let Primitive::Cuboid(cuboid) = &primitive
        && crease_contrast(image, mask, camera, cuboid).is_none_or(|c| c < MIN_CREASE_CONTRAST)
    {
        return None;
    }
    // The smooth alternative: the inflated silhouette, lit the same way. A primitive must explain
    // the shading clearly better (a cylinder's smooth shading fits a box turned edge-on nearly as
    // well as the round inflation does; a box's creases fit no smooth surface).
    let inflated = super::surface::inflated(mask, *camera, 1.0).ok()?;
    let unexplained_shading_inflated = shading.unexplained(|x, y, _| depth_normal(&inflated, x, y)).unwrap_or(1.0);
    (unexplained_shading <= SMOOTH_ALTERNATIVE_MARGIN * unexplained_shading_inflated).then_some(Fit {
        primitive,
        silhouette_iou,
        unexplained_shading,
        unexplained_shading_mirrored,
        unexplained_shading_inflated,
    })
}

/// A primitive is kept only when it leaves at most this share of what the inflated silhouette
/// leaves of the shading unexplained.
pub const SMOOTH_ALTERNATIVE_MARGIN: f64 = 0.75;

/// The least step, across the sharpest crease of a fitted box, relative to the photo's variation
/// inside its faces (see [`crease_contrast`]).
pub const MIN_CREASE_CONTRAST: f64 = 1.5;

/// How sharply the photo steps where the faces of `cuboid` meet: for each pair of visible faces,
/// the median luminance difference of pixel pairs 3 px apart that straddle their crease, divided
/// by the median difference of pairs 3 px apart inside one face (the faces' texture and noise);
/// the largest over the face pairs. `None` when too few pairs straddle a crease. A box's creases
/// step (its faces face different ways); the shading of a smooth object under noise, which a box
/// turned edge-on can also explain roughly, does not step.
pub fn crease_contrast(image: &Image, mask: &Mask, camera: &Camera, cuboid: &Cuboid) -> Option<f64> {
    const GAP: u32 = 3;
    type Face = (i64, i64, i64);
    let (w, h) = (mask.width(), mask.height());
    let inner = mask.distance_to_outside();
    let stride = ((mask.area() as f64 / 40_000.0).sqrt().floor() as usize).max(1);
    let luminance = |x: u32, y: u32| {
        image.pixel(x, y).map(|[r, g, b]| 0.299 * f64::from(r) + 0.587 * f64::from(g) + 0.114 * f64::from(b))
    };
    let face = |x: u32, y: u32| -> Option<Face> {
        let (_, _, n) = cuboid.ray_span(pixel_ray(camera, x, y))?;
        let q = (n * 1e3).round();
        Some((q.x as i64, q.y as i64, q.z as i64))
    };
    let mut across: Vec<((Face, Face), f64)> = Vec::new();
    let mut within = Vec::new();
    for y in (0..h).step_by(stride) {
        for x in (0..w).step_by(stride) {
            if inner[(y * w + x) as usize] < 2.5 {
                continue;
            }
            let (Some(f1), Some(l1)) = (face(x, y), luminance(x, y)) else { continue };
            for (x2, y2) in [(x + GAP, y), (x, y + GAP)] {
                if x2 >= w || y2 >= h || inner[(y2 * w + x2) as usize] < 2.5 {
                    continue;
                }
                let (Some(f2), Some(l2)) = (face(x2, y2), luminance(x2, y2)) else { continue };
                let step = (l1 - l2).abs();
                if f1 == f2 {
                    within.push(step);
                } else {
                    across.push((if f1 < f2 { (f1, f2) } else { (f2, f1) }, step));
                }
            }
        }
    }
    let texture = median_absolute(&mut within)?.max(0.5);
    let mut pairs: Vec<(Face, Face)> = across.iter().map(|(p, _)| *p).collect();
    pairs.sort();
    pairs.dedup();
    pairs
        .iter()
        .filter_map(|pair| {
            let mut steps: Vec<f64> = across.iter().filter(|(p, _)| p == pair).map(|(_, s)| *s).collect();
            if steps.len() < 8 {
                return None;
            }
            Some(median_absolute(&mut steps)? / texture)
        })
        .max_by(f64::total_cmp)
}

/// The normal of a depth surface at pixel `(x, y)` (central differences, facing the camera).
fn depth_normal(surface: &Surface, x: u32, y: u32) -> Option<DVec3> {
    let p = |x: u32, y: u32| surface.front_point(x, y);
    let (l, r, u, d) = (p(x.checked_sub(1)?, y)?, p(x + 1, y)?, p(x, y.checked_sub(1)?)?, p(x, y + 1)?);
    let n = (r - l).cross(d - u).normalize_or_zero();
    let centre = p(x, y)?;
    (n != DVec3::ZERO).then(|| if n.dot(centre) > 0.0 { -n } else { n })
}

/// The ray through the centre of pixel `(x, y)`, with z component 1 (camera frame).
fn pixel_ray(camera: &Camera, x: u32, y: u32) -> DVec3 {
    DVec3::new((f64::from(x) + 0.5 - camera.cx) / camera.fx, (f64::from(y) + 0.5 - camera.cy) / camera.fy, 1.0)
}

/// The silhouette's six corners in normalised image coordinates (`(u − cx)/fx`, `(v − cy)/fy`),
/// in order around it; `None` unless the mask is convex and a hexagon explains its hull.
fn silhouette_hexagon(mask: &Mask, camera: &Camera) -> Option<[DVec2; 6]> {
    let hull = convex_hull(boundary_corners(mask));
    let hull_area = polygon_area(&hull);
    // Convex: the mask fills its hull but for the pixel staircase (about half a pixel along the
    // boundary); a hexagon explains the hull: cutting the hull's corners down to six loses no
    // more than a pixel's width along the boundary.
    let perimeter = polygon_perimeter(&hull);
    if hull.len() < 6 || hull_area <= 0.0 || hull_area - mask.area() as f64 > perimeter {
        return None;
    }
    let hexagon = reduce_polygon(hull, 6);
    if hull_area - polygon_area(&hexagon) > perimeter {
        return None;
    }
    let normalised: Vec<DVec2> =
        hexagon.iter().map(|p| DVec2::new((p.x - camera.cx) / camera.fx, (p.y - camera.cy) / camera.fy)).collect();
    normalised.try_into().ok()
}

/// The corners of the mask's boundary pixels (what its convex hull is made of).
fn boundary_corners(mask: &Mask) -> Vec<DVec2> {
    let (w, h) = (mask.width(), mask.height());
    let mut corners = Vec::new();
    for y in 0..h {
        for x in 0..w {
            if !mask.get(x, y) {
                continue;
            }
            let edge = x == 0 || y == 0 || x + 1 == w || y + 1 == h;
            if edge || !mask.get(x - 1, y) || !mask.get(x + 1, y) || !mask.get(x, y - 1) || !mask.get(x, y + 1) {
                let (fx, fy) = (f64::from(x), f64::from(y));
                corners.extend([
                    DVec2::new(fx, fy),
                    DVec2::new(fx + 1.0, fy),
                    DVec2::new(fx, fy + 1.0),
                    DVec2::new(fx + 1.0, fy + 1.0),
                ]);
            }
        }
    }
    corners
}

/// The box whose silhouette under weak perspective at `depth` is `hexagon`: opposite sides are
/// the images `a'`, `b'`, `c'` of three orthogonal edges, whose depth components follow from
/// `a'·b' + a_z·b_z = 0` (and the other two pairs). `mirrored` takes the Necker reversal.
fn weak_perspective_cuboid(hexagon: &[DVec2; 6], depth: f64, mirrored: bool) -> Option<Cuboid> {
    let side = |i: usize| hexagon[(i + 1) % 6] - hexagon[i];
    let [a, b, c] = [0, 1, 2].map(|i| (side(i) - side(i + 3)) * 0.5);
    // Each edge long enough to measure (about half a pixel at a focal length of 500 px).
    if a.length().min(b.length()).min(c.length()) < 1e-3 {
        return None;
    }
    let (p, q, r) = (-a.dot(b), -a.dot(c), -b.dot(c));
    if r.abs() < 1e-12 || p * q / r <= 0.0 {
        return None;
    }
    let sign = if mirrored { -1.0 } else { 1.0 };
    let az = sign * (p * q / r).sqrt();
    let (bz, cz) = (p / az, q / az);
    let centre2 = hexagon.iter().copied().sum::<DVec2>() / 6.0;
    let half = |v: DVec2, z: f64| DVec3::new(v.x, v.y, z) * depth * 0.5;
    Some(Cuboid {
        centre: DVec3::new(centre2.x, centre2.y, 1.0) * depth,
        half_axes: [half(a, az), half(b, bz), half(c, cz)],
    })
}

/// The box whose six silhouette corners, projected with the full pinhole, best match `hexagon`
/// (Levenberg–Marquardt on the twelve coordinates over the box's turn, log edge lengths and centre
/// across the view; depth kept). With the sides in the order `a, b, c, −a, −b, −c` of
/// [`weak_perspective_cuboid`], corner `i` of the hexagon is the box corner `K + {0, 2a, 2a + 2b,
/// 2a + 2b + 2c, 2b + 2c, 2c}[i]`, `K = centre − a − b − c`. Strong perspective (a big box close to
/// the camera) bends the silhouette away from the central symmetry weak perspective assumes.
fn match_hexagon(hexagon: &[DVec2; 6], start: Cuboid) -> Cuboid {
    let residual = |c: &Cuboid| -> Option<[f64; 12]> {
        let [a, b, cc] = c.half_axes;
        let k = c.centre - a - b - cc;
        let corners = [k, k + 2.0 * a, k + 2.0 * (a + b), k + 2.0 * (a + b + cc), k + 2.0 * (b + cc), k + 2.0 * cc];
        let mut out = [0.0; 12];
        for (i, p) in corners.iter().enumerate() {
            if p.z <= 1e-9 {
                return None;
            }
            out[2 * i] = p.x / p.z - hexagon[i].x;
            out[2 * i + 1] = p.y / p.z - hexagon[i].y;
        }
        Some(out)
    };
    let size = start.half_axes.iter().map(|a| a.length()).fold(0.0, f64::max).max(1e-9);
    let apply = |c: &Cuboid, delta: &[f64; 8]| -> Cuboid {
        let mut out = *c;
        let turn = DMat3::from_axis_angle(DVec3::X, delta[0])
            * DMat3::from_axis_angle(DVec3::Y, delta[1])
            * DMat3::from_axis_angle(DVec3::Z, delta[2]);
        out.half_axes = [0, 1, 2].map(|k| turn * c.half_axes[k] * delta[3 + k].exp());
        out.centre.x += delta[6] * size;
        out.centre.y += delta[7] * size;
        out
    };
    let cost = |r: &[f64; 12]| r.iter().map(|v| v * v).sum::<f64>();
    let Some(mut r) = residual(&start) else { return start };
    let (mut best, mut lambda) = (start, 1e-3);
    for _ in 0..50 {
        // Numeric Jacobian (12 × 8).
        let mut jac = [[0.0f64; 8]; 12];
        for j in 0..8 {
            let mut delta = [0.0; 8];
            delta[j] = 1e-6;
            let Some(rj) = residual(&apply(&best, &delta)) else { return best };
            for i in 0..12 {
                jac[i][j] = (rj[i] - r[i]) / 1e-6;
            }
        }
        let mut jtj = [[0.0f64; 8]; 8];
        let mut jtr = [0.0f64; 8];
        for i in 0..12 {
            for a in 0..8 {
                jtr[a] -= jac[i][a] * r[i];
                for b in 0..8 {
                    jtj[a][b] += jac[i][a] * jac[i][b];
                }
            }
        }
        let mut improved = false;
        for _ in 0..8 {
            let mut damped = jtj;
            for (a, row) in damped.iter_mut().enumerate() {
                row[a] += lambda * (jtj[a][a] + 1e-12);
            }
            let Some(step) = solve_symmetric(damped, jtr) else { break };
            let candidate = apply(&best, &step);
            if let Some(rc) = residual(&candidate)
                && cost(&rc) < cost(&r)
            {
                (best, r, improved) = (candidate, rc, true);
                lambda = (lambda * 0.3).max(1e-9);
                break;
            }
            lambda *= 10.0;
        }
        if !improved {
            break;
        }
    }
    best
}

/// The mask's one clear hole (background enclosed by the object, at least 2 % of the filled
/// silhouette, every other enclosed hole under a tenth of it), when the filled silhouette is
/// convex; `None` otherwise.
fn ring_hole(mask: &Mask) -> Option<Mask> {
    let (w, h) = (mask.width(), mask.height());
    let (labels, areas) = mask.inverted().components();
    let mut touches = vec![false; areas.len()];
    for y in 0..h {
        for x in 0..w {
            if x == 0 || y == 0 || x + 1 == w || y + 1 == h {
                touches[labels[(y * w + x) as usize] as usize] = true;
            }
        }
    }
    let mut holes: Vec<(usize, u64)> =
        areas.iter().enumerate().skip(1).filter(|(l, _)| !touches[*l]).map(|(l, a)| (l, *a)).collect();
    holes.sort_by_key(|(_, a)| std::cmp::Reverse(*a));
    let &(label, area) = holes.first()?;
    let filled_area = mask.area() + holes.iter().map(|(_, a)| a).sum::<u64>();
    if (area as f64) < 0.02 * filled_area as f64 || holes.get(1).is_some_and(|(_, a)| *a * 10 > area) {
        return None;
    }
    let filled = Mask::from_fn(w, h, |x, y| {
        mask.get(x, y) || labels[(y * w + x) as usize] != 0 && !touches[labels[(y * w + x) as usize] as usize]
    });
    let hull = convex_hull(boundary_corners(&filled));
    if polygon_area(&hull) - filled.area() as f64 > polygon_perimeter(&hull) {
        return None;
    }
    Some(Mask::from_fn(w, h, |x, y| labels[(y * w + x) as usize] as usize == label))
}

/// Centroid and covariance of a mask's pixel centres, in normalised image coordinates.
fn moments(mask: &Mask, camera: &Camera) -> Option<(DVec2, [f64; 3])> {
    let (mut n, mut s, mut ss) = (0.0f64, DVec2::ZERO, [0.0f64; 3]);
    for y in 0..mask.height() {
        for x in 0..mask.width() {
            if mask.get(x, y) {
                let r = pixel_ray(camera, x, y);
                n += 1.0;
                s += r.truncate();
                ss[0] += r.x * r.x;
                ss[1] += r.x * r.y;
                ss[2] += r.y * r.y;
            }
        }
    }
    (n >= 3.0).then(|| {
        let m = s / n;
        (m, [ss[0] / n - m.x * m.x, ss[1] / n - m.x * m.y, ss[2] / n - m.y * m.y])
    })
}

/// Semi-axes (major, minor) of the filled ellipse with this covariance, and its minor axis.
fn ellipse_axes(cov: [f64; 3]) -> (f64, f64, DVec2) {
    let [a, b, c] = cov;
    let mean = 0.5 * (a + c);
    let spread = (0.25 * (a - c) * (a - c) + b * b).sqrt();
    let (big, small) = (mean + spread, (mean - spread).max(0.0));
    // Eigenvector of the smaller eigenvalue.
    let minor = if b.abs() > 1e-15 {
        DVec2::new(small - c, b).normalize()
    } else if a < c {
        DVec2::X
    } else {
        DVec2::Y
    };
    (2.0 * big.sqrt(), 2.0 * small.sqrt(), minor)
}

/// The ring whose silhouette under weak perspective at `depth` has the filled outline and the
/// hole of `mask`: the outline's and the hole's long semi-axes are `R + r` and `R − r`, their short
/// ones `R·cos θ ± r` (θ the ring's tilt, about the long axis); `mirrored` tilts the other way.
fn weak_perspective_torus(mask: &Mask, hole: &Mask, camera: &Camera, depth: f64, mirrored: bool) -> Option<Torus> {
    let filled = Mask::from_fn(mask.width(), mask.height(), |x, y| mask.get(x, y) || hole.get(x, y));
    let (centre, outer) = moments(&filled, camera)?;
    let (_, inner) = moments(hole, camera)?;
    let (a_out, b_out, minor_dir) = ellipse_axes(outer);
    let (a_in, b_in, _) = ellipse_axes(inner);
    let (major, minor) = ((a_out + a_in) * 0.5, (a_out - a_in) * 0.5);
    if minor <= 0.0 || major <= 0.0 {
        return None;
    }
    let cos_tilt = (((b_out - minor) / major + (b_in + minor) / major) * 0.5).clamp(0.05, 1.0);
    let sin_tilt = (1.0 - cos_tilt * cos_tilt).sqrt() * if mirrored { -1.0 } else { 1.0 };
    let axis = DVec3::new(minor_dir.x * sin_tilt, minor_dir.y * sin_tilt, -cos_tilt).normalize();
    Some(Torus {
        centre: DVec3::new(centre.x, centre.y, 1.0) * depth,
        axis,
        major: major * depth,
        minor: minor * depth,
    })
}

/// The mask sampled on a coarse grid over its bounding box (with a margin), in normalised image
/// coordinates: what a fitted silhouette is scored against.
struct Raster {
    /// Normalised coordinates of the first cell's centre, and the cell size.
    origin: DVec2,
    cell: DVec2,
    nx: usize,
    ny: usize,
    inside: Vec<bool>,
    area: usize,
}

impl Raster {
    fn new(mask: &Mask, camera: &Camera) -> Option<Self> {
        let [x0, y0, x1, y1] = mask.bbox()?;
        let (bw, bh) = (f64::from(x1 - x0 + 1), f64::from(y1 - y0 + 1));
        let cell = (bw.max(bh) * 1.2 / f64::from(RASTER_SIDE)).max(1.0);
        let (ox, oy) = (f64::from(x0) - 0.1 * bw, f64::from(y0) - 0.1 * bh);
        let (nx, ny) = ((bw * 1.2 / cell).ceil() as usize, (bh * 1.2 / cell).ceil() as usize);
        let mut inside = Vec::with_capacity(nx * ny);
        for j in 0..ny {
            for i in 0..nx {
                let (u, v) = (ox + (i as f64 + 0.5) * cell, oy + (j as f64 + 0.5) * cell);
                let hit = u >= 0.0
                    && v >= 0.0
                    && u < f64::from(mask.width())
                    && v < f64::from(mask.height())
                    && mask.get(u as u32, v as u32);
                inside.push(hit);
            }
        }
        let area = inside.iter().filter(|&&b| b).count();
        Some(Self {
            origin: DVec2::new((ox + 0.5 * cell - camera.cx) / camera.fx, (oy + 0.5 * cell - camera.cy) / camera.fy),
            cell: DVec2::new(cell / camera.fx, cell / camera.fy),
            nx,
            ny,
            inside,
            area,
        })
    }

    fn point(&self, i: usize, j: usize) -> DVec2 {
        self.origin + DVec2::new(i as f64, j as f64) * self.cell
    }

    /// The cell ranges covering the normalised box `lo..hi` (clamped to the grid).
    fn cells(&self, lo: DVec2, hi: DVec2) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let a = ((lo - self.origin) / self.cell).ceil().max(DVec2::ZERO);
        let b = ((hi - self.origin) / self.cell).floor() + DVec2::ONE;
        let clamp = |v: f64, n: usize| (v.max(0.0) as usize).min(n);
        (clamp(a.x, self.nx)..clamp(b.x, self.nx), clamp(a.y, self.ny)..clamp(b.y, self.ny))
    }

    /// IoU of the raster's mask with a silhouette given as the covered cells.
    fn iou_of(&self, covered: &[bool]) -> f64 {
        let (mut both, mut shape) = (0usize, 0usize);
        for (&s, &m) in covered.iter().zip(&self.inside) {
            both += usize::from(s && m);
            shape += usize::from(s);
        }
        let either = shape + self.area - both;
        if either == 0 { 0.0 } else { both as f64 / either as f64 }
    }

    /// IoU of the raster's mask with the silhouette of `cuboid`.
    fn iou_cuboid(&self, cuboid: &Cuboid) -> f64 {
        let corners = cuboid.corners();
        if corners.iter().any(|p| p.z <= 1e-9) {
            return 0.0;
        }
        let hull = convex_hull(corners.iter().map(|p| DVec2::new(p.x / p.z, p.y / p.z)).collect());
        let (lo, hi) = hull.iter().fold((DVec2::MAX, DVec2::MIN), |(a, b), p| (a.min(*p), b.max(*p)));
        let mut covered = vec![false; self.inside.len()];
        let (xs, ys) = self.cells(lo, hi);
        for j in ys {
            for i in xs.clone() {
                covered[j * self.nx + i] = inside_convex(&hull, self.point(i, j));
            }
        }
        self.iou_of(&covered)
    }

    /// IoU of the raster's mask with the silhouette of `torus`: the union of the discs its
    /// swept spheres (radius `minor`, centred on the core circle) project to.
    fn iou_torus(&self, torus: &Torus) -> f64 {
        let mut covered = vec![false; self.inside.len()];
        for c in torus.core_points(64) {
            if c.z <= torus.minor {
                return 0.0;
            }
            let (centre, radius) = (DVec2::new(c.x / c.z, c.y / c.z), torus.minor / c.z);
            let (xs, ys) = self.cells(centre - DVec2::splat(radius), centre + DVec2::splat(radius));
            for j in ys {
                for i in xs.clone() {
                    if self.point(i, j).distance_squared(centre) <= radius * radius {
                        covered[j * self.nx + i] = true;
                    }
                }
            }
        }
        self.iou_of(&covered)
    }
}

/// Coordinate descent over `n` parameters: `apply(x, k, step)` moves parameter `k`; steps start
/// at `step` and halve when no move improves `score`, down to 2e-3.
fn coordinate_descent<T: Copy>(
    start: T,
    n: usize,
    mut step: f64,
    apply: impl Fn(&T, usize, f64) -> T,
    score: impl Fn(&T) -> f64,
) -> (T, f64) {
    let mut best = (start, score(&start));
    for _ in 0..60 {
        let mut improved = false;
        for k in 0..n {
            for s in [step, -step] {
                let candidate = apply(&best.0, k, s);
                let value = score(&candidate);
                if value > best.1 {
                    best = (candidate, value);
                    improved = true;
                }
            }
        }
        if !improved {
            step *= 0.5;
            if step < 2e-3 {
                break;
            }
        }
    }
    best
}

/// Moves parameter `k` of a box by `step`: its turn about the camera's x, y, z axes (0–2), its log
/// edge lengths (3–5), its centre across the view (6, 7; in units of its longest half edge). Depth
/// is kept: the single-view scale.
fn apply_cuboid(c: &Cuboid, k: usize, step: f64) -> Cuboid {
    let size = c.half_axes.iter().map(|a| a.length()).fold(0.0, f64::max).max(1e-9);
    let mut out = *c;
    match k {
        0..=2 => {
            let turn = DMat3::from_axis_angle([DVec3::X, DVec3::Y, DVec3::Z][k], step);
            out.half_axes = c.half_axes.map(|a| turn * a);
        }
        3..=5 => out.half_axes[k - 3] = c.half_axes[k - 3] * step.exp(),
        6 => out.centre.x += step * size,
        _ => out.centre.y += step * size,
    }
    out
}

/// Moves parameter `k` of a ring by `step`: its axis turned about the camera's x and y axes (0,
/// 1), its log radii (2, 3), its centre across the view (4, 5; in units of its major radius).
fn apply_torus(t: &Torus, k: usize, step: f64) -> Torus {
    let mut out = *t;
    match k {
        0 | 1 => out.axis = (DMat3::from_axis_angle([DVec3::X, DVec3::Y][k], step) * t.axis).normalize(),
        2 => out.major = t.major * step.exp(),
        3 => out.minor = t.minor * step.exp(),
        4 => out.centre.x += step * t.major,
        _ => out.centre.y += step * t.major,
    }
    out
}

/// Luminance samples of the mask's interior (2 px in from the silhouette, whose pixels blend with
/// the background) and the photo's noise there: what a surface's shading is judged against.
///
/// [`Shading::unexplained`] is the share of the luminance variance the best low-order lighting of
/// a surface leaves unexplained, the noise discounted. The lighting is luminance as a second-order
/// spherical-harmonic function of the normal (nine coefficients: any distant lighting of a matte
/// surface to within a few per cent, Ramamoorthi & Hanrahan 2001, the terminator included) plus a
/// light at the camera (`n·v` and `(n·v)²`, `v` the pixel's view ray: a flash, or the viewer's
/// headlight), fitted by least squares. The noise variance is estimated from the same pixels (the
/// robust spread of each pixel's difference from its four neighbours' mean, which smooth shading
/// hardly changes) and taken out of both the residual and the total.
struct Shading {
    /// Pixel, its view ray (z = 1) and its luminance.
    samples: Vec<(u32, u32, DVec3, f64)>,
    noise_variance: f64,
}

impl Shading {
    /// At most about `max_samples` samples on a regular grid; `None` for fewer than 16.
    fn new(image: &Image, mask: &Mask, camera: &Camera, max_samples: usize) -> Option<Self> {
        let (w, h) = (mask.width(), mask.height());
        let stride = ((mask.area() as f64 / max_samples as f64).sqrt().floor() as usize).max(1);
        let inner = mask.distance_to_outside();
        let luminance = |x: u32, y: u32| {
            image.pixel(x, y).map(|[r, g, b]| 0.299 * f64::from(r) + 0.587 * f64::from(g) + 0.114 * f64::from(b))
        };
        let (mut samples, mut differences) = (Vec::new(), Vec::new());
        for y in (0..h).step_by(stride) {
            for x in (0..w).step_by(stride) {
                if inner[(y * w + x) as usize] < 2.5 {
                    continue;
                }
                let Some(l) = luminance(x, y) else { continue };
                // Interior pixels 2.5 px in have their four neighbours inside the mask.
                if let (Some(a), Some(b), Some(c), Some(d)) =
                    (luminance(x - 1, y), luminance(x + 1, y), luminance(x, y - 1), luminance(x, y + 1))
                {
                    differences.push(l - 0.25 * (a + b + c + d));
                }
                samples.push((x, y, pixel_ray(camera, x, y), l));
            }
        }
        // iid noise of variance σ² gives these differences a variance of 1.25 σ².
        let noise_variance = median_absolute(&mut differences).map_or(0.0, |mad| (1.4826 * mad).powi(2) / 1.25);
        (samples.len() >= 16).then_some(Self { samples, noise_variance })
    }

    /// The share of the variance the surface with normals `normal_at(x, y, ray)` leaves
    /// unexplained; `None` when it covers under 90 % of the samples.
    fn unexplained(&self, normal_at: impl Fn(u32, u32, DVec3) -> Option<DVec3>) -> Option<f64> {
        let mut lit: Vec<([f64; LIGHT_TERMS], f64)> = Vec::with_capacity(self.samples.len());
        for &(x, y, ray, l) in &self.samples {
            if let Some(normal) = normal_at(x, y, ray) {
                lit.push((light_basis(normal, ray.normalize()), l));
            }
        }
        if (lit.len() as f64) < 0.9 * self.samples.len() as f64 {
            return None;
        }
        // Least squares over every pixel. (Refitting without the worst-fitting fifth, so that a
        // label would not decide, was tried: it let a ring's wrong pose win under noise.)
        let lighting = fit_lighting(&lit, |_| true)?;
        let n = lit.len() as f64;
        let mean = lit.iter().map(|(_, l)| l).sum::<f64>() / n;
        let (mut total, mut residual) = (-n * self.noise_variance, -n * self.noise_variance);
        for (basis, l) in &lit {
            total += (l - mean).powi(2);
            residual += (l - shade(basis, &lighting)).powi(2);
        }
        if total <= 1e-9 * n {
            // One even tone under the noise: nothing to explain, nothing to tell the poses apart.
            return Some(0.0);
        }
        Some((residual / total).max(0.0))
    }
}

/// The lighting (least squares, ridge-damped) over the samples `keep` selects; `None` when the
/// system is singular.
fn fit_lighting(lit: &[([f64; LIGHT_TERMS], f64)], keep: impl Fn(usize) -> bool) -> Option<[f64; LIGHT_TERMS]> {
    let mut normal_eq = [[0.0f64; LIGHT_TERMS]; LIGHT_TERMS];
    let mut rhs = [0.0f64; LIGHT_TERMS];
    let mut n = 0.0;
    for (k, (basis, l)) in lit.iter().enumerate() {
        if !keep(k) {
            continue;
        }
        n += 1.0;
        for i in 0..LIGHT_TERMS {
            rhs[i] += basis[i] * l;
            for j in i..LIGHT_TERMS {
                normal_eq[i][j] += basis[i] * basis[j];
            }
        }
    }
    // Ridge-damped (a pose showing a few flat faces cannot fix every coefficient), and the lower
    // triangle mirrored from the upper.
    let normal_eq: [[f64; LIGHT_TERMS]; LIGHT_TERMS] = std::array::from_fn(|i| {
        std::array::from_fn(|j| if i == j { normal_eq[i][i] + 1e-6 * n } else { normal_eq[i.min(j)][i.max(j)] })
    });
    solve_symmetric(normal_eq, rhs)
}

/// The luminance the lighting gives a pixel with these terms.
fn shade(basis: &[f64; LIGHT_TERMS], lighting: &[f64; LIGHT_TERMS]) -> f64 {
    basis.iter().zip(lighting).map(|(b, c)| b * c).sum()
}

/// The median of the absolute values (reorders `values`); `None` when empty.
fn median_absolute(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.iter_mut().for_each(|v| *v = v.abs());
    let mid = values.len() / 2;
    Some(*values.select_nth_unstable_by(mid, f64::total_cmp).1)
}

/// Terms of the lighting model: second-order spherical harmonics and a light at the camera.
const LIGHT_TERMS: usize = 11;

/// The lighting model's terms at the unit normal `n` seen along the unit view ray `v`: the real
/// spherical harmonics up to second order (constant factors dropped: least squares absorbs them),
/// then `−n·v` and its square (a light at the camera).
fn light_basis(n: DVec3, v: DVec3) -> [f64; LIGHT_TERMS] {
    let facing = -n.dot(v);
    [
        1.0,
        n.x,
        n.y,
        n.z,
        n.x * n.y,
        n.x * n.z,
        n.y * n.z,
        n.x * n.x - n.y * n.y,
        3.0 * n.z * n.z - 1.0,
        facing,
        facing * facing,
    ]
}

/// Solves the symmetric positive-definite system `a·x = b` (Cholesky); `None` when it is not.
fn solve_symmetric<const N: usize>(a: [[f64; N]; N], b: [f64; N]) -> Option<[f64; N]> {
    let mut l = [[0.0f64; N]; N];
    for i in 0..N {
        for j in 0..=i {
            let s: f64 = a[i][j] - (0..j).map(|k| l[i][k] * l[j][k]).sum::<f64>();
            if i == j {
                if s <= 0.0 {
                    return None;
                }
                l[i][i] = s.sqrt();
            } else {
                l[i][j] = s / l[j][j];
            }
        }
    }
    let mut y = [0.0f64; N];
    for i in 0..N {
        y[i] = (b[i] - (0..i).map(|k| l[i][k] * y[k]).sum::<f64>()) / l[i][i];
    }
    let mut x = [0.0f64; N];
    for i in (0..N).rev() {
        x[i] = (y[i] - (i + 1..N).map(|k| l[k][i] * x[k]).sum::<f64>()) / l[i][i];
    }
    Some(x)
}

/// Convex hull (counter-clockwise in image axes, y down: clockwise on screen), Andrew's monotone chain.
fn convex_hull(mut points: Vec<DVec2>) -> Vec<DVec2> {
    points.sort_by(|a, b| a.x.total_cmp(&b.x).then(a.y.total_cmp(&b.y)));
    points.dedup();
    if points.len() < 3 {
        return points;
    }
    let cross = |o: DVec2, a: DVec2, b: DVec2| (a - o).perp_dot(b - o);
    let mut hull: Vec<DVec2> = Vec::with_capacity(points.len() * 2);
    for pass in 0..2 {
        let start = hull.len();
        let iter: Box<dyn Iterator<Item = &DVec2>> =
            if pass == 0 { Box::new(points.iter()) } else { Box::new(points.iter().rev()) };
        for &p in iter {
            while hull.len() >= start + 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0 {
                hull.pop();
            }
            hull.push(p);
        }
        hull.pop();
    }
    hull
}

/// Area of a simple polygon (absolute).
fn polygon_area(polygon: &[DVec2]) -> f64 {
    let n = polygon.len();
    (0..n).map(|i| polygon[i].perp_dot(polygon[(i + 1) % n])).sum::<f64>().abs() * 0.5
}

/// Perimeter of a closed polygon.
fn polygon_perimeter(polygon: &[DVec2]) -> f64 {
    let n = polygon.len();
    (0..n).map(|i| polygon[i].distance(polygon[(i + 1) % n])).sum()
}

/// Drops, one at a time, the corner whose triangle with its neighbours is smallest
/// (Visvalingam–Whyatt) until `keep` corners remain.
fn reduce_polygon(mut polygon: Vec<DVec2>, keep: usize) -> Vec<DVec2> {
    while polygon.len() > keep {
        let n = polygon.len();
        let weight = |i: usize| {
            let (a, b, c) = (polygon[(i + n - 1) % n], polygon[i], polygon[(i + 1) % n]);
            (b - a).perp_dot(c - a).abs()
        };
        let Some(smallest) = (0..n).min_by(|&i, &j| weight(i).total_cmp(&weight(j))) else { break };
        polygon.remove(smallest);
    }
    polygon
}

/// True when `p` lies inside the convex polygon `hull` (from [`convex_hull`]).
fn inside_convex(hull: &[DVec2], p: DVec2) -> bool {
    let n = hull.len();
    (0..n).all(|i| (hull[(i + 1) % n] - hull[i]).perp_dot(p - hull[i]) >= 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rays_enter_a_box_through_the_face_they_meet() {
        let cuboid = Cuboid { centre: DVec3::new(0.0, 0.0, 5.0), half_axes: [DVec3::X, DVec3::Y, DVec3::Z * 0.5] };
        let (t_in, t_out, normal) = cuboid.ray_span(DVec3::Z).expect("hits");
        assert!((t_in - 4.5).abs() < 1e-12 && (t_out - 5.5).abs() < 1e-12);
        assert_eq!(normal, -DVec3::Z);
        assert!(cuboid.ray_span(DVec3::new(1.0, 0.0, 1.0)).is_none());
    }

    #[test]
    fn three_orthogonal_edges_are_recovered_from_their_images() {
        // A box far away, where weak perspective is all but exact; turn and sizes known.
        let turn = DMat3::from_euler(glam::EulerRot::YXZ, 0.6, 0.4, 0.2);
        let depth = 400.0;
        let truth = Cuboid {
            centre: DVec3::new(0.0, 0.0, depth),
            half_axes: [turn * DVec3::X * 2.0, turn * DVec3::Y * 1.25, turn * DVec3::Z * 0.75],
        };
        let hull = convex_hull(truth.corners().iter().map(|p| DVec2::new(p.x / p.z, p.y / p.z)).collect());
        let hexagon: [DVec2; 6] = hull.try_into().expect("a box showing three faces has a hexagon silhouette");
        let same_edges = |c: &Cuboid| {
            truth
                .half_axes
                .iter()
                .all(|t| c.half_axes.iter().any(|a| (*a - *t).length().min((*a + *t).length()) < 0.03 * t.length()))
        };
        let poses = [false, true].map(|mirrored| weak_perspective_cuboid(&hexagon, depth, mirrored).expect("a box"));
        assert_eq!(poses.iter().filter(|c| same_edges(c)).count(), 1, "{poses:?} vs {truth:?}");
        // The mirror pose has the same silhouette (the Necker reversal).
        for c in &poses {
            assert!((c.centre - truth.centre).length() < 0.01, "{:?}", c.centre);
        }
    }

    #[test]
    fn rays_through_a_ring_enter_its_tube_or_pass_its_hole() {
        let ring = Torus { centre: DVec3::new(-1.0, 0.0, 5.0), axis: DVec3::Z, major: 1.0, minor: 0.25 };
        // The optical axis crosses the ring's core circle at (0, 0, 5).
        let (t_in, t_out, normal) = ring.ray_span(DVec3::Z).expect("through the tube");
        assert!((t_in - 4.75).abs() < 1e-3 && (t_out - 5.25).abs() < 1e-3, "{t_in} {t_out}");
        assert!((normal + DVec3::Z).length() < 1e-3, "{normal}");
        let centred = Torus { centre: DVec3::new(0.0, 0.0, 5.0), ..ring };
        assert!(centred.ray_span(DVec3::Z).is_none(), "the hole");
        assert!(centred.signed_distance(DVec3::new(1.0, 0.0, 5.0)) < 0.0);
        assert!(centred.signed_distance(DVec3::new(0.0, 0.0, 5.0)) > 0.0);
    }

    #[test]
    fn cholesky_solves_a_small_system() {
        let x = solve_symmetric([[4.0, 2.0], [2.0, 3.0]], [2.0, 5.0]).expect("positive definite");
        assert!((x[0] + 0.5).abs() < 1e-12 && (x[1] - 2.0).abs() < 1e-12, "{x:?}");
        assert!(solve_symmetric([[1.0, 2.0], [2.0, 1.0]], [1.0, 1.0]).is_none());
    }

    #[test]
    fn the_hull_of_a_square_grid_is_its_four_corners() {
        let points = (0..5).flat_map(|x| (0..5).map(move |y| DVec2::new(f64::from(x), f64::from(y)))).collect();
        let hull = convex_hull(points);
        assert_eq!(hull.len(), 4);
        assert!((polygon_area(&hull) - 16.0).abs() < 1e-12);
        assert!(inside_convex(&hull, DVec2::new(2.0, 2.0)) && !inside_convex(&hull, DVec2::new(5.0, 2.0)));
    }
}

//! Geometry shared by the pipeline steps, the file formats and the renderer: triangle meshes,
//! line sets, point clouds and 3D Gaussian splats, all in one world frame (f32, metres or
//! whatever unit the source uses).

use glam::{Mat3, Quat, Vec3};

/// An axis-aligned box.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bounds {
    pub min: Vec3,
    pub max: Vec3,
}

impl Bounds {
    /// The box around `points`, or `None` when there is no finite point.
    pub fn of_points<'a>(points: impl IntoIterator<Item = &'a [f32; 3]>) -> Option<Self> {
        let mut b: Option<Bounds> = None;
        for p in points {
            let v = Vec3::from_array(*p);
            if !v.is_finite() {
                continue;
            }
            b = Some(match b {
                None => Bounds { min: v, max: v },
                Some(b) => Bounds { min: b.min.min(v), max: b.max.max(v) },
            });
        }
        b
    }

    pub fn union(self, other: Bounds) -> Bounds {
        Bounds { min: self.min.min(other.min), max: self.max.max(other.max) }
    }

    pub fn center(&self) -> Vec3 {
        (self.min + self.max) * 0.5
    }

    /// Radius of the bounding sphere around the centre.
    pub fn radius(&self) -> f32 {
        (self.max - self.min).length() * 0.5
    }
}

/// A triangle mesh. `normals` and `colors` are per vertex when present.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Mesh {
    pub positions: Vec<[f32; 3]>,
    pub normals: Option<Vec<[f32; 3]>>,
    /// Linear 0..1 RGBA per vertex.
    pub colors: Option<Vec<[f32; 4]>>,
    /// Triangles, counter-clockwise seen from outside.
    pub indices: Vec<u32>,
}

impl Mesh {
    pub fn triangle_count(&self) -> usize {
        self.indices.len() / 3
    }

    /// Area-weighted vertex normals.
    pub fn compute_normals(&self) -> Vec<[f32; 3]> {
        let mut normals = vec![Vec3::ZERO; self.positions.len()];
        for tri in self.indices.chunks_exact(3) {
            let [a, b, c] = [tri[0] as usize, tri[1] as usize, tri[2] as usize];
            if a >= normals.len() || b >= normals.len() || c >= normals.len() {
                continue;
            }
            let (pa, pb, pc) = (
                Vec3::from_array(self.positions[a]),
                Vec3::from_array(self.positions[b]),
                Vec3::from_array(self.positions[c]),
            );
            let n = (pb - pa).cross(pc - pa);
            normals[a] += n;
            normals[b] += n;
            normals[c] += n;
        }
        normals.iter().map(|n| n.normalize_or(Vec3::Y).to_array()).collect()
    }

    pub fn bounds(&self) -> Option<Bounds> {
        Bounds::of_points(&self.positions)
    }

    /// Checks that indices are in range and positions finite; the error says what is wrong.
    pub fn validate(&self) -> Result<(), GeometryError> {
        if self.positions.is_empty() {
            return Err(GeometryError("the mesh has no vertices".into()));
        }
        if !self.indices.len().is_multiple_of(3) {
            return Err(GeometryError(format!("{} indices is not a whole number of triangles", self.indices.len())));
        }
        let n = self.positions.len() as u32;
        if let Some(bad) = self.indices.iter().find(|&&i| i >= n) {
            return Err(GeometryError(format!("triangle index {bad} is out of range ({n} vertices)")));
        }
        if let Some(i) = self.positions.iter().position(|p| !p.iter().all(|v| v.is_finite())) {
            return Err(GeometryError(format!("vertex {i} has a non-finite coordinate")));
        }
        for (name, len) in
            [("normals", self.normals.as_ref().map(Vec::len)), ("colors", self.colors.as_ref().map(Vec::len))]
        {
            if let Some(len) = len
                && len != self.positions.len()
            {
                return Err(GeometryError(format!("{len} {name} for {} vertices", self.positions.len())));
            }
        }
        Ok(())
    }
}

/// Line segments (pairs of points) with a colour per point.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LineSet {
    pub positions: Vec<[f32; 3]>,
    pub colors: Vec<[f32; 4]>,
}

impl LineSet {
    pub fn push(&mut self, a: [f32; 3], b: [f32; 3], color: [f32; 4]) {
        self.positions.extend([a, b]);
        self.colors.extend([color, color]);
    }
}

/// What is wrong with a mesh or a splat set (which vertex, which splat, which array).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct GeometryError(pub String);

/// File readers report geometry problems inside their own message.
impl From<GeometryError> for String {
    fn from(e: GeometryError) -> String {
        e.0
    }
}

/// One drawable thing read from a file: splats, a triangle mesh or a point cloud.
#[derive(Clone, Debug, PartialEq)]
pub enum Geometry {
    Splats(Splats),
    Mesh(Mesh),
    Points(PointCloud),
}

/// Points with a colour each, drawn `size_px` pixels wide.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PointCloud {
    pub positions: Vec<[f32; 3]>,
    pub colors: Vec<[f32; 4]>,
    pub size_px: f32,
}

/// Degree-0 spherical-harmonic constant: colour = 0.5 + SH_C0 · f_dc.
pub const SH_C0: f32 = 0.282_094_8;

/// 3D Gaussian splats (the 3DGS representation, activated values).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Splats {
    pub positions: Vec<[f32; 3]>,
    /// Standard deviations along the local axes (already `exp`'d).
    pub scales: Vec<[f32; 3]>,
    /// Unit quaternions, `[w, x, y, z]`.
    pub rotations: Vec<[f32; 4]>,
    /// 0..1 (already sigmoid-ed).
    pub opacities: Vec<f32>,
    /// Spherical-harmonic degree, 0..=3.
    pub sh_degree: u8,
    /// Per splat `(degree + 1)²` coefficients × RGB, coefficient-major: `[c0.r, c0.g, c0.b, c1.r, …]`.
    pub sh: Vec<f32>,
}

impl Splats {
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// Coefficients per colour channel.
    pub fn sh_coeffs(&self) -> usize {
        (self.sh_degree as usize + 1).pow(2)
    }

    /// Bounds of the splats' 3σ extents.
    pub fn bounds(&self) -> Option<Bounds> {
        let centres = Bounds::of_points(&self.positions)?;
        let pad = self
            .scales
            .iter()
            .map(|s| s.iter().fold(0.0f32, |a, &b| a.max(b)))
            .filter(|v| v.is_finite())
            .fold(0.0f32, f32::max)
            * 3.0;
        Some(Bounds { min: centres.min - Vec3::splat(pad), max: centres.max + Vec3::splat(pad) })
    }

    /// A splat of one colour (degree 0).
    pub fn push_rgb(&mut self, position: [f32; 3], scale: [f32; 3], rotation: [f32; 4], opacity: f32, rgb: [f32; 3]) {
        assert_eq!(self.sh_degree, 0, "push_rgb builds degree-0 splats");
        self.positions.push(position);
        self.scales.push(scale);
        self.rotations.push(rotation);
        self.opacities.push(opacity);
        self.sh.extend(rgb.map(|c| (c - 0.5) / SH_C0));
    }

    /// World-space covariance Σ = R S Sᵀ Rᵀ of splat `i`, upper triangle `[xx, xy, xz, yy, yz, zz]`.
    pub fn covariance(&self, i: usize) -> [f32; 6] {
        let [w, x, y, z] = self.rotations[i];
        let r = Mat3::from_quat(Quat::from_xyzw(x, y, z, w).normalize());
        let s = Mat3::from_diagonal(Vec3::from_array(self.scales[i]));
        let m = r * s;
        let c = m * m.transpose();
        [c.x_axis.x, c.y_axis.x, c.z_axis.x, c.y_axis.y, c.z_axis.y, c.z_axis.z]
    }

    /// Checks lengths agree and values are usable; the error says which splat is bad.
    pub fn validate(&self) -> Result<(), GeometryError> {
        let n = self.len();
        if n == 0 {
            return Err(GeometryError("there are no splats".into()));
        }
        if self.scales.len() != n
            || self.rotations.len() != n
            || self.opacities.len() != n
            || self.sh.len() != n * self.sh_coeffs() * 3
        {
            return Err(GeometryError("splat attribute arrays have different lengths".into()));
        }
        if self.sh_degree > 3 {
            return Err(GeometryError(format!("SH degree {} is above 3", self.sh_degree)));
        }
        use rayon::prelude::*;
        // Chunked: one parallel task per 64k splats, a plain loop inside.
        let is_bad = |i: usize| {
            !self.positions[i].iter().all(|v| v.is_finite())
                || !self.scales[i].iter().all(|v| v.is_finite() && *v > 0.0)
                || !self.rotations[i].iter().all(|v| v.is_finite())
                || self.rotations[i].iter().all(|v| *v == 0.0)
                || !self.opacities[i].is_finite()
        };
        const CHUNK: usize = 1 << 16;
        let bad = (0..n.div_ceil(CHUNK))
            .into_par_iter()
            .filter_map(|c| (c * CHUNK..((c + 1) * CHUNK).min(n)).find(|&i| is_bad(i)))
            .min();
        if let Some(i) = bad {
            if !self.positions[i].iter().all(|v| v.is_finite()) {
                return Err(GeometryError(format!("splat {i} has a non-finite position")));
            }
            if !self.scales[i].iter().all(|v| v.is_finite() && *v > 0.0) {
                return Err(GeometryError(format!("splat {i} has a zero, negative or NaN scale {:?}", self.scales[i])));
            }
            if !self.opacities[i].is_finite() {
                return Err(GeometryError(format!("splat {i} has a NaN opacity")));
            }
            return Err(GeometryError(format!("splat {i} has an invalid rotation {:?}", self.rotations[i])));
        }
        let bad_sh = self
            .sh
            .par_chunks(1 << 18)
            .enumerate()
            .filter_map(|(c, chunk)| chunk.iter().position(|v| !v.is_finite()).map(|i| c * (1 << 18) + i))
            .min();
        if let Some(i) = bad_sh {
            return Err(GeometryError(format!("splat {} has a NaN colour coefficient", i / (self.sh_coeffs() * 3))));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covariance_of_a_rotated_ellipsoid() {
        let mut s = Splats::default();
        // 90° about z: the x extent becomes a y extent.
        let half = std::f32::consts::FRAC_1_SQRT_2;
        s.push_rgb([0.0; 3], [2.0, 1.0, 0.5], [half, 0.0, 0.0, half], 1.0, [1.0, 0.0, 0.0]);
        let c = s.covariance(0);
        assert!((c[0] - 1.0).abs() < 1e-5 && (c[3] - 4.0).abs() < 1e-5 && (c[5] - 0.25).abs() < 1e-5, "{c:?}");
        assert!(s.validate().is_ok());
        s.scales[0][1] = 0.0;
        assert!(s.validate().unwrap_err().0.contains("splat 0"));
    }

    #[test]
    fn normals_of_a_triangle() {
        let mesh = Mesh {
            positions: vec![[0.0; 3], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
            indices: vec![0, 1, 2],
            ..Default::default()
        };
        assert_eq!(mesh.compute_normals()[0], [0.0, 0.0, 1.0]);
        assert!(mesh.validate().is_ok());
        let bad = Mesh { indices: vec![0, 1, 7], ..mesh };
        assert!(bad.validate().unwrap_err().0.contains("out of range"));
    }
}

impl LineSet {
    /// A square ground grid of `cells`×`cells` cells of `cell` size, centred at `centre`, in the
    /// plane perpendicular to `up` (±Y or ±Z).
    pub fn grid(centre: [f32; 3], cell: f32, cells: u32, up: Vec3, color: [f32; 4]) -> Self {
        let up = up.normalize_or(Vec3::Y);
        let a = if up.dot(Vec3::X).abs() < 0.9 { up.cross(Vec3::X).normalize() } else { up.cross(Vec3::Z).normalize() };
        let b = up.cross(a);
        let c = Vec3::from_array(centre);
        let half = cells as f32 * cell / 2.0;
        let mut lines = LineSet::default();
        for i in 0..=cells {
            let t = -half + i as f32 * cell;
            lines.push((c + a * t - b * half).to_array(), (c + a * t + b * half).to_array(), color);
            lines.push((c - a * half + b * t).to_array(), (c + a * half + b * t).to_array(), color);
        }
        lines
    }

    /// X, Y, Z axes in red, green, blue, `length` long, from `origin`.
    pub fn axes(origin: [f32; 3], length: f32) -> Self {
        let o = Vec3::from_array(origin);
        let mut lines = LineSet::default();
        for (axis, color) in
            [(Vec3::X, [1.0, 0.2, 0.2, 1.0]), (Vec3::Y, [0.2, 1.0, 0.2, 1.0]), (Vec3::Z, [0.3, 0.4, 1.0, 1.0])]
        {
            lines.push(o.to_array(), (o + axis * length).to_array(), color);
        }
        lines
    }

    /// The frustum of `camera` out to `depth` (apex at the camera centre, image corners at depth).
    pub fn frustum(camera: &crate::core::camera::Camera, depth: f64, color: [f32; 4]) -> Self {
        let (w, h) = (f64::from(camera.width), f64::from(camera.height));
        let apex = camera.position_world().as_vec3().to_array();
        let corners: Vec<[f32; 3]> = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)]
            .iter()
            .map(|&(u, v)| camera.unproject(u, v, depth).as_vec3().to_array())
            .collect();
        let mut lines = LineSet::default();
        for i in 0..4 {
            lines.push(apex, corners[i], color);
            lines.push(corners[i], corners[(i + 1) % 4], color);
        }
        lines
    }

    /// Bones from each joint to its parent (`parents[i] < 0` for roots).
    pub fn skeleton(joints: &[[f32; 3]], parents: &[i32], color: [f32; 4]) -> Self {
        let mut lines = LineSet::default();
        for (i, &p) in parents.iter().enumerate() {
            if let (Ok(p), Some(&a)) = (usize::try_from(p), joints.get(i))
                && let Some(&b) = joints.get(p)
            {
                lines.push(a, b, color);
            }
        }
        lines
    }
}

/// The visible surface of a voxel grid as a triangle mesh: one quad per face between an
/// occupied voxel and an empty one (or the grid border), coloured by its voxel. Voxel `(x, y, z)`
/// spans `origin + [x, x+1] · voxel_size` (and so on). `colour(x, y, z)` is `None` when empty.
pub fn voxel_surface(
    dims: [usize; 3],
    origin: [f32; 3],
    voxel_size: f32,
    colour: impl Fn(usize, usize, usize) -> Option<[f32; 4]>,
) -> Mesh {
    let mut mesh = Mesh { colors: Some(Vec::new()), normals: Some(Vec::new()), ..Default::default() };
    let occupied = |x: i64, y: i64, z: i64| {
        x >= 0
            && y >= 0
            && z >= 0
            && (x as usize) < dims[0]
            && (y as usize) < dims[1]
            && (z as usize) < dims[2]
            && colour(x as usize, y as usize, z as usize).is_some()
    };
    let o = Vec3::from_array(origin);
    // Each face: normal and the 4 corners (unit cube offsets), counter-clockwise from outside.
    const FACES: [([i64; 3], [[f32; 3]; 4]); 6] = [
        ([1, 0, 0], [[1., 0., 0.], [1., 1., 0.], [1., 1., 1.], [1., 0., 1.]]),
        ([-1, 0, 0], [[0., 0., 0.], [0., 0., 1.], [0., 1., 1.], [0., 1., 0.]]),
        ([0, 1, 0], [[0., 1., 0.], [0., 1., 1.], [1., 1., 1.], [1., 1., 0.]]),
        ([0, -1, 0], [[0., 0., 0.], [1., 0., 0.], [1., 0., 1.], [0., 0., 1.]]),
        ([0, 0, 1], [[0., 0., 1.], [1., 0., 1.], [1., 1., 1.], [0., 1., 1.]]),
        ([0, 0, -1], [[0., 0., 0.], [0., 1., 0.], [1., 1., 0.], [1., 0., 0.]]),
    ];
    for z in 0..dims[2] {
        for y in 0..dims[1] {
            for x in 0..dims[0] {
                let Some(c) = colour(x, y, z) else { continue };
                for (n, corners) in &FACES {
                    if occupied(x as i64 + n[0], y as i64 + n[1], z as i64 + n[2]) {
                        continue;
                    }
                    let base = mesh.positions.len() as u32;
                    for corner in corners {
                        let p = o + (Vec3::new(x as f32, y as f32, z as f32) + Vec3::from_array(*corner)) * voxel_size;
                        mesh.positions.push(p.to_array());
                        mesh.normals.get_or_insert_default().push([n[0] as f32, n[1] as f32, n[2] as f32]);
                        mesh.colors.get_or_insert_default().push(c);
                    }
                    mesh.indices.extend([base, base + 1, base + 2, base, base + 2, base + 3]);
                }
            }
        }
    }
    mesh
}

#[cfg(test)]
mod voxel_tests {
    use super::*;

    #[test]
    fn voxel_surface_keeps_only_exposed_faces() {
        // A 2×2×2 solid block: 6 sides × 4 faces exposed, nothing inside.
        let mesh = voxel_surface([2, 2, 2], [0.0; 3], 0.5, |_, _, _| Some([1.0; 4]));
        assert_eq!(mesh.triangle_count(), 6 * 4 * 2);
        assert!(mesh.validate().is_ok());
        let b = mesh.bounds().unwrap();
        assert_eq!((b.min, b.max), (Vec3::ZERO, Vec3::ONE));
        // Normals point outwards: the face at x = 1 has normal +x.
        let n = mesh.normals.as_ref().unwrap();
        assert!(mesh.positions.iter().zip(n).all(|(p, n)| n[0] <= 0.0 || p[0] == 1.0));
        assert_eq!(voxel_surface([3, 3, 3], [0.0; 3], 1.0, |_, _, _| None).triangle_count(), 0);
    }

    #[test]
    fn line_helpers() {
        assert_eq!(LineSet::grid([0.0; 3], 1.0, 4, Vec3::Y, [1.0; 4]).positions.len(), 2 * 2 * 5);
        assert_eq!(
            LineSet::skeleton(&[[0.0; 3], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]], &[-1, 0, 1], [1.0; 4]).positions.len(),
            4
        );
        let cam = crate::core::camera::Camera::from_fov_y(64, 48, 1.0).unwrap();
        assert_eq!(LineSet::frustum(&cam, 2.0, [1.0; 4]).positions.len(), 16);
    }
}

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
    pub fn validate(&self) -> Result<(), String> {
        if self.positions.is_empty() {
            return Err("the mesh has no vertices".into());
        }
        if !self.indices.len().is_multiple_of(3) {
            return Err(format!("{} indices is not a whole number of triangles", self.indices.len()));
        }
        let n = self.positions.len() as u32;
        if let Some(bad) = self.indices.iter().find(|&&i| i >= n) {
            return Err(format!("triangle index {bad} is out of range ({n} vertices)"));
        }
        if let Some(i) = self.positions.iter().position(|p| !p.iter().all(|v| v.is_finite())) {
            return Err(format!("vertex {i} has a non-finite coordinate"));
        }
        for (name, len) in
            [("normals", self.normals.as_ref().map(Vec::len)), ("colors", self.colors.as_ref().map(Vec::len))]
        {
            if let Some(len) = len
                && len != self.positions.len()
            {
                return Err(format!("{len} {name} for {} vertices", self.positions.len()));
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
    pub fn validate(&self) -> Result<(), String> {
        let n = self.len();
        if n == 0 {
            return Err("there are no splats".into());
        }
        if self.scales.len() != n
            || self.rotations.len() != n
            || self.opacities.len() != n
            || self.sh.len() != n * self.sh_coeffs() * 3
        {
            return Err("splat attribute arrays have different lengths".into());
        }
        if self.sh_degree > 3 {
            return Err(format!("SH degree {} is above 3", self.sh_degree));
        }
        for i in 0..n {
            if !self.positions[i].iter().all(|v| v.is_finite()) {
                return Err(format!("splat {i} has a non-finite position"));
            }
            if !self.scales[i].iter().all(|v| v.is_finite() && *v > 0.0) {
                return Err(format!("splat {i} has a zero, negative or NaN scale {:?}", self.scales[i]));
            }
            if !self.rotations[i].iter().all(|v| v.is_finite()) || self.rotations[i].iter().all(|v| *v == 0.0) {
                return Err(format!("splat {i} has an invalid rotation {:?}", self.rotations[i]));
            }
            if !self.opacities[i].is_finite() {
                return Err(format!("splat {i} has a NaN opacity"));
            }
        }
        if let Some(i) = self.sh.iter().position(|v| !v.is_finite()) {
            return Err(format!("splat {} has a NaN colour coefficient", i / (self.sh_coeffs() * 3)));
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
        assert!(s.validate().unwrap_err().contains("splat 0"));
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
        assert!(bad.validate().unwrap_err().contains("out of range"));
    }
}

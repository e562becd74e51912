//! The rig: an MHR-layout body model held in memory, read from and written to Carve's rig file
//! (`.rig.safetensors`, documented in `docs/RIG_FORMAT.md`), and resampled to any LOD.
//!
//! Conventions follow Momentum/MHR: 7 parameters per joint (tx, ty, tz, rx, ry, rz, log2 scale);
//! a joint's local rotation is `pre_rotation · Rz(rz) · Ry(ry) · Rx(rx)`; a child's translation is
//! scaled by its parent's accumulated scale; skinning is linear blend skinning of the rest mesh
//! (after blendshapes and pose correctives) with `world_from_joint · joint_from_bind` per joint.

use std::path::Path;

use glam::{Mat3, Mat4, Quat, Vec3};

use super::BodyError;
use super::lod::LodMap;

/// Joint parameters per joint: translation (3), Euler rotation (3, radians), log2 scale (1).
pub const JOINT_PARAMS: usize = 7;
/// The most skin influences a vertex may have.
pub const MAX_INFLUENCES: usize = 8;
/// Pose corrective features per feature joint (first two columns of R − I).
pub const CORRECTIVE_FEATURES: usize = 6;
/// The rig file's `format` metadata value.
pub const FORMAT: &str = "carve-rig";
pub const FORMAT_VERSION: u32 = 1;

/// Pose correctives: `offsets = W1 · relu(W0 · features)`, added to the rest mesh before skinning.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Correctives {
    /// The joints whose rotations feed the features, 6 features each.
    pub joints: Vec<u32>,
    /// First layer, `[hidden, joints·6]` row-major, stored sparse: (row, col, value).
    pub w0: Vec<(u32, u32, f32)>,
    pub hidden: usize,
    /// Second layer, `[hidden, V·3]` row-major (one vertex-offset field per hidden unit).
    pub w1: Vec<f32>,
}

/// A LOD of the rig that is not its base mesh: vertices by barycentric map from the base mesh.
#[derive(Clone, Debug, PartialEq)]
pub struct LodEntry {
    pub lod: usize,
    pub map: LodMap,
    pub triangles: Vec<[u32; 3]>,
}

/// A body rig (see the module doc for the conventions).
#[derive(Clone, Debug, PartialEq)]
pub struct Rig {
    pub name: String,
    /// Metres per model unit (MHR: 0.01, centimetres).
    pub metres_per_unit: f32,
    pub joint_names: Vec<String>,
    /// Parent of each joint (`-1` for a root); parents come before children.
    pub parents: Vec<i32>,
    pub joint_offsets: Vec<[f32; 3]>,
    /// xyzw quaternions.
    pub joint_pre_rotations: Vec<[f32; 4]>,
    pub parameter_names: Vec<String>,
    /// Named groups of model parameters (for sliders), in order.
    pub parameter_groups: Vec<(String, Vec<u32>)>,
    /// Plausible range per model parameter (fitting keeps poses inside).
    pub parameter_limits: Vec<[f32; 2]>,
    /// `[joints·7, parameters]` row-major.
    pub parameter_transform: Vec<f32>,
    /// `[joints·7]`.
    pub parameter_offsets: Vec<f32>,
    /// The LOD number of the base mesh.
    pub base_lod: usize,
    pub rest_vertices: Vec<[f32; 3]>,
    pub triangles: Vec<[u32; 3]>,
    /// Influences per vertex (1..=8).
    pub influences: usize,
    /// `[V, influences]`.
    pub skin_joints: Vec<u32>,
    pub skin_weights: Vec<f32>,
    /// `[n, V, 3]` identity blendshapes.
    pub identity: Vec<f32>,
    pub identity_names: Vec<String>,
    /// `[m, V, 3]` expression blendshapes.
    pub expression: Vec<f32>,
    pub expression_names: Vec<String>,
    pub correctives: Option<Correctives>,
    /// Joints that are keypoints for fitting, by index.
    pub keypoint_joints: Vec<u32>,
    pub lods: Vec<LodEntry>,
}

fn rot_x(a: f32) -> Mat3 {
    let (s, c) = a.sin_cos();
    Mat3::from_cols(Vec3::X, Vec3::new(0.0, c, s), Vec3::new(0.0, -s, c))
}
fn rot_y(a: f32) -> Mat3 {
    let (s, c) = a.sin_cos();
    Mat3::from_cols(Vec3::new(c, 0.0, -s), Vec3::Y, Vec3::new(s, 0.0, c))
}
fn rot_z(a: f32) -> Mat3 {
    let (s, c) = a.sin_cos();
    Mat3::from_cols(Vec3::new(c, s, 0.0), Vec3::new(-s, c, 0.0), Vec3::Z)
}

/// `Rz(rz) · Ry(ry) · Rx(rx)`: x applied first.
pub fn euler_xyz(r: [f32; 3]) -> Mat3 {
    rot_z(r[2]) * rot_y(r[1]) * rot_x(r[0])
}

/// A similarity transform `p ↦ t + s · R p`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Similarity {
    pub rotation: Mat3,
    pub translation: Vec3,
    pub scale: f32,
}

impl Similarity {
    pub const IDENTITY: Self = Self { rotation: Mat3::IDENTITY, translation: Vec3::ZERO, scale: 1.0 };

    pub fn mul(&self, o: &Similarity) -> Similarity {
        Similarity {
            rotation: self.rotation * o.rotation,
            translation: self.translation + self.scale * (self.rotation * o.translation),
            scale: self.scale * o.scale,
        }
    }

    pub fn to_mat4(&self) -> Mat4 {
        Mat4::from_cols(
            (self.rotation.x_axis * self.scale).extend(0.0),
            (self.rotation.y_axis * self.scale).extend(0.0),
            (self.rotation.z_axis * self.scale).extend(0.0),
            self.translation.extend(1.0),
        )
    }

    pub fn inverse(&self) -> Similarity {
        let r = self.rotation.transpose();
        let s = 1.0 / self.scale;
        Similarity { rotation: r, translation: -(s * (r * self.translation)), scale: s }
    }
}

/// Parameters of one body: model (pose and scale), identity and expression coefficients.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BodyParams {
    pub model: Vec<f32>,
    pub identity: Vec<f32>,
    pub expression: Vec<f32>,
}

impl Rig {
    pub fn joint_count(&self) -> usize {
        self.parents.len()
    }
    pub fn vertex_count(&self) -> usize {
        self.rest_vertices.len()
    }
    pub fn parameter_count(&self) -> usize {
        self.parameter_names.len()
    }

    /// All-zero parameters (the rest pose).
    pub fn zero_params(&self) -> BodyParams {
        BodyParams {
            model: vec![0.0; self.parameter_count()],
            identity: vec![0.0; self.identity_names.len()],
            expression: vec![0.0; self.expression_names.len()],
        }
    }

    /// The LOD numbers this rig has, sorted.
    pub fn available_lods(&self) -> Vec<usize> {
        let mut l: Vec<usize> = std::iter::once(self.base_lod).chain(self.lods.iter().map(|e| e.lod)).collect();
        l.sort_unstable();
        l
    }

    /// Checks the parameters against the rig: counts and finite values.
    pub fn check_params(&self, p: &BodyParams) -> Result<(), BodyError> {
        let groups = [
            ("model", &p.model, &self.parameter_names),
            ("identity", &p.identity, &self.identity_names),
            ("expression", &p.expression, &self.expression_names),
        ];
        for (what, values, names) in groups {
            if values.len() != names.len() {
                return Err(BodyError::Invalid(format!(
                    "{} {what} parameters given, the rig '{}' has {}",
                    values.len(),
                    self.name,
                    names.len()
                )));
            }
            if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(BodyError::Invalid(format!("{what} parameter '{}' is {v}", names[i])));
            }
        }
        Ok(())
    }

    /// Joint parameters `[joints·7]` from model parameters.
    pub fn joint_params_into(&self, model: &[f32], out: &mut [f32]) {
        let p = self.parameter_count();
        for (row, o) in out.iter_mut().enumerate() {
            let coeffs = &self.parameter_transform[row * p..(row + 1) * p];
            *o = self.parameter_offsets[row] + coeffs.iter().zip(model).map(|(a, b)| a * b).sum::<f32>();
        }
    }

    /// Local transform of joint `j` from its 7 joint parameters.
    pub fn local_transform(&self, j: usize, jp: &[f32]) -> Similarity {
        let o = Vec3::from_array(self.joint_offsets[j]);
        let pre = Mat3::from_quat(Quat::from_array(self.joint_pre_rotations[j]).normalize());
        Similarity {
            rotation: pre * euler_xyz([jp[3], jp[4], jp[5]]),
            translation: o + Vec3::new(jp[0], jp[1], jp[2]),
            scale: jp[6].exp2(),
        }
    }

    /// World transforms of every joint from joint parameters.
    pub fn forward_kinematics_into(&self, joint_params: &[f32], world: &mut [Similarity]) {
        for j in 0..self.joint_count() {
            let local = self.local_transform(j, &joint_params[j * JOINT_PARAMS..(j + 1) * JOINT_PARAMS]);
            world[j] = match self.parents[j] {
                p if p >= 0 => world[p as usize].mul(&local),
                _ => local,
            };
        }
    }

    /// `joint_from_bind` per joint: the inverse of each joint's world transform at zero parameters.
    pub fn inverse_bind(&self) -> Vec<Similarity> {
        let mut jp = vec![0.0; self.joint_count() * JOINT_PARAMS];
        self.joint_params_into(&vec![0.0; self.parameter_count()], &mut jp);
        let mut world = vec![Similarity::IDENTITY; self.joint_count()];
        self.forward_kinematics_into(&jp, &mut world);
        world.iter().map(Similarity::inverse).collect()
    }

    /// The 6 corrective features of one joint's Euler angles.
    pub fn corrective_features(r: [f32; 3]) -> [f32; CORRECTIVE_FEATURES] {
        let m = euler_xyz(r);
        [m.x_axis.x - 1.0, m.x_axis.y, m.x_axis.z, m.y_axis.x, m.y_axis.y - 1.0, m.y_axis.z]
    }

    /// Checks every count and index; `path` names the rig in errors.
    pub fn validate(&self, path: &Path) -> Result<(), BodyError> {
        let bad = |m: String| Err(BodyError::File { path: path.to_owned(), message: m });
        let (j, v, p) = (self.joint_count(), self.vertex_count(), self.parameter_count());
        if j == 0 || v == 0 {
            return bad("the rig has no joints or no vertices".into());
        }
        if self.joint_names.len() != j || self.joint_offsets.len() != j || self.joint_pre_rotations.len() != j {
            return bad(format!(
                "{} joint parents but {} names, {} offsets, {} pre-rotations",
                j,
                self.joint_names.len(),
                self.joint_offsets.len(),
                self.joint_pre_rotations.len()
            ));
        }
        for (i, &parent) in self.parents.iter().enumerate() {
            if parent >= i as i32 || parent < -1 {
                return bad(format!("joint {i} has parent {parent}: parents must come before their children"));
            }
        }
        if self.parameter_transform.len() != j * JOINT_PARAMS * p || self.parameter_offsets.len() != j * JOINT_PARAMS {
            return bad(format!(
                "parameter transform has {} values, expected {} joints × 7 × {} parameters",
                self.parameter_transform.len(),
                j,
                p
            ));
        }
        if self.parameter_limits.len() != p
            || self.parameter_limits.iter().any(|l| l[0].is_nan() || l[1].is_nan() || l[0] > l[1])
        {
            return bad(format!(
                "{} parameter limits for {p} parameters (each low ≤ high)",
                self.parameter_limits.len()
            ));
        }
        if self.influences == 0 || self.influences > MAX_INFLUENCES {
            return bad(format!("{} skin influences per vertex (1 to 8 allowed)", self.influences));
        }
        if self.skin_joints.len() != v * self.influences || self.skin_weights.len() != v * self.influences {
            return bad(format!("skin weights do not cover the rig's {v} vertices"));
        }
        if let Some(&bad_joint) = self.skin_joints.iter().find(|&&s| s as usize >= j) {
            return bad(format!("a skin weight names joint {bad_joint}, the rig has {j}"));
        }
        if self.triangles.iter().flatten().any(|&i| i as usize >= v) {
            return bad(format!("a triangle uses a vertex outside the rig's {v}"));
        }
        for (what, data, names) in [
            ("identity", &self.identity, &self.identity_names),
            ("expression", &self.expression, &self.expression_names),
        ] {
            if data.len() != names.len() * v * 3 {
                return bad(format!(
                    "{what} blendshapes: {} values for {} shapes × {v} vertices",
                    data.len(),
                    names.len()
                ));
            }
        }
        if let Some(c) = &self.correctives {
            if c.joints.iter().any(|&cj| cj as usize >= j) {
                return bad("a corrective feature joint does not exist".into());
            }
            let cols = c.joints.len() * CORRECTIVE_FEATURES;
            if c.w0.iter().any(|&(r, col, _)| r as usize >= c.hidden || col as usize >= cols) {
                return bad("corrective layer 0 has an index outside its shape".into());
            }
            if c.w1.len() != c.hidden * v * 3 {
                return bad(format!("corrective layer 1 has {} values, expected {} × {v} × 3", c.w1.len(), c.hidden));
            }
        }
        if self.keypoint_joints.iter().any(|&k| k as usize >= j) {
            return bad("a keypoint names a joint that does not exist".into());
        }
        for e in &self.lods {
            if e.map.triangle_ids.iter().any(|&t| t as usize >= self.triangles.len()) {
                return bad(format!("LOD {}: its map names a triangle outside the base mesh", e.lod));
            }
            if e.triangles.iter().flatten().any(|&i| i as usize >= e.map.len()) {
                return bad(format!("LOD {}: a triangle uses a vertex outside its {}", e.lod, e.map.len()));
            }
        }
        let all = self
            .parameter_transform
            .iter()
            .chain(&self.rest_vertices.concat())
            .chain(&self.skin_weights)
            .chain(&self.identity)
            .chain(&self.expression)
            .all(|x| x.is_finite());
        if !all {
            return bad("the rig holds NaN or infinite values".into());
        }
        Ok(())
    }

    /// The rig's data resampled to `lod` (the base LOD is a copy).
    pub fn at_lod(&self, lod: usize) -> Result<RigLod, BodyError> {
        if lod == self.base_lod {
            return Ok(RigLod {
                lod,
                rest_vertices: self.rest_vertices.clone(),
                triangles: self.triangles.clone(),
                influences: self.influences,
                skin_joints: self.skin_joints.clone(),
                skin_weights: self.skin_weights.clone(),
                identity: self.identity.clone(),
                expression: self.expression.clone(),
                corrective_w1: self.correctives.as_ref().map(|c| c.w1.clone()).unwrap_or_default(),
            });
        }
        let entry = self.lods.iter().find(|e| e.lod == lod).ok_or_else(|| {
            BodyError::Invalid(format!("the rig '{}' has no LOD {lod} (it has {:?})", self.name, self.available_lods()))
        })?;
        let map = &entry.map;
        let n = map.len();
        let v = self.vertex_count();
        let k = self.influences;
        let resample_fields = |data: &[f32], count: usize| -> Vec<f32> {
            let mut out = vec![0.0f32; count * n * 3];
            for s in 0..count {
                let field = &data[s * v * 3..(s + 1) * v * 3];
                for (i, (t, w)) in map.triangle_ids.iter().zip(&map.barycentric).enumerate() {
                    let tri = self.triangles[*t as usize];
                    for c in 0..3 {
                        let mut acc = 0.0f64;
                        for (corner, weight) in tri.iter().zip(w) {
                            acc += weight * field[*corner as usize * 3 + c] as f64;
                        }
                        out[s * n * 3 + i * 3 + c] = acc as f32;
                    }
                }
            }
            out
        };
        let mut skin_joints = vec![0u32; n * k];
        let mut skin_weights = vec![0.0f32; n * k];
        let mut merged: Vec<(u32, f32)> = Vec::with_capacity(3 * k);
        for (i, (t, w)) in map.triangle_ids.iter().zip(&map.barycentric).enumerate() {
            merged.clear();
            for (corner, bw) in self.triangles[*t as usize].iter().zip(w) {
                for m in 0..k {
                    let idx = *corner as usize * k + m;
                    let (jt, wt) = (self.skin_joints[idx], self.skin_weights[idx] * bw.max(0.0) as f32);
                    if wt == 0.0 {
                        continue;
                    }
                    match merged.iter_mut().find(|(j, _)| *j == jt) {
                        Some(e) => e.1 += wt,
                        None => merged.push((jt, wt)),
                    }
                }
            }
            merged.sort_by(|a, b| b.1.total_cmp(&a.1));
            let total: f32 = merged.iter().map(|e| e.1).sum();
            let kept: f32 = merged.iter().take(k).map(|e| e.1).sum();
            let renorm = if kept > 0.0 { total / kept } else { 1.0 };
            for (m, (jt, wt)) in merged.iter().take(k).enumerate() {
                skin_joints[i * k + m] = *jt;
                skin_weights[i * k + m] = wt * renorm;
            }
        }
        let rest: Vec<f32> = resample_fields(&self.rest_vertices.concat(), 1);
        Ok(RigLod {
            lod,
            rest_vertices: rest.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect(),
            triangles: entry.triangles.clone(),
            influences: k,
            skin_joints,
            skin_weights,
            identity: resample_fields(&self.identity, self.identity_names.len()),
            expression: resample_fields(&self.expression, self.expression_names.len()),
            corrective_w1: self.correctives.as_ref().map(|c| resample_fields(&c.w1, c.hidden)).unwrap_or_default(),
        })
    }
}

impl Rig {
    /// The same rig with `lod` as its base mesh and no other LOD (for benchmarks and for tools
    /// that evaluate one LOD only).
    pub fn rebased(&self, lod: usize) -> Result<Rig, BodyError> {
        let data = self.at_lod(lod)?;
        let mut rig = self.clone();
        rig.base_lod = lod;
        rig.rest_vertices = data.rest_vertices;
        rig.triangles = data.triangles;
        rig.skin_joints = data.skin_joints;
        rig.skin_weights = data.skin_weights;
        rig.identity = data.identity;
        rig.expression = data.expression;
        if let Some(c) = &mut rig.correctives {
            c.w1 = data.corrective_w1;
        }
        rig.lods.clear();
        Ok(rig)
    }
}

/// The per-vertex data of a rig at one LOD.
#[derive(Clone, Debug, PartialEq)]
pub struct RigLod {
    pub lod: usize,
    pub rest_vertices: Vec<[f32; 3]>,
    pub triangles: Vec<[u32; 3]>,
    pub influences: usize,
    pub skin_joints: Vec<u32>,
    pub skin_weights: Vec<f32>,
    pub identity: Vec<f32>,
    pub expression: Vec<f32>,
    /// `[hidden, V·3]`, empty without correctives.
    pub corrective_w1: Vec<f32>,
}

impl RigLod {
    pub fn vertex_count(&self) -> usize {
        self.rest_vertices.len()
    }
}

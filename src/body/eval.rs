//! Native rig evaluation: blendshapes → joint parameters → forward kinematics → pose correctives
//! → linear blend skinning, into buffers allocated once per [`Evaluator`] (no allocation per
//! frame). The shaped rest mesh is cached while identity and expression do not change.

use glam::{Affine3A, Vec3, Vec3A};
use rayon::prelude::*;

use super::BodyError;
use super::rig::{BodyParams, CORRECTIVE_FEATURES, JOINT_PARAMS, Rig, RigLod, Similarity};

/// Evaluates one rig at one LOD.
pub struct Evaluator {
    pub rig: std::sync::Arc<Rig>,
    pub lod: RigLod,
    /// Run the per-vertex loops on rayon's pool (default) or on the calling thread.
    pub parallel: bool,
    inverse_bind: Vec<Similarity>,
    cached_shape: Option<(Vec<f32>, Vec<f32>)>,
    shaped_rest: Vec<Vec3A>,
    joint_params: Vec<f32>,
    world: Vec<Similarity>,
    skin: Vec<Affine3A>,
    features: Vec<f32>,
    hidden: Vec<f32>,
    /// Hidden units that fire in the current pose (reused: no allocation per frame).
    active_hidden: Vec<(usize, f32)>,
    posed: Vec<[f32; 3]>,
    used_correctives: bool,
    /// The non-zero skin weights only (the rig keeps 8 slots a vertex, 2.4 used on average):
    /// skinning streams memory, so it reads a third as much.
    compact: CompactSkin,
}

/// Skin weights without the zero slots: vertex `i`'s influences are
/// `entries[offsets[i]..offsets[i + 1]]` (joint, weight).
pub struct CompactSkin {
    offsets: Vec<u32>,
    entries: Vec<(u32, f32)>,
}

impl CompactSkin {
    pub fn of(lod: &RigLod) -> Self {
        let k = lod.influences;
        let mut offsets = Vec::with_capacity(lod.vertex_count() + 1);
        let mut entries = Vec::new();
        offsets.push(0);
        for i in 0..lod.vertex_count() {
            let joints = &lod.skin_joints[i * k..(i + 1) * k];
            let weights = &lod.skin_weights[i * k..(i + 1) * k];
            entries.extend(joints.iter().zip(weights).filter(|(_, w)| **w != 0.0).map(|(j, w)| (*j, *w)));
            offsets.push(entries.len() as u32);
        }
        Self { offsets, entries }
    }
}

impl Evaluator {
    pub fn new(rig: std::sync::Arc<Rig>, lod: usize) -> Result<Self, BodyError> {
        let lod = rig.at_lod(lod)?;
        let v = lod.vertex_count();
        let j = rig.joint_count();
        let (features, hidden) = match &rig.correctives {
            Some(c) => (vec![0.0; c.joints.len() * CORRECTIVE_FEATURES], vec![0.0; c.hidden]),
            None => (Vec::new(), Vec::new()),
        };
        Ok(Self {
            inverse_bind: rig.inverse_bind(),
            cached_shape: None,
            shaped_rest: vec![Vec3A::ZERO; v],
            joint_params: vec![0.0; j * JOINT_PARAMS],
            world: vec![Similarity::IDENTITY; j],
            skin: vec![Affine3A::IDENTITY; j],
            active_hidden: Vec::with_capacity(hidden.len()),
            features,
            hidden,
            posed: vec![[0.0; 3]; v],
            parallel: true,
            used_correctives: false,
            compact: CompactSkin::of(&lod),
            lod,
            rig,
        })
    }

    /// World transforms of the joints from the last evaluation.
    pub fn joints_world(&self) -> &[Similarity] {
        &self.world
    }

    /// Joint parameters (`[joints·7]`) from the last evaluation.
    pub fn joint_params(&self) -> &[f32] {
        &self.joint_params
    }

    /// The rest mesh the last evaluation skinned: blendshapes and that pose's correctives applied.
    pub fn bind_vertices(&self) -> Vec<[f32; 3]> {
        let (w1, v3) = (&self.lod.corrective_w1, self.lod.vertex_count() * 3);
        let active: &[(usize, f32)] = if self.used_correctives { &self.active_hidden } else { &[] };
        (0..self.shaped_rest.len())
            .map(|i| Vec3::from(corrected(&self.shaped_rest, w1, v3, active, i)).to_array())
            .collect()
    }

    /// Posed vertices from the last evaluation.
    pub fn vertices(&self) -> &[[f32; 3]] {
        &self.posed
    }

    /// World positions of the rig's keypoint joints from the last evaluation.
    pub fn keypoints(&self) -> Vec<[f32; 3]> {
        self.rig.keypoint_joints.iter().map(|&j| self.world[j as usize].translation.to_array()).collect()
    }

    fn shape_rest(&mut self, p: &BodyParams) {
        if self.cached_shape.as_ref().is_some_and(|(i, e)| *i == p.identity && *e == p.expression) {
            return;
        }
        let lod = &self.lod;
        let v = lod.vertex_count();
        let active: Vec<(&[f32], f32)> = p
            .identity
            .iter()
            .enumerate()
            .filter(|(_, c)| **c != 0.0)
            .map(|(s, c)| (&lod.identity[s * v * 3..(s + 1) * v * 3], *c))
            .chain(
                p.expression
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| **c != 0.0)
                    .map(|(s, c)| (&lod.expression[s * v * 3..(s + 1) * v * 3], *c)),
            )
            .collect();
        let body = |(i, out): (usize, &mut Vec3A)| {
            let mut p = Vec3A::from_array(lod.rest_vertices[i]);
            for (field, c) in &active {
                p += Vec3A::new(field[i * 3], field[i * 3 + 1], field[i * 3 + 2]) * *c;
            }
            *out = p;
        };
        if self.parallel {
            self.shaped_rest.par_iter_mut().enumerate().for_each(body);
        } else {
            self.shaped_rest.iter_mut().enumerate().for_each(body);
        }
        self.cached_shape = Some((p.identity.clone(), p.expression.clone()));
    }

    /// Evaluates the rig; returns the posed vertices (model units, rig frame).
    pub fn evaluate(&mut self, p: &BodyParams) -> Result<&[[f32; 3]], BodyError> {
        self.rig.check_params(p)?;
        self.shape_rest(p);
        let rig = &*self.rig;
        rig.joint_params_into(&p.model, &mut self.joint_params);
        rig.forward_kinematics_into(&self.joint_params, &mut self.world);
        for ((s, w), ib) in self.skin.iter_mut().zip(&self.world).zip(&self.inverse_bind) {
            let m = w.mul(ib);
            *s = Affine3A::from_mat3_translation(m.rotation * m.scale, m.translation);
        }
        // Pose correctives: only hidden units that fire touch the vertices.
        let rest: &[Vec3A] = match &rig.correctives {
            Some(c) if !self.lod.corrective_w1.is_empty() => {
                for (k, &jt) in c.joints.iter().enumerate() {
                    let jp = &self.joint_params[jt as usize * JOINT_PARAMS..];
                    let f = Rig::corrective_features([jp[3], jp[4], jp[5]]);
                    self.features[k * CORRECTIVE_FEATURES..(k + 1) * CORRECTIVE_FEATURES].copy_from_slice(&f);
                }
                self.hidden.iter_mut().for_each(|h| *h = 0.0);
                for &(r, col, w) in &c.w0 {
                    self.hidden[r as usize] += w * self.features[col as usize];
                }
                let v3 = self.lod.vertex_count() * 3;
                self.active_hidden.clear();
                self.active_hidden
                    .extend(self.hidden.iter().enumerate().filter(|(_, h)| **h > 0.0).map(|(i, h)| (i, *h)));
                self.used_correctives = true;
                // One pass: each vertex corrected and skinned at once, the corrected mesh never
                // stored (skinning streams memory; `bind_vertices` recomputes it when asked).
                let (active, w1, shaped, compact, skin) =
                    (&self.active_hidden, &self.lod.corrective_w1, &self.shaped_rest, &self.compact, &self.skin);
                let body = |(i, out): (usize, &mut [f32; 3])| {
                    *out = skin_vertex(compact, skin, i, corrected(shaped, w1, v3, active, i));
                };
                if self.parallel {
                    self.posed.par_iter_mut().enumerate().with_min_len(1024).for_each(body);
                } else {
                    self.posed.iter_mut().enumerate().for_each(body);
                }
                return Ok(&self.posed);
            }
            _ => {
                self.used_correctives = false;
                &self.shaped_rest
            }
        };
        skin_vertices(&self.compact, &self.skin, rest, &mut self.posed, self.parallel);
        Ok(&self.posed)
    }
}

/// Rest vertex `i` with the firing corrective units `active` (unit, activation) added.
#[inline]
fn corrected(shaped: &[Vec3A], w1: &[f32], v3: usize, active: &[(usize, f32)], i: usize) -> Vec3A {
    let mut p = shaped[i];
    for &(h, a) in active {
        let row = &w1[h * v3 + i * 3..h * v3 + i * 3 + 3];
        p += Vec3A::new(row[0], row[1], row[2]) * a;
    }
    p
}

/// Linear blend skinning of vertex `i` at rest position `p`: `Σ_k w_ik · skin[j_ik] · p`.
#[inline]
fn skin_vertex(compact: &CompactSkin, skin: &[Affine3A], i: usize, p: Vec3A) -> [f32; 3] {
    let (a, b) = (compact.offsets[i] as usize, compact.offsets[i + 1] as usize);
    let mut acc = Vec3A::ZERO;
    for &(j, w) in &compact.entries[a..b] {
        acc += skin[j as usize].transform_point3a(p) * w;
    }
    Vec3::from(acc).to_array()
}

/// Linear blend skinning: `out[i] = Σ_k w_ik · skin[j_ik] · rest[i]`.
pub fn skin_vertices(compact: &CompactSkin, skin: &[Affine3A], rest: &[Vec3A], out: &mut [[f32; 3]], parallel: bool) {
    let body = |(i, o): (usize, &mut [f32; 3])| *o = skin_vertex(compact, skin, i, rest[i]);
    if parallel {
        out.par_iter_mut().enumerate().with_min_len(1024).for_each(body);
    } else {
        out.iter_mut().enumerate().for_each(body);
    }
}

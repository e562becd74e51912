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
    corrected_rest: Vec<Vec3A>,
    joint_params: Vec<f32>,
    world: Vec<Similarity>,
    skin: Vec<Affine3A>,
    features: Vec<f32>,
    hidden: Vec<f32>,
    /// Hidden units that fire in the current pose (reused: no allocation per frame).
    active_hidden: Vec<(usize, f32)>,
    posed: Vec<[f32; 3]>,
    used_correctives: bool,
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
            corrected_rest: vec![Vec3A::ZERO; v],
            joint_params: vec![0.0; j * JOINT_PARAMS],
            world: vec![Similarity::IDENTITY; j],
            skin: vec![Affine3A::IDENTITY; j],
            active_hidden: Vec::with_capacity(hidden.len()),
            features,
            hidden,
            posed: vec![[0.0; 3]; v],
            parallel: true,
            used_correctives: false,
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
        let src = if self.used_correctives { &self.corrected_rest } else { &self.shaped_rest };
        src.iter().map(|p| Vec3::from(*p).to_array()).collect()
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
                let active = &self.active_hidden;
                self.corrected_rest.copy_from_slice(&self.shaped_rest);
                let w1 = &self.lod.corrective_w1;
                let add = |(i, out): (usize, &mut Vec3A)| {
                    for &(h, a) in active {
                        let row = &w1[h * v3 + i * 3..h * v3 + i * 3 + 3];
                        *out += Vec3A::new(row[0], row[1], row[2]) * a;
                    }
                };
                if self.parallel {
                    self.corrected_rest.par_iter_mut().enumerate().for_each(add);
                } else {
                    self.corrected_rest.iter_mut().enumerate().for_each(add);
                }
                self.used_correctives = true;
                &self.corrected_rest
            }
            _ => {
                self.used_correctives = false;
                &self.shaped_rest
            }
        };
        skin_vertices(&self.lod, &self.skin, rest, &mut self.posed, self.parallel);
        Ok(&self.posed)
    }
}

/// Linear blend skinning: `out[i] = Σ_k w_ik · skin[j_ik] · rest[i]`.
pub fn skin_vertices(lod: &RigLod, skin: &[Affine3A], rest: &[Vec3A], out: &mut [[f32; 3]], parallel: bool) {
    let k = lod.influences;
    let body = |(i, o): (usize, &mut [f32; 3])| {
        let p = rest[i];
        let mut acc = Vec3A::ZERO;
        let joints = &lod.skin_joints[i * k..(i + 1) * k];
        let weights = &lod.skin_weights[i * k..(i + 1) * k];
        for (j, w) in joints.iter().zip(weights) {
            if *w != 0.0 {
                acc += skin[*j as usize].transform_point3a(p) * *w;
            }
        }
        *o = Vec3::from(acc).to_array();
    };
    if parallel {
        out.par_iter_mut().enumerate().with_min_len(1024).for_each(body);
    } else {
        out.iter_mut().enumerate().for_each(body);
    }
}

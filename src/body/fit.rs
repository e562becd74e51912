//! Fitting a rig to a person in a photo by gradient descent (tch autograd): pose, shape (identity
//! coefficients), scale and camera translation, against the person's mask (silhouette) and
//! optional 2D keypoints, with priors that keep the pose human.
//!
//! The rig is evaluated in libtorch with the same maths as [`super::eval`] (parameter transform,
//! forward kinematics, pose correctives, linear blend skinning) at a light LOD. The camera is a
//! pinhole at the origin looking down +z (OpenCV); the rig's frame (y up, facing +z) is turned
//! 180° about x into it and shifted by the fitted translation.
//!
//! Silhouette terms (no rasteriser needed): every projected vertex should fall inside the mask
//! (the mask's outside distance transform, sampled bilinearly) and every mask sample should be
//! near a projected vertex (one-sided chamfer).

use tch::{Device, Kind, Tensor};

use super::BodyError;
use super::rig::{BodyParams, CORRECTIVE_FEATURES, JOINT_PARAMS, Rig, RigLod};
use super::sam3d::Intrinsics;
use crate::core::mask::Mask;
use crate::core::task::Progress;

/// A rig at one LOD as libtorch tensors (f32, CPU).
pub struct TorchRig {
    parameter_transform: Tensor,
    parameter_offsets: Tensor,
    offsets: Tensor,
    pre_rotations: Tensor,
    parents: Vec<i32>,
    inverse_bind_rs: Tensor,
    inverse_bind_t: Tensor,
    rest: Tensor,
    identity: Tensor,
    expression: Tensor,
    skin_joints: Tensor,
    skin_weights: Tensor,
    correctives: Option<(Tensor, Tensor, Tensor)>,
    pub metres_per_unit: f64,
    pub vertex_count: usize,
}

fn rows3(v: &[[f32; 3]]) -> Tensor {
    Tensor::from_slice(&v.concat()).view([v.len() as i64, 3])
}

fn euler_matrices(angles: &Tensor) -> Tensor {
    // angles [J,3] → Rz·Ry·Rx [J,3,3].
    let (rx, ry, rz) = (angles.select(1, 0), angles.select(1, 1), angles.select(1, 2));
    let one = rx.ones_like();
    let zero = rx.zeros_like();
    let m = |e: [&Tensor; 9]| Tensor::stack(&e, 1).view([-1, 3, 3]);
    let (cx, sx, cy, sy, cz, sz) = (rx.cos(), rx.sin(), ry.cos(), ry.sin(), rz.cos(), rz.sin());
    let x = m([&one, &zero, &zero, &zero, &cx, &(-&sx), &zero, &sx, &cx]);
    let y = m([&cy, &zero, &sy, &zero, &one, &zero, &(-&sy), &zero, &cy]);
    let z = m([&cz, &(-&sz), &zero, &sz, &cz, &zero, &zero, &zero, &one]);
    z.matmul(&y).matmul(&x)
}

impl TorchRig {
    pub fn new(rig: &Rig, lod: &RigLod) -> Self {
        let j = rig.joint_count() as i64;
        let p = rig.parameter_count() as i64;
        let v = lod.vertex_count() as i64;
        let pre: Vec<f32> = rig
            .joint_pre_rotations
            .iter()
            .flat_map(|q| glam::Mat3::from_quat(glam::Quat::from_array(*q).normalize()).transpose().to_cols_array())
            .collect();
        let ib = rig.inverse_bind();
        let ib_rs: Vec<f32> = ib.iter().flat_map(|s| (s.rotation * s.scale).transpose().to_cols_array()).collect();
        let ib_t: Vec<f32> = ib.iter().flat_map(|s| s.translation.to_array()).collect();
        let k = lod.influences as i64;
        let correctives = rig.correctives.as_ref().filter(|_| !lod.corrective_w1.is_empty()).map(|c| {
            let f = (c.joints.len() * CORRECTIVE_FEATURES) as i64;
            let mut w0 = vec![0.0f32; c.hidden * f as usize];
            for &(r, col, x) in &c.w0 {
                w0[r as usize * f as usize + col as usize] += x;
            }
            let joints: Vec<i64> = c.joints.iter().map(|&x| x as i64).collect();
            (
                Tensor::from_slice(&joints),
                Tensor::from_slice(&w0).view([c.hidden as i64, f]),
                Tensor::from_slice(&lod.corrective_w1).view([c.hidden as i64, v * 3]),
            )
        });
        let skin_joints: Vec<i64> = lod.skin_joints.iter().map(|&x| x as i64).collect();
        Self {
            parameter_transform: Tensor::from_slice(&rig.parameter_transform).view([j * JOINT_PARAMS as i64, p]),
            parameter_offsets: Tensor::from_slice(&rig.parameter_offsets),
            offsets: rows3(&rig.joint_offsets),
            pre_rotations: Tensor::from_slice(&pre).view([j, 3, 3]),
            parents: rig.parents.clone(),
            inverse_bind_rs: Tensor::from_slice(&ib_rs).view([j, 3, 3]),
            inverse_bind_t: Tensor::from_slice(&ib_t).view([j, 3]),
            rest: rows3(&lod.rest_vertices),
            identity: Tensor::from_slice(&lod.identity).view([rig.identity_names.len() as i64, v * 3]),
            expression: Tensor::from_slice(&lod.expression).view([rig.expression_names.len() as i64, v * 3]),
            skin_joints: Tensor::from_slice(&skin_joints).view([v, k]),
            skin_weights: Tensor::from_slice(&lod.skin_weights).view([v, k]),
            correctives,
            metres_per_unit: rig.metres_per_unit as f64,
            vertex_count: lod.vertex_count(),
        }
    }

    /// Posed vertices `[V,3]` and joint world positions `[J,3]` (model units, rig frame).
    pub fn forward(&self, model: &Tensor, identity: &Tensor, expression: &Tensor) -> (Tensor, Tensor) {
        let j = self.parents.len() as i64;
        let jp = (self.parameter_transform.mv(model) + &self.parameter_offsets).view([j, JOINT_PARAMS as i64]);
        let local_t = &self.offsets + jp.narrow(1, 0, 3);
        let euler = euler_matrices(&jp.narrow(1, 3, 3));
        let local_r = self.pre_rotations.matmul(&euler);
        let local_s = jp.select(1, 6).exp2();
        let mut world_r: Vec<Tensor> = Vec::with_capacity(j as usize);
        let mut world_t: Vec<Tensor> = Vec::with_capacity(j as usize);
        let mut world_s: Vec<Tensor> = Vec::with_capacity(j as usize);
        for (i, &parent) in self.parents.iter().enumerate() {
            let (lr, lt, ls) = (local_r.get(i as i64), local_t.get(i as i64), local_s.get(i as i64));
            if parent >= 0 {
                let p = parent as usize;
                world_t.push(&world_t[p] + &world_s[p] * world_r[p].mv(&lt));
                world_r.push(world_r[p].matmul(&lr));
                world_s.push(&world_s[p] * ls);
            } else {
                world_r.push(lr);
                world_t.push(lt);
                world_s.push(ls);
            }
        }
        let wr = Tensor::stack(&world_r, 0);
        let wt = Tensor::stack(&world_t, 0);
        let ws = Tensor::stack(&world_s, 0);
        // Skin transforms: world ∘ inverse bind.
        let a_rs = (wr.matmul(&self.inverse_bind_rs)) * ws.view([j, 1, 1]);
        let a_t = &wt + ws.view([j, 1]) * wr.matmul(&self.inverse_bind_t.unsqueeze(2)).squeeze_dim(2);
        let v = self.vertex_count as i64;
        let mut rest = &self.rest + identity.matmul(&self.identity).view([v, 3]);
        if expression.numel() > 0 {
            rest += expression.matmul(&self.expression).view([v, 3]);
        }
        if let Some((joints, w0, w1)) = &self.correctives {
            let r = euler.index_select(0, joints);
            let one = Tensor::ones([1], (Kind::Float, Device::Cpu));
            let features = Tensor::stack(
                &[
                    r.select(1, 0).select(1, 0) - &one,
                    r.select(1, 1).select(1, 0),
                    r.select(1, 2).select(1, 0),
                    r.select(1, 0).select(1, 1),
                    r.select(1, 1).select(1, 1) - &one,
                    r.select(1, 2).select(1, 1),
                ],
                1,
            )
            .view([-1]);
            let hidden = w0.mv(&features).relu();
            rest += hidden.unsqueeze(0).matmul(w1).view([v, 3]);
        }
        let k = self.skin_joints.size()[1];
        let flat = self.skin_joints.view([-1]);
        let rs = a_rs.index_select(0, &flat).view([v, k, 3, 3]);
        let t = a_t.index_select(0, &flat).view([v, k, 3]);
        let moved = rs.matmul(&rest.view([v, 1, 3, 1])).squeeze_dim(3) + t;
        let posed = (moved * self.skin_weights.unsqueeze(2)).sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
        (posed, wt)
    }
}

/// What a fit moves: the camera translation, the model parameters and the identity.
struct FitVariables {
    vs: tch::nn::VarStore,
    translation: Tensor,
    model: Tensor,
    identity: Tensor,
}

/// The fit's variables (camera translation from `t0`, model parameters and identity at zero).
fn fit_variables(rig: &Rig, t0: &Tensor) -> FitVariables {
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let root = vs.root();
    let translation = root.var_copy("translation", t0);
    let model = root.zeros("model", &[rig.parameter_count() as i64]);
    let identity = root.zeros("identity", &[rig.identity_names.len() as i64]);
    FitVariables { vs, translation, model, identity }
}

fn new_optimiser(vs: &tch::nn::VarStore, learning_rate: f64) -> Result<tch::nn::Optimizer, BodyError> {
    use tch::nn::OptimizerConfig as _;
    tch::nn::Adam::default().build(vs, learning_rate).map_err(|e| BodyError::Invalid(format!("optimiser: {e}")))
}

/// The rig's parameter limits as (low, high) tensors.
fn limit_tensors(rig: &Rig) -> (Tensor, Tensor) {
    let low: Vec<f32> = rig.parameter_limits.iter().map(|l| l[0]).collect();
    let high: Vec<f32> = rig.parameter_limits.iter().map(|l| l[1]).collect();
    (Tensor::from_slice(&low), Tensor::from_slice(&high))
}

/// 2D keypoints to fit: (index into the rig's keypoint joints, pixel position, confidence).
pub type Keypoints2d = Vec<(usize, [f32; 2], f32)>;

/// Fitting settings.
#[derive(Clone, Debug)]
pub struct FitOptions {
    pub iterations: usize,
    pub learning_rate: f64,
    /// LOD used inside the optimisation.
    pub lod: usize,
    pub pose_prior: f64,
    pub shape_prior: f64,
    /// Pull towards the depth where the rest body's height fills the mask's height.
    pub depth_prior: f64,
    /// Scale parameters trade off against depth in one view: a firm prior keeps the body's size.
    pub scale_prior: f64,
    pub keypoint_weight: f64,
    pub silhouette_weight: f64,
    /// Body turns about the vertical axis (radians) tried as starts: each is refined for
    /// `start_iterations` (camera translation and the turn only) and the one that fits best goes
    /// on. A person seen turned away is out of reach of gradient descent from facing the camera.
    pub yaw_starts: Vec<f32>,
    pub start_iterations: usize,
    /// Start from a known body (a SAM 3D Body prediction) instead of the rest pose placed by the
    /// mask's box: no turns are tried, and the pose, scale and shape priors pull towards the start
    /// instead of towards zero (refine what the network saw; move only where the image says so).
    pub start: Option<FitStart>,
}

/// A known body to start a fit from: the rig's model and identity parameters and the camera-frame
/// translation (metres), in the frame of [`rig_to_camera`].
#[derive(Clone, Debug, PartialEq)]
pub struct FitStart {
    pub model: Vec<f32>,
    pub identity: Vec<f32>,
    pub translation_m: [f32; 3],
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            iterations: 600,
            learning_rate: 0.03,
            lod: 4,
            pose_prior: 2e-2,
            shape_prior: 1e-3,
            scale_prior: 1.0,
            depth_prior: 0.05,
            keypoint_weight: 1.0,
            silhouette_weight: 1.0,
            yaw_starts: vec![0.0, -0.8, 0.8, -1.6, 1.6, std::f32::consts::PI],
            start_iterations: 60,
            start: None,
        }
    }
}

/// The fitted body.
#[derive(Clone, Debug)]
pub struct FitResult {
    pub params: BodyParams,
    /// Camera-frame translation of the rig (metres) after the 180° turn about x.
    pub camera_translation: [f32; 3],
    pub intrinsics: Intrinsics,
    pub losses: Vec<f32>,
    /// Mean keypoint reprojection error (px) at the end, when keypoints were given.
    pub keypoint_error_px: Option<f64>,
}

/// Rig-frame points (model units) → OpenCV camera frame (metres).
pub fn rig_to_camera(points: &[[f32; 3]], metres_per_unit: f32, translation: [f32; 3]) -> Vec<[f32; 3]> {
    points
        .iter()
        .map(|p| {
            [
                p[0] * metres_per_unit + translation[0],
                -p[1] * metres_per_unit + translation[1],
                -p[2] * metres_per_unit + translation[2],
            ]
        })
        .collect()
}

/// Fits `rig` to `mask` (and optional keypoints) seen through `intrinsics`.
pub fn fit(
    rig: &Rig,
    mask: &Mask,
    keypoints: &Keypoints2d,
    intrinsics: Intrinsics,
    options: &FitOptions,
    progress: &Progress,
) -> Result<FitResult, BodyError> {
    let (w, h) = (mask.width() as usize, mask.height() as usize);
    let Some(bbox) = mask.bbox() else {
        return Err(BodyError::Invalid("the person mask is empty".into()));
    };
    if keypoints
        .iter()
        .any(|(i, p, c)| *i >= rig.keypoint_joints.len() || !p[0].is_finite() || !p[1].is_finite() || !c.is_finite())
    {
        return Err(BodyError::Invalid("a keypoint is unknown to the rig or not finite".into()));
    }
    if let Some(start) = &options.start {
        let finite = start.model.iter().chain(&start.identity).chain(&start.translation_m).all(|v| v.is_finite());
        if start.model.len() != rig.parameter_count() || start.identity.len() != rig.identity_names.len() || !finite {
            return Err(BodyError::Invalid(format!(
                "the start body has {} model and {} identity parameters (the rig '{}': {} and {}){}",
                start.model.len(),
                start.identity.len(),
                rig.name,
                rig.parameter_count(),
                rig.identity_names.len(),
                if finite { "" } else { ", or a non-finite value" }
            )));
        }
    }
    let lod_data = rig.at_lod(options.lod).or_else(|_| rig.at_lod(rig.base_lod))?;
    let trig = TorchRig::new(rig, &lod_data);
    let m = rig.metres_per_unit as f64;
    let f = intrinsics.focal_px;
    // Initial translation: the rest body's height fills the mask's height.
    let bounds = crate::core::geometry::Bounds::of_points(lod_data.rest_vertices.iter())
        .ok_or_else(|| BodyError::Invalid("the rig has no finite vertex".into()))?;
    let body_h = (bounds.max.y - bounds.min.y) as f64 * m;
    let mask_h = (bbox[3] - bbox[1]).max(1) as f64;
    let z0 = match &options.start {
        Some(start) => f64::from(start.translation_m[2]).max(1e-3),
        None => f * body_h / mask_h,
    };
    let centre = bounds.center();
    let target = [
        ((bbox[0] + bbox[2]) as f64 * 0.5 - intrinsics.cx) * z0 / f,
        ((bbox[1] + bbox[3]) as f64 * 0.5 - intrinsics.cy) * z0 / f,
        z0,
    ];
    let t0 = [target[0] - centre.x as f64 * m, target[1] + centre.y as f64 * m, target[2] + centre.z as f64 * m];
    let opts = (Kind::Float, Device::Cpu);
    let t0 = match &options.start {
        Some(start) => Tensor::from_slice(&start.translation_m),
        None => Tensor::from_slice(&[t0[0] as f32, t0[1] as f32, t0[2] as f32]),
    };
    let FitVariables { vs, translation, model, identity } = fit_variables(rig, &t0);
    // The priors' centre: the start body, or zero.
    let (model0, identity0) = match &options.start {
        Some(start) => {
            tch::no_grad(|| {
                model.shallow_clone().copy_(&Tensor::from_slice(&start.model));
                identity.shallow_clone().copy_(&Tensor::from_slice(&start.identity));
            });
            (Tensor::from_slice(&start.model), Tensor::from_slice(&start.identity))
        }
        None => (model.zeros_like(), identity.zeros_like()),
    };
    let mut optimiser = new_optimiser(&vs, options.learning_rate)?;
    let expression = Tensor::zeros([0], opts);
    // The first stage moves only the camera translation.
    let group = |name: &str| rig.parameter_groups.iter().find(|g| g.0 == name).map(|g| g.1.clone()).unwrap_or_default();
    let global_mask = vec![0.0f32; rig.parameter_count()];

    let global_mask = Tensor::from_slice(&global_mask);
    let pose_idx: Vec<i64> = group("pose").into_iter().map(|i| i as i64).collect();
    let pose_idx = Tensor::from_slice(&pose_idx);
    let scale_idx: Vec<i64> = group("scale").into_iter().map(|i| i as i64).collect();
    let scale_idx = Tensor::from_slice(&scale_idx);
    let (limits_low, limits_high) = limit_tensors(rig);
    // Mask terms.
    let outside = mask.inverted().distance_to_outside();
    let dt = Tensor::from_slice(&outside).view([1, 1, h as i64, w as i64]) / mask_h;
    let mut samples: Vec<f32> = Vec::new();
    let area = mask.area().max(1);
    let stride = ((area as f64 / 600.0).sqrt().floor() as usize).max(1);
    for y in (0..h).step_by(stride) {
        for x in (0..w).step_by(stride) {
            if mask.get(x as u32, y as u32) {
                samples.extend([x as f32 + 0.5, y as f32 + 0.5]);
            }
        }
    }
    let samples = Tensor::from_slice(&samples).view([-1, 2]);
    let samples_sq = samples.square().sum_dim_intlist([1i64].as_slice(), true, Kind::Float);
    let kp_idx: Vec<i64> = keypoints.iter().map(|k| rig.keypoint_joints[k.0] as i64).collect();
    let kp_xy: Vec<f32> = keypoints.iter().flat_map(|k| k.1).collect();
    let kp_conf: Vec<f32> = keypoints.iter().map(|k| k.2).collect();
    let kp_idx = Tensor::from_slice(&kp_idx);
    let kp_xy = Tensor::from_slice(&kp_xy).view([-1, 2]);
    let kp_conf = Tensor::from_slice(&kp_conf);
    let flip = Tensor::from_slice(&[m as f32, -(m as f32), -(m as f32)]);
    let principal = Tensor::from_slice(&[intrinsics.cx as f32, intrinsics.cy as f32]);
    let project = |pts: &Tensor, t: &Tensor| -> Tensor {
        let cam = pts * &flip + t;
        let z = cam.select(1, 2).clamp_min(1e-3).unsqueeze(1);
        cam.narrow(1, 0, 2) / z * f + &principal
    };
    // The loss of the model and identity in effect (what is detached does not move).
    let loss_of = |model_eff: &Tensor, id_eff: &Tensor| -> Tensor {
        let (verts, joints) = trig.forward(model_eff, id_eff, &expression);
        let uv = project(&verts, &translation);
        let grid = Tensor::stack(&[uv.select(1, 0) / w as f64 * 2.0 - 1.0, uv.select(1, 1) / h as f64 * 2.0 - 1.0], 1)
            .view([1, 1, -1, 2]);
        let outside_d = dt.grid_sampler(&grid, 0, 1, false);
        let inside_term = outside_d.square().mean(Kind::Float);
        // Squared distances mask sample → projected vertex as |s|² + |u|² − 2 s·u (one matmul,
        // no [samples × vertices × 2] intermediate).
        let uv_sq = uv.square().sum_dim_intlist([1i64].as_slice(), false, Kind::Float).unsqueeze(0);
        let d2 = (&samples_sq + uv_sq - samples.matmul(&uv.tr()) * 2.0).clamp_min(0.0);
        let cover_term = d2.amin([1i64].as_slice(), false).mean(Kind::Float) / (mask_h * mask_h);
        let mut loss = (inside_term + cover_term * 3.0) * options.silhouette_weight * 10.0;
        if !keypoints.is_empty() {
            let kp_uv = project(&joints.index_select(0, &kp_idx), &translation);
            let e = ((kp_uv - &kp_xy) / mask_h).square().sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
            loss += (e * &kp_conf).mean(Kind::Float) * options.keypoint_weight * 10.0;
        }
        let moved = model_eff - &model0;
        let pose = moved.index_select(0, &pose_idx);
        let prior = pose.square().mean(Kind::Float) * options.pose_prior
            + ((&limits_low - model_eff).relu().square().sum(Kind::Float)
                + (model_eff - &limits_high).relu().square().sum(Kind::Float))
                * 100.0
            + moved.index_select(0, &scale_idx).square().sum(Kind::Float) * options.scale_prior
            + (id_eff - &identity0).square().sum(Kind::Float) * options.shape_prior;
        // Depth from one view is weak: stay near the depth at which the rest body's height fills
        // the mask, unless the image says otherwise.
        let depth_prior = ((translation.get(2) - z0) / z0).square() * options.depth_prior;
        loss + prior + depth_prior
    };
    let fresh_optimiser = || new_optimiser(&vs, options.learning_rate);
    // Starts: each turn about the vertical axis refined with the camera translation alone (and
    // the turn); the best goes on.
    let yaw = rig.parameter_names.iter().position(|n| n == "root_ry");
    let try_turns = options.start.is_none() && options.yaw_starts.len() > 1 && options.start_iterations > 0;
    if let (Some(yaw), true) = (yaw, try_turns) {
        let mut yaw_mask = vec![0.0f32; rig.parameter_count()];
        yaw_mask[yaw] = 1.0;
        let yaw_mask = Tensor::from_slice(&yaw_mask);
        let t_start = translation.detach().copy();
        let mut best: Option<(f64, Tensor, Tensor)> = None;
        for &start in &options.yaw_starts {
            if progress.is_cancelled() {
                return Err(crate::core::task::Cancelled.into());
            }
            tch::no_grad(|| {
                let mut m = model.shallow_clone();
                let _ = m.zero_();
                let _ = m.get(yaw as i64).fill_(f64::from(start));
                let mut t = translation.shallow_clone();
                t.copy_(&t_start);
            });
            let mut opt = fresh_optimiser()?;
            let mut last = f64::INFINITY;
            // No start runs longer than the whole fit was asked to (`--iterations 2` stays quick).
            for _ in 0..options.start_iterations.min(options.iterations) {
                let model_eff = &model * &yaw_mask + model.detach() * (1.0 - &yaw_mask);
                let loss = loss_of(&model_eff, &identity.detach());
                opt.zero_grad();
                loss.backward();
                opt.step();
                last = loss.double_value(&[]);
            }
            if last.is_finite() && best.as_ref().is_none_or(|b| last < b.0) {
                best = Some((last, model.detach().copy(), translation.detach().copy()));
            }
        }
        if let Some((_, m, t)) = best {
            tch::no_grad(|| {
                model.shallow_clone().copy_(&m);
                translation.shallow_clone().copy_(&t);
            });
        }
        optimiser = fresh_optimiser()?;
    }
    let global_steps = options.iterations / 4;
    let mut losses = Vec::with_capacity(options.iterations);
    for it in 0..options.iterations {
        if progress.is_cancelled() {
            return Err(crate::core::task::Cancelled.into());
        }
        let stage_global = it < global_steps;
        let model_eff = if stage_global {
            &model * &global_mask + model.detach() * (1.0 - &global_mask)
        } else {
            model.shallow_clone()
        };
        let id_eff = if stage_global { identity.detach() } else { identity.shallow_clone() };
        let loss = loss_of(&model_eff, &id_eff);
        optimiser.zero_grad();
        loss.backward();
        optimiser.step();
        let value = loss.double_value(&[]) as f32;
        if !value.is_finite() {
            return Err(BodyError::Invalid(format!("fitting diverged at iteration {it}")));
        }
        losses.push(value);
        progress.set((it + 1) as f32 / options.iterations as f32, format!("fitting body: loss {value:.5}"));
    }
    let to_vec = |t: &Tensor| -> Result<Vec<f32>, BodyError> {
        Vec::<f32>::try_from(t.detach().contiguous()).map_err(|e| BodyError::Invalid(e.to_string()))
    };
    let params = BodyParams {
        model: to_vec(&model)?,
        identity: to_vec(&identity)?,
        expression: vec![0.0; rig.expression_names.len()],
    };
    let t = to_vec(&translation)?;
    let camera_translation = [t[0], t[1], t[2]];
    let keypoint_error_px = if keypoints.is_empty() {
        None
    } else {
        let (_, joints) = tch::no_grad(|| trig.forward(&model.detach(), &identity.detach(), &expression));
        let kp_uv = tch::no_grad(|| project(&joints.index_select(0, &kp_idx), &translation.detach()));
        let e = (kp_uv - &kp_xy).square().sum_dim_intlist([1i64].as_slice(), false, Kind::Float).sqrt();
        Some(e.mean(Kind::Float).double_value(&[]))
    };
    tracing::info!(iterations = losses.len(), final_loss = ?losses.last(), ?keypoint_error_px, "body fitted");
    Ok(FitResult { params, camera_translation, intrinsics, losses, keypoint_error_px })
}

/// The rig's best possible fit to a body it did not make: the pose, shape, scale and camera
/// translation that bring its base-LOD vertices closest (mean squared distance) to `target`
/// (camera frame, metres, in the rig's base-LOD vertex order) — the floor that any fit from a
/// photo can reach with this rig. Returns the parameters, the translation and the mean vertex
/// distance (metres).
pub fn fit_to_vertices(
    rig: &Rig,
    target: &[[f32; 3]],
    options: &FitOptions,
    progress: &Progress,
) -> Result<(BodyParams, [f32; 3], f64), BodyError> {
    let lod_data = rig.at_lod(rig.base_lod)?;
    if target.len() != lod_data.vertex_count() {
        return Err(BodyError::Invalid(format!(
            "the target has {} vertices, the rig's LOD {} {}",
            target.len(),
            rig.base_lod,
            lod_data.vertex_count()
        )));
    }
    if target.iter().flatten().any(|x| !x.is_finite()) {
        return Err(BodyError::Invalid("the target has a vertex that is not finite".into()));
    }
    let trig = TorchRig::new(rig, &lod_data);
    let m = rig.metres_per_unit;
    let target_t = rows3(target);
    let flip = Tensor::from_slice(&[m, -m, -m]);
    let centroid = |t: &Tensor| t.mean_dim([0i64].as_slice(), false, Kind::Float);
    let rest = rows3(&lod_data.rest_vertices) * &flip;
    let t0 = centroid(&target_t) - centroid(&rest);
    let FitVariables { vs, translation, model, identity } = fit_variables(rig, &t0);
    let mut optimiser = new_optimiser(&vs, options.learning_rate)?;
    let (limits_low, limits_high) = limit_tensors(rig);
    let expression = Tensor::zeros([0], (Kind::Float, Device::Cpu));
    for it in 0..options.iterations {
        if progress.is_cancelled() {
            return Err(crate::core::task::Cancelled.into());
        }
        let (verts, _) = trig.forward(&model, &identity, &expression);
        let cam = verts * &flip + &translation;
        let loss = (cam - &target_t).square().sum_dim_intlist([1i64].as_slice(), false, Kind::Float).mean(Kind::Float)
            + ((&limits_low - &model).relu().square().sum(Kind::Float)
                + (&model - &limits_high).relu().square().sum(Kind::Float))
                * 100.0
            + identity.square().sum(Kind::Float) * 1e-5;
        optimiser.zero_grad();
        loss.backward();
        optimiser.step();
        if !loss.double_value(&[]).is_finite() {
            return Err(BodyError::Invalid(format!("fitting diverged at iteration {it}")));
        }
        progress.set((it + 1) as f32 / options.iterations as f32, "fitting the rig to the vertices");
    }
    let to_vec = |t: &Tensor| -> Result<Vec<f32>, BodyError> {
        Vec::<f32>::try_from(t.detach().contiguous()).map_err(|e| BodyError::Invalid(e.to_string()))
    };
    let (verts, _) = tch::no_grad(|| trig.forward(&model.detach(), &identity.detach(), &expression));
    let cam = verts * &flip + translation.detach();
    let mean_m = (cam - &target_t)
        .square()
        .sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
        .sqrt()
        .mean(Kind::Float)
        .double_value(&[]);
    let params = BodyParams {
        model: to_vec(&model)?,
        identity: to_vec(&identity)?,
        expression: vec![0.0; rig.expression_names.len()],
    };
    let t = to_vec(&translation)?;
    Ok((params, [t[0], t[1], t[2]], mean_m))
}

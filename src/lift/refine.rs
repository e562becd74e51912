//! Splat refinement by gradient descent (tch autograd) through a differentiable Gaussian splat
//! rasteriser against the source view.
//!
//! The rasteriser is sparse: each splat touches a K×K pixel window around its projected centre;
//! the (pixel, splat) pairs are sorted by pixel then depth, and front-to-back alpha compositing
//! is a segmented exclusive cumulative sum of `log(1 − α)` per pixel — all tensor ops, so
//! gradients flow to positions, scales, rotations, opacities and colours.

use tch::{Device, Kind, Tensor, nn, nn::OptimizerConfig};

use crate::core::camera::Camera;
use crate::core::geometry::{SH_C0, Splats};
use crate::core::task::{Cancelled, Progress};

/// What the refinement optimises and how hard.
#[derive(Clone, Debug)]
pub struct RefineParams {
    pub iterations: usize,
    pub learning_rate: f64,
    /// Pixel window per splat (odd).
    pub window: i64,
    /// Weight of the silhouette (accumulated alpha vs mask) term.
    pub mask_weight: f64,
    /// Largest splat standard deviation, in world units (scales above are penalised).
    pub max_scale: f64,
    /// Weight pulling positions towards their start (keeps unseen sides in place).
    pub anchor_weight: f64,
}

/// Target of the refinement: the photo and mask at the camera's resolution, `H×W×3` in 0..1 and
/// `H×W` in {0, 1}.
pub struct RefineTarget<'a> {
    pub camera: &'a Camera,
    pub rgb: &'a Tensor,
    pub mask: &'a Tensor,
}

/// Renders splat parameters from `camera` (OpenCV camera frame = world, identity pose expected
/// for the source view; any pose works). Returns premultiplied colour `H×W×3` and alpha `H×W`.
#[allow(clippy::too_many_arguments)]
pub fn rasterise(
    camera: &Camera,
    positions: &Tensor,
    log_scales: &Tensor,
    quats: &Tensor,
    opacity_logits: &Tensor,
    colours: &Tensor,
    window: i64,
) -> (Tensor, Tensor) {
    let (w, h) = (i64::from(camera.width), i64::from(camera.height));
    let n = positions.size()[0];
    let dev = positions.device();
    let view = camera.camera_from_world();
    let rot: Vec<f32> = (0..3).flat_map(|r| (0..3).map(move |c| (r, c))).map(|(r, c)| view.col(c)[r] as f32).collect();
    let rot = Tensor::from_slice(&rot).view([3, 3]).to_device(dev);
    let trans = Tensor::from_slice(&[view.w_axis.x as f32, view.w_axis.y as f32, view.w_axis.z as f32]).to_device(dev);
    let p = positions.matmul(&rot.tr()) + &trans;
    let (x, y, z) = (p.select(1, 0), p.select(1, 1), p.select(1, 2).clamp_min(1e-4));
    let (fx, fy) = (camera.fx, camera.fy);
    let u = &x * fx / &z + camera.cx;
    let v = &y * fy / &z + camera.cy;
    // Σ = R S² Rᵀ from normalised quaternions (w, x, y, z).
    let q = quats / quats.norm_scalaropt_dim(2.0, [1], true).clamp_min(1e-8);
    let (qw, qx, qy, qz) = (q.select(1, 0), q.select(1, 1), q.select(1, 2), q.select(1, 3));
    let r_rows = Tensor::stack(
        &[
            1.0 - 2.0 * (&qy * &qy + &qz * &qz),
            2.0 * (&qx * &qy - &qw * &qz),
            2.0 * (&qx * &qz + &qw * &qy),
            2.0 * (&qx * &qy + &qw * &qz),
            1.0 - 2.0 * (&qx * &qx + &qz * &qz),
            2.0 * (&qy * &qz - &qw * &qx),
            2.0 * (&qx * &qz - &qw * &qy),
            2.0 * (&qy * &qz + &qw * &qx),
            1.0 - 2.0 * (&qx * &qx + &qy * &qy),
        ],
        1,
    )
    .view([n, 3, 3]);
    let rs = r_rows * log_scales.exp().unsqueeze(1);
    let sigma = rs.matmul(&rs.transpose(1, 2));
    let zero = Tensor::zeros_like(&z);
    let j =
        Tensor::stack(&[fx / &z, zero.shallow_clone(), -fx * &x / (&z * &z), zero, fy / &z, -fy * &y / (&z * &z)], 1)
            .view([n, 2, 3]);
    let t = j.matmul(&rot.unsqueeze(0));
    let cov = t.matmul(&sigma).matmul(&t.transpose(1, 2));
    let a = cov.select(1, 0).select(1, 0) + 0.3;
    let b = cov.select(1, 0).select(1, 1);
    let c = cov.select(1, 1).select(1, 1) + 0.3;
    let det = (&a * &c - &b * &b).clamp_min(1e-8);
    let (ca, cb, cc) = (&c / &det, -&b / &det, &a / &det);

    // Pairs: every splat × its K×K window.
    let half = window / 2;
    let offsets = Tensor::arange_start(-half, half + 1, (Kind::Int64, dev));
    let oy = offsets.view([-1, 1]).expand([window, window], false).reshape([-1]);
    let ox = offsets.view([1, -1]).expand([window, window], false).reshape([-1]);
    let (u0, v0) = (u.detach().floor().to_kind(Kind::Int64), v.detach().floor().to_kind(Kind::Int64));
    let px = (u0.unsqueeze(1) + ox.unsqueeze(0)).reshape([-1]);
    let py = (v0.unsqueeze(1) + oy.unsqueeze(0)).reshape([-1]);
    let splat = Tensor::arange(n, (Kind::Int64, dev)).unsqueeze(1).expand([n, window * window], false).reshape([-1]);
    let valid = px
        .ge(0)
        .logical_and(&px.lt(w))
        .logical_and(&py.ge(0))
        .logical_and(&py.lt(h))
        .logical_and(&z.detach().index_select(0, &splat).gt(1e-3));
    let keep = valid.nonzero().squeeze_dim(1);
    let (px, py, splat) = (px.index_select(0, &keep), py.index_select(0, &keep), splat.index_select(0, &keep));
    let pixel = &py * w + &px;
    // Sort pairs by pixel, then by depth (front first).
    let depth_rank = z.detach().argsort(0, false).argsort(0, false);
    let key = &pixel * n + depth_rank.index_select(0, &splat);
    let order = key.argsort(0, false);
    let (pixel, splat, px, py) = (
        pixel.index_select(0, &order),
        splat.index_select(0, &order),
        px.index_select(0, &order),
        py.index_select(0, &order),
    );
    let dx = px.to_kind(Kind::Float) + 0.5 - u.index_select(0, &splat);
    let dy = py.to_kind(Kind::Float) + 0.5 - v.index_select(0, &splat);
    let power: Tensor = -0.5 * (ca.index_select(0, &splat) * &dx * &dx + cc.index_select(0, &splat) * &dy * &dy)
        - cb.index_select(0, &splat) * &dx * &dy;
    let alpha = (opacity_logits.sigmoid().index_select(0, &splat) * power.clamp_max(0.0).exp()).clamp(0.0, 0.99);
    // Segmented exclusive cumsum of log(1 − α) per pixel.
    let one_minus: Tensor = 1.0 - &alpha;
    let log_t = one_minus.log();
    let inclusive = log_t.cumsum(0, Kind::Float);
    let padded = Tensor::cat(&[Tensor::zeros([1], (Kind::Float, dev)), inclusive], 0);
    let (_, _, counts) = pixel.unique_consecutive(false, true, 0);
    let starts = counts.cumsum(0, Kind::Int64) - &counts;
    let start_of_pair = starts.repeat_interleave_self_tensor(&counts, 0, None);
    let before = padded.narrow(0, 0, pixel.size()[0]);
    let transmittance = (before - padded.index_select(0, &start_of_pair)).exp();
    let weight = &transmittance * &alpha;
    let rgb = Tensor::zeros([h * w, 3], (Kind::Float, dev)).index_add(
        0,
        &pixel,
        &(weight.unsqueeze(1) * colours.index_select(0, &splat)),
    );
    let acc = Tensor::zeros([h * w], (Kind::Float, dev)).index_add(0, &pixel, &weight);
    (rgb.view([h, w, 3]), acc.view([h, w]))
}

/// Refines `splats` (degree-0 colours) against the target view; returns the loss per iteration.
pub fn refine(
    splats: &mut Splats,
    target: &RefineTarget<'_>,
    params: &RefineParams,
    progress: &Progress,
) -> Result<Vec<f32>, Cancelled> {
    let n = splats.len() as i64;
    if n == 0 || params.iterations == 0 {
        return Ok(Vec::new());
    }
    let dev = Device::Cpu;
    let vs = nn::VarStore::new(dev);
    let root = vs.root();
    let flat3 = |v: &[[f32; 3]]| Tensor::from_slice(&v.iter().flatten().copied().collect::<Vec<f32>>()).view([n, 3]);
    let start_positions = flat3(&splats.positions);
    let positions = root.var_copy("positions", &start_positions);
    let log_scales = root.var_copy("log_scales", &flat3(&splats.scales).log());
    let quats = root.var_copy(
        "quats",
        &Tensor::from_slice(&splats.rotations.iter().flatten().copied().collect::<Vec<f32>>()).view([n, 4]),
    );
    let opacity = Tensor::from_slice(&splats.opacities).clamp(1e-4, 1.0 - 1e-4);
    let odds: Tensor = &opacity / (1.0 - &opacity);
    let opacity_logits = root.var_copy("opacity", &odds.log());
    let dc: Vec<f32> = splats.sh.chunks_exact(splats.sh_coeffs() * 3).flat_map(|c| [c[0], c[1], c[2]]).collect();
    let colour_logits = root.var_copy(
        "colours",
        &(Tensor::from_slice(&dc).view([n, 3]) * SH_C0 as f64 + 0.5).clamp(1e-3, 1.0 - 1e-3).logit(None::<f64>),
    );
    let mut opt = match nn::Adam::default().build(&vs, params.learning_rate) {
        Ok(o) => o,
        Err(_) => return Ok(Vec::new()),
    };
    let target_rgb = target.rgb * target.mask.unsqueeze(2);
    let max_log_scale = params.max_scale.max(1e-9).ln();
    let mut losses = Vec::with_capacity(params.iterations);
    for it in 0..params.iterations {
        progress.check()?;
        let colours = colour_logits.sigmoid();
        let (rgb, acc) =
            rasterise(target.camera, &positions, &log_scales, &quats, &opacity_logits, &colours, params.window);
        let photometric = (&rgb - &target_rgb).abs().mean(Kind::Float);
        let silhouette = (&acc - target.mask).abs().mean(Kind::Float);
        let scale_penalty = (&log_scales - max_log_scale).relu().mean(Kind::Float);
        let anchor = (&positions - &start_positions).square().mean(Kind::Float);
        let loss = photometric + params.mask_weight * silhouette + scale_penalty + params.anchor_weight * anchor;
        opt.backward_step(&loss);
        let value = loss.double_value(&[]) as f32;
        losses.push(value);
        progress.set((it + 1) as f32 / params.iterations as f32, format!("refining splats: loss {value:.4}"));
    }
    tch::no_grad(|| {
        let to_vec3 = |t: &Tensor| -> Vec<[f32; 3]> {
            Vec::<f32>::try_from(&t.contiguous().view([-1]))
                .unwrap_or_default()
                .chunks_exact(3)
                .map(|c| [c[0], c[1], c[2]])
                .collect()
        };
        let new_positions = to_vec3(&positions);
        let new_scales = to_vec3(&log_scales.exp());
        let q = &quats / quats.norm_scalaropt_dim(2.0, [1], true).clamp_min(1e-8);
        let new_rot: Vec<[f32; 4]> = Vec::<f32>::try_from(&q.contiguous().view([-1]))
            .unwrap_or_default()
            .chunks_exact(4)
            .map(|c| [c[0], c[1], c[2], c[3]])
            .collect();
        let new_opacity = Vec::<f32>::try_from(&opacity_logits.sigmoid()).unwrap_or_default();
        let new_rgb = to_vec3(&colour_logits.sigmoid());
        // Keep the old values where anything came back non-finite.
        if new_positions.len() == splats.len()
            && new_positions.iter().flatten().chain(new_scales.iter().flatten()).all(|v| v.is_finite())
        {
            splats.positions = new_positions;
            splats.scales = new_scales;
            splats.rotations = new_rot;
            splats.opacities = new_opacity;
            let coeffs = splats.sh_coeffs() * 3;
            for (i, rgb) in new_rgb.iter().enumerate() {
                for (c, value) in rgb.iter().enumerate() {
                    splats.sh[i * coeffs + c] = (value - 0.5) / SH_C0;
                }
            }
        }
    });
    Ok(losses)
}

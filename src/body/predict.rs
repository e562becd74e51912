//! Photo + person box (+ person mask) → MHR body through SAM 3D Body's body branch, exported as
//! TorchScript pieces by `tools/export_sam3d_body.py` (a folder of kind `sam3d_body`), with the
//! official loop here: encoder and prompt preparation once, then six decoder layers, each followed
//! by the MHR head, an MHR evaluation (the user's `mhr_model.pt` through tch) and the camera
//! projection, whose keypoints update the next layer's tokens. The output has the keys and frames
//! of the official `.npz` (`SAM3DBodyEstimator.process_one_image(..., inference_type="body")`),
//! so [`Prediction::to_body`] feeds the same import path as a file made elsewhere.
//!
//! The crop is the official one (`GetBBoxCenterScale` with padding 1.25, `TopdownAffine` to the
//! model's square input through a 0.75 aspect prior, bilinear warp with black borders, RGB/255);
//! the default camera is the official one (focal = image diagonal, centre = image centre).
//! Keypoint clicks run the official `run_keypoint_prompt`: a second pass of the prompt preparation
//! and the loop, from the first pass's estimate, with the clicks as prompt tokens
//! ([`Sam3dBodyModel::predict_prompted`]). Hands (full mode: hand crops and the hand decoder) are
//! not run yet.

use std::path::{Path, PathBuf};

use tch::{IValue, Kind, Tensor};

use super::BodyError;
use super::sam3d::Sam3dBody;
use super::torchscript::TorchScriptBody;
use crate::core::image::Image;
use crate::core::mask::Mask;
use crate::core::task::Progress;
use crate::model::manifest::{Manifest, ModelKind};
use crate::model::precision::{Precision, PrecisionChoice, cpu_features};
use crate::model::runtime::{ComputeDevice, load_torchscript};

/// Box padding of the official `GetBBoxCenterScale`.
const BOX_PADDING: f64 = 1.25;
/// The aspect ratio (w/h) the official `TopdownAffine` first fixes the box to.
const ASPECT_PRIOR: f64 = 0.75;
/// Keypoints of the body output.
pub const KEYPOINTS: usize = 70;
/// What a keypoint-prompt pass takes from the pass before it, concatenated (`run_keypoint_prompt`).
const PREVIOUS_KEYS: [&str; 6] = ["pred_pose_raw", "shape", "scale", "hand", "face", "pred_cam"];

/// The exported pieces of one SAM 3D Body model folder.
pub struct Sam3dBodyModel {
    pub dir: PathBuf,
    pub name: String,
    /// Side of the square crop the encoder takes, pixels.
    pub input_size: u32,
    /// The encoder's precision (`encoder_bf16.pt` when bf16).
    pub precision: Precision,
    encoder: tch::CModule,
    prepare: tch::CModule,
    layers: Vec<tch::CModule>,
    head: tch::CModule,
    post: tch::CModule,
    keypoint_update: tch::CModule,
    /// `prompts[n - 1]`: the preparation of a keypoint-prompt pass with n clicks.
    prompts: Vec<tch::CModule>,
    post_outputs: Vec<String>,
}

/// A keypoint click: the photo position (pixels) of one of the 70 body keypoints (its index in
/// SAM 3D Body's MHR70 order).
#[derive(Clone, Copy, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct Click {
    pub keypoint: usize,
    pub x_px: f64,
    pub y_px: f64,
}

/// What the network sees of one person: the crop and the camera, as the official batch has them.
#[derive(Debug)]
pub struct CropInputs {
    /// `[1, 3, S, S]` RGB in 0..1.
    pub crop: Tensor,
    /// Image pixels → crop pixels (2×3, row-major).
    pub crop_from_image: [[f64; 3]; 2],
    /// Pinhole intrinsics of the photo (3×3, row-major).
    pub intrinsics: [[f64; 3]; 3],
    pub box_centre_px: [f64; 2],
    /// The padded, squared box side lengths (w, h), pixels.
    pub box_scale_px: [f64; 2],
    pub image_size_px: [f64; 2],
    /// `[1, 1, S, S]`, 0 or 1.
    pub mask: Tensor,
    /// 1 with a person mask, 0 without.
    pub mask_score: f32,
}

impl CropInputs {
    fn batch_tensors(&self) -> [Tensor; 5] {
        let a = &self.crop_from_image;
        let k = &self.intrinsics;
        let f = |v: &[f64]| Tensor::from_slice(&v.iter().map(|&x| x as f32).collect::<Vec<f32>>());
        [
            f(&[a[0][0], a[0][1], a[0][2], a[1][0], a[1][1], a[1][2]]).view([2, 3]),
            f(&[k[0][0], k[0][1], k[0][2], k[1][0], k[1][1], k[1][2], k[2][0], k[2][1], k[2][2]]).view([3, 3]),
            f(&self.box_centre_px),
            f(&self.box_scale_px),
            f(&self.image_size_px),
        ]
    }
}

/// One predicted person: the last layer's outputs by name (batch of one), with the box and camera.
pub struct Prediction {
    pub outputs: Vec<(String, Tensor)>,
    /// The encoder's features (a keypoint-prompt pass reuses them).
    pub features: Tensor,
    pub person_box: [f64; 4],
    pub focal_px: f64,
    /// Milliseconds: encoder, preparation, the layer loop (MHR included).
    pub encode_ms: f64,
    pub loop_ms: f64,
}

fn first_line(e: &tch::TchError) -> String {
    e.to_string().lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("libtorch error").to_owned()
}

fn tensors_of(value: IValue, what: &str, path: &Path) -> Result<Vec<Tensor>, BodyError> {
    let bad = |m: String| BodyError::File { path: path.to_owned(), message: m };
    match value {
        IValue::Tensor(t) => Ok(vec![t]),
        IValue::Tuple(parts) | IValue::GenericList(parts) => parts
            .into_iter()
            .map(|p| match p {
                IValue::Tensor(t) => Ok(t),
                _ => Err(bad(format!("{what} returned something that is not a tensor"))),
            })
            .collect(),
        _ => Err(bad(format!("{what} returned neither a tensor nor a tuple"))),
    }
}

fn run_piece(module: &tch::CModule, inputs: &[&Tensor], what: &str, dir: &Path) -> Result<Vec<Tensor>, BodyError> {
    let inputs: Vec<IValue> = inputs.iter().map(|t| IValue::Tensor(t.shallow_clone())).collect();
    let out = tch::no_grad(|| module.forward_is(&inputs)).map_err(|e| BodyError::File {
        path: dir.join(format!("{what}.pt")),
        message: format!("{what} failed: {}", first_line(&e)),
    })?;
    tensors_of(out, what, &dir.join(format!("{what}.pt")))
}

fn finite(t: &Tensor, what: &str, path: &Path) -> Result<(), BodyError> {
    let ok = t.isfinite().all().int64_value(&[]) == 1;
    if ok {
        Ok(())
    } else {
        Err(BodyError::File {
            path: path.to_owned(),
            message: format!("the network returned NaN or infinity ({what})"),
        })
    }
}

impl Sam3dBodyModel {
    /// Loads a `sam3d_body` model folder (`manifest.toml` + the pieces); the encoder at the
    /// precision `precision` resolves to (`auto`: bf16 where the CPU multiplies bf16 natively and
    /// the folder has `encoder_bf16`).
    pub fn load(dir: &Path, precision: PrecisionChoice) -> Result<Self, BodyError> {
        let file_err = |path: PathBuf, message: String| BodyError::File { path, message };
        let manifest_path = dir.join("manifest.toml");
        let manifest = Manifest::load(&manifest_path).map_err(|e| file_err(manifest_path.clone(), e.to_string()))?;
        if manifest.kind != ModelKind::Sam3dBody {
            return Err(file_err(
                manifest_path,
                format!("a model of kind '{}', not 'sam3d_body'", manifest.kind.as_str()),
            ));
        }
        let input = manifest.input.as_ref().ok_or_else(|| file_err(manifest_path.clone(), "no [input] size".into()))?;
        if input.width != input.height || !(32..=4096).contains(&input.width) {
            return Err(file_err(
                manifest_path,
                format!("input {}×{} is not a square of 32..4096", input.width, input.height),
            ));
        }
        let layer_count = manifest.config.get("decoder_layers").and_then(|v| v.as_integer()).unwrap_or(6);
        if !(1..=64).contains(&layer_count) {
            return Err(file_err(manifest_path, format!("decoder_layers = {layer_count}")));
        }
        let load = |role: &str| -> Result<tch::CModule, BodyError> {
            let file = manifest
                .files
                .get(role)
                .ok_or_else(|| file_err(manifest_path.clone(), format!("no '{role}' file in [files]")))?;
            load_torchscript(&dir.join(file), ComputeDevice::Cpu).map_err(|e| file_err(dir.join(file), e.to_string()))
        };
        let (precision, note) = precision
            .resolve(manifest.files.contains_key("encoder_bf16"), &cpu_features())
            .map_err(|e| file_err(manifest_path.clone(), e))?;
        if let Some(note) = note {
            tracing::info!("{note}");
        }
        let encoder = load(if precision == Precision::Bf16 { "encoder_bf16" } else { "encoder" })?;
        let layers = (0..layer_count).map(|i| load(&format!("layer{i}"))).collect::<Result<Vec<_>, _>>()?;
        let max_clicks = manifest.config.get("max_clicks").and_then(|v| v.as_integer()).unwrap_or(0);
        if !(0..=16).contains(&max_clicks) {
            return Err(file_err(manifest_path, format!("max_clicks = {max_clicks}")));
        }
        let prompts = (1..=max_clicks).map(|n| load(&format!("prompt{n}"))).collect::<Result<Vec<_>, _>>()?;
        let post_outputs = manifest.tensors.get("post").map(|t| t.outputs.clone()).unwrap_or_default();
        for needed in ["pred_vertices", "pred_keypoints_3d", "pred_keypoints_2d", "pred_cam_t"] {
            if !post_outputs.iter().any(|o| o == needed) {
                return Err(file_err(manifest_path, format!("[tensors.post] outputs lack '{needed}'")));
            }
        }
        Ok(Self {
            dir: dir.to_owned(),
            name: manifest.name.clone(),
            input_size: input.width,
            precision,
            encoder,
            prepare: load("prepare")?,
            layers,
            head: load("head")?,
            post: load("post")?,
            keypoint_update: load("keypoint_update")?,
            prompts,
            post_outputs,
        })
    }

    /// The official crop of `image` around `person_box` (x0, y0, x1, y1 pixels), the person mask
    /// warped the same way, and the camera (`focal_px`, else the image diagonal as the official
    /// default; principal point at the image centre).
    pub fn crop_inputs(
        &self,
        image: &Image,
        person_box: [f64; 4],
        mask: Option<&Mask>,
        focal_px: Option<f64>,
    ) -> Result<CropInputs, BodyError> {
        crop_inputs(image, person_box, mask, focal_px, self.input_size)
    }

    /// Runs the body branch on `inputs`, evaluating `mhr` between the layers.
    pub fn predict(
        &self,
        inputs: &CropInputs,
        person_box: [f64; 4],
        mhr: &TorchScriptBody,
        progress: &Progress,
    ) -> Result<Prediction, BodyError> {
        let dir = &self.dir;
        let [affine, cam_int, centre, scale, size] = inputs.batch_tensors();
        let mask_score = Tensor::from_slice(&[inputs.mask_score]);
        let keypoints = Tensor::from_slice(&[0.0f32, 0.0, -2.0]).view([1, 1, 3]); // the official dummy prompt
        progress.set(0.0, "SAM 3D Body: encoding the crop");
        let start = std::time::Instant::now();
        let features = run_piece(&self.encoder, &[&inputs.crop], "encoder", dir)?.remove(0);
        finite(&features, "encoder", &dir.join("encoder.pt"))?;
        let encode_ms = start.elapsed().as_secs_f64() * 1e3;
        progress.check()?;
        let loop_start = std::time::Instant::now();
        let prepared = run_piece(
            &self.prepare,
            &[&features, &affine, &cam_int, &centre, &scale, &size, &inputs.mask, &mask_score, &keypoints],
            "prepare",
            dir,
        )?;
        let outputs = self.decode(prepared, "prepare", [&affine, &cam_int, &centre, &scale, &size], mhr, progress)?;
        progress.set(1.0, "SAM 3D Body: done");
        Ok(Prediction {
            outputs,
            features,
            person_box,
            focal_px: inputs.intrinsics[0][0],
            encode_ms,
            loop_ms: loop_start.elapsed().as_secs_f64() * 1e3,
        })
    }

    /// How many keypoint clicks a prompt pass takes at most (0: the folder has no prompt pieces).
    pub fn max_clicks(&self) -> usize {
        self.prompts.len()
    }

    /// A keypoint-prompt pass after `first` (the official `run_keypoint_prompt`): the same crop and
    /// features, `clicks` as prompt tokens, the first pass's estimate as the previous token.
    pub fn predict_prompted(
        &self,
        inputs: &CropInputs,
        first: &Prediction,
        clicks: &[Click],
        mhr: &TorchScriptBody,
        progress: &Progress,
    ) -> Result<Prediction, BodyError> {
        let module = match clicks.len() {
            0 => return Err(BodyError::Invalid("a prompt pass needs at least one keypoint click".into())),
            n if n > self.prompts.len() => {
                return Err(BodyError::Invalid(format!(
                    "{n} keypoint clicks; this model folder takes at most {}",
                    self.prompts.len()
                )));
            }
            n => &self.prompts[n - 1],
        };
        let a = &inputs.crop_from_image;
        let s = f64::from(self.input_size);
        let mut flat = Vec::with_capacity(clicks.len() * 3);
        for c in clicks {
            if c.keypoint >= KEYPOINTS {
                return Err(BodyError::Invalid(format!(
                    "keypoint index {} is out of range (0..{})",
                    c.keypoint,
                    KEYPOINTS - 1
                )));
            }
            let u = (a[0][0] * c.x_px + a[0][1] * c.y_px + a[0][2]) / s;
            let v = (a[1][0] * c.x_px + a[1][1] * c.y_px + a[1][2]) / s;
            if !(0.0..=1.0).contains(&u) || !(0.0..=1.0).contains(&v) {
                return Err(BodyError::Invalid(format!(
                    "the click on keypoint {} at ({}, {}) px lies outside the person's crop",
                    c.keypoint, c.x_px, c.y_px
                )));
            }
            flat.extend([u as f32, v as f32, c.keypoint as f32]);
        }
        let clicks = Tensor::from_slice(&flat).view([1, clicks.len() as i64, 3]);
        self.prompt_from_crop_clicks(inputs, first, &clicks, module, mhr, progress)
    }

    /// The prompt pass with clicks already in the crop (`[1, N, 3]`: x, y in 0..1, index).
    pub fn predict_prompted_crop(
        &self,
        inputs: &CropInputs,
        first: &Prediction,
        clicks: &Tensor,
        mhr: &TorchScriptBody,
        progress: &Progress,
    ) -> Result<Prediction, BodyError> {
        let n = clicks.size().get(1).copied().unwrap_or(0) as usize;
        let module = self.prompts.get(n.wrapping_sub(1)).ok_or_else(|| {
            BodyError::Invalid(format!("{n} keypoint clicks; this model folder takes 1..{}", self.prompts.len()))
        })?;
        self.prompt_from_crop_clicks(inputs, first, clicks, module, mhr, progress)
    }

    fn prompt_from_crop_clicks(
        &self,
        inputs: &CropInputs,
        first: &Prediction,
        clicks: &Tensor,
        module: &tch::CModule,
        mhr: &TorchScriptBody,
        progress: &Progress,
    ) -> Result<Prediction, BodyError> {
        let dir = &self.dir;
        let [affine, cam_int, centre, scale, size] = inputs.batch_tensors();
        let mask_score = Tensor::from_slice(&[inputs.mask_score]);
        let previous: Vec<Tensor> = PREVIOUS_KEYS
            .iter()
            .map(|k| {
                first
                    .get(k)
                    .map(|t| t.shallow_clone())
                    .ok_or_else(|| BodyError::Invalid(format!("the first pass has no '{k}'")))
            })
            .collect::<Result<_, _>>()?;
        let previous = Tensor::cat(&previous, 1).unsqueeze(1);
        let loop_start = std::time::Instant::now();
        let n = clicks.size()[1];
        let what = format!("prompt{n}");
        let prepared = run_piece(
            module,
            &[&first.features, &affine, &cam_int, &centre, &scale, &size, &inputs.mask, &mask_score, clicks, &previous],
            &what,
            dir,
        )?;
        let outputs = self.decode(prepared, &what, [&affine, &cam_int, &centre, &scale, &size], mhr, progress)?;
        progress.set(1.0, "SAM 3D Body: done");
        Ok(Prediction {
            outputs,
            features: first.features.shallow_clone(),
            person_box: first.person_box,
            focal_px: first.focal_px,
            encode_ms: 0.0,
            loop_ms: loop_start.elapsed().as_secs_f64() * 1e3,
        })
    }

    /// The decoder loop from a preparation's outputs: six layers, each followed by the head, MHR,
    /// the post-processing and (but the last) the keypoint-token update.
    fn decode(
        &self,
        prepared: Vec<Tensor>,
        prepared_by: &str,
        batch: [&Tensor; 5],
        mhr: &TorchScriptBody,
        progress: &Progress,
    ) -> Result<Vec<(String, Tensor)>, BodyError> {
        let dir = &self.dir;
        let [affine, cam_int, centre, scale, size] = batch;
        let [image, tokens, tokens_pe, image_flat, image_pe_flat]: [Tensor; 5] = prepared.try_into().map_err(|_| {
            BodyError::File { path: dir.join(format!("{prepared_by}.pt")), message: "expected 5 outputs".into() }
        })?;
        let (mut tokens, mut tokens_pe, mut image_flat) = (tokens, tokens_pe, image_flat);
        let mut outputs = Vec::new();
        let n = self.layers.len();
        for (i, layer) in self.layers.iter().enumerate() {
            progress.check()?;
            progress.set((i as f32 + 1.0) / (n as f32 + 1.0), format!("SAM 3D Body: layer {} of {n}", i + 1));
            let what = format!("layer{i}");
            let mut out = run_piece(layer, &[&tokens, &image_flat, &tokens_pe, &image_pe_flat], &what, dir)?;
            if out.len() != 2 {
                return Err(BodyError::File {
                    path: dir.join(format!("{what}.pt")),
                    message: "expected 2 outputs".into(),
                });
            }
            image_flat = out.remove(1);
            tokens = out.remove(0);
            let mhr_in = run_piece(&self.head, &[&tokens], "head", dir)?;
            if mhr_in.len() != 3 {
                return Err(BodyError::File { path: dir.join("head.pt"), message: "expected 3 outputs".into() });
            }
            for t in &mhr_in {
                finite(t, "head", &dir.join("head.pt"))?;
            }
            let (vertices_cm, skeleton) = mhr.forward_tensors(&mhr_in[0], &mhr_in[1], &mhr_in[2])?;
            let post = run_piece(
                &self.post,
                &[&tokens, &vertices_cm, &skeleton, affine, cam_int, centre, scale, size],
                "post",
                dir,
            )?;
            if post.len() != self.post_outputs.len() {
                return Err(BodyError::File {
                    path: dir.join("post.pt"),
                    message: format!("{} outputs, the manifest names {}", post.len(), self.post_outputs.len()),
                });
            }
            outputs = self.post_outputs.iter().cloned().zip(post).collect::<Vec<_>>();
            if i + 1 < n {
                let get = |name: &str| -> Result<&Tensor, BodyError> {
                    outputs.iter().find(|(k, _)| k == name).map(|(_, t)| t).ok_or_else(|| BodyError::File {
                        path: dir.join("manifest.toml"),
                        message: format!("[tensors.post] outputs lack '{name}'"),
                    })
                };
                let mut upd = run_piece(
                    &self.keypoint_update,
                    &[
                        &tokens,
                        &tokens_pe,
                        &image,
                        get("pred_keypoints_2d_cropped")?,
                        get("pred_keypoints_2d_depth")?,
                        get("pred_keypoints_3d")?,
                    ],
                    "keypoint_update",
                    dir,
                )?;
                if upd.len() != 2 {
                    return Err(BodyError::File {
                        path: dir.join("keypoint_update.pt"),
                        message: "expected 2 outputs".into(),
                    });
                }
                tokens_pe = upd.remove(1);
                tokens = upd.remove(0);
            }
        }
        for (name, t) in &outputs {
            finite(t, name, &dir.join("post.pt"))?;
        }
        Ok(outputs)
    }
}

/// The official crop (see the module doc) at `size`×`size`.
pub fn crop_inputs(
    image: &Image,
    person_box: [f64; 4],
    mask: Option<&Mask>,
    focal_px: Option<f64>,
    size: u32,
) -> Result<CropInputs, BodyError> {
    let (w, h) = (f64::from(image.width()), f64::from(image.height()));
    let [x0, y0, x1, y1] = person_box;
    if person_box.iter().any(|v| !v.is_finite()) {
        return Err(BodyError::Invalid(format!("the person box {person_box:?} holds a non-finite value")));
    }
    if x1 - x0 < 4.0 || y1 - y0 < 4.0 {
        return Err(BodyError::Invalid(format!(
            "the person box {x0},{y0},{x1},{y1} is smaller than 4×4 pixels (x0,y0,x1,y1)"
        )));
    }
    if x1 <= 0.0 || y1 <= 0.0 || x0 >= w || y0 >= h {
        return Err(BodyError::Invalid(format!(
            "the person box {x0},{y0},{x1},{y1} lies outside the {}×{} image",
            image.width(),
            image.height()
        )));
    }
    if let Some(m) = mask
        && (m.width() != image.width() || m.height() != image.height())
    {
        return Err(BodyError::Invalid(format!(
            "the person mask is {}×{}, the image {}×{}",
            m.width(),
            m.height(),
            image.width(),
            image.height()
        )));
    }
    let focal = match focal_px {
        Some(f) if f.is_finite() && (1e-3..=1e8).contains(&f) => f,
        Some(f) => return Err(BodyError::Invalid(format!("focal length {f} px is outside 1e-3..1e8"))),
        None => (w * w + h * h).sqrt(),
    };
    let centre = [(x0 + x1) * 0.5, (y0 + y1) * 0.5];
    let fix = |[sw, sh]: [f64; 2], aspect: f64| if sw > sh * aspect { [sw, sw / aspect] } else { [sh * aspect, sh] };
    let scale = fix(fix([(x1 - x0) * BOX_PADDING, (y1 - y0) * BOX_PADDING], ASPECT_PRIOR), 1.0);
    let s = f64::from(size);
    let zoom = s / scale[0];
    let crop_from_image = [[zoom, 0.0, s * 0.5 - zoom * centre[0]], [0.0, zoom, s * 0.5 - zoom * centre[1]]];
    // Bilinear warp, destination pixel (u, v) from source ((u - tx) / zoom, (v - ty) / zoom),
    // outside the photo black (cv2.warpAffine, INTER_LINEAR, BORDER_CONSTANT 0).
    let n = size as usize;
    let source = |u: usize, tx: f64| (u as f64 - tx) / zoom;
    let sample = |x: f64, y: f64, get: &dyn Fn(u32, u32) -> [f32; 3]| -> [f32; 3] {
        let (fx, fy) = (x.floor(), y.floor());
        let (ax, ay) = ((x - fx) as f32, (y - fy) as f32);
        let mut acc = [0.0f32; 3];
        for (dy, wy) in [(0.0, 1.0 - ay), (1.0, ay)] {
            for (dx, wx) in [(0.0, 1.0 - ax), (1.0, ax)] {
                let (px, py) = (fx + dx, fy + dy);
                if wx * wy == 0.0 || px < 0.0 || py < 0.0 || px >= w || py >= h {
                    continue;
                }
                let p = get(px as u32, py as u32);
                for c in 0..3 {
                    acc[c] += wx * wy * p[c];
                }
            }
        }
        acc
    };
    let pixel = |x: u32, y: u32| image.pixel(x, y).map(|p| p.map(f32::from)).unwrap_or([0.0; 3]);
    let mut crop = vec![0.0f32; 3 * n * n];
    let mut crop_mask = vec![0.0f32; n * n];
    for v in 0..n {
        let y = source(v, crop_from_image[1][2]);
        for u in 0..n {
            let x = source(u, crop_from_image[0][2]);
            let rgb = sample(x, y, &pixel);
            for c in 0..3 {
                crop[c * n * n + v * n + u] = rgb[c].round().clamp(0.0, 255.0) / 255.0;
            }
            if let Some(m) = mask {
                let on = |x: u32, y: u32| if m.get(x, y) { [1.0; 3] } else { [0.0; 3] };
                crop_mask[v * n + u] = sample(x, y, &on)[0].round();
            }
        }
    }
    Ok(CropInputs {
        crop: Tensor::from_slice(&crop).view([1, 3, n as i64, n as i64]),
        crop_from_image,
        intrinsics: [[focal, 0.0, w * 0.5], [0.0, focal, h * 0.5], [0.0, 0.0, 1.0]],
        box_centre_px: centre,
        box_scale_px: scale,
        image_size_px: [w, h],
        mask: Tensor::from_slice(&crop_mask).view([1, 1, n as i64, n as i64]),
        mask_score: if mask.is_some() { 1.0 } else { 0.0 },
    })
}

/// The `.npz` keys of the official estimator's output, and the prediction key each comes from.
const NPZ_KEYS: [(&str, &str); 14] = [
    ("pred_keypoints_3d", "pred_keypoints_3d"),
    ("pred_keypoints_2d", "pred_keypoints_2d"),
    ("pred_vertices", "pred_vertices"),
    ("pred_cam_t", "pred_cam_t"),
    ("pred_pose_raw", "pred_pose_raw"),
    ("global_rot", "global_rot"),
    ("body_pose_params", "body_pose"),
    ("hand_pose_params", "hand"),
    ("scale_params", "scale"),
    ("shape_params", "shape"),
    ("expr_params", "face"),
    ("pred_joint_coords", "pred_joint_coords"),
    ("pred_global_rots", "joint_global_rots"),
    ("mhr_model_params", "mhr_model_params"),
];

impl Prediction {
    /// An output by its name in the model folder's manifest (batch dimension kept).
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.outputs.iter().find(|(k, _)| k == name).map(|(_, t)| t)
    }

    fn values(&self, name: &str) -> Result<(Vec<u64>, Vec<f32>), BodyError> {
        let t = self.get(name).ok_or_else(|| BodyError::Invalid(format!("the prediction has no '{name}'")))?;
        // One person: drop the batch dimension, as the estimator's per-person dicts do.
        let shape: Vec<u64> = t.size().iter().skip(1).map(|&d| d as u64).collect();
        let flat = t.to_kind(Kind::Float).contiguous().view([-1]);
        let data = Vec::<f32>::try_from(&flat).map_err(|e| BodyError::Invalid(format!("{name}: {e}")))?;
        Ok((shape, data))
    }

    /// Writes the official estimator's `.npz` (float32 arrays, one person).
    pub fn write_npz(&self, path: &Path) -> Result<(), BodyError> {
        use npyz::WriterBuilder as _;
        let io_err = |e: std::io::Error| BodyError::File { path: path.to_owned(), message: e.to_string() };
        let file = std::fs::File::create(path).map_err(io_err)?;
        let mut npz = npyz::npz::NpzWriter::new(std::io::BufWriter::new(file));
        let mut put = |key: &str, shape: &[u64], data: &[f32]| -> Result<(), BodyError> {
            let options = npyz::zip::write::FileOptions::default();
            let mut w = npz
                .array::<f32>(key, options)
                .map_err(io_err)?
                .default_dtype()
                .shape(shape)
                .begin_nd()
                .map_err(io_err)?;
            w.extend(data.iter().copied()).map_err(io_err)?;
            w.finish().map_err(io_err)
        };
        let b = self.person_box;
        put("bbox", &[4], &[b[0] as f32, b[1] as f32, b[2] as f32, b[3] as f32])?;
        put("focal_length", &[], &[self.focal_px as f32])?;
        for (key, name) in NPZ_KEYS {
            let (shape, data) = self.values(name)?;
            put(key, &shape, &data)?;
        }
        npz.zip_writer().finish().map_err(|e| BodyError::File { path: path.to_owned(), message: e.to_string() })?;
        Ok(())
    }

    /// The person as a [`Sam3dBody`] (camera frame, metres), for meshes at any LOD and overlays.
    pub fn to_body(&self) -> Result<Sam3dBody, BodyError> {
        let rows3 = |name: &str| -> Result<Vec<[f32; 3]>, BodyError> {
            let (_, d) = self.values(name)?;
            Ok(d.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect())
        };
        let (_, t) = self.values("pred_cam_t")?;
        if t.len() != 3 {
            return Err(BodyError::Invalid(format!("pred_cam_t has {} values", t.len())));
        }
        let shift = |rows: Vec<[f32; 3]>| rows.into_iter().map(|p| [p[0] + t[0], p[1] + t[1], p[2] + t[2]]).collect();
        let (_, k2) = self.values("pred_keypoints_2d")?;
        let mut parameters = Vec::new();
        for (key, name) in NPZ_KEYS.iter().skip(4) {
            parameters.push((key.to_string(), self.values(name)?.1));
        }
        let b = self.person_box;
        Ok(Sam3dBody {
            path: PathBuf::from("(SAM 3D Body prediction)"),
            vertices_lod1: shift(rows3("pred_vertices")?),
            keypoints_3d: shift(rows3("pred_keypoints_3d")?),
            keypoints_2d: k2.chunks_exact(2).map(|c| [c[0], c[1]]).collect(),
            cam_t: [t[0], t[1], t[2]],
            bbox: [b[0] as f32, b[1] as f32, b[2] as f32, b[3] as f32],
            parameters,
        })
    }
}

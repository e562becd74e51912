//! Depth models in the lift's model slot: a model folder of kind `depth` whose TorchScript module
//! takes the photo (`image` 1×3×H×W, resized and normalised as its `[input]` says) and returns one
//! of three things, named by `[config] output` in its manifest:
//!
//! - `inverse_depth` (Depth Anything V2 relative, `tools/export_depth.py`): 1×H×W relative inverse
//!   depth, larger = nearer, known only up to scale and shift;
//! - `depth` (Depth Pro, `tools/export_depth.py --arch depth-pro`; any metric depth model): 1×H×W
//!   depth along the optical axis in metres, optionally as a tuple `(depth, field_of_view)` whose
//!   second item is the horizontal field of view in degrees (Depth Pro's `field_of_view`);
//! - `points` (MoGe-style point maps): 1×H×W×3 points in the camera frame (OpenCV axes: x right,
//!   y down, z forward); the focal length is the least-squares fit of the points' projections.
//!
//! Whatever the model's own resolution, the map is resampled to the photo's (bilinear), and a map
//! with NaN, infinite or non-positive depths inside the object is refused with the model named.

use std::path::PathBuf;

use tch::{IValue, Kind, Tensor};

use crate::core::image::Image;
use crate::model::{ComputeDevice, InputSpec, ModelError, ModelFolder};

/// What a depth model's output means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DepthOutput {
    InverseDepth,
    Depth,
    Points,
}

impl DepthOutput {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "inverse_depth" => Some(Self::InverseDepth),
            "depth" => Some(Self::Depth),
            "points" => Some(Self::Points),
            _ => None,
        }
    }
}

/// A depth model loaded on the CPU.
pub struct DepthModel {
    pub name: String,
    pub output: DepthOutput,
    path: PathBuf,
    module: tch::CModule,
    input: InputSpec,
}

/// A depth model's answer at the photo's resolution (row-major, `width × height` values).
#[derive(Clone, Debug)]
pub enum DepthMap {
    /// Relative inverse depth (larger = nearer).
    InverseDepth(Vec<f32>),
    /// Depth along the optical axis (metres).
    Depth(Vec<f32>),
    /// Camera-frame points (metres, OpenCV axes).
    Points(Vec<[f32; 3]>),
}

/// A prediction: the map, and the focal length (photo pixels) when the model gives one.
#[derive(Clone, Debug)]
pub struct DepthPrediction {
    pub map: DepthMap,
    pub focal_px: Option<f64>,
}

impl DepthModel {
    /// Loads the folder's TorchScript module (on the CPU).
    pub fn load(folder: &ModelFolder) -> Result<Self, ModelError> {
        let manifest_path = folder.path.join("manifest.toml");
        let bad = |message: String| ModelError::Manifest { path: manifest_path.clone(), message };
        let manifest = folder.manifest.as_ref().ok_or_else(|| bad("unreadable manifest".into()))?;
        let input = manifest.input.clone().ok_or_else(|| bad("a depth model needs an [input] section".into()))?;
        let path = manifest.file(&folder.path, "model").ok_or_else(|| bad("[files] lacks 'model'".into()))?;
        let output = match manifest.config.get("output") {
            None => DepthOutput::InverseDepth,
            Some(value) => value.as_str().and_then(DepthOutput::parse).ok_or_else(|| {
                bad(format!("[config] output = {value} is not one of \"inverse_depth\", \"depth\", \"points\""))
            })?,
        };
        let module = crate::model::load_torchscript(&path, ComputeDevice::Cpu)?;
        Ok(Self { name: manifest.name.clone(), output, path, module, input })
    }

    fn run_error(&self, message: String) -> ModelError {
        ModelError::Run { path: self.path.clone(), message }
    }

    /// Runs the model on `image` and resamples its answer to the image's resolution.
    pub fn predict(&self, image: &Image) -> Result<DepthPrediction, ModelError> {
        let run = |e: tch::TchError| self.run_error(crate::model::runtime::first_line(&e.to_string()));
        let (w, h) = (image.width(), image.height());
        let x = crate::model::runtime::image_to_model_input(image, &self.input, ComputeDevice::Cpu)?;
        let out = tch::no_grad(|| self.module.forward_is(&[IValue::Tensor(x)])).map_err(run)?;
        let (map, fov_deg) = match out {
            IValue::Tensor(t) => (t, None),
            IValue::Tuple(items) | IValue::GenericList(items) => {
                let mut items = items.into_iter();
                let Some(IValue::Tensor(map)) = items.next() else {
                    return Err(self.run_error("the model returned a tuple without a tensor first".into()));
                };
                let fov = match items.next() {
                    Some(IValue::Tensor(t)) if t.numel() == 1 => Some(t.to_kind(Kind::Double).double_value(&[])),
                    Some(IValue::Double(v)) => Some(v),
                    _ => None,
                };
                (map, fov)
            }
            other => return Err(self.run_error(format!("the model returned {other:?}, not a tensor"))),
        };
        let size = map.size();
        let resample = |t: Tensor, channels: i64| -> Result<Vec<f32>, ModelError> {
            let full = t
                .to_kind(Kind::Float)
                .f_upsample_bilinear2d([i64::from(h), i64::from(w)], false, None, None)
                .map_err(run)?;
            // Channels last, row-major.
            let values = full.permute([0, 2, 3, 1]).contiguous().view([-1]);
            let values = Vec::<f32>::try_from(&values).map_err(run)?;
            debug_assert_eq!(values.len(), (w as usize) * (h as usize) * channels as usize);
            Ok(values)
        };
        let map = match self.output {
            DepthOutput::InverseDepth | DepthOutput::Depth => {
                let [.., mh, mw] = size[..] else {
                    return Err(self.run_error(format!("output shape {size:?} is not a 1×H×W map")));
                };
                if mh * mw <= 0 || map.numel() != (mh * mw) as usize {
                    return Err(self.run_error(format!("output shape {size:?} is not a 1×H×W map")));
                }
                let values = resample(map.view([1, 1, mh, mw]), 1)?;
                if self.output == DepthOutput::Depth { DepthMap::Depth(values) } else { DepthMap::InverseDepth(values) }
            }
            DepthOutput::Points => {
                let [.., mh, mw, 3] = size[..] else {
                    return Err(self.run_error(format!("output shape {size:?} is not a 1×H×W×3 point map")));
                };
                if map.numel() != (mh * mw * 3) as usize {
                    return Err(self.run_error(format!("output shape {size:?} is not a 1×H×W×3 point map")));
                }
                let values = resample(map.view([1, mh, mw, 3]).permute([0, 3, 1, 2]), 3)?;
                DepthMap::Points(values.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect())
            }
        };
        let focal_px = match fov_deg {
            Some(fov) if fov.is_finite() && fov > 1.0 && fov < 179.0 => {
                Some(0.5 * f64::from(w) / (0.5 * fov.to_radians()).tan())
            }
            Some(fov) => return Err(self.run_error(format!("the field of view {fov}° is out of range (1°..179°)"))),
            None => None,
        };
        Ok(DepthPrediction { map, focal_px })
    }
}

/// The focal length (pixels) that best projects camera-frame `points` onto their pixels (centres at
/// `+0.5`) about the principal point `(cx, cy)`: least squares over the points flagged in `use_point`
/// with positive depth. `None` when fewer than 16 points or a degenerate spread.
pub fn focal_from_points(
    points: &[[f32; 3]],
    width: u32,
    cx: f64,
    cy: f64,
    use_point: impl Fn(usize) -> bool,
) -> Option<f64> {
    let (mut num, mut den, mut n) = (0.0f64, 0.0f64, 0usize);
    for (k, p) in points.iter().enumerate() {
        if !use_point(k) || !p.iter().all(|v| v.is_finite()) || p[2] <= 0.0 {
            continue;
        }
        let (x, y) = ((k % width as usize) as f64 + 0.5, (k / width as usize) as f64 + 0.5);
        let (a, b) = (f64::from(p[0]) / f64::from(p[2]), f64::from(p[1]) / f64::from(p[2]));
        num += (x - cx) * a + (y - cy) * b;
        den += a * a + b * b;
        n += 1;
    }
    let f = num / den;
    (n >= 16 && den > 1e-12 && f.is_finite() && f > 0.0).then_some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn focal_is_recovered_from_a_point_map() {
        let (w, h, f) = (40u32, 30u32, 57.0f64);
        let points: Vec<[f32; 3]> = (0..w * h)
            .map(|k| {
                let (x, y) = (f64::from(k % w) + 0.5, f64::from(k / w) + 0.5);
                let z = 2.0 + 0.01 * x;
                [((x - 20.0) / f * z) as f32, ((y - 15.0) / f * z) as f32, z as f32]
            })
            .collect();
        let got = focal_from_points(&points, w, 20.0, 15.0, |_| true).unwrap();
        assert!((got - f).abs() < 1e-3, "{got}");
        assert!(focal_from_points(&points, w, 20.0, 15.0, |k| k < 3).is_none());
    }
}

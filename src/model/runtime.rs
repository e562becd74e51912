//! libtorch through tch: the version we link, the devices present, TorchScript loading, and
//! image/mask ↔ tensor conversion. Tensors follow PyTorch's NCHW layout.

use std::path::Path;

use serde::Serialize;
use tch::{Device, Kind, Tensor};

use super::ModelError;
use super::manifest::InputSpec;
use crate::core::image::Image;
use crate::core::mask::Mask;

/// Version of the libtorch Carve was built against and loads at run time (rpath), e.g.
/// `2.13.0+cu130` for the torch wheel installed by `scripts/setup.sh`.
pub fn libtorch_version() -> &'static str {
    env!("CARVE_LIBTORCH_VERSION")
}

/// Where tensors live and models run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ComputeDevice {
    Cpu,
    Cuda(usize),
}

impl ComputeDevice {
    /// CUDA device 0 when present, else the CPU.
    pub fn best() -> Self {
        if tch::Cuda::is_available() { Self::Cuda(0) } else { Self::Cpu }
    }

    /// Parses `cpu`, `cuda`, `cuda:N` or `auto`, checking the device exists.
    pub fn parse(text: &str) -> Result<Self, ModelError> {
        let available = tch::Cuda::device_count();
        let cuda = |index: usize| {
            if (index as i64) < available {
                Ok(Self::Cuda(index))
            } else {
                Err(ModelError::NoCuda { index, available })
            }
        };
        match text.trim() {
            "auto" => Ok(Self::best()),
            "cpu" => Ok(Self::Cpu),
            "cuda" => cuda(0),
            other => match other.strip_prefix("cuda:").and_then(|n| n.parse::<usize>().ok()) {
                Some(index) => cuda(index),
                None => Err(ModelError::NoCuda { index: usize::MAX, available }),
            },
        }
    }

    pub fn to_tch(self) -> Device {
        match self {
            Self::Cpu => Device::Cpu,
            Self::Cuda(i) => Device::Cuda(i),
        }
    }
}

impl std::fmt::Display for ComputeDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Cpu => write!(f, "cpu"),
            Self::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

/// What compute this machine offers to libtorch.
#[derive(Clone, Debug, Serialize)]
pub struct DeviceInfo {
    pub libtorch_version: String,
    /// Threads libtorch uses for CPU ops.
    pub cpu_threads: i32,
    pub cuda_available: bool,
    pub cuda_devices: i64,
    pub cudnn_available: bool,
    /// Whether this libtorch build has CUDA support at all (the PyPI wheel does).
    pub libtorch_built_with_cuda: bool,
}

/// Queries libtorch for its devices.
pub fn device_info() -> DeviceInfo {
    DeviceInfo {
        libtorch_version: libtorch_version().to_owned(),
        cpu_threads: tch::get_num_threads(),
        cuda_available: tch::Cuda::is_available(),
        cuda_devices: tch::Cuda::device_count(),
        cudnn_available: tch::Cuda::cudnn_is_available(),
        libtorch_built_with_cuda: tch::utils::has_cuda(),
    }
}

/// Loads a TorchScript module onto `device` in eval mode. Missing, truncated or foreign files give
/// an error naming the file.
pub fn load_torchscript(path: &Path, device: ComputeDevice) -> Result<tch::CModule, ModelError> {
    if !path.is_file() {
        return Err(ModelError::Io {
            path: path.to_owned(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    super::alloc::keep_large_buffers();
    if device == ComputeDevice::Cpu {
        simple_executor_on_cpu();
    }
    let start = std::time::Instant::now();
    let mut module = tch::CModule::load_on_device(path, device.to_tch())
        .map_err(|e| ModelError::TorchScript { path: path.to_owned(), message: first_line(&e.to_string()) })?;
    module.set_eval();
    tracing::info!(path = %path.display(), ms = start.elapsed().as_secs_f64() * 1e3, "TorchScript module loaded");
    Ok(module)
}

/// TorchScript's profiling executor runs a module's first calls instrumented, to specialise the
/// graph for fusers that only exist on GPUs; on the CPU that buys nothing in steady state (SAM 2.1
/// tiny: encoder 1336 vs 1344 ms, decode 26 vs 25 ms, same bench) but the first call — the only
/// one a `carve segment` makes — holds the profiling records: the full SAM 3 bf16 encoder's first
/// call peaked at 3.8 GB and took 6.6–6.8 s with it, 1.9 GB and 6.1–6.2 s without. So Carve turns
/// it off (process-wide, once) when a module is loaded onto the CPU; CUDA keeps the default.
fn simple_executor_on_cpu() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Err(e) = tch::jit::f_set_profiling_mode(false) {
            tracing::warn!("cannot turn off TorchScript's profiling executor: {e}");
        }
    });
}

/// libtorch errors carry a C++ backtrace; the first line says what went wrong.
pub(crate) fn first_line(message: &str) -> String {
    message.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("unknown libtorch error").to_owned()
}

/// An image as a `1×3×H×W` float tensor in 0..1 (no resizing, no normalisation).
pub fn image_to_tensor(image: &Image) -> Tensor {
    let (w, h) = (i64::from(image.width()), i64::from(image.height()));
    Tensor::from_slice(image.rgb().as_raw()).view([h, w, 3]).permute([2, 0, 1]).unsqueeze(0).to_kind(Kind::Float)
        / 255.0
}

/// An image resized to the model's input size and normalised with its mean/std:
/// `1×3×height×width` float. The resize is bilinear with antialiasing on the 8-bit image, exactly
/// what torchvision's `v2.Resize` does on a uint8 tensor (the SAM 3 processor's path); the result
/// is then scaled to 0..1 and normalised.
pub fn image_to_model_input(image: &Image, input: &InputSpec, device: ComputeDevice) -> Result<Tensor, ModelError> {
    let run_err =
        |e: tch::TchError| ModelError::Run { path: "image preprocessing".into(), message: first_line(&e.to_string()) };
    let (w, h) = (i64::from(image.width()), i64::from(image.height()));
    let u8_nchw = Tensor::from_slice(image.rgb().as_raw()).view([h, w, 3]).permute([2, 0, 1]).unsqueeze(0).contiguous();
    let resized = if (image.width(), image.height()) == (input.width, input.height) {
        u8_nchw
    } else {
        u8_nchw
            .f_internal_upsample_bilinear2d_aa([i64::from(input.height), i64::from(input.width)], false, None, None)
            .map_err(run_err)?
    };
    let x = resized.to_device(device.to_tch()).to_kind(Kind::Float) / 255.0;
    Ok(normalise(x, input, device))
}

/// An image as SAM 2's `SAM2Transforms` prepares it: scaled to 0..1 floats first (`ToTensor`),
/// then resized to the model's input size (bilinear with antialiasing, on the float image, no
/// rounding), then normalised with the input's mean/std: `1×3×height×width` float.
pub fn image_to_model_input_float_resize(
    image: &Image,
    input: &InputSpec,
    device: ComputeDevice,
) -> Result<Tensor, ModelError> {
    let run_err =
        |e: tch::TchError| ModelError::Run { path: "image preprocessing".into(), message: first_line(&e.to_string()) };
    let x = image_to_tensor(image).to_device(device.to_tch());
    let x = if (image.width(), image.height()) == (input.width, input.height) {
        x
    } else {
        x.f_internal_upsample_bilinear2d_aa([i64::from(input.height), i64::from(input.width)], false, None, None)
            .map_err(run_err)?
    };
    Ok(normalise(x, input, device))
}

/// `(x - mean) / std` per channel of a `1×3×H×W` tensor.
fn normalise(x: Tensor, input: &InputSpec, device: ComputeDevice) -> Tensor {
    let mean = Tensor::from_slice(&input.mean).view([1, 3, 1, 1]).to_device(device.to_tch());
    let std = Tensor::from_slice(&input.std).view([1, 3, 1, 1]).to_device(device.to_tch());
    (x - mean) / std
}

/// A `H×W` (or `1×1×H×W`) tensor thresholded at `threshold` into a mask.
pub fn tensor_to_mask(t: &Tensor, threshold: f64) -> Result<Mask, ModelError> {
    let bad = |message: String| ModelError::Run { path: "mask tensor".into(), message };
    let t = t.to_device(Device::Cpu).squeeze();
    let size = t.size();
    let [h, w] = size[..] else { return Err(bad(format!("expected a H×W tensor, got shape {size:?}"))) };
    let (width, height) = (
        u32::try_from(w).map_err(|_| bad("bad width".into()))?,
        u32::try_from(h).map_err(|_| bad("bad height".into()))?,
    );
    let bits = t.gt(threshold).to_kind(Kind::Uint8).contiguous().view([-1]);
    let bytes = Vec::<u8>::try_from(&bits).map_err(|e| bad(first_line(&e.to_string())))?;
    Mask::from_bytes(width, height, &bytes).ok_or_else(|| bad("mask size mismatch".into()))
}

/// A `3×H×W` (or `1×3×H×W`) float tensor in 0..1 as an image.
pub fn tensor_to_image(t: &Tensor) -> Result<Image, ModelError> {
    let bad = |message: String| ModelError::Run { path: "image tensor".into(), message };
    let t = t.to_device(Device::Cpu).squeeze();
    let size = t.size();
    let [3, h, w] = size[..] else { return Err(bad(format!("expected a 3×H×W tensor, got shape {size:?}"))) };
    let hwc = (t.clamp(0.0, 1.0) * 255.0).round().to_kind(Kind::Uint8).permute([1, 2, 0]).contiguous().view([-1]);
    let bytes = Vec::<u8>::try_from(&hwc).map_err(|e| bad(first_line(&e.to_string())))?;
    let rgb = image::RgbImage::from_raw(w as u32, h as u32, bytes).ok_or_else(|| bad("image size mismatch".into()))?;
    Ok(Image::from_rgb(rgb))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_tensor_round_trip() {
        let rgb = image::RgbImage::from_fn(5, 3, |x, y| image::Rgb([x as u8 * 40, y as u8 * 80, 7]));
        let image = Image::from_rgb(rgb);
        let t = image_to_tensor(&image);
        assert_eq!(t.size(), [1, 3, 3, 5]);
        assert!((t.double_value(&[0, 0, 0, 4]) - 160.0 / 255.0).abs() < 1e-6);
        assert_eq!(tensor_to_image(&t).unwrap(), image);
    }

    #[test]
    fn model_input_is_resized_and_normalised() {
        let image = Image::from_rgb(image::RgbImage::from_pixel(40, 20, image::Rgb([255, 0, 128])));
        let spec = InputSpec { width: 16, height: 16, mean: [0.5; 3], std: [0.5; 3] };
        let x = image_to_model_input(&image, &spec, ComputeDevice::Cpu).unwrap();
        assert_eq!(x.size(), [1, 3, 16, 16]);
        assert!((x.double_value(&[0, 0, 7, 7]) - 1.0).abs() < 1e-5);
        assert!((x.double_value(&[0, 1, 7, 7]) + 1.0).abs() < 1e-5);
    }

    #[test]
    fn logits_threshold_into_mask() {
        let t = Tensor::from_slice(&[-1.0f32, 2.0, 0.5, -3.0, 4.0, 0.0]).view([1, 1, 2, 3]);
        let mask = tensor_to_mask(&t, 0.0).unwrap();
        assert_eq!(mask.as_bytes(), &[0, 1, 1, 0, 1, 0]);
        assert!(tensor_to_mask(&Tensor::zeros([2, 2, 2], (Kind::Float, Device::Cpu)), 0.0).is_err());
    }

    #[test]
    fn device_parsing() {
        assert_eq!(ComputeDevice::parse("cpu").unwrap(), ComputeDevice::Cpu);
        assert!(ComputeDevice::parse("tpu").is_err());
        if !tch::Cuda::is_available() {
            assert!(ComputeDevice::parse("cuda:0").unwrap_err().to_string().contains("0 CUDA device"));
        }
    }

    #[test]
    fn garbage_torchscript_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.pt");
        std::fs::write(&path, b"not a zip archive").unwrap();
        let err = load_torchscript(&path, ComputeDevice::Cpu).unwrap_err().to_string();
        assert!(err.contains("broken.pt") && err.contains("not a usable TorchScript module"), "{err}");
        let err = load_torchscript(&dir.path().join("absent.pt"), ComputeDevice::Cpu).unwrap_err().to_string();
        assert!(err.contains("absent.pt"), "{err}");
    }
}

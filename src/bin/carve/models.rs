//! `carve models`: the libtorch build, the compute devices and every model folder on the search
//! path, each checked.

use std::fmt::Write as _;

use anyhow::Context as _;
use carve::model::precision::{CpuFeatures, Precision, PrecisionChoice};
use carve::model::{DeviceInfo, ModelFolder, SearchDir, SearchOrigin, manifest::Weights};
use serde::Serialize;

use crate::args::{JsonArg, ModelsArg};
use crate::output::{self, Text};

#[derive(clap::Args)]
pub struct ModelsArgs {
    #[command(flatten)]
    models: ModelsArg,
    #[command(flatten)]
    output: JsonArg,
}

/// What `carve models --json` prints.
#[derive(Serialize)]
struct ModelsSummary {
    /// The libtorch version without its build tag (`2.13.0`).
    libtorch: String,
    /// The full version (`2.13.0+cu130`).
    libtorch_build: String,
    devices: DeviceInfo,
    /// What decides the image-encoder precision.
    cpu_features: CpuFeatures,
    /// What `--precision auto` runs at for a folder that has a bf16 encoder ("bf16" or "fp32").
    auto_precision: Precision,
    search_path: Vec<SearchDir>,
    models: Vec<ModelFolder>,
}

pub fn run(args: &ModelsArgs) -> anyhow::Result<()> {
    let search_path =
        carve::model::search_dirs_from_env(args.models.models.as_deref()).context("cannot search for models")?;
    let models = carve::model::find_models(&search_path);
    let devices = carve::model::device_info();
    let cpu_features = carve::model::precision::cpu_features();
    let auto_precision = PrecisionChoice::Auto.resolve(true, &cpu_features).map_or(Precision::Fp32, |r| r.0);
    let summary = ModelsSummary {
        libtorch: devices.libtorch_version.split('+').next().unwrap_or_default().to_owned(),
        libtorch_build: devices.libtorch_version.clone(),
        devices,
        cpu_features,
        auto_precision,
        search_path,
        models,
    };
    output::finish(args.output.json, &summary, |s| Text::Stdout(listing(s)))
}

/// The human-readable report.
fn listing(s: &ModelsSummary) -> String {
    let mut text = String::new();
    let devices = &s.devices;
    // Writing into a String cannot fail.
    let _ = writeln!(text, "libtorch {}", devices.libtorch_version);
    let cuda = if devices.cuda_available {
        format!("{} CUDA device(s){}", devices.cuda_devices, if devices.cudnn_available { ", cuDNN" } else { "" })
    } else if devices.libtorch_built_with_cuda {
        "no CUDA device (libtorch has CUDA support)".to_owned()
    } else {
        "no CUDA (CPU-only libtorch)".to_owned()
    };
    let _ = writeln!(text, "devices: cpu ({} threads); {cuda}", devices.cpu_threads);
    let f = &s.cpu_features;
    let flags: Vec<&str> = [
        (f.avx2, "avx2"),
        (f.fma, "fma"),
        (f.avx512f, "avx512f"),
        (f.avx_vnni, "avx_vnni"),
        (f.avx512_bf16, "avx512_bf16"),
        (f.amx_bf16, "amx_bf16"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    let _ = writeln!(
        text,
        "cpu features: {}; --precision auto runs {}",
        if flags.is_empty() { "none known".to_owned() } else { flags.join(" ") },
        s.auto_precision.as_str()
    );
    let _ = writeln!(text, "search path:");
    for dir in &s.search_path {
        let origin = match dir.origin {
            SearchOrigin::Explicit => "--models",
            SearchOrigin::Environment => "$CARVE_MODELS",
            SearchOrigin::UserData => "user data",
        };
        let absent = if dir.exists { "" } else { "  (absent)" };
        let _ = writeln!(text, "  {origin:<14} {}{absent}", dir.path.display());
    }
    if s.models.is_empty() {
        let _ = writeln!(
            text,
            "models: none found. Put model folders (made by the scripts in tools/) in one of the folders above."
        );
    } else {
        let _ = writeln!(text, "models:");
    }
    for m in &s.models {
        let kind = m.kind.as_ref().map_or("?", |k| k.as_str());
        let weights = match m.weights {
            Some(Weights::Random) => " [random weights]",
            _ => "",
        };
        let status = if m.valid { "valid" } else { "INVALID" };
        let name = m.name.as_deref().unwrap_or("-");
        let _ = writeln!(text, "  {status:<8} {kind:<9} {name}{weights}  {}", m.path.display());
        for p in &m.problems {
            let _ = writeln!(text, "           - {p}");
        }
    }
    text
}

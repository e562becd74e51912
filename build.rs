//! Build script: embed an rpath to the libtorch that tch links against (so `carve` runs without
//! LD_LIBRARY_PATH) and record that libtorch's version for `carve models`.
use std::path::PathBuf;

fn main() {
    // `carve_vendor`: the official SAM 3D Body and DINOv3 source beside the clone
    // (`../shared/vendor`, as in CI), which the SAM 3D Body fidelity test needs; a user's clone has
    // none and that test is ignored with the reason. Watched only when present (a missing path
    // would rerun this script, and rebuild the crate, on every build).
    println!("cargo::rustc-check-cfg=cfg(carve_vendor)");
    let vendor = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default()).join("../shared/vendor");
    if vendor.join("sam-3d-body-repo").is_dir() && vendor.join("dinov3-repo").is_dir() {
        println!("cargo:rustc-cfg=carve_vendor");
        println!("cargo:rerun-if-changed={}", vendor.display());
    }
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-changed=build.rs");
    let Some(libtorch) = std::env::var_os("LIBTORCH").map(PathBuf::from) else {
        println!("cargo:rustc-env=CARVE_LIBTORCH_VERSION=unknown");
        return;
    };
    let libtorch = libtorch.canonicalize().unwrap_or(libtorch);
    let lib_dir = libtorch.join("lib");
    // rpath for the binary, tests, examples and benches alike.
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib_dir.display());
    println!("cargo:rustc-env=CARVE_LIBTORCH_DIR={}", libtorch.display());

    // The torch wheel carries version.py (`__version__ = '2.13.0+cu130'`); a plain libtorch
    // download carries build-version. Either names the exact build we link.
    let version = std::fs::read_to_string(libtorch.join("version.py"))
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                line.strip_prefix("__version__ = ").map(|v| v.trim_matches(['\'', '"', ' ']).to_owned())
            })
        })
        .or_else(|| std::fs::read_to_string(libtorch.join("build-version")).ok().map(|v| v.trim().to_owned()))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rerun-if-changed={}", libtorch.join("version.py").display());
    println!("cargo:rustc-env=CARVE_LIBTORCH_VERSION={version}");
}

//! Helpers shared by the integration tests: paths, the project's Python, the built binary.

use std::path::PathBuf;
use std::process::Command;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The project's Python (`.venv`, made by `scripts/setup.sh`), which has torch and pycocotools.
pub fn python() -> PathBuf {
    let python = repo_root().join(".venv/bin/python");
    assert!(python.exists(), "{} is missing: run `make test` (or scripts/setup.sh) first", python.display());
    python
}

/// Runs a Python script from the repository with arguments; panics with its stderr on failure.
pub fn run_python(args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(python()).args(args).current_dir(repo_root()).output().expect("run python");
    assert!(out.status.success(), "python {:?} failed:\n{}", args, String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `carve` binary with an isolated environment (no user models, no display).
pub fn carve(data_home: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_carve"));
    cmd.env("XDG_DATA_HOME", data_home).env_remove("CARVE_MODELS").env_remove("LD_LIBRARY_PATH").env_remove("LIBTORCH");
    cmd
}

/// Builds the self-test TorchScript model folder in `dir` with `tools/make_selftest_model.py`.
pub fn make_selftest_model(dir: &std::path::Path) {
    let script = repo_root().join("tools/make_selftest_model.py");
    run_python(&[script.as_os_str(), dir.as_os_str()]);
}

/// Reads a raw little-endian f32 file.
pub fn read_f32(path: &std::path::Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

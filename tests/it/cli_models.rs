//! `carve --help` and `carve models`: libtorch version, devices, model folders found and checked.
use crate::common;

/// Subcommands that have landed; each stage issue adds its own here.
const SUBCOMMANDS: &[&str] = &["segment", "lift", "render", "models"];

#[test]
fn help_lists_the_subcommands() {
    let tmp = tempfile::tempdir().unwrap();
    let out = common::carve(tmp.path()).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for sub in SUBCOMMANDS {
        assert!(help.lines().any(|l| l.trim_start().starts_with(sub)), "`{sub}` missing from --help:\n{help}");
    }
}

#[test]
fn models_json_reports_libtorch_devices_and_folders() {
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models");
    common::make_selftest_model(&models.join("selftest"));
    // A folder whose manifest names a missing file, and one whose manifest is broken.
    let missing = models.join("missing-weights");
    std::fs::create_dir_all(&missing).unwrap();
    std::fs::write(
        missing.join("manifest.toml"),
        "format = 1\nkind = \"sam3\"\nname = \"x\"\n[files]\nencoder = \"encoder.pt\"\n",
    )
    .unwrap();
    let broken = models.join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("manifest.toml"), "format = 1\nkind = \"sam3\"\n[files\n").unwrap();

    // Binary runs with no LD_LIBRARY_PATH / LIBTORCH set: the rpath must find libtorch.
    let out = common::carve(tmp.path()).args(["models", "--json", "--models"]).arg(&models).output().unwrap();
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(json["libtorch"], "2.13.0");
    assert!(json["devices"]["cpu_threads"].as_i64().unwrap() >= 1);
    assert!(json["devices"]["cuda_available"].is_boolean());
    let listed = json["models"].as_array().unwrap();
    assert_eq!(listed.len(), 3, "{json:#}");
    let find = |suffix: &str| listed.iter().find(|m| m["path"].as_str().unwrap().ends_with(suffix)).unwrap();
    assert_eq!(find("selftest")["valid"], true);
    assert_eq!(find("selftest")["kind"], "selftest");
    assert_eq!(find("selftest")["origin"], "explicit");
    assert_eq!(find("missing-weights")["valid"], false);
    assert!(find("missing-weights")["problems"][0].as_str().unwrap().contains("encoder.pt"));
    assert_eq!(find("broken")["valid"], false);
    assert!(find("broken")["problems"][0].as_str().unwrap().contains("broken/manifest.toml"));
    // The search path lists the user data folder (absent here).
    let search = json["search_path"].as_array().unwrap();
    assert!(search.iter().any(|d| d["origin"] == "user_data" && d["exists"] == false));

    // $CARVE_MODELS is searched too.
    let out = common::carve(tmp.path()).args(["models", "--json"]).env("CARVE_MODELS", &models).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["models"].as_array().unwrap().iter().any(|m| m["origin"] == "environment" && m["valid"] == true));

    // Human output names the problems too.
    let out = common::carve(tmp.path()).args(["models", "--models"]).arg(&models).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("libtorch 2.13.0") && text.contains("INVALID") && text.contains("encoder.pt"), "{text}");
}

#[test]
fn errors_are_one_line_and_non_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let out = common::carve(tmp.path()).args(["models", "--models", "/no/such/models/dir"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("/no/such/models/dir") && stderr.contains("does not exist"), "{stderr}");
}

#[test]
fn gui_without_display_points_at_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let out = common::carve(tmp.path()).env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY").output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no display") && stderr.contains("carve --help"), "{stderr}");
}

//! Lifting the demo photo's objects (known masks): the splats, seen from the source camera of
//! `scene.json` with Carve's renderer, cover the mask (silhouette IoU ≥ 0.9) and match the photo
//! inside it (PSNR ≥ 20 dB); `splats.ply` reads in Python `plyfile` with the standard names;
//! `object.glb` passes the Khronos glTF-Validator; bad masks give clear errors.
use crate::common;

use carve::lift::{LiftParams, lift, write_outputs};
use carve::render::headless::Headless;
use carve::render::{RenderSettings, Scene};
use carve::{Mask, Progress};

fn psnr_inside(render: &carve::Image, photo: &carve::Image, mask: &Mask) -> f64 {
    let (mut se, mut n) = (0.0f64, 0u64);
    for y in 0..mask.height() {
        for x in 0..mask.width() {
            if mask.get(x, y) {
                let (a, b) = (render.pixel(x, y).unwrap(), photo.pixel(x, y).unwrap());
                se += (0..3).map(|c| (f64::from(a[c]) - f64::from(b[c])).powi(2)).sum::<f64>();
                n += 3;
            }
        }
    }
    10.0 * (255.0f64.powi(2) / (se / n as f64)).log10()
}

#[test]
fn demo_objects_lift_and_reproject() {
    let photo = carve::core::demo::still_life();
    let headless = Headless::new().expect("adapter");
    let settings = RenderSettings { background: [0.0; 3], ..Default::default() };
    let tmp = tempfile::tempdir().unwrap();
    for (name, mask) in carve::core::demo::still_life_masks() {
        let out = lift(&photo, &mask, &LiftParams::default(), &Progress::new()).unwrap();
        assert!(out.splats.validate().is_ok());
        assert_eq!(out.grid.resolution, 64);
        let dir = tmp.path().join(name);
        let written = write_outputs(&dir, &out).unwrap();
        assert_eq!(written.len(), 4);

        // Reproject through scene.json's camera.
        let scene_json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("scene.json")).unwrap()).unwrap();
        let camera: carve::Camera = serde_json::from_value(scene_json["camera"].clone()).unwrap();
        assert_eq!(scene_json["voxel_resolution"], 64);
        assert!(scene_json["layout"]["scale"].as_f64().unwrap() > 0.0);
        let carve::io::ply::PlyContent::Splats(splats) = carve::io::ply::read_ply(&dir.join("splats.ply")).unwrap()
        else {
            panic!()
        };
        // The silhouette is the splats' alpha: the same splats, all white, over black, > 50 %.
        let mut white = splats.clone();
        white.sh.iter_mut().for_each(|c| *c = (1.0 - 0.5) / carve::core::geometry::SH_C0);
        let mut gpu = headless.upload(&Scene { splats: vec![white], ..Default::default() }, &settings);
        let alpha = headless.render(&mut gpu, &camera, &settings).unwrap();
        let silhouette = Mask::from_fn(camera.width, camera.height, |x, y| alpha.pixel(x, y).unwrap()[0] > 127);
        let mut gpu = headless.upload(&Scene { splats: vec![splats], ..Default::default() }, &settings);
        let render = headless.render(&mut gpu, &camera, &settings).unwrap();
        let iou = silhouette.iou(&mask);
        let psnr = psnr_inside(&render, &photo, &mask);
        eprintln!(
            "{name}: silhouette IoU {iou:.3}, PSNR in mask {psnr:.1} dB, {} splats, loss {:?} → {:?}",
            out.splats.len(),
            out.losses.first(),
            out.losses.last()
        );
        assert!(iou >= 0.9, "{name}: silhouette IoU {iou:.3}");
        assert!(psnr >= 20.0, "{name}: PSNR {psnr:.1} dB");
        assert!(out.losses.last() < out.losses.first(), "{name}: refinement did not lower the loss");

        // plyfile reads the standard names; the GLB passes the Khronos validator.
        let check = r#"
import sys
from plyfile import PlyData
v = PlyData.read(sys.argv[1])["vertex"]
names = set(v.data.dtype.names)
need = {"x","y","z","nx","ny","nz","f_dc_0","f_dc_1","f_dc_2","opacity","scale_0","scale_1","scale_2","rot_0","rot_1","rot_2","rot_3"}
assert need <= names, need - names
print(len(v.data))
"#;
        let ply_path = dir.join("splats.ply");
        let count = common::run_python(&["-c".as_ref(), check.as_ref(), ply_path.as_os_str()]);
        assert_eq!(count.trim().parse::<usize>().unwrap(), out.splats.len());
        let report = std::process::Command::new("node")
            .arg(common::repo_root().join("tools/validate_gltf.mjs"))
            .arg(dir.join("object.glb"))
            .output()
            .expect("node (scripts/setup.sh)");
        assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));
        let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
        assert_eq!(report["errors"], 0, "{name}: glTF-Validator: {report}");

        // splats.glb (KHR_gaussian_splatting): read by an independent reader written from the
        // extension's text (json + struct + numpy) and compared with plyfile's reading of
        // splats.ply after the PLY's activations (exp scale, sigmoid opacity, normalised wxyz
        // quaternion); then the Khronos validator.
        let compare = r#"
import json, struct, sys
import numpy as np
from plyfile import PlyData
data = open(sys.argv[1], "rb").read()
assert data[:4] == b"glTF" and struct.unpack("<I", data[4:8])[0] == 2
jlen = struct.unpack("<I", data[12:16])[0]
doc = json.loads(data[20:20 + jlen])
blen = struct.unpack("<I", data[20 + jlen:24 + jlen])[0]
binary = data[28 + jlen:28 + jlen + blen]
assert "KHR_gaussian_splatting" in doc["extensionsUsed"]
prim = doc["meshes"][0]["primitives"][0]
assert prim["mode"] == 0
ext = prim["extensions"]["KHR_gaussian_splatting"]
assert ext["kernel"] == "ellipse" and ext["colorSpace"] == "srgb_rec709_display"
width = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}
def attr(name):
    a = doc["accessors"][prim["attributes"][name]]
    v = doc["bufferViews"][a["bufferView"]]
    assert a["componentType"] == 5126
    start = v.get("byteOffset", 0) + a.get("byteOffset", 0)
    return np.frombuffer(binary, "<f4", a["count"] * width[a["type"]], start).reshape(a["count"], -1)
ply = PlyData.read(sys.argv[2])["vertex"].data
col = lambda *names: np.stack([ply[n] for n in names], 1).astype(np.float64)
k = "KHR_gaussian_splatting:"
assert np.allclose(attr("POSITION"), col("x", "y", "z"), atol=1e-6)
assert np.allclose(attr(k + "SCALE"), np.exp(col("scale_0", "scale_1", "scale_2")), rtol=1e-5)
assert np.allclose(attr(k + "OPACITY")[:, 0], 1 / (1 + np.exp(-col("opacity")[:, 0])), atol=1e-5)
q = col("rot_0", "rot_1", "rot_2", "rot_3")
q /= np.linalg.norm(q, axis=1, keepdims=True)
assert np.allclose(attr(k + "ROTATION"), q[:, [1, 2, 3, 0]], atol=1e-5)
assert np.allclose(attr(k + "SH_DEGREE_0_COEF_0"), col("f_dc_0", "f_dc_1", "f_dc_2"), atol=1e-6)
rgb = np.clip(col("f_dc_0", "f_dc_1", "f_dc_2") * 0.28209479 + 0.5, 0, 1)
assert np.allclose(attr("COLOR_0")[:, :3], rgb, atol=1e-5)
print(len(ply))
"#;
        let glb_path = dir.join("splats.glb");
        let count = common::run_python(&["-c".as_ref(), compare.as_ref(), glb_path.as_os_str(), ply_path.as_os_str()]);
        assert_eq!(count.trim().parse::<usize>().unwrap(), out.splats.len());
        let report = std::process::Command::new("node")
            .arg(common::repo_root().join("tools/validate_gltf.mjs"))
            .arg(&glb_path)
            .output()
            .expect("node (scripts/setup.sh)");
        assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));
        let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
        // glTF-Validator 2.0.0-dev.3.10 (the newest) does not know the extension: it says so
        // (UNSUPPORTED_EXTENSION) and calls each of its attribute names invalid. Those, and only
        // those, are allowed; anything else is an error.
        let messages = report["messages"].as_array().cloned().unwrap_or_default();
        let unknown_attribute = |m: &serde_json::Value| {
            m["code"] == "MESH_PRIMITIVE_INVALID_ATTRIBUTE"
                && m["pointer"].as_str().is_some_and(|p| p.contains("/attributes/KHR_gaussian_splatting:"))
        };
        let explained = messages.iter().filter(|m| m["severity"] == 0 && unknown_attribute(m)).count();
        assert_eq!(report["errors"], explained, "{name}: glTF-Validator on splats.glb: {report}");
        assert!(messages.iter().any(|m| m["code"] == "UNSUPPORTED_EXTENSION"), "{report}");
        // And back through Carve's own reader: what was written.
        let read = carve::io::gltf::splats::read_splats_glb(&glb_path).unwrap();
        assert_eq!(read.len(), out.splats.len());
    }
}

#[test]
fn bad_masks_are_clear_errors_or_sensible() {
    let photo = carve::core::demo::still_life();
    let fast = LiftParams { iterations: 5, ..Default::default() };
    let err = lift(&photo, &Mask::new(1024, 768), &fast, &Progress::new()).err().unwrap();
    assert!(err.to_string().contains("empty"), "{err}");
    let err = lift(&photo, &Mask::new(100, 100), &fast, &Progress::new()).err().unwrap();
    assert!(err.to_string().contains("100×100"), "{err}");
    let one = Mask::from_fn(1024, 768, |x, y| x == 500 && y == 400);
    assert!(lift(&photo, &one, &fast, &Progress::new()).err().unwrap().to_string().contains("1 pixel"));
    // Touching the border (the whole bottom strip): lifts, with finite splats.
    let strip = Mask::from_fn(1024, 768, |_, y| y > 700);
    let out = lift(&photo, &strip, &fast, &Progress::new()).unwrap();
    assert!(out.splats.validate().is_ok() && !out.splats.is_empty());
    // A ring: the hole stays a hole (no voxel projects into it).
    let (cx, cy) = (512.0f32, 384.0f32);
    let ring = Mask::from_fn(1024, 768, |x, y| {
        let r = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
        (60.0..150.0).contains(&r)
    });
    let out = lift(&photo, &ring, &fast, &Progress::new()).unwrap();
    let g = &out.grid;
    let mut in_hole = 0;
    for z in 0..g.resolution {
        for y in 0..g.resolution {
            for x in 0..g.resolution {
                if g.is_occupied(x, y, z)
                    && let Some((u, v, _)) = out.camera.project(g.world_of(x, y, z).as_dvec3())
                    && ((u as f32 - cx).powi(2) + (v as f32 - cy).powi(2)).sqrt() < 50.0
                {
                    in_hole += 1;
                }
            }
        }
    }
    assert_eq!(in_hole, 0, "voxels inside the ring's hole");
    // One pixel wide: lifts as a thin solid or says it is too thin — never a panic.
    let line = Mask::from_fn(1024, 768, |x, y| y == 400 && (200..700).contains(&x));
    match lift(&photo, &line, &fast, &Progress::new()) {
        Ok(out) => assert!(out.splats.validate().is_ok()),
        Err(e) => assert!(e.to_string().contains("too thin"), "{e}"),
    }
    // Overlapping masks in a scene: the nearer (lower contact) keeps the shared pixels; an object
    // wholly covered by a nearer one is named in the error.
    let near = Mask::from_fn(1024, 768, |x, y| (300..500).contains(&x) && (400..700).contains(&y));
    let far = Mask::from_fn(1024, 768, |x, y| (400..650).contains(&x) && (300..600).contains(&y));
    let objects = |masks: [(&str, &Mask); 2]| -> Vec<carve::lift::scene::SceneObject> {
        masks.iter().map(|(n, m)| carve::lift::scene::SceneObject { name: (*n).into(), mask: (*m).clone() }).collect()
    };
    let scene = carve::lift::scene::lift_scene(
        &photo,
        &objects([("near", &near), ("far", &far)]),
        &fast,
        None,
        false,
        &Progress::new(),
    )
    .unwrap();
    assert_eq!(scene.objects.len(), 2);
    let hidden = Mask::from_fn(1024, 768, |x, y| (420..500).contains(&x) && (420..600).contains(&y));
    let err = carve::lift::scene::lift_scene(
        &photo,
        &objects([("big", &near), ("hidden", &hidden)]),
        &fast,
        None,
        false,
        &Progress::new(),
    )
    .err()
    .unwrap();
    assert!(err.to_string().starts_with("object hidden: the mask is empty"), "{err}");
    // Through the CLI: a non-binary mask is thresholded, outputs land in the folder.
    let tmp = tempfile::tempdir().unwrap();
    let grey = tmp.path().join("grey.png");
    image::GrayImage::from_fn(1024, 768, |x, y| {
        image::Luma([if (x as i32 - 300).pow(2) + (y as i32 - 520).pow(2) < 100 * 100 { 200 } else { 40 }])
    })
    .save(&grey)
    .unwrap();
    let r = common::carve(tmp.path())
        .arg("lift")
        .arg(common::repo_root().join("assets/demo/still_life.jpg"))
        .arg("--mask")
        .arg(&grey)
        .args(["--iters", "10", "--voxels", "32", "--json", "--out"])
        .arg(tmp.path().join("out"))
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(String::from_utf8_lossy(&r.stderr).contains("not a binary mask"), "the threshold is reported");
    let json: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(json["voxel_resolution"], 32);
    assert!(json["splats"].as_u64().unwrap() > 100);
    assert!(tmp.path().join("out/object.glb").exists() && tmp.path().join("out/scene.json").exists());
}

/// `carve lift` of the demo's mug with the model folder `models`, `iters` refinement steps, `--json`.
fn lift_demo_mug(
    home: &std::path::Path,
    models: &std::path::Path,
    iters: u32,
    out: &std::path::Path,
) -> std::process::Output {
    common::carve(home)
        .arg("lift")
        .arg(common::repo_root().join("assets/demo/still_life.jpg"))
        .arg("--mask")
        .arg(common::repo_root().join("assets/demo/masks/mug.png"))
        .args(["--iters", &iters.to_string(), "--json", "--models"])
        .arg(models)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn depth_model_path_runs_end_to_end() {
    // The random-weight tiny Depth Anything export: the code path is real, the depth meaningless.
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("depth");
    let script = common::repo_root().join("tools/export_depth.py");
    common::run_python(&[script.as_os_str(), "--out".as_ref(), models.as_os_str(), "--tiny".as_ref()]);
    let out = tmp.path().join("out");
    let r = lift_demo_mug(tmp.path(), &models, 10, &out);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let json: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert!(json["engine"].as_str().unwrap().starts_with("depth model: Depth Anything"), "{json}");
    let carve::io::ply::PlyContent::Splats(s) = carve::io::ply::read_ply(&out.join("splats.ply")).unwrap() else {
        panic!()
    };
    assert!(s.validate().is_ok() && s.len() > 1000);
    let scene: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("scene.json")).unwrap()).unwrap();
    assert!(scene["engine"].as_str().unwrap().contains("Depth Anything"));
}

/// Depth models that answer badly (issue 14, bad input): NaN, negative metric depth, a point map of
/// the wrong shape give one clear line naming the model; a constant map lifts (a flat front, round
/// sections behind it) and a map of another size is resampled to the photo's.
#[test]
fn bad_depth_models_get_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let write = |name: &str, shape: &[usize], values: Vec<f32>| {
        let path = dir.join(format!("{name}.npy"));
        crate::lift_eval_support::write_npy(&path, shape, &values);
        path
    };
    let cases: Vec<(&str, serde_json::Value, Option<&str>)> = vec![
        ("nan", serde_json::json!({"map": write("nan", &[8, 8], vec![f32::NAN; 64]), "kind": "depth"}), Some("NaN")),
        (
            "negative",
            serde_json::json!({"map": write("negative", &[8, 8], vec![-2.0; 64]), "kind": "depth"}),
            Some("not positive"),
        ),
        (
            "wrong-shape",
            serde_json::json!({"map": write("wrong", &[8, 8, 2], vec![1.0; 128]), "kind": "points", "unchecked": true}),
            Some("point map"),
        ),
        ("constant", serde_json::json!({"map": write("constant", &[8, 8], vec![2.0; 64]), "kind": "depth"}), None),
        (
            "other-size",
            serde_json::json!({"map": write("small", &[5, 7], (0..35).map(|i| 2.0 + 0.01 * i as f32).collect()), "kind": "depth"}),
            None,
        ),
    ];
    let mut jobs = Vec::new();
    for (name, job, _) in &cases {
        let mut job = job.clone();
        job["out"] = serde_json::json!(dir.join(name));
        job["name"] = serde_json::json!(format!("bad oracle {name}"));
        jobs.push(job);
    }
    std::fs::write(dir.join("jobs.json"), serde_json::to_vec(&jobs).unwrap()).unwrap();
    let script = common::repo_root().join("tools/make_depth_oracle.py");
    common::run_python(&[script.as_os_str(), "--jobs".as_ref(), dir.join("jobs.json").as_os_str()]);
    for (name, _, error) in &cases {
        let out = dir.join(format!("out-{name}"));
        let r = common::carve(dir)
            .arg("lift")
            .arg(common::repo_root().join("assets/demo/still_life.jpg"))
            .arg("--mask")
            .arg(common::repo_root().join("assets/demo/masks/mug.png"))
            .args(["--iters", "0", "--models"])
            .arg(dir.join(name))
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&r.stderr);
        match error {
            Some(needle) => {
                assert!(!r.status.success(), "{name}: {stderr}");
                let last = stderr.lines().last().unwrap_or_default();
                assert!(last.contains(needle) && !stderr.contains("panicked"), "{name}: {stderr}");
                assert!(!out.join("scene.json").exists(), "{name}: no outputs");
            }
            None => {
                assert!(r.status.success(), "{name}: {stderr}");
                assert!(out.join("object.glb").is_file(), "{name}");
            }
        }
    }
}

/// The Depth Pro export (tiny, random weights): its in-graph post-processing matches transformers'
/// own (`DepthProImageProcessor.post_process_depth_estimation`), and the lift runs through it with
/// the model's focal length (from its field of view) in `scene.json`.
#[test]
fn depth_pro_export_matches_the_official_post_processing_and_lifts() {
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("depth-pro");
    let script = common::repo_root().join("tools/export_depth.py");
    let report = common::run_python(&[
        script.as_os_str(),
        "--arch".as_ref(),
        "depth-pro".as_ref(),
        "--tiny".as_ref(),
        "--out".as_ref(),
        models.as_os_str(),
    ]);
    let report: serde_json::Value = serde_json::from_str(report.lines().last().unwrap()).unwrap();
    assert_eq!(report["reload_max_diff"].as_f64(), Some(0.0), "{report}");
    assert!(report["official_depth_max_rel_diff"].as_f64().unwrap() < 1e-5, "{report}");
    assert!(report["official_fov_diff"].as_f64().unwrap() < 1e-4, "{report}");
    let out = tmp.path().join("out");
    let r = lift_demo_mug(tmp.path(), &models, 5, &out);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let json: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    let engine = json["engine"].as_str().unwrap();
    assert!(engine.starts_with("depth model: Depth Pro") && engine.contains("focal length from model"), "{json}");
    let scene = carve::io::scene::SceneFile::read(&out.join("scene.json")).unwrap();
    let default = carve::lift::default_camera(scene.camera.width, scene.camera.height);
    assert!(scene.camera.fx.is_finite() && (scene.camera.fx - default.fx).abs() > 1e-6, "{:?}", scene.camera);
}

/// Issue 14 item 4: every object of the demo photo (three masks) into one scene through the CLI:
/// `scene.json` lists each object with its layout and files; `scene.glb` passes the Khronos
/// validator and holds a named node per object (read by an independent Python reader); each
/// object's splats, rendered through the scene's one camera, land on its own mask; the objects
/// stand on the shared ground (a lower contact row is nearer) and no solid enters another.
#[test]
fn scene_lift_of_every_object_reprojects_each_onto_its_mask() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("scene");
    let masks_dir = common::repo_root().join("assets/demo/masks");
    let r = common::carve(tmp.path())
        .arg("lift")
        .arg(common::repo_root().join("assets/demo/still_life.jpg"))
        .arg("--masks")
        .arg(&masks_dir)
        .args(["--iters", "40", "--json", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    let scene = carve::io::scene::SceneFile::read(&out.join("scene.json")).unwrap();
    let names: Vec<&str> = scene.objects.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["ball", "box", "mug"], "{summary}");
    for o in &scene.objects {
        assert_eq!(o.files.len(), 3);
        assert!(o.files.iter().all(|f| out.join(f).is_file()), "{o:?}");
    }

    // The scene GLB: validator-clean, a named node per object, each with a triangle mesh.
    let report = std::process::Command::new("node")
        .arg(common::repo_root().join("tools/validate_gltf.mjs"))
        .arg(out.join("scene.glb"))
        .output()
        .expect("node (scripts/setup.sh)");
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(report["errors"], 0, "glTF-Validator: {report}");
    let read = r#"
import json, struct, sys
data = open(sys.argv[1], "rb").read()
assert data[:4] == b"glTF"
jlen = struct.unpack("<I", data[12:16])[0]
doc = json.loads(data[20:20 + jlen])
scene = doc["scenes"][doc.get("scene", 0)]
for n in scene["nodes"]:
    node = doc["nodes"][n]
    prim = doc["meshes"][node["mesh"]]["primitives"][0]
    assert prim.get("mode", 4) == 4 and "POSITION" in prim["attributes"]
    print(node["name"], doc["accessors"][prim["attributes"]["POSITION"]]["count"])
"#;
    let listed = common::run_python(&["-c".as_ref(), read.as_ref(), out.join("scene.glb").as_os_str()]);
    let listed: Vec<&str> = listed.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(listed, ["ball", "box", "mug"]);

    // Each object's splats through the scene camera cover its own mask.
    let headless = Headless::new().expect("adapter");
    let settings = RenderSettings { background: [0.0; 3], ..Default::default() };
    for o in &scene.objects {
        let mask = Mask::load_png(masks_dir.join(format!("{}.png", o.name))).unwrap();
        let carve::io::ply::PlyContent::Splats(mut splats) = carve::io::ply::read_ply(&out.join(&o.files[0])).unwrap()
        else {
            panic!()
        };
        splats.sh.iter_mut().for_each(|c| *c = (1.0 - 0.5) / carve::core::geometry::SH_C0);
        let mut gpu = headless.upload(&Scene { splats: vec![splats], ..Default::default() }, &settings);
        let alpha = headless.render(&mut gpu, &scene.camera, &settings).unwrap();
        let silhouette =
            Mask::from_fn(scene.camera.width, scene.camera.height, |x, y| alpha.pixel(x, y).unwrap()[0] > 127);
        let iou = silhouette.iou(&mask);
        eprintln!("{}: reprojection IoU {iou:.3}, layout {:?}", o.name, o.layout);
        assert!(iou >= 0.85, "{}: reprojection IoU {iou:.3}", o.name);
    }

    // Shared ground: a mask reaching lower in the photo is nearer.
    let bottom = |name: &str| Mask::load_png(masks_dir.join(format!("{name}.png"))).unwrap().bbox().unwrap()[3];
    let mut by_bottom: Vec<&carve::io::scene::SceneObjectEntry> = scene.objects.iter().collect();
    by_bottom.sort_by_key(|o| std::cmp::Reverse(bottom(&o.name)));
    let depths: Vec<f64> = by_bottom.iter().map(|o| o.layout.translation[2]).collect();
    assert!(depths.windows(2).all(|d| d[0] <= d[1] + 1e-9), "lower contact = nearer: {depths:?}");

    // No solid inside another (library run, the same objects).
    let photo = carve::Image::load(common::repo_root().join("assets/demo/still_life.jpg")).unwrap();
    let objects: Vec<_> = ["ball", "box", "mug"]
        .iter()
        .map(|n| carve::lift::scene::SceneObject {
            name: (*n).into(),
            mask: Mask::load_png(masks_dir.join(format!("{n}.png"))).unwrap(),
        })
        .collect();
    let params = LiftParams { iterations: 0, ..Default::default() };
    let lifted = carve::lift::scene::lift_scene(&photo, &objects, &params, None, false, &Progress::new()).unwrap();
    for a in &lifted.objects {
        for b in &lifted.objects {
            if std::ptr::eq(a, b) {
                continue;
            }
            let (ga, gb) = (&a.output.grid, &b.output.grid);
            let mut inside = 0;
            for z in 0..gb.resolution {
                for y in 0..gb.resolution {
                    for x in 0..gb.resolution {
                        if !gb.is_occupied(x, y, z) {
                            continue;
                        }
                        let p = gb.world_of(x, y, z);
                        let t = glam::Vec3::from_array(ga.layout.translation.map(|v| v as f32));
                        let o = (p - t) / ga.layout.scale as f32 + glam::Vec3::splat(0.5);
                        let i = (o * ga.resolution as f32).floor();
                        if i.min_element() >= 0.0
                            && i.max_element() < ga.resolution as f32
                            && ga.is_occupied(i.x as usize, i.y as usize, i.z as usize)
                        {
                            inside += 1;
                        }
                    }
                }
            }
            assert_eq!(inside, 0, "{} has {inside} voxels inside {}", b.name, a.name);
        }
    }
}

/// `carve lift --text`: SAM 3 (the tiny random-weight export: its instances are arbitrary shapes,
/// some unliftable) finds the instances; those that lift form one scene (named `concept_N`), the
/// others are named with their reason; the default threshold finds none here, which is a clear
/// error naming the photo.
#[test]
fn text_scene_lift_runs_sam3_and_names_what_it_skips() {
    let model = &crate::sam3_engine::fixture().model;
    let tmp = tempfile::tempdir().unwrap();
    let image = common::repo_root().join("assets/demo/still_life.jpg");
    let run = |extra: &[&str], out: &std::path::Path| {
        common::carve(tmp.path())
            .arg("lift")
            .arg(&image)
            .args(["--text", "red ball", "--iters", "0", "--json", "--models"])
            .arg(model)
            .args(extra)
            .arg("--out")
            .arg(out)
            .output()
            .unwrap()
    };
    let none = run(&[], &tmp.path().join("none"));
    let stderr = String::from_utf8_lossy(&none.stderr);
    assert!(!none.status.success() && stderr.contains("found no instance of \"red ball\""), "{stderr}");
    assert!(stderr.contains("still_life.jpg") && !stderr.contains("panicked"), "{stderr}");

    let out = tmp.path().join("some");
    let r = run(&["--min-score", "0", "--max-objects", "6"], &out);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    let lifted = summary["objects"].as_array().unwrap().len();
    let skipped = summary["skipped"].as_array().unwrap().len();
    assert_eq!(lifted + skipped, 6, "{summary}");
    assert!(lifted >= 1, "{summary}");
    let scene = carve::io::scene::SceneFile::read(&out.join("scene.json")).unwrap();
    assert_eq!(scene.objects.len(), lifted);
    assert!(scene.objects.iter().all(|o| o.name.starts_with("red_ball_")), "{summary}");
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert_eq!(stderr.matches("note: skipped red_ball_").count(), skipped, "{stderr}");
}

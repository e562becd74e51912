//! Body rigs: LODs from a real SAM 3D Body output, the rig file, native evaluation against two
//! independent implementations (tch and a PyTorch script), skinned GLB export read back by the
//! Khronos validator, trimesh and our own skinning of the file, and the CLI's bad-input errors.

use std::ffi::OsStr;
use std::path::Path;
use std::sync::Arc;

use crate::common::{carve, read_f32, repo_root, run_python};
use carve::body::{self, BodyParams, Evaluator, demo_rig::demo_rig, lod, sam3d::Sam3dBody};

fn subject(n: usize) -> std::path::PathBuf {
    repo_root().join(format!("assets/mhr/sam3d_body_output_subj{n:02}.npz"))
}

fn demo() -> Arc<body::Rig> {
    static RIG: std::sync::OnceLock<Arc<body::Rig>> = std::sync::OnceLock::new();
    RIG.get_or_init(|| Arc::new(demo_rig().expect("demo rig"))).clone()
}

/// A pose that bends the elbows and knees (so the correctives fire), turns the head, and sets
/// identity and expression coefficients.
fn busy_params(rig: &body::Rig) -> BodyParams {
    let mut p = rig.zero_params();
    for (name, v) in [
        ("root_ry", 0.4),
        ("root_tx", 3.0),
        ("spine1_rx", 0.2),
        ("head_ry", 0.5),
        ("l_shoulder_rz", 0.6),
        ("l_elbow_rz", 1.1),
        ("r_elbow_ry", -0.9),
        ("l_knee_rx", 0.8),
        ("r_hip_rx", -0.5),
        ("scale", 0.1),
        ("arm_length", -0.1),
    ] {
        let i = rig.parameter_names.iter().position(|n| n == name).expect(name);
        p.model[i] = v;
    }
    p.identity = (0..p.identity.len()).map(|i| 0.5 - 0.2 * i as f32).collect();
    p.expression = (0..p.expression.len()).map(|i| 0.3 + 0.1 * i as f32).collect();
    p
}

fn max_abs_diff(a: &[[f32; 3]], b: &[f32]) -> f32 {
    a.iter().flatten().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn all_lods_from_a_real_sam3d_body_output() {
    let dir = tempfile::tempdir().unwrap();
    let mut summaries = Vec::new();
    for l in 0..7 {
        let out = dir.path().join(format!("lod{l}.ply"));
        let res = carve(dir.path())
            .args([OsStr::new("body"), "import".as_ref(), subject(2).as_os_str(), "--lod".as_ref()])
            .arg(l.to_string())
            .arg("--out")
            .arg(&out)
            .arg("--json")
            .output()
            .unwrap();
        assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
        let summary: serde_json::Value = serde_json::from_slice(&res.stdout).unwrap();
        assert_eq!(summary["vertices"], lod::LOD_VERTEX_COUNTS[l]);
        if l == 3 {
            // The GLB holds exactly the LOD's vertices (no duplicates for normals or seams).
            let glb = dir.path().join("lod3.glb");
            let res = carve(dir.path())
                .args([OsStr::new("body"), "import".as_ref(), subject(2).as_os_str(), "--lod".as_ref(), "3".as_ref()])
                .arg("--out")
                .arg(&glb)
                .output()
                .unwrap();
            assert!(res.status.success());
            let mesh = carve::io::gltf::read_gltf(&glb).unwrap();
            assert_eq!(mesh.positions.len(), lod::LOD_VERTEX_COUNTS[3]);
            assert_eq!(mesh.triangle_count(), lod::LOD_TRIANGLE_COUNTS[3]);
        }
        let tris = summary["triangles"].as_u64().unwrap() as f64;
        let official = lod::LOD_TRIANGLE_COUNTS[l] as f64;
        assert!((tris - official).abs() <= 0.1 * official, "LOD {l}: {tris} triangles, official {official}");
        summaries.push(out);
    }
    // A second reader (numpy + plyfile) computes every LOD from the npz and the official maps and
    // checks our positions and that each mesh is closed (every edge in exactly two triangles,
    // opposite directions) with Euler characteristic 2 — as LOD 1 is.
    let script = r#"
import sys, numpy as np
from plyfile import PlyData
root, subj, out_dir = sys.argv[1], sys.argv[2], sys.argv[3]
d = np.load(subj)
v1 = d['pred_vertices'].astype(np.float64) + d['pred_cam_t'].astype(np.float64)
lod1 = PlyData.read(root + '/assets/mhr/lod1_topology_face_mask.ply')
t1 = np.stack(lod1['face']['vertex_indices'])
worst = 0.0
for l in range(7):
    if l == 1:
        ref = v1
    else:
        m = np.load(root + f'/assets/mhr/lod1_to_lod{l}_mapping.npz')
        ref = np.einsum('vk,vkd->vd', m['baryc_coords'], v1[t1[m['triangle_ids']]])
    ref = ref * np.array([1.0, -1.0, -1.0])  # glTF axes: 180 degrees about x
    p = PlyData.read(f'{out_dir}/lod{l}.ply')
    ours = np.stack([p['vertex']['x'], p['vertex']['y'], p['vertex']['z']], 1)
    assert ours.shape == ref.shape, (l, ours.shape, ref.shape)
    err = np.abs(ours - ref).max()
    worst = max(worst, err)
    f = np.stack(p['face']['vertex_indices']).astype(np.int64)
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    directed = set(map(tuple, e.tolist()))
    assert len(directed) == len(e), f'LOD {l}: a directed edge repeats'
    assert all((b, a) in directed for a, b in directed), f'LOD {l}: open edge'
    chi = len(ours) - len(e) // 2 + len(f)
    assert chi == 2, f'LOD {l}: Euler characteristic {chi}'
print(worst)
"#;
    let out = run_python(&[
        OsStr::new("-c"),
        script.as_ref(),
        repo_root().as_os_str(),
        subject(2).as_os_str(),
        dir.path().as_os_str(),
    ]);
    let worst: f64 = out.trim().parse().unwrap();
    eprintln!("largest position difference over all LODs: {worst:e} m");
    assert!(worst < 2e-6, "positions differ from the barycentric maps by {worst} m");
}

#[test]
fn keypoints_reproject_onto_the_outputs_own_2d_keypoints() {
    for n in 0..4 {
        let person = Sam3dBody::load(&subject(n)).unwrap();
        let (k, rms, max) = person.solve_intrinsics().unwrap();
        eprintln!(
            "subject {n}: f = {:.2} px, c = ({:.2}, {:.2}), reprojection {rms:.2e} px RMS, {max:.2e} px max",
            k.focal_px, k.cx, k.cy
        );
        assert!(rms < 0.01 && max < 0.05, "subject {n}: {rms} px RMS, {max} px max");
        // The photo was 1920 × 890: the principal point is its centre.
        assert!((k.cx - 960.0).abs() < 0.5 && (k.cy - 445.0).abs() < 0.5);
        // The mesh lies inside the person's box.
        let inside = person
            .vertices_lod1
            .iter()
            .filter_map(|p| k.project(*p))
            .filter(|u| {
                let b = person.bbox;
                u[0] >= b[0] as f64 - 5.0
                    && u[0] <= b[2] as f64 + 5.0
                    && u[1] >= b[1] as f64 - 5.0
                    && u[1] <= b[3] as f64 + 5.0
            })
            .count();
        assert!(inside as f64 > 0.97 * person.vertices_lod1.len() as f64, "subject {n}: {inside} vertices in the box");
    }
}

#[test]
fn import_overlay_on_a_photo() {
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("photo.png");
    image::RgbImage::from_pixel(1920, 890, image::Rgb([90, 90, 90])).save(&photo).unwrap();
    let overlay = dir.path().join("overlay.png");
    let res = carve(dir.path())
        .args([OsStr::new("body"), "import".as_ref(), subject(1).as_os_str()])
        .args(["--lod", "4", "--out"])
        .arg(dir.path().join("b.glb"))
        .arg("--image")
        .arg(&photo)
        .arg("--overlay")
        .arg(&overlay)
        .arg("--json")
        .output()
        .unwrap();
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let img = image::open(&overlay).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (1920, 890));
    let person = Sam3dBody::load(&subject(1)).unwrap();
    // The body is drawn inside its box and nowhere far from it.
    let b = person.bbox;
    let (mut inside, mut outside) = (0u64, 0u64);
    for (x, y, p) in img.enumerate_pixels() {
        if p.0 != [90, 90, 90] {
            let in_box =
                x as f32 >= b[0] - 8.0 && x as f32 <= b[2] + 8.0 && y as f32 >= b[1] - 8.0 && y as f32 <= b[3] + 8.0;
            if in_box {
                inside += 1;
            } else {
                outside += 1;
            }
        }
    }
    let box_area = ((b[2] - b[0]) * (b[3] - b[1])) as u64;
    assert!(inside > box_area / 5, "{inside} drawn pixels in a {box_area} px box");
    assert_eq!(outside, 0);
    // Keypoints: green dots at the file's own 2D keypoints.
    let green = person
        .keypoints_2d
        .iter()
        .filter(|q| {
            let p = img.get_pixel(q[0].round() as u32, q[1].round() as u32).0;
            p[1] > 150 && p[0] < 120
        })
        .count();
    assert!(green >= 60, "{green} of 70 keypoints drawn green");
}

#[test]
fn rest_pose_is_the_rest_mesh_and_rig_files_round_trip() {
    let rig = demo();
    let mut ev = Evaluator::new(rig.clone(), 1).unwrap();
    let rest = ev.evaluate(&rig.zero_params()).unwrap().to_vec();
    let worst = rest
        .iter()
        .zip(&rig.rest_vertices)
        .map(|(a, b)| (0..3).map(|k| (a[k] - b[k]).abs()).fold(0.0, f32::max))
        .fold(0.0, f32::max);
    assert!(worst < 1e-3, "rest pose moved a vertex by {worst} cm");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo.rig.safetensors");
    rig.save(&path).unwrap();
    let back = body::Rig::load(&path).unwrap();
    assert_eq!(&back, &*rig);
    // A rig whose counts disagree: the skin names a joint that does not exist.
    let mut broken = (*rig).clone();
    broken.skin_joints[10] = 999;
    let bytes = {
        broken.validate(Path::new("x")).unwrap_err();
        // Write it unchecked through to_bytes, then load: the loader must refuse it.
        broken.to_bytes().unwrap()
    };
    std::fs::write(&path, bytes).unwrap();
    let err = body::Rig::load(&path).unwrap_err().to_string();
    assert!(err.contains("demo.rig.safetensors") && err.contains("joint 999"), "{err}");
    std::fs::write(&path, b"not a rig").unwrap();
    let err = body::Rig::load(&path).unwrap_err().to_string();
    assert!(err.contains("demo.rig.safetensors"), "{err}");
    // NaN parameters are refused with the parameter's name.
    let mut p = rig.zero_params();
    p.model[7] = f32::NAN;
    let err = ev.evaluate(&p).unwrap_err().to_string();
    assert!(err.contains(&rig.parameter_names[7]), "{err}");
}

#[test]
fn native_evaluation_matches_pytorch_and_tch() {
    let rig = demo();
    let p = busy_params(&rig);
    let dir = tempfile::tempdir().unwrap();
    for l in [1usize, 4] {
        let rebased = rig.rebased(l).unwrap();
        let path = dir.path().join(format!("lod{l}.rig.safetensors"));
        rebased.save(&path).unwrap();
        let mut ev = Evaluator::new(Arc::new(rebased.clone()), l).unwrap();
        let native = ev.evaluate(&p).unwrap().to_vec();
        // The correctives fire in this pose.
        assert!(ev.bind_vertices().iter().zip(ev.lod.rest_vertices.iter()).any(|(a, b)| (a[0] - b[0]).abs() > 0.05));
        // PyTorch, from the file alone.
        let params = dir.path().join("params.json");
        std::fs::write(
            &params,
            serde_json::json!({"model": p.model, "identity": p.identity, "expression": p.expression}).to_string(),
        )
        .unwrap();
        let out = dir.path().join("torch.f32");
        run_python(&[
            repo_root().join("tools/rig_torch.py").as_os_str(),
            path.as_os_str(),
            params.as_os_str(),
            out.as_os_str(),
        ]);
        let torch = read_f32(&out);
        assert_eq!(torch.len(), native.len() * 3);
        let scale = native.iter().flatten().map(|v| v.abs()).fold(0.0, f32::max);
        let err = max_abs_diff(&native, &torch) / scale;
        eprintln!("LOD {l}: native vs PyTorch max relative difference {err:e}");
        assert!(err < 1e-4, "LOD {l}: {err}");
        // tch (the fitting code path).
        let trig = body::fit::TorchRig::new(&rebased, &ev.lod);
        let t = |v: &[f32]| tch::Tensor::from_slice(v);
        let (posed, _) = trig.forward(&t(&p.model), &t(&p.identity), &t(&p.expression));
        let tch_v = Vec::<f32>::try_from(posed.contiguous().view([-1])).unwrap();
        let err = max_abs_diff(&native, &tch_v) / scale;
        eprintln!("LOD {l}: native vs tch max relative difference {err:e}");
        assert!(err < 1e-4, "LOD {l}: {err}");
    }
}

#[test]
fn skinned_demo_glb_is_valid_and_reproduces_the_pose() {
    let dir = tempfile::tempdir().unwrap();
    let rig = demo();
    let p = busy_params(&rig);
    let mut ev = Evaluator::new(rig.clone(), 3).unwrap();
    let (mesh, skin) = body::export::skinned_export(&mut ev, &p, true).unwrap();
    let path = dir.path().join("posed.glb");
    carve::io::gltf::write_skinned_glb(&path, &mesh, &skin).unwrap();
    // Khronos glTF-Validator.
    let report = std::process::Command::new("node")
        .arg(repo_root().join("tools/validate_gltf.mjs"))
        .arg(&path)
        .output()
        .unwrap();
    assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(report["errors"], 0, "{report}");
    // Skin the file ourselves from what it says (gltf crate): nodes, inverse binds, JOINTS/WEIGHTS.
    let (doc, buffers, _) = gltf::import(&path).unwrap();
    let gskin = doc.skins().next().expect("a skin");
    let joints: Vec<gltf::Node> = gskin.joints().collect();
    assert_eq!(joints.len(), rig.joint_count());
    let mut world = vec![glam::Mat4::IDENTITY; doc.nodes().len()];
    fn walk(n: &gltf::Node, parent: glam::Mat4, world: &mut [glam::Mat4]) {
        let m = parent * glam::Mat4::from_cols_array_2d(&n.transform().matrix());
        world[n.index()] = m;
        for c in n.children() {
            walk(&c, m, world);
        }
    }
    for n in doc.default_scene().unwrap().nodes() {
        walk(&n, glam::Mat4::IDENTITY, &mut world);
    }
    let reader = gskin.reader(|b| Some(&buffers[b.index()]));
    let ibm: Vec<glam::Mat4> =
        reader.read_inverse_bind_matrices().unwrap().map(|m| glam::Mat4::from_cols_array_2d(&m)).collect();
    let prim = doc.meshes().next().unwrap().primitives().next().unwrap();
    let r = prim.reader(|b| Some(&buffers[b.index()]));
    let pos: Vec<[f32; 3]> = r.read_positions().unwrap().collect();
    let mut skinned = vec![glam::Vec3::ZERO; pos.len()];
    let mut sets = 0;
    while let (Some(js), Some(ws)) = (r.read_joints(sets), r.read_weights(sets)) {
        for ((i, j), w) in js.into_u16().enumerate().zip(ws.into_f32()) {
            for k in 0..4 {
                let m = world[joints[j[k] as usize].index()] * ibm[j[k] as usize];
                skinned[i] += m.transform_point3(glam::Vec3::from_array(pos[i])) * w[k];
            }
        }
        sets += 1;
    }
    assert_eq!(sets as usize, ev.lod.influences.div_ceil(4));
    let expected: Vec<f32> = ev.vertices().iter().flatten().map(|v| v * rig.metres_per_unit).collect();
    let got: Vec<[f32; 3]> = skinned.iter().map(|v| v.to_array()).collect();
    let err = max_abs_diff(&got, &expected);
    eprintln!("glTF skinning vs Carve: max difference {err:e} m");
    assert!(err < 1e-4, "{err} m");
    // Morph targets for the expressions.
    assert_eq!(prim.morph_targets().count(), rig.expression_names.len());
    // trimesh (a Blender-compatible reader) opens it with the LOD's vertex count.
    let out = run_python(&[
        OsStr::new("-c"),
        "import sys, trimesh; s = trimesh.load(sys.argv[1]); print(sum(len(g.vertices) for g in s.geometry.values()))"
            .as_ref(),
        path.as_os_str(),
    ]);
    assert_eq!(out.trim(), lod::LOD_VERTEX_COUNTS[3].to_string());
}

#[test]
fn cli_demo_and_lods() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo.glb");
    let res = carve(dir.path())
        .args(["body", "demo", "--lod", "5", "--param", "l_elbow_rz=1", "--json", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let s: serde_json::Value = serde_json::from_slice(&res.stdout).unwrap();
    assert_eq!(s["vertices"], 971);
    let report =
        std::process::Command::new("node").arg(repo_root().join("tools/validate_gltf.mjs")).arg(&out).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(report["errors"], 0, "{report}");
    let res = carve(dir.path()).args(["body", "lods", "--json"]).output().unwrap();
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let s: serde_json::Value = serde_json::from_slice(&res.stdout).unwrap();
    let lods = s["lods"].as_array().unwrap();
    assert_eq!(lods.len(), 7);
    for (l, row) in lods.iter().enumerate() {
        assert_eq!(row["vertices"], lod::LOD_VERTEX_COUNTS[l]);
        assert_eq!(row["triangles"], lod::LOD_TRIANGLE_COUNTS[l]);
        assert_eq!(row["watertight"], true);
    }
}

#[test]
fn cli_body_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |args: &[&OsStr]| {
        let res = carve(d).args(args).output().unwrap();
        assert!(!res.status.success(), "{args:?} should fail");
        String::from_utf8_lossy(&res.stderr).into_owned()
    };
    let out = d.join("x.glb");
    // LOD outside 0–6.
    let err = run(&[
        "body".as_ref(),
        "import".as_ref(),
        subject(0).as_os_str(),
        "--lod".as_ref(),
        "7".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert!(err.contains("LOD 7"), "{err}");
    let err =
        run(&["body".as_ref(), "demo".as_ref(), "--lod".as_ref(), "9".as_ref(), "--out".as_ref(), out.as_os_str()]);
    assert!(err.contains("LOD 9"), "{err}");
    // npz files: missing key, wrong shape, NaN, not an npz.
    let script = r#"
import sys, numpy as np
src, d = sys.argv[1], sys.argv[2]
a = dict(np.load(src))
b = dict(a); del b['pred_cam_t']; np.savez(d + '/missing.npz', **b)
b = dict(a); b['pred_vertices'] = a['pred_vertices'][:100]; np.savez(d + '/shape.npz', **b)
b = dict(a); v = a['pred_vertices'].copy(); v[5, 1] = np.nan; b['pred_vertices'] = v; np.savez(d + '/nan.npz', **b)
open(d + '/junk.npz', 'wb').write(b'PK not really')
"#;
    run_python(&[OsStr::new("-c"), script.as_ref(), subject(0).as_os_str(), d.as_os_str()]);
    for (file, needle) in [
        ("missing.npz", "pred_cam_t"),
        ("shape.npz", "pred_vertices"),
        ("nan.npz", "non-finite"),
        ("junk.npz", "junk.npz"),
    ] {
        let err =
            run(&["body".as_ref(), "import".as_ref(), d.join(file).as_os_str(), "--out".as_ref(), out.as_os_str()]);
        assert!(err.contains(file) && err.contains(needle), "{file}: {err}");
    }
    assert!(!out.exists(), "no output on failure");
    // An empty person mask.
    let photo = d.join("p.png");
    image::RgbImage::new(64, 64).save(&photo).unwrap();
    let mask = d.join("m.png");
    image::GrayImage::new(64, 64).save(&mask).unwrap();
    let err = run(&[
        "body".as_ref(),
        "fit".as_ref(),
        photo.as_os_str(),
        "--mask".as_ref(),
        mask.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert!(err.contains("empty"), "{err}");
    // A rig file whose counts disagree.
    let rig_path = d.join("bad.rig.safetensors");
    let mut rig = (*demo()).clone();
    rig.keypoint_joints.push(999);
    std::fs::write(&rig_path, rig.to_bytes().unwrap()).unwrap();
    let err = run(&["body".as_ref(), "lods".as_ref(), "--rig".as_ref(), rig_path.as_os_str()]);
    assert!(err.contains("bad.rig.safetensors") && err.contains("keypoint"), "{err}");
}

#[test]
fn torchscript_body_model_matches_native_evaluation() {
    // An mhr_model.pt-style module (same signature) traced from the demo rig's file by PyTorch.
    let dir = tempfile::tempdir().unwrap();
    let rig = demo();
    let rebased = rig.rebased(1).unwrap();
    let rig_path = dir.path().join("demo.rig.safetensors");
    rebased.save(&rig_path).unwrap();
    let pt = dir.path().join("mhr_model.pt");
    run_python(&[
        repo_root().join("tools/rig_torch.py").as_os_str(),
        rig_path.as_os_str(),
        "-".as_ref(),
        pt.as_os_str(),
        "--torchscript".as_ref(),
    ]);
    let model = body::torchscript::TorchScriptBody::load(&pt).unwrap();
    let p = busy_params(&rig);
    let out = model.evaluate(&p.identity, &p.model, &p.expression).unwrap();
    let mut ev = Evaluator::new(Arc::new(rebased), 1).unwrap();
    let native = ev.evaluate(&p).unwrap().to_vec();
    let scale = native.iter().flatten().map(|v| v.abs()).fold(0.0, f32::max);
    let flat: Vec<f32> = out.vertices.iter().flatten().copied().collect();
    let err = max_abs_diff(&native, &flat) / scale;
    eprintln!("native vs TorchScript (tch) max relative difference {err:e}");
    assert!(err < 1e-4, "{err}");
    let joints: Vec<[f32; 3]> = ev.joints_world().iter().map(|s| s.translation.to_array()).collect();
    let jflat: Vec<f32> = out.joint_translations.iter().flatten().copied().collect();
    assert!(max_abs_diff(&joints, &jflat) / scale < 1e-4);
    // Every LOD through the official maps from the model's LOD 1 output.
    let lod0 = lod::MhrLods::embedded().vertices(&out.vertices, 0).unwrap();
    assert_eq!(lod0.len(), lod::LOD_VERTEX_COUNTS[0]);
    // The CLI poses it at LOD 5 (18,439 LOD 1 vertices in, 971 out through the official maps).
    let params = dir.path().join("p.json");
    std::fs::write(
        &params,
        serde_json::json!({"identity": p.identity, "model": p.model, "expression": p.expression}).to_string(),
    )
    .unwrap();
    let out_ply = dir.path().join("posed.ply");
    let res = carve(dir.path())
        .args([
            OsStr::new("body"),
            "pose".as_ref(),
            "--model".as_ref(),
            pt.as_os_str(),
            "--params".as_ref(),
            params.as_os_str(),
        ])
        .args(["--lod", "5", "--json", "--out"])
        .arg(&out_ply)
        .output()
        .unwrap();
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let s: serde_json::Value = serde_json::from_slice(&res.stdout).unwrap();
    assert_eq!(s["vertices"], 971);
    assert_eq!(s["joints"], rig.joint_count());
    // Not a TorchScript file: a clear error naming it.
    let err = body::torchscript::TorchScriptBody::load(&rig_path).err().unwrap().to_string();
    assert!(err.contains("demo.rig.safetensors"), "{err}");
}

/// With the official MHR assets (not downloadable here): `CARVE_MHR_ASSETS=DIR` holding
/// `mhr_model.pt` and `mhr.rig.safetensors` (made by `tools/convert_mhr.py`) compares Carve's
/// native evaluation with the official TorchScript model through tch.
/// Run with `CARVE_MHR_ASSETS=DIR cargo test --test it official_mhr -- --ignored`.
#[test]
#[ignore = "needs the gated official MHR assets (mhr_model.pt, mhr.rig.safetensors) in $CARVE_MHR_ASSETS"]
fn official_mhr_native_matches_torchscript_when_assets_are_present() {
    let dir = std::env::var_os("CARVE_MHR_ASSETS")
        .map(std::path::PathBuf::from)
        .expect("set CARVE_MHR_ASSETS to a folder with mhr_model.pt and mhr.rig.safetensors (tools/convert_mhr.py)");
    let rig = Arc::new(body::Rig::load(&dir.join("mhr.rig.safetensors")).unwrap());
    let model = body::torchscript::TorchScriptBody::load(&dir.join("mhr_model.pt")).unwrap();
    let mut ev = Evaluator::new(rig.clone(), 1).unwrap();
    let mut p = rig.zero_params();
    for (i, v) in p.model.iter_mut().enumerate() {
        *v = 0.2 * ((i as f32 * 0.37).sin());
    }
    for (i, v) in p.identity.iter_mut().enumerate() {
        *v = 0.5 * ((i as f32 * 0.91).cos());
    }
    let native = ev.evaluate(&p).unwrap().to_vec();
    let out = model.evaluate(&p.identity, &p.model, &p.expression).unwrap();
    let scale = native.iter().flatten().map(|v| v.abs()).fold(0.0, f32::max);
    let flat: Vec<f32> = out.vertices.iter().flatten().copied().collect();
    let err = max_abs_diff(&native, &flat) / scale;
    eprintln!("official MHR: native vs TorchScript max relative difference {err:e}");
    assert!(err < 1e-4, "{err}");
}

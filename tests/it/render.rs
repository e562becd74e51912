//! Renderer pixel tests on whatever adapter wgpu finds (Mesa's software Vulkan driver here):
//! mesh coverage from a known camera, splat ordering from both sides, splat colours, SH degree 1
//! view dependence, PLY interchange with Python `plyfile`, the CLI on the real MHR LOD 1 body as
//! GLB and on a splat PLY, and a 1M-splat file.
use crate::common;

use std::sync::OnceLock;

use carve::Camera;
use carve::core::geometry::{Mesh, Splats};
use carve::render::headless::Headless;
use carve::render::{RenderSettings, Scene};
use glam::{DMat4, DVec3};

fn headless() -> &'static Headless {
    static H: OnceLock<Headless> = OnceLock::new();
    H.get_or_init(|| Headless::new().expect("a wgpu adapter (scripts/setup.sh installs mesa-vulkan-drivers)"))
}

fn settings() -> RenderSettings {
    RenderSettings { background: [0.0, 0.0, 0.0], ..Default::default() }
}

fn render(scene: &Scene, camera: &Camera) -> carve::Image {
    let h = headless();
    let mut gpu = h.upload(scene, &settings());
    h.render(&mut gpu, camera, &settings()).unwrap()
}

/// A camera at `eye` looking at the origin, OpenCV axes, y down on screen = world −y.
fn look_at(eye: DVec3, size: u32, f: f64) -> Camera {
    let forward = (-eye).normalize();
    let right = DVec3::new(0.0, -1.0, 0.0).cross(forward).normalize();
    let down = forward.cross(right);
    let m = DMat4::from_cols(right.extend(0.0), down.extend(0.0), forward.extend(0.0), eye.extend(1.0));
    Camera::new(size, size, f, f, f64::from(size) / 2.0, f64::from(size) / 2.0, m).unwrap()
}

#[test]
fn mesh_covers_the_expected_pixels() {
    // A 1×1 square at z = 2 in front of an identity OpenCV camera, f = 100 px: it spans pixels
    // 75..125 on both axes of a 200×200 image.
    let mesh = Mesh {
        positions: vec![[-0.5, -0.5, 2.0], [0.5, -0.5, 2.0], [0.5, 0.5, 2.0], [-0.5, 0.5, 2.0]],
        normals: None,
        colors: Some(vec![[1.0, 0.0, 0.0, 1.0]; 4]),
        indices: vec![0, 1, 2, 0, 2, 3],
    };
    let camera = Camera::new(200, 200, 100.0, 100.0, 100.0, 100.0, DMat4::IDENTITY).unwrap();
    let image = render(&Scene { meshes: vec![mesh], ..Default::default() }, &camera);
    let mut covered = 0;
    for y in 0..200 {
        for x in 0..200 {
            let [r, g, b] = image.pixel(x, y).unwrap();
            let lit = r > 100 && g < 30 && b < 30;
            let inside = (76..124).contains(&x) && (76..124).contains(&y);
            let outside = !(74..126).contains(&x) || !(74..126).contains(&y);
            assert!(!inside || lit, "pixel {x},{y} should be the square: {r},{g},{b}");
            assert!(!(outside && (r, g, b) != (0, 0, 0)), "pixel {x},{y} should be background: {r},{g},{b}");
            covered += usize::from(lit);
        }
    }
    assert!((2400..=2600).contains(&covered), "{covered} pixels covered, expected about 2500");
}

fn opaque_splat(s: &mut Splats, position: [f32; 3], rgb: [f32; 3], radius: f32) {
    s.push_rgb(position, [radius; 3], [1.0, 0.0, 0.0, 0.0], 0.999, rgb);
}

#[test]
fn near_splat_wins_from_both_sides() {
    let mut s = Splats::default();
    opaque_splat(&mut s, [0.0, 0.0, -0.5], [1.0, 0.0, 0.0], 0.3);
    opaque_splat(&mut s, [0.0, 0.0, 0.5], [0.0, 0.0, 1.0], 0.3);
    let scene = Scene { splats: vec![s], ..Default::default() };
    // From −z the red splat (z = −0.5) is nearer; from +z the blue one.
    for (eye, expect_red) in [(DVec3::new(0.0, 0.0, -4.0), true), (DVec3::new(0.0, 0.0, 4.0), false)] {
        let image = render(&scene, &look_at(eye, 128, 150.0));
        let [r, _, b] = image.pixel(64, 64).unwrap();
        if expect_red {
            assert!(r > 200 && b < 40, "from {eye}: centre {r},{b} should be red");
        } else {
            assert!(b > 200 && r < 40, "from {eye}: centre {r},{b} should be blue");
        }
    }
}

#[test]
fn ring_of_splats_keeps_its_colours() {
    let colours =
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0], [0.0, 1.0, 1.0], [1.0, 0.0, 1.0]];
    let mut s = Splats::default();
    for (k, c) in colours.iter().enumerate() {
        let a = k as f32 / colours.len() as f32 * std::f32::consts::TAU;
        opaque_splat(&mut s, [a.cos(), a.sin(), 0.0], *c, 0.12);
    }
    let scene = Scene { splats: vec![s.clone()], ..Default::default() };
    let camera = look_at(DVec3::new(0.0, 0.0, -5.0), 200, 200.0);
    let image = render(&scene, &camera);
    for (k, c) in colours.iter().enumerate() {
        let (u, v, _) = camera.project(DVec3::from_array(s.positions[k].map(f64::from))).unwrap();
        let px = image.pixel(u as u32, v as u32).unwrap();
        for ch in 0..3 {
            let want = (c[ch] * 255.0) as i32;
            assert!((i32::from(px[ch]) - want).abs() < 30, "splat {k} at {u:.0},{v:.0}: {px:?} vs {c:?}");
        }
    }
}

#[test]
fn sh_degree_one_depends_on_view_direction() {
    // Grey DC, and a red coefficient on the x basis function (−C1·x): seen from −x the view
    // direction is +x and red drops; seen from +x it rises.
    let mut s = Splats { sh_degree: 1, ..Default::default() };
    s.positions.push([0.0; 3]);
    s.scales.push([0.4; 3]);
    s.rotations.push([1.0, 0.0, 0.0, 0.0]);
    s.opacities.push(0.999);
    let mut sh = vec![0.0f32; 12];
    sh[9] = 0.8; // coefficient 3 (x), red
    s.sh = sh;
    let scene = Scene { splats: vec![s], ..Default::default() };
    let red_from = |eye| render(&scene, &look_at(eye, 96, 120.0)).pixel(48, 48).unwrap();
    let from_minus_x = red_from(DVec3::new(-4.0, 0.0, 0.0));
    let from_plus_x = red_from(DVec3::new(4.0, 0.0, 0.0));
    let c1 = 0.488_602_5f32;
    let expect = |sign: f32| ((0.5 + sign * c1 * 0.8) * 255.0) as i32;
    assert!((i32::from(from_minus_x[0]) - expect(-1.0)).abs() < 20, "from −x: {from_minus_x:?}");
    assert!((i32::from(from_plus_x[0]) - expect(1.0)).abs() < 20, "from +x: {from_plus_x:?}");
    assert!((i32::from(from_plus_x[1]) - 127).abs() < 10, "green stays grey: {from_plus_x:?}");
}

#[test]
fn plyfile_interchange_both_ways() {
    let tmp = tempfile::tempdir().unwrap();
    let theirs = tmp.path().join("theirs.ply");
    // plyfile writes a degree-1 3DGS file: two splats, known values.
    let script = r#"
import sys, numpy as np
from plyfile import PlyData, PlyElement
names = ["x","y","z","nx","ny","nz","f_dc_0","f_dc_1","f_dc_2"] + [f"f_rest_{i}" for i in range(9)] + ["opacity","scale_0","scale_1","scale_2","rot_0","rot_1","rot_2","rot_3"]
v = np.zeros(2, dtype=[(n, "f4") for n in names])
v["x"] = [-0.6, 0.6]; v["z"] = [0.0, 0.0]
v["f_dc_0"] = [(1.0 - 0.5) / 0.2820948, (0.0 - 0.5) / 0.2820948]
v["f_dc_1"] = [(0.0 - 0.5) / 0.2820948, (1.0 - 0.5) / 0.2820948]
v["f_dc_2"] = [(0.0 - 0.5) / 0.2820948, (0.0 - 0.5) / 0.2820948]
v["f_rest_0"] = [0.25, -0.125]
v["opacity"] = [6.0, 6.0]
v["scale_0"] = v["scale_1"] = v["scale_2"] = np.log(0.25)
v["rot_0"] = 1.0
PlyData([PlyElement.describe(v, "vertex")]).write(sys.argv[1])
"#;
    common::run_python(&["-c".as_ref(), script.as_ref(), theirs.as_os_str()]);
    let carve::io::ply::PlyContent::Splats(s) = carve::io::ply::read_ply(&theirs).unwrap() else {
        panic!("not splats")
    };
    assert_eq!((s.len(), s.sh_degree), (2, 1));
    assert!((s.scales[0][0] - 0.25).abs() < 1e-6 && (s.opacities[0] - 1.0 / (1.0 + (-6.0f32).exp())).abs() < 1e-6);
    // f_rest_0 is red, coefficient 1 (channel-major in the file).
    assert!((s.sh[3] - 0.25).abs() < 1e-7, "{:?}", &s.sh[..12]);
    let image = render(
        &Scene { splats: vec![s.clone()], ..Default::default() },
        &look_at(DVec3::new(0.0, 0.0, -4.0), 160, 160.0),
    );
    // Looking along +z from −z, x = −0.6 appears on the right (x right = world −x here).
    let right = image.pixel(80 + 24, 80).unwrap();
    let left = image.pixel(80 - 24, 80).unwrap();
    assert!(right[0] > 180 && right[1] < 80, "red splat: {right:?}");
    assert!(left[1] > 180 && left[0] < 80, "green splat: {left:?}");

    // Carve writes, plyfile reads the same values.
    let ours = tmp.path().join("ours.ply");
    carve::io::ply::write_splats_ply(&ours, &s).unwrap();
    let check = r#"
import sys, json, numpy as np
from plyfile import PlyData
v = PlyData.read(sys.argv[1])["vertex"]
print(json.dumps({n: [float(x) for x in v[n]] for n in v.data.dtype.names}))
"#;
    let out = common::run_python(&["-c".as_ref(), check.as_ref(), ours.as_os_str()]);
    let json: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let col =
        |n: &str| -> Vec<f32> { json[n].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect() };
    assert_eq!(col("x"), vec![-0.6, 0.6]);
    assert!((col("f_rest_0")[0] - 0.25).abs() < 1e-7 && (col("f_rest_0")[1] + 0.125).abs() < 1e-7);
    assert!((col("opacity")[0] - 6.0).abs() < 1e-4);
    assert!((col("scale_0")[0] - 0.25f32.ln()).abs() < 1e-6);
    assert_eq!(col("rot_0"), vec![1.0, 1.0]);
    assert_eq!(json.as_object().unwrap().len(), 26, "standard property set");
}

#[test]
fn cli_renders_the_mhr_body_glb_and_a_splat_ply() {
    let tmp = tempfile::tempdir().unwrap();
    let body_ply = common::repo_root().join("assets/mhr/lod1_topology_face_mask.ply");
    let carve::io::ply::PlyContent::Mesh(mut body) = carve::io::ply::read_ply(&body_ply).unwrap() else {
        panic!("mesh")
    };
    body.colors = None;
    let glb = tmp.path().join("body.glb");
    carve::io::gltf::write_glb(&glb, &body).unwrap();
    let out = tmp.path().join("body.png");
    let result = common::carve(tmp.path())
        .arg("render")
        .arg(&glb)
        .args(["--width", "320", "--height", "480", "--background", "0,0,0", "--json", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let json: serde_json::Value = serde_json::from_slice(&result.stdout).unwrap();
    assert_eq!(json["triangles"], 36874);
    let image = carve::Image::load(&out).unwrap();
    let mask = carve::Mask::from_fn(320, 480, |x, y| image.pixel(x, y).unwrap().iter().any(|&c| c > 20));
    let [x0, y0, x1, y1] = mask.bbox().expect("the body is visible");
    let area = mask.area() as f64 / (320.0 * 480.0);
    assert!((0.04..0.5).contains(&area), "body covers {area:.3} of the frame");
    assert!(y1 - y0 > 250, "a standing body is tall in a 3/4 view: {y0}..{y1}");
    assert!(x0 > 0 && x1 < 320 && y0 > 0 && y1 < 480, "framed: {x0},{y0},{x1},{y1}");

    // A splat PLY through the CLI, and bad input.
    let mut s = Splats::default();
    opaque_splat(&mut s, [0.0, 0.0, 0.0], [0.0, 1.0, 0.0], 0.5);
    let splats = tmp.path().join("s.ply");
    carve::io::ply::write_splats_ply(&splats, &s).unwrap();
    let result = common::carve(tmp.path())
        .arg("render")
        .arg(&splats)
        .args(["--width", "64", "--height", "64", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    assert!(carve::Image::load(&out).unwrap().pixel(32, 32).unwrap()[1] > 200);
    let text = tmp.path().join("notes.ply");
    std::fs::write(&text, "hello").unwrap();
    for args in [vec!["--width", "0"], vec!["--width", "20000"]] {
        let r =
            common::carve(tmp.path()).arg("render").arg(&splats).args(&args).arg("--out").arg(&out).output().unwrap();
        assert!(!r.status.success() && String::from_utf8_lossy(&r.stderr).contains("out of range"), "{args:?}");
    }
    let r = common::carve(tmp.path()).arg("render").arg(&text).arg("--out").arg(&out).output().unwrap();
    assert!(!r.status.success() && String::from_utf8_lossy(&r.stderr).contains("notes.ply"));
}

#[test]
fn a_million_splats_load_and_render() {
    let tmp = tempfile::tempdir().unwrap();
    let n = 1_000_000;
    let mut s = Splats::default();
    let mut seed = 7u64;
    let mut rand = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 40) as f32 / (1u64 << 24) as f32
    };
    for _ in 0..n {
        let p = [rand() * 2.0 - 1.0, rand() * 2.0 - 1.0, rand() * 2.0 - 1.0];
        s.push_rgb(p, [0.01; 3], [1.0, 0.0, 0.0, 0.0], 0.8, [rand(), rand(), rand()]);
    }
    let path = tmp.path().join("million.ply");
    carve::io::ply::write_splats_ply(&path, &s).unwrap();
    drop(s);
    let carve::io::ply::PlyContent::Splats(loaded) = carve::io::ply::read_ply(&path).unwrap() else { panic!() };
    assert_eq!(loaded.len(), n);
    let scene = Scene { splats: vec![loaded], ..Default::default() };
    let image = render(&scene, &look_at(DVec3::new(2.5, -1.5, -3.0), 256, 200.0));
    let lit = (0..256u32)
        .flat_map(|y| (0..256u32).map(move |x| (x, y)))
        .filter(|&(x, y)| image.pixel(x, y).unwrap() != [0, 0, 0])
        .count();
    assert!(lit > 10_000, "only {lit} pixels drawn");
}

#[test]
fn photo_plane_seen_from_its_camera_is_the_photo() {
    let photo = carve::core::demo::still_life();
    let camera = Camera::from_fov_y(1024, 768, 50f64.to_radians()).unwrap();
    let plane = carve::render::PhotoPlane { image: photo.clone(), camera, depth: 2.0 };
    // Render from the same camera at a quarter of the size (intrinsics scaled).
    let small = Camera {
        width: 256,
        height: 192,
        fx: camera.fx / 4.0,
        fy: camera.fy / 4.0,
        cx: camera.cx / 4.0,
        cy: camera.cy / 4.0,
        ..camera
    };
    let image = render(&Scene { photos: vec![plane], ..Default::default() }, &small);
    let reference = image::imageops::resize(photo.rgb(), 256, 192, image::imageops::FilterType::Triangle);
    let mut diff = 0u64;
    for (a, b) in image.rgb().pixels().zip(reference.pixels()) {
        diff += (0..3).map(|c| u64::from(a.0[c].abs_diff(b.0[c]))).sum::<u64>();
    }
    let mean = diff as f64 / (256.0 * 192.0 * 3.0);
    assert!(mean < 10.0, "mean difference {mean:.1} grey levels");
}

#[test]
fn voxel_grid_renders_its_colours() {
    let mesh = carve::core::geometry::voxel_surface([4, 4, 4], [-0.5; 3], 0.25, |x, _, _| {
        Some(if x < 2 { [1.0, 0.0, 0.0, 1.0] } else { [0.0, 0.0, 1.0, 1.0] })
    });
    let image =
        render(&Scene { meshes: vec![mesh], ..Default::default() }, &look_at(DVec3::new(0.0, 0.0, -3.0), 128, 150.0));
    // From −z, world +x is on the left of the image (x right = world −x): blue left, red right.
    let (left, right) = (image.pixel(48, 64).unwrap(), image.pixel(80, 64).unwrap());
    assert!(left[2] > 100 && left[0] < 40, "left {left:?}");
    assert!(right[0] > 100 && right[2] < 40, "right {right:?}");
}

#[test]
fn cli_renders_from_a_scene_json_camera() {
    // The square of `mesh_covers_the_expected_pixels`, seen through a scene.json camera (the
    // layout `carve lift` writes): it lands on pixels 75..125 of 200×200, and --width rescales.
    let tmp = tempfile::tempdir().unwrap();
    let mesh = Mesh {
        positions: vec![[-0.5, -0.5, 2.0], [0.5, -0.5, 2.0], [0.5, 0.5, 2.0], [-0.5, 0.5, 2.0]],
        normals: None,
        colors: Some(vec![[0.0, 1.0, 0.0, 1.0]; 4]),
        indices: vec![0, 1, 2, 0, 2, 3],
    };
    let glb = tmp.path().join("square.glb");
    carve::io::gltf::write_glb(&glb, &mesh).unwrap();
    let scene_json = tmp.path().join("scene.json");
    let camera = Camera::new(200, 200, 100.0, 100.0, 100.0, 100.0, DMat4::IDENTITY).unwrap();
    std::fs::write(&scene_json, serde_json::json!({"camera": camera, "voxel_resolution": 64}).to_string()).unwrap();
    for (size, lo, hi) in [(200u32, 76u32, 124u32), (400, 152, 248)] {
        let out = tmp.path().join(format!("s{size}.png"));
        let r = common::carve(tmp.path())
            .arg("render")
            .arg(&glb)
            .arg("--camera")
            .arg(&scene_json)
            .args(["--width", &size.to_string(), "--height", &size.to_string(), "--background", "0,0,0", "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let image = carve::Image::load(&out).unwrap();
        let green = carve::Mask::from_fn(size, size, |x, y| image.pixel(x, y).unwrap()[1] > 100);
        let [x0, y0, x1, y1] = green.bbox().unwrap();
        assert!(
            x0.abs_diff(lo) <= 2 && y0.abs_diff(lo) <= 2 && x1.abs_diff(hi) <= 2 && y1.abs_diff(hi) <= 2,
            "{size}: {x0},{y0},{x1},{y1}"
        );
    }
    let bad = tmp.path().join("bad.json");
    std::fs::write(&bad, r#"{"camera": {"width": 10}}"#).unwrap();
    let r = common::carve(tmp.path())
        .arg("render")
        .arg(&glb)
        .arg("--camera")
        .arg(&bad)
        .arg("--out")
        .arg(tmp.path().join("x.png"))
        .output()
        .unwrap();
    assert!(!r.status.success() && String::from_utf8_lossy(&r.stderr).contains("bad.json"));
}

#[test]
fn sam3d_objects_splats_are_placed_by_their_layout() {
    // A canonical-cube splat PLY with a layout.json beside it (the SAM 3D Objects output) lands
    // where the layout puts it: seen through an identity camera, at the projected translation.
    let tmp = tempfile::tempdir().unwrap();
    let mut s = Splats::default();
    opaque_splat(&mut s, [0.0, 0.0, 0.0], [1.0, 1.0, 0.0], 0.2);
    carve::io::ply::write_splats_ply(&tmp.path().join("object.ply"), &s).unwrap();
    std::fs::write(
        tmp.path().join("layout.json"),
        r#"{"rotation": [1, 0, 0, 0], "translation": [0.5, 0.0, 4.0], "scale": 1.0}"#,
    )
    .unwrap();
    let mut scene = Scene::default();
    let loaded = carve::io::load_3d(&tmp.path().join("object.ply")).unwrap();
    assert_eq!(loaded.kind, "splats (placed by layout)");
    scene.add(loaded.geometry);
    let camera = Camera::new(200, 200, 200.0, 200.0, 100.0, 100.0, DMat4::IDENTITY).unwrap();
    let image = render(&scene, &camera);
    // x = 0.5 at z = 4 → u = 200·0.5/4 + 100 = 125.
    let px = image.pixel(125, 100).unwrap();
    assert!(px[0] > 200 && px[1] > 200 && px[2] < 60, "{px:?}");
    assert_eq!(image.pixel(60, 100).unwrap(), [0, 0, 0]);
}

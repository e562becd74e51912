//! Renderer and PLY benchmarks on whatever adapter wgpu finds (Mesa lavapipe on the CI machine):
//! splat sort and sort + draw for 100k and 1M splats, frame time of a 74k-vertex mesh, and loading
//! a 1M-splat (SH degree 3) PLY against Python `plyfile` on the same file.
//!
//!     cargo bench --profile dev --bench render

use std::process::Command;
use std::time::Instant;

use carve::core::geometry::{Mesh, Splats};
use carve::render::camera::OrbitCamera;
use carve::render::headless::Headless;
use carve::render::{RenderSettings, Scene};
use glam::Vec3;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn random_splats(n: usize, degree: u8) -> Splats {
    let mut seed = 99u64;
    let mut rand = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 40) as f32 / (1u64 << 24) as f32
    };
    let coeffs = (degree as usize + 1).pow(2);
    let mut s = Splats { sh_degree: degree, ..Default::default() };
    for _ in 0..n {
        s.positions.push([rand() * 2.0 - 1.0, rand() * 2.0 - 1.0, rand() * 2.0 - 1.0]);
        s.scales.push([0.004 + 0.01 * rand(), 0.004 + 0.01 * rand(), 0.004 + 0.01 * rand()]);
        s.rotations.push([1.0, 0.0, 0.0, 0.0]);
        s.opacities.push(0.3 + 0.6 * rand());
        for _ in 0..coeffs * 3 {
            s.sh.push(rand() - 0.5);
        }
    }
    s
}

fn uv_sphere(rings: u32, segments: u32) -> Mesh {
    let mut mesh = Mesh::default();
    for r in 0..=rings {
        let phi = std::f32::consts::PI * r as f32 / rings as f32;
        for s in 0..=segments {
            let theta = std::f32::consts::TAU * s as f32 / segments as f32;
            mesh.positions.push([phi.sin() * theta.cos(), phi.cos(), phi.sin() * theta.sin()]);
        }
    }
    for r in 0..rings {
        for s in 0..segments {
            let a = r * (segments + 1) + s;
            let b = a + segments + 1;
            mesh.indices.extend([a, b, a + 1, a + 1, b, b + 1]);
        }
    }
    mesh
}

fn main() {
    let headless = Headless::new().expect("adapter");
    println!("adapter: {}", headless.adapter);
    let settings = RenderSettings::default();
    let (w, h) = (1280, 720);
    for n in [100_000usize, 1_000_000] {
        let scene = Scene { splats: vec![random_splats(n, 0)], ..Default::default() };
        let mut gpu = headless.upload(&scene, &settings);
        let mut orbit = OrbitCamera::framing(scene.bounds().unwrap(), Vec3::Y);
        let (mut sort_ms, mut frame_ms) = (Vec::new(), Vec::new());
        for i in 0..5 {
            orbit.yaw_rad = 0.3 * i as f32;
            let camera = orbit.camera(w, h);
            let t0 = Instant::now();
            let image = headless.render(&mut gpu, &camera, &settings).expect("render");
            frame_ms.push(t0.elapsed().as_secs_f64() * 1e3);
            sort_ms.push(gpu.last_sort_ms);
            assert_eq!(image.width(), w);
        }
        println!(
            "{n:>8} splats at {w}×{h}: sort {:.1} ms, sort + draw + readback {:.1} ms (median of 5 views)",
            median(sort_ms),
            median(frame_ms)
        );
    }
    let sphere = uv_sphere(270, 272);
    println!("mesh: {} vertices, {} triangles", sphere.positions.len(), sphere.triangle_count());
    let scene = Scene { meshes: vec![sphere], ..Default::default() };
    let mut gpu = headless.upload(&scene, &settings);
    let mut orbit = OrbitCamera::framing(scene.bounds().unwrap(), Vec3::Y);
    let mut frame_ms = Vec::new();
    for i in 0..5 {
        orbit.yaw_rad = 0.3 * i as f32;
        let t0 = Instant::now();
        headless.render(&mut gpu, &orbit.camera(w, h), &settings).expect("render");
        frame_ms.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    println!("mesh frame at {w}×{h} (draw + readback): {:.1} ms median", median(frame_ms));

    // PLY load: 1M splats, SH degree 3 (the common 3DGS export), Carve vs plyfile.
    let tmp = tempfile::tempdir().expect("tmp");
    let path = tmp.path().join("million_sh3.ply");
    carve::io::ply::write_splats_ply(&path, &random_splats(1_000_000, 3)).expect("write");
    let size_mb = std::fs::metadata(&path).map(|m| m.len() as f64 / 1e6).unwrap_or(0.0);
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let out = Command::new(root.join(".venv/bin/python"))
            .arg(root.join("tools/bench_ply_python.py"))
            .arg(&path)
            .args(["--repeat", "1"])
            .output()
            .expect("python");
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        theirs.push(json["seconds"].as_f64().unwrap_or(f64::NAN) * 1e3);
        let t0 = Instant::now();
        let content = carve::io::ply::read_ply(&path).expect("read");
        ours.push(t0.elapsed().as_secs_f64() * 1e3);
        drop(content);
    }
    let (a, b) = (median(ours), median(theirs));
    println!(
        "1M-splat SH3 PLY ({size_mb:.0} MB): Carve {a:.0} ms, plyfile {b:.0} ms, speed-up {:.2}× (alternating, median of 3)",
        b / a
    );
}

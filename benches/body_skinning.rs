//! Skinning one pose at LOD 0 (73,639 vertices, up to 8 influences), Carve's native evaluation vs
//! PyTorch CPU implementations of the same maths (`tools/rig_torch.py`) on the same rig file,
//! same machine, same run: forward kinematics, pose correctives, linear blend skinning; the shape
//! is fixed (both cache the shaped rest mesh). Two PyTorch peers: `dense` (every one of the 8
//! influence slots gathered, forward kinematics in a Python loop over joints) and `sparse`, the
//! competent one (only the non-zero influences, a COO gather + `index_add_`; kinematics batched
//! one tree level at a time), checked equal to the dense path before timing.
//! Goal: ≤ 2 ms on one core and ≥ 5× PyTorch.
//!
//!     cargo bench --profile dev --bench body_skinning

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use carve::body::{Evaluator, demo_rig::demo_rig};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let rig = demo_rig().expect("demo rig").rebased(0).expect("LOD 0");
    let tmp = tempfile::tempdir().expect("temp dir");
    let rig_path = tmp.path().join("lod0.rig.safetensors");
    rig.save(&rig_path).expect("save rig");
    let mut params = rig.zero_params();
    for (name, v) in
        [("l_elbow_rz", 1.1f32), ("r_knee_rx", 0.7), ("head_ry", 0.4), ("root_ry", 0.3), ("spine1_rx", 0.2)]
    {
        let i = rig.parameter_names.iter().position(|n| n == name).expect(name);
        params.model[i] = v;
    }
    params.identity[0] = 0.5;
    let params_path = tmp.path().join("params.json");
    std::fs::write(
        &params_path,
        serde_json::json!({"model": params.model, "identity": params.identity, "expression": params.expression})
            .to_string(),
    )
    .expect("params");
    let vertices = rig.vertex_count();
    let nonzero = rig.skin_weights.iter().filter(|w| **w > 0.0).count() as f64 / vertices as f64;
    let rig = Arc::new(rig);
    let carve_ms = |parallel: bool, n: usize| -> f64 {
        let mut ev = Evaluator::new(rig.clone(), 0).expect("evaluator");
        ev.parallel = parallel;
        let mut p = params.clone();
        let elbow = rig.parameter_names.iter().position(|n| n == "l_elbow_rz").unwrap_or(0);
        ev.evaluate(&p).expect("warm up");
        let mut times = Vec::with_capacity(n);
        for i in 0..n {
            // A new pose every time (the shape stays cached).
            p.model[elbow] = 1.0 + 0.001 * i as f32;
            let t0 = Instant::now();
            std::hint::black_box(ev.evaluate(&p).expect("evaluate"));
            times.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        median(times)
    };
    let torch_ms = |threads: usize, peer: &str| -> f64 {
        let out = tmp.path().join("torch.json");
        let status = Command::new(root.join(".venv/bin/python"))
            .arg(root.join("tools/rig_torch.py"))
            .args([&rig_path, &params_path, &out])
            .args(["--bench", "50", "--threads", &threads.to_string(), "--peer", peer])
            .status()
            .expect("run tools/rig_torch.py");
        assert!(status.success());
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).expect("read")).expect("json");
        v["skin_ms_median"].as_f64().expect("median")
    };
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    // Alternate the two sides (ABAB) so machine noise hits both alike.
    let (mut c1, mut t1, mut cn, mut tn) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut s1, mut sn) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        c1.push(carve_ms(false, 200));
        t1.push(torch_ms(1, "dense"));
        s1.push(torch_ms(1, "sparse"));
        cn.push(carve_ms(true, 200));
        tn.push(torch_ms(cores, "dense"));
        sn.push(torch_ms(cores, "sparse"));
    }
    let (c1, t1, cn, tn) = (median(c1), median(t1), median(cn), median(tn));
    let (s1, sn) = (median(s1), median(sn));
    println!(
        "body skinning, LOD 0 ({vertices} vertices, {} influences max, {nonzero:.2} non-zero on average), medians of 3 rounds:",
        rig.influences
    );
    println!(
        "  one core:  Carve {c1:.3} ms   PyTorch sparse {s1:.3} ms (ratio {:.1}×)   PyTorch dense {t1:.3} ms (ratio {:.1}×)",
        s1 / c1,
        t1 / c1
    );
    println!(
        "  {cores} cores:   Carve {cn:.3} ms   PyTorch sparse {sn:.3} ms (ratio {:.1}×)   PyTorch dense {tn:.3} ms (ratio {:.1}×)",
        sn / cn,
        tn / cn
    );
}

//! Times the pieces of one fitting iteration (forward, losses, backward) on the demo rig.
use carve::body::fit::TorchRig;
use std::time::Instant;
fn main() {
    let rig = carve::body::demo_rig::demo_rig().unwrap();
    let lod = rig.at_lod(4).unwrap();
    let t = TorchRig::new(&rig, &lod);
    let model = tch::Tensor::zeros([rig.parameter_count() as i64], (tch::Kind::Float, tch::Device::Cpu))
        .set_requires_grad(true);
    let id = tch::Tensor::zeros([5], (tch::Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
    let ex = tch::Tensor::zeros([0], (tch::Kind::Float, tch::Device::Cpu));
    for _ in 0..3 {
        let t0 = Instant::now();
        let mut fwd = 0.0;
        let mut bwd = 0.0;
        for _ in 0..50 {
            let a = Instant::now();
            let (v, j) = t.forward(&model, &id, &ex);
            let loss = v.square().mean(tch::Kind::Float) + j.square().mean(tch::Kind::Float);
            fwd += a.elapsed().as_secs_f64();
            let b = Instant::now();
            loss.backward();
            bwd += b.elapsed().as_secs_f64();
        }
        println!(
            "per iteration: forward {:.2} ms, backward {:.2} ms, total {:.2} ms",
            fwd * 20.0,
            bwd * 20.0,
            t0.elapsed().as_secs_f64() * 20.0
        );
    }
}

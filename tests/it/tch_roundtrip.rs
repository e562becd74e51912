//! A TorchScript module made by `tools/make_selftest_model.py` at test time loads through Carve's
//! model runtime and returns, from Rust, the tensors Python computed with the same saved file.
use crate::common;

use carve::model::{ComputeDevice, ModelFolder, SearchOrigin, load_torchscript};
use tch::{IValue, Tensor};

#[test]
fn selftest_module_matches_python() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("selftest");
    common::make_selftest_model(&dir);

    let folder = ModelFolder::inspect(&dir, SearchOrigin::Explicit);
    assert!(folder.valid, "{:?}", folder.problems);
    let manifest = folder.manifest.unwrap();
    let module = load_torchscript(&manifest.file(&dir, "model").unwrap(), ComputeDevice::Cpu).unwrap();

    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap()).unwrap();
    let shape =
        |name: &str| -> Vec<i64> { reference[name].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect() };
    let input = Tensor::from_slice(&common::read_f32(&dir.join("input.f32"))).view(shape("input").as_slice());

    let output = tch::no_grad(|| module.forward_is(&[IValue::Tensor(input)])).unwrap();
    let IValue::Tuple(outputs) = output else { panic!("expected a tuple, got {output:?}") };
    assert_eq!(outputs.len(), 2);
    for (value, name) in outputs.iter().zip(["features", "logits"]) {
        let IValue::Tensor(t) = value else { panic!("{name} is not a tensor") };
        assert_eq!(t.size(), shape(name), "{name} shape");
        let got = Vec::<f32>::try_from(&t.contiguous().view([-1])).unwrap();
        let want = common::read_f32(&dir.join(format!("{name}.f32")));
        let max_err = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(max_err <= 1e-5, "{name}: max abs error {max_err}");
        assert!(want.iter().any(|v| v.abs() > 1e-3), "{name}: reference is all zeros, the test would prove nothing");
    }
}

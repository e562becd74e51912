//! COCO RLE compatibility: ≥ 100 random masks (empty, full, odd sizes, 1-pixel wide, noise,
//! blobs) encoded by Carve decode identically in pycocotools, pycocotools' encodings decode
//! identically in Carve, and the compressed strings are byte-identical.
use crate::common;

use carve::{CocoRle, Mask};

/// SplitMix64: a tiny deterministic generator, so the cases are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn cases() -> Vec<Mask> {
    let mut rng = Rng(2026);
    let mut masks = vec![
        Mask::new(7, 5),
        Mask::from_fn(7, 5, |_, _| true),
        Mask::from_fn(1, 1, |_, _| true),
        Mask::new(1, 1),
        Mask::from_fn(1, 97, |_, y| y % 3 == 0),
        Mask::from_fn(113, 1, |x, _| x % 2 == 1),
        Mask::from_fn(640, 480, |x, y| (x as i32 - 300).pow(2) + (y as i32 - 200).pow(2) < 150 * 150),
    ];
    while masks.len() < 160 {
        let (w, h) = (1 + rng.below(90) as u32, 1 + rng.below(90) as u32);
        let style = rng.below(4);
        let density = rng.unit();
        let (cx, cy, r) = (rng.unit() * w as f64, rng.unit() * h as f64, rng.unit() * 40.0);
        let mut noise = Rng(rng.next());
        masks.push(Mask::from_fn(w, h, |x, y| match style {
            0 => noise.unit() < density,
            1 => (x as f64 - cx).powi(2) + (y as f64 - cy).powi(2) < r * r,
            2 => (x as f64 - cx).abs() < r / 3.0 || noise.unit() < 0.02,
            // Long runs (exercise multi-group counts and the delta coding).
            _ => (x * h + y) as f64 / (w * h) as f64 > density,
        }));
    }
    masks
}

#[test]
fn carve_and_pycocotools_agree_both_ways() {
    let masks = cases();
    let payload: Vec<serde_json::Value> = masks
        .iter()
        .map(|m| {
            let bits: String = m.as_bytes().iter().map(|&b| if b != 0 { '1' } else { '0' }).collect();
            serde_json::json!({"height": m.height(), "width": m.width(), "bits": bits, "rle": m.to_coco_rle()})
        })
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let (input, output) = (tmp.path().join("cases.json"), tmp.path().join("result.json"));
    std::fs::write(&input, serde_json::to_vec(&payload).unwrap()).unwrap();
    let script = common::repo_root().join("tests/py/check_rle.py");
    common::run_python(&[script.as_os_str(), input.as_os_str(), output.as_os_str()]);

    let result: serde_json::Value = serde_json::from_slice(&std::fs::read(&output).unwrap()).unwrap();
    let mismatches = result["mismatches"].as_array().unwrap();
    assert!(mismatches.is_empty(), "{} of {} cases differ: {mismatches:#?}", mismatches.len(), masks.len());
    let theirs = result["pycocotools_rles"].as_array().unwrap();
    assert_eq!(theirs.len(), masks.len());
    for (i, (rle, mask)) in theirs.iter().zip(&masks).enumerate() {
        let parsed: CocoRle = serde_json::from_value(rle.clone()).unwrap_or_else(|e| panic!("case {i}: {e}"));
        assert_eq!(
            &Mask::from_coco_rle(&parsed).unwrap(),
            mask,
            "case {i}: Carve decodes pycocotools' RLE differently"
        );
    }
}

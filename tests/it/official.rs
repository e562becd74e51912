//! What the end-to-end fidelity tests of the SAM engines share: reading a reference folder written
//! by `tools/sam2_reference.py` / `tools/sam3_official_reference.py` (raw little-endian float32
//! files named in reference.json), prompts from the cases, the official answers in the order Carve
//! gives them, and the comparison of masks with the official logits.
use std::path::Path;

use carve::{BoxPrompt, PointLabel, PointPrompt, Prompt};
use tch::{Kind, Tensor};

/// Logits within this of the official ones count as equal at fp32 (issue 12's bound).
pub const LOGIT_TOL: f64 = 1e-3;

pub fn reference_json(refdir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(refdir.join("reference.json")).unwrap()).unwrap()
}

pub fn load_tensor(refdir: &Path, reference: &serde_json::Value, key: &str) -> Tensor {
    let meta = &reference["tensors"][key];
    let shape: Vec<i64> = meta["shape"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    let values = crate::common::read_f32(&refdir.join(meta["file"].as_str().unwrap()));
    Tensor::from_slice(&values).view(shape.as_slice())
}

pub fn max_abs_diff(got: &Tensor, want: &Tensor) -> f64 {
    let got = got.view(want.size().as_slice());
    (got.to_kind(Kind::Double) - want.to_kind(Kind::Double)).abs().max().double_value(&[])
}

/// A case (`{"points": [[x, y]], "labels": [1 | 0], "box": [x0, y0, x1, y1] | null}`) as a prompt.
pub fn prompt_of(case: &serde_json::Value) -> Prompt {
    let f = |v: &serde_json::Value| v.as_f64().unwrap() as f32;
    let points = case["points"].as_array().unwrap();
    let labels = case["labels"].as_array().unwrap();
    Prompt {
        points: points
            .iter()
            .zip(labels)
            .map(|(p, l)| PointPrompt {
                x_px: f(&p[0]),
                y_px: f(&p[1]),
                label: if l.as_i64() == Some(1) { PointLabel::Positive } else { PointLabel::Negative },
            })
            .collect(),
        bbox: case["box"].as_array().map(|b| BoxPrompt {
            x0_px: f(&b[0]),
            y0_px: f(&b[1]),
            x1_px: f(&b[2]),
            y1_px: f(&b[3]),
        }),
        text: None,
    }
}

pub fn is_ambiguous(prompt: &Prompt) -> bool {
    prompt.bbox.is_none() && prompt.points.len() == 1
}

/// Official logits of one case in the order Carve answers: the three hypotheses by IoU for a lone
/// click; else the single mask, then the two best hypotheses. Empty masks dropped. `key` prefixes
/// the tensors (`NAME.multi_logits`, `NAME.single_logits`); `multi_iou` from the case's row.
pub fn official_answers(
    refdir: &Path,
    reference: &serde_json::Value,
    key: &str,
    multi_iou: &[f64],
    prompt: &Prompt,
) -> Vec<Tensor> {
    let multi = load_tensor(refdir, reference, &format!("{key}.multi_logits"));
    let mut order: Vec<usize> = (0..multi_iou.len()).collect();
    order.sort_by(|&a, &b| multi_iou[b].total_cmp(&multi_iou[a]));
    let mut answers: Vec<Tensor> = order.iter().map(|&i| multi.get(i as i64)).collect();
    if !is_ambiguous(prompt) {
        answers.insert(0, load_tensor(refdir, reference, &format!("{key}.single_logits")).get(0));
    }
    answers.truncate(3);
    answers.retain(|m| m.gt(0.0).any().int64_value(&[]) != 0);
    answers
}

/// Pixels where `got` (a mask, 0/1) disagrees with the official logits `want` thresholded at 0:
/// (decided, undecided) — decided where the official logit is farther than [`LOGIT_TOL`] from 0,
/// undecided where it is within it (there any fp32 summation order may fall either side).
pub fn mask_flips(got: &Tensor, want: &Tensor) -> (i64, i64) {
    let got = got.view(want.size().as_slice()).gt(0.0);
    let differ = got.ne_tensor(&want.gt(0.0));
    let near = want.abs().le(LOGIT_TOL);
    let count = |t: Tensor| t.sum(Kind::Int64).int64_value(&[]);
    (count(differ.logical_and(&near.logical_not())), count(differ.logical_and(&near)))
}

pub fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

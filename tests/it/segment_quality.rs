//! Quality of the classical engine on textured objects composited on photographs (a set made
//! at test time with a seed other than the benchmark's): box mIoU above OpenCV GrabCut's on the
//! same images, and NoC@85 ≤ 5 with clicks only (standard protocol). Timing is the benchmark's
//! job (`benches/segment_vs_grabcut.rs`), never asserted here.
use crate::common;

use carve::segment::eval::{click_protocol, load_eval_set};
use carve::segment::{ClassicalSegmenter, Segmenter};

/// A composite set made by `script` with `seed` (`count` images), GrabCut's box IoUs on it (OpenCV,
/// 5 iterations) and the classical engine's: (Carve box mIoU, GrabCut box mIoU, Carve NoC@85 with
/// clicks only, standard protocol, 20 max).
fn classical_vs_grabcut(script: &str, seed: u32, count: usize) -> (f64, f64, f64) {
    let tmp = tempfile::tempdir().unwrap();
    let set = tmp.path().join("set");
    let script = common::repo_root().join("tools").join(script);
    let (count_arg, seed_arg) = (count.to_string(), seed.to_string());
    common::run_python(&[
        script.as_os_str(),
        set.as_os_str(),
        "--count".as_ref(),
        count_arg.as_ref(),
        "--seed".as_ref(),
        seed_arg.as_ref(),
    ]);
    let items = load_eval_set(&set).unwrap();
    assert_eq!(items.len(), count);
    let gc_json = tmp.path().join("grabcut.json");
    let gc_script = common::repo_root().join("tools/grabcut_baseline.py");
    common::run_python(&[
        gc_script.as_os_str(),
        set.as_os_str(),
        gc_json.as_os_str(),
        "--repeat".as_ref(),
        "1".as_ref(),
    ]);
    let gc: serde_json::Value = serde_json::from_slice(&std::fs::read(&gc_json).unwrap()).unwrap();
    let mut seg = ClassicalSegmenter::default();
    let (mut ours, mut theirs, mut noc) = (0.0, 0.0, 0.0);
    for item in &items {
        seg.set_image(&item.image, &carve::Progress::new()).unwrap();
        let masks = seg.segment(&item.prompt, None).unwrap();
        ours += masks[0].mask.iou(&item.truth);
        theirs += gc["results"][&item.name]["iou"].as_f64().unwrap();
        noc += click_protocol(&mut seg, item, 20, 0.85).unwrap().noc(0.85, 20) as f64;
    }
    let n = items.len() as f64;
    (ours / n, theirs / n, noc / n)
}

/// The first round's set (textures from other photographs than the background), seed 11.
#[test]
fn classical_beats_grabcut_and_needs_few_clicks() {
    let (ours, theirs, noc) = classical_vs_grabcut("make_seg_dataset.py", 11, 12);
    eprintln!("box mIoU: classical {ours:.4}, GrabCut {theirs:.4}; NoC@85 {noc:.2}");
    assert!(ours > theirs, "classical box mIoU {ours:.4} does not beat GrabCut's {theirs:.4}");
    assert!(ours > 0.95, "classical box mIoU {ours:.4}");
    assert!(noc <= 5.0, "NoC@85 = {noc:.2}");
}

/// The hard set (`tools/make_hard_seg_dataset.py`: each object textured from the same photograph
/// as its background — mirrored, shaded, tinted — so object and background colours overlap, with
/// soft and hard edges and thin parts), on seed 200: never used for tuning (seeds 0–9) nor by the
/// benchmark (100). Box prompts: the classical engine's mIoU at least GrabCut's + 0.02 on the same
/// images, and clicks alone NoC@85 ≤ 5.
#[test]
fn classical_beats_grabcut_where_colours_overlap() {
    let (ours, theirs, noc) = classical_vs_grabcut("make_hard_seg_dataset.py", 200, 24);
    eprintln!("hard set, box mIoU: classical {ours:.4}, GrabCut {theirs:.4}; NoC@85 {noc:.2}");
    assert!(ours >= theirs + 0.02, "classical box mIoU {ours:.4} is not GrabCut's {theirs:.4} + 0.02");
    assert!(noc <= 5.0, "NoC@85 = {noc:.2} on the hard set");
}

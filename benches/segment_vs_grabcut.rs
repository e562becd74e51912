//! Classical engine vs OpenCV GrabCut, side by side in one run: box mIoU and median time per box
//! prompt for both, and NoC@85 / NoC@90 for clicks only (standard protocol, 20 clicks max).
//!
//!     cargo bench --profile dev --bench segment_vs_grabcut [-- DATASET_DIR] [--easy]
//!
//! (`--profile dev` reuses the test build: our code is built at opt-level 2 there.) Without a
//! dataset folder, one is generated in a temporary folder with the benchmark seed (100, never
//! used for tuning): the HARD set (`tools/make_hard_seg_dataset.py`: objects textured from the
//! same photograph as their background, so colours overlap), or with `--easy` the first round's
//! set (`tools/make_seg_dataset.py`: textures from other photos). Both sides run one thread:
//! OpenCV's grabCut is single-threaded; the classical engine's rayon pool is set to 1 here.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use carve::segment::eval::{click_protocol, load_eval_set};
use carve::segment::{ClassicalSegmenter, Segmenter};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() { f64::NAN } else { v[v.len() / 2] }
}

fn main() {
    rayon::ThreadPoolBuilder::new().num_threads(1).build_global().expect("rayon pool");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv/bin/python");
    let tmp = tempfile::tempdir().expect("temp dir");
    let dataset = match std::env::args().skip(1).find(|a| !a.starts_with('-')) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let dir = tmp.path().join("set");
            let easy = std::env::args().any(|a| a == "--easy");
            let (script, seed) = if easy { ("make_seg_dataset.py", "7") } else { ("make_hard_seg_dataset.py", "100") };
            let status = Command::new(&python)
                .arg(root.join("tools").join(script))
                .arg(&dir)
                .args(["--count", "24", "--seed", seed])
                .status()
                .expect("run make_seg_dataset.py (run scripts/setup.sh first)");
            assert!(status.success());
            dir
        }
    };
    let items = load_eval_set(&dataset).expect("dataset");
    const REPEAT: usize = 3;

    // GrabCut (OpenCV, 5 iterations, box-initialised), same images, same machine, same run.
    let gc_json = tmp.path().join("grabcut.json");
    let status = Command::new(&python)
        .arg(root.join("tools/grabcut_baseline.py"))
        .arg(&dataset)
        .arg(&gc_json)
        .args(["--repeat", &REPEAT.to_string()])
        .status()
        .expect("run grabcut_baseline.py");
    assert!(status.success());
    let gc: serde_json::Value = serde_json::from_slice(&std::fs::read(&gc_json).unwrap()).unwrap();

    // Carve classical, box prompts: time of segment() (the whole answer, full resolution).
    let mut seg = ClassicalSegmenter::default();
    let (mut carve_ms, mut carve_iou, mut gc_ms, mut gc_iou) = (vec![], vec![], vec![], vec![]);
    for item in &items {
        seg.set_image(&item.image, &carve::Progress::new()).unwrap();
        let mut times = vec![];
        let mut iou = 0.0;
        for _ in 0..REPEAT {
            let t0 = Instant::now();
            let masks = seg.segment(&item.prompt, None).unwrap();
            times.push(t0.elapsed().as_secs_f64() * 1e3);
            iou = masks[0].mask.iou(&item.truth);
        }
        carve_ms.push(median(times));
        carve_iou.push(iou);
        let r = &gc["results"][&item.name];
        gc_ms.push(r["ms"].as_f64().unwrap());
        gc_iou.push(r["iou"].as_f64().unwrap());
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;

    // Clicks only: the standard protocol.
    let (mut noc85, mut noc90) = (vec![], vec![]);
    for item in &items {
        let run = click_protocol(&mut seg, item, 20, 0.90).unwrap();
        noc85.push(run.noc(0.85, 20) as f64);
        noc90.push(run.noc(0.90, 20) as f64);
    }

    println!(
        "segmentation benchmark: {} images of {}×{} ({}), OpenCV {} ({} threads)",
        items.len(),
        items[0].image.width(),
        items[0].image.height(),
        dataset.display(),
        gc["opencv"],
        gc["threads"]
    );
    println!("{:<28} {:>10} {:>16}", "", "box mIoU", "median ms/box");
    println!("{:<28} {:>10.4} {:>16.1}", "OpenCV GrabCut (5 iter)", mean(&gc_iou), median(gc_ms.clone()));
    println!("{:<28} {:>10.4} {:>16.1}", "Carve classical", mean(&carve_iou), median(carve_ms.clone()));
    println!("time ratio Carve / GrabCut (medians): {:.3}", median(carve_ms.clone()) / median(gc_ms.clone()));
    let per_image: Vec<f64> = carve_ms.iter().zip(&gc_ms).map(|(c, g)| c / g).collect();
    println!(
        "time ratio per image: median {:.3}, worst {:.3}",
        median(per_image.clone()),
        per_image.iter().copied().fold(0.0, f64::max)
    );
    println!("clicks only: NoC@85 = {:.2}, NoC@90 = {:.2} (mean over images, 20 max)", mean(&noc85), mean(&noc90));
    for (i, item) in items.iter().enumerate() {
        println!(
            "  {}: IoU carve {:.3} grabcut {:.3}  ms carve {:.1} grabcut {:.1}  NoC@85 {}",
            item.name, carve_iou[i], gc_iou[i], carve_ms[i], gc_ms[i], noc85[i]
        );
    }
}

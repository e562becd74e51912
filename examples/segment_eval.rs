//! Evaluates the classical engine on evaluation sets (the `make_seg_dataset.py` /
//! `make_hard_seg_dataset.py` layout): box IoU per image (beside GrabCut's when the set folder holds
//! a `gc.json` written by `tools/grabcut_baseline.py`), NoC@85 with clicks only, time per box.
//! For tuning on the tuning seeds (0–9) only.
//!
//!     cargo run --example segment_eval -- [--no-clicks] [--verbose] [--set KEY=VALUE]... DIR...

use std::time::Instant;

use carve::segment::eval::{click_protocol, load_eval_set};
use carve::segment::{ClassicalParams, ClassicalSegmenter, Segmenter};

fn set(params: &mut ClassicalParams, kv: &str) {
    let (k, v) = kv.split_once('=').unwrap_or_else(|| panic!("--set KEY=VALUE, got {kv}"));
    let f = || v.parse::<f32>().unwrap_or_else(|_| panic!("{kv}: not a number"));
    match k {
        "max_work_cells" => params.max_work_cells = f() as usize,
        "max_click_cells" => params.max_click_cells = f() as usize,
        "iterations" => params.iterations = f() as usize,
        "components" => params.components = f() as usize,
        "gamma" => params.gamma = f(),
        "texture" => params.texture = f() != 0.0,
        "texture_radius_px" => params.texture_radius_px = f() as usize,
        "ring" => params.ring = f(),
        "global_bg_weight" => params.global_bg_weight = f(),
        "tight_box" => params.tight_box = f() != 0.0,
        "click_prior" => params.click_prior = f(),
        "keep_prior" => params.keep_prior = f(),
        "geodesic_contrast" => params.geodesic_contrast = f(),
        "click_geodesic_contrast" => params.click_geodesic_contrast = f(),
        "refine_band" => params.refine_band = f() as usize,
        "click_radius" => params.click_radius = f(),
        "box_geodesic_prior" => params.box_geodesic_prior = f(),
        "box_geodesic_reach" => params.box_geodesic_reach = f(),
        _ => panic!("unknown parameter {k}"),
    }
}

fn main() {
    let mut params = ClassicalParams::default();
    let (mut clicks, mut verbose, mut dirs) = (true, false, Vec::new());
    let mut dump: Option<std::path::PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--no-clicks" => clicks = false,
            "--verbose" => verbose = true,
            "--dump" => dump = args.next().map(Into::into),
            "--set" => set(&mut params, &args.next().expect("--set KEY=VALUE")),
            _ => dirs.push(std::path::PathBuf::from(a)),
        }
    }
    let mut seg: Box<dyn Segmenter> = Box::new(ClassicalSegmenter::new(params));
    let (mut all_ours, mut all_gc, mut all_noc, mut all_ms, mut all_gc_ms) = (vec![], vec![], vec![], vec![], vec![]);
    for dir in &dirs {
        let items = load_eval_set(dir).expect("evaluation set");
        let gc: Option<serde_json::Value> =
            std::fs::read(dir.join("gc.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
        let (mut ours, mut theirs, mut nocs) = (vec![], vec![], vec![]);
        for item in &items {
            seg.set_image(&item.image, &carve::Progress::new()).unwrap();
            let t0 = Instant::now();
            let masks = seg.segment(&item.prompt, None).unwrap();
            let ms = t0.elapsed().as_secs_f64() * 1e3;
            let iou = masks[0].mask.iou(&item.truth);
            if let Some(d) = &dump {
                let name = format!("{}_{}", dir.file_name().unwrap().to_string_lossy(), item.name);
                std::fs::create_dir_all(d).unwrap();
                masks[0].mask.save_png(d.join(name)).unwrap();
            }
            let r = gc.as_ref().map(|g| &g["results"][&item.name]);
            let gc_iou = r.and_then(|r| r["iou"].as_f64()).unwrap_or(f64::NAN);
            let gc_ms = r.and_then(|r| r["ms"].as_f64()).unwrap_or(f64::NAN);
            let run = clicks.then(|| click_protocol(seg.as_mut(), item, 20, 0.85).unwrap());
            let noc = run.as_ref().map_or(f64::NAN, |r| r.noc(0.85, 20) as f64);
            if verbose && let Some(r) = &run {
                let ious: Vec<String> = r.ious.iter().map(|v| format!("{v:.2}")).collect();
                println!("  clicks: {}", ious.join(" "));
            }
            if verbose {
                println!(
                    "{} {}: IoU {iou:.3} (GrabCut {gc_iou:.3})  {ms:.0} ms (GrabCut {gc_ms:.0})  NoC@85 {noc}",
                    dir.display(),
                    item.name
                );
            }
            ours.push(iou);
            theirs.push(gc_iou);
            nocs.push(noc);
            all_ms.push(ms);
            all_gc_ms.push(gc_ms);
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        println!(
            "{}: box mIoU {:.4} (GrabCut {:.4}, diff {:+.4})  NoC@85 {:.2}",
            dir.display(),
            mean(&ours),
            mean(&theirs),
            mean(&ours) - mean(&theirs),
            mean(&nocs)
        );
        all_ours.extend(ours);
        all_gc.extend(theirs);
        all_noc.extend(nocs);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let ratio: f64 = all_ms.iter().sum::<f64>() / all_gc_ms.iter().sum::<f64>();
    println!(
        "ALL {} images: box mIoU {:.4} (GrabCut {:.4}, diff {:+.4})  NoC@85 {:.2}  time {:.1} ms/box (sum ratio vs stored GrabCut {:.3})",
        all_ours.len(),
        mean(&all_ours),
        mean(&all_gc),
        mean(&all_ours) - mean(&all_gc),
        mean(&all_noc),
        mean(&all_ms),
        ratio
    );
}

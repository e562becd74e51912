//! Opening a folder of 1,000 small images as a dataset (issue 15: < 1 s): `Dataset::scan` (each
//! file's header only) and saving `dataset.json`, then reading it back, median of 5 runs; beside
//! it, pycocotools' `COCO()` reading the same file (a peer reader of the same document, same run);
//! and the window's open of the same folder (`app::folder::Folder::open`).
//!
//!     cargo bench --profile dev --bench dataset_open

use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    for i in 0..1000u32 {
        let img = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([(x + i) as u8, (y * 3) as u8, (i % 251) as u8]));
        img.save(dir.path().join(format!("img_{i:04}.png")))?;
    }
    let path = dir.path().join(carve::io::dataset::DATASET_FILE);
    let (mut open, mut reload) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let t0 = Instant::now();
        let (dataset, skipped) = carve::io::dataset::Dataset::scan(dir.path(), &["object".to_owned()])?;
        dataset.save(&path)?;
        open.push(t0.elapsed().as_secs_f64() * 1e3);
        assert_eq!((dataset.images.len(), skipped.len()), (1000, 0));
        let t0 = Instant::now();
        let back = carve::io::dataset::Dataset::load(&path)?;
        reload.push(t0.elapsed().as_secs_f64() * 1e3);
        assert_eq!(back, dataset);
    }
    // The window's "open folder" (`app::folder::Folder::open`): the dataset read, the folder
    // scanned for new images, the file saved; thumbnails come later, lazily.
    let mut window = Vec::new();
    for _ in 0..5 {
        let t0 = Instant::now();
        let folder = carve::app::folder::Folder::open(dir.path())?;
        window.push(t0.elapsed().as_secs_f64() * 1e3);
        assert_eq!(folder.dataset.images.len(), 1000);
    }
    let peer = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python"))
        .args([
            "-c",
            "import sys, time, io, contextlib\nfrom pycocotools.coco import COCO\nts=[]\nfor _ in range(5):\n t=time.perf_counter()\n with contextlib.redirect_stdout(io.StringIO()): COCO(sys.argv[1])\n ts.append((time.perf_counter()-t)*1e3)\nprint(sorted(ts)[2])",
        ])
        .arg(&path)
        .output()?;
    let peer_ms: f64 = String::from_utf8_lossy(&peer.stdout).trim().parse().unwrap_or(f64::NAN);
    println!("1000 images of 64×48 PNG, 1 thread each side");
    println!(
        "open a folder (scan headers + write dataset.json): median {:.1} ms (runs {open:.1?})",
        median(open.clone())
    );
    println!("the window opening the folder again (read + rescan + save): median {:.1} ms", median(window));
    let reload_ms = median(reload);
    println!("read dataset.json back (Carve, validated): median {reload_ms:.2} ms");
    println!(
        "pycocotools COCO() on the same file: median {peer_ms:.2} ms (ratio Carve/pycocotools {:.2})",
        reload_ms / peer_ms
    );
    Ok(())
}

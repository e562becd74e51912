//! `carve dataset` (issue 15): a folder becomes a dataset (unreadable images skipped with the
//! reason), labels made by pycocotools (RLE and polygons) import by file and class name, and every
//! export reads back in an independent reader — pycocotools for COCO (RLE exact, polygons IoU ≥
//! 0.98), the documented YOLO-seg and labelme formats rasterised with PIL (IoU ≥ 0.98); a COCO file
//! with duplicate ids is refused with the file and the entry named, leaving the dataset unchanged.
use crate::common;

fn write_png(path: &std::path::Path, w: u32, h: u32, seed: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x as u8).wrapping_mul(3) ^ seed, (y as u8).wrapping_mul(5), seed])
    })
    .save(path)
    .unwrap();
}

#[test]
fn dataset_init_import_and_exports_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("photos");
    write_png(&dir.join("a.png"), 320, 240, 1);
    write_png(&dir.join("b.png"), 400, 300, 2);
    write_png(&dir.join("sub/c.png"), 320, 240, 3);
    std::fs::write(dir.join("broken.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    std::fs::write(dir.join("notes.txt"), b"not an image").unwrap();
    let carve = |args: &[&std::ffi::OsStr]| common::carve(tmp.path()).arg("dataset").args(args).output().unwrap();
    let os = |s: &str| std::ffi::OsString::from(s);

    let r = carve(&[&os("init"), dir.as_os_str(), &os("--classes"), &os("cat,dog"), &os("--json")]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let init: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(init["images"], 3, "{init}");
    assert_eq!(init["skipped"][0]["file"], "broken.png", "{init}");
    assert_eq!(init["categories"], serde_json::json!(["cat", "dog"]));

    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let script = common::repo_root().join("tools/dataset_roundtrip.py");
    common::run_python(&[script.as_os_str(), "make".as_ref(), work.as_os_str()]);
    let r =
        carve(&[&os("import"), dir.as_os_str(), &os("--coco"), work.join("labels.json").as_os_str(), &os("--json")]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let import: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(import["imported"], 6, "{import}");
    let skipped = import["skipped"].as_array().unwrap();
    assert!(skipped.len() == 1 && skipped[0].as_str().unwrap().contains("missing.png"), "{import}");
    assert_eq!(import["stats"]["human"], 6);

    let r = carve(&[
        &os("export"),
        dir.as_os_str(),
        &os("--coco"),
        work.join("out_rle.json").as_os_str(),
        &os("--yolo"),
        work.join("yolo").as_os_str(),
        &os("--labelme"),
        work.join("labelme").as_os_str(),
        &os("--png"),
        work.join("png").as_os_str(),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let r = carve(&[
        &os("export"),
        dir.as_os_str(),
        &os("--coco"),
        work.join("out_poly.json").as_os_str(),
        &os("--polygons"),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let report = common::run_python(&[script.as_os_str(), "check".as_ref(), work.as_os_str()]);
    let report: serde_json::Value = serde_json::from_str(report.lines().last().unwrap()).unwrap();
    eprintln!("{report}");
    for (format, least) in [("out_rle.json", 0.98), ("out_poly.json", 0.98), ("yolo", 0.98), ("labelme", 0.98)] {
        assert_eq!(report[format]["annotations"], 6, "{format}: {report}");
        assert!(report[format]["min_iou"].as_f64().unwrap() >= least, "{format}: {report}");
    }
    // The PNG masks: instance indices and category ids.
    let sem = image::open(work.join("png/semantic/a.png")).unwrap().into_luma16();
    let ids: std::collections::BTreeSet<u16> = sem.pixels().map(|p| p.0[0]).collect();
    assert_eq!(ids.into_iter().collect::<Vec<_>>(), [0, 1, 2], "background, cat, dog");

    // Import the YOLO-seg and labelme exports into fresh datasets of the same images: the same six
    // labels come back (IoU ≥ 0.97 with the originals); bad lines and files are named and skipped.
    let original = carve::io::dataset::Dataset::load(&dir.join("dataset.json")).unwrap();
    let mask_of = |d: &carve::io::dataset::Dataset, file: &str, class: &str| {
        let im = d.images.iter().find(|im| im.file_name == file).unwrap();
        let cat = d.categories.iter().find(|c| c.name == class).unwrap();
        let a = d.annotations.iter().find(|a| a.image_id == im.id && a.category_id == cat.id).unwrap();
        d.mask_of(a).unwrap()
    };
    for (format, source) in [("--yolo", work.join("yolo")), ("--labelme", work.join("labelme"))] {
        let copy = tmp.path().join(format!("copy{format}"));
        for f in ["a.png", "b.png", "sub/c.png"] {
            std::fs::create_dir_all(copy.join(f).parent().unwrap()).unwrap();
            std::fs::copy(dir.join(f), copy.join(f)).unwrap();
        }
        assert!(carve(&[&os("init"), copy.as_os_str()]).status.success());
        let r = carve(&[&os("import"), copy.as_os_str(), &os(format), source.as_os_str(), &os("--json")]);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let summary: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
        assert_eq!(summary["imported"], 6, "{format}: {summary}");
        let back = carve::io::dataset::Dataset::load(&copy.join("dataset.json")).unwrap();
        for file in ["a.png", "b.png", "sub/c.png"] {
            for class in ["cat", "dog"] {
                let iou = mask_of(&back, file, class).iou(&mask_of(&original, file, class));
                assert!(iou >= 0.97, "{format} {file} {class}: IoU {iou:.3}");
            }
        }
    }
    // Bad labels: a coordinate outside [0, 1], a class data.yaml lacks, two points; a labelme file
    // whose image size disagrees. Each named; the good ones still imported.
    let bad_yolo = work.join("bad_yolo");
    std::fs::create_dir_all(bad_yolo.join("labels")).unwrap();
    std::fs::copy(work.join("yolo/data.yaml"), bad_yolo.join("data.yaml")).unwrap();
    std::fs::write(
        bad_yolo.join("labels/a.txt"),
        "0 0.1 0.1 0.5 0.1 0.5 0.5\n0 0.1 0.1 1.5 0.1 0.5 0.5\n9 0.1 0.1 0.5 0.1 0.5 0.5\n1 0.1 0.1 0.5 0.5\n",
    )
    .unwrap();
    std::fs::write(bad_yolo.join("labels/zzz.txt"), "0 0.1 0.1 0.5 0.1 0.5 0.5\n").unwrap();
    let r = carve(&[&os("import"), dir.as_os_str(), &os("--yolo"), bad_yolo.as_os_str(), &os("--json")]);
    let summary: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    let notes: Vec<&str> = summary["skipped"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(summary["imported"], 1, "{summary}");
    assert!(notes.iter().any(|n| n.contains("a.txt:2") && n.contains("outside [0, 1]")), "{notes:?}");
    assert!(notes.iter().any(|n| n.contains("a.txt:3") && n.contains("class 9")), "{notes:?}");
    assert!(notes.iter().any(|n| n.contains("a.txt:4") && n.contains("at least 3")), "{notes:?}");
    assert!(notes.iter().any(|n| n.contains("zzz.txt") && n.contains("no image")), "{notes:?}");
    let bad_labelme = work.join("bad_labelme");
    std::fs::create_dir_all(&bad_labelme).unwrap();
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.join("labelme/b.json")).unwrap()).unwrap();
    doc["imageWidth"] = serde_json::json!(401);
    std::fs::write(bad_labelme.join("b.json"), serde_json::to_vec(&doc).unwrap()).unwrap();
    let r = carve(&[&os("import"), dir.as_os_str(), &os("--labelme"), bad_labelme.as_os_str(), &os("--json")]);
    let summary: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(summary["imported"], 0, "{summary}");
    assert!(summary["skipped"][0].as_str().unwrap().contains("400×300 in the dataset but 401×300"), "{summary}");
    // Back to the six labels for what follows.
    original.save(&dir.join("dataset.json")).unwrap();

    // Merge (through the CLI) of the dataset with the RLE export of itself: the same images, every
    // label twice (merging keeps all labels: shards do not overlap).
    let merged = work.join("merged.json");
    let r = carve(&[
        &os("merge"),
        &os("--out"),
        merged.as_os_str(),
        dir.join("dataset.json").as_os_str(),
        work.join("out_rle.json").as_os_str(),
        &os("--json"),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let m: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!((m["images"].as_u64(), m["annotations"].as_u64()), (Some(3), Some(12)), "{m}");

    // A COCO file with a duplicate annotation id: refused, named, and nothing changes.
    let before = std::fs::read(dir.join("dataset.json")).unwrap();
    let mut bad: serde_json::Value = serde_json::from_slice(&std::fs::read(work.join("labels.json")).unwrap()).unwrap();
    let first = bad["annotations"][0].clone();
    bad["annotations"].as_array_mut().unwrap().push(first);
    std::fs::write(work.join("dup.json"), serde_json::to_vec(&bad).unwrap()).unwrap();
    let r = carve(&[&os("import"), dir.as_os_str(), &os("--coco"), work.join("dup.json").as_os_str()]);
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success() && stderr.contains("dup.json") && stderr.contains("is used twice"), "{stderr}");
    assert_eq!(std::fs::read(dir.join("dataset.json")).unwrap(), before);

    // Init again: labels kept, a new image added.
    write_png(&dir.join("d.png"), 32, 32, 4);
    let r = carve(&[&os("init"), dir.as_os_str(), &os("--json")]);
    let again: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!((again["images"].as_u64(), again["added"].as_u64()), (Some(4), Some(1)), "{again}");
    let r = carve(&[&os("stats"), dir.as_os_str(), &os("--json")]);
    let stats: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!((stats["annotations"].as_u64(), stats["todo"].as_u64()), (Some(6), Some(4)), "{stats}");
}

/// Pre-labels from a concept never modify a human label (issue 15): SAM 3 (the tiny random-weight
/// export, every query kept) pre-labels the images still to do; the human label of the first image
/// is byte-for-byte the same afterwards; a second run is a no-op (resumable).
#[test]
fn concept_prelabels_never_modify_human_labels() {
    let model = &crate::sam3_engine::fixture().model;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("photos");
    std::fs::create_dir_all(&dir).unwrap();
    let demo = carve::Image::load(common::repo_root().join("assets/demo/still_life.jpg")).unwrap();
    let small = image::imageops::resize(demo.rgb(), 256, 192, image::imageops::FilterType::Triangle);
    for name in ["a.png", "b.png"] {
        small.save(dir.join(name)).unwrap();
    }
    let carve = |args: &[&std::ffi::OsStr]| common::carve(tmp.path()).arg("dataset").args(args).output().unwrap();
    let r = carve(&[std::ffi::OsStr::new("init"), dir.as_os_str()]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    // A human label on a.png (and a.png stays "to do", so the concept runs over it too).
    let path = dir.join("dataset.json");
    let mut d = carve::io::dataset::Dataset::load(&path).unwrap();
    let human = carve::Mask::from_fn(256, 192, |x, y| (40..120).contains(&x) && (50..150).contains(&y));
    d.add(1, "ball", &human, carve::io::dataset::Origin::Human).unwrap();
    d.save(&path).unwrap();
    let human_before = serde_json::to_string(&d.annotations[0]).unwrap();

    let prelabel = |extra: &[&str]| {
        common::carve(tmp.path())
            .args(["dataset", "prelabel"])
            .arg(&dir)
            .args(["--text", "red ball", "--class", "ball", "--min-score", "0", "--max-per-image", "5", "--json"])
            .args(extra)
            .arg("--models")
            .arg(model)
            .output()
            .unwrap()
    };
    let r = prelabel(&[]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(summary["images"], 2, "{summary}");
    assert!(summary["prelabels"].as_u64().unwrap() >= 2, "{summary}");
    let after = carve::io::dataset::Dataset::load(&path).unwrap();
    assert_eq!(serde_json::to_string(&after.annotations[0]).unwrap(), human_before, "the human label is untouched");
    assert_eq!(after.mask_of(&after.annotations[0]).unwrap(), human);
    assert!(after.annotations[1..].iter().all(|a| matches!(a.origin, carve::io::dataset::Origin::Prelabel { .. })));
    assert!(after.images.iter().all(|im| im.status == carve::io::dataset::Status::Prelabelled));
    // Resumable: nothing left to do.
    let again = prelabel(&[]);
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!((again["images"].as_u64(), again["already"].as_u64()), (Some(0), Some(2)), "{again}");
    assert_eq!(carve::io::dataset::Dataset::load(&path).unwrap(), after);

    // `carve segment --batch DIR --dataset` on a second folder: the same photos, the same human
    // label, and a third photo that is no image. The same pre-labels, the human label untouched,
    // the bad file named; a re-run (resume) changes nothing.
    let dir2 = tmp.path().join("photos2");
    std::fs::create_dir_all(&dir2).unwrap();
    for name in ["a.png", "b.png"] {
        std::fs::copy(dir.join(name), dir2.join(name)).unwrap();
    }
    std::fs::write(dir2.join("c.png"), b"not a png").unwrap();
    let mut d2 = carve::io::dataset::Dataset::scan(&dir2, &[]).unwrap().0;
    d2.add(1, "ball", &human, carve::io::dataset::Origin::Human).unwrap();
    d2.save(&dir2.join("dataset.json")).unwrap();
    let batch = || {
        common::carve(tmp.path())
            .args(["segment", "--batch"])
            .arg(&dir2)
            .args(["--dataset", "--text", "red ball", "--class", "ball", "--min-score", "0", "--max-per-image", "5"])
            .args(["--json", "--models"])
            .arg(model)
            .output()
            .unwrap()
    };
    let r = batch();
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{stderr}");
    assert!(stderr.contains("c.png"), "the file that is no image is named: {stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!((summary["images"].as_u64(), summary["engine"].as_str()), (Some(2), Some("sam3")), "{summary}");
    let batch_after = carve::io::dataset::Dataset::load(&dir2.join("dataset.json")).unwrap();
    assert_eq!(batch_after.annotations, after.annotations, "the same labels as `carve dataset prelabel`");
    let r = batch();
    let again: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!((again["images"].as_u64(), again["already"].as_u64()), (Some(0), Some(2)), "{again}");
    assert_eq!(carve::io::dataset::Dataset::load(&dir2.join("dataset.json")).unwrap(), batch_after);
    // The same in 2 shards (as a Slurm array would run it: the second first), each into its own
    // part beside dataset.json; merged with the folder's file, the same labels as one process.
    let dir4 = tmp.path().join("photos4");
    std::fs::create_dir_all(&dir4).unwrap();
    for name in ["a.png", "b.png", "c.png"] {
        std::fs::copy(dir2.join(name), dir4.join(name)).unwrap();
    }
    d2.save(&dir4.join("dataset.json")).unwrap();
    for shard in ["1/2", "0/2"] {
        let r = common::carve(tmp.path())
            .args(["segment", "--batch"])
            .arg(&dir4)
            .args(["--dataset", "--text", "red ball", "--class", "ball", "--min-score", "0", "--max-per-image", "5"])
            .args(["--shard", shard, "--models"])
            .arg(model)
            .output()
            .unwrap();
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    }
    assert_eq!(carve::io::dataset::Dataset::load(&dir4.join("dataset.json")).unwrap(), d2, "shards leave it as it was");
    let merge = |out: &std::path::Path, parts: &[std::path::PathBuf]| {
        let r = common::carve(tmp.path()).args(["dataset", "merge", "--out"]).arg(out).args(parts).output().unwrap();
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        std::fs::read(out).unwrap()
    };
    let sharded = merge(
        &tmp.path().join("sharded.json"),
        &[
            dir4.join("dataset.json"),
            dir4.join("dataset.shard-0001-of-0002.json"),
            dir4.join("dataset.shard-0000-of-0002.json"),
        ],
    );
    let single = merge(&tmp.path().join("single.json"), &[dir2.join("dataset.json")]);
    assert_eq!(sharded, single, "2 shards merged = one process");

    // The classical engine cannot take concepts: one line, and no dataset file is made.
    let dir3 = tmp.path().join("photos3");
    std::fs::create_dir_all(&dir3).unwrap();
    std::fs::copy(dir.join("a.png"), dir3.join("a.png")).unwrap();
    let r = common::carve(tmp.path())
        .args(["segment", "--engine", "classical", "--batch"])
        .arg(&dir3)
        .args(["--dataset", "--classes", "ball"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success() && stderr.contains("SAM 3"), "{stderr}");
    assert!(!dir3.join("dataset.json").exists());
}

/// A writer killed at any moment leaves a dataset file that reads and validates — the old one or
/// the new one, never a mix (issue 15: temp file + rename).
#[test]
fn a_killed_writer_never_corrupts_the_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("photos");
    std::fs::create_dir_all(&dir).unwrap();
    image::RgbImage::new(200, 150).save(dir.join("a.png")).unwrap();
    let r = common::carve(tmp.path()).args(["dataset", "init"]).arg(&dir).output().unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    // A big import: 20 000 polygon labels (a few MB to write).
    let anns: Vec<serde_json::Value> = (0..20_000)
        .map(|i| {
            let x = f64::from(i % 180);
            serde_json::json!({"id": i + 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
                               "segmentation": [[x, 10.0, x + 15.0, 10.0, x + 15.0, 40.0, x, 40.0]]})
        })
        .collect();
    let labels = serde_json::json!({
        "images": [{"id": 1, "file_name": "a.png", "width": 200, "height": 150}],
        "categories": [{"id": 1, "name": "thing"}],
        "annotations": anns,
    });
    let labels_path = tmp.path().join("labels.json");
    std::fs::write(&labels_path, serde_json::to_vec(&labels).unwrap()).unwrap();
    let path = dir.join("dataset.json");
    let mut outcomes = std::collections::BTreeSet::new();
    // The import takes about 2 s here (debug build): kills every 200 ms land before, during and
    // after its write.
    for k in 0..14u64 {
        let mut child = common::carve(tmp.path())
            .args(["dataset", "import"])
            .arg(&dir)
            .arg("--coco")
            .arg(&labels_path)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200 * k));
        let _ = child.kill();
        let _ = child.wait();
        let d = carve::io::dataset::Dataset::load(&path).expect("the dataset file reads after a kill");
        outcomes.insert(d.annotations.len());
        // Back to the empty dataset for the next round when an import got through.
        if !d.annotations.is_empty() {
            let mut empty = d.clone();
            empty.annotations.clear();
            empty.save(&path).unwrap();
        }
    }
    eprintln!("outcomes after the kills (labels in the file): {outcomes:?}");
    // Every outcome is all or nothing.
    assert!(outcomes.iter().all(|&n| n == 0 || n == 20_000), "{outcomes:?}");
}

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

//! `carve segment`: the CLI contract (flags, outputs, --json), exports read back by pycocotools
//! and by our own rasteriser, batch mode skipping a bad image, and clear errors on bad input.
use crate::common;

use carve::Mask;

fn demo_image() -> std::path::PathBuf {
    common::repo_root().join("assets/demo/still_life.jpg")
}

fn ball() -> Mask {
    carve::core::demo::still_life_masks().into_iter().find(|(n, _)| *n == "ball").unwrap().1
}

#[test]
fn box_prompt_writes_mask_coco_and_polygons() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, coco, polys, all) = (
        tmp.path().join("ball.png"),
        tmp.path().join("coco.json"),
        tmp.path().join("poly.json"),
        tmp.path().join("all"),
    );
    let result = common::carve(tmp.path())
        .arg("segment")
        .arg(demo_image())
        .args(["--box", "185,405,415,635", "--engine", "auto", "--json", "--out"])
        .arg(&out)
        .arg("--coco")
        .arg(&coco)
        .arg("--polygons")
        .arg(&polys)
        .arg("--all-masks")
        .arg(&all)
        .output()
        .unwrap();
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let json: serde_json::Value = serde_json::from_slice(&result.stdout).unwrap();
    assert_eq!(json["engine"], "classical", "auto without models is classical");
    assert!(json["decode_ms"].as_f64().unwrap() > 0.0 && json["encode_ms"].is_number());
    assert!(json["masks"][0]["score"].as_f64().unwrap() > 0.5);

    // The PNG is image-sized, 0/255, and is the ball.
    let grey = image::open(&out).unwrap().to_luma8();
    assert_eq!(grey.dimensions(), (1024, 768));
    assert!(grey.pixels().all(|p| p.0[0] == 0 || p.0[0] == 255));
    let mask = Mask::load_png(&out).unwrap();
    assert!(mask.iou(&ball()) > 0.95, "IoU {}", mask.iou(&ball()));
    assert_eq!(json["masks"][0]["area"].as_u64().unwrap(), mask.area());
    assert!(all.join("mask_01.png").exists());

    // COCO loads in pycocotools and decodes to exactly the PNG mask.
    let check = r#"
import sys, numpy as np
from PIL import Image
from pycocotools.coco import COCO
coco = COCO(sys.argv[1])
ann = coco.loadAnns(coco.getAnnIds())[0]
m = coco.annToMask(ann)
png = np.array(Image.open(sys.argv[2])) > 127
assert m.shape == png.shape and (m.astype(bool) == png).all(), "COCO mask differs from PNG"
assert coco.loadImgs(ann["image_id"])[0]["width"] == 1024
print(int(m.sum()))
"#;
    let area = common::run_python(&["-c".as_ref(), check.as_ref(), coco.as_os_str(), out.as_os_str()]);
    assert_eq!(area.trim().lines().last().unwrap().parse::<u64>().unwrap(), mask.area());

    // Polygons rasterise back close to the mask (simplified by < 1 px).
    let poly: serde_json::Value = serde_json::from_slice(&std::fs::read(&polys).unwrap()).unwrap();
    let rings: Vec<carve::Polygon> = poly["masks"][0]["rings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| carve::Polygon { points: serde_json::from_value(r["points"].clone()).unwrap() })
        .collect();
    let back = Mask::from_polygons(1024, 768, &rings);
    assert!(back.iou(&mask) > 0.99, "polygon IoU {}", back.iou(&mask));
}

#[test]
fn clicks_and_batch_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("mug.png");
    let result = common::carve(tmp.path())
        .arg("segment")
        .arg(demo_image())
        .args(["--point", "620,480", "--neg-point", "300,520", "--engine", "classical", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let mug = carve::core::demo::still_life_masks().into_iter().find(|(n, _)| *n == "mug").unwrap().1;
    assert!(Mask::load_png(&out).unwrap().iou(&mug) > 0.9);

    // Batch: two good images, one corrupt file, one missing file.
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::copy(demo_image(), input.join("a.jpg")).unwrap();
    std::fs::copy(demo_image(), input.join("b.jpg")).unwrap();
    std::fs::write(input.join("bad.jpg"), b"\xFF\xD8\xFF garbage").unwrap();
    let prompts = tmp.path().join("prompts.json");
    std::fs::write(
        &prompts,
        r#"{"a.jpg": {"box": [185, 405, 415, 635]}, "b.jpg": {"points": [[620, 480]]},
            "bad.jpg": {"box": [1, 1, 50, 50]}, "gone.jpg": {"points": [[1, 1]]}}"#,
    )
    .unwrap();
    let out_dir = tmp.path().join("out");
    let result = common::carve(tmp.path())
        .args(["segment", "--batch"])
        .arg(&input)
        .arg("--prompts")
        .arg(&prompts)
        .arg("--out-dir")
        .arg(&out_dir)
        .arg("--json")
        .output()
        .unwrap();
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let json: serde_json::Value = serde_json::from_slice(&result.stdout).unwrap();
    assert_eq!(json["summary"]["ok"], 2);
    assert_eq!(json["summary"]["failed"], 2);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("skipped bad.jpg") && stderr.contains("skipped gone.jpg"), "{stderr}");
    assert!(Mask::load_png(out_dir.join("a.png")).unwrap().iou(&ball()) > 0.95);
    assert!(Mask::load_png(out_dir.join("b.png")).unwrap().iou(&mug) > 0.9);
}

#[test]
fn bad_input_gives_one_line_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x.png");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--point".into(), "5000,10".into()], "outside"),
        (vec!["--box".into(), "10,10,10,80".into()], "box has no area"),
        (vec!["--box".into(), "1,2,3".into()], "x0,y0,x1,y1"),
        (vec!["--text".into(), "red ball".into(), "--engine".into(), "classical".into()], "SAM 3 model folder"),
        (vec!["--point".into(), "10,10".into(), "--engine".into(), "sam3".into()], "export_sam3.py"),
    ];
    for (args, needle) in cases {
        let result = common::carve(tmp.path())
            .arg("segment")
            .arg(demo_image())
            .args(&args)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert!(!result.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&result.stderr);
        let last = stderr.trim().lines().last().unwrap_or_default();
        assert!(last.starts_with("carve: error:") && last.contains(needle), "{args:?}: {stderr}");
    }
    let result = common::carve(tmp.path())
        .args(["segment", "/no/such.jpg", "--point", "1,1", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&result.stderr).contains("/no/such.jpg"));
    assert!(!out.exists(), "no output on failure");
}

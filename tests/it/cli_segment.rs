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

/// YOLO-seg and labelme exports, read back by independent Python written from the formats'
/// documentation (YOLO: `class x y …` normalised, class names from `data.yaml`; labelme:
/// `shapes[].points` in pixels, `imagePath`, `imageHeight`/`imageWidth`) and re-rasterised with an
/// even-odd numpy rasteriser at pixel centres: IoU with the PNG mask ≥ 0.98.
#[test]
fn yolo_seg_and_labelme_exports_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, yolo, labelme) = (tmp.path().join("ball.png"), tmp.path().join("yolo"), tmp.path().join("ball.json"));
    let result = common::carve(tmp.path())
        .arg("segment")
        .arg(demo_image())
        .args(["--box", "185,405,415,635", "--engine", "classical", "--out"])
        .arg(&out)
        .arg("--yolo")
        .arg(&yolo)
        .arg("--labelme")
        .arg(&labelme)
        .output()
        .unwrap();
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let check = r#"
import json, sys
import numpy as np
import yaml
from PIL import Image

def rasterise(polygons, w, h):
    # even-odd rule at pixel centres, vectorised over all pixels
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    inside = np.zeros((h, w), bool)
    for poly in polygons:
        p = np.asarray(poly, float)
        q = np.roll(p, -1, axis=0)
        for (x0, y0), (x1, y1) in zip(p, q):
            crosses = (y0 > ys) != (y1 > ys)
            with np.errstate(divide="ignore", invalid="ignore"):
                xcross = x0 + (ys - y0) * (x1 - x0) / (y1 - y0)
            inside ^= crosses & (xs < xcross)
    return inside

png = np.array(Image.open(sys.argv[1])) > 127
h, w = png.shape
iou = lambda a, b: (a & b).sum() / (a | b).sum()

data = yaml.safe_load(open(sys.argv[2] + "/data.yaml"))
names = data["names"]
assert data["nc"] == len(names) == 1 and names[0] == "object", data
polys = []
for line in open(sys.argv[2] + "/labels/still_life.txt"):
    v = line.split()
    assert names[int(v[0])] == "object"
    xy = np.array(v[1:], float).reshape(-1, 2)
    assert len(xy) >= 3 and (xy >= 0).all() and (xy <= 1).all()
    polys.append(xy * [w, h])
yolo_iou = iou(rasterise(polys, w, h), png)

doc = json.load(open(sys.argv[3]))
assert doc["imagePath"] == "still_life.jpg" and doc["imageHeight"] == h and doc["imageWidth"] == w
assert all(s["shape_type"] == "polygon" and s["label"] == "object" for s in doc["shapes"])
labelme_iou = iou(rasterise([s["points"] for s in doc["shapes"]], w, h), png)
print(f"{yolo_iou:.4f} {labelme_iou:.4f}")
"#;
    let printed =
        common::run_python(&["-c".as_ref(), check.as_ref(), out.as_os_str(), yolo.as_os_str(), labelme.as_os_str()]);
    let ious: Vec<f64> = printed.split_whitespace().map(|v| v.parse().unwrap()).collect();
    eprintln!("YOLO-seg IoU {:.4}, labelme IoU {:.4}", ious[0], ious[1]);
    assert!(ious.iter().all(|&v| v >= 0.98), "re-rasterised IoU {ious:?}");
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

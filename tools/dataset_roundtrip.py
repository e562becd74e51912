#!/usr/bin/env python3
"""Independent side of the dataset round trip (tests/it/dataset.rs), with pycocotools and PIL.

    make DIR     write DIR/labels.json: COCO labels for the test images (RLE made by pycocotools,
                 polygons, categories with ids Carve does not use, one label for an image the
                 dataset lacks) and DIR/truth.npz (each label's mask, pycocotools' annToMask)
    check DIR    read Carve's exports (DIR/out_rle.json, out_poly.json with pycocotools;
                 DIR/yolo/{labels/*.txt,data.yaml} and DIR/labelme/*.json by their documented
                 formats, rasterised with PIL) and print, per format, the lowest IoU against truth
"""
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

IMAGES = {"a.png": (320, 240), "b.png": (400, 300), "sub/c.png": (320, 240)}


def blob(w, h, cx, cy, r):
    yy, xx = np.mgrid[0:h, 0:w]
    return (((xx - cx) ** 2 + ((yy - cy) * 1.3) ** 2) < r * r).astype(np.uint8)


def make(d: Path):
    images = [{"id": 10 + i, "file_name": n, "width": w, "height": h} for i, (n, (w, h)) in enumerate(IMAGES.items())]
    images.append({"id": 99, "file_name": "missing.png", "width": 64, "height": 48})
    cats = [{"id": 7, "name": "cat"}, {"id": 9, "name": "dog"}]
    anns = []
    for im in images[:3]:
        w, h = im["width"], im["height"]
        rle = mask_utils.encode(np.asfortranarray(blob(w, h, w * 0.35, h * 0.5, h * 0.3)))
        rle["counts"] = rle["counts"].decode()
        anns.append({"id": len(anns) + 1, "image_id": im["id"], "category_id": 7, "segmentation": rle,
                     "area": 0, "bbox": [0, 0, 0, 0], "iscrowd": 0})
        poly = [w * 0.6, h * 0.2, w * 0.9, h * 0.3, w * 0.85, h * 0.8, w * 0.55, h * 0.7]
        anns.append({"id": len(anns) + 1, "image_id": im["id"], "category_id": 9, "segmentation": [poly],
                     "area": 0, "bbox": [0, 0, 0, 0], "iscrowd": 0})
    anns.append({"id": len(anns) + 1, "image_id": 99, "category_id": 7,
                 "segmentation": [[1, 1, 10, 1, 10, 10]], "area": 0, "bbox": [0, 0, 0, 0], "iscrowd": 0})
    doc = {"images": images, "annotations": anns, "categories": cats}
    (d / "labels.json").write_text(json.dumps(doc))
    coco = COCO(str(d / "labels.json"))
    truth = {}
    for a in anns[:-1]:
        im = coco.imgs[a["image_id"]]
        truth[f'{im["file_name"]}|{coco.cats[a["category_id"]]["name"]}'] = coco.annToMask(a)
    np.savez(d / "truth.npz", **{k.replace("/", "__"): v for k, v in truth.items()})


def iou(a, b):
    a, b = a.astype(bool), b.astype(bool)
    return float((a & b).sum()) / max(float((a | b).sum()), 1.0)


def raster(w, h, rings):
    img = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(img)
    for r in rings:
        draw.polygon([tuple(p) for p in r], fill=1)
    return np.array(img)


def check(d: Path):
    truth = dict(np.load(d / "truth.npz"))
    result = {}
    for name in ["out_rle.json", "out_poly.json"]:
        coco = COCO(str(d / name))
        worst, seen = 1.0, 0
        for a in coco.anns.values():
            im = coco.imgs[a["image_id"]]
            key = f'{im["file_name"]}|{coco.cats[a["category_id"]]["name"]}'.replace("/", "__")
            worst = min(worst, iou(coco.annToMask(a), truth[key]))
            seen += 1
        result[name] = {"min_iou": worst, "annotations": seen}
    # YOLO-seg: class ids index data.yaml's names; coordinates normalised to [0, 1].
    # data.yaml: `names:` then one `  <id>: <name>` line per class (the mapping form).
    names, in_names = {}, False
    for line in (d / "yolo" / "data.yaml").read_text().splitlines():
        if line.startswith("names:"):
            in_names = True
        elif in_names and line.startswith("  ") and ":" in line:
            k, v = line.strip().split(":", 1)
            names[int(k)] = json.loads(v.strip())
        elif line.strip() and not line.startswith("#"):
            in_names = False
    assert names, "data.yaml has no names"
    worst, seen = 1.0, 0
    for n, (w, h) in IMAGES.items():
        stem = n.replace("/", "__").rsplit(".", 1)[0]
        per_class = {}
        for line in (d / "yolo" / "labels" / f"{stem}.txt").read_text().splitlines():
            v = line.split()
            cls, xy = names[int(v[0])], np.array(v[1:], float).reshape(-1, 2)
            assert ((xy >= 0) & (xy <= 1)).all()
            per_class.setdefault(cls, []).append(xy * [w, h])
        for cls, rings in per_class.items():
            worst = min(worst, iou(raster(w, h, rings), truth[f"{n}|{cls}".replace("/", "__")]))
            seen += 1
    result["yolo"] = {"min_iou": worst, "annotations": seen}
    # labelme: shapes with label and points; imagePath, imageHeight, imageWidth.
    worst, seen = 1.0, 0
    for n, (w, h) in IMAGES.items():
        stem = n.replace("/", "__").rsplit(".", 1)[0]
        doc = json.loads((d / "labelme" / f"{stem}.json").read_text())
        assert doc["imageHeight"] == h and doc["imageWidth"] == w and doc["imagePath"].endswith(n.split("/")[-1])
        per_class = {}
        for s in doc["shapes"]:
            assert s["shape_type"] == "polygon"
            per_class.setdefault(s["label"], []).append(np.array(s["points"], float))
        for cls, rings in per_class.items():
            worst = min(worst, iou(raster(w, h, rings), truth[f"{n}|{cls}".replace("/", "__")]))
            seen += 1
    result["labelme"] = {"min_iou": worst, "annotations": seen}
    print(json.dumps(result))


if __name__ == "__main__":
    {"make": make, "check": check}[sys.argv[1]](Path(sys.argv[2]))

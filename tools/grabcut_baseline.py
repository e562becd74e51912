#!/usr/bin/env python3
"""OpenCV GrabCut baseline for the segmentation benchmark (5 iterations, box-initialised).

    .venv/bin/python tools/grabcut_baseline.py DATASET_DIR OUT.json [--repeat 3]

For every image in DATASET_DIR/prompts.json, runs cv2.grabCut with the prompt's box as the
rectangle and reports per image the median time of the grabCut call alone (ms, over --repeat runs)
and the IoU of its foreground (GC_FGD | GC_PR_FGD) against NNN_gt.png.
"""
import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    prompts = json.loads((args.dataset / "prompts.json").read_text())
    results = {}
    for name, prompt in sorted(prompts.items()):
        img = cv2.imread(str(args.dataset / name), cv2.IMREAD_COLOR)
        gt = cv2.imread(str(args.dataset / (Path(name).stem + "_gt.png")), cv2.IMREAD_GRAYSCALE) > 127
        x0, y0, x1, y1 = prompt["box"]
        times = []
        for _ in range(args.repeat):
            mask = np.zeros(img.shape[:2], np.uint8)
            bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
            t0 = time.perf_counter()
            cv2.grabCut(img, mask, (x0, y0, x1 - x0, y1 - y0), bgd, fgd, 5, cv2.GC_INIT_WITH_RECT)
            times.append((time.perf_counter() - t0) * 1e3)
        fg = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
        iou = float((fg & gt).sum() / max(1, (fg | gt).sum()))
        results[name] = {"ms": float(np.median(times)), "iou": iou}
    args.out.write_text(json.dumps({"opencv": cv2.__version__, "threads": cv2.getNumThreads(), "results": results}, indent=1))


if __name__ == "__main__":
    main()

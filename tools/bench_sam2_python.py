#!/usr/bin/env python3
"""Python side of benches/sam2_speed.rs: the official SAM2ImagePredictor on the weights an exported
folder was made from, timed the way Carve's engine is timed.

    .venv/bin/python tools/bench_sam2_python.py MODEL_DIR PHOTO OUT.json [--encode-repeat 3] [--repeat 20]
                                                [--checkpoint PATH] [--threads 2]

`set_image(photo)` (SAM2Transforms + image encoder + no_mem_embed) --encode-repeat times, then
`predict` --repeat times per prompt: a click (multimask_output=True) and a box
(multimask_output=False), each returning boolean masks at the photo size, like Carve's decode.
Writes {"threads", "encode_ms": [...], "click_ms": [...], "box_ms": [...]} to OUT.json.
"""
import argparse
import json
import time
import tomllib
from pathlib import Path

import numpy as np
import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", type=Path)
    ap.add_argument("photo", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--encode-repeat", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from PIL import Image
    from sam2.build_sam import build_sam2
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    manifest = tomllib.loads((args.model / "manifest.toml").read_text())
    config = manifest["config"]["config"]
    family = "sam2.1" if config.startswith("sam2.1") else "sam2"
    weights = args.checkpoint or args.model / manifest["config"]["source_state_dict"]
    model = build_sam2(f"configs/{family}/{config}.yaml", ckpt_path=str(weights), device="cpu", mode="eval")
    predictor = SAM2ImagePredictor(model)
    photo = np.array(Image.open(args.photo).convert("RGB"))
    h, w = photo.shape[:2]

    result = {"threads": torch.get_num_threads(), "encode_ms": []}
    for _ in range(args.encode_repeat):
        t0 = time.perf_counter()
        predictor.set_image(photo)
        result["encode_ms"].append((time.perf_counter() - t0) * 1e3)
    prompts = {
        "click_ms": dict(point_coords=np.array([[0.6 * w, 0.62 * h]]), point_labels=np.array([1]),
                         multimask_output=True),
        "box_ms": dict(box=np.array([0.53 * w, 0.45 * h, 0.76 * w, 0.76 * h]), multimask_output=False),
    }
    for name, kwargs in prompts.items():
        predictor.predict(**kwargs)  # warm-up
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            predictor.predict(**kwargs)
            times.append((time.perf_counter() - t0) * 1e3)
        result[name] = times
    args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()

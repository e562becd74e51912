#!/usr/bin/env python3
"""What the official SAM2ImagePredictor answers, for Carve's SAM 2.1 fidelity test.

    .venv/bin/python tools/sam2_reference.py --model DIR --image PHOTO --cases CASES.json --out REFDIR
                                             [--checkpoint PATH] [--threads 2]

Builds the model with the official `sam2.build_sam.build_sam2(config, ckpt_path=...)` from the
weights the exported folder DIR was made from: its `random_weights.pt` (random exports), or
--checkpoint (the official .pt it was exported with). Then `SAM2ImagePredictor(model)` (defaults:
mask_threshold 0, no hole filling) runs `set_image(photo as an RGB uint8 array)` and, per case,
`predict(..., return_logits=True)` with multimask_output=True and =False.

CASES.json: [{"name", "points": [[x, y], ...], "labels": [1 | 0, ...], "box": [x0, y0, x1, y1] | null,
"mask_from": NAME | null}] in image pixels. `mask_from` feeds back the low-res logits of an
earlier case's first answer, as Carve does when a mask is refined: the best of the three
hypotheses (by predicted IoU) for a single click without box, else the single-mask answer.

Writes raw little-endian float32 files and reference.json ({"tensors": {key: {file, shape}},
"cases": [{name, multi_iou, single_iou}], "image": [w, h]}): image_embed, feat_s0, feat_s1 (the
predictor's cached features) and per case NAME.multi_logits (3xHxW logits at the photo size),
NAME.single_logits (1xHxW), NAME.multi_low_res / NAME.single_low_res (clamped to +-32).
"""
import argparse
import json
import sys
import tomllib
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torchscript_export import TensorDump  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, type=Path, help="folder written by tools/export_sam2.py")
    ap.add_argument("--image", required=True, type=Path)
    ap.add_argument("--cases", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--checkpoint", default=None, help="the checkpoint the folder was exported from")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from PIL import Image
    from sam2.build_sam import build_sam2
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    manifest = tomllib.loads((args.model / "manifest.toml").read_text())
    assert manifest["kind"] == "sam2", manifest["kind"]
    config = manifest["config"]["config"]
    family = "sam2.1" if config.startswith("sam2.1") else "sam2"
    weights = args.checkpoint or args.model / manifest["config"]["source_state_dict"]
    model = build_sam2(f"configs/{family}/{config}.yaml", ckpt_path=str(weights), device="cpu", mode="eval")
    predictor = SAM2ImagePredictor(model)

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    dump = TensorDump(out)
    put, tensors = dump.put, dump.tensors

    image = np.array(Image.open(args.image).convert("RGB"))
    with torch.no_grad():
        predictor.set_image(image)
    put("image_embed", predictor._features["image_embed"])
    put("feat_s0", predictor._features["high_res_feats"][0])
    put("feat_s1", predictor._features["high_res_feats"][1])

    first_logits = {}
    results = []
    for case in json.loads(args.cases.read_text()):
        name = case["name"]
        pts = np.array(case["points"], dtype=np.float32).reshape(-1, 2) if case["points"] else None
        lbl = np.array(case["labels"], dtype=np.int64) if case["points"] else None
        box = np.array(case["box"], dtype=np.float32) if case.get("box") else None
        mask_input = first_logits[case["mask_from"]] if case.get("mask_from") else None
        row = {"name": name}
        for multi, tag in ((True, "multi"), (False, "single")):
            logits, iou, low = predictor.predict(point_coords=pts, point_labels=lbl, box=box, mask_input=mask_input,
                                                 multimask_output=multi, return_logits=True)
            put(f"{name}.{tag}_logits", logits)
            put(f"{name}.{tag}_low_res", low)
            row[f"{tag}_iou"] = [float(v) for v in iou]
            if multi:
                multi_low, multi_iou = low, iou
            else:
                single_low = low
        ambiguous = box is None and pts is not None and len(pts) == 1
        best = int(np.argmax(multi_iou))
        first_logits[name] = multi_low[best:best + 1] if ambiguous else single_low
        results.append(row)

    ref = {"format": 1, "torch": torch.__version__, "config": config, "image": [image.shape[1], image.shape[0]],
           "tensors": tensors, "cases": results}
    (out / "reference.json").write_text(json.dumps(ref, indent=1))
    print(f"wrote {out}: {len(results)} cases")


if __name__ == "__main__":
    main()

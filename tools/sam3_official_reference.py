#!/usr/bin/env python3
"""What the official SAM 3 API answers, for Carve's end-to-end SAM 3 fidelity test.

    .venv/bin/python tools/sam3_official_reference.py --spec SPEC.json --out REFDIR
                                                      [--tiny] [--seed 0 | --checkpoint sam3.pt] [--threads 2]

Builds the model exactly as `tools/export_sam3.py` does (the official builder; random weights
drawn after `torch.manual_seed(seed)` — the same seed and `--tiny` as the export give the same
weights — or the official checkpoint), then per image (RGB, as given: the test hands over the
pixels Carve decoded, EXIF orientation applied):

* `Sam3Processor.set_image`, then for each click/box case `Sam3Image.predict_inst(...,
  return_logits=True)` with multimask_output=True and =False (logits at the image size, after the
  official post-processing: hole filling at 288x288, bilinear upsampling); `mask_from` feeds back an
  earlier case's leading low-res logits, as Carve does when refining a mask;
* `Sam3Processor.set_text_prompt(text)`: the kept instances (score = sigmoid(logit) x presence
  > the threshold, in query order), their boxes in image pixels (x0, y0, x1, y1) and mask
  probabilities. The threshold is the official 0.5, or with "text_top": K in the spec the
  midpoint between the K-th and (K+1)-th score (random weights rarely pass 0.5), applied with the
  official `set_confidence_threshold`; reference.json records it per image.

SPEC.json: {"text": "red ball", "text_top": K (optional), "images": [{"name", "file", "cases": [{"name", "points": [[x, y]],
"labels": [1 | 0], "box": [x0, y0, x1, y1] | null, "mask_from": NAME | null}]}]} (image pixels).
Writes raw little-endian float32 files and reference.json ({"tensors": {key: {file, shape}},
"images": [{name, size: [w, h], cases: [{name, multi_iou, single_iou}], text: {scores, boxes}}]}):
IMG.CASE.multi_logits (3xHxW), IMG.CASE.single_logits (1xHxW), IMG.text_probs (Nx1xHxW).
"""
import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import export_sam3 as E  # noqa: E402
from torchscript_export import TensorDump  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spec", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    spec = json.loads(args.spec.read_text())
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    dump = TensorDump(out)
    put, tensors = dump.put, dump.tensors

    from PIL import Image
    from sam3.model.sam3_image_processor import Sam3Processor

    images = []
    with E.cpu_only(), torch.no_grad():
        torch.manual_seed(args.seed)
        model = E.build_model(args.tiny, args.checkpoint, {})
        proc = Sam3Processor(model, resolution=E.IMAGE_SIZE, device="cpu", confidence_threshold=0.5)
        for item in spec["images"]:
            img = Image.open(item["file"]).convert("RGB")
            state = proc.set_image(img)
            rows, first_logits = [], {}
            for case in item["cases"]:
                name = f"{item['name']}.{case['name']}"
                pts = np.array(case["points"], dtype=np.float32).reshape(-1, 2) if case["points"] else None
                lbl = np.array(case["labels"], dtype=np.int64) if case["points"] else None
                box = np.array(case["box"], dtype=np.float32) if case.get("box") else None
                mask_input = first_logits[case["mask_from"]] if case.get("mask_from") else None
                row = {"name": case["name"]}
                for multi, tag in ((True, "multi"), (False, "single")):
                    logits, iou, low = model.predict_inst(state, point_coords=pts, point_labels=lbl, box=box,
                                                          mask_input=mask_input, multimask_output=multi,
                                                          return_logits=True)
                    put(f"{name}.{tag}_logits", logits)
                    row[f"{tag}_iou"] = [float(v) for v in iou]
                    if multi:
                        multi_low, multi_iou = low, iou
                    else:
                        single_low = low
                ambiguous = box is None and pts is not None and len(pts) == 1
                best = int(np.argmax(multi_iou))
                first_logits[case["name"]] = multi_low[best:best + 1] if ambiguous else single_low
                rows.append(row)
            # Random weights rarely score an instance above the official 0.5: with "text_top": K the
            # threshold is set between the K-th and (K+1)-th score (set_confidence_threshold, the
            # official knob), so K instances are compared; the test gives Carve the same threshold.
            proc.set_confidence_threshold(0.0, state)
            text = proc.set_text_prompt(spec["text"], state)
            threshold = 0.5
            if spec.get("text_top"):
                ranked = sorted((float(s) for s in text["scores"]), reverse=True)
                k = min(int(spec["text_top"]), len(ranked) - 1)
                threshold = (ranked[k - 1] + ranked[k]) / 2 if k > 0 else 0.5
            proc.set_confidence_threshold(threshold, state)
            text = state
            put(f"{item['name']}.text_probs", text["masks_logits"])
            images.append({"name": item["name"], "size": [img.width, img.height], "cases": rows,
                           "text": {"threshold": threshold, "scores": [float(s) for s in text["scores"]],
                                    "boxes": [[float(v) for v in b] for b in text["boxes"]]}})
    ref = {"format": 1, "torch": torch.__version__, "tiny": args.tiny, "text": spec["text"], "tensors": tensors,
           "images": images}
    (out / "reference.json").write_text(json.dumps(ref, indent=1))
    print(f"wrote {out}: {len(images)} images")


if __name__ == "__main__":
    main()

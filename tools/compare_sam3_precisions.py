#!/usr/bin/env python3
"""How far the bf16 image encoder of a SAM 3 model folder moves what the decoders answer, against
the fp32 encoder of the same folder (same weights), through the exported files themselves.

    .venv/bin/python tools/compare_sam3_precisions.py MODEL_DIR [--threads 2]

Runs `image_encoder.pt` and `image_encoder_bf16.pt` on the exporter's deterministic test image,
then the same decoders on both feature sets: `click_prepare` + `click_decoder_prepared` for a click,
a box and a box + negative click (low-res logits: mean relative error, max |diff|, sign agreement;
IoU scores), and the text path for "red ball" (grounding logits, boxes, masks, presence: mean
relative error). Prints one line per comparison (BENCHMARKS.md quotes them).
"""
import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import export_sam3 as E  # noqa: E402


def rel(a, b):
    return float((a - b).abs().mean() / a.abs().mean().clamp_min(1e-12))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load = lambda name: torch.jit.load(str(args.model / f"{name}.pt"))  # noqa: E731
    x = E.normalise(E.deterministic_image_u8())
    with torch.no_grad():
        feats = {}
        for name in ("image_encoder", "image_encoder_bf16"):
            enc = load(name)
            feats[name] = enc(x)
            del enc
        fp32, bf16 = feats["image_encoder"], feats["image_encoder_bf16"]
        for i, (a, b) in enumerate(zip(fp32, bf16)):
            print(f"encoder output {i}: mean relative error {rel(a, b):.4f}")
        prep, dec = load("click_prepare"), load("click_decoder_prepared")
        cases = [("click", [[500.0, 400.0]], [1]), ("box", [[300.0, 250.0], [700.0, 650.0]], [2, 3]),
                 ("box+click", [[300.0, 250.0], [700.0, 650.0], [620.0, 600.0]], [2, 3, 0])]
        for case, coords, labels in cases:
            c, lab = torch.tensor([coords]), torch.tensor([labels])
            ra, rb = (dec(*prep(f[5], f[3], f[4]), c, lab) for f in (fp32, bf16))
            agree = float(((ra[0] > 0) == (rb[0] > 0)).float().mean())
            print(f"{case}: low-res logits mean relative error {rel(ra[0], rb[0]):.4f}, "
                  f"max |diff| {float((ra[0] - rb[0]).abs().max()):.4f}, sign agreement {agree:.4f}; "
                  f"IoU scores max |diff| {float((ra[1] - rb[1]).abs().max()):.2e}")
        txt, grd = load("text_encoder"), load("grounding_decoder")
        tf, tm = txt(E.tokenize(["red ball"]))
        ga, gb = (grd(f[0], f[1], f[2], tf, tm) for f in (fp32, bf16))
        for i, name in enumerate(["pred_logits", "pred_boxes", "pred_masks", "presence_logit"]):
            print(f"text {name}: mean relative error {rel(ga[i], gb[i]):.4f}")


if __name__ == "__main__":
    main()

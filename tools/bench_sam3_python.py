#!/usr/bin/env python3
"""Python side of benches/sam3_decode.rs: time the exported SAM 3 click decoder (and the image
encoder once) through torch.jit in Python, on the same kind of inputs Carve feeds it.

    .venv/bin/python tools/bench_sam3_python.py MODEL_DIR OUT.json [--repeat 30]

Prints nothing; writes {"threads", "encode_ms", "prepared", "click_ms": [...], "box_ms": [...]} to OUT.json.
"""
import argparse
import json
import time
from pathlib import Path

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    enc = torch.jit.load(str(args.model / "image_encoder.pt")).eval()
    dec = torch.jit.load(str(args.model / "click_decoder.pt")).eval()
    # Folders with click_prepare: a prompt without a mask input runs click_decoder_prepared on the
    # prepared per-image tensors, as Carve does.
    prepared = (args.model / "click_decoder_prepared.pt").is_file() and (args.model / "click_prepare.pt").is_file()
    if prepared:
        prep = torch.jit.load(str(args.model / "click_prepare.pt")).eval()
        dec_p = torch.jit.load(str(args.model / "click_decoder_prepared.pt")).eval()
    torch.manual_seed(0)
    image = torch.rand(1, 3, 1008, 1008) * 2 - 1
    with torch.no_grad():
        t0 = time.perf_counter()
        feats = enc(image)
        encode_ms = (time.perf_counter() - t0) * 1e3
        embed, s0, s1 = feats[5], feats[3], feats[4]
        mask = torch.zeros(1, 1, 288, 288)
        no = torch.tensor([0.0])
        cases = {
            "click_ms": (torch.tensor([[[600.0, 620.0]]]), torch.tensor([[1]], dtype=torch.int64)),
            "box_ms": (torch.tensor([[[540.0, 460.0], [760.0, 760.0]]]), torch.tensor([[2, 3]], dtype=torch.int64)),
        }
        if prepared:
            p = prep(embed, s0, s1)
            run = lambda coords, labels: dec_p(*p, coords, labels)  # noqa: E731
        else:
            run = lambda coords, labels: dec(embed, s0, s1, coords, labels, mask, no)  # noqa: E731
        result = {"threads": torch.get_num_threads(), "encode_ms": encode_ms, "prepared": prepared}
        for name, (coords, labels) in cases.items():
            run(coords, labels)  # warm-up
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                run(coords, labels)
                times.append((time.perf_counter() - t0) * 1e3)
            result[name] = times
    args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()

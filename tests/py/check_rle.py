"""Cross-check Carve's COCO RLE against pycocotools (called by tests/rle_pycocotools.rs).

Reads a JSON list of {"height", "width", "bits" (row-major "0"/"1" string), "rle" (Carve's
{"size", "counts"})}. For each mask: decodes Carve's RLE with pycocotools and compares it with the
bits, and encodes the bits with pycocotools. Writes {"mismatches": [...], "pycocotools_rles": [...]}.
"""
import json
import sys

import numpy as np
from pycocotools import mask as mask_utils

cases = json.load(open(sys.argv[1]))
mismatches, encoded = [], []
for i, case in enumerate(cases):
    h, w = case["height"], case["width"]
    bits = np.frombuffer(case["bits"].encode(), dtype=np.uint8).reshape(h, w) - ord("0")
    rle = {"size": case["rle"]["size"], "counts": case["rle"]["counts"].encode()}
    decoded = mask_utils.decode(rle)
    if decoded.shape != (h, w) or not np.array_equal(decoded, bits):
        mismatches.append(f"case {i}: pycocotools decodes Carve's RLE differently")
    ours = mask_utils.encode(np.asfortranarray(bits))
    if ours["counts"].decode() != case["rle"]["counts"]:
        mismatches.append(f"case {i}: compressed strings differ: {ours['counts'][:40]!r} vs {case['rle']['counts'][:40]!r}")
    if int(mask_utils.area(ours)) != int(bits.sum()):
        mismatches.append(f"case {i}: area differs")
    encoded.append({"size": [int(s) for s in ours["size"]], "counts": ours["counts"].decode()})
json.dump({"mismatches": mismatches, "pycocotools_rles": encoded}, open(sys.argv[2], "w"))

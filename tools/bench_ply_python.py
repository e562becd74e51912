#!/usr/bin/env python3
"""Python side of benches/render.rs: time plyfile reading a 3DGS PLY into arrays.

    .venv/bin/python tools/bench_ply_python.py FILE.ply [--repeat 3]

Prints the median seconds of `PlyData.read` plus materialising every vertex property as a numpy
array (what a viewer needs), as JSON: {"seconds": ..., "count": ...}.
"""
import argparse
import json
import time

import numpy as np
from plyfile import PlyData

ap = argparse.ArgumentParser()
ap.add_argument("file")
ap.add_argument("--repeat", type=int, default=3)
args = ap.parse_args()
times = []
for _ in range(args.repeat):
    t0 = time.perf_counter()
    v = PlyData.read(args.file)["vertex"]
    cols = {n: np.array(v[n], dtype=np.float32, copy=True) for n in v.data.dtype.names}
    times.append(time.perf_counter() - t0)
print(json.dumps({"seconds": float(np.median(times)), "count": int(len(cols["x"]))}))

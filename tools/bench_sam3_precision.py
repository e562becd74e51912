#!/usr/bin/env python3
"""SAM 3 at each precision, in one run: the official Python pipeline (fp32 eager, bf16 autocast)
beside Carve (`carve segment` at fp32 and bf16, features encoded, then read from the feature
cache), on the full-size export. Prints a Markdown table for BENCHMARKS.md.

    .venv/bin/python tools/bench_sam3_precision.py MODEL_DIR [--carve target/debug/carve] [--threads 2]

MODEL_DIR is a folder from `tools/export_sam3.py` (random weights are fine: speed does not depend
on the values). Every measurement is its own process under GNU time (`/usr/bin/time -f %M`) for
its peak RSS. Python: `Sam3Processor.set_image` on the 1024x768 demo photo, twice in the process
(the first call includes one-off allocations), then one `predict_inst` click. Carve: one click at
(620, 480) with `--json` (`encode_ms`, `decode_ms`, `features`, `precision`), first with an empty
feature cache, then again (a cache hit). Torch threads: the same on both sides (`--threads`).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "assets/demo/still_life.jpg"


def python_side(mode: str, threads: int) -> dict:
    """Runs in a child process: the official model, timed."""
    import numpy as np
    import torch
    from PIL import Image

    sys.path.insert(0, str(ROOT / "tools"))
    import export_sam3 as E
    from sam3.model.sam3_image_processor import Sam3Processor

    torch.set_num_threads(threads)
    with E.cpu_only():
        model = E.build_model(False, None, {})
        proc = Sam3Processor(model, resolution=E.IMAGE_SIZE, device="cpu", confidence_threshold=0.5)
        image = Image.open(PHOTO).convert("RGB")
        ctx = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if mode == "bf16" else torch.no_grad
        times = []
        with torch.no_grad(), ctx():
            for _ in range(2):
                t0 = time.perf_counter()
                state = proc.set_image(image)
                times.append((time.perf_counter() - t0) * 1e3)
            pts, lbl = np.array([[620.0, 480.0]], dtype=np.float32), np.array([1], dtype=np.int64)
            model.predict_inst(state, point_coords=pts, point_labels=lbl, multimask_output=True)  # warm-up
            t0 = time.perf_counter()
            model.predict_inst(state, point_coords=pts, point_labels=lbl, multimask_output=True)
            click_ms = (time.perf_counter() - t0) * 1e3
    return {"encode_ms": times, "click_ms": click_ms}


def timed(cmd: list, env=None) -> tuple[str, float]:
    """Runs `cmd` under GNU time; (stdout, peak RSS in GB)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as t:
        out = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", t.name, *cmd], capture_output=True, text=True,
                             env=env)
        if out.returncode != 0:
            sys.exit(f"{' '.join(map(str, cmd))} failed:\n{out.stderr[-2000:]}")
        return out.stdout, int(t.read().strip().splitlines()[-1]) / 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path, nargs="?")
    ap.add_argument("--carve", type=Path, default=ROOT / "target/debug/carve")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--python-side", choices=["fp32", "bf16"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.python_side:
        print(json.dumps(python_side(args.python_side, args.threads)))
        return
    if args.model is None:
        sys.exit("usage: tools/bench_sam3_precision.py MODEL_DIR")
    rows = []
    for mode in ("fp32", "bf16"):
        out, rss = timed([sys.executable, __file__, "--python-side", mode, "--threads", str(args.threads)])
        r = json.loads(out.strip().splitlines()[-1])
        rows.append((f"official Python, {'fp32 eager' if mode == 'fp32' else 'bf16 autocast'}",
                     f"{r['encode_ms'][0] / 1e3:.1f} / {r['encode_ms'][1] / 1e3:.1f}", f"{r['click_ms']:.0f}",
                     f"{rss:.2f}", "—", r["encode_ms"][1]))
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "CARVE_CACHE_DIR": cache, "OMP_NUM_THREADS": str(args.threads)}
        for precision in ("fp32", "bf16"):
            runs = []
            for _ in range(2):
                cmd = [str(args.carve), "segment", str(PHOTO), "--point", "620,480", "--engine", "sam3", "--precision",
                       precision, "--models", str(args.model), "--out", os.path.join(cache, "m.png"), "--json"]
                out, rss = timed(cmd, env)
                runs.append((json.loads(out), rss))
            (first, rss1), (hit, rss2) = runs
            assert first["precision"] == precision and first["features"] == "encoded", first
            assert hit["features"] == "disk_cache", hit
            rows.append((f"Carve `--precision {precision}`", f"{first['encode_ms'] / 1e3:.1f}",
                         f"{first['decode_ms']:.0f}", f"{rss1:.2f} / {rss2:.2f}",
                         f"{hit['encode_ms']:.0f} + {hit['decode_ms']:.0f}", first["encode_ms"]))
    base_fp32, base_bf16 = rows[0][5], rows[1][5]
    print(f"threads {args.threads}; photo {PHOTO.name}; model {args.model}")
    print("| | encoder s (Python: 1st / 2nd call) | click ms (first in process) | peak RSS GB (Carve: encode / cache hit) "
          "| cache hit: features + click ms | encoder vs Python fp32 / bf16 |")
    print("|---|---|---|---|---|---|")
    for name, enc, click, rss, hit, enc_ms in rows:
        print(f"| {name} | {enc} | {click} | {rss} | {hit} | {enc_ms / base_fp32:.2f} / {enc_ms / base_bf16:.2f} |")


if __name__ == "__main__":
    main()

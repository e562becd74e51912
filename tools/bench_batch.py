"""Batch throughput (issue 17): the classical engine on a folder of 200 photos, as a plain
`carve segment --batch`, and through tools/ray_batch.py on a local Ray cluster with 1 and 2
workers (8 shards); plus the shard machinery's cost per item (manifest line with the output's
content hash, fsync; and a --resume pass that skips everything). Same machine, same run.

    .venv/bin/python tools/bench_batch.py target/debug/carve [--photos 200] [--size 640]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from PIL import Image, ImageDraw


def make_folder(root, n, size):
    photos = os.path.join(root, "photos")
    os.makedirs(photos)
    prompts = {}
    h = size * 3 // 4
    for i in range(n):
        im = Image.new("RGB", (size, h), (60 + i % 40, 90, 120))
        d = ImageDraw.Draw(im)
        r = size // 5
        cx, cy = size // 2 + (i % 7) * 5, h // 2
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(200, 40 + i % 50, 40))
        name = f"img_{i:04}.jpg"
        im.save(os.path.join(photos, name), quality=92)
        prompts[name] = {"points": [[cx, cy]]}
    path = os.path.join(root, "prompts.json")
    json.dump(prompts, open(path, "w"))
    return photos, path


def timed(cmd, env=None):
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"{cmd[:3]} failed: {r.stderr[-2000:]}")
    return time.perf_counter() - t0, r.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("carve")
    ap.add_argument("--photos", type=int, default=200)
    ap.add_argument("--size", type=int, default=640)
    a = ap.parse_args()
    carve = os.path.abspath(a.carve)
    here = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory() as root:
        photos, prompts = make_folder(root, a.photos, a.size)
        seg = ["segment", "--engine", "classical", "--batch", photos, "--prompts", prompts]
        # One thread per carve process (libtorch and rayon), so that workers are the parallelism.
        env = dict(os.environ, OMP_NUM_THREADS="1", RAYON_NUM_THREADS="1", RAY_USAGE_STATS_ENABLED="0")
        all_cores_s, _ = timed([carve, *seg, "--out-dir", os.path.join(root, "allcores")],
                               dict(os.environ, RAY_USAGE_STATS_ENABLED="0"))
        plain_s, _ = timed([carve, *seg, "--out-dir", os.path.join(root, "plain")], env)
        resume_s, _ = timed([carve, *seg, "--out-dir", os.path.join(root, "plain"), "--resume"], env)
        json.dump({}, open(os.path.join(root, "one.json"), "w"))
        empty_s, _ = timed([carve, "segment", "--engine", "classical", "--batch", photos, "--prompts",
                            os.path.join(root, "one.json"), "--out-dir", os.path.join(root, "empty")], env)
        rows = [("plain `carve segment --batch`, 1 process, 1 thread", plain_s),
                ("plain `carve segment --batch`, 1 process, every core (rayon)", all_cores_s)]
        for workers in (1, 2):
            out = os.path.join(root, f"ray{workers}")
            s, stdout = timed([sys.executable, os.path.join(here, "ray_batch.py"), "--carve", carve, "--shards", "8",
                               "--workers", str(workers), "--", *seg, "--out-dir", out], env)
            report = json.loads([l for l in stdout.splitlines() if l.startswith("{")][-1])
            rows.append((f"tools/ray_batch.py, local Ray, {workers} worker(s), 8 shards, whole script (Ray start, merge)", s))
            rows.append((f"  the same, shards only (tasks submitted → last done)", report["seconds"]))
        n = a.photos
        print(f"{n} photos {a.size}×{a.size * 3 // 4} JPEG, classical engine, {os.cpu_count()} cores")
        for name, s in rows:
            print(f"  {name}: {s:.2f} s, {n / s:.1f} images/s (ratio to plain {plain_s / s:.2f})")
        print(f"  --resume over the finished batch (every item checked: manifest read, output hashed): "
              f"{resume_s:.2f} s, {(resume_s - empty_s) / n * 1e3:.2f} ms per item beyond an empty batch ({empty_s:.2f} s: process start)")
        # The manifest's per-item cost inside a run: the lines' own timings against the wall time.
        lines = [json.loads(l) for l in open(os.path.join(root, "plain", "manifest.shard-0000-of-0001.jsonl"))]
        work_ms = sum(sum(l.get("timings_ms", {}).values()) for l in lines)
        print(f"  plain run: {plain_s * 1e3 / n:.1f} ms per item of which segmentation {work_ms / n:.1f} ms; "
              f"the rest (image decode, PNG write, manifest line + hash + fsync, startup) {(plain_s * 1e3 - work_ms) / n:.1f} ms")


if __name__ == "__main__":
    main()

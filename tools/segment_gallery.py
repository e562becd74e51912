#!/usr/bin/env python3
"""Real-photo gallery: Carve's classical engine beside OpenCV GrabCut on scikit-image's photographs.

    .venv/bin/python tools/segment_gallery.py [--carve target/debug/carve] [--out docs/gallery]

For every case (a photo from `skimage.data` — public domain / CC0 — and a box or clicks), runs
`carve segment PHOTO --engine classical ... --json` and `cv2.grabCut` (5 iterations; a box
initialises with GC_INIT_WITH_RECT, clicks with GC_INIT_WITH_MASK: everything "probably background",
positive click discs "foreground", negative ones "background"), and writes OUT/NAME.png: the prompt,
Carve's mask, GrabCut's mask, side by side, with each side's time. Prints a Markdown table of the
cases for the README. The PNGs are palette-quantised so the whole gallery stays small.
"""
import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import skimage.data as data
from PIL import Image, ImageDraw

# (file stem, photo, what, box [x0, y0, x1, y1] or None, [(x, y, positive)])
CASES = [
    ("chelsea_face_box", "chelsea", "the cat's face (box)", [60, 10, 390, 298], []),
    ("chelsea_forehead_click", "chelsea", "one click on the cat's forehead", None, [(235, 60, True)]),
    ("coffee_cup_saucer_box", "coffee", "cup and saucer (box)", [75, 15, 482, 392], []),
    ("astronaut_helmet_box", "astronaut", "the helmet (box)", [275, 340, 508, 512], []),
    ("astronaut_shuttle_click", "astronaut", "one click on the shuttle model", None, [(395, 150, True)]),
    ("rocket_box", "rocket", "the rocket (box)", [295, 122, 345, 410], []),
    ("camera_tripod_box", "camera", "camera and tripod, thin legs (box)", [228, 135, 410, 507], []),
]
PANEL_H = 220
BLUE = np.array([40, 90, 255], np.float32)


def photo(name):
    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, -1)
    return np.ascontiguousarray(img[..., :3])


def grabcut(rgb, box, clicks, radius):
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    if box is not None:
        mask = np.zeros(rgb.shape[:2], np.uint8)
        x0, y0, x1, y1 = box
        t0 = time.perf_counter()
        cv2.grabCut(bgr, mask, (x0, y0, x1 - x0, y1 - y0), bgd, fgd, 5, cv2.GC_INIT_WITH_RECT)
    else:
        mask = np.full(rgb.shape[:2], cv2.GC_PR_BGD, np.uint8)
        for x, y, positive in clicks:
            cv2.circle(mask, (int(x), int(y)), radius, cv2.GC_FGD if positive else cv2.GC_BGD, -1)
        t0 = time.perf_counter()
        cv2.grabCut(bgr, mask, None, bgd, fgd, 5, cv2.GC_INIT_WITH_MASK)
    ms = (time.perf_counter() - t0) * 1e3
    return (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD), ms


def carve(binary, path, box, clicks, out):
    cmd = [str(binary), "segment", str(path), "--engine", "classical", "--out", str(out), "--json"]
    if box is not None:
        cmd += ["--box", ",".join(str(v) for v in box)]
    for x, y, positive in clicks:
        cmd += ["--point" if positive else "--neg-point", f"{x},{y}"]
    result = subprocess.run(cmd, check=True, capture_output=True, text=True)
    summary = json.loads(result.stdout)
    return np.asarray(Image.open(out).convert("L")) > 127, summary["decode_ms"]


def overlay(rgb, mask):
    out = rgb.astype(np.float32)
    out[mask] = out[mask] * 0.45 + BLUE * 0.55
    edge = mask ^ np.roll(mask, 1, 0) | mask ^ np.roll(mask, 1, 1)
    out[edge] = [255, 255, 0]
    return out.astype(np.uint8)


def panel(rgb, title, box=None, clicks=()):
    img = Image.fromarray(rgb)
    draw = ImageDraw.Draw(img)
    s = rgb.shape[0] / PANEL_H
    if box is not None:
        draw.rectangle(box, outline=(255, 40, 40), width=max(2, round(2 * s)))
    for x, y, positive in clicks:
        r = max(4, round(5 * s))
        draw.ellipse([x - r, y - r, x + r, y + r], fill=(40, 220, 40) if positive else (230, 40, 40), outline=(0, 0, 0))
    img = img.resize((round(rgb.shape[1] * PANEL_H / rgb.shape[0]), PANEL_H), Image.LANCZOS)
    bar = Image.new("RGB", (img.width, 18), (24, 24, 24))
    ImageDraw.Draw(bar).text((4, 3), title, fill=(240, 240, 240))
    both = Image.new("RGB", (img.width, PANEL_H + 18))
    both.paste(bar, (0, 0))
    both.paste(img, (0, 18))
    return both


def main():
    ap = argparse.ArgumentParser()
    target = Path(os.environ.get("CARGO_TARGET_DIR", "target"))
    ap.add_argument("--carve", type=Path, default=target / "debug" / "carve")
    ap.add_argument("--out", type=Path, default=Path("docs/gallery"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for stem, name, what, box, clicks in CASES:
            rgb = photo(name)
            path = Path(tmp) / f"{name}.png"
            Image.fromarray(rgb).save(path)
            radius = max(3, round(0.006 * float(np.hypot(*rgb.shape[:2]))))
            ours, ours_ms = carve(args.carve, path, box, clicks, Path(tmp) / f"{stem}_mask.png")
            theirs, theirs_ms = grabcut(rgb, box, clicks, radius)
            panels = [
                panel(rgb, f"{name}: {what}", box, clicks),
                panel(overlay(rgb, ours), f"Carve classical  {ours_ms:.0f} ms"),
                panel(overlay(rgb, theirs), f"OpenCV GrabCut  {theirs_ms:.0f} ms"),
            ]
            sheet = Image.new("RGB", (sum(p.width for p in panels) + 8 * (len(panels) - 1), panels[0].height), (255, 255, 255))
            x = 0
            for p in panels:
                sheet.paste(p, (x, 0))
                x += p.width + 8
            sheet.quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
                args.out / f"{stem}.png", optimize=True
            )
            rows.append((stem, what, name, int(ours.sum()), int(theirs.sum()), ours_ms, theirs_ms))
            print(f"{stem}: carve {ours.sum()} px in {ours_ms:.0f} ms, grabcut {theirs.sum()} px in {theirs_ms:.0f} ms")
    print()
    for stem, what, name, *_ in rows:
        print(f"![{name}: {what}](docs/gallery/{stem}.png)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Build the segmentation benchmark set: textured objects composited on photographs.

    .venv/bin/python tools/make_seg_dataset.py OUT_DIR [--count 24] [--seed 7]

Backgrounds are the public-domain / CC0 colour photos bundled with scikit-image (`skimage.data`:
astronaut, coffee, chelsea, rocket, hubble_deep_field, retina, immunohistochemistry, colorwheel),
resized to 640×480. Each object is a random smooth star-shaped blob filled with a texture cut from
another photo (or a tinted brick/grass/gravel texture), lit with a gradient, with a soft drop shadow
and an anti-aliased edge. Ground truth = alpha ≥ 0.5. Writes OUT_DIR/NNN.png, OUT_DIR/NNN_gt.png and
OUT_DIR/prompts.json ({"NNN.png": {"box": [x0, y0, x1, y1]}}, the object's box grown by 4 px, the
usual GrabCut rectangle). Deterministic for a given seed.
"""
import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter
import skimage.data as data

W, H = 640, 480
COLOUR = ["astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "retina", "immunohistochemistry", "colorwheel"]
GREY = ["brick", "grass", "gravel"]


def load(name, size):
    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, -1)
    return np.asarray(Image.fromarray(img[..., :3]).resize(size, Image.BICUBIC)).astype(np.float32) / 255


def blob(rng, cx, cy, radius):
    ys, xs = np.mgrid[0:H * 4, 0:W * 4].astype(np.float32) / 4  # 4× supersampled for the edge
    ang = np.arctan2(ys - cy, xs - cx)
    r = np.full_like(ang, radius)
    for k in range(2, 7):
        r += radius * rng.uniform(0.0, 0.22 / k * 2) * np.cos(k * ang + rng.uniform(0, 2 * np.pi))
    inside = (np.hypot(xs - cx, ys - cy) <= r).astype(np.float32)
    return inside.reshape(H, 4, W, 4).mean(axis=(1, 3))  # alpha in 0..1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--count", type=int, default=24)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    backgrounds = {n: load(n, (W, H)) for n in COLOUR}
    textures = {n: load(n, (W, H)) for n in COLOUR + GREY}
    prompts = {}
    for i in range(args.count):
        bg_name = COLOUR[i % len(COLOUR)]
        img = backgrounds[bg_name].copy()
        # Random crop-and-zoom of the background so repeats differ.
        zoom = rng.uniform(1.0, 1.6)
        cw, ch = int(W / zoom), int(H / zoom)
        ox, oy = rng.integers(0, W - cw + 1), rng.integers(0, H - ch + 1)
        img = np.asarray(Image.fromarray((img[oy:oy + ch, ox:ox + cw] * 255).astype(np.uint8)).resize((W, H), Image.BICUBIC)).astype(np.float32) / 255

        radius = rng.uniform(55, 140)
        cx, cy = rng.uniform(radius + 20, W - radius - 20), rng.uniform(radius + 20, H - radius - 20)
        alpha = blob(rng, cx, cy, radius)
        tex_name = rng.choice([n for n in COLOUR + GREY if n != bg_name])
        tex = textures[tex_name]
        shift = (rng.integers(-200, 200), rng.integers(-150, 150))
        tex = np.roll(tex, shift, axis=(0, 1))
        if tex_name in GREY:
            tex = tex * rng.uniform(0.35, 1.0, size=3)[None, None, :] + rng.uniform(0, 0.25, size=3)[None, None, :]
        ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
        light = 1.05 - 0.35 * np.clip(((xs - cx) * rng.uniform(-1, 1) + (ys - cy)) / (2 * radius) + 0.5, 0, 1)
        obj = np.clip(tex * light[..., None], 0, 1)
        # Soft shadow offset down-right.
        shadow = np.asarray(Image.fromarray((alpha * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(8))).astype(np.float32) / 255
        shadow = np.roll(shadow, (10, 12), axis=(0, 1))
        img = img * (1 - 0.45 * shadow[..., None])
        comp = obj * alpha[..., None] + img * (1 - alpha[..., None])
        comp = np.clip(comp + rng.normal(0, 0.01, comp.shape), 0, 1)
        gt = alpha >= 0.5
        yy, xx = np.nonzero(gt)
        box = [max(0, int(xx.min()) - 4), max(0, int(yy.min()) - 4), min(W, int(xx.max()) + 5), min(H, int(yy.max()) + 5)]
        name = f"{i:03d}.png"
        Image.fromarray((comp * 255).round().astype(np.uint8)).save(args.out / name)
        Image.fromarray((gt * 255).astype(np.uint8)).save(args.out / f"{i:03d}_gt.png")
        prompts[name] = {"box": box}
    (args.out / "prompts.json").write_text(json.dumps(prompts, indent=1))
    print(f"wrote {args.count} images to {args.out}")


if __name__ == "__main__":
    main()

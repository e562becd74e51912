#!/usr/bin/env python3
"""Build the HARD segmentation set: objects textured from the same photograph as their background.

    .venv/bin/python tools/make_hard_seg_dataset.py OUT_DIR [--count 24] [--seed 100]

Why: `make_seg_dataset.py` fills each object with a texture from *another* photo, so a colour
histogram separates object and background almost by itself. Real photos are not like that: the cat's
face has the colours of the cat's body. Here every object is cut from the SAME photograph as its
background — another place of it, mirrored, shaded — so the two colour distributions overlap and
the cut has to lean on edges, local texture and the box.

Per image (640×480), deterministic for a given seed:
- background: a random crop-and-zoom of one of the scikit-image photos (public domain / CC0:
  astronaut, coffee, chelsea, rocket, immunohistochemistry, retina, camera — the last one grey),
  mirrored at random;
- object: a smooth star-shaped blob with 0–3 thin parts (legs/antennae 3–9 px wide, sometimes bent)
  and sometimes a handle (an arc that closes a hole against the body);
- object texture: another crop of the same photo, mirrored horizontally and/or vertically, shaded
  by a linear light ramp (×0.7–1.15), a global gain and a slight per-channel tint (≤ ±6 %);
- edge: hard (anti-aliased from 4× supersampling) or soft (alpha blurred, σ 1–3 px, as defocus or
  fur); a soft drop shadow half of the time; sensor noise;
- ground truth: alpha ≥ 0.5; prompt: the ground-truth box grown by 3–8 px.

Writes OUT_DIR/NNN.png, OUT_DIR/NNN_gt.png and OUT_DIR/prompts.json ({"NNN.png": {"box": [x0, y0,
x1, y1]}}), the layout `carve::segment::eval::load_eval_set` reads.

Seeds 0–9 are the tuning seeds of the classical engine; the benchmark uses seed 100 and the quality
test seed 200, never looked at while tuning.
"""
import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
import skimage.data as data

W, H = 640, 480
SS = 4  # supersampling of the shape
PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "retina", "camera"]


def load(name):
    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, -1)
    img = img[..., :3]
    # Work at a size where a 640×480 crop is a real part of the photo, not a blow-up.
    scale = max(W / img.shape[1], H / img.shape[0], min(1.0, 900 / max(img.shape[:2])))
    size = (max(W, round(img.shape[1] * scale)), max(H, round(img.shape[0] * scale)))
    return np.asarray(Image.fromarray(img).resize(size, Image.BICUBIC)).astype(np.float32) / 255


def crop_zoom(rng, photo, zoom_range):
    ph, pw = photo.shape[:2]
    # The largest 4:3 crop, shrunk by the zoom.
    s = min(pw / W, ph / H) / rng.uniform(*zoom_range)
    cw, ch = max(8, int(W * s)), max(6, int(H * s))
    ox, oy = rng.integers(0, pw - cw + 1), rng.integers(0, ph - ch + 1)
    crop = (photo[oy:oy + ch, ox:ox + cw] * 255).astype(np.uint8)
    return np.asarray(Image.fromarray(crop).resize((W, H), Image.BICUBIC)).astype(np.float32) / 255, (ox, oy)


def shape_alpha(rng, cx, cy, radius):
    """Blob + thin parts + maybe a handle, 4× supersampled; returns alpha in 0..1 (H×W)."""
    canvas = Image.new("L", (W * SS, H * SS), 0)
    draw = ImageDraw.Draw(canvas)
    # Star-shaped blob as a fine polygon.
    angles = np.linspace(0, 2 * np.pi, 720, endpoint=False)
    r = np.full_like(angles, radius)
    for k in range(2, 7):
        r += radius * rng.uniform(0.0, 0.4 / k) * np.cos(k * angles + rng.uniform(0, 2 * np.pi))
    aspect = rng.uniform(0.7, 1.3)
    xs, ys = cx + r * np.cos(angles) * aspect, cy + r * np.sin(angles) / aspect
    draw.polygon([(float(x * SS), float(y * SS)) for x, y in zip(xs, ys)], fill=255)

    def boundary_point(a):
        i = int(round(a / (2 * np.pi) * len(angles))) % len(angles)
        return xs[i], ys[i]

    # Thin parts: legs / antennae, from inside the body outwards, sometimes bent.
    for _ in range(rng.integers(0, 4)):
        a = rng.uniform(0, 2 * np.pi)
        bx, by = boundary_point(a)
        width = rng.uniform(3, 9)
        length = rng.uniform(0.5, 1.1) * radius
        d = a + rng.uniform(-0.5, 0.5)
        start = (cx + 0.7 * (bx - cx), cy + 0.7 * (by - cy))
        mid = (bx + np.cos(d) * length * 0.6, by + np.sin(d) * length * 0.6)
        d2 = d + rng.uniform(-0.9, 0.9)
        end = (mid[0] + np.cos(d2) * length * 0.4, mid[1] + np.sin(d2) * length * 0.4)
        pts = [(float(p[0] * SS), float(p[1] * SS)) for p in (start, mid, end)]
        draw.line(pts, fill=255, width=int(width * SS), joint="curve")
        # Round tip.
        rr = width * SS / 2
        draw.ellipse([pts[-1][0] - rr, pts[-1][1] - rr, pts[-1][0] + rr, pts[-1][1] + rr], fill=255)
    # A handle: a thick arc whose ends enter the body, leaving a hole.
    if rng.uniform() < 0.3:
        a = rng.uniform(0, 2 * np.pi)
        bx, by = boundary_point(a)
        hr = rng.uniform(0.35, 0.55) * radius
        hx, hy = bx + np.cos(a) * hr * 0.6, by + np.sin(a) * hr * 0.6
        width = rng.uniform(5, 12)
        box = [(hx - hr) * SS, (hy - hr) * SS, (hx + hr) * SS, (hy + hr) * SS]
        draw.ellipse(box, outline=255, width=int(width * SS))
    alpha = np.asarray(canvas).astype(np.float32) / 255
    return alpha.reshape(H, SS, W, SS).mean(axis=(1, 3))


def blur(a, sigma):
    img = Image.fromarray(np.clip(a * 255, 0, 255).astype(np.uint8))
    return np.asarray(img.filter(ImageFilter.GaussianBlur(sigma))).astype(np.float32) / 255


def blur_float(a, sigma):
    """Gaussian blur of a float image in [0, 1] without 8-bit steps (separable, numpy)."""
    rad = max(1, int(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-rad, rad + 1) / sigma) ** 2)
    k /= k.sum()
    p = np.pad(a, rad, mode="edge")
    p = np.apply_along_axis(lambda v: np.convolve(v, k, mode="valid"), 0, p)
    return np.apply_along_axis(lambda v: np.convolve(v, k, mode="valid"), 1, p)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--count", type=int, default=24)
    ap.add_argument("--seed", type=int, default=100)
    args = ap.parse_args()
    rng = np.random.default_rng([args.seed, 18])
    args.out.mkdir(parents=True, exist_ok=True)
    photos = {n: load(n) for n in PHOTOS}
    order = list(rng.permutation(len(PHOTOS)))
    prompts = {}
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    for i in range(args.count):
        photo = photos[PHOTOS[order[i % len(PHOTOS)]]]
        bg, (bx0, by0) = crop_zoom(rng, photo, (1.0, 1.5))
        if rng.uniform() < 0.5:
            bg = bg[:, ::-1]
        # The object's texture: elsewhere in the same photo, mirrored.
        for _ in range(20):
            tex, (tx0, ty0) = crop_zoom(rng, photo, (1.0, 1.8))
            if abs(tx0 - bx0) + abs(ty0 - by0) > 0.15 * (W + H):
                break
        flips = rng.integers(1, 4)  # 1: horizontal, 2: vertical, 3: both
        if flips & 1:
            tex = tex[:, ::-1]
        if flips & 2:
            tex = tex[::-1]

        radius = rng.uniform(50, 120)
        margin = radius * 1.35 + 15
        cx, cy = rng.uniform(margin, W - margin), rng.uniform(min(margin, H / 2 - 1), max(H - margin, H / 2 + 1))
        alpha = shape_alpha(rng, cx, cy, radius)
        soft = rng.uniform() < 0.5
        if soft:
            alpha = blur_float(alpha, rng.uniform(1.0, 3.0))

        direction = rng.uniform(0, 2 * np.pi)
        ramp = ((xs - cx) * np.cos(direction) + (ys - cy) * np.sin(direction)) / (2.5 * radius) + 0.5
        lo, hi = rng.uniform(0.7, 0.9), rng.uniform(1.0, 1.15)
        light = lo + (hi - lo) * np.clip(ramp, 0, 1)
        gain = rng.uniform(0.9, 1.1) * (1 + rng.uniform(-0.06, 0.06, size=3))
        obj = np.clip(tex * light[..., None] * gain[None, None, :], 0, 1)

        if rng.uniform() < 0.5:
            shadow = np.roll(blur(alpha, rng.uniform(5, 10)), (rng.integers(4, 14), rng.integers(-12, 13)), axis=(0, 1))
            bg = bg * (1 - rng.uniform(0.25, 0.5) * shadow[..., None])
        comp = obj * alpha[..., None] + bg * (1 - alpha[..., None])
        comp = np.clip(comp + rng.normal(0, rng.uniform(0.005, 0.02), comp.shape), 0, 1)
        gt = alpha >= 0.5
        yy, xx = np.nonzero(gt)
        m = int(rng.integers(3, 9))
        box = [max(0, int(xx.min()) - m), max(0, int(yy.min()) - m), min(W, int(xx.max()) + 1 + m),
               min(H, int(yy.max()) + 1 + m)]
        name = f"{i:03d}.png"
        Image.fromarray((comp * 255).round().astype(np.uint8)).save(args.out / name)
        Image.fromarray((gt * 255).astype(np.uint8)).save(args.out / f"{i:03d}_gt.png")
        prompts[name] = {"box": box}
    (args.out / "prompts.json").write_text(json.dumps(prompts, indent=1))
    print(f"wrote {args.count} images to {args.out}")


if __name__ == "__main__":
    main()

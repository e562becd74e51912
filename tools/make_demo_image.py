#!/usr/bin/env python3
"""Render Carve's embedded demo photo: a still life (ball, mug, box on a wooden table).

Everything is procedural and made by this script, so the image and its masks are CC0 (see
assets/LICENSE.md). Writes assets/demo/still_life.jpg and one ground-truth mask per object in
assets/demo/masks/. Deterministic: the same script gives the same files.

    .venv/bin/python tools/make_demo_image.py
"""
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

W, H = 1024, 768
rng = np.random.default_rng(20261129)
ys, xs = np.mgrid[0:H, 0:W].astype(np.float64)


def smooth_noise(scale, octaves=4):
    out = np.zeros((H, W))
    amp = 1.0
    for o in range(octaves):
        cell = max(2, int(scale / 2**o))
        g = rng.standard_normal((H // cell + 2, W // cell + 2))
        img = Image.fromarray(g.astype(np.float32), mode="F").resize((W + cell, H + cell), Image.BICUBIC)
        out += amp * np.asarray(img)[:H, :W]
        amp *= 0.5
    return out / 1.9


horizon = 0.55 * H
img = np.zeros((H, W, 3))
# Wall: warm plaster with soft light falloff from the upper left.
wall_light = 0.85 - 0.25 * np.hypot((xs - 0.2 * W) / W, (ys - 0.1 * H) / H)
wall = np.stack([0.86, 0.80, 0.70]) * (wall_light + 0.03 * smooth_noise(64))[..., None]
# Table: wood grain in perspective (rows closer to the camera are wider).
depth = np.clip((ys - horizon) / (H - horizon), 1e-3, 1)
u = (xs - W / 2) / (0.3 + depth)
grain = 0.5 + 0.5 * np.sin(u / 9.0 + 3.0 * smooth_noise(96, 3))
wood = np.stack([0.55, 0.36, 0.20])[None, None] * (0.75 + 0.25 * grain[..., None])
wood *= (0.75 + 0.3 * depth)[..., None]
table = ys >= horizon
img = np.where(table[..., None], wood, wall)
# Table edge highlight.
img[(ys >= horizon) & (ys < horizon + 3)] *= 1.25

light = np.array([-0.5, -0.6, -0.62])
light /= np.linalg.norm(light)
masks = {}


def shadow(cx, cy, rx, ry, strength):
    d = ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2
    return 1.0 - strength * np.exp(-2.0 * d)


# Ball (red), sphere shading with a specular highlight.
bx, by, br = 300.0, 520.0, 110.0
img *= shadow(bx + 60, by + br - 12, br * 1.3, br * 0.35, 0.55)[..., None]
dx, dy = (xs - bx) / br, (ys - by) / br
r2 = dx * dx + dy * dy
ball = r2 <= 1.0
nz = -np.sqrt(np.clip(1 - r2, 0, 1))
n = np.stack([dx, dy, nz], -1)
lam = np.clip(n @ light, 0, 1)
half = light + np.array([0, 0, -1.0])
half /= np.linalg.norm(half)
spec = np.clip(n @ half, 0, 1) ** 60
stripes = 1.0 - 0.35 * (np.abs(dy + 0.25 * dx * dx) < 0.08)
ball_col = np.array([0.80, 0.10, 0.08])[None, None] * (0.18 + 0.82 * lam[..., None]) * stripes[..., None]
ball_col += 0.9 * spec[..., None]
img = np.where(ball[..., None], ball_col, img)
masks["ball"] = ball

# Mug (blue), a shaded cylinder with an elliptical rim and a handle.
mx, mtop, mbot, mr = 640.0, 370.0, 560.0, 85.0
img *= shadow(mx + 55, mbot + 5, mr * 1.4, 28, 0.5)[..., None]
ell = 18.0
body = (np.abs(xs - mx) <= mr) & (ys >= mtop) & (ys <= mbot + ell * np.sqrt(np.clip(1 - ((xs - mx) / mr) ** 2, 0, 1)))
top_ell = ((xs - mx) / mr) ** 2 + ((ys - mtop) / ell) ** 2 <= 1
handle_d = np.hypot((xs - (mx + mr + 5)) / 45, (ys - 460) / 55)
handle = (handle_d <= 1.0) & (handle_d >= 0.62) & (xs > mx + mr - 6)
mug = body | top_ell | handle
cyl_n = np.clip((xs - mx) / mr, -1, 1)
mug_lam = np.clip(0.55 - 0.6 * cyl_n + 0.1 * smooth_noise(20, 2), 0.12, 1)
mug_col = np.array([0.15, 0.30, 0.70])[None, None] * (0.25 + 0.9 * mug_lam[..., None])
mug_col += (0.5 * np.exp(-((cyl_n + 0.45) / 0.08) ** 2))[..., None]
inner = ((xs - mx) / (mr - 7)) ** 2 + ((ys - mtop) / (ell - 4)) ** 2 <= 1
mug_col = np.where(inner[..., None], np.array([0.06, 0.09, 0.18])[None, None], mug_col)
handle_col = np.array([0.12, 0.24, 0.58])[None, None] * (0.5 + 0.3 * np.cos((ys - 460) / 30))[..., None]
mug_col = np.where((handle & ~body & ~top_ell)[..., None], handle_col, mug_col)
img = np.where(mug[..., None], mug_col, img)
masks["mug"] = mug

# Box (green), three visible faces of a cube in perspective, with a label stripe.
def quad(pts):
    inside = np.ones((H, W), bool)
    for i in range(4):
        (x0, y0), (x1, y1) = pts[i], pts[(i + 1) % 4]
        inside &= (x1 - x0) * (ys - y0) - (y1 - y0) * (xs - x0) >= 0
    return inside


img *= shadow(880, 575, 120, 30, 0.5)[..., None]
front = quad([(780, 440), (780, 590), (900, 600), (900, 450)][::-1])
side = quad([(900, 450), (900, 600), (975, 560), (975, 420)][::-1])
top = quad([(780, 440), (900, 450), (975, 420), (860, 412)][::-1])
box = front | side | top
box_img = np.zeros_like(img)
tex = 0.9 + 0.1 * smooth_noise(12, 2)[..., None]
box_img[front] = (np.array([0.20, 0.55, 0.25]) * tex[front])
box_img[side] = (np.array([0.12, 0.36, 0.16]) * tex[side])
box_img[top] = (np.array([0.32, 0.72, 0.38]) * tex[top])
label = front & (ys > 490 + (xs - 780) * 0.08) & (ys < 530 + (xs - 780) * 0.08)
box_img[label] = np.array([0.92, 0.88, 0.75])
img = np.where(box[..., None], box_img, img)
masks["box"] = box

# Camera: slight blur, sensor noise, vignette, gamma.
img *= (1.0 - 0.25 * (((xs - W / 2) / W) ** 2 + ((ys - H / 2) / H) ** 2))[..., None]
img = np.clip(img, 0, 1) ** (1 / 1.1)
img8 = np.clip(img * 255 + rng.normal(0, 2.5, img.shape), 0, 255).astype(np.uint8)
pil = Image.fromarray(img8).filter(ImageFilter.GaussianBlur(0.7))

root = Path(__file__).resolve().parent.parent / "assets" / "demo"
(root / "masks").mkdir(parents=True, exist_ok=True)
pil.save(root / "still_life.jpg", quality=88, optimize=True)
for name, m in masks.items():
    Image.fromarray((m * 255).astype(np.uint8)).save(root / "masks" / f"{name}.png", optimize=True)
print(f"wrote {root / 'still_life.jpg'} and {len(masks)} masks")

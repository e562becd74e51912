#!/usr/bin/env python3
"""Make the small image fixtures in tests/data (committed; rerun only to change them).

    .venv/bin/python tools/make_test_fixtures.py

- exif_orientation_6.jpg: stored 64×32 (landscape), EXIF orientation 6 ("rotate 90° clockwise
  to display"). Stored image: left half red, right half blue, a green square at the stored
  top-left corner. Upright it is 32×64 with red on top and the green square at the top-right.
- exif_orientation_3.jpg: the same stored pixels with orientation 3 (rotate 180°).
"""
from pathlib import Path

from PIL import Image

out = Path(__file__).resolve().parent.parent / "tests" / "data"
out.mkdir(parents=True, exist_ok=True)
img = Image.new("RGB", (64, 32), (0, 0, 255))
img.paste((255, 0, 0), (0, 0, 32, 32))
img.paste((0, 255, 0), (0, 0, 8, 8))
for orientation in (6, 3):
    exif = Image.Exif()
    exif[0x0112] = orientation
    img.save(out / f"exif_orientation_{orientation}.jpg", quality=95, exif=exif.tobytes())
print(f"wrote fixtures to {out}")

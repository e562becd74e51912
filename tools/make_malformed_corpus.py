#!/usr/bin/env python3
"""Writes Carve's corpus of malformed and edge-case inputs to tests/data/malformed/.

Every case is a file (or a folder) under `<kind>/`, and `cases.json` says for each what Carve must
do with it: "error" (one line naming the file, exit 1), "ok" (a valid if odd input: exit 0) or
"any" (either, but never a panic, a hang or a runaway allocation). `tests/it/malformed.rs` replays
every case through the `carve` command that reads that kind; the fuzz targets
(`examples/fuzz.rs`) start from these files and add what they find to `<kind>/found/`.

Kinds and the command that reads them:
  image/     carve segment FILE --point 0,0 --engine classical --out T/m.png
  mask/      carve lift assets/demo/still_life.jpg --mask FILE --out T/lift --iters 0
  ply/       carve render FILE --out T/r.png --width 64 --height 48
  gltf/      carve render FILE ... (a case may be a folder holding the file and what it points at)
  npz/       carve body import FILE --lod 6 --out T/b.glb
  manifest/  a model folder: carve segment demo --engine sam3 --models DIR; carve models --models DIR
  scene/     carve render <valid mesh> --camera FILE ...
  prompts/   carve segment --batch <folder with one photo> --prompts FILE --out-dir T
  keypoints/ carve body fit <photo> --mask <mask> --keypoints FILE --iterations 2 --out T/f.glb
  project/   read by the library's Project::load (the window's open and autosave path)

Deterministic (fixed seeds): running it again rewrites the same bytes. Regenerate with
`.venv/bin/python tools/make_malformed_corpus.py` after adding cases; found/ is kept.
"""

from __future__ import annotations

import base64
import io
import json
import random
import shutil
import struct
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "malformed"
CASES: dict[str, str] = {}


def put(rel: str, data: bytes | str, expect: str = "error", case: str | None = None):
    """Writes OUT/rel; `case` (default rel) is the entry in cases.json (a folder case names its folder)."""
    p = OUT / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    if case is not False:
        CASES[case or rel] = expect


def truncations(data: bytes, n: int, rng: random.Random, keep_min: int = 0) -> list[int]:
    cuts = {0, 1, len(data) // 2, len(data) - 1}
    while len(cuts) < n:
        cuts.add(rng.randrange(keep_min, len(data)))
    return sorted(c for c in cuts if c < len(data))


def flips(data: bytes, n: int, rng: random.Random, lo: int = 0, hi: int | None = None) -> list[bytes]:
    hi = len(data) if hi is None else min(hi, len(data))
    out = []
    for _ in range(n):
        b = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(lo, hi)
            b[i] = rng.choice([0x00, 0xFF, 0x7F, 0x80, b[i] ^ (1 << rng.randrange(8))])
        out.append(bytes(b))
    return out


# ----------------------------------------------------------------------------------------------
# images
def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_raw(w: int, h: int, rows: bytes | None = None, extra: list[bytes] = (), bit_depth=8, colour=2,
            ihdr_wh: tuple[int, int] | None = None) -> bytes:
    iw, ih = ihdr_wh or (w, h)
    ihdr = struct.pack(">IIBBBBB", iw, ih, bit_depth, colour, 0, 0, 0)
    if rows is None:
        rows = b"".join(b"\x00" + bytes(3 * w) for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + b"".join(extra)
            + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b""))


def images(rng: random.Random):
    photo = Image.new("RGB", (48, 40))
    for y in range(40):
        for x in range(48):
            photo.putpixel((x, y), ((x * 5) % 256, (y * 6) % 256, ((x + y) * 3) % 256))
    enc = {}
    for fmt, ext in [("PNG", "png"), ("JPEG", "jpg"), ("WEBP", "webp"), ("TIFF", "tif"), ("BMP", "bmp")]:
        b = io.BytesIO()
        photo.save(b, fmt)
        enc[ext] = b.getvalue()
        put(f"image/valid.{ext}", enc[ext], "ok")
    for ext, data in enc.items():
        for c in truncations(data, 8, rng, keep_min=8):
            # a PNG cut inside its IEND chunk still holds every pixel
            whole = ext == "png" and c > data.find(b"IEND")
            put(f"image/trunc_{c:05d}.{ext}", data[:c], "any" if ext == "tif" or whole else "error")
        for i, b in enumerate(flips(data, 6, rng, 0, 64)):
            put(f"image/flip_{i}.{ext}", b, "any")
        for i, b in enumerate(flips(data, 4, rng, 64)):
            put(f"image/flipbody_{i}.{ext}", b, "any")
    put("image/empty.png", b"")
    put("image/text.png", "this is not an image\n")
    put("image/gif.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")
    # declared sizes: huge, zero, lying about the data
    put("image/png_100k_square.png", png_raw(1, 1, ihdr_wh=(100_000, 100_000)))
    put("image/png_2e31_wide.png", png_raw(1, 1, ihdr_wh=(2**31 - 1, 1)))
    put("image/png_zero_width.png", png_raw(1, 1, ihdr_wh=(0, 10)))
    put("image/png_one_pixel.png", png_raw(1, 1), "any")  # valid; nothing to find in one pixel
    put("image/png_1x4000.png", png_raw(1, 4000), "ok")
    put("image/png_short_idat.png", png_raw(40, 40, rows=b"\x00" * 10))
    put("image/png_bad_filter.png", png_raw(4, 4, rows=b"\x09" + bytes(12) * 4 + bytes(3)))
    put("image/png_bad_bitdepth.png", png_raw(4, 4, bit_depth=3))
    put("image/png_bad_colour.png", png_raw(4, 4, colour=5))
    ok4 = bytearray(png_raw(4, 4))
    ok4[ok4.find(b"IEND") - 5] ^= 0xFF  # the last byte of the IDAT chunk's CRC
    put("image/png_bad_crc.png", bytes(ok4))
    # an ICC profile that inflates to 128 MiB, and a text chunk that inflates to 128 MiB
    bomb = zlib.compress(bytes(128 << 20), 9)
    put("image/png_icc_bomb.png", png_raw(4, 4, extra=[png_chunk(b"iCCP", b"p\x00\x00" + bomb)]), "any")
    put("image/png_ztxt_bomb.png", png_raw(4, 4, extra=[png_chunk(b"zTXt", b"k\x00\x00" + bomb)]), "any")
    put("image/png_chunk_len_huge.png", b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 0x7FFFFFF0) + b"IHDR" + bytes(16))
    put("image/png_many_chunks.png",
        png_raw(4, 4, extra=[png_chunk(b"tEXt", b"k\x00v") for _ in range(5000)]), "any")
    # JPEG: SOF with huge size, exif with odd orientations
    j = enc["jpg"]
    sof = j.find(b"\xff\xc0")
    big = bytearray(j)
    big[sof + 5:sof + 9] = struct.pack(">HH", 65000, 65000)
    put("image/jpeg_65000_square.jpg", bytes(big))
    zero = bytearray(j)
    zero[sof + 5:sof + 9] = struct.pack(">HH", 0, 0)
    put("image/jpeg_zero_size.jpg", bytes(zero))
    for o in (0, 1, 5, 8, 9, 255, 65535):
        exif = Image.Exif()
        exif[0x0112] = o
        b = io.BytesIO()
        photo.save(b, "JPEG", exif=exif.tobytes())
        put(f"image/exif_orientation_{o}.jpg", b.getvalue(), "ok")
    put("image/jpeg_only_soi.jpg", b"\xff\xd8")
    put("image/jpeg_soi_eoi.jpg", b"\xff\xd8\xff\xd9")
    # BMP with lying header sizes
    bm = bytearray(enc["bmp"])
    bm[18:26] = struct.pack("<ii", 1 << 30, -(1 << 30))
    put("image/bmp_huge.bmp", bytes(bm))
    bm = bytearray(enc["bmp"])
    bm[18:26] = struct.pack("<ii", 48, -(1 << 31))
    put("image/bmp_min_height.bmp", bytes(bm))
    # TIFF: strip offsets/counts pointing past the end
    t = bytearray(enc["tif"])
    put("image/tiff_header_only.tif", bytes(t[:8]))
    # an ASCII tag declaring 2^31 characters (the tiff crate prints a stray debug line for it)
    put("image/tiff_ascii_tag_huge.tif", b"II*\x00\x08\x00\x00\x00" + struct.pack("<H", 1)
        + struct.pack("<HHII", 270, 2, 2**31, 26) + struct.pack("<I", 0) + b"text")
    put("image/tiff_ifd_loop.tif", b"II*\x00\x08\x00\x00\x00" + struct.pack("<H", 0) + struct.pack("<I", 8))
    # 16-bit grey and RGBA: valid, converted
    for mode, name in [("I;16", "grey16"), ("RGBA", "rgba"), ("L", "grey"), ("1", "bilevel"), ("P", "palette")]:
        b = io.BytesIO()
        if mode == "I;16":
            Image.fromarray((np.asarray(photo.convert("L"), np.uint16) * 257)).save(b, "PNG")
        else:
            photo.convert(mode).save(b, "PNG")
        put(f"image/valid_{name}.png", b.getvalue(), "ok")


# ----------------------------------------------------------------------------------------------
# masks for `carve lift --mask` (the photo is the 1024x768 demo)
def masks(rng: random.Random):
    def png(w, h, fill=None, rect=None, mode="L"):
        im = Image.new(mode, (w, h), 0)
        if rect:
            x0, y0, x1, y1 = rect
            for y in range(y0, y1):
                for x in range(x0, x1):
                    im.putpixel((x, y), 255 if mode != "1" else 1)
        b = io.BytesIO()
        im.save(b, "PNG")
        return b.getvalue()

    put("mask/empty_mask.png", png(1024, 768))
    put("mask/wrong_size.png", png(100, 100, rect=(10, 10, 50, 50)))
    put("mask/one_row.png", png(1024, 768, rect=(100, 300, 900, 301)), "any")
    put("mask/one_pixel.png", png(1024, 768, rect=(500, 400, 501, 401)), "any")
    put("mask/full_frame.png", png(1024, 768, rect=(0, 0, 1024, 768)), "any")
    put("mask/thin_column.png", png(1024, 768, rect=(500, 0, 501, 768)), "any")
    put("mask/corner.png", png(1024, 768, rect=(1000, 740, 1024, 768)), "any")
    put("mask/not_png.png", "mask")
    put("mask/truncated.png", png(1024, 768, rect=(300, 200, 600, 500))[:200])


# ----------------------------------------------------------------------------------------------
# PLY
def ply_header(fmt, elements, comments=()):
    lines = ["ply", f"format {fmt} 1.0", *[f"comment {c}" for c in comments]]
    for name, count, props in elements:
        lines.append(f"element {name} {count}")
        lines.extend(f"property {p}" for p in props)
    lines.append("end_header")
    return ("\n".join(lines) + "\n").encode()


XYZ = ["float x", "float y", "float z"]
FACE = ["list uchar int vertex_indices"]
SPLAT = XYZ + ["float f_dc_0", "float f_dc_1", "float f_dc_2", "float opacity", "float scale_0", "float scale_1",
               "float scale_2", "float rot_0", "float rot_1", "float rot_2", "float rot_3"]


def ply_cases(rng: random.Random):
    tri_ascii = ply_header("ascii", [("vertex", 3, XYZ), ("face", 1, FACE)]) + b"0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n"
    put("ply/valid_triangle_ascii.ply", tri_ascii, "ok")
    verts = struct.pack("<9f", 0, 0, 0, 1, 0, 0, 0, 1, 0)
    tri_bin = ply_header("binary_little_endian", [("vertex", 3, XYZ), ("face", 1, FACE)]) + verts + \
        struct.pack("<B3i", 3, 0, 1, 2)
    put("ply/valid_triangle_binary.ply", tri_bin, "ok")
    pts = ply_header("binary_little_endian", [("vertex", 4, XYZ)]) + struct.pack("<12f", *range(12))
    put("ply/valid_points.ply", pts, "ok")
    n = 16
    sp = np.zeros((n, 14), np.float32)
    sp[:, :3] = np.random.default_rng(1).normal(size=(n, 3))
    sp[:, 7:10] = -3
    sp[:, 10] = 1
    splats = ply_header("binary_little_endian", [("vertex", n, SPLAT)]) + sp.tobytes()
    put("ply/valid_splats.ply", splats, "ok")
    for name, data in [("tri_ascii", tri_ascii), ("tri_bin", tri_bin), ("splats", splats)]:
        for c in truncations(data, 10, rng):
            # an ASCII file that lost only its final newline is whole
            whole = not data[c:].strip()
            put(f"ply/trunc_{name}_{c:05d}.ply", data[:c], "any" if whole else "error")
        for i, b in enumerate(flips(data, 8, rng)):
            put(f"ply/flip_{name}_{i}.ply", b, "any")
    hdr = lambda els, fmt="ascii": ply_header(fmt, els)  # noqa: E731
    put("ply/no_end_header.ply", b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\n")
    put("ply/bad_format.ply", b"ply\nformat utf16 1.0\nend_header\n")
    put("ply/no_vertex_element.ply", hdr([("face", 0, FACE)]))
    put("ply/huge_vertex_count.ply", hdr([("vertex", 10**15, XYZ)], "binary_little_endian") + verts)
    put("ply/count_2e64.ply", hdr([("vertex", 2**64 + 3, XYZ)]) + b"0 0 0\n")
    put("ply/negative_count.ply", hdr([("vertex", -5, XYZ)]) + b"0 0 0\n")
    put("ply/element_no_props_huge.ply", hdr([("vertex", 3, XYZ), ("junk", 10**12, [])]) + b"0 0 0\n1 0 0\n0 1 0\n")
    put("ply/element_no_props_huge_bin.ply",
        hdr([("junk", 10**12, []), ("vertex", 3, XYZ)], "binary_little_endian") + verts)
    put("ply/face_two_vertices.ply",
        hdr([("vertex", 3, XYZ), ("face", 1, FACE)]) + b"0 0 0\n1 0 0\n0 1 0\n2 0 1\n")
    put("ply/face_negative_index.ply",
        hdr([("vertex", 3, XYZ), ("face", 1, FACE)]) + b"0 0 0\n1 0 0\n0 1 0\n3 0 -1 2\n")
    put("ply/face_index_out_of_range.ply",
        hdr([("vertex", 3, XYZ), ("face", 1, FACE)]) + b"0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n")
    put("ply/face_list_255.ply",
        hdr([("vertex", 3, XYZ), ("face", 1, FACE)], "binary_little_endian") + verts + struct.pack("<B", 255)
        + struct.pack("<3i", 0, 1, 2))
    put("ply/face_list_count_float.ply",
        hdr([("vertex", 3, XYZ), ("face", 1, ["list float int vertex_indices"])]) + b"0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n")
    put("ply/face_list_uint_huge.ply",
        hdr([("vertex", 3, XYZ), ("face", 1, ["list uint int vertex_indices"])], "binary_little_endian") + verts
        + struct.pack("<I", 0xFFFFFFF0) + struct.pack("<3i", 0, 1, 2))
    put("ply/nan_vertex.ply", hdr([("vertex", 3, XYZ), ("face", 1, FACE)]) + b"nan 0 0\n1 0 0\n0 1 0\n3 0 1 2\n")
    put("ply/inf_points.ply", hdr([("vertex", 2, XYZ)]) + b"inf 0 0\n1 0 0\n")
    put("ply/huge_coords.ply", hdr([("vertex", 3, XYZ), ("face", 1, FACE)]) + b"1e38 0 0\n-1e38 0 0\n0 1e38 0\n3 0 1 2\n",
        "any")
    put("ply/all_same_point.ply", hdr([("vertex", 3, XYZ)]) + b"1 1 1\n1 1 1\n1 1 1\n", "any")
    put("ply/zero_vertices.ply", hdr([("vertex", 0, XYZ)]))
    put("ply/zero_faces.ply", hdr([("vertex", 3, XYZ), ("face", 0, FACE)]) + b"0 0 0\n1 0 0\n0 1 0\n", "any")
    put("ply/missing_z.ply", hdr([("vertex", 3, XYZ[:2])]) + b"0 0\n1 0\n0 1\n")
    put("ply/x_is_list.ply", hdr([("vertex", 1, ["list uchar float x", "float y", "float z"])]) + b"1 0 0 0\n")
    put("ply/unknown_type.ply", hdr([("vertex", 1, ["quad x", "float y", "float z"])]) + b"0 0 0\n")
    put("ply/ascii_words.ply", hdr([("vertex", 3, XYZ)]) + b"a b c\nd e f\ng h i\n")
    put("ply/ascii_too_few_values.ply", hdr([("vertex", 3, XYZ)]) + b"0 0\n")
    put("ply/ascii_too_many_lines.ply", hdr([("vertex", 1, XYZ)]) + b"0 0 0\n" * 1000, "any")
    put("ply/big_endian_triangle.ply",
        hdr([("vertex", 3, XYZ), ("face", 1, FACE)], "binary_big_endian") + struct.pack(">9f", 0, 0, 0, 1, 0, 0, 0, 1, 0)
        + struct.pack(">B3i", 3, 0, 1, 2), "ok")
    put("ply/non_utf8_header.ply", b"ply\nformat ascii 1.0\ncomment \xff\xfe\xfd\nelement vertex 1\n"
        b"property float x\nproperty float y\nproperty float z\nend_header\n0 0 0\n", "any")
    put("ply/header_only_magic.ply", b"ply")
    put("ply/header_huge_comment.ply", b"ply\nformat ascii 1.0\ncomment " + b"x" * (1100 << 10) + b"\nend_header\n")
    put("ply/header_million_props.ply",
        b"ply\nformat ascii 1.0\nelement vertex 1\n" + b"property float p\n" * 70000 + b"end_header\n0\n")
    put("ply/duplicate_vertex_element.ply", hdr([("vertex", 1, XYZ), ("vertex", 1, XYZ)]) + b"0 0 0\n0 0 0\n", "any")
    put("ply/splat_bad_sh.ply", hdr([("vertex", 1, SPLAT + [f"float f_rest_{i}" for i in range(7)])],
                                   "binary_little_endian") + bytes(4 * 21))
    put("ply/splat_nan.ply", hdr([("vertex", 1, SPLAT)], "binary_little_endian") + np.full(14, np.nan, np.float32).tobytes())
    put("ply/splat_huge_scale.ply", hdr([("vertex", 1, SPLAT)], "binary_little_endian")
        + np.array([0, 0, 0, 0, 0, 0, 0, 500, 500, 500, 1, 0, 0, 0], np.float32).tobytes(), "any")
    put("ply/splat_zero_quat.ply", hdr([("vertex", 1, SPLAT)], "binary_little_endian")
        + np.array([0, 0, 0, 0, 0, 0, 0, -3, -3, -3, 0, 0, 0, 0], np.float32).tobytes(), "any")
    put("ply/splat_double.ply", hdr([("vertex", 1, [p.replace("float", "double") for p in SPLAT])],
                                    "binary_little_endian") + np.zeros(14, np.float64).tobytes(), "any")
    put("ply/crlf_header.ply", tri_ascii.replace(b"\n", b"\r\n"), "any")
    put("ply/empty.ply", b"")


# ----------------------------------------------------------------------------------------------
# glTF / GLB
def gltf_doc(positions=None, indices=None, *, extra=None):
    positions = np.array(positions if positions is not None else [[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32)
    indices = np.array(indices if indices is not None else [0, 1, 2], np.uint32)
    pos_b, idx_b = positions.tobytes(), indices.tobytes()
    doc = {
        "asset": {"version": "2.0"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "indices": 1}]}],
        "buffers": [{"byteLength": len(pos_b) + len(idx_b)}],
        "bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": len(pos_b)},
                        {"buffer": 0, "byteOffset": len(pos_b), "byteLength": len(idx_b)}],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": len(positions), "type": "VEC3",
             "min": positions.min(0).tolist(), "max": positions.max(0).tolist()},
            {"bufferView": 1, "componentType": 5125, "count": len(indices), "type": "SCALAR"},
        ],
    }
    if extra:
        extra(doc)
    return doc, pos_b + idx_b


def glb(doc, binary: bytes) -> bytes:
    js = json.dumps(doc).encode()
    js += b" " * (-len(js) % 4)
    binary += b"\x00" * (-len(binary) % 4)
    body = struct.pack("<I", len(js)) + b"JSON" + js + struct.pack("<I", len(binary)) + b"BIN\x00" + binary
    return b"glTF" + struct.pack("<II", 2, 12 + len(body)) + body


def data_uri(b: bytes) -> str:
    return "data:application/octet-stream;base64," + base64.b64encode(b).decode()


def gltf_cases(rng: random.Random):
    doc, binary = gltf_doc()
    good_glb = glb(doc, binary)
    put("gltf/valid.glb", good_glb, "ok")
    d = json.loads(json.dumps(doc))
    d["buffers"][0]["uri"] = data_uri(binary)
    put("gltf/valid_data_uri.gltf", json.dumps(d), "ok")
    # a .gltf with a sidecar .bin in its own folder: valid, then escaping variants
    d = json.loads(json.dumps(doc))
    d["buffers"][0]["uri"] = "mesh.bin"
    put("gltf/sidecar_ok/scene.gltf", json.dumps(d), "ok", case="gltf/sidecar_ok/scene.gltf")
    put("gltf/sidecar_ok/mesh.bin", binary, case=False)
    put("gltf/sidecar_space/scene.gltf", json.dumps({**d, "buffers": [{"byteLength": len(binary), "uri": "my%20mesh.bin"}]}),
        "ok")
    put("gltf/sidecar_space/my mesh.bin", binary, case=False)
    for i, uri in enumerate(["../../../../../../etc/passwd", "/etc/passwd", "file:///etc/passwd", "..%2F..%2Fetc%2Fpasswd",
                             "sub/../../outside.bin", "%2e%2e/outside.bin", "%", "%zz.bin", "http://example.com/x.bin",
                             "C:\\Windows\\win.ini", "mesh.bin\x00.png", "", "./", "../sidecar_ok/mesh.bin",
                             "//server/share/x.bin", "data:application/octet-stream;base64,!!!!",
                             "data:application/octet-stream,abc", "/dev/zero", "/proc/self/mem"]):
        d2 = json.loads(json.dumps(d))
        d2["buffers"][0]["uri"] = uri
        put(f"gltf/uri_escape_{i:02d}/scene.gltf", json.dumps(d2))
    # an unused image pointing outside, and an unused image in an out-of-range bufferView: must not be read
    d2 = json.loads(json.dumps(d))
    d2["buffers"][0]["uri"] = data_uri(binary)
    d2["images"] = [{"uri": "../../../../etc/passwd"}]
    put("gltf/unused_image_outside.gltf", json.dumps(d2), "any")
    d2 = json.loads(json.dumps(doc))
    d2["images"] = [{"bufferView": 99, "mimeType": "image/png"}]
    put("gltf/unused_image_bad_view.glb", glb(d2, binary), "any")

    def variant(name, fn, expect="error", as_glb=True):
        d2 = json.loads(json.dumps(doc))
        fn(d2)
        data = glb(d2, binary)
        put(f"gltf/{name}.glb", data, expect)

    def setp(path, value):
        def f(d):
            o = d
            for k in path[:-1]:
                o = o[k]
            o[path[-1]] = value
        return f

    for v in [0, 2**62, 2**32 + 3, -1, 10**9]:
        variant(f"pos_count_{v}", setp(["accessors", 0, "count"], v))
        variant(f"idx_count_{v}", setp(["accessors", 1, "count"], v))
    variant("pos_vec2", setp(["accessors", 0, "type"], "VEC2"))
    variant("pos_mat4", setp(["accessors", 0, "type"], "MAT4"))
    variant("pos_ubyte", setp(["accessors", 0, "componentType"], 5121))
    variant("pos_bad_component", setp(["accessors", 0, "componentType"], 9999))
    variant("idx_float", setp(["accessors", 1, "componentType"], 5126))
    variant("idx_vec3", setp(["accessors", 1, "type"], "VEC3"))
    variant("stride_4", setp(["bufferViews", 0, "byteStride"], 4))
    variant("stride_huge", setp(["bufferViews", 0, "byteStride"], 252))
    variant("stride_1", setp(["bufferViews", 0, "byteStride"], 1))
    variant("view_offset_past_end", setp(["bufferViews", 0, "byteOffset"], 10**6))
    variant("view_length_huge", setp(["bufferViews", 0, "byteLength"], 2**40))
    variant("accessor_offset_huge", setp(["accessors", 0, "byteOffset"], 2**40))
    variant("accessor_offset_unaligned", setp(["accessors", 0, "byteOffset"], 1))
    variant("pos_missing_accessor", setp(["meshes", 0, "primitives", 0, "attributes", "POSITION"], 7))
    variant("idx_missing_accessor", setp(["meshes", 0, "primitives", 0, "indices"], 7))
    variant("view_missing_buffer", setp(["bufferViews", 0, "buffer"], 5))
    variant("accessor_missing_view", setp(["accessors", 0, "bufferView"], 9))
    variant("accessor_no_view", lambda d: d["accessors"][0].pop("bufferView"))  # zeros: a degenerate triangle
    variant("buffer_length_lies", setp(["buffers", 0, "byteLength"], 2**40))
    variant("no_meshes", lambda d: (d.pop("meshes"), d["nodes"][0].pop("mesh")) and None)
    variant("node_self_child", setp(["nodes", 0, "children"], [0]))
    variant("node_cycle", lambda d: d["nodes"].extend([{"children": [2]}, {"children": [1], "mesh": 0}]) or
            d["scenes"][0]["nodes"].append(1))
    variant("node_missing_child", setp(["nodes", 0, "children"], [42]))
    variant("scene_missing_node", setp(["scenes", 0, "nodes"], [42]))
    variant("default_scene_missing", setp(["scene"], 9))

    def dag(d):  # 40 levels, each node instancing the next one twice: 2^40 triangles
        d["nodes"] = [{"children": [i + 1, i + 1]} for i in range(40)] + [{"mesh": 0}]
    variant("instance_bomb", dag)
    variant("nan_matrix", setp(["nodes", 0, "matrix"], [float("nan")] * 16))
    variant("zero_matrix", setp(["nodes", 0, "matrix"], [0.0] * 16), "any")
    variant("huge_scale", setp(["nodes", 0, "scale"], [1e30, 1e30, 1e30]), "any")
    variant("mode_points", setp(["meshes", 0, "primitives", 0, "mode"], 0))
    variant("mode_bad", setp(["meshes", 0, "primitives", 0, "mode"], 77))
    pos = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32).tobytes()
    bad_idx = np.array([0, 1, 9], np.uint32).tobytes()
    put("gltf/index_out_of_range.glb", glb(doc, pos + bad_idx))
    nan_pos = np.array([[np.nan, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32).tobytes()
    put("gltf/nan_position.glb", glb(doc, nan_pos + np.array([0, 1, 2], np.uint32).tobytes()))
    # two primitives; the second's indices would overflow `i + base`
    d2 = json.loads(json.dumps(doc))
    big = np.array([0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD], np.uint32).tobytes()
    d2["buffers"][0]["byteLength"] = len(binary) + len(big)
    d2["bufferViews"].append({"buffer": 0, "byteOffset": len(binary), "byteLength": len(big)})
    d2["accessors"].append({"bufferView": 2, "componentType": 5125, "count": 3, "type": "SCALAR"})
    d2["meshes"][0]["primitives"].append({"attributes": {"POSITION": 0}, "indices": 2})
    put("gltf/second_primitive_index_overflow.glb", glb(d2, binary + big))
    # container-level damage
    for c in truncations(good_glb, 12, rng):
        put(f"gltf/trunc_{c:04d}.glb", good_glb[:c])
    for i, b in enumerate(flips(good_glb, 16, rng)):
        put(f"gltf/flip_{i:02d}.glb", b, "any")
    put("gltf/glb_length_huge.glb", good_glb[:8] + struct.pack("<I", 2**31) + good_glb[12:])
    put("gltf/glb_json_chunk_huge.glb", good_glb[:12] + struct.pack("<I", 2**31) + good_glb[16:])
    put("gltf/glb_version_1.glb", good_glb[:4] + struct.pack("<I", 1) + good_glb[8:])
    put("gltf/not_json.gltf", "{ this is not json")
    put("gltf/json_array.gltf", "[1, 2, 3]")
    put("gltf/empty_object.gltf", "{}")
    put("gltf/deep_nesting.gltf", "[" * 100000 + "]" * 100000)
    put("gltf/huge_string.gltf", json.dumps({"asset": {"version": "2.0", "generator": "x" * (1 << 20)}}))
    put("gltf/asset_v3.gltf", json.dumps({"asset": {"version": "3.0"}}))
    put("gltf/empty.glb", b"")
    khr_cases(rng)
    d2 = json.loads(json.dumps(doc))
    d2["buffers"][0]["uri"] = data_uri(binary)
    d2["accessors"][0]["sparse"] = {"count": 2**31, "indices": {"bufferView": 1, "componentType": 5125},
                                    "values": {"bufferView": 0}}
    put("gltf/sparse_huge.gltf", json.dumps(d2))


def khr_splats(n=4, degree=1):
    """A KHR_gaussian_splatting GLB document and binary, written from the extension's text."""
    k = "KHR_gaussian_splatting:"
    cols = {
        "POSITION": ("VEC3", np.arange(n * 3, dtype=np.float32).reshape(n, 3) * 0.1),
        k + "ROTATION": ("VEC4", np.tile(np.array([0, 0, 0, 1], np.float32), (n, 1))),
        k + "SCALE": ("VEC3", np.full((n, 3), 0.05, np.float32)),
        k + "OPACITY": ("SCALAR", np.full((n, 1), 0.8, np.float32)),
    }
    for l in range(degree + 1):
        for c in range(2 * l + 1):
            cols[f"{k}SH_DEGREE_{l}_COEF_{c}"] = ("VEC3", np.full((n, 3), 0.1 * (l + 1), np.float32))
    binary, views, accessors, attributes = b"", [], [], {}
    for i, (name, (kind, values)) in enumerate(cols.items()):
        views.append({"buffer": 0, "byteOffset": len(binary), "byteLength": values.nbytes})
        acc = {"bufferView": i, "componentType": 5126, "count": n, "type": kind}
        if name == "POSITION":
            acc["min"], acc["max"] = values.min(0).tolist(), values.max(0).tolist()
        accessors.append(acc)
        attributes[name] = i
        binary += values.tobytes()
    doc = {"asset": {"version": "2.0"}, "extensionsUsed": ["KHR_gaussian_splatting"], "scene": 0,
           "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0}],
           "meshes": [{"primitives": [{"mode": 0, "attributes": attributes, "extensions": {
               "KHR_gaussian_splatting": {"kernel": "ellipse", "colorSpace": "srgb_rec709_display"}}}]}],
           "buffers": [{"byteLength": len(binary)}], "bufferViews": views, "accessors": accessors}
    return doc, binary


def khr_cases(rng):
    doc, binary = khr_splats()
    good = glb(doc, binary)
    put("gltf/khr_splats_valid.glb", good, "ok")
    k = "KHR_gaussian_splatting:"

    def variant(name, fn, expect="error", data=None):
        d = json.loads(json.dumps(doc))
        fn(d)
        put(f"gltf/khr_{name}.glb", glb(d, binary if data is None else data), expect)

    attr = lambda d, n: d["accessors"][d["meshes"][0]["primitives"][0]["attributes"][n]]  # noqa: E731
    variant("count_huge", lambda d: attr(d, k + "SCALE").update(count=2**40))
    variant("count_zero", lambda d: attr(d, "POSITION").update(count=0))
    variant("no_sh0", lambda d: d["meshes"][0]["primitives"][0]["attributes"].pop(k + "SH_DEGREE_0_COEF_0"))
    variant("partial_degree", lambda d: d["meshes"][0]["primitives"][0]["attributes"].pop(k + "SH_DEGREE_1_COEF_2"))
    variant("no_rotation", lambda d: d["meshes"][0]["primitives"][0]["attributes"].pop(k + "ROTATION"))
    variant("mode_triangles", lambda d: d["meshes"][0]["primitives"][0].update(mode=4))
    variant("rotation_vec3", lambda d: attr(d, k + "ROTATION").update(type="VEC3"))
    variant("opacity_ubyte", lambda d: attr(d, k + "OPACITY").update(componentType=5121))
    variant("view_past_end", lambda d: d["bufferViews"][1].update(byteOffset=2**33))
    variant("stride_huge", lambda d: d["bufferViews"][2].update(byteStride=2**31))
    variant("accessor_missing", lambda d: d["meshes"][0]["primitives"][0]["attributes"].update({k + "SCALE": 99}))
    bad = bytearray(binary)
    bad[4 * 4 * 3 + 4 * 4 * 4:4 * 4 * 3 + 4 * 4 * 4 + 4] = struct.pack("<f", -1.0)  # a negative scale
    put("gltf/khr_negative_scale.glb", glb(doc, bytes(bad)))
    for c in truncations(good, 6, rng):
        put(f"gltf/khr_trunc_{c:04d}.glb", good[:c])
    for i, b in enumerate(flips(good, 6, rng)):
        put(f"gltf/khr_flip_{i}.glb", b, "any")


# ----------------------------------------------------------------------------------------------
# npz (SAM 3D Body outputs)
def npy_bytes(header: dict | str, payload: bytes, version=(1, 0)) -> bytes:
    h = header if isinstance(header, str) else repr(header)
    h = h.encode()
    pad = -(10 + len(h) + 1) % 64
    h = h + b" " * pad + b"\n"
    return b"\x93NUMPY" + bytes(version) + struct.pack("<H", len(h)) + h + payload


def npz_of(members: dict[str, bytes], compress=zipfile.ZIP_STORED) -> bytes:
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", compress) as z:
        for k, v in members.items():
            z.writestr(k if k.endswith(".npy") or "/" in k else k + ".npy", v)
    return b.getvalue()


def npz_cases(rng: random.Random):
    src = np.load(ROOT / "assets/mhr/sam3d_body_output_subj00.npz")
    arrays = {k: src[k] for k in src.files}

    def save(name, arrs, expect="error"):
        b = io.BytesIO()
        np.savez_compressed(b, **arrs)
        put(f"npz/{name}.npz", b.getvalue(), expect)

    def with_(key, value):
        a = dict(arrays)
        a[key] = value
        return a

    save("valid", arrays, "ok")
    small = {k: v for k, v in arrays.items() if k != "pred_vertices"}
    save("missing_vertices", small)
    save("missing_cam", {k: v for k, v in arrays.items() if k != "pred_cam_t"}, "any")
    save("vertices_nan", with_("pred_vertices", np.full_like(arrays["pred_vertices"], np.nan)))
    save("vertices_bool", with_("pred_vertices", np.ones((18439, 3), bool)))
    save("vertices_wrong_count", with_("pred_vertices", np.zeros((100, 3), np.float32)))
    save("vertices_2d", with_("pred_vertices", np.zeros((18439, 2), np.float32)))
    save("vertices_complex", with_("pred_vertices", np.zeros((18439, 3), np.complex64)))
    save("vertices_strings", with_("pred_vertices", np.array(["a", "b"])))
    save("vertices_float16", with_("pred_vertices", arrays["pred_vertices"].astype(np.float16)), "any")
    save("vertices_int8", with_("pred_vertices", np.zeros((18439, 3), np.int8)), "any")
    save("vertices_scalar", with_("pred_vertices", np.float32(1.0)))
    save("cam_nan", with_("pred_cam_t", np.array([np.nan, 0, 5], np.float32)))
    save("cam_shape", with_("pred_cam_t", np.zeros((7, 7), np.float32)))
    save("keypoints_inf", with_("pred_keypoints_2d", np.full((70, 2), np.inf, np.float32)), "any")
    save("params_wrong_len", with_("mhr_model_params", np.zeros(3, np.float32)), "any")
    # hand-made npy members with lying headers (stored, small)
    base = {k: npy_bytes({"descr": "<f4", "fortran_order": False, "shape": v.shape}, v.astype("<f4").tobytes())
            for k, v in arrays.items() if k != "pred_vertices"}
    verts = arrays["pred_vertices"].astype("<f4")
    cases = {
        "hdr_shape_2e32_cubed": {"descr": "<f4", "fortran_order": False, "shape": (2**32, 2**32, 2**32)},
        "hdr_shape_huge": {"descr": "<f4", "fortran_order": False, "shape": (10**12, 3)},
        "hdr_shape_negative": {"descr": "<f4", "fortran_order": False, "shape": (-1, 3)},
        "hdr_shape_overflow_product": {"descr": "<f8", "fortran_order": False, "shape": (2**40, 2**40)},
        "hdr_object_dtype": {"descr": "|O", "fortran_order": False, "shape": (18439, 3)},
        "hdr_fortran": {"descr": "<f4", "fortran_order": True, "shape": (18439, 3)},
        "hdr_bad_descr": {"descr": "<q9", "fortran_order": False, "shape": (18439, 3)},
        "hdr_struct_dtype": "{'descr': [('a', '<f4'), ('b', '<f4'), ('c', '<f4')], 'fortran_order': False, 'shape': (18439,), }",
        "hdr_not_dict": "[1, 2, 3]",
        "hdr_python_code": "__import__('os').system('true')",
        "hdr_missing_shape": "{'descr': '<f4', 'fortran_order': False, }",
        "hdr_shape_string": "{'descr': '<f4', 'fortran_order': False, 'shape': 'big', }",
        "hdr_big_endian": {"descr": ">f4", "fortran_order": False, "shape": (18439, 3)},
    }
    for name, hdr in cases.items():
        # the payload matters only to the two valid layouts (100 vertices: the wrong count, an error later)
        hdr = {**hdr, "shape": (100, 3)} if name in ("hdr_fortran", "hdr_big_endian") else hdr
        payload = verts[:100].byteswap().tobytes() if name == "hdr_big_endian" else verts[:100].tobytes()
        expect = "error"
        put(f"npz/{name}.npz", npz_of({**base, "pred_vertices": npy_bytes(hdr, payload)}), expect)
    put("npz/npy_truncated_payload.npz",
        npz_of({**base, "pred_vertices": npy_bytes({"descr": "<f4", "fortran_order": False, "shape": (18439, 3)},
                                                    verts.tobytes()[:1000])}))
    put("npz/npy_bad_magic.npz", npz_of({**base, "pred_vertices": b"NOTNUMPY" + verts.tobytes()[:100]}))
    put("npz/npy_version_9.npz",
        npz_of({**base, "pred_vertices": npy_bytes({"descr": "<f4", "fortran_order": False, "shape": (18439, 3)},
                                                    verts.tobytes(), (9, 0))}))
    put("npz/npy_header_len_huge.npz",
        npz_of({**base, "pred_vertices": b"\x93NUMPY\x01\x00\xff\xff" + b"{" * 100}))
    # a member that inflates to 1 GiB of zeros while declaring a small shape
    bomb_bytes = 1 << 30
    zi = zipfile.ZipInfo("pred_vertices.npy")
    zi.compress_type = zipfile.ZIP_DEFLATED
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w") as z:
        for k, v in base.items():
            z.writestr(k + ".npy", v)
        with z.open(zi, "w", force_zip64=True) as f:
            f.write(npy_bytes({"descr": "<f4", "fortran_order": False, "shape": (18439, 3)}, b""))
            chunk = bytes(64 << 20)
            for _ in range(bomb_bytes // len(chunk)):
                f.write(chunk)
    # Carve reads only the values the header declares, so this one is "any" (bounded either way)
    put("npz/zip_bomb_member.npz", bomb.getvalue(), "any")
    put("npz/not_zip.npz", "PK but not really")
    put("npz/empty.npz", b"")
    put("npz/empty_zip.npz", npz_of({}))
    full = io.BytesIO()
    np.savez(full, **arrays)
    fb = full.getvalue()
    for c in truncations(fb, 3, rng, keep_min=len(fb) - 4000):
        put(f"npz/trunc_{c:06d}.npz", fb[:c])
    eocd = fb.rfind(b"PK\x05\x06")
    for i, b in enumerate(flips(fb, 4, rng, eocd - 200, len(fb))):
        put(f"npz/flip_dir_{i}.npz", b, "any")
    put("npz/member_name_traversal.npz", npz_of({**base, "../../pred_vertices": npy_bytes(
        {"descr": "<f4", "fortran_order": False, "shape": (100, 3)}, verts[:100].tobytes())}))


# ----------------------------------------------------------------------------------------------
# model folders (manifest.toml)
GOOD_MANIFEST = """format = 1
kind = "sam3"
name = "broken test model"
weights = "random"

[files]
image_encoder = "image_encoder.pt"
click_decoder = "click_decoder.pt"

[input]
width = 1008
height = 1008
"""


def manifest_cases(rng: random.Random):
    def folder(name, manifest: str | bytes | None, files: dict[str, bytes] | None = None, expect="error"):
        d = f"manifest/{name}"
        if manifest is not None:
            put(f"{d}/manifest.toml", manifest, case=False)
        for fname, data in (files or {}).items():
            put(f"{d}/{fname}", data, case=False)
        (OUT / d).mkdir(parents=True, exist_ok=True)
        CASES[d] = expect

    zipish = b"PK\x03\x04" + bytes(60)
    folder("files_missing", GOOD_MANIFEST)
    folder("not_torchscript", GOOD_MANIFEST, {"image_encoder.pt": b"not a zip", "click_decoder.pt": b"nope"})
    folder("zip_but_not_torch", GOOD_MANIFEST, {"image_encoder.pt": zipish, "click_decoder.pt": zipish})
    folder("bad_toml", GOOD_MANIFEST.replace("[files]", "[files"))
    folder("format_99", GOOD_MANIFEST.replace("format = 1", "format = 99"))
    folder("kind_unknown", GOOD_MANIFEST.replace('kind = "sam3"', 'kind = "sam9"'))
    folder("no_files", GOOD_MANIFEST.split("[files]")[0])
    folder("file_parent_dir", GOOD_MANIFEST.replace('"image_encoder.pt"', '"../image_encoder.pt"'))
    folder("file_absolute", GOOD_MANIFEST.replace('"image_encoder.pt"', '"/etc/passwd"'))
    folder("file_is_folder", GOOD_MANIFEST.replace('"image_encoder.pt"', '"."'))
    folder("input_zero", GOOD_MANIFEST.replace("width = 1008", "width = 0"))
    folder("input_huge", GOOD_MANIFEST.replace("width = 1008", "width = 4294967295"))
    folder("input_negative", GOOD_MANIFEST.replace("width = 1008", "width = -3"))
    folder("std_zero", GOOD_MANIFEST + "mean = [0.0, 0.0, 0.0]\nstd = [0.0, 1.0, 1.0]\n")
    folder("std_nan", GOOD_MANIFEST + "mean = [0.0, 0.0, 0.0]\nstd = [nan, 1.0, 1.0]\n")
    folder("not_utf8", GOOD_MANIFEST.encode() + b"\n# \xff\xfe\n")
    folder("empty", b"")
    folder("huge_manifest", GOOD_MANIFEST + "# " + "x" * (1100 << 10) + "\n")
    folder("deep_toml", "a = " + "[" * 50000 + "]" * 50000 + "\n")
    folder("no_manifest", None, {"image_encoder.pt": zipish})
    folder("vocab_gz_bomb", GOOD_MANIFEST + '\n[config]\nvocab = "vocab.txt.gz"\n',
           {"vocab.txt.gz": gzip_bomb(), "image_encoder.pt": zipish, "click_decoder.pt": zipish})
    folder("unknown_field", GOOD_MANIFEST + "surprise = true\n")
    for i, b in enumerate(flips(GOOD_MANIFEST.encode(), 10, rng)):
        folder(f"flip_{i}", b, expect="any")


def gzip_bomb() -> bytes:
    import gzip
    b = io.BytesIO()
    with gzip.GzipFile(fileobj=b, mode="wb", compresslevel=9) as g:
        chunk = bytes(64 << 20)
        for _ in range(8):  # 512 MiB
            g.write(chunk)
    return b.getvalue()


# ----------------------------------------------------------------------------------------------
# small JSON inputs
def json_cases(rng: random.Random):
    cam = {"width": 64, "height": 48, "fx": 60.0, "fy": 60.0, "cx": 32.0, "cy": 24.0,
           "world_from_camera": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, -3], [0, 0, 0, 1]]}
    scenes = {
        "not_json": "{{{", "empty": "", "array": "[]", "no_camera": "{}", "camera_null": '{"camera": null}',
        "camera_string": '{"camera": "front"}', "deep": "[" * 100000, "nan_literal": '{"camera": {"fx": NaN}}',
        "huge_number": '{"camera": {"fx": 1e999}}',
    }
    for name, text in scenes.items():
        put(f"scene/{name}.json", text)
    for key, bad in [("fx", 0), ("fx", -5), ("width", 0), ("width", 10**9), ("height", -1), ("cx", "a"),
                     ("world_from_camera", [[1, 0], [0, 1]]), ("world_from_camera", [[0] * 4] * 4),
                     ("fy", 1e-30), ("width", 1 << 40)]:
        c = dict(cam)
        c[key] = bad
        put(f"scene/camera_{key}_{str(bad)[:12].replace(' ', '')}.json", json.dumps({"camera": c}))
    prompts = {
        "not_json": "nope", "empty": "", "array": "[1]", "unknown_field": '{"photo.png": {"points": [[1,2]], "x": 1}}',
        "traversal": '{"../../../../etc/passwd": {"points": [[1, 1]]}}',
        "absolute": '{"/etc/hostname": {"points": [[1, 1]]}}',
        "traversal_png": '{"../malformed/image/valid.png": {"points": [[1, 1]]}}',
        "subdir_escape": '{"sub/../../x.png": {"points": [[1, 1]]}}',
        "nan_point": '{"photo.png": {"points": [[NaN, 1]]}}',
        "point_outside": '{"photo.png": {"points": [[100000, 1]]}}',
        "box_inverted": '{"photo.png": {"box": [30, 30, 10, 10]}}',
        "no_prompt": '{"photo.png": {}}',
        "missing_photo": '{"nothere.png": {"points": [[1, 1]]}}',
        "deep": '{"a":' * 50000 + "1" + "}" * 50000,
        "huge_text": json.dumps({"photo.png": {"text": "cat " * 20000}}),
        "text_and_box": '{"photo.png": {"text": "cat", "box": [1, 1, 10, 10]}}',
        "many_points": json.dumps({"photo.png": {"points": [[1, 1]] * 20000}}),
        "directory_key": '{".": {"points": [[1, 1]]}}',
    }
    for name, text in prompts.items():
        put(f"prompts/{name}.json", text, "any" if name in ("missing_photo", "no_prompt", "point_outside",
                                                           "box_inverted", "nan_point", "text_and_box",
                                                           "many_points") else "error")
    kps = {
        "not_json": "[", "empty": "", "no_keypoints": "{}", "keypoints_null": '{"keypoints": null}',
        "nan": '{"keypoints": [{"name": "l_wrist", "x": NaN, "y": 1, "confidence": 1}]}',
        "unknown_name": '{"keypoints": [{"name": "tail", "x": 1, "y": 1, "confidence": 1}]}',
        "negative_conf": '{"keypoints": [{"name": "l_wrist", "x": 1, "y": 1, "confidence": -1}]}',
        "huge_xy": '{"keypoints": [{"name": "l_wrist", "x": 1e38, "y": 1e38, "confidence": 1}]}',
        "deep": "[" * 100000,
        "many": json.dumps({"keypoints": [{"name": "l_wrist", "x": 1, "y": 1, "confidence": 1}] * 10000}),
    }
    for name, text in kps.items():
        put(f"keypoints/{name}.json", text, "any" if name in ("huge_xy", "many", "negative_conf") else "error")
    # projects
    proj = {"format": "carve-project", "version": 1, "image": None, "masks": [], "scene_files": []}
    projects = {
        "not_json": "{", "empty": "", "other_format": '{"format": "labelme"}', "version_99":
        json.dumps({**proj, "version": 99}), "self_listing": json.dumps({**proj, "scene_files": ["self_listing.carve"]}),
        "mask_bad_rle": json.dumps({**proj, "masks": [{"name": "m", "color": [1, 2, 3], "visible": True,
                                                       "engine": "x", "score": 1, "size": [10, 10], "counts": "%%%%"}]}),
        "mask_huge_size": json.dumps({**proj, "masks": [{"name": "m", "color": [1, 2, 3], "visible": True,
                                                         "engine": "x", "score": 1, "size": [4000000000, 4000000000],
                                                         "counts": "0"}]}),
        "deep": '{"a":' * 50000,
    }
    for name, text in projects.items():
        put(f"project/{name}.carve", text)
    put("project/pair_a.carve", json.dumps({**proj, "scene_files": ["pair_b.carve"]}))
    put("project/pair_b.carve", json.dumps({**proj, "scene_files": ["pair_a.carve"]}))
    put("project/valid.carve", json.dumps(proj), "ok")


def coco_cases(rng: random.Random):
    """Dataset files (COCO JSON), read by `carve dataset import` into a dataset holding photo.png (64×48)."""
    def rle(w, h, counts):
        return {"size": [h, w], "counts": counts}
    good = {"images": [{"id": 1, "file_name": "photo.png", "width": 64, "height": 48}],
            "categories": [{"id": 1, "name": "cat"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 4, "bbox": [0, 0, 2, 2],
                             "segmentation": [[1, 1, 20, 1, 20, 20, 1, 20]]}]}
    put("coco/valid.json", json.dumps(good), "ok")

    def variant(name, fn, expect="error"):
        d = json.loads(json.dumps(good))
        fn(d)
        put(f"coco/{name}.json", json.dumps(d), expect)
    variant("dup_image_id", lambda d: d["images"].append(dict(d["images"][0], file_name="other.png")))
    variant("dup_file_name", lambda d: d["images"].append(dict(d["images"][0], id=2)))
    variant("dup_annotation_id", lambda d: d["annotations"].append(dict(d["annotations"][0])))
    variant("dup_category_id", lambda d: d["categories"].append({"id": 1, "name": "dog"}))
    variant("missing_image", lambda d: d["annotations"][0].update(image_id=7))
    variant("missing_category", lambda d: d["annotations"][0].update(category_id=7))
    variant("polygon_two_points", lambda d: d["annotations"][0].update(segmentation=[[1, 1, 5, 5]]))
    variant("polygon_odd", lambda d: d["annotations"][0].update(segmentation=[[1, 1, 5, 5, 9]]))
    variant("polygon_none", lambda d: d["annotations"][0].update(segmentation=[]))
    variant("polygon_strings", lambda d: d["annotations"][0].update(segmentation=[["a", "b", "c", "d", "e", "f"]]))
    variant("polygon_huge", lambda d: d["annotations"][0].update(segmentation=[[0, 0, 1e300, 0, 0, 1e300]]), "any")
    variant("rle_wrong_size", lambda d: d["annotations"][0].update(segmentation=rle(32, 48, [1536])))
    variant("rle_short_counts", lambda d: d["annotations"][0].update(segmentation=rle(64, 48, [10, 20])))
    variant("rle_bad_string", lambda d: d["annotations"][0].update(segmentation=rle(64, 48, "\x01\x02%%%")))
    variant("rle_overflow", lambda d: d["annotations"][0].update(segmentation=rle(64, 48, [4294967295, 4294967295])))
    variant("rle_huge_size", lambda d: d["annotations"][0].update(segmentation=rle(4000000000, 4000000000, [1])))
    variant("traversal", lambda d: d["images"][0].update(file_name="../../etc/passwd"))
    variant("absolute", lambda d: d["images"][0].update(file_name="/etc/hostname"))
    variant("zero_width", lambda d: d["images"][0].update(width=0))
    variant("huge_width", lambda d: d["images"][0].update(width=10**12))
    variant("negative_id", lambda d: d["images"][0].update(id=-1))
    variant("size_disagrees", lambda d: d["images"][0].update(width=65, height=48), "any")
    variant("not_in_dataset", lambda d: d["images"][0].update(file_name="elsewhere.png"), "any")
    variant("segmentation_null", lambda d: d["annotations"][0].update(segmentation=None))
    variant("many_annotations", lambda d: d.update(annotations=[dict(d["annotations"][0], id=i + 1)
                                                                  for i in range(20000)]), "any")
    for name, text in {"not_json": "{", "empty": "", "array": "[]", "deep": "[" * 100000,
                       "nan": '{"images": [{"id": 1, "file_name": "a.png", "width": NaN, "height": 1}]}'}.items():
        put(f"coco/{name}.json", text)


def label_cases(rng: random.Random):
    """YOLO-seg label files (read with a good data.yaml naming cat, dog) and labelme files, imported
    into a dataset holding photo.png (64×48): bad labels are notes, never fatal ("any"); a file that
    is not a label file at all is a note too."""
    yolo = {
        "valid": ("0 0.1 0.1 0.5 0.1 0.5 0.5\n1 0.2 0.2 0.9 0.2 0.9 0.9 0.2 0.9\n", "ok"),
        "outside": ("0 0.1 0.1 1.5 0.1 0.5 0.5\n", "any"), "negative": ("0 -0.1 0.1 0.5 0.1 0.5 0.5\n", "any"),
        "nan": ("0 nan 0.1 0.5 0.1 0.5 0.5\n", "any"), "inf": ("0 inf 0.1 0.5 0.1 0.5 0.5\n", "any"),
        "class_unknown": ("7 0.1 0.1 0.5 0.1 0.5 0.5\n", "any"), "class_negative": ("-1 0.1 0.1 0.5 0.1 0.5 0.5\n", "any"),
        "class_huge": ("99999999999999999999 0.1 0.1 0.5 0.1 0.5 0.5\n", "any"),
        "two_points": ("0 0.1 0.1 0.5 0.5\n", "any"), "odd": ("0 0.1 0.1 0.5 0.1 0.5\n", "any"),
        "words": ("cat is here\n", "any"), "binary": (bytes(range(256)) * 4, "any"), "empty": ("", "ok"),
        "many_points": ("0 " + " ".join(["0.5 0.5"] * 50000) + "\n", "any"),
        "degenerate": ("0 0.5 0.5 0.5 0.5 0.5 0.5\n", "any"),
    }
    for name, (text, expect) in yolo.items():
        put(f"yolo/{name}.txt", text, expect)
    shape = {"label": "cat", "points": [[1, 1], [30, 1], [30, 30]], "shape_type": "polygon"}
    base = {"version": "5.5.0", "shapes": [shape], "imagePath": "photo.png", "imageHeight": 48, "imageWidth": 64}

    def lm(name, fn, expect="any"):
        d = json.loads(json.dumps(base))
        fn(d)
        put(f"labelme/{name}.json", json.dumps(d), expect)
    lm("valid", lambda d: None, "ok")
    lm("size_disagrees", lambda d: d.update(imageWidth=65))
    lm("image_missing", lambda d: d.update(imagePath="other.png"))
    lm("traversal", lambda d: d.update(imagePath="../../etc/passwd"))
    lm("two_points", lambda d: d["shapes"][0].update(points=[[1, 1], [2, 2]]))
    lm("circle", lambda d: d["shapes"][0].update(shape_type="circle"))
    lm("rectangle", lambda d: d["shapes"][0].update(shape_type="rectangle", points=[[1, 1], [20, 20]]), "ok")
    lm("rectangle_three", lambda d: d["shapes"][0].update(shape_type="rectangle"))
    lm("huge_coords", lambda d: d["shapes"][0].update(points=[[0, 0], [1e300, 0], [0, 1e300]]))
    lm("no_shapes", lambda d: d.pop("shapes"), "ok")
    lm("points_strings", lambda d: d["shapes"][0].update(points=[["a", "b"]] * 3))
    lm("zero_size", lambda d: d.update(imageWidth=0, imageHeight=0))
    for name, text in {"not_json": "{", "empty": "", "deep": "[" * 100000, "array": "[]"}.items():
        put(f"labelme/{name}.json", text, "any")


def main():
    if OUT.exists():
        for p in OUT.iterdir():
            if p.is_dir():
                for q in p.iterdir():
                    if q.name != "found":
                        shutil.rmtree(q) if q.is_dir() else q.unlink()
            elif p.name == "cases.json":
                p.unlink()
    rng = random.Random(13)
    for gen in (images, masks, ply_cases, gltf_cases, npz_cases, manifest_cases, json_cases, coco_cases,
                label_cases):
        gen(rng)
    (OUT / "cases.json").write_text(json.dumps(dict(sorted(CASES.items())), indent=1) + "\n")
    total = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file())
    kinds = {}
    for k in CASES:
        kinds[k.split("/")[0]] = kinds.get(k.split("/")[0], 0) + 1
    print(f"{len(CASES)} cases, {total / 1e6:.1f} MB: {kinds}", file=sys.stderr)


if __name__ == "__main__":
    main()

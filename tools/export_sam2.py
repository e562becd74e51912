#!/usr/bin/env python3
"""Export Meta's SAM 2.1 (PyPI package `sam2` 1.1.0) as TorchScript files for Carve.

    .venv/bin/python tools/export_sam2.py --out DIR [--config sam2.1_hiera_t] [--checkpoint sam2.1_hiera_tiny.pt]
                                         [--threads 2] [--seed 0] [--skip-official-check]

Builds the model with the official builder (`sam2.build_sam.build_sam2(configs/sam2.1/NAME.yaml)`,
the package's own configs: sam2.1_hiera_t, sam2.1_hiera_s, sam2.1_hiera_b+, sam2.1_hiera_l) on
the CPU and traces five modules with `torch.jit.trace`:

  image_encoder.pt           image 1x3x1024x1024 (resized + normalised) -> image_embed (+ no_mem_embed), feat_s0, feat_s1
  click_decoder.pt           those features + clicks/box corners/mask   -> 3 mask logits + IoU, object score, single mask
  click_prepare.pt           those features -> what the decoder needs of the image alone (once per image)
  click_decoder_prepared.pt  that + clicks/box corners (no mask input)  -> the same five outputs as click_decoder
  image_encoder_bf16.pt      the image encoder in bf16 (weights and matmuls; fp32 outputs), unless --no-bf16

plus `manifest.toml` and `export_report.json`. This is what `SAM2ImagePredictor.set_image` and
`SAM2ImagePredictor._predict` run (sam2/sam2_image_predictor.py). Every traced file is reloaded
and compared with the eager model; the chain is then compared with the official predictor on a
640x480 image (unless --skip-official-check).

Without --checkpoint the weights are random (seeded; there is no hub access here) and are also
written as `random_weights.pt` in the official checkpoint layout ({"model": state_dict}), so the
official predictor can load exactly the weights Carve runs (`build_sam2(config, ckpt_path=...)`).
With --checkpoint (an official sam2.1_hiera_*.pt), the missing and unexpected keys are reported;
a checkpoint of another model size than --config stops with one line naming the right config.
"""
import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from torchscript_export import (CLICK_DECODER_OUTPUTS, CLICK_DECODER_TOL, PREPARED_CLICK_INPUTS, ClickDecoder,
                                ClickPrepare,
                                FastClickDecoder, PreparedClickDecoder, check_click_decoder_dynamic_n,
                                check_fast_decoder, check_prepared_decoder, compare, export_bf16_encoder,
                                finish_export, manifest_lines, return_freed_memory_to_the_os, trace_save_check)

DEFAULT_CONFIG = "sam2.1_hiera_t"
# The official checkpoints (https://github.com/facebookresearch/sam2, checkpoints/download_ckpts.sh).
CHECKPOINT_NAMES = {
    "sam2.1_hiera_t": "sam2.1_hiera_tiny.pt",
    "sam2.1_hiera_s": "sam2.1_hiera_small.pt",
    "sam2.1_hiera_b+": "sam2.1_hiera_base_plus.pt",
    "sam2.1_hiera_l": "sam2.1_hiera_large.pt",
}
# Key prefixes of the parameters the two exported files run: a checkpoint must fill all of them.
EXPORTED_PREFIXES = ("image_encoder.", "sam_prompt_encoder.", "sam_mask_decoder.", "no_mem_embed")
RANDOM_WEIGHTS = "random_weights.pt"


def fail(message: str):
    """One clear line on stderr, exit status 1."""
    raise SystemExit(f"export_sam2: error: {message}")


def sam2_package():
    try:
        import sam2  # noqa: F401  (initialises hydra with the package's configs)
    except ImportError:
        fail("the sam2 package is not installed: run scripts/setup.sh "
             "(it runs `SAM2_BUILD_CUDA=0 .venv/bin/pip install --no-build-isolation sam2==1.1.0`)")
    return Path(sam2.__file__).parent


def known_configs() -> dict:
    """Official config names -> config path as build_sam2 takes it (SAM 2.1 first, then SAM 2.0)."""
    root = sam2_package() / "configs"
    found = {}
    for family in ("sam2.1", "sam2"):
        for yaml in sorted((root / family).glob("*.yaml")):
            found[yaml.stem] = f"configs/{family}/{yaml.name}"
    return found


def resolve_config(name: str) -> tuple[str, str]:
    configs = known_configs()
    stem = Path(name).name.removesuffix(".yaml")
    if stem not in configs:
        fail(f"unknown config {name!r}: the sam2 package has {', '.join(configs)}")
    return stem, configs[stem]


def trunk_size(embed_dim: int, blocks: int) -> str:
    return f"Hiera trunk with embed_dim {embed_dim} and {blocks} blocks"


def config_trunks() -> dict:
    """Config name -> (embed_dim, number of trunk blocks), read from the YAML files."""
    import inspect

    from omegaconf import OmegaConf
    from sam2.modeling.backbones.hieradet import Hiera

    defaults = {k: p.default for k, p in inspect.signature(Hiera.__init__).parameters.items()}
    out = {}
    root = sam2_package()
    for name, rel in known_configs().items():
        trunk = OmegaConf.load(root / rel).model.image_encoder.trunk
        embed_dim = trunk.get("embed_dim", defaults["embed_dim"])
        stages = trunk.get("stages", defaults["stages"])
        out[name] = (int(embed_dim), int(sum(stages)))
    return out


def read_checkpoint(path: str) -> dict:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        fail(f"{path}: no such checkpoint file")
    except Exception as e:  # noqa: BLE001 - any unreadable file gets one line
        fail(f"{path}: not a PyTorch checkpoint that loads with weights_only=True ({type(e).__name__})")
    sd = ckpt.get("model") if isinstance(ckpt, dict) else None
    if not isinstance(sd, dict) or not sd:
        fail(f"{path}: not a SAM 2 checkpoint (no 'model' state dict inside)")
    return sd


def load_checkpoint(model, path: str, config: str, report: dict):
    """The official `_load_checkpoint` (build_sam.py) loads strictly and raises a bare RuntimeError;
    here a mismatch is named: another model size gives one line with the config that fits."""
    sd = read_checkpoint(path)
    own = model.state_dict()
    key = "image_encoder.trunk.patch_embed.proj.weight"
    blocks = {k.split(".")[3] for k in sd if k.startswith("image_encoder.trunk.blocks.")}
    ckpt_trunk = (int(sd[key].shape[0]), len(blocks)) if key in sd else None
    trunks = config_trunks()
    if ckpt_trunk is not None and ckpt_trunk != trunks[config]:
        fits = [n for n, t in trunks.items() if t == ckpt_trunk and n.startswith("sam2.1")] or \
               [n for n, t in trunks.items() if t == ckpt_trunk]
        hint = f"; use --config {fits[0]}" if fits else ""
        fail(f"{path} holds a different model size than --config {config}: its image encoder is a "
             f"{trunk_size(*ckpt_trunk)}, {config} has a {trunk_size(*trunks[config])}{hint}")
    shape_bad = [k for k in sd if k in own and tuple(sd[k].shape) != tuple(own[k].shape)]
    if shape_bad:
        k = shape_bad[0]
        fail(f"{path} does not fit --config {config}: {len(shape_bad)} tensors have other shapes "
             f"(e.g. {k}: {tuple(sd[k].shape)} in the checkpoint, {tuple(own[k].shape)} in the model)")
    missing, unexpected = model.load_state_dict(sd, strict=False)
    needed = [k for k in missing if k.startswith(EXPORTED_PREFIXES)]
    report["checkpoint"] = {"path": str(path), "missing_keys": list(missing), "unexpected_keys": list(unexpected),
                            "missing_exported_keys": needed}
    print(f"  checkpoint: {len(missing)} missing keys ({len(needed)} in exported modules), "
          f"{len(unexpected)} unexpected keys", flush=True)
    for k in list(missing)[:10]:
        print(f"    missing: {k}", flush=True)
    for k in list(unexpected)[:10]:
        print(f"    unexpected: {k}", flush=True)
    if needed:
        fail(f"{path} lacks weights the export needs ({len(needed)} keys, e.g. {needed[0]})")


def build_model(config: str, config_path: str, checkpoint: str | None, seed: int, report: dict):
    from sam2.build_sam import build_sam2

    torch.manual_seed(seed)
    # ckpt_path=None: random weights; the checkpoint (if any) is loaded below with named errors.
    model = build_sam2(config_path, ckpt_path=None, device="cpu", mode="eval")
    if checkpoint:
        load_checkpoint(model, checkpoint, config, report)
    model = model.eval()
    if not model.use_high_res_features_in_sam:
        fail(f"{config}: the exporter expects use_high_res_features_in_sam (every SAM 2/2.1 image config has it)")
    bad = [n for n, t in model.named_parameters() if not torch.isfinite(t).all()]
    if bad:
        fail("non-finite weights: " + ", ".join(bad[:5]))
    return model


class ImageEncoder(nn.Module):
    """image (1x3x1024x1024, normalised) -> image_embed, feat_s0, feat_s1.

    What SAM2ImagePredictor.set_image computes: SAM2Base.forward_image (Hiera trunk + FPN neck,
    then sam_mask_decoder.conv_s0 / conv_s1 on the two high-resolution levels) and
    `vision_feats[-1] + no_mem_embed` on the lowest-resolution level (directly_add_no_mem_embed).
    Holds only these weights (not the video memory modules)."""

    def __init__(self, model):
        super().__init__()
        self.image_encoder = model.image_encoder
        self.conv_s0 = model.sam_mask_decoder.conv_s0
        self.conv_s1 = model.sam_mask_decoder.conv_s1
        self.no_mem_embed = model.no_mem_embed  # 1x1x256
        self.add_no_mem_embed = bool(model.directly_add_no_mem_embed)
        self.levels = int(model.num_feature_levels)

    def forward(self, image):
        fpn = self.image_encoder(image)["backbone_fpn"][-self.levels:]
        s0 = self.conv_s0(fpn[0])
        s1 = self.conv_s1(fpn[1])
        embed = fpn[2]
        if self.add_no_mem_embed:
            embed = embed + self.no_mem_embed.view(1, -1, 1, 1)
        return embed, s0, s1


IO = {
    "image_encoder": (["image"], ["image_embed", "feat_s0", "feat_s1"]),
    "click_decoder": (["image_embed", "feat_s0", "feat_s1", "point_coords", "point_labels", "mask_input",
                       "has_mask_input"], CLICK_DECODER_OUTPUTS),
    "click_prepare": (["image_embed", "feat_s0", "feat_s1"], PREPARED_CLICK_INPUTS),
    "click_decoder_prepared": (PREPARED_CLICK_INPUTS + ["point_coords", "point_labels"], CLICK_DECODER_OUTPUTS),
}


def test_image_u8(width=640, height=480) -> np.ndarray:
    """HxWx3 uint8: smooth gradients, a disc and a checkerboard (no RNG)."""
    y, x = np.meshgrid(np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64), indexing="ij")
    disc = ((x - 300.0) ** 2 + (y - 220.0) ** 2) < 110.0 ** 2
    checker = (((x // 24) + (y // 24)) % 2 == 0) & (x > 450) & (y > 320)
    r = np.where(disc, 230.0, 127.5 + 100.0 * np.sin(x / 37.0))
    g = np.where(checker, 250.0, 127.5 + 100.0 * np.cos(y / 29.0) * np.sin(x / 53.0))
    b = (x + y) * 255.0 / (width + height)
    return np.clip(np.round(np.stack([r, g, b], axis=-1)), 0, 255).astype(np.uint8)


def preprocess(img_u8: np.ndarray, size: int) -> torch.Tensor:
    """SAM2Transforms (sam2/utils/transforms.py): ToTensor (x/255), Resize((size, size)) on the float
    tensor (bilinear, antialias), Normalize(ImageNet mean/std)."""
    x = torch.from_numpy(img_u8).permute(2, 0, 1).float().div(255.0)[None]
    x = torch.nn.functional.interpolate(x, (size, size), mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous()


def official_check(model, enc, clk, image_size, mask_size, report):
    """The official SAM2ImagePredictor on a 640x480 image against the reloaded files (and this
    script's SAM2Transforms replica, which Carve's Rust preprocessing mirrors)."""
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    img = test_image_u8()
    h, w = img.shape[:2]
    pred = SAM2ImagePredictor(model)
    with torch.no_grad():
        pred.set_image(img)
        want_x = pred._transforms(img)[None]
        x = preprocess(img, image_size)
        compare("official SAM2Transforms vs preprocess replica", x, want_x, 1e-5, report)
        feats = enc(x)
        official = (pred._features["image_embed"], *pred._features["high_res_feats"])
        compare("official set_image vs image_encoder (image_embed, feat_s0, feat_s1)", feats, official, 1e-4,
                report)
        sx, sy = image_size / w, image_size / h
        no_mask = torch.zeros(1, 1, mask_size, mask_size)
        cases = [
            ("click", np.array([[300.0, 220.0]]), np.array([1]), None, None, True),
            ("box+negative+mask, single", np.array([[420.0, 300.0]]), np.array([0]),
             np.array([180.0, 100.0, 430.0, 340.0]), "click", False),
        ]
        low = {}
        for name, pts, lbl, box, mask_from, multi in cases:
            mask_in = low[mask_from] if mask_from else None
            masks, iou, low_res = pred.predict(point_coords=pts, point_labels=lbl, box=box,
                                               mask_input=None if mask_in is None else mask_in.numpy(),
                                               multimask_output=multi, return_logits=True)
            coords = [[float(b[0]) * sx, float(b[1]) * sy] for b in (box.reshape(2, 2) if box is not None else [])]
            coords += [[float(p[0]) * sx, float(p[1]) * sy] for p in pts]
            labels = ([2, 3] if box is not None else []) + [int(v) for v in lbl]
            got = clk(*feats, torch.tensor([coords], dtype=torch.float32), torch.tensor([labels]),
                      no_mask if mask_in is None else mask_in[None], torch.tensor([0.0 if mask_in is None else 1.0]))
            lo, sc = (got[0], got[1]) if multi else (got[3], got[4])
            up = torch.nn.functional.interpolate(lo, (h, w), mode="bilinear", align_corners=False)
            compare(f"official predict({name}) vs click_decoder: low-res logits (clamped +-32)",
                    lo.clamp(-32, 32)[0], torch.from_numpy(low_res), 1e-4, report)
            compare(f"official predict({name}) vs click_decoder: logits at {w}x{h}", up[0], torch.from_numpy(masks),
                    1e-4, report)
            compare(f"official predict({name}) vs click_decoder: iou", sc[0], torch.from_numpy(iou), 1e-5, report)
            best = int(np.argmax(iou))
            low[name] = torch.from_numpy(low_res[best:best + 1])


def write_manifest(out_dir: Path, config: str, checkpoint, image_size: int, mask_size: int, feature_size: int,
                   bf16: bool):
    if checkpoint:
        name, weights = f"SAM 2.1 {config.removeprefix('sam2.1_')} ({Path(checkpoint).name})", "checkpoint"
    else:
        name, weights = f"SAM 2.1 {config.removeprefix('sam2.1_')} (random weights)", "random"
    desc = (f"Made by tools/export_sam2.py from sam2 1.1.0, config {config}"
            + (f", weights from {Path(checkpoint).name}" if checkpoint else f", random weights (also in {RANDOM_WEIGHTS})")
            + ". See tools/SAM2_EXPORT_NOTES.md.")
    io = {**IO, **({"image_encoder_bf16": IO["image_encoder"]} if bf16 else {})}
    files = {role: f"{role}.pt" for role in io}
    lines = manifest_lines("sam2", name, weights, desc, files, image_size, [0.485, 0.456, 0.406],
                           [0.229, 0.224, 0.225], io)
    lines += [
        "[config]",
        f"config = {json.dumps(config)}",
        'resize_from = "float"     # SAM2Transforms: ToTensor (x/255), then Resize on the float image',
        f"mask_size = {mask_size}",
        f"feature_size = {feature_size}",
        "num_multimask_outputs = 3",
        "max_points = 0            # 0 = any N >= 1 (the click decoder is traced with a dynamic N)",
        "point_label_negative = 0",
        "point_label_positive = 1",
        "point_label_box_top_left = 2",
        "point_label_box_bottom_right = 3",
        "mask_threshold = 0.0",
        "mask_input_clamp = 32.0   # clamp low-res logits to [-32, 32] before feeding back as mask_input",
        "max_hole_area = 0         # SAM2ImagePredictor default: no hole filling",
    ]
    if not checkpoint:
        lines.append(f"source_state_dict = {json.dumps(RANDOM_WEIGHTS)}")
    (out_dir / "manifest.toml").write_text("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path, help="model folder to write")
    ap.add_argument("--config", default=DEFAULT_CONFIG,
                    help=f"official config name (default {DEFAULT_CONFIG}; also sam2.1_hiera_s, sam2.1_hiera_b+, "
                         "sam2.1_hiera_l)")
    ap.add_argument("--checkpoint", default=None, help="official sam2.1_hiera_*.pt to load (else random weights)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    ap.add_argument("--seed", type=int, default=0, help="seed for the random weights")
    ap.add_argument("--skip-official-check", action="store_true",
                    help="skip the comparison with SAM2ImagePredictor (saves one encoder run)")
    ap.add_argument("--no-bf16", action="store_true",
                    help="do not write image_encoder_bf16.pt (the bf16 encoder, for CPUs with AMX / AVX-512-BF16)")
    args = ap.parse_args()

    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    return_freed_memory_to_the_os()
    torch.set_num_threads(args.threads)
    config, config_path = resolve_config(args.config)
    if args.checkpoint and not Path(args.checkpoint).is_file():
        fail(f"{args.checkpoint}: no such checkpoint file")
    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    timings, report, ckpt_report = {}, [], {}
    t_start = time.perf_counter()

    print(f"building SAM 2 {config} ({'checkpoint ' + args.checkpoint if args.checkpoint else 'random weights'}) ...",
          flush=True)
    t0 = time.perf_counter()
    model = build_model(config, config_path, args.checkpoint, args.seed, ckpt_report)
    timings["build_s"] = round(time.perf_counter() - t0, 3)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"  {n_params / 1e6:.1f} M parameters, built in {timings['build_s']:.1f}s", flush=True)
    if not args.checkpoint:
        torch.save({"model": model.state_dict()}, out_dir / RANDOM_WEIGHTS)

    image_size = int(model.image_size)
    image = preprocess(test_image_u8(), image_size)

    print("image_encoder ...", flush=True)
    enc_w = ImageEncoder(model).eval()
    enc, feats = trace_save_check("image_encoder", enc_w, (image,), out_dir, timings, report)
    feature_size = int(feats[0].shape[-1])
    mask_size = 4 * feature_size

    print("click_decoder ...", flush=True)
    clk_w = FastClickDecoder(model.sam_prompt_encoder, model.sam_mask_decoder).eval()
    check_fast_decoder(clk_w, ClickDecoder(model.sam_prompt_encoder, model.sam_mask_decoder).eval(), feats,
                       image_size, 4 * int(feats[0].shape[-1]), report)
    coords = torch.tensor([[[500.0, 400.0], [300.0, 250.0], [700.0, 650.0]]])
    labels = torch.tensor([[1, 2, 3]], dtype=torch.int64)
    clk, clk_out = trace_save_check("click_decoder", clk_w,
                                    (*feats, coords, labels, torch.zeros(1, 1, mask_size, mask_size), torch.zeros(1)),
                                    out_dir, timings, report, tol=CLICK_DECODER_TOL)
    if int(clk_out[0].shape[-1]) != mask_size:
        fail(f"click decoder masks are {tuple(clk_out[0].shape)}, expected {mask_size}x{mask_size}")
    check_click_decoder_dynamic_n(clk, clk_w, feats, image_size, mask_size, report)

    print("click_prepare + click_decoder_prepared (prompts without a mask input) ...", flush=True)
    prep, prepared = trace_save_check("click_prepare", ClickPrepare(clk_w).eval(), feats, out_dir, timings, report)
    dec_p, _ = trace_save_check("click_decoder_prepared", PreparedClickDecoder(clk_w).eval(),
                                (*prepared, coords, labels), out_dir, timings, report, tol=CLICK_DECODER_TOL)
    check_prepared_decoder(prep, dec_p, clk_w, feats, image_size, mask_size, report)

    if not args.skip_official_check:
        print("cross-check with the official SAM2ImagePredictor ...", flush=True)
        t0 = time.perf_counter()
        official_check(model, enc, clk, image_size, mask_size, report)
        timings["official_check_s"] = round(time.perf_counter() - t0, 3)

    if not args.no_bf16:
        # Last: the conversion changes the model's own encoder layers in place.
        print("image_encoder_bf16 ...", flush=True)
        export_bf16_encoder(ImageEncoder(model).eval(), (image,), feats, out_dir, timings, report)

    write_manifest(out_dir, config, args.checkpoint, image_size, mask_size, feature_size, bf16=not args.no_bf16)
    finish_export(out_dir, t_start, timings, report, args.threads, n_params, {"config": config, **ckpt_report})


if __name__ == "__main__":
    main()

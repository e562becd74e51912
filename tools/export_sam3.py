#!/usr/bin/env python3
"""Export Meta's SAM 3 (PyPI package `sam3` 0.1.4) as TorchScript files for Carve.

    .venv/bin/python tools/export_sam3.py --out DIR [--tiny] [--checkpoint sam3.pt] [--threads N]

Builds the SAM 3 image model with the official builder
(`sam3.model_builder.build_sam3_image_model(..., enable_inst_interactivity=True)`) on the CPU and
traces six modules with `torch.jit.trace`:

  image_encoder.pt      image 1x3x1008x1008 (resized + normalised)  -> 6 feature maps
  click_decoder.pt      cached SAM-2-style features + clicks/box/mask -> 3 (+1) mask logits, IoU, object score
  click_prepare.pt      those features -> the click decoder's per-image part (run once per image)
  click_decoder_prepared.pt  that + clicks/box (no mask input)       -> the same outputs as click_decoder
  image_encoder_bf16.pt the image encoder in bf16 (weights and matmuls; fp32 outputs), unless --no-bf16
  text_encoder.pt       CLIP BPE ids 1x32 int64                      -> text features + padding mask
  grounding_decoder.pt  image features + text features              -> 200 queries: logits, boxes, masks, presence

plus `bpe_simple_vocab_16e6.txt.gz` (copied from the installed open_clip package) and `manifest.toml`.
Every traced file is reloaded with `torch.jit.load` and compared with the eager model; the whole
traced chain is also compared with the official high-level API (`Sam3Processor.set_image`,
`Sam3Image.predict_inst`, `Sam3Image.forward_grounding`). See tools/SAM3_EXPORT_NOTES.md.

Without --checkpoint the weights are random (there is no hub access). --tiny builds the same
classes with fewer/narrower layers (same input size and same tensor interface), for tests.
"""
import argparse
import contextlib
import copy
import gc
import shutil
import sys
import time
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from torchscript_export import (CLICK_DECODER_OUTPUTS, CLICK_DECODER_TOL, PREPARED_CLICK_INPUTS, ClickDecoder,
                                ClickPrepare,
                                FastClickDecoder, PreparedClickDecoder, check_click_decoder_dynamic_n,
                                check_fast_decoder, check_prepared_decoder, compare, export_bf16_encoder,
                                finish_export, manifest_lines, peak_rss_mb, return_freed_memory_to_the_os,
                                trace_save_check)

IMAGE_SIZE = 1008
CONTEXT_LENGTH = 32
VOCAB_NAME = "bpe_simple_vocab_16e6.txt.gz"

# Reduced sizes for --tiny. Everything not listed keeps the official value, in particular the
# 1008 input, patch 14, window 24, d_model 256, 200 queries, 32-token context, 49408 vocabulary,
# so the tiny model has exactly the same tensor interface as the full one.
TINY = {
    "vit": dict(embed_dim=64, depth=4, num_heads=2, global_att_blocks=(1, 3)),  # 1024/32/16/(7,15,23,31)
    "text": dict(width=64, heads=2, layers=2),  # 1024/16/24
    "fusion_encoder_layers": 1,  # 6
    "decoder_layers": 2,  # 6
    "geometry_layers": 1,  # 3
    "dim_feedforward": 256,  # 2048 (fusion encoder, decoder, geometry encoder, tracker layers)
    "mlp_hidden": 256,  # 2048 (dot-product scoring prompt MLP)
    "tracker_layers": 1,  # 4 (memory attention; not exported, only built)
}


# ----------------------------------------------------------------------------------------------
# CPU shim: sam3 0.1.4 hard-codes CUDA in many places.
# ----------------------------------------------------------------------------------------------
def _is_cuda(dev) -> bool:
    if isinstance(dev, torch.device):
        return dev.type == "cuda"
    if isinstance(dev, str):
        return dev.startswith("cuda")
    return False


class _CpuDeviceMode(torch.overrides.TorchFunctionMode):
    """Rewrites device="cuda" (kwarg, or positional in Tensor.to) to the CPU."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if "device" in kwargs and _is_cuda(kwargs["device"]):
            kwargs["device"] = "cpu"
        if func is torch.Tensor.to and any(_is_cuda(a) for a in args[1:]):
            args = tuple("cpu" if _is_cuda(a) else a for a in args)
        return func(*args, **kwargs)


@contextlib.contextmanager
def cpu_only():
    saved = (torch.cuda.is_available, torch.Tensor.cuda, nn.Module.cuda, torch.Tensor.pin_memory)
    torch.cuda.is_available = lambda: False
    torch.Tensor.cuda = lambda self, *a, **k: self
    nn.Module.cuda = lambda self, *a, **k: self
    torch.Tensor.pin_memory = lambda self, *a, **k: self
    try:
        with _CpuDeviceMode():
            yield
    finally:
        (torch.cuda.is_available, torch.Tensor.cuda, nn.Module.cuda, torch.Tensor.pin_memory) = saved


# ----------------------------------------------------------------------------------------------
# Building
# ----------------------------------------------------------------------------------------------
def vocab_path() -> Path:
    import open_clip

    p = Path(open_clip.__file__).parent / VOCAB_NAME
    if not p.exists():
        sys.exit(f"{p} not found: install open_clip_torch (it ships the CLIP BPE vocabulary)")
    return p


@contextlib.contextmanager
def tiny_builder():
    """Temporarily replace the constructors *as seen by sam3.model_builder* so that the official
    `_create_*` helpers build the same classes with the TINY overrides (all other arguments stay
    the official ones)."""
    import sam3.model_builder as mb

    def override(cls, fn):
        def make(*args, **kwargs):
            return cls(*args, **fn(dict(kwargs)))

        return make

    def vit(kw):
        kw.update(TINY["vit"])
        return kw

    def text(kw):
        kw.update(TINY["text"])
        return kw

    def ffn(kw):
        if kw.get("dim_feedforward") == 2048:
            kw["dim_feedforward"] = TINY["dim_feedforward"]
        return kw

    def fusion(kw):
        kw["num_layers"] = TINY["fusion_encoder_layers"]
        return kw

    def decoder(kw):
        kw["num_layers"] = TINY["decoder_layers"]
        return kw

    def geometry(kw):
        kw["num_layers"] = TINY["geometry_layers"]
        return kw

    def tracker(kw):
        kw["num_layers"] = TINY["tracker_layers"]
        return kw

    def mlp(kw):
        if kw.get("hidden_dim") == 2048:
            kw["hidden_dim"] = TINY["mlp_hidden"]
        return kw

    names = {
        "ViT": vit,
        "VETextEncoder": text,
        "TransformerEncoderLayer": ffn,
        "TransformerDecoderLayer": ffn,
        "TransformerDecoderLayerv2": ffn,
        "TransformerEncoderFusion": fusion,
        "TransformerDecoder": decoder,
        "SequenceGeometryEncoder": geometry,
        "TransformerEncoderCrossAttention": tracker,
        "MLP": mlp,
    }
    saved = {n: getattr(mb, n) for n in names}
    for n, fn in names.items():
        setattr(mb, n, override(saved[n], fn))
    try:
        yield
    finally:
        for n, cls in saved.items():
            setattr(mb, n, cls)


# Parameters (prefixes of state_dict keys) the four exported files run. A checkpoint must fill
# all of them; TextTransformer.text_projection is computed but unused (pool_type="none"), so it
# may be absent.
EXPORTED_PREFIXES = (
    "backbone.vision_backbone.", "backbone.language_backbone.", "transformer.", "geometry_encoder.",
    "segmentation_head.", "dot_prod_scoring.", "inst_interactive_predictor.model.sam_prompt_encoder.",
    "inst_interactive_predictor.model.sam_mask_decoder.", "inst_interactive_predictor.model.no_mem_embed",
)
UNUSED_KEYS = ("backbone.language_backbone.encoder.text_projection",)


def init_uninitialised(model):
    """TextTransformer creates positional_embedding and text_projection with torch.empty and
    never initialises them (the checkpoint always overwrites them). With random weights that
    leaves garbage (often NaN) that differs run to run; give them open_clip's init instead."""
    enc = model.backbone.language_backbone.encoder
    with torch.no_grad():
        nn.init.normal_(enc.positional_embedding, std=0.01)
        nn.init.normal_(enc.text_projection, std=enc.width ** -0.5)


def build_model(tiny: bool, checkpoint: str | None, report: dict):
    """Official builder, random weights; then (optionally) the official checkpoint loader
    `sam3.model_builder._load_checkpoint` — the same two steps build_sam3_image_model does when
    given checkpoint_path (it loads after building, with strict=False)."""
    import sam3.model_builder as mb

    ctx = tiny_builder() if tiny else contextlib.nullcontext()
    with ctx:
        model = mb.build_sam3_image_model(
            bpe_path=str(vocab_path()),
            device="cpu",
            eval_mode=True,
            checkpoint_path=None,
            load_from_HF=False,
            enable_segmentation=True,
            enable_inst_interactivity=True,
            compile=False,
        )
    init_uninitialised(model)
    if checkpoint:
        results = []
        orig = model.load_state_dict

        def capture(*a, **k):
            res = orig(*a, **k)
            results.append(res)
            return res

        model.load_state_dict = capture
        try:
            mb._load_checkpoint(model, checkpoint)
        finally:
            del model.load_state_dict
        missing, unexpected = results[-1]
        report["checkpoint"] = {"path": str(checkpoint), "missing_keys": list(missing),
                                "unexpected_keys": list(unexpected)}
        bad = [k for k in missing if k.startswith(EXPORTED_PREFIXES) and k not in UNUSED_KEYS]
        report["checkpoint"]["missing_exported_keys"] = bad
        print(f"  checkpoint: {len(missing)} missing keys ({len(bad)} in exported modules), "
              f"{len(unexpected)} unexpected keys", flush=True)
        if bad:
            raise SystemExit("checkpoint lacks weights the export needs: " + ", ".join(bad[:20])
                             + (" ..." if len(bad) > 20 else ""))
    model = model.eval()
    bad = [n for n, t in model.named_parameters() if not torch.isfinite(t).all()]
    bad += [n for n, t in model.named_buffers() if t.is_floating_point() and torch.isnan(t).any()]
    if bad:
        raise SystemExit("non-finite weights: " + ", ".join(bad[:20]))
    return model


def module_without(mod: nn.Module, drop) -> nn.Module:
    """Shallow copy of `mod` whose listed child modules are None (shares all other children and
    parameters). Used so a traced wrapper only holds — and saves — the weights it runs."""
    new = copy.copy(mod)
    new._modules = OrderedDict((k, (None if k in drop else v)) for k, v in mod._modules.items())
    return new


# ----------------------------------------------------------------------------------------------
# Wrappers (one per exported file)
# ----------------------------------------------------------------------------------------------
class ImageEncoder(nn.Module):
    """image (1x3x1008x1008, normalised) -> fpn0, fpn1, fpn2, sam_feat_s0, sam_feat_s1, sam_image_embed.

    Mirrors Sam3Processor.set_image (sam3/model/sam3_image_processor.py) which runs
    SAM3VLBackbone.forward_image and then applies sam_mask_decoder.conv_s0/conv_s1 to the SAM 2
    branch, plus the `+ no_mem_embed` that Sam3Image.predict_inst adds to the lowest-resolution
    SAM 2 level before calling the interactive predictor."""

    def __init__(self, model):
        super().__init__()
        from sam3.model.vl_combiner import SAM3VLBackbone

        bb = model.backbone
        # same vision neck (shared weights), no language backbone
        self.backbone = SAM3VLBackbone(visual=bb.vision_backbone, text=None, scalp=bb.scalp)
        tracker = model.inst_interactive_predictor.model
        self.conv_s0 = tracker.sam_mask_decoder.conv_s0
        self.conv_s1 = tracker.sam_mask_decoder.conv_s1
        self.no_mem_embed = tracker.no_mem_embed  # 1x1x256

    def forward(self, image):
        out = self.backbone.forward_image(image)
        fpn = out["backbone_fpn"]
        sam2 = out["sam2_backbone_out"]["backbone_fpn"]
        s0 = self.conv_s0(sam2[0])
        s1 = self.conv_s1(sam2[1])
        c = self.no_mem_embed.shape[-1]
        embed = sam2[2] + self.no_mem_embed.view(1, c, 1, 1)
        return fpn[0], fpn[1], fpn[2], s0, s1, embed


class TextEncoder(nn.Module):
    """VETextEncoder.forward (sam3/model/text_encoder_ve.py) after tokenisation."""

    def __init__(self, model):
        super().__init__()
        self.text = model.backbone.language_backbone

    def forward(self, token_ids):
        te = self.text
        # official: text_attention_mask = (tokenized != 0).bool() ... .ne(1)  -> True = padding
        padding = (token_ids != 0).bool().ne(1)
        _, text_memory = te.encoder(token_ids)  # [b, seq, width]
        text_memory = te.resizer(text_memory.transpose(0, 1))  # [seq, b, 256]
        return text_memory, padding.to(torch.int64)


class GroundingDecoder(nn.Module):
    """Sam3Image.forward_grounding (sam3/model/sam3_image.py) with a text prompt and the empty
    geometric prompt Sam3Processor uses (`Sam3Image._get_dummy_prompt`)."""

    def __init__(self, model, pos_enc_last):
        super().__init__()
        # the detector without backbone and without the interactive (click) predictor
        self.det = module_without(model, {"backbone", "inst_interactive_predictor"})
        self.det.inst_interactive_predictor = None
        self.register_buffer("pos_enc", pos_enc_last.clone())  # constant sine encoding, 1x256x72x72

    def forward(self, fpn0, fpn1, fpn2, text_features, text_mask):
        from sam3.model.data_misc import FindStage
        from sam3.model.geometry_encoders import Prompt

        det = self.det
        dev = fpn2.device
        find_input = FindStage(
            img_ids=torch.zeros(1, dtype=torch.long, device=dev),
            text_ids=torch.zeros(1, dtype=torch.long, device=dev),
            input_boxes=None, input_boxes_mask=None, input_boxes_label=None,
            input_points=None, input_points_mask=None,
        )
        geometric_prompt = Prompt(
            box_embeddings=torch.zeros(0, 1, 4, device=dev),
            box_mask=torch.zeros(1, 0, device=dev, dtype=torch.bool),
        )
        backbone_out = {
            "backbone_fpn": [fpn0, fpn1, fpn2],
            # the detector only reads the last level (num_feature_levels = 1)
            "vision_pos_enc": [self.pos_enc, self.pos_enc, self.pos_enc],
            "language_features": text_features,
            "language_mask": text_mask.bool(),
        }
        out = det.forward_grounding(
            backbone_out=backbone_out, find_input=find_input, find_target=None,
            geometric_prompt=geometric_prompt,
        )
        return (out["pred_logits"], out["pred_boxes"], out["pred_masks"],
                out["presence_logit_dec"], out["semantic_seg"])


@contextlib.contextmanager
def no_box_pooling(model):
    """With an empty box prompt SequenceGeometryEncoder._encode_boxes still calls
    torchvision.ops.roi_align on zero boxes; that op would land in the graph as
    `torchvision::roi_align`, which plain libtorch (tch) cannot load. Its result is an empty
    tensor added to empty tensors, so dropping the box-pooling branch is exact for this case."""
    geo = model.geometry_encoder
    saved = geo.boxes_pool_project
    geo.boxes_pool_project = None
    try:
        yield
    finally:
        geo.boxes_pool_project = saved


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------
def deterministic_image_u8() -> np.ndarray:
    """1008x1008x3 uint8 test image: smooth gradients + rings (no RNG, reproducible anywhere)."""
    y, x = np.meshgrid(np.arange(IMAGE_SIZE, dtype=np.float64), np.arange(IMAGE_SIZE, dtype=np.float64),
                       indexing="ij")
    r = np.sqrt((x - 500.0) ** 2 + (y - 400.0) ** 2)
    red = 255.0 * (r < 180)
    g = 127.5 + 127.5 * np.sin(x / 37.0) * np.cos(y / 53.0)
    b = (x + y) * 255.0 / (2 * (IMAGE_SIZE - 1))
    img = np.stack([np.maximum(red, 0.3 * g), g * (r >= 180), b], axis=-1)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def normalise(img_u8: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 (already 1008x1008) -> 1x3xHxW float, (x/255 - 0.5)/0.5."""
    t = torch.from_numpy(img_u8).permute(2, 0, 1).float().div(255.0)
    return ((t - 0.5) / 0.5).unsqueeze(0).contiguous()


def tokenize(texts, path=None):
    from sam3.model.tokenizer_ve import SimpleTokenizer

    tok = SimpleTokenizer(bpe_path=str(path or vocab_path()))
    return tok(texts, context_length=CONTEXT_LENGTH)


IO = {
    "image_encoder": (["image"],
                      ["fpn0", "fpn1", "fpn2", "sam_feat_s0", "sam_feat_s1", "sam_image_embed"]),
    "click_decoder": (["sam_image_embed", "sam_feat_s0", "sam_feat_s1", "point_coords", "point_labels",
                       "mask_input", "has_mask_input"], CLICK_DECODER_OUTPUTS),
    "click_prepare": (["sam_image_embed", "sam_feat_s0", "sam_feat_s1"], PREPARED_CLICK_INPUTS),
    "click_decoder_prepared": (PREPARED_CLICK_INPUTS + ["point_coords", "point_labels"], CLICK_DECODER_OUTPUTS),
    "text_encoder": (["token_ids"], ["text_features", "text_mask"]),
    "grounding_decoder": (["fpn0", "fpn1", "fpn2", "text_features", "text_mask"],
                          ["pred_logits", "pred_boxes", "pred_masks", "presence_logit", "semantic_seg"]),
}


def write_manifest(out_dir: Path, tiny: bool, checkpoint, tok_ids, mask_size, num_queries, bf16: bool):
    if checkpoint:
        name, weights = "SAM 3 (checkpoint)", "checkpoint"
    elif tiny:
        name, weights = "SAM 3 (tiny, random weights)", "random"
    else:
        name, weights = "SAM 3 (full, random weights)", "random"
    desc = ("Made by tools/export_sam3.py from sam3 0.1.4 "
            + ("(--tiny: reduced depth/width, same interface; for tests only)" if tiny else "(official sizes)")
            + (f" with weights from {Path(checkpoint).name}" if checkpoint else ", random weights")
            + ". See tools/SAM3_EXPORT_NOTES.md.")
    io = {**IO, **({"image_encoder_bf16": IO["image_encoder"]} if bf16 else {})}
    files = {**{role: f"{role}.pt" for role in io}, "vocab": VOCAB_NAME}
    lines = manifest_lines("sam3", name, weights, desc, files, IMAGE_SIZE, [0.5] * 3, [0.5] * 3, io)
    lines += [
        "[config]",
        f"context_length = {CONTEXT_LENGTH}",
        f"mask_size = {mask_size}",
        f"num_queries = {num_queries}",
        f"feature_size = {IMAGE_SIZE // 14}",
        f"sot_token_id = {tok_ids['sot']}",
        f"eot_token_id = {tok_ids['eot']}",
        "pad_token_id = 0",
        f"vocab_size = {tok_ids['vocab_size']}",
        "num_multimask_outputs = 3",
        "max_points = 0            # 0 = any N >= 1 (the click decoder is traced with a dynamic N)",
        "point_label_negative = 0",
        "point_label_positive = 1",
        "point_label_box_top_left = 2",
        "point_label_box_bottom_right = 3",
        "point_label_padding = -1",
        "mask_threshold = 0.0",
        "mask_input_clamp = 32.0   # clamp low-res logits to [-32, 32] before feeding back as mask_input",
        "max_hole_area = 256       # official click post-processing (hole filling at 288x288, see notes)",
        "score_threshold = 0.5     # Sam3Processor default confidence_threshold",
        'box_format = "cxcywh_normalized"',
        f"tiny = {'true' if tiny else 'false'}",
    ]
    (out_dir / "manifest.toml").write_text("\n".join(lines) + "\n")


# ----------------------------------------------------------------------------------------------
# Cross-check against the official high-level API
# ----------------------------------------------------------------------------------------------
def official_check(model, img_u8, feats, traced, report):
    """Run Sam3Processor / predict_inst / forward_grounding (the official API) on the same
    image and compare with the chain of reloaded TorchScript files. `feats` are the image
    encoder's outputs from the export, which its reloaded file reproduced with tolerance 0 (checked
    when it was saved), so they stand for the file here: loading it again beside the official model
    was the export's memory peak."""
    from PIL import Image
    from sam3.model.sam3_image_processor import Sam3Processor

    clk, prep, dec_p, txt_path, grd = traced
    proc = Sam3Processor(model, resolution=IMAGE_SIZE, device="cpu", confidence_threshold=0.5)
    with torch.no_grad():
        state = proc.set_image(Image.fromarray(img_u8))
        sam3_fpn = state["backbone_out"]["backbone_fpn"]
        sam2_fpn = state["backbone_out"]["sam2_backbone_out"]["backbone_fpn"]
        compare("official set_image vs image_encoder (fpn0..2, s0, s1)",
                feats[:5], (sam3_fpn[0], sam3_fpn[1], sam3_fpn[2], sam2_fpn[0], sam2_fpn[1]),
                1e-4, report)

        # click: one positive point, multimask
        pts = np.array([[500.0, 400.0]], dtype=np.float32)
        lbl = np.array([1], dtype=np.int64)
        _m, iou_off, low_off = model.predict_inst(state, point_coords=pts, point_labels=lbl,
                                                  multimask_output=True, return_logits=True)
        got = clk(feats[5], feats[3], feats[4], torch.from_numpy(pts)[None], torch.from_numpy(lbl)[None],
                  torch.zeros(1, 1, 288, 288), torch.zeros(1))
        compare("official predict_inst(point) vs click_decoder: low-res logits (clamped +-32)",
                got[0].clamp(-32, 32)[0], torch.from_numpy(low_off), 1e-4, report)
        compare("official predict_inst(point) vs click_decoder: iou", got[1][0], torch.from_numpy(iou_off),
                1e-5, report)
        got_p = dec_p(*prep(feats[5], feats[3], feats[4]), torch.from_numpy(pts)[None], torch.from_numpy(lbl)[None])
        compare("official predict_inst(point) vs click_prepare + click_decoder_prepared: low-res logits",
                got_p[0].clamp(-32, 32)[0], torch.from_numpy(low_off), 1e-4, report)

        # click: box + negative point + mask input, single-mask output
        box = np.array([300.0, 250.0, 700.0, 650.0], dtype=np.float32)
        pts2 = np.array([[620.0, 600.0]], dtype=np.float32)
        lbl2 = np.array([0], dtype=np.int64)
        mask_in = torch.from_numpy(low_off[0:1])  # 1x288x288
        _m, iou_off2, low_off2 = model.predict_inst(state, point_coords=pts2, point_labels=lbl2, box=box,
                                                    mask_input=mask_in.numpy(), multimask_output=False,
                                                    return_logits=True)
        coords = torch.cat([torch.from_numpy(box).view(1, 2, 2), torch.from_numpy(pts2)[None]], dim=1)
        labels = torch.tensor([[2, 3, 0]], dtype=torch.int64)
        got2 = clk(feats[5], feats[3], feats[4], coords, labels, mask_in[None], torch.ones(1))
        compare("official predict_inst(box+neg+mask, single) vs click_decoder single_mask",
                got2[3].clamp(-32, 32)[0], torch.from_numpy(low_off2), 1e-4, report)
        compare("official predict_inst(box+neg+mask, single) vs click_decoder single_iou",
                got2[4][0], torch.from_numpy(iou_off2), 1e-5, report)

        # text grounding
        text_out = model.backbone.forward_text(["red ball"], device="cpu")
        ids = tokenize(["red ball"])
        # Loaded only now (1.4 GB at full size), after the encoder's run has been freed: holding both
        # beside the official model was the export's peak (9.1 GB).
        txt = torch.jit.load(str(txt_path))
        tf, tm = txt(ids)
        del txt
        compare("official forward_text vs text_encoder (features)", tf, text_out["language_features"],
                1e-4, report)
        compare("official forward_text vs text_encoder (mask)", tm.bool(), text_out["language_mask"], 0,
                report)
        state["backbone_out"].update(text_out)
        with no_box_pooling(model):
            out = model.forward_grounding(backbone_out=state["backbone_out"], find_input=proc.find_stage,
                                          geometric_prompt=model._get_dummy_prompt(), find_target=None)
        g = grd(feats[0], feats[1], feats[2], tf, tm)
        compare("official forward_grounding vs grounding_decoder (logits, boxes, presence)",
                (g[0], g[1], g[3]), (out["pred_logits"], out["pred_boxes"], out["presence_logit_dec"]),
                1e-4, report)
        compare("official forward_grounding vs grounding_decoder (masks)", g[2], out["pred_masks"], 1e-3,
                report)


# ----------------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path, help="model folder to write")
    ap.add_argument("--tiny", action="store_true", help="reduced depth/width (tests)")
    ap.add_argument("--checkpoint", default=None, help="official sam3.pt to load (else random weights)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    ap.add_argument("--seed", type=int, default=0, help="seed for the random weights")
    ap.add_argument("--skip-official-check", action="store_true",
                    help="skip the comparison with Sam3Processor/predict_inst (saves one encoder run)")
    ap.add_argument("--no-bf16", action="store_true",
                    help="do not write image_encoder_bf16.pt (the bf16 encoder: ~3x faster on CPUs with AMX / "
                         "AVX-512-BF16, half the memory; +0.9 GB on disk at full size)")
    args = ap.parse_args()

    # Shape-derived Python constants (fixed 1008 input, 72x72 grid, 32 tokens) trigger TracerWarnings
    # that are expected; every graph is re-checked against the eager model below instead.
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    warnings.filterwarnings("ignore", message="CUDA is not available or torch_xla is imported")
    return_freed_memory_to_the_os()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    timings, report, ckpt_report = {}, [], {}
    t_start = time.perf_counter()

    with cpu_only():
        print(f"building SAM 3 ({'tiny' if args.tiny else 'full'}, "
              f"{'checkpoint ' + args.checkpoint if args.checkpoint else 'random weights'}) ...", flush=True)
        t0 = time.perf_counter()
        model = build_model(args.tiny, args.checkpoint, ckpt_report)
        timings["build_s"] = round(time.perf_counter() - t0, 3)
        n_params = sum(p.numel() for p in model.parameters())
        print(f"  {n_params / 1e6:.1f} M parameters, built in {timings['build_s']:.1f}s, "
              f"peak RSS {peak_rss_mb():.0f} MB", flush=True)

        img_u8 = deterministic_image_u8()
        image = normalise(img_u8)

        print("image_encoder ...", flush=True)
        enc_w = ImageEncoder(model).eval()
        _, feats = trace_save_check("image_encoder", enc_w, (image,), out_dir, timings, report, keep=False)
        with torch.no_grad():
            pos_enc_last = model.backbone.vision_backbone.position_encoding(feats[2]).to(feats[2].dtype)
        del enc_w

        print("click_decoder ...", flush=True)
        tracker = model.inst_interactive_predictor.model
        clk_w = FastClickDecoder(tracker.sam_prompt_encoder, tracker.sam_mask_decoder).eval()
        sam_feats = (feats[5], feats[3], feats[4])
        check_fast_decoder(clk_w, ClickDecoder(tracker.sam_prompt_encoder, tracker.sam_mask_decoder).eval(),
                           sam_feats, IMAGE_SIZE, 288, report)
        coords = torch.tensor([[[500.0, 400.0], [300.0, 250.0], [700.0, 650.0]]])
        labels = torch.tensor([[1, 2, 3]], dtype=torch.int64)
        mask_in = torch.zeros(1, 1, 288, 288)
        has_mask = torch.zeros(1)
        clk, _ = trace_save_check("click_decoder", clk_w,
                                  (feats[5], feats[3], feats[4], coords, labels, mask_in, has_mask),
                                  out_dir, timings, report, tol=CLICK_DECODER_TOL)
        check_click_decoder_dynamic_n(clk, clk_w, sam_feats, IMAGE_SIZE, 288, report)
        print("click_prepare + click_decoder_prepared (prompts without a mask input) ...", flush=True)
        prep, prepared = trace_save_check("click_prepare", ClickPrepare(clk_w).eval(), sam_feats, out_dir, timings,
                                          report)
        dec_p, _ = trace_save_check("click_decoder_prepared", PreparedClickDecoder(clk_w).eval(),
                                    (*prepared, coords, labels), out_dir, timings, report, tol=CLICK_DECODER_TOL)
        check_prepared_decoder(prep, dec_p, clk_w, sam_feats, IMAGE_SIZE, 288, report)
        del prepared

        print("text_encoder ...", flush=True)
        txt_w = TextEncoder(model).eval()
        ids = tokenize(["red ball"])
        txt, tout = trace_save_check("text_encoder", txt_w, (ids,), out_dir, timings, report)
        ids2 = tokenize(["a much longer prompt with several words, punctuation & numbers 123!"])
        with torch.no_grad():
            compare("text_encoder other text vs eager", txt(ids2), txt_w(ids2), 1e-5, report)

        print("grounding_decoder ...", flush=True)
        grd_w = GroundingDecoder(model, pos_enc_last).eval()
        with no_box_pooling(model):
            grd, gout = trace_save_check("grounding_decoder", grd_w,
                                         (feats[0], feats[1], feats[2], tout[0], tout[1]),
                                         out_dir, timings, report)
            with torch.no_grad():
                t2 = txt(ids2)
                compare("grounding_decoder other text vs eager", grd(feats[0], feats[1], feats[2], *t2),
                        grd_w(feats[0], feats[1], feats[2], *t2), 1e-4, report)

        del txt, t2  # the official check loads the text encoder again when it needs it
        mask_size = int(gout[2].shape[-1])
        num_queries = int(gout[0].shape[1])

        if not args.skip_official_check:
            print("cross-check with the official API (Sam3Processor, predict_inst, forward_grounding) ...",
                  flush=True)
            t0 = time.perf_counter()
            official_check(model, img_u8, feats, (clk, prep, dec_p, out_dir / "text_encoder.pt", grd), report)
            timings["official_check_s"] = round(time.perf_counter() - t0, 3)
        del clk, prep, dec_p, grd

        if not args.no_bf16:
            # Last: the conversion changes the model's own backbone layers in place. Only the
            # encoder's parts are kept for it (the text encoder alone is 1.4 GB at full size).
            print("image_encoder_bf16 ...", flush=True)
            enc_b = ImageEncoder(model).eval()
            del model, tracker, clk_w, txt_w, grd_w, gout, tout
            gc.collect()
            export_bf16_encoder(enc_b, (image,), feats, out_dir, timings, report)

    from sam3.model.tokenizer_ve import SimpleTokenizer

    tok = SimpleTokenizer(bpe_path=str(vocab_path()))
    shutil.copyfile(vocab_path(), out_dir / VOCAB_NAME)
    write_manifest(out_dir, args.tiny, args.checkpoint,
                   {"sot": tok.sot_token_id, "eot": tok.eot_token_id, "vocab_size": tok.vocab_size},
                   mask_size, num_queries, bf16=not args.no_bf16)

    finish_export(out_dir, t_start, timings, report, args.threads, n_params, ckpt_report)


if __name__ == "__main__":
    main()

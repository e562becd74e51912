#!/usr/bin/env python3
"""Export Meta's SAM 2.1 (PyPI package `sam2` 1.1.0) as TorchScript files for Carve.

    .venv/bin/python tools/export_sam2.py --out DIR [--config sam2.1_hiera_t] [--checkpoint sam2.1_hiera_tiny.pt]
                                         [--threads 2] [--seed 0] [--skip-official-check]

Builds the model with the official builder (`sam2.build_sam.build_sam2(configs/sam2.1/NAME.yaml)`,
the package's own configs: sam2.1_hiera_t, sam2.1_hiera_s, sam2.1_hiera_b+, sam2.1_hiera_l) on
the CPU and traces four modules with `torch.jit.trace`:

  image_encoder.pt           image 1x3x1024x1024 (resized + normalised) -> image_embed (+ no_mem_embed), feat_s0, feat_s1
  click_decoder.pt           those features + clicks/box corners/mask   -> 3 mask logits + IoU, object score, single mask
  click_prepare.pt           those features -> what the decoder needs of the image alone (once per image)
  click_decoder_prepared.pt  that + clicks/box corners (no mask input)  -> the same five outputs as click_decoder

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

from torchscript_export import (CLICK_DECODER_OUTPUTS, ClickDecoder, check_click_decoder_dynamic_n, compare,
                                finish_export, manifest_lines, trace_save_check)

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


def _deconv_as_matmul(dc):
    """ConvTranspose2d(kernel 2, stride 2) as a matrix: out[o, 2y+i, 2x+j] = b[o] +
    sum_c W[c, o, i, j] in[c, y, x], i.e. (h*w x c_in) @ (c_in x (i, j, o)) then a pixel shuffle."""
    if tuple(dc.kernel_size) != (2, 2) or tuple(dc.stride) != (2, 2) or tuple(dc.padding) != (0, 0):
        fail(f"unexpected output upscaling layer {dc}")
    w = dc.weight.detach()  # c_in x c_out x 2 x 2
    return w.permute(0, 2, 3, 1).reshape(w.shape[0], 4 * w.shape[1]).contiguous(), dc.bias.detach().repeat(4), w.shape[1]


def _attend_few_keys(attn, q, k, v):
    """`Attention.forward` (sam2/modeling/sam/transformer.py) with the product written out: for
    4096 image queries over ~10 prompt tokens, softmax(q k^T / sqrt(d)) v as two small matrix
    products is several times faster on the CPU than `scaled_dot_product_attention`."""
    return _few_keys_product(attn, _heads(attn, attn.q_proj, q), _heads(attn, attn.k_proj, k),
                             _heads(attn, attn.v_proj, v))


def _few_keys_product(attn, q, k, v):
    """The rest of `_attend_few_keys` on projected, head-separated q, k, v."""
    # Scores as keys x queries, so that the softmax runs over a non-innermost dimension of ~10
    # with 4096 contiguous queries inside (torch's softmax over an innermost dimension of 8 is 20x
    # slower on the CPU); the product with v reads the transpose without a copy.
    scores = (k @ q.transpose(-2, -1)) * (q.shape[-1] ** -0.5)
    return attn.out_proj(attn._recombine_heads(torch.softmax(scores, dim=-2).transpose(-2, -1) @ v))


def _heads(attn, linear, x):
    return attn._separate_heads(linear(x), attn.num_heads)


def _two_way_block(layer, queries, keys, query_pe, key_pe):
    """`TwoWayAttentionBlock.forward`, the image-to-token attention through `_attend_few_keys` and
    `keys + key_pe` computed once (the official block adds it twice to the same keys)."""
    if layer.skip_first_layer_pe:
        queries = layer.self_attn(q=queries, k=queries, v=queries)
    else:
        q = queries + query_pe
        queries = queries + layer.self_attn(q=q, k=q, v=queries)
    queries = layer.norm1(queries)
    k = keys + key_pe
    queries = layer.norm2(queries + layer.cross_attn_token_to_image(q=queries + query_pe, k=k, v=keys))
    queries = layer.norm3(queries + layer.mlp(queries))
    keys = layer.norm4(keys + _attend_few_keys(layer.cross_attn_image_to_token, k, queries + query_pe, queries))
    return queries, keys


class FastClickDecoder(nn.Module):
    """The same function as `ClickDecoder` (tools/torchscript_export.py: the official
    `MaskDecoder.predict_masks` + `_dynamic_multimask_via_stability`), same inputs and outputs,
    batch 1, rearranged for the CPU (measured: 55 -> ~32 ms per decode for tiny on 2 cores, BENCHMARKS.md):

    * the dense positional encoding (`get_dense_pe()`, a constant of the weights) is computed once
      and kept in token layout, instead of recomputed and `repeat_interleave`d every call;
    * the image tokens stay in token layout (h*w x 256) from the transformer to the upscaler; the
      two ConvTranspose2d(2, 2) are matrix products with the bias fused (`addmm`) and a pixel
      shuffle, in channels-last, so the high-resolution features are added without the layout
      round trips that cost ~10 ms (LayerNorm2d over channels = layer_norm over the last dim);
    * the image-to-token attention (4096 queries, ~10 keys) as two small matrix products instead
      of the flash-attention kernel (`_two_way_block`);
    * the official attention modules' weights, the heads and hypernetwork MLPs are used as they are.

    The export checks it against `ClickDecoder` on random inputs (several N, with and without mask
    input) and, with the official check, against `SAM2ImagePredictor` itself."""

    def __init__(self, prompt_encoder, mask_decoder):
        super().__init__()
        md = mask_decoder
        if not (md.pred_obj_scores and md.use_high_res_features):
            fail("the fast click decoder expects pred_obj_scores and use_high_res_features (every SAM 2.1 image config)")
        self.prompt_encoder, self.mask_decoder = prompt_encoder, md
        self.h, self.w = prompt_encoder.image_embedding_size
        with torch.no_grad():
            pe = prompt_encoder.get_dense_pe()
        self.register_buffer("pos_tokens", pe.flatten(2).permute(0, 2, 1).contiguous())
        dc1, ln1, _act1, dc2, _act2 = md.output_upscaling
        w1, b1, self.c1 = _deconv_as_matmul(dc1)
        w2, b2, self.c2 = _deconv_as_matmul(dc2)
        self.register_buffer("w1", w1)
        self.register_buffer("b1", b1)
        self.register_buffer("w2", w2)
        self.register_buffer("b2", b2)
        self.ln1 = ln1

    def forward(self, image_embed, feat_s0, feat_s1, point_coords, point_labels, mask_input, has_mask_input):
        pe, md, h, w = self.prompt_encoder, self.mask_decoder, self.h, self.w
        sparse, dense_mask = pe(points=(point_coords, point_labels), boxes=None, masks=mask_input)
        dense_none = pe.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(1, -1, h, w)
        dense = torch.where(has_mask_input.reshape(1, 1, 1, 1) > 0.5, dense_mask, dense_none)
        output_tokens = torch.cat([md.obj_score_token.weight, md.iou_token.weight, md.mask_tokens.weight], 0)
        tokens = torch.cat((output_tokens.unsqueeze(0), sparse), dim=1)
        # TwoWayTransformer.forward, with the image in token layout throughout.
        t = md.transformer
        queries, keys = tokens, (image_embed + dense).flatten(2).permute(0, 2, 1).contiguous()
        for layer in t.layers:
            queries, keys = _two_way_block(layer, queries, keys, tokens, self.pos_tokens)
        return self.finish(queries, keys, tokens, _channels_last(feat_s0), _channels_last(feat_s1))

    def finish(self, queries, keys, tokens, fs0, fs1):
        """The final token-to-image attention, output upscaling (high-resolution features `fs0`,
        `fs1` as (h*w) x c, channels last), heads and the stability selection."""
        md, t, h, w = self.mask_decoder, self.mask_decoder.transformer, self.h, self.w
        attn = t.final_attn_token_to_image(q=queries + tokens, k=keys + self.pos_tokens, v=keys)
        hs = t.norm_final_attn(queries + attn)
        mask_tokens_out = hs[:, 2:2 + md.num_mask_tokens, :]
        # output_upscaling: dc1, LayerNorm2d(+ feat_s1), GELU, dc2 (+ feat_s0), GELU — channels-last.
        x = torch.addmm(self.b1, keys[0], self.w1)
        x = x.view(h, w, 2, 2, self.c1).permute(0, 2, 1, 3, 4).reshape(4 * h * w, self.c1)
        x = F.gelu(F.layer_norm(x + fs1, (self.c1,), self.ln1.weight, self.ln1.bias, self.ln1.eps))
        x = torch.addmm(self.b2, x, self.w2)
        x = x.view(2 * h, 2 * w, 2, 2, self.c2).permute(0, 2, 1, 3, 4).reshape(16 * h * w, self.c2)
        x = F.gelu(x + fs0)
        hyper_in = torch.stack([md.output_hypernetworks_mlps[i](mask_tokens_out[:, i, :])
                                for i in range(md.num_mask_tokens)], dim=1)
        masks = (hyper_in[0] @ x.t()).view(1, -1, 4 * h, 4 * w)
        iou = md.iou_prediction_head(hs[:, 1, :])
        obj = md.pred_obj_score_head(hs[:, 0, :])
        single_mask, single_iou = md._dynamic_multimask_via_stability(masks, iou)
        return masks[:, 1:], iou[:, 1:], obj, single_mask, single_iou


def _channels_last(feat):
    """1 x c x h x w -> (h*w) x c."""
    return feat[0].permute(1, 2, 0).reshape(-1, feat.shape[1])


class ClickPrepare(nn.Module):
    """Everything of the click decoder that depends on the image alone, computed once per image
    (`set_image`) instead of on every click — for prompts without a mask input, where the image
    tokens entering the transformer are `image_embed + no_mask_embed`: those tokens, the first
    block's key/value projections for the token-to-image attention and its query projection for
    the image-to-token attention (three 4096 x 256 -> 128 products), and the high-resolution
    features in the upscaler's channels-last layout. Measured ~6 ms of ~33 per click (tiny, 2
    threads); `PreparedClickDecoder` finishes the decode, bit-identical to `FastClickDecoder`."""

    def __init__(self, fast: FastClickDecoder):
        super().__init__()
        first = fast.mask_decoder.transformer.layers[0]
        # Only the weights this step reads (the file stays ~1 MB, not a second decoder).
        self.t2i, self.i2t = first.cross_attn_token_to_image, first.cross_attn_image_to_token
        self.no_mask_embed = fast.prompt_encoder.no_mask_embed
        self.register_buffer("pos_tokens", fast.pos_tokens)

    def forward(self, image_embed, feat_s0, feat_s1):
        keys = (image_embed + self.no_mask_embed.weight.reshape(1, -1, 1, 1)).flatten(2).permute(0, 2, 1).contiguous()
        k = keys + self.pos_tokens
        t2i, i2t = self.t2i, self.i2t
        return (keys, _heads(t2i, t2i.k_proj, k), _heads(t2i, t2i.v_proj, keys), _heads(i2t, i2t.q_proj, k),
                _channels_last(feat_s0).contiguous(), _channels_last(feat_s1).contiguous())


class PreparedClickDecoder(nn.Module):
    """`FastClickDecoder` without a mask input, on `ClickPrepare`'s outputs: the first block
    written out with the precomputed projections (`TwoWayAttentionBlock.forward`, the attention
    modules' own weights for everything that depends on the prompt), then the same blocks and
    `finish` as the fast decoder."""

    def __init__(self, fast: FastClickDecoder):
        super().__init__()
        self.fast = fast

    def forward(self, keys, t2i_k, t2i_v, i2t_q, fs0, fs1, point_coords, point_labels):
        f = self.fast
        pe, md = f.prompt_encoder, f.mask_decoder
        sparse = pe._embed_points(point_coords, point_labels, pad=True)  # boxes=None -> pad, as pe(...)
        output_tokens = torch.cat([md.obj_score_token.weight, md.iou_token.weight, md.mask_tokens.weight], 0)
        tokens = torch.cat((output_tokens.unsqueeze(0), sparse), dim=1)
        layers = md.transformer.layers
        first = layers[0]
        queries = tokens
        if first.skip_first_layer_pe:
            queries = first.self_attn(q=queries, k=queries, v=queries)
        else:
            q = queries + tokens
            queries = queries + first.self_attn(q=q, k=q, v=queries)
        queries = first.norm1(queries)
        t2i = first.cross_attn_token_to_image
        q = _heads(t2i, t2i.q_proj, queries + tokens)
        attn = t2i.out_proj(t2i._recombine_heads(F.scaled_dot_product_attention(q, t2i_k, t2i_v)))
        queries = first.norm2(queries + attn)
        queries = first.norm3(queries + first.mlp(queries))
        i2t = first.cross_attn_image_to_token
        attn = _few_keys_product(i2t, i2t_q, _heads(i2t, i2t.k_proj, queries + tokens), _heads(i2t, i2t.v_proj, queries))
        keys = first.norm4(keys + attn)
        for layer in layers[1:]:
            queries, keys = _two_way_block(layer, queries, keys, tokens, f.pos_tokens)
        return f.finish(queries, keys, tokens, fs0, fs1)


def check_fast_decoder(fast, reference, feats, image_size, mask_size, report, tol=1e-4):
    """The rearranged decoder against the official predict_masks path, eager, random prompts."""
    g = torch.Generator().manual_seed(2)
    for n in (1, 2, 5):
        c = torch.rand(1, n, 2, generator=g) * image_size
        lab = torch.randint(0, 2, (1, n), generator=g)
        if n >= 5:
            lab[0, :2] = torch.tensor([2, 3])
        for hm in (0.0, 1.0):
            m = torch.randn(1, 1, mask_size, mask_size, generator=g) * 5
            with torch.no_grad():
                got = fast(*feats, c, lab, m, torch.tensor([hm]))
                want = reference(*feats, c, lab, m, torch.tensor([hm]))
            compare(f"fast click decoder vs official predict_masks, N={n} has_mask={int(hm)}", got, want, tol, report)


def check_prepared_decoder(prep, dec_p, fast, feats, image_size, mask_size, report):
    """The reloaded prepare + prepared decoder pair against the eager fast decoder without a mask
    input, N = 1, 2, 5, 9 (box corners first for N >= 5): the same operations on the same
    values, so the tolerance is 0."""
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        prepared = prep(*feats)
        for n in (1, 2, 5, 9):
            c = torch.rand(1, n, 2, generator=g) * image_size
            lab = torch.randint(0, 2, (1, n), generator=g)
            if n >= 5:
                lab[0, :2] = torch.tensor([2, 3])
            want = fast(*feats, c, lab, torch.zeros(1, 1, mask_size, mask_size), torch.zeros(1))
            compare(f"click_decoder_prepared N={n} vs fast decoder without mask", dec_p(*prepared, c, lab), want, 0.0,
                    report)


PREPARED = ["image_tokens", "t2i_k", "t2i_v", "i2t_q", "feat_s0_tokens", "feat_s1_tokens"]
IO = {
    "image_encoder": (["image"], ["image_embed", "feat_s0", "feat_s1"]),
    "click_decoder": (["image_embed", "feat_s0", "feat_s1", "point_coords", "point_labels", "mask_input",
                       "has_mask_input"], CLICK_DECODER_OUTPUTS),
    "click_prepare": (["image_embed", "feat_s0", "feat_s1"], PREPARED),
    "click_decoder_prepared": (PREPARED + ["point_coords", "point_labels"], CLICK_DECODER_OUTPUTS),
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


def write_manifest(out_dir: Path, config: str, checkpoint, image_size: int, mask_size: int, feature_size: int):
    if checkpoint:
        name, weights = f"SAM 2.1 {config.removeprefix('sam2.1_')} ({Path(checkpoint).name})", "checkpoint"
    else:
        name, weights = f"SAM 2.1 {config.removeprefix('sam2.1_')} (random weights)", "random"
    desc = (f"Made by tools/export_sam2.py from sam2 1.1.0, config {config}"
            + (f", weights from {Path(checkpoint).name}" if checkpoint else f", random weights (also in {RANDOM_WEIGHTS})")
            + ". See tools/SAM2_EXPORT_NOTES.md.")
    files = {role: f"{role}.pt" for role in IO}
    lines = manifest_lines("sam2", name, weights, desc, files, image_size, [0.485, 0.456, 0.406],
                           [0.229, 0.224, 0.225], IO)
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
    args = ap.parse_args()

    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
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
                                    out_dir, timings, report)
    if int(clk_out[0].shape[-1]) != mask_size:
        fail(f"click decoder masks are {tuple(clk_out[0].shape)}, expected {mask_size}x{mask_size}")
    check_click_decoder_dynamic_n(clk, clk_w, feats, image_size, mask_size, report)

    print("click_prepare + click_decoder_prepared (prompts without a mask input) ...", flush=True)
    prep, prepared = trace_save_check("click_prepare", ClickPrepare(clk_w).eval(), feats, out_dir, timings, report)
    dec_p, _ = trace_save_check("click_decoder_prepared", PreparedClickDecoder(clk_w).eval(),
                                (*prepared, coords, labels), out_dir, timings, report)
    check_prepared_decoder(prep, dec_p, clk_w, feats, image_size, mask_size, report)

    if not args.skip_official_check:
        print("cross-check with the official SAM2ImagePredictor ...", flush=True)
        t0 = time.perf_counter()
        official_check(model, enc, clk, image_size, mask_size, report)
        timings["official_check_s"] = round(time.perf_counter() - t0, 3)

    write_manifest(out_dir, config, args.checkpoint, image_size, mask_size, feature_size)
    finish_export(out_dir, t_start, timings, report, args.threads, n_params, {"config": config, **ckpt_report})


if __name__ == "__main__":
    main()

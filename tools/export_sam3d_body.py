"""SAM 3D Body (official `sam_3d_body` code) -> a Carve model folder of TorchScript pieces, for the
body branch (photo + person box [+ mask] -> MHR parameters, keypoints, camera).

    .venv/bin/python tools/export_sam3d_body.py --repo SAM3D_BODY_REPO --dinov3-repo DINOV3_REPO \
        --mhr mhr_model.pt --out DIR [--config model_config.yaml] [--checkpoint model.ckpt] [--tiny]

The official model cannot be one graph: MHR (`mhr_model.pt`) runs between the decoder's layers and
its keypoints feed the next layer's tokens. So the folder holds the pieces and the loop runs in the
caller (Carve's `body::sam3d_predict`; here `run_loop`, which the check below runs):

    features                      = encoder(crop)                                   once
    image, image_pe, tokens, tokens_pe, image_flat, image_pe_flat
                                  = prepare(features, affine, cam_int, box_centre, box_scale,
                                            image_size, mask, mask_score, keypoints)  once
    for i in 0..6:  tokens, image_flat = layer_i(tokens, image_flat, tokens_pe, image_pe_flat)
                    identity, model, expression = head(tokens)        # MHR's inputs
                    vertices_cm, skeleton = mhr_model.pt(identity, model, expression)
                    outputs = post(tokens, vertices_cm, skeleton, affine, cam_int, box_centre,
                                   box_scale, image_size)             # keypoints, camera, params
                    if i < 5: tokens, tokens_pe = keypoint_update(tokens, tokens_pe, image,
                                   kp2d_cropped, kp2d_depth, kp3d)

Every piece wraps the official modules and methods (`SAM3DBody.forward_decoder`'s preparation,
`TransformerDecoderLayer`, `MHRHead.forward`, `camera_project`, `keypoint_token_update_fn`, …);
the MHR call inside `MHRHead.forward` is replaced by a module that records its inputs (`head`) or
replays given outputs (`post`), so the official code itself is traced on both sides of it.

Checks (export_report.json; the script exits non-zero when one fails): each piece reloaded from its
file equals the eager piece (tolerance 0, fp32), and the loop over the reloaded pieces equals the
official eager `SAM3DBody.forward_step(batch, "body")` (what `SAM3DBodyEstimator.process_one_image
(..., inference_type="body")` runs) on a random photo, box and mask: every output key.

`--tiny` builds the same classes narrower and shallower (DINOv3 ViT with 2 blocks of width 128,
decoder width 128 with its 6 layers) for tests. Without `--checkpoint` the weights are random and
the MHR head's buffers (which the checkpoint fills) get seeded random values of the right kind.
The official source is imported from the folders named, never copied (see ../shared/vendor).
Hands (full mode: hand crops and the hand decoder) are not exported yet.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torchscript_export import (compare, finish_export, manifest_lines, peak_rss_mb,  # noqa: E402
                                return_freed_memory_to_the_os, trace_save_check)

KEYPOINTS = 70
DEPTH_LAYERS = 6
TINY_BACKBONE = dict(embed_dim=128, depth=2, num_heads=4)
TINY_DECODER = dict(DIM=128, HEADS=4, DIM_HEAD=32, MLP_DIM=256)


def import_official(repo: Path, dinov3_repo: Path, tiny: bool):
    """Makes the official package importable and its DINOv3 hub call local (no network)."""
    os.environ["MOMENTUM_ENABLED"] = "0"  # set = use torch.jit.load(mhr_model.pt) (the check reads inverted)
    sys.path.insert(0, str(repo))
    sys.path.insert(0, str(dinov3_repo))
    def hub_load(_repo, name, *args, **kwargs):  # the builder's torch.hub.load("facebookresearch/dinov3", ...)
        kwargs.pop("source", None)
        kwargs["pretrained"] = False
        if tiny:
            from dinov3.hub import backbones

            spec = dict(img_size=224, patch_size=16, in_chans=3, pos_embed_rope_base=100,
                        pos_embed_rope_normalize_coords="separate", pos_embed_rope_rescale_coords=2,
                        pos_embed_rope_dtype="fp32", ffn_ratio=6.0, qkv_bias=True, drop_path_rate=0.0,
                        layerscale_init=1.0e-05, norm_layer="layernormbf16", ffn_layer="swiglu",
                        ffn_bias=True, proj_bias=True, n_storage_tokens=4, mask_k_bias=True,
                        compact_arch_name="vithplus", pretrained=False, **TINY_BACKBONE)
            return backbones._make_dinov3_vit(**spec)
        # The hub entry of that name, from the folder (hubconf.py itself imports every DINOv3
        # head, segmentation and detection included, and their dependencies).
        from dinov3.hub import backbones

        entry = getattr(backbones, name, None)
        if entry is None:
            sys.exit(f"{dinov3_repo}: no DINOv3 backbone named {name}")
        return entry(*args, **kwargs)

    torch.hub.load = hub_load


def cpu_only():
    """The official code calls `.cuda()` in a few places; on a CPU machine those are no-ops."""
    torch.Tensor.cuda = lambda self, *a, **k: self


def build(args):
    from sam_3d_body.models.meta_arch import SAM3DBody
    from sam_3d_body.utils.config import get_config
    from sam_3d_body.utils.checkpoint import load_state_dict

    cfg = get_config(str(args.config))
    cfg.defrost()
    cfg.MODEL.MHR_HEAD.MHR_MODEL_PATH = str(args.mhr)
    cfg.TRAIN.USE_FP16 = False
    if args.tiny:
        for k, v in TINY_DECODER.items():
            cfg.MODEL.DECODER[k] = v
    cfg.freeze()
    torch.manual_seed(args.seed)
    model = SAM3DBody(cfg)
    report = {}
    if args.checkpoint:
        ckpt = torch.load(str(args.checkpoint), map_location="cpu", weights_only=False)
        state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else ckpt
        own = set(model.state_dict().keys())
        given = set(state.keys())
        report = {"missing_keys": sorted(own - given), "unexpected_keys": sorted(given - own)}
        print(f"checkpoint {args.checkpoint}: {len(given & own)} keys loaded, {len(report['missing_keys'])} "
              f"missing, {len(report['unexpected_keys'])} unexpected", flush=True)
        required = [k for k in report["missing_keys"] if not k.startswith("head_pose.mhr.")
                    and not k.startswith("head_pose_hand.mhr.")]
        if required:
            sys.exit(f"{args.checkpoint}: missing required keys, e.g. {required[:5]} ({len(required)} in all)")
        load_state_dict(model, state, strict=False)
    else:
        fill_zero_parameters(model, args.seed)
        fill_head_buffers(model, args.seed)
    model.eval()
    return model, cfg, report


def fill_zero_parameters(model, seed):
    """Random weights keep the official zero initialisations (the mask prompt's last conv and
    no-mask embedding, layer scales, the initial camera, ...), which would make those paths add
    nothing, so that a test could not tell whether they are wired. Give every all-zero trainable
    parameter small seeded values instead."""
    g = torch.Generator().manual_seed(seed + 2)
    for _, p in sorted(model.named_parameters()):
        if p.requires_grad and p.is_floating_point() and not p.detach().any():
            p.data = 0.02 * torch.randn(p.shape, generator=g)


def fill_head_buffers(model, seed):
    """Random weights leave the MHR head's data buffers (filled by the checkpoint) at zero, which
    would make every keypoint zero; give them seeded values of the right kind instead."""
    g = torch.Generator().manual_seed(seed + 1)
    for head in (model.head_pose, model.head_pose_hand):
        v_j = head.keypoint_mapping.shape[1]
        mapping = torch.zeros_like(head.keypoint_mapping)
        for row in range(mapping.shape[0]):
            cols = torch.randint(0, v_j, (3,), generator=g)
            w = torch.rand(3, generator=g) + 0.1
            mapping[row, cols] = w / w.sum()
        head.keypoint_mapping.data = mapping
        head.scale_comps.data = 0.1 * torch.randn(head.scale_comps.shape, generator=g)
        head.scale_mean.data = 0.05 * torch.randn(head.scale_mean.shape, generator=g)
        head.hand_pose_mean.data = 0.1 * torch.randn(head.hand_pose_mean.shape, generator=g)
        # Hand pose parameters go to two disjoint sets of 27 body-pose slots (6..135).
        slots = torch.randperm(130, generator=g)[:54] + 6
        head.hand_joint_idxs_left.data = slots[:27].clone()
        head.hand_joint_idxs_right.data = slots[27:].clone()


class _Piece(nn.Module):
    """A piece calls official methods of the model (`self.m`, not a submodule, so a traced piece
    does not hold the whole model) and registers the submodules those methods use, so their
    weights are the piece's parameters."""

    def __init__(self, model, uses):
        super().__init__()
        object.__setattr__(self, "m", model)
        for name in uses:
            module = model
            for part in name.split("."):
                module = getattr(module, part)
            self.add_module(name.replace(".", "_"), module)


class Encoder(nn.Module):
    """crop [1,3,S,S] RGB in 0..1 -> features [1,C,S/16,S/16] (`data_preprocess` + backbone)."""

    def __init__(self, model):
        super().__init__()
        self.backbone = model.backbone
        self.register_buffer("mean", model.image_mean.clone())
        self.register_buffer("std", model.image_std.clone())

    def forward(self, crop):
        return self.backbone((crop - self.mean) / self.std)


class _Batch:
    """The official methods read a `batch` dict of [1 image, 1 person, ...] tensors."""

    @staticmethod
    def make(size, affine, cam_int, box_centre, box_scale, image_size, mask=None, mask_score=None):
        batch = {
            "img": torch.zeros(1, 1, 0, size, size),  # only its shape and dtype are read
            "affine_trans": affine.view(1, 1, 2, 3),
            "cam_int": cam_int.view(1, 3, 3),
            "bbox_center": box_centre.view(1, 1, 2),
            "bbox_scale": box_scale.view(1, 1, 2),
            "ori_img_size": image_size.view(1, 1, 2),
            "img_size": torch.full((1, 1, 2), float(size)),
        }
        if mask is not None:
            batch["mask"] = mask.view(1, 1, 1, size, size)
            batch["mask_score"] = mask_score.view(1, 1)
        return batch


class _Capture(nn.Module):
    """Stands in for `head.mhr`: records MHR's inputs, returns zeros of MHR's output shapes."""

    def __init__(self, vertices, joints):
        super().__init__()
        self.vertices, self.joints, self.seen = vertices, joints, None

    def forward(self, identity, model, expression):
        self.seen = (identity, model, expression)
        return torch.zeros(1, self.vertices, 3), torch.zeros(1, self.joints, 8)


class _Replay(nn.Module):
    """Stands in for `head.mhr`: returns the MHR outputs it was given."""

    def __init__(self):
        super().__init__()
        self.given = None

    def forward(self, identity, model, expression):
        return self.given


class Bf16Encoder(nn.Module):
    """The encoder as `torch.autocast("cpu", torch.bfloat16)` runs it: Linear/Conv weights stored
    in bf16 (autocast rounds them on every call anyway), traced under autocast so the casts are in
    the graph, fp32 features out (the other pieces see the fp32 interface)."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, crop):
        return self.encoder(crop).float()


def export_bf16(encoder, inputs, fp32_features, out_dir, timings, report, max_rel_err=0.05):
    """`encoder_bf16.pt` (reloaded = eager autocast at tolerance 0) and its mean relative error
    against the fp32 features."""
    _, out = trace_save_check("encoder_bf16", Bf16Encoder(encoder).eval(), inputs, out_dir, timings, report,
                              keep=False, trace_ctx=lambda: torch.autocast("cpu", dtype=torch.bfloat16))
    rel = float((out.float() - fp32_features).abs().mean() / fp32_features.abs().mean().clamp_min(1e-12))
    report.append({"check": "encoder_bf16: mean relative error vs fp32", "max_abs_diff": rel, "tol": max_rel_err,
                   "ok": rel <= max_rel_err})
    print(f"  [{'ok' if rel <= max_rel_err else 'FAIL'}] encoder_bf16: mean relative error vs fp32 {rel:.4f} "
          f"(tol {max_rel_err})", flush=True)


class Prepare(_Piece):
    """Everything of `forward_pose_branch` + `forward_decoder` between the backbone and the first
    decoder layer: ray condition, mask prompt, CLIFF condition, initial/previous/prompt tokens,
    hand-box and keypoint tokens and their positional terms."""

    def __init__(self, model, size):
        super().__init__(model, ["prompt_encoder", "ray_cond_emb", "init_to_token_mhr", "prev_to_token_mhr",
                                 "prompt_to_token", "init_pose", "init_camera", "hand_box_embedding",
                                 "keypoint_embedding", "keypoint3d_embedding"])
        self.size = size
        object.__setattr__(self, "stop", _StopDecoder())

    def forward(self, features, affine, cam_int, box_centre, box_scale, image_size, mask, mask_score, keypoints):
        return self.run(features, affine, cam_int, box_centre, box_scale, image_size, mask, mask_score, keypoints,
                        None)

    def run(self, features, affine, cam_int, box_centre, box_scale, image_size, mask, mask_score, keypoints,
            previous):
        m = self.m
        batch = _Batch.make(self.size, affine, cam_int, box_centre, box_scale, image_size, mask, mask_score)
        m._initialize_batch({"img": batch["img"], "person_valid": torch.ones(1, 1)})
        m.body_batch_idx, m.hand_batch_idx = [0], []
        batch["ray_cond"] = m._flatten_person(m.get_ray_condition(batch))
        image = features + m._get_mask_prompt(batch, features)
        condition = m._get_decoder_condition(batch)
        real_decoder = m.decoder
        m.decoder = self.stop
        try:
            _, seen = m.forward_decoder(image, init_estimate=None, keypoints=keypoints, prev_estimate=previous,
                                        condition_info=condition, batch=batch)
        finally:
            m.decoder = real_decoder
        tokens, image_c, tokens_pe, image_pe = seen
        return (image_c, tokens, tokens_pe, image_c.flatten(2).permute(0, 2, 1),
                image_pe.flatten(2).permute(0, 2, 1))


class PreparePrompt(Prepare):
    """`Prepare` for a keypoint-prompt pass (`SAM3DBody.run_keypoint_prompt`): N clicks
    (`[1, N, 3]`: x, y in the crop as 0..1, the keypoint's index 0..69) and the previous pass's
    estimate (`[1, 1, 522]`: pred_pose_raw, shape, scale, hand, face, pred_cam) as the previous
    token. One file per N: the prompt encoder's shapes follow N."""

    def forward(self, features, affine, cam_int, box_centre, box_scale, image_size, mask, mask_score, keypoints,
                previous):
        return self.run(features, affine, cam_int, box_centre, box_scale, image_size, mask, mask_score, keypoints,
                        previous)


PREVIOUS_KEYS = ["pred_pose_raw", "shape", "scale", "hand", "face", "pred_cam"]
MAX_CLICKS = 4


def previous_estimate(out):
    """The previous estimate `run_keypoint_prompt` feeds back, from a pass's outputs."""
    return torch.cat([out[k] for k in PREVIOUS_KEYS], dim=1).unsqueeze(1)


class _StopDecoder(nn.Module):
    """Stands in for the decoder inside `forward_decoder`: hands back what it was given."""

    def forward(self, token_embedding, image_embedding, token_augment, image_augment, token_mask,
                token_to_pose_output_fn=None, keypoint_token_update_fn=None):
        return token_embedding, (token_embedding, image_embedding, token_augment, image_augment)


class Layer(nn.Module):
    """One `TransformerDecoderLayer` (image tokens flattened, channels last)."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, tokens, image, tokens_pe, image_pe):
        return self.layer(tokens, image, tokens_pe, image_pe, None)


def _pose_output(m, tokens):
    """The official `token_to_pose_output_fn` up to the camera projection (its `init_pose` and
    `init_camera` are the learnt initial estimates)."""
    pose_token = m.decoder.norm_final(tokens)[:, 0]
    out = m.head_pose(pose_token, m.init_pose.weight.view(1, -1))
    out["pred_cam"] = m.head_camera(pose_token, m.init_camera.weight.view(1, -1))
    return out


HEAD_USES = ["head_pose", "head_camera", "decoder.norm_final", "init_pose", "init_camera"]


class Head(_Piece):
    """tokens -> MHR's inputs (identity [1,45], model parameters [1,204], expression [1,72])."""

    def __init__(self, model, vertices, joints):
        super().__init__(model, HEAD_USES)
        object.__setattr__(self, "capture", _Capture(vertices, joints))

    def forward(self, tokens):
        real = self.m.head_pose.mhr
        self.m.head_pose.mhr = self.capture
        try:
            _pose_output(self.m, tokens)
        finally:
            self.m.head_pose.mhr = real
        return self.capture.seen


POST_OUTPUTS = ["pred_pose_raw", "global_rot", "body_pose", "shape", "scale", "hand", "face",
                "pred_keypoints_3d", "pred_vertices", "pred_joint_coords", "joint_global_rots",
                "mhr_model_params", "pred_cam", "pred_cam_t", "focal_length", "pred_keypoints_2d",
                "pred_keypoints_2d_depth", "pred_keypoints_2d_cropped", "hand_box", "hand_logits"]


class Post(_Piece):
    """tokens + MHR's outputs -> the layer's pose output (`MHRHead.forward` after the MHR call,
    `camera_project`, `_full_to_crop`; the hand-box heads), in POST_OUTPUTS order."""

    def __init__(self, model, size):
        super().__init__(model, HEAD_USES + ["bbox_embed", "hand_cls_embed"])
        self.size = size
        object.__setattr__(self, "replay", _Replay())

    def forward(self, tokens, vertices_cm, skeleton, affine, cam_int, box_centre, box_scale, image_size):
        m = self.m
        batch = _Batch.make(self.size, affine, cam_int, box_centre, box_scale, image_size)
        m._initialize_batch({"img": batch["img"], "person_valid": torch.ones(1, 1)})
        m.body_batch_idx, m.hand_batch_idx = [0], []
        real = m.head_pose.mhr
        self.replay.given = (vertices_cm, skeleton)
        m.head_pose.mhr = self.replay
        try:
            out = _pose_output(m, tokens)
        finally:
            m.head_pose.mhr = real
        out = m.camera_project(out, batch)
        out["pred_keypoints_2d_cropped"] = m._full_to_crop(batch, out["pred_keypoints_2d"], m.body_batch_idx)
        start = tokens.shape[1] - 2 - 2 * KEYPOINTS  # [pose, previous, prompts…, 2 hand, 70 + 70 keypoint] tokens
        hand_tokens = m.decoder.norm_final(tokens)[:, start:start + 2]
        out["hand_box"] = m.bbox_embed(hand_tokens).sigmoid()
        out["hand_logits"] = m.hand_cls_embed(hand_tokens)
        return tuple(out[k] for k in POST_OUTPUTS)


class KeypointUpdate(_Piece):
    """`keypoint_token_update_fn` then `keypoint3d_token_update_fn` (between layers)."""

    def __init__(self, model):
        super().__init__(model, ["keypoint_posemb_linear", "keypoint_feat_linear", "keypoint3d_posemb_linear",
                                 "keypoint_embedding", "keypoint3d_embedding"])  # (their sizes are read)

    def forward(self, tokens, tokens_pe, image, kp2d_cropped, kp2d_depth, kp3d):
        m = self.m
        start3d = tokens.shape[1] - KEYPOINTS
        start2d = start3d - KEYPOINTS
        out = {"pred_keypoints_2d_cropped": kp2d_cropped, "pred_keypoints_2d_depth": kp2d_depth,
               "pred_keypoints_3d": kp3d}
        tokens, tokens_pe, _, _ = m.keypoint_token_update_fn(start2d, image, tokens, tokens_pe, out, 0)
        tokens, tokens_pe, _, _ = m.keypoint3d_token_update_fn(start3d, tokens, tokens_pe, out, 0)
        return tokens, tokens_pe


def run_loop(pieces, mhr, crop, batch_inputs, mask, mask_score, keypoints):
    """The body branch over the pieces, as Carve's Rust loop runs it. Returns POST_OUTPUTS of the
    last layer as a dict, and the encoder's features."""
    features = pieces["encoder"](crop)
    prepared = pieces["prepare"](features, *batch_inputs, mask, mask_score, keypoints)
    return decode(pieces, mhr, prepared, batch_inputs), features


def run_prompt(pieces, mhr, features, batch_inputs, mask, mask_score, clicks, first):
    """A keypoint-prompt pass after `run_loop` (`run_keypoint_prompt`): the same features, the
    clicks, the first pass's estimate as the previous token."""
    n = clicks.shape[1]
    prepared = pieces[f"prompt{n}"](features, *batch_inputs, mask, mask_score, clicks, previous_estimate(first))
    return decode(pieces, mhr, prepared, batch_inputs)


def decode(pieces, mhr, prepared, batch_inputs):
    image, tokens, tokens_pe, image_flat, image_pe_flat = prepared
    out = None
    for i in range(DEPTH_LAYERS):
        tokens, image_flat = pieces[f"layer{i}"](tokens, image_flat, tokens_pe, image_pe_flat)
        identity, model_params, expression = pieces["head"](tokens)
        vertices_cm, skeleton = mhr(identity, model_params, expression)
        out = dict(zip(POST_OUTPUTS, pieces["post"](tokens, vertices_cm, skeleton, *batch_inputs)))
        if i < DEPTH_LAYERS - 1:
            tokens, tokens_pe = pieces["keypoint_update"](tokens, tokens_pe, image, out["pred_keypoints_2d_cropped"],
                                                          out["pred_keypoints_2d_depth"], out["pred_keypoints_3d"])
    return out


def official_batch(model, cfg, seed, with_mask=True):
    """A random photo, box and mask through the official transforms (`prepare_batch` with the
    estimator's `GetBBoxCenterScale` + `TopdownAffine` + `ToTensor`), as `process_one_image` does."""
    from sam_3d_body.data.transforms import Compose, GetBBoxCenterScale, TopdownAffine, VisionTransformWrapper
    from sam_3d_body.data.utils.prepare_batch import prepare_batch
    from torchvision.transforms import ToTensor

    rng = np.random.default_rng(seed)
    h, w = 360, 480
    img = (rng.random((h, w, 3)) * 255).astype(np.uint8)
    box = np.array([[150.0, 40.0, 330.0, 350.0]], dtype=np.float32)
    masks = None
    if with_mask:
        yy, xx = np.mgrid[:h, :w]
        masks = (((xx - 240) / 80.0) ** 2 + ((yy - 200) / 150.0) ** 2 < 1).astype(np.uint8)[None, :, :, None]
    transform = Compose([GetBBoxCenterScale(), TopdownAffine(input_size=cfg.MODEL.IMAGE_SIZE, use_udp=False),
                         VisionTransformWrapper(ToTensor())])
    scores = np.ones(1, np.float32) if with_mask else None
    batch = prepare_batch(img, transform, box, masks, scores)
    return batch, img, box[0], masks


def batch_tensors(batch):
    """The official batch's tensors in the pieces' argument order."""
    return (batch["affine_trans"][0, 0].float(), batch["cam_int"][0].float(), batch["bbox_center"][0, 0].float(),
            batch["bbox_scale"][0, 0].float(), batch["ori_img_size"][0, 0].float())


IO = {
    "encoder": (["crop"], ["features"]),
    "prepare": (["features", "affine", "cam_int", "box_centre", "box_scale", "image_size", "mask", "mask_score",
                 "keypoints"], ["image", "tokens", "tokens_pe", "image_flat", "image_pe_flat"]),
    **{f"layer{i}": (["tokens", "image_flat", "tokens_pe", "image_pe_flat"], ["tokens", "image_flat"])
       for i in range(DEPTH_LAYERS)},
    "head": (["tokens"], ["identity", "model", "expression"]),
    "post": (["tokens", "vertices_cm", "skeleton", "affine", "cam_int", "box_centre", "box_scale", "image_size"],
             POST_OUTPUTS),
    "keypoint_update": (["tokens", "tokens_pe", "image", "kp2d_cropped", "kp2d_depth", "kp3d"],
                        ["tokens", "tokens_pe"]),
    **{f"prompt{n}": (["features", "affine", "cam_int", "box_centre", "box_scale", "image_size", "mask",
                       "mask_score", "clicks", "previous"],
                      ["image", "tokens", "tokens_pe", "image_flat", "image_pe_flat"])
       for n in range(1, MAX_CLICKS + 1)},
}


def write_reference(out, photo, box, person_mask, crop, batch_inputs, mask, mask_score, official, clicks,
                    official_prompted):
    """What a Rust test needs to check Carve's loop against the official model: the photo, box and
    person mask (PNG, JSON), the official crop and batch tensors, and the official outputs
    (raw float32 files and reference.json, the format of tests/it/official.rs)."""
    from PIL import Image

    from torchscript_export import TensorDump

    out.mkdir(parents=True, exist_ok=True)
    Image.fromarray(photo).save(out / "photo.png")
    Image.fromarray((person_mask[0, :, :, 0] * 255).astype(np.uint8)).save(out / "person_mask.png")
    dump = TensorDump(out)
    for key, t in zip(["crop", "affine", "cam_int", "box_centre", "box_scale", "image_size"], (crop, *batch_inputs)):
        dump.put(key, t)
    dump.put("mask", mask)
    dump.put("mask_score", mask_score)
    for key in POST_OUTPUTS:
        if torch.is_tensor(official.get(key)):
            dump.put(f"official_{key}", official[key])
        if torch.is_tensor(official_prompted.get(key)):
            dump.put(f"official_prompt_{key}", official_prompted[key])
    dump.put("clicks", clicks)
    (out / "reference.json").write_text(json.dumps({"box": [float(v) for v in box], "tensors": dump.tensors},
                                                   indent=1))


def write_manifest(out_dir, args, cfg, size, mhr_shapes):
    weights = "checkpoint" if args.checkpoint else "random"
    name = ("SAM 3D Body" + (" tiny" if args.tiny else "") +
            (f" ({Path(args.checkpoint).name})" if args.checkpoint else " (random weights)"))
    desc = ("Made by tools/export_sam3d_body.py from the official sam_3d_body code"
            + (f", weights from {Path(args.checkpoint).name}" if args.checkpoint else ", random weights")
            + ". Body branch only; MHR (mhr_model.pt) runs between the decoder layers, in the caller.")
    io = {**IO, **({"encoder_bf16": IO["encoder"]} if not args.no_bf16 else {})}
    files = {role: f"{role}.pt" for role in io}
    lines = manifest_lines("sam3d_body", name, weights, desc, files, size, list(cfg.MODEL.IMAGE_MEAN),
                           list(cfg.MODEL.IMAGE_STD), io)
    lines += [
        "[config]",
        f"decoder_layers = {DEPTH_LAYERS}",
        f"keypoints = {KEYPOINTS}",
        "prompt_points = 1          # the first pass's prompt: the dummy [0, 0, -2]",
        f"max_clicks = {MAX_CLICKS}            # promptN.pt: a keypoint-prompt pass with N clicks",
        f"previous = {json.dumps(PREVIOUS_KEYS)}  # the previous estimate, concatenated",
        f"mhr_vertices = {mhr_shapes[0]}",
        f"mhr_joints = {mhr_shapes[1]}",
        "mhr_inputs = [45, 204, 72]  # identity, model parameters, expression",
        "crop_padding = 1.25        # GetBBoxCenterScale default: the box scaled by 1.25, aspect fixed",
        "crop_range = \"0..1\"        # RGB / 255 (ToTensor); normalised inside encoder.pt",
        "default_focal = \"diagonal\" # prepare_batch: fx = fy = sqrt(w^2 + h^2), centre w/2, h/2",
    ]
    (out_dir / "manifest.toml").write_text("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", required=True, type=Path, help="a clone of facebookresearch/sam-3d-body")
    ap.add_argument("--dinov3-repo", required=True, type=Path, help="a clone of facebookresearch/dinov3")
    ap.add_argument("--config", type=Path, default=None,
                    help="model_config.yaml (the official one beside the checkpoint; default: the one beside "
                         "--checkpoint, else ../sam-3d-body-config/model_config.yaml next to --repo)")
    ap.add_argument("--checkpoint", type=Path, default=None, help="official model.ckpt (else random weights)")
    ap.add_argument("--mhr", required=True, type=Path, help="mhr_model.pt (the official asset, or "
                    "tools/make_mhr_standin.py's for tests)")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--tiny", action="store_true", help="narrow, shallow versions of the same classes (tests)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-bf16", action="store_true", help="skip encoder_bf16.pt (bf16 weights, autocast graph)")
    ap.add_argument("--reference", type=Path, default=None,
                    help="also write the photo, box, mask, crop and the official outputs here (for tests)")
    args = ap.parse_args()
    return_freed_memory_to_the_os()
    torch.set_num_threads(args.threads)
    for path, what in ((args.repo / "sam_3d_body", "--repo"), (args.dinov3_repo / "hubconf.py", "--dinov3-repo"),
                       (args.mhr, "--mhr")):
        if not path.exists():
            sys.exit(f"{what}: {path} not found")
    if args.checkpoint and not args.checkpoint.is_file():
        sys.exit(f"--checkpoint: {args.checkpoint} not found")
    if args.config is None:
        beside = args.checkpoint.parent / "model_config.yaml" if args.checkpoint else None
        args.config = beside if beside and beside.exists() else (
            args.repo.parent / "sam-3d-body-config" / "model_config.yaml")
    if not args.config.is_file():
        sys.exit(f"--config: {args.config} not found")
    t_start = time.perf_counter()
    import_official(args.repo, args.dinov3_repo, args.tiny)
    cpu_only()
    args.out.mkdir(parents=True, exist_ok=True)
    timings, report = {}, []
    with torch.no_grad():
        model, cfg, load_report = build(args)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"built SAM3DBody ({n_params / 1e6:.1f} M parameters) in {time.perf_counter() - t_start:.1f}s, "
          f"peak RSS {peak_rss_mb():.0f} MB", flush=True)
    size = int(cfg.MODEL.IMAGE_SIZE[0])
    mhr = model.head_pose.mhr
    batch, photo, box, person_mask = official_batch(model, cfg, args.seed)
    # The official answer first (eager, the model's own control flow).
    # Keypoint clicks (x, y in the crop as 0..1, the keypoint's index), 1..MAX_CLICKS of them.
    all_clicks = torch.tensor([[[0.45, 0.3, 0.0], [0.55, 0.72, 12.0], [0.4, 0.5, 7.0], [0.6, 0.5, 8.0]]])
    with torch.no_grad():
        model._initialize_batch(batch)
        official_pass = model.forward_step(batch, decoder_type="body")
        official = official_pass["mhr"]
        # `run_keypoint_prompt`: a second decoder pass from the first one's estimate, per click count.
        official_prompted = {n: model.run_keypoint_prompt(batch, dict(official_pass), all_clicks[:, :n])[0]["mhr"]
                             for n in range(1, MAX_CLICKS + 1)}
    crop = batch["img"][0].float()
    bt = batch_tensors(batch)
    mask, mask_score = batch["mask"][0, 0].float(), batch["mask_score"][0].float()
    keypoints = torch.zeros(1, 1, 3)
    keypoints[:, :, -1] = -2  # the official dummy prompt
    with torch.no_grad():
        vertices_cm, skeleton = mhr(torch.zeros(1, 45), torch.zeros(1, 204), torch.zeros(1, 72))
    mhr_shapes = (vertices_cm.shape[1], skeleton.shape[1])
    # The pieces never call the model's own MHR (the loop does): keep it out of their files.
    model.head_pose.mhr = nn.Identity()
    # Trace each piece on the inputs the loop gives it, reload, compare (tolerance 0).
    eager = {"encoder": Encoder(model), "prepare": Prepare(model, size),
             **{f"layer{i}": Layer(model.decoder.layers[i]) for i in range(DEPTH_LAYERS)},
             "head": Head(model, *mhr_shapes), "post": Post(model, size), "keypoint_update": KeypointUpdate(model),
             **{f"prompt{n}": PreparePrompt(model, size) for n in range(1, MAX_CLICKS + 1)}}
    loaded = {}
    recorded = {}

    def recording(name):
        def run(*xs):
            recorded.setdefault(name, xs)
            return eager[name](*xs)
        return run

    with torch.no_grad():
        first, fp32_features = run_loop({k: recording(k) for k in eager}, mhr, crop, bt, mask, mask_score, keypoints)
        for n in range(1, MAX_CLICKS + 1):
            run_prompt({k: recording(k) for k in eager}, mhr, fp32_features, bt, mask, mask_score, all_clicks[:, :n],
                       first)

    def to_bf16():
        # The fp32 encoder is traced and saved: before its file is loaded back (for its check), turn
        # the backbone's Linear/Conv weights to bf16 in place (half of 3.4 GB at full size) for the
        # bf16 file, so that the peak holds one fp32 copy of them.
        for m in eager["encoder"].modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                m.to(torch.bfloat16)

    for name, piece in eager.items():
        encoder = name == "encoder"
        loaded[name], _ = trace_save_check(name, piece, recorded[name], args.out, timings, report, tol=0.0,
                                          bool_products=True, keep=not encoder,
                                          before_reload=to_bf16 if encoder and not args.no_bf16 else None)
        if encoder and not args.no_bf16:
            export_bf16(eager["encoder"], recorded["encoder"], fp32_features, args.out, timings, report)
        if encoder:
            # The other pieces do not use the backbone: free it. The loop below starts from the
            # features the encoder file was checked to give (tolerance 0).
            eager["encoder"].backbone = nn.Identity()
            model.backbone = None
            loaded["encoder"] = lambda crop: fp32_features
    # The loop over the reloaded files against the official eager model.
    with torch.no_grad():
        ours, features = run_loop(loaded, mhr, crop, bt, mask, mask_score, keypoints)
        ours_prompted = {n: run_prompt(loaded, mhr, features, bt, mask, mask_score, all_clicks[:, :n], ours)
                         for n in range(1, MAX_CLICKS + 1)}
    for key in POST_OUTPUTS:
        want = official.get(key)
        if want is None or not torch.is_tensor(want):
            continue
        compare(f"loop over the reloaded pieces vs official forward_step: {key}", ours[key], want, 0.0, report)
        for n in range(1, MAX_CLICKS + 1):
            if torch.is_tensor(official_prompted[n].get(key)):  # (no hand boxes from a prompt pass)
                compare(f"prompt pass, {n} clicks, vs official run_keypoint_prompt: {key}", ours_prompted[n][key],
                        official_prompted[n][key], 0.0, report)
    write_manifest(args.out, args, cfg, size, mhr_shapes)
    if args.reference:
        write_reference(args.reference, photo, box, person_mask, crop, bt, mask, mask_score, official,
                        all_clicks[:, :2], official_prompted[2])
    finish_export(args.out, t_start, timings, report, args.threads, n_params,
                  {"tiny": args.tiny, "checkpoint": str(args.checkpoint) if args.checkpoint else None,
                   **load_report})


if __name__ == "__main__":
    main()

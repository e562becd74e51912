#!/usr/bin/env python3
"""Export a monocular depth model (Depth Anything, from the `transformers` package) as a Carve
model folder of kind `depth`.

    .venv/bin/python tools/export_depth.py --out DIR [--tiny] [--checkpoint MODEL_DIR_OR_FILE]

The architecture is built from its config (no download). With `--checkpoint` (a folder holding a
Hugging Face `config.json` + weights, e.g. a local copy of depth-anything/Depth-Anything-V2-Small-hf,
or a `.safetensors`/`.bin` state dict for the default small config) the trained weights are
loaded; without, the weights are random: the export and Carve's loading path are real, the depth
is meaningless. `--tiny` shrinks width and depth so tests run in seconds.

Contract of the folder (`manifest.toml`): `depth.pt` takes `image` 1×3×H×W (RGB, resized to
[input] size, (x/255 − mean)/std with ImageNet statistics) and returns `predicted_depth` 1×H×W,
Depth Anything's *relative inverse depth* (larger = nearer).
"""
import argparse
import json
from pathlib import Path

import torch
from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


class Wrapper(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, image):
        return self.model(pixel_values=image).predicted_depth


def build(tiny: bool, checkpoint):
    if checkpoint and Path(checkpoint).is_dir():
        return DepthAnythingForDepthEstimation.from_pretrained(checkpoint, local_files_only=True)
    if tiny:
        backbone = Dinov2Config(hidden_size=64, num_hidden_layers=4, num_attention_heads=2, intermediate_size=128,
                                image_size=518, patch_size=14, out_features=["stage1", "stage2", "stage3", "stage4"],
                                reshape_hidden_states=False)
        config = DepthAnythingConfig(backbone_config=backbone, fusion_hidden_size=32, neck_hidden_sizes=[16, 32, 64, 64],
                                     reassemble_hidden_size=64, head_hidden_size=16)
    else:
        # Depth Anything V2 Small.
        backbone = Dinov2Config(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, intermediate_size=1536,
                                image_size=518, patch_size=14, out_features=["stage9", "stage10", "stage11", "stage12"],
                                reshape_hidden_states=False)
        config = DepthAnythingConfig(backbone_config=backbone, fusion_hidden_size=64, neck_hidden_sizes=[48, 96, 192, 384],
                                     reassemble_hidden_size=384, head_hidden_size=32, depth_estimation_type="relative")
    model = DepthAnythingForDepthEstimation(config)
    if checkpoint:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True) if not str(checkpoint).endswith(".safetensors") \
            else __import__("safetensors.torch", fromlist=["load_file"]).load_file(checkpoint)
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing:
            raise SystemExit(f"checkpoint lacks {len(missing)} weights, e.g. {missing[:3]}")
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--checkpoint")
    ap.add_argument("--size", type=int, default=None, help="input side (multiple of 14; default 518, tiny 252)")
    args = ap.parse_args()
    torch.manual_seed(0)
    size = args.size or (252 if args.tiny else 518)
    model = Wrapper(build(args.tiny, args.checkpoint)).eval()
    example = torch.rand(1, 3, size, size)
    with torch.no_grad():
        traced = torch.jit.trace(model, example, strict=False)
    args.out.mkdir(parents=True, exist_ok=True)
    traced.save(str(args.out / "depth.pt"))
    reloaded = torch.jit.load(str(args.out / "depth.pt"))
    with torch.no_grad():
        diff = float((reloaded(example) - model(example)).abs().max())
    weights = "checkpoint" if args.checkpoint else "random"
    name = f"Depth Anything ({'tiny' if args.tiny else 'small'}, {weights} weights)"
    (args.out / "manifest.toml").write_text("\n".join([
        "format = 1", 'kind = "depth"', f"name = {json.dumps(name)}", f'weights = "{weights}"',
        'description = "Made by tools/export_depth.py from transformers DepthAnythingForDepthEstimation; output is relative inverse depth."',
        "[files]", 'model = "depth.pt"',
        "[input]", f"width = {size}", f"height = {size}", f"mean = {MEAN}", f"std = {STD}",
        "[tensors.model]", 'inputs = ["image"]', 'outputs = ["predicted_depth"]',
        "[config]", 'output = "inverse_depth"',
    ]) + "\n")
    print(json.dumps({"out": str(args.out), "size": size, "reload_max_diff": diff}))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Export a monocular depth model (from the `transformers` package) as a Carve model folder of
kind `depth`: Depth Anything V2 (relative inverse depth) or Depth Pro (metric depth and the field
of view, so the lift uses the model's focal length).

    .venv/bin/python tools/export_depth.py --out DIR [--arch depth-anything|depth-pro] [--tiny]
        [--checkpoint MODEL_DIR_OR_FILE]

The architecture is built from its config (no download). With `--checkpoint` (a folder holding a
Hugging Face `config.json` + weights, e.g. a local copy of depth-anything/Depth-Anything-V2-Small-hf,
or a `.safetensors`/`.bin` state dict for the default small config) the trained weights are
loaded; without, the weights are random: the export and Carve's loading path are real, the depth
is meaningless. `--tiny` shrinks width and depth so tests run in seconds.

Contract of the folder (`manifest.toml`, read by `src/lift/depth.rs`): `depth.pt` takes `image`
1×3×H×W (RGB, resized to [input] size, (x/255 − mean)/std) and returns, per `[config] output`:
- `inverse_depth` (Depth Anything): `predicted_depth` 1×H×W relative inverse depth (larger = nearer);
- `depth` (Depth Pro): the tuple (`predicted_depth` 1×H×W metres, `field_of_view` 1 degrees,
  horizontal). Depth Pro's raw output is a canonical inverse depth; the wrapper applies the
  official post-processing (depth = 1 / (inverse · W / f), f = W / 2 / tan(fov / 2)) inside the
  graph, so the folder gives metres directly.
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


class DepthProWrapper(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, image):
        out = self.model(pixel_values=image)
        fov = out.field_of_view.reshape(1)
        # transformers' DepthProImageProcessor.post_process_depth_estimation, in the graph: the
        # image width cancels (W / f = 2 tan(fov / 2)).
        inverse = out.predicted_depth * (2.0 * torch.tan(0.5 * torch.deg2rad(fov)))
        return 1.0 / torch.clamp(inverse, min=1e-4, max=1e4), fov


def build_depth_pro(tiny: bool, checkpoint):
    from transformers import DepthProConfig, DepthProForDepthEstimation
    if checkpoint and Path(checkpoint).is_dir():
        return DepthProForDepthEstimation.from_pretrained(checkpoint, local_files_only=True, use_fov_model=True)
    if tiny:
        vit = dict(model_type="dinov2", hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2,
                   image_size=64, patch_size=8)
        config = DepthProConfig(patch_size=64, fusion_hidden_size=16, intermediate_hook_ids=[1, 0],
                                intermediate_feature_dims=[16, 16], scaled_images_feature_dims=[32, 32, 16],
                                image_model_config=vit, patch_model_config=vit, fov_model_config=vit,
                                use_fov_model=True)
    else:
        config = DepthProConfig(use_fov_model=True)
    model = DepthProForDepthEstimation(config)
    if checkpoint:
        load_state(model, checkpoint)
    return model


def load_state(model, checkpoint):
    state = torch.load(checkpoint, map_location="cpu", weights_only=True) if not str(checkpoint).endswith(".safetensors") \
        else __import__("safetensors.torch", fromlist=["load_file"]).load_file(checkpoint)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected:
        print(f"checkpoint has {len(unexpected)} unexpected weights, e.g. {unexpected[:3]}")
    if missing:
        raise SystemExit(f"checkpoint lacks {len(missing)} weights, e.g. {missing[:3]}")


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
        load_state(model, checkpoint)
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--arch", choices=["depth-anything", "depth-pro"], default="depth-anything")
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--checkpoint")
    ap.add_argument("--size", type=int, default=None,
                    help="Depth Anything input side (multiple of 14; default 518, tiny 252); Depth Pro's is fixed")
    args = ap.parse_args()
    torch.manual_seed(0)
    weights = "checkpoint" if args.checkpoint else "random"
    if args.arch == "depth-pro":
        inner = build_depth_pro(args.tiny, args.checkpoint)
        model = DepthProWrapper(inner).eval()
        config = inner.config
        size = int(config.patch_size / min(config.scaled_images_ratios))
        mean, std = [0.5] * 3, [0.5] * 3
        name = f"Depth Pro ({'tiny' if args.tiny else 'full'}, {weights} weights)"
        description = ("Made by tools/export_depth.py from transformers DepthProForDepthEstimation; output is metric "
                       "depth and the horizontal field of view.")
        outputs, kind = ["predicted_depth", "field_of_view"], "depth"
    else:
        size = args.size or (252 if args.tiny else 518)
        model = Wrapper(build(args.tiny, args.checkpoint)).eval()
        mean, std = MEAN, STD
        name = f"Depth Anything ({'tiny' if args.tiny else 'small'}, {weights} weights)"
        description = ("Made by tools/export_depth.py from transformers DepthAnythingForDepthEstimation; output is "
                       "relative inverse depth.")
        outputs, kind = ["predicted_depth"], "inverse_depth"
    example = torch.rand(1, 3, size, size)
    with torch.no_grad():
        traced = torch.jit.trace(model, example, strict=False)
    args.out.mkdir(parents=True, exist_ok=True)
    traced.save(str(args.out / "depth.pt"))
    reloaded = torch.jit.load(str(args.out / "depth.pt"))
    with torch.no_grad():
        ours, eager = reloaded(example), model(example)
        ours, eager = (ours if isinstance(ours, tuple) else (ours,)), (eager if isinstance(eager, tuple) else (eager,))
        diff = max(float((a - b).abs().max()) for a, b in zip(ours, eager))
        report = {}
        if args.arch == "depth-pro":
            # The in-graph post-processing against transformers' own (the reference).
            from transformers import DepthProImageProcessor
            raw = inner(pixel_values=example)
            official = DepthProImageProcessor().post_process_depth_estimation(
                raw, target_sizes=[tuple(raw.predicted_depth.shape[-2:])])[0]
            report = {
                "official_depth_max_rel_diff": float(((official["predicted_depth"] - ours[0][0]).abs()
                                                      / official["predicted_depth"].abs()).max()),
                "official_fov_diff": float((official["field_of_view"] - ours[1]).abs().max()),
            }
    (args.out / "manifest.toml").write_text("\n".join([
        "format = 1", 'kind = "depth"', f"name = {json.dumps(name)}", f'weights = "{weights}"',
        f"description = {json.dumps(description)}",
        "[files]", 'model = "depth.pt"',
        "[input]", f"width = {size}", f"height = {size}", f"mean = {mean}", f"std = {std}",
        "[tensors.model]", 'inputs = ["image"]', f"outputs = {json.dumps(outputs)}",
        "[config]", f"output = {json.dumps(kind)}",
    ]) + "\n")
    print(json.dumps({"out": str(args.out), "size": size, "reload_max_diff": diff, **report}))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Build *oracle* depth models: TorchScript modules with a depth model's interface (the contract
of `src/lift/depth.rs`) that return a known map — the true depth or point map of a test scene —
whatever the photo. With one in the lift's model slot, everything downstream of the model is judged
alone: a real model's quality is then the model's, not Carve's (issue 14).

    .venv/bin/python tools/make_depth_oracle.py --jobs JOBS.json

JOBS.json is a list of {"map": "X.npy", "out": "DIR", "kind": "depth" | "points",
"fov_deg": F (optional, depth only: returned as Depth Pro returns its field of view),
"name": "...", "unchecked": false}. A depth map is H×W float32 (metres along the optical axis); a point map H×W×3
(camera frame, OpenCV axes). The module's [input] is the map's own size.
"""
import argparse
import json
from pathlib import Path

import numpy as np
import torch


class DepthOracle(torch.nn.Module):
    def __init__(self, depth: torch.Tensor):
        super().__init__()
        self.register_buffer("depth", depth)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.depth.unsqueeze(0) + 0.0 * image.mean()


class DepthFovOracle(torch.nn.Module):
    def __init__(self, depth: torch.Tensor, fov_deg: float):
        super().__init__()
        self.register_buffer("depth", depth)
        self.register_buffer("fov", torch.tensor([fov_deg], dtype=torch.float32))

    def forward(self, image: torch.Tensor):
        return self.depth.unsqueeze(0) + 0.0 * image.mean(), self.fov


class PointOracle(torch.nn.Module):
    def __init__(self, points: torch.Tensor):
        super().__init__()
        self.register_buffer("points", points)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.points.unsqueeze(0) + 0.0 * image.mean()


def build(job):
    values = torch.from_numpy(np.load(job["map"]).astype(np.float32))
    kind = job["kind"]
    checked = not job.get("unchecked", False)  # tests of bad models write bad shapes on purpose
    if kind == "depth":
        assert values.ndim == 2 or not checked, "a depth map is H×W"
        module = DepthFovOracle(values, float(job["fov_deg"])) if job.get("fov_deg") else DepthOracle(values)
        outputs = ["predicted_depth", "field_of_view"] if job.get("fov_deg") else ["predicted_depth"]
    elif kind == "points":
        assert (values.ndim == 3 and values.shape[2] == 3) or not checked, "a point map is H×W×3"
        module, outputs = PointOracle(values), ["points"]
    else:
        raise SystemExit(f"unknown kind {kind!r}")
    h, w = values.shape[:2]
    out = Path(job["out"])
    out.mkdir(parents=True, exist_ok=True)
    scripted = torch.jit.script(module.eval())
    scripted.save(str(out / "depth.pt"))
    name = job.get("name", f"oracle {kind}")
    (out / "manifest.toml").write_text("\n".join([
        "format = 1", 'kind = "depth"', f"name = {json.dumps(name)}", 'weights = "random"',
        'description = "Made by tools/make_depth_oracle.py: returns the true map of a test scene."',
        "[files]", 'model = "depth.pt"',
        "[input]", f"width = {w}", f"height = {h}",
        "[tensors.model]", 'inputs = ["image"]', f"outputs = {json.dumps(outputs)}",
        "[config]", f"output = {json.dumps(kind)}",
    ]) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=Path, required=True)
    args = ap.parse_args()
    jobs = json.loads(args.jobs.read_text())
    for job in jobs:
        build(job)
    print(json.dumps({"built": len(jobs)}))


if __name__ == "__main__":
    main()

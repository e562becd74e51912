#!/usr/bin/env python3
"""Build the `selftest` model folder: a tiny TorchScript module that proves Carve's libtorch path.

    .venv/bin/python tools/make_selftest_model.py OUT_DIR

Writes OUT_DIR/manifest.toml, OUT_DIR/selftest.pt (conv → ReLU → pooled linear head, fixed seed,
returning a tuple of two tensors like the real encoders do) and a reference input/output pair
(`input.f32`, `features.f32`, `logits.f32`, raw little-endian float32, shapes in `reference.json`)
computed by running the *saved* file in Python, so Rust can check it gets the same numbers.
"""
import json
import sys
from pathlib import Path

import torch


class SelfTest(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.head = torch.nn.Linear(8, 4)

    def forward(self, image: torch.Tensor):
        features = torch.relu(self.conv(image))
        logits = self.head(features.mean(dim=(2, 3)))
        return features, logits


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = SelfTest().eval()
    scripted = torch.jit.script(model)
    scripted.save(str(out / "selftest.pt"))

    reloaded = torch.jit.load(str(out / "selftest.pt"))
    x = torch.linspace(-1.0, 1.0, 3 * 16 * 24).reshape(1, 3, 16, 24).contiguous()
    with torch.no_grad():
        features, logits = reloaded(x)
    for name, t in [("input", x), ("features", features), ("logits", logits)]:
        (out / f"{name}.f32").write_bytes(t.contiguous().numpy().astype("<f4").tobytes())
    (out / "reference.json").write_text(json.dumps({
        "input": list(x.shape), "features": list(features.shape), "logits": list(logits.shape),
        "torch": torch.__version__,
    }))
    (out / "manifest.toml").write_text(
        'format = 1\nkind = "selftest"\nname = "libtorch self-test (conv + linear)"\n'
        'weights = "random"\n'
        'description = "Made by tools/make_selftest_model.py; proves TorchScript loading from Rust."\n'
        '[files]\nmodel = "selftest.pt"\n'
        '[input]\nwidth = 24\nheight = 16\nmean = [0.5, 0.5, 0.5]\nstd = [0.5, 0.5, 0.5]\n'
        '[tensors.model]\ninputs = ["image"]\noutputs = ["features", "logits"]\n'
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))

#!/usr/bin/env python3
"""Inspects exported TorchScript files for what would pin them to the device they were traced on
(tools/torchscript_export.py `device_baked`: device constants, non-scalar tensor constants not
moved to the input's device), through torch's own graph API.

    .venv/bin/python tools/check_device_portable.py FILE_OR_DIR [...]

Prints one JSON object: {"files": {path: {"device_constants": n, "tensor_constants": n}}}; exits 1
when any file has either.
"""
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torchscript_export import device_baked  # noqa: E402


def main():
    paths = []
    for arg in sys.argv[1:]:
        p = Path(arg)
        paths += sorted(f for f in p.glob("*.pt") if f.name != "random_weights.pt") if p.is_dir() else [p]
    if not paths:
        sys.exit("usage: tools/check_device_portable.py FILE_OR_DIR [...]")
    files = {str(p): device_baked(torch.jit.load(str(p))) for p in paths}
    print(json.dumps({"files": files}))
    sys.exit(1 if any(any(v.values()) for v in files.values()) else 0)


if __name__ == "__main__":
    main()

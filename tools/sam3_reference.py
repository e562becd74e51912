#!/usr/bin/env python3
"""Reference inputs/outputs of an exported SAM 3 model folder, for Carve's Rust tests.

    .venv/bin/python tools/sam3_reference.py --model DIR --out REFDIR

Loads the four TorchScript files of a folder written by tools/export_sam3.py with
`torch.jit.load` (not the eager model), runs them on fixed inputs and writes every input and
output as raw little-endian files — `NAME.f32` (float32) or `NAME.i64` (int64) — plus
`reference.json`, which lists for every tensor its file, dtype and shape (`tensors`: key ->
{file, dtype, shape, min, max, mean}), for every run the module and its inputs and outputs in
call order (`runs`: [{module, case, inputs: [{name, tensor}], outputs: [{name, tensor}]}],
`tensor` being a key of `tensors`), and the official tokenizer's output for a corpus of strings
(`tokenizer.cases`: [{text, cleaned, ids (32), untruncated_len, truncated}]).

Runs (in order; later runs consume earlier outputs, each tensor is written once):
  image_encoder      image                                   -> fpn0 .. sam_image_embed
  click_decoder x3   "click_point": one positive click (500, 400)
                     "click_box":   box (300,250)-(700,650) as corners (labels 2, 3) + the click
                     "click_mask":  click + negative click (620, 600) + mask_input = best mask of
                                    click_point clamped to [-32, 32], has_mask_input = 1
  text_encoder       token ids of "red ball"                 -> text_features, text_mask
  grounding_decoder  fpn0..2 + text_features + text_mask     -> pred_logits .. semantic_seg

The .pt files are loaded and run before anything but torch is imported; the tokenizer is
sam3's own `sam3/model/tokenizer_ve.py` loaded from its file (so that neither torchvision
nor the rest of sam3 is imported) with the vocabulary from the model folder.
"""
import argparse
import importlib.util
import json
import sys
import tomllib
from pathlib import Path

import torch

CONTEXT_LENGTH = 32

# Tokenizer corpus: case, whitespace, punctuation, html entities, mojibake (ftfy), unicode,
# numbers, the "!"-is-id-0 quirk, empty string, truncation (EOT kept as last of 32).
CORPUS = [
    "red ball",
    "Red Ball",
    "  RED \t  ball \n ",
    "a dog.",
    "the cat's toy isn't here",
    "person, bicycle & car!",
    "what!?",
    "3 apples and 12 oranges",
    "2024-11-29 12:30",
    "3.14159",
    "café crème brûlée",
    "cafÃ© (mojibake fixed by ftfy)",
    "Straße, naïve résumé",
    "日本語のテキスト",
    "emoji 😀 👍🏽 test",
    "&amp; html &lt;escaped&gt; &quot;quotes&quot;",
    "",
    "supercalifragilisticexpialidocious",
    "a yellow school bus parked next to a red fire hydrant on a busy street corner in "
    "the middle of a rainy afternoon with people walking by",
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty twenty-one twenty-two twenty-three thirty",
    "word " * 40,
]


def load_tokenizer(vocab: Path):
    spec = importlib.util.find_spec("sam3")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("the sam3 package is not installed (pip install -r tools/requirements.txt)")
    path = Path(list(spec.submodule_search_locations)[0]) / "model" / "tokenizer_ve.py"
    mod_spec = importlib.util.spec_from_file_location("sam3_tokenizer_ve", path)
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    return mod.SimpleTokenizer(bpe_path=str(vocab)), path


def fixed_image() -> torch.Tensor:
    """1x3x1008x1008 float32 in [-1, 1] (already 'normalised'), no RNG: smooth gradients,
    a bright disc around (x=500, y=400) and a checkerboard in the lower right."""
    n = 1008
    y = torch.arange(n, dtype=torch.float64).view(n, 1).expand(n, n)
    x = torch.arange(n, dtype=torch.float64).view(1, n).expand(n, n)
    disc = (((x - 500) ** 2 + (y - 400) ** 2) < 180 ** 2).double()
    checker = (((x // 48) + (y // 48)) % 2) * ((x > 650) & (y > 650)).double()
    r = 0.9 * disc + 0.6 * torch.sin(x / 41.0) * (1 - disc) - 0.2
    g = 0.8 * torch.cos(y / 29.0) * torch.sin(x / 67.0) * (1 - disc) + 0.5 * checker
    b = (x + y) / (n - 1) - 1.0
    img = torch.stack([r, g, b]).clamp(-1, 1).float()
    return img.unsqueeze(0).contiguous()


class Dumper:
    def __init__(self, out: Path):
        self.out = out
        self.tensors = {}

    def put(self, key: str, t: torch.Tensor) -> str:
        t = t.detach().cpu().contiguous()
        if t.dtype == torch.float32:
            ext, dtype, np_dtype = "f32", "float32", "<f4"
        elif t.dtype == torch.int64:
            ext, dtype, np_dtype = "i64", "int64", "<i8"
        else:
            raise SystemExit(f"{key}: unexpected dtype {t.dtype}")
        if key in self.tensors:
            raise SystemExit(f"duplicate tensor name {key}")
        fname = f"{key}.{ext}"
        (self.out / fname).write_bytes(t.numpy().astype(np_dtype).tobytes())
        entry = {"file": fname, "dtype": dtype, "shape": list(t.shape)}
        if t.numel():
            tf = t.double()
            entry.update(min=float(tf.min()), max=float(tf.max()), mean=float(tf.mean()))
        self.tensors[key] = entry
        return key


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, type=Path, help="model folder (manifest.toml)")
    ap.add_argument("--out", required=True, type=Path, help="reference folder to write")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    mdir: Path = args.model
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    manifest = tomllib.loads((mdir / "manifest.toml").read_text())
    assert manifest["kind"] == "sam3", manifest["kind"]
    files = manifest["files"]
    io = manifest["tensors"]
    mods = {k: torch.jit.load(str(mdir / files[k])).eval()
            for k in ("image_encoder", "click_decoder", "text_encoder", "grounding_decoder")}

    tok, tok_path = load_tokenizer(mdir / files["vocab"])
    d = Dumper(out)
    runs = []

    def run(module, case, inputs: dict):
        names_in = io[module]["inputs"]
        names_out = io[module]["outputs"]
        assert list(inputs) == names_in, (module, list(inputs), names_in)
        with torch.no_grad():
            res = mods[module](*[d_tensors[k] for k in inputs.values()])
        res = res if isinstance(res, tuple) else (res,)
        assert len(res) == len(names_out), (module, len(res), names_out)
        prefix = f"{case}." if case else ""
        outs = {}
        for n, t in zip(names_out, res):
            key = d.put(prefix + n, t)
            d_tensors[key] = t
            outs[n] = key
        # lists (not objects) so the call order survives any JSON parser
        runs.append({"module": module, "case": case or module,
                     "inputs": [{"name": n, "tensor": k} for n, k in inputs.items()],
                     "outputs": [{"name": n, "tensor": k} for n, k in outs.items()]})
        return {n: t for n, t in zip(names_out, res)}

    d_tensors = {}

    def inp(key, t):
        d.put(key, t)
        d_tensors[key] = t
        return key

    # 1. image encoder
    image = inp("image", fixed_image())
    run("image_encoder", None, {"image": image})
    feats = {k: k for k in io["image_encoder"]["outputs"]}

    # 2. click decoder, three cases
    def click(case, coords, labels, mask_input=None):
        has = 0.0 if mask_input is None else 1.0
        mask_input = torch.zeros(1, 1, 288, 288) if mask_input is None else mask_input
        ins = {
            "sam_image_embed": feats["sam_image_embed"],
            "sam_feat_s0": feats["sam_feat_s0"],
            "sam_feat_s1": feats["sam_feat_s1"],
            "point_coords": inp(f"{case}.point_coords", torch.tensor([coords], dtype=torch.float32)),
            "point_labels": inp(f"{case}.point_labels", torch.tensor([labels], dtype=torch.int64)),
            "mask_input": inp(f"{case}.mask_input", mask_input.float()),
            "has_mask_input": inp(f"{case}.has_mask_input", torch.tensor([has], dtype=torch.float32)),
        }
        return run("click_decoder", case, ins)

    r1 = click("click_point", [[500.0, 400.0]], [1])
    click("click_box", [[300.0, 250.0], [700.0, 650.0], [500.0, 400.0]], [2, 3, 1])
    best = int(r1["iou_scores"][0].argmax())
    prev = r1["masks"][:, best:best + 1].clamp(-32.0, 32.0)
    click("click_mask", [[500.0, 400.0], [620.0, 600.0]], [1, 0], prev)

    # 3. text encoder
    ids = tok(["red ball"], context_length=CONTEXT_LENGTH)
    t = run("text_encoder", None, {"token_ids": inp("token_ids", ids)})

    # 4. grounding decoder
    run("grounding_decoder", None, {
        "fpn0": feats["fpn0"], "fpn1": feats["fpn1"], "fpn2": feats["fpn2"],
        "text_features": "text_features", "text_mask": "text_mask",
    })

    # 5. tokenizer corpus
    cases = []
    for text in CORPUS:
        full = [tok.sot_token_id] + tok.encode(text) + [tok.eot_token_id]
        row = tok([text], context_length=CONTEXT_LENGTH)[0].tolist()
        cases.append({
            "text": text,
            "cleaned": tok.clean_fn(text),
            "ids": row,                      # exactly what the model gets (1 x 32, zero padded)
            "untruncated_len": len(full),    # incl. SOT/EOT; > 32 means truncated
            "truncated": len(full) > CONTEXT_LENGTH,
        })
    # the official tokenizer must give the same ids as open_clip's (if installed)
    agrees = None
    try:
        from open_clip.tokenizer import SimpleTokenizer as OCTokenizer

        oc = OCTokenizer(bpe_path=str(mdir / files["vocab"]), context_length=CONTEXT_LENGTH)
        agrees = all(oc([c["text"]])[0].tolist() == c["ids"] for c in cases)
    except ImportError:
        pass

    ref = {
        "format": 1,
        "model": {"name": manifest["name"], "weights": manifest["weights"],
                  "tiny": bool(manifest.get("config", {}).get("tiny", False))},
        "torch": torch.__version__,
        "byte_order": "little",
        "tolerance": 1e-4,
        "tensors": d.tensors,
        "runs": runs,
        "tokenizer": {
            "implementation": f"sam3 0.1.4 SimpleTokenizer ({tok_path.name}), clean='lower'",
            "vocab_file": files["vocab"],
            "context_length": CONTEXT_LENGTH,
            "sot_token_id": tok.sot_token_id,
            "eot_token_id": tok.eot_token_id,
            "pad_token_id": 0,
            "vocab_size": tok.vocab_size,
            "open_clip_agrees": agrees,
            "cases": cases,
        },
    }
    (out / "reference.json").write_text(json.dumps(ref, indent=1, ensure_ascii=False))
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(f"wrote {out}: {len(d.tensors)} tensors, {len(runs)} runs, {len(cases)} tokenizer cases, "
          f"{size / 1e6:.1f} MB (open_clip agrees: {agrees})")


if __name__ == "__main__":
    main()

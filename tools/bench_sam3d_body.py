"""SAM 3D Body, body branch: the official Python path and Carve's (Rust, tch) side by side, in one
script on one machine (issue 16's benchmark).

    .venv/bin/python tools/bench_sam3d_body.py --repo SAM3D_BODY_REPO --dinov3-repo DINOV3_REPO \
        --mhr mhr_model.pt --model MODEL_DIR --reference REFERENCE_DIR [--tiny] [--runs 3] [--threads 2]

MODEL_DIR / REFERENCE_DIR come from `tools/export_sam3d_body.py` with the same --repo, --mhr, --seed
and --tiny: the random weights are seeded, so this script rebuilds the very model the folder holds.
Official side: `SAM3DBody.forward_step(batch, "body")` (what `process_one_image(...,
inference_type="body")` runs after its crop) on the reference photo's official batch, fp32 and under
`torch.autocast("cpu", torch.bfloat16)`, medians over --runs after one warm-up. Carve's side:
`cargo bench --profile dev --bench sam3d_body` (fidelity to the official answer, then encoder and
loop medians, fp32 and the bf16 encoder). Both sides on --threads torch threads.
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import export_sam3d_body as exp  # noqa: E402


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", required=True, type=Path)
    ap.add_argument("--dinov3-repo", required=True, type=Path)
    ap.add_argument("--config", type=Path, default=None)
    ap.add_argument("--mhr", required=True, type=Path)
    ap.add_argument("--model", required=True, type=Path)
    ap.add_argument("--reference", required=True, type=Path)
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cargo-profile", default="dev")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.config is None:
        a.config = a.repo.parent / "sam-3d-body-config" / "model_config.yaml"
    a.checkpoint = None
    exp.import_official(a.repo, a.dinov3_repo, a.tiny)
    exp.cpu_only()
    with torch.no_grad():
        model, cfg, _ = exp.build(a)
    batch, *_ = exp.official_batch(model, cfg, a.seed)
    results = {"threads": a.threads, "tiny": a.tiny}
    for precision in ("fp32", "bf16"):
        times = []
        for i in range(a.runs + 1):
            ctx = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else torch.no_grad()
            with torch.no_grad(), ctx:
                model._initialize_batch(batch)
                t0 = time.perf_counter()
                out = model.forward_step(batch, decoder_type="body")["mhr"]
                if i:
                    times.append((time.perf_counter() - t0) * 1e3)
        results[f"official_{precision}_ms_median"] = round(median(times), 1)
        results[f"official_{precision}_ms_runs"] = [round(t) for t in times]
        if precision == "bf16":
            ref = torch.from_numpy(
                __import__("numpy").fromfile(a.reference / "official_pred_vertices.f32", dtype="<f4")).view(1, -1, 3)
            results["official_bf16_vertex_error_m"] = float((out["pred_vertices"].float() - ref).abs().max())
        print(f"official forward_step {precision}: median {results[f'official_{precision}_ms_median']} ms "
              f"over {a.runs} runs (after a warm-up), {a.threads} torch threads", flush=True)
    del model
    cmd = ["cargo", "bench", "--profile", a.cargo_profile, "--bench", "sam3d_body", "--", str(a.model), str(a.mhr),
           str(a.reference), str(a.runs), "--threads", str(a.threads)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    if res.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{res.stderr[-3000:]}")
    print(res.stdout, flush=True)
    carve = json.loads(res.stdout.strip().splitlines()[-1])
    results["carve"] = carve
    total = carve["encode_ms_median"] + carve["loop_ms_median"]
    results["carve_total_ms"] = round(total, 1)
    results["official_fp32_over_carve"] = round(results["official_fp32_ms_median"] / total, 2)
    if carve.get("bf16"):
        total16 = carve["bf16"]["encode_ms_median"] + carve["loop_ms_median"]
        results["carve_bf16_total_ms"] = round(total16, 1)
        results["official_bf16_over_carve_bf16"] = round(results["official_bf16_ms_median"] / total16, 2)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

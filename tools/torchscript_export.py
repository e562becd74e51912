"""Helpers shared by the TorchScript exporters (tools/export_sam3.py, tools/export_sam2.py).

* trace -> save -> reload -> compare with the eager wrapper (`trace_save_check`), the op check
  that keeps non-aten ops out of the files tch loads (`foreign_ops`), `compare` with a report;
* `ClickDecoder`: the SAM 2-style prompt encoder + mask decoder as the image predictors call
  them. SAM 2.1 (`sam2.modeling.sam`) and SAM 3's tracker (`sam3.sam`) share this code, so one
  wrapper (and one Rust decoder, src/segment/sam_click.rs) serves both.

Imported by path: the scripts run as `.venv/bin/python tools/NAME.py`, which puts tools/ first
on sys.path.
"""
import contextlib
import gc
import json
import resource
import sys
import time

import torch
import torch.nn as nn


class ClickDecoder(nn.Module):
    """SAM 2-style prompt encoder + mask decoder, as `SAM2ImagePredictor._predict`
    (sam2/sam2_image_predictor.py) and SAM 3's `SAM3InteractiveImagePredictor._predict` call them.

    Inputs: image_embed 1x256xfxf (+ no_mem_embed already added), feat_s0 / feat_s1 (the
    high-resolution levels after conv_s0 / conv_s1), point_coords 1xNx2 in model-input pixels,
    point_labels 1xN int64 (1 positive, 0 negative, 2/3 box corners first), mask_input 1x1xmxm
    logits, has_mask_input [1] (1.0 = use mask_input, else no_mask_embed).
    Outputs: the three multimask hypotheses (logits, IoU), the object-score logit, and the
    `multimask_output=False` answer (token 0, or the best of 1..3 when token 0 is unstable)."""

    def __init__(self, prompt_encoder, mask_decoder):
        super().__init__()
        self.prompt_encoder = prompt_encoder
        self.mask_decoder = mask_decoder

    def forward(self, image_embed, feat_s0, feat_s1, point_coords, point_labels, mask_input, has_mask_input):
        pe = self.prompt_encoder
        # boxes are given as two corner points with labels 2, 3 (first), exactly like _predict
        # does, so `boxes=None` and the prompt encoder appends one padding point (label -1).
        sparse, dense_mask = pe(points=(point_coords, point_labels), boxes=None, masks=mask_input)
        h, w = pe.image_embedding_size
        dense_none = pe.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(sparse.shape[0], -1, h, w)
        dense = torch.where(has_mask_input.reshape(1, 1, 1, 1) > 0.5, dense_mask, dense_none)
        md = self.mask_decoder
        masks, iou, _tokens, obj = md.predict_masks(
            image_embeddings=image_embed,
            image_pe=pe.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            repeat_image=False,
            high_res_features=[feat_s0, feat_s1],
        )
        # multimask_output=True branch of MaskDecoder.forward
        multi_masks, multi_iou = masks[:, 1:, :, :], iou[:, 1:]
        # multimask_output=False branch (dynamic_multimask_via_stability is on in both image models)
        single_mask, single_iou = md._dynamic_multimask_via_stability(masks, iou)
        return multi_masks, multi_iou, obj, single_mask, single_iou


CLICK_DECODER_OUTPUTS = ["masks", "iou_scores", "object_score_logits", "single_mask", "single_iou_score"]


def check_click_decoder_dynamic_n(clk, clk_w, feats, image_size, mask_size, report, tol=1e-5):
    """One traced graph for any number of points, with and without mask input: the reloaded
    decoder against the eager wrapper for N = 1, 2, 5, 9 (box corners first for N >= 5).
    `feats` = (image_embed, feat_s0, feat_s1)."""
    g = torch.Generator().manual_seed(1)
    for n in (1, 2, 5, 9):
        c = torch.rand(1, n, 2, generator=g) * image_size
        lab = torch.randint(0, 2, (1, n), generator=g)
        if n >= 5:
            lab[0, :2] = torch.tensor([2, 3])
        for hm in (0.0, 1.0):
            m = torch.randn(1, 1, mask_size, mask_size, generator=g) * 5
            with torch.no_grad():
                want = clk_w(*feats, c, lab, m, torch.tensor([hm]))
                got = clk(*feats, c, lab, m, torch.tensor([hm]))
            compare(f"click_decoder N={n} has_mask={int(hm)} vs eager", got, want, tol, report)


class _NoRecord(contextlib.ContextDecorator):
    def __init__(self, *args, **kwargs):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@contextlib.contextmanager
def no_profiler_ranges():
    """torch.profiler.record_function ranges (Sam3Image.forward_grounding) would be traced as
    profiler::_record_function_enter_new/_exit nodes. They are no-ops for the numbers, so keep
    them out of the graph."""
    saved = torch.profiler.record_function
    torch.profiler.record_function = _NoRecord
    try:
        yield
    finally:
        torch.profiler.record_function = saved


def max_abs_diff(a, b) -> float:
    """max |a - b|; inf if either side has a non-finite value (NaN must never pass)."""
    if not a.numel():
        return 0.0
    if a.dtype == torch.bool or not a.is_floating_point():
        return float((a.long() - b.long()).abs().max())
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        return float("inf")
    return float((a.float() - b.float()).abs().max())


def compare(tag, got, want, tol, report):
    got = got if isinstance(got, (tuple, list)) else (got,)
    want = want if isinstance(want, (tuple, list)) else (want,)
    assert len(got) == len(want), (tag, len(got), len(want))
    worst = 0.0
    for g, w in zip(got, want):
        assert tuple(g.shape) == tuple(w.shape), (tag, g.shape, w.shape)
        worst = max(worst, max_abs_diff(g, w))
    report.append({"check": tag, "max_abs_diff": worst, "tol": tol, "ok": worst <= tol})
    status = "ok" if worst <= tol else "FAIL"
    print(f"  [{status}] {tag}: max|diff| = {worst:.3g} (tol {tol:g})", flush=True)
    return worst <= tol


def foreign_ops(module) -> list:
    """Ops in the graph (recursively) that are not aten/prim: those would not load in tch."""
    bad = set()

    def visit(graph):
        for node in graph.nodes():
            kind = node.kind()
            ns = kind.split("::")[0]
            if ns not in ("aten", "prim"):
                bad.add(kind)
            if kind == "prim::PythonOp":
                bad.add(kind)
            for block in node.blocks():
                visit(block)

    visit(module.inlined_graph)
    return sorted(bad)


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def toml_list(xs):
    return "[" + ", ".join(json.dumps(x) for x in xs) + "]"


def manifest_lines(kind, name, weights, description, files, image_size, mean, std, io) -> list:
    """The common head of a model folder's manifest.toml (format in src/model/manifest.rs): kind,
    name, weights, [files] (role -> file), [input] (square size, mean/std) and [tensors.ROLE]
    (input/output names from `io`: role -> (inputs, outputs)). Callers append [config]."""
    lines = ["format = 1", f"kind = {json.dumps(kind)}", f"name = {json.dumps(name)}",
             f"weights = {json.dumps(weights)}", f"description = {json.dumps(description)}", "[files]"]
    lines += [f"{role} = {json.dumps(file)}" for role, file in files.items()]
    lines += ["[input]", f"width = {image_size}", f"height = {image_size}", f"mean = {toml_list(mean)}",
              f"std = {toml_list(std)}"]
    for mod, (ins, outs) in io.items():
        lines += [f"[tensors.{mod}]", f"inputs = {toml_list(ins)}", f"outputs = {toml_list(outs)}"]
    return lines


def finish_export(out_dir, t_start, timings, report, threads, n_params, extra: dict):
    """Writes export_report.json (timings, every check, `extra`), prints the summary line and
    exits non-zero when a check failed."""
    timings["total_s"] = round(time.perf_counter() - t_start, 3)
    timings["peak_rss_mb"] = peak_rss_mb()
    timings["threads"] = threads
    timings["parameters"] = n_params
    (out_dir / "export_report.json").write_text(json.dumps({**extra, "timings": timings, "checks": report}, indent=1))
    size = sum(p.stat().st_size for p in out_dir.iterdir() if p.is_file())
    failed = [r for r in report if not r["ok"]]
    print(f"wrote {out_dir} ({size / 1e6:.1f} MB) in {timings['total_s']:.1f}s, "
          f"peak RSS {timings['peak_rss_mb']:.0f} MB, {len(report) - len(failed)}/{len(report)} checks ok")
    if failed:
        sys.exit("some checks failed: " + ", ".join(r["check"] for r in failed))


def trace_save_check(name, wrapper, inputs, out_dir, timings, report, tol=0.0, keep=True, trace_ctx=None):
    """Runs `wrapper` eagerly, traces it, saves `out_dir/NAME.pt`, reloads it, checks that the
    graph holds only aten/prim ops and that the reloaded module gives the eager outputs (within
    `tol`). `trace_ctx` (a context manager factory) wraps the eager run and the trace, e.g.
    CPU autocast for a reduced-precision file. Returns (reloaded module or None, eager outputs)."""
    ctx = trace_ctx or contextlib.nullcontext
    t0 = time.perf_counter()
    with torch.no_grad(), ctx():
        eager = wrapper(*inputs)
    t1 = time.perf_counter()
    with torch.no_grad(), no_profiler_ranges(), ctx():
        traced = torch.jit.trace(wrapper, inputs, strict=False, check_trace=False)
    t2 = time.perf_counter()
    path = out_dir / f"{name}.pt"
    traced.save(str(path))
    del traced
    loaded = torch.jit.load(str(path))
    t3 = time.perf_counter()
    with torch.no_grad():
        got = loaded(*inputs)
    t4 = time.perf_counter()
    timings[name] = {"eager_run_s": round(t1 - t0, 3), "trace_s": round(t2 - t1, 3),
                     "save_load_s": round(t3 - t2, 3), "traced_run_s": round(t4 - t3, 3),
                     "size_bytes": path.stat().st_size}
    bad = foreign_ops(loaded)
    if bad:
        raise SystemExit(f"{name}: graph contains ops plain libtorch cannot load: {bad}")
    compare(f"{name}: reloaded vs eager", got, eager, tol, report)
    del got
    timings[name]["peak_rss_mb_so_far"] = peak_rss_mb()
    print(f"  {name}.pt {path.stat().st_size / 1e6:.1f} MB, eager {t1 - t0:.2f}s, trace {t2 - t1:.2f}s, "
          f"traced run {t4 - t3:.2f}s, peak RSS so far {peak_rss_mb():.0f} MB", flush=True)
    if not keep:  # the reloaded copy is a second set of weights (1.9 GB for the full SAM 3 encoder)
        del loaded
        loaded = None
    gc.collect()
    return loaded, eager

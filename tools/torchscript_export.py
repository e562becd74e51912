"""Helpers shared by the TorchScript exporters (tools/export_sam3.py, tools/export_sam2.py).

* trace -> save -> reload -> compare with the eager wrapper (`trace_save_check`), the op check
  that keeps non-aten ops out of the files tch loads (`foreign_ops`), `compare` with a report;
* `ClickDecoder`: the SAM 2-style prompt encoder + mask decoder as the image predictors call
  them. SAM 2.1 (`sam2.modeling.sam`) and SAM 3's tracker (`sam3.sam`) share this code, so one
  wrapper (and one Rust decoder, src/segment/sam_click.rs) serves both;
* `FastClickDecoder` (the same function rearranged for the CPU), `ClickPrepare` +
  `PreparedClickDecoder` (its per-image part computed once; prompts without a mask input) and
  their checks, for both models too.

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
import torch.nn.functional as F


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


def random_prompts(seed, ns, image_size, mask_size, with_mask=(0.0, 1.0)):
    """Random click-decoder prompts for the export's checks: for each N in `ns` (box corners first
    for N >= 5) and each has-mask flag, (tag, coords 1xNx2, labels 1xN, mask_input, has_mask)."""
    g = torch.Generator().manual_seed(seed)
    for n in ns:
        c = torch.rand(1, n, 2, generator=g) * image_size
        lab = torch.randint(0, 2, (1, n), generator=g)
        if n >= 5:
            lab[0, :2] = torch.tensor([2, 3])
        for hm in with_mask:
            m = torch.randn(1, 1, mask_size, mask_size, generator=g) * 5
            yield f"N={n} has_mask={int(hm)}", c, lab, m, torch.tensor([hm])


def check_click_decoder_dynamic_n(clk, clk_w, feats, image_size, mask_size, report, tol=1e-5):
    """One traced graph for any number of points, with and without mask input: the reloaded
    decoder against the eager wrapper for N = 1, 2, 5, 9 (box corners first for N >= 5).
    `feats` = (image_embed, feat_s0, feat_s1)."""
    for tag, c, lab, m, hm in random_prompts(1, (1, 2, 5, 9), image_size, mask_size):
        with torch.no_grad():
            want = clk_w(*feats, c, lab, m, hm)
            got = clk(*feats, c, lab, m, hm)
        compare(f"click_decoder {tag} vs eager", got, want, tol, report)


def _deconv_as_matmul(dc):
    """ConvTranspose2d(kernel 2, stride 2) as a matrix: out[o, 2y+i, 2x+j] = b[o] +
    sum_c W[c, o, i, j] in[c, y, x], i.e. (h*w x c_in) @ (c_in x (i, j, o)) then a pixel shuffle."""
    if tuple(dc.kernel_size) != (2, 2) or tuple(dc.stride) != (2, 2) or tuple(dc.padding) != (0, 0):
        raise SystemExit(f"unexpected output upscaling layer {dc}")
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
            raise SystemExit("the fast click decoder expects pred_obj_scores and use_high_res_features "
                             "(every SAM 2.1 image config and SAM 3's tracker)")
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
    for tag, c, lab, m, hm in random_prompts(2, (1, 2, 5), image_size, mask_size):
        with torch.no_grad():
            got = fast(*feats, c, lab, m, hm)
            want = reference(*feats, c, lab, m, hm)
        compare(f"fast click decoder vs official predict_masks, {tag}", got, want, tol, report)


# The click decoders' graphs against their eager runs: bit for bit on the Intel CPUs the exports
# were first measured on, 1.2e-7 (on logits of magnitude ~1-10) on an AMD EPYC, where the CPU
# kernels picked for the traced graph's ops differ from eager's in the last bit. 1e-6 still
# catches any wrong wire (those move the logits by far more).
CLICK_DECODER_TOL = 1e-6


def check_prepared_decoder(prep, dec_p, fast, feats, image_size, mask_size, report):
    """The reloaded prepare + prepared decoder pair against the eager fast decoder without a mask
    input, N = 1, 2, 5, 9 (box corners first for N >= 5): the same operations on the same
    values, within CLICK_DECODER_TOL (last-bit differences between CPU kernels)."""
    with torch.no_grad():
        prepared = prep(*feats)
        for tag, c, lab, _m, _hm in random_prompts(3, (1, 2, 5, 9), image_size, mask_size, with_mask=(0.0,)):
            want = fast(*feats, c, lab, torch.zeros(1, 1, mask_size, mask_size), torch.zeros(1))
            compare(f"click_decoder_prepared {tag} vs fast decoder", dec_p(*prepared, c, lab), want,
                    CLICK_DECODER_TOL, report)


class Bf16Encoder(nn.Module):
    """The bf16 variant of an image-encoder wrapper, as `torch.autocast("cpu", torch.bfloat16)` runs
    it: the weights of every Linear / Conv layer stored in bf16 (half the file and the memory;
    autocast would round them to bf16 on every call anyway, so the result is the same), traced
    under autocast so the graph holds the casts (`aten::to`) and needs no autocast at run time;
    LayerNorm, softmax and the other ops autocast keeps in fp32 stay fp32. Outputs are cast back to
    fp32, so the decoders and the feature cache see the fp32 interface. Measured on the full SAM 3
    encoder (2 threads, AMX): 6.1 s vs 19-30 s fp32, mean relative error 0.8 % on the outputs."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        for m in encoder.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.Conv1d)):
                m.to(torch.bfloat16)
        self.encoder = encoder

    def forward(self, image):
        return tuple(t.float() for t in self.encoder(image))


def bf16_autocast():
    return torch.autocast("cpu", dtype=torch.bfloat16)


def export_bf16_encoder(encoder, inputs, fp32_outputs, out_dir, timings, report, max_rel_err=0.05):
    """Converts `encoder` (an fp32 wrapper, modified in place: export its fp32 file first) to
    `Bf16Encoder`, traces it to `image_encoder_bf16.pt` (reloaded, checked against the eager
    autocast run with tolerance 0) and reports its agreement with the fp32 outputs (mean relative
    error per output, which must stay under `max_rel_err`)."""
    bf16 = Bf16Encoder(encoder).eval()
    # keep=False: the reloaded file equals the eager outputs exactly (checked inside), so their
    # dtypes are its dtypes; not holding it (and not running it again) saves ~1 GB at full size.
    _, outs = trace_save_check("image_encoder_bf16", bf16, inputs, out_dir, timings, report, keep=False,
                               trace_ctx=bf16_autocast)
    for i, (got, want) in enumerate(zip(outs, fp32_outputs)):
        rel = float((got.float() - want).abs().mean() / want.abs().mean().clamp_min(1e-12))
        report.append({"check": f"image_encoder_bf16 output {i}: mean relative error vs fp32", "max_abs_diff": rel,
                       "tol": max_rel_err, "ok": rel <= max_rel_err})
        print(f"  [{'ok' if rel <= max_rel_err else 'FAIL'}] image_encoder_bf16 output {i}: mean relative error vs "
              f"fp32 {rel:.4f} (tol {max_rel_err})", flush=True)
    dtypes = {str(t.dtype) for t in outs}
    if dtypes != {"torch.float32"}:
        raise SystemExit(f"image_encoder_bf16: outputs are {dtypes}, expected float32")


# What click_prepare returns and click_decoder_prepared takes (before the prompt).
PREPARED_CLICK_INPUTS = ["image_tokens", "t2i_k", "t2i_v", "i2t_q", "feat_s0_tokens", "feat_s1_tokens"]


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


class TensorDump:
    """Raw little-endian float32 files in `out` and their index (`tensors`: key -> {file, shape})
    for a reference.json — the format tests/it/official.rs reads."""

    def __init__(self, out):
        self.out, self.tensors = out, {}

    def put(self, key, t):
        t = torch.as_tensor(t).detach().float().contiguous()
        (self.out / f"{key}.f32").write_bytes(t.numpy().astype("<f4").tobytes())
        self.tensors[key] = {"file": f"{key}.f32", "shape": list(t.shape)}


def return_freed_memory_to_the_os():
    """glibc's malloc raises its mmap threshold every time a large block is freed (up to 32 MB),
    after which big tensors come from the heap, whose freed pages stay in the process: the peak RSS
    of an export then adds up the activations of every run (eager, trace, reloaded check) instead
    of the largest one. A fixed threshold, set before any tensor exists, keeps every block over
    1 MiB mmapped and unmapped on free. Linux/glibc only; elsewhere a no-op."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 1 << 20)
    libc.mallopt(m_trim_threshold, 1 << 20)


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


def _nonscalar_tensor(node) -> bool:
    value = node.output().toIValue()
    return isinstance(value, torch.Tensor) and value.dim() > 0


def _moved_to_input_device(node) -> bool:
    """An `aten::to` whose device comes from `prim::device` (what `make_device_portable` inserts)."""
    ins = list(node.inputs())
    return node.kind() == "aten::to" and len(ins) > 1 and ins[1].node().kind() == "prim::device"


def device_baked(module) -> dict:
    """What would pin a graph to the device it was traced on: device constants (`prim::Constant`
    of type Device, e.g. `torch.zeros(..., device=cpu)`, `arange`, `.to(device)` inside the
    official code) and tensor constants with more than one element not moved to the input's device
    (a CPU tensor mixed with CUDA ones fails; 0-dim constants are promoted like scalars). Counts
    over the inlined forward graph."""
    devices, tensors = 0, 0
    for node in module.inlined_graph.nodes():
        if node.kind() != "prim::Constant":
            continue
        kind = node.output().type().kind()
        if kind == "DeviceObjType":
            devices += 1
        elif kind == "TensorType" and _nonscalar_tensor(node) and not all(_moved_to_input_device(u.user)
                                                                             for u in node.output().uses()):
            tensors += 1
    return {"device_constants": devices, "tensor_constants": tensors}


def make_device_portable(module):
    """Rewrites a traced module's forward graph (in place; save it afterwards) so it runs on the
    device of its first tensor input: the graph is inlined, `prim::device(input)` computed first,
    every device constant replaced by it, and every non-scalar tensor constant moved there with
    `aten::to(device, dtype)`. Tracing on the CPU records `device=cpu` wherever the official code
    creates a tensor (`torch.zeros(..., device=x.device)`, `arange`, `.to(...)`), which is what
    fails when a CPU-traced file runs on CUDA."""
    g = module.forward.graph
    torch._C._jit_pass_inline(g)
    first = next((v for v in list(g.inputs())[1:] if v.type().kind() == "TensorType"), None)
    if first is None:
        return module
    dev = g.create("prim::device", [first])
    dev.output().setType(torch._C.DeviceObjType.get())
    g.prependNode(dev)
    for node in list(g.nodes()):
        if node.kind() != "prim::Constant":
            continue
        kind = node.output().type().kind()
        if kind == "DeviceObjType":
            node.output().replaceAllUsesWith(dev.output())
            node.destroy()
        elif kind == "TensorType" and _nonscalar_tensor(node):
            t = node.output().toIValue()
            with g.insert_point_guard(node):
                args = [node.output(), dev.output(), g.insertConstant(t.dtype), g.insertConstant(False),
                        g.insertConstant(False), g.insertConstant(None)]
            moved = g.create("aten::to", args)
            moved.output().setType(node.output().type())
            moved.insertAfter(node)
            node.output().replaceAllUsesAfterNodeWith(moved, moved.output())
    torch._C._jit_pass_lint(g)
    return module


def bool_scalar_products_as_tensors(module):
    """Rewrites (in place; save afterwards) every product of a tensor and a bool constant in a
    traced module's forward graph — what `bool_tensor * (k in [3])` traces to (SAM 3D Body's hand
    masks): the tracer records the Python bool as a constant typed Tensor but holding a bool, the
    file keeps the bool, and `aten::mul(Tensor, bool)` has no overload: the saved file does not
    load. A 1-element bool tensor constant broadcasts to the same values (bool x bool stays bool).
    Returns the number of products rewritten."""
    g = module.forward.graph
    torch._C._jit_pass_inline(g)
    count = 0
    for node in list(g.nodes()):
        if node.kind() != "aten::mul":
            continue
        for pos, v in enumerate(node.inputs()):
            if v.node().kind() != "prim::Constant" or v.type().kind() != "TensorType":
                continue
            t = v.toIValue()
            if isinstance(t, torch.Tensor) and t.dim() == 0 and t.dtype == torch.bool:
                t = bool(t)
            other = list(node.inputs())[1 - pos]
            if not isinstance(t, bool) or other.type().kind() != "TensorType" or other.type().scalarType() != "Bool":
                continue
            with g.insert_point_guard(node):
                flag = g.insertConstant(torch.tensor([t]))
            node.replaceInput(pos, flag)
            count += 1
    torch._C._jit_pass_lint(g)
    return count


def trace_save_check(name, wrapper, inputs, out_dir, timings, report, tol=0.0, keep=True, trace_ctx=None,
                     bool_products=False, before_reload=None):
    """Runs `wrapper` eagerly, traces it, saves `out_dir/NAME.pt`, reloads it, checks that the
    graph holds only aten/prim ops and that the reloaded module gives the eager outputs (within
    `tol`). `trace_ctx` (a context manager factory) wraps the eager run and the trace, e.g.
    CPU autocast for a reduced-precision file; `bool_products` applies
    `bool_scalar_products_as_tensors` before saving; `before_reload` (a function) runs after the
    file is saved and before it is loaded back (to free the eager weights first: the peak then holds
    one copy of them). Returns (reloaded module or None, eager outputs)."""
    ctx = trace_ctx or contextlib.nullcontext
    t0 = time.perf_counter()
    with torch.no_grad(), ctx():
        eager = wrapper(*inputs)
    t1 = time.perf_counter()
    with torch.no_grad(), no_profiler_ranges(), ctx():
        traced = torch.jit.trace(wrapper, inputs, strict=False, check_trace=False)
    t2 = time.perf_counter()
    path = out_dir / f"{name}.pt"
    if bool_products:
        bool_scalar_products_as_tensors(traced)
    make_device_portable(traced)
    traced.save(str(path))
    del traced
    if before_reload is not None:
        before_reload()
        gc.collect()
    loaded = torch.jit.load(str(path))
    baked = device_baked(loaded)
    report.append({"check": f"{name}: no device or non-scalar tensor constants in the graph",
                   "max_abs_diff": float(sum(baked.values())), "tol": 0.0, "ok": not any(baked.values())})
    if any(baked.values()):
        print(f"  [FAIL] {name}: graph pinned to the trace device: {baked}", flush=True)
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

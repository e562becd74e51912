"""Carve's rig file (`.rig.safetensors`, docs/RIG_FORMAT.md) evaluated in PyTorch: an independent
implementation of the same maths (parameter transform, forward kinematics, blendshapes, pose
correctives, linear blend skinning) used to check Carve's native evaluation and as the PyTorch
peer of the skinning benchmark. Evaluates the file's base mesh only.

    python tools/rig_torch.py RIG.safetensors PARAMS.json OUT.f32      # posed vertices, raw f32
    python tools/rig_torch.py RIG.safetensors PARAMS.json OUT.json --bench 50 --threads 1 [--peer sparse]
    python tools/rig_torch.py RIG.safetensors - OUT.pt --torchscript   # mhr_model.pt-style module

PARAMS.json: {"model": [...], "identity": [...], "expression": [...]} (missing lists are zeros).
"""
import argparse
import json
import time

import torch
from safetensors import safe_open


class TorchRig:
    def __init__(self, path):
        with safe_open(path, "pt") as f:
            self.meta = f.metadata()
            t = {k: f.get_tensor(k) for k in f.keys()}
        assert self.meta["format"] == "carve-rig", "not a Carve rig file"
        # Skip blendshapes whose coefficients are all zero (the benchmark; never when tracing).
        self.skip_zero_shapes = False
        self.parents = t["skeleton.parents"].tolist()
        self.offsets = t["skeleton.offsets"].float()
        q = t["skeleton.pre_rotations"].float()  # xyzw
        self.pre = quat_to_matrix(q)
        self.pt = t["parameter_transform.matrix"].float()
        self.pt_offsets = t["parameter_transform.offsets"].float()
        self.rest = t["mesh.rest_vertices"].float()
        self.identity = t["blendshapes.identity"].float()
        self.expression = t["blendshapes.expression"].float()
        self.skin_joints = t["skin.joints"].long()
        self.skin_weights = t["skin.weights"].float()
        self.correctives = None
        if "correctives.w1" in t:
            hidden = int(self.meta["corrective_hidden"])
            joints = t["correctives.joints"].long()
            idx = t["correctives.w0_indices"].long()
            w0 = torch.zeros(hidden, len(joints) * 6)
            w0.index_put_((idx[:, 0], idx[:, 1]), t["correctives.w0_values"].float(), accumulate=True)
            self.correctives = (joints, w0, t["correctives.w1"].float())
        # Inverse bind: the inverse of every joint's world transform at zero parameters.
        zero = torch.zeros(self.pt.shape[1])
        r, tr, s = self.fk(zero)
        rt = r.transpose(1, 2)
        self.ib_r = rt
        self.ib_s = 1.0 / s
        self.ib_t = -(self.ib_s[:, None] * torch.einsum("jab,jb->ja", rt, tr))

    def fk(self, model):
        j = len(self.parents)
        jp = (self.pt @ model + self.pt_offsets).view(j, 7)
        local_r = self.pre @ euler_xyz(jp[:, 3:6])
        local_t = self.offsets + jp[:, 0:3]
        local_s = torch.exp2(jp[:, 6])
        rs, ts, ss = [], [], []
        for i, p in enumerate(self.parents):
            if p >= 0:
                ts.append(ts[p] + ss[p] * (rs[p] @ local_t[i]))
                rs.append(rs[p] @ local_r[i])
                ss.append(ss[p] * local_s[i])
            else:
                rs.append(local_r[i]); ts.append(local_t[i]); ss.append(local_s[i])
        self._jp = jp
        return torch.stack(rs), torch.stack(ts), torch.stack(ss)

    def compact(self):
        """The competent peer (`--peer sparse`): skinning over the non-zero influences only (the
        weights as a sparse CSR matrix, ~2.4 per vertex instead of 8: blended 3×4 transforms
        W @ A, applied once per vertex) and forward kinematics vectorised one tree level at a time
        (every joint of a level in one batched product) instead of a loop over joints. (A COO
        gather of the transformed vertices + `index_add_` was tried too: 9.1 ms on one core.)"""
        w = self.skin_weights
        v, k = torch.nonzero(w > 0, as_tuple=True)
        self.nz_v, self.nz_j, self.nz_w = v, self.skin_joints[v, k], w[v, k]
        j = len(self.parents)
        # The weights as a sparse V×J matrix (CSR): blended transforms = W @ A.
        self.w_sparse = torch.sparse_coo_tensor(
            torch.stack([self.nz_v, self.nz_j]), self.nz_w, (w.shape[0], j)).coalesce().to_sparse_csr()
        depth = []
        for p in self.parents:
            depth.append(0 if p < 0 else depth[p] + 1)
        self.levels = []
        for d in range(max(depth) + 1):
            idx = torch.tensor([i for i, e in enumerate(depth) if e == d], dtype=torch.long)
            self.levels.append((idx, torch.tensor([self.parents[i] for i in idx.tolist()], dtype=torch.long)))
        self.fk = self.fk_levels
        self.sparse = True

    def fk_levels(self, model):
        j = len(self.parents)
        jp = (self.pt @ model + self.pt_offsets).view(j, 7)
        local_r = self.pre @ euler_xyz(jp[:, 3:6])
        local_t = self.offsets + jp[:, 0:3]
        local_s = torch.exp2(jp[:, 6])
        r = torch.empty(j, 3, 3)
        t = torch.empty(j, 3)
        s = torch.empty(j)
        for d, (idx, par) in enumerate(self.levels):
            if d == 0:
                r[idx], t[idx], s[idx] = local_r[idx], local_t[idx], local_s[idx]
            else:
                rp, sp = r[par], s[par]
                t[idx] = t[par] + sp[:, None] * torch.einsum("kab,kb->ka", rp, local_t[idx])
                r[idx] = rp @ local_r[idx]
                s[idx] = sp * local_s[idx]
        self._jp = jp
        return r, t, s

    def forward(self, model, identity, expression):
        r, t, s = self.fk(model)
        # Skin transforms: world ∘ inverse bind.
        a_r = (r @ self.ib_r) * (s * self.ib_s)[:, None, None]
        a_t = t + s[:, None] * torch.einsum("jab,jb->ja", r, self.ib_t)
        rest = self.rest
        if not self.skip_zero_shapes or bool(identity.any()):
            rest = rest + torch.einsum("n,nvd->vd", identity, self.identity)
        if expression.numel() and (not self.skip_zero_shapes or bool(expression.any())):
            rest = rest + torch.einsum("n,nvd->vd", expression, self.expression)
        if self.correctives is not None:
            joints, w0, w1 = self.correctives
            m = euler_xyz(self._jp[joints, 3:6])
            eye = torch.eye(3)
            feats = torch.cat([(m[:, :, 0] - eye[:, 0]), (m[:, :, 1] - eye[:, 1])], dim=1).reshape(-1)
            hidden = torch.relu(w0 @ feats)
            rest = rest + (hidden @ w1).view(-1, 3)
        if getattr(self, "sparse", False):
            # Blend the 3×4 skin transforms per vertex (sparse W @ A), then apply them once.
            a = torch.cat([a_r.reshape(-1, 9), a_t], 1)
            m = self.w_sparse @ a
            return torch.einsum("vab,vb->va", m[:, :9].view(-1, 3, 3), rest) + m[:, 9:]
        return skin(a_r, a_t, rest, self.skin_joints, self.skin_weights)


def skin(a_r, a_t, rest, joints, weights):
    moved = torch.einsum("vkab,vb->vka", a_r[joints], rest) + a_t[joints]
    return (moved * weights[:, :, None]).sum(1)


def euler_xyz(a):
    """Rz(rz) · Ry(ry) · Rx(rx) for angles [N, 3]."""
    cx, sx = torch.cos(a[:, 0]), torch.sin(a[:, 0])
    cy, sy = torch.cos(a[:, 1]), torch.sin(a[:, 1])
    cz, sz = torch.cos(a[:, 2]), torch.sin(a[:, 2])
    o, z = torch.ones_like(cx), torch.zeros_like(cx)
    rx = torch.stack([o, z, z, z, cx, -sx, z, sx, cx], 1).view(-1, 3, 3)
    ry = torch.stack([cy, z, sy, z, o, z, -sy, z, cy], 1).view(-1, 3, 3)
    rz = torch.stack([cz, -sz, z, sz, cz, z, z, z, o], 1).view(-1, 3, 3)
    return rz @ ry @ rx


def quat_to_matrix(q):
    x, y, z, w = q.unbind(1)
    n = torch.sqrt(x * x + y * y + z * z + w * w)
    x, y, z, w = x / n, y / n, z / n, w / n
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
    ], 1).view(-1, 3, 3)


def matrix_to_quat_xyzw(m):
    """Rotation matrices [N, 3, 3] -> unit quaternions [N, 4] (x, y, z, w), w >= 0, without
    branches (so that it traces): magnitudes from the diagonal, signs from the skew part."""
    d0, d1, d2 = m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]
    half = lambda v: 0.5 * torch.sqrt(torch.clamp(v, min=0.0))
    w = half(1 + d0 + d1 + d2)
    x = torch.copysign(half(1 + d0 - d1 - d2), m[:, 2, 1] - m[:, 1, 2])
    y = torch.copysign(half(1 - d0 + d1 - d2), m[:, 0, 2] - m[:, 2, 0])
    z = torch.copysign(half(1 - d0 - d1 + d2), m[:, 1, 0] - m[:, 0, 1])
    q = torch.stack([x, y, z, w], 1)
    return q / q.norm(dim=1, keepdim=True)


class ScriptedRig(torch.nn.Module):
    """The rig as a module with MHR's TorchScript signature:
    forward(identity [B,n], model [B,p], expression [B,m]) -> (vertices [B,V,3], skel_state [B,J,8])
    (skeleton state: world translation, world rotation as an xyzw quaternion, scale)."""

    def __init__(self, rig):
        super().__init__()
        self.rig = rig

    def forward(self, identity, model, expression):
        v = self.rig.forward(model[0], identity[0], expression[0])
        r, t, s = self.rig.fk(model[0])
        state = torch.cat([t, matrix_to_quat_xyzw(r), s[:, None]], 1)
        return v[None], state[None]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rig")
    ap.add_argument("params")
    ap.add_argument("out")
    ap.add_argument("--bench", type=int, default=0, help="time this many pose evaluations")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--peer", choices=["dense", "sparse"], default="dense",
                    help="dense: every influence gathered, FK in a loop over joints; sparse: the competent peer")
    ap.add_argument("--torchscript", action="store_true", help="write OUT as a traced TorchScript module")
    a = ap.parse_args()
    if a.torchscript:
        rig = TorchRig(a.rig)
        g = torch.Generator().manual_seed(0)
        inputs = tuple(0.1 * torch.randn(1, n, generator=g) for n in (rig.identity.shape[0], rig.pt.shape[1], rig.expression.shape[0]))
        traced = torch.jit.trace(ScriptedRig(rig), inputs, check_trace=False)
        traced.save(a.out)
        return
    if a.threads:
        torch.set_num_threads(a.threads)
    rig = TorchRig(a.rig)
    p = json.load(open(a.params))
    model = torch.tensor(p.get("model") or [0.0] * rig.pt.shape[1])
    identity = torch.tensor(p.get("identity") or [0.0] * rig.identity.shape[0])
    expression = torch.tensor(p.get("expression") or [0.0] * rig.expression.shape[0])
    with torch.no_grad():
        if a.bench:
            # The same work as Carve's benchmark: a new pose → FK, pose correctives, skinning;
            # the shape is fixed (rest shaped once, as Carve caches it).
            shaped = rig.rest + torch.einsum("n,nvd->vd", identity, rig.identity)
            rig.rest = shaped
            rig.skip_zero_shapes = True
            zero = torch.zeros_like(identity)
            if a.peer == "sparse":
                dense = rig.forward(model, zero, expression[:0])
                rig.compact()
                # The same vertices as the dense path (else the timing means nothing).
                diff = float((rig.forward(model, zero, expression[:0]) - dense).abs().max())
                assert diff < 1e-4, f"sparse peer differs from the dense path by {diff}"
            times = []
            for _ in range(a.bench):
                t0 = time.perf_counter()
                v = rig.forward(model, zero, expression[:0])
                times.append((time.perf_counter() - t0) * 1e3)
            times.sort()
            json.dump({"skin_ms_median": times[len(times) // 2], "vertices": int(v.shape[0]),
                       "threads": torch.get_num_threads(), "peer": a.peer}, open(a.out, "w"))
            return
        v = rig.forward(model, identity, expression)
    v.contiguous().numpy().astype("float32").tofile(a.out)


if __name__ == "__main__":
    main()

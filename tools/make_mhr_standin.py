"""A stand-in for the gated `mhr_model.pt`, with MHR's shape and signature, for tests of the SAM 3D
Body export and loop (tools/export_sam3d_body.py, `carve body predict`) on machines without the
official MHR assets.

    python tools/make_mhr_standin.py OUT_DIR [--seed 0]

writes OUT_DIR/mhr_standin.rig.safetensors (a Carve rig file, docs/RIG_FORMAT.md) and
OUT_DIR/mhr_model.pt (that rig traced by tools/rig_torch.py, MHR's TorchScript signature:
forward(identity [1,45], model [1,204], expression [1,72]) -> (vertices [1,18439,3] in cm,
skeleton state [1,127,8]: translation, xyzw rotation, scale)).

It is *not* MHR: the real LOD 1 rest surface (assets/mhr, Apache-2.0) with a made-up skeleton of
127 joints placed on it, MHR's parameter layout (3 root translations, 3 root rotations, 130 body
pose angles, 68 scales) spread over those joints, inverse-distance skin weights, smooth random
identity and expression blendshapes. What it is for: every tensor the network sees after an MHR call
depends on every input, so a wrong wire anywhere in a loop shows up as a difference.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

VERTICES, JOINTS, PARAMS, IDENTITY, EXPRESSION = 18439, 127, 204, 45, 72


def lod1_rest(path):
    from plyfile import PlyData

    v = PlyData.read(path)["vertex"]
    pts = np.stack([v["x"], v["y"], v["z"]], 1).astype(np.float32)
    faces = np.stack(PlyData.read(path)["face"]["vertex_indices"]).astype(np.int32)
    if pts.shape[0] != VERTICES:
        sys.exit(f"{path}: {pts.shape[0]} vertices, MHR LOD 1 has {VERTICES}")
    return pts, faces


def build(rest, faces, seed):
    rng = np.random.default_rng(seed)
    # Model units are centimetres, as MHR's.
    scale = 100.0 if np.ptp(rest[:, 1]) < 10 else 1.0
    rest = rest * scale
    centroid = rest.mean(0)
    # Joints: the root nearest the centroid, then vertices spread by farthest-point sampling.
    picks = [int(np.argmin(((rest - centroid) ** 2).sum(1)))]
    d = ((rest - rest[picks[0]]) ** 2).sum(1)
    for _ in range(JOINTS - 1):
        i = int(np.argmax(d))
        picks.append(i)
        d = np.minimum(d, ((rest - rest[i]) ** 2).sum(1))
    joints = rest[picks] * 0.9 + centroid * 0.1  # slightly inside the surface
    parents = [-1]
    for j in range(1, JOINTS):
        parents.append(int(np.argmin(((joints[:j] - joints[j]) ** 2).sum(1))))
    offsets = joints.copy()
    for j in range(1, JOINTS):
        offsets[j] = joints[j] - joints[parents[j]]
    pre = np.zeros((JOINTS, 4), np.float32)
    pre[:, 3] = 1.0
    # MHR's parameter layout: root translation 0..2, root rotation 3..5, body pose 6..135,
    # scales 136..203.
    pt = np.zeros((JOINTS * 7, PARAMS), np.float32)
    for a in range(3):
        pt[a, a] = 1.0
        pt[3 + a, 3 + a] = 1.0
    for k in range(130):
        joint, axis = 1 + k % (JOINTS - 1), k // (JOINTS - 1)
        pt[joint * 7 + 3 + axis, 6 + k] = 1.0
    for k in range(68):
        pt[(1 + k) * 7 + 6, 136 + k] = 0.1
    # Skin: the 4 nearest joints, inverse distance.
    d2 = ((rest[:, None, :] - joints[None, :, :]) ** 2).sum(2)
    near = np.argsort(d2, 1)[:, :4]
    w = 1.0 / (np.take_along_axis(d2, near, 1) + 1.0)
    w /= w.sum(1, keepdims=True)
    # Smooth blendshapes: random quadratic fields of the position.
    def fields(n, amplitude):
        p = (rest - centroid) / np.abs(rest - centroid).max()
        basis = np.concatenate([p, p ** 2, p[:, [0]] * p[:, [1]], np.ones((len(p), 1))], 1)  # V x 8
        coeff = rng.normal(size=(n, basis.shape[1], 3)).astype(np.float32) * amplitude
        return np.einsum("vb,nbd->nvd", basis, coeff).astype(np.float32)

    tensors = {
        "mesh.rest_vertices": rest.astype(np.float32),
        "mesh.triangles": faces,
        "skeleton.parents": np.array(parents, np.int32),
        "skeleton.offsets": offsets.astype(np.float32),
        "skeleton.pre_rotations": pre,
        "parameter_transform.matrix": pt,
        "parameter_transform.offsets": np.zeros(JOINTS * 7, np.float32),
        "skin.joints": near.astype(np.int32),
        "skin.weights": w.astype(np.float32),
        "blendshapes.identity": fields(IDENTITY, 0.5),
        "blendshapes.expression": fields(EXPRESSION, 0.1),
        "keypoints.joints": np.arange(17, dtype=np.int32),
    }
    names = ["root_tx", "root_ty", "root_tz", "root_rx", "root_ry", "root_rz"]
    names += [f"pose_{k}" for k in range(130)] + [f"scale_{k}" for k in range(68)]
    meta = {
        "format": "carve-rig",
        "version": "1",
        "name": "MHR stand-in (not MHR)",
        "metres_per_unit": "0.01",
        "base_lod": "1",
        "influences": "4",
        "joint_names": json.dumps([f"joint_{j}" for j in range(JOINTS)]),
        "parameter_names": json.dumps(names),
        "identity_names": json.dumps([f"identity_{k}" for k in range(IDENTITY)]),
        "expression_names": json.dumps([f"expression_{k}" for k in range(EXPRESSION)]),
        "parameter_groups": json.dumps([
            {"name": "root", "parameters": list(range(6))},
            {"name": "pose", "parameters": list(range(6, 136))},
            {"name": "scale", "parameters": list(range(136, 204))},
        ]),
        "corrective_hidden": "0",
    }
    return tensors, meta


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lod1", default=os.path.join(os.path.dirname(__file__), "..", "assets", "mhr",
                                                   "lod1_topology_face_mask.ply"))
    a = ap.parse_args()
    from safetensors.numpy import save_file

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import rig_torch

    os.makedirs(a.out, exist_ok=True)
    rest, faces = lod1_rest(a.lod1)
    tensors, meta = build(rest, faces, a.seed)
    rig_path = os.path.join(a.out, "mhr_standin.rig.safetensors")
    save_file(tensors, rig_path, metadata=meta)
    rig = rig_torch.TorchRig(rig_path)
    g = torch.Generator().manual_seed(0)
    inputs = (0.1 * torch.randn(1, IDENTITY, generator=g), 0.1 * torch.randn(1, PARAMS, generator=g),
              0.1 * torch.randn(1, EXPRESSION, generator=g))
    module = rig_torch.ScriptedRig(rig)
    with torch.no_grad():
        traced = torch.jit.trace(module, inputs, check_trace=False)
        pt_path = os.path.join(a.out, "mhr_model.pt")
        traced.save(pt_path)
        v, s = torch.jit.load(pt_path)(*inputs)
    assert v.shape == (1, VERTICES, 3) and s.shape == (1, JOINTS, 8), (v.shape, s.shape)
    print(json.dumps({"rig": rig_path, "mhr_model": pt_path, "vertices": VERTICES, "joints": JOINTS}))


if __name__ == "__main__":
    main()

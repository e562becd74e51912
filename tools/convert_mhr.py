"""Official MHR assets -> Carve rig file (.rig.safetensors, docs/RIG_FORMAT.md).

    python tools/convert_mhr.py ASSETS_DIR OUT.rig.safetensors [--maps assets/mhr]

ASSETS_DIR is the unpacked `assets.zip` of the MHR release: lod0.fbx .. lod6.fbx,
compact_v6_1.model, corrective_activation.npz, corrective_blendshapes_lod1.npz. It is read with
PyPI `pymomentum-cpu` (wheels exist for Python 3.12 and 3.13 only; this machine's .venv is 3.11,
so run it from a 3.12 environment with `pip install pymomentum-cpu safetensors numpy`).

The rig's base mesh is LOD 1 (as in `mhr_model.pt`); LODs 0 and 2-6 keep their official
triangles from lod?.fbx and reach LOD 1 through the official barycentric maps (--maps).
Conventions (from momentum): joint parameters tx ty tz rx ry rz log2-scale, local rotation
pre_rotation * Rz * Ry * Rx, children scaled by their parent's scale; MHR's 204 model parameters
are the first 204 columns of the parameter transform (the 117 blendshape columns are zero);
blendshapes: 45 identity then 72 expression; pose correctives: features of joints 2..126,
layer 0 sparse [3000, 750], ReLU, layer 1 [3000, V*3].

Not run in Carve's CI: the official assets cannot be downloaded there. `cargo test --test body`
checks the same format, maths and LOD handling on rigs Carve builds itself.
"""
import argparse
import json
import os
import sys

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("assets")
    ap.add_argument("out")
    ap.add_argument("--maps", default=os.path.join(os.path.dirname(__file__), "..", "assets", "mhr"))
    a = ap.parse_args()
    try:
        import pymomentum.geometry as pg
        from safetensors.numpy import save_file
    except ImportError as e:
        sys.exit(f"convert_mhr.py needs pymomentum-cpu (Python 3.12/3.13) and safetensors: {e}")
    path = lambda name: os.path.join(a.assets, name)
    for name in ["lod1.fbx", "compact_v6_1.model", "corrective_activation.npz", "corrective_blendshapes_lod1.npz"]:
        if not os.path.exists(path(name)):
            sys.exit(f"{path(name)}: missing (expected the unpacked MHR assets.zip)")
    c = pg.Character.load_fbx(path("lod1.fbx"), path("compact_v6_1.model"), load_blendshapes=True)
    sk = c.skeleton
    parents = np.asarray(sk.joint_parents, dtype=np.int32)
    j = len(parents)
    pt_full = np.asarray(c.parameter_transform.transform.to_dense() if hasattr(c.parameter_transform.transform, "to_dense")
                         else c.parameter_transform.transform, dtype=np.float32)
    names = list(c.parameter_transform.names)
    n_model = 204
    pt = pt_full[:, :n_model]
    offsets_pt = np.asarray(getattr(c.parameter_transform, "offsets", np.zeros(j * 7)), dtype=np.float32).reshape(-1)
    bs = c.blend_shape
    base = np.asarray(bs.base_shape, dtype=np.float32)
    shapes = np.asarray(bs.shape_vectors, dtype=np.float32)
    v = base.shape[0]
    identity, expression = shapes[:45], shapes[45:45 + 72]
    sw_index = np.asarray(c.skin_weights.index, dtype=np.int32)
    sw_weight = np.asarray(c.skin_weights.weight, dtype=np.float32)
    faces = np.asarray(c.mesh.faces, dtype=np.int32)
    act = np.load(path("corrective_activation.npz"))
    idx = np.asarray(act["0.sparse_indices"], dtype=np.int32).T  # [K, 2]: (row = hidden, col = feature)
    val = np.asarray(act["0.sparse_weight"], dtype=np.float32)
    w1 = np.load(path("corrective_blendshapes_lod1.npz"))["corrective_blendshapes"].astype(np.float32).reshape(-1, v * 3)
    hidden = w1.shape[0]
    tensors = {
        "mesh.rest_vertices": base,
        "mesh.triangles": faces,
        "skeleton.parents": parents,
        "skeleton.offsets": np.asarray(sk.offsets, dtype=np.float32),
        "skeleton.pre_rotations": np.asarray(sk.pre_rotations, dtype=np.float32),  # xyzw
        "parameter_transform.matrix": np.ascontiguousarray(pt),
        "parameter_transform.offsets": offsets_pt,
        "skin.joints": sw_index,
        "skin.weights": sw_weight,
        "blendshapes.identity": np.ascontiguousarray(identity),
        "blendshapes.expression": np.ascontiguousarray(expression),
        "keypoints.joints": np.zeros(0, dtype=np.int32),
        "correctives.joints": np.arange(2, j, dtype=np.int32),
        "correctives.w0_indices": np.ascontiguousarray(idx),
        "correctives.w0_values": val,
        "correctives.w1": np.ascontiguousarray(w1),
    }
    for lod in [0, 2, 3, 4, 5, 6]:
        fbx, maps = path(f"lod{lod}.fbx"), os.path.join(a.maps, f"lod1_to_lod{lod}_mapping.npz")
        if not (os.path.exists(fbx) and os.path.exists(maps)):
            continue
        m = np.load(maps)
        lod_faces = np.asarray(pg.Character.load_fbx(fbx, path("compact_v6_1.model")).mesh.faces, dtype=np.int32)
        tensors[f"lod{lod}.triangle_ids"] = m["triangle_ids"].astype(np.int32)
        tensors[f"lod{lod}.barycentric"] = m["baryc_coords"].astype(np.float64)
        tensors[f"lod{lod}.triangles"] = lod_faces
    pi = float(np.pi)
    meta = {
        "format": "carve-rig", "version": "1", "name": "MHR (official assets)", "metres_per_unit": "0.01",
        "base_lod": "1", "influences": str(sw_index.shape[1]),
        "joint_names": json.dumps(list(sk.joint_names)),
        "parameter_names": json.dumps(names[:n_model]),
        "parameter_groups": json.dumps([
            {"name": "root", "parameters": list(range(0, 6))},
            {"name": "pose", "parameters": list(range(6, 136))},
            {"name": "scale", "parameters": list(range(136, 204))},
        ]),
        "parameter_limits": json.dumps([[-pi, pi]] * n_model),
        "identity_names": json.dumps([f"identity_{i}" for i in range(45)]),
        "expression_names": json.dumps([f"expression_{i}" for i in range(72)]),
        "corrective_hidden": str(hidden),
    }
    save_file(tensors, a.out, metadata=meta)
    print(f"wrote {a.out}: {j} joints, {v} vertices, {n_model} model parameters, {hidden} corrective units")


if __name__ == "__main__":
    main()

"""Checks tools/k8s/carve-indexed-job.yaml against what Kubernetes and Carve need, and prints the
commands its pods run (JSON), so a test can run them with the variables Kubernetes sets.

    python tools/k8s/check_job.py tools/k8s/carve-indexed-job.yaml
"""
import json
import sys

import yaml


def main():
    docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
    jobs = {d["metadata"]["name"]: d for d in docs}
    assert all(d["apiVersion"] == "batch/v1" and d["kind"] == "Job" for d in docs), "every document is a batch/v1 Job"
    batch, merge = jobs["carve-batch"], jobs["carve-merge"]
    spec = batch["spec"]
    assert spec["completionMode"] == "Indexed", "the batch is an Indexed Job"
    n = spec["completions"]
    assert isinstance(n, int) and n > 0 and 0 < spec["parallelism"] <= n
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never", "backoffLimitPerIndex needs restartPolicy Never"
    assert "backoffLimitPerIndex" in spec
    (container,) = pod["containers"]
    cmd = container["command"]
    assert cmd[:2] == ["carve", "segment"] and "--resume" in cmd
    assert cmd[cmd.index("--shards") + 1] == str(n), "--shards must equal completions"
    assert "--shard" not in cmd, "the index comes from JOB_COMPLETION_INDEX"
    out = cmd[cmd.index("--out-dir") + 1]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"] for v in pod["volumes"]}
    assert set(mounts) <= volumes, "every mount has a volume"
    for path in (cmd[cmd.index("--batch") + 1], cmd[cmd.index("--prompts") + 1], out):
        assert any(path.startswith(m + "/") for m in mounts.values()), f"{path} is on a mounted volume"
    mspec = merge["spec"]
    assert mspec["suspend"] is True, "the merge waits to be started"
    (mcontainer,) = mspec["template"]["spec"]["containers"]
    mcmd = mcontainer["command"]
    assert mcmd[:3] == ["carve", "batch", "merge"] and mcmd[3] == out, "the merge reads the batch's output folder"
    print(json.dumps({"completions": n, "batch": cmd, "merge": mcmd}))


if __name__ == "__main__":
    main()

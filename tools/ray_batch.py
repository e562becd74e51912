"""Runs a Carve batch on a Ray cluster: one Ray task per shard, each running the `carve` binary on
its node with `--shard I/N --resume`, failed shards retried (a worker or node that dies takes its
task with it; Ray runs it again, and --resume skips what the shard had finished), progress as
shards finish, and `carve batch merge` at the end. The distribution is Ray's; Carve only splits
the work (a stable hash of each image's path) and records it (a manifest per shard).

    python tools/ray_batch.py --carve target/debug/carve --shards 8 [--address auto | --workers 2] \\
        -- segment --engine classical --batch PHOTOS --prompts prompts.json --out-dir OUT

Everything after `--` is the carve command of the whole batch (it must contain --out-dir); the
merged summary and COCO file land in OUT (summary.json, merged.coco.json). `--address auto` joins a
running cluster (`ray start --head` …); without it a local cluster of `--workers` CPUs is started.

Fault injection for tests: `--kill-one-worker-after S` kills one busy worker process (SIGKILL, its
carve child with it) S seconds after the first shard started, once.
"""
import argparse
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time

import ray


def _die_with_parent():
    # The carve child dies with its worker (as on a lost node), instead of running on orphaned.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@ray.remote(max_retries=3, retry_exceptions=True)
def run_shard(carve, argv, index, count, pid_dir):
    if pid_dir:
        with open(os.path.join(pid_dir, f"shard-{index}.{os.getpid()}.pid"), "w") as f:
            f.write(str(os.getpid()))
    cmd = [carve, *argv, "--shard", f"{index}/{count}", "--resume", "--json"]
    started = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=_die_with_parent)
    if proc.returncode != 0:
        raise RuntimeError(f"shard {index}/{count} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    out = json.loads(proc.stdout)
    images = out.get("images", [])
    return {
        "shard": index,
        "items": len(images),
        "resumed": sum(1 for i in images if i.get("resumed")),
        "failed": sum(1 for i in images if not i.get("ok")),
        "seconds": time.time() - started,
        "pid": os.getpid(),
    }


def kill_one_worker_later(pid_dir, after_s, killed):
    """Waits for a shard to start, then SIGKILLs its worker once."""
    deadline = time.time() + 120
    while time.time() < deadline:
        pids = sorted(f for f in os.listdir(pid_dir) if f.endswith(".pid"))
        if pids:
            time.sleep(after_s)
            pid = int(pids[0].split(".")[1])
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                print(f"ray_batch: killed worker {pid} ({pids[0]})", file=sys.stderr, flush=True)
            except ProcessLookupError:
                pass
            return
        time.sleep(0.01)


def main():
    if "--" not in sys.argv:
        sys.exit("usage: ray_batch.py [options] -- CARVE-BATCH-COMMAND (see the module doc)")
    split = sys.argv.index("--")
    ap = argparse.ArgumentParser()
    ap.add_argument("--carve", required=True, help="the carve binary (the same path on every node)")
    ap.add_argument("--shards", type=int, required=True)
    ap.add_argument("--address", help="a running Ray cluster ('auto'); default: a local one")
    ap.add_argument("--workers", type=int, default=2, help="CPUs of the local cluster")
    ap.add_argument("--kill-one-worker-after", type=float, help="fault injection (tests)")
    a = ap.parse_args(sys.argv[1:split])
    argv = sys.argv[split + 1:]
    if "--out-dir" not in argv:
        sys.exit("the carve command needs --out-dir")
    out_dir = argv[argv.index("--out-dir") + 1]
    carve = os.path.abspath(a.carve)
    os.makedirs(out_dir, exist_ok=True)
    pid_dir = None
    if a.kill_one_worker_after is not None:
        pid_dir = os.path.join(out_dir, ".ray-pids")
        os.makedirs(pid_dir, exist_ok=True)
    if a.address:
        ray.init(address=a.address, log_to_driver=False)
    else:
        ray.init(num_cpus=a.workers, include_dashboard=False, log_to_driver=False)
    killed = []
    if pid_dir:
        threading.Thread(target=kill_one_worker_later, args=(pid_dir, a.kill_one_worker_after, killed), daemon=True).start()
    started = time.time()
    pending = [run_shard.remote(carve, argv, i, a.shards, pid_dir) for i in range(a.shards)]
    results, failures = [], []
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        try:
            results.append(ray.get(done[0]))
        except Exception as e:  # retries exhausted
            failures.append(str(e))
        print(f"ray_batch: {len(results) + len(failures)}/{a.shards} shards done", file=sys.stderr, flush=True)
    elapsed = time.time() - started
    ray.shutdown()
    if pid_dir:
        for f in os.listdir(pid_dir):
            os.remove(os.path.join(pid_dir, f))
        os.rmdir(pid_dir)
    if failures:
        sys.exit("ray_batch: shards failed after retries:\n" + "\n".join(failures))
    merge = subprocess.run([carve, "batch", "merge", out_dir, "--coco", os.path.join(out_dir, "merged.coco.json"), "--json"],
                           capture_output=True, text=True)
    if merge.returncode != 0:
        sys.exit(f"ray_batch: merge failed: {merge.stderr.strip()}")
    report = {
        "shards": a.shards,
        "seconds": elapsed,
        "items": sum(r["items"] for r in results),
        "resumed": sum(r["resumed"] for r in results),
        "failed_items": sum(r["failed"] for r in results),
        "killed_workers": killed,
        "merge": json.loads(merge.stdout),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()

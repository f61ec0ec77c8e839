#!/usr/bin/env python3
"""Durable ingest from real Python SDK processes.

Starts the fluoro binary on a free port with a temporary data directory,
then P processes each `import fluoro`, init a run, log N steps of 20 metrics
and finish() (which returns once the server has acknowledged every batch,
and an acknowledged batch is on disk). Prints the points per second over the
whole wall time, processes' start included, after checking that the server
holds every point.

    python3 bench/ingest/sdk.py                      # 4 processes x 400k steps
    python3 bench/ingest/sdk.py --procs 2 --steps 20000

A program, not a test: `make bench-ingest` runs it after bench/ingest.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
KEY = "fluoro_bench_" + "b" * 40

CHILD = """
import sys
sys.path.insert(0, sys.argv[2])
import fluoro
run = fluoro.init(project="ingest", name="writer-" + sys.argv[1])
vals = {"m%02d" % k: 0.0 for k in range(20)}
for s in range(int(sys.argv[3])):
    for i, k in enumerate(vals):
        vals[k] = s * 0.001 + i
    run.log(vals)
run.finish()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def call(base: str, path: str) -> object:
    req = urllib.request.Request(base + path, headers={"Authorization": "Bearer " + KEY})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fluoro", default=str(REPO / "bin" / "fluoro"), help="the fluoro binary")
    ap.add_argument("--procs", type=int, default=4, help="SDK processes, a run each")
    ap.add_argument("--steps", type=int, default=400_000, help="log() calls per process, 20 metrics each")
    args = ap.parse_args()
    data, sdk_dir = tempfile.mkdtemp(), tempfile.mkdtemp()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    srv = subprocess.Popen(
        [args.fluoro, "server", "--addr", f"127.0.0.1:{port}", "--data", data],
        env=dict(os.environ, FLUORO_ADMIN_API_KEY=KEY),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/readyz", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        env = dict(os.environ, FLUORO_BASE_URL=base, FLUORO_API_KEY=KEY, FLUORO_MODE="online", FLUORO_DIR=sdk_dir)
        src = str(REPO / "sdk" / "python" / "src")
        t0 = time.perf_counter()
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", CHILD, str(i), src, str(args.steps)], env=env, stdout=subprocess.DEVNULL
            )
            for i in range(args.procs)
        ]
        codes = [p.wait() for p in procs]
        took = time.perf_counter() - t0
        if any(codes):
            print(f"an SDK process failed: exit codes {codes}", file=sys.stderr)
            return 1
        body = call(base, "/api/v1/projects/admin/ingest/runs?limit=1000")
        runs = body["runs"] if isinstance(body, dict) else body
        held = sum(int(r.get("points") or 0) for r in runs)
        want = args.procs * args.steps * 20
        print(
            f"{args.procs} SDK processes x {args.steps} steps x 20 metrics: {want} points in {took:.1f} s, "
            f"{want / took / 1e6:.2f}M points/s durable; the server holds {held}"
        )
        if held != want:
            print(f"points missing on the server: {held} of {want}", file=sys.stderr)
            return 1
        return 0
    finally:
        srv.terminate()
        srv.wait()
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(sdk_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

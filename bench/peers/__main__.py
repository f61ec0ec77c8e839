"""Fluoro against its peers, side by side: `python3 bench/peers --size smoke|medium|full`.

See README.md. Creates bench/.venv-peers on first use and re-runs itself in it.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import pathlib
import platform
import shutil
import signal
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

import peerenv  # noqa: E402

ALL_WORKLOADS = ["W1", "W2", "W9", "W4", "W5", "W6", "W7", "W8"]
ALL_PEERS = ["fluoro", "wandb", "mlflow", "aim", "tensorboardX", "trackio"]
DISTS = ["fluoro", "wandb", "mlflow", "aim", "tensorboard", "tensorboardX", "trackio"]


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/peers", description=__doc__)
    p.add_argument("--size", choices=["smoke", "medium", "full"], default="smoke")
    p.add_argument("--workloads", default=",".join(ALL_WORKLOADS), help="comma-separated, e.g. W1,W2,W9")
    p.add_argument("--peers", default=",".join(ALL_PEERS), help="comma-separated (mlflow covers its variants)")
    p.add_argument("--venv", default=str(REPO / "bench" / ".venv-peers"))
    p.add_argument("--out", default=str(REPO / "bench" / "results"))
    p.add_argument("--keep", action="store_true", help="keep the temporary data directories")
    return p.parse_args()


def versions() -> dict[str, str]:
    out = {}
    for d in DISTS:
        try:
            out[d] = importlib.metadata.version(d)
        except importlib.metadata.PackageNotFoundError:
            out[d] = "not installed"
    return out


def main() -> int:
    args = parse()
    # A CI runner may start us with SIGTERM ignored; every server and worker we
    # spawn would inherit that and shrug off the SIGTERM that stops it.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    peerenv.ensure(pathlib.Path(args.venv), REPO / "sdk" / "python")
    import harness
    import report
    import servers
    import sizes
    import w_live
    import w_read
    import w_sdk

    run = {"W1": w_sdk.w1, "W2": w_sdk.w2, "W4": w_sdk.w4, "W9": w_sdk.w9,
           "W5": w_live.w5, "W6": w_read.w6, "W7": w_read.w7, "W8": w_live.w8}
    binary = REPO / "bin" / "fluoro"
    if not binary.exists():
        print("bin/fluoro missing: run `make build-go` first", file=sys.stderr)
        return 2
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="fluoro-peers-"))
    peers = args.peers.split(",")
    ctx = harness.Ctx(REPO, tmp, sizes.SIZES[args.size], peers, peerenv.unavailable())
    ctx.fluoro = servers.Fluoro(binary, tmp / "fluoro-shared")
    ctx.fluoro.start()
    if ctx.has("mlflow"):
        ctx.mlflow = servers.Mlflow(pathlib.Path(sys.executable).parent, tmp / "mlflow-shared")
        ctx.mlflow.start()
    tables = []
    t_all = time.perf_counter()
    try:
        for w in args.workloads.split(","):
            t0 = time.perf_counter()
            print(f"running {w} …", file=sys.stderr, flush=True)
            table = run[w](ctx)
            table.notes.append(f"workload took {time.perf_counter() - t0:.0f} s")
            print(report.markdown(table), flush=True)
            tables.append(table)
    finally:
        ctx.fluoro.stop()
        if ctx.mlflow:
            ctx.mlflow.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    meta = {"size": args.size, "sizes": ctx.size, "versions": versions(), "python": platform.python_version(),
            "machine": f"{platform.machine()}, {__import__('os').cpu_count()} CPUs", "date":
            datetime.datetime.now().isoformat(timespec="seconds"), "seconds": round(time.perf_counter() - t_all),
            "settings": "wandb offline (WANDB_ERROR_REPORTING=false); mlflow server --backend-store-uri sqlite "
            "--workers 1 on 127.0.0.1 (mlflow: sync log_metrics; mlflow-async: MLFLOW_ENABLE_ASYNC_LOGGING; "
            "mlflow-batch: log_batch of 1000); aim local repo; tensorboardX SummaryWriter; trackio local; "
            "fluoro: SDK defaults against bin/fluoro on 127.0.0.1:0",
            "unavailable": ctx.unavailable}
    stem = f"peers-{args.size}-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    report.write(pathlib.Path(args.out), stem, meta, tables)
    print(f"wrote {args.out}/{stem}.md and .json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Workloads driven through each peer's SDK in worker processes: W1, W2, W4, W9."""

from __future__ import annotations

import statistics
import subprocess
import time

import gen
import servers
from harness import Ctx, result
from report import Table

W1_PEERS = ["fluoro", "wandb", "mlflow", "aim", "tensorboardX", "trackio"]
W2_PEERS = ["fluoro", "wandb", "mlflow", "mlflow-async", "mlflow-batch", "aim", "tensorboardX", "trackio"]
W4_PEERS = ["fluoro", "wandb", "mlflow-async", "mlflow-batch", "aim", "tensorboardX", "trackio"]
W9_PEERS = ["fluoro", "wandb", "mlflow-batch", "aim", "tensorboardX", "trackio"]


def _peers(ctx: Ctx, t: Table, names: list[str]) -> list[str]:
    out = []
    for p in names:
        if p.split("-")[0] in ctx.unavailable:
            t.fail(p, ctx.unavailable[p.split("-")[0]])
        elif p in ctx.peers or p.split("-")[0] in ctx.peers:
            out.append(p)
    return out


def w1(ctx: Ctx) -> Table:
    sz = ctx.size["W1"]
    t = Table("W1 startup", f"import → init → 1 log (20 keys) → finish, × {sz['procs']} fresh processes "
              "one after another; medians. `process s` is the whole process as the parent sees it.",
              ["import+init ms", "finish ms", "process s", "init ms"])
    for peer in _peers(ctx, t, W1_PEERS):
        res = []
        for i in range(sz["procs"]):
            r = ctx.spawn("startup", {"peer": peer, "root": str(ctx.fresh(f"w1-{peer}")), "project": "w1",
                                      "run_id": f"w1-{i:03d}"}, sz["cap_s"])
            if isinstance(r, str):
                t.fail(peer, r)
                break
            res.append(r)
        else:
            med = lambda k: statistics.median(r[k] for r in res)  # noqa: E731
            t.add(peer, {"import+init ms": med("ready_s") * 1e3, "finish ms": med("finish_s") * 1e3,
                         "process s": med("wall_s"), "init ms": med("init_s") * 1e3})
    return t


def _server_bytes(ctx: Ctx, peer: str, before: int, fl: servers.Fluoro | None) -> int:
    """Bytes a server peer stored: a fresh Fluoro's data dir after it stopped;
    MLflow's data dir growth (SQLite only grows without deletes)."""
    if peer == "fluoro":
        assert fl is not None
        time.sleep(3)  # let the compactor seal what finish() sent
        fl.stop()
        return servers.dir_size(fl.data) - before
    assert ctx.mlflow is not None
    return servers.dir_size(ctx.mlflow.data) - before


def _longrun(ctx: Ctx, peer: str, args: dict) -> tuple[dict | str, int]:
    """Run one W2/W9 worker; its result and the bytes the peer stored."""
    root = ctx.fresh(f"long-{peer}")
    fl = ctx.fresh_fluoro() if peer == "fluoro" else None
    # server peers: count growth over the store as it was before the run
    before = servers.dir_size(fl.data) if fl else servers.dir_size(ctx.mlflow.data) if ctx.mlflow else 0
    r = ctx.spawn("longrun", {"peer": peer, "root": str(root), "project": "long", "run_id": "long1", **args},
                  args["cap_s"] * 3 + 120, env=ctx.env(peer, fl))
    size = servers.dir_size(root) if peer not in ("fluoro",) and not peer.startswith("mlflow") \
        else _server_bytes(ctx, peer, before, fl)
    if fl:
        fl.stop()
    return r, size


def w2(ctx: Ctx) -> Table:
    sz = ctx.size["W2"]
    t = Table("W2 long run", f"1 run × {sz['steps']:,} steps × 20 metrics, log() every step in a tight loop "
              f"(cap {sz['cap_s']} s); then close(). `busy +µs/step`: extra loop time per step with a 1 ms busy "
              f"step ({sz['busy_steps']:,} steps) against the same loop without logging. CPU-s and RSS are the "
              "logging process's (wandb-core and servers excluded).",
              ["log p50 µs", "log p99 µs", "log max µs", "busy +µs/step", "drain s", "CPU s", "RSS MB",
               "bytes/point"])
    for peer in _peers(ctx, t, W2_PEERS):
        r, size = _longrun(ctx, peer, {"steps": sz["steps"], "busy_steps": sz["busy_steps"], "cap_s": sz["cap_s"]})
        if isinstance(r, str):
            t.fail(peer, r)
            continue
        pts = r["rows"] * r["keys"]
        dnf = f"did not finish in {sz['cap_s']} s ({r['rows']:,} rows)"
        t.add(peer, {"log p50 µs": r["log_p50_us"], "log p99 µs": r["log_p99_us"], "log max µs": r["log_max_us"],
                     "busy +µs/step": r.get("busy_extra_us_per_step", ""), "drain s": r["drain_s"],
                     "CPU s": r["cpu_s"], "RSS MB": r["rss_mb"],
                     "bytes/point": size / pts if not r["dnf"] else dnf})
        if r["dnf"]:
            t.notes.append(f"{peer}: {dnf}; latencies are over the rows it did log.")
    return t


def w9(ctx: Ctx) -> Table:
    sz = ctx.size["W9"]
    t = Table("W9 storage", f"1 run × {sz['steps']:,} steps × 5 metrics, the realistic mix (float32 loss, "
              "float64 cosine lr, accuracy k/10000, float32 grad norm, integer GPU %), step and wall time; "
              "bytes on disk after the peer's own close (Fluoro: growth of a fresh server's data dir after compaction "
              "and stop; MLflow: growth of its SQLite store, written with log_batch; others: their run directory).",
              ["points", "bytes", "bytes/point", "log+close s"])
    for peer in _peers(ctx, t, W9_PEERS):
        r, size = _longrun(ctx, peer, {"steps": sz["steps"], "cap_s": sz["cap_s"], "mix": True})
        if isinstance(r, str):
            t.fail(peer, r)
        elif r["dnf"]:
            t.fail(peer, f"did not finish in {sz['cap_s']} s")
        else:
            pts = r["rows"] * r["keys"]
            t.add(peer, {"points": pts, "bytes": size, "bytes/point": size / pts,
                         "log+close s": r["loop_s"] + r["drain_s"]})
    return t


def w4(ctx: Ctx) -> Table:
    sz = ctx.size["W4"]
    n, k = sz["runs"], sz["parallel"]
    t = Table("W4 many runs", f"{n:,} runs × {sz['steps']:,} steps × 10 metrics, {k} processes at a time, each "
              "running its share of runs one after another (init → log every step → finish).",
              ["seconds", "points/s", "ms per run"])
    for peer in _peers(ctx, t, W4_PEERS):
        procs: list[subprocess.Popen] = []
        t0 = time.perf_counter()
        for w in range(k):
            runs = [f"w4-{i:05d}" for i in range(w, n, k)]
            args = {"peer": peer, "root": str(ctx.fresh(f"w4-{peer}")), "project": "w4", "runs": runs,
                    "steps": sz["steps"], "keys": 10, "cap_s": sz["cap_s"], "config": gen.run_config(w)}
            procs.append(ctx.popen("writer", args, ctx.env(peer)))
        outs = [p.communicate() for p in procs]
        took = time.perf_counter() - t0
        res = [result(o) for o, _ in outs]
        if any(r is None for r in res):
            err = next((e for (o, e), r in zip(outs, res) if r is None), "")
            t.fail(peer, "error: " + (err.strip().splitlines() or ["?"])[-1][:120])
        elif any(r["dnf"] for r in res):  # type: ignore[index]
            t.fail(peer, f"did not finish in {sz['cap_s']} s")
        else:
            pts = n * sz["steps"] * 10
            t.add(peer, {"seconds": took, "points/s": pts / took, "ms per run": took * 1e3 * k / n})
    return t

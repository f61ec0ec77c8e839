"""Read workloads against the two peers with a server read API: W6 chart, W7 runs table.

Data goes in through each server's own bulk write API (Fluoro /api/v1/ingest,
MLflow runs/log-batch of 1,000 metrics), so the figures are about reading.
"""

from __future__ import annotations

import math
import statistics
import time
import urllib.parse

import gen
from harness import Ctx
from report import Table
from servers import ENTITY, Http

NO_READ_API = "n/a: no server read API"


def _mlflow_experiment(c: Http, name: str) -> str:
    return c.call("POST", "/api/2.0/mlflow/experiments/create", {"name": f"{name}-{time.time_ns()}"})["experiment_id"]


def _mlflow_run(c: Http, exp: str, name: str) -> str:
    r = c.call("POST", "/api/2.0/mlflow/runs/create", {"experiment_id": exp, "run_name": name,
                                                        "start_time": int(time.time() * 1000)})
    return r["run"]["info"]["run_id"]


def _timed(fn, repeats: int) -> tuple[float, list[float], object]:
    """Cold (first) seconds, sorted warm seconds, and the last answer."""
    lat, ans = [], None
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        ans = fn()
        lat.append(time.perf_counter() - t0)
    return lat[0], sorted(lat[1:]), ans


def _extrema_kept(answers: dict[int, list[float]], steps: int) -> float:
    """Share of true per-bucket minima and maxima (300 buckets = 1,200 px / 4) present in each run's answer."""
    kept = total = 0
    width = math.ceil(steps / 300)
    for run, values in answers.items():
        got = set(values)
        for lo in range(0, steps, width):
            vs = [gen.w6_value(run, s) for s in range(lo, min(lo + width, steps))]
            total += 2
            kept += (min(vs) in got) + (max(vs) in got)
    return 100 * kept / total if total else float("nan")


def w6(ctx: Ctx) -> Table:
    sz = ctx.size["W6"]
    runs, steps, cap = sz["runs"], sz["steps"], sz["cap_s"]
    t = Table("W6 chart", f"one metric over {runs} runs × {steps:,} steps, full range at 1,200 px; cold = first "
              f"query after ingest, warm = p50 of {sz['repeats']}. Fluoro: /history?points=1200 (M4); MLflow: "
              "get-history-bulk-interval (max_results=1200) and get-history (every point).",
              ["ingest points/s", "cold ms", "warm p50 ms", "points returned", "extrema kept %"])
    # Fluoro
    fc = ctx.fluoro.client()  # type: ignore[union-attr]
    ids = [f"w6r{r:03d}" for r in range(runs)]
    t0 = time.perf_counter()
    for r, rid in enumerate(ids):
        fc.call("POST", f"/api/v1/projects/{ENTITY}/w6/runs", {"id": rid})
        for seq, lo in enumerate(range(0, steps, 10000)):
            hist = [{"step": s, "time": 1.7e9 + s * 0.05, "values": {gen.W6_KEY: gen.w6_value(r, s)}}
                    for s in range(lo, min(steps, lo + 10000))]
            fc.call("POST", "/api/v1/ingest", {"entity": ENTITY, "project": "w6", "run_id": rid, "writer": "w6",
                                               "seq": seq, "history": hist})
        fc.call("POST", f"/api/v1/projects/{ENTITY}/w6/runs/{rid}/finish", {})
    rate = runs * steps / (time.perf_counter() - t0)
    path = f"/api/v1/projects/{ENTITY}/w6/history?runs={','.join(ids)}&keys={gen.W6_KEY}&points=1200"
    cold, warm, ans = _timed(lambda: fc.call("GET", path), sz["repeats"])
    series = ans["series"]  # type: ignore[index]
    got = {int(s["run"][3:]): [v for v in s["values"] if isinstance(v, float)] for s in series}
    t.add("fluoro", {"ingest points/s": rate, "cold ms": cold * 1e3, "warm p50 ms": statistics.median(warm) * 1e3,
                     "points returned": sum(len(s["steps"]) for s in series),
                     "extrema kept %": _extrema_kept(got, steps)})
    if not ctx.has("mlflow"):
        return t
    mc = ctx.mlflow.client()  # type: ignore[union-attr]
    exp = _mlflow_experiment(mc, "w6")
    t0 = time.perf_counter()
    mids: list[str] = []
    dnf = False
    for r in range(runs):
        mids.append(_mlflow_run(mc, exp, f"w6r{r:03d}"))
        for lo in range(0, steps, 1000):
            ms = [{"key": gen.W6_KEY, "value": gen.w6_value(r, s), "timestamp": 1_700_000_000_000 + s * 50, "step": s}
                  for s in range(lo, min(steps, lo + 1000))]
            mc.call("POST", "/api/2.0/mlflow/runs/log-batch", {"run_id": mids[-1], "metrics": ms})
            if time.perf_counter() - t0 > cap:
                dnf = True
                break
        if dnf:
            break
    if dnf:
        why = f"did not finish in {cap} s (ingest: {len(mids) - 1} of {runs} runs)"
        t.fail("mlflow bulk-interval", why)
        t.fail("mlflow get-history", why)
        return t
    rate = runs * steps / (time.perf_counter() - t0)
    q = urllib.parse.urlencode([("run_ids", m) for m in mids] + [("metric_key", gen.W6_KEY), ("max_results", 1200)])
    cold, warm, ans = _timed(lambda: mc.call("GET", f"/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval?{q}"),
                             sz["repeats"])
    ms = ans.get("metrics", [])  # type: ignore[union-attr]
    got = {}
    for m in ms:
        got.setdefault(mids.index(m["run_id"]), []).append(m["value"])
    t.add("mlflow bulk-interval", {"ingest points/s": rate, "cold ms": cold * 1e3,
                                   "warm p50 ms": statistics.median(warm) * 1e3, "points returned": len(ms),
                                   "extrema kept %": _extrema_kept(got, steps)})

    def full() -> dict[int, list[float]]:
        out: dict[int, list[float]] = {}
        for i, m in enumerate(mids):
            token = ""
            while True:
                qq = urllib.parse.urlencode({"run_id": m, "metric_key": gen.W6_KEY, "max_results": 25000,
                                             **({"page_token": token} if token else {})})
                a = mc.call("GET", f"/api/2.0/mlflow/metrics/get-history?{qq}")
                out.setdefault(i, []).extend(x["value"] for x in a.get("metrics", []))  # type: ignore[union-attr]
                token = a.get("next_page_token", "")  # type: ignore[union-attr]
                if not token:
                    break
        return out

    cold, warm, got = _timed(full, max(1, sz["repeats"] // 5))
    t.add("mlflow get-history", {"ingest points/s": rate, "cold ms": cold * 1e3,
                                 "warm p50 ms": statistics.median(warm) * 1e3,
                                 "points returned": sum(len(v) for v in got.values()),  # type: ignore[union-attr]
                                 "extrema kept %": _extrema_kept(got, steps)})  # type: ignore[arg-type]
    t.notes.append("wandb (offline), aim, tensorboardX, trackio: not measured here (no server read API in this harness).")
    return t


def w7(ctx: Ctx) -> Table:
    sz = ctx.size["W7"]
    n, cap = sz["runs"], sz["cap_s"]
    t = Table("W7 runs table", f"{n:,} runs × 50 config + 20 summary keys; filter optimizer = adam and model = bert, "
              f"sort by summary val/acc descending, first page of 50; cold and warm p50/p99 of {sz['repeats']}. "
              "Fluoro: GET /runs?filter=&sort=&limit=50; MLflow: runs/search.",
              ["create runs/s", "cold ms", "warm p50 ms", "warm p99 ms", "matches on page", "same top 10"])
    fc = ctx.fluoro.client()  # type: ignore[union-attr]
    t0 = time.perf_counter()
    for i in range(n):
        fc.call("POST", f"/api/v1/projects/{ENTITY}/w7/runs", {"id": f"w7-{i:06d}", "name": f"w7-{i:06d}",
                                                               "config": gen.run_config(i)})
        fc.call("PATCH", f"/api/v1/projects/{ENTITY}/w7/runs/w7-{i:06d}", {"summary": gen.run_summary(i)})
    rate = n / (time.perf_counter() - t0)
    q = urllib.parse.urlencode({"filter": 'config.optimizer = "adam" and config.model = "bert"',
                                "sort": "-summary.val/acc", "limit": 50})
    cold, warm, ans = _timed(lambda: fc.call("GET", f"/api/v1/projects/{ENTITY}/w7/runs?{q}"), sz["repeats"])
    fl_top = [r["name"] for r in ans["runs"]][:10]  # type: ignore[index]
    expect = sorted((i for i in range(n) if i % 4 == 0 and i % 5 == 0),
                    key=lambda i: -gen.run_summary(i)["val/acc"])[:10]
    want = [f"w7-{i:06d}" for i in expect]
    t.add("fluoro", {"create runs/s": rate, "cold ms": cold * 1e3, "warm p50 ms": statistics.median(warm) * 1e3,
                     "warm p99 ms": warm[int(0.99 * (len(warm) - 1))] * 1e3, "matches on page": len(ans["runs"]),  # type: ignore[index]
                     "same top 10": fl_top == want})
    if not ctx.has("mlflow"):
        return t
    mc = ctx.mlflow.client()  # type: ignore[union-attr]
    exp = _mlflow_experiment(mc, "w7")
    t0 = time.perf_counter()
    for i in range(n):
        rid = _mlflow_run(mc, exp, f"w7-{i:06d}")
        ts = int(time.time() * 1000)
        mc.call("POST", "/api/2.0/mlflow/runs/log-batch", {
            "run_id": rid, "params": [{"key": k, "value": str(v)} for k, v in gen.run_config(i).items()],
            "metrics": [{"key": k, "value": v, "timestamp": ts, "step": 0} for k, v in gen.run_summary(i).items()]})
        if time.perf_counter() - t0 > cap:
            t.fail("mlflow", f"did not finish in {cap} s (created {i + 1} of {n} runs)")
            return t
    rate = n / (time.perf_counter() - t0)
    body = {"experiment_ids": [exp], "filter": "params.optimizer = 'adam' and params.model = 'bert'",
            "order_by": ["metrics.`val/acc` DESC"], "max_results": 50}
    cold, warm, ans = _timed(lambda: mc.call("POST", "/api/2.0/mlflow/runs/search", body), sz["repeats"])
    runs = ans.get("runs", [])  # type: ignore[union-attr]
    top = [r["info"]["run_name"] for r in runs][:10]
    t.add("mlflow", {"create runs/s": rate, "cold ms": cold * 1e3, "warm p50 ms": statistics.median(warm) * 1e3,
                     "warm p99 ms": warm[int(0.99 * (len(warm) - 1))] * 1e3, "matches on page": len(runs),
                     "same top 10": top == want})
    t.notes.append("wandb (offline), aim, tensorboardX, trackio: not measured (no server-side runs query here).")
    return t

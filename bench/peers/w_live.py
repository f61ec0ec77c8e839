"""Workloads that watch a process while it logs: W5 concurrency, W8 durability.

Both drive worker.py's `live` job (one run, phase after phase, `RUN`, `STEP
[step, unix time]` and `PHASE` lines on stdout) from a `Live` handle that reads
those lines on a thread while the harness polls, kills and restarts around it.

- W5: N writers at 10 Hz × 20 metrics start together (a `GO` line on stdin
  once every run is open); writer 0 logs time.time() as its first metric and a
  reader polls the peer's read API for it (Fluoro: the run's /history with
  `min_step`; MLflow: metrics/get-history), so log → visible = the moment the
  reader got the point back minus the value. The server's CPU seconds come
  from /proc/<pid>/stat over the throttled window. Then every writer logs
  unthrottled for a short burst: points/s its log() calls took in, log() p99
  and how long close() then took to drain.
- W8 (a): SIGKILL the logging process during a W2-like run (a 1 ms busy step,
  then log()), run the peer's recovery and compare what it holds with what the
  process had reported as logged. (b) SIGKILL bin/fluoro while an SDK process
  ingests, restart it on the same data dir and port, and check that every
  point arrives exactly once.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

import gen
import servers
from harness import WORKER, Ctx, result
from report import Table
from servers import ENTITY, Http

NO_READ_API = "n/a: no read API"
W5_PEERS = ["fluoro", "mlflow", "mlflow-async", "wandb", "aim", "tensorboardX", "trackio"]
W5_READABLE = {"fluoro", "mlflow", "mlflow-async"}
W8_PEERS = ["fluoro", "wandb", "mlflow", "mlflow-async", "mlflow-batch", "aim", "tensorboardX", "trackio"]
RECENT_S = 0.5  # W8: "logged in the last 0.5 s before the kill"
POLL_S = 0.05  # W5 reader: pause between polls
PAUSE_S = 1.5  # W5: idle between the throttled window and the burst, so that the burst delays no measured point


class Live:
    """One `worker.py live` process in its own session (so that helpers it spawns, wandb-core, can be reaped)."""

    def __init__(self, args: dict, env: dict[str, str]) -> None:
        self.root = pathlib.Path(args["root"])
        self.err = open(self.root / "worker.stderr", "w")  # noqa: SIM115 (closed by reap())
        self.proc = subprocess.Popen([sys.executable, str(WORKER), "live", json.dumps(args)], cwd=self.root,
                                     env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err,
                                     text=True, start_new_session=True)
        self.run: dict | None = None
        self.steps: list[list[float]] = []  # [step, unix time] after that step's log() returned
        self.phases: list[dict] = []
        self.result: dict | None = None
        self.opened, self.done = threading.Event(), threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        out = []
        for line in self.proc.stdout:
            out.append(line)
            tag, _, body = line.partition(" ")
            try:
                v = json.loads(body)
            except json.JSONDecodeError:
                continue
            if tag == "RUN":
                self.run = v
                self.opened.set()
            elif tag == "STEP":
                self.steps.append(v)
            elif tag == "PHASE":
                self.phases.append(v)
        self.result = result("".join(out))
        self.opened.set()
        self.done.set()

    def go(self) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write("GO\n")
            self.proc.stdin.flush()
        except OSError:
            pass

    def sigkill(self) -> None:
        """SIGKILL the logging process only (its helpers live on, as they would after an OOM kill)."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def reap(self) -> None:
        """Kill whatever is left of the process and its session; close files."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        self.proc.wait()
        self.done.wait(5)
        self.err.close()

    def why(self) -> str:
        self.err.flush()
        lines = (self.root / "worker.stderr").read_text(errors="replace").strip().splitlines()
        return "error: " + (lines[-1][:120] if lines else f"exit {self.proc.poll()}, no output")


def _cpu_s(pids: list[int]) -> float:
    """utime + stime of live processes, seconds (from /proc/<pid>/stat)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            f = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(f[11]) + int(f[12])) / tick
    return total


def _group(pgid: int) -> list[int]:
    """Every process in process group pgid (the mlflow server and the workers it forked)."""
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                f = pathlib.Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(f[2]) == pgid:
                pids.append(int(d))
    return pids


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def _peers(ctx: Ctx, t: Table, names: list[str]) -> list[str]:
    out = []
    for p in names:
        base = p.split("-")[0]
        if base in ctx.unavailable:
            t.fail(p, ctx.unavailable[base])
        elif p in ctx.peers or base in ctx.peers:
            out.append(p)
    return out


def _mlflow_history(c: Http, run_id: str, key: str) -> list[tuple[int, float]]:
    out, token = [], ""
    while True:
        q = urllib.parse.urlencode({"run_id": run_id, "metric_key": key, "max_results": 25000,
                                    **({"page_token": token} if token else {})})
        a = c.call("GET", f"/api/2.0/mlflow/metrics/get-history?{q}")
        out.extend((int(m["step"]), m["value"]) for m in a.get("metrics", []))  # type: ignore[union-attr]
        token = a.get("next_page_token", "")  # type: ignore[union-attr]
        if not token:
            return out


def _fluoro_history(c: Http, project: str, run: str, keys: list[str], min_step: int = 0) -> dict[str, list]:
    """{key: [(step, value)]}: every point at or above min_step."""
    q = urllib.parse.urlencode({"keys": ",".join(keys), "min_step": min_step})
    a = c.call("GET", f"/api/v1/projects/{ENTITY}/{project}/runs/{run}/history?{q}")
    return {s["key"]: list(zip(s["steps"], s["values"])) for s in a["series"]}  # type: ignore[index]


class Reader(threading.Thread):
    """Polls one run's clock key; records (step, seconds from log() to the reader holding the point)."""

    def __init__(self, peer: str, ctx: Ctx, fl: servers.Fluoro | None, run: str, key: str) -> None:
        super().__init__(daemon=True)
        self.peer, self.run_id, self.key = peer, run, key
        self.client = fl.client() if fl else ctx.mlflow.client()  # type: ignore[union-attr]
        self.seen: dict[int, float] = {}
        self.polls = 0
        self.stopping = threading.Event()

    def poll(self) -> None:
        if self.peer == "fluoro":
            nxt = max(self.seen, default=-1) + 1
            pts = _fluoro_history(self.client, "w5", self.run_id, [self.key], nxt).get(self.key, [])
        else:
            pts = _mlflow_history(self.client, self.run_id, self.key)
        now = time.time()
        self.polls += 1
        for step, v in pts:
            if step not in self.seen and isinstance(v, (int, float)):
                self.seen[step] = now - v

    def run(self) -> None:  # type: ignore[override]
        while not self.stopping.is_set():
            try:
                self.poll()
            except (OSError, RuntimeError):
                pass
            self.stopping.wait(POLL_S)


def w5(ctx: Ctx) -> Table:
    sz = ctx.size["W5"]
    n, secs, burst = sz["writers"], sz["seconds"], sz["burst_s"]
    t = Table("W5 concurrency", f"{n} writer processes × 20 metrics at 10 Hz for {secs} s, all starting together; "
              f"writer 0 logs the wall clock, a reader polls it every {POLL_S * 1e3:.0f} ms through the read API "
              "(Fluoro: run /history?min_step=; MLflow: metrics/get-history). Server CPU over that window from "
              f"/proc (MLflow: its whole process group). Then {burst} s unthrottled: log() calls' points/s, "
              "log() p99 (worst writer) and close() drain (slowest writer).",
              ["visible p50 ms", "visible p99 ms", "server CPU s", "server CPU %", "10 Hz kept %",
               "burst points/s", "burst log p99 µs", "drain s"])
    peers = _peers(ctx, t, W5_PEERS)
    shared = ctx.mlflow
    try:
        for peer in peers:
            if peer not in W5_READABLE:
                t.fail(peer, NO_READ_API)
                continue
            if peer.startswith("mlflow") and ctx.mlflow is shared:
                # a fresh server: an unthrottled burst can leave the shared one's connection pool exhausted
                # for the next workloads, and its CPU is then W5's alone
                ctx.mlflow = servers.Mlflow(pathlib.Path(sys.executable).parent, ctx.fresh("w5-mlflow-server"))
                ctx.mlflow.start()
            _w5_peer(ctx, t, peer, sz)
    finally:
        if ctx.mlflow is not shared:
            ctx.mlflow.stop()  # type: ignore[union-attr]
            ctx.mlflow = shared
    t.notes.append(f"visible latency includes up to {POLL_S * 1e3:.0f} ms of polling interval and the read "
                   "request (Fluoro's SDK batches every 0.2 s; MLflow's synchronous log_metrics is one request per "
                   "row); server CPU includes answering the reader; 10 Hz kept %: rows logged in the window ÷ "
                   "writers × 10 × seconds.")
    return t


def _w5_peer(ctx: Ctx, t: Table, peer: str, sz: dict) -> None:
    n, secs, burst, cap, drain_cap = sz["writers"], sz["seconds"], sz["burst_s"], sz["cap_s"], sz["drain_cap_s"]
    fl = ctx.fresh_fluoro() if peer == "fluoro" else None
    env = ctx.env(peer, fl)
    if peer == "fluoro":
        env["FLUORO_FINISH_TIMEOUT"] = str(drain_cap)
    procs = [Live({"peer": peer, "root": str(ctx.fresh(f"w5-{peer}")), "project": "w5", "run_id": f"w5-{i:03d}",
                   "go": True, "clock_key": i == 0, "cap_s": cap,
                   "phases": [{"hz": 10, "seconds": secs}, {"hz": 0, "seconds": burst, "pause_s": PAUSE_S}]}, env)
             for i in range(n)]
    try:
        deadline = time.monotonic() + cap
        for p in procs:
            p.opened.wait(max(0.0, deadline - time.monotonic()))
        bad = next((p for p in procs if p.run is None), None)
        if bad:
            t.fail(peer, bad.why() if bad.done.is_set() else f"did not open {n} runs in {cap} s")
            return
        pids = [fl.proc.pid] if fl and fl.proc else _group(ctx.mlflow.proc.pid)  # type: ignore[union-attr]
        reader = Reader(peer, ctx, fl, procs[0].run["id"], gen.KEYS20[0])  # type: ignore[index]
        reader.start()
        cpu0 = _cpu_s(pids)
        for p in procs:
            p.go()
        time.sleep(secs)
        cpu = _cpu_s(pids) - cpu0
        time.sleep(PAUSE_S - 0.5)  # the last throttled points are visible by now; the burst has not begun
        reader.stopping.set()
        reader.join()
        end = time.monotonic() + burst + drain_cap
        for p in procs:
            p.done.wait(max(0.0, end - time.monotonic()))
        if any(not p.phases for p in procs):
            t.fail(peer, next(p.why() for p in procs if not p.phases))
            return
        edge = procs[0].phases[0]["rows"]
        (procs[0].root / "visible.json").write_text(json.dumps(sorted(reader.seen.items())))  # kept with --keep
        lat = [v for s, v in reader.seen.items() if s < edge]
        kept = sum(p.phases[0]["rows"] for p in procs) / (n * 10 * secs)
        unseen = "no point seen by the reader"
        row: dict[str, object] = {
            "visible p50 ms": _pct(lat, 0.5) * 1e3 if lat else unseen,
            "visible p99 ms": _pct(lat, 0.99) * 1e3 if lat else unseen,
            "server CPU s": cpu, "server CPU %": 100 * cpu / secs, "10 Hz kept %": 100 * kept}
        b = [p.phases[1] for p in procs if len(p.phases) > 1]
        if len(b) == n:
            row.update({"burst points/s": sum(x["rows"] * 20 / x["seconds"] for x in b),
                        "burst log p99 µs": max(x["log_p99_us"] for x in b)})
        else:
            why = f"did not finish in {burst + drain_cap} s"
            row.update(dict.fromkeys(("burst points/s", "burst log p99 µs"), why))
        res = [p.result for p in procs]
        drain = max(r["drain_s"] for r in res) if all(res) else drain_cap  # type: ignore[index]
        row["drain s"] = drain if drain < drain_cap else f"did not drain in {drain_cap} s"
        t.add(peer, row)
        if len(lat) < edge:
            t.notes.append(f"{peer}: the reader saw {len(lat)} of writer 0's {edge} throttled points.")
        errs = [ln for p in procs for ln in _errors(p)]
        if errs:
            t.notes.append(f"{peer}: {len(errs)} error lines from the writers, e.g. \"{errs[0][:160]}\"")
    finally:
        for p in procs:
            p.reap()
        if fl:
            fl.stop()


def _errors(p: Live) -> list[str]:
    p.err.flush()
    text = (p.root / "worker.stderr").read_text(errors="replace")
    return [ln.strip() for ln in text.splitlines() if "ERROR" in ln or "Error:" in ln]


def _w8_counts(got: dict[str, list[int]], keys: list[str], last: int, old: int) -> dict[str, int]:
    lost_old = lost_new = dup = beyond = 0
    for k in keys:
        steps = got.get(k, [])
        have = set(steps)
        dup += len(steps) - len(have)
        lost_old += sum(1 for s in range(old + 1) if s not in have)
        lost_new += sum(1 for s in range(old + 1, last + 1) if s not in have)
        beyond += sum(1 for s in have if s > last)
    return {"lost_old": lost_old, "lost_new": lost_new, "dup": dup, "beyond": beyond}


def _settle(root: pathlib.Path, timeout: float = 10) -> None:
    """Wait until no file under root has grown for 1 s (a helper process still flushing: wandb-core)."""
    last, stable, end = -1, 0.0, time.monotonic() + timeout
    while time.monotonic() < end and stable < 1:
        size = servers.dir_size(root)
        stable = stable + 0.25 if size == last else 0
        last = size
        time.sleep(0.25)


def _recover(ctx: Ctx, peer: str, p: Live, fl: servers.Fluoro | None, keys: list[str]) -> tuple[dict, float, str]:
    """({key: [steps]}, recovery seconds, how) for what the peer holds after its process died."""
    run = p.run["id"]  # type: ignore[index]
    t0 = time.perf_counter()
    if peer == "fluoro":
        assert fl is not None
        r = subprocess.run([sys.executable, "-m", "fluoro", "sync", str(p.root)], env=ctx.env(peer, fl),
                           capture_output=True, text=True, timeout=300, check=False)
        took = time.perf_counter() - t0
        if r.returncode:
            raise RuntimeError("fluoro sync: " + (r.stderr.strip().splitlines() or ["?"])[-1][:120])
        h = _fluoro_history(fl.client(), "w8", run, keys)
        return {k: [s for s, _ in v] for k, v in h.items()}, took, "`python -m fluoro sync DIR`, then the server"
    if peer.startswith("mlflow"):
        c = ctx.mlflow.client()  # type: ignore[union-attr]
        return ({k: [s for s, _ in _mlflow_history(c, run, k)] for k in keys}, 0.0,
                "what the server holds (get-history); no recovery step")
    _settle(p.root)
    r2 = ctx.spawn("recover", {"peer": peer, "root": str(p.root), "id": run}, 120)
    if isinstance(r2, str):
        raise RuntimeError(r2)
    how = {"wandb": "the .wandb file's history records (`wandb sync` needs a W&B server)",
           "aim": "the run reopened with aim.Run(run_hash=…) and read back",
           "tensorboardX": "the event files read back",
           "trackio": "its SQLite metrics table"}[peer]
    return r2["keys"], time.perf_counter() - t0, how


def w8(ctx: Ctx) -> Table:
    sz = ctx.size["W8"]
    t = Table("W8 durability", f"(a) a W2-like run (1 ms busy step, then log() of 20 metrics, up to "
              f"{sz['steps']:,} steps) SIGKILLed {sz['kill_after_s']} s after its run opened; then the peer's "
              "recovery; points lost among those the process had reported as logged (it reports every 20 steps "
              f"or 50 ms, after log() returned), split at {RECENT_S} s before the kill, and points stored twice. "
              f"(b) Fluoro only: bin/fluoro SIGKILLed {sz['server_kill_after_s']} s into a "
              f"{sz['server_steps']:,}-step run, restarted {sz['down_s']} s later on the same data dir and port.",
              ["reported points", f"lost ≥{RECENT_S} s before kill", f"lost in last {RECENT_S} s", "duplicated",
               "recovery s", "server: lost", "server: duplicated", "restart→ready s"])
    keys = gen.KEYS20
    hows = []
    for peer in _peers(ctx, t, W8_PEERS):
        try:
            row, how = _w8_sdk(ctx, peer, sz, keys)
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            t.fail(peer, str(e)[:160])
            continue
        if isinstance(row, str):
            t.fail(peer, row)
            continue
        row.update({"server: lost": "n/a", "server: duplicated": "n/a", "restart→ready s": "n/a"})
        t.add(peer, row)
        hows.append(f"{peer}: {how}")
    if "fluoro" in t.rows and isinstance(t.rows["fluoro"].get("reported points"), int):
        try:
            t.rows["fluoro"].update(_w8_server(ctx, sz, keys, t))
        except (RuntimeError, OSError) as e:
            t.rows["fluoro"].update({c: f"error: {str(e)[:120]}" for c in
                                     ("server: lost", "server: duplicated", "restart→ready s")})
    t.notes.append("recovery: " + "; ".join(hows))
    t.notes.append("\"server:\" columns: (b) is run on Fluoro only; the MLflow server is not killed here.")
    return t


def _w8_sdk(ctx: Ctx, peer: str, sz: dict, keys: list[str]) -> tuple[dict | str, str]:
    fl = ctx.fresh_fluoro() if peer == "fluoro" else None
    args = {"peer": peer, "root": str(ctx.fresh(f"w8-{peer}")), "project": "w8", "run_id": f"w8-{peer}",
            "progress": 20, "cap_s": sz["cap_s"], "phases": [{"busy_ms": 1, "steps": sz["steps"]}]}
    p = Live(args, ctx.env(peer, fl))
    try:
        if not p.opened.wait(sz["cap_s"]) or p.run is None:
            return p.why(), ""
        time.sleep(sz["kill_after_s"])
        t_kill = time.time()
        if p.proc.poll() is not None:
            return f"finished before the kill ({sz['steps']:,} steps in under {sz['kill_after_s']} s)", ""
        p.sigkill()
        p.done.wait(10)
        if not p.steps:
            return "no step reported before the kill", ""
        last = int(max(s for s, _ in p.steps))
        old = int(max((s for s, ts in p.steps if ts <= t_kill - RECENT_S), default=-1))
        spooled = sum(f.read_text().count('\n{"entity":') for f in p.root.glob("fluoro/run-*/spool/*.jsonl"))
        got, took, how = _recover(ctx, peer, p, fl, keys)
        c = _w8_counts(got, keys, last, old)
        if peer == "fluoro" and c["lost_old"]:
            how += f" (the spool held {spooled} batches before sync)"
        if c["beyond"]:
            how += f" ({c['beyond']:,} points logged after the last report also kept)"
        return {"reported points": (last + 1) * len(keys), f"lost ≥{RECENT_S} s before kill": c["lost_old"],
                f"lost in last {RECENT_S} s": c["lost_new"], "duplicated": c["dup"], "recovery s": took}, how
    finally:
        p.reap()
        if fl:
            fl.stop()


def _w8_server(ctx: Ctx, sz: dict, keys: list[str], t: Table) -> dict[str, object]:
    fl = ctx.fresh_fluoro()
    n = sz["server_steps"]
    args = {"peer": "fluoro", "root": str(ctx.fresh("w8-server")), "project": "w8", "run_id": "w8-server",
            "progress": 100, "cap_s": sz["cap_s"], "phases": [{"busy_ms": 1, "steps": n}]}
    p = Live(args, ctx.env("fluoro", fl))
    try:
        if not p.opened.wait(sz["cap_s"]) or p.run is None:
            raise RuntimeError(p.why())
        time.sleep(sz["server_kill_after_s"])
        at_kill = max((s for s, _ in p.steps), default=-1)
        fl.kill()
        time.sleep(sz["down_s"])
        t0 = time.perf_counter()
        listen = fl.start()
        fl.wait_ready()
        ready = time.perf_counter() - t0
        if not p.done.wait(sz["cap_s"] + 130) or p.result is None:
            raise RuntimeError(p.why())
        h = _fluoro_history(fl.client(), "w8", "w8-server", keys)
        got = {k: [s for s, _ in v] for k, v in h.items()}
        c = _w8_counts(got, keys, n - 1, n - 1)
        run = fl.client().call("GET", f"/api/v1/projects/{ENTITY}/w8/runs/w8-server")
        t.notes.append(f"(b) the writer had reported step {at_kill:,} at the kill; it logged {p.result['rows']:,} "
                       f"rows, close() took {p.result['drain_s']:.1f} s; bin/fluoro listened {listen:.2f} s and "
                       f"was ready {ready:.2f} s after the restart; run state afterwards: "
                       f"{run.get('state', '?') if isinstance(run, dict) else '?'}; "
                       f"points expected {n * len(keys):,}, stored {sum(len(set(v)) for v in got.values()):,}.")
        return {"server: lost": c["lost_old"], "server: duplicated": c["dup"], "restart→ready s": ready}
    finally:
        p.reap()
        fl.stop()




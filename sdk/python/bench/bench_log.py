#!/usr/bin/env python3
"""Caller-thread cost of fluoro.log(), import+init time and finish drain time.

    python sdk/python/bench/bench_log.py            # 1M calls, 20 keys
    python sdk/python/bench/bench_log.py --n 100000 --mode offline
    python sdk/python/bench/bench_log.py --mode offline --peer wandb --peer-n 200000

With --peer wandb the same measurement runs for wandb in offline mode, in a
child process of this one (same loop code: this file, run by the Python that
has wandb: --peer-python, else bench/.venv-peers/bin/python, else this one),
and one side-by-side table is printed. Without wandb installed the peer
column is skipped with a message.

Online mode talks to --server URL, or starts bin/fluoro on a free port with a
temporary data directory (built by `go build` if missing), or falls back to
offline when neither is possible. Not a test: it prints numbers, it asserts
nothing. Targets (docs/BENCHMARKS): log() <= 5 us p50 and <= 50 us p99,
import + init <= 150 ms.
"""

from __future__ import annotations

import argparse
import array
import gc
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
REPO = HERE.parents[2]
KEY = "fluoro_bench_" + "b" * 40


def start_server(data: str) -> Tuple[subprocess.Popen, str]:
    binary = os.environ.get("FLUORO_BIN") or str(REPO / "bin" / "fluoro")
    if not os.path.exists(binary):
        if shutil.which("go") is None:
            raise RuntimeError("no bin/fluoro and no go to build it")
        subprocess.run(["go", "build", "-o", binary, "./cmd/fluoro"], cwd=REPO, check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLUORO_")}
    env["FLUORO_ADMIN_API_KEY"] = KEY
    p = subprocess.Popen(
        [binary, "server", "--addr", "127.0.0.1:0", "--data", data, "--log-level", "warn"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert p.stdout is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = p.stdout.readline().decode()
        m = re.search(r"listening on (http://\S+)", line)
        if m:
            return p, m.group(1)
        if not line and p.poll() is not None:
            break
    p.kill()
    raise RuntimeError("server did not start")


INIT_CHILD = r"""
import sys, time, json
t0 = time.perf_counter()
import fluoro
t1 = time.perf_counter()
run = fluoro.init(project="bench-init", config={"lr": 1e-4}, dir=sys.argv[1], settings=fluoro.Settings(quiet=True))
t2 = time.perf_counter()
run.finish(quiet=True)
print(json.dumps({"import": t1 - t0, "init": t2 - t1}))
"""


def measure_init(env: Dict[str, str], tmp: str, reps: int) -> Tuple[float, float]:
    imports, inits = [], []
    for _ in range(reps):
        out = subprocess.run(
            [sys.executable, "-c", INIT_CHILD, tmp], env=env, capture_output=True, text=True, timeout=120
        )
        if out.returncode != 0:
            raise RuntimeError("init child failed: " + out.stderr[-2000:])
        d = json.loads(out.stdout.strip().splitlines()[-1])
        imports.append(d["import"])
        inits.append(d["init"])
    return statistics.median(imports), statistics.median(inits)


def pct(sorted_ns: "array.array", q: float) -> float:
    i = min(len(sorted_ns) - 1, int(q * len(sorted_ns)))
    return sorted_ns[i] / 1000.0


def log_loop(log: Callable[[Dict[str, float]], None], n: int, nkeys: int, fresh: bool) -> Tuple["array.array", float]:
    """Call log(d) n times with a nkeys-key dict; the caller-thread cost of each call (ns) and the wall time."""
    d = {"train/metric_%02d" % k: 0.0 for k in range(nkeys)}
    keys = list(d)
    costs = array.array("q", bytes(8 * n))
    pc = time.perf_counter_ns
    gc.collect()
    t_start = time.perf_counter()
    for i in range(n):
        if fresh:
            for j in range(nkeys):
                d[keys[j]] = (i * nkeys + j) * 1.000001e-3
        else:
            d[keys[i % nkeys]] = i * 0.001
        t0 = pc()
        log(d)
        costs[i] = pc() - t0
    return costs, time.perf_counter() - t_start


def figures(costs: "array.array", loop: float, drain: float) -> Dict[str, Any]:
    s = array.array("q", sorted(costs))
    return {
        "p50": pct(s, 0.50),
        "p99": pct(s, 0.99),
        "max": s[-1] / 1000.0,
        "mean": sum(s) / len(s) / 1000.0,
        "loop": loop,
        "drain": drain,
        "n": len(s),
    }


# --- the peer: wandb offline, in a child process ------------------------------

WANDB_INIT_CHILD = r"""
import sys, time, json
t0 = time.perf_counter()
import wandb
t1 = time.perf_counter()
run = wandb.init(project="bench-init", config={"lr": 1e-4}, dir=sys.argv[1], mode="offline")
t2 = time.perf_counter()
run.finish()
print(json.dumps({"import": t1 - t0, "init": t2 - t1, "version": wandb.__version__}))
"""


def wandb_env(tmp: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "FLUORO_"))}
    env.update({"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DIR": tmp})
    env["WANDB_CONFIG_DIR"] = os.path.join(tmp, "wandb-config")
    env["WANDB_CACHE_DIR"] = os.path.join(tmp, "wandb-cache")
    return env


def child_wandb(n: int, nkeys: int, fresh: bool, tmp: str) -> int:
    """--child wandb: the log() loop and finish() drain for wandb offline; one JSON line."""
    import wandb

    run = wandb.init(project="bench-log", config={"keys": nkeys, "n": n}, dir=tmp, mode="offline")
    costs, loop = log_loop(run.log, n, nkeys, fresh)
    t0 = time.perf_counter()
    run.finish()
    drain = time.perf_counter() - t0
    out = figures(costs, loop, drain)
    out["version"] = wandb.__version__
    print(json.dumps(out))
    return 0


def peer_python(arg: Optional[str]) -> Optional[str]:
    """A Python that can import wandb, or None."""
    cands = [arg] if arg else [str(REPO / "bench" / ".venv-peers" / "bin" / "python"), sys.executable]
    for py in cands:
        if py and os.path.exists(py):
            r = subprocess.run([py, "-c", "import wandb"], capture_output=True, timeout=120)
            if r.returncode == 0:
                return py
    return None


def measure_wandb(py: str, n: int, nkeys: int, fresh: bool, reps: int) -> Dict[str, Any]:
    tmp = tempfile.mkdtemp(prefix="fluoro-bench-wandb-")
    try:
        env = wandb_env(tmp)
        imports, inits = [], []
        for _ in range(reps):
            out = subprocess.run(
                [py, "-c", WANDB_INIT_CHILD, tmp], env=env, capture_output=True, text=True, timeout=300
            )
            if out.returncode != 0:
                raise RuntimeError("wandb init child failed: " + out.stderr[-2000:])
            d = json.loads(out.stdout.strip().splitlines()[-1])
            imports.append(d["import"])
            inits.append(d["init"])
        cmd = [py, str(Path(__file__).resolve()), "--child", "wandb", "--n", str(n), "--keys", str(nkeys), "--dir", tmp]
        if fresh:
            cmd.append("--fresh")
        out = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError("wandb log child failed: " + out.stderr[-2000:])
        res: Dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        res["import"], res["init"] = statistics.median(imports), statistics.median(inits)
        return res
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def print_side_by_side(fl: Dict[str, Any], wb: Optional[Dict[str, Any]], note: str) -> None:
    def cell(d: Optional[Dict[str, Any]], key: str, fmt: str, scale: float = 1.0) -> str:
        if d is None:
            return "-"
        return fmt % (d[key] * scale)

    print()
    print(note)
    print(
        "| | Fluoro %s (%s) | wandb %s (offline) | target (Fluoro) |"
        % (fl["version"], fl["mode"], wb["version"] if wb else "-")
    )
    print("|---|---|---|---|")
    print("| log() calls timed | %d | %s | |" % (fl["n"], cell(wb, "n", "%d")))
    print("| log() caller p50 | %.2f µs | %s | ≤ 5 µs |" % (fl["p50"], cell(wb, "p50", "%.2f µs")))
    print("| log() caller p99 | %.2f µs | %s | ≤ 50 µs |" % (fl["p99"], cell(wb, "p99", "%.2f µs")))
    print("| log() caller max | %.1f ms | %s | |" % (fl["max"] / 1000, cell(wb, "max", "%.1f ms", 1e-3)))
    print("| log() caller mean | %.2f µs | %s | |" % (fl["mean"], cell(wb, "mean", "%.2f µs")))
    print("| import | %.0f ms | %s | |" % (fl["import"] * 1000, cell(wb, "import", "%.0f ms", 1000)))
    print("| init() | %.0f ms | %s | |" % (fl["init"] * 1000, cell(wb, "init", "%.0f ms", 1000)))
    print(
        "| import + init | %.0f ms | %s | ≤ 150 ms |"
        % ((fl["import"] + fl["init"]) * 1000, "-" if wb is None else "%.0f ms" % ((wb["import"] + wb["init"]) * 1000))
    )
    print("| loop wall time | %.1f s | %s | |" % (fl["loop"], cell(wb, "loop", "%.1f s")))
    print("| finish() drain | %.2f s | %s | |" % (fl["drain"], cell(wb, "drain", "%.2f s")))


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="log() calls (default 1M)")
    ap.add_argument("--keys", type=int, default=20, help="keys per call (default 20)")
    ap.add_argument("--mode", choices=["online", "offline"], default="online")
    ap.add_argument("--server", help="URL of a running server (with FLUORO_API_KEY set)")
    ap.add_argument("--init-reps", type=int, default=5)
    ap.add_argument(
        "--fresh",
        action="store_true",
        help="every value of every call is a new float (default: one key changes per call, like a dict "
        "updated in place); the spool thread's cost per row depends on it, log()'s does not",
    )
    ap.add_argument("--peer", choices=["wandb"], help="also measure wandb (offline mode) in a child process")
    ap.add_argument("--peer-n", type=int, help="log() calls for the peer (default: --n)")
    ap.add_argument("--peer-python", help="the Python that has the peer installed")
    ap.add_argument("--child", choices=["wandb"], help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child == "wandb":
        return child_wandb(args.n, args.keys, args.fresh, args.dir)

    peer_py = None
    if args.peer == "wandb":
        peer_py = peer_python(args.peer_python)
        if peer_py is None:
            where = args.peer_python or "bench/.venv-peers/bin/python or this Python"
            print(
                "# --peer wandb: wandb is not installed in %s; its column is skipped "
                "(make bench-peers-smoke creates bench/.venv-peers with wandb)" % where
            )

    sys.path.insert(0, str(SRC))
    tmp = tempfile.mkdtemp(prefix="fluoro-bench-")
    proc = None
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLUORO_")}
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env["FLUORO_CONFIG_DIR"] = os.path.join(tmp, "config")
    mode = args.mode
    try:
        if mode == "online":
            if args.server:
                env["FLUORO_BASE_URL"] = args.server
                env["FLUORO_API_KEY"] = os.environ.get("FLUORO_API_KEY", "")
            else:
                try:
                    proc, url = start_server(os.path.join(tmp, "server"))
                    env["FLUORO_BASE_URL"], env["FLUORO_API_KEY"] = url, KEY
                except Exception as e:
                    print("# no server (%s): offline mode" % e)
                    mode = "offline"
        env["FLUORO_MODE"] = mode
        imp, ini = measure_init(env, tmp, args.init_reps)

        os.environ.update({k: v for k, v in env.items() if k.startswith("FLUORO_")})
        import fluoro

        run = fluoro.init(
            project="bench-log", config={"keys": args.keys, "n": args.n}, dir=tmp, settings=fluoro.Settings(quiet=True)
        )
        n = args.n
        pc = time.perf_counter_ns
        costs, loop = log_loop(run.log, n, args.keys, args.fresh)
        t0 = time.perf_counter()
        run.finish(quiet=True)
        drain = time.perf_counter() - t0
        stats = run._pipe.stats if run._pipe is not None else None
        overhead = array.array("q", bytes(8 * 10000))
        for i in range(10000):
            t0 = pc()
            overhead[i] = pc() - t0
        s = array.array("q", sorted(costs))
        so = sorted(overhead)
        print()
        print(
            "fluoro %s, Python %s, %s mode, %d calls x %d keys%s"
            % (fluoro.__version__, sys.version.split()[0], mode, n, args.keys, ", fresh values" if args.fresh else "")
        )
        print("| metric                         | value      | target   |")
        print("|--------------------------------|------------|----------|")
        print("| log() caller p50               | %7.2f us | <= 5 us  |" % pct(s, 0.50))
        print("| log() caller p99               | %7.2f us | <= 50 us |" % pct(s, 0.99))
        print("| log() caller max               | %7.0f us |          |" % (s[-1] / 1000.0))
        print("| log() caller mean              | %7.2f us |          |" % (sum(s) / len(s) / 1000.0))
        print("| (timer overhead, p50)          | %7.2f us |          |" % (so[len(so) // 2] / 1000.0))
        print("| import fluoro                  | %7.1f ms |          |" % (imp * 1000))
        print("| init() (online: 2 requests)    | %7.1f ms |          |" % (ini * 1000))
        print("| import + init                  | %7.1f ms | <= 150ms |" % ((imp + ini) * 1000))
        print("| loop wall time                 | %7.2f s  |          |" % loop)
        print("| finish() drain                 | %7.2f s  |          |" % drain)
        if stats is not None:
            print("| rows / points / batches sent   | %d / %d / %d |" % (stats.rows, stats.points, stats.batches))
        if args.peer == "wandb":
            fl: Dict[str, Any] = figures(costs, loop, drain)
            fl.update({"version": fluoro.__version__, "mode": mode, "import": imp, "init": ini})
            del costs, s
            wb = None
            if peer_py is not None:
                peer_n = args.peer_n or n
                print("# wandb: %d calls in a child process (%s)" % (peer_n, peer_py), flush=True)
                wb = measure_wandb(peer_py, peer_n, args.keys, args.fresh, args.init_reps)
            print_side_by_side(
                fl,
                wb,
                "Python %s, %d keys a call%s; import and init: medians of %d fresh processes"
                % (sys.version.split()[0], args.keys, ", fresh values" if args.fresh else "", args.init_reps),
            )
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One benchmark process: drives one peer's SDK and prints `RESULT {json}`.

Run by the harness as `python worker.py JOB ARGS_JSON` with the peer's
environment already set. Jobs:

- startup   W1: import → init → 1 log → finish, each step timed.
- longrun   W2/W9: one run; a 1 ms busy-step phase without and with logging,
            then a tight loop of log() calls timed one by one, then close().
- writer    W4/W5/W8: runs one after another, `hz` rows a second (0: as fast
            as it goes); prints `RUN name id` at open and `STEP n` progress.
"""

from __future__ import annotations

import json
import pathlib
import resource
import sys
import time

T0 = time.perf_counter()  # before any peer import: W1's clock starts here

import gen  # noqa: E402
import trackers  # noqa: E402


def emit(tag: str, payload: object) -> None:
    sys.stdout.write(f"{tag} {json.dumps(payload)}\n")
    sys.stdout.flush()


def tracker(a: dict) -> trackers.Tracker:
    return trackers.ALL[a["peer"]](pathlib.Path(a["root"]))


def startup(a: dict) -> dict:
    t = tracker(a)
    t.load()
    t1 = time.perf_counter()
    t.open(a["project"], a["run_id"], {"lr": 3e-4, "seed": 1})
    t2 = time.perf_counter()
    t.log(gen.Rows(gen.KEYS20, 1).row(0), 0)
    t3 = time.perf_counter()
    t.close()
    t4 = time.perf_counter()
    return {"import_s": t1 - T0, "init_s": t2 - t1, "ready_s": t2 - T0, "log_s": t3 - t2, "finish_s": t4 - t3}


def busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def pct(xs: list[float], q: float) -> float:
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def longrun(a: dict) -> dict:
    rows = gen.Mix(a["steps"]).row if a.get("mix") else gen.Rows(gen.KEYS20, 2).row
    t = tracker(a)
    t.load()
    t.open(a["project"], a["run_id"], {"lr": 3e-4})
    out: dict = {}
    step = 0
    nb = a.get("busy_steps", 0)
    if nb:  # the same nb busy steps without, then with, log()
        t0 = time.perf_counter()
        for i in range(nb):
            rows(i)
            busy(0.001)
        bare = time.perf_counter() - t0
        t0 = time.perf_counter()
        for i in range(nb):
            r = rows(step)
            busy(0.001)
            t.log(r, step)
            step += 1
        logged = time.perf_counter() - t0
        out["busy_extra_us_per_step"] = (logged - bare) / nb * 1e6
        out["busy_extra_pct"] = 100 * (logged - bare) / bare
    lat: list[float] = []
    cap = a["cap_s"]
    clock = time.perf_counter
    t_loop = clock()
    dnf = False
    for _ in range(a["steps"]):
        r = rows(step)
        t0 = clock()
        t.log(r, step)
        lat.append(clock() - t0)
        step += 1
        if (step & 255) == 0 and clock() - t_loop > cap:
            dnf = True
            break
    loop_s = clock() - t_loop
    t0 = clock()
    t.close()
    out["drain_s"] = clock() - t0
    lat.sort()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    out.update(rows=step, keys=len(rows(0)), dnf=dnf, loop_s=loop_s,
               log_p50_us=pct(lat, 0.5) * 1e6, log_p99_us=pct(lat, 0.99) * 1e6, log_max_us=lat[-1] * 1e6,
               cpu_s=ru.ru_utime + ru.ru_stime, rss_mb=ru.ru_maxrss / 1024)
    return out


def writer(a: dict) -> dict:
    keys = gen.KEYS20[: a["keys"]]
    rows = gen.Rows(keys, 4).row
    hz, cap, clock_key = a.get("hz", 0), a["cap_s"], a.get("clock_key", False)
    t_start = time.perf_counter()
    t = tracker(a)
    t.load()
    n = 0
    for name in a["runs"]:
        rid = t.open(a["project"], name, a.get("config", {}))
        emit("RUN", {"name": name, "id": rid})
        t_run = time.perf_counter()
        for step in range(a["steps"]):
            r = rows(step)
            if clock_key:
                r[keys[0]] = time.time()
            t.log(r, step)
            n += 1
            if a.get("progress") and step % 50 == 49:
                emit("STEP", step)
            if hz:
                time.sleep(max(0.0, t_run + (step + 1) / hz - time.perf_counter()))
            if time.perf_counter() - t_start > cap:
                t.close()
                return {"rows": n, "dnf": True, "seconds": time.perf_counter() - t_start}
        t.close()
    return {"rows": n, "dnf": False, "seconds": time.perf_counter() - t_start}


if __name__ == "__main__":
    job, args = sys.argv[1], json.loads(sys.argv[2])
    emit("RESULT", {"startup": startup, "longrun": longrun, "writer": writer}[job](args))

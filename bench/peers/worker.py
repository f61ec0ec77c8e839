"""One benchmark process: drives one peer's SDK and prints `RESULT {json}`.

Run by the harness as `python worker.py JOB ARGS_JSON` with the peer's
environment already set. Jobs:

- startup   W1: import → init → 1 log → finish, each step timed.
- longrun   W2/W9: one run; a 1 ms busy-step phase without and with logging,
            then a tight loop of log() calls timed one by one, then close().
- writer    W4: runs one after another, `hz` rows a second (0: as fast
            as it goes); prints `RUN name id` at open and `STEP n` progress.
- live      W5/W8: one run through a list of phases (rate, length, optional
            1 ms busy step), optionally waiting for a `GO` line on stdin after
            open; prints `STEP [step, unix time]` after every `progress`-th
            log() returned (and at least every 50 ms) and `PHASE {...}` at
            the end of each phase.
- recover   W8: what a killed peer's own files hold, {key: [steps]}.
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


def live(a: dict) -> dict:
    """One run, phase after phase: {"pause_s": idle first, "hz": rows/s (0: as fast as it goes), "seconds"
    and/or "steps" (whichever ends first), "busy_ms": a busy "training step" before each log()}. With
    `clock_key` the first key holds time.time() taken just before log(), for the harness's log → visible
    latency."""
    keys = gen.KEYS20[: a.get("keys", 20)]
    rows = gen.Rows(keys, 5).row
    clock_key, progress, cap = a.get("clock_key", False), a.get("progress", 0), a["cap_s"]
    t = tracker(a)
    t.load()
    rid = t.open(a["project"], a["run_id"], {})
    emit("RUN", {"name": a["run_id"], "id": rid})
    if a.get("go"):
        sys.stdin.readline()
    clock, now = time.perf_counter, time.time
    t_start = clock()
    step, phases, dnf, t_emit = 0, [], False, t_start
    for ph in a["phases"]:
        hz, secs, nmax, b = ph.get("hz", 0), ph.get("seconds", 0), ph.get("steps", 0), ph.get("busy_ms", 0) / 1e3
        time.sleep(ph.get("pause_s", 0))
        lat: list[float] = []
        n0, t0 = step, clock()
        while not ((secs and clock() - t0 >= secs) or (nmax and step - n0 >= nmax)):
            r = rows(step)
            if b:
                busy(b)
            if clock_key:
                r[keys[0]] = now()
            ts = clock()
            t.log(r, step)
            lat.append(clock() - ts)
            step += 1
            if progress and (step % progress == 0 or clock() - t_emit > 0.05):
                emit("STEP", [step - 1, now()])
                t_emit = clock()
            if hz:
                time.sleep(max(0.0, t0 + (step - n0) / hz - clock()))
            if clock() - t_start > cap:
                dnf = True
                break
        took = clock() - t0
        lat.sort()
        done = {"first": n0, "rows": step - n0, "seconds": took, "log_p50_us": pct(lat, 0.5) * 1e6 if lat else 0,
                "log_p99_us": pct(lat, 0.99) * 1e6 if lat else 0, "log_max_us": lat[-1] * 1e6 if lat else 0}
        emit("PHASE", done)
        phases.append(done)
        if dnf:
            break
    t0 = clock()
    t.close()
    return {"id": rid, "rows": step, "keys": len(keys), "phases": phases, "drain_s": clock() - t0, "dnf": dnf}


def _wandb_records(path: pathlib.Path):
    """The records of a .wandb file: a 7-byte header, then LevelDB-log framing (32 KiB blocks; each chunk
    has crc32c:4, length:2, type:1; FULL=1, FIRST=2, MIDDLE=3, LAST=4). A torn tail is ignored."""
    data = path.read_bytes()
    pos, block, buf = 7, 32768, b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:  # block trailer padding
            pos += left
            continue
        n, kind = int.from_bytes(data[pos + 4:pos + 6], "little"), data[pos + 6]
        chunk = data[pos + 7:pos + 7 + n]
        if len(chunk) < n or (n == 0 and kind == 0):
            break
        pos += 7 + n
        if kind == 1:
            yield chunk
        elif kind == 2:
            buf = chunk
        elif kind == 3:
            buf += chunk
        elif kind == 4:
            yield buf + chunk


def recover(a: dict) -> dict:
    """W8: after the logging process was SIGKILLed, what the peer's own files hold: {key: [steps]}."""
    root, out = pathlib.Path(a["root"]), {}
    peer = a["peer"]
    if peer == "wandb":
        from wandb.proto import wandb_internal_pb2 as pb

        for f in root.rglob("*.wandb"):
            for raw in _wandb_records(f):
                rec = pb.Record.FromString(raw)
                if rec.WhichOneof("record_type") != "history":
                    continue
                items = {(i.key or "/".join(i.nested_key)): i.value_json for i in rec.history.item}
                step = int(json.loads(items.pop("_step", "null")) or rec.history.step.num)
                for k in items:
                    if not k.startswith("_"):
                        out.setdefault(k, []).append(step)
    elif peer == "aim":
        from aim import Run

        # read-only opening sees no metrics of a run that was never closed: reopen it (aim's resume), read, close
        run = Run(run_hash=a["id"], repo=str(root / "aim"), system_tracking_interval=None, capture_terminal_logs=False)
        for m in run.metrics():
            out.setdefault(m.name, []).extend(int(i) for i in m.data.indices_list())
        run.close()
    elif peer == "tensorboardX":
        from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

        for f in (root / "tb").rglob("events.out.tfevents.*"):
            for ev in EventFileLoader(str(f)).Load():
                for v in ev.summary.value:
                    out.setdefault(v.tag, []).append(int(ev.step))
    elif peer == "trackio":
        import sqlite3

        for f in (root / "trackio").rglob("*.db"):
            con = sqlite3.connect(f"file:{f}?mode=ro", uri=True)
            try:
                rows = con.execute("SELECT step, metrics FROM metrics WHERE run_name = ?", (a["id"],)).fetchall()
            except sqlite3.Error:
                rows = []
            for step, metrics in rows:
                for k in json.loads(metrics):
                    if not k.startswith("_"):
                        out.setdefault(k, []).append(int(step))
    return {"keys": out}


if __name__ == "__main__":
    job, args = sys.argv[1], json.loads(sys.argv[2])
    emit("RESULT", {"startup": startup, "longrun": longrun, "writer": writer, "live": live,
                    "recover": recover}[job](args))

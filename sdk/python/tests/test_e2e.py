"""End to end: the real `fluoro server` binary, real processes, checked through fluoro.Api().

Every test checks that each logged point arrived, exactly once: the values
by step through scan_history, and the server's own per-key point counts
(which only grow for new (key, step) pairs).
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

import fluoro
from fluoro._spool import read_spool

from conftest import Server, free_port, run_script, spawn_script

pytestmark = pytest.mark.e2e


def api_for(server: Server) -> fluoro.Api:
    return fluoro.Api(overrides={"base_url": server.url, "api_key": server.key})


def all_points(run: Any) -> Dict[Tuple[str, int], Any]:
    """Every (key, step) -> value of a run, read key by key (unsampled)."""
    out: Dict[Tuple[str, int], Any] = {}
    for k in run.keys():
        for row in run.scan_history(keys=[k["key"]]):
            assert (k["key"], row["_step"]) not in out
            out[(k["key"], row["_step"])] = row[k["key"]]
    return out


def assert_counts_exact(run: Any, pts: Dict[Tuple[str, int], Any]) -> None:
    """The server counted each (key, step) once: nothing was applied twice."""
    per_key: Dict[str, int] = {}
    for k, _ in pts:
        per_key[k] = per_key.get(k, 0) + 1
    assert {k["key"]: k["points"] for k in run.keys()} == per_key
    run.load()
    assert run.points == len(pts)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


FINETUNE = r"""
import json, math, random, sys
import fluoro as wandb  # the one-line change from a wandb script

random.seed(1234)
config = {"model": "bert-base-uncased", "task": "sst2", "lr": 2e-5, "epochs": 2, "batch_size": 32,
          "warmup_steps": 20, "seed": 1234, "optimizer": {"name": "adamw", "betas": [0.9, 0.999]}}
run = wandb.init(project=sys.argv[1], config=config, tags=["baseline", "bert"], group="seeds",
                 job_type="finetune", notes="seed-like fine-tuning loop")
wandb.define_metric("val/acc", summary="max")
wandb.define_metric("train/loss", summary="min")
logged = []
steps_per_epoch = 150
for epoch in range(wandb.config.epochs):
    for b in range(steps_per_epoch):
        step = run.step  # the step this row will get
        lr = config["lr"] * min(1.0, (step + 1) / config["warmup_steps"])
        loss = 0.7 * math.exp(-step / 120) + 0.05 * random.random()
        row = {"train/loss": loss, "train/lr": lr, "train/epoch": epoch + b / steps_per_epoch}
        wandb.log(row)
        logged.append([step, row])
    val = {"val/loss": 0.3 - 0.1 * epoch, "val/acc": 0.85 + 0.04 * epoch}
    logged.append([run.step, val])
    wandb.log(val)
wandb.summary["best_val_acc"] = 0.89
wandb.finish()
json.dump({"id": run.id, "rows": logged}, open("logged.json", "w"))
"""


def test_finetune_script(server: Server, tmp_path: Path, project: str) -> None:
    out = run_script(FINETUNE, server.env(), tmp_path, args=[project])
    assert out.returncode == 0, out.stderr
    assert "/admin/%s/runs/" % project in out.stderr  # init printed the run URL
    logged = json.loads((tmp_path / "logged.json").read_text())
    run = api_for(server).run("admin/%s/%s" % (project, logged["id"]))
    assert run.state == "finished"
    assert run.config["lr"] == 2e-5 and run.config["optimizer"] == {"name": "adamw", "betas": [0.9, 0.999]}
    assert run.tags == ["baseline", "bert"] and run.group == "seeds" and run.job_type == "finetune"
    want: Dict[Tuple[str, int], Any] = {}
    for step, row in logged["rows"]:
        for k, v in row.items():
            want[(k, step)] = v
    pts = all_points(run)
    assert pts.keys() == want.keys()
    assert all(same(pts[k], want[k]) for k in want)
    assert_counts_exact(run, pts)
    assert run.points_pending == 0 and run.points_logged == run.points_received >= len(want)
    losses = [v for (k, _), v in want.items() if k == "train/loss"]
    assert run.summary["train/loss"] == {"min": min(losses)}
    assert run.summary["val/acc"] == {"max": 0.89}
    assert run.summary["best_val_acc"] == 0.89
    assert run.summary["train/lr"] == 2e-5
    assert run.last_step == 301
    hist = run.history(keys=["val/loss", "val/acc"], pandas=False)
    assert [r["_step"] for r in hist] == [150, 301]


def test_commit_false_late_steps_nonfinite_nested(online: Server, tmp_path: Path, project: str) -> None:
    run = fluoro.init(project=project, dir=str(tmp_path), config={"x": 1})
    for i in range(20):
        run.log({"aux/grad_norm": float(i)}, commit=False)
        run.log({"aux/param_norm": i * 2.0}, commit=False)
        run.log({"train/loss": 1.0 / (i + 1), "nested": {"a": i, "b": {"c": -i}}})
    run.log({"eval/acc": 0.8}, step=15)  # late: eval of step 15 finished now
    run.log({"eval/acc": 0.7}, step=5)  # later still, and at a lower step
    run.log({"train/loss": 0.5}, step=3)  # overwrites step 3, newest wins
    run.log({"weird/nan": math.nan, "weird/inf": math.inf, "weird/ninf": -math.inf, "flag": True})
    run.finish()
    r = api_for(online).run("%s/%s" % (project, run.id))
    pts = all_points(r)
    for i in range(20):
        assert pts[("aux/grad_norm", i)] == float(i) and pts[("aux/param_norm", i)] == i * 2.0
        assert pts[("nested.a", i)] == i and pts[("nested.b.c", i)] == -i
        assert pts[("train/loss", i)] == (0.5 if i == 3 else 1.0 / (i + 1))
    assert pts[("eval/acc", 5)] == 0.7 and pts[("eval/acc", 15)] == 0.8
    assert math.isnan(pts[("weird/nan", 20)])
    assert pts[("weird/inf", 20)] == math.inf and pts[("weird/ninf", 20)] == -math.inf
    assert pts[("flag", 20)] in (True, 1)
    assert_counts_exact(r, pts)
    # The summary holds each key's value at its highest step: late points do not roll it back.
    assert r.summary["train/loss"] == 1.0 / 20 and r.summary["eval/acc"] == 0.8
    assert r.summary["nested"] == {"a": 19, "b": {"c": -19}}
    assert r.state == "finished"


def test_resume_continues_the_step_counter(online: Server, tmp_path: Path, project: str) -> None:
    run = fluoro.init(project=project, dir=str(tmp_path), id="resume-me", config={"lr": 0.1})
    for i in range(30):
        run.log({"loss": 30.0 - i})
    run.finish()
    with pytest.raises(fluoro.UsageError, match="already exists"):
        fluoro.init(project=project, dir=str(tmp_path), id="resume-me", resume="never")
    with pytest.raises(fluoro.UsageError, match="does not exist"):
        fluoro.init(project=project, dir=str(tmp_path), id="missing-run", resume="must")
    run2 = fluoro.init(project=project, dir=str(tmp_path), id="resume-me", resume="must", config={"extra": 1})
    assert run2.resumed and run2.step == 30
    assert run2.config.lr == 0.1 and run2.config.extra == 1
    for i in range(30, 50):
        run2.log({"loss": 30.0 - i})
    run2.finish()
    r = api_for(online).run("%s/resume-me" % project)
    pts = all_points(r)
    assert sorted(s for _, s in pts) == list(range(50))
    assert r.state == "finished" and r.summary["loss"] == -19.0 and r.config == {"lr": 0.1, "extra": 1}
    assert_counts_exact(r, pts)


def test_offline_then_sync(server: Server, tmp_path: Path, project: str) -> None:
    run = fluoro.init(project=project, mode="offline", dir=str(tmp_path), config={"a": 1}, tags=["off"])
    for i in range(100):
        run.log({"x": i, "y": {"z": i * 0.5}})
    run.finish()
    res = fluoro.sync(str(tmp_path), base_url=server.url, api_key=server.key, quiet=True)
    assert len(res) == 1 and res[0].ok
    r = api_for(server).run("admin/%s/%s" % (project, run.id))
    pts = all_points(r)
    assert sorted(s for k, s in pts if k == "y.z") == list(range(100))
    assert r.state == "finished" and r.config == {"a": 1} and r.tags == ["off"]
    again = fluoro.sync(str(tmp_path), base_url=server.url, api_key=server.key, quiet=True)
    assert again[0].sent == 0
    assert_counts_exact(r, pts)


@pytest.mark.parametrize("syncer", ["python", "go"])
def test_resume_offline_lands_after_the_runs_points(online: Server, tmp_path: Path, project: str, syncer: str) -> None:
    """Resumed offline, a run's steps count from 0 here; the server stores them after its last step."""
    server = online
    first = fluoro.init(project=project, id="resumed-" + syncer, dir=str(tmp_path / "a"))
    for i in range(10):
        first.log({"x": float(i)})
    first.finish()
    off = fluoro.init(project=project, id="resumed-" + syncer, resume="allow", mode="offline", dir=str(tmp_path / "b"))
    for i in range(5):
        off.log({"x": 100.0 + i})
    off.finish()
    if syncer == "python":
        res = fluoro.sync(str(tmp_path / "b"), base_url=server.url, api_key=server.key, quiet=True)
        assert len(res) == 1 and res[0].ok
    else:
        run_dir = next((tmp_path / "b" / "fluoro").glob("run-*"))
        subprocess.run(
            [server.binary, "sync", "--url", server.url, "--key", server.key, str(run_dir)], check=True, timeout=60
        )
    r = api_for(server).run("admin/%s/%s" % (project, off.id))
    pts = all_points(r)
    assert {s: v for (k, s), v in pts.items() if k == "x"} == {
        **{i: float(i) for i in range(10)},  # the run's own points, not overwritten
        **{10 + i: 100.0 + i for i in range(5)},  # the offline steps 0-4, after them
    }


def test_api_runs_filters_and_order(online: Server, tmp_path: Path, project: str) -> None:
    for lr, acc, tag in [(0.001, 0.7, "a"), (0.01, 0.9, "b"), (0.1, 0.8, "b")]:
        r = fluoro.init(project=project, dir=str(tmp_path), config={"lr": lr}, tags=[tag])
        r.log({"acc": acc})
        r.finish()
    api = api_for(online)
    runs = api.runs(project, filters={"config.lr": {"$gt": 0.005}}, order="-summary_metrics.acc")
    assert len(runs) == 2
    assert [x.config["lr"] for x in runs] == [0.01, 0.1]
    assert len(api.runs("admin/" + project, filters='tags has "b" and state = "finished"')) == 2
    assert len(api.runs(project, filters={"$or": [{"config.lr": 0.001}, {"tags": {"$in": ["b"]}}]})) == 3
    assert [x.summary["acc"] for x in api.runs(project, order="+summary.acc")] == [0.7, 0.8, 0.9]
    assert [x.config["lr"] for x in api.runs(project)] == [0.001, 0.01, 0.1]  # oldest first, like wandb
    # Paging by offset while runs are created: oldest first, none is seen twice.
    seen = []
    for x in api.runs(project, per_page=1):
        seen.append(x.id)
        if len(seen) == 1:
            fluoro.init(project=project, dir=str(tmp_path), reinit="create_new").finish()
    assert len(seen) == len(set(seen)) >= 3


OUTAGE = r"""
import os, sys, time, fluoro
run = fluoro.init(project=sys.argv[1], config={"lr": 1e-3}, tags=["outage"],
                  settings=fluoro.Settings(retry_max_backoff=1.0))
print(run.id, flush=True)
i = 0
while not os.path.exists(sys.argv[2]) and i < 100000:  # until the test says the outage is over
    fluoro.log({"loss": 1.0 / (i + 1), "acc": i / 1000.0, "lr": 1e-3})
    if i == 150:  # during the outage
        run.config.update({"phase": "outage"})
        run.tags = ["outage", "seen"]
    time.sleep(0.01)
    i += 1
run.config.update({"steps": i})
run.summary["best_acc"] = (i - 1) / 1000.0
fluoro.finish()
print("done", i, flush=True)
"""


def test_server_stopped_mid_run(own_server: Server, tmp_path: Path, project: str) -> None:
    """The server is down for 10 s (FLUORO_TEST_OUTAGE_S) while the script logs, before and after."""
    stop = tmp_path / "stop-logging"
    script = OUTAGE.replace("sys.argv[1]", repr(project)).replace("sys.argv[2]", repr(str(stop)))
    p = spawn_script(script, own_server.env(), tmp_path)
    assert p.stdout is not None
    rid = p.stdout.readline().strip()
    time.sleep(1.0)
    own_server.stop()
    time.sleep(float(os.environ.get("FLUORO_TEST_OUTAGE_S", "10")))
    own_server.restart()
    time.sleep(1.0)  # logging goes on with the server back, the backlog still being sent
    stop.touch()
    out, err = p.communicate(timeout=90)
    assert p.returncode == 0, err
    assert "unreachable" in err and "reachable again" in err
    steps = int(out.split("done")[1].split()[0])
    assert steps > 300  # it logged before, through and after the outage (until the stop file)
    r = api_for(own_server).run("admin/%s/%s" % (project, rid))
    pts = all_points(r)
    for k in ("loss", "acc", "lr"):
        assert sorted(s for kk, s in pts if kk == k) == list(range(steps)), k
    assert pts[("acc", steps - 1)] == (steps - 1) / 1000.0
    assert_counts_exact(r, pts)
    assert (r.points_logged, r.points_received, r.points_pending) == (3 * steps, 3 * steps, 0)
    assert r.state == "finished"
    assert r.config == {"lr": 1e-3, "phase": "outage", "steps": steps} and r.tags == ["outage", "seen"]
    assert r.summary["loss"] == 1.0 / steps and r.summary["acc"] == r.summary["best_acc"] == (steps - 1) / 1000.0


TWO = r"""
import sys, fluoro
run = fluoro.init(project=sys.argv[1], name=sys.argv[2], config={"side": sys.argv[2]}, tags=[sys.argv[2]])
for i in range(400):
    fluoro.log({"w/%d" % k: i * k for k in range(10)})
fluoro.summary["side"] = sys.argv[2]
fluoro.finish()
print(run.id)
"""


def test_two_processes_two_runs(server: Server, tmp_path: Path, project: str) -> None:
    procs = []
    for name in ("left", "right"):
        d = tmp_path / name
        d.mkdir()
        procs.append(
            spawn_script(TWO.replace("sys.argv[1]", repr(project)).replace("sys.argv[2]", repr(name)), server.env(), d)
        )
    ids = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        ids.append(out.strip().splitlines()[-1])
    api = api_for(server)
    for rid, name in zip(ids, ("left", "right")):
        r = api.run("admin/%s/%s" % (project, rid))
        pts = all_points(r)
        assert len(pts) == 4000
        assert all(pts[("w/%d" % k, i)] == i * k for k in range(10) for i in range(400))
        assert_counts_exact(r, pts)
        assert r.name == name and r.config == {"side": name} and r.tags == [name] and r.state == "finished"
        assert r.summary == {**{"w/%d" % k: 399 * k for k in range(10)}, "side": name}
    assert {r.name for r in api.runs(project)} == {"left", "right"}


FOREVER = r"""
import sys, time, fluoro
run = fluoro.init(project=sys.argv[1], config={"lr": 0.5}, tags=["kill"])
print(run.id, run.dir, flush=True)
i = 0
while True:
    if i == 100:
        run.config.update({"warm": True})
    fluoro.log({"loss": 1.0 / (i + 1), "step_id": i})
    i += 1
    time.sleep(0.002)
"""


def test_sigkill_then_sync(own_server: Server, tmp_path: Path, project: str) -> None:
    p = spawn_script(FOREVER.replace("sys.argv[1]", repr(project)), own_server.env(), tmp_path)
    assert p.stdout is not None
    rid, run_dir = p.stdout.readline().split()
    time.sleep(1.0)
    own_server.stop()  # now batches pile up in the spool, unsent
    time.sleep(1.5)
    p.send_signal(signal.SIGKILL)
    p.communicate(timeout=10)
    spooled: Dict[Tuple[str, int], Any] = {}
    c = read_spool(run_dir)
    assert c.pending, "expected unsent batches in the spool"
    for rec in c.records:
        if rec.kind == "batch":
            for row in json.loads(rec.body).get("history") or []:
                for k, v in row["values"].items():
                    spooled[(k, row["step"])] = v
    own_server.restart()
    sync = [sys.executable, "-m", "fluoro", "sync", run_dir]
    out = subprocess.run(sync, env=own_server.env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "crashed" in out.stderr
    r = api_for(own_server).run("admin/%s/%s" % (project, rid))
    pts = all_points(r)
    missing = set(spooled) - set(pts)
    assert not missing, "lost %d spooled points, e.g. %s" % (len(missing), sorted(missing)[:5])
    assert all(pts[k] == v for k, v in spooled.items())
    assert r.state == "crashed"
    last = max(st for k, st in spooled if k == "step_id")
    assert r.config == {"lr": 0.5, "warm": True} and r.tags == ["kill"]
    assert r.summary["step_id"] == last and r.summary["loss"] == 1.0 / (last + 1)
    assert_counts_exact(r, pts)
    # everything the process spooled is at the server now: 2 values a row, rows 0..last
    logged = max(json.loads(rec.body).get("logged", 0) for rec in c.records if rec.kind == "batch")
    assert logged == 2 * (last + 1)
    assert (r.points_logged, r.points_received, r.points_pending) == (logged, logged, 0)
    out2 = subprocess.run(sync, env=own_server.env(), capture_output=True, text=True, timeout=60)
    assert out2.returncode == 0 and " 0 sent" in out2.stderr, out2.stderr
    assert_counts_exact(r, pts)


LIVE = r"""
import os, sys, time, fluoro
stop = sys.argv[2]
run = fluoro.init(project=sys.argv[1], config={"lr": 0.1, "phase": "warmup"}, tags=["a"],
                  settings=fluoro.Settings(retry_max_backoff=0.5, finish_timeout=2.0, quiet=True))
print(run.id, run.dir, flush=True)
i = 0
while not os.path.exists(stop) or i < 600:
    fluoro.log({"loss": 1.0 / (i + 1), "i": i})
    if i == 300:
        run.config.update({"phase": "main"}, allow_val_change=True)
        run.tags = ["a", "b"]
        print("updated", flush=True)
    i += 1
    time.sleep(0.002)
run.config.update({"phase": "done", "steps": i}, allow_val_change=True)
run.summary["best"] = 0.5
fluoro.finish()
print("done", i, flush=True)
"""


@pytest.mark.parametrize("mode", ["offline", "server-down"])
def test_go_sync_while_the_run_is_alive(mode: str, server: Server, tmp_path: Path, project: str) -> None:
    """`fluoro sync` (Go) twice while the process logs, then after it ends: every point once, newest state."""
    env = server.env()
    if mode == "offline":
        env["FLUORO_MODE"] = "offline"
    else:  # online, to a server that never answers: nothing is acked by the process itself
        env["FLUORO_BASE_URL"] = "http://127.0.0.1:%d" % free_port()
    stop = tmp_path / "stop-logging"
    p = spawn_script(LIVE.replace("sys.argv[1]", repr(project)).replace("sys.argv[2]", repr(str(stop))), env, tmp_path)
    assert p.stdout is not None
    rid, run_dir = p.stdout.readline().split()
    sync = [server.binary, "sync", "--url", server.url, "--key", server.key, run_dir]
    api = api_for(server)

    time.sleep(0.5)  # some batches spooled
    out = subprocess.run(sync, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    r = api.run("admin/%s/%s" % (project, rid))
    early = all_points(r)
    assert early and r.state == "running" and r.config["phase"] == "warmup" and r.tags == ["a"]
    assert_counts_exact(r, early)

    assert p.stdout.readline().strip() == "updated"
    time.sleep(0.5)
    out = subprocess.run(sync, capture_output=True, text=True, timeout=60)  # replays from the start: no acks
    assert out.returncode == 0, out.stderr
    r.load()
    mid = all_points(r)
    assert len(mid) > len(early) and r.state == "running"
    assert r.config["phase"] == "main" and r.tags == ["a", "b"]  # the replayed create did not win
    assert_counts_exact(r, mid)

    stop.touch()
    rest, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    steps = int(rest.split("done")[1].split()[0])
    for _ in range(2):  # after the process: sends the rest and the finish; then nothing
        out = subprocess.run(sync, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
    r.load()
    pts = all_points(r)
    assert sorted(st for k, st in pts if k == "i") == list(range(steps))
    assert all(pts[("i", st)] == st and pts[("loss", st)] == 1.0 / (st + 1) for st in range(steps))
    assert_counts_exact(r, pts)
    assert r.state == "finished"
    assert r.config == {"lr": 0.1, "phase": "done", "steps": steps} and r.tags == ["a", "b"]
    assert r.summary["loss"] == 1.0 / steps and r.summary["i"] == steps - 1 and r.summary["best"] == 0.5


LIVE_OPS = r"""
import os, sys, time, fluoro
def wait(path):
    while not os.path.exists(path):
        time.sleep(0.01)
run = fluoro.init(project=sys.argv[1], config={"phase": "warmup"}, tags=["a"], settings=fluoro.Settings(quiet=True))
print(run.id, run.dir, flush=True)
fluoro.log({"i": 0})
run.config.update({"phase": "main"}, allow_val_change=True)
run.tags = ["a", "b"]
print("older", flush=True)
wait(sys.argv[2])
run.config.update({"phase": "done"}, allow_val_change=True)
run.tags = ["c"]
print("newer", flush=True)
wait(sys.argv[3])
fluoro.finish()
"""


def stale_copy(run_dir: str, dst: Path) -> Path:
    """The run dir as a sync that read it before the live sender's acks sees it: every record pending."""
    shutil.copytree(run_dir, dst)
    for seg in (dst / "spool").glob("*.jsonl"):
        lines = [ln for ln in seg.read_bytes().splitlines(keepends=True) if not ln.startswith(b'{"op":"ack"')]
        seg.write_bytes(re.sub(rb'"acked":\d+', b'"acked":0', b"".join(lines)))
    return dst


def wait_for(what: str, cond: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.05)


def test_go_sync_replays_older_ops_of_an_online_run(server: Server, tmp_path: Path, project: str) -> None:
    """`fluoro sync` (Go) re-sends ops an online run's process already sent, after newer ones: they change nothing.

    The sync reads a copy of the spool taken before the acks (as a sync racing the
    live sender does) and finds the spool locked (the run is alive), so it only sends.
    """
    go_on, stop = tmp_path / "go-on", tmp_path / "stop"
    script = LIVE_OPS.replace("sys.argv[1]", repr(project)).replace("sys.argv[2]", repr(str(go_on)))
    p = spawn_script(script.replace("sys.argv[3]", repr(str(stop))), server.env(), tmp_path)
    assert p.stdout is not None
    rid, run_dir = p.stdout.readline().split()
    assert p.stdout.readline().strip() == "older"
    r = api_for(server).run("admin/%s/%s" % (project, rid))

    def config_is(phase: str, tags: List[str]) -> bool:
        r.load()
        return bool(r.config.get("phase") == phase and r.tags == tags)

    wait_for("the older update", lambda: config_is("main", ["a", "b"]))
    stale = stale_copy(run_dir, tmp_path / "stale")
    with open(stale / "spool" / "lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # alive: the sync sends, and neither acks nor finishes
        go_on.touch()
        assert p.stdout.readline().strip() == "newer"
        wait_for("the newer update", lambda: config_is("done", ["c"]))
        sync = [server.binary, "sync", "--url", server.url, "--key", server.key, str(stale)]
        out = subprocess.run(sync, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        r.load()
        assert r.state == "running" and r.config == {"phase": "done"} and r.tags == ["c"], "an older op won"

        stop.touch()
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        r.load()
        assert r.state == "finished"
        out = subprocess.run(sync, capture_output=True, text=True, timeout=60)  # the create again, after the finish
        assert out.returncode == 0, out.stderr
        r.load()
        assert r.state == "finished" and r.config == {"phase": "done"} and r.tags == ["c"]
        assert all_points(r) == {("i", 0): 0}


ENDINGS = {
    "exception": (
        "import fluoro\nrun = fluoro.init(project=%r)\nfluoro.log({'a': 1})\nraise RuntimeError('x')\n",
        "failed",
        1,
    ),
    "sys_exit": ("import sys, fluoro\nrun = fluoro.init(project=%r)\nfluoro.log({'a': 1})\nsys.exit(3)\n", "failed", 3),
    "builtin_exit": ("import fluoro\nrun = fluoro.init(project=%r)\nfluoro.log({'a': 1})\nexit(3)\n", "failed", 3),
    "no_finish": ("import fluoro\nrun = fluoro.init(project=%r)\nfluoro.log({'a': 1})\n", "finished", 0),
    # Python gives atexit no exit code, so a bare SystemExit is not seen (wandb does not see it either).
    "raise_systemexit": (
        "import fluoro\nrun = fluoro.init(project=%r)\nfluoro.log({'a': 1})\nraise SystemExit(3)\n",
        "finished",
        3,
    ),
}


@pytest.mark.parametrize("how", sorted(ENDINGS))
def test_process_endings_set_the_state(how: str, server: Server, tmp_path: Path, project: str) -> None:
    code, state, rc = ENDINGS[how]
    out = run_script(code % project, server.env(), tmp_path)
    assert out.returncode == rc, out.stderr
    runs = list(api_for(server).runs(project))
    assert len(runs) == 1 and runs[0].state == state
    assert (runs[0].exit_code or 0) == (0 if state == "finished" else rc)
    assert all_points(runs[0]) == {("a", 0): 1}


SIGTERMED = r"""
import sys, time, fluoro
run = fluoro.init(project=sys.argv[1])
for i in range(50):
    fluoro.log({"a": i})
print("ready", flush=True)
for _ in range(600):  # a loop, as training is: a signal that lands as the main thread
    time.sleep(0.1)   # enters one long sleep is handled only when that sleep ends
"""


@pytest.mark.parametrize("slurm", [False, True])
def test_sigterm_marks_killed_and_flushes(slurm: bool, server: Server, tmp_path: Path, project: str) -> None:
    env = server.env()
    if slurm:
        env["SLURM_JOB_ID"] = "4242"
    p = spawn_script(SIGTERMED.replace("sys.argv[1]", repr(project)), env, tmp_path)
    assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=30)
    assert p.returncode == -signal.SIGTERM, err
    runs = list(api_for(server).runs(project))
    assert len(runs) == 1 and runs[0].state == ("preempted" if slurm else "killed")
    assert sorted(s for _, s in all_points(runs[0])) == list(range(50))
    assert "_fluoro" not in runs[0].summary


def test_ignored_sigterm_stays_ignored(server: Server, tmp_path: Path, project: str) -> None:
    # Started with SIGTERM ignored (nohup-style), the SDK must not take it over:
    # the signal does nothing and the run finishes normally at exit.
    script = SIGTERMED.replace("sys.argv[1]", repr(project)).replace("range(600)", "range(15)")
    p = spawn_script(script, server.env(), tmp_path, ignore_sigterm=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    runs = list(api_for(server).runs(project))
    assert len(runs) == 1 and runs[0].state == "finished"
    assert sorted(s for _, s in all_points(runs[0])) == list(range(50))


def test_login_file_then_init(server: Server, tmp_path: Path, project: str) -> None:
    assert fluoro.login(key=server.key, host=server.url, verify=True)
    run = fluoro.init(project=project, dir=str(tmp_path))  # no FLUORO_* set: the login file decides
    assert run.mode == "online" and run.entity == "admin"
    assert run.url == "%s/admin/%s/runs/%s" % (server.url, project, run.id)
    run.log({"a": 1})
    run.finish()
    assert fluoro.Api().run("%s/%s" % (project, run.id)).state == "finished"
    with pytest.raises(fluoro.AuthError):
        fluoro.login(key="wrong-key", host=server.url, verify=True)

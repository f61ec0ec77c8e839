"""Run behaviour against the in-memory fake server (no network)."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import time
import types
import urllib.parse
import warnings
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

import fluoro
from fluoro._spool import read_spool
from fluoro._summary import SummaryState

from fakeserver import FakeServer, start


def rows(fake: FakeServer) -> List[Tuple[int, Dict[str, Any]]]:
    return [(r["step"], r["values"]) for b in fake.batches for r in b.get("history") or []]


# --- steps ------------------------------------------------------------------


def test_implicit_steps_and_commit_false(fake: FakeServer, tmp_path: Path) -> None:
    run = start(fake, tmp_path)
    run.log({"a": 1})
    run.log({"b": 2}, commit=False)
    run.log({"c": 3}, commit=False)
    run.log({"a": 4})
    run.log({"a": 5})
    assert run.step == 3
    run.finish()
    assert rows(fake) == [(0, {"a": 1}), (1, {"b": 2, "c": 3, "a": 4}), (2, {"a": 5})]


def test_explicit_steps_like_wandb(fake: FakeServer, tmp_path: Path) -> None:
    run = start(fake, tmp_path)
    run.log({"a": 1}, step=5)  # row at 5 stays open
    run.log({"b": 2}, step=5)  # merges
    run.log({"a": 3}, step=7)  # commits 5, opens 7
    run.log({"c": 4})  # merges into 7 and commits; next step 8
    run.log({"a": 5}, step=9, commit=True)
    run.log({"a": 6})
    run.finish()
    assert rows(fake) == [(5, {"a": 1, "b": 2}), (7, {"a": 3, "c": 4}), (9, {"a": 5}), (10, {"a": 6})]


def test_lower_step_is_sent_as_a_late_point(fake: FakeServer, tmp_path: Path) -> None:
    run = start(fake, tmp_path)
    for i in range(10):
        run.log({"train/loss": float(i)})
    run.log({"eval/acc": 0.5}, step=3)  # async eval finishing late
    run.log({"train/loss": 10.0})
    run.finish()
    pts = fake.history(run.id)
    assert pts[("eval/acc", 3)] == 0.5
    assert pts[("train/loss", 10)] == 10.0
    assert len([k for k in pts if k[0] == "train/loss"]) == 11


def test_finish_commits_the_open_row(fake: FakeServer, tmp_path: Path) -> None:
    run = start(fake, tmp_path)
    run.log({"a": 1}, commit=False)
    run.finish()
    assert rows(fake) == [(0, {"a": 1})]


def test_bad_steps_do_not_raise(fake: FakeServer, tmp_path: Path) -> None:
    run = start(fake, tmp_path)
    with pytest.warns(fluoro.FluoroWarning):
        run.log({"a": 1}, step=-1)
    with pytest.warns(fluoro.FluoroWarning):
        run.log({"a": 2}, step="x")  # type: ignore[arg-type]
    run.log({"a": 3}, step=4.0)  # type: ignore[arg-type]
    run.finish()
    assert (4, {"a": 3}) in rows(fake)


# --- values -----------------------------------------------------------------


def test_values_nan_inf_nested_and_bools(fake: FakeServer, tmp_path: Path) -> None:
    run = start(fake, tmp_path)
    run.log(
        {
            "nan": math.nan,
            "inf": math.inf,
            "ninf": -math.inf,
            "ok": True,
            "s": "text",
            "nested": {"a": 1, "b": {"c": 2.5}},
            "media": {"_type": "histogram", "bins": [1, 2]},
            "list": [1, 2, 3],
            "none": None,
        }
    )
    run.finish()
    raw = fake.raw[0]
    assert b"NaN" in raw and b"Infinity" in raw and b"-Infinity" in raw
    ((step, vals),) = rows(fake)
    assert math.isnan(vals["nan"]) and vals["inf"] == math.inf and vals["ninf"] == -math.inf
    assert vals["nested"] == {"a": 1, "b": {"c": 2.5}}
    assert vals["media"] == {"_type": "histogram", "bins": [1, 2]}
    assert "none" not in vals
    pts = fake.history(run.id)
    assert pts[("nested.b.c", 0)] == 2.5
    assert run.summary["nested"] == {"a": 1, "b": {"c": 2.5}}


def test_unsupported_values_warn_once_and_never_raise(fake: FakeServer, tmp_path: Path) -> None:
    run = start(fake, tmp_path)

    class Weird:
        pass

    with pytest.warns(fluoro.FluoroWarning, match="Weird") as w:
        run.log({"a": 1, "w": Weird()})
        run.log({"a": 2, "w": Weird()})
    assert len([x for x in w if "Weird" in str(x.message)]) == 1
    with pytest.warns(fluoro.FluoroWarning):
        run.log("not a dict")  # type: ignore[arg-type]
    run.log({1: 5})  # type: ignore[dict-item]
    run.finish()
    assert rows(fake)[:2] == [(0, {"a": 1}), (1, {"a": 2})]
    assert rows(fake)[2] == (2, {"1": 5})


def test_numpy_and_torch_scalars_detected_via_sys_modules(
    fake: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stand-ins with the shapes the SDK relies on; the SDK must not import them itself.
    np = types.ModuleType("numpy")

    class generic:  # noqa: N801 - numpy's name
        def __init__(self, v: float) -> None:
            self.v = v

        def item(self) -> float:
            return self.v

    class ndarray:  # noqa: N801
        def __init__(self, vals: List[float]) -> None:
            self.vals = vals
            self.size = len(vals)

        def item(self) -> float:
            return self.vals[0]

    np.generic, np.ndarray = generic, ndarray  # type: ignore[attr-defined]
    torch = types.ModuleType("torch")

    class Tensor:
        def __init__(self, vals: List[float]) -> None:
            self.vals = vals

        def numel(self) -> int:
            return len(self.vals)

        def item(self) -> float:
            return self.vals[0]

    torch.Tensor = Tensor  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "numpy", np)
    monkeypatch.setitem(sys.modules, "torch", torch)
    run = start(fake, tmp_path)
    run.log({"np": generic(1.5), "arr1": ndarray([2.0]), "t": Tensor([3.0]), "nested": {"t": Tensor([4.0])}})
    with pytest.warns(fluoro.FluoroWarning, match="tensors of 3 values"):
        run.log({"big": Tensor([1.0, 2.0, 3.0]), "x": 1})
    run.finish()
    assert rows(fake) == [(0, {"np": 1.5, "arr1": 2.0, "t": 3.0, "nested": {"t": 4.0}}), (1, {"x": 1})]


def test_log_copies_its_input(fake: FakeServer, tmp_path: Path) -> None:
    run = start(fake, tmp_path)
    d = {"a": 1}
    run.log(d)
    d["a"] = 2
    run.log(d)
    run.finish()
    assert rows(fake) == [(0, {"a": 1}), (1, {"a": 2})]


# --- config -------------------------------------------------------------------


def test_config_access_update_and_val_change(fake: FakeServer, tmp_path: Path) -> None:
    ns = argparse.Namespace(lr=0.1, epochs=2)
    run = start(fake, tmp_path, config=ns)
    assert run.config.lr == 0.1 and run.config["epochs"] == 2
    run.config.bs = 32
    run.config["opt"] = "adam"
    run.config.update({"warmup": 10})
    with pytest.raises(fluoro.ConfigError, match="allow_val_change"):
        run.config.update({"lr": 0.2})
    with pytest.raises(fluoro.ConfigError):
        run.config.lr = 0.3
    run.config.update({"lr": 0.2}, allow_val_change=True)
    run.config.update({"lr": 0.2})  # same value: fine
    assert run.config.setdefaults({"lr": 9, "seed": 1})["lr"] == 0.2

    class Flags:  # absl's FLAGS shape
        def flag_values_dict(self) -> Dict[str, Any]:
            return {"dropout": 0.1}

    run.config.update(Flags())
    with pytest.raises(AttributeError):
        _ = run.config.missing
    run.finish()
    cfg = fake.run(run.id)["config"]
    assert cfg == {"lr": 0.2, "epochs": 2, "bs": 32, "opt": "adam", "warmup": 10, "seed": 1, "dropout": 0.1}
    assert dict(run.config) == cfg


def test_module_level_delegation(fake: FakeServer, tmp_path: Path) -> None:
    run = start(fake, tmp_path, config={"lr": 1})
    assert fluoro.run is run
    fluoro.config.update({"x": 1})
    fluoro.log({"loss": 0.5})
    fluoro.summary["best"] = 0.9
    assert fluoro.summary["loss"] == 0.5
    assert fluoro.config.lr == 1 and "x" in fluoro.config
    fluoro.finish()
    assert fluoro.run is None
    assert fake.run(run.id)["summary"] == {"loss": 0.5, "best": 0.9}
    assert fake.run(run.id)["state"] == "finished"


def test_context_manager_marks_failed(fake: FakeServer, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        with start(fake, tmp_path) as run:
            run.log({"a": 1})
            raise ValueError("boom")
    assert fake.run(run.id)["state"] == "failed"
    with start(fake, tmp_path) as run2:
        run2.log({"a": 1})
    assert fake.run(run2.id)["state"] == "finished"


def test_finish_with_exit_code(fake: FakeServer, tmp_path: Path) -> None:
    run = start(fake, tmp_path)
    run.finish(exit_code=3)
    assert fake.run(run.id)["state"] == "failed" and fake.run(run.id)["exit_code"] == 3
    run.finish()  # twice: no-op
    with pytest.warns(fluoro.FluoroWarning, match="after finish"):
        run.log({"a": 1})


# --- summary --------------------------------------------------------------


def test_summary_last_by_default_and_explicit(fake: FakeServer, tmp_path: Path) -> None:
    run = start(fake, tmp_path)
    for i in range(5):
        run.log({"loss": 5.0 - i, "acc": i / 10})
    assert run.summary["loss"] == 1.0
    run.summary["best_acc"] = 0.99
    run.summary.update({"note": "x"})
    del run.summary["note"]
    assert "note" not in run.summary
    run.finish()
    assert fake.run(run.id)["summary"] == {"loss": 1.0, "acc": 0.4, "best_acc": 0.99}


def test_define_metric_summaries_and_globs(fake: FakeServer, tmp_path: Path) -> None:
    run = start(fake, tmp_path)
    run.define_metric("train/loss", summary="min")
    run.define_metric("train/loss", summary="max")  # adds, like wandb
    run.define_metric("val/*", summary="mean,first,last")
    run.define_metric("val/acc", summary="best", goal="maximize")
    run.define_metric("noise", summary="none")
    for v in [3.0, 1.0, 2.0]:
        run.log({"train/loss": v, "val/loss": v, "val/acc": v / 10, "noise": v, "plain": v})
    run.finish()
    s = fake.run(run.id)["summary"]
    assert s["train/loss"] == {"min": 1.0, "max": 3.0}
    assert s["val/loss"] == {"mean": 2.0, "first": 3.0, "last": 2.0}
    assert s["val/acc"] == {"best": 0.3}
    assert "noise" not in s
    assert s["plain"] == 2.0
    metrics = fake.run(run.id)["config"]["_fluoro"]["metrics"]
    assert {m["name"] for m in metrics} == {"train/loss", "val/*", "val/acc", "noise"}


def test_late_point_does_not_roll_back_last(fake: FakeServer, tmp_path: Path) -> None:
    run = start(fake, tmp_path)
    run.define_metric("agg", summary="min,max,mean,first,last")
    for i in range(10):
        run.log({"loss": float(i), "agg": float(i), "nested": {"x": i}})
    run.log({"loss": -1.0, "agg": -1.0, "nested": {"x": -1}}, step=3)  # a late point
    assert run.summary["loss"] == 9.0
    assert run.summary["nested"] == {"x": 9}
    assert run.summary["agg"] == {"min": -1.0, "max": 9.0, "mean": 44.0 / 11, "first": 0.0, "last": 9.0}
    run.log({"loss": -2.0}, step=9)  # the highest step again: the server keeps the newer point
    assert run.summary["loss"] == -2.0
    run.log({"agg": 5.0}, step=0)  # the lowest step again: "first" follows the server's history
    assert run.summary["agg"]["first"] == 5.0
    run.log({"late_only": 1.0}, step=2)  # a key first seen late still lands
    assert run.summary["late_only"] == 1.0
    run.log({"loss": 0.5})  # step 10: moves on
    run.finish()
    s = fake.run(run.id)["summary"]
    assert s["loss"] == 0.5 and s["nested"] == {"x": 9} and s["agg"]["last"] == 9.0 and s["agg"]["min"] == -1.0


def test_summary_state_late_rows() -> None:
    st = SummaryState()
    st.observe_run([{"a": i} for i in range(5)], list(range(5)))
    st.observe_run([{"a": 10}, {"a": 11}, {"a": 12}], [5, 2, 6])  # a late row inside a run
    assert st.values == {"a": 12}
    st.observe_run([{"a": 20}, {"a": 21}], [7, 3])  # ends on a late row
    assert st.values == {"a": 20}
    st.observe({"b": 1}, 1)  # another key, late overall, but its own first point
    st.observe({"b": 2}, 0)
    assert st.values == {"a": 20, "b": 1}
    st.set({"a": 99})  # explicit: kept until a newer point
    st.observe({"a": 1}, 4)
    assert st.values["a"] == 99
    st.observe({"a": 1}, 8)
    assert st.values["a"] == 1


def test_summary_state_resumed_keeps_loaded_values_over_late_points() -> None:
    st = SummaryState()
    st.load({"a": 5}, step=9)
    st.observe({"a": 1}, 3)
    assert st.values == {"a": 5}
    st.observe({"a": 2}, 10)
    assert st.values == {"a": 2}


def test_define_metric_step_metric_sync(fake: FakeServer, tmp_path: Path) -> None:
    run = start(fake, tmp_path)
    run.define_metric("epoch")
    run.define_metric("val/*", step_metric="epoch")
    run.log({"epoch": 0, "train/loss": 1})
    run.log({"val/acc": 0.5})  # epoch added from the last value
    run.finish()
    assert rows(fake)[1] == (1, {"val/acc": 0.5, "epoch": 0})


def test_define_metric_hidden(fake: FakeServer, tmp_path: Path) -> None:
    run = start(fake, tmp_path)
    d = run.define_metric("debug/*", hidden=True)
    assert d.hidden and "hidden=True" in repr(d)
    run.define_metric("debug/*", summary="max")  # a repeated call keeps hidden, like wandb
    run.define_metric("shown", hidden=False)
    run.log({"debug/x": 1.0, "shown": 2.0})
    run.log({"debug/x": 3.0, "shown": 1.0})
    run.finish()
    r = fake.run(run.id)
    metrics = {m["name"]: m for m in r["config"]["_fluoro"]["metrics"]}
    assert metrics["debug/*"] == {"name": "debug/*", "hidden": True, "summary": ["max"]}
    assert "hidden" not in metrics["shown"]
    # hidden only hides the metric from automatic charts: it is logged and summarised as usual
    assert r["summary"] == {"debug/x": {"max": 3.0}, "shown": 1.0}
    assert rows(fake) == [(0, {"debug/x": 1.0, "shown": 2.0}), (1, {"debug/x": 3.0, "shown": 1.0})]


def test_define_metric_validates(fake: FakeServer, tmp_path: Path) -> None:
    run = start(fake, tmp_path)
    with pytest.raises(fluoro.UsageError):
        run.define_metric("x", summary="median")
    with pytest.raises(fluoro.UsageError):
        run.define_metric("x", summary="best")
    with pytest.raises(fluoro.UsageError):
        run.define_metric("x", goal="up")
    run.finish()


# --- transport ------------------------------------------------------------


def test_retries_until_the_server_answers(fake: FakeServer, tmp_path: Path) -> None:
    run = start(fake, tmp_path)
    fake.fail_paths = __import__("re").compile(r"/api/v1/ingest")
    fake.fail = [None, 503, 500, None]
    for i in range(50):
        run.log({"a": i})
    run.finish()
    assert [s for s, _ in rows(fake)] == list(range(50))
    assert fake.run(run.id)["state"] == "finished"


def test_server_down_then_back_keeps_memory_bounded(fake: FakeServer, tmp_path: Path) -> None:
    run = start(fake, tmp_path, settings={"send_cache_bytes": 4096, "segment_bytes": 2048})
    run.flush(timeout=5)
    fake.down = True
    for i in range(3000):
        run.log({"a": i, "b": "x" * 20})
        if i % 300 == 0:
            run._pipe.barrier(5)  # let batches form
    run._pipe.barrier(5)
    assert run._pipe._cache <= 4096 + 2000  # at most one batch over the cap
    assert run._pipe.unacked > 3
    segs = [n for n in os.listdir(os.path.join(run.dir, "spool")) if n.endswith(".jsonl")]
    assert len(segs) > 3  # spilled to the spool
    fake.down = False
    assert run.flush(timeout=20)
    run.finish()
    pts = fake.history(run.id)
    assert sorted(s for k, s in pts if k == "a") == list(range(3000))
    assert fake.duplicates == 0
    segs = [n for n in os.listdir(os.path.join(run.dir, "spool")) if n.endswith(".jsonl")]
    assert len(segs) == 1  # spent segments trimmed


def test_ops_name_their_writer_and_seq(fake: FakeServer, tmp_path: Path) -> None:
    """Create (at init), update and finish carry X-Fluoro-Op, so the server applies each once."""
    run = start(fake, tmp_path, config={"lr": 0.1})
    run.log({"a": 1})
    run.flush(5)
    run.config.update({"bs": 32})
    run.log({"a": 2})
    run.finish()
    c = read_spool(run.dir)
    writer = urllib.parse.quote(c.header["writer"], safe="")
    ops = [r for r in fake.transport.requests if r.method in ("POST", "PATCH") and "/runs" in r.path]
    assert [r.method for r in ops] == ["POST", "PATCH", "POST"]  # create, update, finish
    want = ["%s/%d" % (writer, rec.seq) for rec in c.records if rec.kind != "batch"]
    assert [r.headers.get("X-Fluoro-Op") for r in ops] == want and want[0] == writer + "/1"
    batches = [r for r in fake.transport.requests if r.path == "/api/v1/ingest"]
    assert batches and all("X-Fluoro-Op" not in r.headers for r in batches)


def test_spool_is_written_before_sending(fake: FakeServer, tmp_path: Path) -> None:
    run = start(fake, tmp_path)
    seen: List[bool] = []

    def spy(req: fluoro.Request) -> None:
        if req.path == "/api/v1/ingest":
            seq = json.loads(req.body or b"{}")["seq"]
            c = read_spool(run.dir)
            seen.append(any(r.seq == seq and r.body == req.body for r in c.records))

    fake.on_request = spy
    for i in range(20):
        run.log({"a": i})
        if i % 5 == 0:
            run.flush(5)
    run.finish()
    assert seen and all(seen)


def test_log_spools_on_the_callers_thread_when_the_spool_thread_is_stuck(fake: FakeServer, tmp_path: Path) -> None:
    run = start(fake, tmp_path)
    pipe = run._pipe
    assert pipe is not None
    run.flush(5)
    while not pipe.idle:  # let it reach its wait, then starve it of wake-ups
        time.sleep(0.01)
    real_wake = pipe.wake
    pipe.wake = threading.Event()  # the thread waits on the old one: starved of wake-ups
    try:
        for i in range(5):
            run.log({"a": i})
        assert pipe.stats.catch_ups == 0  # not stuck for long yet: the rows wait in the queue
        assert len(pipe.q) == 10
        pipe.progress -= 10 * pipe.lag  # as if the thread had shown no sign of life since
        run.log({"a": 5})
        assert pipe.stats.catch_ups == 1 and not pipe.q
        c = read_spool(run.dir)  # on disk before log() returned, with the thread still stuck
        spooled = [r["step"] for rec in c.records if rec.body for r in json.loads(rec.body).get("history") or []]
        assert spooled == [0, 1, 2, 3, 4, 5]
        run.log({"a": 6})  # progress was just refreshed: back to the queue
        assert pipe.stats.catch_ups == 1 and len(pipe.q) == 2
    finally:
        pipe.wake = real_wake
        real_wake.set()
    run.finish()
    assert sorted(s for s, _ in rows(fake)) == list(range(7))


def test_a_steady_stream_of_rows_wakes_the_spool_thread_once_a_batch(tmp_path: Path) -> None:
    """While rows keep coming, the spool thread wakes every batch_interval by itself: log() never wakes it."""
    run = fluoro.init(
        mode="offline",
        project="p",
        dir=str(tmp_path),
        settings={"quiet": True, "console": "off", "system_interval": 0, "batch_interval": 0.1, "x_disable_meta": True},
    )
    pipe = run._pipe
    assert pipe is not None
    nudges = []
    real = pipe.nudge
    pipe.nudge = lambda now: (nudges.append(now), real(now))[1]  # type: ignore[method-assign]
    t0 = time.monotonic()
    i = 0
    while time.monotonic() - t0 < 1.5:
        run.log({"a": i})
        i += 1
        time.sleep(0.01)
    wakes, n_nudges = pipe.stats.wakes, len(nudges)
    time.sleep(0.25)  # the last rows reach the spool within an interval or two, with no log() to wake the thread
    on_disk = [
        r["step"] for rec in read_spool(run.dir).records if rec.body for r in json.loads(rec.body).get("history") or []
    ]
    run.finish(quiet=True)
    assert on_disk == list(range(i))
    assert n_nudges <= 2  # the first row of the stream; none while it flows
    assert wakes <= 1.5 / 0.1 + 4  # one a batch (the old way: two, one of them from log())


def test_permanent_rejection_is_reported_once_and_skipped(
    fake: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = start(fake, tmp_path)
    fake.fail_paths = __import__("re").compile(r"/api/v1/ingest")
    fake.fail = [400, 400]
    run.log({"a": 1})
    run.flush(5)
    run.log({"a": 2})
    run.flush(5)
    run.log({"a": 3})
    run.finish()
    err = capsys.readouterr().err
    assert err.count("refused a batch") == 1
    assert rows(fake) == [(2, {"a": 3})]
    assert run._pipe.stats.rejected == 2
    c = read_spool(run.dir)
    assert not c.pending  # rejected records are done, not retried forever


def test_refused_key_keeps_the_spool_for_sync(fake: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = start(fake, tmp_path)
    run.log({"a": 1})
    run.flush(5)
    fake.fail_paths = __import__("re").compile(r"/api/v1/ingest")
    fake.fail = [401]
    run.log({"a": 2})
    run.finish()
    err = capsys.readouterr().err
    assert "refused the API key" in err and "fluoro sync" in err
    c = read_spool(run.dir)
    assert [r.kind for r in c.pending] == ["batch", "finish"]
    res = fluoro.sync(run.dir, transport=fake.transport, api_key="k", quiet=True)
    assert res[0].ok and res[0].sent == 2
    assert rows(fake) == [(0, {"a": 1}), (1, {"a": 2})]
    assert fake.run(run.id)["state"] == "finished"


def test_server_down_at_init_defers_the_create(fake: FakeServer, tmp_path: Path) -> None:
    fake.down = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = start(fake, tmp_path, entity="admin")
    run.log({"a": 1})
    run._pipe.barrier(5)
    fake.down = False
    run.finish()
    assert fake.run(run.id)["state"] == "finished"
    assert rows(fake) == [(0, {"a": 1})]


# --- resume ---------------------------------------------------------------


def test_resume_continues_steps_config_and_summary(fake: FakeServer, tmp_path: Path) -> None:
    run = start(fake, tmp_path, config={"lr": 1})
    run.define_metric("loss", summary="min")
    for i in range(5):
        run.log({"loss": 5.0 - i})
    run.finish()
    rid = run.id
    run2 = start(fake, tmp_path, id=rid, resume="must")
    assert run2.resumed and run2.step == 5 and run2.config.lr == 1
    run2.define_metric("loss", summary="min")
    run2.log({"loss": 3.0})  # not below the resumed min
    run2.finish()
    assert fake.run(rid)["summary"]["loss"] == {"min": 1.0}
    assert sorted(s for k, s in fake.history(rid)) == list(range(6))
    with pytest.raises(fluoro.UsageError, match="already exists"):
        start(fake, tmp_path, id=rid, resume="never")
    with pytest.raises(fluoro.UsageError, match="does not exist"):
        start(fake, tmp_path, id="nope", resume="must")


def test_resume_auto_uses_the_last_run_of_the_directory(fake: FakeServer, tmp_path: Path) -> None:
    run = start(fake, tmp_path)
    run.log({"a": 1})
    run.finish()
    run2 = start(fake, tmp_path, resume=True)
    assert run2.id == run.id and run2.step == 1
    run2.finish()


def test_reinit_policies_match_wandb(fake: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    g = start(fake, tmp_path, reinit="create_new")
    assert fluoro.run is None  # a create_new run never becomes fluoro.run
    g.finish()
    a = start(fake, tmp_path)
    assert start(fake, tmp_path) is a  # "default" outside notebooks: return the previous run
    assert start(fake, tmp_path, reinit=False) is a and start(fake, tmp_path, reinit="return_previous") is a
    with pytest.raises(fluoro.UsageError, match="another run is active"):
        start(fake, tmp_path, resume="must", id="other")
    c = start(fake, tmp_path, reinit="create_new")
    assert c is not a and not a.finished and fluoro.run is a
    assert start(fake, tmp_path) is c  # the newest live run
    d = start(fake, tmp_path, reinit="finish_previous")  # finishes every live run
    assert a.finished and c.finished and not d.finished and fluoro.run is d
    e = start(fake, tmp_path, reinit=True)
    assert d.finished and fluoro.run is e
    # In Jupyter or IPython (a shell exists), "default" finishes the previous run.
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: object()))
    f = start(fake, tmp_path, reinit="default")
    assert e.finished and fluoro.run is f
    f.finish()
    with pytest.raises(fluoro.UsageError, match="reinit"):
        start(fake, tmp_path, reinit="sometimes")


# --- modes ------------------------------------------------------------------


def test_disabled_mode_is_a_cheap_no_op(tmp_path: Path) -> None:
    import threading

    n = threading.active_count()
    run = fluoro.init(project="p", mode="disabled", dir=str(tmp_path), config={"a": 1})
    run.log({"x": 1})
    fluoro.log({"x": 2})
    assert run.config.a == 1
    run.summary["s"] = 1
    assert run.summary["s"] == 1
    run.define_metric("x", summary="max")
    run.finish()
    assert threading.active_count() == n
    assert not (tmp_path / "fluoro").exists()


def test_offline_mode_then_sync(fake: FakeServer, tmp_path: Path) -> None:
    run = fluoro.init(
        project="p",
        mode="offline",
        dir=str(tmp_path),
        config={"lr": 3},
        settings=fluoro.Settings(quiet=True, git=False, handle_signals=False),
    )
    for i in range(10):
        run.log({"a": i, "nested": {"b": i}})
    run.config.update({"extra": 1})
    run.summary["best"] = 7
    run.finish()
    assert fake.transport.requests == []
    c = read_spool(run.dir)
    assert c.header["entity"] == "" and c.header["mode"] == "offline"
    assert [r.kind for r in c.pending] == ["create", "update", "batch", "finish"]
    res = fluoro.sync(str(tmp_path), transport=fake.transport, base_url="http://fake", api_key="k", quiet=True)
    assert len(res) == 1 and res[0].ok, res
    r = fake.run(run.id)
    assert r["config"] == {"lr": 3, "extra": 1} and r["state"] == "finished"
    assert r["summary"]["best"] == 7 and r["summary"]["a"] == 9
    assert sorted(s for k, s in fake.history(run.id) if k == "nested.b") == list(range(10))
    again = fluoro.sync(str(tmp_path), transport=fake.transport, base_url="http://fake", api_key="k", quiet=True)
    assert again[0].sent == 0 and again[0].ok
    assert fake.duplicates == 0


def test_fork_child_does_not_inherit_the_run(fake: FakeServer, tmp_path: Path) -> None:
    if not hasattr(os, "fork"):
        pytest.skip("no fork")
    run = start(fake, tmp_path)
    run.log({"a": 1})
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(r)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                run.log({"child": 1})
            ok = fluoro.run is None and run.finished and run._pipe.dead
            child = fluoro.init(project="p", mode="disabled")
            child.finish()
            os.write(w, b"ok" if ok else b"bad")
        finally:
            os._exit(0)
    os.close(w)
    assert os.read(r, 10) == b"ok"
    os.waitpid(pid, 0)
    run.log({"a": 2})
    run.finish()
    assert rows(fake) == [(0, {"a": 1}), (1, {"a": 2})]
    assert fake.run(run.id)["state"] == "finished"


def test_resuming_offline_says_where_steps_go(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = fluoro.init(mode="offline", project="p", id="resumeme", resume="allow", dir=str(tmp_path))
    run.finish(quiet=True)
    out = capsys.readouterr()
    assert "resuming offline" in out.out + out.err and "after the run's last step" in out.out + out.err
    fresh = fluoro.init(mode="offline", project="p", dir=str(tmp_path / "b"))
    fresh.finish(quiet=True)
    out = capsys.readouterr()
    assert "resuming offline" not in out.out + out.err


def test_mark_preempting_ends_the_run_preempted(fake: FakeServer, tmp_path: Path) -> None:
    """The scheduler is taking the job: the run ends "preempted", whatever its exit code."""
    for code in (None, 1):
        run = start(fake, tmp_path / str(code))
        run.log({"a": 1})
        run.mark_preempting()
        run.finish(exit_code=code)
        got = fake.run(run.id)
        assert got["state"] == "preempted", got
        assert "_fluoro" not in got["summary"]


@pytest.mark.parametrize("server", ["batches", "old", "finished"])
def test_sync_sends_batches_together(
    server: str, fake: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An offline run's many batches go to /ingest/batches (here 50 a request), in order; a server
    without it gets them one at a time; a run finished before the sync is reopened, as one at a time."""
    import fluoro._records

    monkeypatch.setattr(fluoro._records, "BATCH_LINES", 50)
    run = fluoro.init(mode="offline", project="p", dir=str(tmp_path), settings=fake.settings(batch_interval=0.001))
    n = 0
    while len([r for r in read_spool(run.dir).records if r.kind == "batch"]) < 120:
        run.log({"a": n})
        n += 1
        if n % 20 == 0:
            time.sleep(0.002)
    run.finish()
    batches = len([r for r in read_spool(run.dir).records if r.kind == "batch"])
    fake.multi = server != "old"
    if server == "finished":

        def finish_it(req: Any) -> None:  # finished (by someone, or an earlier sync) just before the data
            if req.path == "/api/v1/ingest/batches" and fake.on_request is finish_it:
                fake.on_request = None
                fake.runs[("admin", "p", run.id)]["state"] = "failed"

        fake.on_request = finish_it
    res = fluoro.sync(str(tmp_path), transport=fake.transport, base_url="http://fake", api_key="k", quiet=True)
    assert res[0].ok, res[0].errors
    assert sorted(s for (k, s) in fake.history(run.id)) == list(range(n))
    assert fake.run(run.id)["state"] == "finished"
    posts = [r.path for r in fake.transport.requests if r.method == "POST" and "ingest" in r.path]
    if server == "old":
        assert posts.count("/api/v1/ingest/batches") == 1 and posts.count("/api/v1/ingest") == batches
    else:
        # the first request's lines all refused (409): its first batch alone, reopening the run, then the rest
        first = 2 if server == "finished" else 0
        assert posts.count("/api/v1/ingest") == first and posts.count("/api/v1/ingest/batches") <= 4
    assert read_spool(run.dir).pending == []


@pytest.mark.parametrize("multi", [True, False])
def test_backlog_after_an_outage_goes_several_batches_a_request(multi: bool, fake: FakeServer, tmp_path: Path) -> None:
    """The server comes back after an outage: the live sender sends the batches spooled meanwhile
    through /ingest/batches (or one at a time to a server without it), in order, and acks the spool."""
    fake.multi = multi
    run = start(fake, tmp_path, settings={"batch_interval": 0.005, "retry_max_backoff": 0.2})
    run.log({"a": -1})
    assert run.flush(5)
    fake.down = True
    for i in range(300):
        run.log({"a": i, "b": i % 3})
        if i % 10 == 9:
            time.sleep(0.01)  # a batch every few rows
    deadline = time.monotonic() + 5
    while run._pipe.unacked < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    backlog = run._pipe.unacked
    assert backlog >= 20
    n = len(fake.transport.requests)
    fake.down = False
    assert run.flush(10)
    run.finish()
    posts = [r.path for r in fake.transport.requests[n:] if r.method == "POST" and "ingest" in r.path]
    if multi:
        assert 0 < posts.count("/api/v1/ingest/batches") <= 6, posts
        assert posts.count("/api/v1/ingest") <= 4, "the backlog of %d went one at a time: %s" % (backlog, posts)
    else:
        assert posts.count("/api/v1/ingest") >= backlog
    pts = fake.history(run.id)
    assert [pts[("a", s)] for s in range(301)] == [-1] + list(range(300))
    assert read_spool(run.dir).pending == []

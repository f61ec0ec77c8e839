"""``run.alert()`` / ``fluoro.alert()`` against the in-memory fake server (no network)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any, Dict, List

import pytest

import fluoro
from fluoro._spool import read_spool

from conftest import SRC
from fakeserver import FakeServer, start


def sent(fake: FakeServer, run: fluoro.Run) -> List[Dict[str, Any]]:
    assert run.flush(5)
    return fake.alerts(run.id)


def spooled_batches(run_dir: str) -> List[Dict[str, Any]]:
    return [json.loads(r.body) for r in read_spool(run_dir).records if r.kind == "batch"]


# --- what is sent -----------------------------------------------------------


def test_alert_is_sent_with_wandbs_defaults(fake: FakeServer, tmp_path: Path) -> None:
    run = start(fake, tmp_path)
    t0 = time.time()
    run.alert("loss diverged", "loss is NaN at step 12")
    (a,) = sent(fake, run)
    assert set(a) == {"time", "title", "text", "level", "wait_ms"}
    assert a["title"] == "loss diverged" and a["text"] == "loss is NaN at step 12"
    assert a["level"] == "INFO" and a["wait_ms"] == 60_000  # a minute, as wandb
    assert t0 - 0.01 <= a["time"] <= time.time() and a["time"] == round(a["time"], 3)
    run.finish()


@pytest.mark.parametrize(
    "level, want",
    [
        (None, "INFO"),
        ("", "INFO"),
        ("INFO", "INFO"),
        ("WARN", "WARN"),
        ("ERROR", "ERROR"),
        (fluoro.AlertLevel.INFO, "INFO"),
        (fluoro.AlertLevel.WARN, "WARN"),
        (fluoro.AlertLevel.ERROR, "ERROR"),
    ],
)
def test_levels(fake: FakeServer, tmp_path: Path, level: Any, want: str) -> None:
    run = start(fake, tmp_path)
    run.alert("t", "x", level=level)
    assert [a["level"] for a in sent(fake, run)] == [want]
    run.finish()


@pytest.mark.parametrize(
    "wait, ms",
    [
        (None, 60_000),
        (0, 0),
        (5, 5_000),
        (2.5, 2_500),
        (0.0004, 0),
        (timedelta(minutes=2), 120_000),
        (timedelta(milliseconds=1500), 1_500),
        (timedelta(days=366), 366 * 24 * 3600 * 1000),  # the server's limit
    ],
)
def test_wait_duration_is_sent_in_milliseconds(fake: FakeServer, tmp_path: Path, wait: Any, ms: int) -> None:
    run = start(fake, tmp_path)
    run.alert("t", "x", wait_duration=wait)
    assert [a["wait_ms"] for a in sent(fake, run)] == [ms]
    run.finish()


def test_alert_level_is_wandbs_enum() -> None:
    assert [m.value for m in fluoro.AlertLevel] == ["INFO", "WARN", "ERROR"]
    assert fluoro.AlertLevel("WARN") is fluoro.AlertLevel.WARN


def test_a_repeat_within_its_wait_is_held_back(fake: FakeServer, tmp_path: Path) -> None:
    run = start(fake, tmp_path)
    for i in range(3):
        run.alert("same", "try %d" % i, wait_duration=300)
    run.alert("other", "x", wait_duration=300)  # another title is its own
    for i in range(2):
        run.alert("no wait", "n%d" % i, wait_duration=0)
    run.alert("short", "first", wait_duration=0.05)
    time.sleep(0.1)
    run.alert("short", "after its wait", wait_duration=0.05)
    assert [a["text"] for a in sent(fake, run)] == ["try 0", "x", "n0", "n1", "first", "after its wait"]
    assert run.alerts_held == 2
    run.finish()


def test_a_flood_of_alerts_does_not_send_a_batch_per_alert(fake: FakeServer, tmp_path: Path) -> None:
    # titles with a counter in them are never repeats: each is sent, but only
    # the first makes its batch due at once; the rest ride the next batches
    run = start(fake, tmp_path, settings={"batch_interval": 0.2, "console": "off", "system_interval": 0})
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < 1.0:
        run.log({"loss": float(n)})
        run.alert("loss %d" % n, "x", wait_duration=0)
        n += 1
        time.sleep(0.005)
    assert len(sent(fake, run)) == n
    with_alerts = [b for b in fake.batches if b.get("alerts")]
    assert n > 20 and len(with_alerts) <= 12, (n, len(with_alerts))  # ~1 s at 0.2 s a batch, plus the urgent ones
    run.finish()


# --- checks at the call -----------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"level": "DEBUG"}, ValueError, "level must be one of 'INFO', 'WARN', or 'ERROR'"),
        ({"level": "info"}, ValueError, "level must be one of"),
        ({"level": 1}, ValueError, "level must be one of"),
        ({"level": ["INFO"]}, ValueError, "level must be one of"),
        ({"wait_duration": "60"}, TypeError, "wait_duration must be an int, float, or datetime.timedelta"),
        ({"wait_duration": True}, TypeError, "wait_duration"),
        ({"wait_duration": [1]}, TypeError, "wait_duration"),
        ({"wait_duration": -1}, ValueError, "non-negative"),
        ({"wait_duration": timedelta(seconds=-1)}, ValueError, "non-negative"),
        ({"wait_duration": float("nan")}, ValueError, "non-negative"),
        ({"wait_duration": float("inf")}, ValueError, "366 days"),
        ({"wait_duration": 10**400}, ValueError, "366 days"),
        ({"wait_duration": timedelta(days=367)}, ValueError, "366 days"),
        ({"title": 7}, TypeError, "title must be a str"),
        ({"title": b"t"}, TypeError, "title must be a str"),
        ({"title": ""}, ValueError, "title is empty"),
        ({"title": "x" * 257}, ValueError, "257 characters: at most 256"),
        ({"text": None}, TypeError, "text must be a str"),
        ({"text": 3.5}, TypeError, "text must be a str"),
    ],
)
def test_bad_arguments_raise_at_the_call(
    fake: FakeServer, tmp_path: Path, kwargs: Dict[str, Any], exc: type, match: str
) -> None:
    run = start(fake, tmp_path)
    args: Dict[str, Any] = {"title": "t", "text": "x"}
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        run.alert(**args)
    with pytest.raises(exc, match=match):
        fluoro.alert(**args)
    assert sent(fake, run) == []
    run.finish()


def test_limits_that_pass(fake: FakeServer, tmp_path: Path) -> None:
    run = start(fake, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run.alert("é" * 256, "")  # 256 characters (512 bytes); an empty text is fine
        run.alert("t", "x" * (1 << 16))  # exactly 64 KiB
    got = sent(fake, run)
    assert [len(a["title"]) for a in got] == [256, 1]
    assert got[1]["text"] == "x" * (1 << 16)
    run.finish()


def test_long_text_is_cut_to_64_kib_with_one_warning(fake: FakeServer, tmp_path: Path) -> None:
    run = start(fake, tmp_path)
    text = "é" * 40_000  # 80,000 bytes of UTF-8
    with pytest.warns(fluoro.FluoroWarning, match="80000 bytes was cut") as w:
        run.alert("t", text)
        run.alert("t2", text + "€")
    assert len([x for x in w if issubclass(x.category, fluoro.FluoroWarning)]) == 1
    got = sent(fake, run)
    assert len(got) == 2
    for a in got:
        b = a["text"].encode("utf-8")
        assert len(b) <= 1 << 16 and len(b) > (1 << 16) - 64
        assert a["text"].endswith(" [text cut by fluoro: over 64 KiB]")
        assert text.startswith(a["text"][: -len(" [text cut by fluoro: over 64 KiB]")])
    run.finish()


# --- transport --------------------------------------------------------------


def test_alert_is_sent_at_once_not_at_the_batch_deadline(fake: FakeServer, tmp_path: Path) -> None:
    run = start(fake, tmp_path, settings={"batch_interval": 5.0, "console": "off", "system_interval": 0})
    run.log({"loss": 1.0})
    run.log({"loss": 2.0})
    time.sleep(0.3)
    assert not any(b.get("history") for b in fake.batches)  # rows wait for their batch deadline (5 s)
    t0 = time.monotonic()
    run.alert("slow", "a step took 30 s", level="WARN")
    while not fake.alerts(run.id) and time.monotonic() - t0 < 2:
        time.sleep(0.01)
    took = time.monotonic() - t0
    assert fake.alerts(run.id), "the alert waited for the batch deadline"
    assert took < 1.0, took
    # The rows logged before it went with it.
    (b,) = [b for b in fake.batches if b.get("alerts")]
    assert [r["values"]["loss"] for r in b["history"]] == [1.0, 2.0]
    run.finish()


def test_alert_keeps_its_place_among_rows(fake: FakeServer, tmp_path: Path) -> None:
    run = start(fake, tmp_path, settings={"batch_interval": 0.05})
    for i in range(5):
        run.log({"a": i})
    run.alert("half way", "step 5")
    for i in range(5, 10):
        run.log({"a": i})
    run.finish()
    batches = sorted(fake.batches, key=lambda b: b["seq"])
    (at,) = [i for i, b in enumerate(batches) if b.get("alerts")]
    where = {r["step"]: i for i, b in enumerate(batches) for r in b.get("history") or []}
    assert sorted(where) == list(range(10))
    assert all(where[s] <= at for s in range(5))  # rows logged before it: in its batch or an earlier one
    assert all(where[s] >= at for s in range(5, 10))  # rows logged after it: never in an earlier batch


def test_offline_alert_is_spooled_at_once_and_synced(fake: FakeServer, tmp_path: Path) -> None:
    run = fluoro.init(
        project="p",
        mode="offline",
        dir=str(tmp_path),
        settings=fluoro.Settings(
            quiet=True, git=False, handle_signals=False, batch_interval=5.0, console="off", system_interval=0
        ),
    )
    run.log({"a": 1})
    run.alert("offline", "still here", level=fluoro.AlertLevel.ERROR, wait_duration=timedelta(seconds=30))
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:  # on disk before finish: a kill -9 now keeps it
        got = [a for b in spooled_batches(run.dir) for a in b.get("alerts") or []]
        if got:
            break
        time.sleep(0.01)
    assert [(a["title"], a["text"], a["level"], a["wait_ms"]) for a in got] == [
        ("offline", "still here", "ERROR", 30_000)
    ]
    run.finish()
    assert fake.transport.requests == []
    res = fluoro.sync(str(tmp_path), transport=fake.transport, base_url="http://fake", api_key="k", quiet=True)
    assert len(res) == 1 and res[0].ok, res
    (a,) = fake.alerts(run.id)
    assert a == got[0]  # replayed unchanged, time included
    assert fake.history(run.id)[("a", 0)] == 1


def test_the_fake_refuses_what_the_server_refuses(fake: FakeServer, tmp_path: Path) -> None:
    # Nothing the SDK lets through is refused: a refused alert would show here as a warning.
    run = start(fake, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run.alert("t" * 256, "é" * 40_000, level="ERROR", wait_duration=timedelta(days=366))
    assert len(sent(fake, run)) == 1
    assert run._pipe is not None and run._pipe.stats.rejected_rows == 0 and run._pipe.stats.alerts == 1
    run.finish()


# --- module level, modes, lifecycle ----------------------------------------


def test_module_level_alert_uses_the_current_run(fake: FakeServer, tmp_path: Path) -> None:
    wandb = fluoro
    run = start(fake, tmp_path)
    wandb.alert(title="t", text="x", level=wandb.AlertLevel.WARN, wait_duration=1)
    assert [(a["title"], a["level"], a["wait_ms"]) for a in sent(fake, run)] == [("t", "WARN", 1000)]
    run.finish()
    with pytest.raises(fluoro.UsageError, match=r"fluoro\.init\(\)"):
        fluoro.alert("t", "x")  # no current run after finish, as fluoro.log


def test_alert_before_init_raises_usage_error() -> None:
    assert fluoro.run is None
    with pytest.raises(fluoro.UsageError, match=r"call fluoro\.init\(\) before fluoro\.alert\(\)"):
        fluoro.alert("t", "x")


def test_alert_after_finish_is_ignored_with_one_warning(fake: FakeServer, tmp_path: Path) -> None:
    run = start(fake, tmp_path)
    run.finish()
    with pytest.warns(fluoro.FluoroWarning, match=r"alert\(\) after finish\(\) is ignored") as w:
        run.alert("t", "x")
        run.alert("t", "x")
    assert len(w) == 1
    assert fake.alerts(run.id) == []


def test_disabled_mode_is_a_no_op(tmp_path: Path) -> None:
    n = threading.active_count()
    run = fluoro.init(project="p", mode="disabled", dir=str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run.alert("t", "x")
        fluoro.alert("t", "é" * 40_000)  # not cut, not warned about: nothing is sent
    with pytest.raises(ValueError):
        run.alert("t", "x", level="LOUD")  # a bad call is still caught, as in the other modes
    run.finish()
    assert threading.active_count() == n
    assert not (tmp_path / "fluoro").exists()


def test_an_internal_failure_is_warned_about_never_raised(fake: FakeServer, tmp_path: Path) -> None:
    run = start(fake, tmp_path)
    pipe = run._pipe
    assert pipe is not None

    def broken(item: Any) -> None:
        raise RuntimeError("boom")

    real = pipe.put
    pipe.put = broken  # type: ignore[method-assign]
    with pytest.warns(fluoro.FluoroWarning, match="alert\\(\\) failed internally") as w:
        run.alert("t", "x")
        run.alert("t", "x")
    assert len(w) == 1
    pipe.put = real  # type: ignore[method-assign]
    run.alert("t", "after")
    assert [a["text"] for a in sent(fake, run)] == ["after"]
    run.finish()


def test_import_does_not_load_the_alert_module(tmp_path: Path) -> None:
    code = (
        "import sys, fluoro; a = 'fluoro._alerts' in sys.modules; "
        "print(a, fluoro.AlertLevel.WARN.value, 'fluoro._alerts' in sys.modules)"
    )
    env = dict(os.environ, PYTHONPATH=str(SRC))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "WARN", "True"]

"""What a writer tells the server about how far it got: each batch's ``logged``
and the ``X-Fluoro-Spooled`` header (docs/api.md, "Durability"), against the
in-memory fake server."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

import fluoro
import fluoro._pipeline as pipeline
from fluoro._spool import read_spool

from fakeserver import FakeServer, start


def spy(fake: FakeServer) -> List[Tuple[Dict[str, Any], str]]:
    """Every ingest request the fake gets: its body and its X-Fluoro-Spooled header."""
    seen: List[Tuple[Dict[str, Any], str]] = []

    def on(req: Any) -> None:
        if req.path in ("/api/v1/ingest", "/api/v1/ingest/batches"):  # the latter: one batch a line
            for line in req.body.split(b"\n"):
                if line:
                    seen.append((json.loads(line), req.headers.get("X-Fluoro-Spooled", "")))

    fake.on_request = on
    return seen


def history_points(body: Dict[str, Any]) -> int:
    return sum(len(r["values"]) for r in body.get("history") or [])


def check_counts(bodies: List[Dict[str, Any]]) -> int:
    """Each body's logged is the history values of the writer's bodies so far; returns the total."""
    total = 0
    for b in bodies:
        total += history_points(b)
        if total:
            assert b.get("logged") == total, "seq %s: logged %s, want %d" % (b["seq"], b.get("logged"), total)
        else:
            assert "logged" not in b
    return total


def test_batches_count_what_was_logged(fake: FakeServer, tmp_path: Path) -> None:
    seen = spy(fake)
    run = start(fake, tmp_path)
    print("no points yet")  # a batch of console lines only: nothing to count
    for i in range(300):
        run.log({"loss": 1 / (i + 1), "acc": i / 300} if i % 3 else {"loss": 0.5, "acc": 0.1, "lr": 1e-3})
        if i % 50 == 49:
            assert run.flush(5)
    with pytest.warns(Warning, match="cannot be logged"):
        run.log({"bad": object(), "ok": 1})  # the bad value is dropped by log(): one point
    run.finish()
    bodies = [b for b, _ in seen]
    assert len(bodies) >= 6
    total = check_counts(bodies)
    assert total == 200 * 2 + 100 * 3 + 1 == run._pipe.stats.points
    # the header: never behind the batch it rides on, and at the end, everything
    for b, h in seen:
        if "logged" in b:
            assert int(h) >= b["logged"]
    assert int(seen[-1][1]) == total
    # the spool holds the same bodies, so `fluoro sync` replays the counts
    spooled = [json.loads(r.body) for r in read_spool(run.dir).records if r.kind == "batch"]
    assert [b.get("logged") for b in spooled] == [b.get("logged") for b in bodies]


def test_header_runs_ahead_while_the_server_is_down(fake: FakeServer, tmp_path: Path) -> None:
    """Batches spooled during an outage: once it ends, the first request says how many there are."""
    seen = spy(fake)
    run = start(fake, tmp_path)
    run.log({"a": 1})
    assert run.flush(5)
    fake.down = True
    for i in range(20):
        run.log({"a": i, "b": i})
        if i % 5 == 4:
            time.sleep(0.05)  # a few batches
    deadline = time.monotonic() + 10
    while run._pipe.spooled_points < 41 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert run._pipe.spooled_points == 41
    del seen[:]
    fake.down = False
    assert run.flush(10)
    run.finish()
    body, header = seen[0]
    assert int(header) == 41, "the first request after the outage says all 41 points were spooled"
    assert body["logged"] < 41
    logged = [b["logged"] for b, _ in seen if b.get("history")]
    assert len(logged) >= 2 and logged == sorted(logged) and logged[-1] == 41


def test_one_flush_cut_into_several_bodies(fake: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A flush bigger than a body: each body's logged counts through its own rows."""
    monkeypatch.setattr(pipeline, "MAX_BODY", 4096)
    seen = spy(fake)
    run = start(fake, tmp_path, settings={"batch_interval": 5.0})
    for i in range(400):
        run.log({"k%d" % (i % 7): float(i), "step_x": i})
    run.finish()
    bodies = [b for b, _ in seen]
    assert len([b for b in bodies if b.get("history")]) >= 3
    assert check_counts(bodies) == 800
    assert fluoro.run is None


def test_sync_says_how_much_the_spool_holds(fake: FakeServer, tmp_path: Path) -> None:
    """An offline run synced later: every request carries the spool's total, the bodies their own counts."""
    run = fluoro.init(mode="offline", project="p", dir=str(tmp_path), settings=fake.settings(batch_interval=0.01))
    for i in range(200):
        run.log({"loss": 1.0 / (i + 1), "i": i})
        if i % 50 == 49:
            time.sleep(0.05)  # several batches
    run.finish()
    seen = spy(fake)
    res = fluoro.sync(str(tmp_path), transport=fake.transport, base_url="http://fake", api_key="k", quiet=True)
    assert res[0].ok
    assert len(seen) >= 2 and all(h == "400" for _, h in seen)
    assert check_counts([b for b, _ in seen]) == 400


def test_an_idle_run_sends_heartbeats(fake: FakeServer, tmp_path: Path) -> None:
    """Nothing logged for heartbeat_interval: an empty batch tells the server the run is alive."""
    seen = spy(fake)
    run = start(fake, tmp_path, settings={"heartbeat_interval": 0.1, "system_interval": 0, "console": "off"})
    run.log({"x": 1})
    assert run.flush(5)
    n = len(seen)
    time.sleep(0.65)
    beats = [b for b, _ in seen[n:]]
    assert 3 <= len(beats) <= 8, "%d heartbeats in 0.65 s at 0.1 s" % len(beats)
    assert all(set(b) == {"entity", "project", "run_id", "writer", "seq", "logged"} for b in beats), beats
    run.log({"x": 2})  # a row after a quiet spell still goes out within the batch interval
    t0 = time.monotonic()
    while not any((b.get("history") or [{}])[0].get("values") == {"x": 2} for b, _ in seen):
        assert time.monotonic() - t0 < 1.0, "the row waited for the next heartbeat"
        time.sleep(0.005)
    run.finish()


@pytest.mark.parametrize("how", ["off", "offline"])
def test_no_heartbeats(how: str, fake: FakeServer, tmp_path: Path) -> None:
    settings: Dict[str, Any] = {"system_interval": 0, "console": "off", "heartbeat_interval": 0.05}
    if how == "off":
        settings["heartbeat_interval"] = 0
        run = start(fake, tmp_path, settings=settings)
    else:
        run = fluoro.init(mode="offline", project="p", dir=str(tmp_path), settings=fake.settings(**settings))
    time.sleep(0.4)
    batches = [r for r in read_spool(run.dir).records if r.kind == "batch"]
    run.finish()
    assert batches == []

"""Honest run states against the real server: a run whose process stops
sending is "lost" after --lost-after, and running again when it sends;
`fluoro sync` of a dead run's spool finishes a lost run as crashed."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

import fluoro

from conftest import Server, spawn_script

IDLE = r"""
import sys, time, fluoro
run = fluoro.init(project=sys.argv[1], settings=fluoro.Settings(heartbeat_interval=0.3, system_interval=0))
print(run.id, run.dir, flush=True)
run.log({"loss": 1.0})
while True:  # long steps that log nothing: only heartbeats say it lives
    time.sleep(0.05)
"""


@pytest.fixture
def lost_server(fluoro_binary: str, tmp_path: Path) -> Iterator[Server]:
    s = Server(fluoro_binary, tmp_path / "server", {"FLUORO_LOST_AFTER": "2s"}).start()
    yield s
    s.stop()


def wait_state(api: fluoro.Api, path: str, want: str, timeout: float = 15) -> float:
    t0 = time.monotonic()
    while True:
        state = api.run(path).state
        if state == want:
            return time.monotonic() - t0
        assert time.monotonic() - t0 < timeout, "state %s, waited %.0f s for %s" % (state, timeout, want)
        time.sleep(0.1)


def test_stopped_process_is_lost_then_back(lost_server: Server, tmp_path: Path) -> None:
    p = spawn_script(IDLE.replace("sys.argv[1]", repr("lost")), lost_server.env(), tmp_path)
    assert p.stdout is not None
    rid, run_dir = p.stdout.readline().split()
    api = fluoro.Api(overrides={"base_url": lost_server.url, "api_key": lost_server.key})
    path = "admin/lost/" + rid
    try:
        time.sleep(3.0)  # idle past lost-after, but heartbeats keep it running
        assert api.run(path).state == "running"
        p.send_signal(signal.SIGSTOP)  # a hung process, or its machine cut off
        took = wait_state(api, path, "lost")
        assert took < 6.0, "lost after %.1f s with lost-after 2s" % took
        assert api.runs("lost", filters={"state": "lost"})[0].id == rid
        p.send_signal(signal.SIGCONT)
        wait_state(api, path, "running", timeout=5)
        p.send_signal(signal.SIGSTOP)
        wait_state(api, path, "lost")
        p.send_signal(signal.SIGKILL)  # it never comes back; its spool is still there
        p.communicate(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
    out = subprocess.run(
        [sys.executable, "-m", "fluoro", "sync", run_dir], env=lost_server.env(), capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    r = api.run(path)
    assert r.state == "crashed", "sync finishes a lost run whose process is gone"
    assert r.summary["loss"] == 1.0

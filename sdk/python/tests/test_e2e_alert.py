"""End to end: ``fluoro.alert()`` through the real server to its alert webhook."""

from __future__ import annotations

import http.server
import json
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

import fluoro
from fluoro._transport import Client, HTTPTransport

from conftest import Server

pytestmark = pytest.mark.e2e


class _Hook(http.server.BaseHTTPRequestHandler):
    got: List[Dict[str, Any]]  # the posts received, set per test

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).got.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[Tuple[str, List[Dict[str, Any]]]]:
    """A webhook receiver on loopback: its URL, and the JSON bodies posted to it."""
    got: List[Dict[str, Any]] = []
    handler = type("Hook", (_Hook,), {"got": got})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield "http://127.0.0.1:%d/hook" % srv.server_address[1], got
    srv.shutdown()
    srv.server_close()


def test_alerts_reach_the_webhook_and_repeats_are_held_back(
    fluoro_binary: str, tmp_path: Path, hook: Tuple[str, List[Dict[str, Any]]]
) -> None:
    url, posts = hook
    server = Server(fluoro_binary, tmp_path / "server", {"FLUORO_ALERT_WEBHOOK": url}).start()
    try:
        settings = fluoro.Settings(
            base_url=server.url, api_key=server.key, quiet=True, git=False, handle_signals=False, batch_interval=5.0
        )
        run = fluoro.init(project="alerts", dir=str(tmp_path), settings=settings)
        run.log({"loss": float("nan")})
        t0 = time.monotonic()
        run.alert("loss is NaN", "at step 0", level=fluoro.AlertLevel.ERROR)
        while not posts and time.monotonic() - t0 < 5:
            time.sleep(0.02)
        assert posts, "no webhook post within 5 s (batch_interval is 5 s: the alert must not wait for it)"
        run.alert("loss is NaN", "again", level="ERROR")  # within wait_duration: not sent
        assert run.alerts_held == 1
        run.alert("slow step", "30 s", level="WARN", wait_duration=0)
        run.finish()
        c = Client(server.url, server.key, HTTPTransport(server.url))
        base = "/api/v1/projects/admin/alerts/runs/%s" % run.id
        listed = c.call("GET", base + "/alerts").json()["alerts"]
        got = [(a["title"], a["text"], a["level"], a["wait_ms"], a["suppressed"]) for a in reversed(listed)]
        assert got == [
            ("loss is NaN", "at step 0", "ERROR", 60_000, False),
            ("slow step", "30 s", "WARN", 0, False),
        ]
        deadline = time.monotonic() + 5
        while len(posts) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [(h["alert"]["title"], h["alert"]["level"]) for h in posts] == [
            ("loss is NaN", "ERROR"),
            ("slow step", "WARN"),
        ]
        assert "loss is NaN" in posts[0]["text"] and posts[0]["run"]["id"] == run.id
    finally:
        server.stop()

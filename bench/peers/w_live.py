"""W5 concurrency and W8 durability: not written yet.

Both need a process that logs while the harness watches (W5: poll each peer's
read API for log → visible latency; W8: SIGKILL the writer, and separately the
Fluoro server restarted on the same port, then count lost and duplicated
points after `python -m fluoro sync` / restart). worker.py's `writer` job
already prints `RUN` and `STEP` lines and can put the wall clock in a metric
(`clock_key`) for exactly this.
"""

from __future__ import annotations

from harness import Ctx
from report import Table


def _todo(name: str, shape: str) -> Table:
    t = Table(name, shape, ["status"])
    t.add("fluoro", {"status": "not implemented in the harness yet"})
    return t


def w5(ctx: Ctx) -> Table:
    return _todo("W5 concurrency", "writer processes at 10 Hz × 20 metrics, log → visible p50/p99")


def w8(ctx: Ctx) -> Table:
    return _todo("W8 durability", "SIGKILL the SDK, and separately the server, mid-run; points lost/duplicated")

"""What log() costs a training loop whose steps release the GIL, as torch ops do.

Each step hashes 64 KiB blocks (C code that releases the GIL, like a torch
kernel launch or a CPU op), then logs two metrics, as a loop that logs its
loss every step. The loop runs without Fluoro and with a run (offline by
default: the spool thread only; ``--online`` also sends to FLUORO_BASE_URL),
alternated ``--repeats`` times, and prints the steps/s of each, the
slowdown, and how often the SDK's spool thread woke up per 1000 steps: each
wake-up is a thread switch and a GIL hand-off that the training thread
waits out.

    PYTHONPATH=sdk/python/src python3 sdk/python/bench/bench_loop.py [--steps 3000] [--work 8]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from typing import Any, List, Optional, Tuple

import fluoro

BLOCK = b"x" * 65536


def loop(steps: int, work: int, run: Optional[Any]) -> float:
    t0 = time.perf_counter()
    for i in range(steps):
        for _ in range(work):
            hashlib.sha256(BLOCK).digest()
        if run is not None:
            run.log({"train/loss": 1.0 / (i + 1), "train/lr": 3e-4})
    return steps / (time.perf_counter() - t0)


def with_run(steps: int, work: int, online: bool, d: str) -> Tuple[float, int]:
    run = fluoro.init(
        project="bench-loop",
        mode="online" if online else "offline",
        dir=d,
        settings=fluoro.Settings(console="off", system_interval=0, quiet=True, git=False),
    )
    rate = loop(steps, work, run)
    wakes = run._pipe.stats.wakes
    run.finish(quiet=True)
    return rate, wakes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--work", type=int, default=8, help="64 KiB hashes per step (~40 µs each)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--online", action="store_true", help="send to FLUORO_BASE_URL too")
    a = ap.parse_args()
    base: List[float] = []
    withf: List[float] = []
    wakes: List[int] = []
    with tempfile.TemporaryDirectory() as d:
        loop(a.steps // 5, a.work, None)  # warm-up
        for _ in range(a.repeats):
            base.append(loop(a.steps, a.work, None))
            r, w = with_run(a.steps, a.work, a.online, d)
            withf.append(r)
            wakes.append(w)
    b, f = statistics.median(base), statistics.median(withf)
    print("| loop | steps/s (median of %d) | range |" % a.repeats)
    print("|---|---|---|")
    print("| without Fluoro | %.0f | %.0f-%.0f |" % (b, min(base), max(base)))
    print(
        "| with log() every step (%s) | %.0f | %.0f-%.0f |"
        % ("online" if a.online else "offline", f, min(withf), max(withf))
    )
    print(
        "slowdown %.2f %% (%.1f µs a step); spool-thread wake-ups per 1000 steps: %.0f"
        % (100 * (1 - f / b), 1e6 * (1 / f - 1 / b), 1000 * statistics.median(wakes) / a.steps)
    )


if __name__ == "__main__":
    main()

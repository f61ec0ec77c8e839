"""Where finetune.py's slowdown comes from: each Fluoro feature on its own.

Trains finetune.py's transformer in short timed phases, alternating a phase
without Fluoro with a phase of one variant, for ROUNDS rounds:

- ``log``: ``init`` (console capture and system metrics off) and a
  ``log()`` row every step;
- ``+console``: the same with stdout/stderr captured (the default);
- ``+system``: with system metrics every 1 s;
- ``+watch``: with ``watch(model, log="all", log_freq=100)``;
- ``+media``: with an image, a table and a histogram every 200 steps;
- ``all``: everything at once (finetune.py's Fluoro phase).

Each variant's slowdown is against the mean of the baseline phases just
before and after it; the table gives the median over rounds and the
spread of the baselines. Runs on a GPU (the default) or, as a proxy for
the CPU side of a launch-bound loop, on the CPU::

    FLUORO_BASE_URL=... FLUORO_API_KEY=... python3 bench/gpu/breakdown.py
    FINETUNE_DEVICE=cpu PHASE_S=4 ROUNDS=3 python3 bench/gpu/breakdown.py
"""

from __future__ import annotations

import os
import statistics
import sys
from typing import Any, Dict, List, Optional

import fluoro

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import finetune  # noqa: E402

PHASE_S = float(os.environ.get("PHASE_S", "10"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
VARIANTS = [v for v in os.environ.get("VARIANTS", "log,+console,+system,+watch,+media,all").split(",") if v]


def start(variant: str, model: Any) -> Any:
    console = variant in ("+console", "all")
    system = variant in ("+system", "all")
    run = fluoro.init(
        project="gpu-breakdown",
        name="breakdown-" + variant.lstrip("+"),
        settings=fluoro.Settings(
            console="wrap" if console else "off",
            system_interval=1.0 if system else 0,
            quiet=True,
        ),
    )
    if variant in ("+watch", "all"):
        run.watch(model, log="all", log_freq=100)
    return run


def main() -> int:
    import torch

    if finetune.DEVICE == "cuda" and not torch.cuda.is_available():
        print("FAIL breakdown: torch sees no CUDA device")
        return 1
    if finetune.DEVICE == "cpu":
        torch.set_num_threads(1)  # leave a core to the SDK's threads and the server, as a GPU machine does
    model, opt, gen = finetune.setup(torch)
    print(
        "breakdown: batch %dx%d on %s, %d rounds of %.0f s phases"
        % (finetune.BATCH, finetune.SEQ, finetune.DEVICE, ROUNDS, PHASE_S)
    )
    finetune.phase(torch, model, opt, gen, 5, None)  # warm-up

    def base() -> float:
        return float(finetune.phase(torch, model, opt, gen, PHASE_S, None)["steps_per_s"])

    slow: Dict[str, List[float]] = {v: [] for v in VARIANTS}
    bases: List[float] = []
    prev: Optional[float] = None
    for _ in range(ROUNDS):
        for v in VARIANTS:
            before = prev if prev is not None else base()
            run = start(v, model)
            media = 200 if v in ("+media", "all") else 0
            got = finetune.phase(torch, model, opt, gen, PHASE_S, run, media_every=media)["steps_per_s"]
            run.finish(quiet=True)
            after = base()
            bases += [before, after]
            slow[v].append(1 - got / ((before + after) / 2))
            prev = after
    print("| variant | slowdown, median | min | max |")
    print("|---|---|---|---|")
    for v in VARIANTS:
        s = slow[v]
        print("| %s | %.2f %% | %.2f %% | %.2f %% |" % (v, 100 * statistics.median(s), 100 * min(s), 100 * max(s)))
    print(
        "baselines: %.2f-%.2f steps/s (median %.2f)" % (min(bases), max(bases), statistics.median(bases))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

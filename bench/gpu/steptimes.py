"""Where a Fluoro feature's cost lands inside a training step, step by step.

finetune.py and breakdown.py compare steps/s of whole phases, which moves by
several per cent between two phases of the same loop on a shared machine.
This script times every step of finetune.py's loop and each part of it
(batch, forward, backward, optimiser, the loss read-back, log), in blocks
of STEPS steps per variant, alternating with blocks without Fluoro. The
median step is robust to the noise; the mean minus the median shows what the
rare steps (watch's every 100th, media's every 200th) cost on average.

Variants: ``log`` (a row every step), ``console``, ``system`` (1 s),
``watch-grad`` / ``watch-param`` / ``watch-all`` (log_freq=100), ``media``
(every 200 steps), ``all`` (finetune.py's Fluoro phase) and ``all-offline``
(the same, offline: no sender thread, no server work; not in the default
order: ``VARIANTS=base,all,all-offline,base``).

    FLUORO_BASE_URL=... FLUORO_API_KEY=... python3 bench/gpu/steptimes.py
    FINETUNE_DEVICE=cpu STEPS=100 ROUNDS=1 python3 bench/gpu/steptimes.py
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from typing import Any, Dict, List, Optional

import fluoro

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import finetune  # noqa: E402

STEPS = int(os.environ.get("STEPS", "250"))
ROUNDS = int(os.environ.get("ROUNDS", "2"))
ORDER = os.environ.get(
    "VARIANTS", "base,log,console,system,base,watch-grad,watch-param,watch-all,base,media,all"
).split(",")
PARTS = ("batch", "forward", "backward", "optimiser", "item", "log")


def start(variant: str, model: Any) -> Optional[Any]:
    if variant == "base":
        return None
    run = fluoro.init(
        project="gpu-steptimes",
        mode="offline" if variant.endswith("-offline") else None,
        name=variant,
        settings=fluoro.Settings(
            console="wrap" if variant in ("console", "all", "all-offline") else "off",
            system_interval=1.0 if variant in ("system", "all", "all-offline") else 0,
            quiet=True,
        ),
    )
    watch = {
        "watch-grad": "gradients",
        "watch-param": "parameters",
        "watch-all": "all",
        "all": "all",
        "all-offline": "all",
    }.get(variant)
    if watch:
        run.watch(model, log=watch, log_freq=100)
    return run


def block(torch: Any, model: Any, opt: Any, gen: Any, run: Optional[Any], media_every: int) -> List[List[float]]:
    """STEPS steps of finetune.phase's loop; per step the seconds of each part in PARTS."""
    loss_fn = torch.nn.functional.cross_entropy
    out: List[List[float]] = []
    clock = time.perf_counter
    finetune.sync(torch)
    for step in range(1, STEPS + 1):
        t0 = clock()
        x, y = finetune.batch(torch, gen)
        t1 = clock()
        with torch.autocast(finetune.DEVICE, dtype=torch.bfloat16):
            logits = model(x)
            loss = loss_fn(logits.float().reshape(-1, finetune.VOCAB), y.reshape(-1))
        t2 = clock()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t3 = clock()
        opt.step()
        t4 = clock()
        last = loss.item()
        t5 = clock()
        if run is not None:
            row: Dict[str, Any] = {"train/loss": last, "train/lr": opt.param_groups[0]["lr"]}
            if media_every and step % media_every == 0:
                row.update(finetune.media(torch, model, logits, y))
            run.log(row)
        t6 = clock()
        out.append([t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5])
    finetune.sync(torch)
    return out


def main() -> int:
    import torch

    if finetune.DEVICE == "cuda" and not torch.cuda.is_available():
        print("FAIL steptimes: torch sees no CUDA device")
        return 1
    if finetune.DEVICE == "cpu":
        torch.set_num_threads(1)
    model, opt, gen = finetune.setup(torch)
    print("steptimes: batch %dx%d on %s, %d steps a block, %d rounds" % (finetune.BATCH, finetune.SEQ, finetune.DEVICE, STEPS, ROUNDS))
    block(torch, model, opt, gen, None, 0)  # warm-up
    steps: Dict[str, List[List[float]]] = {}
    for _ in range(ROUNDS):
        for v in ORDER:
            run = start(v, model)
            got = block(torch, model, opt, gen, run, 200 if v in ("media", "all", "all-offline") else 0)
            if run is not None:
                run.finish(quiet=True)
            steps.setdefault(v, []).extend(got)
    base = statistics.median(sum(s) for s in steps["base"])
    base_mean = statistics.fmean(sum(s) for s in steps["base"])
    print("per step, ms (median of %d steps; mean in brackets); extra = against base" % len(steps["base"]))
    print("| variant | step | extra median | extra mean | " + " | ".join(PARTS) + " |")
    print("|---" * (4 + len(PARTS)) + "|")
    for v in dict.fromkeys(ORDER):
        tot = [sum(s) for s in steps[v]]
        med, mean = statistics.median(tot), statistics.fmean(tot)
        parts = [
            "%.3f (%.3f)" % (1e3 * statistics.median(p), 1e3 * statistics.fmean(p)) for p in zip(*steps[v])
        ]
        print(
            "| %s | %.3f (%.3f) | %+.2f %% | %+.2f %% | %s |"
            % (v, 1e3 * med, 1e3 * mean, 100 * (med / base - 1), 100 * (mean / base_mean - 1), " | ".join(parts))
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

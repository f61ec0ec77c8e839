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
(the same, offline: no sender thread, no server work) and ``all-0.5s``
(the same with batch_interval=0.5: the SDK's threads wake 2.5 times less
often) are not in the default order: ``VARIANTS=base,all,all-offline,base``. The controls of controls.py
(``ghost``: threads holding the GIL as the SDK's do, without Fluoro;
``server-load``: another process logging to the server at the loop's rate;
``hook``: log() and watch()'s forward hook, which never fires) tell the GIL, the machine and the
hook apart: ``VARIANTS=base,all,ghost,server-load,all-offline,hook,base``.
A second table gives, per variant, the training thread's CPU time and
context switches per step and the CPU the other threads took per second.

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
import controls  # noqa: E402
import finetune  # noqa: E402

STEPS = int(os.environ.get("STEPS", "250"))
ROUNDS = int(os.environ.get("ROUNDS", "2"))
ORDER = os.environ.get(
    "VARIANTS", "base,log,console,system,base,watch-grad,watch-param,watch-all,base,media,all"
).split(",")
PARTS = ("batch", "forward", "backward", "optimiser", "item", "log")


def start(variant: str, model: Any) -> Optional[Any]:
    if variant in ("base", "ghost", "server-load"):
        return None
    run = fluoro.init(
        project="gpu-steptimes",
        mode="offline" if variant.endswith("-offline") else None,
        name=variant,
        settings=fluoro.Settings(
            console="wrap" if variant in ("console", "all", "all-offline", "all-0.5s") else "off",
            system_interval=1.0 if variant in ("system", "all", "all-offline", "all-0.5s") else 0,
            batch_interval=0.5 if variant == "all-0.5s" else None,
            quiet=True,
        ),
    )
    watch = {
        "watch-grad": "gradients",
        "watch-param": "parameters",
        "watch-all": "all",
        "all": "all",
        "all-offline": "all",
        "all-0.5s": "all",
        "hook": "all",
    }.get(variant)
    if watch:
        run.watch(model, log=watch, log_freq=10**9 if variant == "hook" else 100)
    return run


def control(variant: str, steps_per_s: float) -> Optional[Any]:
    """The started load of a control variant, or None."""
    if variant == "ghost":
        return controls.Ghosts().start()
    if variant == "server-load":
        return controls.ServerLoad(steps_per_s).start()
    return None


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
    t0 = time.perf_counter()
    block(torch, model, opt, gen, None, 0)  # warm-up
    rate = STEPS / (time.perf_counter() - t0)
    print("ghost threads: %s; server-load: %.0f rows/s" % (controls.Ghosts().describe(), rate))
    steps: Dict[str, List[List[float]]] = {}
    counters: Dict[str, List[Any]] = {}
    for _ in range(ROUNDS):
        for v in ORDER:
            run = start(v, model)
            load = control(v, rate)
            th = controls.Threads()
            th.start()
            got = block(torch, model, opt, gen, run, 200 if v in ("media", "all", "all-offline", "all-0.5s") else 0)
            th.stop()
            if load is not None:
                load.stop()
            if run is not None:
                run.finish(quiet=True)
            steps.setdefault(v, []).extend(got)
            counters.setdefault(v, []).append(th)
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
    print()
    print("per variant, summed over its blocks: the training thread per step; the other threads per second")
    print(
        "| variant | main CPU ms/step | voluntary switches/step | involuntary/step | other threads' CPU ms/s | "
        "GCs/s (ms/s) | SDK threads |"
    )
    print("|---|---|---|---|---|---|---|")
    for v in dict.fromkeys(ORDER):
        ths = counters[v]
        n = len(steps[v])
        main_ = [sum(t.main()[i] for t in ths) for i in range(4)]
        secs = sum(t.seconds for t in ths)
        others = sum(t.others_cpu_ms_per_s() * t.seconds for t in ths) / secs
        gcs, gc_ms = sum(t.gcs for t in ths) / secs, 1e3 * sum(t.gc_s for t in ths) / secs
        print(
            "| %s | %.3f | %.2f | %.2f | %.2f | %.2f (%.3f) | %s |"
            % (v, main_[0] / 1e6 / n, main_[2] / n, main_[3] / n, others, gcs, gc_ms, ths[-1].sdk() or "-")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The cost of fluoro.watch() in a small CPU training loop.

A 4-layer MLP (64 wide), batch 64, STEPS steps of SGD, logging the loss every
step to an offline run; the same loop with and without
``run.watch(model, log=..., log_freq=...)``, alternated, REPEATS times each.
Prints the medians and the overhead in percent. Then, because other jobs
on a shared machine make separate loops differ by more than watch costs, it
trains two identical models in one loop, step by step in turn, only one of
them watched, and reports the overhead from those paired step times (the
figure docs/sdk.md quotes).

    PYTHONPATH=sdk/python/src /usr/bin/python3 bench/watch/bench_watch.py [--steps 2000] [--repeats 5]

torch from Debian's python3-torch (or any torch). Threads are pinned
(``--threads``, default 1) so the two variants compete for the same CPU.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple

import torch

import fluoro


def make_model(width: int) -> Any:
    return torch.nn.Sequential(
        torch.nn.Linear(64, width),
        torch.nn.ReLU(),
        torch.nn.Linear(width, width),
        torch.nn.ReLU(),
        torch.nn.Linear(width, width),
        torch.nn.ReLU(),
        torch.nn.Linear(width, 10),
    )


def loop(
    steps: int, width: int, batch: int, watch: Optional[str], log_freq: int, root: str
) -> Tuple[float, float, List[float]]:
    """(wall s, process CPU s, per-step wall times) of one training loop."""
    torch.manual_seed(0)
    model = make_model(width)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    xs = torch.randn(16, batch, 64)
    ys = torch.randint(0, 10, (16, batch))
    run = fluoro.init(mode="offline", project="bench-watch", dir=root, settings={"quiet": True, "console": "off"})
    if watch is not None:
        run.watch(model, log=watch, log_freq=log_freq)
    per: List[float] = []
    clock = time.perf_counter
    c0, t0 = time.process_time(), clock()
    for i in range(steps):
        s0 = clock()
        x, y = xs[i % 16], ys[i % 16]
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        run.log({"train/loss": loss.item()})
        per.append(clock() - s0)
    took, cpu = clock() - t0, time.process_time() - c0
    run.finish(quiet=True)
    return took, cpu, per


def paired(steps: int, width: int, batch: int, watch: str, log_freq: int, root: str) -> Tuple[List[float], List[float]]:
    """Two identical models trained step by step in turn (order alternating), only one watched.

    Both see the same load on the machine at the same moments, so the sums of
    their step times compare well even when other jobs share the CPU.
    """
    torch.manual_seed(0)
    models = [make_model(width), make_model(width)]
    models[1].load_state_dict(models[0].state_dict())
    opts = [torch.optim.SGD(m.parameters(), lr=0.01) for m in models]
    xs = torch.randn(16, batch, 64)
    ys = torch.randint(0, 10, (16, batch))
    run = fluoro.init(mode="offline", project="bench-watch", dir=root, settings={"quiet": True, "console": "off"})
    run.watch(models[1], log=watch, log_freq=log_freq)
    times: Tuple[List[float], List[float]] = ([], [])
    clock = time.perf_counter
    for i in range(steps):
        x, y = xs[i % 16], ys[i % 16]
        losses = [0.0, 0.0]
        for k in (0, 1) if i % 2 == 0 else (1, 0):
            s0 = clock()
            loss = torch.nn.functional.cross_entropy(models[k](x), y)
            opts[k].zero_grad()
            loss.backward()
            opts[k].step()
            losses[k] = loss.item()
            times[k].append(clock() - s0)
        run.log({"plain/loss": losses[0], "watched/loss": losses[1]})
    run.finish(quiet=True)
    return times


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--log-freq", type=int, default=100)
    ap.add_argument("--log", default="gradients", choices=["gradients", "parameters", "all"])
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    res: Dict[bool, List[Tuple[float, float, List[float]]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as root:
        loop(200, a.width, a.batch, a.log, a.log_freq, root)  # warm up both paths
        loop(200, a.width, a.batch, None, a.log_freq, root)
        for r in range(a.repeats):
            for w in [None, a.log] if r % 2 == 0 else [a.log, None]:
                res[w is not None].append(loop(a.steps, a.width, a.batch, w, a.log_freq, root))
        pairs = [paired(a.steps, a.width, a.batch, a.log, a.log_freq, root) for _ in range(a.repeats)]
    n_params = sum(p.numel() for p in make_model(a.width).parameters())
    watched_steps = a.steps // a.log_freq
    print(
        "torch %s, %d thread(s); MLP 4 layers x %d (%d parameters in 8 tensors), batch %d, %d steps, "
        "watch(log=%r, log_freq=%d): %d watched steps; %d repeats, alternated"
        % (
            torch.__version__,
            a.threads,
            a.width,
            n_params,
            a.batch,
            a.steps,
            a.log,
            a.log_freq,
            watched_steps,
            a.repeats,
        )
    )
    for label, k in (("wall", 0), ("process CPU", 1)):
        b = statistics.median(r[k] for r in res[False])
        w = statistics.median(r[k] for r in res[True])
        print(
            "%-12s without %.3f s, with %.3f s: %+.2f %%  (without: %s; with: %s)"
            % (
                label,
                b,
                w,
                100 * (w - b) / b,
                " ".join("%.2f" % r[k] for r in res[False]),
                " ".join("%.2f" % r[k] for r in res[True]),
            )
        )
    # Paired: the same steps of two models, one watched, taken in turn.
    pct = sorted(100 * (sum(w) - sum(p)) / sum(p) for p, w in pairs)
    print(
        "paired (two models in one loop, one watched), %d loops: overhead median %+.2f %% (each: %s)"
        % (len(pct), statistics.median(pct), " ".join("%+.2f" % x for x in pct))
    )
    due = [i for i in range(a.steps) if (i + 1) % a.log_freq == 0]
    due_set = set(due)
    ord_d = statistics.median(w[i] - p[i] for p, w in pairs for i in range(a.steps) if i not in due_set)
    due_d = statistics.median(w[i] - p[i] for p, w in pairs for i in due)
    step = statistics.median(t for p, _ in pairs for t in p)
    est = ord_d + due_d * len(due) / a.steps
    print(
        "paired per-step medians: a step %.1f us; watch adds %.1f us to an ordinary step (the hook calls) and "
        "%.2f ms to a watched step: %.1f us a step on average = %+.2f %%"
        % (1e6 * step, 1e6 * ord_d, 1e3 * due_d, 1e6 * est, 100 * est / step)
    )
    # Separate loops: per-step medians.
    base = statistics.median(t for r in res[False] for t in r[2])
    plain = statistics.median(t for r in res[True] for i, t in enumerate(r[2]) if i not in due_set)
    watched = statistics.median(r[2][i] for r in res[True] for i in due)
    per_step = (plain - base) + (watched - plain) * len(due) / a.steps
    print(
        "per step (medians): without watch %.1f us; with watch %.1f us on ordinary steps (hook calls), "
        "%.1f us on watched steps (+%.2f ms)" % (1e6 * base, 1e6 * plain, 1e6 * watched, 1e3 * (watched - plain))
    )
    print("overhead from per-step medians: %.1f us a step = %+.2f %%" % (1e6 * per_step, 100 * per_step / base))
    return 0


if __name__ == "__main__":
    sys.exit(main())

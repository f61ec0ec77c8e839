"""CPU time watch() spends launching one pass's summaries: one tensor at a time, and batched.

On a GPU the summaries' cost is the CPU's (each kernel launch ~10 us), in a
training loop that is launch-bound. This times ``summarise()`` over every
parameter of finetune.py's model against ``summarise_many()`` (medians of
15; "launch" is the time until the calls return, "with the GPU done" until
a synchronize after them) and prints the largest difference in the 64 bin
counts of a tensor between the two paths (values on a bin edge may move).

    PYTHONPATH=sdk/python/src python3 bench/gpu/watch_launch.py
    FINETUNE_DEVICE=cpu PYTHONPATH=sdk/python/src python3 bench/gpu/watch_launch.py
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from typing import Any, Callable, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import finetune  # noqa: E402

from fluoro import _watch  # noqa: E402


def main() -> int:
    import torch

    model = finetune.build(torch).to(finetune.DEVICE)
    ps = [p.detach() for p in model.parameters()]
    print("%d tensors on %s; torch has _foreach_max: %s" % (len(ps), finetune.DEVICE, hasattr(torch, "_foreach_max")))
    if finetune.DEVICE == "cpu":
        _watch._BATCH_CPU = True  # the GPU path, on the CPU (where one by one is what watch does)
    ways: List[Any] = [
        ("one by one", lambda: [_watch.summarise(torch, p) for p in ps]),
        ("summarise_many", lambda: _watch.summarise_many(torch, ps)),
    ]
    for name, f in ways:
        f()
        finetune.sync(torch)
        launch, total = [], []
        for _ in range(15):
            finetune.sync(torch)
            t = time.perf_counter()
            f()
            launch.append(time.perf_counter() - t)
            finetune.sync(torch)
            total.append(time.perf_counter() - t)
        print(
            "%-15s launch %.3f ms, with the GPU done %.3f ms"
            % (name, 1e3 * statistics.median(launch), 1e3 * statistics.median(total))
        )

    def rows(sums: List[Any]) -> List[List[float]]:
        src: Callable[[Any], Callable[[], Any]] = lambda p: (lambda: p)
        return _watch.host_rows(torch, [("t", s[0], s[1], s[2], src(p)) for s, p in zip(sums, ps)])

    one = rows([_watch.summarise(torch, p) for p in ps])
    many = rows(_watch.summarise_many(torch, ps))
    worst = max(sum(abs(a - b) for a, b in zip(r1[: _watch.NUM_BINS], r2[: _watch.NUM_BINS])) for r1, r2 in zip(one, many))
    print("largest difference in a tensor's bin counts between the two: %d" % worst)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What watch() costs an ordinary (unwatched) step: best of 900 forward+backward passes.

A 100-layer MLP (200 parameter tensors, tiny matrices, so the per-step cost
is mostly hooks and Python) with and without ``watch(log="gradients")`` at a
log_freq that is never reached. Run with a torch-enabled Python:

    /usr/bin/python3 bench/watch/armed_hooks.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "sdk", "python", "src"))

import torch  # noqa: E402

import fluoro  # noqa: E402


def main() -> None:
    torch.set_num_threads(1)
    layers = []
    for _ in range(100):
        layers += [torch.nn.Linear(4, 4), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers)
    x = torch.randn(2, 4)

    def best(n: int) -> float:
        b = 1e9
        for _ in range(n):
            t = time.perf_counter()
            model(x).sum().backward()
            b = min(b, time.perf_counter() - t)
        return b

    with tempfile.TemporaryDirectory() as d:
        run = fluoro.init(
            project="bench",
            mode="offline",
            dir=d,
            settings=fluoro.Settings(quiet=True, console="off", system_interval=0, git=False),
        )
        best(100)
        a = min(best(300) for _ in range(3))
        fluoro.watch(model, log="gradients", log_freq=10**9)
        b = min(best(300) for _ in range(3))
        fluoro.unwatch(model)
        run.finish(quiet=True)
    print(
        "best forward+backward: %.0f us without watch, %.0f us with: %+.0f us a step"
        % (a * 1e6, b * 1e6, (b - a) * 1e6)
    )


if __name__ == "__main__":
    main()

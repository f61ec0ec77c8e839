"""The data every peer logs: one generator, fixed seeds, the same key names.

Nothing here is random at run time: every value is a function of (seed, run,
step), so two peers (and two harness runs) log exactly the same numbers.
"""

from __future__ import annotations

import math
import random
import struct

KEYS20 = [f"train/metric_{i:02d}" for i in range(20)]
KEYS10 = KEYS20[:10]
MIX_KEYS = ["train/loss", "train/lr", "val/acc", "train/grad_norm", "system/gpu"]
W6_KEY = "loss"

_POOL = 4096  # distinct noise values reused cyclically: cheap to build a row


class Rows:
    """Rows of `keys` float metrics, a deterministic function of (seed, step)."""

    def __init__(self, keys: list[str], seed: int) -> None:
        rng = random.Random(seed)
        self.keys = keys
        self._pool = [rng.random() for _ in range(_POOL)]

    def row(self, step: int) -> dict[str, float]:
        p, n = self._pool, len(self.keys)
        base = step * n
        return {k: p[(base + i) % _POOL] for i, k in enumerate(self.keys)}


def f32(x: float) -> float:
    """x rounded to the nearest float32, as a Python float."""
    return struct.unpack("f", struct.pack("f", x))[0]


class Mix:
    """W9's realistic mix: float32 loss, float64 cosine lr schedule, accuracy
    k/10000, float32 grad norm and an integer GPU %."""

    def __init__(self, steps: int, seed: int = 9) -> None:
        rng = random.Random(seed)
        self.steps = max(steps, 4)
        self._noise = [rng.gauss(0, 1) for _ in range(2 * _POOL)]

    def row(self, step: int) -> dict[str, float | int]:
        s, n = self.steps, self._noise
        i = 2 * (step % _POOL)
        return {
            "train/loss": f32(2 * math.exp(-step / (s / 4)) + 0.05 * n[i]),
            "train/lr": 3e-4 * 0.5 * (1 + math.cos(math.pi * step / s)),
            "val/acc": int(10000 * (1 - math.exp(-step / (s / 3))) * 0.95) / 10000,
            "train/grad_norm": f32(abs(1 + 0.3 * n[i + 1])),
            "system/gpu": 90 + step % 11,
        }


def w6_value(run: int, step: int) -> float:
    """W6's series: a noisy decaying curve with rare spikes that sampling drops."""
    h = (run * 0x9E3779B97F4A7C15 ^ step * 0xBF58476D1CE4E5B9) & (2**64 - 1)
    h ^= h >> 31
    v = 2 * math.exp(-step / 300000) + 0.1 * ((h % 10000) / 10000 - 0.5)
    if h % 100003 == 7:
        v += 50
    return v


OPTIMIZERS = ["adam", "sgd", "adamw", "lion"]
MODELS = ["bert", "gpt2", "t5", "llama", "vit"]


def run_config(i: int) -> dict[str, object]:
    """W7: 50 config keys; `optimizer` and `model` are the two filtered on."""
    rng = random.Random(7_000_000 + i)
    cfg: dict[str, object] = {"optimizer": OPTIMIZERS[i % 4], "model": MODELS[i % 5]}
    for k in range(48):
        cfg[f"c{k:02d}"] = rng.randint(0, 1000) if k % 2 else round(rng.random(), 6)
    return cfg


def run_summary(i: int) -> dict[str, float]:
    """W7: 20 summary keys; `val/acc` is the one sorted on."""
    rng = random.Random(8_000_000 + i)
    out = {f"s{k:02d}": round(rng.random(), 6) for k in range(19)}
    out["val/acc"] = round(rng.random(), 6)
    return out

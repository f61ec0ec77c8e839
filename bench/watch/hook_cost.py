"""How much do per-parameter Python hooks cost a CUDA training step? (diagnostic for docs/sdk.md's watch section)"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "sdk" / "python" / "src"))

import torch
from gpu_check import Model, batches

import fluoro


def main() -> None:
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    data = batches(dev, 16, 32, 128, 8000)
    res: dict = {}
    for rep in range(4):
        for mode in ("none", "noop-hooks", "watch-never-due", "watch-100"):
            torch.manual_seed(0)
            model = Model(8000, 256, 4).to(dev)
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
            run = fluoro.init(mode="offline", project="hooks", settings={"quiet": True, "console": "off"})
            hs = []
            if mode == "noop-hooks":
                hs = [p.register_hook(lambda g: None) for p in model.parameters()]
            elif mode == "watch-never-due":
                run.watch(model, log_freq=10**9)
            elif mode == "watch-100":
                run.watch(model, log_freq=100)
            torch.cuda.synchronize() if dev.type == "cuda" else None
            t0 = time.perf_counter()
            for i in range(300):
                ids, y = data[i % 16]
                with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
                    logits = model(ids)
                loss = torch.nn.functional.cross_entropy(logits.float(), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if i % 10 == 0:
                    run.log({"loss": loss.item()})
            torch.cuda.synchronize() if dev.type == "cuda" else None
            t = time.perf_counter() - t0
            for h in hs:
                h.remove()
            run.finish(quiet=True)
            if rep:
                res.setdefault(mode, []).append(t)
    base = statistics.median(res["none"])
    for mode, ts in res.items():
        m = statistics.median(ts)
        print(
            "%-16s %.2f ms/step %+6.2f %%  (%s)"
            % (mode, m / 0.3, 100 * (m - base) / base, " ".join("%.3f" % x for x in ts))
        )


if __name__ == "__main__":
    main()

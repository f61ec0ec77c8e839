"""GPU system metrics, end to end: the SDK samples NVML while a CUDA load runs.

Run on a machine with an NVIDIA GPU, against a running Fluoro server
(FLUORO_BASE_URL, FLUORO_API_KEY set). Prints PASS/FAIL lines and the
samples' ranges; exits 1 on a FAIL. Used by bench/gpu/run.sh.
"""

from __future__ import annotations

import sys
import time

import fluoro


def main() -> int:
    import torch  # the GPU machine's torch

    if not torch.cuda.is_available():
        print("FAIL system: torch sees no CUDA device")
        return 1
    run = fluoro.init(project="gpu-check", name="system", settings=fluoro.Settings(system_interval=0.5))
    x = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    t_end = time.time() + 12
    i = 0
    while time.time() < t_end:  # keep the GPU busy for the sampler to see
        y = x @ x
        i += 1
        if i % 20 == 0:
            torch.cuda.synchronize()
            run.log({"matmuls": i, "y0": float(y[0, 0])})
    torch.cuda.synchronize()
    run.finish()
    time.sleep(1)
    api = fluoro.Api()
    pr = api.run("gpu-check/%s" % run.id)
    samples = api.client.call("GET", pr._run_path() + "/system").json().get("samples") or []
    keys = sorted({k for s in samples for k in s.get("values", {})})
    gpu_keys = [k for k in keys if k.startswith("gpu.")]
    print("system samples: %d; gpu keys: %s" % (len(samples), ", ".join(gpu_keys)))
    ok = True

    def rng(k: str) -> str:
        vs = [s["values"][k] for s in samples if k in s.get("values", {})]
        return "%s: n=%d min=%.1f max=%.1f" % (k, len(vs), min(vs), max(vs)) if vs else "%s: none" % k

    for k in gpu_keys:
        print("  " + rng(k))
    for need in ("gpu.0.util", "gpu.0.memory_used_mb", "gpu.0.memory_total_mb", "gpu.0.temp", "gpu.0.power_w"):
        if need not in keys:
            print("FAIL system: no %s" % need)
            ok = False
    utils = [s["values"].get("gpu.0.util", 0) for s in samples]
    if utils and max(utils) < 10:
        print("FAIL system: GPU utilisation never above 10%% under a matmul loop (max %.0f)" % max(utils))
        ok = False
    if ok:
        print("PASS system: NVML metrics sampled every 0.5 s under load (%d samples)" % len(samples))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

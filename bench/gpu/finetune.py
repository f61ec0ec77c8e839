"""A fine-tuning run on a GPU with everything Fluoro offers switched on.

A small transformer language model (built from a config: no downloaded
weights) trains on synthetic token data in alternating phases of PHASE_S
seconds (15): without Fluoro, then with Fluoro (`watch(model, log="all")`,
system metrics every 1 s, a loss row every step, media every 200 steps),
ROUNDS times (3), and without again at the end. Each Fluoro phase is a new
run; its first SETTLE_S seconds (2: init's one-off work) are timed apart.

It prints each phase's steps/s and median step time, each Fluoro phase's
slowdown against the baselines either side (target: at most 1 %), the
spread of the baselines (how much the machine itself moves), and then
checks on the server that the first run's gradient/parameter histograms,
GPU metrics and media files arrived.

    FLUORO_BASE_URL=... FLUORO_API_KEY=... python3 bench/gpu/finetune.py

Needs torch with CUDA; exits 1 on a FAIL line. Used by bench/gpu/run.sh.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

import fluoro

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import controls  # noqa: E402

PHASE_S = float(os.environ.get("PHASE_S", "15"))
SETTLE_S = float(os.environ.get("SETTLE_S", "2"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
# Offline runs spool to disk only: no sender thread, no server work, to tell their cost apart.
OFFLINE = os.environ.get("FINETUNE_OFFLINE") == "1"
DEVICE = os.environ.get("FINETUNE_DEVICE", "cuda")  # "cpu": a dry run of the script itself, tiny model
VOCAB, SEQ, BATCH, D, HEADS, LAYERS = 8192, int(os.environ.get("SEQ", "256")), int(os.environ.get("BATCH", "32")), 512, 8, 6
if DEVICE == "cpu":
    VOCAB, SEQ, BATCH, D, HEADS, LAYERS = 512, 32, 4, 64, 4, 2


def build(torch: Any) -> Any:
    nn = torch.nn

    class LM(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(VOCAB, D)
            self.pos = nn.Parameter(torch.zeros(SEQ, D))
            layer = nn.TransformerEncoderLayer(D, HEADS, 4 * D, dropout=0.0, batch_first=True, norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, LAYERS)
            self.norm = nn.LayerNorm(D)
            self.head = nn.Linear(D, VOCAB, bias=False)

        def forward(self, x: Any) -> Any:
            mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1], device=x.device)
            h = self.encoder(self.embed(x) + self.pos[: x.shape[1]], mask=mask)
            return self.head(self.norm(h))

    return LM()


def setup(torch: Any) -> Tuple[Any, Any, Any]:
    """The model on DEVICE, its AdamW optimiser and the batch generator, all seeded (every script here starts so)."""
    torch.manual_seed(0)
    model = build(torch).to(DEVICE)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
    gen = torch.Generator(device=DEVICE)
    gen.manual_seed(0)
    return model, opt, gen


def batch(torch: Any, gen: Any) -> Any:
    # An in-context rule: each row counts up from a random token by a random
    # stride (1-16) mod VOCAB; the model learns to read the stride off the context.
    start = torch.randint(0, VOCAB, (BATCH, 1), device=DEVICE, generator=gen)
    stride = torch.randint(1, 17, (BATCH, 1), device=DEVICE, generator=gen)
    seq = (start + stride * torch.arange(SEQ + 1, device=DEVICE)) % VOCAB
    return seq[:, :-1], seq[:, 1:]


def sync(torch: Any) -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def phase(
    torch: Any, model: Any, opt: Any, gen: Any, seconds: float, run: Optional[Any], media_every: int = 200
) -> Dict[str, Any]:
    loss_fn = torch.nn.functional.cross_entropy
    steps, last = 0, float("nan")
    times: List[float] = []
    sync(torch)
    th = controls.Threads()
    th.start()
    t0 = time.perf_counter()
    c0 = time.thread_time()
    prev = t0
    while True:
        x, y = batch(torch, gen)
        with torch.autocast(DEVICE, dtype=torch.bfloat16):
            logits = model(x)
            loss = loss_fn(logits.float().reshape(-1, VOCAB), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        last = loss.item()  # both phases read the loss every step, as a training loop does
        steps += 1
        if run is not None:
            row: Dict[str, Any] = {"train/loss": last, "train/lr": opt.param_groups[0]["lr"]}
            if media_every and steps % media_every == 0:
                row.update(media(torch, model, logits, y))
            run.log(row)
        now = time.perf_counter()
        times.append(now - prev)
        prev = now
        if now - t0 >= seconds:
            break
    sync(torch)
    dt = time.perf_counter() - t0
    off = 1 - (time.thread_time() - c0) / dt  # the main thread off the CPU: GPU waits, and the GIL lent to other threads
    th.stop()
    return {
        "switches": (th.main()[2] + th.main()[3]) / max(steps, 1),  # the training thread's context switches a step
        "others_ms_s": th.others_cpu_ms_per_s(),  # CPU of every other thread (torch's, the SDK's) per second
        "sdk": th.sdk(),
        "steps": steps,
        "seconds": dt,
        "steps_per_s": steps / dt,
        "loss": last,
        "median_step_ms": 1e3 * statistics.median(times),
        "off_cpu": off,
    }


def media(torch: Any, model: Any, logits: Any, y: Any) -> Dict[str, Any]:
    with torch.no_grad():
        e = model.embed.weight[:64].float()
        e = e / e.norm(dim=1, keepdim=True)
        sim = ((e @ e.T + 1) * 127.5).clamp(0, 255).to(torch.uint8).cpu()
        pred = logits[0, :10].argmax(-1).tolist()
        want = y[0, :10].tolist()
    table = fluoro.Table(columns=["position", "predicted", "target", "correct"])
    for i, (p, w) in enumerate(zip(pred, want)):
        table.add_data(i, p, w, p == w)
    return {
        "samples/embedding_similarity": fluoro.Image(
            sim.numpy() if hasattr(sim, "numpy") else sim.tolist(), caption="cosine similarity of 64 token embeddings"
        ),
        "samples/predictions": table,
        "samples/logits": fluoro.Histogram(logits[0, 0].float().cpu().tolist()),
    }


def main() -> int:
    import torch

    if DEVICE == "cuda" and not torch.cuda.is_available():
        print("FAIL finetune: torch sees no CUDA device")
        return 1
    model, opt, gen = setup(torch)
    nparams = sum(p.numel() for p in model.parameters())
    print(
        "model: %d layers, d=%d, %.1fM parameters, batch %dx%d tokens, %s"
        % (LAYERS, D, nparams / 1e6, BATCH, SEQ, torch.cuda.get_device_name() if DEVICE == "cuda" else "cpu")
    )
    phase(torch, model, opt, gen, 5, None)  # warm-up: kernels, allocator
    print(
        "%d rounds: %.0f s without Fluoro, then a new run (init, %.0f s untimed, %.0f s timed, finish); "
        "and %.0f s without Fluoro at the end" % (ROUNDS, PHASE_S, SETTLE_S, PHASE_S, PHASE_S)
    )

    bases: List[Dict[str, Any]] = [phase(torch, model, opt, gen, PHASE_S, None)]
    withs: List[Dict[str, Any]] = []
    runs: List[Any] = []
    inits: List[float] = []
    settles: List[Dict[str, Any]] = []
    finishes: List[float] = []
    for r in range(ROUNDS):
        t_init = time.perf_counter()
        run = fluoro.init(
            project="gpu-finetune",
            mode="offline" if OFFLINE else None,
            name="transformer-watch-%d" % (r + 1),
            config={"layers": LAYERS, "d_model": D, "heads": HEADS, "batch": BATCH, "seq": SEQ, "params": nparams},
            settings=fluoro.Settings(system_interval=1.0),
        )
        fluoro.watch(model, log="all", log_freq=100)
        inits.append(time.perf_counter() - t_init)
        # A run's first seconds carry one-off work (the environment is collected, the
        # threads start): reported apart, since a two-minute run amortises it.
        settles.append(phase(torch, model, opt, gen, SETTLE_S, run))
        withs.append(phase(torch, model, opt, gen, PHASE_S, run))
        t_fin = time.perf_counter()
        run.finish()
        finishes.append(time.perf_counter() - t_fin)
        runs.append((run, settles[-1]["steps"] + withs[-1]["steps"]))
        bases.append(phase(torch, model, opt, gen, PHASE_S, None))

    print(
        "| phase | steps | seconds | steps/s | median step, ms | main thread off the CPU | its context switches "
        "a step | other threads' CPU ms/s | last loss |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    rows = [("without Fluoro", bases[0])]
    for i, w in enumerate(withs):
        rows += [("with Fluoro, run %d" % (i + 1), w), ("without Fluoro", bases[i + 1])]
    for name, r in rows:
        print(
            "| %s | %d | %.1f | %.2f | %.3f | %.1f %% | %.2f | %.2f | %.3f |"
            % (
                name,
                r["steps"],
                r["seconds"],
                r["steps_per_s"],
                r["median_step_ms"],
                100 * r["off_cpu"],
                r["switches"],
                r["others_ms_s"],
                r["loss"],
            )
        )
    for i, w in enumerate(withs):
        print("SDK threads, run %d: %s" % (i + 1, w["sdk"]))
    slow = [1 - w["steps_per_s"] / ((bases[i]["steps_per_s"] + bases[i + 1]["steps_per_s"]) / 2) for i, w in enumerate(withs)]
    med_slow = [
        w["median_step_ms"] / ((bases[i]["median_step_ms"] + bases[i + 1]["median_step_ms"]) / 2) - 1
        for i, w in enumerate(withs)
    ]
    base_sps = [b["steps_per_s"] for b in bases]
    spread = (max(base_sps) - min(base_sps)) / statistics.mean(base_sps)
    slowdown = statistics.median(slow)
    print(
        "slowdown against the baselines either side: steps/s %s (median %.2f %%); median step time %s (median %.2f %%)"
        % (
            ", ".join("%.2f %%" % (100 * x) for x in slow),
            100 * slowdown,
            ", ".join("%.2f %%" % (100 * x) for x in med_slow),
            100 * statistics.median(med_slow),
        )
    )
    print("the %d phases without Fluoro spread over %.2f %% of their mean steps/s" % (len(bases), 100 * spread))
    print(
        "one-off: init()+watch() %s s; first %.0f s of each run %s steps/s; finish() %s s"
        % (
            ", ".join("%.3f" % x for x in inits),
            SETTLE_S,
            ", ".join("%.2f" % x["steps_per_s"] for x in settles),
            ", ".join("%.2f" % x for x in finishes),
        )
    )
    ok = True
    # A verdict only where the machine held still enough to give one.
    if slowdown <= 0.01 and spread <= 0.02:
        verdict = "PASS"
    elif slowdown > 0.01 and slowdown > spread:
        verdict = "WARN"
    else:
        verdict = "NOISY (the baselines spread over %.2f %%)" % (100 * spread)
    print(verdict + " finetune: slowdown %.2f %% (target <= 1 %%)" % (100 * slowdown))

    run, run_steps = runs[0]
    if OFFLINE:
        print("offline runs (FINETUNE_OFFLINE=1): nothing was sent, so nothing is checked on the server")
        return 0
    api = fluoro.Api()
    pr = api.run("gpu-finetune/%s" % run.id)
    keys = {k["key"]: k for k in pr.keys()}
    grads = [k for k in keys if k.startswith("gradients/") and not k.endswith("_norms")]
    params = [k for k in keys if k.startswith("parameters/") and not k.endswith("_norms")]
    print("keys: %d gradient histograms, %d parameter histograms, %d in total" % (len(grads), len(params), len(keys)))
    nmat = sum(1 for _ in model.named_parameters())
    if len(grads) != nmat or len(params) != nmat:
        print("FAIL finetune: want %d gradient and parameter histograms (one per parameter tensor)" % nmat)
        ok = False
    want_points = run_steps // 100
    short = [k for k in grads if abs(keys[k]["points"] - want_points) > 1]
    if short:
        print(
            "FAIL finetune: %s has %d points, want about %d (log_freq=100)"
            % (short[0], keys[short[0]]["points"], want_points)
        )
        ok = False
    samples = api.client.call("GET", pr._run_path() + "/system").json().get("samples") or []
    gpu = [s for s in samples if "gpu.0.util" in s.get("values", {})]
    if not gpu:
        print("FAIL finetune: no GPU metrics among %d system samples" % len(samples))
        ok = False
    else:
        util = [s["values"]["gpu.0.util"] for s in gpu]
        mem = [s["values"].get("gpu.0.memory_used_mb", 0) for s in gpu]
        power = [s["values"].get("gpu.0.power_w", 0) for s in gpu]
        print(
            "GPU metrics: %d samples over %.0f s; util %.0f-%.0f %%, memory used up to %.0f MB, power up to %.0f W"
            % (len(gpu), gpu[-1]["time"] - gpu[0]["time"], min(util), max(util), max(mem), max(power))
        )
    files = [f["name"] for f in pr.files()]
    imgs = [f for f in files if f.startswith("media/images/")]
    tables = [f for f in files if f.startswith("media/table/")]
    print(
        "files: %d in total, %d images, %d tables; diff/metadata: %s"
        % (len(files), len(imgs), len(tables), ", ".join(f for f in files if not f.startswith("media/")))
    )
    if not imgs or not tables:
        print("FAIL finetune: media files missing")
        ok = False
    if ok:
        print("PASS finetune: histograms, GPU metrics and media arrived")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""fluoro.watch() on a GPU: correctness against a real server, and its cost.

A fine-tuning-like loop (a 4-layer Transformer encoder over token ids with a
classification head, AdamW, bf16 autocast on CUDA) runs STEPS steps with
``run.watch(model, log="all", log_freq=10)``, capturing each due gradient and
parameter itself; the run is then read back through ``fluoro.Api`` and
checked. Then the same loop is timed without watch and with watch at
log_freq 100 and 10 (medians of REPEATS). Prints PASS/FAIL lines; exits 1 on
any FAIL.

    PYTHONPATH=sdk/python/src python bench/watch/gpu_check.py
    FLUORO_BASE_URL=http://host:8080 FLUORO_API_KEY=... python bench/watch/gpu_check.py

Without FLUORO_BASE_URL it starts ``bin/fluoro`` (``make build-go``, or
``--fluoro PATH``) on a free loopback port with a temporary data directory.
Without CUDA it runs on the CPU and says so (a SKIP line): the GPU path is
what it is for.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "sdk" / "python" / "src"))

import torch  # noqa: E402

import fluoro  # noqa: E402
from fluoro import _watch  # noqa: E402

FAILS: List[str] = []


def check(ok: bool, what: str) -> bool:
    print("%s: %s" % ("PASS" if ok else "FAIL", what), flush=True)
    if not ok:
        FAILS.append(what)
    return ok


class Model(torch.nn.Module):  # type: ignore[misc]
    def __init__(self, vocab: int, d: int, layers: int) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, d)
        layer = torch.nn.TransformerEncoderLayer(d, 4, 4 * d, dropout=0.1, batch_first=True)
        self.enc = torch.nn.TransformerEncoder(layer, layers)
        self.head = torch.nn.Linear(d, 2)

    def forward(self, ids: Any) -> Any:
        return self.head(self.enc(self.emb(ids)).mean(dim=1))


def start_server(binary: str, data: str) -> Any:
    key = "fluoro_gpucheck_" + "k" * 40
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLUORO_")}
    env["FLUORO_ADMIN_API_KEY"] = key
    proc = subprocess.Popen(
        [binary, "server", "--addr", "127.0.0.1:0", "--data", data],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline().decode(errors="replace")
        if not line and proc.poll() is not None:
            raise RuntimeError("fluoro server exited with %s" % proc.returncode)
        m = re.search(r"listening on (http://\S+)", line)
        if m:
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep the pipe drained
            return proc, m.group(1).rstrip("/"), key
    proc.kill()
    raise RuntimeError("fluoro server did not start in 30 s")


def batches(dev: Any, n: int, batch: int, seq: int, vocab: int) -> List[Any]:
    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(n):
        ids = torch.randint(0, vocab, (batch, seq), generator=g)
        y = (ids[:, 0] < vocab // 2).long()  # learnable: the first token says the label
        out.append((ids.to(dev), y.to(dev)))
    return out


def train(
    dev: Any,
    steps: int,
    data: List[Any],
    run: Any,
    watch: Optional[str],
    log_freq: int,
    capture: Optional[Dict[str, Dict[int, Dict[str, Any]]]] = None,
    log_every: int = 1,
    vocab: int = 8000,
) -> float:
    torch.manual_seed(0)
    model = Model(vocab, 256, 4).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    amp = dev.type == "cuda"
    if watch is not None:
        run.watch(model, log=watch, log_freq=log_freq)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(steps):
        ids, y = data[i % len(data)]
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(ids)
        due = capture is not None and (i + 1) % log_freq == 0
        if due and capture is not None:
            capture["parameters"][i] = {n: p.detach().clone() for n, p in model.named_parameters()}
        loss = torch.nn.functional.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if due and capture is not None:
            capture["gradients"][i] = {
                n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None
            }
        opt.step()
        if i % log_every == 0:  # .item() waits for the device, as a real loop's logging does
            run.log({"train/loss": loss.item()})
    if dev.type == "cuda":
        torch.cuda.synchronize()
    took = time.perf_counter() - t0
    run.unwatch()
    return took


def no_sync(dev: Any, data: List[Any]) -> None:
    """A watched pass (gradients and parameters) never waits for the GPU: torch's sync debug mode raises on any wait."""
    if dev.type != "cuda":
        print("SKIP: no CUDA, no sync check")
        return
    ids, y = data[0]
    torch.manual_seed(0)
    model = Model(8000, 256, 4).to(dev)

    def step() -> None:
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
            logits = model(ids)
        loss = torch.nn.functional.cross_entropy(logits.float(), y)
        model.zero_grad(set_to_none=True)
        loss.backward()

    def strict(n: int) -> Optional[BaseException]:
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            for _ in range(n):
                step()
        except RuntimeError as e:
            return e
        finally:
            torch.cuda.set_sync_debug_mode(0)
        return None

    e = strict(2)
    if e is not None:
        print("SKIP: this model's own step waits for the GPU (%s); no sync check" % e)
        return
    run = fluoro.init(project="gpu-check-sync", settings={"quiet": True, "console": "off", "system_interval": 0})
    run.watch(model, log="all", log_freq=1)
    step()
    step()  # the first passes set up what later ones reuse (the layout of each group of tensors)
    w = run._watcher.find(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        e = strict(3)
    msgs = [str(c.message) for c in caught if issubclass(c.category, fluoro.FluoroWarning)]
    check(
        e is None and w is not None and w.active and not msgs,
        "3 watched passes (gradients and parameters, log_freq=1) ran under torch.cuda.set_sync_debug_mode('error')"
        + ("" if e is None and not msgs else ": %s" % (e or msgs[0])),
    )
    run.finish(quiet=True)


def deterministic(dev: Any, data: List[Any]) -> None:
    """Under torch.use_deterministic_algorithms (warn_only: cuBLAS needs an env var to comply), watch
    logs every tensor with its counts taken without histc, and adds no warning of its own to torch's."""
    if dev.type != "cuda":
        print("SKIP: no CUDA, no deterministic-mode check (the CPU's histc is deterministic)")
        return
    ids, y = data[0]
    torch.manual_seed(0)
    model = Model(8000, 256, 4).to(dev)
    run = fluoro.init(project="gpu-check-det", settings={"quiet": True, "console": "off", "system_interval": 0})
    run.watch(model, log="all", log_freq=1)
    logged: List[Dict[str, Any]] = []
    real = run._log_at
    run._log_at = lambda d, step: (logged.append(d), real(d, step))[1]
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for i in range(3):
                with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
                    logits = model(ids)
                loss = torch.nn.functional.cross_entropy(logits.float(), y)
                model.zero_grad(set_to_none=True)
                loss.backward()
                run.log({"loss": loss.item()})
            run._watcher.find(model).drain()
    finally:
        torch.use_deterministic_algorithms(False)
    ours = [str(c.message) for c in caught if issubclass(c.category, fluoro.FluoroWarning)]
    ours += [str(c.message) for c in caught if "histc" in str(c.message) or "index_add" in str(c.message)]
    n = sum(1 for _ in model.parameters())
    hists = [
        (k, h) for d in logged for k, h in d.items() if k.startswith(("gradients/", "parameters/")) and "_norms" not in k
    ]
    sizes = dict((k, p.numel()) for k, p in model.named_parameters())
    bad = [k for k, h in hists if sum(h["values"]) != sizes[k.split("/", 1)[1]]]
    check(
        not ours and len(hists) == 2 * 3 * n and not bad,
        "under use_deterministic_algorithms: %d histograms (want %d), counts = sizes%s"
        % (len(hists), 2 * 3 * n, "" if not (ours or bad) else ": %s" % ((ours or bad)[0],)),
    )
    run.finish(quiet=True)


def series(r: Any, key: str) -> Dict[int, Any]:
    out = {}
    for row in r.scan_history(keys=[key]):
        v = row[key]
        out[row["_step"]] = json.loads(v) if isinstance(v, str) else v
    return out


def correctness(dev: Any, args: Any, data: List[Any]) -> None:
    devices: List[str] = []
    copies: List[int] = []
    waits: List[int] = []  # asynchronous device copies per copy (0: copied at once)
    real = _watch.begin_copy

    def spy(t: Any, sts: Any) -> Any:
        devices.extend(str(st.device) for st in sts)
        copies.append(len(sts))
        c = real(t, sts)
        waits.append(len(c.waits))
        return c

    _watch.begin_copy = spy  # type: ignore[assignment]
    cap: Dict[str, Dict[int, Dict[str, Any]]] = {"gradients": {}, "parameters": {}}
    try:
        run = fluoro.init(project="gpu-check", settings={"quiet": True, "console": "off"})
        train(dev, args.steps, data, run, "all", 10, cap)
        run.finish(quiet=True)
    finally:
        _watch.begin_copy = real  # type: ignore[assignment]
    check(bool(devices) and all(d.startswith(dev.type) for d in devices), "summaries computed on %s" % dev)
    n_due = args.steps // 10
    # parameters: one stack per forward; gradients: one per backward pass.
    check(len(copies) == 2 * n_due, "one device-to-host copy per watched pass (%d for %d)" % (len(copies), 2 * n_due))
    if dev.type == "cuda":
        check(all(w == 1 for w in waits), "every copy asynchronous (pinned memory + event): %s" % sorted(set(waits)))

    api = fluoro.Api(overrides={"base_url": args.base_url, "api_key": args.api_key})
    r = api.run("gpu-check/%s" % run.id)
    want_steps = list(range(9, args.steps, 10))
    for kind in ("gradients", "parameters"):
        ref = cap[kind]
        names = sorted(ref[want_steps[0]])
        bad: List[str] = []
        for n in names[:: max(1, len(names) // 8)]:  # a spread of layers
            rows = series(r, "%s/%s" % (kind, n))
            if sorted(rows) != want_steps:
                bad.append("%s: steps %s" % (n, sorted(rows)[:5]))
                continue
            for s in (want_steps[0], want_steps[-1]):
                h, t = rows[s], ref[s][n]
                fin = int(torch.isfinite(t).sum().item())
                if len(h["values"]) != 64 or len(_watch.bin_edges(h)) != 65 or sum(h["values"]) != fin:
                    bad.append("%s@%d: %d bins, sum %d, finite %d" % (n, s, len(h["values"]), sum(h["values"]), fin))
        check(not bad, "%s/<name>: 64-bin histograms at steps 9, 19, ..., counts = finite values %s" % (kind, bad[:3]))
        norms = series(r, "%s/_norms" % kind)
        worst = 0.0
        for s in want_steps:
            rec = norms.get(s)
            if rec is None:
                worst = math.inf
                continue
            got = dict(zip(rec["names"], rec["values"]))
            for n, t in ref[s].items():
                want = torch.linalg.vector_norm(t.float()).item()
                worst = max(worst, abs(got.get(n, math.nan) - want) / max(want, 1e-30))
        check(
            sorted(norms) == want_steps and worst < 1e-4,
            "%s/_norms at every watched step match torch.linalg.vector_norm (worst rel. error %.2g)" % (kind, worst),
        )


def nonfinite(dev: Any) -> None:
    """A gradient with NaN and -Inf in it: counted apart, the rest binned, the norm NaN."""
    run = fluoro.init(mode="offline", project="gpu-check", settings={"quiet": True, "console": "off"})
    lin = torch.nn.Linear(64, 64).to(dev)

    def poison(g: Any) -> Any:
        g = g.clone()
        g[0, :3] = math.nan
        g[1, 0] = -math.inf
        return g

    lin.weight.register_hook(poison)
    run.watch(lin, log_freq=1)
    lin(torch.randn(8, 64, device=dev)).sum().backward()
    p = dict(run._pending or {})
    run.finish(quiet=True)
    h = p.get("gradients/weight") or {}
    norms = dict(zip(p["gradients/_norms"]["names"], p["gradients/_norms"]["values"])) if p else {}
    check(
        sum(h.get("values", [])) == 64 * 64 - 4
        and h.get("nan") == 3
        and h.get("inf") == 1
        and math.isnan(norms.get("weight", 0.0)),
        "NaN/Inf in a %s gradient counted apart (nan=%s inf=%s, %s binned)"
        % (dev.type, h.get("nan"), h.get("inf"), sum(h.get("values", []))),
    )


def overhead(dev: Any, args: Any, data: List[Any]) -> None:
    variants = [("no watch", None, 0), ("gradients, log_freq=100", "gradients", 100), ("all, log_freq=10", "all", 10)]
    times: Dict[str, List[float]] = {v[0]: [] for v in variants}
    for rep in range(args.repeats + 1):
        for label, log, freq in variants if rep % 2 else list(reversed(variants)):
            run = fluoro.init(project="gpu-check-timing", settings={"quiet": True, "console": "off"})
            t = train(dev, args.steps, data, run, log, freq or 100, log_every=10)
            run.finish(quiet=True)
            if rep > 0:  # the first round warms up
                times[label].append(t)
    base = statistics.median(times["no watch"])
    print("timing: %d steps, median of %d, %s" % (args.steps, args.repeats, dev))
    for label, _, _ in variants:
        m = statistics.median(times[label])
        print(
            "  %-26s %.3f s  %.2f ms/step  overhead %+.2f %%  (%s)"
            % (label, m, 1e3 * m / args.steps, 100 * (m - base) / base, ", ".join("%.3f" % t for t in times[label]))
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--fluoro", default=str(REPO / "bin" / "fluoro"))
    args = ap.parse_args()
    print("torch %s, CUDA %s" % (torch.__version__, torch.cuda.is_available()), flush=True)
    if torch.cuda.is_available():
        dev = torch.device("cuda")
        print("device: %s" % torch.cuda.get_device_name(0))
    else:
        dev = torch.device("cpu")
        print("SKIP: no CUDA here; running the same checks on the CPU")
    proc = None
    tmp = tempfile.mkdtemp(prefix="fluoro-gpu-check-")
    args.base_url = os.environ.get("FLUORO_BASE_URL", "")
    args.api_key = os.environ.get("FLUORO_API_KEY", "")
    try:
        if not args.base_url:
            proc, args.base_url, args.api_key = start_server(args.fluoro, os.path.join(tmp, "data"))
            print("started %s at %s" % (args.fluoro, args.base_url))
        os.environ["FLUORO_BASE_URL"], os.environ["FLUORO_API_KEY"] = args.base_url, args.api_key
        os.chdir(tmp)
        data = batches(dev, 16, args.batch, args.seq, 8000)
        correctness(dev, args, data)
        nonfinite(dev)
        no_sync(dev, data)
        deterministic(dev, data)
        overhead(dev, args, data)
    except Exception as e:
        check(False, "the check itself raised %r" % (e,))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=15)
        shutil.rmtree(tmp, ignore_errors=True)
    print("RESULT: %s" % ("PASS" if not FAILS else "FAIL (%d): %s" % (len(FAILS), "; ".join(FAILS))))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())

"""Controls for steptimes.py: what each thread of this process did, and loads that mimic Fluoro's.

Fluoro's cost to a launch-bound training loop could come from three places,
and each control below reproduces one of them without the SDK in the loop:

- ``ghost``: Python threads that wake and hold the GIL as the SDK's threads
  do (GHOST, "rate Hz:work ms:blocking calls" per thread, the work times
  GHOST_SCALE), with nothing else of Fluoro: the GIL hand-offs alone. Each
  wake splits its work around that many short blocking calls (0.2 ms
  sleeps, as a socket read or a file write would be), and each one hands
  the GIL back and takes it again: on the development machine the SDK's
  threads ran 3-5 time slices a batch.
- ``server-load``: another process logs to the same server at the training
  loop's rate (a row a step and a histogram row every 2 s): the server's and
  a sender's CPU use on the machine, with no thread in this process.
- ``hook`` (in steptimes.py): a row a step and watch()'s forward hook,
  with a log_freq too large for it ever to summarise anything.

``Threads`` snapshots each thread's CPU time (schedstat), time slices, and
voluntary and involuntary context switches (/proc/self/task), so a block
shows how often the training thread gave up the CPU, and how much CPU the
SDK's threads took, per second; and the interpreter's garbage collections
(count and time, any thread), which more allocation would bring on.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

GHOST = os.environ.get("GHOST", "5:0.7:4,5:0.8:3,1:0.7:1")  # fluoro-send, fluoro-spool, fluoro-system on the dev machine
GHOST_SCALE = float(os.environ.get("GHOST_SCALE", "3"))


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _thread_stat(tid: int) -> Tuple[int, int, int, int]:
    """(ns on the CPU, time slices, voluntary, involuntary context switches) of one thread; zeros if unknown."""
    sched = _read("/proc/self/task/%d/schedstat" % tid).split()
    vol = invol = 0
    for line in _read("/proc/self/task/%d/status" % tid).splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            vol = int(line.split()[1])
        elif line.startswith("nonvoluntary_ctxt_switches:"):
            invol = int(line.split()[1])
    if len(sched) < 3:
        return 0, 0, vol, invol
    return int(sched[0]), int(sched[2]), vol, invol


class Threads:
    """Per-thread counters between start() and stop(), keyed by thread name (SDK threads: fluoro-*)."""

    def __init__(self) -> None:
        self.t0 = 0.0
        self.before: Dict[int, Tuple[str, Tuple[int, int, int, int]]] = {}
        self.seconds = 0.0
        self.delta: Dict[str, List[int]] = {}
        self.gcs = 0
        self.gc_s = 0.0
        self._gc_t0 = 0.0

    def _gc(self, phase: str, info: Dict[str, Any]) -> None:
        if phase == "start":
            self._gc_t0 = time.perf_counter()
        else:
            self.gcs += 1
            self.gc_s += time.perf_counter() - self._gc_t0

    def _snap(self) -> Dict[int, Tuple[str, Tuple[int, int, int, int]]]:
        out = {}
        for t in threading.enumerate():
            tid = getattr(t, "native_id", None)
            if tid is not None:
                out[tid] = (t.name, _thread_stat(tid))
        return out

    def start(self) -> None:
        self.t0 = time.perf_counter()
        self.before = self._snap()
        gc.callbacks.append(self._gc)

    def stop(self) -> None:
        after = self._snap()
        gc.callbacks.remove(self._gc)
        self.seconds = time.perf_counter() - self.t0
        self.delta = {}
        for tid, (name, b) in after.items():
            a = self.before.get(tid, (name, (0, 0, 0, 0)))[1]  # a thread started during the block counts from zero
            d = [x - y for x, y in zip(b, a)]
            acc = self.delta.setdefault(name, [0, 0, 0, 0])
            for i, x in enumerate(d):
                acc[i] += x

    def main(self) -> List[int]:
        return self.delta.get("MainThread", [0, 0, 0, 0])

    def others_cpu_ms_per_s(self) -> float:
        """CPU milliseconds per second of every thread but the main one (the SDK's, torch's, ghosts)."""
        ns = sum(d[0] for name, d in self.delta.items() if name != "MainThread")
        return ns / 1e6 / max(self.seconds, 1e-9)

    def sdk(self) -> str:
        parts = []
        for name in sorted(self.delta):
            if name.startswith("fluoro-") or name.startswith("ghost-"):
                d = self.delta[name]
                parts.append("%s %.2f ms/s %.0f wakes/s" % (name, d[0] / 1e6 / self.seconds, d[1] / self.seconds))
        return ", ".join(parts)


class Ghosts:
    """Threads that wake at a rate and hold the GIL for a while each time (pure Python work), as the SDK's do."""

    def __init__(self, spec: str = GHOST, scale: float = GHOST_SCALE) -> None:
        self.plan: List[Tuple[float, float, int]] = []
        for part in spec.split(","):
            hz, ms, calls = (part.split(":") + ["1"])[:3]
            self.plan.append((float(hz), float(ms) * scale / 1e3, max(1, int(calls))))
        self.stop_ev = threading.Event()
        self.threads: List[threading.Thread] = []

    def _main(self, hz: float, hold: float, calls: int) -> None:
        period = 1.0 / hz
        nxt = time.monotonic()
        while True:
            nxt += period
            if self.stop_ev.wait(max(0.0, nxt - time.monotonic())):
                return
            for c in range(calls):
                if c:
                    time.sleep(0.0002)  # a blocking call: the GIL goes, and must be taken back
                end = time.thread_time() + hold / calls
                x = 0
                while time.thread_time() < end:  # the GIL is held throughout, bar the interpreter's switch interval
                    for i in range(200):
                        x += i * i

    def start(self) -> "Ghosts":
        for i, (hz, hold, calls) in enumerate(self.plan):
            t = threading.Thread(target=self._main, args=(hz, hold, calls), name="ghost-%d" % i, daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def stop(self) -> None:
        self.stop_ev.set()
        for t in self.threads:
            t.join()

    def describe(self) -> str:
        return ", ".join("%.0f Hz x %.2f ms in %d parts" % (hz, 1e3 * hold, calls) for hz, hold, calls in self.plan)


_LOAD = r"""
import os, sys, time
import fluoro
rate = float(sys.argv[1])
run = fluoro.init(project="gpu-server-load", settings=fluoro.Settings(console="off", system_interval=0, quiet=True))
hist = {"gradients/layer%d" % i: fluoro.Histogram(list(range(i, i + 200)), num_bins=64) for i in range(154)}
t0 = time.monotonic()
step = 0
try:
    while True:
        step += 1
        row = {"train/loss": 1.0 / step, "train/lr": 3e-4}
        if step % 100 == 0:
            row.update(hist)
        run.log(row)
        d = t0 + step / rate - time.monotonic()
        if d > 0:
            time.sleep(d)
except KeyboardInterrupt:
    pass
run.finish(quiet=True)
"""


class ServerLoad:
    """Another process logging to FLUORO_BASE_URL at rate rows/s (and 154 histograms every 100 rows)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.proc: Optional[subprocess.Popen[Any]] = None

    def start(self) -> "ServerLoad":
        self.proc = subprocess.Popen([sys.executable, "-c", _LOAD, str(self.rate)], env=dict(os.environ))
        time.sleep(1.0)  # its init, before the block is timed
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        import signal

        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

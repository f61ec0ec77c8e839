"""What every workload shares: the servers, fresh directories, worker processes."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time
from dataclasses import dataclass, field

import servers

HERE = pathlib.Path(__file__).resolve().parent
WORKER = HERE / "worker.py"


@dataclass
class Ctx:
    repo: pathlib.Path
    tmp: pathlib.Path
    size: dict[str, dict[str, int]]
    peers: list[str]
    unavailable: dict[str, str]  # peer -> why (not installable, …)
    fluoro: servers.Fluoro | None = None
    mlflow: servers.Mlflow | None = None
    _n: int = field(default=0)

    def has(self, peer: str) -> bool:
        return peer in self.peers and peer not in self.unavailable

    def fresh(self, name: str) -> pathlib.Path:
        self._n += 1
        d = self.tmp / f"{self._n:03d}-{name}"
        d.mkdir(parents=True)
        return d

    def fresh_fluoro(self) -> servers.Fluoro:
        s = servers.Fluoro(self.repo / "bin" / "fluoro", self.fresh("fluoro-data"))
        s.start()
        return s

    def env(self, peer: str, fluoro: servers.Fluoro | None = None) -> dict[str, str]:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.update((fluoro or self.fluoro).sdk_env())  # type: ignore[union-attr]
        if self.mlflow:
            env["MLFLOW_TRACKING_URI"] = self.mlflow.url
        return env

    def popen(self, job: str, args: dict, env: dict[str, str]) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, str(WORKER), job, json.dumps(args)], cwd=args["root"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def spawn(self, job: str, args: dict, timeout: float, env: dict[str, str] | None = None) -> dict | str:
        """Run one worker; its RESULT dict, or a string saying why there is none."""
        env = env or self.env(args["peer"])
        t0 = time.perf_counter()
        p = self.popen(job, args, env)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            return f"did not finish in {timeout:.0f} s"
        res = result(out)
        if res is None:
            tail = (err.strip().splitlines() or ["no output"])[-1]
            return f"error: {tail[:120]}"
        res["wall_s"] = time.perf_counter() - t0
        return res


def result(out: str) -> dict | None:
    for line in reversed(out.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return None

"""The servers under test: the real bin/fluoro and `mlflow server` on SQLite,
both on 127.0.0.1 with a temporary data directory, plus a tiny HTTP client."""

from __future__ import annotations

import http.client
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.parse

FLUORO_KEY = "fluoro-bench" + "0" * 36 + "key"
ENTITY = "admin"


class Http:
    """Keep-alive JSON client for one base URL (one connection, not thread-safe)."""

    def __init__(self, base: str, headers: dict[str, str] | None = None) -> None:
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 80
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=300)

    def call(self, method: str, path: str, body: object = None) -> object:
        data = None if body is None else json.dumps(body).encode()
        for attempt in range(2):
            try:
                self.conn.request(method, path, data, self.headers)
                res = self.conn.getresponse()
                raw = res.read()
                break
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=300)
                if attempt:
                    raise
        if res.status // 100 != 2:
            raise RuntimeError(f"{method} {path}: {res.status} {raw[:300]!r}")
        try:
            return json.loads(raw) if raw else None
        except json.JSONDecodeError:
            return raw.decode(errors="replace")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Fluoro:
    """bin/fluoro on a free loopback port; `url` parsed from its stdout."""

    def __init__(self, binary: pathlib.Path, data: pathlib.Path, addr: str = "127.0.0.1:0") -> None:
        self.binary, self.data, self.addr = binary, data, addr
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> float:
        """Start and return seconds until it listened (on `addr`; a restart keeps the port)."""
        self.data.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        env = {**os.environ, "FLUORO_ADMIN_API_KEY": FLUORO_KEY}
        self.proc = subprocess.Popen(
            [str(self.binary), "server", "--addr", self.addr, "--data", str(self.data), "--log-level", "warn"],
            stdout=subprocess.PIPE, text=True, env=env,
        )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            m = re.search(r"listening on (http://\S+)", line)
            if m:
                self.url = m.group(1)
                self.addr = urllib.parse.urlsplit(self.url).netloc  # so that a restart binds the same port
                break
        else:
            raise RuntimeError("fluoro exited before listening")
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        return time.perf_counter() - t0

    def client(self) -> Http:
        return Http(self.url, {"Authorization": "Bearer " + FLUORO_KEY})

    def wait_ready(self, timeout: float = 60) -> None:
        """Poll /readyz until it answers 200 (the store is open)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                Http(self.url).call("GET", "/readyz")
                return
            except (OSError, RuntimeError, http.client.HTTPException):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"fluoro not ready after {timeout:.0f} s") from None
                time.sleep(0.01)

    def sdk_env(self) -> dict[str, str]:
        return {"FLUORO_BASE_URL": self.url, "FLUORO_API_KEY": FLUORO_KEY, "FLUORO_ENTITY": ENTITY,
                "FLUORO_QUIET": "true"}

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()


class Mlflow:
    """`mlflow server` with a SQLite backend store, one worker, on 127.0.0.1."""

    def __init__(self, venv_bin: pathlib.Path, data: pathlib.Path) -> None:
        self.venv_bin, self.data = venv_bin, data
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.db = data / "mlflow.db"

    def start(self) -> float:
        self.data.mkdir(parents=True, exist_ok=True)
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        t0 = time.perf_counter()
        self.log = open(self.data / "server.log", "w")
        self.proc = subprocess.Popen(
            [str(self.venv_bin / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{self.db}",
             "--default-artifact-root", str(self.data / "artifacts"), "--host", "127.0.0.1",
             "--port", str(port), "--workers", "1"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited; see {self.data / 'server.log'}")
            try:
                Http(self.url).call("GET", "/health")
                return time.perf_counter() - t0
            except (OSError, RuntimeError):
                if time.monotonic() > deadline:
                    raise RuntimeError("mlflow server not up after 120 s") from None
                time.sleep(0.2)

    def client(self) -> Http:
        return Http(self.url)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()


def dir_size(path: pathlib.Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


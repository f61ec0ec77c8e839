"""Shared fixtures: an isolated environment, and the real fluoro server for e2e tests.

The e2e fixtures build ``bin/fluoro`` with ``go build`` when it is missing or
older than a Go source file (set FLUORO_BIN to use another binary), start it
on a free loopback port with a temporary data directory, and stop it after.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest

from fakeserver import FakeServer

REPO = Path(__file__).resolve().parents[3]
SRC = Path(__file__).resolve().parents[1] / "src"
ADMIN_KEY = "fluoro_test_" + "k" * 40


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No FLUORO_* settings or login file from the machine leak into a test."""
    for k in list(os.environ):
        if k.startswith("FLUORO_TEST_") or k == "FLUORO_BIN":
            continue  # knobs for the tests themselves
        if k.startswith("FLUORO_") or k in (
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "http_proxy",
            "https_proxy",
            "ALL_PROXY",
            "all_proxy",
        ):
            monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("FLUORO_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    yield
    import fluoro._run as r

    cur = r.current_run()
    if cur is not None:
        cur._finish(0, None, quiet=True, timeout=2.0)


def _newest_go_mtime() -> float:
    newest = 0.0
    for d in ("cmd", "internal"):
        for p in (REPO / d).rglob("*"):
            if p.suffix in (".go", ".sql", ".json") and p.is_file():
                newest = max(newest, p.stat().st_mtime)
    for f in ("go.mod", "go.sum"):
        if (REPO / f).exists():
            newest = max(newest, (REPO / f).stat().st_mtime)
    return newest


_build_lock = threading.Lock()


def server_binary() -> Optional[str]:
    """Path of a fresh fluoro binary, or None when it cannot be had."""
    env = os.environ.get("FLUORO_TEST_BIN") or os.environ.get("FLUORO_BIN")
    if env:
        return env
    out = REPO / "bin" / "fluoro"
    with _build_lock:
        if out.exists() and out.stat().st_mtime >= _newest_go_mtime():
            return str(out)
        if shutil.which("go") is None or not (REPO / "go.mod").exists():
            return str(out) if out.exists() else None
        out.parent.mkdir(exist_ok=True)
        tmp = out.with_name(".fluoro-build-%d" % os.getpid())
        r = subprocess.run(
            ["go", "build", "-o", str(tmp), "./cmd/fluoro"], cwd=REPO, capture_output=True, text=True, timeout=600
        )
        if r.returncode != 0:
            pytest.fail("go build failed:\n" + r.stderr[-4000:])
        os.replace(tmp, out)
        return str(out)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A real `fluoro server` process on loopback."""

    def __init__(self, binary: str, data_dir: Path, extra_env: Optional[Dict[str, str]] = None) -> None:
        self.binary = binary
        self.data_dir = data_dir
        self.extra_env = dict(extra_env or {})  # FLUORO_* settings for the server (e.g. FLUORO_ALERT_WEBHOOK)
        self.proc: Optional[subprocess.Popen] = None
        self.port = 0
        self.url = ""
        self.key = ADMIN_KEY
        self.log = data_dir / "server.log"

    def start(self, port: int = 0) -> "Server":
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLUORO_")}
        env["FLUORO_ADMIN_API_KEY"] = self.key
        env.update(self.extra_env)
        addr = "127.0.0.1:%d" % (port or 0)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [self.binary, "server", "--addr", addr, "--data", str(self.data_dir)],
            stdout=subprocess.PIPE,
            stderr=logf,
            env=env,
        )
        logf.close()
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline().decode(errors="replace")
            if not line:
                if self.proc.poll() is not None:
                    raise RuntimeError("fluoro server exited: %s" % self.log.read_text()[-2000:])
                continue
            m = re.search(r"listening on (http://\S+)", line)
            if m:
                self.url = m.group(1).rstrip("/")
                self.port = int(self.url.rsplit(":", 1)[1])
                threading.Thread(target=self._drain, daemon=True).start()
                return self
        raise RuntimeError("fluoro server did not start in 20s")

    def _drain(self) -> None:
        p = self.proc
        if p is not None and p.stdout is not None:
            for _ in p.stdout:
                pass

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        """Start again on the same port and data directory."""
        port = self.port
        for _ in range(50):
            try:
                self.start(port)
                return
            except RuntimeError:
                time.sleep(0.2)
        raise RuntimeError("could not restart the server on port %d" % port)

    def env(self) -> Dict[str, str]:
        """Environment for a child process that logs to this server."""
        e = {k: v for k, v in os.environ.items() if not k.startswith("FLUORO_")}
        e.update(
            FLUORO_BASE_URL=self.url,
            FLUORO_API_KEY=self.key,
            FLUORO_ENTITY="admin",
            FLUORO_CONFIG_DIR=os.environ.get("FLUORO_CONFIG_DIR", ""),
            PYTHONPATH=str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        )
        return e


@pytest.fixture(scope="session")
def fluoro_binary() -> str:
    b = server_binary()
    if b is None:
        pytest.skip("no fluoro binary and no Go toolchain to build one")
    return b


@pytest.fixture(scope="session")
def server(fluoro_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the session; tests use their own project names."""
    s = Server(fluoro_binary, tmp_path_factory.mktemp("server")).start()
    yield s
    s.stop()


@pytest.fixture
def own_server(fluoro_binary: str, tmp_path: Path) -> Iterator[Server]:
    """A server this test may stop and restart."""
    s = Server(fluoro_binary, tmp_path / "server").start()
    yield s
    s.stop()


@pytest.fixture
def online(server: Server, monkeypatch: pytest.MonkeyPatch) -> Server:
    """Point FLUORO_* at the session server."""
    monkeypatch.setenv("FLUORO_BASE_URL", server.url)
    monkeypatch.setenv("FLUORO_API_KEY", server.key)
    return server


def project_name(request: pytest.FixtureRequest) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", request.node.name)[:60] + "-" + secrets.token_hex(2)


@pytest.fixture
def project(request: pytest.FixtureRequest) -> str:
    return project_name(request)


def run_script(
    code: str, env: Dict[str, str], cwd: Path, timeout: float = 60, args: Optional[List[str]] = None
) -> subprocess.CompletedProcess:
    path = cwd / ("script_%s.py" % secrets.token_hex(3))
    path.write_text(code)
    return subprocess.run(
        [sys.executable, str(path)] + (args or []), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def _default_signals() -> None:
    # A CI runner may start us with SIGTERM/SIGINT ignored, and children
    # inherit that; the SDK rightly leaves an ignored SIGTERM alone, so give the
    # script the disposition a scheduler's SIGTERM would meet.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)


def spawn_script(code: str, env: Dict[str, str], cwd: Path, *, ignore_sigterm: bool = False) -> subprocess.Popen:
    path = cwd / ("script_%s.py" % secrets.token_hex(3))
    path.write_text(code)

    def prepare() -> None:
        _default_signals()
        if ignore_sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)

    return subprocess.Popen(
        [sys.executable, str(path)],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=prepare,
    )


@pytest.fixture
def fake() -> FakeServer:
    """The in-memory fake server (fakeserver.py)."""
    return FakeServer()

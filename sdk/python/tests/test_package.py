"""The package's public surface and its import-time behaviour."""

from __future__ import annotations

import os
import subprocess
import sys
import types

import pytest

import fluoro

from conftest import SRC

EXPECTED_ALL = {
    "AlertLevel",
    "Audio",
    "AuthError",
    "Api",
    "CommError",
    "Config",
    "ConfigError",
    "FluoroError",
    "FluoroWarning",
    "HTTPTransport",
    "Histogram",
    "Html",
    "Image",
    "MetricDefinition",
    "MockTransport",
    "Plotly",
    "Request",
    "Response",
    "Run",
    "Settings",
    "SpoolError",
    "Summary",
    "Table",
    "Transport",
    "TransportError",
    "UsageError",
    "Video",
    "__version__",
    "alert",
    "config",
    "define_metric",
    "finish",
    "init",
    "log",
    "login",
    "mark_preempting",
    "plot",
    "plot_table",
    "run",
    "save",
    "summary",
    "sync",
    "unwatch",
    "watch",
}


def test_all_is_curated() -> None:
    # Adding to the public API is a decision: update this list with it.
    assert set(fluoro.__all__) == EXPECTED_ALL
    assert len(fluoro.__all__) == len(set(fluoro.__all__))


def test_every_public_name_resolves() -> None:
    for name in fluoro.__all__:
        getattr(fluoro, name)


def test_nothing_public_outside_all() -> None:
    public = {n for n in vars(fluoro) if not n.startswith("_")}
    leaked = public - set(fluoro.__all__)
    assert not leaked, "public names missing from __all__ (or to be made private): %s" % sorted(leaked)


def test_modules_are_private() -> None:
    pkg_dir = os.path.dirname(fluoro.__file__)
    mods = [f[:-3] for f in os.listdir(pkg_dir) if f.endswith(".py") and f != "__init__.py"]
    assert mods and all(m.startswith("_") for m in mods), mods


def test_py_typed_is_shipped() -> None:
    assert os.path.exists(os.path.join(os.path.dirname(fluoro.__file__), "py.typed"))


def test_exception_tree() -> None:
    assert issubclass(fluoro.UsageError, fluoro.FluoroError)
    assert issubclass(fluoro.ConfigError, fluoro.FluoroError)
    assert issubclass(fluoro.AuthError, fluoro.CommError)
    assert issubclass(fluoro.CommError, fluoro.FluoroError)
    assert issubclass(fluoro.FluoroWarning, UserWarning)


IMPORT_PROBE = r"""
import atexit, json, logging, os, signal, sys, threading
before = dict(threads=threading.active_count(), fds=len(os.listdir("/proc/self/fd")),
              handlers=len(logging.root.handlers), hook=sys.excepthook, exit=sys.exit,
              term=signal.getsignal(signal.SIGTERM), atexit=atexit._ncallbacks(), cwd=sorted(os.listdir(".")))
import fluoro
after = dict(threads=threading.active_count(), fds=len(os.listdir("/proc/self/fd")),
             handlers=len(logging.root.handlers), hook=sys.excepthook, exit=sys.exit,
             term=signal.getsignal(signal.SIGTERM), atexit=atexit._ncallbacks(), cwd=sorted(os.listdir(".")))
heavy = [m for m in ("numpy", "torch", "pandas", "http.client", "ssl", "urllib.request", "logging.handlers")
         if m in sys.modules and m not in sys.argv]
print(json.dumps({"same": {k: before[k] == after[k] for k in before}, "heavy": heavy}))
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_import_has_no_side_effects(tmp_path) -> None:
    env = dict(os.environ, PYTHONPATH=str(SRC))
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    import json

    res = json.loads(out.stdout)
    assert all(res["same"].values()), res["same"]
    assert res["heavy"] == [], "imported at import time: %s" % res["heavy"]


def test_calls_before_init_raise_clearly() -> None:
    assert fluoro.run is None
    with pytest.raises(fluoro.UsageError, match=r"fluoro\.init\(\)"):
        fluoro.log({"a": 1})
    with pytest.raises(fluoro.UsageError, match=r"fluoro\.init\(\)"):
        fluoro.config["lr"] = 1
    with pytest.raises(fluoro.UsageError, match=r"fluoro\.init\(\)"):
        _ = fluoro.summary["x"]
    with pytest.raises(fluoro.UsageError, match=r"fluoro\.init\(\)"):
        fluoro.define_metric("x", summary="max")
    with pytest.raises(fluoro.UsageError):
        _ = fluoro.config.lr
    with pytest.raises(fluoro.UsageError, match=r"fluoro\.init\(\)"):
        fluoro.alert("t", "x")
    fluoro.finish()  # no run: nothing to do
    assert "init" in repr(fluoro.config)


def test_import_as_wandb_shape() -> None:
    wandb = fluoro
    assert callable(wandb.init) and callable(wandb.log) and callable(wandb.finish)
    assert isinstance(wandb, types.ModuleType)


def test_sdk_threads_leave_signals_to_the_main_thread() -> None:
    import signal
    import sys

    from fluoro import _threads

    if sys.platform == "win32":  # pragma: no cover
        return
    seen: list = []
    _threads.start(lambda: seen.append(signal.pthread_sigmask(signal.SIG_BLOCK, [])), "probe").join(5)
    assert seen and {signal.SIGTERM, signal.SIGINT} <= set(seen[0])
    assert signal.SIGTERM not in signal.pthread_sigmask(signal.SIG_BLOCK, [])  # the caller's mask is restored

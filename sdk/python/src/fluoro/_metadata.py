"""The run's environment: host, OS, Python, program, git, CPUs, GPUs, packages.

``snapshot()`` runs on the caller's thread at ``init()`` and only copies what
may change later (arguments, working directory): microseconds. ``collect()``
does the slow part (``platform``, ``importlib.metadata``, the GPU models) on
the ``fluoro-system`` thread. The result is handed to the run's file sender
(``_files``): saved as ``<run dir>/files/fluoro-metadata.json``, indexed in the
spool, uploaded live or by ``fluoro sync``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Dict, List, Optional, Tuple

FILE_NAME = "fluoro-metadata.json"
MAX_PACKAGES = 5000
MAX_ARG = 4096  # characters kept of one argument
MAX_ARGS = 1000


def snapshot() -> Dict[str, Any]:
    """What must be read at init(): the program and its arguments, the working directory."""
    argv = list(sys.argv) if sys.argv else []
    d: Dict[str, Any] = {
        "program": argv[0] if argv else "",
        "args": [a[:MAX_ARG] for a in argv[1:MAX_ARGS]],
        "executable": sys.executable,
    }
    try:
        d["cwd"] = os.getcwd()
    except OSError:  # pragma: no cover - the directory was removed
        pass
    return d


def _name_version(dist: Any) -> Tuple[str, str]:
    """A distribution's Name and Version from its metadata file's headers.

    ``dist.metadata`` runs the email parser over the whole file (long
    descriptions included) and ``dist.version`` does it again: ~0.5 ms a
    package, hundreds of ms on this thread, which shares the GIL with the
    training loop, for a machine with a few hundred packages. The two
    headers come before the first blank line.
    """
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    name = version = ""
    for line in text.split("\n\n", 1)[0].splitlines():
        if line[:5].lower() == "name:" and not name:
            name = line[5:].strip()
        elif line[:8].lower() == "version:" and not version:
            version = line[8:].strip()
        if name and version:
            break
    if not (name and version):  # an unusual file: let importlib parse it
        name, version = dist.metadata["Name"] or "", dist.version or ""
    return name, version


def packages(limit: int = MAX_PACKAGES) -> List[str]:
    """Installed distributions as name==version, sorted (the first on sys.path wins)."""
    import importlib.metadata as md

    seen: Dict[str, str] = {}
    for dist in md.distributions():
        try:
            name, version = _name_version(dist)
        except Exception:
            continue
        if not name:
            continue
        key = name.lower().replace("_", "-")
        if key not in seen:
            seen[key] = "%s==%s" % (name, version)
    out = sorted(seen.values(), key=str.lower)
    return out[:limit]


def _mem_total() -> Optional[float]:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(float(line.split()[1]) / (1024 * 1024), 2)
    except (OSError, ValueError, IndexError):
        pass
    return None


def collect(base: Dict[str, Any], gpus: Any = None) -> Dict[str, Any]:
    """The full record: ``base`` (snapshot() plus what init() knew) and the slow parts."""
    import platform
    import socket

    d: Dict[str, Any] = {}
    try:
        d["host"] = socket.gethostname()
    except OSError:  # pragma: no cover
        pass
    try:
        d["os"] = platform.platform()
    except Exception:  # pragma: no cover
        d["os"] = sys.platform
    d["python"] = platform.python_version()
    d["python_implementation"] = platform.python_implementation()
    d.update(base)
    d["cpu_count"] = os.cpu_count()
    if hasattr(os, "sched_getaffinity"):
        try:
            d["cpu_count_usable"] = len(os.sched_getaffinity(0))
        except OSError:  # pragma: no cover
            pass
    mem = _mem_total()
    if mem is not None:
        d["memory_total_gb"] = mem
    cvd = os.environ.get("CUDA_VISIBLE_DEVICES")
    if cvd is not None:
        d["cuda_visible_devices"] = cvd
    info: List[Dict[str, Any]] = []
    if gpus is not None:
        try:
            info = list(gpus.info())
        except Exception:
            info = []
    d["gpu_count"] = len(info)
    if info:
        d["gpus"] = info
        names = sorted({str(g.get("name")) for g in info if g.get("name")})
        if names:
            d["gpu"] = ", ".join(names)
    for var in ("SLURM_JOB_ID", "SLURM_JOB_NAME", "SLURM_NODELIST"):
        if os.environ.get(var):
            d.setdefault("slurm", {})[var[6:].lower()] = os.environ[var]
    try:
        pk = packages()
        d["packages"] = pk
    except Exception:  # pragma: no cover - a broken site-packages
        pass
    return d


def dumps(meta: Dict[str, Any]) -> bytes:
    """The record as saved in fluoro-metadata.json."""
    return json.dumps(meta, indent=2, sort_keys=False, default=str).encode() + b"\n"


def write(run_dir: str, meta: Dict[str, Any]) -> Optional[bytes]:
    """Save the record under <run dir>/files/ (kept offline, for `fluoro sync` and people); returns its bytes."""
    data = dumps(meta)
    try:
        d = os.path.join(run_dir, "files")
        os.makedirs(d, exist_ok=True)
        tmp = os.path.join(d, "." + FILE_NAME + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, os.path.join(d, FILE_NAME))
    except OSError:
        pass
    return data

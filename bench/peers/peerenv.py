"""The harness's own virtualenv (bench/.venv-peers): created on first use from
requirements.txt, Fluoro's SDK reinstalled from sdk/python on every run."""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
REQS = HERE / "requirements.txt"


def _pip(venv: pathlib.Path, *args: str) -> None:
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    "--disable-pip-version-check", *args], check=True)


def ensure(venv: pathlib.Path, sdk: pathlib.Path) -> None:
    """Re-exec this program inside `venv`, creating or updating it first."""
    if pathlib.Path(sys.prefix).resolve() == venv.resolve():
        return
    stamp = venv / ".requirements.sha256"
    want = hashlib.sha256(REQS.read_bytes()).hexdigest()
    if not (venv / "bin" / "python").exists():
        print(f"creating {venv}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    if not stamp.exists() or stamp.read_text() != want:
        print(f"installing the peers from {REQS.name} (minutes, once)", file=sys.stderr)
        missing = {}
        try:
            _pip(venv, "-r", str(REQS))
        except subprocess.CalledProcessError:  # install one by one; report what fails
            for req in requirements():
                try:
                    _pip(venv, req)
                except subprocess.CalledProcessError:
                    missing[req.split("==")[0]] = f"not installable ({req})"
        (venv / "unavailable.json").write_text(json.dumps(missing))
        stamp.write_text(want)
    _pip(venv, "--no-deps", "--force-reinstall", str(sdk))
    py = str(venv / "bin" / "python")
    os.execv(py, [py, str(HERE), *sys.argv[1:]])


def requirements() -> list[str]:
    lines = (ln.split("#")[0].strip() for ln in REQS.read_text().splitlines())
    return [ln for ln in lines if ln]


def unavailable() -> dict[str, str]:
    """Peers whose package could not be installed, by peer name."""
    f = pathlib.Path(sys.prefix) / "unavailable.json"
    raw = json.loads(f.read_text()) if f.exists() else {}
    return {("tensorboardX" if k.lower().startswith("tensorboard") else k): v for k, v in raw.items()}

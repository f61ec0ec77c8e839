"""Settings: arguments, then FLUORO_* environment variables, then the login file.

``resolve()`` is the one place that decides a setting's value. A value given
to ``init()`` wins over one in a ``Settings`` object, which wins over the
environment, which wins over the file written by ``fluoro.login()``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Dict, Mapping, Optional, Union

from ._errors import UsageError
from ._transport import Transport

DEFAULT_BASE_URL = "http://127.0.0.1:8080"
DEFAULT_PROJECT = "uncategorized"

# Environment variable for each setting that can come from the environment.
ENV = {
    "base_url": "FLUORO_BASE_URL",
    "api_key": "FLUORO_API_KEY",
    "mode": "FLUORO_MODE",
    "project": "FLUORO_PROJECT",
    "entity": "FLUORO_ENTITY",
    "dir": "FLUORO_DIR",
    "run_id": "FLUORO_RUN_ID",
    "resume": "FLUORO_RESUME",
    "finish_timeout": "FLUORO_FINISH_TIMEOUT",
    "quiet": "FLUORO_QUIET",
    "system_interval": "FLUORO_SYSTEM_INTERVAL",
    "console": "FLUORO_CONSOLE",
    "heartbeat_interval": "FLUORO_HEARTBEAT_INTERVAL",
}

_MODES = {"online": "online", "run": "online", "offline": "offline", "dryrun": "offline", "disabled": "disabled"}


@dataclasses.dataclass
class Settings:
    """Every knob of the SDK. Unset fields (``None``) are filled by ``resolve``.

    Transport tuning has safe defaults; the ones users change are
    ``base_url``, ``api_key``, ``mode``, ``project``, ``entity`` and ``dir``.
    """

    base_url: Optional[str] = None
    api_key: Optional[str] = None
    mode: Optional[str] = None  # online, offline or disabled
    project: Optional[str] = None
    entity: Optional[str] = None
    dir: Optional[str] = None  # runs go to <dir>/fluoro/run-<time>-<id>/
    run_id: Optional[str] = None
    resume: Union[None, bool, str] = None

    batch_interval: Optional[float] = None  # seconds a logged row may wait before it is sent (0.2)
    batch_max_points: Optional[int] = None  # values per batch before it is cut early (100k)
    segment_bytes: Optional[int] = None  # spool segment size before a new one starts (4 MiB)
    max_queued_rows: Optional[int] = None  # rows waiting for the spool thread before log() yields (100k)
    send_cache_bytes: Optional[int] = None  # spooled bytes also kept in RAM for sending (32 MiB)
    retry_backoff: Optional[float] = None  # first retry delay in seconds (0.25)
    retry_max_backoff: Optional[float] = None  # longest retry delay in seconds (5)
    http_timeout: Optional[float] = None  # seconds per request (30)
    finish_timeout: Optional[float] = None  # seconds finish() waits for the server (120)
    heartbeat_interval: Optional[float] = None  # seconds without a batch before an empty one says the run lives (30)
    spool_fsync: Optional[bool] = None  # fsync each spooled batch: survive power loss, not just crashes
    quiet: Optional[bool] = None  # print only warnings
    handle_signals: Optional[bool] = None  # mark the run killed on SIGTERM (True)
    git: Optional[bool] = None  # record the git commit, branch and remote (True)
    system_interval: Optional[float] = None  # seconds between system-metric samples (2); 0 turns them off
    x_disable_stats: Optional[bool] = None  # no system metrics at all (as wandb's setting)
    console: Optional[str] = None  # "wrap" (tee stdout/stderr into the run; the default) or "off"
    x_disable_meta: Optional[bool] = None  # do not record the environment (fluoro-metadata.json)
    max_file_bytes: Optional[int] = None  # largest run file saved and uploaded (1 GiB); larger ones are skipped
    diff_max_bytes: Optional[int] = None  # diff.patch of a dirty git tree is cut at this size (10 MiB); 0: none
    config_dir: Optional[str] = None  # where login.json lives (~/.config/fluoro)
    transport: Optional[Transport] = None  # e.g. MockTransport in tests

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)


_DEFAULTS: Dict[str, Any] = {
    "batch_interval": 0.2,
    "batch_max_points": 100_000,
    "segment_bytes": 4 << 20,
    "max_queued_rows": 100_000,
    "send_cache_bytes": 32 << 20,
    "retry_backoff": 0.25,
    "retry_max_backoff": 5.0,
    "http_timeout": 30.0,
    "finish_timeout": 120.0,
    "heartbeat_interval": 30.0,
    "spool_fsync": False,
    "quiet": False,
    "handle_signals": True,
    "git": True,
    "system_interval": 2.0,
    "x_disable_stats": False,
    "console": "wrap",
    "x_disable_meta": False,
    "max_file_bytes": 1 << 30,
    "diff_max_bytes": 10 << 20,
}

_CONSOLE = {"auto": "wrap", "wrap": "wrap", "on": "wrap", "redirect": "wrap", "true": "wrap"}
_CONSOLE.update({"off": "off", "false": "off", "none": "off"})


def config_dir(explicit: Optional[str] = None, environ: Optional[Mapping[str, str]] = None) -> str:
    """Directory of the login file: FLUORO_CONFIG_DIR, else $XDG_CONFIG_HOME/fluoro."""
    env = os.environ if environ is None else environ
    if explicit:
        return explicit
    if env.get("FLUORO_CONFIG_DIR"):
        return env["FLUORO_CONFIG_DIR"]
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "fluoro")


def read_login(cdir: str) -> Dict[str, Any]:
    """The login file's content, or {} when there is none."""
    try:
        with open(os.path.join(cdir, "login.json"), encoding="utf-8") as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def login_entry(data: Mapping[str, Any], base_url: Optional[str]) -> Dict[str, Any]:
    """The login file's entry for one server ({} when there is none)."""
    hosts = data.get("hosts")
    entry = hosts.get(base_url) if isinstance(hosts, dict) else None
    return entry if isinstance(entry, dict) else {}


def write_login(cdir: str, base_url: str, api_key: str, entity: Optional[str]) -> str:
    """Store the key for base_url and make base_url the default; returns the path."""
    data = read_login(cdir)
    hosts: Dict[str, Any] = data["hosts"] if isinstance(data.get("hosts"), dict) else {}
    entry: Dict[str, Any] = {"api_key": api_key}
    if entity:
        entry["entity"] = entity
    hosts[base_url] = entry
    data = {"base_url": base_url, "hosts": hosts}
    import tempfile

    os.makedirs(cdir, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".login-", dir=cdir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
        os.chmod(tmp, 0o600)
        path = os.path.join(cdir, "login.json")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def _parse_bool(s: str) -> bool:
    return s.strip().lower() in ("1", "true", "yes", "on")


def normalize_resume(v: Union[None, bool, str]) -> Optional[str]:
    """None (a new run), "allow", "must", "never" or "auto"."""
    if v is None or v is False:
        return None
    if v is True:
        return "auto"
    s = str(v).strip().lower()
    if s in ("", "false", "0", "no"):
        return None
    if s in ("true", "1", "yes", "auto"):
        return "auto"
    if s not in ("allow", "must", "never"):
        raise UsageError("resume=%r: use 'allow', 'must', 'never', 'auto' or True" % (v,))
    return s


def resolve(
    args: Optional[Mapping[str, Any]] = None,
    settings: Union[None, Settings, Mapping[str, Any]] = None,
    environ: Optional[Mapping[str, str]] = None,
) -> Settings:
    """Merge init() arguments, a Settings object, the environment and the login file."""
    env = os.environ if environ is None else environ
    if settings is None:
        s = Settings()
    elif isinstance(settings, Settings):
        s = dataclasses.replace(settings)
    elif isinstance(settings, Mapping):
        fields = {f.name for f in dataclasses.fields(Settings)}
        unknown = set(settings) - fields
        if unknown:
            raise UsageError("unknown settings: %s" % ", ".join(sorted(unknown)))
        s = Settings(**dict(settings))
    else:
        raise UsageError("settings must be a fluoro.Settings or a dict, not %s" % type(settings).__name__)
    for k, v in (args or {}).items():
        if v is not None:
            setattr(s, k, v)
    for name, var in ENV.items():
        if getattr(s, name) is None and env.get(var):
            raw = env[var]
            val: Any = raw
            if name in ("finish_timeout", "heartbeat_interval"):
                try:
                    val = float(raw)
                except ValueError:
                    raise UsageError("%s=%r: want seconds" % (var, raw)) from None
            elif name == "quiet":
                val = _parse_bool(raw)
            elif name == "system_interval":
                try:
                    val = float(raw)
                except ValueError:
                    raise UsageError("%s=%r: want seconds (0 turns system metrics off)" % (var, raw)) from None
            setattr(s, name, val)
    cdir = config_dir(s.config_dir, env)
    s.config_dir = cdir
    login = read_login(cdir)
    if s.base_url is None and isinstance(login.get("base_url"), str):
        s.base_url = login["base_url"]
    if s.base_url is not None:
        s.base_url = s.base_url.rstrip("/")
        entry = login_entry(login, s.base_url)
        if s.api_key is None and isinstance(entry.get("api_key"), str):
            s.api_key = entry["api_key"]
        if s.entity is None and isinstance(entry.get("entity"), str):
            s.entity = entry["entity"]
    if s.mode is not None:
        m = _MODES.get(str(s.mode).strip().lower())
        if m is None:
            raise UsageError("mode=%r: use 'online', 'offline' or 'disabled'" % (s.mode,))
        s.mode = m
    elif s.base_url is None and s.transport is None:
        s.mode = "offline"  # nowhere to send: spool only, sync later
    else:
        s.mode = "online"
    if s.base_url is None and s.mode == "online":
        s.base_url = DEFAULT_BASE_URL if s.transport is None else "http://fluoro.invalid"
    s.resume = normalize_resume(s.resume)
    if s.project is None:
        s.project = DEFAULT_PROJECT
    if s.dir is None:
        s.dir = os.getcwd()
    for k, v in _DEFAULTS.items():
        if getattr(s, k) is None:
            setattr(s, k, v)
    c = s.console
    if isinstance(c, bool):
        c = "wrap" if c else "off"
    con = _CONSOLE.get(str(c).strip().lower())
    if con is None:
        raise UsageError("console=%r: use 'wrap' (or 'auto') or 'off'" % (s.console,))
    s.console = con
    try:
        s.system_interval = float(s.system_interval)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise UsageError("system_interval=%r: want seconds (0 turns them off)" % (s.system_interval,)) from None
    return s

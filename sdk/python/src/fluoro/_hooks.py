"""Process hooks that finish runs however the process ends.

Installed by the first ``init()`` (never at import):

- ``atexit``: finish every live run of this process (``finished``, or
  ``failed`` after an uncaught exception or a non-zero ``sys.exit``).
- ``sys.excepthook``: remember an uncaught exception (``KeyboardInterrupt``
  means ``killed``), then call the previous hook.
- ``sys.exit``: remember the exit code, as wandb does; and the builtins
  ``exit()``/``quit()`` (site's), which wandb does not. A bare
  ``raise SystemExit(n)`` cannot be seen: Python hands no exit code to
  ``atexit``, so such a run ends ``finished`` (as with wandb).
- SIGTERM (main thread only, not when SIGTERM is ignored): finish live runs
  as ``killed`` (``preempted`` under SLURM, see ``Run.mark_preempting``),
  then hand the signal to the previous handler or die of it.
- ``os.register_at_fork``: a forked child (a DataLoader worker) drops the
  parent's runs without touching their threads, spool or server state.
"""

from __future__ import annotations

import atexit
import builtins
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any, Callable, List, Optional

if TYPE_CHECKING:  # pragma: no cover
    from ._run import Run

_lock = threading.RLock()
_live: List["Run"] = []
_installed_pid: Optional[int] = None
_fork_registered = False
_prev_excepthook: Optional[Callable[..., Any]] = None
_prev_exit: Optional[Callable[..., Any]] = None
_prev_sigterm: Any = None
_sigterm_installed = False

# How the process is ending, as far as the hooks saw.
exit_code: Optional[int] = None
exit_state: Optional[str] = None  # "failed" or "killed"


def register(run: "Run") -> None:
    """Track a live run and make sure the hooks are installed."""
    with _lock:
        _install(run)
        _live.append(run)


def unregister(run: "Run") -> None:
    with _lock:
        try:
            _live.remove(run)
        except ValueError:
            pass


def live_runs() -> List["Run"]:
    with _lock:
        return [r for r in _live if r._pid == os.getpid()]


def _install(run: "Run") -> None:
    global _installed_pid, _fork_registered, _prev_excepthook, _prev_exit
    if _installed_pid == os.getpid():
        return
    _installed_pid = os.getpid()
    atexit.register(_at_exit)
    if sys.excepthook is not _excepthook:
        _prev_excepthook = sys.excepthook
        sys.excepthook = _excepthook
    if sys.exit is not _exit:
        _prev_exit = sys.exit
        sys.exit = _exit  # type: ignore[assignment]
    for name in ("exit", "quit"):
        f = getattr(builtins, name, None)
        if f is not None and not isinstance(f, _Quitter):
            setattr(builtins, name, _Quitter(f))
    if not _fork_registered and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_child)
        _fork_registered = True
    if run._settings.handle_signals:
        _install_sigterm()


def _install_sigterm() -> None:
    global _prev_sigterm, _sigterm_installed
    if _sigterm_installed or threading.current_thread() is not threading.main_thread():
        return
    try:
        prev = signal.getsignal(signal.SIGTERM)
    except (AttributeError, ValueError):  # pragma: no cover - no SIGTERM here
        return
    if prev is signal.SIG_IGN or prev is None:
        return  # someone chose to ignore it, or installed it outside Python: leave it
    try:
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):  # pragma: no cover
        return
    _prev_sigterm = prev
    _sigterm_installed = True


def _excepthook(tp: Any, value: Any, tb: Any) -> None:
    global exit_code, exit_state
    if issubclass(tp, KeyboardInterrupt):
        exit_code, exit_state = 130, "killed"
    else:
        exit_code, exit_state = 1, "failed"
    hook = _prev_excepthook or sys.__excepthook__
    hook(tp, value, tb)


def _note_exit(code: Any) -> None:
    global exit_code
    if code is None or code == 0:
        exit_code = 0
    elif isinstance(code, int):
        exit_code = code
    else:
        exit_code = 1  # sys.exit("message") exits with 1


def _exit(code: Any = None) -> None:
    _note_exit(code)
    if _prev_exit is not None:
        _prev_exit(code)
    raise SystemExit(code)


class _Quitter:
    """``builtins.exit``/``quit`` (site's Quitter): note the code, then call the original."""

    def __init__(self, orig: Callable[..., Any]) -> None:
        self._orig = orig

    def __repr__(self) -> str:
        return repr(self._orig)

    def __call__(self, code: Any = None) -> Any:
        _note_exit(code)
        return self._orig(code)


def _at_exit() -> None:
    for run in live_runs():
        try:
            run._finish_from_hook(exit_code, exit_state)
        except Exception as e:  # pragma: no cover - never turn exit into a traceback
            sys.stderr.write("fluoro: could not finish run %s at exit: %r\n" % (run.id, e))


def _on_sigterm(signum: int, frame: Any) -> None:
    global exit_code, exit_state
    exit_code, exit_state = 128 + signum, "killed"
    for run in live_runs():
        try:
            run._finish_from_signal(signum)
        except Exception as e:  # pragma: no cover
            sys.stderr.write("fluoro: could not finish run %s on SIGTERM: %r\n" % (run.id, e))
    prev = _prev_sigterm
    if callable(prev) and prev is not _on_sigterm:
        prev(signum, frame)
        return
    # Default action: die of the signal, so the parent sees the real cause.
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _after_fork_child() -> None:
    """Runs in the child after os.fork(): the parent's runs are not ours."""
    global _lock, _installed_pid, exit_code, exit_state, _sigterm_installed
    _lock = threading.RLock()  # may have been held by another thread at fork time
    runs = list(_live)
    _live.clear()
    for run in runs:
        try:
            run._after_fork_child()
        except Exception:  # pragma: no cover
            pass
    exit_code = exit_state = None
    _installed_pid = None  # a run created in the child installs its own atexit
    from . import _run

    _run._forget_current_after_fork()

"""The SDK's background threads, started with process signals blocked.

The kernel hands a process-directed signal (SIGTERM from a scheduler,
SIGINT, ...) to any thread that does not block it. Python runs signal
handlers on the main thread only, and a main thread asleep in
``time.sleep`` or a blocking read is woken only if the signal lands on it:
delivered to one of our threads, SIGTERM would wait, unhandled, until the
training loop next ran Python code. Every SDK thread is therefore started
with these signals blocked (a new thread inherits the creating thread's
mask), so they always go to a thread that handles them.
"""

from __future__ import annotations

import signal
import threading
from typing import Any, Callable, Optional

_NAMES = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGWINCH", "SIGCHLD")


def start(target: Callable[..., Any], name: str, args: tuple = ()) -> threading.Thread:  # type: ignore[type-arg]
    """A started daemon thread running target(*args), with the signals above blocked in it."""
    t = threading.Thread(target=target, args=args, name=name, daemon=True)
    mask: Optional[Callable[..., Any]] = getattr(signal, "pthread_sigmask", None)  # absent on Windows
    if mask is None:
        t.start()
        return t
    sigs = {getattr(signal, n) for n in _NAMES if hasattr(signal, n)}
    old = mask(signal.SIG_BLOCK, sigs)
    try:
        t.start()
    finally:
        mask(signal.SIG_SETMASK, old)
    return t

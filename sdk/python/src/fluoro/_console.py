"""Console capture: stdout and stderr tee'd into the run, line by line.

``Capture.start()`` (called by ``init()``, never at import) replaces the
``write`` method *of the stream objects* ``sys.stdout`` and ``sys.stderr``
(an instance attribute, so logging handlers that already hold those objects
are captured too). Where a stream does not allow that, ``sys.stdout`` /
``sys.stderr`` is replaced by a thin wrapper instead. Each write goes to the
original stream first, unchanged (the terminal shows everything, and its
errors reach the caller as before), then into a per-stream line buffer:

- a line is sent when its ``\\n`` arrives (or at ``finish()``), with the
  time of that write; unfinished lines are kept per thread, so threads that
  print at once do not glue their text together;
- ``\\r`` rewinds the line as a terminal does, so a progress bar redrawn
  with ``\\r`` is sent once, in its last state;
- a line longer than 64 KiB (the server's limit) is cut, saying so, and
  what follows until its newline is dropped (memory stays bounded).

``stop()`` puts back exactly what was there. When someone else patched the
stream after us, ours cannot be removed without undoing theirs: it then only
passes writes through. The capture part never raises.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional

_MAX_PENDING = 1 << 16  # characters of an unfinished line kept (the server takes 64 KiB)
_MAX_THREADS = 64  # threads with an unfinished line before those lines are sent as they are
_get_ident = threading.get_ident
_MISSING = object()


def collapse(line: str) -> str:
    """A line as a terminal leaves it after its carriage returns."""
    if "\r" not in line:
        return line
    out = ""
    for part in line.split("\r"):
        out = part + out[len(part) :]
    return out


class _Stream:
    """One captured stream: its original write and the unfinished line."""

    def __init__(self, name: str, obj: Any) -> None:
        self.name = name
        self.obj = obj
        self.orig_write: Callable[[Any], Any] = obj.write
        self.saved: Any = _MISSING  # the instance attribute 'write' we replaced, if any
        self.patched: Any = None  # our write function, when patched in place
        self.wrapper: Optional["_Wrapper"] = None  # when sys.<name> was replaced instead
        self.pending: Dict[int, str] = {}  # the unfinished line of each writing thread


class _Wrapper:
    """Stands in for sys.stdout/sys.stderr when its write cannot be patched."""

    def __init__(self, stream: Any, write: Callable[[Any], Any]) -> None:
        object.__setattr__(self, "_stream", stream)
        object.__setattr__(self, "write", write)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._stream, name, value)


class Capture:
    """Tees sys.stdout and sys.stderr into ``emit(time, stream, line)``."""

    def __init__(self, emit: Callable[[float, str, str], None]) -> None:
        self.emit = emit
        self.active = False
        self._lock = threading.RLock()
        self._depth = 0  # > 0 while this thread is inside our capture code
        self._streams: Dict[str, _Stream] = {}

    def start(self) -> bool:
        """Start capturing; False when there is nothing to capture."""
        for name in ("stdout", "stderr"):
            obj = getattr(sys, name, None)
            if obj is None or not callable(getattr(obj, "write", None)):
                continue
            try:
                self._install(name, obj)
            except Exception:
                continue
        self.active = bool(self._streams)
        return self.active

    def _install(self, name: str, obj: Any) -> None:
        st = _Stream(name, obj)
        write = self._make_write(st)
        try:
            st.saved = obj.__dict__.get("write", _MISSING)
        except AttributeError:
            st.saved = _MISSING
        try:
            obj.write = write
            if obj.write is not write:
                raise AttributeError("write did not stick")
            st.patched = write
        except (AttributeError, TypeError):
            if st.saved is not _MISSING:  # pragma: no cover - a half-applied patch
                obj.write = st.saved
            st.wrapper = _Wrapper(obj, write)
            setattr(sys, name, st.wrapper)
        self._streams[name] = st

    def _make_write(self, st: _Stream) -> Callable[[Any], Any]:
        orig = st.orig_write
        capture = self._capture

        def write(s: Any) -> Any:
            n = orig(s)
            capture(st, s)
            return n

        return write

    def _capture(self, st: _Stream, s: Any) -> None:
        if not self.active or type(s) is not str or not s:
            return
        try:
            with self._lock:
                if self._depth:  # re-entered (a signal handler printing mid-write): the terminal has it
                    return
                self._depth += 1
                try:
                    self._feed(st, s)
                finally:
                    self._depth -= 1
        except Exception:  # never into the caller's print()
            pass

    def _feed(self, st: _Stream, s: str) -> None:
        # Unfinished lines are kept per thread: print() writes the text and the
        # newline separately, and another thread may write in between.
        tid = _get_ident()
        pend = st.pending
        if "\n" not in s:
            p = pend[tid] = pend.get(tid, "") + s
            if len(p) > _MAX_PENDING:
                self._overflow(st, tid)
            elif len(pend) > _MAX_THREADS:
                self._flush_stream(st)
            return
        parts = s.split("\n")
        parts[0] = pend.pop(tid, "") + parts[0]
        last = parts.pop()
        if last:
            pend[tid] = last
        t = time.time()
        emit, name = self.emit, st.name
        for line in parts:
            emit(t, name, collapse(line))
        if len(last) > _MAX_PENDING:
            self._overflow(st, tid)

    def _overflow(self, st: _Stream, tid: int) -> None:
        """An unfinished line over the limit: keep its last redraw, cut to just over the limit.

        The pipeline cuts it to the server's limit and says so (``cap_line``);
        what is dropped here would be dropped there.
        """
        p = st.pending[tid]
        if "\r" in p:
            p = collapse(p)
        st.pending[tid] = p[: _MAX_PENDING + 1]

    def _flush_stream(self, st: _Stream) -> None:
        t = time.time()
        pend, st.pending = st.pending, {}
        for p in pend.values():
            line = collapse(p)
            if line:
                self.emit(t, st.name, line)

    def flush_pending(self) -> None:
        """Send the unfinished lines (at finish)."""
        with self._lock:
            for st in self._streams.values():
                try:
                    self._flush_stream(st)
                except Exception:
                    pass

    def stop(self) -> None:
        """Send what is pending and put the streams back as they were."""
        if not self._streams:
            return
        self.flush_pending()
        self.active = False
        for name, st in list(self._streams.items()):
            try:
                self._restore(name, st)
            except Exception:
                pass
        self._streams.clear()

    def _restore(self, name: str, st: _Stream) -> None:
        if st.wrapper is not None:
            if getattr(sys, name, None) is st.wrapper:
                setattr(sys, name, st.obj)
            return  # else someone replaced it after us: ours is now a pass-through
        if st.obj.__dict__.get("write", _MISSING) is not st.patched:
            return  # patched again on top of ours: leave theirs; ours passes through
        if st.saved is _MISSING:
            del st.obj.write
        else:
            st.obj.write = st.saved

    def detach(self) -> None:
        """In a forked child: stop capturing without touching the streams' state further."""
        self.active = False
        self._lock = threading.RLock()
        self._depth = 0

    @property
    def streams(self) -> List[str]:
        return list(self._streams)

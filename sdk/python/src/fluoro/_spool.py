"""The spool: an append-only, crash-safe record of everything a run sends.

docs/spool.md is the format's specification; this module is its Python
writer and reader. In short, a run directory holds ``spool/``, a folder of
JSON-lines segments named by the first sequence number they hold::

    run-20260101_120000-abc123/spool/
        lock                    flock()ed by the live writer
        000000000001.jsonl      header, then records and acks
        000000000412.jsonl

Each segment starts with a header line (``{"fluoro_spool":1,...}``). Then
come records, each with a ``seq`` that increases across segments: ingest
batch bodies exactly as POSTed (they start with ``{"entity":``), and
operations (``{"op":"create"|"update"|"finish",...}``). ``{"op":"ack",
"seq":N}`` lines say that every record up to N is done. A line without a
trailing newline is a torn write and is ignored. Segments whose records are
all acknowledged are deleted, except the newest.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from ._errors import SpoolError

try:  # POSIX; elsewhere the lock is advisory-only and skipped
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

VERSION = 1
SEGMENT_RE = re.compile(r"^(\d{12,20})\.jsonl$")
BATCH_PREFIX = b'{"entity":'
OP_PREFIX = b'{"op":'
_SEQ_RE = re.compile(rb'"writer":"(?:[^"\\]|\\.)*","seq":(\d+),')
HEADER_PREFIX = b'{"fluoro_spool":'


def dumps_strict(obj: Any) -> bytes:
    """Compact JSON without NaN/Infinity literals (op and header lines)."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()


def batch_prefix(entity: str, project: str, run_id: str, writer: str) -> bytes:
    """The fixed start of every batch body of one writer, up to ``"seq":``."""
    return b'{"entity":%s,"project":%s,"run_id":%s,"writer":%s,"seq":' % (
        dumps_strict(entity),
        dumps_strict(project),
        dumps_strict(run_id),
        dumps_strict(writer),
    )


def op_line(op: str, seq: int, body: Dict[str, Any]) -> bytes:
    return b'{"op":%s,"seq":%d,"body":%s}\n' % (dumps_strict(op), seq, dumps_strict(body))


def segment_name(first_seq: int) -> str:
    return "%012d.jsonl" % first_seq


class Lock:
    """An exclusive flock on ``spool/lock``: held by the process writing the spool."""

    def __init__(self, spool_dir: str) -> None:
        self.path = os.path.join(spool_dir, "lock")
        self.fd: Optional[int] = None

    def acquire(self) -> bool:
        """Take the lock without waiting; False when another process holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
        try:
            os.ftruncate(fd, 0)
            os.write(fd, b"%d\n" % os.getpid())
        except OSError:
            pass
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is not None:
            try:
                os.close(self.fd)  # closing drops the flock
            except OSError:
                pass
            self.fd = None

    def forget(self) -> None:
        """In a forked child: drop this process's reference without unlocking the parent."""
        self.release()


class SpoolWriter:
    """Appends records to a run's spool; thread-safe."""

    def __init__(
        self,
        run_dir: str,
        header: Dict[str, Any],
        segment_bytes: int = 4 << 20,
        fsync: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.run_dir = run_dir
        self.dir = os.path.join(run_dir, "spool")
        os.makedirs(self.dir, exist_ok=True)
        self.lock = Lock(self.dir)
        if not self.lock.acquire():
            raise SpoolError("spool %s is in use by another process" % self.dir)
        self.header = dict(header)
        self.segment_bytes = segment_bytes
        self.fsync = fsync
        self.clock = clock
        self.acked = 0
        self._mu = threading.Lock()
        self._fd: Optional[int] = None
        self._size = 0
        self._segments: List[List[Any]] = []  # [first_seq, last_seq, path]
        self.closed = False

    def _open_segment(self, first_seq: int) -> None:
        if self._fd is not None:
            if self.fsync:
                os.fsync(self._fd)
            os.close(self._fd)
        path = os.path.join(self.dir, segment_name(first_seq))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        hdr = dict(self.header, acked=self.acked, created=round(self.clock(), 3))
        hdr.pop("fluoro_spool", None)
        line = b'{"fluoro_spool":%d,%s\n' % (VERSION, dumps_strict(hdr)[1:])
        _write_all(fd, line)
        if self.fsync:
            os.fsync(fd)
            _fsync_dir(self.dir)
        self._fd, self._size = fd, len(line)
        self._segments.append([first_seq, first_seq - 1, path])

    def start(self, first_seq: int = 1) -> None:
        """Create the first segment (header only)."""
        with self._mu:
            self._open_segment(first_seq)

    def append(self, seq: int, line: bytes, newline: bool = False) -> Tuple[str, int, int]:
        """Append one record line; returns (path, offset, length).

        The line ends in a newline, or ``newline=True`` adds it (in the same
        write: a batch body need not be copied to end it with one).
        """
        with self._mu:
            if self.closed:
                raise SpoolError("spool is closed")
            full = self._fd is not None and self._size >= self.segment_bytes
            if self._fd is None or (full and self._segments[-1][1] >= self._segments[-1][0]):
                self._open_segment(seq)
            assert self._fd is not None
            off = self._size
            if newline:
                _write_line(self._fd, line)
                n = len(line) + 1
            else:
                _write_all(self._fd, line)
                n = len(line)
            self._size += n
            self._segments[-1][1] = seq
            if self.fsync:
                os.fsync(self._fd)
            return self._segments[-1][2], off, n

    def ack(self, seq: int, status: Optional[int] = None, error: Optional[str] = None) -> None:
        """Record that every record up to seq is done, then delete spent segments."""
        d: Dict[str, Any] = {"op": "ack", "seq": seq}
        if error:
            d["status"] = status
            d["error"] = error[:500]
        with self._mu:
            if self.closed or self._fd is None:
                return
            line = dumps_strict(d) + b"\n"
            _write_all(self._fd, line)
            self._size += len(line)  # offsets of later records depend on it
            self.acked = max(self.acked, seq)
            self._trim()

    def _trim(self) -> None:
        while len(self._segments) > 1 and self._segments[0][1] <= self.acked:
            path = self._segments.pop(0)[2]
            try:
                os.unlink(path)
            except OSError:
                pass

    def close(self) -> None:
        with self._mu:
            if self.closed:
                return
            self.closed = True
            if self._fd is not None:
                try:
                    if self.fsync:
                        os.fsync(self._fd)
                    os.close(self._fd)
                except OSError:
                    pass
                self._fd = None
        self.lock.release()

    def after_fork_child(self) -> None:
        """Forget file descriptors in a forked child without touching the parent's spool."""
        self.closed = True
        self._mu = threading.Lock()
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None
        self.lock.forget()


def read_at(path: str, offset: int, length: int) -> bytes:
    """One record line's bytes, without the newline."""
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read(length)
    if len(data) != length:
        raise SpoolError("%s: short read at %d" % (path, offset))
    return data.rstrip(b"\n")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _write_line(fd: int, data: bytes) -> None:
    """data and a newline, with one writev(2) where the platform has it."""
    writev = getattr(os, "writev", None)
    if writev is None:  # pragma: no cover - Windows
        _write_all(fd, data + b"\n")
        return
    n = writev(fd, [data, b"\n"])
    if n < len(data) + 1:  # a short write (a full disk, a signal): finish it
        _write_all(fd, (data + b"\n")[n:])


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --- reading ------------------------------------------------------------


class Record:
    """One record read back from a spool."""

    __slots__ = ("seq", "kind", "body", "segment")

    def __init__(self, seq: int, kind: str, body: bytes, segment: str) -> None:
        self.seq = seq
        self.kind = kind  # "batch", "create", "update" or "finish"
        self.body = body  # the HTTP body, exactly as sent
        self.segment = segment

    def __repr__(self) -> str:
        return "Record(%d, %s, %d bytes)" % (self.seq, self.kind, len(self.body))


class SpoolContents:
    """What a spool directory holds: its header, records, and how far it was acked."""

    def __init__(self) -> None:
        self.header: Dict[str, Any] = {}
        self.records: List[Record] = []
        self.acked = 0
        self.segments: List[str] = []
        self.torn: List[str] = []  # segments whose last line was incomplete
        self.bad_lines = 0

    @property
    def pending(self) -> List[Record]:
        return [r for r in self.records if r.seq > self.acked]

    @property
    def last_seq(self) -> int:
        return self.records[-1].seq if self.records else self.acked

    @property
    def finished(self) -> bool:
        return any(r.kind == "finish" for r in self.records)


def find_spool_dir(path: str) -> str:
    """The spool folder of a run directory (or the spool folder itself)."""
    if os.path.basename(os.path.normpath(path)) == "spool" and os.path.isdir(path):
        return path
    sd = os.path.join(path, "spool")
    if os.path.isdir(sd):
        return sd
    raise SpoolError("%s is not a Fluoro run directory (no spool/ inside)" % path)


def read_spool(path: str) -> SpoolContents:
    """Read every segment of a spool in order."""
    sd = find_spool_dir(path)
    out = SpoolContents()
    names = sorted(n for n in os.listdir(sd) if SEGMENT_RE.match(n))
    if not names:
        raise SpoolError("%s holds no spool segments" % sd)
    for name in names:
        seg = os.path.join(sd, name)
        try:
            with open(seg, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            continue  # trimmed by the live writer while we listed
        out.segments.append(seg)
        lines = data.split(b"\n")
        if lines and lines[-1] != b"":
            out.torn.append(seg)
        for line in lines[:-1]:
            if not line.strip():
                continue
            _parse_line(out, line, seg)
    if not out.header:
        raise SpoolError("%s: no header line found" % sd)
    return out


def _parse_line(out: SpoolContents, line: bytes, seg: str) -> None:
    try:
        if line.startswith(HEADER_PREFIX):
            h = json.loads(line)
            if h.get("fluoro_spool") != VERSION:
                raise SpoolError(
                    "%s: spool version %r; this SDK reads version %d" % (seg, h.get("fluoro_spool"), VERSION)
                )
            out.acked = max(out.acked, int(h.get("acked") or 0))
            if not out.header:
                out.header = h
            return
        if line.startswith(OP_PREFIX):
            d = json.loads(line)
            op = d["op"]
            if op == "ack":
                out.acked = max(out.acked, int(d["seq"]))
                return
            if op not in ("create", "update", "finish"):
                out.bad_lines += 1  # a newer writer's op: skip it
                return
            out.records.append(Record(int(d["seq"]), op, dumps_strict(d["body"]), seg))
            return
        if line.startswith(BATCH_PREFIX):
            m = _SEQ_RE.search(line, 0, 2048)  # the fifth key, always in the prefix
            if m is not None and line.endswith(b"}"):
                out.records.append(Record(int(m.group(1)), "batch", line, seg))
                return
    except SpoolError:
        raise
    except (ValueError, KeyError, TypeError):
        pass
    out.bad_lines += 1


def repair_tail(seg: str) -> None:
    """Cut an incomplete last line (only while holding the spool lock)."""
    with open(seg, "rb+") as f:
        data = f.read()
        if not data or data.endswith(b"\n"):
            return
        f.truncate(data.rfind(b"\n") + 1)


def append_line(seg: str, line: bytes) -> None:
    """Append one line to a segment (only while holding the spool lock)."""
    fd = os.open(seg, os.O_WRONLY | os.O_APPEND)
    try:
        _write_all(fd, line)
    finally:
        os.close(fd)


def trim_segments(contents: SpoolContents) -> int:
    """Delete segments, except the newest, whose records are all acked. Returns the count."""
    n = 0
    segs = contents.segments
    for seg in segs[:-1]:
        seqs = [r.seq for r in contents.records if r.segment == seg]
        if all(s <= contents.acked for s in seqs):
            try:
                os.unlink(seg)
                n += 1
            except OSError:
                pass
    return n

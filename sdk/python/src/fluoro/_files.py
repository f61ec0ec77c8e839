"""Run files: saved under the run directory, indexed in the spool, uploaded in the background.

Every run file (media written by ``log()``, ``save()``'d files, ``diff.patch``,
``fluoro-metadata.json``) takes the same path, online or offline:

1. the ``fluoro-files`` thread writes its content to ``<run dir>/files/<name>``
   (a temporary file, then a rename, so a reader never sees half a file);
2. and appends a record ``{"file": name, "sha256": ..., "size": ...}`` to the
   spool's file index, ``spool/files.idx`` (docs/spool.md, "Run files");
3. online, the ``fluoro-upload`` thread uploads it with
   ``PUT /api/v1/projects/{e}/{p}/runs/{run}/files/{name}`` once the run
   exists, retrying with backoff, and appends ``{"file_ack": name, ...}``.
   A slow upload never holds up writing (``finish()`` waits for writes
   without a limit, for uploads only within its timeout).

What is not acknowledged when the process ends is uploaded by
``python -m fluoro sync`` or ``fluoro sync``. Content already recorded under
the same name (same SHA-256) is neither written nor sent again.

``FileSender`` never raises into the caller: ``put_bytes``, ``put_path`` and
``watch`` only queue work for the thread.
"""

from __future__ import annotations

import collections
import glob as _glob
import hashlib
import json
import os
import random
import threading
import time
from typing import Any, Callable, Deque, Dict, List, NamedTuple, Optional, Set, Tuple, Union

from . import _threads
from ._records import AUTH, OK, REJECTED, RETRY, Ident, Outcome
from ._transport import Client, FileBody, TransportError, quote

INDEX = "files.idx"  # in spool/: JSON lines, like a segment (but never trimmed)
VERSION = 1
HEADER_PREFIX = b'{"fluoro_files":'
FILES_DIR = "files"
MAX_NAME = 512  # bytes: the server's limit
POLL_INTERVAL = 2.0  # seconds between checks of save(policy="live") files
_CHUNK = 1 << 20
_RETRY_STATUS = {408, 425, 429}


def check_name(name: str) -> Optional[str]:
    """Why the server would refuse this file name, or None when it is fine."""
    if not name or len(name.encode("utf-8", "replace")) > MAX_NAME:
        return "file names are 1 to %d bytes" % MAX_NAME
    if name.startswith("/") or "\\" in name:
        return "file names are relative paths with '/' separators"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "file names cannot contain control characters"
    if any(p in ("", ".", "..") for p in name.split("/")):
        return "file names cannot contain '..', '.' or empty segments"
    return None


def url_path(ident: Ident, name: str) -> str:
    """The path a run file is PUT to (each segment of the name percent-encoded)."""
    return "/api/v1/projects/%s/%s/runs/%s/files/%s" % (
        quote(ident.entity),
        quote(ident.project),
        quote(ident.run_id),
        "/".join(quote(p) for p in name.split("/")),
    )


def local_path(run_dir: str, name: str) -> str:
    return os.path.join(run_dir, FILES_DIR, *name.split("/"))


def index_path(run_dir: str) -> str:
    return os.path.join(run_dir, "spool", INDEX)


def record_line(name: str, sha: str, size: int, t: float) -> bytes:
    d = {"file": name, "sha256": sha, "size": size, "time": round(t, 3)}
    return json.dumps(d, separators=(",", ":")).encode() + b"\n"


def ack_line(name: str, sha: str, status: Optional[int] = None, error: Optional[str] = None) -> bytes:
    d: Dict[str, Any] = {"file_ack": name, "sha256": sha}
    if error:
        if status is not None:
            d["status"] = status
        d["error"] = error[:500]
    return json.dumps(d, separators=(",", ":")).encode() + b"\n"


def header_line(t: float) -> bytes:
    return b'{"fluoro_files":%d,"created":%s}\n' % (VERSION, json.dumps(round(t, 3)).encode())


class Entry(NamedTuple):
    name: str
    sha256: str
    size: int
    acked: bool


class FileIndex:
    """What ``spool/files.idx`` says: the latest record of each name, and whether it is done."""

    def __init__(self) -> None:
        self.entries: Dict[str, Entry] = {}  # in order of each name's first record
        self.exists = False
        self.bad_lines = 0
        self.torn = False

    @property
    def pending(self) -> List[Entry]:
        return [e for e in self.entries.values() if not e.acked]


def read_index(run_dir: str) -> FileIndex:
    """Parse a run directory's file index (an empty one when there is none)."""
    idx = FileIndex()
    try:
        with open(index_path(run_dir), "rb") as f:
            data = f.read()
    except OSError:
        return idx
    idx.exists = True
    lines = data.split(b"\n")
    idx.torn = lines[-1] != b""
    for line in lines[:-1]:
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            if "fluoro_files" in d:
                if d.get("fluoro_files") != VERSION:
                    from ._errors import SpoolError

                    raise SpoolError(
                        "%s: file index version %r; this SDK reads version %d"
                        % (run_dir, d.get("fluoro_files"), VERSION)
                    )
                continue
            if "file" in d:
                name, sha = str(d["file"]), str(d["sha256"])
                idx.entries.pop(name, None)
                idx.entries[name] = Entry(name, sha, int(d.get("size") or 0), False)
                continue
            if "file_ack" in d:
                name, sha = str(d["file_ack"]), str(d["sha256"])
                e = idx.entries.get(name)
                if e is not None and e.sha256 == sha:
                    idx.entries[name] = e._replace(acked=True)
                continue
        except (ValueError, KeyError, TypeError, AttributeError):
            pass
        idx.bad_lines += 1
    return idx


def adopt_legacy_metadata(run_dir: str, idx: FileIndex) -> None:
    """A run directory from before the file index: queue its fluoro-metadata.json (owner only)."""
    if idx.exists:
        return
    path = local_path(run_dir, "fluoro-metadata.json")
    try:
        sha, size = hash_file(path)
    except OSError:
        return
    append_index(run_dir, [header_line(time.time()), record_line("fluoro-metadata.json", sha, size, time.time())])
    idx.exists = True
    idx.entries["fluoro-metadata.json"] = Entry("fluoro-metadata.json", sha, size, False)


def append_index(run_dir: str, lines: List[bytes]) -> None:
    """Append lines to the file index in one write (only while holding the spool lock)."""
    fd = os.open(index_path(run_dir), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        data = b"".join(lines)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def repair_index(run_dir: str) -> None:
    """Cut a torn last line (only while holding the spool lock)."""
    try:
        with open(index_path(run_dir), "rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)
    except OSError:
        pass


def hash_file(path: str) -> Tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as f:
        while True:
            b = f.read(_CHUNK)
            if not b:
                break
            h.update(b)
            n += len(b)
    return h.hexdigest(), n


def upload(client: Client, ident: Ident, name: str, data: Union[bytes, FileBody], sha: Optional[str] = None) -> Outcome:
    """PUT one file and classify the answer as the record sender does.

    ``data`` is the content, or a ``FileBody`` streamed from disk (then
    ``sha`` is its digest, from the index). ``X-Fluoro-SHA256`` lets the server
    refuse a body damaged on the way (or a saved copy changed on disk);
    servers that do not know it ignore it.
    """
    if sha is None:
        sha = hashlib.sha256(data.read_all() if isinstance(data, FileBody) else data).hexdigest()
    digest = {"X-Fluoro-SHA256": sha}
    try:
        resp = client.raw("PUT", url_path(ident, name), data, content_type=None, headers=digest)
    except TransportError as e:
        return Outcome(RETRY, None, "", str(e))
    except Exception as e:  # a broken transport: try again later
        return Outcome(RETRY, None, "", "%s: %s" % (type(e).__name__, e))
    st = resp.status
    if 200 <= st < 300:
        return Outcome(OK, st)
    code, msg = resp.error()
    if st in (401, 403):
        return Outcome(AUTH, st, code, msg)
    if st in _RETRY_STATUS or st >= 500:
        return Outcome(RETRY, st, code, msg)
    return Outcome(REJECTED, st, code, msg)


class Watch:
    """One ``save()`` call: a glob, the folder names are relative to, and a policy."""

    def __init__(self, pattern: str, base: str, policy: str, use_glob: bool = True) -> None:
        self.pattern = pattern
        self.base = base
        self.policy = policy
        self.use_glob = use_glob
        self.seen: Dict[str, Tuple[int, int]] = {}  # source path -> (mtime_ns, size) last copied

    def matches(self) -> List[str]:
        if not self.use_glob:
            return [self.pattern] if os.path.lexists(self.pattern) else []
        return sorted(_glob.glob(self.pattern, recursive=True))


class FileSender:
    """A run's file threads: ``fluoro-files`` writes and indexes run files, ``fluoro-upload`` sends them.

    ``ready()`` returns the run's Ident once the run exists on the server
    (None before); ``client`` is None offline, where files are only written
    and indexed for ``fluoro sync``.
    """

    def __init__(
        self,
        run_dir: str,
        client: Optional[Client],
        ready: Callable[[], Optional[Ident]],
        *,
        max_bytes: int,
        warn: Callable[[str], None],
        backoff: float = 0.25,
        max_backoff: float = 5.0,
        poll: Optional[float] = None,
        exclude: Optional[str] = None,
    ) -> None:
        self.run_dir = run_dir
        self.client = client
        self.ready = ready
        self.max_bytes = max_bytes
        self.warn = warn
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.poll = POLL_INTERVAL if poll is None else poll
        self.exclude = os.path.realpath(exclude) if exclude else None  # never save the runs' own folder
        self._q: Deque[Tuple[Any, ...]] = collections.deque()
        self._cond = threading.Condition()
        self._queued = 0
        self._handled = 0
        self._recorded: Dict[str, str] = {}  # name -> sha256 of its last record
        self._pending: "collections.OrderedDict[str, Tuple[str, int]]" = collections.OrderedDict()
        self._watches: List[Watch] = []
        self._reported: Set[str] = set()
        self._thread: Optional[threading.Thread] = None
        self._uploader: Optional[threading.Thread] = None
        self._index_mu = threading.Lock()  # both threads append to the index
        self._stop = False
        self._final = False  # finish() asked for the last scan
        self._final_done = False
        self._final_target = 0
        self._attempt = 0
        self._next_try = 0.0
        self._next_poll = 0.0
        self.paused = False  # the server refused the key
        self.dead = False
        self.uploaded = 0
        self.written = 0
        self.index_broken = False
        self._index_started = False

    # --- the caller's side (never raises) --------------------------------

    def start(self) -> None:
        self._thread = _threads.start(self._main, "fluoro-files")
        if self.client is not None:
            self._uploader = _threads.start(self._upload_main, "fluoro-upload")

    def _put(self, item: Tuple[Any, ...]) -> None:
        with self._cond:
            if self._stop or self.dead:
                return
            self._q.append(item)
            self._queued += 1
            self._cond.notify_all()

    def put_bytes(self, name: str, data: bytes) -> None:
        """Queue content for ``files/<name>`` (the bytes are not copied: do not change them)."""
        self._put(("bytes", name, data))

    def put_path(self, name: str, src: str) -> None:
        """Queue a copy of the file at src (read on the thread)."""
        self._put(("path", name, src))

    def watch(self, w: Watch) -> None:
        """A ``save()``: copy the matches now (live, now) or at finish (end); live ones again on change."""
        self._put(("watch", w))

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Wait until what was queued so far is written, and (online) uploaded. False on timeout."""
        with self._cond:
            target = self._queued
            self._cond.notify_all()
            return self._cond.wait_for(lambda: self._settled(target), timeout)

    def _settled(self, target: int) -> bool:
        if self.dead:
            return True
        if self._handled < target:
            return False
        return self.client is None or self.paused or not self._pending

    def finish(self, timeout: float) -> int:
        """The run ends: copy ``end`` files and changed ``live`` ones, upload for up to timeout.

        Writing is waited for without a limit while the thread lives (it is
        local; what is not written would be lost). Returns how many files
        are left for ``fluoro sync``.
        """
        t = self._thread
        if t is None:
            return 0
        self.begin_finish()
        with self._cond:
            target = self._final_target
            while not (self.dead or (self._final_done and self._handled >= target)):
                self._cond.wait(1.0)
                if not t.is_alive():
                    break
        deadline = time.monotonic() + max(0.0, timeout)
        with self._cond:
            self._cond.wait_for(lambda: self._settled(target), max(0.0, deadline - time.monotonic()))
            left = len(self._pending) if self.client is not None else 0
            self._stop = True
            self._cond.notify_all()
        t.join(timeout=2.0)
        if self._uploader is not None:
            self._uploader.join(timeout=2.0)  # an upload in flight is cut off by the process exit
        return left

    def begin_finish(self) -> None:
        """Start the last scan (``end`` files, changed ``live`` ones) without waiting for it."""
        with self._cond:
            if not self._final:
                self._final = True
                self._final_target = self._queued
                self._cond.notify_all()

    def after_fork_child(self) -> None:
        self.dead = True
        self._q = collections.deque()
        self._cond = threading.Condition()
        self._index_mu = threading.Lock()
        self._thread = None
        self._uploader = None

    # --- the thread ------------------------------------------------------

    def _main(self) -> None:
        try:
            self._loop()
        except BaseException as e:  # pragma: no cover - a bug: the files written so far stay for sync
            self.warn("the file thread stopped on an internal error (%r); run files may be missing" % (e,))
        finally:
            with self._cond:
                self.dead = True
                self._cond.notify_all()

    def _loop(self) -> None:
        """The writer: saves queued content and save()d files, indexes them, hands them to the uploader."""
        while True:
            with self._cond:
                while True:
                    if self._stop:
                        return
                    if self._q or (self._final and not self._final_done):
                        break
                    wait = None
                    if self._watches:
                        wait = self._next_poll - time.monotonic()
                        if wait <= 0:
                            break
                    self._cond.wait(wait)
                items = list(self._q)
                self._q.clear()
                final = self._final and not self._final_done
            for it in items:
                try:
                    self._handle(it)
                except Exception as e:  # one bad item must not stop the thread
                    self._once("item", "a run file was not saved after an internal error (%r)" % (e,))
            if self._watches and (final or time.monotonic() >= self._next_poll):
                self._scan(final)
                self._next_poll = time.monotonic() + self.poll
            with self._cond:
                self._handled += len(items)
                if final:
                    self._final_done = True
                self._cond.notify_all()

    def _upload_main(self) -> None:
        """The uploader (online only): one file at a time, oldest record first, with backoff."""
        assert self.client is not None
        client = self.client.for_thread()
        try:
            while True:
                with self._cond:
                    while True:
                        if self._stop:
                            return
                        if self._pending and not self.paused:
                            wait = self._next_try - time.monotonic()
                            if wait <= 0:
                                break
                            self._cond.wait(wait)
                        else:
                            self._cond.wait()
                    name, (sha, _) = next(iter(self._pending.items()))
                try:
                    self._upload_one(client, name, sha)
                except Exception as e:  # e.g. out of memory reading a huge file: try again later
                    self._once("upload", "uploading run files failed (%r); retrying" % (e,))
                    self._next_try = time.monotonic() + self.max_backoff
        except BaseException as e:  # pragma: no cover - a bug: the files stay for sync
            self.warn("the file upload thread stopped on an internal error (%r); `fluoro sync` uploads the rest" % (e,))
            with self._cond:
                self.paused = True
                self._cond.notify_all()
        finally:
            client.close()

    def _handle(self, it: Tuple[Any, ...]) -> None:
        kind = it[0]
        if kind == "bytes":
            self._write(it[1], it[2], None)
        elif kind == "path":
            self._write(it[1], None, it[2])
        elif kind == "watch":
            w: Watch = it[1]
            if w.policy == "end":
                self._watches.append(w)
                return
            self._scan_one(w, False)
            if w.policy == "live":
                self._watches.append(w)

    def _scan(self, final: bool) -> None:
        for w in self._watches:
            if w.policy == "live" or final:
                try:
                    self._scan_one(w, final)
                except Exception as e:
                    self._once("scan", "save(%r) failed (%r)" % (w.pattern, e))

    def _scan_one(self, w: Watch, final: bool) -> None:
        base = os.path.realpath(w.base)
        for src in w.matches():
            name = self._name_for(w, src, base)
            if name is None:
                continue
            try:
                st = os.stat(src)
            except OSError:
                continue
            if not os.path.isfile(src):
                continue
            key = (st.st_mtime_ns, st.st_size)
            if w.seen.get(src) == key:
                continue
            w.seen[src] = key
            self._write(name, None, src)

    def _name_for(self, w: Watch, src: str, base: str) -> Optional[str]:
        """The run file name of a matched path, or None (with a warning) when it escapes base."""
        absrc = os.path.abspath(src)
        if os.path.isdir(absrc):
            return None
        rel = os.path.relpath(absrc, os.path.abspath(w.base))
        if rel == ".." or rel.startswith(".." + os.sep) or os.path.isabs(rel):
            self._once("escape:" + absrc, "save(%r): %s is outside base_path %s; skipped" % (w.pattern, src, w.base))
            return None
        real = os.path.realpath(absrc)
        if real != base and not real.startswith(base.rstrip(os.sep) + os.sep):
            self._once(
                "escape:" + absrc,
                "save(%r): %s is a symlink to %s, outside base_path %s; skipped" % (w.pattern, src, real, w.base),
            )
            return None
        if self.exclude is not None and (real == self.exclude or real.startswith(self.exclude + os.sep)):
            return None  # the run directories themselves
        name = rel.replace(os.sep, "/")
        why = check_name(name)
        if why is not None:
            self._once("name:" + name, "save(%r): cannot upload %r: %s; skipped" % (w.pattern, name, why))
            return None
        return name

    def _write(self, name: str, data: Optional[bytes], src: Optional[str]) -> None:
        """Write files/<name> atomically and index it, unless that content is recorded already."""
        why = check_name(name)
        if why is not None:
            self._once("name:" + name, "run file %r skipped: %s" % (name, why))
            return
        dest = local_path(self.run_dir, name)
        tmp = os.path.join(os.path.dirname(dest), ".%s.tmp-%d" % (os.path.basename(dest), os.getpid()))
        try:
            if data is not None:
                if len(data) > self.max_bytes:
                    self._too_big(name, len(data))
                    return
                sha = hashlib.sha256(data).hexdigest()
                size = len(data)
                if self._recorded.get(name) == sha:
                    return
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                with open(tmp, "wb") as f:
                    f.write(data)
            else:
                assert src is not None
                size = os.path.getsize(src)
                if size > self.max_bytes:
                    self._too_big(name, size)
                    return
                if os.path.abspath(src) == os.path.abspath(dest):
                    sha, size = hash_file(src)
                    tmp = ""
                else:
                    os.makedirs(os.path.dirname(dest), exist_ok=True)
                    h = hashlib.sha256()
                    size = 0
                    with open(src, "rb") as fi, open(tmp, "wb") as fo:
                        while True:
                            b = fi.read(_CHUNK)
                            if not b:
                                break
                            h.update(b)
                            fo.write(b)
                            size += len(b)
                    sha = h.hexdigest()
                if self._recorded.get(name) == sha:
                    if tmp:
                        os.unlink(tmp)
                    return
            if tmp:
                os.replace(tmp, dest)
        except OSError as e:
            self._once("write:" + name, "cannot save run file %r (%s); it is not uploaded" % (name, e))
            try:
                if tmp:
                    os.unlink(tmp)
            except OSError:
                pass
            return
        self._recorded[name] = sha
        self.written += 1
        self._index([record_line(name, sha, size, time.time())])
        with self._cond:
            self._pending.pop(name, None)
            self._pending[name] = (sha, size)
            self._cond.notify_all()

    def _too_big(self, name: str, size: int) -> None:
        self._once(
            "big:" + name,
            "run file %r is %d bytes, over max_file_bytes (%d); not saved" % (name, size, self.max_bytes),
        )

    def _index(self, lines: List[bytes]) -> None:
        if self.index_broken:
            return
        try:
            with self._index_mu:
                if not self._index_started:
                    self._index_started = True
                    if not os.path.exists(index_path(self.run_dir)):
                        lines = [header_line(time.time())] + lines
                append_index(self.run_dir, lines)
        except OSError as e:
            self.index_broken = True
            self.warn("cannot write the file index (%s): unsent files are not recorded for sync" % (e,))

    def _upload_one(self, client: Client, name: str, sha: str) -> None:
        ident = self.ready()
        if ident is None:
            self._next_try = time.monotonic() + 0.2  # the run is not created yet
            return
        try:
            path = local_path(self.run_dir, name)
            data = FileBody(path, os.path.getsize(path))  # streamed: never whole in memory
        except OSError as e:
            self._index([ack_line(name, sha, None, "cannot read the saved copy: %s" % e)])
            with self._cond:
                self._pending.pop(name, None)
                self._cond.notify_all()
            return
        out = upload(client, ident, name, data, sha)
        if out.kind == RETRY:
            self._attempt += 1
            if self._attempt == 3:
                self._once("retry", "uploading run files: %s; retrying" % (out.message or "no answer"))
            delay = min(self.max_backoff, self.backoff * (2 ** min(self._attempt - 1, 16)))
            self._next_try = time.monotonic() + delay / 2 + random.uniform(0, delay / 2)
            return
        if out.kind == AUTH:
            self.paused = True
            self.warn(
                "the server refused the API key for a file upload; files stay in %s for `fluoro sync`" % self.run_dir
            )
            with self._cond:
                self._cond.notify_all()
            return
        self._attempt = 0
        status, error = None, None
        if out.kind == REJECTED:
            status, error = out.status, "%s %s" % (out.code, out.message)
            self._once("rej:" + name, "the server refused run file %r: HTTP %s %s" % (name, out.status, error))
        else:
            self.uploaded += 1
        self._index([ack_line(name, sha, status, error)])  # before flush() can see it done
        with self._cond:
            if self._pending.get(name, (None,))[0] == sha:
                self._pending.pop(name, None)
            self._cond.notify_all()

    def _once(self, key: str, msg: str) -> None:
        if key in self._reported:
            return
        self._reported.add(key)
        self.warn(msg)

"""The two background threads of a run: the spool writer and the sender.

``log()`` only appends a tuple to ``Pipeline.q`` (a deque: no lock). The
spool thread drains it, folds rows into the summary, cuts batches by size and
by time (``batch_interval``, 0.2 s), serialises each batch once and appends
it to the spool *before* handing it to the sender. The sender posts records
in order over one keep-alive connection, retries with exponential backoff
and jitter, writes an ack line to the spool for each acknowledgement and
lets the spool delete spent segments.

Memory stays bounded when the server is down: the sender keeps at most
``send_cache_bytes`` of bodies in RAM and reads the rest back from the spool.
"""

from __future__ import annotations

import collections
import json
import random
import threading
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Set, Tuple

from ._errors import SpoolError
from ._records import AUTH, REJECTED, RETRY, Ident, describe, dumps_body, rejected_records, send
from ._spool import SpoolWriter, batch_prefix, op_line, read_at
from ._summary import MetricDefinition, SummaryState
from ._transport import Client
from ._values import json_safe

# Queue item kinds (first element of each tuple).
ROW = 0  # (ROW, step, time), then the values dict as the next entry (see Pipeline.q)
SUMSET = 1  # (SUMSET, {key: value})
SUMDEL = 2  # (SUMDEL, key)
CONFIG = 3  # (CONFIG, changes, allow_val_change)
DEFINE = 4  # (DEFINE, MetricDefinition, overwrite)
META = 5  # (META, {"tags": [...], "name": ...})
BARRIER = 6  # (BARRIER, Marker)
FINISH = 7  # (FINISH, body, Marker)

MAX_BODY = 16 << 20  # the server takes 32 MiB; stay well below
_ROWS_PER_CALL = 64  # rows per json.dumps call: bounds how long the GIL is held
_STR_ONLY = frozenset((str,))


class Marker:
    """A point in the queue: set once everything before it is spooled."""

    __slots__ = ("event", "seq")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.seq = 0


class Stats:
    """Counters shown at finish and by tests."""

    def __init__(self) -> None:
        self.rows = 0
        self.points = 0
        self.batches = 0
        self.sent = 0
        self.rejected = 0  # records refused as a whole
        self.rejected_rows = 0  # rows refused inside accepted batches
        self.duplicates = 0
        self.retries = 0


_last_yield = 0.0


def _yield() -> None:
    """Offer the GIL to the training thread after every ~2 ms of work.

    Otherwise a log() call that arrives while this thread is busy waits out
    the interpreter's 5 ms switch interval. sleep(0) costs ~0.15 ms here, so
    it is rationed by time (measured over 200k calls: stalls over 2 ms went
    from 84 to 9, for ~7% of this thread's time).
    """
    global _last_yield
    now = time.monotonic()
    if now - _last_yield >= 0.002:
        _last_yield = now
        time.sleep(0)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class Pipeline:
    def __init__(
        self,
        ident: Ident,
        spool: Optional[SpoolWriter],
        client: Optional[Client],
        summary: SummaryState,
        *,
        first_seq: int,
        batch_interval: float,
        batch_max_points: int,
        send_cache_bytes: int,
        retry_backoff: float,
        retry_max_backoff: float,
        termlog: Callable[[str], None],
        warn: Callable[[str], None],
    ) -> None:
        self.ident = ident
        self.spool = spool
        self.client = client
        self.summary = summary
        self.termlog = termlog
        self.warn = warn
        self.interval = batch_interval
        self.max_points = batch_max_points
        self.cache_limit = send_cache_bytes
        self.backoff = retry_backoff
        self.max_backoff = retry_max_backoff
        self.stats = Stats()

        # log() appends a row as two entries in one deque.extend call (atomic
        # under the GIL): (ROW, step, time) and the values dict. Kept apart,
        # neither is tracked by the garbage collector (a tuple holding a dict
        # always is), so a backlog of a million rows costs no GC time.
        self.q: Deque[Any] = collections.deque()
        self.wake = threading.Event()
        self.idle = False
        self.dead = False  # the spool thread stopped: log() becomes a no-op

        self._seq = first_seq - 1
        self._prefix = batch_prefix(*ident)
        self._rows: List[Dict[str, Any]] = []
        self._points = 0
        self._first = 0.0
        self._ops: List[List[Any]] = []  # [kind, body, allow_val_change|None]
        self.last_spooled = first_seq - 1
        self._spool_broken = False
        self._reported: Set[str] = set()

        self._cond = threading.Condition()
        self._pending: Deque[List[Any]] = collections.deque()  # [seq, kind, body|None, loc]
        self.acked = first_seq - 1
        self._cache = 0
        self._stopping = False
        self._abandon = False
        self.paused = False  # the server refused the key
        self.sender_done = False
        self._writer: Optional[threading.Thread] = None
        self._sender: Optional[threading.Thread] = None

    # --- lifecycle -------------------------------------------------------

    def start(self) -> None:
        self._writer = threading.Thread(target=self._writer_main, name="fluoro-spool", daemon=True)
        self._writer.start()
        if self.client is not None:
            self._sender = threading.Thread(target=self._sender_main, name="fluoro-send", daemon=True)
            self._sender.start()

    def put(self, item: Tuple[Any, ...]) -> None:
        """Queue a control item and wake the spool thread."""
        self.q.append(item)
        self.wake.set()

    def mark_acked(self, seq: int) -> None:
        """A record that was applied before the pipeline started (the init-time create)."""
        with self._cond:
            self.acked = max(self.acked, seq)
        if self.spool is not None:
            self.spool.ack(seq)

    def barrier(self, timeout: Optional[float] = None) -> Optional[int]:
        """Wait until everything queued so far is spooled; returns the last seq."""
        if self.dead:
            return None
        m = Marker()
        self.put((BARRIER, m))
        if not m.event.wait(timeout):
            return None
        return m.seq

    def wait_acked(self, seq: int, timeout: Optional[float]) -> bool:
        """Wait until every record up to seq is acknowledged (or given up on)."""
        if self.client is None:
            return False
        with self._cond:
            self._cond.wait_for(lambda: self.acked >= seq or self.paused or self.sender_done, timeout)
            return self.acked >= seq

    def finish(self, body: Dict[str, Any], timeout: float) -> Tuple[int, bool]:
        """Spool the rest and a finish record, then wait up to timeout for acks.

        Returns (seq of the finish record, whether everything was acknowledged).
        Spooling is waited for without a limit: it is local, and what is not
        spooled would be lost.
        """
        m = Marker()
        self.put((FINISH, body, m))
        while not m.event.wait(1.0):
            if self._writer is None or not self._writer.is_alive():
                break
        acked = self.wait_acked(m.seq, timeout) if self.client is not None else False
        self.stop(abandon=not acked)
        return m.seq, acked

    def stop(self, abandon: bool = True) -> None:
        with self._cond:
            self._stopping = True
            self._abandon = self._abandon or abandon
            self._cond.notify_all()
        self.dead = True
        self.wake.set()
        for t in (self._writer, self._sender):
            if t is not None and t is not threading.current_thread():
                t.join(timeout=2.0)

    @property
    def unacked(self) -> int:
        with self._cond:
            return len(self._pending)

    def after_fork_child(self) -> None:
        """In a forked child: no threads exist; forget everything without I/O."""
        self.dead = True
        self.q = collections.deque()
        self._cond = threading.Condition()
        self._pending = collections.deque()
        self.wake = threading.Event()
        if self.spool is not None:
            self.spool.after_fork_child()

    # --- the spool thread ------------------------------------------------

    def _writer_main(self) -> None:
        try:
            self._writer_loop()
        except BaseException as e:  # pragma: no cover - a bug; keep the process alive
            self.dead = True
            self.warn("the spool thread stopped on an internal error (%r); later data is not recorded" % (e,))

    def _writer_loop(self) -> None:
        q = self.q
        while True:
            if not q:
                timeout = None
                if self._rows or self._ops or self.summary.dirty:
                    timeout = max(0.0, self._first + self.interval - time.monotonic())
                self.idle = True
                if not q:
                    self.wake.wait(timeout)
                self.idle = False
                self.wake.clear()
                if (self._abandon or self.dead) and not q:
                    return
            n = 0
            while q and n < 5000:
                item = q.popleft()
                n += 1
                if not n & 127:
                    _yield()
                try:
                    if item[0] == ROW:
                        self._add_row(item[1], item[2], q.popleft())
                        if self._points >= self.max_points:
                            self._flush()
                    elif self._control(item):
                        return
                except Exception as e:  # one bad item must not stop the thread
                    self._report_once("item", "dropped data after an internal error (%r); please report this" % (e,))
                    if item[0] == FINISH:
                        item[2].event.set()
                        return
            if (self._rows or self._ops or self.summary.dirty) and time.monotonic() - self._first >= self.interval:
                try:
                    self._flush()
                except Exception as e:
                    self._report_once(
                        "flush", "dropped a batch after an internal error (%r); please report this" % (e,)
                    )

    def _add_row(self, step: int, t: float, values: Dict[str, Any]) -> None:
        if not values:
            return
        if not _STR_ONLY.issuperset(map(type, values)):  # log() checks only value types
            fixed = {str(k): v for k, v in values.items() if isinstance(k, (str, int, float, bool))}
            if len(fixed) < len(values):
                self._report_once("keys", "dropped metric keys that are not strings or numbers")
            values = fixed
        if not self._rows and not self._ops:
            self._first = time.monotonic()
        try:
            self.summary.step_sync(values)
            self.summary.observe(values)
        except Exception as e:  # a value the summary cannot fold; still log the row
            self._report_once("summary", "cannot update the summary from a row (%r)" % (e,))
        self._rows.append({"step": step, "time": t, "values": values})
        self._points += len(values)
        self.stats.rows += 1

    def _control(self, item: Tuple[Any, ...]) -> bool:
        """Handle a non-row item; True means stop the thread."""
        kind = item[0]
        self._mark_first()
        if kind == SUMSET:
            self.summary.set(item[1])
        elif kind == SUMDEL:
            self.summary.delete(item[1])
        elif kind == CONFIG:
            self._add_op("update", {"config": item[1]}, bool(item[2]))
        elif kind == DEFINE:
            d: MetricDefinition = item[1]
            self.summary.define(d, bool(item[2]))
            metrics = [x.to_json() for x in self.summary.defs]
            self._add_op("update", {"config": {"_fluoro": {"metrics": metrics}}}, True)
        elif kind == META:
            self._add_op("update", dict(item[1]), None)
        elif kind == BARRIER:
            self._flush()
            m: Marker = item[1]
            m.seq = self.last_spooled
            m.event.set()
        elif kind == FINISH:
            self._flush()
            body, m = item[1], item[2]
            self._emit_op("finish", body)
            m.seq = self.last_spooled
            m.event.set()
            with self._cond:
                self._stopping = True
                self._cond.notify_all()
            return True
        return False

    def _mark_first(self) -> None:
        if not self._rows and not self._ops and not self.summary.dirty:
            self._first = time.monotonic()

    def _add_op(self, kind: str, body: Dict[str, Any], allow: Optional[bool]) -> None:
        last = self._ops[-1] if self._ops else None
        if last is not None and last[0] == kind and last[2] == allow:
            b = last[1]
            if "config" in body:
                b.setdefault("config", {}).update(body["config"])
            for k, v in body.items():
                if k != "config":
                    b[k] = v
            return
        if allow is not None:
            body = dict(body, allow_val_change=allow) if allow else body
        self._ops.append([kind, body, allow])

    def _flush(self) -> None:
        ops, self._ops = self._ops, []
        for kind, body, _ in ops:
            self._emit_op(kind, body)
        rows, self._rows = self._rows, []
        self._points = 0
        summary = self.summary.take_dirty()
        if rows or summary:
            self._emit_rows(rows, summary)

    def _encode_rows(self, rows: List[Dict[str, Any]]) -> Optional[bytes]:
        # Encode a few rows per json.dumps call: the C encoder holds the GIL
        # for the whole call, and the training thread waits for it.
        try:
            if len(rows) <= _ROWS_PER_CALL:
                return _dumps(rows)
            parts = []
            for i in range(0, len(rows), _ROWS_PER_CALL):
                parts.append(_dumps(rows[i : i + _ROWS_PER_CALL])[1:-1])
                _yield()
            return b"[" + b",".join(parts) + b"]"
        except (TypeError, ValueError, RecursionError):
            pass
        try:  # odd keys or values that slipped past log(): make them plain
            return _dumps(
                [{"step": r["step"], "time": r["time"], "values": json_safe(r["values"], False)} for r in rows]
            )
        except Exception as e:
            self._report_once("encode", "dropped %d rows that cannot be encoded as JSON (%r)" % (len(rows), e))
            return None

    def _emit_rows(self, rows: List[Dict[str, Any]], summary: Dict[str, Any]) -> None:
        enc = self._encode_rows(rows) if rows else None
        if enc is not None and len(enc) > MAX_BODY and len(rows) > 1:
            half = len(rows) // 2
            self._emit_rows(rows[:half], {})
            self._emit_rows(rows[half:], summary)
            return
        sumb = None
        if summary:
            try:
                sumb = _dumps(summary)
            except (TypeError, ValueError):
                sumb = _dumps(json_safe(summary, False))
        if enc is None and sumb is None:
            return
        self._seq += 1
        seq = self._seq
        parts = [self._prefix, b"%d" % seq]
        if enc is not None:
            parts += [b',"history":', enc]
            self.stats.points += sum(len(r["values"]) for r in rows)
        if sumb is not None:
            parts += [b',"summary":', sumb]
        parts.append(b"}")
        body = b"".join(parts)
        self.stats.batches += 1
        self._emit(seq, "batch", body, body + b"\n")

    def _emit_op(self, kind: str, body: Dict[str, Any]) -> None:
        self._seq += 1
        seq = self._seq
        self._emit(seq, kind, dumps_body(body), op_line(kind, seq, body))

    def _emit(self, seq: int, kind: str, body: bytes, line: bytes) -> None:
        loc = None
        if self.spool is not None and not self._spool_broken:
            try:
                loc = self.spool.append(seq, line)
            except (OSError, SpoolError) as e:
                self._spool_broken = True
                self.warn("cannot write the spool (%s): unsent data is now kept in memory only" % (e,))
        self.last_spooled = seq
        if self.client is None:
            return
        keep: Optional[bytes] = body
        if loc is not None and kind == "batch" and self._cache + len(body) > self.cache_limit:
            keep = None  # read back from the spool when its turn comes
        with self._cond:
            if keep is not None:
                self._cache += len(body)
            self._pending.append([seq, kind, keep, loc])
            self._cond.notify_all()

    # --- the sender thread -----------------------------------------------

    def _sender_main(self) -> None:
        assert self.client is not None
        client = self.client.for_thread()
        try:
            self._sender_loop(client)
        except BaseException as e:  # pragma: no cover - a bug; the spool keeps the data
            self.warn("the sender thread stopped on an internal error (%r); data stays in the spool" % (e,))
        finally:
            client.close()
            with self._cond:
                self.sender_done = True
                self._cond.notify_all()

    def _resolve_entity(self, client: Client) -> bool:
        try:
            resp = client.raw("GET", "/api/v1/viewer")
        except OSError:
            return False
        if resp.status in (401, 403):
            self.paused = True
            self.warn(
                "the server refused the API key; data stays in the spool (%s): fix the key and run "
                "`python -m fluoro sync` on it" % self._spool_dir()
            )
            return False
        if resp.status != 200:
            return False
        ent = (resp.json() or {}).get("entity") or ""
        if not ent:
            return False
        self.ident = self.ident._replace(entity=ent)
        return True

    def _spool_dir(self) -> str:
        return self.spool.run_dir if self.spool is not None else "(no spool)"

    def _sender_loop(self, client: Client) -> None:
        attempt = 0
        outage_reported = False
        while True:
            with self._cond:
                while not self._pending and not self._stopping and not self._abandon:
                    self._cond.wait()
                if self._abandon or not self._pending:
                    return
                rec = self._pending[0]
            seq, kind, body, loc = rec
            if not self.ident.entity and not self._resolve_entity(client):
                if self.paused:
                    return
                out = None
            else:
                if body is None:
                    try:
                        body = read_at(*loc)
                    except (OSError, SpoolError) as e:
                        self._report_once("read", "cannot read back a spooled batch (%s); it was skipped" % (e,))
                        self._done(rec, None, None)
                        continue
                out = send(client, kind, body, self.ident)
            if out is None or out.kind == RETRY:
                attempt += 1
                self.stats.retries += 1
                if attempt == 3 and not outage_reported:
                    outage_reported = True
                    why = out.message if out is not None and out.message else "no answer"
                    self.termlog("server unreachable (%s); retrying, data is safe in the spool" % why)
                delay = min(self.max_backoff, self.backoff * (2 ** min(attempt - 1, 16)))
                delay = delay / 2 + random.uniform(0, delay / 2)
                with self._cond:
                    self._cond.wait_for(lambda: self._abandon, timeout=delay)
                continue
            if out.kind == AUTH:
                self.paused = True
                self.warn(
                    "the server refused the API key (HTTP %s: %s); data stays in the spool (%s): fix the "
                    "key and run `python -m fluoro sync` on it" % (out.status, out.message, self._spool_dir())
                )
                return
            if outage_reported:
                self.termlog("server reachable again; sending the backlog")
                outage_reported = False
            attempt = 0
            if out.kind == REJECTED:
                self.stats.rejected += 1
                self._report_once("rej:%s:%s" % (kind, out.code), describe(kind, out) + " (reported once)")
                self._done(rec, out.status, out.message or out.code)
                continue
            if out.ack:
                if out.ack.get("duplicate"):
                    self.stats.duplicates += 1
                rej = rejected_records(out.ack)
                if rej:
                    self.stats.rejected_rows += len(rej)
                    first = rej[0] if isinstance(rej[0], dict) else {}
                    self._report_once(
                        "partial",
                        "the server refused %d record(s) of a batch, e.g. %s: %s (reported "
                        "once)" % (len(rej), first.get("record"), first.get("error")),
                    )
            self.stats.sent += 1
            self._done(rec, None, None)

    def _done(self, rec: List[Any], status: Optional[int], error: Optional[str]) -> None:
        seq = rec[0]
        if self.spool is not None and not self._spool_broken:
            try:
                self.spool.ack(seq, status, error)
            except OSError:
                pass
        with self._cond:
            if self._pending and self._pending[0] is rec:
                self._pending.popleft()
            if rec[2] is not None:
                self._cache -= len(rec[2])
            self.acked = max(self.acked, seq)
            self._cond.notify_all()

    def _report_once(self, key: str, msg: str) -> None:
        if key in self._reported:
            return
        self._reported.add(key)
        self.warn(msg)

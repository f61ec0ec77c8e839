"""The two background threads of a run: the spool writer and the sender.

``log()`` only appends a tuple to ``Pipeline.q`` (a deque: no lock). The
spool thread drains it, gathers rows into runs of the same keys, which it
encodes and folds into the summary a run at a time (``_encode``), cuts
batches by size and by time (``batch_interval``, 0.2 s), and appends each
batch to the spool *before* handing it to the sender (an alert makes its
batch due at once). The sender posts records
in order over one keep-alive connection, retries with exponential backoff
and jitter, writes an ack line to the spool for each acknowledgement and
lets the spool delete spent segments.

Memory stays bounded when the server is down: the sender keeps at most
``send_cache_bytes`` of bodies in RAM and reads the rest back from the spool.
"""

from __future__ import annotations

import collections
import json
import operator
import random
import threading
import time
from itertools import chain, compress, count, islice, repeat, starmap
from typing import Any, Callable, Deque, Dict, List, Optional, Set, Tuple

from . import _threads
from ._encode import HistoryEncoder
from ._errors import SpoolError
from ._records import (
    AUTH,
    REJECTED,
    RETRY,
    Ident,
    batch_run,
    complete_entity,
    describe,
    dumps_body,
    rejected_records,
    send,
    send_batches,
)
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
CONSOLE = 8  # (CONSOLE, time, stream, line): a console line (_console)
SYSTEM = 9  # (SYSTEM, time, {name: float}): a system-metrics sample (_system)
ALERT = 10  # (ALERT, time, {"title", "text", "level", "wait_ms"}): run.alert(), checked (_alerts)

MAX_BODY = 16 << 20  # the server takes 32 MiB; stay well below
# A run of rows is encoded in one go, holding the GIL for up to ~2 ms; these
# bound it (and how much one run's text can weigh).
_RUN_ROWS = 256
_RUN_POINTS = 5120
_BULK = 2 * _RUN_ROWS  # queue entries taken at once
_WAKE_LEN = 2048  # queued entries (two per row) that wake a spool thread waiting for its batch deadline
_TICK_FOR = 2.0  # seconds after a batch of rows during which the spool thread wakes every batch_interval
_DICT_ONLY = frozenset((dict,))
_STEP = operator.itemgetter(1)
_TIME = operator.itemgetter(2)
_RUN_TEXT = 4 << 20  # a run's text above this is encoded again in halves
_STR_ONLY = frozenset((str,))
MAX_CONSOLE_LINE = 1 << 16  # bytes of UTF-8 the server takes in one console line
_SIDE_BYTES = 4 << 20  # console, system and alert text in one batch before it is cut early
_CUT = " [line cut by fluoro: over 64 KiB]"


def cap_line(line: str) -> str:
    """A console line cut to what the server takes (64 KiB of UTF-8), saying so."""
    if len(line) <= MAX_CONSOLE_LINE // 4:
        return line
    b = line.encode("utf-8", "replace")
    if len(b) <= MAX_CONSOLE_LINE:
        return line
    return b[: MAX_CONSOLE_LINE - len(_CUT)].decode("utf-8", "ignore") + _CUT


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
        self.console = 0  # console lines spooled
        self.system = 0  # system samples spooled
        self.alerts = 0  # alerts spooled
        self.catch_ups = 0  # times log() spooled on the caller's thread (catch_up)
        self.wakes = 0  # times the spool thread woke from its wait


def _dumps_str(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _round_time(t: Any) -> Any:
    return round(t, 3) if type(t) is float else t


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
        heartbeat_interval: float = 30.0,
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
        # Online, a batch (empty if need be) at least this often, so the
        # server can tell a live run from a lost one (0: never).
        self.heartbeat = heartbeat_interval if client is not None else 0.0
        self._last_emit = time.monotonic()
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
        self.idle = False  # the spool thread waits for wake
        self.wake_len = 0  # ... and needs it only once the queue holds this many entries
        self.dead = False  # the spool thread stopped: log() becomes a no-op

        self._seq = first_seq - 1
        self._prefix = batch_prefix(*ident)
        self._prefix_str = self._prefix.decode()
        self._enc = HistoryEncoder()
        self._chunks: List[str] = []  # encoded runs of the batch being built
        self._chunk_points: List[int] = []  # the points of each
        # Points in the batches cut so far (the "logged" of the last one), and
        # in those spooled: the sender's X-Fluoro-Spooled header.
        self.logged = 0
        self.spooled_points = 0
        self._nrows = 0  # rows in the batch being built (encoded or in the open run)
        self._points = 0
        # The open run: rows with exactly the keys _run_keys, not yet encoded.
        self._run_keys: Optional[Tuple[str, ...]] = None
        self._run_cap = 1
        self._run_steps: List[int] = []
        self._run_times: List[Any] = []
        self._run_rows: List[Dict[str, Any]] = []
        self._first = 0.0
        self._ops: List[List[Any]] = []  # [kind, body, allow_val_change|None]
        self._console: List[str] = []  # encoded console records of the batch being built
        self._system: List[str] = []  # encoded system samples of the batch being built
        self._alerts: List[str] = []  # encoded alerts of the batch being built
        self._urgent_at = -1e9  # when an alert last made its batch due at once (monotonic)
        self._side = 0  # their total length
        self.last_spooled = first_seq - 1
        self._spool_broken = False
        self._reported: Set[str] = set()
        self._last_yield = 0.0
        self._seen = 0  # queue items popped + still queued, at the last _yield

        # Held by whichever thread is turning queue entries into spooled
        # batches: the spool thread, or the caller's in catch_up().
        self._lock = threading.Lock()
        self._halted = False  # a FINISH was handled: the spool thread stops
        self.progress = time.time()  # wall time of the spool thread's last sign of life
        self.lag = max(0.5, 2 * batch_interval)  # stuck for this long: log() spools itself

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
        self._writer = _threads.start(self._writer_main, "fluoro-spool")
        if self.client is not None:
            self._sender = _threads.start(self._sender_main, "fluoro-send")

    def put(self, item: Tuple[Any, ...]) -> None:
        """Queue a control item and wake the spool thread."""
        self.q.append(item)
        self.wake.set()

    def nudge(self, now: float) -> None:
        """Wake the idle spool thread; the wait for it to show progress starts now.

        Callers check ``idle and len(q) >= wake_len`` first: a thread waiting
        for its batch deadline is woken only by a long queue.
        """
        if not self.wake.is_set():
            self.progress = now
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
        self._lock = threading.Lock()  # may have been held by the spool thread at fork time
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

    def _yield(self, popped: int) -> None:
        """Offer the GIL to the training thread after every ~2 ms of work.

        Otherwise a log() call that arrives while this thread is busy waits out
        the interpreter's 5 ms switch interval. sleep(0) costs ~0.15 ms on an
        idle machine, and a whole time slice (several ms) on a loaded one, as
        it yields the CPU too; so it is rationed by time (measured over 200k
        calls: stalls over 2 ms went from 84 to 9, for ~7% of this thread's
        time), and skipped while nothing is being logged (as when finish()
        waits for the backlog to drain).
        """
        now = time.monotonic()
        if now - self._last_yield >= 0.002:
            self._last_yield = now
            seen = popped + len(self.q)
            if seen != self._seen:
                self._seen = seen
                time.sleep(0)

    def _writer_loop(self) -> None:
        q = self.q
        lock = self._lock
        popped = 0
        ticking = 0.0  # rows were flushed lately: wake every interval until then
        while True:
            tick = False
            tick_at = 0.0
            if not q:
                timeout = None
                now = time.monotonic()
                if self._nrows or self._ops or self._side or self.summary.dirty:
                    timeout = max(0.0, self._first + self.interval - now)
                elif now < ticking:
                    # While rows keep coming, wake once an interval and send what
                    # came, rather than wait for a row to be woken (by log(): a
                    # thread switch and a GIL hand-off) and again at its
                    # deadline: one wake-up a batch instead of two, and none
                    # asked of the training thread. A row waits at most an
                    # interval either way.
                    timeout = self.interval
                    tick = True
                    tick_at = now + timeout
                # With rows waiting for their batch's deadline the thread wakes
                # by itself: log() need not wake it per row (a thread switch
                # and a GIL hand-off each step), only when the queue grows long.
                self.wake_len = 0 if timeout is None else _WAKE_LEN
                if timeout is None and self.heartbeat:  # idle: wake for the heartbeat (log() still wakes it)
                    timeout = max(0.0, self._last_emit + self.heartbeat - now)
                self.idle = True
                if not q:
                    self.wake.wait(timeout)
                    self.stats.wakes += 1
                self.idle = False
                self.wake.clear()
                if (self._abandon or self.dead) and not q:
                    return
            with lock:
                if self._halted:
                    return
                self.progress = time.time()
                n, stop = self._drain(popped, 10000, True)
                if stop:
                    self._halted = True
                    return
                popped += n
                busy = self._nrows or self._ops or self._side or self.summary.dirty
                # A tick flushes when its interval is up, not when a put() (an
                # op, a console line, an alert) woke the thread early: those
                # wait for their batch's deadline like rows, unless due at once.
                now = time.monotonic()
                if busy and tick and now < tick_at - 0.002:
                    self._first = min(self._first, tick_at - self.interval)  # still due at the tick
                if busy and ((tick and now >= tick_at - 0.002) or now - self._first >= self.interval):
                    if self._nrows:
                        ticking = time.monotonic() + _TICK_FOR
                    try:
                        self._flush()
                    except Exception as e:
                        self._report_once(
                            "flush", "dropped a batch after an internal error (%r); please report this" % (e,)
                        )
                elif not busy and self.heartbeat and now >= self._last_emit + self.heartbeat:
                    self._emit_rows([], {})  # nothing to send for a while: an empty batch says the run lives
                self.progress = time.time()

    def _drain(self, popped: int, limit: int, yields: bool) -> Tuple[int, bool]:
        """Take up to about limit queue entries; returns (entries taken, whether to stop)."""
        q = self.q
        n = 0  # queue entries popped (two per row)
        while q and n < limit:
            # Take up to _BULK entries in one C call (the GIL is held throughout,
            # so a row's two entries are never split by a concurrent log()).
            k = min(len(q), _BULK)
            items = list(starmap(q.popleft, repeat((), k)))
            n += k
            if not k & 1 and _DICT_ONLY.issuperset(map(type, items[1::2])):
                try:  # rows only: (ROW, step, time), values, (ROW, step, time), values, ...
                    self._add_rows(items[0::2], items[1::2])
                    if self._points >= self.max_points:
                        self._flush()
                except Exception as e:  # a bug; must not stop the thread
                    self._report_once("item", "dropped data after an internal error (%r); please report this" % (e,))
            else:
                extra = self._items(items)
                if extra < 0:
                    return n, True
                n += extra
            if yields:
                self._yield(popped + n)
        return n, False

    def catch_up(self) -> None:
        """Spool what is queued on the caller's thread: the spool thread is stuck.

        log() calls this when the spool thread has shown no progress for
        ``lag`` seconds while rows wait, as happens when the machine's CPUs are
        saturated and the thread rarely gets the GIL and a core together. The
        rows are then encoded and appended to the spool here, so a kill -9
        cannot take more than about ``lag`` seconds of logged rows with it. If
        the spool thread is busy (holds the lock) it is making progress, and
        this returns at once.
        """
        lock = self._lock
        if not lock.acquire(False):
            return
        try:
            if self._halted or self.dead:
                return
            self.stats.catch_ups += 1
            _, stop = self._drain(0, len(self.q) + 1, False)
            if stop:
                self._halted = True
                self.wake.set()
            if self._nrows or self._ops or self._side or self.summary.dirty:
                self._flush()
        except Exception as e:  # never into the training loop
            self._report_once("flush", "dropped a batch after an internal error (%r); please report this" % (e,))
        finally:
            self.progress = time.time()
            lock.release()

    def _items(self, items: List[Any]) -> int:
        """Queue entries one by one; -1 when the thread must stop, else entries taken from q."""
        extra = 0
        it = iter(items)
        for item in it:
            try:
                if item[0] == ROW:
                    values = next(it, None)
                    if values is None:  # the row's values are still queued
                        values = self.q.popleft()
                        extra += 1
                    self._add_row(item[1], item[2], values)
                    if self._points >= self.max_points:
                        self._flush()
                elif item[0] == CONSOLE or item[0] == SYSTEM or item[0] == ALERT:
                    self._add_side(item)
                elif self._control(item):
                    return -1
            except Exception as e:  # one bad item must not stop the thread
                self._report_once("item", "dropped data after an internal error (%r); please report this" % (e,))
                if item[0] == FINISH:
                    item[2].event.set()
                    return -1
        return extra

    def _add_rows(self, heads: List[Tuple[int, int, float]], rows: List[Dict[str, Any]]) -> None:
        """Consecutive rows: split into runs of the same keys, added a run at a time."""
        if self.summary._step_names:  # rows may gain a key each
            for h, d in zip(heads, rows):
                self._add_row(h[1], h[2], d)
            return
        keys = list(map(tuple, rows))
        start = 0
        for end in chain(compress(count(1), map(operator.ne, keys, islice(keys, 1, None))), (len(keys),)):
            self._add_run(keys[start], heads[start:end], rows[start:end])
            start = end

    def _add_run(self, keys: Tuple[str, ...], heads: List[Tuple[int, int, float]], rows: List[Dict[str, Any]]) -> None:
        if keys != self._run_keys:
            if not keys or not _STR_ONLY.issuperset(map(type, keys)):
                for h, d in zip(heads, rows):
                    self._add_row(h[1], h[2], d)
                return
            self._end_run()
            self._run_keys = keys
            self._run_cap = max(1, min(_RUN_ROWS, _RUN_POINTS // len(keys)))
        if not self._nrows and not self._ops and not self._side:
            self._first = time.monotonic()
        m = len(rows)
        self._run_steps.extend(map(_STEP, heads))
        self._run_times.extend(map(_TIME, heads))
        self._run_rows.extend(rows)
        self._nrows += m
        self._points += m * len(keys)
        self.stats.rows += m
        if len(self._run_rows) >= self._run_cap:
            self._end_run()

    def _add_row(self, step: int, t: float, values: Dict[str, Any]) -> None:
        if not values:
            return
        if self.summary._step_names:
            try:
                self.summary.step_sync(values)
            except Exception as e:
                self._report_once("summary", "cannot update the summary from a row (%r)" % (e,))
        keys = tuple(values)
        if keys != self._run_keys:
            self._end_run()
            if not _STR_ONLY.issuperset(map(type, keys)):  # log() checks only value types
                fixed = {str(k): v for k, v in values.items() if isinstance(k, (str, int, float, bool))}
                if len(fixed) < len(values):
                    self._report_once("keys", "dropped metric keys that are not strings or numbers")
                if not fixed:
                    return
                values, keys = fixed, tuple(fixed)
            self._run_keys = keys
            self._run_cap = max(1, min(_RUN_ROWS, _RUN_POINTS // len(keys)))
        if not self._nrows and not self._ops and not self._side:
            self._first = time.monotonic()
        self._run_steps.append(step)
        self._run_times.append(t)
        rows = self._run_rows
        rows.append(values)
        self._nrows += 1
        self._points += len(keys)
        self.stats.rows += 1
        if len(rows) >= self._run_cap:
            self._end_run()

    def _end_run(self) -> None:
        """Encode the open run and fold it into the summary."""
        rows = self._run_rows
        if not rows:
            return
        keys, steps, times = self._run_keys, self._run_steps, self._run_times
        assert keys is not None
        self._run_rows, self._run_steps, self._run_times = [], [], []
        try:
            self.summary.observe_run(rows, steps)
        except Exception as e:  # a value the summary cannot fold; still log the rows
            self._report_once("summary", "cannot update the summary from a row (%r)" % (e,))
        cap = self._run_cap
        if len(rows) <= cap:
            self._encode_run(keys, steps, times, rows)
            return
        for i in range(0, len(rows), cap):
            self._encode_run(keys, steps[i : i + cap], times[i : i + cap], rows[i : i + cap])

    def _encode_run(
        self, keys: Tuple[str, ...], steps: List[int], times: List[Any], rows: List[Dict[str, Any]]
    ) -> None:
        """Add the rows to the batch as one or more chunks, with their point counts."""
        try:
            text = self._enc.run(keys, steps, times, rows)
        except Exception:
            for step, t, values in zip(steps, times, rows):
                self._encode_row_slow(step, t, values)
            return
        if len(text) > _RUN_TEXT and len(rows) > 1:  # huge keys or strings: keep bodies under MAX_BODY
            h = len(rows) // 2
            self._encode_run(keys, steps[:h], times[:h], rows[:h])
            self._encode_run(keys, steps[h:], times[h:], rows[h:])
            return
        self._chunks.append(text)
        self._chunk_points.append(len(rows) * len(keys))

    def _encode_row_slow(self, step: int, t: Any, values: Dict[str, Any]) -> None:
        """One row with odd keys or values that slipped past log(): made plain, or dropped."""
        t = _round_time(t)
        try:
            text = json.dumps({"step": step, "time": t, "values": values}, separators=(",", ":"))
        except Exception:
            try:
                text = json.dumps({"step": step, "time": t, "values": json_safe(values, False)}, separators=(",", ":"))
            except Exception as e:
                self._report_once("encode", "dropped rows that cannot be encoded as JSON (%r)" % (e,))
                self._points -= len(values)
                return
        self._chunks.append(text)
        self._chunk_points.append(len(values))

    def _control(self, item: Tuple[Any, ...]) -> bool:
        """Handle a non-row item; True means stop the thread."""
        kind = item[0]
        self._end_run()  # the summary sees earlier rows first
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
        if not self._nrows and not self._ops and not self._side and not self.summary.dirty:
            self._first = time.monotonic()

    def _add_side(self, item: Tuple[Any, ...]) -> None:
        """A console line, a system sample or an alert: not history, so the open run of rows stays open."""
        t = _round_time(item[1])
        if item[0] == CONSOLE:
            stream = "stderr" if item[2] == "stderr" else "stdout"
            text = '{"time":%s,"stream":"%s","line":%s}' % (_dumps_str(t), stream, _dumps_str(cap_line(item[3])))
            dest = self._console
        elif item[0] == ALERT:
            a = item[2]
            text = '{"time":%s,"title":%s,"text":%s,"level":%s,"wait_ms":%d}' % (
                _dumps_str(t),
                _dumps_str(a["title"]),
                _dumps_str(a["text"]),
                _dumps_str(a["level"]),
                a["wait_ms"],
            )
            dest = self._alerts
        else:
            vals = {
                str(k): float(v)
                for k, v in item[2].items()
                if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf")
            }
            if not vals:
                return
            text = '{"time":%s,"values":%s}' % (_dumps_str(t), _dumps_str(vals))
            dest = self._system
        self._mark_first()
        if item[0] == ALERT:
            # Someone waits for it: the batch is due now, not batch_interval
            # from now; at most once a second, so a loop raising alerts with
            # changing titles does not send a batch per alert.
            now = time.monotonic()
            if now - self._urgent_at >= 1.0:
                self._urgent_at = now
                self._first = min(self._first, now - self.interval)
        dest.append(text)
        self._side += len(text) + 1
        if self._side >= _SIDE_BYTES:
            self._flush()

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
        self._end_run()
        chunks, self._chunks = self._chunks, []
        counts, self._chunk_points = self._chunk_points, []
        if chunks:
            self.stats.points += self._points
        self._nrows = self._points = 0
        summary = self.summary.take_dirty()
        console, system, alerts = self._console, self._system, self._alerts
        if self._side:
            self._console, self._system, self._alerts, self._side = [], [], [], 0
            self.stats.console += len(console)
            self.stats.system += len(system)
            self.stats.alerts += len(alerts)
        if chunks or summary or console or system or alerts:
            self._emit_rows(chunks, summary, console, system, alerts, counts)

    def _emit_rows(
        self,
        chunks: List[str],
        summary: Dict[str, Any],
        console: Optional[List[str]] = None,
        system: Optional[List[str]] = None,
        alerts: Optional[List[str]] = None,
        counts: Optional[List[int]] = None,
    ) -> None:
        """Cut the batch into bodies and spool them; counts are the chunks' points."""
        sums = None
        if summary:
            try:
                sums = _dumps_str(summary)
            except (TypeError, ValueError):
                sums = _dumps_str(json_safe(summary, False))
        side = ""
        if console:
            side += ',"console":[' + ",".join(console) + "]"
        if system:
            side += ',"system":[' + ",".join(system) + "]"
        if alerts:
            side += ',"alerts":[' + ",".join(alerts) + "]"
        # Cut the history into bodies under MAX_BODY (a run's text is at most _RUN_TEXT).
        room = MAX_BODY - len(sums or "") - len(side) - len(self._prefix) - 64
        groups: List[List[str]] = []
        points: List[int] = []
        size = room
        for i, c in enumerate(chunks):
            if size + len(c) + 1 > room:
                groups.append([])
                points.append(0)
                size = 0
            groups[-1].append(c)
            points[-1] += counts[i] if counts else 0
            size += len(c) + 1
        if not groups:
            groups.append([])
            points.append(0)
        for i, g in enumerate(groups):
            self._seq += 1
            seq = self._seq
            self.logged += points[i]
            # One join and one encode: batch bodies are megabytes.
            parts = [self._prefix_str, str(seq)]
            if self.logged:
                parts += [',"logged":', str(self.logged)]
            if g:
                sep = [","] * (2 * len(g) - 1)
                sep[0::2] = g
                parts.append(',"history":[')
                parts += sep
                parts.append("]")
            if sums is not None and i == len(groups) - 1:
                parts += [',"summary":', sums]
            if side and i == len(groups) - 1:
                parts.append(side)
            parts.append("}")
            body = "".join(parts).encode()
            self.stats.batches += 1
            self._emit(seq, "batch", body, None)
            self.spooled_points = self.logged

    def _emit_op(self, kind: str, body: Dict[str, Any]) -> None:
        self._seq += 1
        seq = self._seq
        self._emit(seq, kind, dumps_body(body), op_line(kind, seq, body))

    def _emit(self, seq: int, kind: str, body: bytes, line: Optional[bytes]) -> None:
        """Spool a record (its line, or the body and a newline), then queue it for sending."""
        self._last_emit = time.monotonic()
        loc = None
        if self.spool is not None and not self._spool_broken:
            try:
                loc = self.spool.append(seq, body, newline=True) if line is None else self.spool.append(seq, line)
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
        multi = True  # the server takes /ingest/batches (an older one may not)
        while True:
            with self._cond:
                while not self._pending and not self._stopping and not self._abandon:
                    self._cond.wait()
                if self._abandon or not self._pending:
                    return
                rec = self._pending[0]
                backlog: List[List[Any]] = []
                if multi and attempt == 0 and len(self._pending) > 1:
                    n = batch_run((r[1], len(r[2]) if r[2] is not None else r[3][2]) for r in self._pending)
                    backlog = list(islice(self._pending, n))
            if len(backlog) > 1 and self.ident.entity:
                # A backlog (after an outage): several batches a request, one
                # commit for all; from the first one not applied, one at a time.
                done, multi = self._send_backlog(client, backlog)
                if done:
                    continue
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
                out = send(client, kind, body, self.ident, seq, self.spooled_points)
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

    def _send_backlog(self, client: Client, recs: List[List[Any]]) -> Tuple[int, bool]:
        """Send batch records in one /ingest/batches request (send_batches); each applied one is done.

        Returns how many were applied, and whether the server takes such requests.
        """
        bodies = []
        for rec in recs:
            body = rec[2]
            if body is None:
                try:
                    body = read_at(*rec[3])
                except (OSError, SpoolError):
                    break  # the one-at-a-time path reports it
            bodies.append(complete_entity(body, self.ident.entity))
        if len(bodies) < 2:
            return 0, True
        applied, multi = send_batches(client, bodies, self.spooled_points)
        for rec, ack in zip(recs, applied):
            self.stats.sent += 1
            if ack.get("duplicate"):
                self.stats.duplicates += 1
            self.stats.rejected_rows += len(rejected_records(ack))
            self._done(rec, None, None)
        return len(applied), multi

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

"""``init()``, ``Run`` and ``finish()``: the part of the SDK a training loop touches.

``Run.log`` is the hot path. It copies the dict, checks its value types in
one C-level pass, applies wandb's step rules and appends a tuple to a deque;
the spool and sender threads (``_pipeline``) do everything else.
"""

from __future__ import annotations

import datetime
import json
import os
import secrets
import socket
import string
import sys
import threading
import time
import warnings
import weakref
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple, Union

from . import _files, _git, _hooks, _threads
from ._config import Config, to_dict
from ._errors import AuthError, CommError, FluoroWarning, UsageError
from ._pipeline import ALERT, CONFIG, CONSOLE, DEFINE, META, ROW, SUMDEL, SUMSET, SYSTEM, Pipeline
from ._records import Ident, dumps_body, op_headers
from ._settings import Settings, resolve
from ._spool import SpoolWriter, op_line
from ._summary import GOALS, MetricDefinition, Summary, SummaryState, parse_summary, summary_value
from ._transport import Client, HTTPTransport, quote
from ._values import DROP, PLAIN, Converter, json_safe
from ._version import __version__

if TYPE_CHECKING:
    from ._alerts import AlertLevel

_issuperset = PLAIN.issuperset
_time = time.time

_current: Optional["Run"] = None
_current_lock = threading.RLock()
_live: List["weakref.ReferenceType[Run]"] = []  # runs init() started in this process, oldest first (reinit)
_capturing: Optional["Run"] = None  # the run whose console capture is installed (one per process)

_ID_CHARS = string.ascii_lowercase + string.digits
_RUN_ID_OK = set(string.ascii_letters + string.digits + "_.-")
_INTERNAL_CONFIG = "_fluoro"


def _gen_id() -> str:
    return "".join(secrets.choice(_ID_CHARS) for _ in range(8))


def _check_run_id(rid: str) -> str:
    rid = str(rid)
    if not (1 <= len(rid) <= 64) or rid.startswith(".") or not set(rid) <= _RUN_ID_OK:
        raise UsageError("run id %r: use 1-64 letters, digits, '_', '-' or '.', not starting with '.'" % rid)
    return rid


def _check_name(what: str, name: Optional[str]) -> None:
    """Entity and project names follow the server's rule; fail at init(), not at sync time."""
    if name is None or name == "":
        return
    if not (1 <= len(name) <= 128) or name.startswith(".") or not set(name) <= _RUN_ID_OK:
        raise UsageError("%s name %r: use 1-128 letters, digits, '_', '-' or '.', not starting with '.'" % (what, name))


def current_run() -> Optional["Run"]:
    return _current


def _forget_current_after_fork() -> None:
    global _current, _current_lock
    _current = None
    _current_lock = threading.RLock()
    del _live[:]


def _live_runs() -> List["Run"]:
    """This process's unfinished runs, oldest first (forgets the others)."""
    pid = os.getpid()
    runs = [r for r in (ref() for ref in _live) if r is not None and not r._finished and r._pid == pid]
    _live[:] = [weakref.ref(r) for r in runs]
    return runs


def _in_notebook() -> bool:
    """Jupyter or IPython, decided as wandb does (without importing IPython)."""
    ipy = sys.modules.get("IPython")
    if ipy is None:
        return False
    try:
        return ipy.get_ipython() is not None
    except Exception:
        return False


class Run:
    """A live run: ``log`` metrics, read and change ``config`` and ``summary``, ``finish``.

    Returned by ``fluoro.init()``. Also a context manager: leaving the
    ``with`` block finishes the run (``failed`` if an exception escapes).
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._mode = settings.mode or "online"
        self._pid = os.getpid()
        self._off = True  # log() is a no-op until the run is live
        self._finished = False
        self._finish_lock = threading.RLock()
        self._step = 0
        self._pending: Optional[Dict[str, Any]] = None
        self._pipe: Optional[Pipeline] = None
        self._spool: Optional[SpoolWriter] = None
        self._client: Optional[Client] = None
        self._summary_state = SummaryState()
        self._conv = Converter(self._warn_caller, self._encode_media, self._chart_logged)
        self._warned: Set[str] = set()
        # alert titles -> when last sent (monotonic), to hold back repeats within their wait
        self._alert_sent: Dict[str, float] = {}
        self.alerts_held = 0  # repeats alert() did not send
        self._max_queue = 2 * int(settings.max_queued_rows or 100_000)  # two queue entries per row
        self._preempting = False
        self._final_state: Optional[str] = None
        self.id: str = ""
        self._name: Optional[str] = None
        self._entity = settings.entity or ""
        self.project: str = settings.project or ""
        self._tags: Tuple[str, ...] = ()
        self._group: Optional[str] = None
        self._job_type: Optional[str] = None
        self._notes: Optional[str] = None
        self._git: Optional[Dict[str, Any]] = None  # {"commit", "branch", "remote", "dirty"} where known
        self.dir: Optional[str] = None
        self._capture: Any = None  # _console.Capture while stdout/stderr are tee'd
        self._sampler: Any = None  # _system.Sampler: system metrics, environment
        self._files: Optional[_files.FileSender] = None  # the fluoro-files thread: run files
        self._diff_thread: Optional[threading.Thread] = None  # writes diff.patch
        self.resumed = False
        self.start_time = _time()
        self.config = Config(on_change=self._config_changed)
        self.summary = Summary(self)

    # --- identity ------------------------------------------------------

    @property
    def entity(self) -> str:
        if not self._entity and self._pipe is not None:
            self._entity = self._pipe.ident.entity
        return self._entity

    @property
    def name(self) -> Optional[str]:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = str(value)
        self._meta({"name": self._name})

    @property
    def tags(self) -> Tuple[str, ...]:
        return self._tags

    @tags.setter
    def tags(self, value: Sequence[str]) -> None:
        self._tags = tuple(str(t) for t in value)
        self._meta({"tags": list(self._tags)})

    @property
    def notes(self) -> Optional[str]:
        return self._notes

    @notes.setter
    def notes(self, value: str) -> None:
        self._notes = str(value)
        self._meta({"notes": self._notes})

    @property
    def group(self) -> Optional[str]:
        return self._group

    @group.setter
    def group(self, value: str) -> None:
        self._group = str(value)
        self._meta({"group": self._group})

    @property
    def job_type(self) -> Optional[str]:
        return self._job_type

    @job_type.setter
    def job_type(self, value: str) -> None:
        self._job_type = str(value)
        self._meta({"job_type": self._job_type})

    @property
    def mode(self) -> str:
        return self._mode

    @property
    def offline(self) -> bool:
        return self._mode == "offline"

    @property
    def disabled(self) -> bool:
        return self._mode == "disabled"

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def step(self) -> int:
        """The step the next ``log()`` without ``step=`` goes to."""
        return self._step

    @property
    def path(self) -> str:
        return "%s/%s/%s" % (self.entity, self.project, self.id)

    @property
    def url(self) -> Optional[str]:
        if not self._settings.base_url or not self.entity:
            return None
        return "%s/%s/%s/runs/%s" % (self._settings.base_url, quote(self.entity), quote(self.project), quote(self.id))

    def get_url(self) -> Optional[str]:
        return self.url

    def project_name(self) -> str:
        return self.project

    @property
    def finished(self) -> bool:
        return self._finished

    def __repr__(self) -> str:
        return "<fluoro.Run %s (%s, %s)>" % (self.path, self._name, self._mode)

    # --- logging -------------------------------------------------------

    def log(
        self,
        data: Mapping[str, Any],
        step: Optional[int] = None,
        commit: Optional[bool] = None,
        sync: Optional[bool] = None,
    ) -> None:
        """Log a row of metrics. Returns at once; never raises.

        Without ``step``, each call that commits is the next step; with
        ``commit=False`` the values are merged into the row of the current
        step, which is sent by the next committing call. With ``step=N``:
        a higher N commits the current row and moves to N (the row at N is
        sent when a later call commits or moves on, or at once with
        ``commit=True``); the same N merges; a lower N is sent as a late
        point for step N, which the server stores next to the others.
        """
        if self._off:
            self._log_off()
            return
        try:
            if type(data) is dict:
                d = dict(data)
            elif isinstance(data, Mapping):
                d = dict(data.items())
            else:
                self._warn_once(
                    "log-type", "log() takes a dict of metrics, not %s; the call was ignored" % type(data).__name__
                )
                return
            if not _issuperset(map(type, d.values())):
                d = self._conv.row(d, step)
            if step is not None:
                self._log_step(d, step, commit)
                return
            p = self._pending
            if commit is False:
                if p is None:
                    self._pending = d
                else:
                    p.update(d)
                return
            if p is not None:
                p.update(d)
                d = p
                self._pending = None
            pipe = self._pipe
            q = pipe.q  # type: ignore[union-attr]
            if d:
                t = _time()
                q.extend(((ROW, self._step, t), d))
                if pipe.idle and len(q) >= pipe.wake_len:  # type: ignore[union-attr]
                    pipe.nudge(t)  # type: ignore[union-attr]
                if len(q) > self._max_queue:
                    self._backpressure()
                elif t - pipe.progress > pipe.lag:  # type: ignore[union-attr]
                    pipe.catch_up()  # type: ignore[union-attr]
            self._step += 1
        except Exception as e:  # never into the training loop
            self._warn_once("internal", "log() failed internally and dropped a row (%r); please report this" % (e,))

    def _log_step(self, d: Dict[str, Any], step: Any, commit: Optional[bool]) -> None:
        if type(step) is not int:
            try:
                if isinstance(step, bool) or int(step) != step:
                    raise ValueError
                step = int(step)
            except (TypeError, ValueError):
                self._warn_once(
                    "step-type", "step=%r is not an integer; the row was logged at the current step" % (step,)
                )
                self.log(d, commit=commit)
                return
        if step < 0:
            self._warn_once("step-neg", "step=%d is negative; the row was dropped" % step)
            return
        q = self._pipe.q  # type: ignore[union-attr]
        cur = self._step
        if step < cur:
            # wandb drops these; Fluoro keeps them as late points (upserted by step).
            if d:
                q.extend(((ROW, step, _time()), d))
                self._wake()
            if "late" not in self._warned:
                self._warned.add("late")
                self._termlog(
                    "step %d is below the current step %d: sent as a late point (reported once)" % (step, cur)
                )
            return
        if step > cur:
            if self._pending:
                q.extend(((ROW, cur, _time()), self._pending))
            self._pending = None
            self._step = step
        self._merge(d)
        if commit:
            if self._pending:
                q.extend(((ROW, step, _time()), self._pending))
            self._pending = None
            self._step = step + 1
        self._wake()

    def _merge(self, d: Dict[str, Any]) -> None:
        """Merge d into the open row of the current step."""
        p = self._pending
        if p is None:
            self._pending = d
        else:
            p.update(d)

    def _log_at(self, d: Dict[str, Any], step: int) -> None:
        """Add d to the row at step: the open row, or a late point for a committed one (watch()'s summaries)."""
        if self._off:
            return
        try:
            if step >= self._step:
                self._merge(d)
            elif d:
                self._pipe.q.extend(((ROW, step, _time()), d))  # type: ignore[union-attr]
                self._wake()
        except Exception as e:  # never into the training loop
            self._warn_once("internal", "log() failed internally and dropped a row (%r); please report this" % (e,))

    def _wake(self) -> None:
        pipe = self._pipe
        if pipe is not None:
            t = _time()
            if pipe.idle and len(pipe.q) >= pipe.wake_len:
                pipe.nudge(t)
            if pipe.q and t - pipe.progress > pipe.lag:
                pipe.catch_up()

    def _backpressure(self) -> None:
        """The spool thread is far behind: give it the GIL for a moment."""
        pipe = self._pipe
        if pipe is not None and not pipe.dead:
            pipe.wake.set()
            time.sleep(0.001)

    def _log_off(self, what: str = "log()") -> None:
        if self._mode == "disabled":
            return
        key = "" if what == "log()" else what + ":"
        if os.getpid() != self._pid:
            self._warn_once(
                key + "forked",
                "this run belongs to the parent process; %s in a forked child "
                "is ignored (call fluoro.init() in the child for its own run)" % what,
            )
        elif self._finished:
            self._warn_once(key + "finished", "%s after finish() is ignored" % what)
        elif self._pipe is not None and self._pipe.dead:
            self._warn_once(key + "dead", "the run's background thread stopped; %s is ignored" % what)

    def _commit_pending(self) -> None:
        if self._pending and self._pipe is not None:
            self._pipe.q.extend(((ROW, self._step, _time()), self._pending))
            self._step += 1
        self._pending = None

    # --- media and files -----------------------------------------------

    def _encode_media(self, key: str, values: List[Any], step: Any, seq: bool) -> Any:
        """The history value of media logged at key (one object, or a list of them); files go to the sender.

        Called by the Converter on the caller's thread, so the object is
        encoded as it is now, at the step its row will have. A list is
        encoded by ``_media.encode_sequence`` when it takes it (wandb's
        ``images/separated`` and friends), else as a list of the objects'
        values. Never raises: a failure drops the key, with a warning.
        """
        at = self._media_step(step)
        try:
            files: List[Tuple[str, bytes]] = []
            got = _encode_sequence(values, key, at) if seq else None
            if got is not None:
                js, files = got
                out: Any = json_safe(js, False)
            elif seq:
                out = []
                for v in values:
                    js, fl = v._fluoro_encode(key, at)
                    out.append(json_safe(js, False))
                    files.extend(fl)
            else:
                js, files = values[0]._fluoro_encode(key, at)
                out = json_safe(js, False)
            if not isinstance(out, (dict, list)):
                raise TypeError("_fluoro_encode returned %s, not a dict" % type(js).__name__)
        except Exception as e:
            self._warn_once(
                "media:" + key, "key %r: cannot encode %s (%r); dropped" % (key, type(values[0]).__name__, e)
            )
            return DROP
        fs = self._files
        if fs is not None:
            for name, data in files:
                fs.put_bytes(str(name), bytes(data) if not isinstance(data, bytes) else data)
        return out

    def _media_step(self, step: Any) -> int:
        """The step a row logged now with this step= argument will have."""
        if step is not None and not isinstance(step, bool):
            try:
                if int(step) == step and int(step) >= 0:
                    return int(step)
            except (TypeError, ValueError):
                pass
        return self._step

    def save(
        self,
        glob_str: Any = None,
        base_path: Any = None,
        policy: str = "live",
        glob: bool = True,
    ) -> List[str]:
        """Upload files matching a glob as run files (``wandb.save``).

        Names are paths relative to ``base_path``: by default the working
        directory for a relative glob, and the folder above the glob's folder
        for an absolute one (as wandb). ``policy``: ``"live"`` uploads now
        and again whenever a file changes (checked every 2 s; new matches are
        picked up too), ``"now"`` once now, ``"end"`` at ``finish()``.
        Returns the paths of the copies under the run directory
        (``<run dir>/files/<name>``) for the files that match now.
        """
        if isinstance(glob_str, bytes):
            glob_str = glob_str.decode("utf-8")
        if glob_str is None or not isinstance(glob_str, (str, os.PathLike)):
            raise UsageError("save() takes a path or a glob, e.g. save('checkpoints/*.pt')")
        pattern = os.fspath(glob_str)
        if pattern.startswith(("gs://", "s3://")):
            self._warn_once("save-cloud", "save(%r): a cloud storage URL cannot be saved as a run file" % pattern)
            return []
        if policy not in ("live", "end", "now"):
            raise UsageError("save(policy=%r): use 'live', 'now' or 'end'" % (policy,))
        fs = self._files
        if self._mode == "disabled" or fs is None or self._finished:
            return []
        absolute = os.path.abspath(pattern)
        if base_path is not None:
            base = os.path.abspath(os.fspath(base_path))
        elif not os.path.isabs(pattern):
            base = os.getcwd()
        else:
            base = os.path.dirname(os.path.dirname(absolute))
        rel = os.path.relpath(absolute, base)
        if rel == os.pardir or rel.startswith(os.pardir + os.sep):
            raise UsageError("save(%r): base_path %r must be a folder above the files" % (pattern, base))
        w = _files.Watch(absolute, base, policy, bool(glob))
        fs.watch(w)
        try:
            matches = w.matches()
        except OSError:
            matches = []
        run_dir = self.dir or ""
        return [
            _files.local_path(run_dir, os.path.relpath(m, base).replace(os.sep, "/"))
            for m in matches
            if os.path.isfile(m)
        ]

    # --- config, summary, metrics -------------------------------------

    def _chart_logged(self, key: str, chart: Any) -> None:
        """Record a chart logged at key under the config's ``_wandb.visualize``, as wandb does (once per change)."""
        try:
            panel = chart.spec.config_value
            w = self.config.get("_wandb")
            w = dict(w) if isinstance(w, dict) else {}
            vis = w.get("visualize")
            vis = dict(vis) if isinstance(vis, dict) else {}
            if vis.get(key) == panel:
                return
            vis[key] = panel
            w["visualize"] = vis
            self.config.update({"_wandb": w}, allow_val_change=True)
        except Exception as e:  # never into the training loop
            self._warn_once("chart:" + key, "key %r: cannot record the chart (%r); its table was logged" % (key, e))

    def _config_changed(self, changes: Dict[str, Any], allow: bool) -> None:
        if self._pipe is not None and not self._finished:
            self._pipe.put((CONFIG, changes, allow))

    def _meta(self, changes: Dict[str, Any]) -> None:
        if self._pipe is not None and not self._finished:
            self._pipe.put((META, changes))

    def _summary_snapshot(self) -> Dict[str, Any]:
        pipe = self._pipe
        if pipe is not None and not self._finished and not pipe.dead and os.getpid() == self._pid:
            pipe.barrier(timeout=10.0)
        return self._summary_state.snapshot()

    def _summary_set(self, items: Dict[str, Any]) -> None:
        items = {k: summary_value(v) for k, v in items.items()}
        if self._pipe is not None and not self._finished and not self._pipe.dead:
            self._pipe.put((SUMSET, items))
        else:
            self._summary_state.set(items)

    def _summary_delete(self, key: str) -> None:
        if self._pipe is not None and not self._finished and not self._pipe.dead:
            self._pipe.put((SUMDEL, key))
        else:
            self._summary_state.delete(key)

    def define_metric(
        self,
        name: str,
        step_metric: Optional[str] = None,
        step_sync: Optional[bool] = None,
        hidden: Optional[bool] = None,
        summary: Optional[str] = None,
        goal: Optional[str] = None,
        overwrite: Optional[bool] = None,
        **kwargs: Any,
    ) -> MetricDefinition:
        """Say how a metric (or a glob of them, ``"val/*"``) is summarised and plotted.

        ``summary`` is one or more of min, max, mean, first, last, best, none
        (comma-separated); ``goal`` is minimize or maximize (needed by best);
        ``step_metric`` names the key to plot it against, added to each row
        that lacks it when ``step_sync`` (default True).
        """
        if kwargs:
            self._warn_once("define-kw", "define_metric() ignores %s" % ", ".join(sorted(kwargs)))
        if not isinstance(name, str) or not name:
            raise UsageError("define_metric() needs a metric name")
        g = None
        if goal is not None:
            g = GOALS.get(str(goal).lower())
            if g is None:
                raise UsageError("goal=%r: use 'minimize' or 'maximize'" % (goal,))
        aggs = parse_summary(summary)
        if "best" in aggs and g is None:
            raise UsageError("summary='best' needs goal='minimize' or goal='maximize'")
        d = MetricDefinition(
            name,
            step_metric=step_metric,
            step_sync=True if step_sync is None else bool(step_sync),
            hidden=bool(hidden),
            summary=aggs,
            goal=g,
        )
        if self._pipe is not None and not self._finished and not self._pipe.dead:
            self._pipe.put((DEFINE, d, bool(overwrite)))
        else:
            self._summary_state.define(d, bool(overwrite))
        return d

    def alert(
        self,
        title: str,
        text: str,
        level: Union[str, "AlertLevel", None] = None,
        wait_duration: Union[int, float, datetime.timedelta, None] = None,
    ) -> None:
        """Raise an alert: the server sends it to its alert webhook (Slack, ...) if one is configured.

        ``level`` is "INFO" (default), "WARN" or "ERROR", or an ``AlertLevel``.
        ``wait_duration`` (seconds, or a timedelta; default a minute) is the
        least time between two alerts of the same title: one that comes sooner
        is not sent (the server, which sees every process of the run, holds
        back repeats too). Sent at once, in order with the rows logged before
        it; offline, spooled for ``fluoro sync``. Raises ValueError or
        TypeError for a bad argument, as wandb does; a text over 64 KiB is cut
        (with a warning). See docs/sdk.md.
        """
        from ._alerts import cap_text, prepare

        fields = prepare(title, text, level, wait_duration)
        pipe = self._pipe
        if self._off or pipe is None or pipe.dead:
            self._log_off("alert()")
            return
        size = 0
        try:
            # A repeat of a title within its wait is not sent: the server would
            # only store it as suppressed, and a loop raising the same alert
            # every step would send a batch every step.
            now = time.monotonic()
            title = fields["title"]
            last = self._alert_sent.get(title)
            if last is not None and now - last < fields["wait_ms"] / 1000:
                self.alerts_held += 1
                return
            fields["text"], size = cap_text(fields["text"])
            pipe.put((ALERT, _time(), fields))
            self._alert_sent.pop(title, None)
            self._alert_sent[title] = now
            if len(self._alert_sent) > 4096:  # the oldest first: titles with a counter in them
                del self._alert_sent[next(iter(self._alert_sent))]
        except Exception as e:  # never into the training loop
            self._warn_once("alert", "alert() failed internally and dropped an alert (%r); please report this" % (e,))
        if size:
            self._warn_once("alert-text", "alert() text of %d bytes was cut to the server's limit of 64 KiB" % size)

    def mark_preempting(self) -> None:
        """Say the job is being preempted: the run ends as preempted, not killed or failed."""
        self._preempting = True

    def watch(
        self,
        models: Any,
        criterion: Any = None,
        log: Optional[str] = "gradients",
        log_freq: int = 1000,
        idx: Optional[int] = None,
        log_graph: bool = False,
    ) -> None:
        """Log histograms and norms of a torch model's gradients (and/or parameters) every ``log_freq`` steps.

        ``log`` is "gradients", "parameters", "all" or None. Raises ValueError
        for anything but a ``torch.nn.Module`` (or a list of them). See docs/sdk.md.
        """
        from ._watch import watch_run

        watch_run(self, models, criterion, log, log_freq, idx, log_graph)

    def unwatch(self, models: Any = None) -> None:
        """Remove the hooks ``watch()`` put on ``models`` (default: every watched model)."""
        from ._watch import unwatch_run

        unwatch_run(self, models)

    # --- flushing and finishing ---------------------------------------

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Block until everything logged so far is acknowledged by the server.

        Offline, until it is in the spool. Returns False on timeout. Not
        needed in training code: ``finish()`` does this; tests and
        notebooks use it to read back what they just logged.
        """
        pipe = self._pipe
        if pipe is None or self._finished or pipe.dead:
            return self._mode == "disabled" or self._finished
        deadline = None if timeout is None else time.monotonic() + timeout
        seq = pipe.barrier(timeout)
        if seq is None:
            return False
        fs = self._files
        if fs is not None:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not fs.flush(left):
                return False
        if pipe.client is None:
            return True
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        return pipe.wait_acked(seq, left)

    def finish(self, exit_code: Optional[int] = None, quiet: Optional[bool] = None) -> None:
        """Send everything, then mark the run finished (failed if exit_code is non-zero).

        Waits up to ``finish_timeout`` seconds (120) for the server; what
        it has not acknowledged by then stays in the spool for ``fluoro sync``.
        """
        state = None
        if exit_code is not None and exit_code != 0:
            state = "failed"
        self._finish(exit_code, state, quiet)

    def _finish(
        self,
        exit_code: Optional[int],
        state: Optional[str],
        quiet: Optional[bool] = None,
        timeout: Optional[float] = None,
    ) -> None:
        global _current
        with self._finish_lock:
            if self._finished or os.getpid() != self._pid:
                return
            watcher = getattr(self, "_watcher", None)
            if watcher is not None:
                watcher.drain()  # histograms still on their way from the GPU
            self._finished = True
            self._off = True
            try:
                self._do_finish(exit_code, state, quiet, timeout)
            finally:
                _hooks.unregister(self)
                with _current_lock:
                    if _current is self:
                        _current = None

    def _do_finish(
        self, exit_code: Optional[int], state: Optional[str], quiet: Optional[bool], timeout: Optional[float]
    ) -> None:
        if self._mode == "disabled" or self._pipe is None:
            return
        quiet = self._settings.quiet if quiet is None else quiet
        if self._preempting and state in (None, "killed", "failed"):
            state = "preempted"
        if state is None:
            state = "finished" if not exit_code else "failed"
        self._final_state = state
        body: Dict[str, Any] = {"state": state}
        body["exit_code"] = int(exit_code) if exit_code is not None else (0 if state == "finished" else 1)
        self._stop_extras()
        self._commit_pending()
        t0 = time.monotonic()
        to = self._settings.finish_timeout if timeout is None else timeout
        fs = self._files
        if fs is not None:
            th = self._diff_thread
            if th is not None:
                th.join(timeout=min(float(to or 0), 2.0))  # a slow `git diff` does not hold up a short run
            fs.begin_finish()  # copies and uploads go on while the metrics drain
        _, acked = self._pipe.finish(body, float(to or 0))
        files_left = self._finish_files(max(0.0, float(to or 0) - (time.monotonic() - t0)))
        st = self._pipe.stats
        if self._spool is not None:
            self._spool.close()
        if self._client is not None:
            self._client.close()
        took = time.monotonic() - t0
        if self._mode == "offline":
            self._termlog(
                "offline run %s saved: %d rows, %d points in %s\n"
                "        upload it with: python -m fluoro sync %s" % (self.id, st.rows, st.points, self.dir, self.dir),
                quiet,
            )
        elif acked:
            msg = "run %s %s: %d rows, %d points sent in %d batches (%.2fs to drain)" % (
                self._name or self.id,
                state,
                st.rows,
                st.points,
                st.batches,
                took,
            )
            if self._files is not None and self._files.uploaded:
                msg += ", %d file(s)" % self._files.uploaded
            if st.rejected or st.rejected_rows:
                msg += "; the server refused %d batch(es) and %d row(s)" % (st.rejected, st.rejected_rows)
            self._termlog(msg + ("\n        " + self.url if self.url else ""), quiet)
        else:
            why = (
                "the server refused the API key"
                if self._pipe.paused
                else ("the server did not acknowledge everything within %ss" % to)
            )
            self._warn_bg(
                "%s: %d record(s) are still unsent. They are safe in the spool; send them with:\n"
                "        python -m fluoro sync %s" % (why, self._pipe.unacked, self.dir)
            )
        if files_left and self._mode != "offline":
            self._warn_bg(
                "%d run file(s) were not uploaded; they are saved in %s/files; upload them with:\n"
                "        python -m fluoro sync %s" % (files_left, self.dir, self.dir)
            )

    def _finish_files(self, timeout: float) -> int:
        """Wait for save(policy="end") files and uploads; returns the files left for sync."""
        fs = self._files
        if fs is None:
            return 0
        try:
            return fs.finish(timeout)
        except Exception as e:  # pragma: no cover - never fail finish on it
            self._warn_bg("run files were not all saved (%r)" % (e,))
            return 0

    def _finish_from_hook(self, exit_code: Optional[int], state: Optional[str]) -> None:
        self._finish(exit_code, state)

    def _finish_from_signal(self, signum: int) -> None:
        preempted = self._preempting or bool(os.environ.get("SLURM_JOB_ID"))
        to = min(float(self._settings.finish_timeout or 0), 20.0)
        self._finish(128 + signum, "preempted" if preempted else "killed", timeout=to)

    def _stop_extras(self) -> None:
        """Stop the console capture (its last lines go before the finish record) and the sampler."""
        global _capturing
        cap, self._capture = self._capture, None
        if cap is not None:
            try:
                cap.stop()
            except Exception:  # pragma: no cover - never fail finish on it
                pass
            if _capturing is self:
                _capturing = None
        smp, self._sampler = self._sampler, None
        if smp is not None:
            smp.stop(timeout=2.0)

    def _after_fork_child(self) -> None:
        global _capturing
        self._off = True
        self._finished = True
        self._finish_lock = threading.RLock()
        if self._capture is not None:
            self._capture.detach()  # the child's writes pass through
            self._capture = None
        if _capturing is self:
            _capturing = None
        if self._sampler is not None:
            self._sampler.forget()
            self._sampler = None
        if self._pipe is not None:
            self._pipe.after_fork_child()
        if self._files is not None:
            self._files.after_fork_child()
            self._files = None
        self._client = None

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.finish()
        elif issubclass(exc_type, KeyboardInterrupt):
            self._finish(130, "killed")
        else:
            self._finish(1, "failed")

    # --- messages -----------------------------------------------------

    def _termlog(self, msg: str, quiet: Optional[bool] = None) -> None:
        if quiet is None:
            quiet = self._settings.quiet
        if not quiet:
            _termlog(msg)

    def _warn_bg(self, msg: str) -> None:
        """A warning from a background thread or from finish: always printed."""
        _termlog("WARNING: " + msg)

    def _warn_caller(self, msg: str) -> None:
        warnings.warn(msg, FluoroWarning, stacklevel=5)

    def _warn_once(self, key: str, msg: str) -> None:
        if key in self._warned:
            return
        self._warned.add(key)
        warnings.warn(msg + " (reported once)", FluoroWarning, stacklevel=4)


def _encode_sequence(values: List[Any], key: str, step: int) -> Any:
    """``_media.encode_sequence`` (imported on first use), or None when it is missing or declines."""
    try:
        from . import _media  # type: ignore[attr-defined,unused-ignore]
    except Exception:
        return None
    fn = getattr(_media, "encode_sequence", None)
    return fn(values, key, step) if fn is not None else None


def _termlog(msg: str) -> None:
    try:
        sys.stderr.write("fluoro: " + msg + "\n")
        sys.stderr.flush()
    except Exception:  # pragma: no cover - closed stderr at exit
        pass


# --- init ---------------------------------------------------------------

_UNSUPPORTED_INIT = {
    "save_code",
    "anonymous",
    "force",
    "sync_tensorboard",
    "monitor_gym",
    "magic",
    "config_exclude_keys",
    "config_include_keys",
    "allow_val_change",
    "tensorboard",
    "fork_from",
    "resume_from",
    "sweep_id",
}


def init(
    project: Optional[str] = None,
    entity: Optional[str] = None,
    name: Optional[str] = None,
    config: Any = None,
    tags: Optional[Sequence[str]] = None,
    group: Optional[str] = None,
    job_type: Optional[str] = None,
    notes: Optional[str] = None,
    id: Optional[str] = None,
    resume: Any = None,
    mode: Optional[str] = None,
    dir: Optional[str] = None,
    reinit: Any = None,
    settings: Any = None,
    **kwargs: Any,
) -> Run:
    """Start a run and return it; print its URL.

    Arguments mirror ``wandb.init``. Settings not given come from FLUORO_*
    environment variables, then from the file written by ``fluoro.login``.
    ``mode`` is online (the default when a server is configured), offline
    (spool only; ``python -m fluoro sync`` later) or disabled (every call a
    no-op). ``resume`` is "allow", "must", "never" or True/"auto" (resume the
    last run started from this directory); a resumed run continues its step
    counter. ``reinit`` decides what happens when a run is active, as in
    wandb: "finish_previous" (finish every live run; also True),
    "return_previous" (return the newest live run; also False), "create_new"
    (start another run without making it ``fluoro.run``), or "default"
    (None): "finish_previous" in Jupyter or IPython, else "return_previous".
    """
    global _current
    if kwargs:
        unknown = set(kwargs) - _UNSUPPORTED_INIT
        if unknown:
            raise TypeError("init() got unexpected keyword arguments: %s" % ", ".join(sorted(unknown)))
        warnings.warn(
            "fluoro.init() ignores %s (not supported yet)" % ", ".join(sorted(kwargs)), FluoroWarning, stacklevel=2
        )
    policy = _reinit_policy(reinit)
    s = resolve(
        {"project": project, "entity": entity, "mode": mode, "dir": dir, "run_id": id, "resume": resume}, settings
    )
    with _current_lock:
        live = _live_runs()
    if live:
        if policy == "finish_previous":
            _termlog("finishing the previous run%s (reinit=%r)" % ("s" if len(live) > 1 else "", reinit or "default"))
            for prev in reversed(live):
                prev.finish()
        elif policy == "create_new":
            pass
        elif s.resume == "must":
            raise UsageError(
                "cannot resume a run while another run is active: finish it with run.finish(),"
                " or pass reinit='create_new' to init()"
            )
        else:
            _termlog("init() called while a run is active (reinit=%r): returning it" % (reinit or "default",))
            return live[-1]
    _check_name("project", s.project)
    _check_name("entity", s.entity)
    run = Run(s)
    cfg = to_dict(config) if config is not None else {}
    if cfg:
        run.config._load({str(k): json_safe(v) for k, v in cfg.items()})
    run._name = name
    run._tags = tuple(str(t) for t in tags) if tags else ()
    run._group, run._job_type, run._notes = group, job_type, notes
    if s.mode == "disabled":
        run.id = s.run_id or _gen_id()
    else:
        _start(run, s)
    with _current_lock:
        _live.append(weakref.ref(run))
        if policy != "create_new":  # like wandb: a create_new run is not wandb.run
            _current = run
    return run


def _reinit_policy(reinit: Any) -> str:
    """wandb's reinit setting: "default" (None) depends on where the code runs; booleans are its old form."""
    if reinit is None or reinit == "default":
        return "finish_previous" if _in_notebook() else "return_previous"
    if reinit is True:
        return "finish_previous"
    if reinit is False:
        return "return_previous"
    if reinit in ("finish_previous", "return_previous", "create_new"):
        return str(reinit)
    raise UsageError("reinit=%r: use 'default', 'finish_previous', 'return_previous' or 'create_new'" % (reinit,))


def _root_dir(s: Settings) -> str:
    root = os.path.join(os.path.abspath(s.dir or os.getcwd()), "fluoro")
    try:
        os.makedirs(root, exist_ok=True)
        if os.access(root, os.W_OK):
            return root
    except OSError:
        pass
    import tempfile

    alt = os.path.join(tempfile.gettempdir(), "fluoro-%d" % os.getuid() if hasattr(os, "getuid") else "fluoro")
    os.makedirs(alt, exist_ok=True)
    _termlog("WARNING: %s is not writable; the spool goes to %s" % (root, alt))
    return alt


def _latest_path(root: str) -> str:
    return os.path.join(root, "latest-run.json")


def _create_body(run: Run, resume: Optional[str]) -> Dict[str, Any]:
    body: Dict[str, Any] = {"id": run.id}
    if resume:
        body["resume"] = resume
    if run._name:
        body["name"] = run._name
    cfg = run.config.as_dict()
    if cfg:
        body["config"] = cfg
    if run._tags:
        body["tags"] = list(run._tags)
    for k, v in (("group", run._group), ("job_type", run._job_type), ("notes", run._notes)):
        if v:
            body[k] = str(v)
    try:
        body["host"] = socket.gethostname()
    except OSError:  # pragma: no cover
        pass
    prog = sys.argv[0] if sys.argv and sys.argv[0] else ""
    if prog:
        body["program"] = prog
    if run._git is not None:
        body["git"] = run._git
    return body


def _git_info(run: Run, probe: Optional[_git.DirtyProbe]) -> None:
    """Read the git info once per init() (the create body is built up to twice)."""
    run._git = None
    if not run._settings.git:
        return
    try:
        g = _git.info(probe=probe)
    except Exception:  # never fail init() on it
        g = {}
    if g:
        run._git = g


def _start(run: Run, s: Settings) -> None:
    # `git status` runs while the rest of init() happens.
    probe = _git.DirtyProbe() if s.git else None
    try:
        _start_with(run, s, probe)
    finally:
        if probe is not None:
            probe.kill()  # still running only if init() failed first


def _start_with(run: Run, s: Settings, probe: Optional[_git.DirtyProbe]) -> None:
    root = _root_dir(s)
    resume = s.resume if isinstance(s.resume, str) else None
    rid = s.run_id
    if resume == "auto":
        resume = "allow"
        if not rid:
            try:
                with open(_latest_path(root), encoding="utf-8") as f:
                    last = json.load(f)
                if last.get("project") == s.project and last.get("run_id"):
                    rid = str(last["run_id"])
            except (OSError, ValueError, AttributeError):
                pass
    if resume in ("allow", "must") and not rid:
        if resume == "must":
            raise UsageError("resume='must' needs the id of the run to resume: init(id=..., resume='must')")
        resume = None
    run.id = _check_run_id(rid) if rid else _gen_id()
    if not rid and resume is None:
        resume = "never"  # a fresh random id: never attach to someone else's run

    writer = "%s-%d-%s" % (socket.gethostname()[:64], os.getpid(), secrets.token_hex(4))
    _git_info(run, probe)
    created = None
    client = None
    if s.mode == "online":
        transport = s.transport if s.transport is not None else HTTPTransport(s.base_url or "", s.http_timeout or 30)
        client = Client(s.base_url or "", s.api_key, transport)
        created = _create_online(run, s, client, resume, writer)
    else:
        run._termlog("offline mode: nothing is sent until `python -m fluoro sync`")
        if resume in ("allow", "must"):
            run._termlog(
                "resuming offline: the run's last step is unknown here, so run.step counts from 0; the server"
                " stores these steps after the run's last step when they are synced"
            )

    stamp = datetime.datetime.now().strftime("%Y%m%d_%H%M%S")
    run_dir = os.path.join(root, "run-%s-%s" % (stamp, run.id))
    n = 1
    while os.path.exists(run_dir):
        n += 1
        run_dir = os.path.join(root, "run-%s-%s-%d" % (stamp, run.id, n))
    run.dir = run_dir
    ident = Ident(run._entity, run.project, run.id, writer)
    header = {
        "entity": ident.entity,
        "project": ident.project,
        "run_id": ident.run_id,
        "writer": writer,
        "base_url": s.base_url or "",
        "mode": s.mode,
        "sdk": __version__,
    }
    spool = SpoolWriter(run_dir, header, segment_bytes=int(s.segment_bytes or 4 << 20), fsync=bool(s.spool_fsync))
    spool.start(1)
    # Record 1 creates (or resumes) the run. Online it was done already, so
    # it is acknowledged at once; offline, `fluoro sync` sends it first.
    create_body = _create_body(run, "allow")
    if created is None and resume in ("allow", "must"):
        # The run's last step is unknown here: the server puts this writer's
        # steps (counted from 0) after it, instead of over the run's points.
        create_body["steps_after_last"] = True
    spool.append(1, op_line("create", 1, create_body))
    pipe = Pipeline(
        ident,
        spool,
        client,
        run._summary_state,
        first_seq=2,
        batch_interval=float(s.batch_interval or 0.2),
        heartbeat_interval=float(s.heartbeat_interval if s.heartbeat_interval is not None else 30.0),
        batch_max_points=int(s.batch_max_points or 100000),
        send_cache_bytes=int(s.send_cache_bytes or 32 << 20),
        retry_backoff=float(s.retry_backoff or 0.25),
        retry_max_backoff=float(s.retry_max_backoff or 5.0),
        termlog=run._termlog,
        warn=run._warn_bg,
    )
    if client is not None and created is None:
        pipe._pending.append([1, "create", dumps_body(create_body), None])  # deferred: the server was down
    elif created is not None:
        pipe.mark_acked(1)
    run._spool, run._client, run._pipe = spool, client, pipe
    try:
        with open(_latest_path(root), "w", encoding="utf-8") as f:
            json.dump({"run_id": run.id, "project": run.project, "entity": run.entity, "dir": run_dir}, f)
    except OSError:
        pass
    pipe.start()

    def ready() -> Optional[Ident]:
        ident = pipe.ident
        if pipe.acked < 1 or not ident.entity:
            return None
        return ident

    fs = _files.FileSender(
        run_dir,
        client,
        ready,
        max_bytes=int(s.max_file_bytes or 1 << 30),
        warn=run._warn_bg,
        backoff=float(s.retry_backoff or 0.25),
        max_backoff=float(s.retry_max_backoff or 5.0),
        exclude=root,
    )
    fs.start()
    run._files = fs
    run._off = False
    _hooks.register(run)
    if s.git and run._git and run._git.get("dirty") is not False and int(s.diff_max_bytes or 0) > 0:
        run._diff_thread = _start_diff(fs, int(s.diff_max_bytes or 0))
    try:
        _start_extras(run, s, pipe, client, run_dir)
    except Exception as e:  # never fail init() on them
        run._warn_bg("console capture or system metrics did not start (%r)" % (e,))
    if run.url and s.mode == "online":
        label = run._name or run.id
        run._termlog("%s run %s: %s" % ("resumed" if run.resumed else "started", label, run.url))


def _start_extras(run: Run, s: Settings, pipe: Pipeline, client: Optional[Client], run_dir: str) -> None:
    """Console capture (on this thread), then the system thread: environment record and samples."""
    global _capturing
    q = pipe.q

    if s.console == "wrap" and (_capturing is None or _capturing._finished or _capturing._pid != os.getpid()):
        from ._console import Capture

        def emit_line(t: float, stream: str, line: str) -> None:
            if not pipe.dead:
                q.append((CONSOLE, t, stream, line))
                if pipe.idle and len(q) >= pipe.wake_len:
                    pipe.wake.set()

        cap = Capture(emit_line)
        if cap.start():
            run._capture = cap
            _capturing = run

    interval = 0.0 if s.x_disable_stats else float(s.system_interval or 0.0)
    meta = not s.x_disable_meta
    if interval <= 0 and not meta:
        return
    from . import _metadata, _system

    def emit_sample(t: float, values: Dict[str, float]) -> None:
        if not pipe.dead and not run._finished:
            q.append((SYSTEM, t, values))
            if pipe.idle:
                pipe.wake.set()

    base: Dict[str, Any] = {}
    if meta:
        base = _metadata.snapshot()
        base["started_at"] = datetime.datetime.fromtimestamp(run.start_time, datetime.timezone.utc).isoformat()
        base["sdk"] = __version__
        if run._git is not None:
            base["git"] = dict(run._git)
    files = run._files

    def on_start(gpus: Any) -> None:
        # Saved under files/ and indexed by the file sender: uploaded live, or by `fluoro sync`.
        if meta and files is not None:
            files.put_bytes(_metadata.FILE_NAME, _metadata.dumps(_metadata.collect(base, gpus)))

    smp = _system.Sampler(
        interval,
        emit_sample,
        on_start=on_start,
        gpus=lambda: _system.open_gpus(),
        disk_path=run_dir,
    )
    smp.start()
    run._sampler = smp


def _start_diff(fs: _files.FileSender, max_bytes: int) -> threading.Thread:
    """Save `git diff HEAD` as diff.patch, off the caller's thread (bounded by _git.DIFF_TIMEOUT)."""
    cwd = os.getcwd()

    def work() -> None:
        try:
            data = _git.diff_patch(cwd, max_bytes)
        except Exception:  # never fail the run on it
            data = None
        if data:
            fs.put_bytes(_git.DIFF_NAME, data)

    return _threads.start(work, "fluoro-git-diff")


def _create_online(
    run: Run, s: Settings, client: Client, resume: Optional[str], writer: str
) -> Optional[Dict[str, Any]]:
    """Create or resume the run on the server; None if the server is unreachable.

    This is the spool's record 1 (acknowledged at once), so it goes as op 1
    of the writer: a sync that replays record 1 later changes nothing.
    """
    try:
        if not run._entity:
            viewer = client.call("GET", "/api/v1/viewer").json() or {}
            run._entity = viewer.get("entity") or ""
        body = _create_body(run, resume)
        path = "/api/v1/projects/%s/%s/runs" % (quote(run._entity), quote(run.project))
        resp = client.call("POST", path, body, headers=op_headers(writer, 1))
    except AuthError as e:
        raise AuthError(
            "%s\nSet FLUORO_API_KEY or run fluoro.login(key=..., host=%r)" % (e, s.base_url),
            status=e.status,
            code=e.code,
        ) from None
    except CommError as e:
        if e.status is not None and e.status < 500:
            if e.status == 409:
                raise UsageError(
                    "run %s already exists in %s/%s; pass resume='allow' to continue it"
                    % (run.id, run._entity, run.project)
                ) from None
            if e.status == 404 and resume == "must":
                raise UsageError(
                    "run %s does not exist in %s/%s (resume='must')" % (run.id, run._entity, run.project)
                ) from None
            raise
        if resume == "must":
            raise
        _termlog("WARNING: %s; the run is recorded in the spool and sent when the server is back" % e)
        if resume == "allow":
            _termlog(
                "WARNING: could not resume from the server: run.step counts from 0; the server stores these"
                " steps after the run's last step when they arrive"
            )
        return None
    r = resp.json() or {}
    run._entity = r.get("entity") or run._entity
    run.id = r.get("id") or run.id
    run._name = r.get("name") or run._name
    run.resumed = bool(r.get("resumed"))
    if run.resumed:
        cfg = {k: v for k, v in (r.get("config") or {}).items() if k != _INTERNAL_CONFIG}
        run.config._load(cfg)
        last = r.get("last_step")
        if not isinstance(last, int) or last < 0:
            last = -1
        run._summary_state.load(r.get("summary") or {}, last)
        run._tags = tuple(r.get("tags") or run._tags)
        if last >= 0:
            run._step = last + 1
    return r


# --- module-level delegation -----------------------------------------------


def _need_run(what: str) -> Run:
    r = _current
    if r is None:
        raise UsageError("call fluoro.init() before fluoro.%s" % what)
    return r


def log(
    data: Mapping[str, Any], step: Optional[int] = None, commit: Optional[bool] = None, sync: Optional[bool] = None
) -> None:
    """``run.log`` on the current run; raises UsageError before ``init()``."""
    r = _current
    if r is None:
        raise UsageError("call fluoro.init() before fluoro.log()")
    r.log(data, step=step, commit=commit)


def finish(exit_code: Optional[int] = None, quiet: Optional[bool] = None) -> None:
    """Finish the current run (a no-op when there is none)."""
    r = _current
    if r is not None:
        r.finish(exit_code=exit_code, quiet=quiet)


def define_metric(
    name: str,
    step_metric: Optional[str] = None,
    step_sync: Optional[bool] = None,
    hidden: Optional[bool] = None,
    summary: Optional[str] = None,
    goal: Optional[str] = None,
    overwrite: Optional[bool] = None,
    **kwargs: Any,
) -> MetricDefinition:
    """``run.define_metric`` on the current run."""
    return _need_run("define_metric()").define_metric(
        name,
        step_metric=step_metric,
        step_sync=step_sync,
        hidden=hidden,
        summary=summary,
        goal=goal,
        overwrite=overwrite,
        **kwargs,
    )


def save(glob_str: Any = None, base_path: Any = None, policy: str = "live", glob: bool = True) -> List[str]:
    """``run.save`` on the current run (``wandb.save``)."""
    return _need_run("save()").save(glob_str, base_path=base_path, policy=policy, glob=glob)


def mark_preempting() -> None:
    _need_run("mark_preempting()").mark_preempting()


def alert(
    title: str,
    text: str,
    level: Union[str, "AlertLevel", None] = None,
    wait_duration: Union[int, float, datetime.timedelta, None] = None,
) -> None:
    """``run.alert`` on the current run (``wandb.alert``); raises UsageError before ``init()``."""
    _need_run("alert()").alert(title, text, level=level, wait_duration=wait_duration)


class _Proxy:
    """``fluoro.config`` / ``fluoro.summary``: the current run's, or a clear error."""

    def __init__(self, attr: str) -> None:
        object.__setattr__(self, "_attr", attr)

    def _target(self) -> Any:
        return getattr(_need_run(self._attr), self._attr)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__") and key.endswith("__"):
            raise AttributeError(key)
        return getattr(self._target(), key)

    def __setattr__(self, key: str, value: Any) -> None:
        setattr(self._target(), key, value)

    def __getitem__(self, key: str) -> Any:
        return self._target()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._target()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._target()[key]

    def __contains__(self, key: object) -> bool:
        return key in self._target()

    def __iter__(self) -> Any:
        return iter(self._target())

    def __len__(self) -> int:
        return len(self._target())

    def __repr__(self) -> str:
        r = _current
        if r is None:
            return "<fluoro.%s: call fluoro.init() first>" % self._attr
        return repr(getattr(r, self._attr))


config = _Proxy("config")
summary = _Proxy("summary")

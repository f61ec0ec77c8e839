"""Run summaries: the last value of each key, or min/max/mean/... per define_metric.

``SummaryState`` lives on the spool thread, which sees every committed row in
order; the user-facing ``Summary`` object reads it after a barrier, so
``run.summary["loss"]`` right after ``run.log({"loss": x})`` is ``x``.

Like wandb, a key whose metric asks for aggregates holds a dict of them
(``{"min": 0.1, "max": 0.9}``); a key with the default ``last`` holds the
plain value.

``last`` is the value at the highest step logged for the key, and ``first``
the value at the lowest, as the server's history has them: a late point
(``log(..., step=N)`` below the current step) does not roll ``last`` back,
and at a step logged twice the newer value wins (the server keeps the newer
point). Late points count for min, max, mean and best. Nested dicts are merged key by key, and the names that
``define_metric`` globs match are the dotted paths (``"val.acc"``).
"""

from __future__ import annotations

import copy
import fnmatch
import math
import operator
import threading
from itertools import islice
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Mapping, MutableMapping, Optional, Set, Tuple

from ._errors import UsageError
from ._values import json_safe

if TYPE_CHECKING:  # pragma: no cover
    from ._run import Run

AGGREGATES = ("min", "max", "mean", "first", "last", "best", "none")
GOALS = {"minimize": "minimize", "min": "minimize", "maximize": "maximize", "max": "maximize"}


class MetricDefinition:
    """What ``define_metric`` returns: how a metric is summarised and plotted."""

    def __init__(
        self,
        name: str,
        step_metric: Optional[str] = None,
        step_sync: bool = True,
        hidden: bool = False,
        summary: Tuple[str, ...] = (),
        goal: Optional[str] = None,
    ) -> None:
        self.name = name
        self.step_metric = step_metric
        self.step_sync = step_sync
        self.hidden = hidden
        self.summary = summary
        self.goal = goal

    @property
    def is_glob(self) -> bool:
        return any(c in self.name for c in "*?[")

    def matches(self, key: str) -> bool:
        return fnmatch.fnmatchcase(key, self.name) if self.is_glob else key == self.name

    def to_json(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"name": self.name}
        if self.step_metric:
            d["step_metric"] = self.step_metric
            d["step_sync"] = self.step_sync
        if self.hidden:
            d["hidden"] = True
        if self.summary:
            d["summary"] = list(self.summary)
        if self.goal:
            d["goal"] = self.goal
        return d

    def __repr__(self) -> str:
        return "MetricDefinition(%s)" % ", ".join("%s=%r" % kv for kv in self.to_json().items())


def parse_summary(summary: Optional[str]) -> Tuple[str, ...]:
    if summary is None:
        return ()
    parts = tuple(p.strip().lower() for p in str(summary).split(",") if p.strip())
    for p in parts:
        if p not in AGGREGATES:
            raise UsageError("summary=%r: use one or more of %s, comma-separated" % (summary, ", ".join(AGGREGATES)))
    return parts


def _num(v: Any) -> Optional[float]:
    t = type(v)
    if t is float:
        return None if math.isnan(v) else v
    if t is int:
        return float(v)
    return None


class _Agg:
    __slots__ = ("min", "max", "sum", "count", "first", "first_step", "last", "last_step", "best", "seen")

    def __init__(self) -> None:
        self.min: Optional[float] = None
        self.max: Optional[float] = None
        self.sum = 0.0
        self.count = 0
        self.first: Any = None
        self.first_step = 0
        self.last: Any = None
        self.last_step = -1
        self.best: Optional[float] = None
        self.seen = False


class SummaryState:
    """The summary as the spool thread builds it. Guarded by ``lock``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values: Dict[str, Any] = {}
        self.dirty: Set[str] = set()
        self.defs: List[MetricDefinition] = []
        self._policy: Dict[str, Optional[Tuple[Tuple[str, ...], Optional[str]]]] = {}
        self._aggs: Dict[str, _Agg] = {}
        self._step_names: Set[str] = set()  # keys that are some metric's step_metric
        self._step_defs: Dict[str, Optional[MetricDefinition]] = {}
        self._last_step_values: Dict[str, Any] = {}
        self._hi = -1  # the highest step of any row so far
        self._steps: Dict[str, int] = {}  # dotted key -> step of its summary value ("last")

    # --- definitions -------------------------------------------------

    def define(self, d: MetricDefinition, overwrite: bool) -> MetricDefinition:
        with self.lock:
            prev = next((x for x in self.defs if x.name == d.name), None)
            if prev is not None and not overwrite:
                # like wandb: repeated calls add summaries and keep earlier options
                prev.summary = tuple(dict.fromkeys(prev.summary + d.summary))
                prev.step_metric = d.step_metric or prev.step_metric
                prev.hidden = d.hidden or prev.hidden
                prev.goal = d.goal or prev.goal
                prev.step_sync = d.step_sync
                d = prev
            else:
                if prev is not None:
                    self.defs.remove(prev)
                self.defs.append(d)
            self._policy.clear()
            self._step_defs.clear()
            self._step_names = {x.step_metric for x in self.defs if x.step_metric}
            return d

    def _policy_for(self, key: str) -> Optional[Tuple[Tuple[str, ...], Optional[str]]]:
        try:
            return self._policy[key]
        except KeyError:
            pass
        found = None
        exact = [d for d in self.defs if not d.is_glob and d.name == key]
        cands = exact or [d for d in reversed(self.defs) if d.is_glob and d.matches(key)]
        for d in cands:
            if d.summary or d.goal:
                aggs = d.summary or ("last",)
                found = (aggs, d.goal)
                break
        if found is not None and found[0] == ("last",):
            found = None
        self._policy[key] = found
        return found

    def _step_def(self, key: str) -> Optional[MetricDefinition]:
        try:
            return self._step_defs[key]
        except KeyError:
            pass
        found = next((d for d in self.defs if not d.is_glob and d.name == key and d.step_metric), None)
        if found is None and key not in self._step_names:
            found = next((d for d in reversed(self.defs) if d.is_glob and d.step_metric and d.matches(key)), None)
        self._step_defs[key] = found
        return found

    # --- rows ----------------------------------------------------------

    def observe(self, row: Dict[str, Any], step: int) -> None:
        """Fold one committed history row, logged at ``step``, into the summary (spool thread)."""
        with self.lock:
            if step >= self._hi:
                self._hi = step
                if not self.defs and dict not in set(map(type, row.values())):
                    self.values.update(row)
                    self.dirty.update(row)
                    self._steps.update(dict.fromkeys(row, step))
                    return
            for k, v in row.items():
                self.dirty.add(k)
                self._leaf(self.values, k, k, v, 0, step)

    def observe_run(self, rows: List[Dict[str, Any]], steps: List[int]) -> None:
        """Fold rows that all have the same keys, in order, logged at ``steps`` (spool thread).

        Without metric definitions, when the last row holds no nested dict
        and no row is late (steps never go down, nor below an earlier row's),
        the result is that of the last row alone: each of its values
        replaces what the earlier rows left.
        """
        with self.lock:
            last = rows[-1]
            if (
                not self.defs
                and steps[0] >= self._hi
                and dict not in set(map(type, last.values()))
                and all(map(operator.le, steps, islice(steps, 1, None)))
            ):
                self._hi = steps[-1]
                self.values.update(last)
                self.dirty.update(last)
                self._steps.update(dict.fromkeys(last, steps[-1]))
                return
        for row, step in zip(rows, steps):
            self.observe(row, step)

    def step_sync(self, row: Dict[str, Any]) -> None:
        """Add the last value of a metric's step_metric to rows that lack it."""
        if not self._step_names:
            return
        with self.lock:
            for k in self._step_names:
                if k in row:
                    self._last_step_values[k] = row[k]
            for k in list(row):
                d = self._step_def(k)
                if d is not None and d.step_sync and d.step_metric not in row:
                    if d.step_metric in self._last_step_values:
                        row[d.step_metric] = self._last_step_values[d.step_metric]

    def _leaf(self, parent: Dict[str, Any], key: str, name: str, v: Any, depth: int, step: int) -> None:
        if type(v) is dict and "_type" not in v and depth < 16:
            cur = parent.get(key)
            if type(cur) is not dict:
                if step < self._steps.get(name, -1):
                    return  # a late dict under a key that holds a newer plain value
                cur = {}
                parent[key] = cur
            for k, x in v.items():
                self._leaf(cur, k, name + "." + k, x, depth + 1, step)
            return
        pol = self._policy_for(name)
        if pol is None:
            if step >= self._steps.get(name, -1):
                parent[key] = v
                self._steps[name] = step
            return
        aggs, goal = pol
        if aggs == ("none",):
            return
        a = self._aggs.get(name)
        if a is None:
            a = self._aggs[name] = _Agg()
            self._seed(a, parent.get(key))
        x = _num(v)
        if not a.seen or step <= a.first_step:
            a.first, a.first_step = v, step
            a.seen = True
        if step >= a.last_step:
            a.last, a.last_step = v, step
        if x is not None:
            a.min = x if a.min is None else min(a.min, x)
            a.max = x if a.max is None else max(a.max, x)
            a.sum += x
            a.count += 1
            if goal == "maximize":
                a.best = x if a.best is None else max(a.best, x)
            elif goal == "minimize":
                a.best = x if a.best is None else min(a.best, x)
        out: Dict[str, Any] = {}
        for g in aggs:
            if g == "last":
                out["last"] = a.last
            elif g == "first":
                out["first"] = a.first
            elif g == "mean":
                if a.count:
                    out["mean"] = a.sum / a.count
            elif g == "best":
                if a.best is not None:
                    out["best"] = a.best
            elif g in ("min", "max"):
                m = getattr(a, g)
                if m is not None:
                    out[g] = m
        if out:
            parent[key] = out

    @staticmethod
    def _seed(a: _Agg, cur: Any) -> None:
        """Continue aggregates from a resumed run's summary."""
        if type(cur) is not dict:
            return
        if _num(cur.get("min")) is not None:
            a.min = float(cur["min"])
        if _num(cur.get("max")) is not None:
            a.max = float(cur["max"])
        if _num(cur.get("best")) is not None:
            a.best = float(cur["best"])
        if _num(cur.get("mean")) is not None:
            a.sum, a.count = float(cur["mean"]), 1
        if "first" in cur:  # at an unknown step: no late point replaces it
            a.first, a.first_step, a.seen = cur["first"], -1, True
        if "last" in cur:
            a.last = cur["last"]

    # --- explicit updates ----------------------------------------------

    def set(self, items: Mapping[str, Any]) -> None:
        with self.lock:
            for k, v in items.items():
                self.values[k] = v
                self.dirty.add(k)

    def delete(self, key: str) -> None:
        with self.lock:
            self.values.pop(key, None)
            self.dirty.add(key)

    def load(self, summary: Mapping[str, Any], step: int = -1) -> None:
        """Start from a resumed run's summary (not sent back), last logged at ``step``.

        A late point below ``step`` does not replace a loaded value.
        """
        with self.lock:
            self.values = copy.deepcopy(dict(summary))
            self._hi = max(self._hi, step)
            self._steps.update(dict.fromkeys(self.values, step))

    def take_dirty(self) -> Dict[str, Any]:
        """The changed top-level keys and their values (None: deleted)."""
        with self.lock:
            if not self.dirty:
                return {}
            out = {k: self.values.get(k) for k in sorted(self.dirty, key=str)}
            self.dirty = set()
            return out

    def snapshot(self) -> Dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.values)


class Summary(MutableMapping[str, Any]):
    """``run.summary``: read the current summary, or set keys explicitly.

    ``summary["best_acc"] = 0.93`` and ``summary.update({...})`` override the
    automatic value until the key is logged again; ``del summary[k]`` removes
    it on the server too.
    """

    def __init__(self, run: "Run") -> None:
        object.__setattr__(self, "_run", run)

    def _snap(self) -> Dict[str, Any]:
        snap: Dict[str, Any] = self._run._summary_snapshot()
        return snap

    def __getitem__(self, key: str) -> Any:
        return self._snap()[key]

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        try:
            return self._snap()[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setitem__(self, key: str, value: Any) -> None:
        self._run._summary_set({str(key): value})

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value

    def __delitem__(self, key: str) -> None:
        if key not in self._snap():
            raise KeyError(key)
        self._run._summary_delete(str(key))

    def __iter__(self) -> Iterator[str]:
        return iter(self._snap())

    def __len__(self) -> int:
        return len(self._snap())

    def __contains__(self, key: object) -> bool:
        return key in self._snap()

    def update(self, *args: Any, **kwargs: Any) -> None:
        d: Dict[str, Any] = {}
        for a in args:
            d.update(a)
        d.update(kwargs)
        if d:
            self._run._summary_set({str(k): v for k, v in d.items()})

    def as_dict(self) -> Dict[str, Any]:
        return self._snap()

    def __repr__(self) -> str:
        return "Summary(%r)" % (self._snap(),)


def summary_value(v: Any) -> Any:
    """A user-set summary value as it is sent (NaN allowed: batches carry it)."""
    return json_safe(v, nonfinite_as_str=False)

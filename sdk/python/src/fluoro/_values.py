"""Turning user values into JSON-able ones, cheaply and without raising.

``log()`` copies its dict and checks the value types in one C-level pass
(``_PLAIN.issuperset(map(type, ...))``); only rows with something else
(numpy or torch scalars, nested dicts, lists) take the slow path here. numpy
and torch are never imported: a value can only be one of their types if the
user already imported them, so ``sys.modules`` tells.
"""

from __future__ import annotations

import math
import numbers
import sys
import warnings
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from ._errors import FluoroWarning

PLAIN = frozenset((float, int, str, bool))

_DROP = object()  # marker: leave this key out
DROP = _DROP


class Prepared(dict):  # type: ignore[type-arg]
    """A value the SDK built itself, already JSON-safe (watch()'s histograms).

    ``log()`` keeps it as it is instead of copying it through ``json_safe``:
    at hundreds of layers, that copy was most of a watched step's cost.
    """

    __slots__ = ()


class Converter:
    """Converts log rows; warns once per (key, type) that cannot be logged.

    ``media(key, values, step)`` encodes media objects (anything with a
    ``_fluoro_encode`` method, or a list of them) into their history value;
    it returns ``DROP`` to leave the key out. ``step`` is what was given to
    ``row()``: the ``step=`` argument of ``log()``.

    A chart (``fluoro.plot``: an object with ``_fluoro_chart``) at key K,
    nested keys joined by dots as wandb does, becomes its table at the
    top-level key ``K_table``, encoded by ``media``; ``chart(K, chart)`` is
    then called to record the chart itself (in the run config).
    """

    def __init__(
        self,
        warn: Optional[Callable[[str], None]] = None,
        media: Optional[Callable[[str, List[Any], Any, bool], Any]] = None,
        chart: Optional[Callable[[str, Any], None]] = None,
    ) -> None:
        self._warned: Set[Tuple[str, str]] = set()
        self._warn = warn or _warn
        self._media = media
        self._chart = chart
        self._charts: List[Tuple[str, Any]] = []
        self._step: Any = None

    def row(self, data: Dict[Any, Any], step: Any = None) -> Dict[str, Any]:
        """A converted copy of one row (top-level dict from log())."""
        self._step = step
        self._charts = []
        out: Dict[str, Any] = {}
        for k, v in data.items():
            key = self._key(k, "")
            if key is None:
                continue
            v = self.value(v, key, 0)
            if v is not _DROP:
                out[key] = v
        if self._charts:
            self._add_charts(out)
        return out

    def _add_charts(self, out: Dict[str, Any]) -> None:
        charts, self._charts = self._charts, []
        for key, c in charts:
            try:
                c.set_key(key)
                tkey = c.spec.table_key
                table = c.table
            except Exception as e:
                self._once(key, "chart", "key %r: not a usable chart (%r); dropped" % (key, e))
                continue
            if self._media is None or not hasattr(table, "_fluoro_encode"):
                self._once(key, "chart", "key %r: the chart's table is not a fluoro.Table; dropped" % key)
                continue
            v = self._media(tkey, [table], self._step, False)
            if v is _DROP:
                continue
            out[tkey] = v
            if self._chart is not None:
                self._chart(key, c)

    def _key(self, k: Any, prefix: str) -> Optional[str]:
        if type(k) is str:
            return k
        if isinstance(k, (str, int, float, bool)):
            return str(k)
        self._once(prefix + repr(k)[:40], "key", "keys must be strings; %r (%s) was dropped" % (k, type(k).__name__))
        return None

    def value(self, v: Any, key: str, depth: int) -> Any:
        t = type(v)
        if t in PLAIN or t is Prepared:
            return v
        if v is None:
            return _DROP
        if self._media is not None and hasattr(v, "_fluoro_encode"):
            return self._media(key, [v], self._step, False)
        if getattr(v, "_fluoro_chart", False) is True:
            self._charts.append((key, v))  # its table is added by row() under key + "_table"
            return _DROP
        if isinstance(v, dict) or _is_mapping(v):
            if depth > 15:
                self._once(key, "depth", "%r is nested deeper than 16 levels; dropped" % key)
                return _DROP
            if "_type" in v:
                return json_safe(v, nonfinite_as_str=False)
            out: Dict[str, Any] = {}
            for k, x in v.items():
                kk = self._key(k, key + ".")
                if kk is None:
                    continue
                x = self.value(x, key + "." + kk, depth + 1)
                if x is not _DROP:
                    out[kk] = x
            return out if out else _DROP
        np = sys.modules.get("numpy")
        if np is not None:
            if isinstance(v, np.generic):
                return self._scalar(v.item(), key, v)
            if isinstance(v, np.ndarray):
                if v.size == 1:
                    return self._scalar(v.item(), key, v)
                return self._unsupported(
                    key,
                    v,
                    "numpy arrays of %d values are not supported yet; log a statistic (e.g. .mean()) instead" % v.size,
                )
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(v, torch.Tensor):
            if v.numel() == 1:
                return self._scalar(v.item(), key, v)
            return self._unsupported(
                key, v, "tensors of %d values are not supported yet; log a statistic (e.g. .mean()) instead" % v.numel()
            )
        if isinstance(v, (list, tuple)):
            if v and self._media is not None and all(hasattr(x, "_fluoro_encode") for x in v):
                return self._media(key, list(v), self._step, True)
            items = [self.value(x, key, depth + 1) for x in v]
            if any(x is _DROP and y is not None for x, y in zip(items, v)):
                return _DROP
            return [None if x is _DROP else x for x in items]
        if isinstance(v, (bool, int, float, str)):  # subclasses (IntEnum, ...)
            return _plain(v)
        if isinstance(v, numbers.Real):  # Fraction, Decimal-likes
            try:
                return float(v)
            except Exception:
                pass
        if getattr(v, "ndim", None) == 0 and hasattr(v, "item"):  # jax / tf scalars
            try:
                return self._scalar(v.item(), key, v)
            except Exception:
                pass
        if self._media is not None:
            m = _coerce(v)  # a plotly or matplotlib figure, made a media object by _media
            if m is not None and m is not v and hasattr(m, "_fluoro_encode"):
                return self._media(key, [m], self._step, False)
        return self._unsupported(key, v, "values of type %s cannot be logged" % type(v).__name__)

    def _scalar(self, x: Any, key: str, orig: Any) -> Any:
        if type(x) in PLAIN:
            return x
        if isinstance(x, complex):
            return self._unsupported(key, orig, "complex numbers cannot be logged")
        return self.value(x, key, 16)

    def _unsupported(self, key: str, v: Any, why: str) -> Any:
        self._once(key, type(v).__name__, "key %r: %s; dropped" % (key, why))
        return _DROP

    def _once(self, key: str, kind: str, msg: str) -> None:
        if (key, kind) in self._warned:
            return
        self._warned.add((key, kind))
        self._warn(msg + " (reported once per key)")


def _coerce(v: Any) -> Any:
    """``fluoro._media.coerce(v)`` (a plotly or matplotlib figure, a DataFrame) when available, else None."""
    try:
        from . import _media  # type: ignore[attr-defined,unused-ignore]
    except Exception:
        return None
    fn = getattr(_media, "coerce", None)
    if fn is None:
        return None
    try:
        return fn(v)
    except Exception:
        return None


def _is_mapping(v: Any) -> bool:
    return hasattr(v, "items") and hasattr(v, "keys") and hasattr(v, "__getitem__")


def _plain(v: Any) -> Any:
    if isinstance(v, bool):
        return bool(v)
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return float(v)
    return str(v)


def _warn(msg: str) -> None:
    warnings.warn(msg, FluoroWarning, stacklevel=5)


def nonfinite_str(x: float) -> Any:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def json_safe(v: Any, nonfinite_as_str: bool = True, depth: int = 0) -> Any:
    """A deep copy of v made of JSON types only (for config and summary).

    numpy/torch scalars become numbers, tuples and sets lists, unknown
    objects their ``str()``; non-finite floats become the strings "NaN",
    "Infinity", "-Infinity" when ``nonfinite_as_str`` (strict JSON bodies).
    """
    t = type(v)
    if t is str or t is bool or t is int or v is None:
        return v
    if t is float:
        return nonfinite_str(v) if nonfinite_as_str else v
    if depth > 32:
        return str(v)
    if isinstance(v, dict) or _is_mapping(v):
        return {str(k): json_safe(x, nonfinite_as_str, depth + 1) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_safe(x, nonfinite_as_str, depth + 1) for x in v]
    if isinstance(v, (set, frozenset)):
        items = [json_safe(x, nonfinite_as_str, depth + 1) for x in v]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(v, (bool, int, float, str)):
        return json_safe(_plain(v), nonfinite_as_str, depth)
    np = sys.modules.get("numpy")
    if np is not None and isinstance(v, (np.generic, np.ndarray)):
        return json_safe(v.tolist(), nonfinite_as_str, depth + 1)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(v, torch.Tensor):
        return json_safe(v.tolist(), nonfinite_as_str, depth + 1)
    if isinstance(v, numbers.Real):
        try:
            return json_safe(float(v), nonfinite_as_str, depth)
        except Exception:
            pass
    return str(v)

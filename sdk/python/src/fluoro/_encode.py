"""Encoding history rows as JSON, fast: the spool thread's hot path.

The output is byte for byte what ``json.dumps(row, separators=(",", ":"))``
writes for ``{"step": s, "time": t, "values": {...}}`` (non-finite floats as
the bare literals ``NaN``, ``Infinity``, ``-Infinity``, which batches may
carry: docs/spool.md), but built differently:

- Rows come in *runs* of consecutive rows with the same keys in the same
  order. A run is encoded from a template per key set (a list of JSON
  pieces with the keys already encoded, made once), so keys cost nothing
  per row: the template is repeated, its value slots filled by slice
  assignment a column at a time, and the whole run joined once.
- All values of a run are gathered into one list and converted with C-level
  ``map`` calls, not a Python loop per value.
- Floats are looked up in a bounded memo (value -> text, ``MEMO_LIMIT``) before
  ``float.__repr__`` (the cost that dominates: ~0.2-0.6 us a float), since
  training scripts log many repeated values (constants, a learning rate,
  unchanged entries of a dict mutated in place). When most values of a run
  are new, the encoder stops consulting the memo for a while.
  ``0.0`` is never memoised: it is equal to ``-0.0``, which must keep its sign.
- Times are rounded to the millisecond (docs/sdk.md says why).
"""

from __future__ import annotations

import json
from itertools import chain, filterfalse, repeat
from typing import Any, Dict, List, Sequence, Tuple

try:
    from json.encoder import encode_basestring_ascii as _quote
except ImportError:  # pragma: no cover - every CPython has it
    _quote = json.dumps

_FLOAT = frozenset((float,))
_frepr = float.__repr__
_irepr = int.__repr__
_INF = float("inf")
_MISS = "\x00"  # memo.get default: never a JSON number
_NONFINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}  # float.__repr__ -> JSON literal

MEMO_LIMIT = 1 << 14  # floats remembered (~2 MB at most); cleared when full
TEMPLATE_SLOTS = 1 << 16  # keys in all remembered templates; cleared when over
_PROBE_EVERY = 16  # runs encoded without the memo before it is tried again
_ZIP_KEYS = 64  # above this many keys, interleave with zip instead of slices


def float_json(v: float) -> str:
    """One float as json.dumps writes it (allow_nan=True)."""
    if v != v:
        return "NaN"
    if v == _INF:
        return "Infinity"
    if v == -_INF:
        return "-Infinity"
    return _frepr(v)


def _fix_nonfinite(strs: List[str]) -> List[str]:
    """float.__repr__ texts with nan/inf/-inf made JSON's NaN/Infinity/-Infinity."""
    if "nan" in strs or "inf" in strs or "-inf" in strs:
        return [_NONFINITE.get(s, s) for s in strs]
    return strs


def _dumps(v: Any) -> str:
    return json.dumps(v, separators=(",", ":"))


def value_json(v: Any) -> str:
    """One value of any kind as json.dumps writes it (raises what json.dumps raises)."""
    t = type(v)
    if t is float:
        return float_json(v)
    if t is int:
        return _irepr(v)
    if t is str:
        return _quote(v)
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    return _dumps(v)


class HistoryEncoder:
    """Encodes runs of history rows; one per pipeline, used by one thread."""

    def __init__(self) -> None:
        self._templates: Dict[Tuple[str, ...], List[str]] = {}
        self._template_slots = 0
        self._memo: Dict[float, str] = {}
        self._skip_memo = 0  # runs left to encode without the memo

    def template(self, keys: Tuple[str, ...]) -> List[str]:
        """One row with these (string) keys as a list of JSON pieces; the odd slots are for the values.

        ``[ '{"step":', step, ',"time":', time, ',"values":{"k1":', v1, ',"k2":', v2, ..., '}},' ]``
        """
        t = self._templates.get(keys)
        if t is None:
            if self._template_slots + len(keys) > TEMPLATE_SLOTS:
                self._templates.clear()
                self._template_slots = 0
            self._template_slots += len(keys)
            t = ['{"step":', "", ',"time":', "", ',"values":{']
            for i, k in enumerate(keys):
                t += ["," + _quote(k) + ":" if i else _quote(k) + ":", ""]
            t.append("}},")
            t[4] += t.pop(5)  # ',"values":{' + '"k1":'
            self._templates[keys] = t
        return t

    def floats(self, vals: List[float]) -> List[str]:
        """JSON text of each float (exact type float only)."""
        if self._skip_memo:
            self._skip_memo -= 1
            return _fix_nonfinite(list(map(_frepr, vals)))
        memo = self._memo
        uniq = dict.fromkeys(vals)  # a run repeats values: convert each once
        new = list(filterfalse(memo.__contains__, uniq))
        if new:
            if len(new) * 4 > len(vals) * 3 and len(vals) >= 64:
                self._skip_memo = _PROBE_EVERY  # mostly fresh values: the memo only costs
                return _fix_nonfinite(list(map(_frepr, vals)))
            if len(memo) + len(new) > MEMO_LIMIT:
                memo.clear()
                new = list(uniq)
            memo.update(zip(new, _fix_nonfinite(list(map(_frepr, new)))))
            memo.pop(0.0, None)  # equal to -0.0 as a dict key: never memoised
        strs = list(map(memo.get, vals, repeat(_MISS)))
        misses = strs.count(_MISS)  # zeros
        if misses:
            find = strs.index
            i = -1
            for _ in range(misses):
                i = find(_MISS, i + 1)
                strs[i] = _frepr(vals[i])
        return strs

    def _texts(self, vals: List[Any]) -> List[str]:
        if _FLOAT.issuperset(map(type, vals)):
            return self.floats(vals)
        return list(map(value_json, vals))

    def run(
        self, keys: Tuple[str, ...], steps: Sequence[int], times: Sequence[Any], rows: Sequence[Dict[str, Any]]
    ) -> str:
        """Rows with exactly these keys, in this order, comma-separated.

        Raises TypeError, ValueError or RecursionError for a value json
        cannot encode (the caller falls back to a slower, forgiving path).
        """
        n, k = len(rows), len(keys)
        strs = self._texts(list(chain.from_iterable(map(dict.values, rows))))
        if len(strs) != n * k:
            raise ValueError("rows of a run differ in their keys")
        if _FLOAT.issuperset(map(type, times)):
            ts = self.floats(list(map(round, times, repeat(3))))  # ms: see docs/sdk.md
        else:
            ts = [value_json(round(t, 3) if type(t) is float else t) for t in times]
        # Fill the value slots of n copies of the row template, a column (or, for
        # rows of many keys, a row) at a time, and join everything once.
        tmpl = self.template(keys)
        w = len(tmpl)  # 2k + 5
        flat = tmpl * n
        flat[1::w] = list(map(_irepr, steps))
        flat[3::w] = ts
        if k <= n:
            for j in range(k):
                flat[5 + 2 * j :: w] = strs[j::k]
        else:
            for r in range(n):
                flat[r * w + 5 : r * w + w - 1 : 2] = strs[r * k : r * k + k]
        flat[-1] = "}}"
        return "".join(flat)

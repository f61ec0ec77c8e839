"""The history encoder writes exactly what json.dumps writes, only faster."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any, Dict, List

from hypothesis import given, settings
from hypothesis import strategies as st

from fluoro._encode import MEMO_LIMIT, HistoryEncoder, value_json
from fluoro._pipeline import FINISH, ROW, SUMSET, Marker
from fluoro._spool import read_spool

import spool_vectors


def _ref(steps: List[int], times: List[Any], rows: List[Dict[str, Any]]) -> str:
    out = [
        {"step": s, "time": round(t, 3) if type(t) is float else t, "values": v} for s, t, v in zip(steps, times, rows)
    ]
    return json.dumps(out, separators=(",", ":"))[1:-1]


SPECIAL = [0.0, -0.0, math.nan, math.inf, -math.inf, 1e308, 5e-324, 0.1, 1.0, -2.5, 1e16, 123456789.123]
floats = st.one_of(st.sampled_from(SPECIAL), st.floats(allow_nan=True, allow_infinity=True))
values = st.one_of(
    floats,
    st.integers(-(2**70), 2**70),
    st.booleans(),
    st.text(max_size=6),
    st.lists(floats, max_size=3),
    st.dictionaries(st.text(max_size=3), floats, max_size=2),
)
keys = st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=6, unique=True)


@settings(max_examples=60, deadline=None)
@given(keys=keys, data=st.data(), n=st.integers(1, 40), all_floats=st.booleans())
def test_run_matches_json_dumps(keys: List[str], data: st.DataObject, n: int, all_floats: bool) -> None:
    enc = HistoryEncoder()
    vs = floats if all_floats else values
    for _ in range(3):  # again with a warm memo
        rows = [{k: data.draw(vs) for k in keys} for _ in range(n)]
        steps = list(range(n))
        times = [1767225600.0 + data.draw(st.floats(0, 1e6)) for _ in range(n)]
        assert enc.run(tuple(keys), steps, times, rows) == _ref(steps, times, rows)


def test_signed_zeros_repeated_values_and_nan_objects() -> None:
    enc = HistoryEncoder()
    nan = math.nan
    rows = [{"a": x, "b": 0.0, "c": nan, "d": float("nan")} for x in (0.0, -0.0, 0.0, -0.0, 1.5, 1.5)]
    for _ in range(3):
        assert enc.run(("a", "b", "c", "d"), list(range(6)), [1.0] * 6, rows) == _ref(list(range(6)), [1.0] * 6, rows)
    assert 0.0 not in enc._memo  # 0.0 == -0.0 as a key: never memoised


def test_fresh_values_bypass_the_memo_and_wide_rows() -> None:
    rnd = random.Random(1)
    enc = HistoryEncoder()
    ks = tuple("k%d" % i for i in range(100))  # more keys than rows: filled row-wise
    for _ in range(20):
        rows = [{k: rnd.random() for k in ks} for _ in range(30)]
        rows[3]["k7"] = math.inf
        rows[4]["k8"] = -math.inf
        rows[5]["k9"] = math.nan
        steps = list(range(30))
        times = [1767225600.0 + i * 0.0004 for i in range(30)]
        assert enc.run(ks, steps, times, rows) == _ref(steps, times, rows)
    assert len(enc._memo) <= MEMO_LIMIT


def test_memo_is_bounded() -> None:
    enc = HistoryEncoder()
    for base in range(0, 3 * MEMO_LIMIT, 4096):
        vals = [float(base + i) + 0.5 for i in range(4096)] * 2  # repeated: memoised
        assert enc.floats(vals) == [repr(v) for v in vals]
        assert len(enc._memo) <= MEMO_LIMIT


def test_keys_that_need_escaping() -> None:
    enc = HistoryEncoder()
    ks = ("a%d", "100%", 'q"uote', "back\\slash", "é", "\u2603", "%s%%")
    rows = [{k: float(i) for i, k in enumerate(ks)}] * 3
    assert enc.run(ks, [1, 2, 3], [1.0, 2.0, 3.0], rows) == _ref([1, 2, 3], [1.0, 2.0, 3.0], rows)


def test_value_json_matches_json_dumps() -> None:
    for v in [None, True, False, 0, -5, 2**80, 1.5, math.nan, -math.inf, "x\u00e9", [1, {"a": None}], {"b": 2.0}]:
        assert value_json(v) == json.dumps(v, separators=(",", ":"))


def test_times_are_rounded_to_the_millisecond() -> None:
    enc = HistoryEncoder()
    out = json.loads("[" + enc.run(("a",), [0, 1], [1767225600.123456, 1767225600.9999], [{"a": 1.0}] * 2) + "]")
    assert [r["time"] for r in out] == [1767225600.123, 1767225601.0]


def test_pipeline_keeps_row_order_across_key_sets_and_odd_values(tmp_path: Path) -> None:
    """Rows go through the queue in bulk: runs of mixed keys, a control item, a bad value."""
    w = spool_vectors._writer(tmp_path / "run", "e", "r1", "online")
    p = spool_vectors._pipe(w)
    want = []
    for s in range(600):
        row: Dict[str, Any] = {"train/loss": 1.0 / (s + 1), "lr": 0.001}
        if s % 7 == 0:
            row = {"val/acc": s / 600, "epoch": s // 100}
        if s == 300:
            row = {"train/loss": object()}  # slipped past log(): sent as its str()
        if s == 301:
            p.q.append((SUMSET, {"best": 1}))
        p.q.extend(((ROW, s, 1767225600.0 + s), row))
        want.append(s)
    m = Marker()
    p.q.append((FINISH, {"state": "finished"}, m))
    p._writer_loop()
    w.close()
    rows = [
        r
        for rec in read_spool(str(tmp_path / "run")).records
        if rec.kind == "batch"
        for r in json.loads(rec.body).get("history", [])
    ]
    assert [r["step"] for r in rows] == want
    assert rows[7]["values"] == {"val/acc": 7 / 600, "epoch": 0}
    assert rows[300]["values"]["train/loss"].startswith("<object")
    assert p.summary.values["best"] == 1 and p.summary.values["train/loss"] == 1.0 / 600

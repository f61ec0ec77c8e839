"""The spool format: golden test vectors, reading rules, and a round-trip property."""

from __future__ import annotations

import copy
import filecmp
import json
import math
import os
import shutil
import urllib.parse
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fluoro
from fluoro import _files
from fluoro._records import complete_entity
from fluoro._spool import SpoolWriter, find_spool_dir, op_line, read_spool
from fluoro._transport import Request

import spool_vectors
from fakeserver import FakeServer


def _tree(d: Path) -> List[str]:
    return sorted(
        str(p.relative_to(d)) for name in spool_vectors.GENERATORS for p in (d / name).rglob("*") if p.is_file()
    )


def test_vectors_are_current(tmp_path: Path) -> None:
    """sdk/testdata/spool is what this SDK writes today (FLUORO_UPDATE_GOLDEN=1 rewrites it)."""
    if os.environ.get("FLUORO_UPDATE_GOLDEN"):
        spool_vectors.generate(spool_vectors.VECTORS)
    spool_vectors.generate(tmp_path)
    want = spool_vectors.VECTORS
    assert _tree(tmp_path) == _tree(want), "vector files differ; run: python sdk/python/tests/spool_vectors.py"
    for rel in _tree(want):
        assert filecmp.cmp(tmp_path / rel, want / rel, shallow=False), (
            "%s differs from a fresh generation; if the format changed on purpose, regenerate and update "
            "docs/spool.md" % rel
        )


@pytest.mark.parametrize("name", sorted(spool_vectors.GENERATORS))
def test_vectors_read_as_expected(name: str) -> None:
    d = spool_vectors.VECTORS / name
    exp = json.loads((d / "expected.json").read_text())
    c = read_spool(str(d))
    assert c.header == exp["header"]
    assert c.acked == exp["acked"]
    assert [r.seq for r in c.pending] == [p["seq"] for p in exp["pending"]]
    for r, p in zip(c.pending, exp["pending"]):
        assert r.kind == p["kind"]
        assert r.body == p["spooled_body"].encode()
        sent = complete_entity(r.body, exp["viewer_entity"]) if r.kind == "batch" else r.body
        assert sent == p["body"].encode()
    assert c.finished == exp["has_finish"]
    idx = _files.read_index(str(d))
    assert [(e.name, e.sha256, e.size) for e in idx.pending] == [
        (f["name"], f["sha256"], f["size"]) for f in exp["files_pending"]
    ]
    assert sorted(e.name for e in idx.entries.values() if e.acked) == exp["files_done"]


def vector_and_server(name: str, d: Path) -> Tuple[Dict[str, Any], FakeServer]:
    """A copy of spool vector name at d, its expected.json, and a fake server in the state the vector's acks imply."""
    shutil.copytree(spool_vectors.VECTORS / name, d)
    exp = json.loads((d / "expected.json").read_text())
    fake = FakeServer()
    h = exp["header"]
    # Record 1 creates the run: when it is acknowledged, the run exists on the server.
    if exp["acked"] >= 1:
        fake._create(h["entity"], h["project"], {"id": h["run_id"], "resume": "allow"})
    return exp, fake


def as_single(r: Request) -> List[Request]:
    """An /ingest/batches request as the /ingest requests of its lines (each line is a spooled batch)."""
    if r.path != "/api/v1/ingest/batches":
        return [r]
    return [
        Request("POST", r.url.replace("/ingest/batches", "/ingest"), {}, line) for line in r.body.split(b"\n") if line
    ]


@pytest.mark.parametrize("name", sorted(spool_vectors.GENERATORS))
def test_vectors_sync_against_the_fake_server(name: str, tmp_path: Path) -> None:
    d = tmp_path / name
    exp, fake = vector_and_server(name, d)
    h = exp["header"]
    res = fluoro.sync(str(d), transport=fake.transport, base_url="http://fake", api_key="k", quiet=True)[0]
    sent = [r for r in fake.transport.requests if r.path != "/api/v1/viewer" and r.method not in ("GET", "PUT")]
    sent = [x for r in sent for x in as_single(r)]
    puts = [r for r in fake.transport.requests if r.method == "PUT"]
    assert [(r.path, r.body) for r in puts] == [
        (f["path"], (d / "files" / f["name"]).read_bytes()) for f in exp["files_pending"]
    ]
    assert res.files == len(exp["files_pending"])
    pend = exp["pending"]
    assert [(r.method, r.path, r.body) for r in sent[: len(pend)]] == [
        (p["method"], p["path"], p["body"].encode()) for p in pend
    ]
    # Ops name their writer and seq (X-Fluoro-Op), so the server applies each once; batches carry them in the body.
    writer = urllib.parse.quote(h["writer"], safe="")
    assert [r.headers.get("X-Fluoro-Op") for r in sent[: len(pend)]] == [
        None if p["kind"] == "batch" else "%s/%d" % (writer, p["seq"]) for p in pend
    ]
    extra = sent[len(pend) :]
    if exp["after_sync"].endswith("crashed"):
        assert [(r.path.rsplit("/", 1)[-1], r.json()) for r in extra] == [("finish", {"state": "crashed"})]
        assert extra[0].headers.get("X-Fluoro-Op") == "%s/%d" % (writer, exp["records"][-1]["seq"] + 1)
        assert res.finished_as == "crashed"
    else:
        assert extra == []
    # Synced: nothing pending, torn tail repaired, spent segments trimmed; a second sync sends nothing.
    c = read_spool(str(d))
    assert c.pending == [] and c.torn == []
    assert _files.read_index(str(d)).pending == []
    n = len(fake.transport.requests)
    again = fluoro.sync(str(d), transport=fake.transport, base_url="http://fake", api_key="k", quiet=True)[0]
    assert again.sent == 0 and again.files == 0 and again.ok
    assert all(r.method == "GET" for r in fake.transport.requests[n:])


def test_torn_tail_and_garbage_lines_are_skipped(tmp_path: Path) -> None:
    w = SpoolWriter(str(tmp_path / "run"), {"entity": "e", "project": "p", "run_id": "r", "writer": "w"})
    w.start(1)
    w.append(1, op_line("create", 1, {"id": "r"}))
    w.append(2, b'{"entity":"e","project":"p","run_id":"r","writer":"w","seq":2,"history":[]}\n')
    w.close()
    seg = next((tmp_path / "run" / "spool").glob("*.jsonl"))
    with open(seg, "ab") as f:
        f.write(b"garbage line\n")
        f.write(b'{"entity":"e","project":"p","run_id":"r","writer":"w","seq":3,"hi')
    c = read_spool(str(tmp_path / "run"))
    assert [r.seq for r in c.records] == [1, 2]
    assert c.bad_lines == 1 and c.torn == [str(seg)]


def test_lock_excludes_a_second_writer(tmp_path: Path) -> None:
    hdr = {"entity": "e", "project": "p", "run_id": "r", "writer": "w"}
    w = SpoolWriter(str(tmp_path / "run"), hdr)
    with pytest.raises(fluoro.SpoolError, match="in use"):
        SpoolWriter(str(tmp_path / "run"), hdr)
    w.close()
    SpoolWriter(str(tmp_path / "run"), hdr).close()


def test_find_spool_dir_errors(tmp_path: Path) -> None:
    with pytest.raises(fluoro.SpoolError):
        find_spool_dir(str(tmp_path))
    with pytest.raises(fluoro.SpoolError):
        fluoro.sync(str(tmp_path))


values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**53), 2**53), st.booleans(), st.text(max_size=8)
)
rowvals = st.dictionaries(st.text(min_size=1, max_size=6), values, min_size=1, max_size=5)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batches=st.lists(st.lists(rowvals, min_size=1, max_size=4), min_size=1, max_size=6),
    seg=st.sampled_from([200, 1 << 20]),
    acked=st.integers(0, 8),
)
def test_spool_round_trip(tmp_path: Path, batches: List[List[dict]], seg: int, acked: int) -> None:
    """Whatever is spooled is read back byte for byte, in order, with the acks applied."""
    import uuid

    d = tmp_path / uuid.uuid4().hex
    w = spool_vectors._writer(d, "e", "r1", "online", segment_bytes=seg)
    p = spool_vectors._pipe(w)
    step = 0
    expect: List[Tuple[int, dict]] = []
    for b in batches:
        for v in b:
            p._add_row(step, 1.0, dict(v))
            expect.append((step, v))
            step += 1
        p._flush()
    last = p.last_spooled
    for s in range(2, min(acked, last) + 1):
        w.ack(s)
    w.close()
    c = read_spool(str(d))
    assert c.acked == min(acked, last) if acked >= 2 else c.acked == 0
    got: List[Tuple[int, dict]] = []
    for r in c.records:
        assert r.kind == "batch"
        got.extend((row["step"], row["values"]) for row in json.loads(r.body)["history"])
    kept = [e for e in expect if e[0] >= got[0][0]] if got else []
    assert len(got) == len(kept)
    for (s1, v1), (s2, v2) in zip(got, kept):
        assert s1 == s2 and v1.keys() == v2.keys()
        for k in v1:
            a, b = v1[k], v2[k]
            assert (isinstance(a, float) and math.isnan(a) and math.isnan(b)) or a == b
    assert [r.seq for r in c.pending] == [r.seq for r in c.records if r.seq > c.acked]


@pytest.mark.parametrize("name", sorted(spool_vectors.GENERATORS))
def test_a_replayed_spool_is_all_duplicates(name: str, tmp_path: Path) -> None:
    """The same records sent twice (their acks lost): ops and batches alike are applied once."""
    first, second = tmp_path / "a", tmp_path / "b"
    exp, fake = vector_and_server(name, first)
    shutil.copytree(spool_vectors.VECTORS / name, second)
    res = fluoro.sync(str(first), transport=fake.transport, base_url="http://fake", api_key="k", quiet=True)[0]
    assert res.ok and res.duplicates == 0
    state = copy.deepcopy((fake.runs, fake.points))
    again = fluoro.sync(str(second), transport=fake.transport, base_url="http://fake", api_key="k", quiet=True)[0]
    # every spooled record again, each a duplicate (a finish sync made up for a crash is not sent again:
    # the run is no longer running)
    assert again.sent == 0 and again.duplicates == len(exp["pending"]) == fake.duplicates, (res, again)
    assert (fake.runs, fake.points) == state

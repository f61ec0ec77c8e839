"""Generates the spool test vectors in sdk/testdata/spool/ (docs/spool.md).

Each vector is a run directory written by the SDK's own spool writer and
batch encoder, driven synchronously with fixed clocks, plus expected.json:
what a reader must find (header, acked, pending records with the exact HTTP
request to send) and what it must do at the end (finish or not).

    python sdk/python/tests/spool_vectors.py   # rewrite the vectors
    FLUORO_UPDATE_GOLDEN=1 python -m pytest sdk/python/tests/test_spool.py
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from fluoro import _files  # noqa: E402
from fluoro._pipeline import CONFIG, META, SUMSET, Pipeline  # noqa: E402
from fluoro._records import Ident, complete_entity, request_for  # noqa: E402
from fluoro._spool import SpoolWriter, op_line, read_spool  # noqa: E402
from fluoro._summary import SummaryState  # noqa: E402

VECTORS = HERE.parents[1] / "testdata" / "spool"
T0 = 1767225600.0  # 2026-01-01T00:00:00Z
WRITER = "host-4242-0a1b2c3d"
VIEWER_ENTITY = "admin"  # what GET /api/v1/viewer answers in these vectors


class _Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        self.t += 0.5
        return self.t


def _writer(run_dir: Path, entity: str, run_id: str, mode: str, segment_bytes: int = 1 << 20) -> SpoolWriter:
    header = {
        "entity": entity,
        "project": "vectors",
        "run_id": run_id,
        "writer": WRITER,
        "base_url": "http://127.0.0.1:8080",
        "mode": mode,
        "sdk": "0.1.0",
    }
    w = SpoolWriter(str(run_dir), header, segment_bytes=segment_bytes, clock=_Clock())
    w.start(1)
    return w


def _pipe(w: SpoolWriter) -> Pipeline:
    h = w.header
    p = Pipeline(
        Ident(h["entity"], h["project"], h["run_id"], WRITER),
        w,
        None,
        SummaryState(),
        first_seq=2,
        batch_interval=0.2,
        batch_max_points=100000,
        send_cache_bytes=1 << 20,
        retry_backoff=0.1,
        retry_max_backoff=1.0,
        termlog=lambda m: None,
        warn=lambda m: None,
    )
    return p


def _rows(p: Pipeline, steps: range, make: Callable[[int], Dict[str, Any]]) -> None:
    for s in steps:
        p._add_row(s, T0 + s, make(s))


def online_clean(d: Path) -> None:
    """A run that finished with the server up: everything acknowledged."""
    w = _writer(d, "admin", "clean01", "online")
    w.append(1, op_line("create", 1, {"id": "clean01", "resume": "allow", "config": {"lr": 0.001}}))
    w.ack(1)
    p = _pipe(w)
    p._control((CONFIG, {"epochs": 2}, False))
    _rows(p, range(0, 3), lambda s: {"train/loss": 1.0 / (s + 1), "train/lr": 0.001})
    p._flush()
    p._emit_op("finish", {"state": "finished", "exit_code": 0})
    for seq in range(2, p.last_spooled + 1):
        w.ack(seq)
    w.close()


def killed_mid_run(d: Path) -> None:
    """SIGKILL while the server was down: acks stop at 3, a batch is unacked, the tail is torn."""
    w = _writer(d, "admin", "killed01", "online")
    w.append(1, op_line("create", 1, {"id": "killed01", "resume": "allow"}))
    w.ack(1)
    p = _pipe(w)
    for lo in (0, 2, 4):
        _rows(p, range(lo, lo + 2), lambda s: {"train/loss": 2.0 - s / 10, "epoch": 0})
        p._flush()
    w.ack(2)
    w.ack(3)
    w.close()
    seg = d / "spool" / "000000000001.jsonl"
    with open(seg, "ab") as f:
        f.write(
            b'{"entity":"admin","project":"vectors","run_id":"killed01","writer":"host-4242-0a1b2c3d","seq":5,"hist'
        )


def offline(d: Path) -> None:
    """An offline run with no entity configured; NaN, Infinity, nested values and a summary."""
    w = _writer(d, "", "offline01", "offline")
    w.append(
        1,
        op_line(
            "create",
            1,
            {
                "id": "offline01",
                "resume": "allow",
                "name": "offline-demo",
                "config": {"lr": 0.01, "nested": {"depth": 2}},
                "tags": ["offline"],
            },
        ),
    )
    p = _pipe(w)
    _rows(
        p,
        range(0, 2),
        lambda s: {
            "val": {"loss": math.nan if s == 0 else 0.5, "acc": math.inf},
            "neg": -math.inf,
            "ok": True,
            "note": "text",
        },
    )
    p._control((SUMSET, {"best": 0.5}))
    p._control((META, {"tags": ["offline", "demo"]}))
    p._flush()
    p._emit_op("finish", {"state": "finished", "exit_code": 0})
    w.close()


def multi_segment(d: Path) -> None:
    """Small segments: the first ones were trimmed; a header carries the ack; one record was refused."""
    w = _writer(d, "admin", "multi01", "online", segment_bytes=300)
    w.append(1, op_line("create", 1, {"id": "multi01", "resume": "allow"}))
    w.ack(1)
    p = _pipe(w)
    for s in range(6):
        _rows(p, range(s, s + 1), lambda s: {"x": s, "y": s * 2})
        p._flush()
    for seq in (2, 3, 4):
        w.ack(seq)
    w.ack(5, 400, "values is empty: a row needs at least one key")
    w.close()


def _put_file(d: Path, name: str, data: bytes) -> bytes:
    p = d / "files" / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return _files.record_line(name, hashlib.sha256(data).hexdigest(), len(data), T0 + 1)


def with_files(d: Path) -> None:
    """An offline run with run files (spool/files.idx): some uploaded, some pending, one refused, a torn tail."""
    w = _writer(d, "", "files01", "offline")
    w.append(1, op_line("create", 1, {"id": "files01", "resume": "allow"}))
    p = _pipe(w)
    img = {"_type": "image-file", "path": "media/images/sample_0_5d41402abc4b2a76b971.png", "size": 5}
    _rows(p, range(0, 1), lambda s: {"sample": img, "loss": 0.5})
    p._flush()
    p._emit_op("finish", {"state": "finished", "exit_code": 0})
    w.close()
    old = b"checkpoint v1\n"
    lines = [
        _files.header_line(T0),
        _put_file(d, "notes/a.txt", old),
        _files.ack_line("notes/a.txt", hashlib.sha256(old).hexdigest()),
        _put_file(d, "gone.txt", b"refused\n"),
        _files.ack_line("gone.txt", hashlib.sha256(b"refused\n").hexdigest(), 400, "bad_data file name"),
        _put_file(d, "notes/a.txt", b"checkpoint v2\n"),  # rewritten (save policy live): pending again
        _put_file(d, "media/images/sample_0_5d41402abc4b2a76b971.png", b"hello"),
        _put_file(d, "fluoro-metadata.json", b'{"python": "3.11.7"}\n'),
        b'{"file":"torn.txt","sha2',
    ]
    (d / "spool" / _files.INDEX).write_bytes(b"".join(lines))


GENERATORS: Dict[str, Callable[[Path], None]] = {
    "online-clean": online_clean,
    "killed-mid-run": killed_mid_run,
    "offline": offline,
    "multi-segment": multi_segment,
    "with-files": with_files,
}


def expected(d: Path) -> Dict[str, Any]:
    c = read_spool(str(d))
    h = c.header
    entity = h["entity"] or VIEWER_ENTITY
    ident = Ident(entity, h["project"], h["run_id"], h["writer"])
    pending: List[Dict[str, Any]] = []
    for r in c.pending:
        method, path = request_for(r.kind, ident)
        body = complete_entity(r.body, entity) if r.kind == "batch" else r.body
        pending.append(
            {
                "seq": r.seq,
                "kind": r.kind,
                "method": method,
                "path": path,
                "body": body.decode("utf-8"),
                "spooled_body": r.body.decode("utf-8"),
            }
        )
    idx = _files.read_index(str(d))
    files = [
        {
            "name": e.name,
            "sha256": e.sha256,
            "size": e.size,
            "method": "PUT",
            "path": _files.url_path(ident, e.name),
        }
        for e in idx.pending
    ]
    return {
        "files_pending": files,
        "files_done": sorted(e.name for e in idx.entries.values() if e.acked),
        "header": h,
        "segments": [os.path.basename(s) for s in c.segments],
        "torn_segments": [os.path.basename(s) for s in c.torn],
        "acked": c.acked,
        "records": [{"seq": r.seq, "kind": r.kind} for r in c.records],
        "pending": pending,
        "viewer_entity": VIEWER_ENTITY,
        "has_finish": c.finished,
        "after_sync": "nothing"
        if not c.pending
        else ("send pending" if c.finished else "send pending, then finish with state crashed"),
    }


def generate(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, gen in GENERATORS.items():
        d = out / name
        if d.exists():
            shutil.rmtree(d)
        gen(d)
        lock = d / "spool" / "lock"
        if lock.exists():
            lock.unlink()
        exp = expected(d)
        (d / "expected.json").write_text(json.dumps(exp, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    generate(VECTORS)
    print("wrote", VECTORS)

"""Sending one spooled record and classifying the answer.

Shared by the live sender thread and by ``fluoro.sync``, so a record is
treated the same whether it goes out during the run or from the spool later.

- 2xx: done.
- 401/403: the key is refused; stop sending and keep the spool for ``sync``.
- 408/425/429/5xx and no answer at all: retry with backoff.
- any other 4xx: permanent; the record is reported once and skipped.

Ops (create, update, finish) go with ``X-Fluoro-Op: <writer>/<seq>``, so the
server applies each once, as it does batches: a sync that replays an op
the live sender already sent gets ``"duplicate": true`` and changes nothing.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Tuple

from ._transport import Client, TransportError, quote

OK = "ok"
REJECTED = "rejected"
RETRY = "retry"
AUTH = "auth"

_RETRY_STATUS = {408, 425, 429}


class Ident(NamedTuple):
    """Which run a spool belongs to."""

    entity: str
    project: str
    run_id: str
    writer: str


class Outcome(NamedTuple):
    kind: str  # OK, REJECTED, RETRY or AUTH
    status: Optional[int] = None
    code: str = ""
    message: str = ""
    ack: Optional[Dict[str, Any]] = None  # the ingest acknowledgement, or the run an op with a seq left

    @property
    def done(self) -> bool:
        return self.kind in (OK, REJECTED)


def run_path(ident: Ident) -> str:
    return "/api/v1/projects/%s/%s/runs/%s" % (quote(ident.entity), quote(ident.project), quote(ident.run_id))


def request_for(kind: str, ident: Ident) -> Tuple[str, str]:
    """The method and path a record of this kind is sent to."""
    if kind == "batch":
        return "POST", "/api/v1/ingest"
    if kind == "create":
        return "POST", "/api/v1/projects/%s/%s/runs" % (quote(ident.entity), quote(ident.project))
    if kind == "update":
        return "PATCH", run_path(ident)
    if kind == "finish":
        return "POST", run_path(ident) + "/finish"
    raise ValueError("unknown record kind %r" % kind)


OP_HEADER = "X-Fluoro-Op"
SPOOLED_HEADER = "X-Fluoro-Spooled"


def op_headers(writer: str, seq: Optional[int]) -> Optional[Dict[str, str]]:
    """The header naming a spooled op, so the server applies it once; None without a writer or seq."""
    if not writer or seq is None:
        return None
    return {OP_HEADER: "%s/%d" % (quote(writer), seq)}


EMPTY_ENTITY = b'{"entity":""'


def complete_entity(body: bytes, entity: str) -> bytes:
    """Fill in the entity of a batch spooled before it was known (docs/spool.md)."""
    if entity and body.startswith(EMPTY_ENTITY):
        return b'{"entity":' + json.dumps(entity).encode() + body[len(EMPTY_ENTITY) :]
    return body


def send(client: Client, kind: str, body: bytes, ident: Ident, seq: Optional[int] = None, spooled: int = 0) -> Outcome:
    """Send one record; ``seq`` (the record's) makes an op carry its X-Fluoro-Op header.

    ``spooled``, for a batch: the points the writer has logged so far, sent
    or not, so the server can show what is still pending (docs/api.md).
    """
    method, path = request_for(kind, ident)
    headers = None
    if kind == "batch":
        body = complete_entity(body, ident.entity)
        if spooled > 0:
            headers = {SPOOLED_HEADER: str(spooled)}
    else:
        headers = op_headers(ident.writer, seq)
    try:
        resp = client.raw(method, path, body, headers=headers)
    except TransportError as e:
        return Outcome(RETRY, None, "", str(e))
    except Exception as e:  # a broken transport: keep the record, try again later
        return Outcome(RETRY, None, "", "%s: %s" % (type(e).__name__, e))
    st = resp.status
    if 200 <= st < 300:
        ack = None
        if kind == "batch" or headers:
            try:
                ack = resp.json()
            except ValueError:
                ack = None
        return Outcome(OK, st, "", "", ack if isinstance(ack, dict) else None)
    code, msg = resp.error()
    if st in (401, 403):
        return Outcome(AUTH, st, code, msg)
    if st in _RETRY_STATUS or st >= 500:
        return Outcome(RETRY, st, code, msg)
    return Outcome(REJECTED, st, code, msg)


BATCH_LINES = 1000  # batches per /ingest/batches request
BATCH_BYTES = 8 << 20


def batch_run(records: Iterable[Tuple[str, int]]) -> int:
    """How many of the leading records, as (kind, body size), are batches that fit one /ingest/batches request."""
    n = size = 0
    for kind, length in records:
        if kind != "batch" or n == BATCH_LINES or (n and size + length + 1 > BATCH_BYTES):
            break
        n += 1
        size += length + 1
    return n


def send_batches(client: Client, bodies: List[bytes], spooled: int) -> Tuple[List[Dict[str, Any]], bool]:
    """Send batch bodies (entities completed) as one /ingest/batches request (docs/spool.md).

    Returns the answers of the lines applied, in order from the first up to
    the first that was not, and whether the server takes such requests. What
    was not applied goes one at a time (``send``), which retries, resumes or
    reports as usual, so any failure of the request as a whole is just none
    applied.
    """
    headers = {SPOOLED_HEADER: str(spooled)} if spooled > 0 else None
    try:
        resp = client.raw("POST", "/api/v1/ingest/batches", b"\n".join(bodies) + b"\n", headers=headers)
        results = (resp.json() or {}).get("results") if resp.status == 200 else None
    except Exception:
        return [], True
    if resp.status in (404, 405):
        return [], False  # a server older than the endpoint
    if not isinstance(results, list) or len(results) != len(bodies):
        return [], True
    applied: List[Dict[str, Any]] = []
    for ack in results:
        if not isinstance(ack, dict) or ack.get("status") != 200:
            break
        applied.append(ack)
    return applied, True


def describe(kind: str, out: Outcome) -> str:
    what = {
        "batch": "a batch of history",
        "create": "creating the run",
        "update": "a run update",
        "finish": "finishing the run",
    }.get(kind, kind)
    return "the server refused %s: HTTP %s %s: %s" % (what, out.status, out.code, out.message)


def rejected_records(ack: Optional[Dict[str, Any]]) -> List[Any]:
    if not ack:
        return []
    r = ack.get("rejected") or []
    return r if isinstance(r, list) else []


def dumps_body(obj: Dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()

"""``fluoro.sync`` / ``python -m fluoro sync DIR...``: send what a spool still holds.

For offline runs, runs whose process was killed, and runs that finished
while the server was down. Records keep the writer and sequence numbers they
were spooled with, so the server drops what it already has: syncing twice,
or while the run is still alive, never duplicates a point or re-applies an
op (create, update, finish) over a newer one.

While the run's process is alive (it holds the spool lock), sync only sends;
otherwise it also records acknowledgements in the spool, trims it, and
finishes a run that never finished as ``crashed``.
"""

from __future__ import annotations

import os
import random
import re
import sys
import time
from typing import Any, Dict, List, Optional, Sequence, Union

from . import _files
from ._errors import AuthError, CommError, SpoolError
from ._records import (
    AUTH,
    OK,
    REJECTED,
    RETRY,
    Ident,
    batch_run,
    complete_entity,
    describe,
    dumps_body,
    rejected_records,
    run_path,
    send,
    send_batches,
)
from ._settings import config_dir, login_entry, read_login, resolve
from ._spool import Lock, append_line, dumps_strict, find_spool_dir, op_line, read_spool, repair_tail, trim_segments
from ._transport import Client, FileBody, HTTPTransport, Transport, quote


class SyncResult:
    """What syncing one run directory did."""

    def __init__(self, run_dir: str) -> None:
        self.run_dir = run_dir
        self.path = ""  # entity/project/run_id
        self.sent = 0  # records the server applied now
        self.duplicates = 0  # records (batches, ops) it already had
        self.rejected = 0  # records refused for good
        self.left = 0  # records still unsent (the server stayed unreachable)
        self.live = False  # the run's process still holds the spool
        self.files = 0  # run files uploaded now
        self.files_left = 0  # run files still to upload
        self.finished_as: Optional[str] = None  # state sent by this sync, if any
        self.errors: List[str] = []

    @property
    def ok(self) -> bool:
        return self.left == 0 and (self.files_left == 0 or self.live) and not self.errors

    def __repr__(self) -> str:
        return "SyncResult(%s: sent=%d duplicates=%d rejected=%d left=%d files=%d)" % (
            self.path or self.run_dir,
            self.sent,
            self.duplicates,
            self.rejected,
            self.left,
            self.files,
        )


def find_run_dirs(path: str) -> List[str]:
    """Run directories at or under path (a run dir, a fluoro/ dir, or its parent)."""
    path = os.path.abspath(path)
    try:
        find_spool_dir(path)
        return [os.path.dirname(path) if os.path.basename(path) == "spool" else path]
    except SpoolError:
        pass
    for base in (path, os.path.join(path, "fluoro")):
        if os.path.isdir(base):
            runs = sorted(
                os.path.join(base, n) for n in os.listdir(base) if os.path.isdir(os.path.join(base, n, "spool"))
            )
            if runs:
                return runs
    raise SpoolError("%s holds no Fluoro run directories" % path)


def sync(
    paths: Union[str, Sequence[str]],
    base_url: Optional[str] = None,
    api_key: Optional[str] = None,
    entity: Optional[str] = None,
    quiet: bool = False,
    mark_crashed: bool = True,
    transport: Optional[Transport] = None,
    retries: int = 8,
) -> List[SyncResult]:
    """Send every unacknowledged record of the given run directories.

    ``paths`` are run directories, ``fluoro/`` folders or their parents.
    The server is ``base_url``, else FLUORO_BASE_URL, else the one the run
    was logging to, else the login file's. Raises AuthError when the key is
    refused; otherwise returns one SyncResult per run directory.
    """
    if isinstance(paths, str):
        paths = [paths]
    dirs: List[str] = []
    for p in paths:
        dirs.extend(d for d in find_run_dirs(p) if d not in dirs)
    return [_sync_one(d, base_url, api_key, entity, quiet, mark_crashed, transport, retries) for d in dirs]


def _server_for(header: Dict[str, Any], base_url: Optional[str], api_key: Optional[str]) -> "tuple[str, Optional[str]]":
    url = base_url or os.environ.get("FLUORO_BASE_URL") or header.get("base_url") or None
    s = resolve({"base_url": url, "api_key": api_key, "mode": "online"})
    key = s.api_key
    if key is None:  # the login file may know the key of the header's server
        key = login_entry(read_login(config_dir()), s.base_url).get("api_key")
    return s.base_url or "", key


_LOGGED_RE = re.compile(rb',"seq":\d+,"logged":(\d+)[,}]')


def spooled_points(records: List[Any]) -> int:
    """The "logged" of the newest batch among records (0 if none says): all the writer spooled."""
    for rec in reversed(records):
        if rec.kind == "batch":
            m = _LOGGED_RE.search(rec.body, 0, 4096)
            if m:
                return int(m.group(1))
    return 0


class _Syncer:
    def __init__(self, res: SyncResult, client: Client, ident: Ident, quiet: bool, retries: int) -> None:
        self.res, self.client, self.ident, self.quiet, self.retries = res, client, ident, quiet, retries
        self.reopened: Optional[Dict[str, Any]] = None  # the run's state before sync reopened it
        self.finish_applied = False  # a finish record was applied now (not a duplicate)
        self.spooled = 0  # the newest batch's "logged": the X-Fluoro-Spooled header

    def send(self, kind: str, body: bytes, seq: int) -> str:
        """Send record ``seq`` with retries; returns OK, REJECTED or RETRY (gave up)."""
        delay = 0.25
        for attempt in range(self.retries + 1):
            out = send(self.client, kind, body, self.ident, seq, self.spooled)
            if out.kind == AUTH:
                raise AuthError(
                    "the server refused the API key: HTTP %s %s" % (out.status, out.message),
                    status=out.status,
                    code=out.code,
                )
            if out.kind == OK:
                ack = out.ack or {}
                if ack.get("duplicate"):
                    self.res.duplicates += 1
                else:
                    self.res.sent += 1
                    self.finish_applied = self.finish_applied or kind == "finish"
                rej = rejected_records(ack)
                if rej:
                    self.res.errors.append("%d record(s) of batch refused, e.g. %s" % (len(rej), rej[0]))
                return OK
            if out.kind == REJECTED:
                if kind == "batch" and out.code == "run_finished" and self.reopened is None:
                    self._reopen()
                    continue
                if kind in ("batch", "update", "finish") and out.status == 404 and self.reopened is None:
                    self._create_missing()
                    continue
                self.res.rejected += 1
                self.res.errors.append(describe(kind, out))
                return REJECTED
            if attempt < self.retries:
                time.sleep(delay / 2 + random.uniform(0, delay / 2))
                delay = min(delay * 2, 5.0)
        return RETRY

    def send_batches(self, recs: List[Any]) -> "tuple[int, bool]":
        """Send batch records in one /ingest/batches request (``send_batches``).

        Returns how many were applied, in order from the first, and whether
        the server takes such requests.
        """
        bodies = [complete_entity(r.body, self.ident.entity) for r in recs]
        applied, multi = send_batches(self.client, bodies, self.spooled)
        for ack in applied:
            if ack.get("duplicate"):
                self.res.duplicates += 1
            else:
                self.res.sent += 1
            rej = rejected_records(ack)
            if rej:
                self.res.errors.append("%d record(s) of batch refused, e.g. %s" % (len(rej), rej[0]))
        return len(applied), multi

    def _reopen(self) -> None:
        """The run was finished before all its data arrived: reopen it, refinish it after."""
        run = self.client.call("GET", run_path(self.ident)).json() or {}
        self.reopened = {"state": run.get("state") or "finished", "exit_code": run.get("exit_code")}
        self._create({"id": self.ident.run_id, "resume": "allow"})

    def _create_missing(self) -> None:
        self.reopened = {}
        self._create({"id": self.ident.run_id, "resume": "allow"})

    def _create(self, body: Dict[str, Any]) -> None:
        path = "/api/v1/projects/%s/%s/runs" % (quote(self.ident.entity), quote(self.ident.project))
        self.client.call("POST", path, dumps_body(body))


def _sync_one(
    run_dir: str,
    base_url: Optional[str],
    api_key: Optional[str],
    entity: Optional[str],
    quiet: bool,
    mark_crashed: bool,
    transport: Optional[Transport],
    retries: int,
) -> SyncResult:
    res = SyncResult(run_dir)
    spool_dir = find_spool_dir(run_dir)
    lock = Lock(spool_dir)
    owner = lock.acquire()
    res.live = not owner
    try:
        contents = read_spool(run_dir)
        h = contents.header
        if owner and contents.segments and contents.segments[-1] in contents.torn:
            repair_tail(contents.segments[-1])
        url, key = _server_for(h, base_url, api_key)
        client = Client(url, key, transport if transport is not None else HTTPTransport(url))
        ent = entity or h.get("entity") or ""
        if not ent:
            ent = (client.call("GET", "/api/v1/viewer").json() or {}).get("entity") or ""
            if not ent:
                raise CommError("cannot tell which entity to sync %s to; pass entity=" % run_dir)
        ident = Ident(ent, h.get("project") or "", h.get("run_id") or "", h.get("writer") or "")
        res.path = "%s/%s/%s" % ident[:3]
        pending = contents.pending
        last_seg = contents.segments[-1]
        sy = _Syncer(res, client, ident, quiet, retries)
        sy.spooled = spooled_points(pending)
        total = len(pending)
        show = not quiet and sys.stderr.isatty()
        multi = True  # the server takes /ingest/batches (an older one may not)
        i = 0
        while i < total:
            if show:
                sys.stderr.write("\rfluoro: syncing %s: %d/%d records" % (res.path, i, total))
                sys.stderr.flush()
            # Consecutive batches go several to a request, one commit for all;
            # from the first one not applied, one at a time below.
            n = batch_run((r.kind, len(r.body)) for r in pending[i:]) if multi else 0
            if n > 1:
                done, multi = sy.send_batches(pending[i : i + n])
                if done:
                    i += done
                    if owner:
                        append_line(last_seg, dumps_strict({"op": "ack", "seq": pending[i - 1].seq}) + b"\n")
                        contents.acked = pending[i - 1].seq
                    if done == n:
                        continue
            rec = pending[i]
            outcome = sy.send(rec.kind, rec.body, rec.seq)
            if outcome == RETRY:
                res.left = total - i
                res.errors.append(
                    "the server at %s stayed unreachable; %d record(s) left in the spool" % (url, res.left)
                )
                break
            if owner:
                line: Dict[str, Any] = {"op": "ack", "seq": rec.seq}
                append_line(last_seg, dumps_strict(line) + b"\n")
                contents.acked = rec.seq
            i += 1
        if show:
            sys.stderr.write("\r")
        if owner and res.left == 0:
            _sync_files(sy, run_dir, res)
            _finish_if_needed(sy, contents, last_seg, mark_crashed, res)
            trim_segments(contents)
        elif not owner:
            res.files_left = len(_files.read_index(run_dir).pending)  # the live process uploads them
        client.close()
    finally:
        if owner:
            lock.release()
    if not quiet:
        state = " (run still live: sent only)" if res.live else ""
        fin = ", finished as %s" % res.finished_as if res.finished_as else ""
        fl = ", %d file(s) uploaded" % res.files if res.files else ""
        if res.files_left:
            fl += ", %d file(s) left" % res.files_left
        sys.stderr.write(
            "fluoro: synced %s: %d sent, %d already there, %d refused, %d left%s%s%s\n"
            % (res.path or run_dir, res.sent, res.duplicates, res.rejected, res.left, fl, fin, state)
        )
        for e in res.errors[:5]:
            sys.stderr.write("fluoro:   %s\n" % e)
    return res


def _sync_files(sy: _Syncer, run_dir: str, res: SyncResult) -> None:
    """Upload the run files the index has not acknowledged (docs/spool.md, "Run files"); owner only."""
    _files.repair_index(run_dir)
    try:
        idx = _files.read_index(run_dir)
    except SpoolError as err:  # a newer index format: the records are sent, the files wait
        res.errors.append(str(err))
        return
    _files.adopt_legacy_metadata(run_dir, idx)
    pending = idx.pending
    for i, ent in enumerate(pending):
        try:
            path = _files.local_path(run_dir, ent.name)
            data = FileBody(path, os.path.getsize(path))  # streamed, never whole in memory
        except OSError as err:
            res.errors.append("run file %s: cannot read its saved copy (%s)" % (ent.name, err))
            _files.append_index(run_dir, [_files.ack_line(ent.name, ent.sha256, None, "cannot read: %s" % err)])
            continue
        delay = 0.25
        for attempt in range(sy.retries + 1):
            out = _files.upload(sy.client, sy.ident, ent.name, data, ent.sha256)
            if out.kind != RETRY or attempt == sy.retries:
                break
            time.sleep(delay / 2 + random.uniform(0, delay / 2))
            delay = min(delay * 2, 5.0)
        if out.kind == AUTH:
            raise AuthError("the server refused the API key: HTTP %s %s" % (out.status, out.message), status=out.status)
        if out.kind == RETRY:
            res.files_left = len(pending) - i
            res.errors.append("the server stayed unreachable; %d run file(s) left" % res.files_left)
            return
        if out.kind == REJECTED:
            res.rejected += 1
            res.errors.append("the server refused run file %s: HTTP %s %s" % (ent.name, out.status, out.message))
            _files.append_index(
                run_dir, [_files.ack_line(ent.name, ent.sha256, out.status, "%s %s" % (out.code, out.message))]
            )
            continue
        res.files += 1
        _files.append_index(run_dir, [_files.ack_line(ent.name, ent.sha256)])


def _finish_if_needed(sy: _Syncer, contents: Any, last_seg: str, mark_crashed: bool, res: SyncResult) -> None:
    """A run whose writer died without finishing ends as crashed; a reopened one as it was."""
    body: Optional[Dict[str, Any]] = None
    if sy.reopened and not (contents.finished and sy.finish_applied):
        # No finish record, or the server had applied it before (a duplicate
        # changes nothing): restore the state the run had.
        body = {"state": sy.reopened.get("state") or "finished"}
        if sy.reopened.get("exit_code") is not None:
            body["exit_code"] = sy.reopened["exit_code"]
    elif sy.reopened is not None and contents.finished:
        return  # the spool's own finish record was sent after the data
    elif not contents.finished and mark_crashed:
        run = sy.client.call("GET", run_path(sy.ident)).json() or {}
        if run.get("state") in ("running", "lost"):  # its process is gone: the spool is not taken
            body = {"state": "crashed"}
    if body is None:
        return
    seq = contents.last_seq + 1
    append_line(last_seg, op_line("finish", seq, body))
    if sy.send("finish", dumps_body(body), seq) == OK:
        append_line(last_seg, dumps_strict({"op": "ack", "seq": seq}) + b"\n")
        res.finished_as = body["state"]

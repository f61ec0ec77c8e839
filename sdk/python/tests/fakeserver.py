"""An in-memory stand-in for the Fluoro API, behind fluoro.MockTransport.

It implements just what the SDK calls, with the server's rules (dedup by
writer and seq, for ingest batches and for ops sent with X-Fluoro-Op alike,
upsert by step, top-level config merge with allow_val_change,
run_finished), records alerts, and can fail on demand. The end-to-end
tests check the same behaviour against the real server.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from typing import Any, Dict, List, Optional, Tuple

import fluoro
from fluoro import MockTransport, Request, Response, TransportError


def _err(status: int, code: str, msg: str) -> Response:
    return Response(status, {"error": {"code": code, "message": msg}})


def _alert_error(a: Dict[str, Any]) -> str:
    """Why the server would refuse an alert record (internal/ingest/decode.go), or ""."""
    title, text, wait = a.get("title"), a.get("text"), a.get("wait_ms")
    if not isinstance(title, str) or not title or len(title) > 256:
        return "bad title"
    if not isinstance(text, str) or len(text.encode("utf-8", "surrogatepass")) > 1 << 16:
        return "bad text"
    if str(a.get("level") or "INFO").upper() not in ("INFO", "WARN", "ERROR"):
        return "bad level"
    if type(wait) is not int or not 0 <= wait <= 366 * 24 * 3600 * 1000:
        return "bad wait_ms"
    if not isinstance(a.get("time"), (int, float)):
        return "bad time"
    return ""


def flatten(prefix: str, d: Dict[str, Any], out: Dict[str, Any]) -> None:
    for k, v in d.items():
        key = prefix + "." + k if prefix else k
        if isinstance(v, dict) and "_type" not in v:
            flatten(key, v, out)
        elif v is not None:
            out[key] = v


class FakeServer:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.runs: Dict[Tuple[str, str, str], Dict[str, Any]] = {}
        self.points: Dict[Tuple[str, str, str], Dict[Tuple[str, int], Any]] = {}
        self.run_alerts: Dict[Tuple[str, str, str], List[Dict[str, Any]]] = {}  # run -> alerts, as received
        self.seen: set = set()
        self.batches: List[Dict[str, Any]] = []  # every ingest body received (parsed), in order
        self.raw: List[bytes] = []
        self.files: Dict[Tuple[str, str, str], Dict[str, bytes]] = {}  # run -> name -> content
        self.file_puts: List[Tuple[str, bytes]] = []  # (name, content) of every upload, in order
        self.duplicates = 0
        self.down = False
        self.fail: List[Optional[int]] = []  # statuses to answer next (None: no answer)
        self.fail_paths = re.compile(r".*")
        self.on_request = None  # callable(Request) for spying
        self.multi = True  # answers /ingest/batches (False: a server older than it)
        self.transport = MockTransport(self.handle)

    def settings(self, **kw: Any) -> fluoro.Settings:
        base = dict(
            transport=self.transport,
            base_url="http://fake",
            api_key="k",
            batch_interval=0.02,
            retry_backoff=0.01,
            retry_max_backoff=0.05,
            quiet=True,
            handle_signals=False,
            git=False,
        )
        base.update(kw)
        return fluoro.Settings(**base)

    # -- helpers for assertions --------------------------------------------

    def run(self, run_id: str, entity: str = "admin", project: Optional[str] = None) -> Dict[str, Any]:
        for (e, p, r), v in self.runs.items():
            if r == run_id and e == entity and (project is None or p == project):
                return v
        raise KeyError(run_id)

    def run_files(self, run_id: str) -> Dict[str, bytes]:
        for (_, _, r), v in self.files.items():
            if r == run_id:
                return v
        return {}

    def history(self, run_id: str) -> Dict[Tuple[str, int], Any]:
        for (_, _, r), v in self.points.items():
            if r == run_id:
                return v
        return {}

    def alerts(self, run_id: str) -> List[Dict[str, Any]]:
        """The run's alerts in the order they arrived (the server would also mark repeats suppressed)."""
        with self.lock:
            for (_, _, r), v in self.run_alerts.items():
                if r == run_id:
                    return list(v)
        return []

    # -- the API -------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        if self.on_request is not None:
            self.on_request(req)
        with self.lock:
            if self.down:
                raise TransportError("connection refused (fake)")
            if self.fail and self.fail_paths.match(req.path):
                st = self.fail.pop(0)
                if st is None:
                    raise TransportError("connection reset (fake)")
                return _err(st, "unavailable" if st >= 500 else "bad_data", "injected failure")
            if req.headers.get("Authorization") != "Bearer k":
                return _err(401, "unauthorized", "bad key")
            return self._route(req)

    def _route(self, req: Request) -> Response:
        path = req.path.split("?")[0]
        if path == "/api/v1/viewer":
            return Response(200, {"name": "admin", "entity": "admin", "entities": ["admin"]})
        if path == "/api/v1/ingest" and req.method == "POST":
            return self._ingest(req.body or b"")
        if path == "/api/v1/ingest/batches" and req.method == "POST" and self.multi:
            results = []
            for line in (req.body or b"").split(b"\n"):
                if line.strip():
                    r = self._ingest(line)
                    body = r.json() if r.status == 200 else {"error": r.json().get("error")}
                    results.append(dict(body, status=r.status))
            return Response(200, {"results": results})
        m = re.fullmatch(r"/api/v1/projects/([^/]+)/([^/]+)/runs", path)
        if m and req.method == "POST":
            body = req.json() or {}
            op = self._op(req)
            if op is not None and body.get("id"):
                key = (m.group(1), m.group(2), body["id"])
                if (key,) + op in self.seen and key in self.runs:
                    return self._duplicate(self.runs[key])
                out = self._create(m.group(1), m.group(2), body)
                if out.status < 300:
                    self.seen.add((key,) + op)
                return out
            return self._create(m.group(1), m.group(2), body)
        m = re.fullmatch(r"/api/v1/projects/([^/]+)/([^/]+)/runs/([^/]+)/files(?:/(.+))?", path)
        if m:
            key = (m.group(1), m.group(2), m.group(3))
            if key not in self.runs:
                return _err(404, "not_found", "run not found")
            if m.group(4) and req.method == "PUT":
                name = urllib.parse.unquote(m.group(4))
                if ".." in name.split("/"):
                    return _err(400, "bad_data", "bad file name")
                self.files.setdefault(key, {})[name] = req.body or b""
                self.file_puts.append((name, req.body or b""))
                return Response(200, {"name": name, "size": len(req.body or b"")})
            if m.group(4) is None and req.method == "GET":
                fs = self.files.get(key, {})
                return Response(200, {"files": [{"name": n, "size": len(b)} for n, b in sorted(fs.items())]})
        m = re.fullmatch(r"/api/v1/projects/([^/]+)/([^/]+)/runs/([^/]+)(/finish)?", path)
        if m:
            key = (m.group(1), m.group(2), m.group(3))
            run = self.runs.get(key)
            if run is None:
                return _err(404, "not_found", "run not found")
            op = self._op(req) if req.method in ("POST", "PATCH") else None
            if op is not None and (key,) + op in self.seen:
                return self._duplicate(run)
            out: Optional[Response] = None
            if m.group(4) and req.method == "POST":
                body = req.json() or {}
                run["state"] = body.get("state") or ("failed" if body.get("exit_code") else "finished")
                run["exit_code"] = body.get("exit_code")
                out = Response(200, run)
            elif req.method == "PATCH":
                out = self._patch(run, req.json())
            if out is not None:
                if op is not None and out.status < 300:
                    self.seen.add((key,) + op)  # only an applied op is remembered, as on the server
                return out
            if req.method == "GET":
                return Response(200, run)
        return _err(404, "not_found", "no route %s %s" % (req.method, path))

    @staticmethod
    def _op(req: Request) -> Optional[Tuple[str, int]]:
        """(writer, seq) of an op's X-Fluoro-Op header (the seq space of the writer's batches), or None."""
        h = req.headers.get("X-Fluoro-Op")
        if not h or "/" not in h:
            return None
        writer, seq = h.rsplit("/", 1)
        return urllib.parse.unquote(writer), int(seq)

    def _duplicate(self, run: Dict[str, Any]) -> Response:
        self.duplicates += 1
        return Response(200, dict(run, duplicate=True))

    def _create(self, e: str, p: str, body: Dict[str, Any]) -> Response:
        rid = body.get("id") or "gen%04d" % len(self.runs)
        resume = body.get("resume") or ("allow" if body.get("id") else "never")
        key = (e, p, rid)
        run = self.runs.get(key)
        if run is not None:
            if resume == "never":
                return _err(409, "conflict", "run exists")
            run["config"].update(body.get("config") or {})
            if body.get("tags") is not None:
                run["tags"] = body["tags"]
            run["state"] = "running"
            out = dict(run, resumed=True)
            return Response(200, out)
        if resume == "must":
            return _err(404, "not_found", "no such run")
        run = {
            "entity": e,
            "project": p,
            "id": rid,
            "name": body.get("name") or "fake-name-%d" % (len(self.runs) + 1),
            "state": "running",
            "config": dict(body.get("config") or {}),
            "summary": {},
            "tags": list(body.get("tags") or []),
            "last_step": -1,
            "group": body.get("group", ""),
            "notes": body.get("notes", ""),
            "job_type": body.get("job_type", ""),
        }
        self.runs[key] = run
        self.points[key] = {}
        return Response(201, dict(run, resumed=False))

    def _patch(self, run: Dict[str, Any], body: Dict[str, Any]) -> Response:
        cfg = body.get("config") or {}
        if not body.get("allow_val_change"):
            bad = [k for k, v in cfg.items() if k in run["config"] and run["config"][k] != v]
            if bad:
                return _err(409, "conflict", "config keys %s already have other values" % bad)
        run["config"].update(cfg)
        for k, v in (body.get("summary") or {}).items():
            if v is None:
                run["summary"].pop(k, None)
            else:
                run["summary"][k] = v
        for k in ("tags", "name", "notes", "group", "job_type"):
            if k in body:
                run[k] = body[k]
        return Response(200, run)

    def _ingest(self, raw: bytes) -> Response:
        self.raw.append(raw)
        b = json.loads(raw)
        key = (b["entity"], b["project"], b["run_id"])
        run = self.runs.get(key)
        if run is None:
            return _err(404, "not_found", "run not found")
        dk = (key, b["writer"], b["seq"])
        if dk in self.seen:
            self.duplicates += 1
            return Response(
                200, {"writer": b["writer"], "seq": b["seq"], "duplicate": True, "accepted": 0, "rejected": []}
            )
        if run["state"] != "running":
            return _err(409, "run_finished", "run is %s" % run["state"])
        self.seen.add(dk)
        self.batches.append(b)
        pts = self.points[key]
        for row in b.get("history") or []:
            flat: Dict[str, Any] = {}
            flatten("", row["values"], flat)
            for k, v in flat.items():
                pts[(k, row["step"])] = v
            run["last_step"] = max(run["last_step"], row["step"])
        for k, v in (b.get("summary") or {}).items():
            if v is None:
                run["summary"].pop(k, None)
            else:
                run["summary"][k] = v
        rejected = []
        for i, a in enumerate(b.get("alerts") or []):
            why = _alert_error(a)
            if why:
                rejected.append({"record": "alerts[%d]" % i, "error": why})
            else:
                self.run_alerts.setdefault(key, []).append(a)
        return Response(
            200,
            {
                "writer": b["writer"],
                "seq": b["seq"],
                "duplicate": False,
                "accepted": len(b.get("history") or []),
                "rejected": rejected,
            },
        )


def start(fake: FakeServer, tmp_path: Any, **kw: Any) -> fluoro.Run:
    """A run against the fake, in tmp_path, project "p" unless given; settings= extends fake.settings()."""
    settings = fake.settings(**kw.pop("settings", {}))
    kw.setdefault("project", "p")
    return fluoro.init(dir=str(tmp_path), settings=settings, **kw)

"""``fluoro.Api``: read runs back, as ``wandb.Api`` does.

    api = fluoro.Api()
    for run in api.runs("admin/sentiment", filters={"config.lr": {"$gt": 1e-5}}, order="-summary.val/acc"):
        print(run.name, run.summary.get("val/acc"))
    df = api.run("admin/sentiment/abc123").history(keys=["train/loss"])

``filters`` is Fluoro's filter expression (``'config.lr > 0.01 and tags has
"x"'``) or a wandb-style MongoDB dict, translated to it.
"""

from __future__ import annotations

import heapq
import json
import math
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from ._errors import UsageError
from ._settings import Settings, resolve
from ._transport import Client, HTTPTransport, quote

_NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_MAX_KEYS = 100  # keys per history query, as the server allows


def _value(v: Any) -> Any:
    if type(v) is str and v in _NONFINITE:
        return _NONFINITE[v]
    return v


class Api:
    """Read access to a Fluoro server.

    ``overrides`` may set ``base_url``, ``api_key``, ``entity`` and
    ``project`` (defaults for paths that leave them out); otherwise they
    come from FLUORO_* variables and the login file, as for ``init``.
    """

    def __init__(
        self,
        overrides: Optional[Dict[str, Any]] = None,
        timeout: Optional[float] = None,
        api_key: Optional[str] = None,
        settings: Optional[Settings] = None,
    ) -> None:
        o = dict(overrides or {})
        if api_key:
            o["api_key"] = api_key
        args = {k: o.get(k) for k in ("base_url", "api_key", "entity", "project")}
        args["mode"] = "online"
        if timeout:
            args["http_timeout"] = timeout
        s = resolve(args, settings)
        self.settings = s
        transport = s.transport if s.transport is not None else HTTPTransport(s.base_url or "", s.http_timeout or 30)
        self.client = Client(s.base_url or "", s.api_key, transport)
        self._entity = o.get("entity") or (settings.entity if settings else None) or None
        self._explicit_project = o.get("project")
        self._viewer: Optional[Dict[str, Any]] = None

    @property
    def base_url(self) -> str:
        return self.client.base_url

    def viewer(self) -> Dict[str, Any]:
        if self._viewer is None:
            self._viewer = self.client.call("GET", "/api/v1/viewer").json() or {}
        return self._viewer

    @property
    def default_entity(self) -> str:
        if self._entity:
            return self._entity
        if self.settings.entity:
            return self.settings.entity
        return str(self.viewer().get("entity") or "")

    def _split(self, path: Optional[str], parts: int) -> List[str]:
        segs = [p for p in (path or "").strip("/").split("/") if p]
        if parts == 3 and len(segs) == 4 and segs[2] == "runs":  # entity/project/runs/id (a run URL)
            segs = [segs[0], segs[1], segs[3]]
        if len(segs) == parts:
            return segs
        if len(segs) == parts - 1:
            return [self.default_entity] + segs
        if parts == 2 and not segs:
            proj = self._explicit_project or self.settings.project
            return [self.default_entity, proj or ""]
        raise UsageError("path %r: want %s" % (path, "entity/project" if parts == 2 else "entity/project/run_id"))

    def projects(self, entity: Optional[str] = None) -> List[Dict[str, Any]]:
        e = entity or self.default_entity
        data = self.client.call("GET", "/api/v1/entities/%s/projects" % quote(e)).json() or {}
        return list(data.get("projects") or [])

    def runs(
        self,
        path: Optional[str] = None,
        filters: Union[None, str, Dict[str, Any]] = None,
        order: Optional[str] = "+created_at",
        per_page: int = 50,
        include_sweeps: bool = True,
    ) -> "Runs":
        """Runs of a project, filtered and sorted; iterated page by page.

        Oldest first by default, as in wandb: pages are fetched by offset, so
        a run created while you iterate lands at the end instead of shifting
        a newest-first list and showing a run twice.
        """
        entity, project = self._split(path, 2)
        return Runs(self, entity, project, to_filter(filters), to_sort(order), per_page)

    def run(self, path: str) -> "PublicRun":
        """One run by "entity/project/run_id" (the entity may be left out)."""
        entity, project, rid = self._split(path, 3)
        r = self.client.call("GET", "/api/v1/projects/%s/%s/runs/%s" % (quote(entity), quote(project), quote(rid)))
        return PublicRun(self, r.json())


class Runs:
    """A lazily paged list of runs. ``len()`` is the total matching count."""

    def __init__(self, api: Api, entity: str, project: str, filter: str, sort: str, per_page: int) -> None:
        self.api, self.entity, self.project = api, entity, project
        self.filter, self.sort = filter, sort
        self.per_page = max(1, min(int(per_page), 1000))
        self._runs: List[PublicRun] = []
        self._total: Optional[int] = None

    def _fetch(self, offset: int) -> None:
        q = "limit=%d&offset=%d" % (self.per_page, offset)
        if self.filter:
            q += "&filter=" + quote(self.filter)
        if self.sort:
            q += "&sort=" + quote(self.sort)
        path = "/api/v1/projects/%s/%s/runs?%s" % (quote(self.entity), quote(self.project), q)
        page = self.api.client.call("GET", path).json() or {}
        self._total = int(page.get("total", 0))
        self._runs.extend(PublicRun(self.api, r) for r in page.get("runs") or [])

    def __len__(self) -> int:
        if self._total is None:
            self._fetch(0)
        return self._total or 0

    def __iter__(self) -> Iterator["PublicRun"]:
        i = 0
        while True:
            if i >= len(self._runs):
                if self._total is not None and len(self._runs) >= self._total:
                    return
                before = len(self._runs)
                self._fetch(len(self._runs))
                if len(self._runs) == before:
                    return
            yield self._runs[i]
            i += 1

    def __getitem__(self, i: int) -> "PublicRun":
        if i < 0:
            i += len(self)
        for j, r in enumerate(self):
            if j == i:
                return r
        raise IndexError(i)

    def __repr__(self) -> str:
        return "<Runs %s/%s (%d)>" % (self.entity, self.project, len(self))


class PublicRun:
    """A run as stored on the server (``wandb.apis.public.Run``'s counterpart)."""

    def __init__(self, api: Api, data: Dict[str, Any]) -> None:
        self._api = api
        self._load(data)

    def _load(self, d: Dict[str, Any]) -> None:
        self._data = d
        self.entity: str = d.get("entity", "")
        self.project: str = d.get("project", "")
        self.id: str = d.get("id", "")
        self.name: str = d.get("name", "")
        self.state: str = d.get("state", "")
        self.config: Dict[str, Any] = {k: v for k, v in (d.get("config") or {}).items() if k != "_fluoro"}
        self.summary: Dict[str, Any] = {k: _value(v) for k, v in (d.get("summary") or {}).items()}
        self.tags: List[str] = list(d.get("tags") or [])
        self.group: str = d.get("group", "")
        self.job_type: str = d.get("job_type", "")
        self.notes: str = d.get("notes", "")
        self.host: str = d.get("host", "")
        self.program: str = d.get("program", "")
        self.git: Dict[str, Any] = d.get("git") or {}
        self.created_at: str = d.get("created_at", "")
        self.heartbeat_at: str = d.get("heartbeat_at", "")
        self.finished_at: Optional[str] = d.get("finished_at")
        self.exit_code: Optional[int] = d.get("exit_code")
        self.last_step: int = int(d.get("last_step", -1))
        self.points: int = int(d.get("points", 0))
        # What the run's writers reported (docs/api.md, "Durability"); None when none did.
        self.points_logged: Optional[int] = d.get("points_logged")
        self.points_received: Optional[int] = d.get("points_received")
        self.points_pending: Optional[int] = d.get("points_pending")

    @property
    def metric_definitions(self) -> List[Dict[str, Any]]:
        return list(((self._data.get("config") or {}).get("_fluoro") or {}).get("metrics") or [])

    @property
    def lastHistoryStep(self) -> int:  # noqa: N802 - wandb's name
        return self.last_step

    @property
    def path(self) -> List[str]:
        return [self.entity, self.project, self.id]

    @property
    def url(self) -> str:
        return "%s/%s/%s/runs/%s" % (self._api.base_url, quote(self.entity), quote(self.project), quote(self.id))

    @property
    def json_config(self) -> str:
        return json.dumps(self.config)

    def _run_path(self) -> str:
        return "/api/v1/projects/%s/%s/runs/%s" % (quote(self.entity), quote(self.project), quote(self.id))

    def load(self, force: bool = True) -> "PublicRun":
        """Fetch the run again."""
        self._load(self._api.client.call("GET", self._run_path()).json())
        return self

    refresh = load

    def update(self) -> None:
        """Send changes made to name, notes, tags, group, job_type, config and summary."""
        body: Dict[str, Any] = {
            "name": self.name,
            "notes": self.notes,
            "tags": list(self.tags),
            "group": self.group,
            "job_type": self.job_type,
            "config": self.config,
            "allow_val_change": True,
        }
        old = self._data.get("summary") or {}
        summary = {k: v for k, v in self.summary.items() if old.get(k, object()) != v}
        summary.update({k: None for k in old if k not in self.summary})
        if summary:
            body["summary"] = summary
        from ._values import json_safe

        self._load(self._api.client.call("PATCH", self._run_path(), json_safe(body)).json())

    def delete(self, delete_artifacts: bool = False) -> None:
        """Delete the run and everything logged to it on the server (wandb's ``Run.delete``).

        History, media, console, system metrics, alerts and file records go;
        the run's id may then be used again. ``delete_artifacts`` is
        accepted for wandb's signature; Fluoro has no artifacts yet.
        """
        self._api.client.call("DELETE", self._run_path())

    def alerts(self) -> List[Dict[str, Any]]:
        """The run's alerts, newest first (the last 100), each with ``suppressed``."""
        data = self._api.client.call("GET", self._run_path() + "/alerts").json() or {}
        return list(data.get("alerts") or [])

    def keys(self) -> List[Dict[str, Any]]:
        """The run's metric keys with point counts and step ranges."""
        data = self._api.client.call("GET", self._run_path() + "/keys").json() or {}
        return list(data.get("keys") or [])

    def files(self) -> List[Dict[str, Any]]:
        data = self._api.client.call("GET", self._run_path() + "/files").json() or {}
        return list(data.get("files") or [])

    def _all_keys(self) -> List[str]:
        return sorted(k["key"] for k in self.keys())

    def history(
        self,
        samples: int = 500,
        keys: Optional[Sequence[str]] = None,
        x_axis: str = "_step",
        pandas: bool = True,
        stream: str = "default",
    ) -> Any:
        """Up to about ``samples`` rows per key, downsampled by the server keeping spikes.

        With ``keys``, only rows that have all of them (as wandb does).
        Rows are dicts with ``_step`` and ``_timestamp``; a pandas
        DataFrame when pandas is installed and ``pandas=True``.
        """
        want = list(keys) if keys else self._all_keys()
        points = max(4, min(int(samples), 20000))
        cols: Dict[int, Dict[str, Any]] = {}
        for i in range(0, len(want), _MAX_KEYS):
            chunk = want[i : i + _MAX_KEYS]
            q = "points=%d&%s" % (points, "&".join("key=" + quote(k) for k in chunk))
            data = self._api.client.call("GET", self._run_path() + "/history?" + q).json() or {}
            for s in data.get("series") or []:
                k = s["key"]
                for step, t, v in zip(s.get("steps") or [], s.get("times") or [], s.get("values") or []):
                    row = cols.get(step)
                    if row is None:
                        row = cols[step] = {"_step": step, "_timestamp": t}
                    row[k] = _value(v)
        rows = [cols[s] for s in sorted(cols)]
        if keys:
            rows = [r for r in rows if all(k in r for k in want)]
        return _frame(rows) if pandas else rows

    def scan_history(
        self,
        keys: Optional[Sequence[str]] = None,
        page_size: int = 1000,
        min_step: Optional[int] = None,
        max_step: Optional[int] = None,
    ) -> Iterator[Dict[str, Any]]:
        """Every point, as rows by step, streamed (nothing is sampled away).

        With ``keys``, only rows that have all of them.
        """
        want = list(keys) if keys else self._all_keys()
        if not want:
            return iter(())
        rng = ""
        if min_step is not None:
            rng += "&min_step=%d" % int(min_step)
        if max_step is not None:
            rng += "&max_step=%d" % int(max_step)
        streams = [self._stream_keys(want[i : i + 16], rng) for i in range(0, len(want), 16)]
        merged = heapq.merge(*streams, key=lambda p: p[0])
        return _rows_by_step(merged, want if keys else None)

    def _stream_keys(self, keys: List[str], rng: str) -> Iterator[Tuple[int, str, float, Any]]:
        """Points of a few keys, each key's points in step order, merged by step."""
        per_key = [self._stream_one(k, rng) for k in keys]
        return heapq.merge(*per_key, key=lambda p: p[0])

    def _stream_one(self, key: str, rng: str) -> Iterator[Tuple[int, str, float, Any]]:
        # A separate client per stream: several responses are read at once.
        client = self._api.client.for_thread()
        try:
            q = "format=ndjson&key=" + quote(key) + rng
            resp = client.call("GET", self._run_path() + "/history?" + q, stream=True)
            for line in resp.iter_lines():
                if not line:
                    continue
                p = json.loads(line)
                yield (int(p["step"]), p["key"], p.get("time"), _value(p.get("value")))
        finally:
            client.close()

    def __repr__(self) -> str:
        return "<PublicRun %s (%s)>" % ("/".join(self.path), self.state)


def _rows_by_step(
    points: Iterator[Tuple[int, str, float, Any]], required: Optional[List[str]]
) -> Iterator[Dict[str, Any]]:
    row: Optional[Dict[str, Any]] = None
    for step, key, t, v in points:
        if row is not None and row["_step"] != step:
            if required is None or all(k in row for k in required):
                yield row
            row = None
        if row is None:
            row = {"_step": step, "_timestamp": t}
        row[key] = v
    if row is not None and (required is None or all(k in row for k in required)):
        yield row


def _frame(rows: List[Dict[str, Any]]) -> Any:
    import importlib

    try:
        pandas = importlib.import_module("pandas")  # optional
    except ImportError:
        return rows
    return pandas.DataFrame(rows)


# --- wandb-style filters ----------------------------------------------------

_FIELD_ALIASES = {
    "display_name": "name",
    "displayName": "name",
    "createdAt": "created_at",
    "jobType": "job_type",
    "heartbeatAt": "heartbeat_at",
    "updatedAt": "updated_at",
}
_OPS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<=", "$eq": "=", "$ne": "!=", "$regex": "~"}


def _field(name: str) -> str:
    if name.startswith("summary_metrics."):
        name = "summary." + name[len("summary_metrics.") :]
    name = _FIELD_ALIASES.get(name, name)
    root, _, rest = name.partition(".")
    if root in ("config", "summary") and rest:
        if root == "config" and rest.endswith(".value"):
            rest = rest[: -len(".value")]  # wandb's config.lr.value
        return root + "." + ".".join(_quote_key(p) for p in rest.split("."))
    return name


def _quote_key(k: str) -> str:
    return '"' + k.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _literal(v: Any) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return repr(float(v)) if isinstance(v, float) else str(v)
    return _quote_key(str(v))


def _cmp(field: str, cond: Any) -> str:
    f = _field(field)
    if f == "tags":
        if isinstance(cond, dict):
            if "$in" in cond:
                return "(" + " or ".join("tags has %s" % _literal(t) for t in cond["$in"]) + ")"
            if "$all" in cond:
                return "(" + " and ".join("tags has %s" % _literal(t) for t in cond["$all"]) + ")"
            if "$nin" in cond:
                return "not (" + " or ".join("tags has %s" % _literal(t) for t in cond["$nin"]) + ")"
            raise UsageError("filters: unsupported tags condition %r" % (cond,))
        return "tags has %s" % _literal(cond)
    if not isinstance(cond, dict):
        return "%s = %s" % (f, _literal(cond))
    parts = []
    for op, v in cond.items():
        if op in _OPS:
            parts.append("%s %s %s" % (f, _OPS[op], _literal(v)))
        elif op == "$in":
            parts.append("%s in (%s)" % (f, ", ".join(_literal(x) for x in v)))
        elif op == "$nin":
            parts.append("not (%s in (%s))" % (f, ", ".join(_literal(x) for x in v)))
        elif op == "$exists":
            parts.append(("%s exists" if v else "not (%s exists)") % f)
        else:
            raise UsageError("filters: unsupported operator %r" % op)
    return " and ".join(parts) if len(parts) == 1 else "(" + " and ".join(parts) + ")"


def _mongo(expr: Dict[str, Any]) -> str:
    parts = []
    for k, v in expr.items():
        if k in ("$and", "$or"):
            sub = [_mongo(x) for x in v]
            parts.append("(" + (" and " if k == "$and" else " or ").join(sub) + ")")
        elif k == "$not":
            parts.append("not (" + _mongo(v) + ")")
        else:
            parts.append(_cmp(k, v))
    return " and ".join(parts)


def to_filter(filters: Union[None, str, Dict[str, Any]]) -> str:
    """Fluoro's filter language from a string (as is) or a wandb MongoDB-style dict."""
    if not filters:
        return ""
    if isinstance(filters, str):
        return filters
    if isinstance(filters, dict):
        return _mongo(filters)
    raise UsageError("filters must be a string or a dict, not %s" % type(filters).__name__)


def to_sort(order: Optional[str]) -> str:
    """wandb's "-summary_metrics.acc" becomes "-summary.acc"; several fields by commas."""
    if not order:
        return ""
    out = []
    for part in order.split(","):
        part = part.strip()
        sign = ""
        if part[:1] in "+-":
            sign, part = ("-" if part[0] == "-" else ""), part[1:]
        f = _field(part)
        out.append(sign + f)
    return ",".join(out)

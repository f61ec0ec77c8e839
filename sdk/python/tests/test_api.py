"""fluoro.Api against a mock transport: what it asks the server for."""

from __future__ import annotations

import urllib.parse
from typing import Any, Dict, List

import fluoro


def _api(pages: List[List[Dict[str, Any]]], seen: List[Dict[str, List[str]]]) -> fluoro.Api:
    total = sum(len(p) for p in pages)

    def handler(req: fluoro.Request) -> fluoro.Response:
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(req.url).query)
        seen.append(q)
        i = int(q["offset"][0]) // int(q["limit"][0])
        return fluoro.Response(200, {"runs": pages[i] if i < len(pages) else [], "total": total})

    s = fluoro.Settings(transport=fluoro.MockTransport(handler), base_url="http://test", api_key="k")
    return fluoro.Api(settings=s)


def test_runs_are_oldest_first_by_default_like_wandb() -> None:
    seen: List[Dict[str, List[str]]] = []
    api = _api([[{"id": "a"}], [{"id": "b"}]], seen)
    assert [r.id for r in api.runs("e/p", per_page=1)] == ["a", "b"]
    assert [q["sort"] for q in seen] == [["created_at"], ["created_at"]]
    assert [q["offset"] for q in seen] == [["0"], ["1"]]


def test_runs_order_is_translated() -> None:
    seen: List[Dict[str, List[str]]] = []
    list(_api([[]], seen).runs("e/p", order="-summary_metrics.acc,+createdAt"))
    assert seen[0]["sort"] == ['-summary."acc",created_at']

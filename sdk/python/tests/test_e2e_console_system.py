"""End to end: console capture, system metrics and the environment file, against the real server."""

from __future__ import annotations

import json
from typing import Any, Dict, List

import pytest

from fluoro._transport import Client, HTTPTransport

from conftest import Server, run_script

pytestmark = pytest.mark.e2e

SCRIPT = r"""
import sys, threading, time
import fluoro
run = fluoro.init(project=sys.argv[1], settings=fluoro.Settings(system_interval=0.1, quiet=True))
print("start")
for i in range(300):
    print("line %d" % i)
    if i % 50 == 0:
        sys.stderr.write("err %d\n" % i)
for p in range(0, 101, 10):                       # a progress bar redrawn with \r
    sys.stdout.write("\rprogress %3d%%" % p)
    sys.stdout.flush()
sys.stdout.write("\n")
sys.stdout.write("part1 ")                        # a line in pieces
sys.stdout.write("part2\n")
print("x" * 100000)                               # over the server's 64 KiB limit
def worker(k):
    for j in range(100):
        print("t%d %d" % (k, j))
ts = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
[t.start() for t in ts]
[t.join() for t in ts]
fluoro.log({"loss": 1.0})
time.sleep(0.5)                                   # a few system samples
sys.stdout.write("no newline at the end")
w_before = sys.stdout.write
fluoro.finish()
print("after finish", type(sys.stdout.write).__name__, "write" in vars(sys.stdout))
"""


def client_for(server: Server) -> Client:
    return Client(server.url, server.key, HTTPTransport(server.url))


def console_lines(c: Client, base: str) -> List[Dict[str, Any]]:
    out: List[Dict[str, Any]] = []
    after = 0
    while True:
        r = c.call("GET", base + "/console?after=%d&limit=1000" % after).json()
        if not r["lines"]:
            return out
        out += r["lines"]
        after = r["next"]


def test_console_system_and_metadata(server: Server, project: str, tmp_path) -> None:
    res = run_script(SCRIPT, server.env(), tmp_path, args=[project])
    assert res.returncode == 0, res.stderr
    # The terminal still shows everything, unchanged.
    assert "line 299\n" in res.stdout and "progress 100%" in res.stdout and "err 250\n" in res.stderr
    assert "after finish builtin_function_or_method False" in res.stdout  # restored: the class's own write

    c = client_for(server)
    runs = c.call("GET", "/api/v1/projects/admin/%s/runs" % project).json()
    rid = (runs.get("runs") or runs.get("items"))[0]["id"]
    base = "/api/v1/projects/admin/%s/runs/%s" % (project, rid)
    lines = console_lines(c, base)
    out = [x["line"] for x in lines if x["stream"] == "stdout"]
    err = [x["line"] for x in lines if x["stream"] == "stderr"]
    # In order, each once.
    assert out[0] == "start"
    assert out[1:301] == ["line %d" % i for i in range(300)]
    assert err == ["err %d" % i for i in range(0, 300, 50)]
    # \r redraws collapse to the last state; pieces join; long lines are cut under the limit.
    assert out[301] == "progress 100%"
    assert out[302] == "part1 part2"
    assert out[303].startswith("x" * 1000) and len(out[303].encode()) <= 65536 and "cut" in out[303]
    threads = out[304:704]
    for k in range(4):  # each thread's lines in its own order, whole
        assert [x for x in threads if x.startswith("t%d " % k)] == ["t%d %d" % (k, j) for j in range(100)]
    assert out[704:] == ["no newline at the end"]
    times = [x["time"] for x in lines]
    assert times == sorted(times)

    samples = c.call("GET", base + "/system").json()["samples"]
    assert len(samples) >= 2
    v = samples[-1]["values"]
    for k in ("proc.cpu", "proc.memory_rss_mb", "memory", "cpu"):
        assert k in v, sorted(v)

    files = c.call("GET", base + "/files").json()["files"]
    meta = [f for f in files if f["name"] == "fluoro-metadata.json"]
    assert meta, files
    tr = HTTPTransport(server.url)
    body = Client(server.url, None, tr).call("GET", meta[0]["url"]).content
    m = json.loads(body)
    assert m["program"].endswith(".py") and m["args"] == [project]
    assert m["cpu_count"] >= 1 and m["python"] and m["host"]
    assert isinstance(m["packages"], list) and all("==" in p for p in m["packages"])
    assert "gpu_count" in m

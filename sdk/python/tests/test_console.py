"""Console capture: the tee, \\r collapsing, threads, restoring the streams, never raising."""

from __future__ import annotations

import io
import sys
import threading
import time
from pathlib import Path
from typing import Any, List, Tuple

import pytest

import fluoro
from fluoro._console import Capture, collapse
from fluoro._pipeline import cap_line

from fakeserver import FakeServer


def test_collapse_like_a_terminal() -> None:
    assert collapse("plain") == "plain"
    assert collapse("\r 10%\r 20%\r100%") == "100%"
    assert collapse("loading...\rdone") == "doneing..."  # what a terminal shows
    assert collapse("50%\r") == "50%"
    assert collapse("a\r\r") == "a"


def test_cap_line() -> None:
    assert cap_line("x" * 100) == "x" * 100
    long = cap_line("é" * 40000)  # 80 000 bytes of UTF-8
    assert len(long.encode()) <= 65536 and long.endswith("over 64 KiB]")


def swap(monkeypatch: pytest.MonkeyPatch) -> Tuple[io.StringIO, io.StringIO]:
    """Fresh stdout/stderr objects (in the test body: pytest swaps the streams after fixtures run)."""
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    return out, err


def test_tee_lines_progress_and_restore(monkeypatch: pytest.MonkeyPatch) -> None:
    out, err = swap(monkeypatch)
    got: List[Tuple[str, str]] = []
    cap = Capture(lambda t, s, line: got.append((s, line)))
    assert cap.start()
    assert sys.stdout is out and "write" in vars(out)  # patched in place, same object
    print("hello")
    print("a", "b", sep="-")
    sys.stderr.write("oops\n")
    for p in range(0, 101, 25):
        sys.stdout.write("\rbar %d%%" % p)
    sys.stdout.write("\n")
    sys.stdout.writelines(["x\n", "y\n"])
    sys.stdout.write("tail")
    cap.stop()
    assert got == [
        ("stdout", "hello"),
        ("stdout", "a-b"),
        ("stderr", "oops"),
        ("stdout", "bar 100%"),
        ("stdout", "x"),
        ("stdout", "y"),
        ("stdout", "tail"),
    ]
    assert out.getvalue().endswith("\rbar 100%\nx\ny\ntail")  # the terminal saw everything
    assert "write" not in vars(out) and "write" not in vars(err)  # restored exactly
    print("after")
    assert got[-1] == ("stdout", "tail")


def test_someone_patching_on_top_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    out, _ = swap(monkeypatch)
    got: List[str] = []
    cap = Capture(lambda t, s, line: got.append(line))
    cap.start()
    ours = out.write
    seen: List[str] = []

    def theirs(s: str) -> int:
        seen.append(s)
        return ours(s)

    out.write = theirs  # type: ignore[method-assign]
    cap.stop()
    assert out.write is theirs  # not undone
    print("still works")
    assert "still works" in out.getvalue() and got == [] and seen


class Slotted:
    """A stream whose write cannot be replaced: sys.stdout is wrapped instead."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf: List[str] = []

    def write(self, s: str) -> int:
        self.buf.append(s)
        return len(s)

    def flush(self) -> None:
        pass


def test_wrapper_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    s = Slotted()
    monkeypatch.setattr(sys, "stdout", s)
    got: List[str] = []
    cap = Capture(lambda t, st, line: got.append(line))
    cap.start()
    assert sys.stdout is not s
    print("via wrapper", flush=True)
    cap.stop()
    assert sys.stdout is s and got == ["via wrapper"] and "".join(s.buf) == "via wrapper\n"


def test_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    out, _ = swap(monkeypatch)

    def boom(t: float, s: str, line: str) -> None:
        raise RuntimeError("emit failed")

    cap = Capture(boom)
    cap.start()
    print("fine")
    sys.stdout.write(b"bytes are passed on as they are" if False else "x\n")
    cap.stop()
    assert out.getvalue() == "fine\nx\n"


def test_threads_keep_their_lines_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    swap(monkeypatch)
    got: List[str] = []
    cap = Capture(lambda t, s, line: got.append(line))
    cap.start()

    def worker(k: int) -> None:
        for j in range(300):
            print("w%d %d" % (k, j))

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    cap.stop()
    for k in range(6):
        assert [x for x in got if x.startswith("w%d " % k)] == ["w%d %d" % (k, j) for j in range(300)]
    assert len(got) == 1800


def test_unbounded_line_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    swap(monkeypatch)
    got: List[str] = []
    cap = Capture(lambda t, s, line: got.append(line))
    cap.start()
    for _ in range(100):
        sys.stdout.write("z" * 10000)
    sys.stdout.write("\n")
    cap.stop()
    assert len(got) == 1 and len(got[0]) == 65537  # the pipeline cuts it to the limit, saying so
    assert len(cap_line(got[0]).encode()) <= 65536


def _console(fake: FakeServer) -> List[Any]:
    return [c for b in fake.batches for c in b.get("console") or []]


def test_run_captures_and_restores(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    out, err = swap(monkeypatch)
    fake = FakeServer()
    run = fluoro.init(dir=str(tmp_path), settings=fake.settings(system_interval=0, x_disable_meta=True))
    for i in range(50):
        print("step", i)
    print("warn", file=sys.stderr)
    sys.stdout.write("\r1/3\r2/3\r3/3\n")
    run.finish()
    assert "write" not in vars(out) and "write" not in vars(err)
    lines = _console(fake)
    assert [c["line"] for c in lines if c["stream"] == "stdout"] == ["step %d" % i for i in range(50)] + ["3/3"]
    assert [c["line"] for c in lines if c["stream"] == "stderr"] == ["warn"]
    assert all(isinstance(c["time"], float) and c["time"] <= time.time() for c in lines)


def test_console_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out, _ = swap(monkeypatch)
    monkeypatch.setenv("FLUORO_CONSOLE", "off")
    fake = FakeServer()
    run = fluoro.init(dir=str(tmp_path), settings=fake.settings(system_interval=0, x_disable_meta=True))
    assert "write" not in vars(out) and run._capture is None
    print("not captured")
    run.finish()
    assert _console(fake) == []


def test_second_live_run_does_not_capture_twice(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    swap(monkeypatch)
    fake = FakeServer()
    kw = dict(system_interval=0, x_disable_meta=True)
    a = fluoro.init(dir=str(tmp_path), settings=fake.settings(**kw))
    b = fluoro.init(dir=str(tmp_path), reinit="create_new", settings=fake.settings(**kw))
    assert a._capture is not None and b._capture is None
    print("once")
    b.finish()
    a.finish()
    assert [c["line"] for c in _console(fake)] == ["once"]

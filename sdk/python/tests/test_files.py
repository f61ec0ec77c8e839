"""Run files: media in log(), save(), diff.patch, fluoro-metadata.json, the file index and sync.

Media use a tiny fake class with the ``_fluoro_encode`` contract, so these
tests do not depend on ``_media``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

import fluoro
from fluoro import _files
from fluoro._files import read_index

from fakeserver import FakeServer


class FakeMedia:
    """A media object: one file named after its content, like the real classes."""

    def __init__(self, data: bytes, fail: bool = False) -> None:
        self.data = data
        self.fail = fail
        self.calls: List[Tuple[str, int]] = []

    def _fluoro_encode(self, key: str, step: int) -> Tuple[Dict[str, Any], List[Tuple[str, bytes]]]:
        self.calls.append((key, step))
        if self.fail:
            raise ValueError("cannot encode this")
        sha = hashlib.sha256(self.data).hexdigest()
        name = "media/fake/%s_%d_%s.bin" % (key.replace("/", "_"), step, sha[:20])
        return {"_type": "fake-file", "path": name, "sha256": sha, "size": len(self.data)}, [(name, self.data)]


def _settings(fake: FakeServer, **kw: Any) -> fluoro.Settings:
    kw.setdefault("x_disable_meta", True)
    kw.setdefault("system_interval", 0)
    kw.setdefault("console", "off")
    return fake.settings(**kw)


def _values(fake: FakeServer, key: str) -> Dict[int, Any]:
    out: Dict[int, Any] = {}
    for b in fake.batches:
        for row in b.get("history") or []:
            if key in row["values"]:
                out[row["step"]] = row["values"][key]
    return out


def test_media_value_and_file_online(tmp_path: Path) -> None:
    fake = FakeServer()
    run = fluoro.init(project="p", dir=str(tmp_path), settings=_settings(fake))
    a, b, c = FakeMedia(b"one"), FakeMedia(b"two"), FakeMedia(b"three")
    run.log({"loss": 1.0})  # step 0
    run.log({"img": a})  # step 1
    run.log({"late": b}, commit=False)  # the row of step 2, sent by the next commit
    run.log({"loss": 0.5})
    run.log({"x": 1, "deep": {"img": c}}, step=7)
    assert run.flush(10)
    assert a.calls == [("img", 1)] and b.calls == [("late", 2)] and c.calls == [("deep.img", 7)]
    vals = _values(fake, "img")
    assert vals[1]["_type"] == "fake-file" and vals[1]["path"].startswith("media/fake/img_1_")
    assert _values(fake, "late")[2]["size"] == 3
    files = fake.run_files(run.id)
    assert files[vals[1]["path"]] == b"one"
    assert sorted(files.values()) == [b"one", b"three", b"two"]
    # The copy under the run directory and its index record.
    assert (Path(run.dir or "") / "files" / vals[1]["path"]).read_bytes() == b"one"
    idx = read_index(run.dir or "")
    assert len(idx.entries) == 3 and not idx.pending
    run.finish()


def test_list_of_media_and_encode_errors(tmp_path: Path) -> None:
    fake = FakeServer()
    run = fluoro.init(project="p", dir=str(tmp_path), settings=_settings(fake))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        run.log({"imgs": [FakeMedia(b"a"), FakeMedia(b"b")], "bad": FakeMedia(b"x", fail=True), "ok": 1})
        run.log({"bad": FakeMedia(b"y", fail=True), "ok": 2})
    msgs = [str(x.message) for x in w if "bad" in str(x.message)]
    assert len(msgs) == 1 and "cannot encode" in msgs[0]
    assert run.flush(10)
    imgs = _values(fake, "imgs")[0]
    assert isinstance(imgs, list) and [x["size"] for x in imgs] == [1, 1]
    assert _values(fake, "ok") == {0: 1, 1: 2} and _values(fake, "bad") == {}
    assert sorted(fake.run_files(run.id).values()) == [b"a", b"b"]
    run.finish()


def test_same_content_is_sent_once_and_retried_on_errors(tmp_path: Path) -> None:
    fake = FakeServer()
    run = fluoro.init(project="p", dir=str(tmp_path), settings=_settings(fake))
    fs = run._files
    assert fs is not None
    fake.fail_paths = __import__("re").compile(r".*/files/.*")
    fake.fail = [503, None, 500]  # two failures and a dropped connection, then success
    fs.put_bytes("notes/a.txt", b"hello")
    assert run.flush(10)
    fs.put_bytes("notes/a.txt", b"hello")  # same content: neither written nor sent again
    assert run.flush(10)
    assert [n for n, _ in fake.file_puts] == ["notes/a.txt"]
    fs.put_bytes("notes/a.txt", b"changed")
    assert run.flush(10)
    assert fake.file_puts[-1] == ("notes/a.txt", b"changed")
    run.finish()
    lines = (Path(run.dir or "") / "spool" / "files.idx").read_bytes().splitlines()
    assert json.loads(lines[0])["fluoro_files"] == 1
    kinds = [next(iter(json.loads(x))) for x in lines[1:]]
    assert kinds == ["file", "file_ack", "file", "file_ack"]


def test_bad_names_and_size_cap_warn(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeServer()
    run = fluoro.init(project="p", dir=str(tmp_path), settings=_settings(fake, max_file_bytes=10, quiet=False))
    fs = run._files
    assert fs is not None
    fs.put_bytes("../escape.txt", b"x")
    fs.put_bytes("big.bin", b"x" * 11)
    fs.put_bytes("small.bin", b"x" * 10)
    assert run.flush(10)
    run.finish()
    err = capsys.readouterr().err
    assert "'../escape.txt' skipped" in err and "over max_file_bytes" in err
    assert list(fake.run_files(run.id)) == ["small.bin"]


def test_offline_files_then_sync_with_metadata(tmp_path: Path) -> None:
    fake = FakeServer()
    run = fluoro.init(
        project="p",
        mode="offline",
        dir=str(tmp_path),
        settings=fluoro.Settings(quiet=True, handle_signals=False, git=False, console="off", system_interval=0),
    )
    run.log({"img": FakeMedia(b"pixels")})
    run.finish()
    rd = Path(run.dir or "")
    assert (rd / "files" / "fluoro-metadata.json").exists()
    assert sorted(e.name for e in read_index(str(rd)).pending) == [
        "fluoro-metadata.json",
        "media/fake/img_0_%s.bin" % hashlib.sha256(b"pixels").hexdigest()[:20],
    ]
    res = fluoro.sync(str(tmp_path), transport=fake.transport, base_url="http://fake", api_key="k", quiet=True)
    assert res[0].ok and res[0].files == 2, res
    files = fake.run_files(run.id)
    assert json.loads(files["fluoro-metadata.json"])["python"]
    assert b"pixels" in files.values()
    assert not read_index(str(rd)).pending
    again = fluoro.sync(str(tmp_path), transport=fake.transport, base_url="http://fake", api_key="k", quiet=True)
    assert again[0].files == 0 and len(fake.file_puts) == 2


def test_sync_uploads_legacy_metadata(tmp_path: Path) -> None:
    """A run directory from before the file index still gets its fluoro-metadata.json uploaded."""
    fake = FakeServer()
    run = fluoro.init(project="p", mode="offline", dir=str(tmp_path), settings=_settings(fake, mode="offline"))
    run.finish()
    rd = Path(run.dir or "")
    (rd / "spool" / "files.idx").unlink(missing_ok=True)
    (rd / "files").mkdir(exist_ok=True)
    (rd / "files" / "fluoro-metadata.json").write_text('{"python": "3"}\n')
    res = fluoro.sync(str(rd), transport=fake.transport, base_url="http://fake", api_key="k", quiet=True)
    assert res[0].ok and res[0].files == 1
    assert fake.run_files(run.id) == {"fluoro-metadata.json": b'{"python": "3"}\n'}


def test_sync_retries_and_keeps_files_when_the_server_is_down(tmp_path: Path) -> None:
    fake = FakeServer()
    run = fluoro.init(project="p", mode="offline", dir=str(tmp_path), settings=_settings(fake, mode="offline"))
    run._files.put_bytes("a.txt", b"a")  # type: ignore[union-attr]
    run.finish()
    fake.fail_paths = __import__("re").compile(r".*/files/.*")
    fake.fail = [503] * 10
    res = fluoro.sync(
        str(tmp_path), transport=fake.transport, base_url="http://fake", api_key="k", quiet=True, retries=2
    )
    assert not res[0].ok and res[0].files_left == 1
    fake.fail = []
    res = fluoro.sync(str(tmp_path), transport=fake.transport, base_url="http://fake", api_key="k", quiet=True)
    assert res[0].ok and res[0].files == 1 and fake.run_files(run.id) == {"a.txt": b"a"}


def test_save_now_end_live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_files, "POLL_INTERVAL", 0.05)
    fake = FakeServer()
    work = tmp_path / "work"
    (work / "ckpt").mkdir(parents=True)
    monkeypatch.chdir(work)
    (work / "ckpt" / "a.pt").write_bytes(b"A1")
    (work / "ckpt" / "b.pt").write_bytes(b"B1")
    (work / "notes.txt").write_text("n1")
    (work / "final.txt").write_text("f1")
    run = fluoro.init(project="p", dir=str(tmp_path / "runs"), settings=_settings(fake))
    got = run.save("ckpt/*.pt")  # live; names keep the relative path
    assert [os.path.relpath(p, run.dir or "") for p in got] == ["files/ckpt/a.pt", "files/ckpt/b.pt"]
    fluoro.save(str(work / "notes.txt"), base_path=str(work), policy="now")
    run.save("final.txt", policy="end")
    assert run.flush(10)
    files = fake.run_files(run.id)
    assert files == {"ckpt/a.pt": b"A1", "ckpt/b.pt": b"B1", "notes.txt": b"n1"}
    # live: a change is uploaded again, a new match is picked up; "now" is not watched.
    (work / "ckpt" / "a.pt").write_bytes(b"A2-longer")
    (work / "ckpt" / "c.pt").write_bytes(b"C1")
    (work / "notes.txt").write_text("n2-longer")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (files.get("ckpt/a.pt") != b"A2-longer" or "ckpt/c.pt" not in files):
        time.sleep(0.05)
    assert files["ckpt/a.pt"] == b"A2-longer" and files["ckpt/c.pt"] == b"C1"
    (work / "final.txt").write_text("f2")
    run.finish()
    assert files["final.txt"] == b"f2" and files["notes.txt"] == b"n1"
    assert [n for n, _ in fake.file_puts].count("ckpt/b.pt") == 1  # unchanged: sent once


def test_save_rejects_escapes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeServer()
    work = tmp_path / "work"
    (work / "out").mkdir(parents=True)
    secret = tmp_path / "secret.txt"
    secret.write_text("s")
    (work / "out" / "link.txt").symlink_to(secret)
    (work / "out" / "ok.txt").write_text("ok")
    monkeypatch.chdir(work)
    run = fluoro.init(project="p", dir=str(tmp_path / "runs"), settings=_settings(fake, quiet=False))
    with pytest.raises(fluoro.UsageError):
        run.save(str(tmp_path / "secret.txt"), base_path=str(work))
    with pytest.raises(fluoro.UsageError):
        run.save("x", policy="sometimes")
    run.save("out/*.txt", policy="now")
    run.save("**/*", policy="now")  # the run directories under the working directory are never saved
    assert run.flush(10)
    run.finish()
    assert "outside base_path" in capsys.readouterr().err
    assert fake.run_files(run.id) == {"out/ok.txt": b"ok"}


needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=repo, check=True, capture_output=True
    )


@pytest.fixture
def dirty_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "train.py").write_text("print('v1')\n")
    (repo / "staged.py").write_text("a = 1\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "init")
    (repo / "train.py").write_text("print('v2')\n")  # unstaged
    (repo / "staged.py").write_text("a = 2\n")
    _git(repo, "add", "staged.py")  # staged
    (repo / "new_untracked.py").write_text("x = 1\n")
    monkeypatch.chdir(repo)
    return repo


@needs_git
def test_diff_patch_of_a_dirty_repo(dirty_repo: Path, tmp_path: Path) -> None:
    fake = FakeServer()
    run = fluoro.init(project="p", dir=str(tmp_path / "runs"), settings=_settings(fake, git=True))
    run.finish()
    patch = fake.run_files(run.id)["diff.patch"].decode()
    assert "+print('v2')" in patch and "+a = 2" in patch
    assert patch.startswith("# fluoro: untracked files") and "#   new_untracked.py" in patch
    assert (Path(run.dir or "") / "files" / "diff.patch").read_text() == patch


@needs_git
def test_diff_patch_is_cut_and_clean_trees_have_none(dirty_repo: Path, tmp_path: Path) -> None:
    (dirty_repo / "train.py").write_text("".join("line %d\n" % i for i in range(5000)))
    fake = FakeServer()
    run = fluoro.init(project="p", dir=str(tmp_path / "runs"), settings=_settings(fake, git=True, diff_max_bytes=4096))
    run.finish()
    patch = fake.run_files(run.id)["diff.patch"]
    assert len(patch) <= 4096 and patch.endswith(b"the full diff is larger\n")
    _git(dirty_repo, "add", "-A")
    _git(dirty_repo, "commit", "-q", "-m", "all")
    run = fluoro.init(project="p", dir=str(tmp_path / "runs"), settings=_settings(fake, git=True))
    run.finish()
    assert "diff.patch" not in fake.run_files(run.id)


def test_finish_is_bounded_by_a_slow_upload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeServer()
    gate = threading.Event()

    def slow(req: Any) -> None:
        if req.method == "PUT":
            gate.wait(20)

    fake.on_request = slow
    monkeypatch.chdir(tmp_path)
    (tmp_path / "end.txt").write_text("at the end")
    run = fluoro.init(project="p", dir=str(tmp_path), settings=_settings(fake, finish_timeout=0.5, quiet=False))
    run._files.put_bytes("a.bin", b"a")  # type: ignore[union-attr]
    run.save("end.txt", policy="end")
    t0 = time.monotonic()
    run.finish()
    took = time.monotonic() - t0
    gate.set()
    assert took < 6, took
    rd = Path(run.dir or "")
    assert (rd / "files" / "end.txt").read_text() == "at the end"  # written before finish returned
    assert "end.txt" in {e.name for e in read_index(str(rd)).pending}
    assert "run file(s) were not uploaded" in capsys.readouterr().err

"""End to end: run files (media in log(), save(), diff.patch, metadata) against the real server."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

import fluoro
from fluoro._transport import Client, HTTPTransport

from conftest import Server

pytestmark = pytest.mark.e2e


class FakeMedia:
    """The ``_fluoro_encode`` contract, without depending on fluoro._media."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def _fluoro_encode(self, key: str, step: int) -> Tuple[Dict[str, Any], List[Tuple[str, bytes]]]:
        sha = hashlib.sha256(self.data).hexdigest()
        name = "media/fake/%s_%d_%s.bin" % (key, step, sha[:20])
        return {"_type": "fake-file", "path": name, "sha256": sha, "size": len(self.data)}, [(name, self.data)]


def _client(server: Server) -> Client:
    return Client(server.url, server.key, HTTPTransport(server.url))


def _files(server: Server, project: str, run_id: str) -> Dict[str, bytes]:
    """name -> content of every file of a run, downloaded through the signed links."""
    c = _client(server)
    listing = c.call("GET", "/api/v1/projects/admin/%s/runs/%s/files" % (project, run_id)).json()["files"]
    anon = Client(server.url, None, HTTPTransport(server.url))
    return {f["name"]: anon.call("GET", f["url"]).content for f in listing}


def _settings(**kw: Any) -> fluoro.Settings:
    base: Dict[str, Any] = dict(quiet=True, handle_signals=False, git=False, console="off", system_interval=0)
    base.update(kw)
    return fluoro.Settings(**base)


def test_media_value_and_file_online(online: Server, tmp_path: Path, project: str) -> None:
    run = fluoro.init(project=project, entity="admin", dir=str(tmp_path), settings=_settings())
    run.log({"loss": 1.0})
    run.log({"sample": FakeMedia(b"\x89PNG fake"), "loss": 0.5})
    run.finish()
    files = _files(online, project, run.id)
    name = "media/fake/sample_1_%s.bin" % hashlib.sha256(b"\x89PNG fake").hexdigest()[:20]
    assert files[name] == b"\x89PNG fake"
    assert json.loads(files["fluoro-metadata.json"])["python"]
    r = fluoro.Api(overrides={"base_url": online.url, "api_key": online.key}).run("admin/%s/%s" % (project, run.id))
    rows = list(r.scan_history(keys=["sample"]))
    assert rows and rows[0]["_step"] == 1 and rows[0]["sample"]["path"] == name


def test_real_media_image(online: Server, tmp_path: Path, project: str) -> None:
    media = pytest.importorskip("fluoro._media")
    image_cls = getattr(media, "Image", None)
    if image_cls is None:
        pytest.skip("fluoro._media.Image does not exist yet")
    run = fluoro.init(project=project, entity="admin", dir=str(tmp_path), settings=_settings())
    run.log({"img": image_cls([[0, 255], [255, 0]]), "imgs": [image_cls([[0]]), image_cls([[255]])]})
    run.finish()
    files = _files(online, project, run.id)
    pngs = [n for n in files if n.startswith("media/images/") and n.endswith(".png")]
    assert len(pngs) >= 2 and all(files[n].startswith(b"\x89PNG") for n in pngs)
    r = fluoro.Api(overrides={"base_url": online.url, "api_key": online.key}).run("admin/%s/%s" % (project, run.id))
    row = list(r.scan_history(keys=["img"]))[0]
    assert row["img"]["_type"] == "image-file" and row["img"]["path"] in files


def test_offline_then_python_sync_uploads_files(server: Server, tmp_path: Path, project: str) -> None:
    run = fluoro.init(project=project, entity="admin", mode="offline", dir=str(tmp_path), settings=_settings())
    run.log({"sample": FakeMedia(b"offline bytes")})
    (tmp_path / "model.txt").write_text("weights")
    run.save(str(tmp_path / "model.txt"), base_path=str(tmp_path), policy="end")
    run.finish()
    env = server.env()
    out = subprocess.run(
        [sys.executable, "-m", "fluoro", "sync", "--base-url", server.url, "--api-key", server.key, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    assert "3 file(s) uploaded" in out.stderr, out.stderr
    files = _files(server, project, run.id)
    assert files["model.txt"] == b"weights" and b"offline bytes" in files.values()
    assert "fluoro-metadata.json" in files
    again = fluoro.sync(str(tmp_path), base_url=server.url, api_key=server.key, quiet=True)
    assert again[0].files == 0 and again[0].sent == 0


def test_offline_then_go_sync_uploads_files(server: Server, tmp_path: Path, project: str) -> None:
    run = fluoro.init(project=project, entity="admin", mode="offline", dir=str(tmp_path), settings=_settings())
    run.log({"sample": FakeMedia(b"go sync bytes")})
    run.finish()
    out = subprocess.run(
        [server.binary, "sync", "--url", server.url, "--key", server.key, str(tmp_path / "fluoro")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "2 run files uploaded" in out.stdout, out.stdout
    files = _files(server, project, run.id)
    assert b"go sync bytes" in files.values() and "fluoro-metadata.json" in files
    res = fluoro.sync(str(tmp_path), base_url=server.url, api_key=server.key, quiet=True)
    assert res[0].files == 0 and res[0].sent == 0  # the Go sync acknowledged them in the index


def test_save_live_reuploads_a_changed_file(online: Server, tmp_path: Path, project: str) -> None:
    ckpt = tmp_path / "ckpt.txt"
    ckpt.write_text("epoch 1")
    run = fluoro.init(project=project, entity="admin", dir=str(tmp_path / "runs"), settings=_settings())
    run.save(str(ckpt), base_path=str(tmp_path))
    assert run.flush(30)
    assert _files(online, project, run.id)["ckpt.txt"] == b"epoch 1"
    ckpt.write_text("epoch 2, longer")
    deadline = time.monotonic() + 20  # polled every 2 s
    while time.monotonic() < deadline and _files(online, project, run.id)["ckpt.txt"] != b"epoch 2, longer":
        time.sleep(0.25)
    assert _files(online, project, run.id)["ckpt.txt"] == b"epoch 2, longer"
    run.finish()


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_diff_patch_for_a_dirty_repo(
    online: Server, tmp_path: Path, project: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.email=t@e", "-c", "user.name=t", *args], cwd=repo, check=True, capture_output=True
        )

    git("init", "-q")
    (repo / "train.py").write_text("lr = 0.1\n")
    git("add", ".")
    git("commit", "-q", "-m", "init")
    (repo / "train.py").write_text("lr = 0.2\n")
    monkeypatch.chdir(repo)
    run = fluoro.init(project=project, entity="admin", dir=str(tmp_path / "runs"), settings=_settings(git=True))
    run.finish()
    patch = _files(online, project, run.id)["diff.patch"].decode()
    assert "-lr = 0.1" in patch and "+lr = 0.2" in patch


def test_large_file_is_streamed(online: Server, tmp_path: Path, project: str) -> None:
    # 48 MiB: over the server's 32 MiB request limit for API calls (run files
    # have their own, --max-file), and streamed from disk both ways: the SDK's
    # Python allocations stay far below the file's size.
    import tracemalloc

    block = hashlib.sha256(b"seed").digest() * (1 << 15)  # 1 MiB
    big = tmp_path / "ckpt" / "model.bin"
    big.parent.mkdir()
    with open(big, "wb") as f:
        for i in range(48):
            f.write(block[i:] + block[:i])
    want = hashlib.sha256(big.read_bytes()).hexdigest()
    run = fluoro.init(project=project, entity="admin", dir=str(tmp_path / "runs"), settings=_settings())
    tracemalloc.start()
    try:
        run.save(str(big), base_path=str(tmp_path), policy="now")
        assert run.flush(120)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    run.finish()
    assert peak < 8 << 20, "peak Python allocations %d bytes while saving a 48 MiB file" % peak
    listing = _client(online).call("GET", "/api/v1/projects/admin/%s/runs/%s/files" % (project, run.id)).json()
    got = {f["name"]: f for f in listing["files"]}
    assert got["ckpt/model.bin"]["size"] == 48 << 20 and got["ckpt/model.bin"]["sha256"] == want


def test_charts_reach_the_server(online: Server, tmp_path: Path, project: str) -> None:
    run = fluoro.init(project=project, entity="admin", dir=str(tmp_path), settings=_settings())
    run.log({"loss": 1.0})
    cm = fluoro.plot.confusion_matrix(y_true=[0, 1, 1, 2], preds=[0, 1, 2, 2], class_names=["a", "b", "c"])
    run.log({"val/cm": cm, "val/roc": fluoro.plot.roc_curve([0, 1, 1, 0], [0.1, 0.9, 0.6, 0.7])})
    run.finish()
    api = fluoro.Api(overrides={"base_url": online.url, "api_key": online.key})
    r = api.run("admin/%s/%s" % (project, run.id))
    vis = r.config["_wandb"]["visualize"]
    assert vis["val/cm"]["panel_config"]["panelDefId"] == "wandb/confusion_matrix/v1"
    assert vis["val/roc"]["panel_config"]["panelDefId"] == "wandb/area-under-curve/v0"
    row = list(r.scan_history(keys=["val/cm_table"]))[0]
    assert row["_step"] == 1 and row["val/cm_table"]["_type"] == "table-file"
    files = _files(online, project, run.id)
    table = json.loads(files[row["val/cm_table"]["path"]])
    assert table["columns"] == ["Actual", "Predicted", "nPredictions"]
    assert sum(n for _, _, n in table["data"]) == 4
    assert [n for a, p, n in table["data"] if a == p] == [1, 1, 1]


def test_api_run_delete_removes_the_run_and_its_files(online: Server, tmp_path: Path, project: str) -> None:
    keep = fluoro.init(project=project, entity="admin", dir=str(tmp_path), settings=_settings())
    keep.log({"loss": 1.0})
    keep.finish()
    run = fluoro.init(project=project, entity="admin", dir=str(tmp_path), settings=_settings(), reinit="create_new")
    run.log({"loss": 0.5, "sample": FakeMedia(b"to be deleted")})
    run.alert("done", "about to go", level="INFO")
    run.finish()
    api = fluoro.Api(overrides={"base_url": online.url, "api_key": online.key})
    r = api.run("admin/%s/%s" % (project, run.id))
    assert [a["title"] for a in r.alerts()] == ["done"]
    assert any(f["name"].startswith("media/fake/") for f in r.files())
    r.delete()
    assert [x.id for x in api.runs("admin/%s" % project)] == [keep.id]
    with pytest.raises(fluoro.CommError, match="404|not found"):
        api.run("admin/%s/%s" % (project, run.id))
    with pytest.raises(fluoro.CommError, match="404|not found"):
        r.delete()
    assert [row["loss"] for row in api.run("admin/%s/%s" % (project, keep.id)).scan_history(keys=["loss"])] == [1.0]

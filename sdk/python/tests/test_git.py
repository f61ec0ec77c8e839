"""The run's git info: commit, branch and remote from .git, dirty from `git status`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Dict

import pytest

import fluoro
from fluoro import _git
from fluoro._spool import read_spool

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git binary")


def _git_cmd(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    if shutil.which("git") is None:
        pytest.skip("needs the git binary")
    r = tmp_path / "repo"
    r.mkdir()
    _git_cmd(r, "init", "-q", "-b", "main")
    _git_cmd(r, "remote", "add", "origin", "https://user:secret@example.com/team/repo.git")
    (r / "train.py").write_text("print('hi')\n")
    _git_cmd(r, "add", "train.py")
    _git_cmd(r, "commit", "-q", "-m", "first")
    monkeypatch.chdir(r)
    return r


def _created_git(tmp_path: Path) -> Dict[str, Any]:
    """The git info of the create record of a fresh offline run started in the working directory."""
    run = fluoro.init(
        project="p",
        mode="offline",
        dir=str(tmp_path / "runs"),
        settings=fluoro.Settings(quiet=True, handle_signals=False),
    )
    run.finish(quiet=True)
    assert run.dir is not None
    create = read_spool(run.dir).records[0]
    assert create.kind == "create"
    git: Dict[str, Any] = json.loads(create.body).get("git", {})
    return git


def test_clean_then_dirty_tree(repo: Path, tmp_path: Path) -> None:
    g = _created_git(tmp_path)
    assert g["branch"] == "main" and len(g["commit"]) == 40
    assert g["remote"] == "https://example.com/team/repo.git"  # no credentials
    assert g["dirty"] is False
    (repo / "notes.txt").write_text("untracked files do not make the tree dirty\n")
    assert _created_git(tmp_path)["dirty"] is False
    (repo / "train.py").write_text("print('changed')\n")
    assert _created_git(tmp_path)["dirty"] is True


def test_no_git_binary_still_records_the_commit(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    g = _created_git(tmp_path)
    assert "dirty" not in g and len(g["commit"]) == 40


def test_slow_git_is_not_waited_for(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "git"
    fake.write_text("#!/bin/sh\nsleep 30\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir) + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.setattr(_git, "DIRTY_TIMEOUT", 0.2)
    t0 = time.monotonic()
    g = _created_git(tmp_path)
    assert time.monotonic() - t0 < 5
    assert "dirty" not in g and g["branch"] == "main"


def test_outside_a_repository_there_is_no_git_info(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "plain"
    d.mkdir()
    monkeypatch.chdir(d)
    if _git._find_git_dir(str(d)) is not None:
        pytest.skip("the temp dir is inside a git repository")
    assert _git.DirtyProbe().proc is None
    assert _created_git(tmp_path) == {}


@needs_git
def test_probe_result_is_none_when_git_fails(repo: Path) -> None:
    (repo / ".git" / "HEAD").write_text("garbage\n")  # git status now exits non-zero
    p = _git.DirtyProbe()
    assert p.result() is None
    p.kill()  # harmless once read

"""The git commit, branch and remote of the working directory, and whether it is dirty.

Commit, branch and remote are read from the files in .git directly, which
costs microseconds; running ``git`` three times would cost tens of
milliseconds of init() time. Whether the tree is dirty needs ``git status``:
``DirtyProbe`` starts it (only when a .git exists) without waiting, so it
runs while init() does its other work, and init() waits at most a moment
for it. A missing git, a slow repository or any error leaves ``dirty``
out; init() never fails on it.
"""

from __future__ import annotations

import os
import re
import time
from typing import TYPE_CHECKING, Any, Dict, Optional, Union

if TYPE_CHECKING:  # pragma: no cover
    import subprocess

DIRTY_TIMEOUT = 1.0  # seconds init() waits, at most, for `git status`


def _find_git_dir(start: str) -> Optional[str]:
    d = os.path.abspath(start)
    for _ in range(64):
        g = os.path.join(d, ".git")
        if os.path.isdir(g):
            return g
        if os.path.isfile(g):  # worktree or submodule: "gitdir: <path>"
            try:
                with open(g, encoding="utf-8") as f:
                    line = f.read().strip()
            except OSError:
                return None
            if line.startswith("gitdir:"):
                p = line[len("gitdir:") :].strip()
                return p if os.path.isabs(p) else os.path.normpath(os.path.join(d, p))
            return None
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent
    return None


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return None


def _common_dir(git_dir: str) -> str:
    c = _read(os.path.join(git_dir, "commondir"))
    if c:
        c = c.strip()
        return c if os.path.isabs(c) else os.path.normpath(os.path.join(git_dir, c))
    return git_dir


def _resolve_ref(git_dir: str, ref: str) -> Optional[str]:
    for base in (git_dir, _common_dir(git_dir)):
        v = _read(os.path.join(base, ref))
        if v:
            return v.strip()
        packed = _read(os.path.join(base, "packed-refs"))
        if packed:
            for line in packed.splitlines():
                parts = line.split(" ", 1)
                if len(parts) == 2 and parts[1].strip() == ref:
                    return parts[0]
    return None


class DirtyProbe:
    """``git status --porcelain --untracked-files=no``, started now, read later.

    Untracked files do not make a tree dirty (as in wandb and GitPython's
    ``is_dirty()``): modified or staged tracked files do.
    """

    def __init__(self, start: Optional[str] = None) -> None:
        import subprocess  # not at import time: only init() needs it

        self.started = time.monotonic()
        self.proc: Optional["subprocess.Popen[bytes]"] = None
        cwd = os.path.abspath(start or os.getcwd())
        if _find_git_dir(cwd) is None:
            return
        env = dict(os.environ, GIT_OPTIONAL_LOCKS="0", LC_ALL="C")  # never take index.lock
        try:
            self.proc = subprocess.Popen(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
            )
        except (OSError, ValueError, subprocess.SubprocessError):  # no git, no fork, ...
            self.proc = None

    def result(self, timeout: Optional[float] = None) -> Optional[bool]:
        """True or False, or None when unknown (no git, an error, too slow)."""
        p = self.proc
        if p is None:
            return None
        import subprocess

        wait = DIRTY_TIMEOUT if timeout is None else timeout
        left = max(0.0, self.started + wait - time.monotonic())
        try:
            out, _ = p.communicate(timeout=left)
        except (subprocess.TimeoutExpired, OSError, ValueError):
            self.kill()
            return None
        if p.returncode != 0:
            return None
        return bool(out.strip())

    def kill(self) -> None:
        """Stop a probe whose result is not wanted (a no-op once it was read)."""
        p = self.proc
        self.proc = None
        if p is None or p.returncode is not None:
            return
        try:
            p.kill()
            if p.stdout is not None:
                p.stdout.close()  # a child of git may hold the pipe: do not wait for EOF
            p.wait(timeout=0.5)
        except Exception:
            pass


def info(start: Optional[str] = None, probe: Optional[DirtyProbe] = None) -> Dict[str, Union[str, bool]]:
    """{"commit", "branch", "remote", "dirty"} where known; {} outside a repository."""
    git_dir = _find_git_dir(start or os.getcwd())
    if git_dir is None:
        if probe is not None:
            probe.kill()
        return {}
    out: Dict[str, Any] = {}
    head = (_read(os.path.join(git_dir, "HEAD")) or "").strip()
    if head.startswith("ref:"):
        ref = head[4:].strip()
        if ref.startswith("refs/heads/"):
            out["branch"] = ref[len("refs/heads/") :]
        commit = _resolve_ref(git_dir, ref)
        if commit:
            out["commit"] = commit
    elif re.fullmatch(r"[0-9a-f]{40,64}", head):
        out["commit"] = head
    cfg = _read(os.path.join(_common_dir(git_dir), "config")) or ""
    m = re.search(r'\[remote "origin"\][^\[]*?\burl\s*=\s*(\S+)', cfg)
    if m:
        out["remote"] = _strip_credentials(m.group(1))
    if probe is not None:
        dirty = probe.result()
        if dirty is not None:
            out["dirty"] = dirty
    return out


def _strip_credentials(url: str) -> str:
    """https://user:token@host/x -> https://host/x: never send a token to the tracker."""
    return re.sub(r"^(\w+://)[^/@]+@", r"\1", url)

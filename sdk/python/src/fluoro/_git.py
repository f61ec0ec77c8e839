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
import threading
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple, Union

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


DIFF_NAME = "diff.patch"
DIFF_TIMEOUT = 5.0  # seconds `git diff` may take, at most, on the fluoro-git-diff thread
_UNTRACKED_MAX = 200  # untracked files named in the header


def _run_capped(args: List[str], cwd: str, cap: int, deadline: float) -> Optional[Tuple[bytes, bool]]:
    """A git command's stdout, at most cap bytes (and whether there was more); None on error or timeout."""
    import subprocess

    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0", LC_ALL="C", GIT_PAGER="cat")
    try:
        p = subprocess.Popen(
            args,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # its own process group: a timeout kills git's children too
        )
    except (OSError, ValueError, subprocess.SubprocessError):
        return None

    def kill() -> None:
        try:
            os.killpg(p.pid, 9)
        except (OSError, AttributeError):
            try:
                p.kill()
            except OSError:
                pass

    timer = threading.Timer(max(0.0, deadline - time.monotonic()), kill)
    timer.daemon = True
    timer.start()
    chunks: List[bytes] = []
    n = 0
    more = False
    try:
        assert p.stdout is not None
        while True:
            b = p.stdout.read1(1 << 16) if hasattr(p.stdout, "read1") else p.stdout.read(1 << 16)
            if not b:
                break
            if n + len(b) > cap:
                chunks.append(b[: cap - n])
                n = cap
                more = True
                kill()
                break
            chunks.append(b)
            n += len(b)
        rc = p.wait()
    except (OSError, ValueError):
        kill()
        return None
    finally:
        timer.cancel()
        if p.stdout is not None:
            p.stdout.close()
    if time.monotonic() >= deadline or (rc != 0 and not more):
        return None
    return b"".join(chunks), more


def diff_patch(
    start: Optional[str] = None, max_bytes: int = 10 << 20, timeout: float = DIFF_TIMEOUT
) -> Optional[bytes]:
    """``git diff HEAD`` (staged and unstaged changes) of the repository at start, for diff.patch.

    Untracked files are listed in a header comment (``git apply`` skips it),
    not diffed. Cut at max_bytes with a last line saying so. None outside a
    repository, with a clean tree, without a HEAD commit, on errors, or when
    git takes longer than timeout.
    """
    cwd = os.path.abspath(start or os.getcwd())
    if _find_git_dir(cwd) is None or max_bytes <= 0:
        return None
    deadline = time.monotonic() + timeout
    got = _run_capped(["git", "diff", "HEAD", "--no-color", "--no-ext-diff"], cwd, max_bytes, deadline)
    if got is None or not got[0].strip():
        return None
    body, cut = got
    head = b""
    untracked = _run_capped(["git", "ls-files", "--others", "--exclude-standard", "-z"], cwd, 1 << 20, deadline)
    if untracked is not None and untracked[0]:
        names = [x.decode("utf-8", "replace") for x in untracked[0].split(b"\0") if x]
        lines = ["# fluoro: untracked files, not in this diff:"]
        lines += ["#   " + n.replace("\n", "\\n") for n in names[:_UNTRACKED_MAX]]
        if len(names) > _UNTRACKED_MAX or untracked[1]:
            lines.append("#   ... and more")
        head = ("\n".join(lines) + "\n\n").encode("utf-8")
    note = b"\n# fluoro: diff cut at %d bytes (diff_max_bytes); the full diff is larger\n" % max_bytes
    if cut or len(head) + len(body) > max_bytes:
        room = max(0, max_bytes - len(head) - len(note))
        body = body[:room]
        nl = body.rfind(b"\n")
        body = body[: nl + 1] if nl >= 0 else b""
        return head + body + note
    return head + body

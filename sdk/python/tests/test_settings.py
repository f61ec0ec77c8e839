"""Settings precedence: arguments, then FLUORO_* variables, then the login file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fluoro
from fluoro._settings import normalize_resume, resolve, write_login

from fakeserver import FakeServer


def test_precedence(tmp_path: Path) -> None:
    cdir = str(tmp_path / "cfg")
    write_login(cdir, "http://login-host:1", "login-key", "login-entity")
    env = {"FLUORO_CONFIG_DIR": cdir}
    s = resolve({}, None, env)
    assert (s.base_url, s.api_key, s.entity, s.mode) == ("http://login-host:1", "login-key", "login-entity", "online")
    env.update(
        FLUORO_API_KEY="env-key",
        FLUORO_PROJECT="env-proj",
        FLUORO_MODE="offline",
        FLUORO_ENTITY="env-ent",
        FLUORO_RUN_ID="env-id",
        FLUORO_RESUME="allow",
        FLUORO_DIR="/env/dir",
    )
    s = resolve({}, None, env)
    assert (s.api_key, s.project, s.mode, s.entity, s.run_id, s.resume, s.dir) == (
        "env-key",
        "env-proj",
        "offline",
        "env-ent",
        "env-id",
        "allow",
        "/env/dir",
    )
    s = resolve(
        {"project": "arg", "mode": "disabled", "entity": "arg-ent"},
        fluoro.Settings(api_key="settings-key", project="settings-proj"),
        env,
    )
    assert (s.project, s.mode, s.entity, s.api_key) == ("arg", "disabled", "arg-ent", "settings-key")
    # The login file's key belongs to its host only.
    env2 = {"FLUORO_CONFIG_DIR": cdir, "FLUORO_BASE_URL": "http://other:2"}
    s = resolve({}, None, env2)
    assert s.base_url == "http://other:2" and s.api_key is None


def test_defaults_without_any_server(tmp_path: Path) -> None:
    s = resolve({}, None, {"FLUORO_CONFIG_DIR": str(tmp_path)})
    assert s.mode == "offline" and s.base_url is None and s.project == "uncategorized"
    assert s.batch_interval is not None and s.batch_interval <= 0.25


def test_bad_values_raise_clearly(tmp_path: Path) -> None:
    env = {"FLUORO_CONFIG_DIR": str(tmp_path)}
    with pytest.raises(fluoro.UsageError, match="mode"):
        resolve({"mode": "sometimes"}, None, env)
    with pytest.raises(fluoro.UsageError, match="resume"):
        resolve({"resume": "maybe"}, None, env)
    with pytest.raises(fluoro.UsageError, match="unknown settings"):
        resolve({}, {"nope": 1}, env)
    with pytest.raises(fluoro.UsageError, match="run id"):
        fluoro.init(project="p", id="bad id!", mode="offline", dir=str(tmp_path))
    with pytest.raises(fluoro.UsageError, match="project name"):
        fluoro.init(project="my project", mode="offline", dir=str(tmp_path))
    with pytest.raises(TypeError):
        fluoro.init(project="p", not_an_argument=1)  # type: ignore[call-arg]


def test_resume_spellings() -> None:
    assert [normalize_resume(v) for v in (None, False, True, "auto", "allow", "must", "never", "true", "")] == [
        None,
        None,
        "auto",
        "auto",
        "allow",
        "must",
        "never",
        "auto",
        None,
    ]


def test_login_file_is_private(tmp_path: Path) -> None:
    p = write_login(str(tmp_path / "c"), "http://h:1", "k", None)
    assert oct(os.stat(p).st_mode & 0o777) == "0o600"
    assert json.loads(Path(p).read_text())["hosts"]["http://h:1"] == {"api_key": "k"}


Call = Tuple[Dict[str, Any], Optional[int], Optional[bool]]
calls = st.lists(
    st.tuples(
        st.dictionaries(st.sampled_from("abc"), st.integers(0, 9), max_size=2),
        st.one_of(st.none(), st.integers(0, 12)),
        st.sampled_from([None, True, False]),
    ),
    max_size=25,
)


def model(seq: List[Call]) -> List[Tuple[int, Dict[str, Any]]]:
    """wandb's step rules, plus Fluoro's: a lower explicit step is a late point, not dropped."""
    cur, pending, sent = 0, None, []
    for d, step, commit in seq:
        if step is None:
            if commit is False:
                pending = {**(pending or {}), **d}
                continue
            row = {**(pending or {}), **d}
            if row:
                sent.append((cur, row))
            pending, cur = None, cur + 1
            continue
        if step < cur:
            if d:
                sent.append((step, d))
            continue
        if step > cur:
            if pending:
                sent.append((cur, pending))
            pending, cur = None, step
        pending = {**(pending or {}), **d}
        if commit:
            if pending:
                sent.append((step, pending))
            pending, cur = None, step + 1
    if pending:
        sent.append((cur, pending))
    return sent


@settings(max_examples=40, deadline=None)
@given(seq=calls)
def test_step_rules_match_the_model(seq: List[Call]) -> None:
    import tempfile

    fake = FakeServer()
    with tempfile.TemporaryDirectory() as d:
        run = fluoro.init(project="p", dir=d, settings=fake.settings())
        for data, step, commit in seq:
            run.log(data, step=step, commit=commit)
        run.finish()
    got = [(r["step"], r["values"]) for b in fake.batches for r in b.get("history") or []]
    assert got == model(seq)

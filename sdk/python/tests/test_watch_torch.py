"""watch() with real PyTorch (CPU): the numbers, the steps, and the round trip through the real server.

``make test-python-torch`` runs this file in .venv-torch (Debian's python3-torch)
with FLUORO_TEST_TORCH=1: then a missing torch is an error, not a skip. In the
main suite (no torch there) the file is skipped.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any, Dict, List

import pytest

import fluoro
from fluoro import _watch

from conftest import Server

if os.environ.get("FLUORO_TEST_TORCH") == "1":
    try:
        import torch
    except ImportError as e:  # pragma: no cover - the point is to fail loudly
        raise ImportError(
            "FLUORO_TEST_TORCH=1 but torch cannot be imported (%s); install Debian's python3-torch "
            "(apt-get install python3-torch) and run `make test-python-torch`" % e
        ) from e
else:
    torch = pytest.importorskip("torch", reason="torch is not installed here; `make test-python-torch` runs these")


def mlp() -> Any:
    return torch.nn.Sequential(
        torch.nn.Linear(16, 32),
        torch.nn.ReLU(),
        torch.nn.Linear(32, 32),
        torch.nn.ReLU(),
        torch.nn.Linear(32, 4),
    )


def offline_run(tmp_path: Path) -> fluoro.Run:
    return fluoro.init(mode="offline", project="watch", dir=str(tmp_path), settings={"quiet": True, "console": "off"})


def close(a: float, b: float, rel: float = 1e-5) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-30)


class SlowCopy:
    """A copy that is not on the host until polled a few times, as a GPU's asynchronous copy may be."""

    def __init__(self, copy: Any, polls: int) -> None:
        self.copy, self.polls = copy, polls

    def ready(self) -> bool:
        self.polls -= 1
        return self.polls < 0 and bool(self.copy.ready())

    def result(self) -> Any:
        return self.copy.result()


@pytest.mark.e2e
@pytest.mark.parametrize("deferred", [False, True], ids=["copied-at-once", "copied-later"])
def test_watch_against_the_real_server(
    online: Server, tmp_path: Path, project: str, deferred: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    late: List[int] = []
    if deferred:  # the summaries reach the host steps later: logged at the step they were taken
        real = _watch.begin_copy
        monkeypatch.setattr(_watch, "begin_copy", lambda t, sts: SlowCopy(real(t, sts), 3))
    torch.manual_seed(0)
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    explode = {"on": False}
    # A hook registered before watch() runs before watch()'s: watch sees the huge gradient.
    model[2].weight.register_hook(lambda g: g * 1e6 if explode["on"] else None)
    run = fluoro.init(project=project, dir=str(tmp_path), settings={"quiet": True, "console": "off"})
    run.watch(model, log="all", log_freq=10)
    log_at = run._log_at

    def spy(d: Dict[str, Any], step: int) -> None:
        if step < run.step:
            late.append(step)
        log_at(d, step)

    monkeypatch.setattr(run, "_log_at", spy)
    grads: Dict[int, Dict[str, Any]] = {}
    params: Dict[int, Dict[str, Any]] = {}
    names = [n for n, _ in model.named_parameters()]
    for i in range(300):
        x = torch.randn(64, 16)
        y = x[:, :4].sum(dim=1, keepdim=True).repeat(1, 4)
        out = model(x)
        if i < 200 and (i + 1) % 10 == 0:  # the forward hook summarised the parameters as they are now
            params[i] = {n: p.detach().clone() for n, p in model.named_parameters()}
        loss = torch.nn.functional.mse_loss(out, y)
        opt.zero_grad()
        explode["on"] = i == 49
        loss.backward()
        if i < 200 and (i + 1) % 10 == 0:
            grads[i] = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
        if not explode["on"]:
            opt.step()
        run.log({"train/loss": loss.item()})
        if i == 199:
            run.unwatch()
    run.finish()

    r = fluoro.Api(overrides={"base_url": online.url, "api_key": online.key}).run("%s/%s" % (project, run.id))
    keys = {k["key"] for k in r.keys()}
    assert {"gradients/" + n for n in names} <= keys and {"parameters/" + n for n in names} <= keys
    assert {"gradients/_norms", "parameters/_norms", "train/loss"} <= keys
    want_steps = list(range(9, 200, 10))  # the 10th, 20th, ... backward pass; none after unwatch()

    def series(key: str) -> Dict[int, Any]:
        out = {}
        for row in r.scan_history(keys=[key]):
            v = row[key]
            out[row["_step"]] = json.loads(v) if isinstance(v, str) else v
        return out

    for kind, ref in (("gradients", grads), ("parameters", params)):
        for n in names:
            s = series("%s/%s" % (kind, n))
            assert sorted(s) == want_steps, (kind, n)
            for step in (9, 49, 199):
                h, t = s[step], ref[step][n]
                assert h["_type"] == "histogram" and len(h["values"]) == 64 and len(_watch.bin_edges(h)) == 65
                assert sum(h["values"]) == t.numel()  # every value is finite here
                assert "nan" not in h and "inf" not in h
                assert close(_watch.bin_edges(h)[0], t.min().item()) and close(_watch.bin_edges(h)[-1], t.max().item())
                # The same bins as torch.histc over [min, max], up to values on an edge.
                want = torch.histc(t.float(), bins=64, min=t.min().item(), max=t.max().item())
                assert sum(abs(a - b) for a, b in zip(h["values"], want.tolist())) <= 2
        norms = series("%s/_norms" % kind)
        assert sorted(norms) == want_steps
        for step, rec in norms.items():
            assert rec["_type"] == "fluoro.layer-norms" and sorted(rec["names"]) == sorted(names)
            got = dict(zip(rec["names"], rec["values"]))
            for n in names:
                assert close(got[n], torch.linalg.vector_norm(ref[step][n]).item()), (kind, step, n)

    # The exploding layer stands out in the one series of norms.
    g = {step: dict(zip(rec["names"], rec["values"])) for step, rec in series("gradients/_norms").items()}
    assert max(g[49], key=lambda n: g[49][n]) == "2.weight"
    others = [g[s]["2.weight"] for s in want_steps if s != 49]
    assert g[49]["2.weight"] > 1e4 * max(others)
    loss_steps = [row["_step"] for row in r.scan_history(keys=["train/loss"])]
    assert loss_steps == list(range(300))
    # Copied at once, every summary joins its own row; copied later, it is a late point.
    assert (sorted(set(late)) == want_steps) if deferred else not late


def test_nan_and_inf_are_counted_apart(tmp_path: Path) -> None:
    run = offline_run(tmp_path)
    model = torch.nn.Linear(8, 8)

    def poison(g: Any) -> Any:
        g = g.clone()
        g[0, 0], g[0, 1], g[1, 0] = math.nan, math.nan, -math.inf
        return g

    model.weight.register_hook(poison)
    run.watch(model, log_freq=1)
    model(torch.randn(4, 8)).sum().backward()
    p = run._pending or {}
    h = p["gradients/weight"]
    assert sum(h["values"]) == 64 - 3 and h["nan"] == 2 and h["inf"] == 1
    finite = model.weight.grad[torch.isfinite(model.weight.grad)]
    assert close(_watch.bin_edges(h)[0], finite.min().item()) and close(_watch.bin_edges(h)[-1], finite.max().item())
    norms = dict(zip(p["gradients/_norms"]["names"], p["gradients/_norms"]["values"]))
    assert math.isnan(norms["weight"]) and close(norms["bias"], model.bias.grad.norm().item())
    run.finish(quiet=True)


def test_one_copy_to_the_host_per_backward_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: List[int] = []
    real = _watch.to_host

    def counting(t: Any, sts: Any) -> Any:
        calls.append(len(sts))
        assert all(st.device == torch.device("cpu") and st.dtype == torch.float32 for st in sts)
        return real(t, sts)

    monkeypatch.setattr(_watch, "to_host", counting)
    run = offline_run(tmp_path)
    model = mlp()
    run.watch(model, log_freq=2)
    for _ in range(6):
        model(torch.randn(8, 16)).sum().backward()
        run.log({"x": 1.0})
    assert calls == [6, 6, 6]  # all 6 tensors of a pass at once, on passes 2, 4 and 6
    run.finish(quiet=True)


def summaries(*tensors: Any) -> List[Any]:
    """histogram(), element count and norm of each tensor, through the fast path and host_rows()."""
    items = []
    for i, x in enumerate(tensors):
        s = _watch.summarise(torch, x)
        assert s is not None
        items.append(("t%d" % i, s[0], s[1], s[2], lambda x=x: x))
    return [(_watch.histogram(row), row) for row in _watch.host_rows(torch, items)]


def test_constant_sparse_half_and_non_finite_tensors() -> None:
    t = torch.tensor
    mixed = torch.randn(1000)
    mixed[3], mixed[7], mixed[9] = math.nan, math.inf, -math.inf
    (const, _), (sparse, srow), (half, _), (none, nrow), (mix, mrow) = summaries(
        torch.full((10,), 3.0),
        torch.sparse_coo_tensor(t([[1, 7]]), t([2.0, -1.0]), (100,)),
        torch.linspace(-1, 1, 101).to(torch.bfloat16),
        t([math.nan, math.inf]),
        mixed,
    )
    assert (
        const is not None
        and sum(const["values"]) == 10
        and _watch.bin_edges(const)[0] < 3.0 < _watch.bin_edges(const)[-1]
    )
    assert sparse is not None and sum(sparse["values"]) == 100  # the 98 implicit zeros are counted
    assert (
        _watch.bin_edges(sparse)[0] == -1.0
        and _watch.bin_edges(sparse)[-1] == 2.0
        and close(srow[_watch._NORM], math.sqrt(5))
    )
    assert (
        half is not None
        and sum(half["values"]) == 101
        and _watch.bin_edges(half)[0] == -1.0
        and _watch.bin_edges(half)[-1] == 1.0
    )
    assert none is None and nrow[_watch._NAN] == 1 and nrow[_watch._INF] == 1
    assert mix is not None and sum(mix["values"]) == 997 and mix["nan"] == 1 and mix["inf"] == 2
    finite = mixed[torch.isfinite(mixed)]
    assert close(_watch.bin_edges(mix)[0], finite.min().item()) and close(
        _watch.bin_edges(mix)[-1], finite.max().item()
    )
    assert math.isnan(mrow[_watch._NORM])
    assert _watch.summarise(torch, torch.zeros(0)) is None


def test_fast_and_exact_paths_agree() -> None:
    torch.manual_seed(1)
    xs = [torch.randn(4096) * 3 + 1, torch.rand(300, 7), torch.randn(64).double()]
    for (h, row), x in zip(summaries(*xs), xs):
        exact = _watch.histogram(_watch.to_host(torch, [_watch.stats(torch, x)])[0])
        assert h is not None and exact is not None
        assert sum(abs(a - b) for a, b in zip(h["values"], exact["values"])) <= 2
        assert _watch.bin_edges(h) == _watch.bin_edges(exact) and close(
            row[_watch._NORM], torch.linalg.vector_norm(x.float()).item()
        )


@pytest.fixture(autouse=True)
def batch_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run summarise_many()'s batched path (for GPUs) on these CPU tensors too."""
    monkeypatch.setattr(_watch, "_BATCH_CPU", True)


def many_rows(tensors: List[Any]) -> List[Any]:
    out = _watch.summarise_many(torch, tensors)
    items = [
        ("t%d" % i, s[0], s[1], s[2], lambda x=x: x) for i, (s, x) in enumerate(zip(out, tensors)) if s is not None
    ]
    return _watch.host_rows(torch, items)


def group_tensors() -> List[Any]:
    torch.manual_seed(2)
    mixed = torch.randn(500)
    mixed[4] = math.nan
    return [
        torch.randn(3000) * 2 - 1,
        torch.rand(40, 9),
        torch.full((7,), -2.5),  # one value
        mixed,  # NaN: redone exactly, and its block must not spill into its neighbours'
        torch.linspace(-1, 1, 101).to(torch.bfloat16),
        torch.randn(64).double(),
        torch.tensor([1e30, -1e30, 0.0]),
        torch.randn(1),
    ]


@pytest.mark.parametrize("foreach", [False, True])
def test_summarise_many_matches_one_by_one(monkeypatch: pytest.MonkeyPatch, foreach: bool) -> None:
    if foreach:  # the multi-tensor path of newer torch (_foreach_max), emulated where this torch lacks it
        if not hasattr(torch, "_foreach_max"):
            monkeypatch.setattr(torch, "_foreach_max", lambda ts: [t.max() for t in ts], raising=False)
    else:
        monkeypatch.delattr(torch, "_foreach_max", raising=False)
    xs = group_tensors()
    one = _watch.host_rows(torch, [("t%d" % i, *_watch.summarise(torch, x), lambda x=x: x) for i, x in enumerate(xs)])
    many = many_rows(xs)
    assert len(many) == len(xs)
    for x, a, b in zip(xs, one, many):
        ha, hb = _watch.histogram(a), _watch.histogram(b)
        assert (ha is None) == (hb is None)
        if ha is not None and hb is not None:
            assert _watch.bin_edges(ha) == _watch.bin_edges(hb)
            assert sum(ha["values"]) == sum(hb["values"]) == int(torch.isfinite(x.float()).sum())
            # values on a bin edge may fall either side in float32 arithmetic
            assert sum(abs(p - q) for p, q in zip(ha["values"], hb["values"])) <= 2
        assert (math.isnan(a[_watch._NORM]) and math.isnan(b[_watch._NORM])) or close(a[_watch._NORM], b[_watch._NORM])


def test_summarise_many_splits_groups_and_leaves_big_sparse_and_empty_tensors_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_watch, "_GROUP", 1000)
    monkeypatch.setattr(_watch, "_SOLO", 600)
    groups: List[int] = []
    real = _watch._summarise_group
    monkeypatch.setattr(_watch, "_summarise_group", lambda t, ts: (groups.append(len(ts)), real(t, ts))[1])
    t = torch.tensor
    xs = [torch.randn(400), torch.randn(300), torch.randn(400), torch.randn(700), torch.zeros(0)]
    xs += [torch.sparse_coo_tensor(t([[1, 7]]), t([2.0, -1.0]), (100,)), torch.randn(200), None]
    out = _watch.summarise_many(torch, xs)
    assert groups == [2, 2]  # 400+300, then 400+200; 700 alone (> _SOLO), the sparse one apart
    assert out[4] is None and out[7] is None
    assert [o[1] for o in out if o is not None] == [400, 300, 400, 700, 100, 200]
    assert out[5] is not None and out[5][2] is True  # sparse: the exact path
    rows = many_rows([x for x in xs if x is not None])
    for x, row in zip([x for x in xs if x is not None and x.numel()], rows):
        h = _watch.histogram(row)
        assert h is not None and sum(h["values"]) == (100 if x.is_sparse else x.numel())


def test_gradients_summarised_at_the_end_of_the_pass_are_this_pass(tmp_path: Path) -> None:
    """With .grad set to None before each pass, the hooks defer to the end of the pass and read .grad."""
    run = offline_run(tmp_path)
    model = mlp()
    run.watch(model, log="gradients", log_freq=1)
    logged: List[Dict[str, Any]] = []
    real = run._log_at
    run._log_at = lambda d, step: (logged.append(d), real(d, step))[1]  # type: ignore[method-assign]
    grads = []
    for i in range(3):
        model.zero_grad(set_to_none=True)
        (model(torch.randn(8, 16) * (i + 1)) ** 2).sum().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
        run.log({"i": i})
    run._watcher.drain()
    assert len(logged) == 3
    for d, g in zip(logged, grads):
        for name, grad in g.items():
            h = d["gradients/" + name]
            assert sum(h["values"]) == grad.numel()
            assert close(_watch.bin_edges(h)[0], grad.min().item()) and close(
                _watch.bin_edges(h)[-1], grad.max().item()
            )
        norms = d["gradients/_norms"]
        for name, v in zip(norms["names"], norms["values"]):
            assert close(v, torch.linalg.vector_norm(g[name]).item(), 1e-4)
    run.finish(quiet=True)


def test_an_error_in_a_hook_never_reaches_backward(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(t: Any, x: Any) -> Any:
        raise RuntimeError("histc is not implemented here")

    monkeypatch.setattr(_watch, "summarise", boom)
    monkeypatch.setattr(_watch, "_summarise_group", boom)
    run = offline_run(tmp_path)
    model = mlp()
    run.watch(model, log="all", log_freq=1)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        for _ in range(3):
            model.zero_grad()
            model(torch.randn(4, 16)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    msgs = [str(x.message) for x in w if issubclass(x.category, fluoro.FluoroWarning)]
    assert len(msgs) == 1 and "histc is not implemented here" in msgs[0]
    assert run._pending is None
    run.finish(quiet=True)


def test_unwatch_removes_the_torch_hooks(tmp_path: Path) -> None:
    run = offline_run(tmp_path)
    model = mlp()
    run.watch(model, log="all", log_freq=2, log_graph=True)
    assert all(len(p._backward_hooks or {}) == 0 for p in model.parameters())  # an ordinary step: none
    assert len(model._forward_hooks) == 1
    model(torch.randn(4, 16)).sum().backward()
    out = model(torch.randn(4, 16))  # the forward before a watched backward arms them
    assert all(len(p._backward_hooks or {}) == 1 for p in model.parameters())
    out.sum().backward()
    assert all(len(p._backward_hooks or {}) == 0 for p in model.parameters())  # and its end disarms them
    assert run._pending is not None and "gradients/0.weight" in run._pending
    model(torch.randn(4, 16))
    model(torch.randn(4, 16))  # armed again, then unwatched
    run.log({"x": 0})
    fluoro.unwatch(model)
    assert all(len(p._backward_hooks or {}) == 0 for p in model.parameters())
    assert len(model._forward_hooks) == 0
    model(torch.randn(4, 16)).sum().backward()
    assert run._pending is None
    assert run.flush(10)
    tree = json.loads((Path(run.dir or "") / "files" / "fluoro-graph-0.json").read_text())
    types = {m["name"]: m["type"] for m in tree["modules"]}
    assert types["0"] == "torch.nn.modules.linear.Linear" and types[""].endswith("Sequential")
    assert tree["parameters"] == sum(p.numel() for p in model.parameters())
    run.finish(quiet=True)


def test_copies_in_flight_are_bounded_and_drained_by_finish(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = _watch.begin_copy
    monkeypatch.setattr(_watch, "begin_copy", lambda t, sts: SlowCopy(real(t, sts), 10**9))  # never ready by itself
    run = offline_run(tmp_path)
    model = mlp()
    run.watch(model, log="gradients", log_freq=1)
    w = run._watcher.models[0]
    most = 0
    for _ in range(10):
        model(torch.randn(8, 16)).sum().backward()
        run.log({"x": 1.0})
        most = max(most, len(w.inflight))
    assert most == _watch._MAX_INFLIGHT and w.logged_steps == 10 - _watch._MAX_INFLIGHT
    run.finish(quiet=True)
    assert w.logged_steps == 10 and not w.inflight  # finish() waited for the rest


def no_histc(*a: Any, **k: Any) -> Any:
    """torch.histc where torch wants deterministic algorithms on CUDA."""
    raise RuntimeError("histc does not have a deterministic implementation")


def test_counts_from_sorted_ids_match_histc(monkeypatch: pytest.MonkeyPatch) -> None:
    """The path for torch.use_deterministic_algorithms(True) on CUDA, run on the CPU: the same rows as histc's."""
    torch.manual_seed(3)
    t = torch.tensor
    xs = group_tensors() + [torch.randn(5000) * 1e-3, t([0.0, 0.25, 0.5, 1.0, 1.0])]  # values on bin edges too
    exact = [x for x in xs if x.numel() > 1] + [torch.sparse_coo_tensor(t([[1, 7]]), t([2.0, -1.0]), (100,))]

    def rows() -> List[List[List[float]]]:
        one = _watch.host_rows(
            torch, [("t%d" % i, *_watch.summarise(torch, x), lambda x=x: x) for i, x in enumerate(xs)]
        )
        return [one, many_rows(xs), _watch.to_host(torch, [_watch.stats(torch, x) for x in exact])]

    want = rows()
    monkeypatch.setattr(_watch, "_SORTED_CPU", True)
    monkeypatch.setattr(torch, "histc", no_histc)
    got = rows()
    for w_rows, g_rows in zip(want, got):
        assert len(w_rows) == len(g_rows)
        for w, g in zip(w_rows, g_rows):
            assert g == w or all((math.isnan(a) and math.isnan(b)) or a == b for a, b in zip(w, g))
    # and on the raw counting: ids in [b, b+1) counted in bin b, the rest (negative, too big, NaN) left out
    c = _watch.count_ids(torch, t([0.5, 0.5, 2.5, 3.0, -1.0, 4.0, math.nan, 3.99]), 4)
    assert c.tolist() == [2.0, 0.0, 1.0, 2.0]
    assert _watch.histc01(torch, t([0.0, 0.999, 1.0, 1.5, -0.1]), 4).tolist() == [1.0, 0.0, 0.0, 2.0]


def test_watch_without_histc_under_the_deterministic_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where torch refuses histc (deterministic CUDA), watch still logs every layer, with no warning."""
    monkeypatch.setattr(_watch, "_SORTED_CPU", True)
    monkeypatch.setattr(torch, "histc", no_histc)
    run = offline_run(tmp_path)
    model = mlp()
    run.watch(model, log="all", log_freq=1)
    logged: List[Dict[str, Any]] = []
    real = run._log_at
    run._log_at = lambda d, step: (logged.append(d), real(d, step))[1]  # type: ignore[method-assign]
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        for i in range(2):
            model.zero_grad(set_to_none=True)
            model(torch.randn(8, 16)).sum().backward()
            run.log({"i": i})
        run._watcher.drain()
    assert not [x for x in w if issubclass(x.category, fluoro.FluoroWarning)]
    names = [n for n, _ in model.named_parameters()]
    keys = set().union(*logged)
    for n in names:
        assert "gradients/" + n in keys and "parameters/" + n in keys
    for d in logged:
        for k, h in d.items():
            if k.startswith(("gradients/", "parameters/")) and not k.endswith("_norms"):
                p = dict(model.named_parameters())[k.split("/", 1)[1]]
                assert sum(h["values"]) == p.numel()
    run.finish(quiet=True)

"""watch()/unwatch() without torch: argument checks, wandb's step rule, hook safety, the JSON shapes.

A fake ``torch`` (a module with ``nn.Module`` and parameters whose hooks the
test calls by hand) stands in for the real one; the numbers themselves are
checked against real torch in test_watch_torch.py (``make test-python-torch``).
"""

from __future__ import annotations

import json
import math
import sys
import types
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

import fluoro
from fluoro import _watch

# --- a fake torch -----------------------------------------------------------


class FakeHandle:
    def __init__(self, hooks: Dict[int, Callable[..., Any]], key: int) -> None:
        self.hooks, self.key = hooks, key

    def remove(self) -> None:
        self.hooks.pop(self.key, None)


class FakeParam:
    def __init__(self, shape: Tuple[int, ...], requires_grad: bool = True) -> None:
        self.shape = shape
        self.requires_grad = requires_grad
        self.hooks: Dict[int, Callable[..., Any]] = {}

    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    def register_hook(self, fn: Callable[..., Any]) -> FakeHandle:
        k = len(self.hooks) + 1000 * id(fn) % 997
        self.hooks[k] = fn
        return FakeHandle(self.hooks, k)

    def backward(self, grad: Any) -> None:
        for fn in list(self.hooks.values()):
            assert fn(grad) is None  # a hook must never replace the gradient


class FakeModule:
    def __init__(self, **params: FakeParam) -> None:
        self.params = params
        self.fwd: Dict[int, Callable[..., Any]] = {}

    def named_parameters(self, recurse: bool = True) -> Iterator[Tuple[str, FakeParam]]:
        return iter(self.params.items())

    def named_modules(self) -> Iterator[Tuple[str, Any]]:
        return iter([("", self)])

    def register_forward_hook(self, fn: Callable[..., Any]) -> FakeHandle:
        k = len(self.fwd) + 1
        self.fwd[k] = fn
        return FakeHandle(self.fwd, k)

    def forward(self) -> None:
        for fn in list(self.fwd.values()):
            assert fn(self, (), None) is None

    def step(self, grads: Optional[Dict[str, Any]] = None, forward: bool = True) -> None:
        """One forward and one backward pass (last layer first), every parameter getting a gradient."""
        if forward:
            self.forward()
        ENGINE.callbacks = []
        for name, p in reversed(list(self.params.items())):
            p.backward((grads or {}).get(name, 1.0))
        cbs, ENGINE.callbacks = ENGINE.callbacks, None
        for cb in cbs:
            cb()

    def hook_count(self) -> int:
        return len(self.fwd) + sum(len(p.hooks) for p in self.params.values())


class FakeEngine:
    """torch's autograd engine as far as watch() uses it: callbacks run at the end of a backward pass."""

    callbacks: Optional[List[Callable[[], None]]] = None

    def queue_callback(self, fn: Callable[[], None]) -> None:
        if self.callbacks is None:
            raise RuntimeError("Final callbacks can only be installed during backward pass.")
        self.callbacks.append(fn)


ENGINE = FakeEngine()


def fake_row(value: float, n: int, norm: float, nan: int = 0, inf: int = 0) -> List[float]:
    counts = [0.0] * _watch.NUM_BINS
    counts[10] = float(n)
    return counts + [value - 1.0, value + 1.0, norm, float(nan), float(inf)]


@pytest.fixture
def fake_torch(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """A fake torch in sys.modules; stats() and to_host() return rows built from the 'gradient' values."""
    nn = types.SimpleNamespace(Module=FakeModule)

    torch = types.SimpleNamespace(
        nn=nn, autograd=types.SimpleNamespace(Variable=types.SimpleNamespace()), is_grad_enabled=lambda: True
    )
    torch.autograd.Variable._execution_engine = ENGINE
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setattr(
        _watch, "summarise", lambda t, x: (("st", float(x) if isinstance(x, (int, float)) else 0.5), 5, True)
    )
    monkeypatch.setattr(_watch, "to_host", lambda t, sts: [fake_row(v, 5, abs(v) * 2) for _, v in sts])
    return torch


@pytest.fixture
def run(tmp_path: Path) -> Iterator[fluoro.Run]:
    r = fluoro.init(mode="offline", project="watch", dir=str(tmp_path), settings={"quiet": True, "console": "off"})
    yield r
    r.finish(quiet=True)


def model() -> FakeModule:
    return FakeModule(**{"fc.weight": FakeParam((4, 3)), "fc.bias": FakeParam((4,)), "frozen": FakeParam((2,), False)})


# --- arguments -------------------------------------------------------------


def test_watch_before_init_is_a_usage_error() -> None:
    with pytest.raises(fluoro.UsageError, match=r"fluoro\.init\(\)"):
        fluoro.watch(object())
    fluoro.unwatch()  # nothing watched, no run: nothing to do


def test_watch_refuses_what_is_not_a_torch_module(run: fluoro.Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    with pytest.raises(ValueError, match="torch.nn.Module.*torch is not imported"):
        run.watch(object())
    with pytest.raises(ValueError, match="torch.nn.Module"):
        fluoro.watch([object()])


def test_watch_checks_its_arguments(run: fluoro.Run, fake_torch: Any) -> None:
    m = model()
    with pytest.raises(ValueError, match="log="):
        run.watch(m, log="grads")
    for bad in ("x", True, None, math.nan):
        with pytest.raises(ValueError, match="log_freq="):
            run.watch(m, log_freq=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="idx="):
        run.watch(m, idx=-1)
    with pytest.raises(ValueError, match="not FakeParam"):
        run.watch([m, FakeParam((1,))])
    assert m.hook_count() == 0  # nothing was hooked by a refused call
    run.watch(m, log_freq=3.0)  # type: ignore[arg-type]  # a whole float is fine
    assert m.hook_count() == 1  # the forward hook; gradient hooks come only for a watched backward


@pytest.mark.parametrize("freq,every", [(0, 1), (-5, 1), (1, 1), (2.5, 3), (3, 3)])
def test_log_freq_follows_wandbs_count(run: fluoro.Run, fake_torch: Any, freq: Any, every: int) -> None:
    m = model()
    run.watch(m, log_freq=freq)
    due = []
    for i in range(6):
        m.step()
        due.append(bool(run._pending))
        run.log({"x": i})
    assert due == [(i + 1) % every == 0 for i in range(6)]


def test_watch_in_disabled_mode_hooks_nothing(fake_torch: Any) -> None:
    r = fluoro.init(mode="disabled")
    m = model()
    r.watch(m, log="all", log_freq=1)
    assert m.hook_count() == 0
    r.unwatch()
    r.finish()


# --- wandb's rule: every log_freq-th backward (gradients), forward (parameters) ------


def test_gradients_every_log_freq_backward_join_the_next_row(run: fluoro.Run, fake_torch: Any) -> None:
    m = model()
    run.watch(m, log_freq=3)
    assert m.hook_count() == 1  # an ordinary step pays for one forward hook
    seen = []
    for i in range(9):
        if i % 3 == 2:  # the forward before a watched backward arms the 2 trainable parameters ("frozen" is skipped)
            m.forward()
            assert m.hook_count() == 3
            m.step({"fc.weight": float(i), "fc.bias": -float(i)}, forward=False)
            assert m.hook_count() == 1  # the end of that backward pass disarms them
        else:
            m.step({"fc.weight": float(i), "fc.bias": -float(i)})
            assert m.hook_count() == 1
        p = dict(run._pending or {})
        seen.append(sorted(p))
        if p:
            h = p["gradients/fc.weight"]
            assert h["_type"] == "histogram" and len(h["values"]) == 64 and len(_watch.bin_edges(h)) == 65
            # W&B's packed form of equal bins, as its API returns watch() histograms
            assert "bins" not in h and h["packedBins"] == {"min": i - 1.0, "size": 2.0 / 64, "count": 64}
            assert sum(h["values"]) == 5 and _watch.bin_edges(h)[0] == i - 1.0 and _watch.bin_edges(h)[-1] == i + 1.0
            assert "nan" not in h and "inf" not in h
            norms = p["gradients/_norms"]
            assert norms == {"_type": "fluoro.layer-norms", "names": ["fc.bias", "fc.weight"], "values": [2 * i, 2 * i]}
            json.dumps(p, allow_nan=False)
        run.log({"loss": float(i)})
    keys = ["gradients/_norms", "gradients/fc.bias", "gradients/fc.weight"]
    # wandb counts calls and logs on the log_freq-th: backward passes 3, 6, 9.
    assert seen == [[], [], keys, [], [], keys, [], [], keys]
    assert run._watcher.models[0].logged_steps == 3


def test_hooks_outside_a_backward_pass_add_to_the_rows_norms(run: fluoro.Run, fake_torch: Any) -> None:
    m = model()
    run.watch(m, log_freq=1)
    m.forward()  # arms the gradient hooks
    m.params["fc.weight"].backward(1.0)  # no end-of-pass callback possible: logged at once
    m.params["fc.bias"].backward(2.0)
    norms = (run._pending or {})["gradients/_norms"]
    assert norms["names"] == ["fc.weight", "fc.bias"] and norms["values"] == [2.0, 4.0]
    run.log({"x": 1})
    m.params["fc.bias"].backward(3.0)
    assert (run._pending or {})["gradients/_norms"]["names"] == ["fc.bias"]  # a new row starts afresh


def test_parameters_every_log_freq_forward(run: fluoro.Run, fake_torch: Any) -> None:
    m = model()
    run.watch(m, log="parameters", log_freq=2)
    assert m.hook_count() == 1  # only the forward hook
    m.params["fc.weight"].backward(1.0)  # no gradient hook: nothing happens
    m.forward()
    assert run._pending is None
    m.forward()
    p = run._pending or {}
    assert sorted(p) == ["parameters/_norms", "parameters/fc.bias", "parameters/fc.weight", "parameters/frozen"]
    run.log({"x": 1})


def test_log_all_and_none(run: fluoro.Run, fake_torch: Any) -> None:
    m = model()
    run.watch(m, log="all", log_freq=1)
    m.step()
    assert {k.split("/")[0] for k in run._pending or {}} == {"gradients", "parameters"}
    run.log({"x": 1})
    m2 = model()
    run.watch(m2, log=None)  # accepted: nothing hooked (wandb: only the graph, if asked)
    assert m2.hook_count() == 0


def test_idx_prefixes_like_wandb(run: fluoro.Run, fake_torch: Any) -> None:
    a, b, c = model(), model(), model()
    run.watch([a, b], log_freq=1)
    c_idx = 5
    run.watch(c, log_freq=1, idx=c_idx)
    for m in (a, b, c):
        m.step()
    keys = set(run._pending or {})
    assert {"gradients/fc.weight", "gradients/graph_1fc.weight", "gradients/graph_5fc.weight"} <= keys
    assert {"gradients/_norms", "gradients/graph_1_norms", "gradients/graph_5_norms"} <= keys
    assert run._pending["gradients/graph_1_norms"]["names"] == ["graph_1fc.bias", "graph_1fc.weight"]  # type: ignore[index]


def test_non_finite_counts_are_extra_fields(run: fluoro.Run, fake_torch: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_watch, "to_host", lambda t, sts: [fake_row(0.0, 7, float("nan"), nan=2, inf=1) for _ in sts])
    m = model()
    run.watch(m, log_freq=1)
    m.step()
    p = run._pending or {}
    h = p["gradients/fc.weight"]
    assert sum(h["values"]) == 7 and h["nan"] == 2 and h["inf"] == 1
    assert math.isnan(p["gradients/_norms"]["values"][0])


def test_histogram_json_from_a_stats_row() -> None:
    row = [0.0] * 64 + [-2.0, 2.0, 3.0, 0.0, 0.0]
    row[0], row[63] = 1.0, 2.0
    h = _watch.histogram(row)
    assert h is not None and h["values"][0] == 1 and h["values"][63] == 2
    assert (
        _watch.bin_edges(h)[0] == -2.0
        and _watch.bin_edges(h)[32] == 0.0
        and _watch.bin_edges(h)[64] == 2.0
        and len(_watch.bin_edges(h)) == 65
    )
    assert _watch.histogram([0.0] * 64 + [0.0, 1.0, float("nan"), 3.0, 0.0]) is None  # no finite value: no histogram


# --- safety ------------------------------------------------------------------


def test_an_error_in_a_hook_never_reaches_backward(
    run: fluoro.Run, fake_torch: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(t: Any, x: Any) -> Any:
        raise RuntimeError("device lost")

    monkeypatch.setattr(_watch, "summarise", boom)
    m = model()
    run.watch(m, log="all", log_freq=1)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        for _ in range(5):
            m.step()  # FakeParam.backward asserts the hooks return None and raise nothing
    msgs = [str(x.message) for x in w if issubclass(x.category, fluoro.FluoroWarning)]
    assert len(msgs) == 1 and "device lost" in msgs[0] and "no longer watched" in msgs[0]
    assert run._pending is None


def test_unwatch_removes_every_hook(run: fluoro.Run, fake_torch: Any) -> None:
    a, b = model(), model()
    run.watch([a, b], log="all", log_freq=1)
    assert a.hook_count() == 1 and b.hook_count() == 1
    a.forward()
    b.forward()  # both armed for a backward pass (and their parameters logged)
    assert a.hook_count() == 3 and b.hook_count() == 3
    run.log({"x": 0})
    run.unwatch(a)
    assert a.hook_count() == 0 and b.hook_count() == 3
    with pytest.warns(fluoro.FluoroWarning, match="was not watched"):
        run.unwatch(a)
    fluoro.unwatch()
    assert b.hook_count() == 0
    a.step()
    b.step()
    assert run._pending is None


def test_watching_again_replaces_the_hooks(run: fluoro.Run, fake_torch: Any) -> None:
    m = model()
    run.watch(m, log_freq=1)
    with pytest.warns(fluoro.FluoroWarning, match="already watched"):
        run.watch(m, log_freq=1, idx=0)
    assert m.hook_count() == 1
    m.forward()
    assert m.hook_count() == 3


def test_hooks_go_quiet_after_finish(tmp_path: Path, fake_torch: Any) -> None:
    r = fluoro.init(mode="offline", project="watch", dir=str(tmp_path), settings={"quiet": True, "console": "off"})
    m = model()
    r.watch(m, log="all", log_freq=1)
    r.finish(quiet=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not even "log() after finish() is ignored"
        m.step()
        m.step()
    assert not r._watcher.models[0].active
    with pytest.warns(fluoro.FluoroWarning, match="after finish"):
        r.watch(model())


def test_log_graph_writes_the_module_tree(run: fluoro.Run, fake_torch: Any) -> None:
    run.watch(model(), log_graph=True)
    assert run.flush(5)
    tree = json.loads((Path(run.dir or "") / "files" / "fluoro-graph-0.json").read_text())
    assert tree["format"] == "fluoro.module-tree/1" and tree["parameters"] == 12 + 4 + 2
    (mod,) = tree["modules"]
    assert mod["name"] == "" and mod["type"].endswith("FakeModule")
    assert mod["params"]["fc.weight"] == {"shape": [4, 3], "trainable": True}
    assert mod["params"]["frozen"]["trainable"] is False


class FakeCuda:
    """Just enough of torch's CUDA API for begin_copy(): stack, pinned empty, copy_, events, streams."""

    def __init__(self, pinned_ok: bool = True) -> None:
        self.log: List[str] = []
        self.pinned_ok = pinned_ok
        self.ready_after = 2  # queries answered False first
        outer = self

        class Dev:
            type = "cuda"

            def __repr__(self) -> str:
                return "cuda:0"

        class Stat:  # a stats tensor on the GPU: its row of numbers
            def __init__(self, row: List[float]) -> None:
                self.row, self.device = row, DEV

        class Stacked:
            def __init__(self, rows: List[List[float]]) -> None:
                self.rows, self.shape, self.dtype = rows, (len(rows), len(rows[0])), "float32"

            def cpu(self) -> "Stacked":
                outer.log.append("sync copy")
                return self

            def tolist(self) -> List[List[float]]:
                return [list(r) for r in self.rows]

        class Host:
            def __init__(self) -> None:
                self.rows: List[List[float]] = []

            def copy_(self, src: Stacked, non_blocking: bool = False) -> None:
                outer.log.append("copy non_blocking=%s" % non_blocking)
                self.rows = src.rows

            def tolist(self) -> List[List[float]]:
                outer.log.append("read host")
                return [list(r) for r in self.rows]

        class Event:
            def record(self, stream: Any) -> None:
                outer.log.append("record on %s" % stream)

            def query(self) -> bool:
                outer.ready_after -= 1
                return outer.ready_after < 0

            def synchronize(self) -> None:
                outer.log.append("event sync")

        def empty(shape: Any, dtype: Any = None, pin_memory: bool = False) -> Host:
            if not outer.pinned_ok:
                raise RuntimeError("no pinned memory here")
            assert pin_memory
            return Host()

        DEV = Dev()
        self.Stat = Stat
        self.torch = types.SimpleNamespace(
            stack=lambda xs: Stacked([x.row for x in xs]),
            empty=empty,
            cuda=types.SimpleNamespace(Event=Event, current_stream=lambda d: "stream(%r)" % d),
        )


def test_begin_copy_on_cuda_never_waits_for_the_gpu() -> None:
    f = FakeCuda()
    rows = [[float(i)] * 3 for i in range(4)]
    c = _watch.begin_copy(f.torch, [f.Stat(r) for r in rows])
    assert f.log == ["copy non_blocking=True", "record on stream(cuda:0)"]  # no sync, nothing read yet
    assert not c.ready() and not c.ready() and c.ready()  # the event decides
    assert c.result() == rows and f.log[-2:] == ["event sync", "read host"]


def test_begin_copy_falls_back_to_a_plain_copy_without_pinned_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    f = FakeCuda(pinned_ok=False)
    monkeypatch.setattr(_watch, "to_host", lambda t, sts: [st.row for st in sts])
    rows = [[1.0, 2.0], [3.0, 4.0]]
    c = _watch.begin_copy(f.torch, [f.Stat(r) for r in rows])
    assert c.ready() and c.result() == rows and not c.waits

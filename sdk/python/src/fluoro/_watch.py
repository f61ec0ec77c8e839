"""``watch()``: histograms and norms of a PyTorch model's gradients and parameters.

wandb's rules: a hook on each parameter tensor sees its gradient in every
backward pass and counts its calls; every ``log_freq``-th call the gradient
is summarised under ``gradients/<name>``. A forward hook on the model counts
forward passes and every ``log_freq``-th one summarises every parameter under
``parameters/<name>``. Both are logged with ``commit=False``, so they join
the row of the user's next ``log()``.

The summaries are computed on the tensor's own device without a host sync
per tensor: min and max (``aminmax``), a 64-bin histogram (``torch.histc`` of
the values scaled to [0, 1] by that device-side min and max; counted from the
sorted bin ids where torch wants deterministic algorithms on CUDA) and the L2
norm, 69 numbers per tensor. On a GPU, where each kernel launch costs the CPU
~10 us, the tensors of a pass are summarised together (``summarise_many``:
a few kernels per group of tensors instead of 8 per tensor), and a gradient
hook only notes the tensor when its ``.grad`` is unset: at the end of the
pass ``.grad`` is that gradient. The tensors of one backward pass are stacked and
copied to the host once, at the end of the pass (a callback queued on the
autograd engine), so the cost is one device-to-host copy per logged step,
not one per parameter. On a GPU that copy is asynchronous (into pinned
memory, with a CUDA event): the training loop never waits for it, and the
histograms are logged when a later forward pass finds the copy done, at the
step they were taken (a late point when that row was already committed).
A tensor whose min or max is NaN or Inf is then redone exactly (non-finite
values masked, counted apart) from the parameter's ``.grad``, with one more
copy. Besides one histogram per tensor,
one ``fluoro.layer-norms`` value per step lists the norm of every summarised
tensor: the UI draws layers x steps from one series.

torch is never imported here: a model can only be a ``torch.nn.Module`` if
the program imported torch already, so ``sys.modules`` tells. Nothing in a
hook ever raises into backward(): an error is reported once and the model's
hooks stop.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import sys
import threading
import warnings
import weakref
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ._errors import FluoroWarning
from ._values import Prepared

NUM_BINS = 64
_LO, _HI, _NORM, _NAN, _INF = range(NUM_BINS, NUM_BINS + 5)  # columns after the counts
LOG_CHOICES = ("gradients", "parameters", "all", None)
NORMS_TYPE = "fluoro.layer-norms"
_EXACT_CONST = NUM_BINS // 2  # the bin a tensor of one repeated value goes to

# A summary waiting for the host copy: name, stats tensor, element count, whether
# the stats are exact (non-finite values masked), and where to read the tensor again.
Item = Tuple[str, Any, int, bool, Callable[[], Any]]
# A gradient seen by a hook: name, its summary (None: summarise the tensor at
# the end of the pass) and where to read the tensor then.
Pending = Tuple[str, Optional[Tuple[Any, int, bool]], Callable[[], Any]]
GRAPH_FILE = "fluoro-graph-%d.json"


def _const(x: Any) -> Callable[[], Any]:
    return lambda: x


def _warn(msg: str) -> None:
    warnings.warn(msg, FluoroWarning, stacklevel=3)


def _g(x: float) -> float:
    """A float32 result rounded to the 9 digits that identify it (shorter JSON)."""
    return float("%.9g" % x)


class Watcher:
    """The watched models of one run (``run._watcher``)."""

    def __init__(self, run: Any) -> None:
        self.run = run
        self.models: List[Watched] = []
        self.next_idx = 0  # wandb's running model index, per run here
        self.lock = threading.Lock()

    def add(self, w: "Watched") -> None:
        with self.lock:
            self.models.append(w)

    def remove(self, module: Any = None) -> int:
        with self.lock:
            keep: List[Watched] = []
            drop: List[Watched] = []
            for w in self.models:
                (drop if module is None or w.module_ref() is module else keep).append(w)
            self.models = keep
        for w in drop:
            w.close()
        return len(drop)

    def drain(self) -> None:
        """Log the summaries still being copied from a device (before finish())."""
        with self.lock:
            models = list(self.models)
        for w in models:
            w.drain()

    def find(self, module: Any) -> Optional["Watched"]:
        with self.lock:
            for w in self.models:
                if w.module_ref() is module:
                    return w
        return None


class Watched:
    """One watched model: its hooks, counters and the summaries waiting for the end of a backward pass."""

    def __init__(
        self,
        torch: Any,
        run: Any,
        module: Any,
        prefix: str,
        log_freq: int,
        gradients: bool,
        parameters: bool,
    ) -> None:
        self.torch = torch
        self.run_ref = weakref.ref(run)
        self.module_ref = weakref.ref(module)
        self.prefix = prefix
        self.log_freq = log_freq
        self.gradients = gradients
        self.parameters = parameters
        self.handles: List[Any] = []
        self.grad_params: List[Tuple[str, Callable[[], Any]]] = []  # (name, weakref) of the watched parameters
        self.armed: List[Any] = []  # their gradient hooks, present only during a watched backward pass
        self.grad_forwards = 0  # forwards with autograd on since the last watched backward
        self.active = True
        self.failed = False
        self.forwards = 0
        self.lock = threading.Lock()
        self.pending: List[Pending] = []  # the gradients of this backward pass
        self.flush_queued = False
        self.logged_steps = 0  # summaries logged (gradients or parameters), for tests
        self.inflight: List[Tuple[str, List[Item], "Copy", int]] = []  # (kind, items, copy, run step), oldest first
        self.norms: Dict[str, Tuple[int, Dict[str, float]]] = {}  # kind -> (run step, name -> norm) of the open row

    # --- hooks --------------------------------------------------------

    def install(self, module: Any) -> None:
        if self.gradients:
            self.grad_params = [(n, weakref.ref(p)) for n, p in module.named_parameters() if p.requires_grad]
        # One forward hook, the only hook an ordinary step pays for (~3 µs):
        # it counts forwards, arms the gradient hooks before the backward pass
        # that is due (every log_freq-th, wandb's rule), summarises parameters,
        # and flushes what a failed backward pass left behind.
        self.handles.append(module.register_forward_hook(self._forward_hook))

    def _arm(self) -> None:
        """Hook every watched parameter for the next backward pass; the end of that pass disarms them."""
        for name, ref in self.grad_params:
            p = ref()
            if p is not None and p.requires_grad:
                self.armed.append(p.register_hook(self._grad_hook(name, ref)))

    def _disarm(self) -> None:
        armed, self.armed = self.armed, []
        for h in armed:
            try:
                h.remove()
            except Exception:  # pragma: no cover - torch internals
                pass

    def _grad_hook(self, name: str, param: Callable[[], Any]) -> Callable[[Any], None]:
        def hook(grad: Any) -> None:
            if not self.active:
                return None
            try:
                self._grad_due(name, grad, param)
            except Exception as e:  # never into backward()
                self.fail("summarising the gradient of %r" % name, e)
            return None

        return hook

    def _grad_due(self, name: str, grad: Any, param: Callable[[], Any]) -> None:
        run = self.run_ref()
        if run is None or run._finished:
            self.active = False
            return

        def source() -> Any:  # the parameter's .grad at the end of the pass
            p = param()
            return None if p is None else p.grad

        with self.lock:
            queue = not self.flush_queued
            self.flush_queued = True
        if queue:
            try:
                self.torch.autograd.Variable._execution_engine.queue_callback(self._end_of_backward)
            except Exception:
                # Not inside an autograd pass (or no such API): summarise now, from this very tensor.
                s = summarise(self.torch, grad)
                with self.lock:
                    self.flush_queued = False
                    if s is not None:
                        self.pending.append((name, s, lambda: grad))
                try:
                    self.flush()  # the hooks stay armed: the rest of this pass may still reach them
                except Exception as e:
                    self.fail("logging gradients", e)
                return
        p = param()
        if p is not None and getattr(p, "grad", 0) is None:
            # The usual case (zero_grad(set_to_none=True)): at the end of the pass
            # .grad is this very gradient, so it is summarised then, with every
            # other tensor of the pass in a few batched kernels (summarise_many),
            # and no reference is held meanwhile (autograd can reuse the buffer).
            entry: Pending = (name, None, source)
        else:
            # .grad accumulates: summarise this pass's own gradient now.
            s = summarise(self.torch, grad)
            if s is None:
                return
            entry = (name, s, source)
        with self.lock:
            self.pending.append(entry)

    def _end_of_backward(self) -> None:
        try:
            self._disarm()
            self.flush()
        except Exception as e:
            self.fail("logging gradients", e)

    def flush(self) -> None:
        with self.lock:
            pending, self.pending = self.pending, []
            self.flush_queued = False
        if pending and self.active:
            items = resolve(self.torch, pending)
            if items:
                self._log("gradients/", items)

    def _forward_hook(self, module: Any, inputs: Any, output: Any) -> None:
        if not self.active:
            return None
        try:
            if self.inflight:
                self.poll(False)
            if self.pending:
                self.flush()
            if self.grad_params and not self.armed and self.torch.is_grad_enabled():
                self.grad_forwards += 1
                if self.grad_forwards >= self.log_freq:
                    self.grad_forwards = 0
                    self._arm()
            if not self.parameters:
                return None
            self.forwards += 1
            if self.forwards < self.log_freq:
                return None
            self.forwards = 0
            run = self.run_ref()
            if run is None or run._finished:
                self.active = False
                return None
            named = list(module.named_parameters())
            items: List[Item] = []
            for (name, p), s in zip(named, summarise_many(self.torch, [p for _, p in named])):
                if s is not None:
                    items.append((name, s[0], s[1], s[2], _const(p)))
            if items:
                self._log("parameters/", items)
        except Exception as e:  # never into forward()
            self.fail("summarising the parameters", e)
        return None

    # --- output ---------------------------------------------------------

    def _log(self, kind: str, items: List[Item]) -> None:
        run = self.run_ref()
        if run is None or run._finished:
            self.active = False
            return
        copy = begin_copy(self.torch, [it[1] for it in items])
        with self.lock:
            self.inflight.append((kind, items, copy, run.step))
            behind = len(self.inflight) > _MAX_INFLIGHT
        self.poll(behind)  # logs what is on the host already (all of it on a CPU)

    def poll(self, wait: bool) -> None:
        """Log the summaries whose copy reached the host, oldest first; with wait, the oldest at least."""
        while True:
            with self.lock:
                if not self.inflight:
                    return
                kind, items, copy, step = self.inflight[0]
                if not (wait or copy.ready()):
                    return
                self.inflight.pop(0)
            wait = False
            self._emit(kind, items, finish_rows(self.torch, items, copy.result()), step)

    def drain(self) -> None:
        """Wait for every copy on its way and log it (finish(), unwatch())."""
        try:
            while self.inflight:
                self.poll(True)
        except Exception as e:
            self.fail("copying the last histograms", e)

    def _emit(self, kind: str, items: List[Item], rows: List[List[float]], step: int) -> None:
        run = self.run_ref()
        if run is None or run._off:
            return
        data: Dict[str, Any] = {}
        # Several flushes into one row (gradient accumulation, hooks outside a backward
        # pass) add to the row's norms instead of replacing them.
        acc_step, acc = self.norms.get(kind, (-1, {}))
        if acc_step != step:
            acc = {}
            self.norms[kind] = (step, acc)
        for item, row in zip(items, rows):
            key = self.prefix + item[0]
            h = histogram(row)
            if h is not None:
                data[kind + key] = h
            acc[key] = _g(row[_NORM])
        data[kind + self.prefix + "_norms"] = Prepared(_type=NORMS_TYPE, names=list(acc), values=list(acc.values()))
        self.logged_steps += 1
        run._log_at(data, step)

    def fail(self, what: str, e: BaseException) -> None:
        self.active = False
        if not self.failed:
            self.failed = True
            _warn("watch(): %s failed (%r); this model is no longer watched (reported once)" % (what, e))

    def close(self) -> None:
        self.drain()
        self.active = False
        self._disarm()
        handles, self.handles = self.handles, []
        for h in handles:
            try:
                h.remove()
            except Exception:  # pragma: no cover - torch internals
                pass
        with self.lock:
            self.pending = []
            self.flush_queued = False
            self.inflight = []


# --- the numbers ------------------------------------------------------------


def summarise(torch: Any, t: Any) -> Optional[Tuple[Any, int, bool]]:
    """(stats tensor, element count, exact) for t, computed on t's device without waiting for it.

    The fast path (8 kernels) assumes every value is finite: min and max in one
    pass, the values scaled to [0, 1] and binned by ``torch.histc``, the L2
    norm. A NaN or Inf shows in the min or max, and ``finish_rows`` then redoes
    that tensor with ``stats`` (exact, slower). None for an empty tensor.
    """
    if getattr(t, "is_sparse", False):
        st = stats(torch, t)
        return None if st is None else (st, int(t.numel()), True)
    x = t.detach().reshape(-1)
    n = x.numel()
    if n == 0:
        return None
    if x.dtype != torch.float32:
        x = x.float()
    lo, hi = torch.aminmax(x)
    counts = histc01(torch, (x - lo) / (hi - lo), NUM_BINS)
    norm = torch.linalg.vector_norm(x)
    return torch.cat([counts, torch.stack([lo, hi, norm]), _zeros2(torch, x.device)]), n, False


# summarise_many() batches dense tensors of up to _SOLO elements into groups of
# up to _GROUP elements (and _GROUP_K tensors): the group's kernels then cost
# the CPU what one tensor's do, and its transient buffers stay under ~5 x 4
# bytes x _GROUP (80 MB). Larger tensors are summarised one by one.
# On a CPU the kernels run as they are called and their arithmetic, not the
# call, is the cost: batching would only add the copies, so CPU tensors are
# summarised one by one (tests set _BATCH_CPU to run the batched path there),
# as are other devices' (MPS, XLA), where the batched path was never run.
_SOLO = 1 << 21
_GROUP = 1 << 22
_GROUP_K = 128  # k x 64 bins x 4 bytes stay within the 48 KiB of shared memory histc can use
_BATCH_CPU = False


def summarise_many(torch: Any, ts: Sequence[Any]) -> List[Optional[Tuple[Any, int, bool]]]:
    """summarise() of each tensor, small dense ones on a GPU batched into a few kernels per group.

    On a GPU the cost of watch() is the CPU's: each kernel launch takes
    ~10 us and summarise() launches 8 per tensor, so a model of 77 tensors
    spent ~7 ms a watched pass launching them. A group launches one
    ``aminmax`` per tensor (or two multi-tensor ``_foreach_max`` kernels where
    torch has them) and ~15 kernels in all for the rest: the tensors are
    concatenated, each value is mapped to its tensor's block of NUM_BINS bins
    (min and max repeated per value with ``repeat_interleave``), and one
    ``histc`` counts every block at once. The rows are those of summarise():
    the fast path, with NaN or Inf showing in the min or max.
    """
    out: List[Optional[Tuple[Any, int, bool]]] = [None] * len(ts)
    tensor = getattr(torch, "Tensor", None)
    groups: Dict[Any, List[List[int]]] = {}  # device -> groups of indexes
    sizes: Dict[Any, int] = {}
    for i, t in enumerate(ts):
        if t is None:
            continue
        n = t.numel() if tensor is not None and isinstance(t, tensor) else 0
        dev = getattr(t, "device", None)
        if (
            not (0 < n <= _SOLO)
            or getattr(t, "is_sparse", False)
            or not t.is_floating_point()
            or dev is None
            or not (dev.type == "cuda" or (dev.type == "cpu" and _BATCH_CPU))
        ):
            out[i] = summarise(torch, t)
            continue
        gs = groups.setdefault(dev, [[]])
        if sizes.get(dev, 0) + n > _GROUP or len(gs[-1]) >= _GROUP_K:
            gs.append([])
            sizes[dev] = 0
        gs[-1].append(i)
        sizes[dev] = sizes.get(dev, 0) + n
    for gs in groups.values():
        for g in gs:
            if len(g) == 1:
                out[g[0]] = summarise(torch, ts[g[0]])
            elif g:
                for i, r in zip(g, _summarise_group(torch, [ts[i] for i in g])):
                    out[i] = r
    return out


_LAYOUT: Dict[Any, Tuple[Any, Any]] = {}  # (device, lengths) -> (lengths tensor, block offsets)


def _summarise_group(torch: Any, ts: Sequence[Any]) -> List[Tuple[Any, int, bool]]:
    flats = [t.detach().reshape(-1) for t in ts]
    lens = [int(f.numel()) for f in flats]
    k, n = len(flats), sum(lens)
    dev = flats[0].device
    key = (dev, tuple(lens))
    layout = _LAYOUT.get(key)
    if layout is None:
        if len(_LAYOUT) >= 64:
            _LAYOUT.clear()
        layout = _LAYOUT[key] = (
            torch.tensor(lens, device=dev),
            torch.arange(k, device=dev, dtype=torch.float32) * NUM_BINS + 0.5,  # each block's bin 0, centred
        )
    lens_t, base = layout
    fmax = getattr(torch, "_foreach_max", None)
    if fmax is not None:
        hi = torch.stack(fmax(flats))
        lo = torch.stack(fmax(torch._foreach_neg(flats))).neg_()
    else:
        mm = [torch.aminmax(f) for f in flats]
        lo = torch.stack([m[0] for m in mm])
        hi = torch.stack([m[1] for m in mm])
    lo, hi = lo.float(), hi.float()
    x = torch.cat(flats)
    if x.dtype != torch.float32:
        x = x.float()
    views = x.split(lens)
    fnorm = getattr(torch, "_foreach_norm", None)
    norm = torch.stack(fnorm(views) if fnorm is not None else [torch.linalg.vector_norm(v) for v in views])
    # From here x is overwritten in place (the norms were queued first, on the same stream).
    # A block whose min equals its max, or holds NaN or Inf, gets NaN here and
    # -1 below: histc leaves it out, and finish_rows() redoes or spreads it.
    x.sub_(torch.repeat_interleave(lo, lens_t, output_size=n))
    x.mul_(torch.repeat_interleave(NUM_BINS / (hi - lo), lens_t, output_size=n))
    x.floor_().clamp_(0, NUM_BINS - 1)
    x.add_(torch.repeat_interleave(base, lens_t, output_size=n))
    x.nan_to_num_(nan=-1.0)
    if _sorted_counts(torch, x):
        counts = count_ids(torch, x, k * NUM_BINS).view(k, NUM_BINS)
    else:
        counts = torch.histc(x, bins=k * NUM_BINS, min=0.0, max=float(k * NUM_BINS)).view(k, NUM_BINS)
    rows = torch.cat([counts, torch.stack([lo, hi, norm.float()], 1), torch.zeros((k, 2), device=dev)], 1)
    return [(r, m, False) for r, m in zip(rows.unbind(0), lens)]


def resolve(torch: Any, pending: Sequence[Pending]) -> List[Item]:
    """The items of a pass's gradients: those not summarised yet are, together (summarise_many)."""
    todo = [i for i, e in enumerate(pending) if e[1] is None]
    done: Dict[int, Optional[Tuple[Any, int, bool]]] = {}
    if todo:
        done = dict(zip(todo, summarise_many(torch, [pending[i][2]() for i in todo])))
    items: List[Item] = []
    for i, (name, s, source) in enumerate(pending):
        if s is None:
            s = done.get(i)
        if s is not None:
            items.append((name, s[0], s[1], s[2], source))
    return items


_ZEROS: Dict[Any, Any] = {}


def _zeros2(torch: Any, device: Any) -> Any:
    z = _ZEROS.get(device)
    if z is None:
        z = _ZEROS[device] = torch.zeros(2, device=device)
    return z


def stats(torch: Any, t: Any) -> Any:
    """A float32 tensor of NUM_BINS + 5 values on t's device: bin counts, lo, hi, L2 norm, NaNs, Infs.

    Exact with non-finite values: the bins split [lo, hi], the range of the
    finite values, into NUM_BINS equal parts (when every finite value is the
    same v, [v - pad, v + pad]); NaN and Inf are counted apart. Nothing here
    waits for the device. None for an empty tensor.
    """
    zeros = 0
    if getattr(t, "is_sparse", False):
        t = t.detach().coalesce()
        vals = t.values()
        zeros = t.numel() - vals.numel()  # implicit zeros, counted below
        t = vals
    x = t.detach().reshape(-1)
    n = x.numel()
    if n == 0 and zeros == 0:
        return None
    if x.dtype != torch.float32:
        x = x.float()
    inf = float("inf")
    fin = torch.isfinite(x)
    n_nan = torch.isnan(x).sum()
    n_inf = n - fin.sum() - n_nan
    lo = torch.where(fin, x, inf).amin() if n else torch.tensor(inf, device=x.device)
    hi = torch.where(fin, x, -inf).amax() if n else torch.tensor(-inf, device=x.device)
    if zeros:
        lo = torch.clamp(lo, max=0.0)
        hi = torch.clamp(hi, min=0.0)
    span = hi - lo
    spread = span > 0
    # One value (or none): centre it in a range that float32 can tell from it.
    pad = torch.clamp(lo.abs() * (1.0 / 1024), min=0.5)
    any_finite = torch.isfinite(lo)
    lo2 = torch.where(spread, lo, torch.where(any_finite, lo - pad, torch.zeros_like(lo)))
    hi2 = torch.where(spread, hi, torch.where(any_finite, lo + pad, torch.ones_like(hi)))
    # Non-finite values are moved below the range, which histc leaves out (some of its
    # CPU paths would count a NaN in the first bin).
    y = ((x - lo2) / (hi2 - lo2)).masked_fill_(~fin, -1.0)
    counts = histc01(torch, y, NUM_BINS)
    if zeros:
        # The implicit zeros' bin, added without index_add (no deterministic CUDA kernel).
        b = torch.clamp(((0.0 - lo2) / (hi2 - lo2) * NUM_BINS).floor(), 0, NUM_BINS - 1)
        counts = counts + (torch.arange(NUM_BINS, device=counts.device) == b).float() * float(zeros)
    norm = torch.linalg.vector_norm(x) if n else torch.zeros((), device=x.device)
    tail = torch.stack([lo2, hi2, norm.float(), n_nan.float(), n_inf.float()])
    return torch.cat([counts, tail])


# CUDA's histc adds with atomics, so torch refuses it (or warns, with
# warn_only) under torch.use_deterministic_algorithms(True). The counts are
# then taken from the sorted bin ids (sort and searchsorted, both
# deterministic, and neither waits for the device): on watched steps only,
# a sort of at most _GROUP values. Tests set _SORTED_CPU to run it on a CPU.
_SORTED_CPU = False


def _sorted_counts(torch: Any, x: Any) -> bool:
    if x.device.type == "cpu":
        return _SORTED_CPU
    det = getattr(torch, "are_deterministic_algorithms_enabled", None)
    return bool(det is not None and det())


def count_ids(torch: Any, ids: Any, nbins: int) -> Any:
    """float32 counts of the values of ids in [b, b + 1), for b in 0..nbins-1; the rest (NaN too) left out."""
    s = torch.sort(torch.nan_to_num(ids.reshape(-1).float(), nan=-1.0)).values
    edges = torch.arange(nbins + 1, device=s.device, dtype=s.dtype)
    pos = torch.searchsorted(s, edges)  # the first value >= each edge
    return (pos[1:] - pos[:-1]).float()


def histc01(torch: Any, y: Any, nbins: int) -> Any:
    """torch.histc(y, bins=nbins, min=0, max=1), from sorted bin ids where torch wants determinism."""
    if not _sorted_counts(torch, y):
        return torch.histc(y, bins=nbins, min=0.0, max=1.0)
    ids = (y * nbins).floor_()
    ids = torch.where(y == 1.0, torch.full_like(ids, nbins - 1), ids)  # histc puts max in the last bin
    ids = torch.where(y > 1.0, torch.full_like(ids, -1.0), ids)  # and leaves out what is beyond it
    return count_ids(torch, ids, nbins)


def to_host(torch: Any, sts: Sequence[Any]) -> List[List[float]]:
    """The stats tensors as lists, with one stack and one copy per device."""
    by_dev: Dict[Any, List[int]] = {}
    for i, st in enumerate(sts):
        by_dev.setdefault(st.device, []).append(i)
    out: List[List[float]] = [[] for _ in sts]
    for idxs in by_dev.values():
        rows = torch.stack([sts[i] for i in idxs]).cpu().tolist()
        for i, row in zip(idxs, rows):
            out[i] = row
    return out


_MAX_INFLIGHT = 4  # summaries on their way to the host before a new one waits for the oldest


class Copy:
    """Stats tensors on their way to the host: CUDA ones copied asynchronously, the rest at once."""

    def __init__(self, rows: List[List[float]], waits: List[Tuple[Any, Any, Any, List[int]]]) -> None:
        self.rows = rows
        self.waits = waits  # (event, pinned host tensor, device tensor kept alive, row indexes)

    def ready(self) -> bool:
        """Whether result() would not wait for a device (a CUDA event query: no sync)."""
        return all(w[0].query() for w in self.waits)

    def result(self) -> List[List[float]]:
        for ev, host, _, idxs in self.waits:
            ev.synchronize()
            for i, row in zip(idxs, host.tolist()):
                self.rows[i] = row
        self.waits = []
        return self.rows


def begin_copy(torch: Any, sts: Sequence[Any]) -> Copy:
    """Start copying the stats tensors to the host: one stack and one copy per device.

    A CUDA device's stack is copied with ``non_blocking=True`` into pinned
    memory and followed by an event on the same stream, so nothing here waits
    for the GPU; other devices (the CPU) are copied at once. Where pinned memory
    or events fail, the copy is made at once too.
    """
    rows: List[List[float]] = [[] for _ in sts]
    cuda: Dict[Any, List[int]] = {}
    now: List[int] = []
    for i, st in enumerate(sts):
        dev = getattr(st, "device", None)
        if getattr(dev, "type", None) == "cuda":
            cuda.setdefault(dev, []).append(i)
        else:
            now.append(i)
    waits: List[Tuple[Any, Any, Any, List[int]]] = []
    for dev, idxs in cuda.items():
        stacked = torch.stack([sts[i] for i in idxs])
        try:
            host = torch.empty(stacked.shape, dtype=stacked.dtype, pin_memory=True)
            host.copy_(stacked, non_blocking=True)
            ev = torch.cuda.Event()
            ev.record(torch.cuda.current_stream(dev))
            waits.append((ev, host, stacked, idxs))
        except Exception:
            now.extend(idxs)
    if now:
        for i, row in zip(now, to_host(torch, [sts[i] for i in now])):
            rows[i] = row
    return Copy(rows, waits)


def host_rows(torch: Any, items: Sequence[Item]) -> List[List[float]]:
    """The items' stats as lists: one copy per device; tensors with NaN or Inf redone exactly (one more copy)."""
    return finish_rows(torch, items, begin_copy(torch, [it[1] for it in items]).result())


def finish_rows(torch: Any, items: Sequence[Item], rows: List[List[float]]) -> List[List[float]]:
    """The rows of host_rows() from copied stats: constants spread, NaN or Inf redone exactly."""
    redo: List[int] = []
    for i, (it, row) in enumerate(zip(items, rows)):
        if it[3]:
            continue
        lo, hi = row[_LO], row[_HI]
        if not (math.isfinite(lo) and math.isfinite(hi)):
            redo.append(i)
        elif lo == hi:  # one value, n times: the fast path cannot scale it
            pad = max(0.5, abs(lo) / 1024)
            row[:NUM_BINS] = [0.0] * NUM_BINS
            row[_EXACT_CONST] = float(it[2])
            row[_LO], row[_HI] = lo - pad, lo + pad
    if redo:
        again: List[int] = []
        sts = []
        for i in redo:
            t = items[i][4]()
            st = stats(torch, t) if t is not None else None
            if st is None:
                rows[i][:NUM_BINS] = [0.0] * NUM_BINS  # no histogram; the norm stays
            else:
                again.append(i)
                sts.append(st)
        for i, row in zip(again, to_host(torch, sts) if sts else []):
            row[_NORM] = rows[i][_NORM]  # the norm of what the hook saw
            rows[i] = row
    return rows


def histogram(row: Sequence[float]) -> Optional[Dict[str, Any]]:
    """wandb's histogram JSON from one stats row; None when the tensor has no finite value.

    The bins are equal, so they go packed, as W&B's API returns such
    histograms: ``"packedBins": {"min": lo, "size": width, "count": 64}``
    (edge i is min + i * size). Encoding 65 float edges was most of the
    spool thread's time for a watched step (10 ms for 154 histograms).
    """
    counts = [int(c) for c in row[:NUM_BINS]]
    n_nan, n_inf = int(row[_NAN]), int(row[_INF])
    if not any(counts):
        return None
    lo, hi = row[_LO], row[_HI]
    packed = {"min": lo, "size": (hi - lo) / NUM_BINS, "count": NUM_BINS}
    h: Dict[str, Any] = Prepared(_type="histogram", values=counts, packedBins=packed)
    if n_nan:
        h["nan"] = n_nan
    if n_inf:
        h["inf"] = n_inf
    return h


def bin_edges(h: Dict[str, Any]) -> List[float]:
    """The edges of a histogram value, from ``bins`` or ``packedBins``."""
    if "bins" in h:
        return list(h["bins"])
    p = h["packedBins"]
    return [p["min"] + p["size"] * i for i in range(int(p["count"]) + 1)]


# --- watch / unwatch --------------------------------------------------------


def _torch_module(torch: Any, m: Any) -> bool:
    return torch is not None and isinstance(m, torch.nn.Module)


def watch_run(
    run: Any,
    models: Any,
    criterion: Any = None,
    log: Optional[str] = "gradients",
    log_freq: int = 1000,
    idx: Optional[int] = None,
    log_graph: bool = False,
) -> None:
    if log not in LOG_CHOICES:
        raise ValueError("watch(log=%r): use 'gradients', 'parameters', 'all' or None" % (log,))
    if isinstance(log_freq, bool) or not isinstance(log_freq, numbers.Real) or math.isnan(log_freq):
        raise ValueError("watch(log_freq=%r): use a number of steps" % (log_freq,))
    # wandb logs when its count reaches log_freq: every ceil(log_freq)-th call, every call below 1.
    log_freq = max(1, math.ceil(log_freq)) if math.isfinite(log_freq) else 1 << 62
    if idx is not None and (isinstance(idx, bool) or not isinstance(idx, int) or idx < 0):
        raise ValueError("watch(idx=%r): use a model index, 0 or more" % (idx,))
    mlist = list(models) if isinstance(models, (list, tuple)) else [models]
    torch = sys.modules.get("torch")
    for m in mlist:
        if not _torch_module(torch, m):
            raise ValueError(
                "watch() takes a torch.nn.Module (or a list of them), not %s%s"
                % (type(m).__name__, "" if torch is not None else "; torch is not imported")
            )
    if not mlist:
        raise ValueError("watch() needs a model")
    if run._finished:
        _warn("watch() after finish() is ignored")
        return
    w_all = getattr(run, "_watcher", None)
    if w_all is None:
        w_all = run._watcher = Watcher(run)
    if idx is None:
        idx = w_all.next_idx
    gradients = log in ("gradients", "all")
    parameters = log in ("parameters", "all")
    for i, m in enumerate(mlist):
        gidx = idx + i
        w_all.next_idx = max(w_all.next_idx, gidx + 1)
        if w_all.find(m) is not None:
            _warn("watch(): this model was already watched; its old hooks were replaced")
            w_all.remove(m)
        prefix = "graph_%d" % gidx if gidx > 0 else ""  # wandb: gradients/graph_1fc.weight
        if log_graph:
            _log_graph(run, m, gidx)
        if run.disabled or log is None:
            continue
        w = Watched(torch, run, m, prefix, log_freq, gradients, parameters)
        w.install(m)
        w_all.add(w)


def unwatch_run(run: Any, models: Any = None) -> None:
    w_all = getattr(run, "_watcher", None)
    if models is None:
        if w_all is not None:
            w_all.remove()
        return
    for m in list(models) if isinstance(models, (list, tuple)) else [models]:
        if w_all is None or not w_all.remove(m):
            _warn("unwatch(): %s was not watched" % type(m).__name__)


def watch(
    models: Any,
    criterion: Any = None,
    log: Optional[str] = "gradients",
    log_freq: int = 1000,
    idx: Optional[int] = None,
    log_graph: bool = False,
) -> None:
    """``run.watch()`` on the current run; raises UsageError before ``fluoro.init()``."""
    from ._run import _need_run

    _need_run("watch()").watch(models, criterion, log, log_freq, idx, log_graph)


def unwatch(models: Any = None) -> None:
    """``run.unwatch()`` on the current run; nothing to do before ``fluoro.init()``."""
    from ._run import current_run

    r = current_run()
    if r is not None:
        r.unwatch(models)


# --- log_graph: the module tree as a run file -------------------------------


def module_tree(module: Any) -> Dict[str, Any]:
    """Names, types and own parameter shapes of every submodule (static; not the traced graph)."""
    mods = []
    total = 0
    for name, m in module.named_modules():
        params = {}
        for pn, p in m.named_parameters(recurse=False):
            params[pn] = {"shape": list(p.shape), "trainable": bool(p.requires_grad)}
            total += p.numel()
        t = type(m)
        mods.append({"name": name, "type": "%s.%s" % (t.__module__, t.__qualname__), "params": params})
    return {"format": "fluoro.module-tree/1", "modules": mods, "parameters": total}


def _log_graph(run: Any, module: Any, gidx: int) -> None:
    """Save the module tree as the run file fluoro-graph-<idx>.json (uploaded by the run's file sender)."""
    if run.disabled or not run.dir:
        return
    name = GRAPH_FILE % gidx
    try:
        data = json.dumps(module_tree(module), separators=(",", ":")).encode()
        files = getattr(run, "_files", None)
        if files is not None and hasattr(files, "put_bytes"):
            files.put_bytes(name, data)  # written to <run dir>/files/ and uploaded (or sent by `fluoro sync`)
            return
        d = os.path.join(run.dir, "files")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    except Exception as e:
        _warn("watch(log_graph=True): could not record the module tree (%r)" % (e,))

"""System metrics: CPU, memory, disk, network and NVIDIA GPUs, sampled in the background.

A ``Sampler`` thread (started by ``init()``, stopped by ``finish()``; never
at import) takes a sample every ``system_interval`` seconds and queues it on
the run's pipeline, which spools and sends it in the ingest batch's
``system`` field, like history. Everything is read without extra packages:

- Linux: ``/proc/stat`` (total CPU), ``/proc/meminfo``, ``/proc/self/statm``
  and ``/proc/self/status`` (the process's RSS and threads),
  ``/proc/diskstats`` (whole disks), ``/proc/net/dev`` (all interfaces but
  ``lo``). Elsewhere only the process CPU (``os.times``) is reported.
- NVIDIA GPUs through NVML (``libnvidia-ml.so.1``, via ``ctypes``), only
  those in ``CUDA_VISIBLE_DEVICES`` when it is set; else ``nvidia-smi``
  with a timeout; else nothing.

Every reader returns ``{}`` (or ``None``) when its source is missing: the
sampler never raises and never warns.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from . import _threads

MB = 1024.0 * 1024.0
_SECTOR = 512  # /proc/diskstats counts 512-byte sectors whatever the device
_SKIP_DISKS = ("loop", "ram", "zram", "dm-", "md", "sr", "fd", "nbd")


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read()
    except OSError:
        return None


# --- /proc parsing (pure functions of the file's text, for tests) ---------


def parse_proc_stat(text: str) -> Optional[Tuple[float, float]]:
    """(busy, total) jiffies of all CPUs from /proc/stat's first line."""
    for line in text.splitlines():
        if line.startswith("cpu "):
            f = [float(x) for x in line.split()[1:]]
            if len(f) < 4:
                return None
            # user nice system idle iowait irq softirq steal (guest is inside user)
            total = sum(f[:8])
            idle = f[3] + (f[4] if len(f) > 4 else 0.0)
            return total - idle, total
    return None


def parse_meminfo(text: str) -> Dict[str, float]:
    """/proc/meminfo's fields in bytes."""
    out: Dict[str, float] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if not parts:
            continue
        try:
            v = float(parts[0])
        except ValueError:
            continue
        if len(parts) > 1 and parts[1].lower() == "kb":
            v *= 1024.0
        out[name.strip()] = v
    return out


def memory_percent(info: Dict[str, float]) -> Optional[float]:
    total = info.get("MemTotal")
    if not total:
        return None
    avail = info.get("MemAvailable")
    if avail is None:  # kernels before 3.14
        avail = info.get("MemFree", 0.0) + info.get("Buffers", 0.0) + info.get("Cached", 0.0)
    return 100.0 * (total - avail) / total


def parse_status(text: str) -> Dict[str, float]:
    """VmRSS (bytes) and Threads from /proc/self/status."""
    out: Dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            p = line.split()
            if len(p) >= 2:
                out["rss"] = float(p[1]) * 1024.0
        elif line.startswith("Threads:"):
            p = line.split()
            if len(p) >= 2:
                out["threads"] = float(p[1])
    return out


def parse_diskstats(text: str, disks: Optional[Sequence[str]] = None) -> Tuple[float, float]:
    """(bytes read, bytes written) summed over whole disks.

    ``disks`` names the whole disks (``/sys/block``); without it, names that
    look like partitions of another listed device are skipped. Loop, RAM,
    device-mapper and md devices are skipped, as they repeat their members' I/O.
    """
    rows: List[Tuple[str, float, float]] = []
    for line in text.splitlines():
        p = line.split()
        if len(p) < 10:
            continue
        name = p[2]
        if name.startswith(_SKIP_DISKS):
            continue
        try:
            rows.append((name, float(p[5]) * _SECTOR, float(p[9]) * _SECTOR))
        except ValueError:
            continue
    if disks is not None:
        keep = set(disks)
        rows = [r for r in rows if r[0] in keep]
    else:
        names = [r[0] for r in rows]
        rows = [r for r in rows if not any(r[0] != n and r[0].startswith(n) for n in names)]
    return sum(r[1] for r in rows), sum(r[2] for r in rows)


def parse_net_dev(text: str) -> Tuple[float, float]:
    """(bytes received, bytes sent) summed over every interface but loopback."""
    recv = sent = 0.0
    for line in text.splitlines():
        name, sep, rest = line.partition(":")
        if not sep:
            continue
        name = name.strip()
        p = rest.split()
        if name == "lo" or len(p) < 9:
            continue
        try:
            recv += float(p[0])
            sent += float(p[8])
        except ValueError:
            continue
    return recv, sent


# --- NVIDIA GPUs ------------------------------------------------------------


class NVML:
    """A minimal NVML binding through ctypes. Raises OSError when NVML is unusable.

    The sampler only needs the duck type: ``count()``, ``handle(i)``,
    ``uuid(h)``, ``name(h)``, ``utilization(h)``, ``memory(h)``,
    ``temperature(h)``, ``power(h)``, ``power_limit(h)``, ``clock(h, kind)``
    and ``shutdown()``; tests pass a fake.
    """

    _lib_name = "libnvidia-ml.so.1"

    def __init__(self) -> None:
        import ctypes

        self._c = ctypes
        try:
            lib = ctypes.CDLL(self._lib_name)
        except OSError:
            if os.name == "nt":  # pragma: no cover
                lib = ctypes.CDLL("nvml.dll")
            else:
                raise
        self._lib = lib
        init = getattr(lib, "nvmlInit_v2", None) or lib.nvmlInit
        self._check(init())

    def _check(self, rc: int) -> None:
        if rc != 0:
            raise OSError("NVML error %d" % rc)

    def _call(self, fn: str, *args: Any) -> None:
        self._check(getattr(self._lib, fn)(*args))

    def count(self) -> int:
        n = self._c.c_uint()
        self._call("nvmlDeviceGetCount_v2", self._c.byref(n))
        return int(n.value)

    def handle(self, i: int) -> Any:
        h = self._c.c_void_p()
        self._call("nvmlDeviceGetHandleByIndex_v2", self._c.c_uint(i), self._c.byref(h))
        return h

    def _str(self, fn: str, h: Any) -> str:
        buf = self._c.create_string_buffer(96)
        self._call(fn, h, buf, self._c.c_uint(96))
        return buf.value.decode("utf-8", "replace")

    def uuid(self, h: Any) -> str:
        return self._str("nvmlDeviceGetUUID", h)

    def name(self, h: Any) -> str:
        return self._str("nvmlDeviceGetName", h)

    def utilization(self, h: Any) -> Tuple[float, float]:
        """(GPU %, memory controller %)."""

        class Util(self._c.Structure):  # type: ignore[name-defined,misc]
            _fields_ = [("gpu", self._c.c_uint), ("memory", self._c.c_uint)]

        u = Util()
        self._call("nvmlDeviceGetUtilizationRates", h, self._c.byref(u))
        return float(u.gpu), float(u.memory)

    def memory(self, h: Any) -> Tuple[float, float]:
        """(used, total) bytes."""

        class Mem(self._c.Structure):  # type: ignore[name-defined,misc]
            _fields_ = [("total", self._c.c_ulonglong), ("free", self._c.c_ulonglong), ("used", self._c.c_ulonglong)]

        m = Mem()
        self._call("nvmlDeviceGetMemoryInfo", h, self._c.byref(m))
        return float(m.used), float(m.total)

    def _uint(self, fn: str, h: Any, *extra: int) -> float:
        v = self._c.c_uint()
        self._call(fn, h, *[self._c.c_int(x) for x in extra], self._c.byref(v))
        return float(v.value)

    def temperature(self, h: Any) -> float:
        return self._uint("nvmlDeviceGetTemperature", h, 0)  # NVML_TEMPERATURE_GPU, degrees C

    def power(self, h: Any) -> float:
        return self._uint("nvmlDeviceGetPowerUsage", h) / 1000.0  # mW -> W

    def power_limit(self, h: Any) -> float:
        return self._uint("nvmlDeviceGetEnforcedPowerLimit", h) / 1000.0

    def clock(self, h: Any, kind: str) -> float:
        """Current clock in MHz: kind is graphics, sm or mem."""
        return self._uint("nvmlDeviceGetClockInfo", h, {"graphics": 0, "sm": 1, "mem": 2}[kind])

    def shutdown(self) -> None:
        try:
            self._lib.nvmlShutdown()
        except Exception:
            pass


def visible_devices(env: Optional[str], count: int, uuids: Callable[[int], str]) -> List[Tuple[int, int]]:
    """(visible ordinal, NVML index) for each GPU the process may use.

    ``env`` is CUDA_VISIBLE_DEVICES (None: every GPU). Entries are indices or
    (prefixes of) ``GPU-…`` UUIDs; like CUDA, the list stops at the first
    entry that names no GPU. MIG instances are not mapped (nothing reported).
    """
    if env is None:
        return [(i, i) for i in range(count)]
    out: List[Tuple[int, int]] = []
    ids: Optional[List[str]] = None
    for item in env.split(","):
        item = item.strip()
        if not item:
            break
        idx: Optional[int] = None
        if item.lstrip("-").isdigit():
            n = int(item)
            if 0 <= n < count:
                idx = n
        elif item.startswith("GPU-"):
            if ids is None:
                ids = []
                for i in range(count):
                    try:
                        ids.append(uuids(i))
                    except Exception:
                        ids.append("")
            hits = [i for i, u in enumerate(ids) if u and u.startswith(item)]
            if len(hits) == 1:
                idx = hits[0]
        if idx is None or any(idx == x[1] for x in out):
            break
        out.append((len(out), idx))
    return out


class GPUReader:
    """Samples the visible GPUs through NVML (or a duck-typed fake)."""

    def __init__(self, nvml: Any, env: Optional[str]) -> None:
        self.nvml = nvml
        n = nvml.count()
        self.devices: List[Tuple[int, Any]] = [
            (ordinal, nvml.handle(idx)) for ordinal, idx in visible_devices(env, n, lambda i: nvml.uuid(nvml.handle(i)))
        ]
        self._broken: Dict[Tuple[int, str], int] = {}

    def info(self) -> List[Dict[str, Any]]:
        """Model, memory and UUID of each visible GPU (for the run's metadata)."""
        out = []
        for ordinal, h in self.devices:
            d: Dict[str, Any] = {"index": ordinal}
            for key, fn in (("name", "name"), ("uuid", "uuid")):
                try:
                    d[key] = getattr(self.nvml, fn)(h)
                except Exception:
                    pass
            try:
                d["memory_total_mb"] = round(self.nvml.memory(h)[1] / MB, 1)
            except Exception:
                pass
            out.append(d)
        return out

    def _get(self, ordinal: int, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        """One reading; a reading that failed 3 times (not supported) is not asked again."""
        k = (ordinal, what)
        if self._broken.get(k, 0) >= 3:
            return None
        try:
            return fn(*args)
        except Exception:
            self._broken[k] = self._broken.get(k, 0) + 1
            return None

    def sample(self) -> Dict[str, float]:
        out: Dict[str, float] = {}
        nv = self.nvml
        for i, h in self.devices:
            p = "gpu.%d." % i
            u = self._get(i, "util", nv.utilization, h)
            if u is not None:
                out[p + "util"], out[p + "memory_util"] = u
            m = self._get(i, "mem", nv.memory, h)
            if m is not None:
                used, total = m
                out[p + "memory_used_mb"] = used / MB
                out[p + "memory_total_mb"] = total / MB
                if total:
                    out[p + "memory_percent"] = 100.0 * used / total
            t = self._get(i, "temp", nv.temperature, h)
            if t is not None:
                out[p + "temp"] = t
            w = self._get(i, "power", nv.power, h)
            if w is not None:
                out[p + "power_w"] = w
                lim = self._get(i, "power_limit", nv.power_limit, h)
                if lim:
                    out[p + "power_limit_w"] = lim
                    out[p + "power_percent"] = 100.0 * w / lim
            for kind in ("sm", "mem", "graphics"):
                c = self._get(i, "clock_" + kind, nv.clock, h, kind)
                if c is not None:
                    out[p + "clock_%s_mhz" % kind] = c
        return out

    def close(self) -> None:
        try:
            self.nvml.shutdown()
        except Exception:
            pass


SMI_FIELDS = (
    "index",
    "uuid",
    "name",
    "utilization.gpu",
    "utilization.memory",
    "memory.used",
    "memory.total",
    "temperature.gpu",
    "power.draw",
    "power.limit",
    "clocks.sm",
    "clocks.mem",
    "clocks.gr",
)
# nvidia-smi column -> (key suffix, factor); memory is in MiB already.
_SMI_KEYS = {
    "utilization.gpu": "util",
    "utilization.memory": "memory_util",
    "memory.used": "memory_used_mb",
    "memory.total": "memory_total_mb",
    "temperature.gpu": "temp",
    "power.draw": "power_w",
    "power.limit": "power_limit_w",
    "clocks.sm": "clock_sm_mhz",
    "clocks.mem": "clock_mem_mhz",
    "clocks.gr": "clock_graphics_mhz",
}


def parse_smi(text: str, env: Optional[str]) -> Tuple[List[Dict[str, Any]], Dict[str, float]]:
    """nvidia-smi's CSV (SMI_FIELDS, noheader, nounits) -> (GPU info, sample) for the visible GPUs."""
    rows: List[Dict[str, str]] = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.split(",")]
        if len(cells) == len(SMI_FIELDS):
            rows.append(dict(zip(SMI_FIELDS, cells)))
    info: List[Dict[str, Any]] = []
    sample: Dict[str, float] = {}
    by_index = {}
    for r in rows:
        try:
            by_index[int(r["index"])] = r
        except ValueError:
            continue
    order = sorted(by_index)
    vis = visible_devices(env, len(order), lambda i: by_index[order[i]]["uuid"])
    for ordinal, pos in vis:
        r = by_index[order[pos]]
        info.append({"index": ordinal, "name": r["name"], "uuid": r["uuid"]})
        p = "gpu.%d." % ordinal
        for col, key in _SMI_KEYS.items():
            try:
                sample[p + key] = float(r[col])
            except ValueError:  # [N/A], [Not Supported]
                pass
        used, total = sample.get(p + "memory_used_mb"), sample.get(p + "memory_total_mb")
        if used is not None and total:
            sample[p + "memory_percent"] = 100.0 * used / total
            info[-1]["memory_total_mb"] = total
        w, lim = sample.get(p + "power_w"), sample.get(p + "power_limit_w")
        if w is not None and lim:
            sample[p + "power_percent"] = 100.0 * w / lim
    return info, sample


class SMIReader:
    """The nvidia-smi fallback: one subprocess per sample, with a timeout."""

    def __init__(self, path: str, env: Optional[str], timeout: float = 5.0) -> None:
        self.path = path
        self.env = env
        self.timeout = timeout
        self.failures = 0
        info, _ = self._query()
        if not info:
            raise OSError("nvidia-smi lists no usable GPU")
        self._info = info

    def _query(self) -> Tuple[List[Dict[str, Any]], Dict[str, float]]:
        import subprocess

        out = subprocess.run(
            [self.path, "--query-gpu=" + ",".join(SMI_FIELDS), "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=self.timeout,
            check=True,
        )
        return parse_smi(out.stdout, self.env)

    def info(self) -> List[Dict[str, Any]]:
        return self._info

    def sample(self) -> Dict[str, float]:
        if self.failures >= 3:
            return {}
        try:
            s = self._query()[1]
            self.failures = 0
            return s
        except Exception:
            self.failures += 1
            return {}

    def close(self) -> None:
        pass


def open_gpus(env: Optional[str] = None, use_env: bool = True) -> Optional[Any]:
    """A GPU reader (NVML, else nvidia-smi) for the visible GPUs, or None."""
    if use_env:
        env = os.environ.get("CUDA_VISIBLE_DEVICES")
    try:
        r = GPUReader(NVML(), env)
        if r.devices:
            return r
        r.close()
        return None
    except Exception:
        pass
    import shutil

    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        return SMIReader(smi, env)
    except Exception:
        return None


# --- the sampler ------------------------------------------------------------


class HostReader:
    """CPU, memory, disk and network readings; rates from the previous call."""

    def __init__(self, proc: str = "/proc", sys_block: str = "/sys/block") -> None:
        self.proc = proc
        self.sys_block = sys_block
        self.cpus = os.cpu_count() or 1
        self._cpu: Optional[Tuple[float, float]] = None
        self._proc_cpu: Optional[Tuple[float, float]] = None
        self._disk0: Optional[Tuple[float, float]] = None
        self._net0: Optional[Tuple[float, float]] = None
        try:
            self._disks: Optional[List[str]] = os.listdir(sys_block)
        except OSError:
            self._disks = None
        self._page = 4096
        try:
            self._page = os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            pass

    def _p(self, name: str) -> Optional[str]:
        return _read(os.path.join(self.proc, name))

    def sample(self) -> Dict[str, float]:
        """A sample; CPU percentages need a previous call (the first only sets the baseline)."""
        out: Dict[str, float] = {}
        for part in (self._cpu_total, self._cpu_proc, self._memory, self._disk, self._net):
            try:
                part(out)
            except Exception:  # a reader that breaks must not take the others down
                pass
        return out

    def _cpu_total(self, out: Dict[str, float]) -> None:
        text = self._p("stat")
        cur = parse_proc_stat(text) if text else None
        if cur is None:
            return
        prev, self._cpu = self._cpu, cur
        if prev is not None and cur[1] > prev[1]:
            out["cpu"] = max(0.0, min(100.0, 100.0 * (cur[0] - prev[0]) / (cur[1] - prev[1])))

    def _cpu_proc(self, out: Dict[str, float]) -> None:
        t = os.times()
        cur = (t.user + t.system, time.monotonic())
        prev, self._proc_cpu = self._proc_cpu, cur
        if prev is not None and cur[1] > prev[1]:
            # Like top: 100 is one core busy; up to 100 x cpu count.
            out["proc.cpu"] = max(0.0, 100.0 * (cur[0] - prev[0]) / (cur[1] - prev[1]))
        st = self._p("self/status")
        if st:
            d = parse_status(st)
            if "threads" in d:
                out["proc.cpu.threads"] = d["threads"]

    def _memory(self, out: Dict[str, float]) -> None:
        text = self._p("meminfo")
        info = parse_meminfo(text) if text else {}
        pct = memory_percent(info)
        if pct is not None:
            out["memory"] = pct
            out["memory.available_mb"] = info.get("MemAvailable", 0.0) / MB
        statm = self._p("self/statm")
        if statm:
            f = statm.split()
            if len(f) >= 2:
                rss = float(f[1]) * self._page
                out["proc.memory_rss_mb"] = rss / MB
                if info.get("MemTotal"):
                    out["proc.memory_percent"] = 100.0 * rss / info["MemTotal"]

    def _disk(self, out: Dict[str, float]) -> None:
        text = self._p("diskstats")
        if not text:
            return
        cur = parse_diskstats(text, self._disks)
        if self._disk0 is None:
            self._disk0 = cur
        out["disk.read_mb"] = (cur[0] - self._disk0[0]) / MB  # since the run started
        out["disk.write_mb"] = (cur[1] - self._disk0[1]) / MB

    def _net(self, out: Dict[str, float]) -> None:
        text = self._p("net/dev")
        if not text:
            return
        cur = parse_net_dev(text)
        if self._net0 is None:
            self._net0 = cur
        out["network.recv_mb"] = (cur[0] - self._net0[0]) / MB
        out["network.sent_mb"] = (cur[1] - self._net0[1]) / MB


def disk_usage(path: str) -> Dict[str, float]:
    """Used % and free space of the filesystem holding path."""
    try:
        st = os.statvfs(path)
    except (AttributeError, OSError):
        return {}
    total = st.f_blocks * st.f_frsize
    if not total:
        return {}
    free = st.f_bavail * st.f_frsize
    return {"disk.percent": 100.0 * (total - st.f_bfree * st.f_frsize) / total, "disk.free_gb": free / (MB * 1024)}


class Sampler:
    """The ``fluoro-system`` thread: a sample every ``interval`` seconds, and the run's chores.

    ``emit(time, values)`` queues a sample. ``on_start(gpus)`` runs first on
    the thread (the run's environment record); ``on_tick()`` runs after
    each sample (or every second without samples) until it returns True
    (retrying an upload); ``on_stop()`` runs once ``stop()`` is called.
    """

    def __init__(
        self,
        interval: float,
        emit: Callable[[float, Dict[str, float]], None],
        *,
        on_start: Optional[Callable[[Any], None]] = None,
        on_tick: Optional[Callable[[], bool]] = None,
        on_stop: Optional[Callable[[], None]] = None,
        gpus: Optional[Callable[[], Any]] = open_gpus,
        host: Optional[HostReader] = None,
        disk_path: Optional[str] = None,
    ) -> None:
        self.interval = interval
        self.emit = emit
        self.on_start = on_start
        self.on_tick = on_tick
        self.on_stop = on_stop
        self._open_gpus = gpus
        self._host = host
        self._disk_path = disk_path
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.gpu: Any = None
        self.samples = 0

    def start(self) -> None:
        self._thread = _threads.start(self._main, "fluoro-system")

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)

    def forget(self) -> None:
        """In a forked child: the thread does not exist there."""
        self._stop.set()
        self._thread = None

    def _main(self) -> None:
        try:
            self._loop()
        except Exception:  # pragma: no cover - degrade silently
            pass
        finally:
            try:
                if self.gpu is not None:
                    self.gpu.close()
            except Exception:  # pragma: no cover
                pass

    def _loop(self) -> None:
        if self._open_gpus is not None:
            try:
                self.gpu = self._open_gpus()
            except Exception:
                self.gpu = None
        if self.on_start is not None:
            try:
                self.on_start(self.gpu)
            except Exception:
                pass
        host = None
        if self.interval > 0:
            host = self._host if self._host is not None else HostReader()
            host.sample()  # the baseline for rates
        tick = self.on_tick
        while host is not None or tick is not None:
            if self._stop.wait(self.interval if host is not None else 1.0):
                break
            if host is not None:
                self.take(host)
            if tick is not None:
                try:
                    if tick():
                        tick = None
                except Exception:
                    tick = None
        if self.on_stop is not None:
            self._stop.wait()
            try:
                self.on_stop()
            except Exception:
                pass

    def take(self, host: HostReader) -> Dict[str, float]:
        t = time.time()
        values = host.sample()
        if self._disk_path:
            values.update(disk_usage(self._disk_path))
        if self.gpu is not None:
            try:
                values.update(self.gpu.sample())
            except Exception:
                pass
        if values:
            self.samples += 1
            self.emit(t, values)
        return values

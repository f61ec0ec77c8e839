"""System metrics: /proc parsing from fixture text, the GPU readers with fakes, and the sampler."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

import fluoro
from fluoro import _system
from fluoro._system import (
    NVML,
    GPUReader,
    HostReader,
    Sampler,
    memory_percent,
    open_gpus,
    parse_diskstats,
    parse_meminfo,
    parse_net_dev,
    parse_proc_stat,
    parse_smi,
    parse_status,
    visible_devices,
)

from fakeserver import FakeServer

PROC_STAT = """cpu  100 0 50 800 50 0 0 0 0 0
cpu0 50 0 25 400 25 0 0 0 0 0
intr 1234
"""
PROC_STAT_2 = """cpu  160 0 90 1100 50 0 0 0 0 0
"""
MEMINFO = """MemTotal:       16000000 kB
MemFree:         2000000 kB
MemAvailable:    4000000 kB
Buffers:          100000 kB
"""
STATUS = """Name:\tpython3
VmRSS:\t  204800 kB
Threads:\t7
"""
DISKSTATS = """   7       0 loop0 10 0 800 0 0 0 0 0 0 0 0
   8       0 sda 100 0 2048 10 50 0 4096 20 0 30 30
   8       1 sda1 90 0 1024 10 40 0 2048 20 0 30 30
 259       0 nvme0n1 10 0 2048 1 5 0 2048 1 0 2 2
 259       1 nvme0n1p1 10 0 2048 1 5 0 2048 1 0 2 2
 253       0 dm-0 100 0 2048 10 50 0 4096 20 0 30 30
"""
NET_DEV = (
    "Inter-|   Receive |  Transmit\n"
    " face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier\n"
    "    lo: 5000 10 0 0 0 0 0 0 5000 10 0 0 0 0 0 0\n"
    "  eth0: 1048576 100 0 0 0 0 0 0 2097152 200 0 0 0 0 0 0\n"
    " wlan0: 1048576 100 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
)


def test_parse_proc_stat() -> None:
    busy, total = parse_proc_stat(PROC_STAT)  # type: ignore[misc]
    assert (busy, total) == (150.0, 1000.0)  # idle and iowait are not busy
    assert parse_proc_stat("nothing\n") is None


def test_parse_meminfo_and_percent() -> None:
    info = parse_meminfo(MEMINFO)
    assert info["MemTotal"] == 16000000 * 1024
    assert memory_percent(info) == pytest.approx(75.0)
    # Old kernels: no MemAvailable
    old = parse_meminfo("MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 100 kB\nCached: 300 kB\n")
    assert memory_percent(old) == pytest.approx(50.0)
    assert memory_percent({}) is None


def test_parse_status() -> None:
    assert parse_status(STATUS) == {"rss": 204800 * 1024.0, "threads": 7.0}


def test_parse_diskstats_whole_disks_only() -> None:
    # With /sys/block's list: only the named whole disks (dm-/loop never).
    r, w = parse_diskstats(DISKSTATS, ["sda", "nvme0n1", "loop0", "dm-0"])
    assert (r, w) == ((2048 + 2048) * 512.0, (4096 + 2048) * 512.0)
    # Without it: partitions of a listed device are skipped.
    assert parse_diskstats(DISKSTATS) == (r, w)
    assert parse_diskstats("garbage\n") == (0.0, 0.0)


def test_parse_net_dev_skips_loopback() -> None:
    assert parse_net_dev(NET_DEV) == (2 * 1048576.0, 2097152.0)


def test_host_reader_from_a_fake_proc(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "net").mkdir()
    (proc / "stat").write_text(PROC_STAT)
    (proc / "meminfo").write_text(MEMINFO)
    (proc / "self" / "status").write_text(STATUS)
    (proc / "self" / "statm").write_text("1000 2560 100 1 0 500 0\n")
    (proc / "diskstats").write_text(DISKSTATS)
    (proc / "net" / "dev").write_text(NET_DEV)
    h = HostReader(str(proc), str(tmp_path / "no-sys-block"))
    first = h.sample()
    assert "cpu" not in first  # needs a previous reading
    assert first["disk.read_mb"] == 0.0 and first["network.sent_mb"] == 0.0
    (proc / "stat").write_text(PROC_STAT_2)
    (proc / "diskstats").write_text(DISKSTATS.replace(" 2048 10 50", " 4096 10 50"))
    s = h.sample()
    assert s["cpu"] == pytest.approx(100.0 * 100 / 400)  # busy +100 of +400 jiffies
    assert s["memory"] == pytest.approx(75.0)
    assert s["proc.memory_rss_mb"] == pytest.approx(2560 * h._page / (1024 * 1024))
    assert s["proc.cpu.threads"] == 7.0
    assert "proc.cpu" in s
    assert s["disk.read_mb"] == pytest.approx(2048 * 512 / (1024 * 1024))  # sda and dm-0 grew; dm-0 is skipped


def test_host_reader_without_proc_degrades(tmp_path: Path) -> None:
    h = HostReader(str(tmp_path / "nope"), str(tmp_path / "nope"))
    h.sample()
    s = h.sample()
    assert set(s) <= {"proc.cpu"}  # os.times works everywhere


# --- GPUs ------------------------------------------------------------------


class FakeNVML:
    """Duck-types _system.NVML: four GPUs; GPU 3 does not report power."""

    def __init__(self, n: int = 4) -> None:
        self.n = n
        self.calls: Dict[str, int] = {}
        self.closed = False

    def _count(self, what: str) -> None:
        self.calls[what] = self.calls.get(what, 0) + 1

    def count(self) -> int:
        return self.n

    def handle(self, i: int) -> int:
        return i

    def uuid(self, h: int) -> str:
        return "GPU-%d%d%d-abcd" % (h, h, h)

    def name(self, h: int) -> str:
        return "NVIDIA H100 80GB HBM3"

    def utilization(self, h: int) -> Tuple[float, float]:
        return 10.0 * h, 5.0 * h

    def memory(self, h: int) -> Tuple[float, float]:
        return (h + 1) * 1024.0**3, 80 * 1024.0**3

    def temperature(self, h: int) -> float:
        return 40.0 + h

    def power(self, h: int) -> float:
        self._count("power")
        if h == 3:
            raise OSError("NVML error 3: not supported")
        return 100.0 + h

    def power_limit(self, h: int) -> float:
        return 700.0

    def clock(self, h: int, kind: str) -> float:
        return {"sm": 1980.0, "mem": 2619.0, "graphics": 1980.0}[kind]

    def shutdown(self) -> None:
        self.closed = True


def test_visible_devices() -> None:
    uuids = ["GPU-aaa1", "GPU-bbb2", "GPU-ccc3"].__getitem__
    assert visible_devices(None, 3, uuids) == [(0, 0), (1, 1), (2, 2)]
    assert visible_devices("2,0", 3, uuids) == [(0, 2), (1, 0)]
    assert visible_devices("GPU-bbb", 3, uuids) == [(0, 1)]  # a UUID prefix
    assert visible_devices("", 3, uuids) == []
    assert visible_devices("-1", 3, uuids) == []
    assert visible_devices("1,7,0", 3, uuids) == [(0, 1)]  # CUDA stops at the first bad entry
    assert visible_devices("MIG-xyz", 3, uuids) == []


def test_gpu_reader_with_a_fake_nvml() -> None:
    nv = FakeNVML()
    r = GPUReader(nv, "2,3")
    assert [d[0] for d in r.devices] == [0, 1]
    s = r.sample()
    assert s["gpu.0.util"] == 20.0 and s["gpu.0.memory_util"] == 10.0  # physical GPU 2 is cuda:0
    assert s["gpu.0.memory_used_mb"] == 3 * 1024.0 and s["gpu.0.memory_total_mb"] == 80 * 1024.0
    assert s["gpu.0.memory_percent"] == pytest.approx(100.0 * 3 / 80)
    assert s["gpu.0.temp"] == 42.0 and s["gpu.0.power_w"] == 102.0 and s["gpu.0.power_limit_w"] == 700.0
    assert s["gpu.0.clock_sm_mhz"] == 1980.0 and s["gpu.0.clock_mem_mhz"] == 2619.0
    assert "gpu.1.util" in s and "gpu.1.power_w" not in s  # not supported: left out
    assert not any(k.startswith("gpu.2.") for k in s)
    for _ in range(5):
        r.sample()
    assert nv.calls["power"] == 6 + 3  # GPU 2 each time; GPU 3 given up after 3 failures
    info = r.info()
    assert info[0] == {"index": 0, "name": "NVIDIA H100 80GB HBM3", "uuid": "GPU-222-abcd", "memory_total_mb": 81920.0}
    r.close()
    assert nv.closed


SMI = """0, GPU-aaa, NVIDIA A100-SXM4-40GB, 87, 40, 20000, 40960, 61, 250.5, 400.00, 1410, 1215, 1410
1, GPU-bbb, NVIDIA A100-SXM4-40GB, 0, 0, 3, 40960, 30, [N/A], [N/A], 210, 1215, 210
"""


def test_parse_smi() -> None:
    info, s = parse_smi(SMI, "1")
    assert info == [{"index": 0, "name": "NVIDIA A100-SXM4-40GB", "uuid": "GPU-bbb", "memory_total_mb": 40960.0}]
    assert s["gpu.0.memory_used_mb"] == 3.0 and "gpu.0.power_w" not in s and s["gpu.0.temp"] == 30.0
    info, s = parse_smi(SMI, None)
    assert len(info) == 2 and s["gpu.0.util"] == 87.0 and s["gpu.0.power_percent"] == pytest.approx(250.5 / 4)


def test_no_nvml_and_no_nvidia_smi_is_silent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(NVML, "_lib_name", "libfluoro-no-such-nvml.so.1")
    monkeypatch.setenv("PATH", "/nonexistent")
    assert open_gpus() is None


def test_nvidia_smi_fallback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(NVML, "_lib_name", "libfluoro-no-such-nvml.so.1")
    smi = tmp_path / "nvidia-smi"
    (tmp_path / "out.csv").write_text(SMI)
    smi.write_text(
        "#!%s\nimport sys\nsys.stdout.write(open(%r).read())\n" % (sys.executable, str(tmp_path / "out.csv"))
    )
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    r = open_gpus()
    assert r is not None and r.info()[0]["uuid"] == "GPU-aaa"
    assert r.sample()["gpu.0.util"] == 87.0


# --- the sampler and the run -------------------------------------------------


class FakeHost(HostReader):
    def __init__(self) -> None:
        self.n = 0

    def sample(self) -> Dict[str, float]:
        self.n += 1
        return {"cpu": float(self.n)}


def test_sampler_emits_until_stopped() -> None:
    got: List[Tuple[float, Dict[str, float]]] = []
    started: List[Any] = []
    nv = FakeNVML(1)
    smp = Sampler(
        0.01,
        lambda t, v: got.append((t, v)),
        on_start=started.append,
        gpus=lambda: GPUReader(nv, None),
        host=FakeHost(),
    )
    smp.start()
    deadline = time.monotonic() + 5
    while len(got) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    smp.stop()
    n = len(got)
    assert n >= 3 and isinstance(started[0], GPUReader)
    assert got[0][1]["cpu"] == 2.0 and got[0][1]["gpu.0.util"] == 0.0  # the first reading is the baseline
    time.sleep(0.05)
    assert len(got) == n and nv.closed
    assert not [t for t in threading.enumerate() if t.name == "fluoro-system"]


def _system_rows(fake: FakeServer) -> List[Dict[str, Any]]:
    return [s for b in fake.batches for s in b.get("system") or []]


def test_run_sends_system_samples_through_the_spool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_system, "open_gpus", lambda: GPUReader(FakeNVML(1), None))
    fake = FakeServer()
    run = fluoro.init(dir=str(tmp_path), settings=fake.settings(system_interval=0.05, console="off"))
    deadline = time.monotonic() + 5
    while len(_system_rows(fake)) < 2 and time.monotonic() < deadline:
        run.flush(2)
        time.sleep(0.02)
    run.finish()
    rows = _system_rows(fake)
    assert len(rows) >= 2
    v = rows[-1]["values"]
    assert "proc.cpu" in v and v["gpu.0.temp"] == 40.0 and "disk.percent" in v
    assert all(isinstance(x, float) for x in v.values())
    spooled = b"".join(p.read_bytes() for p in (Path(run.dir or "") / "spool").glob("*.jsonl"))
    assert b'"system":[{"time":' in spooled  # durable like history


def test_stats_off(tmp_path: Path) -> None:
    for kw in ({"system_interval": 0, "x_disable_meta": True}, {"x_disable_stats": True, "x_disable_meta": True}):
        fake = FakeServer()
        run = fluoro.init(dir=str(tmp_path), settings=fake.settings(console="off", **kw))
        assert run._sampler is None
        assert not [t for t in threading.enumerate() if t.name == "fluoro-system"]
        run.finish()


def test_system_interval_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from fluoro._settings import resolve

    monkeypatch.setenv("FLUORO_SYSTEM_INTERVAL", "0.5")
    monkeypatch.setenv("FLUORO_CONSOLE", "off")
    s = resolve()
    assert s.system_interval == 0.5 and s.console == "off"
    monkeypatch.setenv("FLUORO_SYSTEM_INTERVAL", "soon")
    with pytest.raises(fluoro.UsageError):
        resolve()
    assert resolve({}, {"console": "auto"}, environ={}).console == "wrap"
    with pytest.raises(fluoro.UsageError):
        resolve({}, {"console": "loud"}, environ={})


def test_metadata_file_uploaded_and_kept(tmp_path: Path) -> None:
    import json

    fake = FakeServer()
    puts: List[Any] = []

    def spy(req: Any) -> None:
        if req.method == "PUT":
            puts.append(req)

    fake.on_request = spy
    run = fluoro.init(dir=str(tmp_path), settings=fake.settings(system_interval=0, console="off"))
    deadline = time.monotonic() + 10
    while not puts and time.monotonic() < deadline:
        time.sleep(0.02)
    run.finish()
    assert puts and puts[0].path.endswith("/runs/%s/files/fluoro-metadata.json" % run.id)
    m = json.loads(puts[0].body)
    kept = json.loads((Path(run.dir or "") / "files" / "fluoro-metadata.json").read_text())
    assert m == kept and m["python"] and m["cpu_count"] and m["gpu_count"] >= 0 and "packages" in m


class FakeDist:
    def __init__(self, files: Dict[str, str]) -> None:
        self.files = files

    def read_text(self, name: str) -> Any:
        return self.files.get(name)

    @property
    def metadata(self) -> Dict[str, str]:  # the slow parser's answer, for files without the headers
        return {"Name": "parsed-name"}

    @property
    def version(self) -> str:
        return "9.9"


def test_package_names_come_from_the_metadata_headers() -> None:
    from fluoro._metadata import _name_version, packages

    body = "Metadata-Version: 2.1\nName: torch\nVersion: 2.11.0\nSummary: x\n\nName: not-this\nVersion: 0\n"
    assert _name_version(FakeDist({"METADATA": body})) == ("torch", "2.11.0")
    assert _name_version(FakeDist({"PKG-INFO": "name: old_pkg\nversion:  1.0 \n"})) == ("old_pkg", "1.0")
    assert _name_version(FakeDist({"METADATA": "Summary: no name\n"})) == ("parsed-name", "9.9")
    # every installed package, the same as importlib's parser gives
    import importlib.metadata as md

    want: Dict[str, str] = {}
    for d in md.distributions():
        name = d.metadata["Name"]
        if name:
            want.setdefault(name.lower().replace("_", "-"), "%s==%s" % (name, d.version))
    assert packages() == sorted(want.values(), key=str.lower)

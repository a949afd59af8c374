"""What every benchmark shares: child processes with their CPU and peak RSS, medians, the machine.

A measured client always runs in a child process started with ``sys.executable``;
:func:`run_child` waits for it with ``os.wait4``, so the kernel reports that child's own CPU
time (user + system, its waited-for children included: curl under xargs) and its peak RSS.

That peak has a floor: Linux keeps ``ru_maxrss`` across ``execve`` and, at the exec, counts the
memory the child shared with its parent after ``fork``/``vfork``, so no child reports less than
the benchmark process's own RSS at that moment (:func:`own_peak_rss_bytes`). The benchmark
process therefore imports neither aiohttp nor polars before the RSS runs (about 20 MiB).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import psutil

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "benchmarks"
WORK = BENCH_DIR / "work"
MIB = 1024 * 1024
CHILD_TIMEOUT_SECONDS = 300.0
RSS_SAMPLE_SECONDS = 0.05
BENCH_KEY = "ferry-bench-key-0123456789"

T = TypeVar("T")


def fast_dir() -> Path:
    """Where the API server keeps its uploads: tmpfs (``/dev/shm``) when there is one.

    The throughput benchmarks measure clients, not the disk under the server: on tmpfs the
    server's per-upload ``mkdir``/``rename``/SQLite insert costs a third of what it does on ext4.
    """
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return shm
    return Path(tempfile.gettempdir())


@dataclass
class Child:
    """A finished child process: exit code, wall time, CPU time, peak RSS and its output."""

    argv: list[str]
    returncode: int
    wall_seconds: float
    cpu_seconds: float
    max_rss_bytes: int
    stdout: str
    stderr: str
    rss_samples: list[int] = field(default_factory=list)

    @property
    def median_rss_bytes(self) -> int:
        """The median of the RSS samples (0 without samples): the process's usual footprint."""
        return int(statistics.median(self.rss_samples)) if self.rss_samples else 0

    def json(self) -> dict[str, Any]:
        """The last line of stdout as JSON (the clients and ``ferry run --json`` print one)."""
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        if not lines:
            raise RuntimeError(f"{self.describe()} printed nothing; stderr: {self.stderr[-800:]}")
        try:
            parsed: dict[str, Any] = json.loads(lines[-1])
        except ValueError as exc:
            raise RuntimeError(f"{self.describe()} printed no JSON: {lines[-1][:200]}") from exc
        return parsed

    def describe(self) -> str:
        """The command, shortened, for messages."""
        return " ".join(self.argv[:6]) + (" ..." if len(self.argv) > 6 else "")


def run_child(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    stdin_path: Path | None = None,
    timeout: float = CHILD_TIMEOUT_SECONDS,
    check: bool = True,
    sample_rss: bool = False,
    interrupt_after: float | None = None,
) -> Child:
    """Run ``argv`` to completion and measure it; raise on a non-zero exit when ``check``.

    ``sample_rss`` also samples the child's RSS every :data:`RSS_SAMPLE_SECONDS` (psutil);
    ``interrupt_after`` sends it SIGINT (Ctrl-C) after that many seconds.
    """
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        stdin_path.open("rb") if stdin_path else open(os.devnull, "rb") as stdin,
    ):
        started = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdin=stdin, stdout=out, stderr=err, env=full_env)
        watchdog = threading.Timer(timeout, proc.kill)
        watchdog.start()
        interrupt = None
        if interrupt_after is not None:
            interrupt = threading.Timer(interrupt_after, proc.send_signal, [signal.SIGINT])
            interrupt.start()
        samples: list[int] = []
        sampler = _RssSampler(proc.pid, samples) if sample_rss else None
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            watchdog.cancel()
            if interrupt is not None:
                interrupt.cancel()
            if sampler is not None:
                sampler.stop()
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        child = Child(
            argv=list(argv),
            returncode=proc.returncode,
            wall_seconds=wall,
            cpu_seconds=usage.ru_utime + usage.ru_stime,
            max_rss_bytes=usage.ru_maxrss * 1024,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
            rss_samples=samples,
        )
    if check and child.returncode != 0:
        raise RuntimeError(
            f"{child.describe()} exited {child.returncode}; stderr: {child.stderr[-1500:]}"
        )
    return child


class _RssSampler:
    """Appends the RSS of process ``pid`` to ``samples`` from a thread until stopped."""

    def __init__(self, pid: int, samples: list[int]) -> None:
        self._process = psutil.Process(pid)
        self._samples = samples
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(RSS_SAMPLE_SECONDS):
            try:
                rss = self._process.memory_info().rss
            except psutil.Error:  # the process is gone (or a zombie): nothing more to see
                return
            if rss:  # an exited, not yet reaped, child shows 0
                self._samples.append(rss)

    def stop(self) -> None:
        """Stop sampling."""
        self._done.set()
        self._thread.join(5)


@dataclass
class Samples:
    """Repeated measurements of one figure; the median is what gets quoted."""

    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        """Record one measurement."""
        self.values.append(value)

    @property
    def median(self) -> float:
        """The median (0 without samples)."""
        return statistics.median(self.values) if self.values else 0.0

    @property
    def spread(self) -> float:
        """(max - min) / median: how far apart the runs were."""
        if len(self.values) < 2 or self.median == 0:
            return 0.0
        return (max(self.values) - min(self.values)) / self.median


def median_of(results: Sequence[T], figure: Callable[[T], float]) -> float:
    """The median of ``figure`` over ``results``."""
    return statistics.median(figure(result) for result in results)


def spread_of(results: Sequence[T], figure: Callable[[T], float]) -> float:
    """(max - min) / median of ``figure`` over ``results``."""
    samples = Samples([figure(result) for result in results])
    return samples.spread


def own_peak_rss_bytes() -> int:
    """This process's own peak RSS: the least ``ru_maxrss`` any child started now can report."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def python_module(*args: str) -> list[str]:
    """``sys.executable -m ARGS``: how every Python child is started (never found on PATH)."""
    return [sys.executable, "-m", *args]


def loadavg() -> str:
    """The 1-minute load average, or ``n/a``."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:  # pragma: no cover - not on every platform
        return "n/a"


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _curl_version() -> str:
    curl = shutil.which("curl")
    if curl is None:
        return "not installed"
    try:
        first = subprocess.run([curl, "--version"], capture_output=True, text=True, timeout=10)
        return first.stdout.split("\n", 1)[0].split(" (", 1)[0]
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine() -> dict[str, str]:
    """The machine and software the figures come from."""
    cores = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    memory = f"{psutil.virtual_memory().total / 1024**3:.1f} GiB"
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{_cpu_model()}, {cores} logical cores ({usable} usable)",
        "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "ferry": _version("ferry"),
        "aiohttp": _version("aiohttp"),
        "uvloop": _version("uvloop"),
        "polars": _version("polars"),
        "pyarrow": _version("pyarrow"),
        "requests": _version("requests"),
        "curl": _curl_version(),
        "server data dir": f"{fast_dir()} ({'tmpfs' if str(fast_dir()) == '/dev/shm' else 'disk'})",
    }


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table's lines (the sections of ``RESULTS.md``)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]

"""Benchmark: start-up, against ``python -c pass`` in the same run.

Wall time and peak RSS of ``ferry --version`` and of ``ferry status`` on a small table (the
demo's 32-row result table), each started as ``sys.executable -m jobs`` (what the console
script runs), against the bare interpreter. Goal: ``ferry --version`` under 0.2 s and 60 MiB.

Peak RSS is each process's own high-water mark (``VmHWM`` of ``/proc/self/status``, written
at exit by a small wrapper that the baseline runs too): the kernel's ``ru_maxrss`` of a child
cannot go below the benchmark process's RSS at the fork (see :mod:`benchmarks.common`), which
is larger than a bare interpreter. Runs of the three commands alternate, round after round; the
medians are quoted.
"""

from __future__ import annotations

import secrets
import shutil
import statistics
import sys
from typing import Any

from benchmarks.common import MIB, WORK, Child, Samples, markdown_table, python_module, run_child

REPEATS = 15
QUICK_REPEATS = 3
GOAL_SECONDS = 0.2
GOAL_MIB = 60.0
#: Prints the process's own peak RSS on stderr when the interpreter exits (after SystemExit too).
_HWM = (
    "import atexit, sys\n"
    "def _hwm():\n"
    "    try:\n"
    "        lines = open('/proc/self/status').read().splitlines()\n"
    "    except OSError:\n"
    "        return\n"
    "    for line in lines:\n"
    "        if line.startswith('VmHWM:'):\n"
    "            sys.stderr.write('\\nVmHWM ' + line.split()[1] + '\\n')\n"
    "atexit.register(_hwm)\n"
)
_AS_FERRY = "import runpy\nsys.argv[0] = 'ferry'\nrunpy.run_module('jobs', run_name='__main__')\n"


def run(*, quick: bool = False) -> dict[str, Any]:
    """Measure the three commands; the figures and the ratios to ``python -c pass``."""
    repeats = QUICK_REPEATS if quick else REPEATS
    work = WORK / f"startup-{secrets.token_hex(4)}"
    try:
        # the demo writes a small, real result table (offline, a few seconds)
        run_child(python_module("jobs", "demo", "--workdir", str(work)))
        table = work / "demo.results.parquet"
        commands: dict[str, list[str]] = {
            "python -c pass": [],
            "ferry --version": ["--version"],
            "ferry status": ["status", str(table)],
        }
        walls: dict[str, list[float]] = {name: [] for name in commands}
        peaks: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(repeats):
            for name, args in commands.items():
                walls[name].append(_wall(args, baseline=not args))
                peaks[name].append(_peak_mib(args, baseline=not args))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    figures: dict[str, Any] = {"repeats": repeats, "commands": {}}
    base_wall = statistics.median(walls["python -c pass"])
    base_peak = statistics.median(peaks["python -c pass"])
    for name in commands:
        wall, peak = statistics.median(walls[name]), statistics.median(peaks[name])
        figures["commands"][name] = {
            "wall_seconds": wall,
            "wall_spread": Samples(walls[name]).spread,
            "peak_rss_mib": peak,
            "peak_spread": Samples(peaks[name]).spread,
            "wall_ratio": wall / base_wall,
            "peak_ratio": peak / base_peak,
        }
        print(
            f"  {name:<16} {wall * 1000:6.0f} ms ({wall / base_wall:4.1f}x python -c pass), "
            f"peak RSS {peak:5.1f} MiB ({peak / base_peak:4.1f}x)",
            flush=True,
        )
    return figures


def _argv(args: list[str], *, baseline: bool, wrapped: bool) -> list[str]:
    if baseline:
        return [sys.executable, "-c", (_HWM if wrapped else "") + "pass"]
    if wrapped:
        return [sys.executable, "-c", _HWM + _AS_FERRY, *args]
    return python_module("jobs", *args)


def _wall(args: list[str], *, baseline: bool) -> float:
    return run_child(_argv(args, baseline=baseline, wrapped=False)).wall_seconds


def _peak_mib(args: list[str], *, baseline: bool) -> float:
    child = run_child(_argv(args, baseline=baseline, wrapped=True))
    return _hwm_kib(child) * 1024 / MIB


def _hwm_kib(child: Child) -> float:
    for line in reversed(child.stderr.splitlines()):
        if line.startswith("VmHWM "):
            return float(line.split()[1])
    return child.max_rss_bytes / 1024  # no /proc: the kernel's figure, floor included


def section(figures: dict[str, Any]) -> list[str]:
    """The section of ``RESULTS.md``."""
    rows = []
    for name, entry in figures["commands"].items():
        goal = met = ""
        if name == "ferry --version":
            goal = f"< {GOAL_SECONDS:g} s and < {GOAL_MIB:g} MiB"
            ok = entry["wall_seconds"] < GOAL_SECONDS and entry["peak_rss_mib"] < GOAL_MIB
            met = "yes" if ok else "**no**"
        rows.append(
            [
                f"`{name}`",
                f"{entry['wall_seconds'] * 1000:.0f} ms (spread {entry['wall_spread']:.0%})",
                f"{entry['wall_ratio']:.1f}x",
                f"{entry['peak_rss_mib']:.1f} MiB",
                f"{entry['peak_ratio']:.1f}x",
                goal,
                met,
            ]
        )
    header = ["command", "wall", "vs `python -c pass`", "peak RSS", "vs `python -c pass`"]
    lines = [
        "## Start-up",
        "",
        "Each command started as `sys.executable -m jobs` (what the `ferry` script runs), "
        f"{figures['repeats']} rounds alternating with `python -c pass`; medians. Peak RSS is "
        "the process's own `VmHWM` at exit (the kernel's `ru_maxrss` of a child has the "
        "benchmark process's RSS as a floor). `ferry --version` and `ferry COMMAND --help` "
        "import neither polars, pyarrow nor aiohttp (`tests/project/test_startup.py` checks it); "
        "`ferry status` imports polars to read the table.",
        "",
    ]
    lines += markdown_table([*header, "goal", "met?"], rows)
    lines += ["", "Reproduce: `.venv/bin/python -m benchmarks startup`.", ""]
    return lines


def headline(figures: dict[str, Any]) -> str:
    """One line for the headline list."""
    version = figures["commands"]["ferry --version"]
    status = figures["commands"]["ferry status"]
    return (
        f"Start-up: `ferry --version` {version['wall_seconds'] * 1000:.0f} ms, "
        f"{version['peak_rss_mib']:.0f} MiB ({version['wall_ratio']:.1f}x / "
        f"{version['peak_ratio']:.1f}x `python -c pass`); `ferry status` on a small table "
        f"{status['wall_seconds'] * 1000:.0f} ms, {status['peak_rss_mib']:.0f} MiB "
        f"({status['wall_ratio']:.1f}x / {status['peak_ratio']:.1f}x)."
    )

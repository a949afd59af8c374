"""Benchmark: client overhead, with zero latency: rows/s and CPU seconds per 1,000 rows.

With the API answering at once, the client's own work per row is what limits it. Against the
``stub`` server (the URL-upload answer without fetch or storage, in its own process) 10,000 rows
at ``C`` = 64 are run by:

* ``ferry run`` (the CLI, a child process): rows/s inside the run and end to end;
* ``pipeline.commands.runner.run`` in a child process, timed around the call: CPU seconds per 1,000
rows
  of the run itself (manifest read, plan, fan-out, journal and the final table write included);
* the bare aiohttp + semaphore loop on asyncio's default event loop, and on uvloop.

The same at ``C`` = 64 against ferry's own ``fileapi`` server (3,000 rows) shows what a real
upload costs the server: there the server sets the pace for every client.
Each client runs three times, alternating with the others, and up to five times while one
client's runs differ by more than 10 %; the median is quoted.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable
from typing import Any

from benchmarks import measure
from benchmarks.common import BENCH_KEY, WORK, fast_dir, spread_of
from benchmarks.measure import Measured
from benchmarks.servers import ServerProcess
from benchmarks.throughput import SPREAD_LIMIT, summarise

CONCURRENCY = 64
STUB_ROWS = 10_000
FILEAPI_ROWS = 3000
REPEATS = 3
#: Rounds are added, up to this many, while a client's runs differ by more than 10 %.
MOST_REPEATS = 5


def _cpu_per_1000(runs: list[Measured]) -> float:
    return sorted(m.cpu_seconds / m.rows * 1000 for m in runs)[len(runs) // 2]


def _stable(runs: dict[str, list[Measured]]) -> bool:
    """Whether every client's rates lie within :data:`SPREAD_LIMIT` of their median."""
    return all(
        spread_of(measured, lambda m: m.run_rate) <= SPREAD_LIMIT for measured in runs.values()
    )


def _round(
    kind: str,
    rows: int,
    clients: dict[str, Callable[..., Measured]],
    repeats: int,
    most: int,
) -> Any:
    runs: dict[str, list[Measured]] = {name: [] for name in clients}
    data = fast_dir() / f"ferry-bench-{secrets.token_hex(4)}"
    work = WORK / f"overhead-{secrets.token_hex(4)}"
    try:
        with ServerProcess(data, BENCH_KEY, latency_ms=0.0, stub=kind == "stub") as server:
            manifest = measure.write_manifest(work / f"overhead-{kind}.csv", server.source, rows)
            rounds = 0
            while rounds < repeats or (rounds < most and not _stable(runs)):
                for name, client in clients.items():
                    runs[name].append(client(server, manifest))
                rounds += 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    figures = {}
    for name, measured in runs.items():
        figures[name] = {**summarise(measured), "cpu_per_1000_rows": _cpu_per_1000(measured)}
    return {"server": kind, "rows": rows, "concurrency": CONCURRENCY, "clients": figures}


def run(*, quick: bool = False) -> dict[str, Any]:
    """The whole benchmark; returns its figures."""
    repeats, most = (1, 1) if quick else (REPEATS, MOST_REPEATS)
    c = CONCURRENCY

    def ferry_cli(server: ServerProcess, manifest: Any) -> Measured:
        return measure.ferry_cli(server, manifest, c)

    def ferry_inproc(server: ServerProcess, manifest: Any) -> Measured:
        return measure.python_client("ferry", server, manifest, c)

    def bare(server: ServerProcess, manifest: Any) -> Measured:
        return measure.python_client("bare", server, manifest, c)

    def bare_uvloop(server: ServerProcess, manifest: Any) -> Measured:
        return measure.python_client("bare", server, manifest, c, uvloop=True)

    print(f"overhead: zero latency, C={c}")
    stub = _round(
        "stub",
        2000 if quick else STUB_ROWS,
        {
            "ferry": ferry_cli,
            "ferry_inproc": ferry_inproc,
            "bare": bare,
            "bare_uvloop": bare_uvloop,
        },
        repeats,
        most,
    )
    _print(stub)
    fileapi = _round(
        "fileapi", 600 if quick else FILEAPI_ROWS, {"ferry": ferry_cli, "bare": bare}, repeats, most
    )
    _print(fileapi)
    return {"stub": stub, "fileapi": fileapi}


def _print(figures: dict[str, Any]) -> None:
    bare = figures["clients"]["bare"]["run_rate"]
    for name, client in figures["clients"].items():
        print(
            f"  {figures['server']:>7} {name:>12}: {client['run_rate']:7.1f} rows/s "
            f"({client['run_rate'] / bare:.2f} of bare), "
            f"{client['cpu_per_1000_rows']:.3f} CPU s / 1,000 rows"
        )

"""Benchmark: throughput against the ``C / L`` limit, beside three baselines.

The API answers every upload after ``L`` = 50 ms; with ``C`` requests in flight no client can
beat ``C / L`` rows per second. At ``C`` = 64 (3,000 rows of tiny sources) the same server
process is used, in turn, by ``ferry run`` (the CLI, as a child process), the bare aiohttp +
semaphore loop, ``xargs -P 64 curl`` and the spec's sequential ``requests`` loop (its first 200
rows only: at 20 rows/s the whole manifest would take two and a half minutes).

The sweep over ``C`` in 8, 32, 64, 128, 256 runs ferry and the bare loop, alternately, against
a fresh server per point, twice against each of two servers:

* ``fileapi``: ferry's own File Upload API (``fileapi.make_app``): each upload really fetches
  its source and stores it; on 2 cores this server, not the client, sets the pace;
* ``stub``: the same endpoint and answer without fetching or storing, so that the figure is the
  client's against ``C / L``.

Points with ``C`` < 64 use fewer rows (``C / L`` x 3 s, at least 500): the time per point stays
near 3 s. A point is run twice, and a third time when the two differ by more than 10 %.
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path
from typing import Any

from benchmarks import measure
from benchmarks.common import BENCH_KEY, WORK, fast_dir, median_of, spread_of
from benchmarks.measure import Measured
from benchmarks.servers import ServerProcess

LATENCY_MS = 50.0
HEADLINE_CONCURRENCY = 64
HEADLINE_ROWS = 3000
REQUESTS_ROWS = 200
SWEEP = (8, 32, 64, 128, 256)
SERVERS = ("fileapi", "stub")
SPREAD_LIMIT = 0.10


def limit_rate(concurrency: int, latency_ms: float = LATENCY_MS) -> float:
    """``C / L`` in rows per second."""
    return concurrency / (latency_ms / 1000)


def rows_for(concurrency: int, most: int = HEADLINE_ROWS) -> int:
    """Rows for a sweep point: about 3 s at the limit, at least 500, at most ``most``."""
    return int(min(most, max(500, round(limit_rate(concurrency) * 3, -2))))


def summarise(runs: list[Measured]) -> dict[str, Any]:
    """Medians of a client's runs (rates, CPU, RSS), their spread and every run's figures."""
    return {
        "client": runs[0].client,
        "rows": runs[0].rows,
        "runs": len(runs),
        "run_rate": median_of(runs, lambda m: m.run_rate),
        "e2e_rate": median_of(runs, lambda m: m.e2e_rate),
        "cpu_seconds": median_of(runs, lambda m: m.cpu_seconds),
        "max_rss_bytes": median_of(runs, lambda m: m.max_rss_bytes),
        "server_cpu_ms_per_row": median_of(runs, lambda m: m.server_cpu_seconds / m.rows * 1000),
        "spread": spread_of(runs, lambda m: m.run_rate),
        "all_run_rates": [round(m.run_rate, 1) for m in runs],
    }


def _server(kind: str) -> ServerProcess:
    data = fast_dir() / f"ferry-bench-{secrets.token_hex(4)}"
    return ServerProcess(data, BENCH_KEY, latency_ms=LATENCY_MS, stub=kind == "stub")


def headline(work: Path, *, quick: bool = False) -> dict[str, Any]:
    """``C`` = 64, 3,000 rows: ferry and the three baselines against one fileapi server."""
    rows = 600 if quick else HEADLINE_ROWS
    repeats = 1 if quick else 3
    clients: dict[str, Any] = {}
    with _server("fileapi") as server:
        manifest = measure.write_manifest(work / "throughput.csv", server.source, rows)
        ferry: list[Measured] = []
        bare: list[Measured] = []
        for _ in range(repeats):  # alternate, so that noise on the machine hits both alike
            ferry.append(measure.ferry_cli(server, manifest, HEADLINE_CONCURRENCY))
            bare.append(measure.python_client("bare", server, manifest, HEADLINE_CONCURRENCY))
        clients["ferry"] = summarise(ferry)
        clients["bare"] = summarise(bare)
        curl = measure.curl_xargs(server, manifest, HEADLINE_CONCURRENCY)
        clients["curl"] = summarise([curl]) if curl else None
        few = 40 if quick else REQUESTS_ROWS
        clients["requests"] = summarise(
            [measure.python_client("requests", server, manifest, 1, limit=few)]
        )
    return {
        "server": "fileapi",
        "latency_ms": LATENCY_MS,
        "concurrency": HEADLINE_CONCURRENCY,
        "rows": rows,
        "limit": limit_rate(HEADLINE_CONCURRENCY),
        "clients": clients,
    }


def _stable(runs: list[Measured]) -> bool:
    """Whether the runs' rates lie within :data:`SPREAD_LIMIT` of their median."""
    return spread_of(runs, lambda m: m.run_rate) <= SPREAD_LIMIT


def sweep_point(kind: str, concurrency: int, work: Path, *, quick: bool) -> dict[str, Any]:
    """ferry (CLI) and the bare loop at one concurrency, alternately, against a fresh server."""
    rows = rows_for(concurrency, 600 if quick else HEADLINE_ROWS)
    least, most = (1, 1) if quick else (2, 3)
    ferry: list[Measured] = []
    bare: list[Measured] = []
    with _server(kind) as server:
        manifest = measure.write_manifest(
            work / f"sweep-{kind}-{concurrency}.csv", server.source, rows
        )
        while len(ferry) < most:
            ferry.append(measure.ferry_cli(server, manifest, concurrency))
            bare.append(measure.python_client("bare", server, manifest, concurrency))
            if len(ferry) >= least and _stable(ferry) and _stable(bare):
                break
    return {
        "server": kind,
        "concurrency": concurrency,
        "rows": rows,
        "limit": limit_rate(concurrency),
        "ferry": summarise(ferry),
        "bare": summarise(bare),
    }


def run(*, quick: bool = False) -> dict[str, Any]:
    """The whole benchmark; returns its figures."""
    work = WORK / f"throughput-{secrets.token_hex(4)}"
    work.mkdir(parents=True, exist_ok=True)
    try:
        print(f"throughput: C={HEADLINE_CONCURRENCY}, L={LATENCY_MS:g} ms, ferry and baselines")
        figures: dict[str, Any] = {"headline": headline(work, quick=quick), "sweep": {}}
        _print_headline(figures["headline"])
        for kind in SERVERS:
            points = []
            for concurrency in SWEEP:
                if kind == "fileapi" and concurrency == HEADLINE_CONCURRENCY:
                    point = _headline_point(figures["headline"])
                else:
                    point = sweep_point(kind, concurrency, work, quick=quick)
                _print_point(point)
                points.append(point)
            figures["sweep"][kind] = points
        return figures
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _headline_point(figures: dict[str, Any]) -> dict[str, Any]:
    """The headline's ferry and bare figures as the fileapi sweep's point at ``C`` = 64."""
    return {
        "server": figures["server"],
        "concurrency": figures["concurrency"],
        "rows": figures["rows"],
        "limit": figures["limit"],
        "ferry": figures["clients"]["ferry"],
        "bare": figures["clients"]["bare"],
    }


def _print_headline(figures: dict[str, Any]) -> None:
    limit = figures["limit"]
    for name, client in figures["clients"].items():
        if client is None:
            print(f"  {name:>8}: skipped (curl or xargs is not installed)")
            continue
        print(
            f"  {name:>8}: {client['run_rate']:7.1f} rows/s in the run, "
            f"{client['e2e_rate']:7.1f} end to end = {client['run_rate'] / limit:.2f} of C/L"
        )


def _print_point(point: dict[str, Any]) -> None:
    ferry, bare, limit = point["ferry"], point["bare"], point["limit"]
    print(
        f"  {point['server']:>7} C={point['concurrency']:<3} rows={point['rows']:<5} "
        f"ferry {ferry['run_rate']:7.1f} rows/s ({ferry['run_rate'] / limit:.2f} of C/L), "
        f"bare {bare['run_rate']:7.1f} ({bare['run_rate'] / limit:.2f}), "
        f"ferry/bare {ferry['run_rate'] / bare['run_rate']:.2f}"
    )

"""One measured run of one client against running servers, and the manifests they read.

Every function here starts the client as a child process (see :func:`benchmarks.common.run_child`)
and returns a :class:`Measured`: rows, rows ok, the time inside the run (the client's own clock,
after start-up), the end-to-end wall time of the process, its CPU time and its peak RSS.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.clients import curl_bodies, curl_command
from benchmarks.common import BENCH_KEY, Child, python_module, run_child
from benchmarks.servers import ServerProcess, source_url

CLIENT_ENV = {"KIE_API_KEY": BENCH_KEY}


@dataclass
class Measured:
    """The figures of one client run."""

    client: str
    rows: int
    ok: int
    run_seconds: float
    wall_seconds: float
    cpu_seconds: float
    max_rss_bytes: int
    server_cpu_seconds: float = 0.0
    median_rss_bytes: int = 0

    @property
    def run_rate(self) -> float:
        """Rows per second inside the run."""
        return self.rows / self.run_seconds if self.run_seconds > 0 else 0.0

    @property
    def e2e_rate(self) -> float:
        """Rows per second of the whole process, start-up included."""
        return self.rows / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def json(self) -> dict[str, Any]:
        """As a plain dict, rates included."""
        return {**asdict(self), "run_rate": self.run_rate, "e2e_rate": self.e2e_rate}


def server_cpu(server: ServerProcess) -> float:
    """CPU seconds used so far by the API server process (all its threads)."""
    import psutil

    try:
        times = psutil.Process(server.pid).cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


def write_manifest(path: Path, source_base: str, rows: int, *, first: int = 0) -> Path:
    """A CSV manifest of ``rows`` tiny sources (a ``url`` column only, as users write them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:  # line by line: this process stays small
        out.write("url\n")
        out.writelines(f"{source_url(source_base, n)}\n" for n in range(first, first + rows))
    return path


def _fresh_results(results: Path) -> None:
    """Remove a result table and what lives beside it, so the next run plans every row."""
    for extra in ("", ".journal", ".lock"):
        with contextlib.suppress(FileNotFoundError):
            results.with_name(results.name + extra).unlink()


def _checked(child: Child, client: str, rows: int, ok: int) -> None:
    if ok != rows:
        raise RuntimeError(
            f"{client}: only {ok} of {rows} rows were uploaded; stderr: {child.stderr[-800:]}"
        )


def ferry_cli(
    server: ServerProcess, manifest: Path, concurrency: int, *, sample_rss: bool = False
) -> Measured:
    """``python -m jobs run MANIFEST --json``: the ``ferry run`` command end to end."""
    results = manifest.with_name(manifest.stem + ".results.parquet")
    _fresh_results(results)
    argv = python_module("jobs", "run", str(manifest), "--base-url", server.api)
    argv += ["--results", str(results), "--concurrency", str(concurrency)]
    argv += ["--no-progress", "--json"]
    before = server_cpu(server)
    child = run_child(argv, env=CLIENT_ENV, sample_rss=sample_rss)
    server_seconds = server_cpu(server) - before
    summary = child.json()
    rows = int(summary["ok"]) + int(summary["failed"])
    _checked(child, "ferry run", rows, int(summary["ok"]))
    _fresh_results(results)
    return Measured(
        client="ferry run (CLI)",
        rows=rows,
        ok=int(summary["ok"]),
        run_seconds=float(summary["elapsed_seconds"]),
        wall_seconds=child.wall_seconds,
        cpu_seconds=child.cpu_seconds,
        max_rss_bytes=child.max_rss_bytes,
        server_cpu_seconds=server_seconds,
        median_rss_bytes=child.median_rss_bytes,
    )


def python_client(
    kind: str,
    server: ServerProcess,
    manifest: Path,
    concurrency: int,
    *,
    uvloop: bool = False,
    limit: int | None = None,
    sample_rss: bool = False,
) -> Measured:
    """One of :mod:`benchmarks.clients` (``bare``, ``requests``, ``ferry`` in-process)."""
    results = manifest.with_name(manifest.stem + ".inproc.results.parquet")
    _fresh_results(results)
    argv = python_module("benchmarks.clients", kind, "--manifest", str(manifest))
    argv += ["--api", server.api, "--concurrency", str(concurrency), "--results", str(results)]
    if uvloop:
        argv.append("--uvloop")
    if limit is not None:
        argv += ["--limit", str(limit)]
    before = server_cpu(server)
    child = run_child(argv, env=CLIENT_ENV, sample_rss=sample_rss)
    server_seconds = server_cpu(server) - before
    figures = child.json()
    names = {
        "bare": "bare aiohttp + semaphore" + (" (uvloop)" if uvloop else ""),
        "requests": "sequential requests (spec example)",
        "ferry": "ferry, pipeline.commands.runner.run in-process",
    }
    _checked(child, names[kind], int(figures["rows"]), int(figures["ok"]))
    _fresh_results(results)
    return Measured(
        client=names[kind],
        rows=int(figures["rows"]),
        ok=int(figures["ok"]),
        run_seconds=float(figures["seconds"]),
        wall_seconds=child.wall_seconds,
        cpu_seconds=float(figures["cpu_seconds"]),
        max_rss_bytes=child.max_rss_bytes,
        server_cpu_seconds=server_seconds,
        median_rss_bytes=child.median_rss_bytes,
    )


def curl_xargs(server: ServerProcess, manifest: Path, concurrency: int) -> Measured | None:
    """``xargs -P C curl``, one curl process per row; None when curl or xargs is missing."""
    from benchmarks.clients import read_urls

    header = manifest.with_name("curl-headers.txt")
    header.touch(mode=0o600)
    header.write_text(f"Authorization: Bearer {BENCH_KEY}\n", encoding="utf-8")
    argv = curl_command(server.api, header, concurrency)
    if argv is None:
        return None
    urls = read_urls(manifest)
    bodies = manifest.with_name("curl-bodies.jsonl")
    bodies.write_text(curl_bodies(urls), encoding="utf-8")
    before = server_cpu(server)
    try:
        child = run_child(argv, stdin_path=bodies, env={"LC_ALL": "C"})
    finally:
        for path in (header, bodies):
            os.unlink(path)
    codes = child.stdout.split()
    ok = sum(1 for code in codes if code == "200")
    _checked(child, "xargs curl", len(urls), ok)
    return Measured(
        client=f"xargs -P {concurrency} curl",
        rows=len(urls),
        ok=ok,
        run_seconds=child.wall_seconds,
        wall_seconds=child.wall_seconds,
        cpu_seconds=child.cpu_seconds,
        max_rss_bytes=child.max_rss_bytes,
        server_cpu_seconds=server_cpu(server) - before,
    )

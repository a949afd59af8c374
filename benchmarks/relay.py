"""Benchmark: relay throughput, ``ferry run --via relay`` against curl doing the same.

Sources of 50 MiB each (on tmpfs) are served by a source server in a process of its own;
ferry's API server, in another, stores the stream uploads on tmpfs. In the same run, over the
same files:

* ``ferry run --via relay --concurrency C`` (the CLI; rows/s and MB/s of ``elapsed_seconds``);
* curl, as a person would relay a file without ferry: ``curl SOURCE | curl -F file=@- API``,
  one such pipeline per file, ``C`` at a time under ``xargs -P C`` (the download streams into
  the upload, as ferry's relay does).

At ``C`` = 1 (one file after another) and ``C`` = 8 (8 files at once). Before ferry's connection
pool was unbounded, ``C`` relays at ``--concurrency C`` each held a source connection and waited for
an upload connection until ``--timeout`` (this benchmark's runs use ``--timeout 60``: such a stall
would show as a minute, or as failed rows).
"""

from __future__ import annotations

import secrets
import shlex
import shutil
import statistics
from pathlib import Path
from typing import Any

from benchmarks import measure
from benchmarks.common import (
    BENCH_KEY,
    MIB,
    WORK,
    fast_dir,
    markdown_table,
    python_module,
    run_child,
)
from benchmarks.servers import ServerProcess

FILE_MIB = 50
CONCURRENCIES = (1, 8)
ROUNDS = 3


def _files(folder: Path, count: int, size_mib: int) -> list[str]:
    """``count`` files of ``size_mib`` MiB, each different; their names."""
    folder.mkdir(parents=True, exist_ok=True)
    block = secrets.token_bytes(MIB)
    names = []
    for i in range(count):
        name = f"big{i:02d}.bin"
        with (folder / name).open("wb") as out:
            out.write(bytes([i]))
            for _ in range(size_mib):
                out.write(block)
        names.append(name)
    return names


def _ferry(server: ServerProcess, manifest: Path, concurrency: int) -> float:
    """Seconds of one ``ferry run --via relay`` (``elapsed_seconds``), every row ok."""
    results = manifest.with_name(f"{manifest.stem}-{secrets.token_hex(3)}.results.csv")
    argv = python_module("jobs", "run", str(manifest), "--base-url", server.api)
    argv += ["--results", str(results), "--via", "relay", "--concurrency", str(concurrency)]
    argv += ["--timeout", "60", "--no-progress", "--json"]
    summary = run_child(argv, env=measure.CLIENT_ENV).json()
    for path in results.parent.glob(results.name + "*"):
        path.unlink()
    if summary["failed"]:
        raise RuntimeError(
            f"ferry relay: {summary['failed']} rows failed: {summary['error_kinds']}"
        )
    return float(summary["elapsed_seconds"])


def _curl(server: ServerProcess, urls: list[str], header: Path, concurrency: int) -> float | None:
    """Seconds of ``curl SOURCE | curl -F file=@- API`` per URL, ``concurrency`` at a time."""
    curl, xargs, sh = shutil.which("curl"), shutil.which("xargs"), shutil.which("sh")
    if curl is None or xargs is None or sh is None:
        return None
    upload = f"{server.api}/api/file-stream-upload"
    pipeline = (
        f'{curl} -sS --fail "$1" | {curl} -sS --fail -o /dev/null -H @{shlex.quote(str(header))} '
        f'-F uploadPath=bench -F "file=@-;filename=$(basename "$1")" {shlex.quote(upload)}'
    )
    listing = header.with_name("urls.txt")
    listing.write_text("".join(f"{url}\n" for url in urls), encoding="utf-8")
    argv = [xargs, "-P", str(concurrency), "-n", "1", sh, "-c", pipeline, "relay"]
    child = run_child(argv, stdin_path=listing)
    return child.wall_seconds


def run(*, quick: bool = False) -> dict[str, Any]:
    """The whole benchmark; returns its figures."""
    size = 8 if quick else FILE_MIB
    rounds = 1 if quick else ROUNDS
    work = WORK / f"relay-{secrets.token_hex(4)}"
    files = fast_dir() / f"ferry-bench-{secrets.token_hex(4)}-sources"
    data = fast_dir() / f"ferry-bench-{secrets.token_hex(4)}"
    figures: dict[str, Any] = {"file_mib": size, "rounds": rounds, "points": []}
    try:
        names = _files(files, max(CONCURRENCIES), size)
        with ServerProcess(data, BENCH_KEY, split=True, files=files) as server:
            header = work / "curl-headers.txt"
            work.mkdir(parents=True, exist_ok=True)
            header.touch(mode=0o600)
            header.write_text(f"Authorization: Bearer {BENCH_KEY}\n", encoding="utf-8")
            for concurrency in CONCURRENCIES:
                urls = [f"{server.source}/{name}" for name in names[:concurrency]]
                manifest = work / f"relay-{concurrency}.csv"
                manifest.write_text("url\n" + "".join(f"{u}\n" for u in urls), encoding="utf-8")
                ferry: list[float] = []
                curl: list[float] = []
                for _ in range(rounds):
                    ferry.append(_ferry(server, manifest, concurrency))
                    took = _curl(server, urls, header, concurrency)
                    if took is not None:
                        curl.append(took)
                point = _point(concurrency, len(urls) * size, ferry, curl)
                figures["points"].append(point)
                print(
                    f"relay: C={concurrency}: ferry {point['ferry_mb_s']:.0f} MB/s, curl "
                    f"{point['curl_mb_s'] or 0:.0f} MB/s ({len(urls)} x {size} MiB)",
                    flush=True,
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(files, ignore_errors=True)
    return figures


def _point(concurrency: int, mib: int, ferry: list[float], curl: list[float]) -> dict[str, Any]:
    megabytes = mib * MIB / 1e6
    ferry_s = statistics.median(ferry)
    curl_s = statistics.median(curl) if curl else None
    return {
        "concurrency": concurrency,
        "mib": mib,
        "megabytes": megabytes,
        "ferry_seconds": ferry,
        "curl_seconds": curl,
        "ferry_mb_s": megabytes / ferry_s,
        "curl_mb_s": megabytes / curl_s if curl_s else None,
    }


def section(figures: dict[str, Any]) -> list[str]:
    """The section of ``RESULTS.md``."""
    lines = [
        "## Relay throughput",
        "",
        f"`ferry run --via relay` over sources of {figures['file_mib']} MiB (tmpfs; the source "
        "server and the API server each in a process of their own), against curl relaying the "
        "same files: `curl SOURCE | curl -F file=@- API` per file, `xargs -P C` of them. "
        f"Median of {figures['rounds']} alternating rounds; ferry's time is its "
        "`elapsed_seconds`, curl's the wall time of the pipelines.",
        "",
    ]
    rows = []
    for point in figures["points"]:
        curl = point["curl_mb_s"]
        rows.append(
            [
                str(point["concurrency"]),
                f"{point['megabytes']:,.0f} MB",
                f"{point['ferry_mb_s']:,.0f} MB/s",
                f"{curl:,.0f} MB/s" if curl else "skipped (no curl)",
                f"{point['ferry_mb_s'] / curl:.2f}" if curl else "",
            ]
        )
    lines += markdown_table(
        ["C (files at once)", "data", "ferry", "curl relay", "ferry / curl"], rows
    )
    lines += ["", "Reproduce: `.venv/bin/python -m benchmarks relay`.", ""]
    return lines


def headline(figures: dict[str, Any]) -> str:
    """One line for the headline of ``RESULTS.md``."""
    parts = [
        f"C = {p['concurrency']}: {p['ferry_mb_s']:,.0f} MB/s"
        + (
            f" ({p['ferry_mb_s'] / p['curl_mb_s']:.2f}x curl piped into curl)"
            if p["curl_mb_s"]
            else ""
        )
        for p in figures["points"]
    ]
    return f"Relay ({figures['file_mib']} MiB sources): " + ", ".join(parts) + "."

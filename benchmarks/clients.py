"""The clients under measurement, each run in a process of its own by the benchmarks.

``python -m benchmarks.clients KIND --manifest CSV --api URL [--concurrency N] [...]`` with the
key in ``KIE_API_KEY``; it prints one JSON object: ``rows``, ``ok``, ``seconds`` (wall time of
the work, after imports) and ``cpu_seconds`` (this process's CPU time over the same span).

Kinds:

* ``bare``: the floor of client overhead. What a careful user writes with aiohttp: one
  ``ClientSession``, a semaphore of ``C``, ``asyncio.gather`` over every URL, the JSON answer
  checked and kept in a list. asyncio's default event loop, unless ``--uvloop``.
* ``requests``: the spec's batch example (``FileUploadAPI.upload_from_url`` in a ``for`` loop):
  one ``requests.post`` per URL, sequential, a new connection each time.
* ``ferry``: ``pipeline.commands.runner.run`` in this process, to time and cost the run itself
without
  the interpreter's start-up (the benchmarks time the ``ferry run`` CLI separately).

The ``xargs -P C curl`` baseline is a shell pipeline: see :func:`curl_command`.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

UPLOAD_PATH = "bench"
URL_ENDPOINT = "/api/file-url-upload"


def read_urls(manifest: Path, limit: int | None = None) -> list[str]:
    """The ``url`` column of a CSV manifest (what every baseline starts from)."""
    with manifest.open(newline="", encoding="utf-8") as fh:
        urls = [row["url"] for row in csv.DictReader(fh)]
    return urls[:limit] if limit is not None else urls


async def bare_loop(urls: list[str], api: str, key: str, concurrency: int) -> int:
    """Upload every URL with at most ``concurrency`` in flight; how many answered ``code`` 200."""
    import aiohttp

    semaphore = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {key}"}
    endpoint = f"{api}{URL_ENDPOINT}"
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def upload(url: str) -> dict[str, Any]:
            async with semaphore:
                body = {"fileUrl": url, "uploadPath": UPLOAD_PATH}
                try:
                    async with session.post(endpoint, json=body, headers=headers) as response:
                        answer: dict[str, Any] = await response.json()
                        return answer
                except (aiohttp.ClientError, TimeoutError) as exc:
                    return {"code": 0, "msg": str(exc)}

        answers = await asyncio.gather(*(upload(url) for url in urls))
    return sum(1 for answer in answers if answer.get("code") == 200)


def requests_loop(urls: list[str], api: str, key: str) -> int:
    """The spec's Python batch example, as written there: sequential ``requests.post``."""
    import requests

    headers = {"Authorization": f"Bearer {key}"}
    ok = 0
    for i, url in enumerate(urls):
        payload = {"fileUrl": url, "uploadPath": UPLOAD_PATH, "fileName": f"download-{i + 1}.txt"}
        try:
            response = requests.post(
                f"{api}{URL_ENDPOINT}",
                headers={**headers, "Content-Type": "application/json"},
                json=payload,
            )
            if not response.ok:
                raise Exception(f"Upload failed: {response.text}")
            ok += response.json().get("code") == 200
        except Exception as exc:  # the spec's example prints the failure and goes on
            print(f"URL {i + 1} upload failed: {exc}")
    return ok


def ferry_in_process(
    manifest: Path, results: Path, api: str, key: str, concurrency: int
) -> tuple[int, int]:
    """``pipeline.commands.runner.run`` on ``manifest``: (rows finished, rows ok)."""
    from pipeline.commands.runner import run
    from pipeline.core.settings import RunSettings

    summary = run(
        RunSettings(
            manifest=manifest,
            results=results,
            base_url=api,
            api_key=key,
            upload_path=UPLOAD_PATH,
            concurrency=concurrency,
        )
    )
    return summary.ok + summary.failed, summary.ok


def curl_command(api: str, header_file: Path, concurrency: int) -> list[str] | None:
    """``xargs -P C curl`` reading one JSON body per line on stdin; None without curl/xargs.

    The key is read by curl from ``header_file`` (``-H @file``), never put in argv.
    """
    curl, xargs = shutil.which("curl"), shutil.which("xargs")
    if curl is None or xargs is None:
        return None
    return [
        xargs,
        "-d",
        "\n",
        "-P",
        str(concurrency),
        "-I",
        "{}",
        curl,
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}\\n",
        "-H",
        f"@{header_file}",
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        "{}",
        f"{api}{URL_ENDPOINT}",
    ]


def curl_bodies(urls: list[str]) -> str:
    """One JSON request body per line, the stdin of :func:`curl_command`."""
    return "".join(
        json.dumps({"fileUrl": url, "uploadPath": UPLOAD_PATH}, separators=(",", ":")) + "\n"
        for url in urls
    )


def _preload(kind: str) -> None:
    """Import what ``kind`` needs before the clock starts: start-up is not the run."""
    import importlib

    modules = {
        "bare": ["aiohttp", "uvloop"],
        "requests": ["requests"],
        "ferry": [
            "pipeline.commands.runner",
            "pipeline.core.settings",
            "uvloop",
            "pyarrow.compute",
        ],
    }
    for name in modules[kind]:
        importlib.import_module(name)


def main(argv: list[str] | None = None) -> None:
    """Run one client and print its JSON figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("kind", choices=("bare", "requests", "ferry"))
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--api", required=True)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--limit", type=int, help="only the first N rows")
    parser.add_argument("--results", type=Path, help="ferry's result table")
    parser.add_argument("--uvloop", action="store_true", help="bare: run on uvloop")
    args = parser.parse_args(argv)
    key = os.environ["KIE_API_KEY"]
    _preload(args.kind)
    urls = read_urls(args.manifest, args.limit) if args.kind != "ferry" else []
    wall, cpu = time.perf_counter(), time.process_time()
    if args.kind == "bare":
        coro = bare_loop(urls, args.api, key, args.concurrency)
        if args.uvloop:
            import uvloop

            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                ok = runner.run(coro)
        else:
            ok = asyncio.run(coro)
        rows = len(urls)
    elif args.kind == "requests":
        ok = requests_loop(urls, args.api, key)
        rows = len(urls)
    else:
        results = args.results or args.manifest.with_suffix(".results.parquet")
        rows, ok = ferry_in_process(args.manifest, results, args.api, key, args.concurrency)
    seconds, cpu_seconds = time.perf_counter() - wall, time.process_time() - cpu
    print(json.dumps({"rows": rows, "ok": ok, "seconds": seconds, "cpu_seconds": cpu_seconds}))


if __name__ == "__main__":
    main()

"""Run ferry's benchmarks and write ``benchmarks/RESULTS.md``.

``python -m benchmarks [NAME ...] [--quick]``, NAME among :data:`BENCHMARKS`: without names,
every benchmark runs. Figures are kept in ``benchmarks/results.json``, one entry
per benchmark, and ``benchmarks/RESULTS.md`` is rendered from it: running one benchmark refreshes
its own section and keeps the others (each says which run it comes from). ``--quick`` runs small
sizes once, to check that everything works; it writes under ``benchmarks/work/`` and leaves
the real results alone.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import (
    concurrency,
    edges,
    final_write,
    journal,
    manifests,
    memory,
    overhead,
    relay,
    report,
    scale,
    startup,
    stores,
    throughput,
)
from benchmarks.common import BENCH_DIR, WORK, fast_dir, loadavg, machine, own_peak_rss_bytes

MIB = 1024 * 1024


def _server(*, quick: bool = False) -> dict[str, Any]:
    from benchmarks import bench_server

    print("server: 1 GiB stream upload, 10 MB Base64 upload, 100 MB URL upload")
    stream_bytes, url_bytes = (64 * MIB, 10_000_000) if quick else (1024 * MIB, 100_000_000)
    figures = bench_server.main(stream_bytes=stream_bytes, url_bytes=url_bytes)
    return {**figures, "url_bytes": url_bytes}


BENCHMARKS: dict[str, Callable[..., dict[str, Any]]] = {
    "throughput": throughput.run,
    "overhead": overhead.run,
    "memory": memory.run,
    "server": _server,
    "startup": startup.run,
    "scale": scale.run,
    "journal": journal.run,
    "final_write": final_write.run,
    "manifests": manifests.run,
    "stores": stores.run,
    "folder": edges.run_folder,
    "large_rows": edges.run_large_rows,
    "relay": relay.run,
    "concurrency": concurrency.run,
}


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks, then write the figures and ``RESULTS.md``."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"any of {', '.join(BENCHMARKS)} (default: all)"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, one run each")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}: choose from {', '.join(BENCHMARKS)}")
    names = args.names or list(BENCHMARKS)
    remove_stale_server_dirs()
    out_dir = WORK / "quick" if args.quick else BENCH_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    store = out_dir / "results.json"
    results: dict[str, Any] = json.loads(store.read_text()) if store.exists() else {}

    command = "python -m benchmarks" + "".join(f" {a}" for a in (argv or sys.argv[1:]))
    info = machine()
    started, load_before = time.monotonic(), loadavg()
    for name in names:
        began = time.monotonic()
        figures = BENCHMARKS[name](quick=args.quick)
        results[name] = {
            "figures": figures,
            "command": command,
            "date": info["date"],
            "seconds": time.monotonic() - began,
        }
        print(
            f"{name}: done in {time.monotonic() - began:.0f} s (this process's peak RSS so far "
            f"{own_peak_rss_bytes() / MIB:.0f} MiB: the floor under its children's)",
            flush=True,
        )
    results["machine"] = info
    results["meta"] = {
        "command": command,
        "wall_seconds": time.monotonic() - started,
        "load_before": load_before,
        "load_after": loadavg(),
    }
    store.write_text(json.dumps(results, indent=1) + "\n")
    target = out_dir / "RESULTS.md"
    target.write_text(report.render(results))
    print(f"wrote {_show(target)} and {_show(store)} in {results['meta']['wall_seconds']:.0f} s")
    return 0


def remove_stale_server_dirs(max_age_seconds: float = 3600.0) -> None:
    """Remove server data left on tmpfs by a benchmark run that was killed (over an hour old)."""
    for path in fast_dir().glob("ferry-bench-*"):
        try:
            if time.time() - path.stat().st_mtime > max_age_seconds:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            continue


def _show(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())

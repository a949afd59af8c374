"""Benchmark: reading the lists other tools write (issue 23), against CSV of the same rows.

1,000,000 rows (``url``, ``id``, ``size``) are written as CSV (the baseline), JSON Lines, a plain
URL list and an aria2 input file (every entry with ``out=`` and ``checksum=md5=``). A child
process opens each with :func:`pipeline.manifest.open_manifest` and reads every normalised batch
(25,000 rows, as ``ferry run`` does); its wall time and peak RSS (the largest of samples taken
every 50 ms) are measured.
JSON Lines and URL lists are read in two passes (their columns come from every line): the JSON
Lines file is also only parsed once, block by block with the types of each block alone (no
normalising: what one pass of parsing costs), and both are also piped through standard input,
which spools them to a temporary file for the second pass. Rounds alternate between the cases;
the median of :data:`ROUNDS` is quoted, as a ratio to CSV's.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import MIB, WORK, loadavg, markdown_table, python_module, run_child

ROWS = 1_000_000
QUICK_ROWS = 50_000
ROUNDS = 3
BATCH_ROWS = 25_000
#: case → (file, --format, through standard input, one pass only)
CASES: dict[str, tuple[str, str | None, bool, bool]] = {
    "csv": ("m.csv", None, False, False),
    "jsonl, each block parsed once, nothing else": ("m.jsonl", None, False, True),
    "jsonl": ("m.jsonl", None, False, False),
    "jsonl on stdin": ("m.jsonl", "jsonl", True, False),
    "url list": ("m.txt", None, False, False),
    "url list on stdin": ("m.txt", "txt", True, False),
    "aria2 input file": ("aria2.txt", None, False, False),
}


def write_files(folder: Path, rows: int) -> None:
    """The same rows in every format."""
    import polars as pl

    folder.mkdir(parents=True, exist_ok=True)
    frame = pl.DataFrame(
        {
            "url": [f"https://files.example.com/photos/{n:07d}/image.jpg" for n in range(rows)],
            "id": [f"row-{n:07d}" for n in range(rows)],
            "size": [float(n % 9000 + 100) if n % 7 else None for n in range(rows)],
        }
    )
    frame.write_csv(folder / "m.csv")
    frame.write_ndjson(folder / "m.jsonl")
    (folder / "m.txt").write_text("\n".join(frame["url"]) + "\n")
    digest = "0123456789abcdef0123456789abcdef"
    (folder / "aria2.txt").write_text(
        "".join(
            f"{url}\n  out=image-{n:07d}.jpg\n  checksum=md5={digest}\n"
            for n, url in enumerate(frame["url"])
        )
    )


def read_main(argv: list[str]) -> int:
    """The child: ``write FOLDER ROWS`` writes the files; ``SOURCE FORMAT ONE_PASS`` reads one
    manifest to the end and prints ``{"rows": n}``."""
    if argv[0] == "write":  # in a child, so that the parent's RSS stays small
        write_files(Path(argv[1]), int(argv[2]))
        return 0
    source, fmt, one_pass = argv[0], argv[1] or None, argv[2] == "1"
    if one_pass:
        return _one_pass(Path(source))
    from pipeline.manifest import ManifestOptions, open_manifest

    rows = 0
    with open_manifest(source, options=ManifestOptions(format=fmt)) as opened:  # type: ignore[arg-type]
        for batch in opened.batches(BATCH_ROWS):
            rows += batch.height
    print(json.dumps({"rows": rows}))
    return 0


def _one_pass(path: Path) -> int:
    """JSON Lines parsed once, block by block with each block's own types (the floor)."""
    from pipeline.manifest import jsonl, textio

    rows = 0
    with path.open("rb") as raw:
        for block in textio.blocks(raw.read, str(path), "jsonl", quoted=False):
            rows += jsonl._parse(str(path), block).height
    print(json.dumps({"rows": rows}))
    return 0


def run(*, quick: bool = False) -> dict[str, Any]:
    """Every case, :data:`ROUNDS` alternating rounds; medians and ratios to CSV."""
    rows = QUICK_ROWS if quick else ROWS
    folder = WORK / "manifests"
    run_child(python_module("benchmarks.manifests", "write", str(folder), str(rows)))
    print(f"manifests: {rows:,} rows in each format, {ROUNDS} rounds, load {loadavg()}")
    seconds: dict[str, list[float]] = {case: [] for case in CASES}
    rss: dict[str, list[float]] = {case: [] for case in CASES}
    load_before = loadavg()
    for _ in range(1 if quick else ROUNDS):
        for case, (name, fmt, piped, one_pass) in CASES.items():
            path = folder / name
            argv = python_module(
                "benchmarks.manifests", "-" if piped else str(path), fmt or "", str(int(one_pass))
            )
            started = time.perf_counter()
            child = run_child(argv, stdin_path=path if piped else None, sample_rss=True)
            assert child.json()["rows"] == rows, child.stderr
            seconds[case].append(time.perf_counter() - started)
            # the largest sample: ru_maxrss of a forked child starts at its parent's peak
            rss[case].append(max([*child.rss_samples, 0]) / MIB)
    figures: dict[str, Any] = {
        "rows": rows,
        "rounds": 1 if quick else ROUNDS,
        "bytes": {case: (folder / CASES[case][0]).stat().st_size for case in CASES},
        "seconds": {case: statistics.median(v) for case, v in seconds.items()},
        "max_rss_mib": {case: statistics.median(v) for case, v in rss.items()},
        "load_before": load_before,
        "load_after": loadavg(),
    }
    for case in CASES:
        print(f"  {case}: {figures['seconds'][case]:.2f} s, {figures['max_rss_mib'][case]:.0f} MiB")
    return figures


def section(figures: dict[str, Any]) -> list[str]:
    """The section of ``RESULTS.md``."""
    base_s, base_m = figures["seconds"]["csv"], figures["max_rss_mib"]["csv"]
    rows = [
        [
            case,
            f"{figures['bytes'][case] / 1e6:.0f} MB",
            f"{figures['seconds'][case]:.2f} s",
            f"{figures['seconds'][case] / base_s:.2f}x",
            f"{figures['max_rss_mib'][case]:.0f} MiB",
            f"{figures['max_rss_mib'][case] / base_m:.2f}x",
        ]
        for case in figures["seconds"]
    ]
    lines = [
        "## Reading the lists other tools write",
        "",
        f"{figures['rows']:,} rows (`url`, `id`, `size` with gaps) in each format, read to the "
        "end by `open_manifest(...).batches(25_000)` in a child process; median of "
        f"{figures['rounds']} alternating rounds, ratios to CSV of the same rows (load average "
        f"{figures['load_before']} before, {figures['load_after']} after).",
        "",
    ]
    lines += markdown_table(["manifest", "size", "time", "vs CSV", "peak RSS", "vs CSV"], rows)
    lines += [
        "",
        "JSON Lines take their columns from every line in two passes: the price is the first "
        "pass, one more parse of every block (the `parsed once` row); memory stays that of a "
        "block and a batch, and standard input is spooled to a temporary file rather than "
        "held. A plain URL list's first pass is one scan of the bytes; an aria2 file's first "
        "pass classifies every line, as its second pass does.",
        "",
    ]
    return lines


if __name__ == "__main__":
    sys.exit(read_main(sys.argv[1:]))

"""``benchmarks/RESULTS.md`` from the figures of the last run of each benchmark.

Each table row is a figure, its baseline, the ratio, the goal and whether it was met. A ratio
that misses ``>= 1.0`` by less than the runs' own spread is marked "within noise", not "yes".
"""

from __future__ import annotations

import re
from typing import Any

from benchmarks import (
    concurrency,
    edges,
    final_write,
    journal,
    manifests,
    relay,
    scale,
    startup,
    stores,
)
from benchmarks.common import markdown_table

COMMAND = ".venv/bin/python -m benchmarks"
#: The order of the machine table and of the plan's counts, whatever the order in the JSON.
MACHINE_KEYS = (
    "date",
    "cpu",
    "memory",
    "os",
    "python",
    "ferry",
    "aiohttp",
    "uvloop",
    "polars",
    "pyarrow",
    "requests",
    "curl",
    "server data dir",
)
PLAN_CATEGORIES = ("new", "retry", "refresh", "skip")


def _rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def _pct(value: float) -> str:
    return f"{100 * value:.0f} %"


def _met(ratio: float, goal: float, spread: float = 0.0) -> str:
    if ratio >= goal:
        return "yes"
    if ratio >= goal * (1 - spread):
        return f"within noise (runs spread {_pct(spread)})"
    return "**no**"


_table = markdown_table


def machine_section(machine: dict[str, str], meta: dict[str, Any]) -> list[str]:
    """The machine, the software and how long the run took."""
    lines = ["## Machine", ""]
    names = [
        *[name for name in MACHINE_KEYS if name in machine],
        *sorted(set(machine) - set(MACHINE_KEYS)),
    ]
    lines += _table(["", ""], [[name, machine[name]] for name in names])
    lines += [
        "",
        f"Run: `{meta['command']}`, {meta['wall_seconds']:.0f} s wall in all; 1-minute load "
        f"average {meta['load_before']} before, {meta['load_after']} after (other work on the "
        "machine shows as spread between repeated runs).",
        "",
    ]
    return lines


def throughput_section(figures: dict[str, Any]) -> list[str]:
    """Benchmark: the headline table, then the two sweeps."""
    head = figures["headline"]
    limit, c, latency = head["limit"], head["concurrency"], head["latency_ms"]
    clients = head["clients"]
    ferry, bare = clients["ferry"], clients["bare"]
    lines = [
        "## Throughput against the limit",
        "",
        f"`C` = {c} requests in flight, `L` = {latency:g} ms per call: `C / L` = "
        f"{_rate(limit)} rows/s. {head['rows']:,} rows of tiny sources; every client talks to "
        "the same ferry File Upload API server process (`fileapi`, data on tmpfs), which really "
        "fetches each source from a source server in that process and stores it. "
        '"In the run" is the client\'s own clock after start-up (for ferry: `elapsed_seconds` '
        "of `ferry run --json`: the fan-out, from the first request to the last row journaled; "
        'the bare loop times its session and its `gather`); "end to end" is the child process from '
        "exec to exit (interpreter start, imports, manifest read, plan, final table write).",
        "",
    ]
    rows = []
    names = {
        "ferry": "`ferry run` (CLI)",
        "bare": "bare aiohttp + semaphore (asyncio)",
        "curl": f"`xargs -P {c} curl`",
        "requests": "spec's sequential `requests` loop",
    }
    for key, name in names.items():
        client = clients.get(key)
        if client is None:
            rows.append([name, "skipped: curl or xargs not installed", "", "", "", ""])
            continue
        rows.append(
            [
                name,
                f"{client['rows']:,}",
                _rate(client["run_rate"]),
                _rate(client["e2e_rate"]),
                f"{client['run_rate'] / limit:.2f}",
                f"{client['cpu_seconds'] / client['rows'] * 1000:.2f}",
                f"{client['server_cpu_ms_per_row']:.2f}",
                f"{client['runs']} ({_pct(client['spread'])})",
            ]
        )
    lines += _table(
        [
            "client",
            "rows",
            "rows/s in the run",
            "rows/s end to end",
            "of C / L",
            "client CPU ms / row",
            "server CPU ms / row",
            "runs (spread)",
        ],
        rows,
    )
    server_ms = ferry["server_cpu_ms_per_row"]
    lines += [
        "",
        f"Client CPU is the whole child process (start-up included). The server process spent "
        f"{server_ms:.2f} ms of CPU per upload (its threads and the source server included): "
        f"on one core that is at most ~{1000 / server_ms:,.0f} uploads/s, against `C / L` = "
        f"{_rate(limit)}. With 2 cores shared by client and server, the server sets the pace "
        "here; the `stub` rows of the sweep below show the clients without it.",
    ]
    lines += ["", "Goals at `C` = 64:", ""]
    goals = [
        [
            "ferry rows/s in the run",
            f"bare loop {_rate(bare['run_rate'])}",
            f"{ferry['run_rate'] / bare['run_rate']:.2f}",
            ">= 1.0",
            _met(ferry["run_rate"] / bare["run_rate"], 1.0, max(ferry["spread"], bare["spread"])),
        ],
        [
            "ferry rows/s end to end",
            f"bare loop {_rate(bare['e2e_rate'])}",
            f"{ferry['e2e_rate'] / bare['e2e_rate']:.2f}",
            "(start-up included)",
            "",
        ],
        [
            "ferry rows/s in the run",
            f"C / L {_rate(limit)}",
            f"{ferry['run_rate'] / limit:.2f}",
            ">= 0.9 where the bare loop reaches 0.9",
            _limit_goal(ferry["run_rate"], bare["run_rate"], limit),
        ],
    ]
    for key in ("curl", "requests"):
        client = clients.get(key)
        if client is not None:
            goals.append(
                [
                    "ferry rows/s end to end",
                    f"{names[key]} {_rate(client['e2e_rate'])}",
                    f"{ferry['e2e_rate'] / client['e2e_rate']:.1f}",
                    "far ahead",
                    "yes" if ferry["e2e_rate"] > 2 * client["e2e_rate"] else "**no**",
                ]
            )
    lines += _table(["figure", "baseline", "ratio", "goal", "met?"], goals)
    lines += ["", "### Concurrency sweep", ""]
    lines += [
        "ferry (`ferry run` CLI, rows/s in the run) against the bare loop, alternately, on a "
        "fresh server per point. `fileapi` is ferry's real server; `stub` answers the same JSON "
        "after the same 50 ms without fetching or storing anything, so there the client, not the "
        "server, meets `C / L`. Rows per point: `C / L` x 3 s, at least 500, at most 3,000 "
        "(so 500 at `C` = 8 and 1,900 at `C` = 32).",
        "",
    ]
    rows = []
    for kind, points in figures["sweep"].items():
        for point in points:
            f, b, lim = point["ferry"], point["bare"], point["limit"]
            spread = max(f["spread"], b["spread"])
            rows.append(
                [
                    kind,
                    str(point["concurrency"]),
                    f"{point['rows']:,}",
                    _rate(lim),
                    _rate(f["run_rate"]),
                    _rate(b["run_rate"]),
                    f"{f['run_rate'] / lim:.2f}",
                    f"{b['run_rate'] / lim:.2f}",
                    f"{f['run_rate'] / b['run_rate']:.2f}",
                    _met(f["run_rate"] / b["run_rate"], 1.0, spread),
                    _limit_goal(f["run_rate"], b["run_rate"], lim),
                    f"{f['server_cpu_ms_per_row']:.2f}",
                    f"{f['runs']}+{b['runs']} ({_pct(spread)})",
                ]
            )
    lines += _table(
        [
            "server",
            "C",
            "rows",
            "C / L",
            "ferry rows/s",
            "bare rows/s",
            "ferry of C/L",
            "bare of C/L",
            "ferry / bare",
            "ferry >= bare?",
            ">= 0.9 C/L where bare is?",
            "server CPU ms / row",
            "runs (spread)",
        ],
        rows,
    )
    lines += [
        "",
        "Reproduce: `" + COMMAND + " throughput`.",
        "",
    ]
    return lines


def _limit_goal(ferry: float, bare: float, limit: float) -> str:
    if bare / limit < 0.9:
        return f"n/a (bare reaches {bare / limit:.2f})"
    return "yes" if ferry / limit >= 0.9 else "**no**"


def overhead_section(figures: dict[str, Any]) -> list[str]:
    """Benchmark: rows/s and CPU per 1,000 rows at zero latency."""
    lines = [
        "## Client overhead (zero latency)",
        "",
        "The server answers at once, so each client's own work per row sets its pace. CPU "
        "seconds per 1,000 rows: for the in-process rows, the client process's CPU time over "
        "the run itself (after imports); for the CLI, the whole child process (kernel "
        "`rusage`: interpreter start and imports included).",
        "",
    ]
    names = {
        "ferry": "`ferry run` (CLI)",
        "ferry_inproc": "ferry, `pipeline.commands.runner.run` in-process",
        "bare": "bare aiohttp + semaphore (asyncio)",
        "bare_uvloop": "bare aiohttp + semaphore (uvloop)",
    }
    goals = []
    for kind in ("stub", "fileapi"):
        block = figures[kind]
        clients = block["clients"]
        bare = clients["bare"]
        lines += [
            f"### Against `{kind}`, {block['rows']:,} rows, `C` = {block['concurrency']}",
            "",
        ]
        rows = []
        for key in [name for name in names if name in clients]:
            client = clients[key]
            rows.append(
                [
                    names[key],
                    _rate(client["run_rate"]),
                    _rate(client["e2e_rate"]),
                    f"{client['run_rate'] / bare['run_rate']:.2f}",
                    f"{client['cpu_per_1000_rows']:.3f}",
                    f"{client['server_cpu_ms_per_row'] * 1000:.0f} µs",
                    f"{client['runs']} ({_pct(client['spread'])})",
                ]
            )
        lines += _table(
            [
                "client",
                "rows/s in the run",
                "rows/s end to end",
                "of bare (asyncio)",
                "CPU s / 1,000 rows",
                f"server ({kind}) CPU / row",
                "runs (spread)",
            ],
            rows,
        )
        lines.append("")
        ferry = clients["ferry"]
        spread = max(ferry["spread"], bare["spread"])
        goals.append(
            [
                f"ferry rows/s in the run ({kind})",
                f"bare loop {_rate(bare['run_rate'])}",
                f"{ferry['run_rate'] / bare['run_rate']:.2f}",
                ">= 1.0",
                _met(ferry["run_rate"] / bare["run_rate"], 1.0, spread),
            ]
        )
        if "ferry_inproc" in clients:
            inproc = clients["ferry_inproc"]
            cpu_ratio = inproc["cpu_per_1000_rows"] / bare["cpu_per_1000_rows"]
            goals.append(
                [
                    f"ferry CPU s / 1,000 rows, in-process ({kind})",
                    f"bare loop {bare['cpu_per_1000_rows']:.3f}",
                    f"{cpu_ratio:.2f}",
                    "<= 1.1 (ferry also plans, journals each row and writes the table)",
                    ("yes" if cpu_ratio <= 1.1 else "**no**") if kind == "stub" else "",
                ]
            )
    lines += ["Goals:", ""]
    lines += _table(["figure", "baseline", "ratio", "goal", "met?"], goals)
    lines += ["", "Reproduce: `" + COMMAND + " overhead`.", ""]
    return lines


#: The issue's goal for peak RSS at 50,000 rows over peak RSS at 5,000 rows.
MEMORY_GOAL = 1.3


def _mib(figures: dict[str, Any] | None, figure: str, floor: float) -> str:
    if not figures:
        return "skipped"
    # A peak within 1 MiB of the floor may be the benchmark process's RSS, not the child's.
    at_floor = figure == "max_rss_mib" and figures[figure] <= floor + 1
    return f"{figures[figure]:.0f} MiB" + (" (at the floor)" if at_floor else "")


def _times(count: int) -> str:
    return {1: "once", 2: "twice"}.get(count, f"{count} times")


def _ratio(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "n/a"


def memory_section(figures: dict[str, Any]) -> list[str]:
    """Benchmark: peak and median RSS over three manifest sizes; planning a million rows."""
    rss, plan = figures["rss"], figures["plan"]
    sizes = [int(size) for size in rss["sizes"]]
    ratios = rss["ratios"]
    first, later = ratios[0], ratios[-1]
    lines = [
        "## Memory and scale",
        "",
        "Peak RSS is the kernel's `ru_maxrss` of the child process; the median RSS is that of "
        "samples taken every 50 ms from start to exit (start-up included). No child can report "
        f"a peak under {rss['rss_floor_mib']:.0f} MiB, the benchmark process's own RSS (Linux "
        "keeps `ru_maxrss` across `execve`: see `benchmarks/common.py`). The runs use the "
        f"`stub` server at zero latency, `C` = 64. `ferry run` checkpoints every "
        f"{rss['checkpoint_rows']:,} finished rows (or 60 s): it writes the rows finished since "
        "the previous checkpoint into a file beside the table, and the table itself once, at the "
        "end, streamed; it never holds the whole table. "
        f"ferry ran {_times(rss['ferry_repeats'])} per size, the sizes in turn, and the medians "
        "are quoted; "
        f"the bare loop once per size up to {rss['bare_max_rows']:,} rows.",
        "",
    ]
    header = ["client", "RSS", *[f"{size:,} rows" for size in sizes]]
    header += [f"{r['large']:,} / {r['small']:,}" for r in ratios]
    header.append("runs (spread of peaks)")
    rows = []
    clients = (
        ("ferry", "`ferry run` (CLI)", ("peak", "median")),
        ("dry_run", "`ferry run --dry-run` (plan only)", ("peak",)),
        ("bare", "bare aiohttp loop", ("peak", "median")),
    )
    for key, name, shown in clients:
        if key not in rss:
            continue
        for figure, label in (("max_rss_mib", "peak"), ("median_rss_mib", "median")):
            if label not in shown:
                continue
            by_size = [rss[key].get(str(size)) for size in sizes]
            floor = rss["rss_floor_mib"]
            row = [name, label, *[_mib(entry, figure, floor) for entry in by_size]]
            row += [_ratio(r[f"{key}_{label}"]) for r in ratios]
            if label == "peak":
                measured = [entry for entry in by_size if entry]
                runs = "/".join(str(entry["runs"]) for entry in measured)
                spread = max(entry.get("spread", 0.0) for entry in measured)
                row.append(f"{runs} ({_pct(spread)})")
            else:
                row.append("")
            rows.append(row)
    lines += _table(header, rows)
    lines += ["", *_memory_reading(rss, first, later), ""]
    counts = ", ".join(f"{name} {plan['plan'][name]:,}" for name in PLAN_CATEGORIES)
    lines += [
        f"Planning: `ferry run plan.parquet --results plan.results.parquet --dry-run --json`, "
        f"a {plan['rows']:,}-row Parquet manifest (no `id` column: every identity is hashed; "
        f"{plan['manifest_mib']:.1f} MiB) against a {plan['rows']:,}-row result table "
        f"({plan['results_mib']:.1f} MiB): {counts}. Wall time of the whole command, start-up "
        f"included, median of {len(plan['all_wall_seconds'])} runs "
        f"({', '.join(f'{w:.2f}' for w in plan['all_wall_seconds'])} s). The inputs are written "
        "by a child process of their own, so that the floor under the peak RSS stays the "
        f"benchmark process's {plan['rss_floor_mib']:.0f} MiB.",
        "",
        "Goals:",
        "",
    ]
    goals = []
    for ratio in ratios:
        small, large = str(ratio["small"]), str(ratio["large"])
        for figure, label in (("max_rss_mib", "peak"), ("median_rss_mib", "median")):
            value = ratio[f"ferry_{label}"]
            goals.append(
                [
                    f"ferry {label} RSS, {int(large):,} rows",
                    f"{int(small):,} rows: {rss['ferry'][small][figure]:.0f} MiB",
                    f"{value:.2f}",
                    f"< {MEMORY_GOAL:g}" + ("" if ratio is first else " (same goal)"),
                    "yes" if value < MEMORY_GOAL else "**no**",
                ]
            )
    goals += [
        [
            f"plan {plan['rows']:,} x {plan['rows']:,}: wall time",
            "",
            f"{plan['wall_seconds']:.2f} s",
            "< 5 s",
            "yes" if plan["wall_seconds"] < 5 else "**no**",
        ],
        [
            f"plan {plan['rows']:,} x {plan['rows']:,}: peak RSS",
            "",
            f"{plan['max_rss_mib']:.0f} MiB",
            "< 1,536 MiB",
            "yes" if plan["max_rss_mib"] < 1536 else "**no**",
        ],
    ]
    lines += _table(["figure", "baseline", "value / ratio", "goal", "met?"], goals)
    lines += ["", "Reproduce: `" + COMMAND + " memory`.", ""]
    return lines


def _memory_reading(rss: dict[str, Any], first: dict[str, Any], later: dict[str, Any]) -> list[str]:
    """What the RSS table says, worded from the figures themselves."""
    small, middle, large = f"{first['small']:,}", f"{first['large']:,}", f"{later['large']:,}"
    peak, grown = first["ferry_peak"], later["ferry_peak"]
    per_row = later["ferry_peak_bytes_per_row"]
    plan_per_row = later.get("dry_run_peak_bytes_per_row")
    every = rss["checkpoint_rows"]
    # The smaller run ends before its first checkpoint, the larger one goes through several.
    warm_up = first["small"] < every <= first["large"] // 2
    sentences = []
    if peak < MEMORY_GOAL:
        sentences.append(f"ferry's peak at {middle} rows is {peak:.2f}x that at {small}: met.")
    else:
        sentences.append(
            f"ferry's peak at {middle} rows is {peak:.2f}x that at {small}, above the goal of "
            f"{MEMORY_GOAL:g}."
        )
        if warm_up and grown < peak:
            sentences.append(
                f"Most of that step is a warm-up: {small} rows finish before the first "
                f"checkpoint (every {every:,} rows), so that run writes the table once, at the "
                f"end, while a run of {middle} rows goes through several, and the allocators' "
                "arenas (polars' jemalloc, pyarrow's mimalloc) grow over the first few of them."
            )
    if grown < 1.1:
        flat = "the peak is nearly flat"
    else:
        flat = "the peak grows more slowly" if grown < peak else "the peak grows further"
    sentences.append(
        f"From {middle} to {large} rows {flat}: {grown:.2f}, {per_row:,.0f} bytes of peak RSS "
        "per further row (the version that folded the journal into a table held in memory grew "
        "by ~1.9 KB per row: 167 MiB at 5,000 rows, 248 MiB at 50,000; this file at commit "
        "9a31cbb)."
    )
    if plan_per_row is not None:
        dry = rss["dry_run"][str(later["large"])]["max_rss_mib"]
        run = rss["ferry"][str(later["large"])]["max_rss_mib"]
        if plan_per_row >= per_row / 2:
            whose = (
                f"{'more than' if plan_per_row > per_row else 'about as much as'} the run's "
                "peak does: the growth that remains is the plan's (the manifest read, its "
                "identities hashed, the rows to do held for the run)"
            )
        else:
            whose = f"{_pct(plan_per_row / per_row)} of the run's growth"
        sentences.append(
            f"Planning alone (`--dry-run`, no upload) grows by {plan_per_row:,.0f} bytes per row "
            f"over the same sizes, {whose}. At {large} rows its peak, {dry:.0f} MiB, is "
            f"{'under' if dry < run else 'above'} the run's ({run:.0f} MiB); for much larger "
            "manifests planning will set the peak (see the million-row plan below)."
        )
    sentences.append(
        f"The median RSS: {first['ferry_median']:.2f}, then {later['ferry_median']:.2f}"
        + (
            f"; at {small} rows it is the fan-out alone, from {middle} on checkpoints run while "
            "rows are in flight."
            if warm_up
            else "."
        )
    )
    loop = "The bare loop, which creates every task up front and keeps every answer"
    if later.get("bare_peak") is not None:
        sentences.append(f"{loop}: {first['bare_peak']:.2f}, then {later['bare_peak']:.2f}.")
    else:
        sentences.append(f"{loop}: {first['bare_peak']:.2f}; not run at {large} rows.")
    return [" ".join(sentences)]


def server_section(figures: dict[str, Any]) -> list[str]:
    """Benchmark: ``benchmarks/bench_server.py``'s figures."""
    size = figures["stream_bytes"] / 1024**3
    lines = [
        "## The server",
        "",
        "From `benchmarks/bench_server.py` (the server in a child process, uploads sent from "
        "a generator, RSS sampled every 20 ms with psutil).",
        "",
    ]
    goals = [
        [
            f"{size:g} GiB stream upload",
            f"file copy on the same disk {figures['file_copy_mb_per_s']:,.0f} MB/s",
            f"{figures['stream_mb_per_s']:,.0f} MB/s = {figures['stream_vs_copy_ratio']:.2f}",
            "next to a file copy",
            "reported",
        ],
        [
            f"{size:g} GiB stream upload: server RSS growth",
            f"baseline RSS {figures['server_rss_baseline_mib']:.0f} MiB",
            f"{figures['stream_rss_growth_mib']:.1f} MiB",
            "< 32 MiB",
            "yes" if figures["stream_rss_growth_mib"] < 32 else "**no**",
        ],
        [
            "10 MB Base64 upload (the spec's cap)",
            "",
            f"{figures['base64_10mb_seconds']:.2f} s, RSS growth "
            f"{figures['base64_10mb_rss_growth_mib']:.0f} MiB",
            "",
            "reported",
        ],
        [
            f"{figures.get('url_bytes', 100_000_000) / 1e6:g} MB URL upload",
            "",
            f"{figures['url_100mb_seconds']:.2f} s = {figures['url_100mb_mb_per_s']:,.0f} MB/s, "
            f"RSS growth {figures['url_100mb_rss_growth_mib']:.0f} MiB",
            "",
            "reported",
        ],
    ]
    lines += _table(["figure", "baseline", "value / ratio", "goal", "met?"], goals)
    lines += ["", "Reproduce: `" + COMMAND + " server`.", ""]
    return lines


SECTIONS = {
    "throughput": throughput_section,
    "overhead": overhead_section,
    "memory": memory_section,
    "server": server_section,
    "startup": startup.section,
    "scale": scale.section,
    "journal": journal.section,
    "manifests": manifests.section,
    "final_write": final_write.section,
    "stores": stores.section,
    "folder": edges.folder_section,
    "large_rows": edges.large_rows_section,
    "relay": relay.section,
    "concurrency": concurrency.section,
}


def headline(results: dict[str, Any]) -> list[str]:
    """The headline ratios, one line each, from whichever sections are present."""
    lines = []
    if "throughput" in results:
        figures = results["throughput"]["figures"]
        head = figures["headline"]
        clients, limit = head["clients"], head["limit"]
        ferry = clients["ferry"]
        parts = [
            f"Throughput, `C` = {head['concurrency']}, `L` = {head['latency_ms']:g} ms, "
            f"{head['rows']:,} rows, ferry's own server: ferry {_rate(ferry['run_rate'])} rows/s "
            f"= {ferry['run_rate'] / limit:.2f} of `C / L`; "
            f"{ferry['run_rate'] / clients['bare']['run_rate']:.2f}x the bare aiohttp loop"
        ]
        for key, name in (("curl", "`xargs curl`"), ("requests", "the spec's `requests` loop")):
            if clients.get(key):
                parts.append(f"{ferry['e2e_rate'] / clients[key]['e2e_rate']:.1f}x {name}")
        lines.append(", ".join(parts) + " (end to end).")
        stub = {p["concurrency"]: p for p in figures["sweep"].get("stub", [])}
        if stub:
            ratios = ", ".join(
                f"{c}: {p['ferry']['run_rate'] / p['limit']:.2f}"
                f" ({p['ferry']['run_rate'] / p['bare']['run_rate']:.2f}x bare)"
                for c, p in stub.items()
            )
            lines.append(
                f"Against the stub server (no server-side work), ferry of `C / L` by `C`: {ratios}."
            )
    if "overhead" in results:
        clients = results["overhead"]["figures"]["stub"]["clients"]
        inproc = clients.get("ferry_inproc", clients["ferry"])
        lines.append(
            f"Zero latency: ferry {_rate(clients['ferry']['run_rate'])} rows/s = "
            f"{clients['ferry']['run_rate'] / clients['bare']['run_rate']:.2f}x the bare loop; "
            f"{inproc['cpu_per_1000_rows']:.3f} CPU s per 1,000 rows "
            f"(bare loop {clients['bare']['cpu_per_1000_rows']:.3f})."
        )
    if "memory" in results:
        figures = results["memory"]["figures"]
        rss, plan = figures["rss"], figures["plan"]
        peaks = " / ".join(f"{rss['ferry'][str(size)]['max_rss_mib']:.0f}" for size in rss["sizes"])
        sizes = " / ".join(f"{size:,}" for size in rss["sizes"])
        parts = []
        for ratio in rss["ratios"]:
            goal = ""
            if ratio is rss["ratios"][0]:
                met = "met" if ratio["ferry_peak"] < MEMORY_GOAL else "**not met**"
                goal = f"goal < {MEMORY_GOAL:g}: {met}; "
            parts.append(
                f"{ratio['large']:,} / {ratio['small']:,} = {ratio['ferry_peak']:.2f} "
                f"({goal}bare loop {_ratio(ratio['bare_peak'])})"
            )
        lines.append(
            f"Memory: ferry peak RSS {peaks} MiB at {sizes} rows: {', '.join(parts)}. "
            f"Planning {plan['rows']:,} x "
            f"{plan['rows']:,} rows: {plan['wall_seconds']:.1f} s, "
            f"{plan['max_rss_mib']:,.0f} MiB peak."
        )
    if "server" in results:
        figures = results["server"]["figures"]
        lines.append(
            f"Server: {figures['stream_bytes'] / 1024**3:g} GiB stream upload at "
            f"{figures['stream_mb_per_s']:,.0f} MB/s ({figures['stream_vs_copy_ratio']:.2f} of a "
            f"file copy), RSS growth {figures['stream_rss_growth_mib']:.1f} MiB."
        )
    if "startup" in results:
        lines.append(startup.headline(results["startup"]["figures"]))
    if "scale" in results:
        lines.append(scale.headline(results["scale"]["figures"]))
    if "relay" in results:
        lines.append(relay.headline(results["relay"]["figures"]))
    if "concurrency" in results:
        lines.append(concurrency.headline(results["concurrency"]["figures"]))
    if "stores" in results:
        lines.append(stores.headline(results["stores"]["figures"]))
    return lines + edges.headline(results)


def _numbered(lines: list[str], number: int) -> list[str]:
    """A section's lines with its title numbered ``number`` (its place in ``RESULTS.md``)."""
    title = re.sub(r"^## (\d+\. )?", f"## {number}. ", lines[0])
    return [title, *lines[1:]]


def render(results: dict[str, Any]) -> str:
    """The whole ``RESULTS.md``: every section present in ``results``."""
    lines = [
        "# ferry benchmarks",
        "",
        "Written by `make bench` (`" + COMMAND + "`) from real runs on the machine below. "
        "Clients and servers run in separate processes, every client started with "
        "`sys.executable`; ferry and its baselines talk to the same server process in the same "
        "run. Where runs are repeated the median is quoted and the spread "
        "((max - min) / median) shown.",
        "",
        "## Headline",
        "",
    ]
    lines += [f"- {line}" for line in headline(results)] + [""]
    lines += machine_section(results["machine"], results["meta"])
    number = 0
    for name, section in SECTIONS.items():
        if name not in results:
            continue
        entry = results[name]
        number += 1
        lines += _numbered(section(entry["figures"]), number)
        took = f"{entry['seconds']:.0f} s"
        if (
            entry["command"] != results["meta"]["command"]
            or entry["date"] != results["machine"]["date"]
        ):
            lines.append(
                f"_This section comes from `{entry['command']}` on {entry['date']} ({took})._"
            )
        else:
            lines.append(f"_This section took {took}._")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"

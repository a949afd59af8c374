"""``benchmarks/RESULTS.md`` from the figures of the last run of each benchmark.

Each table row is a figure, its baseline, the ratio, the goal and whether it was met. A ratio
that misses ``>= 1.0`` by less than the runs' own spread is marked "within noise", not "yes".
"""

from __future__ import annotations

from typing import Any

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


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


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
    """Benchmark 1: the headline table, then the two sweeps."""
    head = figures["headline"]
    limit, c, latency = head["limit"], head["concurrency"], head["latency_ms"]
    clients = head["clients"]
    ferry, bare = clients["ferry"], clients["bare"]
    lines = [
        "## 1. Throughput against the limit",
        "",
        f"`C` = {c} requests in flight, `L` = {latency:g} ms per call: `C / L` = "
        f"{_rate(limit)} rows/s. {head['rows']:,} rows of tiny sources; every client talks to "
        "the same ferry File Upload API server process (`fileapi`, data on tmpfs), which really "
        "fetches each source from a source server in that process and stores it. "
        '"In the run" is the client\'s own clock after start-up (for ferry: `elapsed_seconds` '
        'of `ferry run --json`: fan-out plus the final table write); "end to end" is the '
        "child process from exec to exit (interpreter start, imports, manifest read, plan).",
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
    """Benchmark 2: rows/s and CPU per 1,000 rows at zero latency."""
    lines = [
        "## 2. Client overhead (zero latency)",
        "",
        "The server answers at once, so each client's own work per row sets its pace. CPU "
        "seconds per 1,000 rows: for the in-process rows, the client process's CPU time over "
        "the run itself (after imports); for the CLI, the whole child process (kernel "
        "`rusage`: interpreter start and imports included).",
        "",
    ]
    names = {
        "ferry": "`ferry run` (CLI)",
        "ferry_inproc": "ferry, `pipeline.runner.run` in-process",
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
            goals.append(
                [
                    f"ferry CPU s / 1,000 rows, in-process ({kind})",
                    f"bare loop {bare['cpu_per_1000_rows']:.3f}",
                    f"{inproc['cpu_per_1000_rows'] / bare['cpu_per_1000_rows']:.2f}",
                    "reported (ferry also journals each row and writes the table)",
                    "",
                ]
            )
    lines += ["Goals:", ""]
    lines += _table(["figure", "baseline", "ratio", "goal", "met?"], goals)
    lines += ["", "Reproduce: `" + COMMAND + " overhead`.", ""]
    return lines


def memory_section(figures: dict[str, Any]) -> list[str]:
    """Benchmark 3: peak RSS over two manifest sizes; planning a million rows."""
    rss, plan = figures["rss"], figures["plan"]
    small, large = (str(size) for size in rss["sizes"])
    lines = [
        "## 3. Memory and scale",
        "",
        "Peak RSS is the kernel's `ru_maxrss` of the child process; the median RSS is that of "
        "samples taken every 50 ms from start to exit (start-up included; for ferry mostly the "
        "fan-out, while rows are in flight: ferry's peak comes at the end, when the journal is "
        "folded into the result table and the table written). The runs use the `stub` server at "
        "zero latency, `C` = 64.",
        "",
    ]
    rows = []
    for key, name in (("ferry", "`ferry run` (CLI)"), ("bare", "bare aiohttp loop")):
        for figure, label in (("max_rss_mib", "peak"), ("median_rss_mib", "median")):
            ratio = rss[key][large][figure] / rss[key][small][figure]
            rows.append(
                [
                    name,
                    label,
                    f"{rss[key][small][figure]:.0f} MiB",
                    f"{rss[key][large][figure]:.0f} MiB",
                    f"{ratio:.2f}",
                ]
            )
    lines += _table(
        ["client", "RSS", f"{int(small):,} rows", f"{int(large):,} rows", "ratio"],
        rows,
    )
    counts = ", ".join(f"{name} {plan['plan'][name]:,}" for name in PLAN_CATEGORIES)
    lines += [
        "",
        f"Planning: `ferry run plan.parquet --results plan.results.parquet --dry-run --json`, "
        f"a {plan['rows']:,}-row Parquet manifest (no `id` column: every identity is hashed; "
        f"{plan['manifest_mib']:.1f} MiB) against a {plan['rows']:,}-row result table "
        f"({plan['results_mib']:.1f} MiB): {counts}. Wall time of the whole command, start-up "
        f"included, median of {len(plan['all_wall_seconds'])} runs "
        f"({', '.join(f'{w:.2f}' for w in plan['all_wall_seconds'])} s).",
        "",
        "Goals:",
        "",
    ]
    goals = [
        [
            f"ferry peak RSS, {int(large):,} rows",
            f"{int(small):,} rows: {rss['ferry'][small]['max_rss_mib']:.0f} MiB",
            f"{rss['ferry_ratio']:.2f}",
            "< 1.3",
            "yes" if rss["ferry_ratio"] < 1.3 else "**no**",
        ],
        [
            f"ferry median RSS, {int(large):,} rows",
            f"{int(small):,} rows: {rss['ferry'][small]['median_rss_mib']:.0f} MiB",
            f"{rss['ferry_median_ratio']:.2f}",
            "< 1.3",
            "yes" if rss["ferry_median_ratio"] < 1.3 else "**no**",
        ],
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


def server_section(figures: dict[str, Any]) -> list[str]:
    """Benchmark 4: ``benchmarks/bench_server.py``'s figures."""
    size = figures["stream_bytes"] / 1024**3
    lines = [
        "## 4. The server",
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
        small, large = rss["sizes"]
        lines.append(
            f"Memory: peak RSS {large:,} rows / {small:,} rows = {rss['ferry_ratio']:.2f} "
            f"(bare loop {rss['bare_ratio']:.2f}), median RSS while running "
            f"{rss['ferry_median_ratio']:.2f} (bare loop {rss['bare_median_ratio']:.2f}); "
            f"planning {plan['rows']:,} x {plan['rows']:,} rows: {plan['wall_seconds']:.1f} s, "
            f"{plan['max_rss_mib']:,.0f} MiB peak."
        )
    if "server" in results:
        figures = results["server"]["figures"]
        lines.append(
            f"Server: {figures['stream_bytes'] / 1024**3:g} GiB stream upload at "
            f"{figures['stream_mb_per_s']:,.0f} MB/s ({figures['stream_vs_copy_ratio']:.2f} of a "
            f"file copy), RSS growth {figures['stream_rss_growth_mib']:.1f} MiB."
        )
    return lines


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
    for name, section in SECTIONS.items():
        if name not in results:
            continue
        entry = results[name]
        lines += section(entry["figures"])
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

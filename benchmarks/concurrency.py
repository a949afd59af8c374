"""Benchmark: ``--concurrency auto`` against fixed values, on APIs with and without a capacity.

Every run is the ``ferry run`` CLI (a child process, URL uploads of tiny sources) against ferry's
own server in a process of its own, with ``--latency 50``:

* ``ferry serve --capacity 16 --queue 8`` and ``--capacity 64 --queue 32``: a sweep of fixed
  ``--concurrency`` values and ``auto``, alternately, round after round; then two shards
  (``--shard 1/2`` and ``2/2``, each ``auto``, each its own table) started together;
* the same server without a capacity, and at zero latency: ``auto`` against ``16``, the default.

Figures per run: rows/s in the run (``elapsed_seconds`` of ``--json``), the share of upload
requests the server answered 429 (its own count), the limit's ``final``/``min``/``max``, and the
time from the start to the first half-second in which rows finished at 90 % of the run's final
rate (its second half), read from the result table's ``finished_at``. A run that is not done
after :data:`DEADLINE_SECONDS` (a fixed value far above the capacity, where every 429 closes
ferry's gate for a second) is interrupted; its rows/s so far count, and it is not run again
when it went at less than half the best rate. Two shards are measured while both run: each
one's rows finished in that window, and both together; they share twice a single run's rows.
"""

from __future__ import annotations

import csv
import secrets
import shutil
import statistics
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks import measure
from benchmarks.common import BENCH_KEY, WORK, fast_dir, markdown_table, python_module, run_child
from benchmarks.servers import ServerProcess, bench_stats

LATENCY_MS = 50.0
#: (workers, queue) of ``ferry serve --capacity N --queue M``, and the fixed values swept.
CAPACITIES = ((16, 8), (64, 32))
SWEEPS = {16: ("8", "16", "24", "32", "64"), 64: ("16", "32", "64", "96", "128")}
ROWS = {16: 2400, 64: 5000}
#: Two shards run this many times a single run's rows (each does about as many), so that they
#: run side by side for longer than ``auto``'s 10 s window on the latency floor.
SHARD_ROWS = 2
#: Rows of the runs against the servers without a capacity.
PLAIN_ROWS = 5000
ROUNDS = 3
#: At zero latency ``auto`` holds 16 in flight like the default, so the two differ by a few per
#: cent at most, less than the spread of three runs: the comparison that decides the default
#: gets more rounds.
ZERO_LATENCY_ROUNDS = 9
DEADLINE_SECONDS = 25.0
#: The half-second windows of the rate series are this far apart.
STEP_SECONDS = 0.25
WINDOW_SECONDS = 0.5
GOALS = {16: (0.95, 0.90), 64: (0.95, 0.85)}
GOAL_429, BOUND_429 = 0.01, 0.03
GOAL_SHARDS, BOUND_SHARDS = 0.90, 0.85
GOAL_FAIR, BOUND_FAIR = 0.80, 0.70


@dataclass
class Run:
    """One ``ferry run``: its rate, requests, 429s, limit and ramp."""

    concurrency: str
    rows: int
    rate: float
    requests: int
    rejected: int
    final: int
    lowest: int
    highest: int
    t90: float | None
    interrupted: bool

    @property
    def share_429(self) -> float:
        """Share of the upload requests that were answered 429."""
        return self.rejected / self.requests if self.requests else 0.0


def _argv(server: ServerProcess, manifest: Path, results: Path, concurrency: str) -> list[str]:
    argv = python_module("jobs", "run", str(manifest), "--base-url", server.api)
    argv += ["--results", str(results), "--concurrency", concurrency, "--retries", "50"]
    return [*argv, "--no-progress", "--json"]


def _finished(results: Path) -> list[float]:
    """The ``finished_at`` of every row of a CSV result table, as epoch seconds, sorted."""
    with results.open(newline="", encoding="utf-8") as handle:
        return sorted(
            datetime.fromisoformat(row["finished_at"]).timestamp() for row in csv.DictReader(handle)
        )


def _clear(results: Path) -> None:
    for path in results.parent.glob(results.name + "*"):
        path.unlink()


def ramp_seconds(finished: list[float], start: float) -> float | None:
    """Seconds from ``start`` to the end of the first window in which rows finished at 90 % of
    the rate of the run's second half; None for runs too short to say."""
    if len(finished) < 20:
        return None
    half = start + (finished[-1] - start) / 2
    late = [t for t in finished if t >= half]
    final = len(late) / max(finished[-1] - half, 1e-9)
    low, t = 0, start
    while t + WINDOW_SECONDS <= finished[-1]:
        while finished[low] < t:
            low += 1
        high = low
        while high < len(finished) and finished[high] < t + WINDOW_SECONDS:
            high += 1
        if (high - low) / WINDOW_SECONDS >= 0.9 * final:
            return t + WINDOW_SECONDS - start
        t += STEP_SECONDS
    return None


def one_run(server: ServerProcess, manifest: Path, concurrency: str) -> Run:
    """``ferry run --concurrency C`` once, on a fresh result table."""
    results = manifest.with_name(f"{manifest.stem}-{secrets.token_hex(3)}.results.csv")
    before = bench_stats(server.api)
    child = run_child(
        _argv(server, manifest, results, concurrency),
        env=measure.CLIENT_ENV,
        check=False,
        interrupt_after=DEADLINE_SECONDS,
    )
    after = bench_stats(server.api)
    summary = child.json()
    finished = _finished(results)
    _clear(results)
    figures = summary["concurrency"]
    return Run(
        concurrency=concurrency,
        rows=int(summary["ok"]) + int(summary["failed"]),
        rate=float(summary["rows_per_second"]),
        requests=after["uploads"] - before["uploads"],
        rejected=after.get("rejected", 0) - before.get("rejected", 0),
        final=int(figures["final"]),
        lowest=int(figures["min"]),
        highest=int(figures["max"]),
        t90=ramp_seconds(finished, finished[-1] - float(summary["elapsed_seconds"])),
        interrupted=bool(summary["interrupted"]),
    )


def shards(server: ServerProcess, manifest: Path) -> dict[str, Any]:
    """Two ``--shard k/2 --concurrency auto`` runs started together: each one's rate while both
    ran, both together, and the server's 429s."""
    tables = [manifest.with_name(f"{manifest.stem}-shard{k}.results.csv") for k in (1, 2)]
    before = bench_stats(server.api)

    def shard(k: int) -> Any:
        argv = [*_argv(server, manifest, tables[k - 1], "auto"), "--shard", f"{k}/2"]
        return run_child(
            argv, env=measure.CLIENT_ENV, check=False, interrupt_after=DEADLINE_SECONDS * SHARD_ROWS
        )

    with ThreadPoolExecutor(2) as pool:
        children = list(pool.map(shard, (1, 2)))
    after = bench_stats(server.api)
    summaries = [child.json() for child in children]
    series = [_finished(table) for table in tables]
    for table in tables:
        _clear(table)
    starts = [
        s[-1] - float(summary["elapsed_seconds"])
        for s, summary in zip(series, summaries, strict=True)
    ]
    begin, end = max(starts), min(s[-1] for s in series)
    span = max(end - begin, 1e-9)
    rates = [sum(1 for t in s if begin <= t <= end) / span for s in series]
    requests = after["uploads"] - before["uploads"]
    return {
        "rates": rates,
        "together": sum(rates),
        "fairness": min(rates) / max(rates) if max(rates) else 0.0,
        "overlap_seconds": span,
        "share_429": (after.get("rejected", 0) - before.get("rejected", 0)) / max(requests, 1),
        "limits": [summary["concurrency"] for summary in summaries],
    }


def _median_run(runs: list[Run]) -> dict[str, Any]:
    """The medians of one setting's runs, and every run."""
    t90s = [r.t90 for r in runs if r.t90 is not None]
    return {
        "rate": statistics.median(r.rate for r in runs),
        "spread": (max(r.rate for r in runs) - min(r.rate for r in runs))
        / max(statistics.median(r.rate for r in runs), 1e-9),
        "share_429": statistics.median(r.share_429 for r in runs),
        "t90": statistics.median(t90s) if t90s else None,
        "final": statistics.median(r.final for r in runs),
        "lowest": min(r.lowest for r in runs),
        "highest": max(r.highest for r in runs),
        "interrupted": any(r.interrupted for r in runs),
        "runs": [asdict(r) for r in runs],
    }


def _server(latency_ms: float, capacity: tuple[int, int] | None = None) -> ServerProcess:
    data = fast_dir() / f"ferry-bench-{secrets.token_hex(4)}"
    workers, queue = capacity if capacity else (None, None)
    return ServerProcess(data, BENCH_KEY, latency_ms=latency_ms, capacity=workers, queue=queue)


def _sweep(
    server: ServerProcess, manifest: Path, settings: tuple[str, ...], rounds: int
) -> dict[str, Any]:
    runs: dict[str, list[Run]] = {c: [] for c in settings}
    for _ in range(rounds):  # alternate, so that noise on the machine hits every setting alike
        for concurrency in settings:
            if _hopeless(runs, concurrency):
                continue  # far too slow to finish: once is enough to show it
            run = one_run(server, manifest, concurrency)
            runs[concurrency].append(run)
            print(
                f"    --concurrency {concurrency:>4}: {run.rate:7.1f} rows/s, 429s "
                f"{100 * run.share_429:5.2f} %, limit {run.final} ({run.lowest}-{run.highest})"
                + (f", 90 % after {run.t90:.2f} s" if run.t90 is not None else "")
                + (" (interrupted)" if run.interrupted else ""),
                flush=True,
            )
    return {c: _median_run(r) for c, r in runs.items()}


def _hopeless(runs: dict[str, list[Run]], concurrency: str) -> bool:
    """Whether ``concurrency``'s first run did not finish and went at less than half the best."""
    first = runs[concurrency][0] if runs[concurrency] else None
    best = max((r.rate for done in runs.values() for r in done), default=0.0)
    return first is not None and first.interrupted and first.rate < best / 2


def run(*, quick: bool = False) -> dict[str, Any]:
    """The whole benchmark; returns its figures."""
    rounds = 1 if quick else ROUNDS
    work = WORK / f"concurrency-{secrets.token_hex(4)}"
    work.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Any] = {
        "latency_ms": LATENCY_MS,
        "rounds": rounds,
        "capacities": {},
        "plain": {},
    }
    try:
        for workers, queue in CAPACITIES:
            rows = ROWS[workers] // (5 if quick else 1)
            print(f"concurrency: --capacity {workers} --queue {queue}, {rows:,} rows", flush=True)
            with _server(LATENCY_MS, (workers, queue)) as server:
                manifest = measure.write_manifest(work / f"cap{workers}.csv", server.source, rows)
                sweep = _sweep(server, manifest, (*SWEEPS[workers], "auto"), rounds)
                both = measure.write_manifest(
                    work / f"cap{workers}-shards.csv", server.source, rows * SHARD_ROWS
                )
                pairs = [shards(server, both) for _ in range(rounds)]
            best = max((c for c in SWEEPS[workers]), key=lambda c: sweep[c]["rate"])
            figures["capacities"][str(workers)] = {
                "workers": workers,
                "queue": queue,
                "rows": rows,
                "sweep": sweep,
                "best_fixed": best,
                "shards": pairs,
            }
            _print_shards(pairs)
        for name, latency in (("zero latency", 0.0), ("50 ms", LATENCY_MS)):
            rows = PLAIN_ROWS // (5 if quick else 1)
            plain_rounds = rounds if quick or latency else ZERO_LATENCY_ROUNDS
            print(f"concurrency: no capacity, {name}, {rows:,} rows", flush=True)
            with _server(latency) as server:
                manifest = measure.write_manifest(work / "plain.csv", server.source, rows)
                sweep = _sweep(server, manifest, ("16", "auto"), plain_rounds)
            figures["plain"][name] = {
                "latency_ms": latency,
                "rows": rows,
                "rounds": plain_rounds,
                "sweep": sweep,
            }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return figures


def _print_shards(pairs: list[dict[str, Any]]) -> None:
    for pair in pairs:
        a, b = pair["rates"]
        print(
            f"    two shards, auto: {a:6.1f} + {b:6.1f} = {pair['together']:6.1f} rows/s while "
            f"both ran ({pair['overlap_seconds']:.1f} s), slower/faster {pair['fairness']:.2f}, "
            f"429s {100 * pair['share_429']:.2f} %",
            flush=True,
        )


def _comparisons(figures: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every server's sweep, named: the two capacities, then the servers without one."""
    named = [
        (f"--capacity {c['workers']} --queue {c['queue']}", c["sweep"])
        for c in figures["capacities"].values()
    ]
    named += [(f"no capacity, {name}", p["sweep"]) for name, p in figures["plain"].items()]
    return named


def _auto_slower(figures: dict[str, Any]) -> list[str]:
    """The servers on which ``auto`` was slower than ``16``, each with the ratio."""
    return [
        f"{name} ({sweep['auto']['rate'] / sweep['16']['rate']:.2f})"
        for name, sweep in _comparisons(figures)
        if sweep["auto"]["rate"] < sweep["16"]["rate"]
    ]


def _verdict(figures: dict[str, Any]) -> str:
    """Whether this run would make ``auto`` the default; the code's default is chosen from it and
    stated in docs/concurrency.md, so a run never claims what the default is."""
    slower = _auto_slower(figures)
    if not slower:
        return "`auto` was at least as fast as 16 on every server"
    return "`auto` was slower than 16 on: " + "; ".join(slower)


def _met(value: float, goal: float, bound: float, *, lower_is_better: bool = False) -> str:
    if lower_is_better:
        return "yes" if value <= goal else ("within the bound" if value <= bound else "**no**")
    return "yes" if value >= goal else ("within the bound" if value >= bound else "**no**")


def section(figures: dict[str, Any]) -> list[str]:
    """The section of ``RESULTS.md``."""
    lines = [
        "## Adaptive concurrency",
        "",
        f"`ferry run` (CLI, URL uploads of tiny sources) against ferry's own server with "
        f"`--latency {figures['latency_ms']:g}` (a worker spends 50 ms on each upload), median of "
        f"{figures['rounds']} alternating rounds. rows/s is in the run (`elapsed_seconds`); "
        '429s are the server\'s own count over its upload requests; "90 % after" is the time '
        "from the start to the end of the first half-second in which rows finished at 90 % of "
        "the rate of the run's second half. Fixed values answer a 429 by closing ferry's gate "
        "for the `Retry-After` (every worker waits); `auto` cuts its limit instead. Runs not done "
        f"after {DEADLINE_SECONDS:.0f} s were interrupted (their rate so far counts) and, when "
        "they went at less than half the best rate, not run again.",
        "",
    ]
    for capacity in figures["capacities"].values():
        lines += _capacity_table(capacity)
    lines += ["### `auto` against the default, 16", ""]
    rows = []
    for name, sweep in _comparisons(figures):
        auto, fixed = sweep["auto"], sweep["16"]
        rows.append(
            [
                name,
                f"{fixed['rate']:,.0f}",
                f"{auto['rate']:,.0f}",
                f"{auto['rate'] / fixed['rate']:.2f}",
                f"{auto['final']:.0f} ({auto['lowest']}-{auto['highest']})",
                f"{max(auto['spread'], fixed['spread']) * 100:.0f} %",
            ]
        )
    lines += markdown_table(
        [
            "server (50 ms unless said)",
            "16 rows/s",
            "auto rows/s",
            "auto / 16",
            "auto's limit",
            "runs' spread",
        ],
        rows,
    )
    lines += [
        "",
        f"{_verdict(figures)}. Being at least as fast everywhere is the condition for making "
        "`auto` ferry's default; the default and the figures that chose it are in "
        "docs/concurrency.md. At zero latency, median of "
        f"{figures['plain']['zero latency'].get('rounds', figures['rounds'])} alternating rounds.",
        "",
        "Reproduce: `.venv/bin/python -m benchmarks concurrency`.",
        "",
    ]
    return lines


def _capacity_table(capacity: dict[str, Any]) -> list[str]:
    workers, queue, sweep = capacity["workers"], capacity["queue"], capacity["sweep"]
    limit = workers / (LATENCY_MS / 1000)
    lines = [
        f"### `--capacity {workers} --queue {queue}`: at most {limit:,.0f} uploads/s, "
        f"{capacity['rows']:,} rows",
        "",
    ]
    rows = []
    for concurrency, fig in sweep.items():
        rows.append(
            [
                concurrency,
                f"{fig['rate']:,.0f}" + (" (interrupted)" if fig["interrupted"] else ""),
                f"{100 * fig['share_429']:.2f} %",
                f"{fig['t90']:.2f} s" if fig["t90"] is not None else "n/a",
                f"{fig['final']:.0f} ({fig['lowest']}-{fig['highest']})",
                f"{100 * fig['spread']:.0f} %",
            ]
        )
    lines += markdown_table(
        ["--concurrency", "rows/s", "429s", "90 % after", "limit (min-max)", "spread"], rows
    )
    best = capacity["best_fixed"]
    auto, fixed = sweep["auto"], sweep[best]
    ratio = auto["rate"] / fixed["rate"]
    goal, bound = GOALS[workers]
    pairs = capacity["shards"]
    together = statistics.median(p["together"] for p in pairs) / fixed["rate"]
    fairness = statistics.median(p["fairness"] for p in pairs)
    shard_429 = statistics.median(p["share_429"] for p in pairs)
    goals = [
        [
            "auto rows/s",
            f"best fixed ({best}) {fixed['rate']:,.0f}",
            f"{ratio:.2f}",
            f">= {goal} (bound {bound})",
            _met(ratio, goal, bound),
        ],
        [
            "auto 429s",
            "",
            f"{100 * auto['share_429']:.2f} %",
            f"<= {100 * GOAL_429:.0f} % (bound {100 * BOUND_429:.0f} %)",
            _met(auto["share_429"], GOAL_429, BOUND_429, lower_is_better=True),
        ],
        [
            "two shards, auto, together",
            f"best fixed ({best}) {fixed['rate']:,.0f}",
            f"{together:.2f}",
            f">= {GOAL_SHARDS} (bound {BOUND_SHARDS})",
            _met(together, GOAL_SHARDS, BOUND_SHARDS),
        ],
        [
            "two shards: slower / faster",
            "",
            f"{fairness:.2f}",
            f">= {GOAL_FAIR} (bound {BOUND_FAIR})",
            _met(fairness, GOAL_FAIR, BOUND_FAIR),
        ],
        [
            "two shards: 429s",
            "",
            f"{100 * shard_429:.2f} %",
            f"<= {100 * GOAL_429:.0f} % (bound {100 * BOUND_429:.0f} %)",
            _met(shard_429, GOAL_429, BOUND_429, lower_is_better=True),
        ],
    ]
    lines += ["", "Goals:", ""]
    lines += markdown_table(["figure", "baseline", "value", "goal", "met?"], goals)
    shard_rows = [
        [
            f"{a:,.0f} + {b:,.0f}",
            f"{p['together']:,.0f}",
            f"{p['fairness']:.2f}",
            f"{100 * p['share_429']:.2f} %",
            " / ".join(f"{lim['final']} ({lim['min']}-{lim['max']})" for lim in p["limits"]),
        ]
        for p in pairs
        for a, b in [p["rates"]]
    ]
    lines += [
        "",
        f"Two shards with `auto` ({capacity['rows'] * SHARD_ROWS:,} rows between them), each "
        "round (rows/s while both ran):",
        "",
    ]
    lines += markdown_table(
        ["shard 1 + shard 2", "together", "slower / faster", "429s", "limits"], shard_rows
    )
    return [*lines, ""]


def headline(figures: dict[str, Any]) -> str:
    """One line for the headline of ``RESULTS.md``."""
    parts = []
    for capacity in figures["capacities"].values():
        sweep = capacity["sweep"]
        best = capacity["best_fixed"]
        auto = sweep["auto"]
        pairs = capacity["shards"]
        parts.append(
            f"capacity {capacity['workers']}: auto {auto['rate']:,.0f} rows/s = "
            f"{auto['rate'] / sweep[best]['rate']:.2f}x the best fixed ({best}), "
            f"{100 * auto['share_429']:.2f} % 429s; two shards "
            f"{statistics.median(p['together'] for p in pairs) / sweep[best]['rate']:.2f}x, "
            f"slower/faster {statistics.median(p['fairness'] for p in pairs):.2f}"
        )
    return "Adaptive concurrency (50 ms uploads): " + "; ".join(parts) + f"; {_verdict(figures)}."

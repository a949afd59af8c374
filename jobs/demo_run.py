"""``ferry demo``: the main job end to end, offline, with nothing set up.

Starts the local File Upload API and a source server on loopback, migrates the sample manifest
(two rows fail on purpose: a missing source and an ``ftp://`` URL), shows the result table and
its failed rows with their ``error_kind`` and ``error``, then runs again to show that done rows
are skipped. Messages are log lines on stderr; the tables go to stdout.

It lives with the commands, not in ``pipeline``, because it is the one place that uses both the
library and the server (``fileapi``); ``jobs/demo.py`` imports it only when the command runs.
"""

from __future__ import annotations

import logging
import secrets
import tempfile
from importlib import resources
from pathlib import Path
from typing import TextIO

import polars as pl

from fileapi import BackgroundServer, ServerSettings, make_app
from fileapi.sources import make_source_app
from pipeline.commands.runner import run
from pipeline.core.errors import ExitCode
from pipeline.core.logs import fields
from pipeline.core.settings import RunSettings
from pipeline.core.summary import RunSummary
from pipeline.store import ResultStore

#: The two rows of the sample manifest that fail by design.
PLANNED_FAILURES = {"missing-source": "source_error", "bad-scheme": "invalid_row"}
#: Rows of the result table the demo prints.
SHOWN_ROWS = 12

log = logging.getLogger(__name__)


def sample_path(name: str) -> Path:
    """A file shipped in ``sample_manifests`` (works from a wheel install too)."""
    return Path(str(resources.files("sample_manifests").joinpath(name)))


def write_demo_manifest(workdir: Path, sources_url: str) -> Path:
    """The sample manifest with ``{sources}`` pointed at the running source server."""
    text = sample_path("demo.csv").read_text(encoding="utf-8")
    manifest = workdir / "demo.csv"
    manifest.write_text(text.replace("{sources}", sources_url), encoding="utf-8")
    return manifest


def run_demo(
    *, workdir: Path | None = None, progress: bool = False, out: TextIO | None = None
) -> ExitCode:
    """Run the demo; returns 0 when everything happened as designed.

    ``out`` is where a progress bar draws (stderr by default).
    """
    root = workdir or Path(tempfile.mkdtemp(prefix="ferry-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(16)
    api_settings = ServerSettings(
        data_dir=root / "server-data", keys=(key,), allow_private_sources=True, port=0
    )
    source_app = make_source_app(sample_path("sources"))
    with (
        BackgroundServer(make_app(api_settings)) as api,
        BackgroundServer(source_app) as sources,
    ):
        log.info(
            f"ferry demo: File Upload API on {api.base_url}, sources on {sources.base_url}",
            extra=fields(api=api.base_url, sources=sources.base_url),
        )
        manifest = write_demo_manifest(root, sources.base_url)
        settings = RunSettings(
            manifest=manifest,
            results=root / "demo.results.parquet",
            base_url=api.base_url,
            api_key=key,
            concurrency=8,
            retries=1,
            backoff_base=0.05,
            progress=progress,
            log_every_seconds=1.0,
        )
        log.info(f"ferry demo: first run of {manifest}", extra=fields(manifest=str(manifest)))
        first = run(settings, stream=out)
        log.info(first.text(), extra=fields(**first.to_json()))
        _show_table(settings.results)
        log.info("ferry demo: second run of the same command: done rows are skipped")
        second = run(settings, stream=out)
        log.info(second.text(), extra=fields(**second.to_json()))
    return _verdict(first, second, settings.results)


def _show_table(results: Path) -> None:
    """The first rows of the result table, then every failed row with its error (stdout)."""
    table = ResultStore(results).read()
    shown = table.select("id", "status", "error_kind", "download_url", "expires_at")
    failed = table.filter(pl.col("status") == "failed").select("id", "error_kind", "error")
    with pl.Config(tbl_rows=SHOWN_ROWS, fmt_str_lengths=60, tbl_width_chars=140):
        print(shown.head(SHOWN_ROWS))
    print(f"... {table.height} rows in {results}")
    print(f"the {failed.height} failed rows, and what went wrong (a rerun retries them):")
    with pl.Config(tbl_rows=SHOWN_ROWS, fmt_str_lengths=100, tbl_width_chars=140):
        print(failed)


def _verdict(first: RunSummary, second: RunSummary, results: Path) -> ExitCode:
    table = ResultStore(results).read()
    failed = dict(table.filter(pl.col("status") == "failed").select("id", "error_kind").iter_rows())
    ok_rows = table.filter(pl.col("status") == "ok").height
    as_designed = (
        failed == PLANNED_FAILURES
        and ok_rows == table.height - len(PLANNED_FAILURES)
        and second.ok == 0
        and second.skipped == ok_rows
    )
    if as_designed:
        log.info(
            f"ferry demo: as designed: {ok_rows} rows uploaded, {len(failed)} failed on purpose "
            f"({', '.join(sorted(failed.values()))}); the rerun skipped {second.skipped} done rows",
            extra=fields(as_designed=True, ok=ok_rows, failed=failed, skipped=second.skipped),
        )
        return ExitCode.OK
    log.error(
        f"ferry demo: NOT as designed: failed rows {failed}, ok {ok_rows}",
        extra=fields(as_designed=False, ok=ok_rows, failed=failed),
    )
    return ExitCode.FAILED

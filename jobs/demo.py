"""``ferry demo``: the whole job offline against the local server, nothing to set up."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from jobs.common import debug_option, reports_errors
from pipeline.demo import run_demo


@click.command(name="demo")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the demo's files here (default: a new temporary folder).",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar on stderr. Default: on when stderr is a terminal.",
)
@debug_option
@reports_errors
def demo(workdir: Path | None, progress: bool | None, debug: bool) -> None:
    """Migrate a sample manifest offline against a local server, then rerun it.

    Two rows fail on purpose (a missing source, an ftp:// URL); exit 0 means it all ran as
    designed.
    """
    bar = sys.stderr.isatty() if progress is None else progress
    sys.exit(run_demo(workdir=workdir, progress=bar))

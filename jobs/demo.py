"""``ferry demo``: the whole job offline against the local server, nothing to set up."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from jobs.common import debug_option, log_format_option, progress_option, reports_errors


@click.command(name="demo")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the demo's files here (default: a new temporary folder).",
)
@progress_option
@log_format_option
@debug_option
@reports_errors
def demo(workdir: Path | None, progress: bool, debug: bool) -> None:
    """Migrate a sample manifest offline against a local server, then rerun it.

    Two rows fail on purpose (a missing source, an ftp:// URL); exit 0 means it all ran as
    designed.
    """
    from pipeline.demo import run_demo

    sys.exit(run_demo(workdir=workdir, progress=progress))

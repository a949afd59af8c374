"""The ``ferry`` command group; each subcommand lives in a module of its own."""

from __future__ import annotations

import click

from pipeline import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="ferry")
def main() -> None:
    """Move files into the File Upload API in bulk, resumably.

    \b
    Quick start (offline, nothing to set up):
      ferry demo
    A real migration:
      export KIE_API_KEY=...          # never on the command line
      ferry run manifest.csv          # writes manifest.results.parquet
      ferry run manifest.csv          # again: only what is left
      ferry status manifest.results.parquet
    """


def _register() -> None:
    from jobs import credits, demo, merge, report, run, serve, status, verify

    for command in (
        run.run,
        status.status,
        credits.credits,
        serve.serve,
        demo.demo,
        verify.verify,
        merge.merge,
        report.report,
    ):
        main.add_command(command)


_register()

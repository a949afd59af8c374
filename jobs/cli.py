"""The ``ferry`` command group; each subcommand lives in a module of its own, loaded on use.

Every command takes ``--log-format text|json`` (``jobs.common.log_format_option``; also
``FERRY_LOG_FORMAT``). Start-up stays instant: ``ferry --version`` imports no command module,
and ``ferry COMMAND --help`` imports only that command's module, which imports polars, pyarrow
and aiohttp inside the command's function (Click's documented lazy-loading group).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Iterator, MutableMapping, Sequence
from typing import Any

import click

from pipeline.core import logs
from pipeline.version import __version__

log = logging.getLogger(__name__)


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# polars' allocator (jemalloc) keeps freed pages for ten seconds by default, so a run's peak
# RSS would hold every batch it ever read (planning a 1,100,000-row manifest against a
# 1,000,000-row table peaked at 380 MiB). Returning them at once (a decay of 0) kept that to
# 225 MiB but made every batch fault its pages in again: a third of planning's CPU time was the
# kernel's. Keeping them 100 ms, in one arena per usable core (jemalloc's default is four a core),
# plans that table in 1.35 s instead of 1.85 s at 230 MiB (make bench, "scale"). Set before
# polars loads; a value the user set wins.
os.environ.setdefault(
    "_RJEM_MALLOC_CONF", f"dirty_decay_ms:100,muzzy_decay_ms:0,narenas:{_usable_cpus()}"
)
# pyarrow's own pool (mimalloc) holds freed pages too; the C library's gives them back.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

#: Command name -> ``module:attribute`` of its Click command (``--help`` lists them sorted).
COMMANDS = {
    "run": "jobs.run:run",
    "status": "jobs.status:status",
    "credits": "jobs.credits:credits",
    "serve": "jobs.serve:serve",
    "demo": "jobs.demo:demo",
    "verify": "jobs.verify:verify",
    "merge": "jobs.merge:merge",
    "report": "jobs.report:report",
}


def requested_log_format(args: Sequence[str]) -> str:
    """The format asked for on the command line or in the environment, before Click parses.

    Usage errors are found while parsing, before any option callback runs, and must already
    come out in the asked format.
    """
    chosen = os.environ.get(logs.ENV_VAR, "text")
    for index, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--log-format" and index + 1 < len(args):
            chosen = args[index + 1]
        elif arg.startswith("--log-format="):
            chosen = arg.partition("=")[2]
    return chosen if chosen in logs.LOG_FORMATS else "text"


class LazyCommands(MutableMapping[str, click.Command]):
    """``Group.commands`` whose commands are imported from ``module:attribute`` on first access.

    Listing the names (``ferry --version``, ``sorted(main.commands)``) imports nothing.
    """

    def __init__(self, targets: dict[str, str]) -> None:
        self._targets = dict(targets)
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._loaded:
            module_name, _, attribute = self._targets[name].partition(":")
            command = getattr(importlib.import_module(module_name), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self._targets[name]} is not a Click command")
            self._loaded[name] = command
        return self._loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command
        self._targets.setdefault(name, "")

    def __delitem__(self, name: str) -> None:
        del self._targets[name]
        self._loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._targets)

    def __len__(self) -> int:
        return len(self._targets)


class LazyGroup(click.Group):
    """A group whose commands are a :class:`LazyCommands`: imported when looked up."""

    def __init__(self, *args: Any, lazy_commands: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = LazyCommands(lazy_commands)

    def main(self, args: Sequence[str] | None = None, *pos: Any, **kwargs: Any) -> Any:
        """Set up logging first; with JSON logs, usage errors come out as JSON lines too."""
        argv = list(sys.argv[1:] if args is None else args)
        logs.configure(requested_log_format(argv))
        if kwargs.get("standalone_mode", True) is False or logs.current_format() == "text":
            return super().main(argv, *pos, **kwargs)
        kwargs["standalone_mode"] = False
        try:
            result = super().main(argv, *pos, **kwargs)
        except click.ClickException as exc:
            log.error(
                f"ferry: error: {exc.format_message()}", extra=logs.fields(exit_code=exc.exit_code)
            )
            sys.exit(exc.exit_code)
        except click.Abort:
            log.error("ferry: aborted", extra=logs.fields(exit_code=1))
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
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

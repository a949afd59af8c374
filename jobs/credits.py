"""``ferry credits``: remaining credits, which is also a check of the key."""

from __future__ import annotations

import json
from pathlib import Path

import click

from jobs.common import (
    api_key,
    api_key_file_option,
    debug_option,
    log_format_option,
    reports_errors,
)
from pipeline.core.settings import DEFAULT_ACCOUNT_URL


@click.command(name="credits")
@click.option(
    "--account-url",
    envvar="FERRY_ACCOUNT_URL",
    default=DEFAULT_ACCOUNT_URL,
    show_default=True,
    show_envvar=True,
    help="Base URL of the credit endpoint.",
)
@click.option("--json", "as_json", is_flag=True, help='Print {"credits": N} on stdout.')
@api_key_file_option
@log_format_option
@debug_option
@reports_errors
def credits(account_url: str, as_json: bool, api_key_file: Path | None, debug: bool) -> None:
    """Print the remaining credits of the API key (exit 3 when the key is refused)."""
    from pipeline.upload.account import remaining_credits

    count = remaining_credits(account_url=account_url, api_key=api_key(api_key_file))
    click.echo(json.dumps({"credits": count}) if as_json else str(count))

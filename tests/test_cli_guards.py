"""Guards: every command has help with examples; the README names only real commands and options."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from jobs.cli import main

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
COMMANDS = sorted(main.commands)


def help_text(*args: str) -> str:
    result = CliRunner().invoke(main, [*args, "--help"])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_contract_commands_exist() -> None:
    assert {"run", "status", "credits", "serve", "demo", "verify", "merge", "report"} <= set(
        COMMANDS
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_and_is_in_the_readme(command: str) -> None:
    text = help_text(command)
    assert "Usage: " in text and "--help" in text
    assert f"ferry {command}" in README


@pytest.mark.parametrize("command", ["run", "serve", "status", "verify", "merge", "report"])
def test_help_shows_examples(command: str) -> None:
    assert "ferry " + command in help_text(command).replace("\n", " ")


@pytest.mark.parametrize(
    ("command", "heading"),
    [("run", "### What a run does"), ("serve", "## The local File Upload API")],
)
def test_every_option_the_readme_documents_exists(command: str, heading: str) -> None:
    section = re.split(r"\n##+ ", README.split(heading, 1)[1], maxsplit=1)[0]
    documented = set(re.findall(r"`(--[a-z][a-z-]*)", section))
    assert len(documented) > 5, command
    text = help_text(command)
    for option in documented:
        assert option in text, f"README documents {option} for ferry {command}"


def test_readme_exit_codes_match_the_contract() -> None:
    for code in ("`0`", "`1`", "`2`", "`3`", "`4`", "`130`"):
        assert f"| {code} |" in README


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("ferry, version ")

"""Guards: every command has help with examples; docs/cli.md documents exactly the options each
command has; the README names every command and the exit codes."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from jobs.cli import main
from tests.helpers import REPO

ROOT = REPO
README = (ROOT / "README.md").read_text(encoding="utf-8")
CLI_DOC = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
COMMANDS = sorted(main.commands)
#: A long option, not the tail of a longer run of dashes (a Markdown anchor such as ``---via``).
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


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


def help_options(command: str) -> set[str]:
    """The long options that ``ferry COMMAND --help`` lists (``--help`` itself aside).

    Only the lines of the Options list that start an option (two spaces, then a dash) count;
    their wrapped descriptions are indented further.
    """
    listed = help_text(command).split("\nOptions:\n", 1)[1]
    starts = [line.strip() for line in listed.splitlines() if re.match(r"  -", line)]
    names = [re.split(r"\s{2,}", start)[0] for start in starts]  # the description aside
    options = {option for name in names for option in OPTION.findall(name)} - {"--help"}
    assert len(options) >= 3, (command, options)  # the parser itself is not broken
    return options


def doc_section(command: str) -> str:
    """The ``## ferry COMMAND`` section of docs/cli.md, up to the next ``## `` heading."""
    match = re.search(rf"^## ferry {command}\b[^\n]*\n(.*?)(?=^## |\Z)", CLI_DOC, re.M | re.S)
    assert match, f"docs/cli.md has no '## ferry {command}' section"
    return match.group(1)


def documented_options(section: str) -> set[str]:
    """The options a section's option table documents: the first cell of each ``| `--`` row."""
    rows = [line.split(" | ")[0] for line in section.splitlines() if line.startswith("| `--")]
    return {option for row in rows for option in OPTION.findall(row)}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_in_help_is_in_the_cli_doc(command: str) -> None:
    missing = help_options(command) - documented_options(doc_section(command))
    assert not missing, f"docs/cli.md does not document {sorted(missing)} of ferry {command}"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_the_cli_doc_names_exists(command: str) -> None:
    """Every option named in a command's section (its table, its prose, its examples) is one of
    that command's options."""
    section = doc_section(command)
    assert documented_options(section), command
    unknown = set(OPTION.findall(section)) - help_options(command)
    assert not unknown, f"docs/cli.md names {sorted(unknown)} for ferry {command}"


def test_readme_exit_codes_match_the_contract() -> None:
    for code in ("`0`", "`1`", "`2`", "`3`", "`4`", "`130`"):
        assert f"| {code} |" in README


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("ferry, version ")

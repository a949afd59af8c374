"""Instant start-up: ``ferry --version``, ``--help`` and ``COMMAND --help`` import neither polars,
pyarrow nor aiohttp (checked in a fresh interpreter, through ``sys.modules``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.cli import COMMANDS

#: Runs ``ferry ARGS`` in this interpreter, then prints which heavy modules it imported.
PROBE = """
import json, sys
from jobs.cli import main
code = None
try:
    main(sys.argv[1:], prog_name="ferry")
except SystemExit as exit:
    code = exit.code
heavy = [m for m in ("polars", "pyarrow", "aiohttp") if m in sys.modules]
print(json.dumps({"code": code, "heavy": heavy}))
"""


def heavy_imports(*args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    probe = json.loads(done.stdout.splitlines()[-1])
    assert probe["code"] in (0, None), done.stdout
    heavy: list[str] = probe["heavy"]
    return heavy


@pytest.mark.parametrize(
    "args",
    [["--version"], ["--help"], *[[command, "--help"] for command in COMMANDS]],
    ids=lambda args: " ".join(args),
)
def test_start_up_imports_nothing_heavy(args: list[str]) -> None:
    assert heavy_imports(*args) == []


def test_the_probe_sees_heavy_imports_when_a_command_runs(tmp_path: Path) -> None:
    """The check above can fail: a command that works does import polars."""
    manifest = tmp_path / "m.csv"
    manifest.write_text("url\nhttps://example.com/a.png\n")
    assert "polars" in heavy_imports("run", str(manifest), "--dry-run")


def allocator_settings(env: dict[str, str]) -> dict[str, str]:
    """The allocator variables a fresh interpreter has once ``jobs.cli`` is imported."""
    probe = (
        "import json, os, jobs.cli\n"
        "print(json.dumps({k: os.environ.get(k) for k in "
        "('_RJEM_MALLOC_CONF', 'ARROW_DEFAULT_MEMORY_POOL')}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    settings: dict[str, str] = json.loads(done.stdout)
    return settings


def test_the_cli_sets_the_allocators_unless_the_user_did() -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("_RJEM_MALLOC_CONF", "ARROW_DEFAULT_MEMORY_POOL")
    }
    chosen = allocator_settings(env)
    cores = len(os.sched_getaffinity(0))
    assert chosen == {
        "_RJEM_MALLOC_CONF": f"dirty_decay_ms:100,muzzy_decay_ms:0,narenas:{cores}",
        "ARROW_DEFAULT_MEMORY_POOL": "system",
    }
    mine = {**env, "_RJEM_MALLOC_CONF": "narenas:1", "ARROW_DEFAULT_MEMORY_POOL": "mimalloc"}
    assert allocator_settings(mine) == {
        "_RJEM_MALLOC_CONF": "narenas:1",
        "ARROW_DEFAULT_MEMORY_POOL": "mimalloc",
    }

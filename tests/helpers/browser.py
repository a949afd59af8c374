"""Debian's headless Chromium, for the tests that render a page in a real browser."""

from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path

import pytest

_serial = itertools.count()


def chromium() -> str:
    """Debian's Chromium, or skip."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("chromium not installed: run `make browser`")


def run_chromium(exe: str, workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium with a new empty profile and no background networking."""
    profile = workdir / f"chromium-profile-{next(_serial)}"
    profile.mkdir()
    command = [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

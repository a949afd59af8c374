"""Packaging: building ferry's wheel prints no warning about its own metadata, and ships the demo.

The wheel is built offline (``--no-index --no-build-isolation``, with the setuptools of the dev
extra) from a copy of the sources, so the check runs in CI without a network and leaves the
working tree untouched.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.helpers import REPO

ROOT = REPO
SOURCES = ("pyproject.toml", "README.md", "pipeline", "jobs", "fileapi", "sample_manifests")
#: What setuptools prints when it dislikes the metadata: ``SetuptoolsDeprecationWarning``,
#: ``_Warning: Package '...' is absent from the `packages` configuration``, ``BuildBackendWarning``.
WARNING = re.compile(r"Warning\b|deprecated|absent from the `packages`")


def copy_sources(tmp_path: Path) -> Path:
    """The project's sources, copied so that a build leaves the working tree untouched."""
    source = tmp_path / "src"
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, source / name)
    return source


def build(args: list[str], cwd: Path | None = None) -> str:
    """Run ``python ARGS`` (a build), assert it succeeded, and return all it printed."""
    done = subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    return output


def build_wheel(tmp_path: Path) -> tuple[Path, str]:
    source = copy_sources(tmp_path)
    dist = tmp_path / "dist"
    output = build(
        [
            "-m",
            "pip",
            "wheel",
            str(source),
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "--verbose",
            "--wheel-dir",
            str(dist),
        ]
    )
    (wheel,) = dist.glob("ferry-*.whl")
    return wheel, output


def test_the_wheel_builds_without_metadata_warnings_and_ships_the_demo(tmp_path: Path) -> None:
    wheel, output = build_wheel(tmp_path)
    warnings = [line.strip() for line in output.splitlines() if WARNING.search(line)]
    assert warnings == [], "\n".join(warnings)
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {"sample_manifests/demo.csv", "sample_manifests/sources/images/red.png"}
    shipped |= {"sample_manifests/sources/docs/note-01.txt", "pipeline/py.typed"}
    assert shipped <= names
    assert not any(name.startswith(("tests/", "benchmarks/")) for name in names)
    metadata = zipfile.ZipFile(wheel).read("ferry-0.1.0.dist-info/METADATA").decode()
    assert "License-Expression: MIT" in metadata


def test_the_editable_install_of_make_venv_builds_without_warnings(tmp_path: Path) -> None:
    """``make venv`` installs with ``pip install -e``: its editable wheel is checked the same way
    (built by setuptools' own PEP 660 hook, offline)."""
    source = copy_sources(tmp_path)
    code = (
        "import sys, setuptools.build_meta as backend; print(backend.build_editable(sys.argv[1]))"
    )
    output = build(["-W", "always", "-c", code, str(tmp_path / "dist")], cwd=source)
    # pip shows setuptools' InformationOnly notes as "BuildBackendWarning: ..." lines
    notes = re.compile(f"{WARNING.pattern}|InformationOnly")
    warnings = [line.strip() for line in output.splitlines() if notes.search(line)]
    assert warnings == [], "\n".join(warnings)

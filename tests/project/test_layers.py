"""The packages import in one direction: ``jobs`` → ``fileapi`` → the bottom of ``pipeline``.

Read from the source with :mod:`ast`, so an import added anywhere (even inside a function) counts.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.helpers import REPO

ROOT = REPO
PACKAGES = ("pipeline", "fileapi", "jobs")
#: What ``fileapi`` may use of ``pipeline``: the shared units, the errors they raise, the log
#: format (all three import nothing but the standard library and each other).
BOTTOM_OF_PIPELINE = {"pipeline.core.units", "pipeline.core.errors", "pipeline.core.logs"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_files() -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


MODULES = {module_name(path): path for path in source_files()}


def imported_modules(path: Path) -> Iterator[str]:
    """Every module ``path`` imports, wherever the import stands (at module level, in a
    function, under ``TYPE_CHECKING``).

    ``from pkg import name`` counts as an import of ``pkg.name`` when that is a module of ours,
    else of ``pkg``.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"  # the codebase uses none
            base = node.module or ""
            for alias in node.names:
                name = f"{base}.{alias.name}"
                yield name if name in MODULES else base


def ours(name: str) -> bool:
    return name.split(".")[0] in PACKAGES


def test_no_cycle_between_the_packages() -> None:
    edges = {
        (module_name(path).split(".")[0], name.split(".")[0])
        for path in source_files()
        for name in imported_modules(path)
        if ours(name) and name.split(".")[0] != module_name(path).split(".")[0]
    }
    assert edges <= {("jobs", "pipeline"), ("jobs", "fileapi"), ("fileapi", "pipeline")}, edges


def test_the_server_uses_only_the_bottom_of_the_library() -> None:
    used = {
        f"{module_name(path)} imports {name}"
        for path in sorted((ROOT / "fileapi").rglob("*.py"))
        for name in imported_modules(path)
        if name.split(".")[0] == "pipeline" and name not in BOTTOM_OF_PIPELINE
    }
    assert not used


def test_no_import_cycle_between_modules() -> None:
    """No circle, counting every import: at module level, inside a function (a late import
    hides a circle, it does not remove it) and under ``TYPE_CHECKING``."""
    graph = {
        name: {target for target in imported_modules(path) if target in MODULES and target != name}
        for name, path in MODULES.items()
    }
    state: dict[str, str] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                cycles.append([*trail[trail.index(target) :], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, cycles


def test_the_bottom_of_the_library_imports_only_itself() -> None:
    used = {
        f"{module} imports {name}"
        for module in sorted(BOTTOM_OF_PIPELINE)
        for name in imported_modules(MODULES[module])
        if ours(name) and name not in BOTTOM_OF_PIPELINE
    }
    assert not used

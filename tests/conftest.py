"""Shared fixtures: real servers on 127.0.0.1 (ferry's File Upload API and source servers)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner, Result

from fileapi import BackgroundServer, ServerSettings, make_app
from fileapi.sources import make_source_app

API_KEY = "test-key-9f8e7d6c5b4a"
#: Object store servers (moto's S3, Azurite, a GCS emulator) and their fixtures.
pytest_plugins = ["tests.helpers.store_servers"]


@pytest.fixture
def stack() -> Iterator[contextlib.ExitStack]:
    """An exit stack that stops every server a test started."""
    with contextlib.ExitStack() as servers:
        yield servers


@pytest.fixture
def start_api(tmp_path: Path, stack: contextlib.ExitStack) -> Callable[..., BackgroundServer]:
    """Start ferry's File Upload API on loopback; keyword arguments override ServerSettings."""

    def start(**overrides: Any) -> BackgroundServer:
        settings = ServerSettings(
            data_dir=tmp_path / f"api-data-{len(stack._exit_callbacks)}",
            keys=(API_KEY,),
            allow_private_sources=True,
            port=0,
        )
        settings = replace(settings, **overrides)
        return stack.enter_context(BackgroundServer(make_app(settings)))

    return start


@pytest.fixture
def api(start_api: Callable[..., BackgroundServer]) -> BackgroundServer:
    """A default File Upload API server."""
    return start_api()


@pytest.fixture
def start_sources(stack: contextlib.ExitStack) -> Callable[..., BackgroundServer]:
    """Start a source server serving a path→bytes mapping (or a folder) on loopback."""

    def start(files: Mapping[str, bytes] | Path, **options: Any) -> BackgroundServer:
        return stack.enter_context(BackgroundServer(make_source_app(files, **options)))

    return start


@pytest.fixture
def sources(start_sources: Callable[..., BackgroundServer]) -> BackgroundServer:
    """A source server with 40 small files ``f000.txt`` ... ``f039.txt``."""
    return start_sources({f"f{i:03d}.txt": f"file {i}\n".encode() * (i + 1) for i in range(40)})


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Run ``ferry ARGS`` in-process with Click's runner; the API key comes from the environment."""
    from jobs.cli import main

    monkeypatch.setenv("KIE_API_KEY", API_KEY)
    for name in ("FERRY_BASE_URL", "FERRY_SHARD", "FERRY_ACCOUNT_URL"):
        monkeypatch.delenv(name, raising=False)

    def invoke(*args: str, env: Mapping[str, str] | None = None) -> Result:
        runner = CliRunner()
        return runner.invoke(
            main, [str(a) for a in args], env=dict(env or {}), catch_exceptions=False
        )

    return invoke


def write_manifest(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write ``rows`` as a CSV or Parquet manifest, by the path's extension."""
    frame = pl.DataFrame(rows)
    if path.suffix == ".parquet":
        frame.write_parquet(path)
    else:
        frame.write_csv(path)
    return path


def url_rows(base_url: str, count: int, **extra: Any) -> list[dict[str, Any]]:
    """Manifest rows pointing at ``f000.txt`` ... on the source server at ``base_url``."""
    return [
        {"id": f"row-{i:03d}", "url": f"{base_url}/f{i:03d}.txt", **extra} for i in range(count)
    ]

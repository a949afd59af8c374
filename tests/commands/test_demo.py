"""``ferry demo``: runs offline as designed and shows what a failed row looks like."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from click.testing import Result

Cli = Callable[..., Result]


def test_demo_shows_the_failed_rows_with_their_errors(cli: Cli, tmp_path: Path) -> None:
    result = cli("demo", "--workdir", tmp_path / "demo")
    assert result.exit_code == 0, result.stderr
    assert "ferry demo: as designed: 30 rows uploaded, 2 failed on purpose" in result.stderr
    tables = result.stdout
    assert "the 2 failed rows, and what went wrong (a rerun retries them):" in tables
    failed = tables.split("the 2 failed rows", 1)[1]
    assert "error_kind" in failed and "error" in failed
    assert "missing-source" in failed and "source_error" in failed
    assert "File download failed" in failed
    assert "bad-scheme" in failed and "invalid_row" in failed
    assert "unsupported scheme 'ftp'" in failed

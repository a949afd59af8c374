"""The plan counts a repeated row once and refuses an id on two different rows.

Hashed identities (no ``id`` column) are compared by identity alone: rows that share one have
the same source and target. Explicit ids are compared with their rows' sources and targets.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

Cli = Callable[..., Result]


def dry_run(cli: Cli, folder: Path, text: str) -> Result:
    """``ferry run --dry-run --json`` of a manifest holding ``text``."""
    manifest = folder / "m.csv"
    manifest.write_text(text, encoding="utf-8")
    return cli("run", manifest, "--base-url", "http://127.0.0.1:9", "--dry-run", "--json")


def planned(result: Result) -> dict[str, int]:
    assert result.exit_code == 0, result.stderr
    counts: dict[str, int] = json.loads(result.stdout)
    return counts


def test_identical_rows_without_ids_count_once(cli: Cli, tmp_path: Path) -> None:
    text = (
        "url,upload_path,file_name\n"
        "https://e.com/a,x,a.jpg\n"
        "https://e.com/a,y,a.jpg\n"  # another folder: another row
        " https://e.com/a , x ,a.jpg\n"  # the first row again, once normalised
        "https://e.com/a,x,\n"  # no file_name: another row
        "https://e.com/a,x,a.jpg\n"
    )
    counts = planned(dry_run(cli, tmp_path, text))
    assert counts == {"new": 3, "retry": 0, "refresh": 0, "skip": 0}


def test_an_explicit_id_on_identical_rows_counts_once(cli: Cli, tmp_path: Path) -> None:
    text = "id,url\n1,https://e.com/a\n2,https://e.com/a\n1,https://e.com/a\n"
    counts = planned(dry_run(cli, tmp_path, text))
    assert counts == {"new": 2, "retry": 0, "refresh": 0, "skip": 0}


def test_an_explicit_id_on_two_different_rows_is_a_bad_manifest(cli: Cli, tmp_path: Path) -> None:
    text = "id,url\n1,https://e.com/a\n2,https://e.com/b\n1,https://e.com/c\n"
    result = dry_run(cli, tmp_path, text)
    assert result.exit_code == 2
    assert "column 'id': duplicate id '1' in rows 1 and 3" in result.stderr, result.stderr

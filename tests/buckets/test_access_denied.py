"""A store that answers 403 (here Azurite, which checks every signature and shared-key request):
the row fails as ``source_error`` at once, by URL and by relay, and no signed URL shows."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from fileapi import BackgroundServer
from pipeline.store.table import read_results
from tests.conftest import write_manifest
from tests.helpers.store_servers import AZURITE_ACCOUNT, Azurite

Cli = Callable[..., Result]

#: A well-formed account key that is not the account's: every request signed with it is refused.
WRONG_KEY = base64.b64encode(
    b"not the account key, but 64 bytes long like the real one......"
).decode()


@pytest.mark.parametrize("via", ["url", "relay"])
def test_a_403_fails_its_row_as_a_source_error(
    via: str,
    azurite: Azurite,
    store_env: pytest.MonkeyPatch,
    cli: Cli,
    api: BackgroundServer,
    tmp_path: Path,
) -> None:
    container = azurite.container(store_env, {"private/one.txt": b"one"})
    wrong = azurite.connection_string.replace(
        azurite.connection_string.split("AccountKey=")[1].split(";")[0], WRONG_KEY
    )
    assert AZURITE_ACCOUNT in wrong and WRONG_KEY in wrong
    store_env.setenv("AZURE_STORAGE_CONNECTION_STRING", wrong)
    uri = f"az://{container}/private/one.txt"
    manifest = write_manifest(tmp_path / "m.csv", [{"url": uri}])
    result = cli("run", manifest, "--base-url", api.base_url, "--via", via, "--retries", "2")
    assert result.exit_code == 1, result.stderr
    table = read_results(tmp_path / "m.results.parquet")
    assert table["status"].to_list() == ["failed"]
    assert table["error_kind"].to_list() == ["source_error"]
    assert table["attempts"].to_list() == [1]  # permanent: a retry would be refused again
    assert table["url"].to_list() == [uri]
    error = table["error"][0]
    assert "403" in error or "access denied" in error, error
    for text in (error, result.stdout, result.stderr):
        assert "sig=" not in text and "se=" not in text, text

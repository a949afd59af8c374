"""Azure Blob Storage (Azurite, which checks SAS signatures) and GCS (gcp-storage-emulator) as
sources, end to end through ferry's API on loopback.

What the GCS emulator cannot do: it speaks only GCS's JSON API and its public download path, so
obstore's listing and reads (GCS's XML API) do not work against it, and it does not check
signatures. For GCS the tests migrate by signed URL (the emulator serves them) and check the V4
signature itself against the throwaway key's public half.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import pytest
from click.testing import Result

from fileapi import BackgroundServer
from pipeline.store.table import read_results
from tests.conftest import write_manifest
from tests.helpers.store_servers import (
    AWKWARD_KEYS,
    AZURITE_ACCOUNT,
    AZURITE_KEY,
    S3,
    Azurite,
    Gcs,
    body_of,
    downloaded,
    migrate_keys,
)

Cli = Callable[..., Result]


@pytest.mark.parametrize("via", ["url", "relay"])
def test_azure_blobs_with_awkward_names_migrate(
    via: str,
    azurite: Azurite,
    store_env: pytest.MonkeyPatch,
    cli: Cli,
    api: BackgroundServer,
    tmp_path: Path,
) -> None:
    container = azurite.container(store_env, {key: body_of(key) for key in AWKWARD_KEYS})
    migrate_keys(cli, api.base_url, tmp_path, f"az://{container}", AWKWARD_KEYS, "--via", via)


def test_azurite_refuses_a_tampered_sas(azurite: Azurite, store_env: pytest.MonkeyPatch) -> None:
    """The signing is proven by Azurite: the same URL with one signature byte changed fails."""
    from pipeline.buckets.environment import read_environment
    from pipeline.buckets.registry import Stores
    from pipeline.buckets.signing import Signer
    from pipeline.buckets.uris import parse_store_uri

    key = "photos/sp ace+é.txt"
    container = azurite.container(store_env, {key: b"x"})
    uri = parse_store_uri(f"az://{container}/{key}")
    assert uri is not None
    signed = Signer(Stores(read_environment()), 60).sign(uri)
    assert downloaded(signed) == b"x"
    at = signed.index("sig=") + len("sig=")
    forged = signed[:at] + ("B" if signed[at] == "A" else "A") + signed[at + 1 :]
    with pytest.raises(urllib.error.HTTPError) as refused:
        downloaded(forged)
    assert refused.value.code == 403


def test_an_azure_prefix_and_the_https_form(
    azurite: Azurite,
    store_env: pytest.MonkeyPatch,
    cli: Cli,
    api: BackgroundServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    objects = {"docs/a b.txt": b"ab", "docs/sub/c.txt": b"c", "other.txt": b"o"}
    container = azurite.container(store_env, objects)
    monkeypatch.chdir(tmp_path)
    result = cli("run", f"az://{container}/docs/", "--base-url", api.base_url)
    assert result.exit_code == 0, result.stderr
    table = read_results(tmp_path / "docs.results.parquet").sort("id")
    assert table["id"].to_list() == [
        f"az://{container}/docs/a b.txt",
        f"az://{container}/docs/sub/c.txt",
    ]
    assert table["upload_path"].to_list() == ["ferry", "ferry/sub"]
    assert table["size"].to_list() == [2, 1]
    assert table["md5"].to_list() == [None, None]  # an Azure ETag is no MD5

    https = f"https://{AZURITE_ACCOUNT}.blob.core.windows.net/{container}/docs/a%20b.txt"
    manifest = write_manifest(tmp_path / "m.csv", [{"url": https}])
    result = cli("run", manifest, "--base-url", api.base_url, "--via", "relay")
    assert result.exit_code == 0, result.stderr
    assert downloaded(read_results(tmp_path / "m.results.parquet")["download_url"][0]) == b"ab"


def test_gcs_objects_migrate_by_signed_url(
    gcs: Gcs, store_env: pytest.MonkeyPatch, cli: Cli, api: BackgroundServer, tmp_path: Path
) -> None:
    # not ';': ferry serve's URL library turns the signed URL's %3B back into ';', and the
    # emulator then cuts the path there (Python's urlparse takes it for parameters)
    keys = [key for key in AWKWARD_KEYS if ";" not in key]
    bucket = gcs.bucket(store_env, {key: body_of(key) for key in keys})
    migrate_keys(cli, api.base_url, tmp_path, f"gs://{bucket}", keys)


def test_gcs_signature_verifies_with_the_service_accounts_public_key(
    gcs: Gcs, store_env: pytest.MonkeyPatch
) -> None:
    """Google's V4 signing, recomputed from the URL (the emulator does not check it)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    from pipeline.buckets.environment import read_environment
    from pipeline.buckets.registry import Stores
    from pipeline.buckets.signing import Signer
    from pipeline.buckets.uris import parse_store_uri

    bucket = gcs.bucket(store_env, {})
    for key in ("plain.txt", "dir/q?m#a%41 é;+.txt"):
        uri = parse_store_uri(f"gs://{bucket}/{key}")
        assert uri is not None
        signed = Signer(Stores(read_environment()), 600).sign(uri)
        parts = urlsplit(signed)
        assert unquote(parts.path) == f"/{bucket}/{key}"  # the URL names the very object
        query = dict(parse_qsl(parts.query))
        signature = bytes.fromhex(query.pop("X-Goog-Signature"))
        canonical_query = "&".join(
            sorted(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in query.items())
        )
        # the library signs for GCS's own host, whatever the base URL (the emulator's here)
        canonical = "\n".join(
            [
                "GET",
                parts.path,
                canonical_query,
                "host:storage.googleapis.com",
                "",
                "host",
                "UNSIGNED-PAYLOAD",
            ]
        )
        scope = query["X-Goog-Credential"].split("/", 1)[1]
        to_sign = "\n".join(
            [
                "GOOG4-RSA-SHA256",
                query["X-Goog-Date"],
                scope,
                hashlib.sha256(canonical.encode()).hexdigest(),
            ]
        )
        gcs.public_key.verify(signature, to_sign.encode(), padding.PKCS1v15(), hashes.SHA256())


@pytest.mark.parametrize("via", ["url", "relay"])
def test_azure_with_a_sas_token_instead_of_a_key(
    via: str,
    azurite: Azurite,
    store_env: pytest.MonkeyPatch,
    cli: Cli,
    api: BackgroundServer,
    tmp_path: Path,
) -> None:
    from datetime import UTC, datetime, timedelta

    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    keys = ["plain.txt", "sp ace.txt"]
    container = azurite.container(store_env, {key: body_of(key) for key in keys})
    token = generate_container_sas(
        AZURITE_ACCOUNT,
        container,
        account_key=AZURITE_KEY,
        permission=ContainerSasPermissions(read=True, list=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    store_env.setenv(
        "AZURE_STORAGE_CONNECTION_STRING",
        f"BlobEndpoint={azurite.endpoint};SharedAccessSignature={token}",
    )
    migrate_keys(cli, api.base_url, tmp_path, f"az://{container}", keys, "--via", via)


def test_aws_profile_keys(
    moto_s3: S3, store_env: pytest.MonkeyPatch, cli: Cli, api: BackgroundServer, tmp_path: Path
) -> None:
    bucket = moto_s3.bucket(store_env, {"a.txt": body_of("a.txt")})
    store_env.delenv("AWS_ACCESS_KEY_ID")
    store_env.delenv("AWS_SECRET_ACCESS_KEY")
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[default]\naws_access_key_id = wrong\naws_secret_access_key = wrong\n"
        "[migration]\naws_access_key_id = testing\naws_secret_access_key = testing-secret\n"
    )
    store_env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    store_env.setenv("AWS_PROFILE", "migration")
    migrate_keys(cli, api.base_url, tmp_path, f"s3://{bucket}", ["a.txt"], "--via", "relay")
    store_env.setenv("AWS_PROFILE", "nobody")
    result = cli("run", tmp_path / "m.csv", "--base-url", api.base_url, "--dry-run")
    assert result.exit_code == 2 and "AWS_PROFILE 'nobody' has no keys" in result.stderr

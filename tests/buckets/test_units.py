"""The small pure parts of pipeline.buckets: bucket URIs, redaction, credentials from variables."""

from __future__ import annotations

import pytest

from pipeline.buckets.environment import StoreEnvironment
from pipeline.buckets.registry import store_failure
from pipeline.buckets.signing import redact
from pipeline.buckets.uris import StoreUri, parse_store_uri
from pipeline.core.errors import MissingCredentialsError

SIGNED = (
    "https://bkt.s3.amazonaws.com/a/two%20words.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAEXAMPLE%2F20260101%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20260101T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=0123456789abcdef"
)


@pytest.mark.parametrize(
    ("text", "uri"),
    [
        ("s3://b/a b?c#d", StoreUri("s3", "b", "a b?c#d")),
        ("GS://b/", StoreUri("gs", "b", "")),
        ("az://c", StoreUri("az", "c", "")),
        ("https://acct.blob.core.windows.net/c/a%20b.txt", StoreUri("az", "c", "a b.txt", "acct")),
        ("https://acct.blob.core.windows.net/c/a.txt?sv=1&sig=x", None),
        ("https://example.com/c/a.txt", None),
        ("s3:///key", None),
        ("/local/path", None),
    ],
)
def test_bucket_uris(text: str, uri: StoreUri | None) -> None:
    assert parse_store_uri(text) == uri


def test_an_echoed_signed_url_becomes_the_bucket_uri_in_every_form() -> None:
    uri = "s3://bkt/a/two words.txt"
    for echo in (SIGNED, SIGNED.replace("%20", " "), SIGNED.split("?")[0] + "?X-Amz-Alg"):
        assert redact(f"File download failed: {echo} (403)", SIGNED, uri) == (
            f"File download failed: {uri} (403)"
        )
    query_only = redact(f"bad query {SIGNED.split('?')[1]}", SIGNED, uri)
    assert "0123456789abcdef" not in query_only and "AKIAEXAMPLE" not in query_only
    assert redact("no echo here; response=1", SIGNED, uri) == "no echo here; response=1"


def test_a_store_error_does_not_carry_a_sas_token() -> None:
    error = RuntimeError("Error performing GET http://h/c/b?sv=2023&se=2026&sig=SECRET in 3ms")
    text = str(store_failure(StoreUri("az", "c", "b"), error))
    assert "SECRET" not in text and "sig=<redacted>" in text


def test_credentials_from_variables() -> None:
    env = StoreEnvironment(
        {"AZURE_STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true", "HOME": "/nonexistent"}
    )
    account = env.azure_account()
    assert account is not None and account.endpoint.endswith("/devstoreaccount1")
    assert env.s3_config() is None
    with pytest.raises(MissingCredentialsError, match=r"^s3:// sources \(S3\): no credentials"):
        env.require(StoreUri("s3", "b", "k"), sign=True)
    s3 = StoreEnvironment({"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}).s3_config()
    assert s3 == {"region": "us-east-1", "access_key_id": "a", "secret_access_key": "b"}
    other = StoreUri("az", "c", "k", account="someoneelse")
    with pytest.raises(MissingCredentialsError, match="not 'someoneelse'"):
        env.require(other, sign=True)

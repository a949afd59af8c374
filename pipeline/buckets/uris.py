"""Bucket URIs: ``s3://bucket/key``, ``gs://bucket/object``, ``az://container/blob`` and Azure's
own ``https://ACCOUNT.blob.core.windows.net/container/blob``.

The key of an ``s3://``, ``gs://`` or ``az://`` URI is everything after ``bucket/``, taken
literally (no percent-decoding: ``?``, ``#``, ``%`` and spaces are part of the key, as in
``aws s3 cp`` and ``gsutil``). The Azure ``https://`` form is a URL: its path is
percent-decoded, and one with a query (``?sv=...``: already a SAS URL) is a plain web URL, not a
bucket URI. Light on purpose (no polars, no obstore): the CLI and the row checks import it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import quote, unquote, urlsplit

Scheme = Literal["s3", "gs", "az"]
#: The URI schemes of the object stores, as a manifest writes them.
STORE_SCHEMES: Final[frozenset[str]] = frozenset({"s3", "gs", "az"})
#: The host of an Azure Blob Storage account's own URLs.
AZURE_BLOB_HOST: Final = re.compile(r"^([a-z0-9]{3,24})\.blob\.core\.windows\.net$", re.I)
#: A regular expression that matches every bucket URI (and a few https URLs that are not, such
#: as SAS URLs: :func:`parse_store_uri` tells them apart). For polars' vectorised checks.
STORE_URI_PATTERN: Final = r"^([Ss]3|[Gg][Ss]|[Aa][Zz])://|^[Hh][Tt][Tt][Pp][Ss]://[A-Za-z0-9]{3,24}\.blob\.core\.windows\.net/"
PROVIDERS: Final[dict[Scheme, str]] = {"s3": "S3", "gs": "GCS", "az": "Azure Blob Storage"}


@dataclass(frozen=True, slots=True)
class StoreUri:
    """A parsed bucket URI: the store's ``scheme``, ``bucket`` (an Azure container), ``key``
    (``""`` or ending in ``/`` for a prefix) and, for Azure's ``https://`` form, ``account``."""

    scheme: Scheme
    bucket: str
    key: str
    account: str | None = None

    @property
    def is_prefix(self) -> bool:
        """A whole bucket, or a "folder" (the key ends in ``/``): a listing, not one object."""
        return self.key == "" or self.key.endswith("/")

    @property
    def store_id(self) -> tuple[str, str, str]:
        """What one store client serves: the scheme, the account (Azure) and the bucket."""
        return (self.scheme, self.account or "", self.bucket)

    def child(self, key: str) -> str:
        """The ``scheme://bucket/key`` URI of ``key`` in the same bucket (Azure's https form
        gives ``az://`` children only when it named no account)."""
        if self.account is not None:
            path = quote(f"{self.bucket}/{key}", safe="/~")
            return f"https://{self.account}.blob.core.windows.net/{path}"
        return f"{self.scheme}://{self.bucket}/{key}"

    def __str__(self) -> str:
        return self.child(self.key)


def parse_store_uri(text: str) -> StoreUri | None:
    """The :class:`StoreUri` that ``text`` names, or None when it is no bucket URI (a web URL,
    a path, an Azure URL with a query, ...). A bucket URI without a bucket is None too."""
    scheme, sep, rest = text.partition("://")
    lower = scheme.lower()
    if not sep:
        return None
    if lower in STORE_SCHEMES:
        bucket, _, key = rest.partition("/")
        if not bucket:
            return None
        return StoreUri(lower, bucket, key)  # type: ignore[arg-type]
    if lower == "https":
        return _azure_https(text)
    return None


def _azure_https(text: str) -> StoreUri | None:
    parts = urlsplit(text)
    match = AZURE_BLOB_HOST.match(parts.hostname or "")
    if match is None or parts.query or parts.fragment or parts.port or parts.username:
        return None
    container, _, blob = unquote(parts.path).lstrip("/").partition("/")
    if not container:
        return None
    return StoreUri("az", container, blob, account=match.group(1).lower())


def is_store_uri(text: str) -> bool:
    """True when ``text`` names an object or prefix in a bucket."""
    return parse_store_uri(text) is not None


def is_listing(text: str) -> bool:
    """True for a bucket prefix given as MANIFEST: ``s3://bucket/photos/``, ``gs://bucket``."""
    uri = parse_store_uri(text)
    return uri is not None and uri.is_prefix


def key_problem(key: str) -> str | None:
    """Why an object ``key`` cannot be addressed, or None: empty, a folder (``/`` at the end),
    or a path segment that is empty, ``.`` or ``..`` (the object store library refuses them)."""
    if not key:
        return "no object key"
    if key.endswith("/"):
        return "the key ends in '/' (a folder, not an object)"
    if any(part in ("", ".", "..") for part in key.lstrip("/").split("/")):
        return "the key has an empty, '.' or '..' path segment, which ferry cannot address"
    return None

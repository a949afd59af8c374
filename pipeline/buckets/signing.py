"""Signed GET URLs for ``--via url``: made right before each upload call, never stored.

=========  ======================================================================================
store      how
=========  ======================================================================================
S3         obstore (SigV4 query signing, HMAC: about 50,000 URLs/s on one core)
GCS        obstore (V4 signing with the service account's RSA key: about 1,000 URLs/s on one
           core, so it runs in a worker thread). object_store writes the key into the URL
           without escaping ``%``, ``?`` and ``#``, so ferry hands it the key escaped as Google's
           own client does (every byte but letters, digits, ``-._~/``)
Azure      the Azure SDK's ``generate_blob_sas`` (a service SAS, read only). object_store signs
           the percent-encoded path where Azure signs the blob's name, so its SAS fails for any
           name with a space, ``%``, ``?``, ``#`` or a non-ASCII letter (Azurite proves it); with
           ``AZURE_STORAGE_SAS_TOKEN`` the token itself is appended (there is no key to sign with)
=========  ======================================================================================

A signed URL is a credential: it goes into the upload call's body and nowhere else
(:func:`redact` takes it out of any message that echoes it).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final
from urllib.parse import quote, unquote

from pipeline.buckets.registry import Stores, scrub_signatures, store_failure
from pipeline.buckets.uris import StoreUri
from pipeline.core.errors import PipelineError
from pipeline.core.settings import DEFAULT_PRESIGN_EXPIRY

#: Azure SAS start, a little in the past: the store's clock may run behind ferry's.
_CLOCK_SKEW: Final = timedelta(minutes=5)


class Signer:
    """Signs GET URLs for objects with the run's store credentials."""

    def __init__(self, stores: Stores, expiry_seconds: float = DEFAULT_PRESIGN_EXPIRY) -> None:
        self._stores = stores
        self._expiry = timedelta(seconds=expiry_seconds)

    @staticmethod
    def is_slow(uri: StoreUri) -> bool:
        """True when signing costs a millisecond (an RSA signature): do it off the loop."""
        return uri.scheme == "gs"

    def sign(self, uri: StoreUri) -> str:
        """A URL that GETs ``uri`` for the next ``--presign-expiry``; a ``source_error`` when
        it cannot be made."""
        try:
            if uri.scheme == "az":
                return self._azure(uri)
            import obstore

            key = quote(uri.key, safe="/~") if uri.scheme == "gs" else uri.key
            return obstore.sign(self._stores.client(uri), "GET", key, self._expiry)
        except PipelineError:
            raise
        except Exception as exc:  # obstore's errors, translated in one place
            raise store_failure(uri, exc) from None

    def _azure(self, uri: StoreUri) -> str:
        account = self._stores.environment.azure_account()
        assert account is not None  # checked by StoreEnvironment.require
        url = f"{account.endpoint}/{quote(uri.bucket, safe='')}/{quote(uri.key, safe='/~')}"
        if account.key is None:
            return f"{url}?{account.sas_token}"
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas

        now = datetime.now(UTC)
        token = generate_blob_sas(
            account.name,
            uri.bucket,
            uri.key,
            account_key=account.key,
            permission=BlobSasPermissions(read=True),
            start=now - _CLOCK_SKEW,
            expiry=now + self._expiry,
        )
        return f"{url}?{token}"


_QUERY_TAIL: Final = r"[^\s\"'<>]*"


def redact(text: str, signed_url: str, uri: str) -> str:
    """``text`` with ``signed_url`` (and any echo of it, whole or cut, escaped or not) replaced
    by the bucket URI ``uri``."""
    base = signed_url.split("?", 1)[0]
    forms = sorted({base, unquote(base), signed_url, unquote(signed_url)}, key=len, reverse=True)
    pattern = "|".join(re.escape(form) + _QUERY_TAIL for form in forms)
    cleaned = re.sub(pattern, lambda _m: uri, text)
    return scrub_signatures(cleaned)  # whatever is left (a message that quoted the query)

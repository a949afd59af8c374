"""How one row reaches the API: URL upload, relay, stream of a local file, or Base64.

=================  ==============================  ===========  ==============================
source             ``--via``                       ``method``   API endpoint
=================  ==============================  ===========  ==============================
``http(s)://``     ``url`` (default)               ``url``      ``/api/file-url-upload``
``http(s)://``     ``relay``                       ``stream``   ferry downloads, then stream
``http(s)://``     ``auto``                        either       URL first; relay on source_error
bucket URI         ``url`` (default)               ``url``      a signed URL, made per call
bucket URI         ``relay``                       ``stream``   ferry reads the object, then stream
bucket URI         ``auto``                        either       URL first; relay on source_error
local path         any                             ``stream``   ``/api/file-stream-upload``
``file://``        any                             ``stream``   ``/api/file-stream-upload``
``data:``          any                             ``base64``   ``/api/file-base64-upload``
=================  ==============================  ===========  ==============================

The bytes of a stream upload come from :mod:`pipeline.upload.sources`. A bucket URI
(``s3://``, ``gs://``, ``az://``) is signed right before each URL upload call (every try,
every run: :mod:`pipeline.buckets.signing`); the signed URL goes into that call's body only, and
any message that echoes it carries the bucket URI instead. A row's expected ``size``,
``md5`` and ``sha256`` (:mod:`pipeline.upload.checksums`) are checked where ferry sees the bytes: a
``data:`` URL before it is sent, a stream while it is sent (a mismatch then fails the row after
the upload), and a URL upload's ``size`` against the API's ``fileSize``.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass
from typing import Literal

from pipeline.buckets.signing import Signer, redact
from pipeline.buckets.uris import StoreUri
from pipeline.core.errors import SourceError, UploadError
from pipeline.core.settings import Via
from pipeline.plan.rows import PlannedRow
from pipeline.upload.checksums import check_data_url, size_mismatch
from pipeline.upload.client import ApiClient, Uploaded
from pipeline.upload.sources import Sources, is_local

Method = Literal["url", "stream", "base64"]


@dataclass(frozen=True)
class Transfers:
    """Chooses and performs the upload of one row according to its source and ``--via``."""

    sources: Sources
    via: Via = "url"
    #: Signs bucket URIs for URL uploads (None: bucket URIs are not expected).
    signer: Signer | None = None

    def method_for(self, job: PlannedRow, *, relaying: bool = False) -> Method:
        """The upload method this row uses (``relaying``: auto has fallen back to relay)."""
        url = job.url or ""
        if url.startswith("data:"):
            return "base64"
        if is_local(url) or relaying or self.via == "relay":
            return "stream"
        return "url"

    async def send(self, client: ApiClient, job: PlannedRow, method: Method) -> Uploaded:
        """Upload ``job`` with ``method``; a :class:`~pipeline.core.errors.ChecksumMismatchError`
        when the bytes disagree with the row's expected values."""
        url = job.url or ""  # only invalid rows lack a URL, and they are never sent
        expected = job.expected
        if method == "base64":
            if expected is not None:
                check_data_url(url, expected)
            return await client.upload_base64(url, job.upload_path, job.file_name)
        if method == "url":
            stores = self.sources.stores
            uri = stores.resolve(url) if stores is not None and self.signer else None
            if uri is None:
                uploaded = await client.upload_url(url, job.upload_path, job.file_name)
            else:
                uploaded = await self._upload_signed(client, job, uri)
            size_mismatch(expected, uploaded.file_size, note=" (the API's fileSize)")
            return uploaded
        async with self.sources.open(
            url, job.file_name, expected, mirrors=job.mirrors or (), headers=job.headers or ()
        ) as body:
            try:
                uploaded = await client.upload_stream(
                    body.chunks,
                    job.upload_path,
                    job.file_name,
                    part_name=body.part_name,
                    content_type=body.content_type,
                )
            except UploadError:
                body.tap.raise_failure()  # a source that broke off is the cause, not the API
                raise
            body.tap.check()
            return uploaded

    async def _upload_signed(self, client: ApiClient, job: PlannedRow, uri: StoreUri) -> Uploaded:
        """A URL upload of a bucket object from a URL signed just now; the signed URL never
        leaves this call (an answer that echoes it is redacted)."""
        assert self.signer is not None
        if Signer.is_slow(uri):  # an RSA signature: a millisecond, on another core
            signed = await asyncio.get_running_loop().run_in_executor(None, self.signer.sign, uri)
        else:
            signed = self.signer.sign(uri)
        try:
            return await client.upload_url(signed, job.upload_path, job.file_name)
        except UploadError as exc:
            clean = copy.copy(exc)
            clean.args = (redact(str(exc), signed, job.url or ""),)
            raise clean from None  # not chained: the original's text holds the signed URL
        except Exception as exc:  # a bug: the run records it as one, without the signed URL
            text = redact(str(exc), signed, job.url or "")
            raise RuntimeError(f"{type(exc).__name__}: {text}") from None

    def falls_back(self, job: PlannedRow, error: Exception, method: Method) -> bool:
        """``--via auto``: a URL upload the API could not fetch is relayed instead."""
        return (
            self.via == "auto"
            and method == "url"
            and isinstance(error, SourceError)
            and not is_local(job.url or "")
        )

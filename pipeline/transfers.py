"""How one row reaches the API: URL upload, relay, stream of a local file, or Base64.

=================  ==============================  ===========  ==============================
source             ``--via``                       ``method``   API endpoint
=================  ==============================  ===========  ==============================
``http(s)://``     ``url`` (default)               ``url``      ``/api/file-url-upload``
``http(s)://``     ``relay``                       ``stream``   ferry downloads, then stream
``http(s)://``     ``auto``                        either       URL first; relay on source_error
local path         any                             ``stream``   ``/api/file-stream-upload``
``file://``        any                             ``stream``   ``/api/file-stream-upload``
``data:``          any                             ``base64``   ``/api/file-base64-upload``
=================  ==============================  ===========  ==============================

The bytes of a stream upload come from :mod:`pipeline.sources`. A row's expected ``size``,
``md5`` and ``sha256`` (:mod:`pipeline.checksums`) are checked where ferry sees the bytes: a
``data:`` URL before it is sent, a stream while it is sent (a mismatch then fails the row after
the upload), and a URL upload's ``size`` against the API's ``fileSize``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pipeline.checksums import check_data_url, size_mismatch
from pipeline.client import ApiClient, Uploaded
from pipeline.errors import SourceError, UploadError
from pipeline.rows import PlannedRow
from pipeline.settings import Via
from pipeline.sources import Sources, is_local

Method = Literal["url", "stream", "base64"]


@dataclass(frozen=True)
class Transfers:
    """Chooses and performs the upload of one row according to its source and ``--via``."""

    sources: Sources
    via: Via = "url"

    def method_for(self, job: PlannedRow, *, relaying: bool = False) -> Method:
        """The upload method this row uses (``relaying``: auto has fallen back to relay)."""
        url = job.url or ""
        if url.startswith("data:"):
            return "base64"
        if is_local(url) or relaying or self.via == "relay":
            return "stream"
        return "url"

    async def send(self, client: ApiClient, job: PlannedRow, method: Method) -> Uploaded:
        """Upload ``job`` with ``method``; a :class:`~pipeline.errors.ChecksumMismatchError`
        when the bytes disagree with the row's expected values."""
        url = job.url or ""  # only invalid rows lack a URL, and they are never sent
        expected = job.expected
        if method == "base64":
            if expected is not None:
                check_data_url(url, expected)
            return await client.upload_base64(url, job.upload_path, job.file_name)
        if method == "url":
            uploaded = await client.upload_url(url, job.upload_path, job.file_name)
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

    def falls_back(self, job: PlannedRow, error: Exception, method: Method) -> bool:
        """``--via auto``: a URL upload the API could not fetch is relayed instead."""
        return (
            self.via == "auto"
            and method == "url"
            and isinstance(error, SourceError)
            and not is_local(job.url or "")
        )

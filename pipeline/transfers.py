"""How one row's source reaches the API: URL upload, relay, stream of a local file, or Base64.

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
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pipeline.client import ApiClient, Uploaded
from pipeline.errors import SourceError
from pipeline.settings import Via

Method = Literal["url", "stream", "base64"]

Row = dict[str, Any]


def is_local(url: str) -> bool:
    """A local path or a ``file://`` URL."""
    return url.startswith("file://") or ("://" not in url and not url.startswith("data:"))


def local_path(url: str, base_dir: Path) -> Path:
    """The file a local source names; relative paths are relative to the manifest's folder."""
    raw = unquote(urlsplit(url).path) if url.startswith("file://") else url
    path = Path(raw).expanduser()
    return path if path.is_absolute() else base_dir / path


@dataclass(frozen=True)
class Transfers:
    """Chooses and performs the upload of one row according to its source and ``--via``."""

    via: Via = "url"
    base_dir: Path = Path(".")
    source_headers: Mapping[str, str] = field(default_factory=dict, repr=False)

    def method_for(self, job: Row, *, relaying: bool = False) -> Method:
        """The upload method this row uses (``relaying``: auto has fallen back to relay)."""
        url: str = job["url"] or ""
        if url.startswith("data:"):
            return "base64"
        if is_local(url) or relaying or self.via == "relay":
            return "stream"
        return "url"

    async def send(self, client: ApiClient, job: Row, method: Method) -> Uploaded:
        """Upload ``job`` with ``method``."""
        url: str = job["url"]
        if method == "base64":
            return await client.upload_base64(url, job["upload_path"], job["file_name"])
        if method == "url":
            return await client.upload_url(url, job["upload_path"], job["file_name"])
        if is_local(url):
            return await self._send_file(client, job, local_path(url, self.base_dir))
        return await client.relay(
            url, job["upload_path"], job["file_name"], source_headers=self.source_headers
        )

    @staticmethod
    async def _send_file(client: ApiClient, job: Row, path: Path) -> Uploaded:
        try:
            handle = open(path, "rb")  # noqa: SIM115 - aiohttp streams it, we close it below
        except OSError as exc:
            raise SourceError(f"cannot read {path}: {exc.strerror}") from exc
        with handle:
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            return await client.upload_stream(
                handle,
                job["upload_path"],
                job["file_name"],
                part_name=job["file_name"] or path.name,
                content_type=content_type,
            )

    def falls_back(self, job: Row, error: Exception, method: Method) -> bool:
        """``--via auto``: a URL upload the API could not fetch is relayed instead."""
        return (
            self.via == "auto"
            and method == "url"
            and isinstance(error, SourceError)
            and not is_local(job["url"] or "")
        )

"""Remote manifests, read in place as a stream: ``s3://``, ``gs://`` and ``az://`` through the
object stores' library (:mod:`pipeline.buckets`, with its credentials from the providers' usual
environment), ``https://`` (and ``http://``) through the standard library. Failures become
one-line :class:`ManifestError`.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from typing import Final

from pipeline.core.errors import ManifestError
from pipeline.manifest.messages import first_line
from pipeline.version import __version__

#: Seconds to wait for a remote manifest to connect or to send more bytes.
TIMEOUT: Final = 60.0


class _Stream:
    """A remote byte stream whose failures are all ``OSError`` (as a local file's are)."""

    def __init__(self, stream: object) -> None:
        self._stream = stream

    def read(self, size: int = -1, /) -> bytes:
        try:
            data: bytes = self._stream.read(size)  # type: ignore[attr-defined]
        except (OSError, http.client.HTTPException) as exc:
            raise OSError(f"the connection failed while reading ({first_line(exc)})") from exc
        return data

    def close(self) -> None:
        self._stream.close()  # type: ignore[attr-defined]


def open_remote(url: str) -> _Stream:
    """A byte stream of the remote manifest at ``url``."""
    if url.lower().startswith(("s3://", "gs://", "az://")):
        return _Stream(_open_object(url))
    return _Stream(_open_http(url))


def _open_object(url: str) -> object:
    from pipeline.buckets.reader import open_object_reader

    return open_object_reader(url)


def _open_http(url: str) -> object:
    request = urllib.request.Request(url, headers={"User-Agent": f"ferry/{__version__}"})
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT)
    except urllib.error.HTTPError as exc:
        raise ManifestError(url, f"HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        text = first_line(reason) if isinstance(reason, BaseException) else str(reason)
        raise ManifestError(url, f"cannot read: {text}") from exc

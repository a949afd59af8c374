"""One obstore client per bucket, built on first use from the :class:`StoreEnvironment`.

obstore (bindings of Rust's ``object_store``) lists, reads and signs for S3, GCS and Azure with
one interface; a client serves one bucket (an Azure container) and is cheap to keep. Its
errors become ferry's here (:func:`store_failure`), so no obstore exception leaves this package.
"""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

from pipeline.buckets.environment import StoreEnvironment, read_environment
from pipeline.buckets.uris import StoreUri, parse_store_uri
from pipeline.core.errors import SourceError, SourceUnavailableError, UploadError, one_line
from pipeline.version import __version__

if TYPE_CHECKING:
    from obstore.store import AzureStore, GCSStore, S3Store

    ObjectStore = S3Store | GCSStore | AzureStore

#: Longest wait for bytes to move (a source that stalls); never a limit on a whole transfer.
DEFAULT_READ_TIMEOUT: Final = 120.0
#: The stores' own retries of a request (listing pages above all); ferry retries rows itself.
_RETRY: Final = {"max_retries": 3, "retry_timeout": timedelta(seconds=60)}


class Stores:
    """The run's store clients, keyed by (scheme, account, bucket); safe to share by threads."""

    def __init__(
        self,
        environment: StoreEnvironment | None = None,
        *,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
    ) -> None:
        self.environment = environment if environment is not None else read_environment()
        self._read_timeout = read_timeout
        self._clients: dict[tuple[str, str, str], ObjectStore] = {}
        self._lock = threading.Lock()
        self._azure_name: str | None = None

    def resolve(self, url: str) -> StoreUri | None:
        """The object ``url`` names in a store ferry reads with credentials, or None (a web URL,
        or an Azure ``https://`` URL of an account the environment has no credentials for: a
        public blob, which the API fetches as it is)."""
        uri = parse_store_uri(url)
        if uri is None or uri.account is None:
            return uri
        if self._azure_name is None:
            account = self.environment.azure_account()
            self._azure_name = account.name.lower() if account is not None else ""
        return uri if uri.account == self._azure_name else None

    def client(self, uri: StoreUri) -> ObjectStore:
        """The obstore client of ``uri``'s bucket (credentials checked by the caller)."""
        found = self._clients.get(uri.store_id)
        if found is not None:
            return found
        with self._lock:
            found = self._clients.get(uri.store_id)
            if found is None:
                found = self._clients[uri.store_id] = self._make(uri)
            return found

    def _options(self, endpoint: str | None) -> dict[str, Any]:
        return {
            "allow_http": bool(endpoint and endpoint.lower().startswith("http://")),
            "user_agent": f"ferry/{__version__}",
            "connect_timeout": timedelta(seconds=10),
            "read_timeout": timedelta(seconds=self._read_timeout),
            "timeout": timedelta(days=1),  # a whole large object may take long: stalls time out
        }

    def _make(self, uri: StoreUri) -> ObjectStore:
        from obstore.store import AzureStore, GCSStore, S3Store

        env = self.environment
        env.require(uri, sign=False)  # never a client without credentials: it would ask a
        # cloud metadata endpoint, which hangs where there is none
        if uri.scheme == "s3":
            config = env.s3_config() or {}
            return S3Store(
                uri.bucket,
                config=config,  # type: ignore[arg-type]
                client_options=self._options(config.get("endpoint")),  # type: ignore[arg-type]
                retry_config=_RETRY,  # type: ignore[arg-type]
            )
        if uri.scheme == "gs":
            gcs = env.gcs_config()
            return GCSStore(
                uri.bucket,
                config=gcs,  # type: ignore[arg-type]
                client_options=self._options(gcs.get("base_url")),  # type: ignore[arg-type]
                retry_config=_RETRY,  # type: ignore[arg-type]
            )
        account = env.azure_account()
        assert account is not None  # checked by StoreEnvironment.require
        azure: dict[str, Any] = {"account_name": account.name, "endpoint": account.endpoint}
        if account.key:
            azure["account_key"] = account.key
        else:
            azure["sas_key"] = account.sas_token
        return AzureStore(
            uri.bucket,
            config=azure,  # type: ignore[arg-type]
            client_options=self._options(account.endpoint),  # type: ignore[arg-type]
            retry_config=_RETRY,  # type: ignore[arg-type]
        )


def store_failure(uri: StoreUri, exc: BaseException) -> UploadError:
    """ferry's error for an obstore failure on ``uri``: a missing object, bucket or a refusal
    is a permanent ``source_error``; anything else (network, 5xx) may pass and is retried."""
    import obstore.exceptions as oe

    reason = _reason(exc)
    if isinstance(exc, FileNotFoundError):
        return SourceError(f"{uri}: no such object or bucket", http_status=404)
    if isinstance(exc, oe.PermissionDeniedError | oe.UnauthenticatedError):
        return SourceError(f"{uri}: access denied ({reason})", http_status=403)
    if isinstance(exc, oe.InvalidPathError | oe.NotSupportedError):
        return SourceError(f"{uri}: {reason}")
    if "404 Not Found" in reason:  # a missing bucket is a GenericError in some stores
        return SourceError(f"{uri}: no such object or bucket", http_status=404)
    return SourceUnavailableError(f"{uri}: {reason}")


def failure_reason(uri: StoreUri, exc: BaseException, *, missing: str) -> str:
    """What went wrong with ``uri``, for a message that names it already (``missing``: what
    to say for a 404)."""
    failure = store_failure(uri, exc)
    if failure.http_status == 404:
        return missing
    return str(failure).removeprefix(f"{uri}: ")


def _reason(exc: BaseException) -> str:
    """The first line of an obstore message (the request it names may carry a SAS token)."""
    text = scrub_signatures(one_line(str(exc).split("\n", 1)[0], 240))
    return text or type(exc).__name__


#: The query parameters that carry a signature or a key's name, in any store's signed URL.
_SECRET_PARAMETERS: Final = re.compile(
    r"(?<![\w-])((?:X-Amz|X-Goog)-(?:Signature|Credential|Security-Token)|sig|se|skoid|sktid)"
    r"=[^&\s\"'<>]*",
    re.I,
)


def scrub_signatures(text: str) -> str:
    """``text`` with the values of signature and credential query parameters replaced."""
    return _SECRET_PARAMETERS.sub(lambda m: f"{m.group(1)}=<redacted>", text)

"""The settings of ``ferry run`` and ``ferry verify``: frozen dataclasses, validated in one place.

Every default lives here once; ``jobs/`` imports them for its options. This module stays light
(no aiohttp, polars or pyarrow) so that ``ferry --help`` does not pay for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pipeline.buckets.environment import StoreEnvironment
from pipeline.core.errors import UsageError
from pipeline.core.units import API_RETENTION_SECONDS, Rate
from pipeline.manifest.options import DEFAULT_UPLOAD_PATH as DEFAULT_UPLOAD_PATH
from pipeline.manifest.options import (
    STDIN,
    Format,
    ManifestOptions,
    is_remote,
    remote_name,
    stem_of_name,
)
from pipeline.upload.limiter import DEFAULT_MAXIMUM

#: How ``http(s)://`` and bucket sources reach the API (see :mod:`pipeline.upload.transfers`).
Via = Literal["url", "relay", "auto"]
VIA_CHOICES: tuple[Via, ...] = ("url", "relay", "auto")

DEFAULT_BASE_URL = "https://kieai.redpandaai.co"
DEFAULT_ACCOUNT_URL = "https://api.kie.ai"
DEFAULT_CONCURRENCY = 16
#: ``ferry run --concurrency``'s default, as the option reads it (a number or ``auto``).
DEFAULT_RUN_CONCURRENCY = str(DEFAULT_CONCURRENCY)
DEFAULT_RETRIES = 4
DEFAULT_TIMEOUT = 120.0
DEFAULT_RETENTION = API_RETENTION_SECONDS
DEFAULT_BACKOFF_BASE = 0.5
DEFAULT_BACKOFF_CAP = 30.0
DEFAULT_CHECKPOINT_SECONDS = 60.0
DEFAULT_LOG_EVERY_SECONDS = 5.0
DEFAULT_VIA: Via = "url"
#: ``--presign-expiry``: how long a signed URL of a bucket object lives (made per upload call);
#: S3 and GCS take at most 7 days.
DEFAULT_PRESIGN_EXPIRY = 3600.0
MAX_PRESIGN_EXPIRY = 7 * 24 * 3600.0
MAX_CONCURRENCY = 4096
#: ``ferry verify``'s defaults: a link check is one small request, so it gives up sooner than an
#: upload; its ``--concurrency`` is the one option it shares with ``ferry run``.
VERIFY_DEFAULT_CONCURRENCY = DEFAULT_CONCURRENCY
VERIFY_DEFAULT_TIMEOUT = 30.0
VERIFY_DEFAULT_RETRIES = 2
VERIFY_DEFAULT_BACKOFF_CAP = 10.0


def default_results_path(manifest: Path | str) -> Path:
    """``<manifest dir>/<manifest stem>.results.parquet``; a result table is its own results.

    A manifest is taken for a result table when its name says so (``*.results.*``) or when its
    header has the result table's ``status`` and ``run_id`` columns. A remote manifest's table
    is ``./<stem>.results.parquet`` in the working directory; standard input (``-``) has no
    default: :class:`UsageError` naming ``--results``.
    """
    if isinstance(manifest, str) and manifest == STDIN:
        raise UsageError("--results is required when the manifest is read from standard input (-)")
    if isinstance(manifest, str) and is_remote(manifest):
        name = remote_name(manifest)
        if ".results." in name:
            return Path(name)
        return Path(f"{stem_of_name(name) or 'manifest'}.results.parquet")
    from pipeline.store.files import looks_like_results  # reads a header: polars, pyarrow

    path = Path(manifest)
    name = path.name
    if ".results." in name or looks_like_results(path):
        return path
    stem = name if path.is_dir() else stem_of_name(name)
    return path.with_name(f"{stem}.results.parquet")


AUTO = "auto"
#: ``--concurrency auto``'s bound when none is given.
DEFAULT_AUTO_MAXIMUM = DEFAULT_MAXIMUM


def parse_concurrency(text: str) -> tuple[int, bool]:
    """``--concurrency``: ``N`` (a fixed limit) or ``auto`` / ``auto:MAX`` (a limit that adapts,
    at most MAX, by default :data:`DEFAULT_AUTO_MAXIMUM`); returns (N or MAX, adaptive)."""
    value = text.strip().lower()
    if value == AUTO:
        return DEFAULT_AUTO_MAXIMUM, True
    adaptive = value.startswith(f"{AUTO}:")
    number = value.removeprefix(f"{AUTO}:")
    try:
        bound = int(number)
    except ValueError:
        raise UsageError(
            f"--concurrency: '{text}' is not a number, auto or auto:MAX (such as 16, auto:64)"
        ) from None
    if not 1 <= bound <= MAX_CONCURRENCY:
        raise UsageError(f"--concurrency: {bound} is not between 1 and {MAX_CONCURRENCY}")
    return bound, adaptive


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``K/N`` with 1 <= K <= N."""
        try:
            k_text, n_text = text.split("/")
            shard = cls(int(k_text), int(n_text))
        except ValueError:
            raise UsageError(f"--shard: '{text}' is not K/N, such as 1/4") from None
        if not 1 <= shard.index <= shard.count:
            raise UsageError(f"--shard: '{text}': K must be between 1 and N")
        return shard

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


@dataclass(frozen=True)
class RunSettings:
    """Everything one run needs; built by ``jobs/`` from options and the environment."""

    #: A path, ``-`` (standard input) or an ``s3://``, ``gs://`` or ``https://`` URL.
    manifest: Path | str
    results: Path
    base_url: str
    api_key: str = field(repr=False, default="")
    upload_path: str = DEFAULT_UPLOAD_PATH
    #: Requests in flight at most: fixed, or with ``adaptive`` the bound of the adaptive limit.
    concurrency: int = DEFAULT_CONCURRENCY
    #: ``--concurrency auto[:MAX]``: the limit adapts to the API (:mod:`pipeline.upload.limiter`).
    adaptive: bool = False
    rate: Rate | None = None
    retries: int = DEFAULT_RETRIES
    timeout: float = DEFAULT_TIMEOUT
    retention: float = DEFAULT_RETENTION
    failed_only: bool = False
    refresh_within: float | None = None
    limit: int | None = None
    shard: Shard | None = None
    dry_run: bool = False
    progress: bool = False
    backoff_base: float = DEFAULT_BACKOFF_BASE
    backoff_cap: float = DEFAULT_BACKOFF_CAP
    checkpoint_seconds: float = DEFAULT_CHECKPOINT_SECONDS
    log_every_seconds: float = DEFAULT_LOG_EVERY_SECONDS
    via: Via = DEFAULT_VIA
    source_headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    #: Prometheus text file written at every checkpoint and at the end (``--metrics-file``).
    metrics_file: Path | None = None
    #: ``--format``, ``--delimiter`` and ``--column FIELD=NAME``: how to read the manifest.
    manifest_format: Format | None = None
    delimiter: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    presign_expiry: float = DEFAULT_PRESIGN_EXPIRY
    #: The object stores' credentials (``None``: read from this process's environment).
    stores: StoreEnvironment | None = field(default=None, repr=False)
    #: ``--debug``: an internal error's log line carries its traceback.
    debug: bool = False

    @property
    def manifest_options(self) -> ManifestOptions:
        """How the manifest is read."""
        return ManifestOptions(
            default_upload_path=self.upload_path,
            format=self.manifest_format,
            delimiter=self.delimiter,
            columns=self.columns,
        )

    def __post_init__(self) -> None:
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise UsageError(f"--concurrency must be between 1 and {MAX_CONCURRENCY}")
        if self.retries < 0:
            raise UsageError("--retries must be 0 or more")
        if self.timeout <= 0:
            raise UsageError("--timeout must be more than 0 seconds")
        if self.retention <= 0:
            raise UsageError("--retention must be more than 0")
        if self.limit is not None and self.limit < 0:
            raise UsageError("--limit must be 0 or more")
        if self.refresh_within is not None and self.refresh_within < 0:
            raise UsageError("--refresh-within must not be negative")
        if not self.base_url.startswith(("http://", "https://")):
            raise UsageError(f"--base-url: '{self.base_url}' is not an http(s) URL")
        if not 1 <= self.presign_expiry <= MAX_PRESIGN_EXPIRY:
            raise UsageError("--presign-expiry must be between 1s and 7d (S3 and GCS refuse more)")
        if ".." in self.upload_path.split("/"):
            raise UsageError("--upload-path must not contain '..'")
        self.manifest_options  # noqa: B018 - validates --format, --delimiter and --column


@dataclass(frozen=True)
class VerifySettings:
    """Everything one ``ferry verify`` needs; built by ``jobs/verify.py``."""

    results: Path
    concurrency: int = VERIFY_DEFAULT_CONCURRENCY
    timeout: float = VERIFY_DEFAULT_TIMEOUT
    retries: int = VERIFY_DEFAULT_RETRIES
    progress: bool = False
    backoff_base: float = DEFAULT_BACKOFF_BASE
    backoff_cap: float = VERIFY_DEFAULT_BACKOFF_CAP
    log_every_seconds: float = DEFAULT_LOG_EVERY_SECONDS
    #: ``--checksum``: download every file and compare its bytes, not only probe the link.
    checksum: bool = False

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise UsageError("--concurrency must be 1 or more")
        if self.timeout <= 0:
            raise UsageError("--timeout must be more than 0 seconds")
        if self.retries < 0:
            raise UsageError("--retries must be 0 or more")

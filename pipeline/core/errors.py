"""The one exception tree of ``pipeline``.

::

    PipelineError                 anything ferry reports to a person
    ├── UsageError                bad option value (exit 2)
    ├── MissingKeyError           no API key configured (exit 2)
    ├── MissingCredentialsError   a bucket's store has no credentials in the environment (exit 2)
    ├── ManifestError             unreadable or invalid manifest (exit 2, names file/row/column)
    ├── ResultsError              unreadable or foreign result table (exit 2)
    ├── TableWriteError           the table could not be written; the journal keeps the rows
    ├── LockedError               another run holds the table's lock (exit 4)
    └── UploadError               one row's failure: ``error_kind``, ``retryable``
        ├── InvalidRowError       invalid_row   permanent, never sent
        ├── BadRequestError       bad_request   permanent (400, 404, 405, 422, ...)
        ├── SourceError           source_error  permanent (API could not fetch the source)
        │   └── SourceUnavailableError  retryable (a relay's 429/5xx; a local EMFILE, EAGAIN)
        ├── TooLargeError         too_large     permanent (413)
        ├── RateLimitedError      rate_limited  retryable (429), carries ``retry_after``
        ├── ServerError           server_error  retryable (5xx, 455, non-JSON bodies)
        ├── RequestTimeoutError   timeout       retryable
        ├── NetworkError          network       retryable (connection refused/reset, DNS)
        ├── LinkDeadError         link_dead     permanent (set by ``ferry verify``)
        ├── ChecksumMismatchError checksum_mismatch  permanent (size, md5 or sha256 differ)
        ├── InternalError         internal_error  permanent (a bug in ferry; logged, exit 1)
        └── FatalApiError         abort the whole run (exit 3)
            ├── AuthError         auth          401 bad key
            └── CreditsError      credits       402 no credits

``error_kind`` is a class attribute: the result table's ``error_kind`` column is always
``type(exc).error_kind``, never a string built elsewhere. aiohttp exceptions are translated
into this tree in exactly one place, :func:`pipeline.upload.transport.transport_errors`. Any
:class:`UploadError` may carry ``retry_after``, the seconds its answer asked ferry to wait.

:class:`ExitCode` is the one list of the exit codes every command uses.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """The process exit codes of every ``ferry`` command (the contract's list)."""

    OK = 0
    FAILED = 1  # some rows failed, some links dead or unknown, or an unexpected error
    USAGE = 2  # bad usage, manifest or result table
    FATAL_API = 3  # the API refused the key or has no credits: the run stopped
    LOCKED = 4  # another run holds the result table's lock
    INTERRUPTED = 130  # Ctrl-C or SIGTERM: finished rows are kept


class PipelineError(Exception):
    """Base of every error ferry reports; ``str(exc)`` is one line for a person."""

    exit_code: ExitCode = ExitCode.FAILED


class UsageError(PipelineError):
    """An option or argument has a value ferry cannot use."""

    exit_code = ExitCode.USAGE


class MissingKeyError(PipelineError):
    """No API key was configured for a command that calls the API."""

    exit_code = ExitCode.USAGE


class MissingCredentialsError(PipelineError):
    """The manifest needs an object store (S3, GCS, Azure) the environment has no credentials
    for; the message names the scheme and the variables to set."""

    exit_code = ExitCode.USAGE


class ManifestError(PipelineError):
    """A manifest cannot be used; the message names the file and, where known, row and column."""

    exit_code = ExitCode.USAGE

    def __init__(
        self, path: object, message: str, *, row: int | None = None, column: str | None = None
    ) -> None:
        where = f"{path}"
        if row is not None:
            where += f": row {row}"
        if column is not None:
            where += f": column '{column}'"
        super().__init__(f"{where}: {message}")
        self.path = path
        self.row = row
        self.column = column


class ResultsError(ManifestError):
    """A result table cannot be read or does not have the result table's schema."""


class TableWriteError(PipelineError):
    """The result table or a file beside it could not be written (disk full, permissions).

    Rows recorded before stay on disk beside the table; the next run folds them in.
    """

    exit_code = ExitCode.FAILED

    def __init__(self, message: str, *, path: object = None) -> None:
        super().__init__(message)
        self.path = path


class LockedError(PipelineError):
    """Another live run holds the lock of the result table."""

    exit_code = ExitCode.LOCKED


class UploadError(PipelineError):
    """The failure of one row; becomes a ``failed`` row of the result table."""

    error_kind: str = "server_error"
    retryable: bool = False

    def __init__(
        self, message: str, *, http_status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(one_line(message))
        self.http_status = http_status
        self.retry_after = retry_after


class InvalidRowError(UploadError):
    """The manifest row cannot be sent at all (empty URL, unsupported scheme, ...)."""

    error_kind = "invalid_row"


class BadRequestError(UploadError):
    """The API refused the request's parameters."""

    error_kind = "bad_request"


class SourceError(UploadError):
    """The API could not fetch the source URL (``File download failed ...``)."""

    error_kind = "source_error"


class SourceUnavailableError(SourceError):
    """A source met something that may pass: ferry's own download of it (relay) a 429 or 5xx,
    a local file "Too many open files" or another transient ``OSError``."""

    retryable = True


class TooLargeError(UploadError):
    """The file is over the API's size cap."""

    error_kind = "too_large"


class RateLimitedError(UploadError):
    """The API asked us to slow down; ``retry_after`` is its hint in seconds, if any."""

    error_kind = "rate_limited"
    retryable = True


class ServerError(UploadError):
    """A 5xx, a maintenance answer (455) or a body that is not the API's JSON."""

    error_kind = "server_error"
    retryable = True


class RequestTimeoutError(UploadError):
    """The request did not finish within ``--timeout``."""

    error_kind = "timeout"
    retryable = True


class NetworkError(UploadError):
    """The connection failed: refused, reset, DNS, TLS."""

    error_kind = "network"
    retryable = True


class LinkDeadError(UploadError):
    """A download URL of an ``ok`` row no longer serves the file."""

    error_kind = "link_dead"


class ChecksumMismatchError(UploadError):
    """The bytes disagree with the row's ``size``, ``md5`` or ``sha256`` (or, for ``ferry verify
    --checksum`` without them, with its ``file_size``); the message names the column, the
    expected and the actual value."""

    error_kind = "checksum_mismatch"

    def __init__(self, column: str, expected: object, actual: object, *, note: str = "") -> None:
        super().__init__(f"{column} mismatch: expected {expected}, actual {actual}{note}")
        self.column = column


class InternalError(UploadError):
    """An unexpected exception in ferry's own code while it handled a row (a bug): the row
    fails with its type and message, the run logs it and exits 1."""

    error_kind = "internal_error"


class FatalApiError(UploadError):
    """An answer that makes every further request pointless: the run stops (exit 3)."""

    exit_code = ExitCode.FATAL_API
    #: What the user should do about it.
    hint: str = "fix the account, then run again"

    def explain(self) -> str:
        """One line: what the API said and what to do."""
        return f"the API answered {self.http_status} ({self}): {self.hint}"


class AuthError(FatalApiError):
    """401: the API key is missing, malformed or unknown."""

    error_kind = "auth"
    hint = "check the key in KIE_API_KEY or --api-key-file"


class CreditsError(FatalApiError):
    """402: the account has no credits left."""

    error_kind = "credits"
    hint = "no credits left: add credits to the account, then run again"


def _kinds(cls: type[UploadError]) -> set[str]:
    return {cls.error_kind}.union(*(_kinds(sub) for sub in cls.__subclasses__()))


#: Every ``error_kind`` a result row can carry, read off the tree above (the metrics file lists
#: each one, zero or not).
ERROR_KINDS: tuple[str, ...] = tuple(sorted(_kinds(UploadError)))


def one_line(text: str, limit: int = 500) -> str:
    """Fold ``text`` into one line of at most ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"

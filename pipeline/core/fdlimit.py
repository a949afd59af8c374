"""Open files: a run with ``--concurrency N`` holds about two descriptors per row in flight (the
API's socket, and the local file it streams or the source it relays), and ``ulimit -n`` is often
1,024 by default, well under what the hard limit allows.

At start a run raises its soft ``RLIMIT_NOFILE`` to the hard limit, as Go's runtime and many
servers do; if even that cannot hold the concurrency asked for, it says so once and runs fewer
rows at once, rather than failing rows with "Too many open files" (which a local source still
retries, see :func:`pipeline.upload.sources.local_failure`).
"""

from __future__ import annotations

import logging
from typing import Final

from pipeline.core.logs import fields

log = logging.getLogger(__name__)

#: Descriptors a row in flight may hold: a socket to the API, and a local file or a source's socket.
FDS_PER_ROW: Final = 2
#: Descriptors kept for everything else: the interpreter, polars' and the event loop's, the
#: journal, checkpoint and table files, the plan's chunks.
RESERVED_FDS: Final = 64


def raise_open_files_limit() -> int:
    """Raise the soft limit of open files to the hard limit (where the system lets it); the
    soft limit in force afterwards. Without the ``resource`` module (not POSIX) nothing is done."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return 1 << 30
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or (hard != resource.RLIM_INFINITY and soft >= hard):
        return soft if soft != resource.RLIM_INFINITY else 1 << 30
    # an unlimited hard limit cannot be the soft one everywhere (macOS caps it): ask for plenty
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 16)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return soft
    return target


def fit_concurrency(concurrency: int) -> int:
    """``concurrency``, or fewer rows at once when even the raised limit of open files cannot
    hold them (said once, with the way to raise it)."""
    limit = raise_open_files_limit()
    most = max(1, (limit - RESERVED_FDS) // FDS_PER_ROW)
    if concurrency <= most:
        return concurrency
    log.warning(
        f"ferry: the limit of open files (ulimit -n) is {limit}, too low for --concurrency "
        f"{concurrency} (about {concurrency * FDS_PER_ROW + RESERVED_FDS} needed): running "
        f"{most} rows at once; raise the limit (ulimit -n) to run more",
        extra=fields(open_files_limit=limit, concurrency=most, asked=concurrency),
    )
    return most

"""The contract's duration (``90s``, ``3d``), rate (``20/10s``) and size (``100MB``) syntax.

Part of the bottom layer of ferry: ``fileapi`` (the server) imports this module,
:mod:`pipeline.core.errors` and :mod:`pipeline.core.logs` and nothing else of ``pipeline``, so the
server never depends on the client.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.core.errors import UsageError

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d)?\s*$")


def parse_duration(text: str, *, option: str = "duration") -> float:
    """Seconds in ``text`` (``90s``, ``15m``, ``12h``, ``3d``; a bare number is seconds)."""
    match = _DURATION.match(str(text))
    if not match:
        raise UsageError(f"{option}: '{text}' is not a duration such as 90s, 15m, 12h or 3d")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]


#: How long the File Upload API keeps a file (the spec: deleted after 3 days): the default of
#: ``ferry run --retention`` and of the local server's ``--ttl``.
API_RETENTION = "3d"
API_RETENTION_SECONDS = parse_duration(API_RETENTION)

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}


def parse_size(text: str) -> int:
    """Bytes in ``text``: ``1048576``, ``100MB``, ``1GiB``, ``512k`` (k/M/G decimal, KiB binary)."""
    match = _SIZE.match(text)
    if not match:
        raise UsageError(f"'{text}' is not a size such as 100MB, 1GiB or 1048576")
    unit = (match.group(2) or "").lower()
    binary = "i" in unit
    prefix = unit.rstrip("b").rstrip("i")
    factor = _SIZE_UNITS[prefix] if not binary else 1024 ** list(_SIZE_UNITS).index(prefix)
    size = int(float(match.group(1)) * factor)
    if size <= 0:
        raise UsageError(f"'{text}' must be more than 0 bytes")
    return size


@dataclass(frozen=True)
class Rate:
    """At most ``count`` requests in any window of ``per_seconds`` seconds."""

    count: int
    per_seconds: float

    def __str__(self) -> str:
        return f"{self.count}/{self.per_seconds:g}s"


_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*(ms|s|sec|min|m|h|d)\s*$")


def parse_rate(text: str, *, option: str = "--rate") -> Rate:
    """A :class:`Rate` from ``20/10s``, ``5/s`` or ``300/min``."""
    match = _RATE.match(str(text))
    if not match:
        raise UsageError(f"{option}: '{text}' is not a rate such as 20/10s, 5/s or 300/min")
    count = int(match.group(1))
    unit = {"sec": "s"}.get(match.group(3), match.group(3))
    per = float(match.group(2) or 1) * _UNIT_SECONDS[unit]
    if count <= 0 or per <= 0:
        raise UsageError(f"{option}: '{text}' must allow at least one request per window")
    return Rate(count=count, per_seconds=per)

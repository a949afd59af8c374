"""The server's shared state: the ``web.AppKey``s under which ``make_app`` stores it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web

from fileapi.capacity import Capacity
from fileapi.credits import CreditLedger
from fileapi.faults import FaultState
from fileapi.fetch import Fetcher
from fileapi.settings import ServerSettings
from fileapi.storage import Storage


@dataclass
class ServerStats:
    """What the server has seen, for tests and benchmarks.

    ``requests_by_route`` counts every request by its route (``/api/file-url-upload``, a
    download's ``/{token}/{tail}``, ``(no route)``), never by its path: every download URL is
    a path of its own, and a server that runs for weeks must not keep one counter per file.
    ``uploads`` counts requests to the three upload endpoints (whatever their outcome);
    ``stored`` counts successful uploads.
    """

    requests_by_route: Counter[str] = field(default_factory=Counter)
    uploads: int = 0
    stored: int = 0


SETTINGS = web.AppKey("fileapi.settings", ServerSettings)
STORAGE = web.AppKey("fileapi.storage", Storage)
FETCHER = web.AppKey("fileapi.fetcher", Fetcher)
CREDITS = web.AppKey("fileapi.credits", CreditLedger)
FAULTS = web.AppKey("fileapi.faults", FaultState)
STATS = web.AppKey("fileapi.stats", ServerStats)
#: Only with ``--capacity``: its workers, queue and counts.
CAPACITY = web.AppKey("fileapi.capacity", Capacity)

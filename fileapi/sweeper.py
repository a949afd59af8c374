"""The expiry sweeper: a background task that deletes expired uploads, bytes and metadata."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from fileapi.storage import Storage

log = logging.getLogger("fileapi.sweeper")


async def sweep_once(storage: Storage, clock: Callable[[], float] = time.time) -> int:
    """Delete every upload expired by now (``clock``: epoch seconds); the number deleted."""
    removed = await storage.delete_expired(clock())
    if removed:
        log.info("swept %d expired upload(s)", removed)
    return removed


async def sweep_forever(
    storage: Storage, interval_seconds: float, clock: Callable[[], float] = time.time
) -> None:
    """Run :func:`sweep_once` now and then every ``interval_seconds`` until cancelled.

    A failing sweep is logged and retried at the next interval; it never stops the loop.
    """
    while True:
        try:
            await sweep_once(storage, clock)
        except Exception:
            log.exception("expiry sweep failed")
        await asyncio.sleep(interval_seconds)

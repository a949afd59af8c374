"""The expiry sweeper: a background task that deletes expired uploads, bytes and metadata."""

from __future__ import annotations

import asyncio
import logging
import time

from fileapi.storage import Storage

log = logging.getLogger("fileapi.sweeper")


async def sweep_once(storage: Storage) -> int:
    """Delete every upload expired by now; the number deleted."""
    removed = await storage.delete_expired(time.time())
    if removed:
        log.info("swept %d expired upload(s)", removed)
    return removed


async def sweep_forever(storage: Storage, interval_seconds: float) -> None:
    """Run :func:`sweep_once` now and then every ``interval_seconds`` until cancelled.

    A failing sweep is logged and retried at the next interval; it never stops the loop.
    """
    while True:
        try:
            await sweep_once(storage)
        except Exception:
            log.exception("expiry sweep failed")
        await asyncio.sleep(interval_seconds)

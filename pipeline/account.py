"""The credit endpoint, as one blocking call for ``ferry credits``."""

from __future__ import annotations

from pipeline.client import fetch_credits, make_session
from pipeline.errors import FatalApiError, UploadError


async def _credits(account_url: str, api_key: str, timeout: float) -> int:
    async with make_session(concurrency=1, timeout=timeout) as session:
        return await fetch_credits(session, account_url=account_url, api_key=api_key)


def remaining_credits(*, account_url: str, api_key: str, timeout: float = 30.0) -> int:
    """Remaining credits of ``api_key``; raises an :class:`UploadError` subclass on failure.

    A refused key (401) or no credits (402) raise fatal errors (exit 3); anything else exits 1.
    """
    from pipeline.runner import run_event_loop

    try:
        count: int = run_event_loop(_credits(account_url, api_key, timeout))
    except FatalApiError as exc:
        exc.args = (f"credit check failed: {exc.explain()}",)
        raise
    except UploadError as exc:
        exc.args = (f"credit check failed: {exc}",)
        raise
    return count

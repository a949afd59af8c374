"""The credit endpoint (``GET /api/v1/chat/credit`` on the account API), for ``ferry credits``."""

from __future__ import annotations

import aiohttp

from pipeline.core.errors import FatalApiError, ServerError, UploadError
from pipeline.upload.client import api_payload, payload_error
from pipeline.upload.engine import run_event_loop
from pipeline.upload.transport import make_session, transport_errors


async def fetch_credits(session: aiohttp.ClientSession, *, account_url: str, api_key: str) -> int:
    """Remaining credits from ``GET {account_url}/api/v1/chat/credit``; raises on any error."""
    url = f"{account_url.rstrip('/')}/api/v1/chat/credit"
    with transport_errors():
        async with session.get(url, headers={"Authorization": f"Bearer {api_key}"}) as resp:
            body = await resp.read()
    payload = api_payload(body)
    if payload is None:
        raise ServerError(
            f"HTTP {resp.status}: answer is not the API's JSON", http_status=resp.status
        )
    if payload["code"] != 200 or not isinstance(payload.get("data"), int | float):
        raise payload_error(payload, resp.headers)
    return int(payload["data"])


async def _credits(account_url: str, api_key: str, timeout: float) -> int:
    async with make_session(timeout=timeout) as session:
        return await fetch_credits(session, account_url=account_url, api_key=api_key)


def remaining_credits(*, account_url: str, api_key: str, timeout: float = 30.0) -> int:
    """Remaining credits of ``api_key``; raises an :class:`UploadError` subclass on failure.

    A refused key (401) or no credits (402) raise fatal errors (exit 3); anything else exits 1.
    """
    try:
        count: int = run_event_loop(_credits(account_url, api_key, timeout))
    except FatalApiError as exc:
        exc.args = (f"credit check failed: {exc.explain()}",)
        raise
    except UploadError as exc:
        exc.args = (f"credit check failed: {exc}",)
        raise
    return count

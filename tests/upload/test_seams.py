"""The seams the structure makes testable on their own: the retry policy, the one transport error
mapping (against real sockets on loopback), the typed rows and the sources."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from pipeline.core.errors import (
    BadRequestError,
    NetworkError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    SourceError,
    SourceUnavailableError,
)
from pipeline.core.schema import RESULT_COLUMNS
from pipeline.plan.planner import TODO_COLUMNS
from pipeline.plan.rows import PlannedRow, ResultRow, result_row
from pipeline.store.journal import JOURNAL_COLUMNS
from pipeline.upload.client import Uploaded
from pipeline.upload.retry import RetryPolicy
from pipeline.upload.sources import Sources, source_failure, source_kind
from pipeline.upload.transport import make_session, transport_errors


def test_the_policy_retries_retryable_errors_while_tries_are_left() -> None:
    policy = RetryPolicy(retries=2, backoff_base=0.01, backoff_cap=0.1)
    flaky = ServerError("HTTP 503", http_status=503)
    assert [policy.should_retry(flaky, attempts) for attempts in (1, 2, 3)] == [True, True, False]
    assert not policy.should_retry(BadRequestError("HTTP 400"), 1)
    assert not RetryPolicy(retries=0).should_retry(flaky, 1)


def test_retry_after_is_a_floor_of_the_delay_but_not_without_bound() -> None:
    policy = RetryPolicy(retries=3, backoff_base=0.01, backoff_cap=0.5)
    assert policy.delay(RateLimitedError("slow down", retry_after=2.0), 1) >= 2.0
    assert policy.delay(RateLimitedError("slow down", retry_after=86400.0), 1) == 5.0
    assert all(policy.delay(ServerError("HTTP 500"), 1) <= 0.01 for _ in range(50))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # closed again: nothing listens there


async def test_a_refused_connection_becomes_a_network_error_raised_from_aiohttps() -> None:
    async with make_session(timeout=5) as session:
        with pytest.raises(NetworkError) as caught, transport_errors():
            async with session.get(f"http://127.0.0.1:{free_port()}/x"):
                pass
    assert isinstance(caught.value.__cause__, aiohttp.ClientConnectorError)
    assert caught.value.retryable


@pytest.fixture
async def slow_server() -> AsyncIterator[str]:
    release = asyncio.Event()

    async def slow(_request: web.Request) -> web.Response:
        await asyncio.wait_for(release.wait(), timeout=10)
        return web.Response(text="late")

    app = web.Application()
    app.router.add_get("/slow", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        release.set()
        await runner.cleanup()


async def test_a_timeout_becomes_a_timeout_error_and_ferrys_errors_pass_through(
    slow_server: str,
) -> None:
    async with make_session(timeout=0.2) as session:
        with pytest.raises(RequestTimeoutError, match="request timed out"), transport_errors():
            async with session.get(f"{slow_server}/slow") as resp:
                await resp.read()
    with pytest.raises(SourceError), transport_errors():  # not a transport failure: untouched
        raise SourceError("cannot read x")


def test_source_failures_are_transient_for_429_and_5xx_only() -> None:
    assert isinstance(source_failure(503, "http://s/x"), SourceUnavailableError)
    assert isinstance(source_failure(429, "http://s/x"), SourceUnavailableError)
    gone = source_failure(404, "http://s.example/x")
    assert type(gone) is SourceError and str(gone) == "source s.example answered HTTP 404"


def test_source_kinds() -> None:
    kinds = [source_kind(u) for u in ("data:,x", "a/b.txt", "file:///a", "https://s/a")]
    assert kinds == ["data", "local", "local", "remote"]


async def test_a_missing_local_file_is_a_source_error_naming_it(tmp_path: Path) -> None:
    async with make_session(timeout=5) as session:
        sources = Sources(session, tmp_path)
        with pytest.raises(SourceError, match=r"absent\.txt"):
            async with sources.open("absent.txt", None):
                pass
        (tmp_path / "here.txt").write_bytes(b"hello")
        async with sources.open("here.txt", None) as body:
            assert (body.part_name, body.content_type) == ("here.txt", "text/plain")


def test_result_rows_are_the_journal_columns_in_order() -> None:
    assert ResultRow._fields[: len(RESULT_COLUMNS)] == RESULT_COLUMNS
    assert [f"_{name}" for name in ResultRow._fields[len(RESULT_COLUMNS) :]] == list(
        JOURNAL_COLUMNS[len(RESULT_COLUMNS) :]
    )
    job = PlannedRow("a", "http://s/a", "p", None, None, 7, 3)
    row = result_row(job, method="url", run_id="r1", attempts=2, error=ServerError("HTTP 500"))
    line = row.to_journal()
    assert list(line) == list(JOURNAL_COLUMNS)
    assert (line["status"], line["error_kind"], line["attempts"]) == ("failed", "server_error", 2)
    assert (line["error"], line["http_status"], line["download_url"]) == ("HTTP 500", None, None)
    assert (line["_key"], line["_row"]) == (7, 3)
    at = datetime(2026, 1, 2, tzinfo=UTC)
    uploaded = Uploaded("http://d/a", "p/a", 5, "text/plain", at, at + timedelta(days=3), 200)
    ok = result_row(job, method="stream", run_id="r2", attempts=1, uploaded=uploaded)
    assert ok.to_journal() | {"finished_at": 0} == {
        **dict.fromkeys(JOURNAL_COLUMNS),
        **{"id": "a", "url": "http://s/a", "upload_path": "p", "method": "stream"},
        **{"status": "ok", "download_url": "http://d/a", "file_path": "p/a", "file_size": 5},
        **{"mime_type": "text/plain", "uploaded_at": int(at.timestamp() * 1e6)},
        **{"expires_at": int((at + timedelta(days=3)).timestamp() * 1e6), "http_status": 200},
        **{"attempts": 1, "finished_at": 0, "run_id": "r2", "_key": 7, "_row": 3},
    }


def test_workers_receive_the_planned_columns_only() -> None:
    assert [name.lstrip("_") for name in TODO_COLUMNS] == list(PlannedRow._fields)
    assert "category" not in TODO_COLUMNS


async def test_the_one_retry_loop_retries_what_is_retryable_and_counts_every_try() -> None:
    from pipeline.upload.retry import tries

    policy = RetryPolicy(retries=3, backoff_base=1.0, backoff_cap=8.0)
    script: list[Exception | str] = [
        SourceError("fell back"),  # tried again at once, no pause
        ServerError("busy", http_status=503),
        RateLimitedError("slow down", http_status=429, retry_after=5.0),
        "done",
    ]
    pauses: list[float] = []
    heard: list[str] = []

    async def attempt() -> str:
        step = script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    async def pause(seconds: float) -> None:
        pauses.append(seconds)

    outcome, count = await tries(
        policy,
        attempt,
        again_at_once=lambda error: isinstance(error, SourceError),
        failed=lambda error: heard.append(type(error).__name__),
        pause=pause,
    )
    assert (outcome, count) == ("done", 4)
    assert heard == ["ServerError", "RateLimitedError"]
    assert len(pauses) == 2 and pauses[1] >= 5.0  # Retry-After is a floor


async def test_the_one_retry_loop_stops_on_a_permanent_error_or_when_stopped() -> None:
    from pipeline.upload.retry import tries

    async def refused() -> str:
        raise BadRequestError("no", http_status=400)

    async def busy() -> str:
        raise ServerError("busy", http_status=503)

    async def no_pause(_seconds: float) -> None:
        return None

    outcome, count = await tries(RetryPolicy(retries=5), refused, pause=no_pause)
    assert isinstance(outcome, BadRequestError) and count == 1
    outcome, count = await tries(RetryPolicy(retries=5), busy, pause=no_pause)
    assert isinstance(outcome, ServerError) and count == 6  # the first try and 5 retries
    outcome, count = await tries(RetryPolicy(retries=5), busy, pause=no_pause, stopped=lambda: True)
    assert isinstance(outcome, ServerError) and count == 1

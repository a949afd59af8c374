"""The File Upload API server's failures: status, ``msg`` naming the field, fault knobs."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from fileapi import ServerSettings
from fileapi.storage import Storage
from pipeline.core.units import Rate
from tests.helpers.server_helpers import AUTH, KEY, AiohttpClient, Client, MakeClient, start_api

OTHER_KEY = "second-key-abcdef"
UPLOAD = {"base64Data": "aGVsbG8=", "uploadPath": "e", "fileName": "h.txt"}


@pytest.fixture
def api_client(tmp_path: Path, aiohttp_client: AiohttpClient) -> MakeClient:
    """Start the API on 127.0.0.1; keyword arguments override ServerSettings."""

    async def start(**overrides: Any) -> Client:
        return await start_api(
            aiohttp_client, tmp_path / "data", keys=(KEY, OTHER_KEY), **overrides
        )

    return start


async def answer(response: aiohttp.ClientResponse) -> tuple[int, int, str]:
    """HTTP status, body ``code`` and body ``msg`` of an API answer."""
    body = await response.json()
    assert set(body) == {"success", "code", "msg", "data"}
    assert body["success"] is (body["code"] == 200)
    return response.status, body["code"], body["msg"]


def leftovers(data_dir: Path) -> list[Path]:
    """Every file stored or in flight under ``data_dir``."""
    return [p for p in (data_dir / "files").rglob("*") if p.is_file()] + list(
        (data_dir / "tmp").iterdir()
    )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer wrong-key"},
        {"Authorization": f"Basic {KEY}"},
        {"Authorization": f"Bearer {KEY}x"},
        {"Authorization": f"Bearer {KEY} extra"},
    ],
)
async def test_every_api_endpoint_needs_a_known_bearer_key(
    api_client: MakeClient, headers: dict[str, str]
) -> None:
    client = await api_client()
    for method, path in [
        ("POST", "/api/file-url-upload"),
        ("POST", "/api/file-stream-upload"),
        ("POST", "/api/file-base64-upload"),
        ("GET", "/api/v1/chat/credit"),
    ]:
        response = await client.request(method, path, json=UPLOAD, headers=headers)
        assert await answer(response) == (401, 401, "Authentication failed: Invalid API Key")


async def test_any_configured_key_works_and_has_its_own_credits(api_client: MakeClient) -> None:
    client = await api_client(credits=3)
    other = {"Authorization": f"bearer {OTHER_KEY}"}
    response = await client.post("/api/file-base64-upload", json=UPLOAD, headers=other)
    assert response.status == 200
    credit = await client.get("/api/v1/chat/credit", headers=AUTH)
    assert (await credit.json())["data"] == 3
    credit = await client.get("/api/v1/chat/credit", headers=other)
    assert (await credit.json())["data"] == 2


async def test_wrong_method_is_405_and_unknown_path_404(api_client: MakeClient) -> None:
    client = await api_client()
    response = await client.get("/api/file-url-upload", headers=AUTH)
    status, code, msg = await answer(response)
    assert (status, code) == (405, 405)
    assert msg == "Method not allowed: GET /api/file-url-upload accepts POST"
    assert response.headers["Allow"] == "POST"
    response = await client.post("/api/v1/chat/credit", headers=AUTH)
    assert (await answer(response))[:2] == (405, 405)
    for path in ("/api/nope", "/", "/files/x/y", "/download/file_abc"):
        response = await client.get(path, headers=AUTH)
        assert (await answer(response))[:2] == (404, 404)


@pytest.mark.parametrize(
    ("path", "body", "msg"),
    [
        ("/api/file-url-upload", {"uploadPath": "a"}, "Missing required parameter: fileUrl"),
        (
            "/api/file-url-upload",
            {"fileUrl": "https://example.com/x.jpg"},
            "Missing required parameter: uploadPath",
        ),
        (
            "/api/file-url-upload",
            {"fileUrl": "https://example.com/x.jpg", "uploadPath": "/"},
            "Missing required parameter: uploadPath",
        ),
        (
            "/api/file-url-upload",
            {"fileUrl": "ftp://example.com/x.jpg", "uploadPath": "a"},
            "Invalid parameter: fileUrl must be an http or https URL",
        ),
        (
            "/api/file-url-upload",
            {"fileUrl": "not a url", "uploadPath": "a"},
            "Invalid parameter: fileUrl must be an http or https URL",
        ),
        (
            "/api/file-url-upload",
            {"fileUrl": 42, "uploadPath": "a"},
            "Invalid parameter: fileUrl must be a string",
        ),
        (
            "/api/file-url-upload",
            {"fileUrl": "https://example.com/" + "x" * 9000, "uploadPath": "a"},
            "Invalid parameter: fileUrl is longer than 8192 characters",
        ),
        ("/api/file-base64-upload", {"uploadPath": "a"}, "Missing required parameter: base64Data"),
        (
            "/api/file-base64-upload",
            {"base64Data": "aGk="},
            "Missing required parameter: uploadPath",
        ),
        (
            "/api/file-base64-upload",
            {"base64Data": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA...", "uploadPath": "a"},
            "Base64 decoding failed: Invalid Base64 format",
        ),
        (
            "/api/file-base64-upload",
            {"base64Data": "not base64!", "uploadPath": "a"},
            "Base64 decoding failed: Invalid Base64 format",
        ),
        (
            "/api/file-base64-upload",
            {"base64Data": "aGk=", "uploadPath": "../etc"},
            "Invalid parameter: uploadPath must not contain '.' or '..' segments",
        ),
        (
            "/api/file-base64-upload",
            {"base64Data": "aGk=", "uploadPath": "a\\b"},
            "Invalid parameter: uploadPath must not contain backslashes",
        ),
        (
            "/api/file-base64-upload",
            {"base64Data": "aGk=", "uploadPath": "a//b"},
            "Invalid parameter: uploadPath must not contain empty segments ('//')",
        ),
        (
            "/api/file-base64-upload",
            {"base64Data": "aGk=", "uploadPath": "a", "fileName": "../x"},
            "Invalid parameter: fileName must not contain '/'",
        ),
        (
            "/api/file-base64-upload",
            {"base64Data": "aGk=", "uploadPath": "a", "fileName": "x\ny"},
            "Invalid parameter: fileName must not contain control characters",
        ),
        (
            "/api/file-base64-upload",
            {"base64Data": "aGk=", "uploadPath": "a", "fileName": "x" * 256},
            "Invalid parameter: fileName is longer than 255 bytes",
        ),
        (
            "/api/file-base64-upload",
            {"base64Data": "aGk=", "uploadPath": "a/" * 300},
            "Invalid parameter: uploadPath is longer than 512 characters",
        ),
    ],
)
async def test_bad_parameters_are_400_naming_the_field(
    api_client: MakeClient, path: str, body: dict[str, Any], msg: str
) -> None:
    client = await api_client()
    response = await client.post(path, json=body, headers=AUTH)
    assert await answer(response) == (400, 400, msg)


async def test_bodies_that_are_not_json_or_not_multipart_are_400(api_client: MakeClient) -> None:
    client = await api_client()
    for path in ("/api/file-url-upload", "/api/file-base64-upload"):
        response = await client.post(
            path, data=b"{not json", headers={**AUTH, "Content-Type": "application/json"}
        )
        assert await answer(response) == (400, 400, "Invalid JSON body")
        response = await client.post(path, json=["a", "list"], headers=AUTH)
        assert await answer(response) == (400, 400, "Invalid JSON body: expected a JSON object")
        response = await client.post(path, data={"uploadPath": "a"}, headers=AUTH)
        assert await answer(response) == (
            400,
            400,
            "Invalid content type: expected application/json",
        )
    response = await client.post("/api/file-stream-upload", json=UPLOAD, headers=AUTH)
    assert await answer(response) == (
        400,
        400,
        "Invalid content type: expected multipart/form-data",
    )
    response = await client.post(
        "/api/file-stream-upload",
        data=b"garbage",
        headers={**AUTH, "Content-Type": "multipart/form-data; boundary=zzz"},
    )
    assert (await answer(response))[:2] == (400, 400)
    form = aiohttp.FormData()
    form.add_field("uploadPath", "a")
    form.add_field("other", "x", filename="x.txt")
    response = await client.post("/api/file-stream-upload", data=form, headers=AUTH)
    assert await answer(response) == (400, 400, "Missing required parameter: file")


async def test_over_the_stream_cap_is_413_and_leaves_no_partial_file(
    api_client: MakeClient, tmp_path: Path
) -> None:
    client = await api_client(max_stream_bytes=1_000_000)

    async def chunks() -> Any:
        for _ in range(3):
            yield os.urandom(1_000_000)

    with aiohttp.MultipartWriter("form-data") as form:
        form.append("big").set_content_disposition("form-data", name="uploadPath")
        part = form.append(chunks())  # chunked: no Content-Length to refuse up front
        part.set_content_disposition("form-data", name="file", filename="big.bin")
    response = await client.post("/api/file-stream-upload", data=form, headers=AUTH)
    status, code, msg = await answer(response)
    assert (status, code) == (413, 413)
    assert msg == "File too large: the limit is 1000000 bytes"
    assert leftovers(tmp_path / "data") == []


async def test_over_the_base64_cap_is_413(api_client: MakeClient, tmp_path: Path) -> None:
    client = await api_client(max_base64_bytes=1000)
    body = {"base64Data": base64.b64encode(b"x" * 1001).decode(), "uploadPath": "a"}
    response = await client.post("/api/file-base64-upload", json=body, headers=AUTH)
    assert await answer(response) == (413, 413, "File too large: the limit is 1000 bytes")
    body = {"base64Data": base64.b64encode(b"x" * 100_000).decode(), "uploadPath": "a"}
    response = await client.post("/api/file-base64-upload", json=body, headers=AUTH)
    assert (await answer(response))[:2] == (413, 413)
    body = {"base64Data": base64.b64encode(b"x" * 1000).decode(), "uploadPath": "a"}
    response = await client.post("/api/file-base64-upload", json=body, headers=AUTH)
    assert response.status == 200
    assert list((tmp_path / "data" / "tmp").iterdir()) == []


async def test_fail_rate_one_answers_500_without_a_traceback(api_client: MakeClient) -> None:
    client = await api_client(fail_rate=1.0)
    response = await client.post("/api/file-base64-upload", json=UPLOAD, headers=AUTH)
    text = await response.text()
    assert response.status == 500
    assert "Traceback" not in text
    assert (await response.json())["msg"] == "Internal server error"
    credit = await client.get("/api/v1/chat/credit", headers=AUTH)
    assert credit.status == 200  # random failures hit uploads only


async def test_an_unexpected_error_is_500_and_leaks_nothing(
    api_client: MakeClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(self: Storage, *args: Any) -> None:
        raise RuntimeError("secret internals /srv/data")

    monkeypatch.setattr(Storage, "commit", broken)
    client = await api_client()
    response = await client.post("/api/file-base64-upload", json=UPLOAD, headers=AUTH)
    text = await response.text()
    assert await answer(response) == (500, 500, "Internal server error")
    assert "secret" not in text and "Traceback" not in text
    assert "secret internals" in caplog.text  # the operator sees it in the log
    credit = await client.get("/api/v1/chat/credit", headers=AUTH)
    assert (await credit.json())["data"] == 1_000_000  # refunded


async def test_status_mode_body_answers_http_200_with_the_code_in_the_body(
    api_client: MakeClient,
) -> None:
    client = await api_client(status_mode="body", rate_limit=Rate(1, 60.0))
    response = await client.post("/api/file-base64-upload", json=UPLOAD)
    assert await answer(response) == (200, 401, "Authentication failed: Invalid API Key")
    response = await client.post("/api/file-base64-upload", json={"uploadPath": "a"}, headers=AUTH)
    assert (await answer(response))[:2] == (200, 400)
    response = await client.post("/api/file-base64-upload", json=UPLOAD, headers=AUTH)
    assert (await answer(response))[:2] == (200, 429)
    assert int(response.headers["Retry-After"]) >= 1
    response = await client.get("/api/nope", headers=AUTH)
    assert (await answer(response))[:2] == (200, 404)


async def test_rate_limit_answers_429_with_retry_after_per_key(api_client: MakeClient) -> None:
    client = await api_client(rate_limit=Rate(2, 30.0))
    statuses = []
    for _ in range(3):
        response = await client.post("/api/file-base64-upload", json=UPLOAD, headers=AUTH)
        statuses.append(response.status)
    assert statuses == [200, 200, 429]
    assert 1 <= int(response.headers["Retry-After"]) <= 30
    assert (await answer(response))[2] == "Rate limit exceeded, please retry later"
    other = {"Authorization": f"Bearer {OTHER_KEY}"}
    response = await client.post("/api/file-base64-upload", json=UPLOAD, headers=other)
    assert response.status == 200


async def test_a_short_rate_window_lets_requests_through_again(api_client: MakeClient) -> None:
    client = await api_client(rate_limit=Rate(1, 0.3))
    first = await client.get("/api/v1/chat/credit", headers=AUTH)
    second = await client.get("/api/v1/chat/credit", headers=AUTH)
    assert (first.status, second.status) == (200, 429)
    assert second.headers["Retry-After"] == "1"
    for _ in range(20):  # bounded wait for the window to slide
        third = await client.get("/api/v1/chat/credit", headers=AUTH)
        if third.status == 200:
            break
        await asyncio.sleep(0.05)
    assert third.status == 200


async def test_fail_sequence_replays_exactly(api_client: MakeClient) -> None:
    client = await api_client(fail_sequence=(500, 429, 455, 200, 503))
    seen = []
    for _ in range(7):
        response = await client.post("/api/file-base64-upload", json=UPLOAD, headers=AUTH)
        seen.append(response.status)
        if response.status == 429:
            assert response.headers["Retry-After"] == "1"
    assert seen == [500, 429, 455, 200, 503, 200, 200]
    credit = await client.get("/api/v1/chat/credit", headers=AUTH)
    assert (await credit.json())["data"] == 1_000_000 - 3


async def test_credits_run_out_with_402(api_client: MakeClient) -> None:
    client = await api_client(credits=2)
    seen = []
    for _ in range(3):
        response = await client.post("/api/file-base64-upload", json=UPLOAD, headers=AUTH)
        seen.append(await answer(response))
    assert [s[0] for s in seen] == [200, 200, 402]
    assert seen[2] == (402, 402, "Insufficient credits")
    credit = await client.get("/api/v1/chat/credit", headers=AUTH)
    assert (await credit.json())["data"] == 0


async def test_latency_delays_answers(api_client: MakeClient) -> None:
    client = await api_client(latency_ms=150)
    loop = asyncio.get_running_loop()
    started = loop.time()
    response = await client.get("/api/v1/chat/credit", headers=AUTH)
    assert response.status == 200
    assert loop.time() - started >= 0.14


def test_settings_are_validated(tmp_path: Path) -> None:
    from fileapi import SettingsError

    good: dict[str, Any] = {"data_dir": tmp_path, "keys": ("k",)}
    for bad in [
        {"keys": ()},
        {"keys": ("has space",)},
        {"port": 70000},
        {"fail_rate": 1.5},
        {"status_mode": "xml"},
        {"ttl_seconds": 0},
        {"credits": -1},
        {"fail_sequence": (99,)},
        {"public_url": "ftp://x"},
        {"max_stream_bytes": 0},
    ]:
        with pytest.raises(SettingsError):
            ServerSettings(**{**good, **bad})
    settings = ServerSettings(**good, public_url="http://x/", fail_sequence=[500])  # type: ignore[arg-type]
    assert settings.public_url == "http://x"
    assert settings.fail_sequence == (500,)


async def test_a_client_that_goes_away_mid_upload_leaves_nothing(
    api_client: MakeClient, tmp_path: Path
) -> None:
    client = await api_client()
    assert client.port is not None
    _reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    head = (
        "POST /api/file-stream-upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {KEY}\r\n"
        "Content-Type: multipart/form-data; boundary=BB\r\nContent-Length: 10000000\r\n\r\n"
        '--BB\r\nContent-Disposition: form-data; name="file"; filename="x.bin"\r\n\r\n'
    )
    writer.write(head.encode() + b"a" * 2_000_000)
    await writer.drain()
    for _ in range(50):  # bounded wait until the server has started writing the temp file
        if list((tmp_path / "data" / "tmp").iterdir()):
            break
        await asyncio.sleep(0.02)
    writer.close()
    await writer.wait_closed()
    for _ in range(50):
        if not list((tmp_path / "data" / "tmp").iterdir()):
            break
        await asyncio.sleep(0.02)
    assert leftovers(tmp_path / "data") == []
    for _ in range(50):  # the credit reserved for the upload comes back
        credit = await client.get("/api/v1/chat/credit", headers=AUTH)
        if (await credit.json())["data"] == 1_000_000:
            break
        await asyncio.sleep(0.02)
    assert (await credit.json())["data"] == 1_000_000

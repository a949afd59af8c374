"""The File Upload API server: every upload endpoint's happy path and the downloads it serves."""

from __future__ import annotations

import base64
import logging
import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from fileapi import STATS
from tests.helpers.server_helpers import AUTH, KEY, AiohttpClient, Client, MakeClient, start_api

PNG_1X1 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJ"
    "AAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg=="
)
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
UNION_KEYS = {
    "fileId",
    "fileName",
    "originalName",
    "filePath",
    "uploadPath",
    "fileSize",
    "mimeType",
    "fileUrl",
    "downloadUrl",
    "uploadedAt",
    "uploadTime",
    "expiresAt",
}


@pytest.fixture
def api_client(tmp_path: Path, aiohttp_client: AiohttpClient) -> MakeClient:
    """Start the API on 127.0.0.1; keyword arguments override ServerSettings."""

    async def start(**overrides: Any) -> Client:
        overrides.setdefault("allow_private_sources", True)
        return await start_api(aiohttp_client, tmp_path / "data", **overrides)

    return start


@pytest.fixture
async def source_url(aiohttp_server: Callable[..., Awaitable[Any]]) -> str:
    """A source server on loopback: ``/images/sample-image.jpg`` and ``/notes/read me.txt``."""

    async def jpeg(_request: web.Request) -> web.Response:
        return web.Response(body=b"\xff\xd8\xff\xe0" + b"\x00" * 60, content_type="image/jpeg")

    async def text(_request: web.Request) -> web.Response:
        return web.Response(text="hello from the source\n")

    async def redirect(_request: web.Request) -> web.Response:
        raise web.HTTPFound("/images/sample-image.jpg")

    app = web.Application()
    app.router.add_get("/images/sample-image.jpg", jpeg)
    app.router.add_get("/notes/{name}", text)
    app.router.add_get("/go", redirect)
    server = await aiohttp_server(app)
    return str(server.make_url("")).rstrip("/")


async def fetch(client: Client, url: str, **kwargs: Any) -> tuple[int, bytes, Any]:
    """GET an absolute URL the API handed out; status, body and headers."""
    async with client.session.get(url, **kwargs) as response:
        return response.status, await response.read(), response.headers


def check_data(data: dict[str, Any], upload_path: str, file_name: str, size: int) -> None:
    """``data`` carries the union of both shapes, consistent with what was uploaded."""
    assert set(data) >= UNION_KEYS
    assert data["fileName"] == file_name
    assert data["uploadPath"] == upload_path
    assert data["filePath"] == f"{upload_path}/{file_name}"
    assert data["fileSize"] == size
    assert data["fileId"].startswith("file_")
    for stamp in ("uploadedAt", "uploadTime", "expiresAt"):
        assert ISO_MS.match(data[stamp]), data[stamp]
    assert data["uploadedAt"] == data["uploadTime"]
    assert data["expiresAt"] > data["uploadedAt"]


async def test_url_upload_names_types_and_serves_the_file(
    api_client: MakeClient, source_url: str
) -> None:
    client = await api_client()
    body = {
        "fileUrl": f"{source_url}/images/sample-image.jpg",
        "uploadPath": "images",
        "fileName": "my-image.jpg",
    }
    response = await client.post("/api/file-url-upload", json=body, headers=AUTH)
    answer = await response.json()
    assert response.status == 200
    assert answer["success"] is True and answer["code"] == 200
    assert answer["msg"] == "File uploaded successfully"
    data = answer["data"]
    check_data(data, "images", "my-image.jpg", 64)
    assert data["originalName"] == "sample-image.jpg"
    assert data["mimeType"] == "image/jpeg"
    for url in (data["fileUrl"], data["downloadUrl"]):
        status, content, headers = await fetch(client, url)
        assert status == 200
        assert content.startswith(b"\xff\xd8\xff")
        assert headers["Content-Type"] == "image/jpeg"
        assert headers["Content-Length"] == "64"


async def test_url_upload_without_file_name_uses_the_decoded_last_segment(
    api_client: MakeClient, source_url: str
) -> None:
    client = await api_client()
    body = {"fileUrl": f"{source_url}/notes/read%20me.txt", "uploadPath": "docs", "fileName": None}
    response = await client.post("/api/file-url-upload", json=body, headers=AUTH)
    data = (await response.json())["data"]
    assert data["fileName"] == "read me.txt"
    assert data["mimeType"] == "text/plain"
    assert "/docs/read%20me.txt" in data["downloadUrl"]
    status, content, headers = await fetch(client, data["downloadUrl"])
    assert (status, content) == (200, b"hello from the source\n")
    assert "filename*=UTF-8''read%20me.txt" in headers["Content-Disposition"]


async def test_url_upload_follows_redirects(api_client: MakeClient, source_url: str) -> None:
    client = await api_client()
    body = {"fileUrl": f"{source_url}/go", "uploadPath": "r"}
    response = await client.post("/api/file-url-upload", json=body, headers=AUTH)
    data = (await response.json())["data"]
    assert response.status == 200
    assert data["fileName"] == "go"
    assert data["mimeType"] == "image/jpeg"


async def test_base64_upload_accepts_data_urls_and_pure_base64(api_client: MakeClient) -> None:
    client = await api_client()
    raw = base64.b64decode(PNG_1X1)
    with_url = {
        "base64Data": f"data:image/png;base64,{PNG_1X1}",
        "uploadPath": "images/base64",
        "fileName": "test-image.png",
    }
    response = await client.post("/api/file-base64-upload", json=with_url, headers=AUTH)
    data = (await response.json())["data"]
    check_data(data, "images/base64", "test-image.png", len(raw))
    assert data["mimeType"] == "image/png"
    assert (await fetch(client, data["fileUrl"]))[1] == raw

    pure = {"base64Data": PNG_1X1, "uploadPath": "documents/uploads"}
    response = await client.post("/api/file-base64-upload", json=pure, headers=AUTH)
    data = (await response.json())["data"]
    assert response.status == 200
    assert re.fullmatch(r"file-[0-9a-f]+\.png", data["fileName"])
    assert (await fetch(client, data["downloadUrl"]))[1] == raw


async def test_base64_upload_is_lenient_about_padding_whitespace_and_urlsafe(
    api_client: MakeClient,
) -> None:
    client = await api_client()
    payload = bytes(range(256)) * 3
    variants = [
        base64.b64encode(payload).decode().rstrip("="),
        "\n".join(re.findall(".{1,76}", base64.b64encode(payload).decode())),
        base64.urlsafe_b64encode(payload).decode(),
    ]
    for text in variants:
        body = {"base64Data": text, "uploadPath": "b", "fileName": "bytes.bin"}
        response = await client.post("/api/file-base64-upload", json=body, headers=AUTH)
        data = (await response.json())["data"]
        assert (await fetch(client, data["fileUrl"]))[1] == payload


async def test_stream_upload_fields_before_or_after_the_file(api_client: MakeClient) -> None:
    client = await api_client()
    content = b"%PDF-1.4\n" + os.urandom(5000)
    for fields_first in (True, False):
        with aiohttp.MultipartWriter("form-data") as form:
            parts: list[tuple[str, Any]] = [
                ("uploadPath", "docs/manuals"),
                ("fileName", "manual.pdf"),
            ]
            if not fields_first:
                file_part = form.append(content, {"Content-Type": "application/octet-stream"})
                file_part.set_content_disposition("form-data", name="file", filename="m.pdf")
            for name, value in parts:
                form.append(value).set_content_disposition("form-data", name=name)
            if fields_first:
                file_part = form.append(content, {"Content-Type": "application/octet-stream"})
                file_part.set_content_disposition("form-data", name="file", filename="m.pdf")
        response = await client.post("/api/file-stream-upload", data=form, headers=AUTH)
        answer = await response.json()
        assert response.status == 200, answer
        data = answer["data"]
        check_data(data, "docs/manuals", "manual.pdf", len(content))
        assert data["originalName"] == "m.pdf"
        assert data["mimeType"] == "application/pdf"
        assert (await fetch(client, data["downloadUrl"]))[1] == content


async def test_stream_upload_keeps_the_part_filename_when_no_file_name(
    api_client: MakeClient,
) -> None:
    client = await api_client()
    form = aiohttp.FormData()
    form.add_field("file", b"a,b\n1,2\n", filename="table.csv", content_type="text/csv")
    form.add_field("uploadPath", "/data/")
    response = await client.post("/api/file-stream-upload", data=form, headers=AUTH)
    data = (await response.json())["data"]
    assert data["fileName"] == "table.csv"
    assert data["uploadPath"] == "data"
    assert data["mimeType"] == "text/csv"


async def test_stream_upload_of_20_mb_lands_whole(api_client: MakeClient, tmp_path: Path) -> None:
    client = await api_client()
    size = 20 * 1024 * 1024
    source = tmp_path / "big.bin"
    with source.open("wb") as out:
        for _ in range(20):
            out.write(os.urandom(1024 * 1024))
    form = aiohttp.FormData()
    with source.open("rb") as handle:
        form.add_field("file", handle, filename="big.bin")
        form.add_field("uploadPath", "big")
        response = await client.post("/api/file-stream-upload", data=form, headers=AUTH)
    data = (await response.json())["data"]
    assert data["fileSize"] == size
    stored = list((tmp_path / "data" / "files").rglob("big.bin"))
    assert len(stored) == 1
    assert stored[0].stat().st_size == size
    assert stored[0].read_bytes() == source.read_bytes()
    assert list((tmp_path / "data" / "tmp").iterdir()) == []


async def test_equal_names_never_overwrite(api_client: MakeClient) -> None:
    client = await api_client()
    urls = []
    for text in ("first", "second"):
        body = {
            "base64Data": base64.b64encode(text.encode()).decode(),
            "uploadPath": "same",
            "fileName": "same.txt",
        }
        response = await client.post("/api/file-base64-upload", json=body, headers=AUTH)
        urls.append((await response.json())["data"]["downloadUrl"])
    assert urls[0] != urls[1]
    assert [(await fetch(client, url))[1] for url in urls] == [b"first", b"second"]


async def test_downloads_support_range_head_and_content_disposition(
    api_client: MakeClient,
) -> None:
    client = await api_client()
    content = bytes(range(100))
    body = {
        "base64Data": base64.b64encode(content).decode(),
        "uploadPath": "r/ü",
        "fileName": "résumé 100%.bin",
    }
    response = await client.post("/api/file-base64-upload", json=body, headers=AUTH)
    data = (await response.json())["data"]
    assert "/r/%C3%BC/r%C3%A9sum%C3%A9%20100%25.bin" in data["downloadUrl"]

    status, part, headers = await fetch(
        client, data["downloadUrl"], headers={"Range": "bytes=10-19"}
    )
    assert status == 206
    assert part == content[10:20]
    assert headers["Content-Range"] == "bytes 10-19/100"

    async with client.session.head(data["fileUrl"]) as head:
        assert head.status == 200
        assert head.headers["Content-Length"] == "100"
        assert await head.read() == b""

    _, _, attachment = await fetch(client, data["downloadUrl"])
    _, _, inline = await fetch(client, data["fileUrl"])
    assert attachment["Content-Disposition"] == (
        "attachment; filename=\"r_sum_ 100_.bin\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20100%25.bin"
    )
    assert inline["Content-Disposition"].startswith("inline; ")


async def test_a_download_path_must_match_the_upload(api_client: MakeClient) -> None:
    client = await api_client()
    body = {"base64Data": "aGVsbG8=", "uploadPath": "a", "fileName": "b.txt"}
    response = await client.post("/api/file-base64-upload", json=body, headers=AUTH)
    url = (await response.json())["data"]["downloadUrl"]
    status, content, _ = await fetch(client, url.replace("/a/b.txt", "/a/c.txt"))
    assert status == 404
    assert b"File not found or expired" in content
    token_free = url.rsplit("/", 3)[0] + "/" + "0" * 32 + "/a/b.txt"
    assert (await fetch(client, token_free))[0] == 404


async def test_credit_endpoint_counts_down_with_each_upload(api_client: MakeClient) -> None:
    client = await api_client(credits=5)
    response = await client.get("/api/v1/chat/credit", headers=AUTH)
    assert await response.json() == {"success": True, "code": 200, "msg": "success", "data": 5}
    body = {"base64Data": "aGVsbG8=", "uploadPath": "a"}
    await client.post("/api/file-base64-upload", json=body, headers=AUTH)
    await client.post("/api/file-base64-upload", json={"uploadPath": "a"}, headers=AUTH)
    response = await client.get("/api/v1/chat/credit", headers=AUTH)
    assert (await response.json())["data"] == 4  # the failed upload cost nothing


async def test_public_url_is_the_base_of_the_urls(api_client: MakeClient) -> None:
    client = await api_client(public_url="https://files.example.test/base/")
    body = {"base64Data": "aGVsbG8=", "uploadPath": "p", "fileName": "h.txt"}
    response = await client.post("/api/file-base64-upload", json=body, headers=AUTH)
    data = (await response.json())["data"]
    assert data["downloadUrl"].startswith("https://files.example.test/base/")
    assert data["fileUrl"].startswith("https://files.example.test/base/files/")
    assert data["downloadUrl"].endswith("/p/h.txt")


async def test_stats_and_access_log_never_show_the_key(
    api_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    client = await api_client()
    caplog.set_level(logging.INFO, logger="fileapi")
    body = {"base64Data": "aGVsbG8=", "uploadPath": "s"}
    await client.post("/api/file-base64-upload", json=body, headers=AUTH)
    await client.post("/api/file-base64-upload", json=body)
    await client.get("/api/v1/chat/credit", headers=AUTH)
    stats = client.app[STATS]
    assert stats.uploads == 2
    assert stats.stored == 1
    assert stats.requests_by_route["/api/file-base64-upload"] == 2
    lines = [r.getMessage() for r in caplog.records if r.name == "fileapi.access"]
    assert any(re.fullmatch(r"POST /api/file-base64-upload 200 [\d.]+ms", line) for line in lines)
    assert any(line.startswith("POST /api/file-base64-upload 401 ") for line in lines)
    assert KEY not in caplog.text


async def test_a_stream_upload_without_any_name_gets_a_generated_one(
    api_client: MakeClient,
) -> None:
    client = await api_client()
    with aiohttp.MultipartWriter("form-data") as form:
        form.append(b"GIF89a" + b"\x00" * 20).set_content_disposition("form-data", name="file")
        form.append("anon").set_content_disposition("form-data", name="uploadPath")
    response = await client.post("/api/file-stream-upload", data=form, headers=AUTH)
    data = (await response.json())["data"]
    assert data["mimeType"] == "image/gif"
    assert re.fullmatch(r"file-[0-9a-f]+\.gif", data["fileName"])

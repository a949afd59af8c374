"""The spec's own examples against the local server: its curl lines, its Python and JS clients.

The clients in ``tests/server/spec_clients`` are copied from ``spec/file-upload-api.md`` unchanged;
only their base URL is pointed at the server. Every URL they get back must serve the bytes.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from aiohttp import web

from fileapi import BackgroundServer, ServerSettings, make_app

KEY = "spec-client-key-0123456789"
SPEC_CLIENTS = Path(__file__).parent / "spec_clients"
PNG_1X1 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJ"
    "AAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg=="
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x01" * 100


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The API (private sources allowed) and a source server with ``/sample-image.jpg``."""

    async def image(_request: web.Request) -> web.Response:
        return web.Response(body=JPEG, content_type="image/jpeg")

    source = web.Application()
    source.router.add_get("/sample-image.jpg", image)
    settings = ServerSettings(data_dir=tmp_path / "data", keys=(KEY,), allow_private_sources=True)
    with BackgroundServer(make_app(settings)) as api, BackgroundServer(source) as files:
        yield api.base_url, files.base_url


def serves(url: str, expected: bytes) -> None:
    """``url`` answers 200 with exactly ``expected``."""
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, url
    assert response.content == expected


def check(answer: dict[str, Any], expected: bytes, file_name: str | None = None) -> None:
    assert answer["success"] is True and answer["code"] == 200, answer
    data = answer["data"]
    if file_name is not None:
        assert data["fileName"] == file_name
    assert data["fileSize"] == len(expected)
    serves(data["fileUrl"], expected)
    serves(data["downloadUrl"], expected)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_quickstart_curl_lines(servers: tuple[str, str], tmp_path: Path) -> None:
    base, sources = servers
    upload = tmp_path / "your-file.jpg"
    upload.write_bytes(JPEG)

    def curl(*args: str) -> dict[str, Any]:
        done = subprocess.run(
            ["curl", "-sS", "--max-time", "20", *args], capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, done.stderr
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    url_answer = curl(
        "-X", "POST", f"{base}/api/file-url-upload",
        "-H", f"Authorization: Bearer {KEY}",
        "-H", "Content-Type: application/json",
        "-d", json.dumps({
            "fileUrl": f"{sources}/sample-image.jpg",
            "uploadPath": "images",
            "fileName": "my-image.jpg",
        }),
    )  # fmt: skip
    check(url_answer, JPEG, "my-image.jpg")
    assert url_answer["data"]["originalName"] == "sample-image.jpg"

    stream_answer = curl(
        "-X", "POST", f"{base}/api/file-stream-upload",
        "-H", f"Authorization: Bearer {KEY}",
        "-F", f"file=@{upload}",
        "-F", "uploadPath=images/user-uploads",
        "-F", "fileName=custom-name.jpg",
    )  # fmt: skip
    check(stream_answer, JPEG, "custom-name.jpg")
    assert stream_answer["data"]["filePath"] == "images/user-uploads/custom-name.jpg"

    base64_answer = curl(
        "-X", "POST", f"{base}/api/file-base64-upload",
        "-H", f"Authorization: Bearer {KEY}",
        "-H", "Content-Type: application/json",
        "-d", json.dumps({
            "base64Data": f"data:image/png;base64,{PNG_1X1}",
            "uploadPath": "images",
            "fileName": "base64-image.png",
        }),
    )  # fmt: skip
    check(base64_answer, base64.b64decode(PNG_1X1), "base64-image.png")

    truncated = curl(
        "-X", "POST", f"{base}/api/file-base64-upload",
        "-H", f"Authorization: Bearer {KEY}",
        "-H", "Content-Type: application/json",
        "-d", '{"base64Data": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA...",'
              ' "uploadPath": "images", "fileName": "base64-image.png"}',
    )  # fmt: skip
    assert truncated == {
        "success": False,
        "code": 400,
        "msg": "Base64 decoding failed: Invalid Base64 format",
        "data": None,
    }

    credit = curl("-H", f"Authorization: Bearer {KEY}", f"{base}/api/v1/chat/credit")
    assert credit["code"] == 200 and credit["msg"] == "success"
    assert credit["data"] == 1_000_000 - 3


def test_the_spec_python_client(servers: tuple[str, str], tmp_path: Path) -> None:
    base, sources = servers
    sys.path.insert(0, str(SPEC_CLIENTS))
    try:
        from spec_client import FileUploadAPI  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(SPEC_CLIENTS))
    uploader = FileUploadAPI(KEY)
    uploader.base_url = base

    local = tmp_path / "document.pdf"
    local.write_bytes(b"%PDF-1.4\n" + bytes(range(256)))
    named = uploader.upload_file(str(local), "user-uploads", "file-1-document.pdf")
    check(named, local.read_bytes(), "file-1-document.pdf")
    assert named["data"]["mimeType"] == "application/pdf"
    check(uploader.upload_file(str(local), "user-uploads"), local.read_bytes(), "document.pdf")

    from_url = uploader.upload_from_url(f"{sources}/sample-image.jpg", "downloads")
    check(from_url, JPEG, "sample-image.jpg")  # it sent "fileName": null
    check(
        uploader.upload_from_url(f"{sources}/sample-image.jpg", "downloads", "download-1.jpg"),
        JPEG,
        "download-1.jpg",
    )

    pixel = base64.b64decode(PNG_1X1)
    check(
        uploader.upload_base64(f"data:image/png;base64,{PNG_1X1}", "b64", "p.png"), pixel, "p.png"
    )
    check(uploader.upload_base64(PNG_1X1, "b64"), pixel)

    with pytest.raises(Exception, match=r"Upload failed: .*Missing required parameter: uploadPath"):
        uploader.upload_from_url(f"{sources}/sample-image.jpg")


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_spec_javascript_client(servers: tuple[str, str]) -> None:
    base, sources = servers
    version = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=30)
    if int(version.stdout.strip().lstrip("v").split(".")[0]) < 20:
        pytest.skip("the spec's client needs node 20 (global fetch, FormData, File)")
    text = "hello from node\n"
    env = {
        "PATH": "/usr/bin:/bin",
        "SPEC_BASE_URL": base,
        "SPEC_API_KEY": KEY,
        "SPEC_SOURCE_URL": f"{sources}/sample-image.jpg",
        "SPEC_STREAM_TEXT": text,
        "SPEC_BASE64": PNG_1X1,
    }
    done = subprocess.run(
        [shutil.which("node") or "node", str(SPEC_CLIENTS / "driver.js")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    results = outcome["results"]
    check(results["stream"], text.encode(), "from-js.txt")
    check(results["blob"], text.encode(), "blob")
    check(results["url"], JPEG, "sample-image.jpg")  # it sent "fileName": null
    check(results["base64"], base64.b64decode(PNG_1X1), "pixel.png")
    assert outcome["refused"] == "Upload failed: Bad Request"

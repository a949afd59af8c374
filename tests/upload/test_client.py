"""Classification of API answers: the body's code first, then the HTTP status; both data shapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.core.errors import (
    AuthError,
    BadRequestError,
    CreditsError,
    RateLimitedError,
    ServerError,
    SourceError,
    TooLargeError,
)
from pipeline.upload.client import interpret_answer

THREE_DAYS = 3 * 86400.0

# The two success shapes exactly as the spec prints them.
SHAPE_QUICKSTART = {
    "success": True,
    "code": 200,
    "msg": "File uploaded successfully",
    "data": {
        "fileId": "file_abc123456",
        "fileName": "my-image.jpg",
        "originalName": "sample-image.jpg",
        "fileSize": 245760,
        "mimeType": "image/jpeg",
        "uploadPath": "images",
        "fileUrl": "https://kieai.redpandaai.co/files/images/my-image.jpg",
        "downloadUrl": "https://kieai.redpandaai.co/download/file_abc123456",
        "uploadTime": "2025-01-15T10:30:00Z",
        "expiresAt": "2025-01-18T10:30:00Z",
    },
}
SHAPE_OPENAPI = {
    "success": True,
    "code": 200,
    "msg": "File uploaded successfully",
    "data": {
        "fileName": "uploaded-image.png",
        "filePath": "images/user-uploads/uploaded-image.png",
        "downloadUrl": "https://tempfile.redpandaai.co/xxx/images/user-uploads/uploaded-image.png",
        "fileSize": 154832,
        "mimeType": "image/png",
        "uploadedAt": "2025-01-01T12:00:00.000Z",
    },
}


def answer(status: int, body: object, headers: dict[str, str] | None = None) -> object:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return interpret_answer(status, raw, headers or {}, retention_seconds=THREE_DAYS)


def test_quickstart_shape_uses_download_url_and_upload_time() -> None:
    up = answer(200, SHAPE_QUICKSTART)
    assert up.download_url == "https://kieai.redpandaai.co/download/file_abc123456"
    assert up.uploaded_at == datetime(2025, 1, 15, 10, 30, tzinfo=UTC)
    assert up.expires_at == datetime(2025, 1, 18, 10, 30, tzinfo=UTC)
    assert (up.file_size, up.mime_type, up.file_path) == (245760, "image/jpeg", None)


def test_openapi_shape_expiry_is_upload_time_plus_retention() -> None:
    up = answer(200, SHAPE_OPENAPI)
    assert up.file_path == "images/user-uploads/uploaded-image.png"
    assert up.uploaded_at == datetime(2025, 1, 1, 12, tzinfo=UTC)
    assert up.expires_at == up.uploaded_at + timedelta(days=3)


def test_file_url_is_the_fallback_for_download_url() -> None:
    data = dict(SHAPE_QUICKSTART["data"])  # type: ignore[arg-type]
    del data["downloadUrl"]
    up = answer(200, {**SHAPE_QUICKSTART, "data": data})
    assert up.download_url == "https://kieai.redpandaai.co/files/images/my-image.jpg"


@pytest.mark.parametrize(
    ("http_status", "code", "msg", "error", "retryable"),
    [
        (200, 401, "Authentication failed: Invalid API Key", AuthError, False),
        (200, 402, "Insufficient credits", CreditsError, False),
        (200, 429, "Too many requests", RateLimitedError, True),
        (200, 455, "Service maintenance", ServerError, True),
        (200, 500, "Internal server error", ServerError, True),
        (400, 400, "Missing required parameter: uploadPath", BadRequestError, False),
        (400, 400, "File download failed: source answered HTTP 404", SourceError, False),
        (413, 413, "File too large", TooLargeError, False),
        (404, 404, "Not found", BadRequestError, False),
        (503, 503, "busy", ServerError, True),
    ],
)
def test_body_code_wins_over_http_status(
    http_status: int, code: int, msg: str, error: type[Exception], retryable: bool
) -> None:
    with pytest.raises(error) as caught:
        answer(http_status, {"success": False, "code": code, "msg": msg})
    assert caught.value.retryable is retryable  # type: ignore[attr-defined]
    assert caught.value.http_status == code  # type: ignore[attr-defined]


def test_html_error_page_is_a_server_error() -> None:
    with pytest.raises(ServerError) as caught:
        answer(502, b"<html><body>Bad gateway</body></html>")
    assert caught.value.retryable
    assert "not the API's JSON" in str(caught.value)


def test_retry_after_is_read() -> None:
    with pytest.raises(RateLimitedError) as caught:
        answer(429, {"success": False, "code": 429, "msg": "slow down"}, {"Retry-After": "7"})
    assert caught.value.retry_after == 7.0


def test_error_message_is_one_line() -> None:
    with pytest.raises(BadRequestError) as caught:
        answer(400, {"success": False, "code": 400, "msg": "bad\nthing\r\n  here"})
    assert str(caught.value) == "bad thing here"

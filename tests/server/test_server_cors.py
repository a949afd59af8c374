"""CORS (``--cors-origin``): preflights answered, headers on API answers, errors and downloads;
nothing at all without configured origins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from fileapi import ServerSettings, SettingsError
from jobs.cli import main
from tests.helpers.server_helpers import AUTH, AiohttpClient, Client, MakeClient, start_api

PAGE = "http://page.test:3000"
OTHER = "http://elsewhere.test"
UPLOAD = {"base64Data": "aGVsbG8=", "uploadPath": "cors", "fileName": "h.txt"}
ENDPOINTS = ["/api/file-url-upload", "/api/file-stream-upload", "/api/file-base64-upload"]


@pytest.fixture
def api_client(tmp_path: Path, aiohttp_client: AiohttpClient) -> MakeClient:
    async def start(**overrides: Any) -> Client:
        return await start_api(aiohttp_client, tmp_path / "data", **overrides)

    return start


def cors_headers(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items() if k.lower().startswith("access-control-")}


def preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization,content-type",
    }


@pytest.mark.parametrize("path", [*ENDPOINTS, "/api/v1/chat/credit"])
async def test_a_preflight_from_an_allowed_origin_is_204_without_a_key(
    api_client: MakeClient, path: str
) -> None:
    client = await api_client(cors_origins=(PAGE, "https://other.test"))
    method = "GET" if "credit" in path else "POST"
    response = await client.options(path, headers=preflight(PAGE, method))
    assert response.status == 204
    headers = cors_headers(response.headers)
    assert headers["access-control-allow-origin"] == PAGE
    assert method in headers["access-control-allow-methods"]
    allowed = {h.strip().lower() for h in headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    assert int(headers["access-control-max-age"]) > 0
    assert response.headers["Vary"] == "Origin"


async def test_a_preflight_from_another_origin_is_refused(api_client: MakeClient) -> None:
    client = await api_client(cors_origins=(PAGE,))
    response = await client.options("/api/file-base64-upload", headers=preflight(OTHER))
    assert response.status == 403
    assert cors_headers(response.headers) == {}
    assert response.headers["Vary"] == "Origin"
    assert (await response.json())["code"] == 403


async def test_answers_errors_and_downloads_carry_the_headers(api_client: MakeClient) -> None:
    client = await api_client(cors_origins=(PAGE,))
    origin = {"Origin": PAGE}
    uploaded = await client.post("/api/file-base64-upload", json=UPLOAD, headers=AUTH | origin)
    assert uploaded.status == 200
    assert cors_headers(uploaded.headers)["access-control-allow-origin"] == PAGE
    assert uploaded.headers["Vary"] == "Origin"
    assert "Retry-After" in uploaded.headers["Access-Control-Expose-Headers"]

    refused = await client.post("/api/file-base64-upload", json=UPLOAD, headers=origin)
    assert refused.status == 401
    assert refused.headers["Access-Control-Allow-Origin"] == PAGE

    download = (await uploaded.json())["data"]["downloadUrl"]
    path = download.split(str(client.port), 1)[1]
    got = await client.get(path, headers=origin)
    assert (got.status, await got.read()) == (200, b"hello")
    assert got.headers["Access-Control-Allow-Origin"] == PAGE
    assert "Content-Disposition" in got.headers["Access-Control-Expose-Headers"]

    missing = await client.get("/" + "0" * 32 + "/cors/none.txt", headers=origin)
    assert missing.status == 404
    assert missing.headers["Access-Control-Allow-Origin"] == PAGE


async def test_another_origin_or_no_origin_gets_no_allow_origin(api_client: MakeClient) -> None:
    client = await api_client(cors_origins=(PAGE,))
    for headers in (AUTH | {"Origin": OTHER}, AUTH):
        response = await client.post("/api/file-base64-upload", json=UPLOAD, headers=headers)
        assert response.status == 200
        assert cors_headers(response.headers) == {}
        assert response.headers["Vary"] == "Origin"  # the answer depends on the origin


async def test_any_origin_with_a_star(api_client: MakeClient) -> None:
    client = await api_client(cors_origins=("*",))
    response = await client.options("/api/file-stream-upload", headers=preflight(OTHER))
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    answer = await client.get("/api/v1/chat/credit", headers=AUTH | {"Origin": OTHER})
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert "Vary" not in answer.headers


async def test_body_status_mode_keeps_the_headers(api_client: MakeClient) -> None:
    client = await api_client(cors_origins=(PAGE,), status_mode="body")
    response = await client.post("/api/file-base64-upload", json={}, headers={"Origin": PAGE})
    assert response.status == 200
    assert (await response.json())["code"] == 401
    assert response.headers["Access-Control-Allow-Origin"] == PAGE


async def test_without_cors_origins_no_cors_header_is_ever_sent(api_client: MakeClient) -> None:
    client = await api_client()
    response = await client.options("/api/file-base64-upload", headers=preflight(PAGE))
    assert response.status == 405  # a preflight fails: the browser refuses the call
    assert cors_headers(response.headers) == {}
    origin = {"Origin": PAGE}
    uploaded = await client.post("/api/file-base64-upload", json=UPLOAD, headers=AUTH | origin)
    assert uploaded.status == 200
    path = (await uploaded.json())["data"]["fileUrl"].split(str(client.port), 1)[1]
    for response in (
        uploaded,
        await client.get("/api/v1/chat/credit", headers=AUTH | origin),
        await client.get(path, headers=origin),
        await client.get("/openapi.json", headers=origin),
    ):
        assert cors_headers(response.headers) == {}
        assert "Vary" not in response.headers


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("*", "*"),
        ("https://App.Example.com/", "https://app.example.com"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_origins_are_normalised(tmp_path: Path, given: str, kept: str) -> None:
    settings = ServerSettings(data_dir=tmp_path, keys=("k",), cors_origins=(given,))
    assert settings.cors_origins == (kept,)


@pytest.mark.parametrize(
    "bad", ["", "example.com", "ftp://example.com", "http://a.test/path", "http://a b", "null"]
)
def test_a_bad_origin_is_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(SettingsError, match="cors_origins"):
        ServerSettings(data_dir=tmp_path, keys=("k",), cors_origins=(bad,))


def test_serve_refuses_a_bad_cors_origin_naming_the_option(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["serve", "--port", "0", "--data-dir", str(tmp_path), "--cors-origin", "a.test/x"]
    )
    assert result.exit_code == 2
    assert "--cors-origin" in result.output and "'a.test/x'" in result.output

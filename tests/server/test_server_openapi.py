"""``GET /openapi.json``: the packaged document is valid OpenAPI 3, served as is, and covers
every route and every field the server answers with."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import schemathesis

from fileapi import openapi
from fileapi.app import make_app
from fileapi.responses import envelope, upload_data
from fileapi.settings import ServerSettings
from fileapi.storage import StoredFile
from tests.helpers.server_helpers import AUTH, AiohttpClient, start_api


def test_the_packaged_document_is_valid_openapi_3() -> None:
    document = openapi.document()
    assert document["openapi"].startswith("3.")
    schemathesis.openapi.from_dict(document).validate()


async def test_it_is_served_without_a_key_naming_the_server_that_answered(
    tmp_path: Path, aiohttp_client: AiohttpClient
) -> None:
    client = await start_api(aiohttp_client, tmp_path / "data")
    response = await client.get("/openapi.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    served = await response.json()
    base = f"http://127.0.0.1:{client.port}"
    assert served["servers"] == [{"url": base, "description": "the server that answered"}]
    assert {**served, "servers": None} == {**openapi.document(), "servers": None}
    with_key = await client.get("/openapi.json", headers=AUTH)
    assert await with_key.json() == served


async def test_public_url_is_the_server_it_names(
    tmp_path: Path, aiohttp_client: AiohttpClient
) -> None:
    client = await start_api(aiohttp_client, tmp_path / "data", public_url="https://files.test/")
    served = await (await client.get("/openapi.json")).json()
    assert served["servers"][0]["url"] == "https://files.test"


def _route_template(path: str) -> str:
    """An aiohttp route pattern as an OpenAPI path: ``{token:[0-9a-f]{32}}`` -> ``{token}``,
    and the download route's multi-segment ``{tail}`` is the document's ``{filePath}``."""
    path = re.sub(r"\{(\w+):[^}]*(\{\d+\})?[^}]*\}", r"{\1}", path)
    return path.replace("{tail}", "{filePath}")


def test_every_route_of_the_app_is_documented(tmp_path: Path) -> None:
    app = make_app(ServerSettings(data_dir=tmp_path, keys=("k",)))
    routes = {
        (route.method.lower(), _route_template(route.resource.canonical))
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    documented = {
        (method, path)
        for path, operations in openapi.document()["paths"].items()
        for method in operations
    }
    assert routes == documented


def test_the_upload_data_it_documents_is_what_the_server_sends() -> None:
    record = StoredFile(
        token="0" * 32,
        file_id="file_0123456789abcdef",
        upload_path="a/b",
        file_name="x.png",
        original_name="x.png",
        size=3,
        mime_type="image/png",
        uploaded_at=0.0,
        expires_at=1.0,
    )
    schemas: dict[str, Any] = openapi.document()["components"]["schemas"]
    result = schemas["FileUploadResult"]
    sent = upload_data("http://127.0.0.1:8080", record)
    assert set(result["required"]) == set(result["properties"]) == set(sent)
    for schema_name in ("UploadResponse", "ApiError"):
        assert set(schemas[schema_name]["required"]) == set(envelope(200, "ok"))

"""Property-based fuzzing of the server from its own OpenAPI document (schemathesis).

The document is the one in the package, which ``GET /openapi.json`` serves (its ``servers``
aside; test_server_openapi.py checks that). schemathesis generates valid and invalid requests
for every operation in it (examples, coverage and fuzzing phases) and sends them to a live
server on 127.0.0.1. Every answer must be no 5xx, conform to the document (status, content
type, headers, body schema) and, in the API's envelope, have ``code`` equal to the HTTP
status. Bounded: 100 examples per operation and phase, about ten seconds in all.

(The schema is loaded at import rather than from the live server through
``schemathesis.pytest.from_fixture``: that path reads ``Item._nodeid``, which pytest 9 no
longer has.)

URL uploads connect nowhere: the server's fetcher refuses every address and its resolver
makes no DNS query, so a generated ``fileUrl`` is answered 400 without any traffic (the
fetch itself is tested in test_server_ssrf.py and test_server_uploads.py).
"""

from __future__ import annotations

import json
import os
import random
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp.abc import AbstractResolver, ResolveResult
from hypothesis import HealthCheck, settings
from schemathesis import Case, CheckContext, Response

from fileapi import BackgroundServer, ServerSettings, make_app, openapi
from fileapi.fetch import Fetcher, IPAddress
from fileapi.state import FETCHER
from tests.helpers.server_helpers import AUTH, KEY

# Fixed by default so `make test` is reproducible; FERRY_FUZZ_SEED=random and a larger
# FERRY_FUZZ_EXAMPLES turn it into a longer hunt (a failure prints the seed to replay).
MAX_EXAMPLES = int(os.environ.get("FERRY_FUZZ_EXAMPLES", "100"))
_SEED = os.environ.get("FERRY_FUZZ_SEED", "20250113")
SEED = random.randrange(2**32) if _SEED == "random" else int(_SEED)


class NoDnsResolver(AbstractResolver):
    """Resolves nothing: a generated host name never becomes a DNS query."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        raise OSError(f"{host} is not resolved in this test")

    async def close(self) -> None:
        """Nothing to release."""


def no_address(_address: IPAddress) -> bool:
    """The fetch policy of this test: no address may be reached, not even loopback (a
    generated ``http://127.0.0.1:<port>/`` could hit another process on this machine)."""
    return False


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    """The API on 127.0.0.1 whose URL uploads never connect anywhere."""
    settings_ = ServerSettings(data_dir=tmp_path_factory.mktemp("fuzz") / "data", keys=(KEY,))
    app = make_app(settings_)
    app[FETCHER] = Fetcher(
        allow_private=False,
        timeout_seconds=5.0,
        max_bytes=settings_.max_url_bytes,
        policy=no_address,
        resolver=NoDnsResolver,
    )
    with BackgroundServer(app) as server:
        yield server


CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES},
        "phases": {"stateful": {"enabled": False}},
        "checks": {
            "enabled": False,
            "not_a_server_error": {"enabled": True},
            "status_code_conformance": {"enabled": True},
            "content_type_conformance": {"enabled": True},
            "response_schema_conformance": {"enabled": True},
            "response_headers_conformance": {"enabled": True},
        },
    }
)
# The packaged document, the one GET /openapi.json serves (test_server_openapi.py checks that).
schema = schemathesis.openapi.from_dict(openapi.document(), config=CONFIG)


@schemathesis.check
def code_is_the_http_status(ctx: CheckContext, response: Response, case: Case[Any]) -> bool | None:
    """An answer in the API's JSON envelope has ``code`` equal to its HTTP status."""
    if "json" not in response.headers.get("content-type", [""])[0]:
        return None
    body: Any = json.loads(response.content)
    if isinstance(body, dict) and "code" in body and "msg" in body:
        assert body["code"] == response.status_code, (
            f"HTTP {response.status_code} carries code {body['code']}: {body['msg']}"
        )
        assert body["success"] is (response.status_code == 200)
    return None


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_the_server_conforms_to_its_own_document(
    case: Case[Any], live_api: BackgroundServer
) -> None:
    case.call_and_validate(
        base_url=live_api.base_url,
        headers=AUTH,
        additional_checks=[code_is_the_http_status],
        timeout=15,
    )


def test_the_fuzzed_server_still_stores_an_upload(live_api: BackgroundServer) -> None:
    body = {"base64Data": "aGVsbG8=", "uploadPath": "after-fuzz", "fileName": "h.txt"}
    answer = requests.post(
        f"{live_api.base_url}/api/file-base64-upload", json=body, headers=AUTH, timeout=10
    )
    assert answer.status_code == 200
    assert Path(answer.json()["data"]["filePath"]).name == "h.txt"

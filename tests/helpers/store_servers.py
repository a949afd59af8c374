"""Object store servers on loopback for the tests, started once per session: moto's S3 server,
Azurite (Azure Blob Storage, from npm: ``make azurite``) and gcp-storage-emulator (GCS); the
environment each run reads (``store_env``), and a recording proxy in front of ferry's API.

Loaded by ``tests/conftest.py`` as a plugin.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import re
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from fileapi import BackgroundServer
from pipeline.buckets.environment import VARIABLES
from tests.helpers import REPO

ROOT = REPO
AZURITE = ROOT / ".tools" / "azurite-3.37.0" / "node_modules" / ".bin" / "azurite-blob"
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
#: Keys that need escaping in a URL, or that object stores treat specially.
AWKWARD_KEYS = (
    "photos/sp ace.txt",
    "photos/plus+sign.txt",
    "photos/per%41cent.txt",
    "photos/q?mark.txt",
    "photos/hash#tag.txt",
    "photos/semi;colon.txt",
    "photos/café/naïve é.txt",
    "photos/deep/er/nested.txt",
)
_names = itertools.count()


def body_of(key: str) -> bytes:
    """The bytes the tests store under ``key``."""
    return f"the object {key}\n".encode() * 3


def downloaded(url: str) -> bytes:
    """The bytes at ``url`` (an upload's download URL, or a signed URL)."""
    with urllib.request.urlopen(url, timeout=10) as answer:
        return bytes(answer.read())


def unique_bucket(prefix: str) -> str:
    """A fresh bucket name (lower case, DNS-safe)."""
    return f"{prefix}-{next(_names)}-{int(time.time() * 1000) % 100000}"


@pytest.fixture
def store_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """An environment with no store credentials at all (not even ``~/.aws``)."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    return monkeypatch


def migrate_keys(
    cli: Callable[..., Any],
    api_url: str,
    folder: Path,
    bucket_uri: str,
    keys: Sequence[str],
    *args: str,
) -> None:
    """``ferry run`` a manifest of ``bucket_uri/KEY`` for ``keys`` (stored as :func:`body_of`),
    and check that every upload holds the very bytes and the table keeps the bucket URIs."""
    from pipeline.store.table import read_results
    from tests.conftest import write_manifest

    uris = [f"{bucket_uri}/{key}" for key in keys]
    manifest = write_manifest(folder / "m.csv", [{"url": uri} for uri in uris])
    result = cli("run", manifest, "--base-url", api_url, *args)
    assert result.exit_code == 0, result.stderr
    table = read_results(folder / "m.results.parquet")
    assert table["url"].to_list() == uris  # the bucket URI, never a signed URL
    via = args[args.index("--via") + 1] if "--via" in args else "url"
    assert set(table["method"]) == {"stream" if via == "relay" else "url"}
    for key, url in zip(keys, table["download_url"], strict=True):
        assert downloaded(url) == body_of(key), key


# --- S3 ------------------------------------------------------------------------------------


@dataclass
class S3:
    """moto's S3 server: its endpoint and a boto3 client."""

    endpoint: str
    client: Any

    def bucket(self, env: pytest.MonkeyPatch, objects: dict[str, bytes]) -> str:
        """A new bucket holding ``objects``; ``env`` gets the variables to reach it."""
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing-secret",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint,
        }.items():
            env.setenv(name, value)
        name = unique_bucket("ferry")
        self.client.create_bucket(Bucket=name)
        for key, body in objects.items():
            self.client.put_object(Bucket=name, Key=key, Body=body)
        return name


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[S3]:
    """moto's S3 API in server mode on 127.0.0.1."""
    boto3 = pytest.importorskip("boto3")
    server_module = pytest.importorskip("moto.server")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # its access log would go to stderr
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing-secret",
        )
        yield S3(endpoint, client)
    finally:
        server.stop()


# --- Azure ---------------------------------------------------------------------------------


@dataclass
class Azurite:
    """Azurite's blob service: its endpoint and connection string."""

    endpoint: str

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};BlobEndpoint={self.endpoint};"
        )

    def container(self, env: pytest.MonkeyPatch, objects: dict[str, bytes]) -> str:
        """A new container holding ``objects``; ``env`` gets the connection string."""
        from azure.storage.blob import BlobServiceClient

        env.setenv("AZURE_STORAGE_CONNECTION_STRING", self.connection_string)
        name = unique_bucket("ferry")
        service = BlobServiceClient.from_connection_string(self.connection_string)
        container = service.create_container(name)
        for key, body in objects.items():
            container.upload_blob(key, body)
        return name


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """Azurite's blob service on a free port of 127.0.0.1, its data in memory."""
    if not AZURITE.exists():
        pytest.skip("Azurite is not installed: run make azurite")
    location = tmp_path_factory.mktemp("azurite")
    process = subprocess.Popen(
        [
            str(AZURITE),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            "0",
            "--inMemoryPersistence",
            "--skipApiVersionCheck",
            "--silent",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=location,  # whatever it writes goes there
    )
    try:
        port = _listening_port(process, r"listens on http://127\.0\.0\.1:(\d+)")
        yield Azurite(f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}")
    finally:
        # its data is in memory, nothing to save; a polite stop waits for idle keep-alive
        # connections of the session's clients to close
        process.kill()
        process.wait(timeout=10)


def _listening_port(process: subprocess.Popen[str], pattern: str, lines: int = 40) -> int:
    """The port a server prints once it listens (at most ``lines`` lines, 30 s)."""
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    seen = []
    for _ in range(lines):
        line = process.stdout.readline()
        seen.append(line)
        found = re.search(pattern, line)
        if found:
            return int(found.group(1))
        if not line or time.monotonic() > deadline:
            break
    raise RuntimeError(f"the server did not start (exit code {process.poll()}): {''.join(seen)}")


# --- GCS -----------------------------------------------------------------------------------


@dataclass
class Gcs:
    """gcp-storage-emulator: its base URL and a throwaway service account key file."""

    base_url: str
    key_file: Path
    public_key: Any = field(repr=False)

    def bucket(self, env: pytest.MonkeyPatch, objects: dict[str, bytes]) -> str:
        """A new bucket holding ``objects`` (JSON API uploads); ``env`` gets the variables."""
        env.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(self.key_file))
        env.setenv("STORAGE_EMULATOR_HOST", self.base_url)
        name = unique_bucket("ferry")
        body = json.dumps({"name": name}).encode()
        urllib.request.urlopen(
            urllib.request.Request(
                f"{self.base_url}/storage/v1/b",
                data=body,
                method="POST",
                headers={"Content-Type": "application/json"},
            ),
            timeout=10,
        ).read()
        for key, data in objects.items():
            query = urllib.parse.urlencode({"uploadType": "media", "name": key})
            urllib.request.urlopen(
                urllib.request.Request(
                    f"{self.base_url}/upload/storage/v1/b/{name}/o?{query}",
                    data=data,
                    method="POST",
                ),
                timeout=10,
            ).read()
        return name


@pytest.fixture(scope="session")
def gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gcs]:
    """The GCS emulator on a free port of 127.0.0.1, and a service account key made here."""
    emulator = pytest.importorskip("gcp_storage_emulator.server")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    key_file = tmp_path_factory.mktemp("gcs") / "service-account.json"
    key_file.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "ferry-test",
                "private_key_id": "k1",
                "private_key": pem,
                "client_email": "ferry@ferry-test.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        )
    )
    server = emulator.create_server("127.0.0.1", 0, in_memory=True)
    server.start()
    try:
        port = server._api._httpd.server_address[1]
        yield Gcs(f"http://127.0.0.1:{port}", key_file, key.public_key())
    finally:
        server.stop()


# --- a recording proxy in front of ferry's API ---------------------------------------------


@dataclass
class Recorder:
    """What the proxy saw: the JSON bodies of URL uploads, and how to answer."""

    bodies: list[dict[str, Any]] = field(default_factory=list)
    #: Answer the first N URL uploads 429 (Retry-After: 1) without forwarding them.
    refuse_first: int = 0
    #: Answer every URL upload 400, echoing its fileUrl as the live service does.
    echo_failure: bool = False


def make_proxy(api_base: str, recorder: Recorder) -> web.Application:
    """An API in front of ``api_base`` that records URL uploads, and forwards every request."""
    import aiohttp

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if request.path == "/api/file-url-upload":
            payload = json.loads(body)
            recorder.bodies.append(payload)
            if len(recorder.bodies) <= recorder.refuse_first:
                return web.json_response(
                    {"code": 429, "msg": "slow down", "data": None},
                    status=429,
                    headers={"Retry-After": "1"},
                )
            if recorder.echo_failure:
                msg = f"File download failed: could not fetch {payload['fileUrl']} (HTTP 403)"
                return web.json_response({"code": 400, "msg": msg, "data": None}, status=400)
        hop = {"host", "transfer-encoding", "content-length", "connection"}
        headers = {k: v for k, v in request.headers.items() if k.lower() not in hop}
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method, f"{api_base}{request.path_qs}", data=body, headers=headers
            ) as answer,
        ):
            data = await answer.read()
            return web.Response(body=data, status=answer.status, content_type=answer.content_type)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


@pytest.fixture
def recording_api(
    api: BackgroundServer, stack: contextlib.ExitStack
) -> Callable[..., tuple[BackgroundServer, Recorder]]:
    """Start a recording proxy in front of the ``api`` fixture's server."""

    def start(**options: Any) -> tuple[BackgroundServer, Recorder]:
        recorder = Recorder(**options)
        server = stack.enter_context(BackgroundServer(make_proxy(api.base_url, recorder)))
        return server, recorder

    return start

"""The spec's JavaScript client in a real browser: a page on one loopback port calls the API on
another (headless Chromium, as in test_report.py; skipped with a reason when it is absent).

With ``--cors-origin`` set to the page's origin the page uploads a Base64 file and a
multipart file, reads the answers and the uploaded bytes back, and can read an error's JSON.
Without it the browser refuses the cross-origin call and nothing is uploaded.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from fileapi import STATS, BackgroundServer, ServerSettings, make_app
from tests.helpers.browser import chromium, run_chromium
from tests.helpers.server_helpers import KEY

SPEC_CLIENT = Path(__file__).parent / "spec_clients" / "spec_client.js"
PNG_1X1 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJ"
    "AAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg=="
)
STREAM_TEXT = "hello from a web page"
# Chromium waits this long (virtual time; pending network fetches pause it) before --dump-dom
VIRTUAL_TIME_BUDGET_MS = 20_000

PAGE_SCRIPT = """
(async () => {
  const out = document.getElementById('out');
  try {
    const uploader = new FileUploadAPI(%(key)s);
    uploader.baseUrl = %(api)s;
    const base64 = await uploader.uploadBase64(%(png)s, 'browser/base64', 'pixel.png');
    const file = new File([%(text)s], 'hello.txt', { type: 'text/plain' });
    const stream = await uploader.uploadFile(file, 'browser/stream', 'page.txt');
    const back = await (await fetch(stream.data.downloadUrl)).text();
    const bad = await fetch(uploader.baseUrl + '/api/file-base64-upload', {
      method: 'POST',
      headers: { 'Authorization': 'Bearer ' + %(key)s, 'Content-Type': 'application/json' },
      body: JSON.stringify({ base64Data: 'aGk=' }),
    });
    out.textContent = JSON.stringify({
      base64, stream, back, bad: { status: bad.status, body: await bad.json() },
    });
  } catch (error) {
    out.textContent = JSON.stringify({ error: String(error) });
  }
})();
"""


def page_html(api: str) -> str:
    """The test page: the spec's client (its ``module.exports`` line given a ``module``)."""
    values = {k: json.dumps(v) for k, v in (("key", KEY), ("api", api), ("png", PNG_1X1))}
    values["text"] = json.dumps(STREAM_TEXT)
    return (
        "<!doctype html><html><head><title>ferry CORS test</title></head><body>"
        '<pre id="out">pending</pre>'
        "<script>var module = { exports: {} };</script>"
        '<script src="/spec_client.js"></script>'
        f"<script>{PAGE_SCRIPT % values}</script>"
        "</body></html>"
    )


def page_server(api: dict[str, str]) -> BackgroundServer:
    """A loopback server of the test page and the spec's client; the page calls the API at
    ``api["base"]``, filled in once the API listens (its CORS origin is this server's)."""

    async def index(_request: web.Request) -> web.Response:
        return web.Response(text=page_html(api["base"]), content_type="text/html")

    async def client_js(_request: web.Request) -> web.Response:
        return web.Response(text=SPEC_CLIENT.read_text(), content_type="text/javascript")

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/spec_client.js", client_js)
    return BackgroundServer(app)


@pytest.fixture
def browser() -> str:
    return chromium()


@contextmanager
def page_and_api(data_dir: Path, *, cors: bool) -> Iterator[tuple[BackgroundServer, str]]:
    """The API (allowing the page's origin if ``cors``) and the page's URL, two loopback ports."""
    api_ref: dict[str, str] = {}
    with page_server(api_ref) as page:
        origins = (page.base_url,) if cors else ()
        settings = ServerSettings(data_dir=data_dir, keys=(KEY,), cors_origins=origins)
        with BackgroundServer(make_app(settings)) as api:
            api_ref["base"] = api.base_url
            yield api, f"{page.base_url}/"


def outcome(browser: str, workdir: Path, url: str) -> dict[str, Any]:
    """What the page wrote into its ``#out`` element, as JSON."""
    done = run_chromium(
        browser, workdir, f"--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}", "--dump-dom", url
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<pre id="out">(.*?)</pre>', done.stdout, re.S)
    assert found, done.stdout[-2000:]
    text = html.unescape(found.group(1))
    assert text != "pending", "the page's script did not finish"
    result: dict[str, Any] = json.loads(text)
    return result


def test_the_spec_client_works_from_a_web_page_with_cors(browser: str, tmp_path: Path) -> None:
    with page_and_api(tmp_path / "data", cors=True) as (api, url):
        result = outcome(browser, tmp_path, url)
        stored = api.app[STATS].stored
    assert "error" not in result, result
    base64, stream = result["base64"], result["stream"]
    assert (base64["code"], base64["data"]["fileName"], base64["data"]["fileSize"]) == (
        200,
        "pixel.png",
        70,
    )
    assert base64["data"]["mimeType"] == "image/png"
    assert stream["data"]["filePath"] == "browser/stream/page.txt"
    assert stream["data"]["fileSize"] == len(STREAM_TEXT)
    assert result["back"] == STREAM_TEXT
    assert result["bad"]["status"] == 400
    assert result["bad"]["body"]["msg"] == "Missing required parameter: uploadPath"
    assert stored == 2


def test_without_cors_the_browser_refuses_the_call(browser: str, tmp_path: Path) -> None:
    with page_and_api(tmp_path / "data", cors=False) as (api, url):
        result = outcome(browser, tmp_path, url)
        stored = api.app[STATS].stored
    assert "Failed to fetch" in result.get("error", ""), result
    assert stored == 0  # the preflight failed: the upload was never sent

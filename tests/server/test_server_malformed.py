"""Malformed requests, sent as raw bytes over a real socket: always a 4xx JSON error, never a 5xx.

Each row of :data:`CASES` is one request a hostile or broken client could send: bad multipart
(odd or undecodable part headers, truncated boundaries, no file part), bad JSON, huge or
undecodable header and field values, broken HTTP framing. The server must answer each with the
API's JSON envelope whose ``code`` is the HTTP status (a 4xx), leave no temp file behind, and
go on serving.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fileapi import BackgroundServer, ServerSettings, make_app
from tests.helpers.raw_http import exchange, request
from tests.helpers.server_helpers import KEY


@dataclass(frozen=True)
class Case:
    """One raw request and what must come back: ``code``, and ``msg`` containing ``says``."""

    name: str
    raw: bytes
    code: int = 400
    says: str = ""


def stream(body: bytes, *, boundary: bytes = b"BB", extra: bytes = b"") -> bytes:
    """A stream upload whose multipart body is exactly ``body``."""
    ctype = b"multipart/form-data; boundary=" + boundary
    return request("/api/file-stream-upload", body, ctype, extra=extra)


def part(headers: bytes, content: bytes = b"abc", boundary: bytes = b"BB") -> bytes:
    """One multipart part: its boundary line, raw header lines, blank line, content."""
    return b"--" + boundary + b"\r\n" + headers + b"\r\n\r\n" + content + b"\r\n"


def base64_json(body: bytes, *, extra: bytes = b"") -> bytes:
    """A Base64 upload whose JSON body is exactly ``body``."""
    return request("/api/file-base64-upload", body, b"application/json", extra=extra)


FILE = part(b'Content-Disposition: form-data; name="file"; filename="a.txt"')
UPLOAD_PATH = part(b'Content-Disposition: form-data; name="uploadPath"', b"folder")
END = b"--BB--\r\n"
GZIP = b"Content-Encoding: gzip\r\n"

CASES = [
    # multipart part headers
    Case(
        "field name with non-UTF-8 bytes and a control character",
        stream(part(b'Content-Disposition: form-data; name="fi\xff\x01le"') + END),
        says="Invalid multipart body",
    ),
    Case(
        "part header line without a colon",
        stream(part(b"Content-Disposition form-data") + END),
        says="Invalid multipart body",
    ),
    Case(
        "part header name with non-UTF-8 bytes",
        stream(part(b"X-\xff: \xfe\r\nContent-Disposition: form-data; name=file") + END),
        says="Invalid multipart body",
    ),
    Case(
        "control character in a part's filename",
        stream(part(b'Content-Disposition: form-data; name="file"; filename="a\x01b"') + END),
        says="Invalid multipart body",
    ),
    Case(
        "part header of 100 kB",
        stream(part(b"X-Big: " + b"a" * 100_000 + b"\r\nContent-Disposition: form-data") + END),
        says="Invalid multipart body",
    ),
    Case(
        "200 part headers",
        stream(part(b"X-A: b\r\n" * 200 + b'Content-Disposition: form-data; name="file"') + END),
        says="Too many headers",
    ),
    Case(
        "undecodable filename* parameter, no uploadPath",
        stream(part(b"Content-Disposition: form-data; name=file; filename*=UTF-8''%ff%fe") + END),
        says="Missing required parameter: uploadPath",
    ),
    Case(
        "filename* with an unknown charset, no uploadPath",
        stream(part(b"Content-Disposition: form-data; name=file; filename*=nope''x") + END),
        says="Missing required parameter: uploadPath",
    ),
    Case(
        "unterminated quote in Content-Disposition",
        stream(part(b'Content-Disposition: form-data; name="file; filename="x') + END),
        says="Missing required parameter",
    ),
    Case(
        "nested multipart part",
        stream(part(b"Content-Type: multipart/mixed; boundary=CC", b"--CC--") + END),
        says="nested multipart",
    ),
    Case(
        "nested multipart part without a boundary",
        stream(part(b"Content-Type: multipart/mixed") + END),
        says="Invalid multipart body",
    ),
    Case(
        "_charset_ field that is not text",
        stream(part(b'Content-Disposition: form-data; name="_charset_"', b"\xff\xfe") + END),
        says="Invalid multipart body",
    ),
    Case(
        "_charset_ field of 40 bytes",
        stream(part(b'Content-Disposition: form-data; name="_charset_"', b"u" * 40) + END),
        says="Invalid multipart body",
    ),
    Case(
        "part Content-Length that is not a number (multipart/mixed)",
        request(
            "/api/file-stream-upload",
            part(b"Content-Length: -1x\r\nContent-Disposition: form-data; name=file") + END,
            b"multipart/mixed; boundary=BB",
        ),
        says="Invalid multipart body",
    ),
    # boundaries
    Case(
        "truncated closing boundary",
        stream(UPLOAD_PATH + part(b'Content-Disposition: form-data; name="file"') + b"--B"),
        says="Invalid multipart body",
    ),
    Case(
        "file part cut off before its boundary",
        stream(UPLOAD_PATH + b'--BB\r\nContent-Disposition: form-data; name="file"\r\n\r\nab'),
        says="Invalid multipart body",
    ),
    Case("body without any boundary", stream(b"just bytes"), says="Invalid multipart body"),
    Case("empty body", stream(b""), says="Invalid multipart body"),
    Case(
        "no boundary parameter",
        request("/api/file-stream-upload", FILE + END, b"multipart/form-data"),
        says="Invalid multipart body",
    ),
    Case("empty boundary", stream(FILE + END, boundary=b""), says="Invalid multipart body"),
    Case(
        "boundary over 70 characters",
        stream(FILE + END, boundary=b"b" * 80),
        says="Invalid multipart body",
    ),
    Case(
        "multipart body that is gzip garbage",
        stream(UPLOAD_PATH + FILE + END, extra=GZIP),
        says="Invalid multipart body",
    ),
    # fields
    Case(
        "missing file part",
        stream(UPLOAD_PATH + END),
        says="Missing required parameter: file",
    ),
    Case(
        "file part under another name",
        stream(UPLOAD_PATH + part(b'Content-Disposition: form-data; name="upload"') + END),
        says="Missing required parameter: file",
    ),
    Case(
        "uploadPath value with non-UTF-8 bytes",
        stream(
            part(b'Content-Disposition: form-data; name="uploadPath"', b"\xff\xfe") + FILE + END
        ),
        says="Invalid parameter: uploadPath is not valid UTF-8",
    ),
    Case(
        "uploadPath declared latin-1",
        stream(
            part(
                b'Content-Disposition: form-data; name="uploadPath"\r\n'
                b"Content-Type: text/plain; charset=latin-1",
                b"caf\xe9",
            )
            + FILE
            + END
        ),
        says="Invalid parameter: uploadPath must be sent as UTF-8",
    ),
    Case(
        "uploadPath with an unknown charset",
        stream(
            part(
                b'Content-Disposition: form-data; name="uploadPath"\r\n'
                b"Content-Type: text/plain; charset=no-such-codec",
            )
            + FILE
            + END
        ),
        says="Invalid parameter: uploadPath must be sent as UTF-8",
    ),
    Case(
        "uploadPath of 10 kB",
        stream(part(b'Content-Disposition: form-data; name="uploadPath"', b"a" * 10_000) + END),
        says="Invalid parameter: uploadPath is too long",
    ),
    Case(
        "uploadPath with control characters",
        stream(
            part(b'Content-Disposition: form-data; name="uploadPath"', b"a\x00\x1b") + FILE + END
        ),
        says="Invalid parameter: uploadPath must not contain control characters",
    ),
    Case(
        "fileName with a lone surrogate's bytes",
        stream(
            UPLOAD_PATH
            + part(b'Content-Disposition: form-data; name="fileName"', b"\xed\xa0\x80.txt")
            + FILE
            + END
        ),
        says="Invalid parameter: fileName is not valid UTF-8",
    ),
    # JSON bodies
    Case("bad JSON", base64_json(b"{not json"), says="Invalid JSON body"),
    Case(
        "JSON array instead of an object",
        base64_json(b'["aGk=", "a"]'),
        says="Invalid JSON body: expected a JSON object",
    ),
    Case("JSON string", base64_json(b'"aGk="'), says="expected a JSON object"),
    Case("JSON null", base64_json(b"null"), says="expected a JSON object"),
    Case("empty JSON body", base64_json(b""), says="Invalid JSON body"),
    Case("JSON with non-UTF-8 bytes", base64_json(b'{"uploadPath": "\xff"}'), says="Invalid JSON"),
    Case("JSON nested 100,000 deep", base64_json(b"[" * 100_000), says="Invalid JSON body"),
    Case("JSON number of 5,000 digits", base64_json(b"1" * 5000), says="Invalid JSON body"),
    Case(
        "JSON body that is gzip garbage",
        base64_json(b'{"uploadPath": "a"}', extra=GZIP),
        says="Invalid request body: Can not decode content-encoding: gzip",
    ),
    Case(
        "uploadPath with a lone surrogate",
        base64_json(b'{"base64Data": "aGk=", "uploadPath": "\\ud800"}'),
        says="Invalid parameter: uploadPath must not contain control characters",
    ),
    Case(
        "fileName with a lone surrogate",
        base64_json(b'{"base64Data": "aGk=", "uploadPath": "a", "fileName": "\\udfff.txt"}'),
        says="Invalid parameter: fileName must not contain control characters",
    ),
    Case(
        "base64Data with non-ASCII characters",
        base64_json('{"base64Data": "aGk=é", "uploadPath": "a"}'.encode()),
        says="Base64 decoding failed",
    ),
    Case(
        "fileUrl with a lone surrogate",
        request(
            "/api/file-url-upload",
            b'{"fileUrl": "http://\\ud800/x", "uploadPath": "a"}',
            b"application/json",
        ),
        says="fileUrl",
    ),
    Case(
        "JSON object with only an unknown field",
        base64_json(b'{"\\u0000": 1}'),
        says="Missing required parameter: base64Data",
    ),
    # request line and headers (refused by aiohttp's HTTP parser, answered by fileapi.protocol)
    Case(
        "request header value of 20 kB",
        base64_json(b"{}", extra=b"X-Big: " + b"a" * 20_000 + b"\r\n"),
        says="Bad request",
    ),
    Case(
        "control character in a header value",
        base64_json(b"{}", extra=b"X-Odd: a\x01b\r\n"),
        says="Bad request",
    ),
    Case("header name that is not a token", base64_json(b"{}", extra=b"X (y): 1\r\n"), says="Bad"),
    Case(
        "boundary with a control character",
        stream(FILE + END, boundary=b"\x01"),
        says="Bad request",
    ),
    Case(
        "Content-Length that is not a number",
        b"POST /api/file-base64-upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n{}",
        says="Bad request",
    ),
    Case("request line that is not HTTP", b"\x16\x03\x01\x00\xa5\x01\x00\x00\r\n\r\n", says="Bad"),
    Case(
        "broken chunked encoding",
        b"POST /api/file-base64-upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + KEY.encode()
        + b"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n",
        says="",
    ),
    Case(
        "Authorization with non-UTF-8 bytes",
        base64_json(b"{}").replace(b"Bearer " + KEY.encode(), b"Bearer \xff\xfe"),
        code=401,
        says="Authentication failed",
    ),
    Case(
        "Content-Type with non-UTF-8 bytes",
        request("/api/file-base64-upload", b"{}", b"application/\xffjson"),
        says="Missing required parameter: base64Data",
    ),
]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """The API on 127.0.0.1 (the runner ``ferry serve`` uses); its port and data dir."""
    data_dir = tmp_path_factory.mktemp("malformed") / "data"
    settings = ServerSettings(data_dir=data_dir, keys=(KEY,))
    with BackgroundServer(make_app(settings)) as server:
        yield server.port, data_dir


def credit_still_answers(port: int) -> bool:
    raw = (
        b"GET /api/v1/chat/credit HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + KEY.encode()
        + b"\r\nConnection: close\r\n\r\n"
    )
    status, _, body = exchange(port, raw)
    return status == 200 and json.loads(body)["code"] == 200


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_malformed_request_gets_a_4xx_json_error(
    api: tuple[int, Path], case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    port, data_dir = api
    status, headers, body = exchange(port, case.raw)
    assert headers.get("content-type", "").startswith("application/json"), body[:200]
    answer = json.loads(body)
    assert set(answer) == {"success", "code", "msg", "data"}
    assert (status, answer["code"], answer["success"]) == (case.code, case.code, False), answer
    assert case.says in answer["msg"]
    assert "Traceback" not in answer["msg"]
    assert list((data_dir / "tmp").iterdir()) == []
    assert credit_still_answers(port)
    # the client's mistake is no server error: nothing logged at ERROR, no traceback
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_the_server_still_stores_uploads_after_all_of_them(api: tuple[int, Path]) -> None:
    port, _ = api
    for case in CASES:
        exchange(port, case.raw)
    status, _, body = exchange(port, stream(UPLOAD_PATH + FILE + END))
    assert status == 200, body
    assert json.loads(body)["data"]["fileSize"] == 3


ODD_BUT_VALID = [
    pytest.param(
        base64_json(b'{"base64Data": "data:\\ud800/x;base64,aGk=", "uploadPath": "a"}'),
        id="data URL type with a lone surrogate",
    ),
    pytest.param(
        base64_json(b'{"base64Data": "data:text/pl ain\\u0001;base64,aGk=", "uploadPath": "a"}'),
        id="data URL type with a space and a control character",
    ),
    pytest.param(
        stream(
            UPLOAD_PATH
            + part(b'Content-Disposition: form-data; name="file"\r\nContent-Type: \xff/\xfe', b"hi")
            + END
        ),
        id="file part whose Content-Type is not UTF-8",
    ),
]


@pytest.mark.parametrize("raw", ODD_BUT_VALID)
def test_an_odd_declared_type_is_dropped_not_stored(api: tuple[int, Path], raw: bytes) -> None:
    port, _ = api
    status, _, body = exchange(port, raw)
    assert status == 200, body
    data = json.loads(body)["data"]
    assert data["mimeType"] == "application/octet-stream"
    path = data["downloadUrl"].split(str(port), 1)[1]
    raw_get = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    status, headers, content = exchange(port, raw_get)
    assert (status, content) == (200, b"hi")
    assert headers["content-type"] == "application/octet-stream"

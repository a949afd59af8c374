"""Raw HTTP/1.1 over a socket, for requests no client library would send (malformed ones)."""

from __future__ import annotations

import contextlib
import socket

from tests.helpers.server_helpers import KEY

TIMEOUT_SECONDS = 10.0
MAX_ANSWER_BYTES = 1 << 20

Answer = tuple[int, dict[str, str], bytes]


def request(
    path: str,
    body: bytes,
    content_type: bytes,
    *,
    extra: bytes = b"",
    auth: bytes = b"Bearer " + KEY.encode(),
) -> bytes:
    """A complete HTTP/1.1 POST with ``Connection: close`` and a right ``Content-Length``."""
    head = (
        b"POST " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: " + auth + b"\r\nContent-Type: " + content_type + b"\r\n" + extra
    )
    return head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body


def exchange(port: int, raw: bytes) -> Answer:
    """Send ``raw``, read the answer until the server closes: status, headers, body."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_SECONDS) as sock:
        # a server that refuses early may close before all is sent; its answer is still readable
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(raw)
        received = bytearray()
        while len(received) < MAX_ANSWER_BYTES:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body

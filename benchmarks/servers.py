"""The servers every client is measured against, in processes of their own.

``python -m benchmarks.servers --data-dir DIR [--latency-ms 50] [--capacity N [--queue M]]
[--files DIR] [--role ROLE]`` serves on one uvloop event loop, by ``--role``:

* ``both`` (default): the File Upload API (``fileapi.make_app``, private sources allowed, no
  access log) and a source server whose ``/f<N>.txt`` answers a tiny text file for any ``N``
  (with ``--files``, the files of that folder instead);
* ``api`` or ``source``: one of the two;
* ``stub``: the URL-upload endpoint alone, answering as ``fileapi`` does after the latency,
  without fetching or storing anything (:func:`make_stub_app`).

The Bearer key comes from ``BENCH_KEY`` (never argv). Once listening, one JSON line goes to
stdout: ``{"api": URL, "source": URL, "pid": PID}``. SIGTERM or SIGINT stop it. The API's
``GET /_bench/stats`` answers what it counted (:func:`bench_stats`).

:class:`ServerProcess` starts this module with ``sys.executable`` and reads that line, so the
client being measured never shares an event loop or a GIL with the servers, and ferry and
every baseline of one benchmark talk to the very same server process. On 2 cores one process
for API and sources (``both``) measured faster than two (``split``): three busy processes
would share two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

# aiohttp is imported where a server runs, never in the benchmark parent that only starts one:
# a child's ru_maxrss starts at its parent's RSS (see benchmarks.common.run_child).
if TYPE_CHECKING:
    from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
SOURCE_NAME = re.compile(r"^f(\d+)\.txt$")
START_TIMEOUT_SECONDS = 30.0


class TinyFiles(Mapping[str, bytes]):
    """``f<N>.txt`` → a few dozen bytes naming ``N``, for every ``N``; nothing held in memory."""

    def __getitem__(self, name: str) -> bytes:
        found = SOURCE_NAME.match(name)
        if found is None:
            raise KeyError(name)
        return f"ferry benchmark source file number {found.group(1)}\n".encode()

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def source_url(base: str, number: int) -> str:
    """The URL of tiny source file ``number`` on the source server at ``base``."""
    return f"{base}/f{number}.txt"


def make_stub_app(key: str, latency_ms: float) -> web.Application:
    """The URL-upload endpoint alone, answering as ``fileapi`` does, without fetch or storage.

    It checks the key, reads the JSON body, waits ``latency_ms`` and answers the same ``data``
    shape (``fileapi.responses.upload_data``): the cost of the server per row is a few dozen
    microseconds, so a client measured against it meets the ``C / L`` limit, not the server's.
    """
    from aiohttp import web

    from fileapi.responses import api_json, upload_data
    from fileapi.storage import StoredFile, new_file_id, new_token

    expected = f"Bearer {key}"
    delay = latency_ms / 1000

    async def url_upload(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != expected:
            return api_json(401, "Authentication failed: Invalid API Key")
        params = await request.json()
        if delay:
            await asyncio.sleep(delay)
        name = str(params["fileUrl"]).rsplit("/", 1)[-1] or "file.bin"
        now = time.time()
        record = StoredFile(
            token=new_token(),
            file_id=new_file_id(),
            upload_path=str(params.get("uploadPath") or "ferry"),
            file_name=str(params.get("fileName") or name),
            original_name=name,
            size=48,
            mime_type="text/plain",
            uploaded_at=now,
            expires_at=now + 3 * 86400,
        )
        base = f"http://{request.host}"
        return api_json(200, "File uploaded successfully", upload_data(base, record))

    app = web.Application()
    app.router.add_post("/api/file-url-upload", url_upload)
    return app


def add_stats_route(app: web.Application) -> None:
    """``GET /_bench/stats`` on a ``fileapi`` app: its upload requests and, with a capacity,
    the 429s that capacity answered and the most uploads served and waiting at once."""
    from aiohttp import web

    from fileapi.state import CAPACITY, STATS

    async def stats(request: web.Request) -> web.Response:
        counts = {"uploads": request.app[STATS].uploads}
        capacity = request.app.get(CAPACITY)
        if capacity is not None:
            counts["rejected"] = capacity.rejected
            counts["most_serving"] = capacity.most_serving
            counts["most_waiting"] = capacity.most_waiting
        return web.json_response(counts)

    app.router.add_get("/_bench/stats", stats)


def bench_stats(api: str) -> dict[str, int]:
    """What the benchmark API server at ``api`` has counted so far (see :func:`add_stats_route`)."""
    import urllib.request

    with urllib.request.urlopen(f"{api}/_bench/stats", timeout=10) as resp:
        counts: dict[str, int] = json.loads(resp.read())
    return counts


async def _serve(args: argparse.Namespace, key: str) -> None:
    from aiohttp import web

    from fileapi import ServerSettings, make_app
    from fileapi.sources import make_source_app

    role = args.role
    settings = ServerSettings(
        data_dir=args.data_dir,
        keys=(key,),
        allow_private_sources=True,
        port=0,
        latency_ms=args.latency_ms,
        credits=10**9,
        capacity=args.capacity,
        queue=args.queue,
    )
    apps: dict[str, web.Application] = {}
    if role == "stub":
        apps["api"] = make_stub_app(key, args.latency_ms)
    if role in ("api", "both"):
        apps["api"] = make_app(settings)
        add_stats_route(apps["api"])
    if role in ("source", "both"):
        apps["source"] = make_source_app(args.files if args.files else TinyFiles())
    runners = {
        name: web.AppRunner(app, access_log=None, handle_signals=False)
        for name, app in apps.items()
    }
    urls = {}
    for name, runner in runners.items():
        await runner.setup()
        # A deep accept backlog: 256 clients connecting at once must not see a SYN drop.
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        urls[name] = f"http://127.0.0.1:{runner.addresses[0][1]}"
    print(json.dumps({**urls, "pid": os.getpid()}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for runner in runners.values():
            await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    """Serve until SIGTERM; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--role", choices=("api", "source", "both", "stub"), default="both")
    parser.add_argument("--capacity", type=int, help="the API's upload workers (fileapi)")
    parser.add_argument("--queue", type=int, help="uploads that may wait for one")
    parser.add_argument("--files", type=Path, help="the source server serves this folder")
    args = parser.parse_args(argv)
    key = os.environ["BENCH_KEY"]
    factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        pass
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(_serve(args, key))


class ServerProcess:
    """The servers in subprocesses: ``with ServerProcess(dir, key, latency_ms=50) as s: s.api``.

    ``stub`` starts the stub API instead (no source server); ``split`` runs the source server
    in a process of its own; ``capacity`` and ``queue`` are ``ferry serve --capacity N --queue M``;
    ``files`` is a folder the source server serves instead of its tiny files.
    On exit the processes are stopped and ``data_dir`` removed.
    """

    def __init__(
        self,
        data_dir: Path,
        key: str,
        *,
        latency_ms: float = 0.0,
        split: bool = False,
        stub: bool = False,
        capacity: int | None = None,
        queue: int | None = None,
        files: Path | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.key = key
        self.latency_ms = latency_ms
        self.split = split
        self.stub = stub
        self.capacity = capacity
        self.queue = queue
        self.files = files
        self.api = ""
        self.source = ""
        self.pid = 0
        self.pids: list[int] = []
        self._procs: list[subprocess.Popen[str]] = []

    def _spawn(self, role: str) -> dict[str, Any]:
        log = self.data_dir.parent / f"{self.data_dir.name}.{role}.log"
        with log.open("w") as stderr:
            argv = [sys.executable, "-m", "benchmarks.servers", "--role", role]
            argv += ["--data-dir", str(self.data_dir), "--latency-ms", str(self.latency_ms)]
            if self.capacity is not None and role in ("api", "both"):
                argv += ["--capacity", str(self.capacity)]
                if self.queue is not None:
                    argv += ["--queue", str(self.queue)]
            if self.files is not None:
                argv += ["--files", str(self.files)]
            proc = subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                cwd=ROOT,
                env={**os.environ, "BENCH_KEY": self.key, "PYTHONPATH": str(ROOT)},
            )
        self._procs.append(proc)
        line = _read_line(proc.stdout, START_TIMEOUT_SECONDS)
        if not line:
            raise RuntimeError(f"benchmark {role} server did not start: {log.read_text()[-2000:]}")
        announced: dict[str, Any] = json.loads(line)
        self.pids.append(int(announced["pid"]))
        return announced

    def __enter__(self) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            if self.stub:
                announced = self._spawn("stub")
                self.source = "http://127.0.0.1:9"  # never fetched
            elif self.split:
                self.source = self._spawn("source")["source"]
                announced = self._spawn("api")
            else:
                announced = self._spawn("both")
                self.source = announced["source"]
        except BaseException:
            self.__exit__(None, None, None)
            raise
        self.api, self.pid = announced["api"], int(announced["pid"])
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for proc in self._procs:
            proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(15)
            if proc.stdout is not None:
                proc.stdout.close()
        self._procs = []
        _remove_tree(self.data_dir)
        for log in self.data_dir.parent.glob(f"{self.data_dir.name}.*.log"):
            log.unlink()


def _remove_tree(path: Path) -> None:
    """``rm -rf path``, in a child where there is ``rm``: ``shutil.rmtree`` lists each directory
    in memory, tens of thousands of uploads here, and this process's peak RSS is the floor under
    every child's measured peak (see :func:`benchmarks.common.run_child`)."""
    rm = shutil.which("rm")
    if rm is not None:
        subprocess.run([rm, "-rf", "--", str(path)], check=False)
    shutil.rmtree(path, ignore_errors=True)  # whatever is left, or all of it without rm


def _read_line(stream: IO[str] | None, timeout: float) -> str:
    """The first line of ``stream`` within ``timeout`` seconds, or ``""``."""
    if stream is None:
        return ""
    import selectors

    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if selector.select(timeout=0.1):
                return stream.readline()
    return ""


if __name__ == "__main__":
    main()

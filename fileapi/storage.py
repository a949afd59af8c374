"""Where uploads live: bytes under ``data_dir/files``, metadata in SQLite (WAL) beside them.

Layout of ``data_dir``::

    meta.sqlite3                      one row per upload (table ``uploads``)
    files/<token>/<uploadPath>/<fileName>
    tmp/                              uploads in flight of 1 MiB and more; emptied at start

Every upload gets its own random ``token`` directory, so equal names never overwrite each
other and deleting an upload is removing one directory. SQLite is used from one worker
thread only (a single-thread executor), so the event loop never blocks on it.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import TypeVar

from fileapi.paths import inside

_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    token          TEXT PRIMARY KEY,
    file_id        TEXT NOT NULL UNIQUE,
    upload_path    TEXT NOT NULL,
    file_name      TEXT NOT NULL,
    original_name  TEXT NOT NULL,
    size           INTEGER NOT NULL,
    mime_type      TEXT NOT NULL,
    uploaded_at    REAL NOT NULL,
    expires_at     REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_expires_at ON uploads (expires_at);
"""


@dataclass(frozen=True)
class StoredFile:
    """Metadata of one upload; ``uploaded_at`` and ``expires_at`` are epoch seconds."""

    token: str
    file_id: str
    upload_path: str
    file_name: str
    original_name: str
    size: int
    mime_type: str
    uploaded_at: float
    expires_at: float

    @property
    def relative_path(self) -> str:
        """``uploadPath/fileName``, the API's ``filePath``."""
        return f"{self.upload_path}/{self.file_name}"


_COLUMNS = ", ".join(f.name for f in fields(StoredFile))
_PLACEHOLDERS = ", ".join("?" for _ in fields(StoredFile))


def new_token() -> str:
    """A fresh random token (32 hex digits) naming one upload's directory and URLs."""
    return secrets.token_hex(16)


def new_file_id() -> str:
    """A fresh ``file_<hex>`` identifier."""
    return f"file_{secrets.token_hex(8)}"


class Storage:
    """Bytes on disk plus SQLite metadata under one ``data_dir``; open with :meth:`open`."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir).resolve()  # once: paths below are checked as text
        self.files_dir = self.data_dir / "files"
        self.tmp_dir = self.data_dir / "tmp"
        self._db_path = self.data_dir / "meta.sqlite3"
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fileapi-db")
        self._conn: sqlite3.Connection | None = None

    async def _run(self, func: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, func)

    async def open(self) -> None:
        """Create the directories and the schema; empty ``tmp`` (leftovers of a crash)."""
        await self._run(self._open_sync)

    def _open_sync(self) -> None:
        self.files_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self._db_path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA)
        self._conn = conn

    async def close(self) -> None:
        """Close the database and stop the worker thread."""
        if self._conn is not None:
            await self._run(self._conn.close)
            self._conn = None
        self._executor.shutdown(wait=True)

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("Storage is not open")
        return self._conn

    def temp_path(self) -> Path:
        """A fresh path inside ``data_dir/tmp`` for an upload in flight (not created)."""
        return self.tmp_dir / f"upload-{secrets.token_hex(12)}.part"

    def path_of(self, token: str, upload_path: str, file_name: str) -> Path:
        """Where the bytes of an upload live; always inside ``data_dir/files``."""
        return inside(self.files_dir, token, *upload_path.split("/"), file_name)

    async def commit(self, record: StoredFile, place: Callable[[Path], None]) -> None:
        """Have ``place`` put the finished upload's bytes at their path and record ``record``.

        ``place(target)`` runs in the database's worker thread, so keeping a small upload
        costs one trip to a thread, not one per file operation.
        """
        await self._run(lambda: self._commit_sync(record, place))

    def _commit_sync(self, record: StoredFile, place: Callable[[Path], None]) -> None:
        target = self.path_of(record.token, record.upload_path, record.file_name)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            place(target)
            self._db().execute(
                f"INSERT INTO uploads ({_COLUMNS}) VALUES ({_PLACEHOLDERS})", astuple(record)
            )
        except BaseException:
            shutil.rmtree(self.files_dir / record.token, ignore_errors=True)
            raise

    async def get(self, token: str) -> StoredFile | None:
        """The upload named by ``token``, expired or not, or ``None``."""

        def query() -> StoredFile | None:
            row = (
                self._db()
                .execute(f"SELECT {_COLUMNS} FROM uploads WHERE token = ?", (token,))
                .fetchone()
            )
            return StoredFile(*row) if row else None

        return await self._run(query)

    async def delete_expired(self, now: float) -> int:
        """Delete bytes and metadata of every upload expired at ``now``; how many went."""

        def sweep() -> int:
            db = self._db()
            tokens = [
                row[0]
                for row in db.execute("SELECT token FROM uploads WHERE expires_at <= ?", (now,))
            ]
            for token in tokens:
                shutil.rmtree(self.files_dir / token, ignore_errors=True)
                db.execute("DELETE FROM uploads WHERE token = ?", (token,))
            return len(tokens)

        return await self._run(sweep)

    async def count(self) -> int:
        """How many uploads are recorded (expired ones not yet swept included)."""
        return await self._run(
            lambda: int(self._db().execute("SELECT COUNT(*) FROM uploads").fetchone()[0])
        )

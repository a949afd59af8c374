"""Regenerate the demo's source files and sample manifests (run once; the outputs are committed).

``{sources}`` in a manifest URL stands for the base URL of the demo's source server.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import polars as pl

HERE = Path(__file__).parent
SOURCES = HERE / "sources"

COLOURS = {
    "red": (220, 40, 40),
    "orange": (240, 140, 20),
    "yellow": (240, 220, 40),
    "green": (40, 180, 80),
    "teal": (20, 160, 160),
    "blue": (40, 90, 220),
    "indigo": (75, 0, 130),
    "violet": (150, 60, 200),
    "grey": (128, 128, 128),
    "black": (10, 10, 10),
}


def png(rgb: tuple[int, int, int], size: int = 16) -> bytes:
    """A solid-colour PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = b"".join(b"\x00" + bytes(rgb) * size for _ in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def main() -> None:
    """Write the sources and the manifests."""
    rows = []
    for name, rgb in COLOURS.items():
        path = f"images/{name}.png"
        (SOURCES / "images").mkdir(parents=True, exist_ok=True)
        (SOURCES / path).write_bytes(png(rgb))
        rows.append((f"img-{name}", path, "demo/images", f"{name}.png", "design"))
    for i in range(1, 11):
        path = f"docs/note-{i:02d}.txt"
        (SOURCES / "docs").mkdir(parents=True, exist_ok=True)
        (SOURCES / path).write_text(f"Note {i}: ferry moved this file.\n" * i, encoding="utf-8")
        rows.append((f"note-{i:02d}", path, "demo/docs", None, "ops"))
    for i in range(1, 6):
        path = f"data/record-{i}.json"
        (SOURCES / "data").mkdir(parents=True, exist_ok=True)
        (SOURCES / path).write_text(json.dumps({"record": i, "ok": True}) + "\n", encoding="utf-8")
        rows.append((f"record-{i}", path, "demo/data", f"record-{i}.json", "data"))
    for i in range(1, 6):
        path = f"data/table-{i}.csv"
        (SOURCES / path).write_text("a,b\n" + f"{i},{i * i}\n", encoding="utf-8")
        rows.append((f"table-{i}", path, "demo/data", None, "data"))
    frame = pl.DataFrame(
        {
            "id": [r[0] for r in rows],
            "url": ["{sources}/" + r[1] for r in rows],
            "upload_path": [r[2] for r in rows],
            "file_name": [r[3] for r in rows],
            "owner": [r[4] for r in rows],
        }
    )
    broken = pl.DataFrame(
        {
            "id": ["missing-source", "bad-scheme"],
            "url": ["{sources}/images/missing.png", "ftp://files.example/report.pdf"],
            "upload_path": ["demo/images", "demo/docs"],
            "file_name": ["missing.png", None],
            "owner": ["design", "ops"],
        }
    )
    pl.concat([frame, broken]).write_csv(HERE / "demo.csv")
    # The Parquet sample uses the API's camelCase names and no id column (identity is a hash).
    frame.rename({"url": "fileUrl", "upload_path": "uploadPath", "file_name": "fileName"}).drop(
        "id"
    ).write_parquet(HERE / "demo.parquet")


if __name__ == "__main__":
    main()

"""A full disk, for real: the result table on a tiny tmpfs mounted in a private mount namespace.

Each case runs two ``ferry run`` processes in one ``unshare -m`` shell: the first on a tmpfs too
small for the run (a journal append, a checkpoint or the final write fails), the second after
the tmpfs is grown. The first must stop dispatch and exit 1 with one line naming the file,
never record a row it did not write, and leave what it recorded readable; the second must
complete the rest without redoing a recorded row. Skipped where mounting is not permitted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from fileapi.sources import SOURCE_STATS
from pipeline.store import ResultStore
from pipeline.store.table import read_results
from tests.conftest import API_KEY, BackgroundServer, write_manifest

ROWS = 1200
CONCURRENCY = 8

_SCRIPT = r"""
set -u
mount -t tmpfs -o size="$SIZE" tmpfs "$DIR" || exit 99
run() {
    "$PY" -m jobs run "$MANIFEST" --results "$DIR/t.parquet" --base-url "$URL" \
        --no-progress --concurrency "$CONCURRENCY" "$@"
}
run > "$OUT/out1" 2> "$OUT/err1"; echo $? > "$OUT/rc1"
cp -r "$DIR" "$OUT/after1"
mount -o remount,size=64m "$DIR"
run --json > "$OUT/out2" 2> "$OUT/err2"; echo $? > "$OUT/rc2"
cp "$DIR/t.parquet" "$OUT/final.parquet"
ls -a "$DIR" > "$OUT/left"
"""


def _can_mount() -> bool:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
        capture_output=True,
        timeout=20,
    )
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(
    not _can_mount(), reason="needs root and unshare -m to mount a tmpfs (a private namespace)"
)


@pytest.mark.parametrize("size", ["160k", "600k"])
def test_a_full_disk_stops_the_run_and_the_next_run_completes_the_rest(
    start_api: Callable[..., BackgroundServer],
    start_sources: Callable[..., BackgroundServer],
    tmp_path: Path,
    size: str,
) -> None:
    files = {f"f{i:04d}.txt": f"file {i}\n".encode() for i in range(ROWS)}
    sources = start_sources(files)
    api = start_api()
    rows = [
        {"url": f"{sources.base_url}/f{i:04d}.txt", "owner": f"team-{i % 7}"} for i in range(ROWS)
    ]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    mount, out = tmp_path / "small", tmp_path / "out"
    mount.mkdir()
    out.mkdir()
    env = {
        **os.environ,
        "KIE_API_KEY": API_KEY,
        "SIZE": size,
        "DIR": str(mount),
        "OUT": str(out),
        "PY": sys.executable,
        "MANIFEST": str(manifest),
        "URL": api.base_url,
        "CONCURRENCY": str(CONCURRENCY),
    }
    done = subprocess.run(["unshare", "-m", "sh", "-c", _SCRIPT], env=env, timeout=240)
    if done.returncode == 99:
        pytest.skip("mounting a tmpfs is not permitted here")

    first_rc = int((out / "rc1").read_text())
    first_err = (out / "err1").read_text()
    assert "Traceback" not in first_err and "never retrieved" not in first_err
    assert first_rc == 1, first_err  # the disk was too small for this run
    errors = [line for line in first_err.splitlines() if line.startswith("ferry: error:")]
    assert len(errors) == 1 and str(mount) in errors[0] and "No space left" in errors[0]

    # what the killed-by-disk run recorded is readable, and no row is recorded twice
    recorded = ResultStore(out / "after1" / "t.parquet").read()
    assert recorded["id"].n_unique() == recorded.height

    assert int((out / "rc2").read_text()) == 0, (out / "err2").read_text()
    final = read_results(out / "final.parquet")
    assert final.height == ROWS and final["status"].to_list() == ["ok"] * ROWS
    # every row has its manifest's extra column (rows finished by the first run keep their
    # place, so the order is not the manifest's)
    owners = dict(zip(final["url"].to_list(), final["owner"].to_list(), strict=True))
    assert owners == {row["url"]: row["owner"] for row in rows}
    # rows recorded by the first run were not redone: same run and same finish time
    kept = recorded.select("id", "run_id", "finished_at").join(
        final.select("id", "run_id", "finished_at"), on="id", suffix="_final"
    )
    assert kept.height == recorded.height
    assert (kept["run_id"] == kept["run_id_final"]).all()
    assert (kept["finished_at"] == kept["finished_at_final"]).all()
    # dispatch stopped at the failure: only rows in flight then were uploaded and not recorded
    uploads = sum(sources.app[SOURCE_STATS].requests.values())
    redone = uploads - ROWS
    assert 0 <= redone <= CONCURRENCY, (uploads, recorded.height)
    assert (out / "left").read_text().split() == [".", "..", "t.parquet"]
    assert pl.read_parquet(out / "final.parquet").height == ROWS

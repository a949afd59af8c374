"""Few file descriptors (issue 24, row D): a run raises its soft limit of open files to the hard
one, runs fewer rows at once (said once) when even that cannot hold ``--concurrency``, and
retries a local file that met "Too many open files" instead of failing it for good."""

from __future__ import annotations

import errno
import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fileapi import BackgroundServer
from pipeline.core.errors import SourceError, SourceUnavailableError
from pipeline.core.fdlimit import FDS_PER_ROW, RESERVED_FDS
from pipeline.store.table import read_results
from pipeline.upload.sources import local_failure
from tests.conftest import API_KEY, write_manifest

FILES = 300
CONCURRENCY = 256
LIMIT = 200


def local_files(tmp_path: Path) -> Path:
    folder = tmp_path / "files"
    folder.mkdir()
    for number in range(FILES):
        (folder / f"f{number:03d}.bin").write_bytes(os.urandom(32 * 1024))
    rows = [{"url": str(folder / f"f{number:03d}.bin")} for number in range(FILES)]
    return write_manifest(tmp_path / "m.csv", rows)


def run_with_limit(ulimit: str, manifest: Path, base_url: str) -> subprocess.CompletedProcess[str]:
    """``ferry run`` under ``ulimit ULIMIT`` in a shell of its own."""
    script = (
        f'ulimit {ulimit} && exec "$0" -m jobs run "$1" --base-url "$2" --no-progress '
        f"--concurrency {CONCURRENCY} --json"
    )
    return subprocess.run(
        ["bash", "-c", script, sys.executable, str(manifest), base_url],
        env={**os.environ, "KIE_API_KEY": API_KEY},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_limit_that_cannot_hold_the_concurrency_lowers_it_and_says_so_once(
    api: BackgroundServer, tmp_path: Path
) -> None:
    manifest = local_files(tmp_path)
    done = run_with_limit(f"-n {LIMIT}", manifest, api.base_url)  # soft and hard
    assert done.returncode == 0, done.stderr
    assert read_results(tmp_path / "m.results.parquet")["status"].to_list() == ["ok"] * FILES
    warnings = [line for line in done.stderr.splitlines() if "limit of open files" in line]
    most = (LIMIT - RESERVED_FDS) // FDS_PER_ROW
    assert len(warnings) == 1, done.stderr
    assert f"is {LIMIT}" in warnings[0] and f"running {most} rows at once" in warnings[0]


def test_a_soft_limit_is_raised_to_the_hard_one(api: BackgroundServer, tmp_path: Path) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < CONCURRENCY * FDS_PER_ROW + RESERVED_FDS:
        pytest.skip(f"the hard limit here ({hard}) cannot hold the concurrency")
    manifest = local_files(tmp_path)
    done = run_with_limit(f"-S -n {LIMIT}", manifest, api.base_url)  # the soft limit only
    assert done.returncode == 0, done.stderr
    assert "limit of open files" not in done.stderr
    assert read_results(tmp_path / "m.results.parquet")["status"].to_list() == ["ok"] * FILES


def test_a_local_file_out_of_descriptors_is_retried_not_failed_for_good(tmp_path: Path) -> None:
    source = tmp_path / "a.bin"
    source.write_bytes(b"x")
    # a real EMFILE: a process whose descriptors are all taken opens the file
    probe = textwrap.dedent(
        f"""
        import os, resource, sys
        from pathlib import Path
        from pipeline.core.errors import SourceUnavailableError
        from pipeline.upload.sources import open_local
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        held = []
        try:
            while True:
                held.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            pass
        try:
            with open_local(Path({str(source)!r}), None):
                sys.exit("opened with every descriptor taken")
        except SourceUnavailableError as exc:
            assert exc.retryable and "Too many open files" in str(exc), exc
        os.close(held.pop())
        with open_local(Path({str(source)!r}), None) as body:
            assert body.chunks.read() == b"x"
        print("retryable, then read")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "retryable, then read" in done.stdout
    for number in (errno.EMFILE, errno.ENFILE, errno.EAGAIN):
        assert isinstance(local_failure(source, OSError(number, "x")), SourceUnavailableError)
    gone = local_failure(source, FileNotFoundError(errno.ENOENT, "No such file"))
    assert type(gone) is SourceError and not gone.retryable

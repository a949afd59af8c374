"""The sanitiser of ``uploadPath`` and ``fileName``: nothing escapes the storage root."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fileapi.paths import (
    PathError,
    clean_file_name,
    clean_upload_path,
    derive_file_name,
    inside,
)

ROOT = Path("/srv/ferry-root/files")
# Text heavy in the characters that matter: separators, dots, backslashes, controls.
TRICKY = st.lists(
    st.one_of(
        st.sampled_from(["/", ".", "..", "\\", "\x00", "\n", "~", ":", "%2e", " ", "\u2028"]),
        st.characters(codec="utf-8"),
    ),
    max_size=40,
).map("".join)
ANY_TEXT = st.one_of(TRICKY, st.text(max_size=600))
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def stays_inside(root: Path, relative: str) -> bool:
    resolved = (root / relative).resolve()
    return resolved.is_relative_to(root.resolve()) and resolved != root.resolve()


@PROPERTY
@given(ANY_TEXT)
def test_upload_path_is_refused_or_stays_inside(text: str) -> None:
    try:
        cleaned = clean_upload_path(text)
    except PathError as exc:
        assert str(exc).startswith("Invalid parameter: uploadPath ")
        return
    assert cleaned and not cleaned.startswith("/") and not cleaned.endswith("/")
    segments = cleaned.split("/")
    assert all(s not in ("", ".", "..") for s in segments)
    assert "\\" not in cleaned and "\x00" not in cleaned
    assert stays_inside(ROOT, cleaned)
    assert inside(ROOT, *segments).is_relative_to(ROOT)


@PROPERTY
@given(ANY_TEXT)
def test_file_name_is_refused_or_is_one_segment_inside(text: str) -> None:
    try:
        cleaned = clean_file_name(text)
    except PathError as exc:
        assert str(exc).startswith("Invalid parameter: fileName ")
        return
    assert cleaned == text
    assert "/" not in cleaned and cleaned not in (".", "..")
    assert len(cleaned.encode("utf-8")) <= 255
    assert stays_inside(ROOT / "a", cleaned)
    assert (ROOT / "a" / cleaned).resolve().parent == (ROOT / "a").resolve()


@PROPERTY
@given(st.one_of(st.none(), ANY_TEXT), st.sampled_from(["", ".png", ".txt"]))
def test_derived_names_are_always_acceptable(candidate: str | None, extension: str) -> None:
    name = derive_file_name(candidate, extension)
    assert clean_file_name(name) == name


@pytest.mark.parametrize(
    ("given_path", "expected"),
    [
        ("images", "images"),
        ("/images/user-uploads/", "images/user-uploads"),
        ("a/b c/ü", "a/b c/ü"),
        ("..a/b..", "..a/b.."),
    ],
)
def test_good_upload_paths(given_path: str, expected: str) -> None:
    assert clean_upload_path(given_path) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "/",
        "//",
        "../x",
        "a/../b",
        "a/./b",
        "a//b",
        "a\\b",
        "a\x00",
        "a\x7f",
        "a\ud800",
        "x" * 513,
    ],
)
def test_bad_upload_paths(bad: str) -> None:
    with pytest.raises(PathError):
        clean_upload_path(bad)


def test_derived_names_are_repaired_not_refused() -> None:
    assert derive_file_name("C:\\Users\\me\\photo.jpg") == "photo.jpg"
    assert derive_file_name("a\nb.txt") == "a_b.txt"
    long = derive_file_name("x" * 300 + ".jpeg")
    assert long.endswith(".jpeg") and len(long.encode()) == 255
    assert derive_file_name("..", ".png").startswith("file-")
    assert derive_file_name(None, ".png").endswith(".png")


def test_inside_refuses_an_escape() -> None:
    with pytest.raises(PathError):
        inside(ROOT, "..", "etc")
    with pytest.raises(PathError):
        inside(ROOT, "/etc/passwd")

"""The README and docs/ link to each other: every relative link resolves to a file of the
repository and, where it names a heading (``file.md#anchor``), to a heading of that file.

Anchors are made as GitHub makes them: the heading's text, lower case, punctuation dropped,
spaces turned into hyphens, ``-1``, ``-2`` after repeats. Code (fenced or inline) and HTML
comments are not rendered, so their brackets are not links.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from tests.helpers import REPO

ROOT = REPO
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
COMMENT = re.compile(r"<!--.*?-->", re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def rendered(text: str) -> str:
    """The text whose links are rendered: no fenced blocks, HTML comments or inline code."""
    return INLINE_CODE.sub("", COMMENT.sub("", FENCE.sub("", text)))


def anchors(path: Path) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown file."""
    text = COMMENT.sub("", FENCE.sub("", path.read_text(encoding="utf-8")))
    seen: Counter[str] = Counter()
    found = set()
    for heading in HEADING.findall(text):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        found.add(slug if not seen[slug] else f"{slug}-{seen[slug]}")
        seen[slug] += 1
    return found


def relative_links(page: Path) -> list[str]:
    """The links of a page that point into the repository (not ``https:``, ``mailto:``)."""
    targets = LINK.findall(rendered(page.read_text(encoding="utf-8")))
    return [target for target in targets if not re.match(r"[a-z][a-z0-9+.-]*:", target)]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page: Path) -> None:
    links = relative_links(page)
    broken = []
    for link in links:
        target, _, anchor = link.partition("#")
        path = (page.parent / target).resolve() if target else page
        if not path.is_relative_to(ROOT) or not path.exists():
            broken.append(f"{link}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{link}: no such heading in {path.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_readme_links_to_every_doc_and_the_benchmarks() -> None:
    linked = {(ROOT / link.partition("#")[0]).resolve() for link in relative_links(PAGES[0])}
    expected = {*PAGES[1:], ROOT / "benchmarks" / "RESULTS.md"}
    assert expected <= linked, sorted(str(path.relative_to(ROOT)) for path in expected - linked)


def test_the_checker_sees_broken_links_and_anchors(tmp_path: Path) -> None:
    """The helpers above find what a reader would click, and the anchors GitHub makes."""
    page = tmp_path / "page.md"
    page.write_text(
        "## How the bytes travel: `--via`\n## Notes\n## Notes\n"
        "[a](other.md#x) ![b](img.png) [c](https://example.com) `[d](code.md)`\n"
        "<!-- [e](later.md) -->\n```sh\n# not a heading [f](fenced.md)\n```\n",
        encoding="utf-8",
    )
    assert relative_links(page) == ["other.md#x", "img.png"]
    assert anchors(page) == {"how-the-bytes-travel---via", "notes", "notes-1"}

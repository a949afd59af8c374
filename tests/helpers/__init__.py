"""What the tests share besides fixtures: servers, clients, manifests, rows and runs."""

from pathlib import Path

#: The repository's root (where README.md, docs/ and pyproject.toml are).
REPO = Path(__file__).resolve().parents[2]

"""ferry's library: manifests, the API client, the fan-out engine and the result table."""

from __future__ import annotations

__version__ = "0.1.0"

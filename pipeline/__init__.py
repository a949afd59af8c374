"""ferry's library: manifests, the API client, the fan-out engine and the result table.

The public API that ``jobs/`` uses is re-exported here, imported on first use so that light
users (``fileapi`` needs only :mod:`pipeline.units`) do not pay for polars and aiohttp.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pipeline.version import __version__

_EXPORTS = {
    "PipelineError": "pipeline.errors",
    "RunSettings": "pipeline.settings",
    "Shard": "pipeline.settings",
    "default_results_path": "pipeline.settings",
    "run_manifest": "pipeline.runner:run",
}

if TYPE_CHECKING:
    from pipeline.errors import PipelineError
    from pipeline.runner import run as run_manifest
    from pipeline.settings import RunSettings, Shard, default_results_path

__all__ = [
    "PipelineError",
    "RunSettings",
    "Shard",
    "__version__",
    "default_results_path",
    "run_manifest",
]


def __getattr__(name: str) -> Any:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr or name)

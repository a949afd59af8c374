"""ferry's library: manifests, the API client, the fan-out engine and the result table.

The public API that ``jobs/`` uses is re-exported here, imported on first use so that light
users (``fileapi`` needs only :mod:`pipeline.core.units`) do not pay for polars and aiohttp.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pipeline.version import __version__

_EXPORTS = {
    "PipelineError": "pipeline.core.errors",
    "RunSettings": "pipeline.core.settings",
    "Shard": "pipeline.core.settings",
    "default_results_path": "pipeline.core.settings",
    "run_manifest": "pipeline.commands.runner:run",
}

if TYPE_CHECKING:
    from pipeline.commands.runner import run as run_manifest
    from pipeline.core.errors import PipelineError
    from pipeline.core.settings import RunSettings, Shard, default_results_path

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

"""A faithful local implementation of the File Upload API (``ferry serve``).

Public API::

    from fileapi import BackgroundServer, ServerSettings, make_app, run_server, STATS

The names are imported on first use, so that ``ferry serve --help`` (which needs only
:mod:`fileapi.settings`) does not pay for aiohttp.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "STATS": "fileapi.state",
    "BackgroundServer": "fileapi.background",
    "ServerSettings": "fileapi.settings",
    "ServerStats": "fileapi.state",
    "SettingsError": "fileapi.settings",
    "make_app": "fileapi.app",
    "run_server": "fileapi.runner",
}

if TYPE_CHECKING:
    from fileapi.app import make_app
    from fileapi.background import BackgroundServer
    from fileapi.runner import run_server
    from fileapi.settings import ServerSettings, SettingsError
    from fileapi.state import STATS, ServerStats

__all__ = [
    "STATS",
    "BackgroundServer",
    "ServerSettings",
    "ServerStats",
    "SettingsError",
    "make_app",
    "run_server",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fileapi' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

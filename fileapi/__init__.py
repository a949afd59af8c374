"""A faithful local implementation of the File Upload API (``ferry serve``).

Public API::

    from fileapi import BackgroundServer, ServerSettings, make_app, run_server, STATS
"""

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

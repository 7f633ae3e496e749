"""trashmonitor: an observability-first health and streaming monitor for tailnet webcams.

Components live in sub-packages (installed from the repository's top-level folders):
``trashmonitor.monitor``, ``trashmonitor.capture``, ``trashmonitor.dns``,
``trashmonitor.alerts`` and ``trashmonitor.dashboards``. This package holds what they
share: the error tree, settings parsing, HTTP serving and telemetry setup.
"""

from __future__ import annotations

from trashmonitor.errors import (
    EXIT_OK,
    EXIT_UNDECIDED,
    EXIT_UNHEALTHY,
    AuthError,
    ConfigError,
    DriftError,
    MalformedResponseError,
    ObservationError,
    TrashmonError,
    UnreachableError,
    UpstreamHTTPError,
)

__version__ = "0.1.0"

__all__ = [
    "EXIT_OK",
    "EXIT_UNDECIDED",
    "EXIT_UNHEALTHY",
    "AuthError",
    "ConfigError",
    "DriftError",
    "MalformedResponseError",
    "ObservationError",
    "TrashmonError",
    "UnreachableError",
    "UpstreamHTTPError",
    "__version__",
]

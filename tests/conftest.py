"""Shared fixtures. Helpers to import live in tests/support/."""

from __future__ import annotations

import os

# Deterministic metric output: no `_created` series from prometheus-client.
os.environ.setdefault("PROMETHEUS_DISABLE_CREATED_SERIES", "True")

"""Shared fixtures. Helpers to import live in tests/support/."""

from __future__ import annotations

import os

# Deterministic metric output: no `_created` series from prometheus-client.
os.environ.setdefault("PROMETHEUS_DISABLE_CREATED_SERIES", "True")

# The suite must not depend on the developer's shell or .env: `just test` exports the
# justfile's placeholders (TS_TAILNET=<your-tailnet>.ts.net …), and a real CF_API_TOKEN
# must never reach a test. Product settings come only from what each test sets.
_PRODUCT_SETTINGS = (
    "TRASHMON_", "TS_", "DNS_", "CF_", "CLOUDFLARE_", "SPLIT_DNS_", "MQTT_", "CAPTURES_",
    "GHCR_", "ACME_", "MEDIAMTX_", "OTEL_",
)  # fmt: skip
for _name in [name for name in os.environ if name.startswith(_PRODUCT_SETTINGS)]:
    del os.environ[_name]

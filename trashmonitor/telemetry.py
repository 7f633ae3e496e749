"""OpenTelemetry tracing setup: one span per poll or reconcile cycle, children per target.

Traces are exported over OTLP only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (the
standard variable; the exporter reads the rest of its settings from the environment
itself). Metrics stay with prometheus-client: bridging OTel metrics into the Prometheus
registry would add ``otel_scope_*`` labels and a second metrics API.

Spans still queued when the process ends are exported then: the provider shuts itself
down at exit, and SIGTERM ends the monitor normally (tests/telemetry/test_otlp.py). With
the collector unreachable each batch still queued delays the exit by up to
``OTEL_EXPORTER_OTLP_TIMEOUT`` (10 s by default; 7.7 s measured with a refused connection).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, Tracer

from trashmonitor import __version__

log = logging.getLogger(__name__)


def setup_tracing(service_name: str, processor: SpanProcessor | None = None) -> TracerProvider:
    """A tracer provider for ``service_name``; components take tracers from it.

    It is deliberately not installed as the global provider: each component receives
    its tracer explicitly, so tests can run several with separate exporters.

    ``processor`` lets tests attach an in-memory exporter; otherwise an OTLP/HTTP
    exporter is attached when the endpoint variable is set, and nothing is exported
    when it is not (spans then cost almost nothing).
    """
    provider = TracerProvider(
        resource=Resource.create({"service.name": service_name, "service.version": __version__}),
        # Flush what the batch processor still holds when the process exits (SIGTERM).
        shutdown_on_exit=True,
    )
    if processor is not None:
        provider.add_span_processor(processor)
    elif os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                OTLPSpanExporter,
            )
        except ImportError:
            log.warning(
                "OTEL_EXPORTER_OTLP_ENDPOINT is set but the OTLP exporter is not installed; "
                "install 'trashmonitor[otlp]' to export traces"
            )
        else:
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


@contextmanager
def span(tracer: Tracer | None, name: str, **attributes: Any) -> Iterator[Span | None]:
    """A child of the current span, or nothing (None) for a component built without a
    tracer."""
    if tracer is None:
        yield None
        return
    with tracer.start_as_current_span(name, attributes=attributes) as current:
        yield current

"""monitor/families.py: a family built from samples in bulk is exposed exactly as
prometheus-client's own families built one ``add_metric`` at a time, and keeps the list
it was given (no copy: that is its point at 10,000 cameras)."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.samples import Sample
from support.properties import PROPERTIES

from trashmonitor.monitor.families import gauge_family, sample_family

# Camera names as label values: any text (quotes, backslashes, newlines are escaped by
# the exposition), values any float the exposition writes (NaN and infinities included).
SERIES = st.lists(
    st.tuples(st.text(max_size=12), st.floats(allow_nan=True, allow_infinity=True)),
    max_size=8,
    unique_by=lambda series: series[0],
)


class _Families:
    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self._families


def exposition(*families: Metric) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return generate_latest(registry)


# The family types the exporters build, with the reference built by add_metric and the
# name of its samples.
REFERENCES = {
    "gauge": (GaugeMetricFamily, "trashmon_x"),
    "counter": (CounterMetricFamily, "trashmon_x_total"),
}


@pytest.mark.parametrize("kind", sorted(REFERENCES))
@PROPERTIES
@given(series=SERIES)
def test_a_family_is_exposed_as_the_same_family_built_one_metric_at_a_time(
    kind: str, series: list[tuple[str, float]]
) -> None:
    family_type, sample_name = REFERENCES[kind]
    reference = family_type("trashmon_x", "Some values.", labels=["camera"])
    for name, value in series:
        reference.add_metric([name], value)
    samples = [Sample(sample_name, {"camera": name}, value) for name, value in series]

    built = sample_family(kind, "trashmon_x", "Some values.", samples)

    assert built.type == kind
    assert built.samples is samples
    assert exposition(built) == exposition(reference)


def test_a_gauge_family_is_a_sample_family_of_type_gauge() -> None:
    samples = [Sample("trashmon_x", {"camera": "cam1"}, 1.0)]
    built = gauge_family("trashmon_x", "Some values.", samples)
    assert (built.type, built.name, built.documentation) == ("gauge", "trashmon_x", "Some values.")
    assert built.samples is samples

"""The camera lines of /metrics written by hand (``monitor/export_cameras.py``): numbers,
label escaping, the ``site`` label and the availability lines are what prometheus-client
writes for the same samples, byte for byte."""

from __future__ import annotations

from collections.abc import Mapping

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.utils import floatToGoString
from support.properties import PROPERTIES

from trashmonitor.monitor.export_cameras import (
    AvailabilityLines,
    _number,
    escape_label_value,
    go_number,
    site_pair,
)
from trashmonitor.monitor.history import CameraAvailability
from trashmonitor.monitor.history_export import availability_families


def rendered(families: list[Metric]) -> str:
    """What prometheus-client writes for ``families``."""

    class Families:
        def collect(self) -> list[Metric]:
            return families

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Families())
    return generate_latest(registry).decode()


def sample_lines(text: str, name: str) -> str:
    return "".join(f"{line}\n" for line in text.splitlines() if line.startswith(name + "{"))


@PROPERTIES
@given(st.one_of(st.integers(), st.floats(), st.booleans()))
def test_go_number_writes_what_prometheus_client_writes(value: float) -> None:
    assert go_number(value) == floatToGoString(value)  # type: ignore[no-untyped-call]


@PROPERTIES
@given(
    st.lists(
        st.one_of(st.integers(), st.floats(), st.booleans(), st.sampled_from([0, 0.0, -0.0, False]))
    )
)
def test_shared_number_texts_are_what_prometheus_client_writes(values: list[float]) -> None:
    # The texts are kept across calls by value: equal keys written differently (0, 0.0,
    # -0.0, False, True and 1) must never hand each other's text.
    for value in values:
        assert _number(value) == floatToGoString(value)  # type: ignore[no-untyped-call]


@PROPERTIES
@given(st.text(max_size=40))
def test_a_label_value_is_escaped_as_prometheus_client_escapes_it(value: str) -> None:
    family = GaugeMetricFamily("trashmon_x", "x", labels=["camera"])
    family.add_metric([value], 1.0)
    assert f'trashmon_x{{camera="{escape_label_value(value)}"}} 1.0\n' in rendered([family])


def test_the_site_label_is_absent_for_the_unnamed_mediamtx_and_escaped_otherwise() -> None:
    assert site_pair("") == ""
    assert site_pair("home") == ',site="home"'
    assert site_pair('a"b\\c\nd') == r',site="a\"b\\c\nd"'


ratios = st.one_of(st.none(), st.sampled_from([0.0, 0.5, 1.0]), st.floats(0, 1))
availability_values = st.builds(
    CameraAvailability,
    st.fixed_dictionaries({"1h": ratios, "1d": ratios, "30d": ratios}),
    st.integers(0, 10**6),
)
NAMES = ("cam1", "cam2", "yard/gate", 'odd"name', "back\\slash", "new\nline")
# As the history hands them: equal figures are often one object, shared by cameras.
availabilities = st.lists(availability_values, min_size=1, max_size=3).flatmap(
    lambda values: st.dictionaries(st.sampled_from(NAMES), st.sampled_from(values))
)


def reference_availability(availability: Mapping[str, CameraAvailability], site: str) -> bytes:
    families = availability_families(availability)
    if site:
        for family in families:
            family.samples = [
                sample._replace(labels={**sample.labels, "site": site}) for sample in family.samples
            ]
    text = rendered(families)
    return "".join(
        sample_lines(text, family) for family in ("trashmon_camera_availability_ratio",
                                                  "trashmon_camera_incidents_last_day")
    ).encode()  # fmt: skip


@PROPERTIES
@given(st.lists(availabilities, min_size=1, max_size=4), st.sampled_from(["", "home", 'g"1']))
def test_availability_lines_are_the_reference_samples_over_any_sequence(
    sequence: list[dict[str, CameraAvailability]], site: str
) -> None:
    """Cameras coming and going, figures shared or not, ratios missing: each render is
    prometheus-client's sample text of the availability families, with the site."""
    lines = AvailabilityLines(site)
    for availability in sequence:
        ratio_lines, incident_lines = lines.render(availability)
        assert ratio_lines + incident_lines == reference_availability(availability, site)

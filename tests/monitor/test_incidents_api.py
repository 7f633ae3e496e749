"""The /api/incidents query parser (monitor/incidents_api.py): outside input, with
hypothesis; the route of a real monitor: test_incidents.py."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trashmonitor.monitor.history import MAX_INCIDENTS
from trashmonitor.monitor.incidents_api import (
    DEFAULT_LIMIT,
    DEFAULT_LOOKBACK_SECONDS,
    MAX_TIMESTAMP,
    parse_query,
)

NOW = 1_763_700_000.0


def test_defaults_are_the_last_30_days_bounded() -> None:
    wanted = parse_query({}, NOW)
    assert (wanted["camera"], wanted["since"], wanted["until"], wanted["limit"]) == (
        None, NOW - DEFAULT_LOOKBACK_SECONDS, NOW, DEFAULT_LIMIT,
    )  # fmt: skip
    wanted = parse_query({"camera": ("cam1",), "since": ("10",), "until": ("20.5",)}, NOW)
    assert (wanted["camera"], wanted["since"], wanted["until"]) == ("cam1", 10.0, 20.5)


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"since": ("nan",)}, "since"),
        ({"since": ("inf",)}, "since"),
        ({"until": ("1e300",)}, "until"),
        ({"since": ("-1",)}, "since"),
        ({"since": ("yesterday",)}, "since"),
        ({"since": ("20",), "until": ("10",)}, "since"),
        ({"camera": ("a", "b")}, "camera"),
        ({"camera": ("x" * 256,)}, "camera"),
        ({"limit": ("0",)}, "limit"),
        ({"limit": (str(MAX_INCIDENTS + 1),)}, "limit"),
        ({"limit": ("١٢",)}, "limit"),  # Arabic-Indic digits: int() would take them
        ({"limit": ("9" * 5000,)}, "limit"),
        ({"sort": ("x",)}, "sort"),
    ],
)  # fmt: skip
def test_bad_parameters_are_named(query: dict[str, tuple[str, ...]], named: str) -> None:
    with pytest.raises(ValueError, match=named) as raised:
        parse_query(query, NOW)
    assert "\n" not in str(raised.value)
    assert len(str(raised.value)) < 200


@given(
    st.dictionaries(
        st.sampled_from(["camera", "since", "until", "limit"]) | st.text(max_size=20),
        st.lists(st.text(max_size=40) | st.floats().map(str) | st.integers().map(str),
                 min_size=1, max_size=3).map(tuple),
        max_size=5,
    )
)  # fmt: skip
def test_any_query_is_a_bounded_filter_or_a_one_line_error(
    query: dict[str, tuple[str, ...]],
) -> None:
    try:
        wanted = parse_query(query, NOW)
    except ValueError as error:
        message = str(error)
    else:
        assert 0 <= wanted["since"] <= wanted["until"] <= max(NOW, MAX_TIMESTAMP)
        assert math.isfinite(wanted["since"])
        assert 1 <= wanted["limit"] <= MAX_INCIDENTS
        return
    assert "\n" not in message
    assert len(message) < 200

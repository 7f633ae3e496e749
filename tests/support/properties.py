"""Shared settings for hypothesis property tests of parsers of outside input.

Every such test states the same contract: arbitrary input gives a value or an error from
trashmonitor's tree, nothing else, in bounded time. Hypothesis' own per-example deadline
(200 ms) would flake on a loaded 2-core machine, so it is off and :func:`bounded` checks
a generous wall-clock bound instead: a super-linear parser blows far past it, a busy
machine does not.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

T = TypeVar("T")

PARSER_BUDGET_SECONDS = 2.0

PROPERTIES = settings(
    deadline=None,
    database=None,  # nothing written into the work tree; failures print their example
    max_examples=300,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def bounded(parse: Callable[[], T], budget: float = PARSER_BUDGET_SECONDS) -> T:
    """``parse()``'s result, failing the test if it took longer than ``budget`` seconds."""
    started = time.perf_counter()
    result = parse()
    elapsed = time.perf_counter() - started
    assert elapsed < budget, f"took {elapsed:.2f}s (budget {budget}s)"
    return result


def parsed_or_message(parse: Callable[[], T]) -> tuple[T | None, str]:
    """The contract's two outcomes: ``(bounded(parse), "")``, or ``(None, message)`` for the
    ValueError it raised, whose message must be one line."""
    try:
        return bounded(parse), ""
    except ValueError as error:
        message = str(error)
    assert "\n" not in message, f"a multi-line error: {message!r}"
    return None, message


# JSON the way MediaMTX could get it wrong: any shape, plus the field names it uses so
# examples reach the deep branches, not only "not an object".
KEYS = st.sampled_from(
    [
        "name",
        "items",
        "itemCount",
        "pageCount",
        "online",
        "ready",
        "available",
        "onlineTime",
        "readyTime",
        "inboundBytes",
        "outboundBytes",
        "bytesReceived",
        "inboundFramesInError",
        "readers",
        "source",
        "type",
        "tracks",
        "tracks2",
        "codec",
        "codecProps",
        "width",
        "height",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["cam1", "a/b", "../x", "2024-01-01T00:00:00Z", "H264", "\x1b[2J"])
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(KEYS | st.text(max_size=8), children, max_size=8)
    ),
    max_leaves=40,
)

"""The one backoff: exponential, capped, jitter symmetric around the base."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from trashmonitor.backoff import Backoff


def test_doubles_from_the_initial_delay_without_jitter() -> None:
    backoff = Backoff(initial=1.0, maximum=30.0, jitter=0.0)
    assert [backoff.delay(n, 0.5) for n in range(1, 7)] == [1, 2, 4, 8, 16, 30]


def test_the_draw_spans_the_jitter_band() -> None:
    backoff = Backoff(initial=4.0, maximum=100.0, jitter=0.25)
    assert (backoff.delay(1, 0.0), backoff.delay(1, 0.5), backoff.delay(1, 1.0)) == (3, 4, 5)


@given(
    failures=st.integers(min_value=-5, max_value=10_000),
    rand=st.floats(allow_nan=False),
    jitter=st.floats(min_value=0, max_value=1),
)
def test_never_negative_never_above_the_cap(failures: int, rand: float, jitter: float) -> None:
    delay = Backoff(initial=0.5, maximum=8.0, jitter=jitter).delay(failures, rand)
    assert 0 <= delay <= 8.0

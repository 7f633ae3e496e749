"""The retry policy: Retry-After, backoff, and what counts as worth another try."""

from __future__ import annotations

import pytest

from trashmonitor.dns.retry import RetryPolicy, give_up, parse_retry_after
from trashmonitor.errors import AuthError, DriftError, TransientAPIError, UnreachableError


def test_retry_after_parsing() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("Thu, 01 Jan 2026 00:01:00 GMT", now=1767225600.0) == 60.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_retry_gives_up_at_once_when_retry_after_exceeds_the_cap() -> None:
    sleeps: list[float] = []
    calls: list[int] = []

    def always_limited() -> None:
        calls.append(1)
        raise TransientAPIError("limited", status_code=429, kind="rate_limited", retry_after=900)

    policy = RetryPolicy(attempts=5, max_wait=60, sleep=sleeps.append)
    with pytest.raises(TransientAPIError):
        policy.call("x", always_limited)
    assert calls == [1]
    assert sleeps == []


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0, jitter=lambda: 0.5)
    assert [policy.delay(n, None) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 3.0]


def test_the_error_says_whether_to_retry_not_a_status() -> None:
    """An UnreachableError (retryable in the error tree) is tried again; an AuthError never."""
    calls: list[type[Exception]] = []

    def fail(error: Exception) -> None:
        calls.append(type(error))
        raise error

    policy = RetryPolicy(attempts=3, sleep=lambda _: None, jitter=lambda: 0.5)
    with pytest.raises(UnreachableError):
        policy.call("x", lambda: fail(UnreachableError("refused")))
    assert calls == [UnreachableError] * 3
    calls.clear()
    with pytest.raises(AuthError):
        policy.call("x", lambda: fail(AuthError("401")))
    assert calls == [AuthError]


def test_giving_up_is_drift_for_an_answer_and_exit_2_without_one() -> None:
    limited = TransientAPIError("Cloudflare: x failed (HTTP 429)", status_code=429,
                                kind="rate_limited")  # fmt: skip
    assert isinstance(give_up(limited), DriftError)
    assert give_up(limited).message.endswith("; gave up after retries")
    lost = TransientAPIError("cannot reach", status_code=None, kind="unreachable")
    assert isinstance(give_up(lost), UnreachableError)
    assert give_up(lost).exit_code == 2

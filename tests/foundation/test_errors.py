"""One error tree: every class carries its exit code, its metric kind and whether a retry
may help, and callers read those attributes instead of deciding from types or messages."""

from __future__ import annotations

import httpx
import pytest

from trashmonitor import errors
from trashmonitor.dns.retry import RetryPolicy, TransientAPIError
from trashmonitor.dns.tailscale_api import TailscaleAPI, TailscaleCredentials
from trashmonitor.monitor.daemon import error_kind


def test_every_class_carries_exit_code_kind_and_retryable() -> None:
    table = {
        errors.TrashmonError("x"): (2, "internal", False),
        errors.ConfigError("--x", "bad"): (2, "config", False),
        errors.ObservationError("x"): (2, "unavailable", False),
        errors.UnreachableError("x"): (2, "unreachable", True),
        errors.UpstreamHTTPError("x", 500): (2, "http", False),
        errors.MalformedResponseError("x"): (2, "malformed", False),
        errors.AuthError("x"): (2, "http", False),
        errors.DriftError("x"): (1, "drift", False),
    }
    for error, expected in table.items():
        assert (error.exit_code, error.kind, error.retryable) == expected, type(error)


def test_the_monitor_counts_an_error_under_its_own_kind() -> None:
    class TruncatedAnswer(errors.UpstreamHTTPError):  # a new error says its kind itself
        kind = "malformed"

    assert error_kind(TruncatedAnswer("cut short", 200)) == "malformed"
    assert error_kind(errors.UnreachableError("refused")) == "unreachable"
    assert error_kind(errors.AuthError("401")) == "http"
    assert error_kind(errors.ConfigError("--x", "bad")) == "http"  # the label set is a contract
    assert error_kind(RecursionError()) == "internal"


def test_a_lost_connection_is_retryable_not_http_status_zero() -> None:
    attempts: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        raise httpx.ConnectError("connection refused", request=request)

    api = TailscaleAPI(
        TailscaleCredentials(api_key="tskey-test"),
        retry=RetryPolicy(attempts=2, sleep=lambda _: None),
        transport=httpx.MockTransport(refuse),
    )
    with pytest.raises(TransientAPIError) as raised:
        api.devices()
    assert raised.value.status_code is None  # no answer came: no status to report
    assert (raised.value.retryable, raised.value.kind) == (True, "unreachable")
    assert len(attempts) == 2
    assert "tskey-test" not in str(raised.value)

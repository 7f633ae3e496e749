"""No API token reachable from an error of the Cloudflare or Tailscale client: not in the
error, its ``__cause__``/``__context__`` chain (the SDK's and httpx's errors hold the
request, its Authorization header the token; ``from None`` only hides them), nor any
frame's locals of their tracebacks. The clients, holding the token they were given, are
the caller's own: what was made of them counts."""

from __future__ import annotations

import time
from collections.abc import Callable

import cloudflare
import httpx
import pytest
from support.dns_fake import FakeAPIs
from support.dns_world import CF_BASE, seed_world
from support.mediamtx_transports import TRANSPORTS, new_transport
from support.processes import free_port
from support.secret_walk import chain, leaks

from trashmonitor.dns.cloudflare_api import CloudflareDNS
from trashmonitor.dns.config import parse_ipv4
from trashmonitor.dns.retry import RetryPolicy
from trashmonitor.dns.tailscale_api import TailscaleAPI, TailscaleCredentials
from trashmonitor.errors import ConfigError, TrashmonError
from trashmonitor.transport import Request

TOKEN = "chain-T0ken-3c5d9e"
OWN = (CloudflareDNS, cloudflare.Cloudflare, TailscaleAPI, TailscaleCredentials, httpx.Client)


def found_in(error: BaseException) -> list[str]:
    # Not inline in the assert: pytest keeps an asserted call's arguments as locals.
    return leaks(error, (TOKEN,), OWN)


def raised_by(action: Callable[[], object]) -> TrashmonError:
    with pytest.raises(TrashmonError) as raised:
        action()
    return raised.value


def nowhere() -> str:
    return f"http://127.0.0.1:{free_port()}"


def test_a_refused_cloudflare_call_reaches_no_token() -> None:
    """Reproduction: the TransientAPIError kept the SDK's APIConnectionError (its request
    holding the token) as __context__."""
    client = CloudflareDNS(TOKEN, base_url=nowhere() + "/client/v4", retry=RetryPolicy(attempts=1))
    try:
        error = raised_by(lambda: client.zone_id("example.com"))
    finally:
        client.close()
    assert found_in(error) == []


def test_a_refused_token_error_reaches_no_token() -> None:
    """Reproduction: the AuthError kept the SDK's APIStatusError (the 401 answer's
    request, with the token) as __context__."""
    fake = seed_world(FakeAPIs())  # it answers 401 to a token other than its own
    client = CloudflareDNS(
        TOKEN, base_url=CF_BASE, retry=RetryPolicy(attempts=1), transport=fake.transport()
    )
    try:
        error = raised_by(lambda: client.zone_id("example.com"))
    finally:
        client.close()
    assert "CF_API_TOKEN" in str(error)
    assert found_in(error) == []


def test_a_refused_tailscale_call_reaches_no_api_key() -> None:
    """Reproduction: the TransientAPIError kept httpx's ConnectError (its request's
    headers holding the key) as __context__, and the calling frame the headers."""
    client = TailscaleAPI(
        TailscaleCredentials(api_key=TOKEN), base_url=nowhere(), retry=RetryPolicy(attempts=1)
    )
    try:
        error = raised_by(client.split_dns)
    finally:
        client.close()
    assert found_in(error) == []


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_our_transports_under_the_clients_reach_no_token(transport: str) -> None:
    """The transport protocol's implementations (the MediaMTX ones) under both clients,
    through the httpx bridge: a refused call's error holds no token either."""
    cloudflare_client = CloudflareDNS(
        TOKEN, base_url=nowhere() + "/client/v4", retry=RetryPolicy(attempts=1),
        transport=new_transport(transport),
    )  # fmt: skip
    tailscale = TailscaleAPI(
        TailscaleCredentials(api_key=TOKEN), base_url=nowhere(), retry=RetryPolicy(attempts=1),
        transport=new_transport(transport),
    )  # fmt: skip
    try:
        errors = [
            raised_by(lambda: cloudflare_client.zone_id("example.com")),
            raised_by(tailscale.split_dns),
        ]
    finally:
        cloudflare_client.close()
        tailscale.close()
    assert [error.kind for error in errors] == ["unreachable", "unreachable"]
    assert [found_in(error) for error in errors] == [[], []]


def test_an_ipv4_setting_error_chains_no_parser_error() -> None:
    """Reproduction: ``from None`` kept ipaddress's error, echoing the value unhidden, as
    __context__ (settings.parse_setting quotes it through ``hide`` itself)."""
    with pytest.raises(ValueError, match="IPv4") as raised:
        parse_ipv4(f"10.0.0.{TOKEN}")
    assert list(chain(raised.value)) == [raised.value]


@pytest.mark.parametrize(
    "value",
    [f"Bearer {TOKEN}\r\nX-Injected: 1", f"Bearer {TOKEN}\n", f"Bearer {TOKEN}\u2603"],
    ids=["crlf", "lf", "not-latin-1"],
)
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_header_that_cannot_be_sent_is_refused_naming_it_not_its_token(
    transport: str, value: str
) -> None:
    """Reproduction: http.client raised ValueError("Invalid header value b'Bearer
    <token>…'") or a UnicodeEncodeError holding it, not one of our errors, undetached,
    through the bridge to the SDK."""
    sending = new_transport(transport)
    request = Request(
        "GET", nowhere() + "/zones", None, time.monotonic() + 20, 1024,
        headers=(("Authorization", value),),
    )  # fmt: skip
    try:
        error = raised_by(lambda: sending.send(request))
    finally:
        sending.close()
    assert isinstance(error, ConfigError)
    assert "'Authorization'" in str(error)
    # The request is the caller's own (its frames hold it): what was made of it counts.
    assert leaks(error, (TOKEN,), (*OWN, Request)) == []


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_token_with_a_line_break_reaches_no_error_through_the_bridge(transport: str) -> None:
    """The same through the Cloudflare SDK over the bridge (httpx sends such a header
    on to the transport)."""
    client = CloudflareDNS(
        f"{TOKEN}\r\nX-Injected: 1", base_url=nowhere() + "/client/v4",
        retry=RetryPolicy(attempts=1), transport=new_transport(transport),
    )  # fmt: skip
    try:
        error = raised_by(lambda: client.zone_id("example.com"))
    finally:
        client.close()
    assert found_in(error) == []

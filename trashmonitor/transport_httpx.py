"""Any :mod:`trashmonitor.transport` under an httpx client: :class:`HttpxBridge`, an
``httpx.BaseTransport`` over our protocol.

The DNS adapters speak httpx (the Cloudflare SDK is built on it, the Tailscale client
too), so a ``transport`` given to them goes under their httpx client through this bridge:
one ``httpx.Request`` in becomes one :class:`~trashmonitor.transport.Request`, the
:class:`~trashmonitor.transport.Answer` an ``httpx.Response``. Our errors come back as the
httpx errors the SDK's retry and the adapters' error mapping already know:

    trashmonitor error         httpx error
    TimedOutError              ReadTimeout
    UnreachableError           ConnectError
    MalformedResponseError     RemoteProtocolError
    any other TrashmonError    TransportError

Each raised after the ``except`` block, with our error's one-line message (a URL and a
reason, never a header: the bearer token travels in the request's headers), so neither
our error nor its frames are reachable from httpx's.
"""

from __future__ import annotations

import time

import httpx

from trashmonitor.errors import (
    MalformedResponseError,
    TimedOutError,
    TrashmonError,
    UnreachableError,
)
from trashmonitor.transport import Request, Transport

# An API answer is a few KiB (a page of DNS records, the tailnet's devices); 16 MiB is
# the MediaMTX client's default cap, far above any of them.
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
# The deadline of a request whose client set no timeout at all (httpx's default is 5 s;
# the DNS clients set 20 s).
UNTIMED_SECONDS = 60.0


def _httpx_error(error: TrashmonError) -> type[httpx.TransportError]:
    if isinstance(error, TimedOutError):
        return httpx.ReadTimeout
    if isinstance(error, UnreachableError):
        return httpx.ConnectError
    if isinstance(error, MalformedResponseError):
        return httpx.RemoteProtocolError
    return httpx.TransportError


def deadline_of(request: httpx.Request) -> float:
    """The monotonic deadline for the whole request: the longest of the client's connect,
    read, write and pool timeouts from now (our transports bound a request as a whole)."""
    timeouts = request.extensions.get("timeout") or {}
    given = [seconds for seconds in timeouts.values() if seconds is not None]
    return time.monotonic() + (max(given) if given else UNTIMED_SECONDS)


class HttpxBridge(httpx.BaseTransport):
    """``transport`` (ours) as an httpx transport; closing the bridge closes it."""

    def __init__(self, transport: Transport, *, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.transport = transport
        self._max_bytes = max_bytes

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        sent = Request(
            request.method,
            str(request.url),
            None,
            deadline_of(request),
            self._max_bytes,
            headers=tuple(request.headers.multi_items()),
            body=request.read(),
        )
        try:
            answer = self.transport.send(sent)
        except TrashmonError as error:
            failure = _httpx_error(error)(error.message, request=request)
        else:
            return httpx.Response(
                answer.status,
                headers=list(answer.headers),
                content=bytes(answer.body),
                request=request,
                extensions={"reason_phrase": answer.reason.encode("ascii", "replace")},
            )
        # Raised after the except block, ``sent`` (its headers hold the token) dropped:
        # our error is no __context__ of httpx's, and no frame keeps the headers.
        del sent
        raise failure

    def close(self) -> None:
        self.transport.close()

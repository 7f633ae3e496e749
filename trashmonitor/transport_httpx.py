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

httpx's ``Accept-Encoding: gzip, deflate`` is not passed on (the transports ask for
``identity``: the size cap counts the bytes received), and an answer in a content coding
anyway is a ``RemoteProtocolError``: httpx would inflate it past any cap.
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
from trashmonitor.transport import DEFAULT_MAX_BODY_BYTES, Request, Transport

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
            # Not httpx's "gzip, deflate": the size cap counts the bytes received, and
            # httpx would inflate an encoded answer past it (our transports ask identity).
            headers=tuple(
                (name, value)
                for name, value in request.headers.multi_items()
                if name.lower() != "accept-encoding"
            ),
            body=request.read(),
        )
        try:
            answer = self.transport.send(sent)
        except TrashmonError as error:
            failure = _httpx_error(error)(error.message, request=request)
        else:
            encoding = answer.header("content-encoding")
            if encoding is None or encoding.strip().lower() == "identity":
                return httpx.Response(
                    answer.status,
                    headers=list(answer.headers),
                    content=bytes(answer.body),
                    request=request,
                    extensions={"reason_phrase": answer.reason.encode("ascii", "replace")},
                )
            # Not asked for: httpx would decode it, uncapped (a 64 KiB gzip is 64 MiB).
            failure = httpx.RemoteProtocolError(
                f"{request.url}: answer in a content coding not asked for", request=request
            )
        # Raised after the except block, ``sent`` (its headers hold the token) dropped:
        # our error is no __context__ of httpx's, and no frame keeps the headers.
        del sent
        raise failure

    def close(self) -> None:
        self.transport.close()

"""The one transport protocol every observer's client takes: a :class:`Request` in, an
:class:`Answer` out, only :mod:`trashmonitor.errors` errors raised.

The MediaMTX client, the Cloudflare adapter and the Tailscale adapter all take a
``transport: Transport``; tests drive each of them with one :class:`MockTransport`.
Implementations: ``UrllibTransport``, ``KeepAliveTransport`` and ``TracedTransport``
(:mod:`trashmonitor.monitor.mediamtx_http`, standard library: the probe's and the
monitor's poll), ``HttpxTransport`` (:mod:`trashmonitor.monitor.mediamtx_httpx`), and
:mod:`trashmonitor.transport_httpx`, which hands any of them to an httpx client (the DNS
SDKs speak httpx). Modelled on httpx's ``BaseTransport.handle_request`` and
``MockTransport``, without httpx: the probe imports this module, and importing httpx costs
more than a whole small probe. Standard library only; NamedTuples, not dataclasses
(declared at a tenth of the cost).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Final, NamedTuple, Protocol
from urllib.parse import urlencode

# A page of 1,000 paths (two readers each) is ~0.65 MB from the fake, ~1 MB from a real
# MediaMTX (longer ids); /metrics is ~0.3 MB per 1,000 paths; a DNS API's answer a few KiB.
# 16 MiB holds a page of 10,000+ paths and the /metrics of 50,000, and keeps a hostile
# endless body to a bounded 16 MiB buffer.
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024

Headers = tuple[tuple[str, str], ...]
"""Header (name, value) pairs in order, a name possibly repeated."""


class Credentials:
    """HTTP Basic credentials (MediaMTX's API and metrics user). The password never
    appears in ``repr`` (nor in any message: errors name the file, never its content)."""

    # Not a NamedTuple: iterating, indexing or _asdict() would hand out the password.
    __slots__ = ("password", "user")

    def __init__(self, user: str, password: str) -> None:
        self.user: Final = user
        self.password: Final = password

    def __repr__(self) -> str:
        return f"Credentials(user={self.user!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Credentials):
            return NotImplemented
        return (self.user, self.password) == (other.user, other.password)

    def __hash__(self) -> int:
        return hash((self.user, self.password))

    def authorization(self) -> str:
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode("ascii")
        return f"Basic {token}"


class Request(NamedTuple):
    """One HTTP request as a client hands it to its transport (as httpx's transports take
    one ``httpx.Request``). ``credentials`` go as an ``Authorization`` header that no
    ``repr`` shows; ``headers`` are sent as given but for ``Accept-Encoding`` (always
    ``identity``), and one with a control or non-ASCII character is refused before
    sending (a caller that puts a secret there, as the DNS SDKs' bearer tokens, keeps the
    request out of messages: the transports' errors name the URL and at most a header's
    name, never a value)."""

    method: str
    url: str
    """Without the query ``params`` add (a URL with a query of its own keeps it)."""
    params: Mapping[str, int] | None
    deadline: float
    """Monotonic time by which connect, request, headers and body must all be done."""
    max_bytes: int
    """The answer's body as received (no content coding undone: the transports ask for
    none) may be no larger, else a MalformedResponseError. An error status's body is
    read under a smaller cap (see :class:`Answer`)."""
    credentials: Credentials | None = None
    headers: Headers = ()
    body: bytes = b""

    @property
    def page(self) -> int:
        """The page of MediaMTX's ``/v3/paths/list`` asked for; -1 for any other request."""
        return (self.params or {}).get("page", -1)

    @property
    def full_url(self) -> str:
        """``url`` with ``params`` as its query."""
        if not self.params:
            return self.url
        joiner = "&" if "?" in self.url else "?"
        return f"{self.url}{joiner}{urlencode(self.params)}"


class Answer(NamedTuple):
    """A whole answer: status, reason phrase, headers as received, the body read whole.
    An error status's (400 and up) body, an API's error envelope, is read within
    64 KiB and one second (``ERROR_BODY_MAX_BYTES``, ``ERROR_BODY_SECONDS`` of
    :mod:`trashmonitor.monitor.mediamtx_http`): one larger or slower is left empty and
    its connection closed, the status still the answer."""

    status: int
    reason: str
    headers: Headers
    body: bytes | bytearray

    def header(self, name: str) -> str | None:
        """The first value of the header ``name`` (any case), None when absent."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


class Transport(Protocol):
    """Does one request: connect, send, read the answer whole, within the request's
    ``deadline`` and its body within ``max_bytes``; no redirect followed (a redirect is an
    answer). Raises only :mod:`trashmonitor.errors` errors (:class:`UnreachableError` for
    a connection that failed or timed out, ``MalformedResponseError`` for a broken or
    oversized answer), detached from anything holding a secret."""

    def send(self, request: Request) -> Answer: ...

    def close(self) -> None: ...


class MockTransport:
    """Answers every request with ``handler(request)`` (which may raise the errors a
    transport raises): the one mock for every client, as ``httpx.MockTransport`` is
    httpx's."""

    def __init__(self, handler: Callable[[Request], Answer]) -> None:
        self.handler = handler

    def send(self, request: Request) -> Answer:
        return self.handler(request)

    def close(self) -> None:
        """Nothing held."""

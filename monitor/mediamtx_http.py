"""Bounded HTTP GETs to MediaMTX: a total deadline, a body size cap, HTTP Basic credentials.

One request may take no longer than its deadline, whatever the server does: connect,
request, status line, headers and body together. A timeout per socket read is not
enough (a server sending one byte a second never lets a read time out), so every read
gets a socket timeout no longer than the time left, and the body is read in chunks with
the deadline and the size cap checked after each one.

This module holds the standard-library implementations of :mod:`trashmonitor.transport`'s
protocol (the probe's and the monitor's poll: importing httpx costs more than a whole
small probe) and what they share with the httpx one,
:mod:`trashmonitor.monitor.mediamtx_httpx`.
"""

from __future__ import annotations

import contextvars
import http.client
import io
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from trashmonitor.errors import (
    ConfigError,
    MalformedResponseError,
    TimedOutError,
    TrashmonError,
    UnreachableError,
    detached,
)
from trashmonitor.settings import file_path
from trashmonitor.transport import DEFAULT_MAX_BODY_BYTES as DEFAULT_MAX_BODY_BYTES  # noqa: PLC0414
from trashmonitor.transport import Answer, Request, Transport

# Re-exported: the value read_credentials_file returns (monitor/config.py imports both).
from trashmonitor.transport import Credentials as Credentials  # noqa: PLC0414

if TYPE_CHECKING:  # the probe traces nothing and never imports opentelemetry
    from opentelemetry.trace import Tracer

MIN_MAX_BODY_BYTES = 64 * 1024
MAX_MAX_BODY_BYTES = 1024 * 1024 * 1024
READ_CHUNK_BYTES = 64 * 1024
# The urllib transport reads a body of known length straight into its buffer, this much
# at a time (every socket read within is bounded by the deadline anyway).
READ_INTO_BYTES = 1024 * 1024
CREDENTIALS_FILE_MAX_BYTES = 4096
# An error status's body (400 and up: an API's error envelope, a few hundred bytes; the
# MediaMTX client reads none) gets its own small cap and time: a 503 whose body trickles
# or is oversized is still that 503, at once, not a timeout after the whole budget.
ERROR_BODY_MAX_BYTES = 64 * 1024
ERROR_BODY_SECONDS = 1.0

_REQUEST_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "mediamtx_request_deadline", default=None
)
"""The monotonic deadline of the request this thread is making (None outside one)."""


@contextmanager
def request_deadline(deadline: float) -> Iterator[None]:
    """Let every socket read and write of this thread's request see ``deadline``."""
    token = _REQUEST_DEADLINE.set(deadline)
    try:
        yield
    finally:
        _REQUEST_DEADLINE.reset(token)


def time_left() -> float | None:
    """Seconds until the current request's deadline (None: no request deadline set);
    raises TimeoutError once it has passed, so no read starts after it."""
    deadline = _REQUEST_DEADLINE.get()
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the request's time budget is spent")
    return left


# --------------------------------------------------------------------------- credentials


def read_text_file(path: str, what: str, max_bytes: int) -> str:
    """A small UTF-8 file read whole; ValueError naming ``what`` (never quoting the
    content, which may hold a password) when missing, unreadable, too big or not text."""
    try:
        with file_path(path).open("rb") as file:
            raw = file.read(max_bytes + 1)
    except FileNotFoundError as error:
        raise ValueError(f"{what} not found") from error
    except OSError as error:  # a failed open or read holds the path, never the contents
        raise ValueError(f"cannot read the {what} ({error.__class__.__name__})") from error
    if len(raw) > max_bytes:
        del raw  # not a local of the frame in the error's traceback: it holds a password
        raise ValueError(f"{what} is over {max_bytes} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # Raised here, after the except block, with the bytes dropped: raised in it, the
    # decode error (which holds the file's bytes, a password among them) would be the
    # new one's __context__ (``from None`` only hides it), and ``raw`` a local of this
    # frame, both reachable from the error's traceback.
    del raw
    raise ValueError(f"{what} is not UTF-8 text")


def read_credentials_file(path: str) -> Credentials:
    """The file holds one line ``user:password``. Raises ValueError with a message that
    never quotes the file's content (settings turn it into a ConfigError)."""
    credentials = _credentials(read_text_file(path, "credentials file", CREDENTIALS_FILE_MAX_BYTES))
    if isinstance(credentials, str):
        # Raised here, not where the text was split: that frame's locals (reachable from
        # the error's traceback) hold the password.
        raise ValueError(credentials)
    return credentials


def _credentials(text: str) -> Credentials | str:
    """The credentials in a file's text, or what is wrong with it."""
    lines = text.splitlines()
    while lines and not lines[-1]:
        lines.pop()
    user, colon, password = (lines[0] if len(lines) == 1 else "").partition(":")
    if not (colon and user and password):
        return "credentials file must hold one line user:password"
    if not (user.isprintable() and password.isprintable()):
        return "credentials file holds control characters"
    return Credentials(user, password)


# --------------------------------------------------------------------------- body reading


def read_capped(
    chunks: Iterable[bytes], url: str, deadline: float, max_bytes: int, declared: str | None
) -> bytes | bytearray:
    """Collect a body from ``chunks``, failing once it passes ``max_bytes`` (or announces
    more in Content-Length) or once ``deadline`` has passed."""
    length = declared_length(declared)
    if length is not None and length > max_bytes:
        raise _too_large(url, max_bytes)
    if length is not None:
        return _read_into(bytearray(length), chunks, url, deadline)
    # No length: a list of chunks joined once (a buffer grown up to the cap would be
    # reallocated and copied over and over).
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        parts.append(chunk)
        size += len(chunk)
        if size > max_bytes or time.monotonic() > deadline:
            parts.clear()  # not kept alive by the error's traceback
            raise _too_large(url, max_bytes) if size > max_bytes else timed_out(url)
    return b"".join(parts)


def declared_length(declared: str | None) -> int | None:
    """A Content-Length header's value, None when absent or not a number."""
    return int(declared) if declared is not None and declared.strip().isdigit() else None


def read_declared(
    readinto: Callable[[memoryview], int | None], length: int, url: str, deadline: float
) -> bytearray:
    """A body of the announced ``length`` read straight into one buffer of that size, no
    chunk allocated or copied on the way (the urllib transport's path; httpx hands out
    chunks, :func:`read_capped` takes those)."""
    body = bytearray(length)
    view = memoryview(body)
    filled = 0
    try:
        while filled < length:
            count = readinto(view[filled : filled + READ_INTO_BYTES])
            if not count:
                raise MalformedResponseError(
                    f"{url}: broken HTTP answer (shorter than its Content-Length)"
                )
            filled += count
            if time.monotonic() > deadline:
                raise timed_out(url)
    finally:
        view.release()
    return body


def _read_into(body: bytearray, chunks: Iterable[bytes], url: str, deadline: float) -> bytearray:
    """Fill a buffer of the announced length: the answer is held once, not twice."""
    view = memoryview(body)
    filled = 0
    try:
        for chunk in chunks:
            end = filled + len(chunk)
            if end > len(body):
                raise MalformedResponseError(f"{url}: answer longer than its Content-Length")
            view[filled:end] = chunk
            filled = end
            if time.monotonic() > deadline:
                raise timed_out(url)
    finally:
        view.release()
    if filled != len(body):
        raise MalformedResponseError(f"{url}: broken HTTP answer (shorter than its Content-Length)")
    return body


def _too_large(url: str, max_bytes: int) -> MalformedResponseError:
    return MalformedResponseError(
        f"{url}: answer larger than {max_bytes} bytes (TRASHMON_MEDIAMTX_MAX_BODY)"
    )


def timed_out(url: str) -> TimedOutError:
    return TimedOutError(f"{url}: timed out (the request's time budget is spent)")


def headers_to_send(request: Request) -> dict[str, str]:
    """The request's headers, its credentials as ``Authorization``, and
    ``Accept-Encoding: identity`` whatever the caller asked (the size cap counts the bytes
    received: a compressed answer would inflate past it). A header that cannot be sent as
    given (a CR or LF would inject another; http.client would raise with its value, a
    token, in the message) is a ConfigError naming the header, never its value."""
    headers: dict[str, str] = {}
    if request.headers:  # the MediaMTX client gives none: the poll skips this
        for name, value in request.headers:
            if not (_HEADER_NAME.fullmatch(name) and _HEADER_VALUE.fullmatch(value)):
                raise _unsendable(request.url, name)
            if name.lower() != "accept-encoding":
                headers[name] = value
    headers["Accept-Encoding"] = "identity"
    if request.credentials is not None:
        headers["Authorization"] = request.credentials.authorization()
    return headers


# RFC 9110's token (a name) and visible ASCII, space and tab (a value).
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")


def _unsendable(url: str, name: str) -> ConfigError:
    shown = repr(name) if _HEADER_NAME.fullmatch(name) else "with an invalid name"
    return ConfigError(f"{url}: header {shown}", "not sent: a control or non-ASCII character")


def reason_of(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text[:120] or error.__class__.__name__


# --------------------------------------------------------------------------- urllib


class _DeadlineReader(io.RawIOBase):
    """The socket file of an HTTP response, every read bounded by the time left."""

    def __init__(self, socket_file: io.BufferedReader, sock: socket.socket) -> None:
        super().__init__()
        # Held, not just its raw stream: dropping it would close the socket file.
        self._socket_file = socket_file
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        left = time_left()
        if left is not None:
            self._sock.settimeout(left)
        return self._socket_file.raw.readinto(buffer)

    def close(self) -> None:
        self._socket_file.close()
        super().close()


class _DeadlineResponse(http.client.HTTPResponse):
    """Status line, headers and body read through a :class:`_DeadlineReader`."""

    def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        if _REQUEST_DEADLINE.get() is not None:
            self.fp = io.BufferedReader(_DeadlineReader(self.fp, sock))


class _DeadlineHTTPConnection(http.client.HTTPConnection):
    response_class = _DeadlineResponse


class _DeadlineHTTPSConnection(http.client.HTTPSConnection):
    response_class = _DeadlineResponse


class _DeadlineHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_DeadlineHTTPConnection, req)


class _DeadlineHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_DeadlineHTTPSConnection, req)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer to report (like httpx's ``follow_redirects=False``)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_URLLIB = urllib.request.build_opener(_NoRedirects, _DeadlineHTTPHandler, _DeadlineHTTPSHandler)


def urllib_send(request: Request) -> Answer:
    """One request with the standard library (which, like httpx, honours the ``*_proxy``
    environment variables), bounded by the request's deadline and size cap. Its errors
    are :func:`detached`: no frame or exception reachable from them holds the password."""
    try:
        return _urllib_send(request)
    except TrashmonError as error:
        raise detached(error) from None


def _urllib_send(request: Request) -> Answer:
    url = request.url
    # The URL is a setting checked to be http(s):// (settings.parse_http_url).
    # No redirect is followed (_NoRedirects): Authorization goes with the other headers.
    sent = urllib.request.Request(  # noqa: S310
        request.full_url, data=request.body or None, headers=headers_to_send(request),
        method=request.method,
    )  # fmt: skip
    try:
        with request_deadline(request.deadline):
            try:
                response = _URLLIB.open(sent, timeout=time_left())
            except urllib.error.HTTPError as error:
                # A status urllib calls an error is an answer like any other, read here
                # (the error closes its response when dropped); urllib_send detaches what
                # reading it may raise from this HTTPError.
                with error:
                    if isinstance(error.fp, http.client.HTTPResponse):
                        return _read_answer(error.fp, request)
                    return Answer(error.code, str(error.reason), tuple(error.headers.items()), b"")
            with response:
                return _read_answer(response, request)
    # ``from None`` below keeps urllib's errors (they reach back to the request, whose
    # headers hold the password) out of printed tracebacks; urllib_send detaches them.
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            raise timed_out(url) from None
        reason = error.reason if isinstance(error.reason, Exception) else error
        raise UnreachableError(f"{url}: cannot connect ({reason_of(reason)})") from None
    except TimeoutError:
        raise timed_out(url) from None
    except (http.client.HTTPException, ConnectionError) as error:
        raise MalformedResponseError(f"{url}: broken HTTP answer ({reason_of(error)})") from None
    except OSError as error:
        raise UnreachableError(f"{url}: {error.__class__.__name__} ({reason_of(error)})") from None
    except ValueError as error:  # http.client's message may quote a header's value
        raise unsent(url, error) from None


def unsent(url: str, error: ValueError) -> ConfigError:
    """A request http.client refused to send (its message is not repeated: it may quote
    a header's value, a token)."""
    return ConfigError(url, f"request not sent ({error.__class__.__name__})")


class UrllibTransport:
    """Requests with the standard library: no pool, nothing to import (the probe's choice)."""

    send = staticmethod(urllib_send)

    def close(self) -> None:
        """Nothing held between requests."""


# Idle connections kept per server; the monitor has at most PARALLEL_PAGES pages and
# /metrics in flight at once.
MAX_IDLE_CONNECTIONS = 8


class KeepAliveTransport:
    """Requests over kept-alive standard-library connections (the monitor's choice: it polls
    every second). Plain ``http://`` without an ``*_proxy`` for the host goes through one
    of this transport's idle connections (else a new one), its body read straight into
    one buffer of its announced length; anything else (``https://``, a proxy) through
    the transport ``fallback()`` builds at its first such request. The same bounds and
    errors as :func:`urllib_send`.

    At 10,000 paths the monitor's ten pages cost ~5 ms of CPU this way, ~21 ms through
    httpx (its pool, h11's parser and 64 KiB chunks copied into the buffer)."""

    def __init__(self, fallback: Callable[[], Transport]) -> None:
        self._fallback_factory = fallback
        self._fallback: Transport | None = None
        self._idle: dict[tuple[str, int], list[http.client.HTTPConnection]] = {}
        self._closed = False
        self._lock = threading.Lock()
        # Held only while the fallback is built (httpx loads the CA bundle, ~35 ms):
        # never ``_lock``, which every plain request takes for its connection.
        self._building = threading.Lock()

    def send(self, request: Request) -> Answer:
        """The errors are :func:`detached`, as :func:`urllib_send`'s."""
        try:
            return self._send(request)
        except TrashmonError as error:
            raise detached(error) from None

    def _send(self, request: Request) -> Answer:
        parts = urlsplit(request.full_url)
        host = parts.hostname
        if parts.scheme != "http" or host is None or _proxied(host):
            return self._fallback_send(request)
        try:
            port = parts.port or 80
        except ValueError:  # not a port: as the fallback reports it
            return self._fallback_send(request)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = headers_to_send(request)
        url, deadline = request.url, request.deadline
        try:
            with request_deadline(deadline):
                connection, response = self._exchange((host, port), target, headers, request)
                kept = False
                try:
                    answer = _read_answer(response, request)
                    kept = not response.will_close
                    return answer
                finally:
                    response.close()
                    self._release((host, port), connection, kept=kept)
        # ``from None``, as urllib_send: the cause's frames hold ``headers``, with the
        # Authorization header (the MediaMTX password); send() detaches the error.
        except TimeoutError:
            raise timed_out(url) from None
        except (http.client.HTTPException, ConnectionError) as error:
            raise MalformedResponseError(
                f"{url}: broken HTTP answer ({reason_of(error)})"
            ) from None
        except OSError as error:
            raise UnreachableError(
                f"{url}: {error.__class__.__name__} ({reason_of(error)})"
            ) from None
        except ValueError as error:
            raise unsent(url, error) from None

    def _exchange(
        self, server: tuple[str, int], target: str, headers: dict[str, str], request: Request
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Send the request and read the status line and headers, on an idle connection
        if there is one: one the server closed while idle is replaced by a new one, once,
        for an idempotent method (a GET is safe to send again, a POST is not). Errors up
        to the headers are urllib's."""
        connection = self._take(server)
        reused = connection is not None and request.method in _IDEMPOTENT
        if connection is not None and not reused:
            connection.close()  # it may be stale, and the request cannot be sent twice
            connection = None
        while True:
            if connection is None:
                connection = _DeadlineHTTPConnection(*server)
            sending = True
            try:
                left = time_left()
                if connection.sock is None:
                    connection.timeout = left
                else:
                    connection.sock.settimeout(left)
                connection.request(
                    request.method, target, body=request.body or None, headers=headers
                )
                sending = False
                return connection, connection.getresponse()
            except BaseException as error:
                connection.close()
                if reused and isinstance(error, _STALE):
                    connection, reused = None, False
                    continue
                if sending and isinstance(error, OSError) and not isinstance(error, TimeoutError):
                    # As urllib: what fails while connecting or sending cannot connect;
                    # what fails reading the answer is send()'s (a broken answer). The
                    # cause's frames hold the Authorization header: send() detaches it.
                    url = request.url
                    raise UnreachableError(f"{url}: cannot connect ({reason_of(error)})") from None
                raise

    def _take(self, server: tuple[str, int]) -> http.client.HTTPConnection | None:
        with self._lock:
            idle = self._idle.get(server)
            return idle.pop() if idle else None

    def _release(
        self, server: tuple[str, int], connection: http.client.HTTPConnection, *, kept: bool
    ) -> None:
        if kept:
            with self._lock:
                # A request still in flight when the transport was closed: its connection
                # would sit in a pool nobody empties again (an open socket, leaked).
                idle = None if self._closed else self._idle.setdefault(server, [])
                if idle is not None and len(idle) < MAX_IDLE_CONNECTIONS:
                    idle.append(connection)
                    return
        connection.close()

    def _fallback_send(self, request: Request) -> Answer:
        fallback, kept = self._other()
        try:
            return fallback.send(request)
        finally:
            if not kept:
                fallback.close()

    def _other(self) -> tuple[Transport, bool]:
        """The fallback transport, built at its first use outside ``_lock`` (double-checked
        under ``_building``, so one instance is built and kept), and whether it is kept:
        one built after :meth:`close` serves its request and is closed then."""
        fallback = self._fallback
        if fallback is not None:
            return fallback, True
        with self._building:
            with self._lock:
                if self._fallback is not None:
                    return self._fallback, True
            built = self._fallback_factory()
            with self._lock:
                if self._closed:
                    return built, False
                self._fallback = built
            return built, True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle = [connection for kept in self._idle.values() for connection in kept]
            self._idle.clear()
            fallback, self._fallback = self._fallback, None
        for connection in idle:
            connection.close()
        if fallback is not None:
            fallback.close()


# What an idle connection the server has closed meanwhile raises on its next request.
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)
# Methods safe to send again on a new connection when a kept one turns out closed.
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def _proxied(host: str) -> bool:
    """An ``http_proxy``/``all_proxy`` applies to ``host`` (as urllib and httpx read the
    environment): then the fallback transport, which honours it, makes the request."""
    proxies = urllib.request.getproxies()
    return bool(proxies.get("http") or proxies.get("all")) and not urllib.request.proxy_bypass(host)


def _read_answer(response: http.client.HTTPResponse, request: Request) -> Answer:
    """The answer to a request whose status line and headers are read, its body read
    within the request's deadline and size cap; an error status's within
    :func:`error_body_bounds`, else left empty and the response marked to close (its
    connection is not kept: the rest of the body may still come)."""
    if response.status < 400:
        body = _read_body(response, request)
    else:
        deadline, max_bytes = error_body_bounds(request)
        try:
            with request_deadline(deadline):
                body = _read_body(
                    response, request._replace(deadline=deadline, max_bytes=max_bytes)
                )
        except (TrashmonError, http.client.HTTPException, OSError):
            body = b""
            response.will_close = True
    return Answer(response.status, response.reason, tuple(response.getheaders()), body)


def error_body_bounds(request: Request) -> tuple[float, int]:
    """The deadline and size cap of an error status's body."""
    deadline = min(request.deadline, time.monotonic() + ERROR_BODY_SECONDS)
    return deadline, min(request.max_bytes, ERROR_BODY_MAX_BYTES)


def _read_body(response: http.client.HTTPResponse, request: Request) -> bytes | bytearray:
    url, deadline = request.url, request.deadline
    declared = response.headers.get("Content-Length")
    length = declared_length(declared)
    if response.length == 0 and not response.chunked:  # HEAD, 204, 304 or empty
        return b""
    if length is None or response.chunked:
        return read_capped(
            iter(lambda: response.read(READ_CHUNK_BYTES), b""),
            url,
            deadline,
            request.max_bytes,
            declared,
        )
    if length > request.max_bytes:
        raise _too_large(url, request.max_bytes)
    return read_declared(response.readinto, length, url, deadline)


class TracedTransport:
    """``inner`` with one ``http.<method>`` span per request (``http.get`` for MediaMTX's
    GETs: ``url.full``, and the ``mediamtx.page`` read, -1 for a request that is not a
    page), a child of whatever span is current in the requesting thread. The monitor
    wraps its client's transport with it; the client itself knows nothing of tracing."""

    def __init__(self, inner: Transport, tracer: Tracer) -> None:
        self.inner = inner
        self._tracer = tracer

    def send(self, request: Request) -> Answer:
        attributes: dict[str, str | int] = {"url.full": request.url, "mediamtx.page": request.page}
        name = f"http.{request.method.lower()}"
        with self._tracer.start_as_current_span(name, attributes=attributes):
            return self.inner.send(request)

    def close(self) -> None:
        self.inner.close()

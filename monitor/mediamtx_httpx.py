"""The httpx implementation of :mod:`trashmonitor.transport`'s protocol, every socket
operation bounded by the request's total deadline (see
:mod:`trashmonitor.monitor.mediamtx_http`): the kept-alive transport's fallback for
``https://`` and proxied MediaMTX.

httpx applies one read timeout to every read of a request, so a server that sends a
byte just before each read would time out never trickles past it. The network backend
here clamps each connect, read and write to the time left before the deadline that the
requesting thread set (a context variable: the page threads each carry their own).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from trashmonitor.errors import (
    MalformedResponseError,
    TrashmonError,
    UnreachableError,
    detached,
)
from trashmonitor.monitor.mediamtx_http import (
    READ_CHUNK_BYTES,
    error_body_bounds,
    headers_to_send,
    read_capped,
    reason_of,
    request_deadline,
    time_left,
    timed_out,
    unsent,
)
from trashmonitor.transport import Answer, Request

SocketOption = Any


def _bounded(timeout: float | None, error: type[Exception]) -> float | None:
    try:
        left = time_left()
    except TimeoutError as spent:  # the deadline's own error: no request in it
        raise error(str(spent)) from spent
    if left is None:
        return timeout
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, bounded, local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_unix_socket(path, bounded, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def deadline_client(*, verify: bool) -> httpx.Client:
    """An httpx client whose direct connections honour each request's total deadline.

    (Connections through an ``*_proxy`` environment proxy use httpx's own transport:
    their reads are bounded by the time left at the request's start, and the body by the
    chunk checks in :meth:`HttpxTransport.send`.)
    """
    transport = httpx.HTTPTransport(verify=verify)
    pool = transport._pool
    # httpx builds its connection pool without a way to pass a network backend.
    pool._network_backend = _DeadlineBackend(pool._network_backend)
    return httpx.Client(follow_redirects=False, verify=verify, transport=transport)


class HttpxTransport:
    """Requests through one pooled httpx client (the kept-alive transport's fallback for
    ``https://`` and proxied MediaMTX, and tests' way in over ``httpx.MockTransport``).

    Without ``client``, one is built with :func:`deadline_client` and closed by
    :meth:`close`; a given client (e.g. over ``httpx.MockTransport``) stays the caller's.
    """

    def __init__(self, client: httpx.Client | None = None, *, verify: bool = False) -> None:
        self._owned = client is None
        self.client = deadline_client(verify=verify) if client is None else client

    def send(self, request: Request) -> Answer:
        """The same request and the same (:func:`~trashmonitor.errors.detached`) errors
        as :func:`~.mediamtx_http.urllib_send`."""
        try:
            return self._send(request)
        except TrashmonError as error:
            raise detached(error) from None

    def _send(self, request: Request) -> Answer:
        url, deadline = request.url, request.deadline
        headers = headers_to_send(request)
        try:
            with request_deadline(deadline):
                timeout = max(deadline - time.monotonic(), 0.001)
                with self.client.stream(
                    request.method,
                    url,
                    params=request.params,
                    headers=headers,
                    content=request.body or None,
                    timeout=timeout,
                ) as response:
                    if response.status_code < 400:
                        body = _read_body(response, request)
                    else:
                        body = _read_error_body(response, request)
                    answered = tuple(response.headers.multi_items())
                    return Answer(response.status_code, response.reason_phrase, answered, body)
        # ``from None``: an httpx error carries its request, with the Authorization
        # header (the MediaMTX password); send() detaches the error from it.
        except httpx.TimeoutException:
            raise timed_out(url) from None
        except httpx.ConnectError as error:
            raise UnreachableError(f"{url}: cannot connect ({reason_of(error)})") from None
        except httpx.RemoteProtocolError as error:
            raise MalformedResponseError(
                f"{url}: broken HTTP answer ({reason_of(error)})"
            ) from None
        except httpx.HTTPError as error:
            name = error.__class__.__name__
            raise UnreachableError(f"{url}: {name} ({reason_of(error)})") from None
        except ValueError as error:  # h11's message may quote a header's value
            raise unsent(url, error) from None

    def close(self) -> None:
        if self._owned:
            self.client.close()


def _read_body(response: httpx.Response, request: Request) -> bytes | bytearray:
    """The body as received: ``iter_raw``, no content coding undone (identity is asked
    for; a coding anyway is counted compressed, as the other transports count it, and
    checked against the Content-Length that counts those bytes)."""
    declared = response.headers.get("Content-Length")
    # An answer made of bytes (an httpx.MockTransport's) is read already, iter_raw spent.
    chunks: Iterable[bytes] = (
        (response.content,) if response.is_stream_consumed else response.iter_raw(READ_CHUNK_BYTES)
    )
    return read_capped(chunks, request.url, request.deadline, request.max_bytes, declared)


def _read_error_body(response: httpx.Response, request: Request) -> bytes | bytearray:
    """An error status's body within :func:`~.mediamtx_http.error_body_bounds`, else
    empty: the stream is then closed unread, and httpcore drops its connection."""
    deadline, max_bytes = error_body_bounds(request)
    try:
        with request_deadline(deadline):
            return _read_body(response, request._replace(deadline=deadline, max_bytes=max_bytes))
    except (TrashmonError, httpx.HTTPError):
        return b""

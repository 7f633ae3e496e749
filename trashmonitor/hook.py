"""``trashmon hook EVENT`` (also ``trashmon-hook EVENT``): MediaMTX's path hook.

MediaMTX runs the ``runOnOnline``/``runOnOffline`` (and ``runOnAvailable``/
``runOnUnavailable``, formerly ``runOnReady``/``runOnNotReady``) command directly, no
shell, with the path in ``MTX_PATH`` and its source in ``MTX_SOURCE_TYPE`` /
``MTX_SOURCE_ID``; it sends SIGINT when the state ends. This command turns that into a
tiny JSON notice POSTed to the monitor (``TRASHMON_MONITOR_URL``), authenticated with the
shared secret (``TRASHMON_HOOK_SECRET_FILE`` or ``TRASHMON_HOOK_SECRET``), and exits:

* within :data:`TIMEOUT` seconds whatever the monitor does (a total deadline, not per
  read), exit 0 with one line on stderr when the monitor is down, slow or refuses;
* exit 2 with one line for bad usage (unknown event, no secret, bad URL, no MTX_PATH).

It imports the standard library only, and little of it (no json, no urllib: ~15 ms of a
start that MediaMTX pays per event): MediaMTX may start it for many
cameras at once, and ``python -X importtime`` is printed by ``bench/hook_latency.py``.
The monitor's side is :mod:`trashmonitor.monitor.hooks`.
"""

from __future__ import annotations

# _socket and _signal, the C modules under socket and signal: the Python wrappers build
# enums at import (~5-10 ms of a hook's start), and nothing here needs them.
import _signal  # type: ignore[import-not-found]
import _socket
import os
import sys

# The package's one error tree: errors.py imports nothing at run time, and the package's
# __init__ loads it anyway.
from trashmonitor.errors import EXIT_OK, ConfigError, TrashmonError
from trashmonitor.frozen import Frozen

# Not typing.TYPE_CHECKING: importing typing costs more than the rest of the hook; mypy
# and ruff treat any constant of this name as the real one.
TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only
    from collections.abc import Callable, Mapping, Sequence
    from types import FrameType
    from typing import Any

EVENTS = ("online", "offline", "ready", "notready", "available", "unavailable")
"""The events as MediaMTX names its hooks (runOnOnline -> ``online``, ...)."""
ROUTE = "/api/hooks/mediamtx"
SECRET_HEADER = "X-Trashmon-Hook-Secret"  # noqa: S105 (a header name)
DEFAULT_MONITOR_URL = "http://127.0.0.1:9843"
TIMEOUT = 0.5
"""Seconds the whole notice may take: connect, send, read the status line."""
MAX_NOTICE_BYTES = 1024
MAX_PATH_NAME = 255
MAX_SOURCE_FIELD = 128
MAX_SITE_NAME = 64
SECRET_MIN_CHARS = 16
SECRET_MAX_CHARS = 512
SECRET_FILE_MAX_BYTES = 4096
_SECRET_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=")
USAGE = f"usage: trashmon hook {{{','.join(EVENTS)}}}  (run by MediaMTX; docs/monitor.md)"


class _OutOfTime(Exception):
    pass


def check_secret(text: str) -> str:
    """The shared secret as both sides accept it: 16-512 characters of a token's alphabet
    (it travels in a header, so no spaces or line breaks). ValueError never shows it."""
    secret = text.strip()
    if not SECRET_MIN_CHARS <= len(secret) <= SECRET_MAX_CHARS:
        raise ValueError(
            f"expected a secret of {SECRET_MIN_CHARS} to {SECRET_MAX_CHARS} characters"
        )
    if not _SECRET_CHARS.issuperset(secret):
        raise ValueError("the secret may hold only A-Z a-z 0-9 - . _ ~ + / =")
    return secret


def read_secret_file(path: str) -> str:
    """The secret in the file at ``path`` (one line); ValueError names the file only."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(SECRET_FILE_MAX_BYTES + 1)
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror}") from error
    if len(raw) > SECRET_FILE_MAX_BYTES:
        raise ValueError(f"{path} is over {SECRET_FILE_MAX_BYTES} bytes")
    try:
        return check_secret(raw.decode("utf-8", "replace"))
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error


# JSON string escapes (RFC 8259 §7): the quote, the backslash and the control characters.
_JSON_ESCAPES = {code: f"\\u{code:04x}" for code in range(0x20)} | {
    ord('"'): '\\"',
    ord("\\"): "\\\\",
}


def json_string(text: str) -> str:
    return '"' + text.translate(_JSON_ESCAPES) + '"'


def notice(event: str, environ: Mapping[str, str], site: str | None = None) -> bytes:
    """The JSON body: event, path and (cut short) source from MediaMTX's environment;
    ``site`` is the read :data:`SITE` (read from ``environ`` when not given)."""
    if event not in EVENTS:
        raise TrashmonError(f"unknown event {event[:40]!r}; {USAGE}")
    path = environ.get("MTX_PATH", "")
    if not path or len(path) > MAX_PATH_NAME:
        raise ConfigError(
            "MTX_PATH", "expected the path name MediaMTX sets (run from a runOn hook)"
        )
    fields = (
        ("event", event),
        ("path", path),
        ("source_type", environ.get("MTX_SOURCE_TYPE", "")[:MAX_SOURCE_FIELD]),
        ("source_id", environ.get("MTX_SOURCE_ID", "")[:MAX_SOURCE_FIELD]),
        # A monitor watching several MediaMTX servers needs to know which one this is.
        *((("site", site),) if (site := site or SITE.read(environ)) else ()),
    )
    document = "{" + ",".join(f"{json_string(k)}:{json_string(v)}" for k, v in fields) + "}"
    # An environment value that is not UTF-8 (surrogate escapes) must not stop the hint.
    return document.encode("utf-8", "replace")


def target(url: str) -> tuple[str, int, str]:
    """(host, port, request path) of ``TRASHMON_MONITOR_URL``: ``http://HOST[:PORT][/PREFIX]``,
    plain http only (the monitor is local to MediaMTX: the image's loopback or a pod)."""
    problem = ConfigError("TRASHMON_MONITOR_URL", "expected http://HOST[:PORT][/PREFIX]")
    scheme, separator, rest = url.partition("://")
    if scheme.lower() != "http" or not separator or any(c in rest for c in "?#@ \t\r\n"):
        raise problem
    authority, slash, prefix = rest.partition("/")
    if authority.startswith("["):
        host, bracket, port_text = authority[1:].partition("]")
        if not bracket or (port_text and not port_text.startswith(":")):
            raise problem
        port_text = port_text[1:]
    else:
        host, _, port_text = authority.partition(":")
    if not host or (port_text and not (port_text.isdigit() and 0 < int(port_text) < 65536)):
        raise problem
    route = ("/" + prefix).rstrip("/") if slash else ""
    return host, int(port_text or 80), route + ROUTE


def request_bytes(host: str, port: int, route: str, secret: str, body: bytes) -> bytes:
    host_header = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    head = (
        f"POST {route} HTTP/1.1\r\nHost: {host_header}\r\n"
        f"{SECRET_HEADER}: {secret}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def send(host: str, port: int, payload: bytes, timeout: float) -> int:
    """POST and return the status code; the total deadline is enforced by the caller's
    timer, the socket timeout only keeps each step from outliving it."""
    error: OSError = OSError(f"no address for {host}")
    # A str host goes through the idna codec (importing re, enum...: ~30 ms); an ASCII
    # name or address as bytes does not.
    name: str | bytes = host.encode("ascii") if host.isascii() else host
    for family, kind, protocol, _, address in _socket.getaddrinfo(
        name, port, 0, _socket.SOCK_STREAM
    ):
        connection = _socket.socket(family, kind, protocol)
        try:
            connection.settimeout(timeout)
            connection.connect(address)
            connection.sendall(payload)
            return _status(connection)
        except OSError as failed:
            error = failed
        finally:
            connection.close()
    raise error


def _status(connection: _socket.socket) -> int:
    """The status code of the answer's first line (the rest is not read)."""
    status_line = b""
    while b"\n" not in status_line and len(status_line) < 256:
        chunk = connection.recv(256)
        if not chunk:
            break
        status_line += chunk
    fields = status_line.split(b"\n", 1)[0].split()
    if len(fields) < 2 or not fields[1].isdigit():
        raise OSError("not an HTTP answer")
    return int(fields[1])


# --------------------------------------------------------------------------- settings


class EnvSetting(Frozen):
    """One of the hook's settings, declared once: its variable, parser, default and help.

    The row shape of :func:`trashmonitor.settings.option` without a flag (MediaMTX gives
    the hook its environment, never options: a secret in argv would show in ``ps``) and
    without importing :mod:`trashmonitor.settings` (argparse, re, dataclasses: ~70 ms of
    a start MediaMTX pays per event). :data:`SETTINGS` generates the docs table and the
    ``trashmon hook --help`` text (:mod:`trashmonitor.hook_cli`); :func:`read_settings`
    reads it once. Set but empty means unset, as for the other components' variables.
    """

    __slots__ = ("env", "parse", "default", "help", "shown_default")  # noqa: RUF023 (order of __init__)
    if TYPE_CHECKING:
        env: str
        parse: Callable[[str], object]
        default: str | None
        help: str
        shown_default: str

    def __init__(
        self,
        env: str,
        parse: Callable[[str], object],
        default: str | None,
        help: str,
        *,
        shown_default: str = "",
    ) -> None:
        shown = shown_default or ("none" if default is None else f"`{default}`")
        super().__init__(env, parse, default, help, shown)

    def read(self, environ: Mapping[str, str]) -> Any:
        """The parsed value (the parsed default when unset); ConfigError names the variable."""
        raw = environ.get(self.env) or self.default
        if raw is None:
            return None
        try:
            return self.parse(raw)
        except ValueError as error:  # the parsers' messages never quote the value
            # Not chained: the error may be about the secret (or its file's content).
            raise ConfigError(self.env, str(error)) from None


def site_name(text: str) -> str:
    """The site this MediaMTX serves, cut short (the monitor refuses an unknown one)."""
    return text[:MAX_SITE_NAME]


MONITOR_URL = EnvSetting(
    "TRASHMON_MONITOR_URL", target, DEFAULT_MONITOR_URL,
    "where to POST the notice (+ `/api/hooks/mediamtx`): `http://HOST[:PORT][/PREFIX]`, "
    "plain http (the monitor is local to MediaMTX)",
)  # fmt: skip
SECRET_FILE = EnvSetting(
    "TRASHMON_HOOK_SECRET_FILE", read_secret_file, None,
    "a file holding the shared secret (preferred); the monitor reads the same variable",
)  # fmt: skip
SECRET = EnvSetting(
    "TRASHMON_HOOK_SECRET", check_secret, None,
    f"the shared secret itself when there is no file ({SECRET_MIN_CHARS}-{SECRET_MAX_CHARS} "
    "characters of `A-Z a-z 0-9 - . _ ~ + / =`); one of the two is required",
)  # fmt: skip
SITE = EnvSetting(
    "TRASHMON_SITE", site_name, None,
    f"the site this MediaMTX serves, added to the notice as `site` (first {MAX_SITE_NAME} "
    "characters; see Several sites)",
    shown_default="none (one site)",
)  # fmt: skip
SETTINGS = (MONITOR_URL, SECRET_FILE, SECRET, SITE)
"""The hook's declared settings, in the order they are read (the file before the secret)."""


class HookSettings(Frozen):
    """The hook's settings, read once by :func:`read_settings`: host, port, route, secret,
    site."""

    __slots__ = ("host", "port", "route", "secret", "site")

    def __repr__(self) -> str:  # never the secret
        return f"HookSettings({self.host!r}, {self.port}, {self.route!r}, site={self.site!r})"

    if TYPE_CHECKING:
        host: str
        port: int
        route: str
        secret: str
        site: str | None


def read_settings(environ: Mapping[str, str]) -> HookSettings:
    """Every setting of :data:`SETTINGS`, read once; the first bad one is a ConfigError
    naming its variable (exit 2)."""
    secret = SECRET_FILE.read(environ) or SECRET.read(environ)
    if secret is None:
        raise ConfigError(SECRET_FILE.env, f"not set (nor {SECRET.env})")
    host, port, route = MONITOR_URL.read(environ)
    return HookSettings(host, port, route, secret, SITE.read(environ))


def _out_of_time(signum: int, frame: FrameType | None) -> None:
    raise _OutOfTime


def run(event: str, environ: Mapping[str, str], timeout: float = TIMEOUT) -> int:
    """One notice; returns the exit code. Every problem is one line on stderr."""
    try:
        body = notice(event, environ)
        settings = read_settings(environ)
    except TrashmonError as error:
        _say(error.message)
        return error.exit_code
    host, port = settings.host, settings.port
    payload = request_bytes(host, port, settings.route, settings.secret, body)
    # A total deadline: socket timeouts apply per call, and DNS resolution has none.
    previous = _signal.signal(_signal.SIGALRM, _out_of_time)
    _signal.setitimer(_signal.ITIMER_REAL, timeout)
    try:
        status = send(host, port, payload, timeout)
    except _OutOfTime:
        _say(f"the monitor at {host}:{port} did not answer within {timeout:g} s (hint dropped)")
        return EXIT_OK
    except OSError as error:
        reason = error.strerror or str(error) or error.__class__.__name__
        _say(f"the monitor at {host}:{port} is unreachable: {reason} (hint dropped)")
        return EXIT_OK
    finally:
        _signal.setitimer(_signal.ITIMER_REAL, 0)
        _signal.signal(_signal.SIGALRM, previous)
    if not 200 <= status < 300:
        _say(f"the monitor at {host}:{port} answered HTTP {status} (hint dropped)")
    return EXIT_OK


def _say(line: str) -> None:
    print(f"trashmon hook: {line}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``trashmon-hook EVENT``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0] in ("-h", "--help"):
        _say(USAGE)
        return TrashmonError.exit_code
    try:
        return run(args[0], os.environ)
    except KeyboardInterrupt:  # MediaMTX's SIGINT: the state already ended
        return EXIT_OK

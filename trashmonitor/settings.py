"""Reading settings from flags, environment variables and env files.

One rule everywhere: a flag overrides the environment, the environment overrides the
default, and an invalid value raises :class:`ConfigError` naming the setting the user
typed (the flag or the variable), so the CLI prints e.g.
``TRASHMON_INTERVAL: expected a duration in seconds, got 'fast'``.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from trashmonitor.errors import ConfigError

T = TypeVar("T")

_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")
MAX_ENV_FILE_BYTES = 1024 * 1024
"""A settings file is a few hundred bytes; this bound stops /dev/zero or a log file
given by mistake from being read into memory."""


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a systemd ``EnvironmentFile``-style file (``KEY=value``, ``#`` comments).

    Values may be wrapped in single or double quotes. Lines that are neither blank,
    comments nor assignments are an error naming the line, not silently skipped; so is a
    NUL byte (no process argument can carry one) and a file above 1 MiB.
    """
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_ENV_FILE_BYTES + 1)
        if len(data) > MAX_ENV_FILE_BYTES:
            raise ConfigError(str(path), "env file is larger than 1 MiB")
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), "env file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(str(path), f"cannot read env file ({error.__class__.__name__})") from None
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith(("#", ";")):
            continue
        if "\x00" in line:
            raise ConfigError(f"{path}:{number}", "contains a NUL byte")
        match = _ENV_LINE.match(line)
        if match is None:
            raise ConfigError(f"{path}:{number}", "expected KEY=value")
        key, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


@dataclass(frozen=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_host_port(text: str) -> HostPort:
    """``host:port``, ``[v6]:port`` or ``:port`` (meaning loopback, never all interfaces)."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError("expected host:port")
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise ValueError("port must be 0-65535")
    host = host.strip("[]") or "127.0.0.1"
    return HostPort(host, port)


# Every duration and count has bounds, so no setting can overflow a timer
# (``Event.wait(1e300)`` raises), spin (``1e-300`` s between polls) or hand a
# subprocess an absurd number. A setting with tighter needs declares its own range
# where it is read, through :func:`seconds_between` / :func:`count_between`.
MIN_SECONDS = 0.001
MAX_SECONDS = 30 * 86400.0
MAX_COUNT = 1_000_000_000
_SHOWN_VALUE_CHARS = 40


def parse_seconds(
    text: str, *, minimum: float = MIN_SECONDS, maximum: float = MAX_SECONDS
) -> float:
    """A duration in seconds within [minimum, maximum]: ``2``, ``0.5``, ``1.5s``, ``250ms``."""
    cleaned = text.strip().lower()
    scale = 1.0
    if cleaned.endswith("ms"):
        cleaned, scale = cleaned[:-2], 0.001
    elif cleaned.endswith("s"):
        cleaned = cleaned[:-1]
    try:
        value = float(cleaned) * scale
    except ValueError:
        raise ValueError("expected a duration in seconds") from None
    # NaN fails every comparison, so it lands here too.
    if not minimum <= value <= maximum:
        raise ValueError(f"expected a duration of {minimum:g} to {maximum:g} seconds")
    return value


def seconds_between(minimum: float, maximum: float) -> Callable[[str], float]:
    """A :func:`parse_seconds` with this setting's own range, for ``flag_or_env(parse=…)``."""

    def parse(text: str) -> float:
        return parse_seconds(text, minimum=minimum, maximum=maximum)

    return parse


def parse_positive_int(text: str, *, minimum: int = 1, maximum: int = MAX_COUNT) -> int:
    """A whole number within [minimum, maximum] (default 1 to a billion)."""
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError("expected a whole number") from None
    if not minimum <= value <= maximum:
        raise ValueError(f"expected a whole number from {minimum} to {maximum}")
    return value


def count_between(minimum: int, maximum: int) -> Callable[[str], int]:
    """A :func:`parse_positive_int` with this setting's own range."""

    def parse(text: str) -> int:
        return parse_positive_int(text, minimum=minimum, maximum=maximum)

    return parse


def parse_http_url(text: str) -> str:
    """An ``http(s)://host[:port][/prefix]`` URL, returned without a trailing slash."""
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("expected an http:// or https:// URL")
    try:
        _ = parts.port
    except ValueError:
        raise ValueError("URL has an invalid port") from None
    return text.strip().rstrip("/")


def parse_name_list(text: str) -> frozenset[str]:
    """Comma- or space-separated names; empty entries ignored."""
    return frozenset(name for name in re.split(r"[,\s]+", text.strip()) if name)


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        raise ValueError("expected an IP address") from None


def flag_or_env(
    args: argparse.Namespace,
    *,
    attribute: str,
    flag: str,
    env_var: str,
    parse: Callable[[str], T],
    default: T,
    environ: Mapping[str, str] | None = None,
) -> T:
    """Resolve one setting: flag (if given) > environment variable > default.

    ``attribute`` is the argparse destination; the flag must default to ``None`` so an
    absent flag can be told from an explicit one. Parse errors name what the user set.
    """
    env = os.environ if environ is None else environ
    raw: object = getattr(args, attribute, None)
    source = flag
    if raw is None:
        if env_var not in env:
            return default
        raw, source = env[env_var], env_var
    if not isinstance(raw, str):
        return raw  # type: ignore[return-value]  # argparse already converted it
    return parse_setting(source, raw, parse)


def parse_setting(name: str, raw: str, parse: Callable[[str], T]) -> T:
    """Apply ``parse`` and turn its ValueError into a ConfigError naming ``name``."""
    try:
        return parse(raw)
    except ValueError as error:
        raise ConfigError(name, f"{error}, got {_shown(raw)}") from None


def _shown(raw: str) -> str:
    """The value as typed, quoted and cut short: a 10 MB value must not make a 10 MB line."""
    if len(raw) <= _SHOWN_VALUE_CHARS:
        return repr(raw)
    return f"{raw[:_SHOWN_VALUE_CHARS]!r}… ({len(raw)} characters)"

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


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a systemd ``EnvironmentFile``-style file (``KEY=value``, ``#`` comments).

    Values may be wrapped in single or double quotes. Lines that are neither blank,
    comments nor assignments are an error naming the line, not silently skipped.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), "env file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(str(path), f"cannot read env file ({error.__class__.__name__})") from None
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith(("#", ";")):
            continue
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


def parse_seconds(text: str) -> float:
    """A positive duration in seconds: ``2``, ``0.5``, ``1.5s``, ``250ms``."""
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
    if not value > 0 or value == float("inf"):
        raise ValueError("expected a positive duration in seconds")
    return value


def parse_positive_int(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError("expected a whole number") from None
    if value <= 0:
        raise ValueError("expected a whole number above 0")
    return value


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
        raise ConfigError(name, f"{error}, got {raw!r}") from None

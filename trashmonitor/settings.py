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
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar, cast
from urllib.parse import urlsplit

from trashmonitor.errors import ConfigError
from trashmonitor.frozen import Frozen

if TYPE_CHECKING:  # pathlib at run time only where a path is parsed: ~1.5 ms of start-up
    from pathlib import Path

T = TypeVar("T")
Value_co = TypeVar("Value_co", covariant=True)
Number = TypeVar("Number", int, float)

_ENV_LINE = r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$"
"""Compiled by the first env file read (``re``'s cache), not by every command's start."""
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
    except FileNotFoundError as error:
        raise ConfigError(str(path), "env file not found") from error
    except OSError as error:  # a failed open or read holds the path, never the contents
        raise ConfigError(str(path), f"cannot read env file ({type(error).__name__})") from error
    too_big = len(data) > MAX_ENV_FILE_BYTES
    text = None if too_big else _utf8_or_none(data)
    # The bytes (the seed's secrets) are no local of this frame when an error is raised
    # below; the decode error that holds them is no error's __context__ either.
    del data
    if text is None:
        problem = "env file is larger than 1 MiB" if too_big else "env file is not UTF-8 text"
        raise ConfigError(str(path), problem)
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith(("#", ";")):
            continue
        if "\x00" in line:
            raise ConfigError(f"{path}:{number}", "contains a NUL byte")
        match = re.match(_ENV_LINE, line)
        if match is None:
            raise ConfigError(f"{path}:{number}", "expected KEY=value")
        key, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def _utf8_or_none(data: bytes) -> str | None:
    """``data`` decoded, or None: the decode error (it holds the bytes) ends here."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


class HostPort(NamedTuple):
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


def number_within(
    text: str,
    convert: Callable[[str], Number],
    minimum: Number,
    maximum: Number,
    *,
    expected: str,
    out_of_range: str,
) -> Number:
    """``convert(text)`` within [minimum, maximum]; a ValueError saying ``expected`` when it
    is no number, ``out_of_range`` when it is outside (NaN too: it fails every comparison)."""
    try:
        value = convert(text)
    except ValueError:
        # ``from None`` keeps the converter's error (it echoes the value, which
        # parse_setting quotes itself) out of the printout; it stays __context__, and
        # parse_setting's ConfigError detaches it.
        raise ValueError(expected) from None
    if not minimum <= value <= maximum:
        raise ValueError(out_of_range)
    return value


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
    return number_within(
        cleaned, lambda number: float(number) * scale, minimum, maximum,
        expected="expected a duration in seconds",
        out_of_range=f"expected a duration of {minimum:g} to {maximum:g} seconds",
    )  # fmt: skip


def seconds_between(minimum: float, maximum: float) -> Callable[[str], float]:
    """A :func:`parse_seconds` with this setting's own range, for ``flag_or_env(parse=…)``."""
    return partial(parse_seconds, minimum=minimum, maximum=maximum)


def parse_positive_int(text: str, *, minimum: int = 1, maximum: int = MAX_COUNT) -> int:
    """A whole number within [minimum, maximum] (default 1 to a billion)."""
    return number_within(
        text.strip(), int, minimum, maximum, expected="expected a whole number",
        out_of_range=f"expected a whole number from {minimum} to {maximum}",
    )  # fmt: skip


def count_between(minimum: int, maximum: int) -> Callable[[str], int]:
    """A :func:`parse_positive_int` with this setting's own range."""
    return partial(parse_positive_int, minimum=minimum, maximum=maximum)


def parse_http_url(text: str) -> str:
    """An ``http(s)://host[:port][/prefix]`` URL, returned without a trailing slash."""
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("expected an http:// or https:// URL")
    try:
        _ = parts.port
    # ``from None`` keeps urlsplit's error out of the printout: a password with an
    # unencoded / # or ? puts part of it where urlsplit looks for the port, and the error
    # quotes that text. It stays __context__; parse_setting's ConfigError detaches it.
    except ValueError:
        raise ValueError("URL has an invalid port") from None
    return text.strip().rstrip("/")


def parse_name_list(text: str) -> frozenset[str]:
    """Comma- or space-separated names; empty entries ignored."""
    return frozenset(name for name in re.split(r"[,\s]+", text.strip()) if name)


def file_path(text: str) -> Path:
    """A path, ``~`` expanded."""
    from pathlib import Path

    try:
        return Path(text).expanduser()
    except RuntimeError as error:  # ~user of no such user: pathlib cannot find the home directory
        raise ValueError("no such home directory") from error


def existing_file(text: str) -> Path:
    """A path to a file that exists (a certificate, a key, a credentials file)."""
    path = file_path(text)
    if not path.is_file():
        raise ValueError("file not found")
    return path


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        # ``from None``: the printout leaves out the error echoing the value (which
        # parse_setting quotes itself); it stays __context__, which parse_setting detaches.
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
    hide: Callable[[str], str] | None = None,
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
    if isinstance(raw, list):  # a repeatable flag: one value a line, parsed together
        raw = "\n".join(str(item) for item in raw)
    if not isinstance(raw, str):
        return raw  # type: ignore[return-value]  # argparse already converted it
    return parse_setting(source, raw, parse, hide=hide)


def parse_setting(
    name: str, raw: str, parse: Callable[[str], T], *, hide: Callable[[str], str] | None = None
) -> T:
    """Apply ``parse`` and turn its ValueError into a ConfigError naming ``name``; the
    value quoted goes through ``hide`` first (a URL may carry a password)."""
    try:
        return parse(raw)
    except ValueError as error:
        problem = str(error)
    # Raised after the except block, so the parser's error (and its __context__, which
    # may echo ``raw`` unhidden: a URL's password) is no part of the ConfigError's chain;
    # ``from None`` would only hide it from the printout.
    shown = _shown(raw if hide is None else hide(raw))
    raise ConfigError(name, f"{problem}, got {shown}")


def _shown(raw: str) -> str:
    """The value as typed, quoted and cut short: a 10 MB value must not make a 10 MB line."""
    if len(raw) <= _SHOWN_VALUE_CHARS:
        return repr(raw)
    return f"{raw[:_SHOWN_VALUE_CHARS]!r}… ({len(raw)} characters)"


def parse_ratio(text: str) -> float:
    """A number from 0 to 1 (a fraction such as the low-fps ratio)."""
    expected = "expected a number between 0 and 1"
    return number_within(text.strip(), float, 0.0, 1.0, expected=expected, out_of_range=expected)


# --------------------------------------------------------------------------- declared


class Setting(Frozen, Generic[Value_co]):
    """One setting, declared once: where a person sets it, how it is read, what it means.

    A component lists its settings in one :class:`SettingsTable`; the table, not the
    command, generates the argparse options, the environment lookup, the ``--help``
    text and the docs table, so none of them can drift from the others. Settings
    compare by identity: two commands may share a flag with different meanings (the
    probe's total ``--timeout`` and the monitor's per-request one are two settings).
    Tables write their rows with :func:`option` and :func:`switch`.
    """

    # Frozen, not a dataclass: the probe starts with this module, and importing
    # dataclasses loads inspect, ast, dis and tokenize (~10 ms). Not a NamedTuple:
    # settings are dict keys compared by identity.
    __slots__ = (  # noqa: RUF023 (order of __init__)
        "flag", "parse", "default", "help", "env", "metavar", "shown_default", "commands",
        "note", "switch", "hide", "repeat",
    )  # fmt: skip
    flag: str
    parse: Callable[[str], Value_co]
    default: Value_co
    help: str
    env: str | None
    metavar: str | None
    shown_default: str | None
    """How --help and the docs show the default when it is not a plain value (Markdown:
    backticks are dropped in --help)."""
    commands: tuple[str, ...]
    """The commands that take the setting; empty means every command of the table."""
    note: str
    """What the docs' "used by" column adds after the commands."""
    switch: bool
    """A flag without a value (``--json``): True when given, ``default`` otherwise."""
    hide: Callable[[str], str] | None
    """What an error shows of a bad value instead of the value (it may hold a password)."""
    repeat: bool
    """The flag may be given several times: its values reach ``parse`` one a line."""

    def __init__(
        self,
        flag: str,
        parse: Callable[[str], Value_co],
        default: Value_co,
        help: str,
        *,
        env: str | None = None,
        metavar: str | None = None,
        shown_default: str | None = None,
        commands: tuple[str, ...] = (),
        note: str = "",
        switch: bool = False,
        hide: Callable[[str], str] | None = None,
        repeat: bool = False,
    ) -> None:
        super().__init__(
            flag, parse, default, help, env, metavar, shown_default, commands, note, switch,
            hide, repeat,
        )  # fmt: skip

    def __repr__(self) -> str:
        return f"Setting({self.flag!r}, env={self.env!r})"

    @property
    def attribute(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    def default_text(self) -> str:
        if self.shown_default is not None:
            return self.shown_default
        return f"`{_plain(self.default)}`"

    def help_text(self) -> str:
        where = [f"env {self.env}"] if self.env else []
        where.append(f"default {self.default_text().replace('`', '')}")
        return f"{self.help} ({'; '.join(where)})"


def option(
    usage: str,
    env: str | None,
    parse: Callable[[str], T],
    default: T,
    help: str,
    *,
    commands: tuple[str, ...] = (),
    shown_default: str | None = None,
    note: str = "",
    hide: Callable[[str], str] | None = None,
    repeat: bool = False,
) -> Setting[T]:
    """The row form every settings table is written in: ``usage`` as ``--help`` shows it
    (``"--interval S"``: the flag, then its metavar), the environment variable (None:
    flag only), the parser, the default and the help; the rest only where it applies."""
    flag, _, metavar = usage.partition(" ")
    return Setting(
        flag,
        parse,
        default,
        help,
        env=env,
        metavar=metavar or None,
        shown_default=shown_default,
        commands=commands,
        note=note,
        hide=hide,
        repeat=repeat,
    )


def switch(
    flag: str, help: str, *, commands: tuple[str, ...] = (), note: str = ""
) -> Setting[bool]:
    """A flag without a value and without an environment variable: off unless given."""
    return Setting(
        flag,
        takes_no_value,
        False,
        help,
        switch=True,
        shown_default="off",
        commands=commands,
        note=note,
    )


def takes_no_value(text: str) -> bool:
    raise ValueError("takes no value")  # a switch has no environment variable to parse


def _plain(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class ReadSettings(Frozen):
    """Every setting of one command, read once (flag > environment > default)."""

    # Frozen, not a NamedTuple: its [] reads a setting, not a position.
    __slots__ = ("values", "sources")  # noqa: RUF023 (order of __init__)
    values: Mapping[Setting[Any], object]
    sources: Mapping[Setting[Any], str]
    """The flag or variable each value came from; absent for a default."""

    def __init__(
        self, values: Mapping[Setting[Any], object], sources: Mapping[Setting[Any], str]
    ) -> None:
        super().__init__(values, sources)

    def __getitem__(self, setting: Setting[T]) -> T:
        return cast(T, self.values[setting])  # what the setting's own parse returned

    def source(self, setting: Setting[Any]) -> str:
        """What to name in an error about ``setting``: what the user set, else the flag."""
        return self.sources.get(setting, setting.flag)


class SettingsTable:
    """The declared settings of one component (see :class:`Setting`)."""

    def __init__(self, component: str, settings: Iterable[Setting[Any]]) -> None:
        self.component = component
        self.settings: tuple[Setting[Any], ...] = tuple(settings)

    def of(self, command: str) -> tuple[Setting[Any], ...]:
        return tuple(s for s in self.settings if not s.commands or command in s.commands)

    def add_arguments(self, parser: argparse.ArgumentParser, command: str) -> None:
        """The command's options; each defaults to None so an absent flag is told apart."""
        for setting in self.of(command):
            if setting.switch:
                parser.add_argument(
                    setting.flag, action="store_true", default=None, help=setting.help
                )
            else:
                parser.add_argument(
                    setting.flag,
                    metavar=setting.metavar,
                    help=setting.help_text(),
                    action="append" if setting.repeat else "store",
                )

    def read(
        self,
        args: argparse.Namespace,
        command: str,
        environ: Mapping[str, str] | None = None,
    ) -> ReadSettings:
        """Resolve every setting of ``command``; the first bad value raises ConfigError."""
        env = os.environ if environ is None else environ
        values: dict[Setting[Any], object] = {}
        sources: dict[Setting[Any], str] = {}
        for setting in self.of(command):
            values[setting] = flag_or_env(
                args,
                attribute=setting.attribute,
                flag=setting.flag,
                env_var=setting.env or "",
                parse=setting.parse,
                default=setting.default,
                environ=env if setting.env else {},
                hide=setting.hide,
            )
            if getattr(args, setting.attribute, None) is not None:
                sources[setting] = setting.flag
            elif setting.env and setting.env in env:
                sources[setting] = setting.env
        return ReadSettings(MappingProxyType(values), MappingProxyType(sources))

    def markdown(self, *, meaning: bool = False) -> str:
        """The docs table: one row per setting, in declaration order; ``meaning`` adds
        each setting's help as a last column."""
        header = "| flag | environment | default | used by |" + (" meaning |" if meaning else "")
        rows = [header, "| --- " * header.count(" |") + "|"]
        for setting in self.settings:
            flag = setting.flag + (f" {setting.metavar}" if setting.metavar else "")
            used_by = ", ".join(setting.commands) + (f": {setting.note}" if setting.note else "")
            env = f"`{setting.env}`" if setting.env else "—"
            flag_cell = f"`{flag}`".replace("|", "\\|")
            cells = [flag_cell, env, setting.default_text(), used_by]
            if meaning:
                cells.append(setting.help.replace("|", "\\|"))
            rows.append("| " + " | ".join(cells) + " |")
        return "\n".join(rows) + "\n"

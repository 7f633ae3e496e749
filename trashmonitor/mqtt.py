"""MQTT over mutual TLS, shared by the capture agent and the monitor.

Topic layout (docs/contracts.md, "MQTT topics"), under ``trashcam/<id>/``:
``status`` (retained online/offline, Last Will offline), ``state`` (retained JSON),
``control/settings``, ``control/action`` and ``events``.

The client factory follows paho-mqtt 2.x: ``connect_async`` + ``loop_start`` so a broker
that is down at start-up is retried in the background (``reconnect_delay_set``) instead
of failing the daemon, and the Last Will is registered before the first connect.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import logging
import re
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from trashmonitor.errors import ConfigError
from trashmonitor.settings import (
    ReadSettings,
    Setting,
    SettingsTable,
    existing_file,
    file_path,
    option,
    parse_setting,
    seconds_between,
)

log = logging.getLogger(__name__)

TOPIC_ROOT = "trashcam"
ONLINE = "online"
OFFLINE = "offline"
DEFAULT_PORT = 8883
DEFAULT_KEEPALIVE = 10.0
RECONNECT_MIN_DELAY = 1
RECONNECT_MAX_DELAY = 30

MAX_MESSAGE_BYTES = 8192
"""The largest payload a trashmonitor client publishes. The agent's events are the
biggest (an 80-character echo of the request, a sentence, a file path) and are clipped
to fit; its state is < 1 KB and a control request is read only up to 512 bytes."""
MAX_PACKET_BYTES = MAX_MESSAGE_BYTES + 256
"""The broker's ``max_packet_size``: a message of MAX_MESSAGE_BYTES plus the PUBLISH
header (fixed header <= 5 B, topic <= 2 + 91 B: ``trashcam/<64-char id>/control/settings``,
packet id 2 B, MQTT 5 properties), rounded up. Anything bigger disconnects its sender."""

# An MQTT identity is a topic level and a certificate CN: no wildcards, no separators.
_IDENTITY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def validate_identity(setting: str, value: str) -> str:
    if not _IDENTITY.match(value):
        raise ConfigError(
            setting,
            f"{value!r} is not a valid id (letters, digits, '.', '_', '-'; at most 64)",
        )
    return value


def is_identity(value: str) -> bool:
    return bool(_IDENTITY.match(value))


class _Leaf:
    """A topic under one camera's ``trashcam/<id>``, read as an attribute of
    :class:`CameraTopics`."""

    def __init__(self, leaf: str) -> None:
        self.leaf = leaf

    def __get__(self, topics: CameraTopics, owner: object = None) -> str:
        return f"{topics.base}/{self.leaf}"


@dataclass(frozen=True)
class CameraTopics:
    camera: str

    @property
    def base(self) -> str:
        return f"{TOPIC_ROOT}/{self.camera}"

    status = _Leaf("status")
    state = _Leaf("state")
    settings = _Leaf("control/settings")
    action = _Leaf("control/action")
    control = _Leaf("control/#")
    """Subscription filter for both control topics."""
    events = _Leaf("events")
    controls = _Leaf("controls")
    """The agent's retained control table, for control panels."""
    camera_image = _Leaf("camera")
    """The agent's retained JPEG thumbnail."""


ALL_STATUS = f"{TOPIC_ROOT}/+/status"
ALL_STATE = f"{TOPIC_ROOT}/+/state"
ALL_CONTROLS = f"{TOPIC_ROOT}/+/controls"
ALL_CAMERA_IMAGES = f"{TOPIC_ROOT}/+/camera"
ALL_EVENTS = f"{TOPIC_ROOT}/+/events"


def split_topic(topic: str) -> tuple[str, str] | None:
    """``trashcam/<id>/<rest>`` -> (id, rest); None for anything else."""
    parts = topic.split("/", 2)
    if len(parts) != 3 or parts[0] != TOPIC_ROOT or not is_identity(parts[1]):
        return None
    return parts[1], parts[2]


# A DNS name: dot-separated labels of letters, digits and inner hyphens (RFC 1123).
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)
MAX_TARGET_CHARS = 300
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")


def scrape_target(host: str, port: int) -> str | None:
    """``host:port`` as a Prometheus target (``[v6]:port``), or None when no other host
    could scrape it: a loopback or wildcard address (0.0.0.0/8), link-local, multicast or
    reserved, port 0, or not an IP address or DNS name at all.

    The agent announces its ``METRICS_ADDR`` through this, and the monitor checks what it
    hears through it again (the state topic is outside input), so a hostile agent cannot
    point Prometheus at the monitor host's own loopback services.
    """
    if not 0 < port <= 65535:
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        name = host.rstrip(".").lower()
        if not _HOSTNAME.match(host) or name == "localhost" or name.endswith(".localhost"):
            return None
        if _numeric_ipv4(name):
            return None  # "127.1", "2130706433": the resolver reads these as addresses
        return f"{host}:{port}"
    # ::ffff:127.0.0.1 is loopback too (Python 3.11 judges only the IPv6 form).
    mapped = getattr(address, "ipv4_mapped", None)
    for candidate in (address, mapped) if mapped is not None else (address,):
        if (
            candidate.is_loopback
            or candidate.is_unspecified
            or candidate.is_link_local
            or candidate.is_multicast
            or candidate.is_reserved  # 240/4, 255.255.255.255
            or candidate in _THIS_NETWORK  # 0.x.x.x: "this host" on Linux, like 0.0.0.0
        ):
            return None
    return f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"


def _numeric_ipv4(name: str) -> bool:
    try:
        socket.inet_aton(name)
    except OSError:
        return False
    return True


def parse_scrape_target(text: object) -> str | None:
    """An announced ``host:port`` / ``[v6]:port`` checked by :func:`scrape_target`;
    None for anything else (wrong type, too long, no port, bare IPv6)."""
    if not isinstance(text, str) or len(text) > MAX_TARGET_CHARS:
        return None
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isascii() or not port_text.isdigit() or len(port_text) > 5:
        return None
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if ":" not in host:
            return None
    elif ":" in host:
        return None  # IPv6 without brackets: ambiguous with the port
    return scrape_target(host, int(port_text))


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int

    def __str__(self) -> str:
        return f"mqtts://{self.host}:{self.port}"


def parse_mqtt_url(text: str) -> BrokerAddress:
    """``mqtts://host[:port]``; plain ``mqtt://`` is refused (mutual TLS is the point)."""
    parts = urlsplit(text.strip())
    if parts.scheme != "mqtts":
        raise ValueError("expected an mqtts://host:port URL (plain mqtt:// is not supported)")
    if not parts.hostname:
        raise ValueError("the URL has no host")
    if parts.username or parts.password:
        raise ValueError("put no credentials in the URL: the client certificate is the login")
    try:
        port: int | None = parts.port or DEFAULT_PORT
    except ValueError:
        port = None
    # Raised after the except block: a password with an unencoded / # or ? puts part of
    # it where urlsplit looks for the port (and past the credentials check above), and
    # urlsplit's error quoting it is no __context__ (``from None`` only hides it).
    if port is None:
        raise ValueError("the URL has an invalid port")
    return BrokerAddress(parts.hostname, port)


@dataclass(frozen=True)
class MqttSettings:
    broker: BrokerAddress
    ca: Path
    cert: Path
    key: Path
    keepalive: float = DEFAULT_KEEPALIVE


@dataclass(frozen=True)
class SettingNames:
    """Env variable names for one component: agent ``MQTT_*``, monitor ``TRASHMON_MQTT_*``."""

    prefix: str

    def env(self, suffix: str) -> str:
        return f"{self.prefix}MQTT_{suffix}"


AGENT_SETTINGS = SettingNames("")
MONITOR_SETTINGS = SettingNames("TRASHMON_")


@dataclass(frozen=True)
class MqttDeclarations:
    """The MQTT settings of one component, declared for its
    :class:`~trashmonitor.settings.SettingsTable` (env names from :class:`SettingNames`)."""

    url: Setting[BrokerAddress | None]
    ca: Setting[Path | None]
    cert: Setting[Path | None]
    key: Setting[Path | None]
    keepalive: Setting[float]

    @property
    def all(self) -> tuple[Setting[Any], ...]:
        return (self.url, self.ca, self.cert, self.key, self.keepalive)

    def resolve(self, read: ReadSettings) -> MqttSettings | None:
        """The MQTT settings, or None when no broker URL is configured (MQTT is optional)."""
        broker = read[self.url]
        if broker is None:
            return None

        def path(setting: Setting[Path | None]) -> Path:
            value = read[setting]
            if value is None:
                problem = "required with an MQTT URL (mutual TLS needs CA, cert and key)"
                raise ConfigError(setting.env or setting.flag, problem)
            # Checked here, not when read: without an MQTT URL the files are not used.
            return parse_setting(read.source(setting), str(value), existing_file)

        return MqttSettings(
            broker=broker,
            ca=path(self.ca),
            cert=path(self.cert),
            key=path(self.key),
            keepalive=read[self.keepalive],
        )


def mqtt_declarations(names: SettingNames, commands: tuple[str, ...] = ()) -> MqttDeclarations:
    def pem(suffix: str, what: str) -> Setting[Path | None]:
        return option(f"--mqtt-{suffix.lower()} PATH", names.env(suffix), file_path, None, what,
                      shown_default="none", commands=commands)  # fmt: skip

    return MqttDeclarations(
        url=option(
            "--mqtt-url URL", names.env("URL"), parse_mqtt_url, None,
            "broker, e.g. mqtts://broker:8883", shown_default="none (no MQTT)", commands=commands,
        ),
        ca=pem("CA", "CA chain PEM"),
        cert=pem("CERT", "client certificate PEM"),
        key=pem("KEY", "client key PEM"),
        keepalive=option(
            # MQTT's keepalive field is 16 bits: above 65535 paho's thread dies silently.
            "--mqtt-keepalive S", names.env("KEEPALIVE"), seconds_between(1, 65535),
            DEFAULT_KEEPALIVE, "keepalive seconds (1-65535)", commands=commands,
        ),
    )  # fmt: skip


def add_mqtt_arguments(parser: argparse.ArgumentParser, names: SettingNames) -> None:
    SettingsTable("mqtt", mqtt_declarations(names).all).add_arguments(parser, "")


def mqtt_settings(
    args: argparse.Namespace, names: SettingNames, environ: Mapping[str, str] | None = None
) -> MqttSettings | None:
    """The MQTT settings, or None when no broker URL is configured (MQTT is optional)."""
    declared = mqtt_declarations(names)
    return declared.resolve(SettingsTable("mqtt", declared.all).read(args, "", environ))


def tls_context(settings: MqttSettings) -> ssl.SSLContext:
    """Verify the broker against our CA chain and present our certificate (TLS >= 1.2)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(settings.ca))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(settings.cert), str(settings.key))
    except ssl.SSLError as error:
        raise ConfigError(
            f"{settings.cert.name}/{settings.key.name}",
            "the client certificate and key do not load or do not match",
        ) from error
    return context


def make_client(
    settings: MqttSettings,
    client_id: str,
    *,
    will: tuple[str, str] | None = None,
) -> mqtt.Client:
    """A configured, not yet connected client; call :func:`start` to connect in the background."""
    try:
        context = tls_context(settings)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError("MQTT TLS files", f"cannot load ({error.__class__.__name__})") from error
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    client.tls_set_context(context)
    if will is not None:
        client.will_set(will[0], will[1], qos=1, retain=True)
    client.reconnect_delay_set(RECONNECT_MIN_DELAY, RECONNECT_MAX_DELAY)
    client.on_socket_open = _no_delay
    return client


def _no_delay(_client: mqtt.Client, _userdata: object, sock: object) -> None:
    """paho leaves Nagle on: small control messages then wait ~40 ms for delayed ACKs."""
    setsockopt = getattr(sock, "setsockopt", None)
    if setsockopt is not None:
        with contextlib.suppress(OSError):
            setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def on_connection(
    client: mqtt.Client,
    who: str,
    *,
    connected: Callable[[mqtt.Client], None],
    lost: Callable[[Any], None],
) -> None:
    """Wire paho's connect and disconnect callbacks, the same for every client here.

    A refused connection is logged naming ``who`` and otherwise left to paho, which
    retries with backoff; ``connected(client)`` runs on each accepted (re)connect (the
    place to subscribe: a new session has none), ``lost(reason)`` on each disconnect.
    Both run on paho's network thread: never block there.
    """

    def on_connect(
        client: mqtt.Client, _userdata: object, _flags: object, reason: Any, _props: object
    ) -> None:
        if reason.is_failure:
            log.warning("MQTT broker refused %s: %s", who, reason)
            return
        connected(client)

    def on_disconnect(
        _client: mqtt.Client, _userdata: object, _flags: object, reason: Any, _props: object
    ) -> None:
        lost(reason)

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect


def start(client: mqtt.Client, settings: MqttSettings) -> None:
    """Connect asynchronously; paho's network thread keeps reconnecting with backoff."""
    client.connect_async(
        settings.broker.host, settings.broker.port, keepalive=max(1, round(settings.keepalive))
    )
    client.loop_start()

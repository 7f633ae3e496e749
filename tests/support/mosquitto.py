"""A real mosquitto on a free loopback port with a `trashmon pki` config, and MQTT clients
that record what they receive (tests and bench/ use them; stopped by PID)."""

from __future__ import annotations

import contextlib
import getpass
import queue
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from support.processes import require_binary, stop_process, wait_until
from trashmonitor.mqtt import BrokerAddress, MqttSettings, make_client
from trashmonitor.pki import CaPassphrase, Layout, PkiRequest, create_pki
from trashmonitor.settings import parse_ip

OBSERVERS = ("monitor", "watcher")  # read-only: the monitor daemon, and a test's own eyes
CONTROLLERS = ("controller", "operator")  # identities that may send control requests


def make_pki(
    directory: Path,
    port: int,
    cameras: tuple[str, ...] = ("camA", "camB"),
    broker_user: str | None = "",
    seed_camera: str | None = None,
    *,
    monitors: tuple[str, ...] = OBSERVERS,
) -> Layout:
    """A test PKI (CA keys unencrypted, as the tests opt out); mosquitto runs as the
    current user unless ``broker_user`` says otherwise (None: mosquitto's default)."""
    return create_pki(
        PkiRequest(
            directory=directory,
            cameras=cameras,
            monitors=monitors,
            controllers=CONTROLLERS,
            dns_names=("localhost",),
            ips=(parse_ip("127.0.0.1"),),
            listen_port=port,
            listen_address="127.0.0.1",
            broker_user=getpass.getuser() if broker_user == "" else broker_user,
            passphrase=CaPassphrase(encrypt=False),
            seed_camera=seed_camera,
        )
    )


def client_settings(
    layout: Layout, identity: str, port: int, keepalive: float = 10
) -> MqttSettings:
    return MqttSettings(
        broker=BrokerAddress("127.0.0.1", port),
        ca=layout.chain,
        cert=layout.client_cert(identity),
        key=layout.client_key(identity),
        keepalive=keepalive,
    )


@dataclass
class Broker:
    layout: Layout
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = require_binary("mosquitto")
        earlier = self._starts() if self.log_path.exists() else 0  # a restart appends
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [binary, "-c", str(self.layout.mosquitto_conf), "-v"], stdout=log, stderr=log
        )
        log.close()
        # Ready when mosquitto says so: a bare TCP probe of a TLS listener would put an
        # "OpenSSL Error ... unexpected eof" in the log (tests assert the log is clean).
        wait_until(lambda: self._starts() > earlier, 10, what=f"mosquitto on :{self.port}")

    def _starts(self) -> int:
        """How many times the log says mosquitto was up and listening."""
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"mosquitto exited {self.proc.returncode}:\n{self.log()}")
        return sum(
            line.endswith(" running") and "mosquitto version" in line
            for line in self.log().splitlines()
        )

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def running_broker(layout: Layout, port: int, log_path: Path) -> Iterator[Broker]:
    broker = Broker(layout, port, log_path)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    at: float  # time.monotonic() on arrival


@dataclass
class Recorder:
    """A connected MQTT client that records every message it receives."""

    client: mqtt.Client
    messages: list[Received] = field(default_factory=list)
    connected: threading.Event = field(default_factory=threading.Event)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def on_message(self, _c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        with self._changed:
            self.messages.append(
                Received(message.topic, bytes(message.payload), message.retain, time.monotonic())
            )
            self._changed.notify_all()

    def wait_for(
        self, predicate: Callable[[Received], bool], timeout: float, after: float = 0.0
    ) -> Received | None:
        """The first message (arrived after ``after``) matching ``predicate``, or None."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for item in self.messages:
                    if item.at >= after and predicate(item):
                        return item
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._changed.wait(remaining)

    def payloads(self, topic: str) -> list[bytes]:
        with self._changed:
            return [m.payload for m in self.messages if m.topic == topic]

    def publish(self, topic: str, payload: bytes | str, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@contextlib.contextmanager
def recorder(
    settings: MqttSettings, client_id: str, subscriptions: tuple[str, ...]
) -> Iterator[Recorder]:
    client = make_client(settings, client_id)
    rec = Recorder(client)
    subscribed = threading.Event()

    def on_connect(c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        if not getattr(reason, "is_failure", True):
            for topic in subscriptions:
                c.subscribe(topic, qos=1)
            rec.connected.set()

    client.on_connect = on_connect
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = rec.on_message
    client.connect(settings.broker.host, settings.broker.port, keepalive=30)
    client.loop_start()
    try:
        assert rec.connected.wait(10), "the recorder could not connect to mosquitto"
        if subscriptions:
            assert subscribed.wait(10), "the recorder's subscription was not acknowledged"
        yield rec
    finally:
        rec.close()


def raw_client(
    port: int, ca: Path, cert: Path | None, key: Path | None, client_id: str
) -> tuple[mqtt.Client, queue.Queue[str]]:
    """A client with an arbitrary (or no) certificate, for refusal tests; reports events."""
    events: queue.Queue[str] = queue.Queue()
    context = ssl.create_default_context(cafile=str(ca))
    if cert is not None and key is not None:
        context.load_cert_chain(str(cert), str(key))
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.tls_set_context(context)
    client.on_connect = lambda _c, _u, _f, reason, _p: events.put(f"connect {reason}")
    client.on_disconnect = lambda _c, _u, _f, reason, _p: events.put(f"disconnect {reason}")
    with contextlib.suppress(OSError, ssl.SSLError):
        client.connect("127.0.0.1", port, keepalive=30)
    client.loop_start()
    return client, events


def agent_argv(
    layout: Layout, camera: str, port: int, *extra: str, keepalive: float = 2
) -> list[str]:
    """The stand-alone MQTT agent (the capture agent's MQTT code path) as a process."""
    import sys

    return [
        sys.executable, "-m", "trashmonitor.capture.mqtt_agent", "--camera", camera,
        "--mqtt-url", f"mqtts://127.0.0.1:{port}", "--mqtt-ca", str(layout.chain),
        "--mqtt-cert", str(layout.client_cert(camera)),
        "--mqtt-key", str(layout.client_key(camera)),
        "--mqtt-keepalive", str(keepalive), *extra,
    ]  # fmt: skip


def start_agent(argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    # Not from the repo root: there `python -m` would import the source folder
    # trashmonitor/ (without the capture/ and monitor/ subpackages) instead of the install.
    log = log_path.open("ab")
    try:
        return subprocess.Popen(argv, stdout=log, stderr=log, cwd=log_path.parent)
    finally:
        log.close()


@contextlib.contextmanager
def running_agent(argv: list[str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """:func:`start_agent`, stopped by PID when the block ends."""
    proc = start_agent(argv, log_path)
    try:
        yield proc
    finally:
        stop_process(proc)


def segment_writer_argv(buffer_dir: Path, size: str = "320x240", fps: int = 15) -> list[str]:
    """A live synthetic camera writing ~1 s MPEG-TS segments that start on keyframes,
    as the capture agent's own ffmpeg does into its BUFFER_DIR."""
    return [
        require_binary("ffmpeg"), "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}",
        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
        "-g", str(fps), "-keyint_min", str(fps), "-sc_threshold", "0", "-pix_fmt", "yuv420p",
        "-f", "segment", "-segment_time", "1", "-segment_format", "mpegts",
        str(buffer_dir / "seg%05d.ts"),
    ]  # fmt: skip

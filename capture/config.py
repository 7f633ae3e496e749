"""The agent's settings: the seed's per-camera env file, overridden by flags.

The seed runs ``trashcam@<id>.service`` with ``EnvironmentFile=/etc/trashcam/<id>.env``
holding ``CAMERA_DEV PUSH_URL FPS WIDTH HEIGHT BITRATE``. The agent reads the same file
itself (so one file configures both the old unit and the agent) and adds optional keys.
Unknown keys are ignored on purpose: the MQTT side adds ``MQTT_*`` keys to the same file.
Precedence: flag > process environment > env file > the unit's directories > default
(:func:`agent_environment`). Errors name the key or flag the user set.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote, unquote, urlsplit

from trashmonitor.capture.redact import redact
from trashmonitor.errors import ConfigError
from trashmonitor.settings import (
    HostPort,
    count_between,
    parse_host_port,
    parse_positive_int,
    read_env_file,
    seconds_between,
)

T = TypeVar("T")

ENV_DIR = Path("/etc/trashcam")
TESTSRC = "testsrc"
LAVFI_PREFIX = "lavfi:"
DEFAULT_METRICS_ADDR = "127.0.0.1:9844"
_CAMERA_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# What ffmpeg reads as meant: bit/s as a whole number, or k/K (1e3) and M (1e6) with an
# optional fraction. ffmpeg reads a lowercase m as milli ("2m" = 0.002 bit/s: no cap).
_BITRATE = re.compile(r"^(?:\d+|\d+(?:\.\d+)?[kKM])$")
# Characters the tee muxer treats as syntax in its output list.
_TEE_SPECIAL = set("|[]")
# systemd's LoadCredential= directory: env file paths may start with it (docs/capture.md).
CREDENTIALS_DIRECTORY = "CREDENTIALS_DIRECTORY"
_CREDENTIALS_PREFIXES = (f"${{{CREDENTIALS_DIRECTORY}}}/", f"${CREDENTIALS_DIRECTORY}/")
# A password file holds one line; more than this is not a password.
MAX_PASSWORD_BYTES = 4096


@dataclass(frozen=True)
class AgentConfig:
    """Everything the agent needs, validated. Times in seconds."""

    camera: str
    camera_dev: str
    push_url: str = field(repr=False)  # may hold a password, as in the seed
    fps: int = 15
    width: int = 1280
    height: int = 720
    bitrate: str = "2M"
    input_format: str = "mjpeg"
    keyframe_interval: int | None = None
    metrics_addr: HostPort = field(default_factory=lambda: HostPort("127.0.0.1", 9844))
    stall_seconds: float = 2.0
    connect_timeout: float = 5.0
    black_seconds: float = 2.0
    freeze_seconds: float = 2.0
    image_health: bool = True
    buffer_dir: Path | None = None
    buffer_segments: int = 30
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    ffmpeg: str = "ffmpeg"
    env_file: Path | None = None
    stream_user: str | None = None
    stream_password: str | None = field(default=None, repr=False)

    @property
    def publish_url(self) -> str:
        """The URL ffmpeg publishes to: PUSH_URL, with STREAM_USER and the password from
        STREAM_PASSWORD_FILE as its userinfo when set (percent-encoded: ffmpeg decodes
        it, so any character survives)."""
        if self.stream_user is None or self.stream_password is None:
            return self.push_url
        scheme, _, rest = self.push_url.partition("://")
        user = quote(self.stream_user, safe="")
        return f"{scheme}://{user}:{quote(self.stream_password, safe='')}@{rest}"

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every password the agent holds, for :func:`redact`."""
        inline = urlsplit(self.push_url).password if "@" in self.push_url else None
        found = (self.stream_password, inline, unquote(inline) if inline else None)
        return tuple(sorted({s for s in found if s}, key=len, reverse=True))

    @property
    def source_kind(self) -> str:
        """``testsrc``, ``lavfi`` or ``v4l2``."""
        if self.camera_dev == TESTSRC:
            return "testsrc"
        if self.camera_dev.startswith(LAVFI_PREFIX):
            return "lavfi"
        return "v4l2"

    @property
    def gop(self) -> int:
        """Keyframe interval in frames: one per second unless set (segments cut on them)."""
        return self.keyframe_interval or self.fps


@dataclass(frozen=True)
class _Key:
    env: str
    flag: str
    attribute: str
    help: str
    metavar: str = "VALUE"


# One table drives argparse, the env file and the docs: a key cannot be half-supported.
KEYS: tuple[_Key, ...] = (
    _Key("CAMERA_DEV", "--camera-dev", "camera_dev", "device path, 'testsrc' or 'lavfi:GRAPH'"),
    _Key("PUSH_URL", "--push-url", "push_url", "rtsp:// URL to publish to", "URL"),
    _Key("FPS", "--fps", "fps", "frames per second (default 15)", "N"),
    _Key("WIDTH", "--width", "width", "picture width (default 1280)", "PX"),
    _Key("HEIGHT", "--height", "height", "picture height (default 720)", "PX"),
    _Key("BITRATE", "--bitrate", "bitrate", "H.264 bitrate, e.g. 2M or 800k (default 2M)"),
    _Key("INPUT_FORMAT", "--input-format", "input_format", "V4L2 input format (default mjpeg)"),
    _Key("KEYFRAME_INTERVAL", "--keyframe-interval", "keyframe_interval", "frames (default FPS)"),
    _Key("METRICS_ADDR", "--metrics-addr", "metrics_addr", "host:port for /metrics", "ADDR"),
    _Key(
        "STALL_SECONDS",
        "--stall-seconds",
        "stall_seconds",
        "no progress = stalled (s)",
    ),
    _Key("CONNECT_TIMEOUT", "--connect-timeout", "connect_timeout", "RTSP connect timeout (s)"),
    _Key("BLACK_SECONDS", "--black-seconds", "black_seconds", "black this long = black_image"),
    _Key("FREEZE_SECONDS", "--freeze-seconds", "freeze_seconds", "still this long = frozen"),
    _Key("IMAGE_HEALTH", "--image-health", "image_health", "on/off: black+freeze detection"),
    _Key("BUFFER_DIR", "--buffer-dir", "buffer_dir", "rolling 1 s segment buffer dir", "DIR"),
    _Key("BUFFER_SEGMENTS", "--buffer-segments", "buffer_segments", "segments kept (default 30)"),
    _Key("BACKOFF_INITIAL", "--backoff-initial", "backoff_initial", "first restart delay (s)"),
    _Key("BACKOFF_MAX", "--backoff-max", "backoff_max", "restart delay cap (s)"),
    _Key("FFMPEG", "--ffmpeg", "ffmpeg", "ffmpeg executable (default: ffmpeg on PATH)", "PATH"),
    _Key("STREAM_USER", "--stream-user", "stream_user", "publish user (with the password file)"),
    _Key(
        "STREAM_PASSWORD_FILE",
        "--stream-password-file",
        "stream_password_file",
        "file holding the publish password (never give the password itself)",
        "PATH",
    ),
)


_FLAG_OF = {key.env: key.flag for key in KEYS}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--id", dest="camera_id", help="camera id (default: env file name)")
    parser.add_argument(
        "--env-file", type=Path, help=f"env file (default {ENV_DIR}/<id>.env)", metavar="PATH"
    )
    for key in KEYS:
        parser.add_argument(
            key.flag, dest=key.attribute, metavar=key.metavar, help=f"{key.help} [{key.env}]"
        )


def _parse_camera_dev(text: str) -> str:
    value = text.strip()
    if not value:
        raise ValueError("must not be empty")
    if value.startswith(LAVFI_PREFIX) and not value[len(LAVFI_PREFIX) :].strip():
        raise ValueError("lavfi: needs a filter graph")
    if value not in (TESTSRC,) and not value.startswith((LAVFI_PREFIX, "/")):
        raise ValueError("expected a device path (/dev/...), 'testsrc' or 'lavfi:GRAPH'")
    return value


def _parse_push_url(text: str) -> str:
    value = text.strip()
    if not re.match(r"^rtsps?://[^/\s]+(/\S*)?$", value):
        raise ValueError("expected an rtsp:// or rtsps:// URL")
    if _TEE_SPECIAL & set(value):
        raise ValueError("must not contain | [ or ]")
    return value


def _parse_stream_user(text: str) -> str:
    value = text.strip()
    if not value or any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError("expected a user name without spaces")
    return value


# Directories systemd creates for the unit and names in the agent's environment
# (systemd.exec(5)): env file values may start with them, e.g. ${STATE_DIRECTORY}/captures.
UNIT_DIRECTORIES = {
    CREDENTIALS_DIRECTORY: "LoadCredential=",
    "RUNTIME_DIRECTORY": "RuntimeDirectory=",
    "STATE_DIRECTORY": "StateDirectory=",
}
# Where pictures/recordings work out of the box under trashcam@.service: the segment
# buffer on the unit's tmpfs (/run/trashcam/<id>), captures in its state directory
# (/var/lib/trashcam/<id>), the only places ProtectSystem=strict leaves writable.
UNIT_DIRECTORY_DEFAULTS = {
    "BUFFER_DIR": "${RUNTIME_DIRECTORY}/buffer",
    "CAPTURES_DIR": "${STATE_DIRECTORY}/captures",
}
# Process environment variables the agent reads (besides the KEYS table's): the MQTT
# side's and the captures'. Anything else in the environment is not a setting.
_OTHER_AGENT_PREFIXES = ("MQTT_", "CAPTURES_", "RECORD_")


def _unit_directory(name: str, env: Mapping[str, str]) -> str:
    # systemd joins several directories of one kind with ':'; ours is the first.
    return env.get(name, "").split(":", 1)[0]


def expand_unit_directories(
    values: Mapping[str, str], environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Values starting with ``${CREDENTIALS_DIRECTORY}/`` (the files systemd loads from
    ``LoadCredential=``, readable by this unit's user only), ``${RUNTIME_DIRECTORY}/`` or
    ``${STATE_DIRECTORY}/`` point into the unit's own directories: expand them."""
    env = os.environ if environ is None else environ
    expanded = dict(values)
    for key, value in values.items():
        for name, directive in UNIT_DIRECTORIES.items():
            prefix = next((p for p in (f"${{{name}}}/", f"${name}/") if value.startswith(p)), None)
            if prefix is None:
                continue
            directory = _unit_directory(name, env)
            if not directory:
                raise ConfigError(
                    key,
                    f"refers to ${name}, which systemd sets only for a unit with "
                    f"{directive} (run it under trashcam@.service, or give a path)",
                )
            expanded[key] = str(Path(directory) / value[len(prefix) :])
    return expanded


def expand_credentials_directory(
    values: Mapping[str, str], environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Kept for callers of the first version: :func:`expand_unit_directories`."""
    return expand_unit_directories(values, environ)


def read_agent_env_file(path: Path) -> dict[str, str]:
    """The camera's env file as the agent and its MQTT side read it."""
    return expand_unit_directories(read_env_file(path))


def _is_agent_setting(name: str) -> bool:
    return name in _FLAG_OF or name.startswith(_OTHER_AGENT_PREFIXES)


def agent_environment(
    env_file: Path | None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Every agent setting below the flags, one layer over the next: the process
    environment (systemd ``Environment=``, a shell's ``FPS=5 trashmon capture``) over
    the env file over the unit's directories (BUFFER_DIR, CAPTURES_DIR when systemd
    gave the unit its RuntimeDirectory/StateDirectory). The built-in defaults come last,
    where each setting is parsed."""
    env = os.environ if environ is None else environ
    layered = {
        key: value
        for key, value in UNIT_DIRECTORY_DEFAULTS.items()
        if all(_unit_directory(name, env) for name in UNIT_DIRECTORIES if f"${{{name}}}" in value)
    }
    if env_file is not None:
        layered.update(read_env_file(env_file))
    layered.update({key: value for key, value in env.items() if _is_agent_setting(key)})
    return expand_unit_directories(layered, env)


def read_password_file(setting: str, path: Path) -> str:
    """The password in ``path``: one line, its line ending dropped. Errors name the
    file and never its content."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_PASSWORD_BYTES + 1)
    except OSError as error:
        problem = error.strerror or type(error).__name__
        raise ConfigError(setting, f"cannot read {path} ({problem})") from None
    if len(data) > MAX_PASSWORD_BYTES:
        raise ConfigError(setting, f"{path} is larger than {MAX_PASSWORD_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(setting, f"{path} is not UTF-8 text") from None
    password = text.removesuffix("\n").removesuffix("\r")
    if not password or "\n" in password or "\r" in password:
        raise ConfigError(setting, f"{path} must hold the password on one line")
    return password


_BITRATE_SCALE = {"k": 1e3, "m": 1e6}
MAX_BITRATE = 1e9  # bits/s: far above any webcam, below what x264 would choke on


def _parse_bitrate(text: str) -> str:
    value = text.strip()
    if not _BITRATE.match(value):
        raise ValueError("expected a bitrate in bit/s such as 2M, 800k or 500000")
    bits = float(value.rstrip("kKM")) * _BITRATE_SCALE.get(value[-1].lower(), 1.0)
    if not 0 < bits <= MAX_BITRATE:
        raise ValueError("expected a bitrate above 0 and up to 1000M")
    return value


def _parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "on", "yes", "true"):
        return True
    if value in ("0", "off", "no", "false"):
        return False
    raise ValueError("expected on or off")


def _parse_word(text: str) -> str:
    value = text.strip()
    if not re.match(r"^[A-Za-z0-9_]+$", value):
        raise ValueError("expected a format name such as mjpeg or yuyv422")
    return value


def _parse_dir(text: str) -> Path:
    value = text.strip()
    if not value or _TEE_SPECIAL & set(value) or ":" in value:
        raise ValueError("expected a directory path without : | [ ]")
    return Path(value)


def _parse_size(text: str) -> int:
    value = parse_positive_int(text, maximum=8192)
    if value % 2:
        raise ValueError("expected an even number of pixels up to 8192")
    return value


# seg%03d.ts: more than 999 segments would reuse names out of order.
_parse_segments = count_between(1, 999)
_parse_fps = count_between(1, 240)


def default_stall_seconds(fps: int) -> float:
    """2 s (four missed 0.5 s progress blocks), 3 s below 2 fps where frames are sparser.

    ffmpeg writes a progress block only when a frame comes out, so the threshold must
    cover at least two frame intervals; 2 s keeps stall onset -> ``stalled`` under 3 s
    including the 0.5 s check interval.
    """
    return 2.0 if fps >= 2 else 3.0


def camera_id_from(args: argparse.Namespace) -> tuple[str, Path | None, bool]:
    """(camera id, env file path, whether the file must exist)."""
    env_file: Path | None = getattr(args, "env_file", None)
    raw_id: str | None = getattr(args, "camera_id", None)
    if raw_id is not None:
        camera, setting = raw_id, "--id"
    elif env_file is not None:
        camera, setting = env_file.name.removesuffix(".env"), "--env-file"
    else:
        raise ConfigError("--id", "give a camera id (--id) or an env file (--env-file)")
    if not _CAMERA_ID.match(camera):
        raise ConfigError(setting, f"camera id must be letters, digits, . _ -, got {camera!r}")
    if env_file is not None:
        return camera, env_file, True
    return camera, ENV_DIR / f"{camera}.env", False


def load_config(args: argparse.Namespace) -> AgentConfig:
    """Merge flags over the env file and validate everything, naming the bad key."""
    camera, env_path, must_exist = camera_id_from(args)
    used_file: Path | None = None
    if env_path is not None and (must_exist or env_path.exists()):
        used_file = env_path
    values = agent_environment(used_file)
    try:
        return config_from(camera, values, args, used_file)
    except ConfigError as error:
        if used_file is None and env_path is not None and "missing" in error.message:
            # Say where we looked: the usual cause is a typo in --id.
            raise ConfigError(
                error.setting,
                f"missing (no {env_path}; set it there or "
                f"with {_FLAG_OF.get(error.setting, 'a flag')})",
            ) from None
        raise


def config_from(
    camera: str,
    values: Mapping[str, str],
    args: argparse.Namespace | None = None,
    env_file: Path | None = None,
) -> AgentConfig:
    def get(key: _Key, parse: Callable[[str], T], default: T | None) -> T | None:
        raw = getattr(args, key.attribute, None) if args is not None else None
        name = key.flag
        if raw is None:
            raw, name = values.get(key.env), key.env
        if raw is None:
            return default
        try:
            return parse(str(raw))
        except ValueError as error:
            # Like parse_setting, but the value quoted is redacted: PUSH_URL may carry a
            # password, and a bad URL is exactly when it would be echoed.
            raise ConfigError(name, f"{error}, got {redact(str(raw))!r}") from None

    table = {key.env: key for key in KEYS}

    def need(env: str, parse: Callable[[str], T]) -> T:
        value = get(table[env], parse, None)
        if value is None:
            raise ConfigError(env, f"missing (set it in the env file or with {table[env].flag})")
        return value

    defaults = AgentConfig(camera=camera, camera_dev=TESTSRC, push_url="rtsp://x/")

    def opt(env: str, parse: Callable[[str], T], default: T) -> T:
        value = get(table[env], parse, default)
        return default if value is None else value

    config = AgentConfig(
        camera=camera,
        camera_dev=need("CAMERA_DEV", _parse_camera_dev),
        push_url=need("PUSH_URL", _parse_push_url),
        fps=opt("FPS", _parse_fps, defaults.fps),
        width=opt("WIDTH", _parse_size, defaults.width),
        height=opt("HEIGHT", _parse_size, defaults.height),
        bitrate=opt("BITRATE", _parse_bitrate, defaults.bitrate),
        input_format=opt("INPUT_FORMAT", _parse_word, defaults.input_format),
        keyframe_interval=get(table["KEYFRAME_INTERVAL"], count_between(1, 3600), None),
        metrics_addr=opt("METRICS_ADDR", parse_host_port, parse_host_port(DEFAULT_METRICS_ADDR)),
        # Progress comes every 0.5 s: a shorter stall bound would flap.
        stall_seconds=opt("STALL_SECONDS", seconds_between(0.5, 3600), 0.0),
        connect_timeout=opt("CONNECT_TIMEOUT", seconds_between(0.1, 600), defaults.connect_timeout),
        black_seconds=opt("BLACK_SECONDS", seconds_between(0.1, 3600), defaults.black_seconds),
        freeze_seconds=opt("FREEZE_SECONDS", seconds_between(0.1, 3600), defaults.freeze_seconds),
        image_health=opt("IMAGE_HEALTH", _parse_bool, defaults.image_health),
        buffer_dir=get(table["BUFFER_DIR"], _parse_dir, None),
        buffer_segments=opt("BUFFER_SEGMENTS", _parse_segments, defaults.buffer_segments),
        backoff_initial=opt(
            "BACKOFF_INITIAL", seconds_between(0.1, 3600), defaults.backoff_initial
        ),
        backoff_max=opt("BACKOFF_MAX", seconds_between(0.1, 86400), defaults.backoff_max),
        ffmpeg=opt("FFMPEG", str.strip, defaults.ffmpeg) or defaults.ffmpeg,
        env_file=env_file,
        **_stream_credentials(
            get(table["STREAM_USER"], _parse_stream_user, None),
            get(table["STREAM_PASSWORD_FILE"], _parse_password_path, None),
        ),
    )
    if not config.stall_seconds:
        config = replace(config, stall_seconds=default_stall_seconds(config.fps))
    if config.backoff_max < config.backoff_initial:
        raise ConfigError("BACKOFF_MAX", "must not be below BACKOFF_INITIAL")
    if config.stream_user is not None and "@" in urlsplit(config.push_url).netloc:
        raise ConfigError(
            "STREAM_USER", "PUSH_URL already carries credentials: use one or the other"
        )
    return config


def _parse_password_path(text: str) -> Path:
    value = text.strip()
    if not value:
        raise ValueError("expected a file path")
    return Path(value)


def _stream_credentials(user: str | None, password_file: Path | None) -> dict[str, str]:
    """STREAM_USER and STREAM_PASSWORD_FILE go together; the password is read here, once."""
    if user is None and password_file is None:
        return {}
    if password_file is None:
        raise ConfigError("STREAM_PASSWORD_FILE", "required with STREAM_USER")
    if user is None:
        raise ConfigError("STREAM_USER", "required with STREAM_PASSWORD_FILE")
    password = read_password_file("STREAM_PASSWORD_FILE", password_file)
    return {"stream_user": user, "stream_password": password}

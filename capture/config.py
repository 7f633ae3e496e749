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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from trashmonitor.capture import settings as declared
from trashmonitor.capture.settings import (
    CAPTURE,
    DEFAULT_METRICS_ADDR,
    ENV_NAMES,
    LAVFI_PREFIX,
    MAX_BITRATE,
    SETTINGS,
    TESTSRC,
)
from trashmonitor.errors import ConfigError
from trashmonitor.settings import HostPort, ReadSettings, Setting, _utf8_or_none, read_env_file

__all__ = ["LAVFI_PREFIX", "MAX_BITRATE", "TESTSRC"]  # re-exported from the table

ENV_DIR = Path("/etc/trashcam")
_CAMERA_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# systemd's LoadCredential= directory: env file paths may start with it (docs/capture.md).
CREDENTIALS_DIRECTORY = "CREDENTIALS_DIRECTORY"
# A password file holds one line; more than this is not a password.
MAX_PASSWORD_BYTES = 4096


@dataclass(frozen=True)
class AgentConfig:
    """Everything the agent needs, validated. Times in seconds."""

    camera: str
    camera_dev: str
    push_url: str = field(repr=False)  # may hold a password, as in the seed
    # The defaults are the table's (capture/settings.py), declared there once.
    fps: int = declared.FPS.default
    width: int = declared.WIDTH.default
    height: int = declared.HEIGHT.default
    bitrate: str = declared.BITRATE.default
    input_format: str = declared.INPUT_FORMAT.default
    keyframe_interval: int | None = None
    metrics_addr: HostPort = DEFAULT_METRICS_ADDR
    stall_seconds: float = 2.0
    connect_timeout: float = declared.CONNECT_TIMEOUT.default
    black_seconds: float = declared.BLACK_SECONDS.default
    freeze_seconds: float = declared.FREEZE_SECONDS.default
    image_health: bool = declared.IMAGE_HEALTH.default
    buffer_dir: Path | None = None
    buffer_segments: int = declared.BUFFER_SEGMENTS.default
    backoff_initial: float = declared.BACKOFF_INITIAL.default
    backoff_max: float = declared.BACKOFF_MAX.default
    ffmpeg: str = declared.FFMPEG.default
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``trashmon capture``'s settings: which camera, then the table's options."""
    parser.add_argument("--id", dest="camera_id", help="camera id (default: env file name)")
    parser.add_argument(
        "--env-file", type=Path, help=f"env file (default {ENV_DIR}/<id>.env)", metavar="PATH"
    )
    SETTINGS.add_arguments(parser, CAPTURE)


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


def read_agent_env_file(path: Path) -> dict[str, str]:
    """The camera's env file as the agent and its MQTT side read it."""
    return expand_unit_directories(read_env_file(path))


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
    layered.update({key: value for key, value in env.items() if key in ENV_NAMES})
    return expand_unit_directories(layered, env)


def read_password_file(setting: str, path: Path) -> str:
    """The password in ``path``: one line, its line ending dropped. Errors name the
    file and never its content."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_PASSWORD_BYTES + 1)
    except OSError as error:
        problem = error.strerror or type(error).__name__
        raise ConfigError(setting, f"cannot read {path} ({problem})") from error
    if len(data) > MAX_PASSWORD_BYTES:
        raise ConfigError(setting, f"{path} is larger than {MAX_PASSWORD_BYTES} bytes")
    text = _utf8_or_none(data)
    # The bytes (the password) are no local of this frame when an error is raised below,
    # and the decode error holding them is no error's __context__ (``from None`` would
    # only hide it from the printout).
    del data
    if text is None:
        raise ConfigError(setting, f"{path} is not UTF-8 text")
    password = text.removesuffix("\n").removesuffix("\r")
    if not password or "\n" in password or "\r" in password:
        raise ConfigError(setting, f"{path} must hold the password on one line")
    return password


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


def load_agent(args: argparse.Namespace) -> tuple[AgentConfig, ReadSettings]:
    """Every setting of ``trashmon capture`` read once (the env file too): the capture's
    config, validated, and the read table the MQTT side is built from."""
    camera, env_path, must_exist = camera_id_from(args)
    used_file: Path | None = None
    if env_path is not None and (must_exist or env_path.exists()):
        used_file = env_path
    read = SETTINGS.read(args, CAPTURE, agent_environment(used_file))
    # Say where we looked when a required key is missing: the usual cause is a typo in --id.
    looked_in = env_path if used_file is None else None
    return assemble(camera, read, used_file, looked_in=looked_in), read


def load_config(args: argparse.Namespace) -> AgentConfig:
    """Merge flags over the env file and validate everything, naming the bad key."""
    return load_agent(args)[0]


def config_from(
    camera: str,
    values: Mapping[str, str],
    args: argparse.Namespace | None = None,
    env_file: Path | None = None,
) -> AgentConfig:
    """The config from ``values`` (an env file's keys) under ``args``' flags."""
    read = SETTINGS.read(args or argparse.Namespace(), CAPTURE, values)
    return assemble(camera, read, env_file)


# The settings whose value is the AgentConfig field of the same name, as read.
_AS_READ = tuple(
    setting
    for setting in declared.KEYS
    if setting
    not in (
        declared.CAMERA_DEV,
        declared.PUSH_URL,
        declared.STALL_SECONDS,
        declared.STREAM_USER,
        declared.STREAM_PASSWORD_FILE,
    )
)


def assemble(
    camera: str, read: ReadSettings, env_file: Path | None, *, looked_in: Path | None = None
) -> AgentConfig:
    """The read settings as one validated :class:`AgentConfig`."""
    fps = read[declared.FPS]
    as_read: dict[str, Any] = {setting.attribute: read[setting] for setting in _AS_READ}
    as_read.update(
        _stream_credentials(read[declared.STREAM_USER], read[declared.STREAM_PASSWORD_FILE])
    )
    config = AgentConfig(
        camera=camera,
        camera_dev=_required(read, declared.CAMERA_DEV, looked_in),
        push_url=_required(read, declared.PUSH_URL, looked_in),
        stall_seconds=read[declared.STALL_SECONDS] or default_stall_seconds(fps),
        env_file=env_file,
        **as_read,
    )
    _check_together(config)
    return config


def _required(read: ReadSettings, setting: Setting[str | None], looked_in: Path | None) -> str:
    value = read[setting]
    if value is None:
        where = (
            f"no {looked_in}; set it there" if looked_in is not None else "set it in the env file"
        )
        raise ConfigError(setting.env or setting.flag, f"missing ({where} or with {setting.flag})")
    return value


def _check_together(config: AgentConfig) -> None:
    """What no single setting can check."""
    if config.backoff_max < config.backoff_initial:
        raise ConfigError("BACKOFF_MAX", "must not be below BACKOFF_INITIAL")
    if config.stream_user is not None and "@" in urlsplit(config.push_url).netloc:
        raise ConfigError(
            "STREAM_USER", "PUSH_URL already carries credentials: use one or the other"
        )


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

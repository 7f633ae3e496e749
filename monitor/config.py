"""The monitor's settings, declared once for ``trashmon probe`` and ``trashmon monitor``.

:data:`SETTINGS` is the one table: it generates both commands' options, their
``--help``, the environment lookup (flag > env > default) and the settings table of
docs/monitor.md (``tests/monitor/test_config.py`` checks the page matches it). A
command reads its settings once, into the frozen :class:`~trashmonitor.settings.ReadSettings`;
the helpers below turn that into the values the rest of the monitor takes.

Threshold defaults come from :class:`~trashmonitor.monitor.model.Thresholds`, the same
source the alert rules and dashboards read (alerts/config.py).

Imports stay light: the probe reads these settings and must start fast.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, NamedTuple

from trashmonitor.errors import ConfigError
from trashmonitor.monitor.mediamtx import default_metrics_url, metrics_url
from trashmonitor.monitor.mediamtx_http import (
    DEFAULT_MAX_BODY_BYTES,
    MAX_MAX_BODY_BYTES,
    MIN_MAX_BODY_BYTES,
    Credentials,
    read_credentials_file,
)
from trashmonitor.monitor.model import DEFAULT_INCIDENT_MIN_SECONDS, Thresholds
from trashmonitor.monitor.sites import (
    DEFAULT_SITE,
    Site,
    hide_userinfo,
    parse_sites,
    read_sites_file,
    unique,
)
from trashmonitor.settings import (
    ReadSettings,
    Setting,
    SettingsTable,
    count_between,
    existing_file,
    file_path,
    number_within,
    option,
    parse_host_port,
    parse_http_url,
    parse_name_list,
    parse_ratio,
    parse_seconds,
    seconds_between,
    switch,
)

if TYPE_CHECKING:  # imported where a directory is parsed: the probe never needs pathlib
    from pathlib import Path

PROBE = "probe"
MONITOR = "monitor"
BOTH = (PROBE, MONITOR)

DEFAULT_API = "http://127.0.0.1:9997"
DEFAULT_LISTEN = "127.0.0.1:9843"
DEFAULT_FORGET_AFTER = 86400.0
DEFAULT_STALE_POLLS = 3
"""Poll intervals without a successful poll after which the monitor says it is blind."""
DEFAULT_MAX_CAMERAS = 20_000
"""Cameras tracked at most (twice the 10,000 the performance figures are measured at)."""
# Bounds of the staleness setting: blind sooner than one interval would call every poll
# a failure; much later and the dashboards say "ok" about a picture long gone.
MAX_STALE_POLLS = 100
MAX_STALE_SECONDS = 3600.0
MIN_INTERVAL = 0.1
MAX_INTERVAL = 3600.0
# The cap on tracked cameras bounds memory (about 60 KiB per camera with its history).
MAX_CAMERAS = 1_000_000
NO_METRICS = ("off", "none", "")
_THRESHOLDS = Thresholds()


# int() and float() ignore surrounding whitespace, so these parse the value as typed.
parse_max_body = partial(
    number_within, convert=int, minimum=MIN_MAX_BODY_BYTES, maximum=MAX_MAX_BODY_BYTES,
    expected="expected a size in bytes",
    out_of_range=f"expected {MIN_MAX_BODY_BYTES} to {MAX_MAX_BODY_BYTES} bytes",
)  # fmt: skip


def parse_metrics_target(text: str) -> str:
    """A MediaMTX /metrics URL, or ``""`` for 'off' (also 'none' or an empty value)."""
    if text.strip().lower() in NO_METRICS:
        return ""
    return metrics_url(parse_http_url(text))


def parse_state_dir(text: str) -> Path | None:
    """A writable directory for the incident history, or None for 'off' (in memory)."""
    if text.strip().lower() in NO_METRICS:
        return None
    from pathlib import Path

    directory = Path(text)
    if not directory.is_dir():
        raise ValueError("expected an existing directory")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ValueError("expected a directory the monitor can write")
    return directory


MIN_HOOK_RATE = 0.1
MAX_HOOK_RATE = 10_000.0


parse_hook_rate = partial(
    number_within, convert=float, minimum=MIN_HOOK_RATE, maximum=MAX_HOOK_RATE,
    expected="expected notices a second",
    out_of_range=f"expected {MIN_HOOK_RATE:g} to {MAX_HOOK_RATE:g} notices a second",
)  # fmt: skip


# The parsers of the hook's and --play's settings live with them; imported only when a
# value is given, so `trashmon probe` without them never loads those modules.
def read_secret_file(path: str) -> str:
    from trashmonitor.hook import read_secret_file as read

    return read(path)


def check_secret(value: str) -> str:
    from trashmonitor.hook import check_secret as check

    return check(value)


def parse_url_template(text: str) -> str:
    from trashmonitor.monitor.play import parse_url_template as parse

    return parse(text)


def _not_shown(_raw: str) -> str:
    """What a refused URL template shows of itself: nothing (it may hold a password)."""
    return "<value not shown: it may hold a password>"


# One row a setting (trashmonitor.settings.option): usage as --help shows it, environment
# variable, parser, default; then the commands, and what else the row needs.
API = option(
    "--api URL", "TRASHMON_MEDIAMTX_API", parse_http_url, DEFAULT_API, commands=BOTH,
    help="MediaMTX API, direct (http://host:9997) or behind Caddy (http://host/api)",
)  # fmt: skip
SITES: Setting[tuple[Site, ...]] = option(
    "--site NAME=API_URL[,METRICS_URL]", "TRASHMON_SITES", parse_sites, (), commands=BOTH,
    repeat=True, hide=hide_userinfo, shown_default="none (one MediaMTX: `--api`)",
    note="repeatable; the variable takes several, separated by spaces or newlines (see "
    "Several sites)",
    help="a MediaMTX site to watch (repeatable; METRICS_URL or 'off', default the API host "
    "on 9998); not with --api/--metrics-url",
)  # fmt: skip
SITES_FILE: Setting[tuple[Site, ...]] = option(
    "--sites-file PATH", "TRASHMON_SITES_FILE", read_sites_file, (), commands=BOTH,
    shown_default="none",
    note="one `NAME=API_URL[,METRICS_URL]` a line, `#` comments; adds to `--site`",
    help="a file declaring sites, one NAME=API_URL[,METRICS_URL] a line (# comments)",
)  # fmt: skip
SITE_CREDENTIALS_DIR: Setting[Path | None] = option(
    "--site-credentials-dir DIR", "TRASHMON_SITE_CREDENTIALS_DIR", file_path, None,
    commands=BOTH, shown_default="none (every site: `--mediamtx-credentials-file`)",
    note="`DIR/NAME` holds site NAME's `user:password`; a site without one uses "
    "`--mediamtx-credentials-file`",
    help="a directory where the file named like a site holds its user:password for the "
    "MediaMTX API and /metrics",
)  # fmt: skip
PARKED = option(
    "--parked A,B", "TRASHMON_PARKED", parse_name_list, frozenset[str](), commands=BOTH,
    shown_default="none", help="cameras set aside: reported as parked, never failing",
)  # fmt: skip
EXPECT = option(
    "--expect A,B", "TRASHMON_EXPECT", parse_name_list, frozenset[str](), commands=BOTH,
    shown_default="none",
    help="cameras that must exist: missing ones are down with no_publisher, so an empty "
    "path list is not a pass",
)  # fmt: skip
METRICS_URL: Setting[str | None] = option(
    "--metrics-url URL|off", "TRASHMON_MEDIAMTX_METRICS", parse_metrics_target, None,
    commands=(MONITOR,), shown_default="the API host, port 9998, `/metrics`",
    help="MediaMTX /metrics, or 'off'",
)  # fmt: skip
LISTEN = option(
    "--listen HOST:PORT", "TRASHMON_LISTEN", parse_host_port, parse_host_port(DEFAULT_LISTEN),
    commands=(MONITOR,),
    help="serve /metrics, /healthz, /api/status, /api/incidents and /api/sd/agents here",
)  # fmt: skip
INTERVAL = option(
    "--interval S", "TRASHMON_INTERVAL", seconds_between(MIN_INTERVAL, MAX_INTERVAL), 1.0,
    commands=(MONITOR,), help="seconds between polls",
)  # fmt: skip
TIMEOUT = option(
    "--timeout S", "TRASHMON_TIMEOUT", seconds_between(0.1, 300), 2.0, commands=(MONITOR,),
    shown_default="`2` (per request: connect + headers + body)", help="per-request timeout",
)  # fmt: skip
PROBE_TIMEOUT = option(
    "--timeout S", None, parse_seconds, 10.0, commands=(PROBE,), shown_default="`10` (total)",
    help="total time budget for the polls (a --stall-window is added on top)",
)  # fmt: skip
STALL_WINDOW: Setting[float | None] = option(
    "--stall-window S", None, parse_seconds, None, commands=(PROBE,),
    shown_default="off (one poll)",
    help="poll twice S seconds apart so unchanged inbound bytes count as stalled",
)  # fmt: skip
ALLOW_EMPTY = switch(
    "--allow-empty", commands=(PROBE,), note="exit 0 when there is no camera to judge",
    help="exit 0 when there is no camera to judge (by default nothing to judge is exit 1: "
    "a server that lost its configuration is not healthy)",
)  # fmt: skip
JSON = switch(
    "--json", "print the /api/status document", commands=(PROBE,),
    note="print the /api/status document instead of the table",
)  # fmt: skip
FORGET_AFTER = option(
    "--forget-after S", "TRASHMON_FORGET_AFTER", parse_seconds, DEFAULT_FORGET_AFTER,
    commands=(MONITOR,), note="how long a vanished *configured* camera stays `down`",
    help="stop reporting a vanished camera after S seconds",
)  # fmt: skip
STALE_AFTER: Setting[float | None] = option(
    # The bound of its own; the one relative to --interval is checked in stale_after().
    "--stale-after S", "TRASHMON_STALE_AFTER", seconds_between(MIN_INTERVAL, MAX_STALE_SECONDS),
    None, commands=(MONITOR,), shown_default=f"{DEFAULT_STALE_POLLS} × interval",
    note=f"no successful poll for S s = blind (1 to {MAX_STALE_POLLS} intervals, "
    f"≤ {MAX_STALE_SECONDS / 3600:g} h)",
    help="no successful poll for S seconds = the monitor is blind: every camera down with "
    f"mediamtx_unreachable, trashmon_mediamtx_up 0 (at least one interval, at most "
    f"{MAX_STALE_POLLS} or {MAX_STALE_SECONDS:g} s)",
)  # fmt: skip
MAX_CAMERAS_SETTING = option(
    "--max-cameras N", "TRASHMON_MAX_CAMERAS", count_between(1, MAX_CAMERAS),
    DEFAULT_MAX_CAMERAS, commands=(MONITOR,),
    note=f"cameras tracked at most (1 to {MAX_CAMERAS:,})",
    help="track at most N cameras; paths over it are dropped and counted in "
    "trashmon_cameras_dropped",
)  # fmt: skip
CREDENTIALS_FILE: Setting[Credentials | None] = option(
    "--mediamtx-credentials-file PATH", "TRASHMON_MEDIAMTX_CREDENTIALS_FILE",
    read_credentials_file, None, commands=BOTH, shown_default="none",
    note="one line `user:password`, HTTP Basic to the API and /metrics",
    help="a file with one line user:password for MediaMTX's API and /metrics (HTTP Basic)",
)  # fmt: skip
MAX_BODY = option(
    "--mediamtx-max-body BYTES", "TRASHMON_MEDIAMTX_MAX_BODY", parse_max_body,
    DEFAULT_MAX_BODY_BYTES, commands=BOTH,
    shown_default=f"`{DEFAULT_MAX_BODY_BYTES}` ({MIN_MAX_BODY_BYTES}–{MAX_MAX_BODY_BYTES})",
    help="largest MediaMTX answer read, bigger is an error",
)  # fmt: skip
STALL_AFTER = option(
    "--stall-after S", "TRASHMON_STALL_AFTER", parse_seconds, _THRESHOLDS.stall_after,
    commands=(MONITOR,), note="the probe uses its `--stall-window`",
    help="unchanged inbound bytes with a publisher attached for S seconds = stalled",
)  # fmt: skip
FRAMES_ERROR_WINDOW = option(
    "--frames-error-window S", "TRASHMON_FRAMES_ERROR_WINDOW", parse_seconds,
    _THRESHOLDS.frames_error_window, commands=BOTH, help="look-back for rising frames in error",
)  # fmt: skip
FRAMES_ERROR_MIN = option(
    "--frames-error-min N", "TRASHMON_FRAMES_ERROR_MIN", count_between(1, 1_000_000_000),
    _THRESHOLDS.frames_error_min, commands=BOTH,
    help="new frames in error within the window that degrade a camera",
)  # fmt: skip
AGENT_STALE_AFTER = option(
    "--agent-stale-after S", "TRASHMON_AGENT_STALE_AFTER", parse_seconds,
    _THRESHOLDS.agent_stale_after, commands=BOTH,
    help="an online agent silent for S seconds is stale",
)  # fmt: skip
LOW_FPS_RATIO = option(
    "--low-fps-ratio R", "TRASHMON_LOW_FPS_RATIO", parse_ratio, _THRESHOLDS.low_fps_ratio,
    commands=BOTH, help="fps below target x R is low_fps",
)  # fmt: skip
DNS_INTERVAL: Setting[float | None] = option(
    "--dns-interval S", "TRASHMON_DNS_INTERVAL", seconds_between(0.1, 86400), None,
    commands=(MONITOR,), shown_default="off",
    note="also reconcile DNS every S s with the `trashmon dns` environment (docs/dns.md) "
    "and export `trashmon_dns_*`",
    help="also run the DNS reconciler every S seconds with the `trashmon dns` environment "
    "and export trashmon_dns_*",
)  # fmt: skip
HOOK_SECRET_FILE: Setting[str | None] = option(
    "--hook-secret-file PATH", "TRASHMON_HOOK_SECRET_FILE", read_secret_file, None,
    commands=(MONITOR,),
    shown_default="off (or the secret itself in `TRASHMON_HOOK_SECRET`, environment only)",
    note="the shared secret of `POST /api/hooks/mediamtx` (MediaMTX hooks); "
    "neither set: no such route",
    help="a file holding the shared secret MediaMTX's `trashmon hook` sends; enables "
    "POST /api/hooks/mediamtx (or set TRASHMON_HOOK_SECRET)",
)  # fmt: skip
HOOK_RATE = option(
    "--hook-rate N", "TRASHMON_HOOK_RATE", parse_hook_rate, 20.0, commands=(MONITOR,),
    note=f"hook notices a second accepted ({MIN_HOOK_RATE:g} to {MAX_HOOK_RATE:g}; bursts of "
    "2 s, at least 10), the rest 429",
    help="hook notices a second accepted (bursts of 2 seconds' worth, at least 10); the rest "
    "get 429",
)  # fmt: skip
STATE_DIR: Setting[Path | None] = option(
    "--state-dir DIR|off", "TRASHMON_STATE_DIR", parse_state_dir, None, commands=(MONITOR,),
    shown_default="off (history in memory only)",
    note="incident history and availability (`history.sqlite3`): kept across restarts",
    help="keep the incident history and availability in DIR/history.sqlite3 (SQLite, WAL); "
    "off: in memory only, lost on restart",
)  # fmt: skip
INCIDENT_MIN = option(
    "--incident-min S", "TRASHMON_INCIDENT_MIN", seconds_between(0, 86400),
    DEFAULT_INCIDENT_MIN_SECONDS, commands=(MONITOR,),
    note="shorter `down` periods are blips: recorded and counted, not incidents",
    help="a down period shorter than S seconds is a blip: recorded, not an incident",
)  # fmt: skip
CONTROL_CERT: Setting[Path | None] = option(
    "--control-cert PATH", "TRASHMON_CONTROL_CERT", existing_file, None, commands=(MONITOR,),
    shown_default="off",
    note="a *controller* client certificate (`trashmon pki --controller`): turns on camera "
    "control (POST /api/cameras/…); needs the MQTT settings and `--control-key`",
    help="a controller client certificate: camera control through /api/cameras/... is on "
    "with it (needs the MQTT settings and --control-key)",
)  # fmt: skip
CONTROL_KEY: Setting[Path | None] = option(
    "--control-key PATH", "TRASHMON_CONTROL_KEY", existing_file, None, commands=(MONITOR,),
    shown_default="off", note="the controller certificate's key",
    help="the controller certificate's key",
)  # fmt: skip

# The playback probe (monitor/play.py) and the monitor's periodic check of it
# (monitor/play_watch.py): parsed here, used only with --play / --play-interval.
MAX_PLAY_CAMERAS = 100
PLAY = switch(
    "--play", commands=(PROBE,),
    note="also pull each camera with ffmpeg and prove it plays (see Playback probe)",
    help="also pull each camera with ffmpeg (RTSP, and HLS with --play-hls) and decode a "
    "short window: playable or the reasons not",
)  # fmt: skip
PLAY_INTERVAL: Setting[float | None] = option(
    "--play-interval S", "TRASHMON_PLAY_INTERVAL", seconds_between(10, 86400), None,
    commands=(MONITOR,), shown_default="off",
    note="also pull the `--play-camera` cameras every S s (10 s to 1 day) and export "
    "`trashmon_play_*` (see Playback probe)",
    help="also pull each --play-camera camera with ffmpeg every S seconds (as probe --play) "
    "and export trashmon_play_* and a play object per camera in /api/status",
)  # fmt: skip
PLAY_CAMERA = option(
    "--play-camera A,B", "TRASHMON_PLAY_CAMERA", parse_name_list, frozenset[str](),
    commands=BOTH,
    shown_default="probe: every camera it judges, parked ones aside; monitor: none",
    note=f"the cameras pulled; the monitor needs them with `--play-interval` (at most "
    f"{MAX_PLAY_CAMERAS})",
    help="the cameras --play (probe) or --play-interval (monitor) pulls",
)  # fmt: skip
PLAY_RTSP: Setting[str | None] = option(
    "--play-rtsp URL", "TRASHMON_PLAY_RTSP", parse_url_template, None, commands=BOTH,
    hide=_not_shown, shown_default="`rtsp://<API host>:8554/{name}`",
    note="`{name}` is the camera, percent-encoded as one path segment; `off`: HLS only",
    help="RTSP URL template the pulls use, {name} the camera; off: none",
)  # fmt: skip
PLAY_HLS: Setting[str | None] = option(
    "--play-hls URL", "TRASHMON_PLAY_HLS", parse_url_template, None, commands=BOTH,
    hide=_not_shown, shown_default="off",
    note="e.g. `https://cams.example/{name}/index.m3u8` (through Caddy)",
    help="also pull HLS from this URL template, {name} the camera",
)  # fmt: skip
PLAY_SECONDS = option(
    "--play-seconds S", "TRASHMON_PLAY_SECONDS", seconds_between(1, 60), 5.0, commands=BOTH,
    note="the decoded window per pull (1 to 60)", help="seconds decoded per pull",
)  # fmt: skip
PLAY_FIRST_FRAME_MAX = option(
    "--play-first-frame-max S", "TRASHMON_PLAY_FIRST_FRAME_MAX", seconds_between(0.1, 60), 2.0,
    commands=BOTH, note="a later first frame is `slow_first_frame`",
    help="the first decoded frame later than S seconds is slow_first_frame",
)  # fmt: skip

SETTINGS = SettingsTable(
    "monitor",
    (
        API, SITES, SITES_FILE, SITE_CREDENTIALS_DIR, PARKED, EXPECT, METRICS_URL, LISTEN,
        INTERVAL, TIMEOUT, PROBE_TIMEOUT, STALL_WINDOW, ALLOW_EMPTY, JSON, FORGET_AFTER,
        STALE_AFTER, MAX_CAMERAS_SETTING,
        CREDENTIALS_FILE, MAX_BODY, STALL_AFTER, FRAMES_ERROR_WINDOW, FRAMES_ERROR_MIN,
        AGENT_STALE_AFTER, LOW_FPS_RATIO, DNS_INTERVAL, STATE_DIR, INCIDENT_MIN,
        CONTROL_CERT, CONTROL_KEY, HOOK_SECRET_FILE, HOOK_RATE, PLAY, PLAY_INTERVAL, PLAY_CAMERA,
        PLAY_RTSP, PLAY_HLS, PLAY_SECONDS, PLAY_FIRST_FRAME_MAX,
    ),
)  # fmt: skip


class ClientSettings(NamedTuple):
    """How the MediaMTX client authenticates and how much of an answer it reads."""

    credentials: Credentials | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES


def client_settings(settings: ReadSettings) -> ClientSettings:
    return ClientSettings(settings[CREDENTIALS_FILE], settings[MAX_BODY])


def sites(settings: ReadSettings) -> tuple[Site, ...]:
    """The sites to watch: those of ``--site``/``TRASHMON_SITES`` and ``--sites-file``,
    or else the one MediaMTX of ``--api`` as the unnamed site. ``--api`` and
    ``--metrics-url`` name no site, so they cannot be set alongside named ones."""
    named = (*settings[SITES], *settings[SITES_FILE])
    if not named:
        metrics = settings[METRICS_URL] if METRICS_URL in settings.values else None
        return (Site(DEFAULT_SITE, settings[API], metrics),)
    for single in (API, METRICS_URL):
        if single in settings.sources:
            raise ConfigError(
                settings.source(single),
                "cannot be combined with sites: give each site's URLs in its "
                "NAME=API_URL[,METRICS_URL]",
            )
    try:
        return unique(list(named))
    except ValueError as error:
        raise ConfigError(settings.source(SITES_FILE), str(error)) from error


def site_client_settings(settings: ReadSettings, site: Site) -> ClientSettings:
    """A named site's credentials are ``DIR/NAME`` of ``--site-credentials-dir`` when that
    file exists, else the shared ``--mediamtx-credentials-file``."""
    directory = settings[SITE_CREDENTIALS_DIR]
    shared = client_settings(settings)
    if directory is None or not site.name:
        return shared
    if not directory.is_dir():
        raise ConfigError(settings.source(SITE_CREDENTIALS_DIR), "expected an existing directory")
    own = directory / site.name
    if not own.exists():
        return shared
    credentials = _credentials_or_problem(own)
    if isinstance(credentials, str):
        raise ConfigError(settings.source(SITE_CREDENTIALS_DIR), f"site {site.name}: {credentials}")
    return ClientSettings(credentials, shared.max_body_bytes)


def _credentials_or_problem(path: Path) -> Credentials | str:
    """The file's credentials, or what is wrong with it. The reader's error ends here:
    raised from its except block, the ConfigError would keep it as __context__ (``from
    None`` only hides it from the printout), and its traceback reaches the reader's
    frames, which held the file (the password)."""
    try:
        return read_credentials_file(str(path))
    except ValueError as error:
        return str(error)


def site_metrics_target(site: Site) -> str | None:
    """A site's /metrics: as declared, None when off, by default the API host on 9998."""
    if site.metrics_url is None:
        return default_metrics_url(site.api_url)
    return site.metrics_url or None


def thresholds(settings: ReadSettings) -> Thresholds:
    """The health model's limits; the probe has no --stall-after (its window is one)."""
    stall_after = _THRESHOLDS.stall_after
    if STALL_AFTER in settings.values:
        stall_after = settings[STALL_AFTER]
    return Thresholds(
        stall_after=stall_after,
        frames_error_window=settings[FRAMES_ERROR_WINDOW],
        frames_error_min=settings[FRAMES_ERROR_MIN],
        agent_stale_after=settings[AGENT_STALE_AFTER],
        low_fps_ratio=settings[LOW_FPS_RATIO],
    )


def metrics_target(settings: ReadSettings) -> str | None:
    """MediaMTX /metrics: as set, None when 'off', by default the API host on 9998."""
    return site_metrics_target(Site(DEFAULT_SITE, settings[API], settings[METRICS_URL]))


def stale_after(settings: ReadSettings, interval: float) -> float:
    """Seconds without a successful poll that make the monitor blind, within bounds that
    depend on the interval (so checked after both are read)."""
    value = settings[STALE_AFTER]
    if value is None:
        return DEFAULT_STALE_POLLS * interval
    # The table's parser already refused anything over MAX_STALE_SECONDS.
    upper = max(min(MAX_STALE_POLLS * interval, MAX_STALE_SECONDS), interval)
    if not interval <= value <= upper:
        raise ConfigError(
            settings.source(STALE_AFTER),
            f"expected between one interval ({interval:g} s) and {upper:g} s, got {value:g}",
        )
    return value


def control_files(settings: ReadSettings) -> tuple[Path, Path] | None:
    """The controller certificate and key, or None when camera control is off."""
    cert, key = settings[CONTROL_CERT], settings[CONTROL_KEY]
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        missing = CONTROL_CERT if cert is None else CONTROL_KEY
        raise ConfigError(missing.env or missing.flag, "required with the other control setting")
    return cert, key


def hook_secret(settings: ReadSettings, environ: Mapping[str, str] | None = None) -> str | None:
    """The hook's shared secret: the file's, else ``TRASHMON_HOOK_SECRET`` (an error
    about it never shows the value); None when hooks are off."""
    from_file = settings[HOOK_SECRET_FILE]
    if from_file is not None:
        return from_file
    value = (os.environ if environ is None else environ).get("TRASHMON_HOOK_SECRET", "")
    if not value:
        return None
    checked = _checked_hook_secret(value)
    if isinstance(checked, ConfigError):
        raise checked
    return checked


def _checked_hook_secret(value: str) -> str | ConfigError:
    """The secret, or the error to raise about it. Made here, raised by the caller: raised
    in the except block, it would keep the checker's error as __context__ (``from None``
    only hides it from the printout), whose traceback holds the secret as a local."""
    try:
        return check_secret(value)
    except ValueError as error:
        return ConfigError("TRASHMON_HOOK_SECRET", str(error))


def quiet_http_logs() -> None:
    """httpx logs every request at INFO: a poll per second per page is noise, not news."""
    import logging  # the monitor's alone: the probe neither logs nor imports logging

    if logging.getLogger().level > logging.DEBUG:
        logging.getLogger("httpx").setLevel(logging.WARNING)


if __name__ == "__main__":  # prints the settings table of docs/monitor.md
    print(SETTINGS.markdown(), end="")

"""Settings shared by ``trashmon probe`` and ``trashmon monitor`` (flag > env > default).

Every setting is declared once in :data:`SETTINGS`-style helpers below so the two
commands, their ``--help`` and docs/monitor.md agree on names and defaults.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from typing import TypeVar

from trashmonitor.monitor.health import Thresholds

from trashmonitor.settings import flag_or_env, parse_http_url, parse_name_list, parse_seconds

T = TypeVar("T")

DEFAULT_API = "http://127.0.0.1:9997"


def parse_ratio(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError("expected a number between 0 and 1") from None
    if not 0 <= value <= 1:
        raise ValueError("expected a number between 0 and 1")
    return value


def parse_whole(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError("expected a whole number") from None
    if value < 1:
        raise ValueError("expected a whole number above 0")
    return value


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api",
        metavar="URL",
        help="MediaMTX API, direct (http://host:9997) or behind Caddy (http://host/api) "
        f"(env TRASHMON_MEDIAMTX_API, default {DEFAULT_API})",
    )
    parser.add_argument(
        "--expect",
        metavar="A,B",
        help="cameras that must exist: missing ones are down with no_publisher, so an "
        "empty path list is not a pass (env TRASHMON_EXPECT)",
    )
    parser.add_argument(
        "--parked",
        metavar="A,B",
        help="cameras set aside: reported as parked, never failing (env TRASHMON_PARKED)",
    )


def add_threshold_arguments(parser: argparse.ArgumentParser, *, with_stall: bool) -> None:
    defaults = Thresholds()
    if with_stall:
        parser.add_argument(
            "--stall-after",
            metavar="S",
            help="unchanged inbound bytes with a publisher attached for S seconds = stalled "
            f"(env TRASHMON_STALL_AFTER, default {defaults.stall_after:g})",
        )
    parser.add_argument(
        "--frames-error-window",
        metavar="S",
        help="look-back for rising frames in error "
        f"(env TRASHMON_FRAMES_ERROR_WINDOW, default {defaults.frames_error_window:g})",
    )
    parser.add_argument(
        "--frames-error-min",
        metavar="N",
        help="new frames in error within the window that degrade a camera "
        f"(env TRASHMON_FRAMES_ERROR_MIN, default {defaults.frames_error_min})",
    )
    parser.add_argument(
        "--agent-stale-after",
        metavar="S",
        help="an online agent silent for S seconds is stale "
        f"(env TRASHMON_AGENT_STALE_AFTER, default {defaults.agent_stale_after:g})",
    )
    parser.add_argument(
        "--low-fps-ratio",
        metavar="R",
        help="fps below target x R is low_fps "
        f"(env TRASHMON_LOW_FPS_RATIO, default {defaults.low_fps_ratio:g})",
    )


def _setting(
    args: argparse.Namespace, name: str, env: str, parse: Callable[[str], T], default: T
) -> T:
    return flag_or_env(
        args,
        attribute=name.replace("-", "_"),
        flag=f"--{name}",
        env_var=env,
        parse=parse,
        default=default,
    )


def api_url(args: argparse.Namespace) -> str:
    return _setting(args, "api", "TRASHMON_MEDIAMTX_API", parse_http_url, DEFAULT_API)


def parked(args: argparse.Namespace) -> frozenset[str]:
    return _setting(args, "parked", "TRASHMON_PARKED", parse_name_list, frozenset())


def expected(args: argparse.Namespace) -> frozenset[str]:
    return _setting(args, "expect", "TRASHMON_EXPECT", parse_name_list, frozenset())


def seconds(args: argparse.Namespace, name: str, env: str, default: float) -> float:
    return _setting(args, name, env, parse_seconds, default)


def thresholds(args: argparse.Namespace) -> Thresholds:
    defaults = Thresholds()
    stall_after = defaults.stall_after
    if hasattr(args, "stall_after"):
        stall_after = seconds(args, "stall-after", "TRASHMON_STALL_AFTER", stall_after)
    return Thresholds(
        stall_after=stall_after,
        frames_error_window=seconds(
            args,
            "frames-error-window",
            "TRASHMON_FRAMES_ERROR_WINDOW",
            defaults.frames_error_window,
        ),
        frames_error_min=_setting(
            args,
            "frames-error-min",
            "TRASHMON_FRAMES_ERROR_MIN",
            parse_whole,
            defaults.frames_error_min,
        ),
        agent_stale_after=seconds(
            args, "agent-stale-after", "TRASHMON_AGENT_STALE_AFTER", defaults.agent_stale_after
        ),
        low_fps_ratio=_setting(
            args, "low-fps-ratio", "TRASHMON_LOW_FPS_RATIO", parse_ratio, defaults.low_fps_ratio
        ),
    )


def quiet_http_logs() -> None:
    """httpx logs every request at INFO: a poll per second per page is noise, not news."""
    if logging.getLogger().level > logging.DEBUG:
        logging.getLogger("httpx").setLevel(logging.WARNING)

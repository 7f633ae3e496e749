"""The MediaMTX client's settings, shared by ``trashmon probe`` and ``trashmon monitor``
(flag > env > default): credentials for the API and /metrics, and the answer size cap."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from trashmonitor.monitor.mediamtx_http import (
    DEFAULT_MAX_BODY_BYTES,
    MAX_MAX_BODY_BYTES,
    MIN_MAX_BODY_BYTES,
    Credentials,
    read_credentials_file,
)

from trashmonitor.settings import flag_or_env

CREDENTIALS_ENV = "TRASHMON_MEDIAMTX_CREDENTIALS_FILE"
MAX_BODY_ENV = "TRASHMON_MEDIAMTX_MAX_BODY"


@dataclass(frozen=True)
class ClientSettings:
    credentials: Credentials | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES


def add_client_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mediamtx-credentials-file",
        metavar="PATH",
        help="a file with one line user:password for MediaMTX's API and /metrics "
        f"(HTTP Basic; env {CREDENTIALS_ENV}; default none)",
    )
    parser.add_argument(
        "--mediamtx-max-body",
        metavar="BYTES",
        help="largest MediaMTX answer read, bigger is an error "
        f"(env {MAX_BODY_ENV}, default {DEFAULT_MAX_BODY_BYTES})",
    )


def parse_max_body(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError("expected a size in bytes") from None
    if not MIN_MAX_BODY_BYTES <= value <= MAX_MAX_BODY_BYTES:
        raise ValueError(f"expected {MIN_MAX_BODY_BYTES} to {MAX_MAX_BODY_BYTES} bytes")
    return value


def client_settings(args: argparse.Namespace) -> ClientSettings:
    """Read both settings; a bad value is a ConfigError naming the flag or variable (the
    file's content, a password, never appears in it)."""
    credentials = flag_or_env(
        args,
        attribute="mediamtx_credentials_file",
        flag="--mediamtx-credentials-file",
        env_var=CREDENTIALS_ENV,
        parse=read_credentials_file,
        default=None,
    )
    max_body = flag_or_env(
        args,
        attribute="mediamtx_max_body",
        flag="--mediamtx-max-body",
        env_var=MAX_BODY_ENV,
        parse=parse_max_body,
        default=DEFAULT_MAX_BODY_BYTES,
    )
    return ClientSettings(credentials, max_body)

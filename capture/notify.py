"""systemd's notify protocol, spoken directly (a datagram to ``$NOTIFY_SOCKET``).

Fifteen lines instead of a dependency: ``READY=1`` once streaming, ``WATCHDOG=1`` from
the supervisor loop (so a hung loop stops the pings and systemd restarts the unit),
``STATUS=…`` for ``systemctl status``, ``STOPPING=1`` on the way out.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


def notify(message: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send one notification; False when not running under systemd (or it failed)."""
    env = os.environ if environ is None else environ
    address = env.get("NOTIFY_SOCKET", "")
    if not address or address[0] not in "/@":
        return False
    # A leading @ means the Linux abstract namespace (a NUL byte on the wire).
    target = "\0" + address[1:] if address[0] == "@" else address
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(message.encode(), target)
    except OSError as error:
        log.debug("sd_notify %r failed: %s", message.split("=", 1)[0], error)
        return False
    return True


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """Seconds between WATCHDOG=1 pings (half of WatchdogSec), or None if not asked for."""
    env = os.environ if environ is None else environ
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 2_000_000 if usec > 0 else None

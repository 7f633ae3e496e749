"""One retry policy for both APIs, and the error that asks for it.

The Cloudflare SDK's own retries are switched off (``max_retries=0`` by default): this
policy covers Cloudflare and Tailscale alike, honours ``Retry-After`` up to
``max_wait`` (the SDK ignores values above 60 s), and takes its ``sleep`` as a
parameter so tests never wait. When the attempts run out the error propagates and the
reconciler reports it as drift (exit 1), never as a crash.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TypeVar

from trashmonitor.backoff import Backoff
from trashmonitor.errors import DriftError, TransientAPIError, TrashmonError, UnreachableError

T = TypeVar("T")
log = logging.getLogger(__name__)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def transient_kind(status: int) -> str | None:
    if status == 429:
        return "rate_limited"
    if status >= 500 or status == 408:
        return "server"
    return None


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3  # the first try included
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_wait: float = 60.0  # a Retry-After above this is not waited for
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    jitter: Callable[[], float] = field(default=random.random, compare=False)

    def delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to wait before try ``attempt + 1``; None: give up now."""
        if retry_after is not None:
            return retry_after if retry_after <= self.max_wait else None
        return Backoff(self.base_delay, self.max_delay, jitter=0.25).delay(attempt, self.jitter())

    def call(self, what: str, function: Callable[[], T]) -> T:
        """``function()``, tried again while its error says ``retryable`` (the error
        tree's attribute), at most ``attempts`` times in all."""
        attempt = 1
        while True:
            try:
                return function()
            except TrashmonError as error:
                retry_after = error.retry_after if isinstance(error, TransientAPIError) else None
                wait = self.delay(attempt, retry_after)
                if not error.retryable or attempt >= self.attempts or wait is None:
                    raise
                log.warning(
                    "%s: %s; retry %d/%d in %.1fs",
                    what,
                    error.message,
                    attempt,
                    self.attempts - 1,
                    wait,
                )
                self.sleep(wait)
                attempt += 1


def give_up(error: TrashmonError) -> TrashmonError:
    """Retries are exhausted: 429/5xx are drift (exit 1), no connection is exit 2."""
    if error.kind == "unreachable":
        return UnreachableError(error.message)
    return DriftError(f"{error.message}; gave up after retries")

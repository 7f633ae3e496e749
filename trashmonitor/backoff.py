"""One backoff for every retry: capped exponential delay with symmetric jitter.

Pure: the random draw is a parameter, so callers and tests replay any history without
sleeping. The capture supervisor (ffmpeg restarts) and the DNS API clients (transient
HTTP errors) both wait this way; only their numbers differ.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    initial: float = 1.0
    """Delay after the first failure, before jitter."""
    maximum: float = 30.0
    """No delay exceeds this, jitter included."""
    jitter: float = 0.2
    """Delays are scaled by a factor in [1 - jitter, 1 + jitter]."""

    def delay(self, failures: int, rand: float) -> float:
        """Seconds to wait after ``failures`` failures in a row (1, 2, 4, … × initial);
        ``rand`` is a uniform draw in [0, 1] (clamped)."""
        base = self.initial * 2.0 ** max(0, min(failures - 1, 30))
        factor = 1 + self.jitter * (2 * min(max(rand, 0.0), 1.0) - 1)
        return min(self.maximum, base * factor)

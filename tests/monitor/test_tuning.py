"""Process-wide tuning of the polling daemon (monitor/tuning.py)."""

from __future__ import annotations

import gc
import subprocess
import sys

from support.processes import OUTSIDE_REPO, clean_environ

from trashmonitor.monitor.tuning import (
    GC_YOUNG_THRESHOLD,
    MALLOC_ARENAS,
    tune_gc_for_polling,
    tune_malloc_for_polling,
)


def test_malloc_returns_large_buffers_on_glibc() -> None:
    # This machine runs glibc (as the server image does): the threshold is set, which
    # also stops glibc from raising it after each freed answer.
    assert tune_malloc_for_polling() is True


def test_gc_tuning_raises_only_the_young_generation() -> None:
    before = gc.get_threshold()
    try:
        tune_gc_for_polling()
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *before[1:])
    finally:
        gc.set_threshold(*before)


# Eight threads malloc at once (held at a barrier), then glibc's malloc_stats() lists
# its arenas on stderr ("Arena N:"): glibc gives each new thread an arena of its own
# while it may (up to 8 per core) unless the tuning caps them.
_ARENAS_OF_EIGHT_THREADS = """
import ctypes, sys, threading
from trashmonitor.monitor.tuning import tune_malloc_for_polling
if sys.argv[1] == "tuned":
    tune_malloc_for_polling()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
barrier = threading.Barrier(8)
def allocate():
    barrier.wait(60)
    libc.malloc(1024)
    barrier.wait(60)
threads = [threading.Thread(target=allocate) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
libc.malloc_stats()
"""


def arenas_after_eight_threads(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-P", "-c", _ARENAS_OF_EIGHT_THREADS, mode],
        capture_output=True, text=True, env=clean_environ(), cwd=OUTSIDE_REPO, timeout=60,
        check=True,
    )  # fmt: skip
    return sum(line.startswith("Arena ") for line in done.stderr.splitlines())


def test_threads_share_at_most_two_malloc_arenas() -> None:
    """Memory (issue 17 §3): the daemon's threads (a page window's thread per page each
    poll, the HTTP server's per request) each got an arena of their own, whose freed
    holes each kept (at 10,000 paths ~2 MiB of the glibc heap)."""
    assert arenas_after_eight_threads("plain") > MALLOC_ARENAS  # what the cap prevents
    assert arenas_after_eight_threads("tuned") <= MALLOC_ARENAS

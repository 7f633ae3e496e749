"""Process-wide tuning for a process that polls: the cyclic GC's young generation and
glibc's mmap threshold and arenas, each measured on the monitor at 10,000 paths. ``trashmon
monitor`` calls both once at start-up (:mod:`trashmonitor.monitor.daemon_cli`); the
probe, which runs one poll, has its own (it pauses the GC while it runs)."""

from __future__ import annotations

import gc

# Young-generation size of the cyclic GC in the daemon (CPython's default is 700).
GC_YOUNG_THRESHOLD = 50_000


def tune_gc_for_polling() -> None:
    """Fewer cyclic-GC passes for a process that holds a history of snapshots.

    Each poll at 10,000 paths allocates hundreds of thousands of short-lived containers
    (JSON, parsed paths, samples) while ~170,000 tracked objects live in the history. At
    the default threshold that is hundreds of young collections a poll, cascading into
    full scans of the whole history (measured: up to a third of the cycle's CPU). The
    snapshots hold no reference cycles: reference counting frees them either way.
    """
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


# glibc's M_MMAP_THRESHOLD (malloc.h): blocks from this size up are mmapped, and so
# returned to the system when freed.
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 128 * 1024
# glibc's M_ARENA_MAX: at most this many malloc arenas, the main one and one that the
# threads share.
M_ARENA_MAX = -8
MALLOC_ARENAS = 2


def tune_malloc_for_polling() -> bool:
    """Keep glibc returning each poll's large buffers (answers of ~0.7 MB a page, the
    /metrics text, the rendered exposition) to the system.

    glibc mmaps blocks of 128 KiB and more, but raises that threshold (up to 32 MiB) each
    time it frees one: after the first poll every answer lands in the heap, where the
    holes they leave between longer-lived objects keep the RSS high (measured at 10,000
    paths: 190 MiB, 114 MiB with the threshold fixed, as ``MALLOC_MMAP_THRESHOLD_``
    would). Setting it explicitly turns the adjustment off.

    The threads share one arena (:data:`MALLOC_ARENAS`): glibc gives each new thread an
    arena of its own while it may (8 per core), and the daemon starts threads all the
    time (a page window's per page each poll, the HTTP server's per request); each
    arena kept its own free holes (measured at 10,000 paths: the glibc heap 12.3-12.6 →
    10.0-10.6 MiB). The GIL keeps them from contending for it. False where there is no
    glibc (musl, macOS): nothing to tune there.
    """
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    mallopt(M_ARENA_MAX, MALLOC_ARENAS)
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))

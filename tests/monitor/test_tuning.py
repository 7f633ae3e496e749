"""Process-wide tuning of the polling daemon (monitor/tuning.py)."""

from __future__ import annotations

import gc

from trashmonitor.monitor.tuning import (
    GC_YOUNG_THRESHOLD,
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

"""A test helper's own thread for the length of a ``with`` block."""

from __future__ import annotations

import threading
from typing import Self


class BackgroundLoop:
    """Runs :meth:`run` on a daemon thread from ``__enter__``; ``__exit__`` sets
    :attr:`stopping` (which ``run`` watches), joins the thread, then calls :meth:`close`."""

    join_seconds = 5.0

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """What to release once the thread has ended (nothing by default)."""

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping.set()
        self._thread.join(self.join_seconds)
        self.close()

"""One BLAS thread per search while embedded searches run side by side.

qdrant-client's local mode scores a query with one numpy matrix-vector product over the whole
collection, which OpenBLAS (numpy's BLAS) splits over every core. When reader threads run two
searches at once, each product still asks for every core, and OpenBLAS's idle workers spin
waiting for more: the searches slow each other down and the event loop's thread waits for a
core. Measured on 2 cores, 32 searches in flight: two readers with one BLAS thread each served
~40% more queries per second than with OpenBLAS's default, loop p99 lateness ~4 ms either way.
A search that runs alone keeps every BLAS thread (one thread made it ~10% slower when local
mode scored in float64; with the engine's float32 queries it measured the same, at half the CPU
time, which is not acted on yet: see the README's "Tuning an embedded store").

The limit is process-wide (BLAS has one setting per process), so it is held only while two or
more searches are in flight (queued or running), counted over every engine of the process, and
the previous setting is put back as soon as fewer are.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from ._logging import logger

__all__ = ["SideBySideBlas", "side_by_side_blas"]


class SideBySideBlas:
    """Counts searches in flight; from two on, BLAS libraries run ``threads`` thread(s) each."""

    def __init__(self, threads: int = 1) -> None:
        if threads < 1:
            raise ValueError("threads must be at least 1")
        self.threads = threads
        self._lock = threading.Lock()
        self._in_flight = 0
        self._controller: Any = None  # found on first need: a scan of the loaded libraries
        self._limit: Any = None  # the active limit, which knows the settings to put back

    @property
    def limited(self) -> bool:
        """Whether the limit is held right now."""
        return self._limit is not None

    @contextlib.contextmanager
    def search(self) -> Iterator[None]:
        """Wrap one search, from its submission: the limit holds while another is in flight."""
        with self._lock:
            self._in_flight += 1
            if self._in_flight == 2:
                self._hold()
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1
                if self._in_flight == 1:
                    self._release()

    def prepare(self) -> None:
        """Find the BLAS libraries now (a scan of the loaded libraries, ~6 ms of Python) rather
        than at the first limit, which happens on the thread that submits a search: your loop's.
        Measured: a process's first burst of concurrent searches left the loop 13-21 ms late at
        worst with the scan there, 5-9 ms with it done beforehand."""
        if self._controller is not None:
            return
        try:
            controller = _find_blas_libraries()
        except Exception as error:  # noqa: BLE001 - as in _hold
            logger.debug("could not find BLAS libraries: %s", error)
            return
        with self._lock:
            if self._controller is None:
                self._controller = controller

    def _hold(self) -> None:
        try:
            if self._controller is None:
                self._controller = _find_blas_libraries()
            self._limit = self._controller.limit(limits=self.threads, user_api="blas")
        except Exception as error:  # noqa: BLE001 - a tuning knob must never fail a search
            logger.debug("could not limit BLAS threads: %s", error)
            self._limit = None

    def _release(self) -> None:
        limit, self._limit = self._limit, None
        if limit is None:
            return
        try:
            limit.restore_original_limits()
        except Exception as error:  # noqa: BLE001 - as above
            logger.debug("could not restore BLAS threads: %s", error)


def _find_blas_libraries() -> Any:
    """threadpoolctl's controller: a scan of the libraries loaded in this process."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


# One per process: BLAS threads are one setting per process, so every engine counts here.
side_by_side_blas = SideBySideBlas()

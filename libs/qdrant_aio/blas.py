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
the previous setting is put back as soon as fewer are. The limit is often taken on one thread
and put back on another (whichever search ends the overlap), which threadpoolctl 3.8 ignores
for OpenBLAS unless told otherwise: see ``_let_any_thread_set_blas``.
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
        """Find the BLAS libraries now (a scan of the loaded libraries: 0.6 ms of Python in a warm
        process, 3.2 ms with threadpoolctl's import) rather than at the first limit, which
        happens on the thread that submits a search: your loop's.
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
        limit = None
        try:
            if self._controller is None:
                self._controller = _find_blas_libraries()
            _let_any_thread_set_blas()
            limit = self._controller.limit(limits=self.threads, user_api="blas")
            _let_any_thread_set_blas()
        except Exception as error:  # noqa: BLE001 - a tuning knob must never fail a search
            logger.debug("could not limit BLAS threads: %s", error)
        # Kept even if the last step failed: a limit that took effect must be put back.
        self._limit = limit

    def _release(self) -> None:
        limit, self._limit = self._limit, None
        if limit is None:
            return
        try:
            _let_any_thread_set_blas()
            limit.restore_original_limits()
            _let_any_thread_set_blas()
        except Exception as error:  # noqa: BLE001 - as above
            logger.debug("could not restore BLAS threads: %s", error)


def _find_blas_libraries() -> Any:
    """threadpoolctl's controller: a scan of the libraries loaded in this process."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _let_any_thread_set_blas() -> None:
    """Let the next thread that sets OpenBLAS's thread count be obeyed.

    threadpoolctl 3.8 obeys, for OpenBLAS's process-wide pool, only the first thread that set
    its thread count, until that thread ends; calls from any other thread do nothing, silently.
    The limit is set on the thread that submits the second search in flight and put back on the
    one whose search leaves one in flight, often another, and was then ignored: BLAS stayed at
    one thread for the rest of the process (found in review: sync and async searches of one
    engine, 3 of 3 runs). The changes here are already one at a time, under the lock of
    SideBySideBlas, so no thread needs to own them. Earlier versions have no such owner."""
    from threadpoolctl import OpenBLASController

    clear = getattr(OpenBLASController, "clear_controlling_thread", None)
    if clear is not None:
        clear(force=True)


# One per process: BLAS threads are one setting per process, so every engine counts here.
side_by_side_blas = SideBySideBlas()

"""Measuring instruments of the benchmark: event-loop lateness, HTTP request counts, percentiles."""

from __future__ import annotations

import asyncio
import gc
import re
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["LoopMonitor", "RequestCounter", "percentile", "median"]


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (linear interpolation); NaN for no samples."""
    if not samples:
        return float("nan")
    return float(np.percentile(np.asarray(samples, dtype=float), q))


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


class LoopMonitor:
    """A task that sleeps ``interval`` in a loop and records how late each wake-up is.

    A loop blocked for the whole phase shows up as one wake-up late by the length of the phase:
    :meth:`stop` waits for the sleep in progress to end, so that last lateness is recorded too.
    """

    def __init__(self, interval: float = 0.001) -> None:
        self.interval = interval
        self.lateness: list[float] = []  # seconds
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        # Garbage-collector pauses in the same window (any thread): they stall the loop too.
        self.gc_pauses: list[float] = []
        self._gc_started = 0.0

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self._gc_started:
            self.gc_pauses.append(time.perf_counter() - self._gc_started)

    async def start(self) -> None:
        gc.callbacks.append(self._on_gc)
        self._task = asyncio.create_task(self._run())
        # Let the task enter its first sleep before the phase under test begins.
        await asyncio.sleep(0)

    async def _run(self) -> None:
        while not self._stopping:
            start = time.perf_counter()
            await asyncio.sleep(self.interval)
            self.lateness.append(max(0.0, time.perf_counter() - start - self.interval))

    async def stop(self) -> dict[str, float]:
        self._stopping = True
        if self._task is not None:
            await self._task
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        samples_ms = [s * 1000 for s in self.lateness]
        return {
            "worst_ms": max(samples_ms) if samples_ms else float("nan"),
            "p99_ms": percentile(samples_ms, 99),
            "samples": len(samples_ms),
            "gc_max_ms": max(self.gc_pauses) * 1000 if self.gc_pauses else 0.0,
            "gc_total_ms": sum(self.gc_pauses) * 1000,
        }


_COLLECTION_PATH = re.compile(r"/collections/[^/]+")


def request_kind(method: str, path: str) -> str:
    """``PUT /collections/{c}/points``: the operation, without the collection's name."""
    return f"{method} {_COLLECTION_PATH.sub('/collections/{c}', path, count=1)}"


class RequestCounter:
    """Counts HTTP requests sent by qdrant-client, through httpx event hooks.

    ``async_hooks()`` goes to ``AsyncQdrantClient(url=..., event_hooks=...)`` (httpx awaits
    them), ``sync_hooks()`` to ``QdrantClient``. The hooks are plain closures (qdrant-client
    keeps its init options, and a bound method would be copied with its instance). Also tracks
    the largest number of requests in flight (request sent, response headers not yet received).
    """

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.in_flight = 0
        self.peak_in_flight = 0
        lock = threading.Lock()

        def on_request(request: Any) -> None:
            with lock:
                self.counts[request_kind(request.method, request.url.path)] += 1
                self.in_flight += 1
                self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

        def on_response(response: Any) -> None:
            with lock:
                self.in_flight -= 1

        async def on_request_async(request: Any) -> None:
            on_request(request)

        async def on_response_async(response: Any) -> None:
            on_response(response)

        self._sync = {"request": [on_request], "response": [on_response]}
        self._async = {"request": [on_request_async], "response": [on_response_async]}

    def sync_hooks(self) -> dict[str, list[Any]]:
        return {k: list(v) for k, v in self._sync.items()}

    def async_hooks(self) -> dict[str, list[Any]]:
        return {k: list(v) for k, v in self._async.items()}

    def snapshot(self) -> Counter[str]:
        return Counter(self.counts)

    def reset_peak(self) -> None:
        self.peak_in_flight = self.in_flight

    def since(self, before: Counter[str]) -> dict[str, int]:
        """Requests by kind sent since ``before`` (a :meth:`snapshot`)."""
        diff = self.counts - before
        return dict(sorted(diff.items()))

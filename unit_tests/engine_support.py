"""Test helpers shared by the unit tests: deterministic vectors and a client wrapper for faults.

A module of its own name (not conftest), because integration_tests/ has a conftest too and
pytest puts both folders on sys.path."""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from qdrant_client import QdrantClient
from qdrant_client.http.exceptions import UnexpectedResponse


def unit_vector(seed: str, dim: int = 8) -> list[float]:
    """A deterministic unit vector for ``seed`` (stable across processes)."""
    rng = random.Random(int(hashlib.sha256(seed.encode()).hexdigest()[:16], 16))
    raw = [rng.gauss(0, 1) for _ in range(dim)]
    norm = math.sqrt(sum(x * x for x in raw))
    return [x / norm for x in raw]


def http_error(status: int) -> UnexpectedResponse:
    import httpx

    return UnexpectedResponse(status, "injected", b'{"status":"injected"}', httpx.Headers())


class RecordingClient:
    """Wraps a real client: records calls and the thread of each, injects failures on demand."""

    def __init__(self, inner: QdrantClient) -> None:
        self._inner = inner
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.threads: list[threading.Thread] = []
        self.fail_next: dict[str, list[BaseException]] = {}
        self.fail_rate: dict[str, float] = {}
        self.failure_error: BaseException = http_error(503)
        self.rng = random.Random(7)
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()
        self.delay = 0.0
        # name -> a function given the recorded call that returns what to use instead (a call
        # that answers otherwise: a lost answer, another result, an unknown error).
        self.around: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {}

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if not callable(target):
            return target
        if name in self.around:
            return self.around[name](self._recorded(name, target))
        return self._recorded(name, target)

    def _recorded(self, name: str, target: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls.append((name, kwargs))
                self.threads.append(threading.current_thread())
                queued = self.fail_next.get(name)
                if queued:
                    raise queued.pop(0)
                if self.rng.random() < self.fail_rate.get(name, 0.0):
                    raise self.failure_error
            return target(*args, **kwargs)

        return call

    def count_calls(self, name: str) -> int:
        return sum(1 for n, _ in self.calls if n == name)


class LoopTurns:
    """``async with LoopTurns() as turns``: ``turns.count`` counts the turns of the running
    event loop meanwhile (a task that yields once a turn), to see whether other work let the
    loop run."""

    def __init__(self) -> None:
        self.count = 0
        self._task: asyncio.Task[None] | None = None

    async def _turn(self) -> None:
        while True:
            self.count += 1
            await asyncio.sleep(0)

    async def __aenter__(self) -> LoopTurns:
        self._task = asyncio.ensure_future(self._turn())
        await asyncio.sleep(0)  # started before the work under test
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


R = TypeVar("R")


async def loop_turns_of_calls(
    monkeypatch: Any, module: Any, name: str, work: Callable[[], Awaitable[R]]
) -> tuple[list[int], R]:
    """``work()``'s result, and the turn of the event loop at each call of ``module.name``
    meanwhile (more than one distinct turn: the loop ran other tasks between the calls)."""
    seen: list[int] = []
    async with LoopTurns() as turns:
        monkeypatch.setattr(
            module, name, spy(getattr(module, name), seen, lambda *_, **__: turns.count)
        )
        result = await work()
    return seen, result


def spy(function: Callable[..., R], seen: list[Any], note: Callable[..., Any]) -> Callable[..., R]:
    """``function``, recording ``note(*args)`` in ``seen`` before each call."""

    def recorded(*args: Any, **kwargs: Any) -> R:
        seen.append(note(*args, **kwargs))
        return function(*args, **kwargs)

    return recorded

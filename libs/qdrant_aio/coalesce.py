"""Concurrent searches of one collection, sent together as Qdrant batch queries.

Per collection and event loop, a few requests are in flight at once; searches that arrive while
all of them are busy wait, and go out together in the next free request (``query_batch_points``).
One search alone is sent at once on its own, so coalescing costs a lone caller nothing. A batch
that the server refuses (a bad filter in one search, say) is sent again one search at a time, so
that only the bad search fails.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .config import QueryCoalescing
from .errors import CollectionNotFoundError, EngineClosedError
from .retry import is_transient

__all__ = ["QueryCoalescer"]

# One search (query_points keyword arguments) -> its points.
SendOne = Callable[[str, dict[str, Any]], Awaitable[list[Any]]]
# Several searches in one request -> their points, in order.
SendBatch = Callable[[str, Sequence[dict[str, Any]]], Awaitable[list[list[Any]]]]


@dataclass
class _Waiting:
    search: dict[str, Any]
    future: asyncio.Future[list[Any]]


@dataclass
class _Lane:
    """One collection on one event loop."""

    waiting: deque[_Waiting] = field(default_factory=deque)
    in_flight: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class QueryCoalescer:
    def __init__(self, options: QueryCoalescing, send_one: SendOne, send_batch: SendBatch) -> None:
        self._options = options
        self._send_one = send_one
        self._send_batch = send_batch
        self._lanes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Lane]] = (
            weakref.WeakKeyDictionary()
        )

    async def query(self, collection_name: str, search: dict[str, Any]) -> list[Any]:
        """The points of one search, sent alone or with others waiting at the same time."""
        loop = asyncio.get_running_loop()
        lane = self._lanes.setdefault(loop, {}).setdefault(collection_name, _Lane())
        if lane.in_flight < self._options.max_in_flight and not lane.waiting:
            lane.in_flight += 1
            try:
                return await self._send_one(collection_name, search)
            finally:
                lane.in_flight -= 1
                self._dispatch(loop, collection_name, lane)
        future: asyncio.Future[list[Any]] = loop.create_future()
        lane.waiting.append(_Waiting(search, future))
        return await future  # a caller cancelled meanwhile is skipped when batches are cut

    def _dispatch(self, loop: asyncio.AbstractEventLoop, name: str, lane: _Lane) -> None:
        while lane.waiting and lane.in_flight < self._options.max_in_flight:
            batch: list[_Waiting] = []
            while lane.waiting and len(batch) < self._options.max_batch:
                waiting = lane.waiting.popleft()
                if not waiting.future.done():
                    batch.append(waiting)
            if batch:
                lane.in_flight += 1
                task = loop.create_task(self._send(loop, name, lane, batch))
                lane.tasks.add(task)  # held until done (the loop keeps only weak references)
                task.add_done_callback(lane.tasks.discard)

    async def _send(
        self, loop: asyncio.AbstractEventLoop, name: str, lane: _Lane, batch: list[_Waiting]
    ) -> None:
        try:
            if len(batch) == 1:
                outcomes: list[Any] = await self._each_alone(name, batch)
            else:
                try:
                    outcomes = await self._send_batch(name, [w.search for w in batch])
                except Exception as error:  # noqa: BLE001 - handed to the callers below
                    if not _one_search_may_be_to_blame(error):
                        raise
                    # Each on its own, so that a search the server refuses fails alone.
                    outcomes = await self._each_alone(name, batch)
        except asyncio.CancelledError:
            for waiting in batch:
                waiting.future.cancel()
            raise
        except Exception as error:  # noqa: BLE001 - every caller of the batch gets it
            outcomes = [error] * len(batch)
        finally:
            lane.in_flight -= 1
            self._dispatch(loop, name, lane)
        for waiting, outcome in zip(batch, outcomes, strict=True):
            if waiting.future.done():  # its caller was cancelled meanwhile
                continue
            if isinstance(outcome, BaseException):
                waiting.future.set_exception(outcome)
            else:
                waiting.future.set_result(outcome)

    async def _each_alone(self, name: str, batch: list[_Waiting]) -> list[Any]:
        """Each search in its own request: its points, or the error it alone met."""
        return await asyncio.gather(
            *(self._send_one(name, w.search) for w in batch), return_exceptions=True
        )


def _one_search_may_be_to_blame(error: BaseException) -> bool:
    """Whether a refused batch is worth sending again one search at a time.

    Not when the collection is gone, the engine closed, or the server stayed unreachable
    through the retries: every search of the batch would fail the same way.
    """
    if isinstance(error, (CollectionNotFoundError, EngineClosedError)):
        return False
    cause = error.__cause__  # the engine raises its typed errors from the original one
    return not is_transient(cause if cause is not None else error)

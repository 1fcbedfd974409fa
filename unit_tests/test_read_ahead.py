"""Ingest reads its source one batch ahead: the next batch is produced while this one is stored.

Also ``overlapped`` (a write's lookups run while its input is checked) and the lane of
``map_cooperatively`` (slices of maps running at once take turns with the loop)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from engine_support import LoopTurns, unit_vector

from qdrant_aio import IngestError, IngestOptions, InvalidInputError, PointInput, QdrantEngine
from qdrant_aio.bridge import ReadAhead, map_cooperatively, overlapped


class Source:
    """An async generator of 0, 1, 2, ... that records how far it got and whether it closed."""

    def __init__(self, n: int, fail_at: int | None = None, hold_at: int | None = None) -> None:
        self.n = n
        self.fail_at = fail_at
        self.hold_at = hold_at  # this item waits until released (a slow embedding call)
        self.release = asyncio.Event()
        self.started: list[int] = []
        self.closed = False
        self.cancelled = False

    async def items(self) -> AsyncIterator[int]:
        try:
            for i in range(self.n):
                self.started.append(i)
                if i == self.hold_at:
                    await self.release.wait()
                if i == self.fail_at:
                    raise RuntimeError(f"embedding of batch {i} failed")
                await asyncio.sleep(0)
                yield i
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        finally:
            self.closed = True


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_items_come_in_order_and_the_end_is_the_end() -> None:
    source = Source(5)
    reader = ReadAhead(source.items())
    assert [i async for i in reader] == [0, 1, 2, 3, 4]
    assert source.closed
    with pytest.raises(StopAsyncIteration):
        await reader.__anext__()


async def test_the_next_item_is_fetched_while_the_caller_works_but_no_further() -> None:
    source = Source(5)
    reader = ReadAhead(source.items())
    assert await reader.__anext__() == 0
    await settle()  # the caller busy with item 0
    assert source.started == [0, 1]  # item 1 is on its way, item 2 is not
    assert await reader.__anext__() == 1
    await settle()
    assert source.started == [0, 1, 2]
    await reader.aclose()


async def test_an_error_of_the_source_reaches_the_caller_after_the_items_before_it() -> None:
    source = Source(5, fail_at=2)
    reader = ReadAhead(source.items())
    got: list[int] = []
    with pytest.raises(RuntimeError, match="batch 2"):
        async for i in reader:
            got.append(i)
    assert got == [0, 1]
    with pytest.raises(StopAsyncIteration):
        await reader.__anext__()


async def test_closing_cancels_the_fetch_in_progress_and_closes_the_source() -> None:
    source = Source(5, hold_at=1)
    reader = ReadAhead(source.items())
    assert await reader.__anext__() == 0
    await settle()
    assert source.started == [0, 1]  # item 1 waits on its (slow) embedding
    await reader.aclose()
    assert source.cancelled and source.closed
    await reader.aclose()  # idempotent


async def test_closing_a_reader_that_never_started_closes_the_source() -> None:
    source = Source(3)
    items = source.items()
    reader = ReadAhead(items)
    assert await reader.__anext__() == 0
    fetch = reader._fetch
    assert fetch is not None
    await fetch  # item 1 is ready and waiting: the generator is suspended at its yield
    await reader.aclose()
    assert source.closed and not source.cancelled


async def test_a_cancelled_caller_cancels_the_fetch_it_waited_for() -> None:
    source = Source(5, hold_at=1)
    reader = ReadAhead(source.items())
    assert await reader.__anext__() == 0
    waiting = asyncio.ensure_future(reader.__anext__())
    await settle()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await settle()
    assert source.cancelled and source.closed


# ------------------------------------------------------------------ in the engine's ingest


def batch(i: int, size: int = 3) -> list[PointInput]:
    return [
        PointInput(id=f"b{i}-{j}", payload={"i": i}, dense=unit_vector(f"b{i}-{j}", 8))
        for j in range(size)
    ]


async def test_the_engine_asks_for_the_next_batch_before_it_stores_this_one(
    engine: QdrantEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[int] = []
    next_asked = {i: asyncio.Event() for i in range(4)}

    async def batches() -> AsyncIterator[list[PointInput]]:
        for i in range(4):
            asked.append(i)
            next_asked[i].set()
            yield batch(i)

    original = engine._prepare_all
    prepared: list[str] = []

    async def prepare(points: Any, layout: Any) -> Any:
        first = points[0][0].id
        number = int(first[1 : first.index("-")])
        if number < 3:
            # A source read only when the engine is done with this batch would hang here.
            await asyncio.wait_for(next_asked[number + 1].wait(), 5)
        prepared.append(first)
        return await original(points, layout)

    monkeypatch.setattr(engine, "_prepare_all", prepare)
    ids = await engine.aupsert("c", batches())
    assert len(ids) == 12 and prepared == ["b0-0", "b1-0", "b2-0", "b3-0"]
    assert await engine.acount("c") == 12


async def test_bad_input_stops_the_read_ahead_and_closes_the_source() -> None:
    engine = QdrantEngine(ingest=IngestOptions(batch_size=3))  # batch 0 goes out on its own
    source_state = {"closed": False, "produced": 0}
    slow_embedding = asyncio.Event()  # never set: batch 2 is still being embedded

    async def batches() -> AsyncIterator[list[PointInput]]:
        try:
            yield batch(0)
            source_state["produced"] = 1
            bad = batch(1)
            bad[1] = PointInput(id="bad", payload={}, dense=[float("nan")] * 8)
            yield bad
            source_state["produced"] = 2
            await slow_embedding.wait()
            yield batch(2)
        finally:
            source_state["closed"] = True

    with pytest.raises(IngestError) as caught:
        await engine.aupsert("c", batches())
    assert isinstance(caught.value.__cause__, InvalidInputError)
    assert set(caught.value.ids_not_written) == {"b1-0", "bad", "b1-2"}
    assert source_state == {"closed": True, "produced": 2}
    assert await engine.acount("c") == 3  # batch 0 only
    await engine.aclose()


async def test_an_embedding_failure_of_a_batch_read_ahead_is_reported_as_before() -> None:
    engine = QdrantEngine(ingest=IngestOptions(batch_size=3))
    async def batches() -> AsyncIterator[list[PointInput]]:
        yield batch(0)
        yield batch(1)
        raise RuntimeError("embedding service down")

    expected = [p.id for i in range(3) for p in batch(i)]
    with pytest.raises(IngestError, match="embedding service down") as caught:
        await engine.aupsert("c", batches(), expected_ids=expected)
    assert set(caught.value.ids_not_written) == {p.id for p in batch(2)}
    assert await engine.acount("c") == 6
    await engine.aclose()


class Lookup:
    """A look-ahead that waits to be released, and records whether it was cancelled."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.cancelled = False
        self.error = error

    async def run(self) -> str:
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        if self.error is not None:
            raise self.error
        return "looked up"


async def test_overlapped_runs_the_look_ahead_while_the_work_runs() -> None:
    lookup = Lookup()

    async def work() -> str:
        await asyncio.wait_for(lookup.started.wait(), 5)  # would time out if run one after other
        lookup.release.set()
        return "checked"

    assert await overlapped(lookup.run(), work()) == ("looked up", "checked")


async def test_overlapped_reports_the_works_error_and_cancels_the_look_ahead() -> None:
    lookup = Lookup(error=ConnectionError("server down"))

    async def work() -> str:
        await lookup.started.wait()
        raise InvalidInputError("bad text")

    with pytest.raises(InvalidInputError, match="bad text"):
        await overlapped(lookup.run(), work())
    assert lookup.cancelled


async def test_overlapped_raises_the_look_aheads_error_once_the_work_succeeded() -> None:
    lookup = Lookup(error=ConnectionError("server down"))

    async def work() -> str:
        lookup.release.set()
        return "checked"

    with pytest.raises(ConnectionError, match="server down"):
        await overlapped(lookup.run(), work())


async def test_cancelling_overlapped_cancels_both() -> None:
    lookup = Lookup()
    work = Lookup()
    task = asyncio.ensure_future(overlapped(lookup.run(), work.run()))
    await asyncio.wait_for(asyncio.gather(lookup.started.wait(), work.started.wait()), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert lookup.cancelled and work.cancelled


async def test_slices_of_maps_running_at_once_never_share_a_turn_of_the_loop() -> None:
    seen: list[tuple[str, int]] = []
    async with LoopTurns() as turns:

        def record(item: tuple[str, int]) -> int:
            seen.append((item[0], turns.count))
            return item[1] * 2

        # A budget of 0: one item a slice. Five maps at once, as an add's checks and its four
        # upsert bodies are.
        results = await asyncio.gather(*(
            map_cooperatively(record, [(name, i) for i in range(20)], budget=0.0)
            for name in "abcde"
        ))
    assert results == [[2 * i for i in range(20)]] * 5
    assert len(seen) == 100
    # Every slice ran in a turn of its own: the loop's timers and I/O had a turn between any two.
    assert len({turn for _, turn in seen}) == 100
    assert {name for name, _ in seen[:5]} == set("abcde")  # they take turns, not one by one


async def test_captured_keeps_an_error_for_later_but_not_a_cancellation() -> None:
    from qdrant_aio.bridge import captured

    async def fails() -> int:
        raise InvalidInputError("bad node")

    async def works() -> int:
        return 7

    assert (await captured(works())).result() == 7
    outcome = await captured(fails())  # nothing raised yet
    with pytest.raises(InvalidInputError, match="bad node"):
        outcome.result()
    started = asyncio.Event()

    async def waits() -> int:
        started.set()
        await asyncio.sleep(10)
        return 0

    task = asyncio.ensure_future(captured(waits()))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

"""BLAS threads are held to one while embedded searches run side by side, and set back after."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from engine_support import unit_vector
from qdrant_client import QdrantClient
from threadpoolctl import ThreadpoolController

from qdrant_aio import PointInput, QdrantEngine, SearchRequest
from qdrant_aio.blas import SideBySideBlas, side_by_side_blas
from qdrant_aio.transport import EmbeddedTransport

CONTROLLER = ThreadpoolController()


def blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in CONTROLLER.select(user_api="blas").info()]


@pytest.fixture
def two_blas_threads() -> Iterator[None]:
    """Two BLAS threads to start from (whatever the machine's default), put back after."""
    if not blas_threads():
        pytest.fail("numpy should come with a BLAS library that threadpoolctl can see")
    limit = CONTROLLER.limit(limits=2, user_api="blas")
    try:
        yield
    finally:
        limit.restore_original_limits()


class RecordingClient:
    """A local client whose searches record the BLAS threads they run with."""

    def __init__(self) -> None:
        self.inner = QdrantClient(":memory:")
        self.side_by_side = False
        self.seen: list[list[int]] = []
        self._lock = threading.Lock()
        # Two searches meet here, so each records while the other one is surely running.
        self._meet = threading.Barrier(2, timeout=5)

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if name != "query_points":
            return target

        def query(*args: Any, **kwargs: Any) -> Any:
            if self.side_by_side:
                self._meet.wait()
            with self._lock:
                self.seen.append(blas_threads())
            if self.side_by_side:
                self._meet.wait()
            return target(*args, **kwargs)

        return query


def points(n: int) -> list[PointInput]:
    return [PointInput(f"p{i}", {"i": i}, unit_vector(f"p{i}")) for i in range(n)]


def search(engine: QdrantEngine, i: int) -> Any:
    return engine.aquery("c", SearchRequest(dense=unit_vector(f"p{i}"), limit=1))


@pytest.mark.usefixtures("two_blas_threads")
async def test_side_by_side_searches_get_one_blas_thread_and_a_lone_one_keeps_all() -> None:
    client = RecordingClient()
    transport = EmbeddedTransport(client=client, readers=2)  # type: ignore[arg-type]
    engine = QdrantEngine(_transport=transport)
    await engine.aupsert("c", points(4))
    assert [hits[0].id for hits in [await search(engine, 0)]] == ["p0"]
    assert client.seen == [[2] * len(blas_threads())]  # alone: untouched
    client.seen.clear()
    client.side_by_side = True
    results = await asyncio.gather(search(engine, 1), search(engine, 2))
    assert [hits[0].id for hits in results] == ["p1", "p2"]
    assert client.seen == [[1] * len(blas_threads())] * 2
    assert blas_threads() == [2] * len(blas_threads())  # set back once they are done
    assert not side_by_side_blas.limited
    await engine.aclose()


@pytest.mark.usefixtures("two_blas_threads")
async def test_limit_blas_false_leaves_blas_alone() -> None:
    client = RecordingClient()
    engine = QdrantEngine(
        _transport=EmbeddedTransport(client=client, readers=2, limit_blas=False)  # type: ignore[arg-type]
    )
    await engine.aupsert("c", points(4))
    client.side_by_side = True
    await asyncio.gather(search(engine, 1), search(engine, 2))
    assert client.seen == [[2] * len(blas_threads())] * 2
    await engine.aclose()


class FakeLimit:
    def __init__(self, log: list[str], fail: bool) -> None:
        self.log = log
        self.fail = fail

    def restore_original_limits(self) -> None:
        self.log.append("restore")
        if self.fail:
            raise RuntimeError("restore failed")


class FakeController:
    def __init__(self, fail: bool = False) -> None:
        self.log: list[str] = []
        self.fail = fail

    def limit(self, *, limits: int, user_api: str) -> FakeLimit:
        self.log.append(f"limit {limits} {user_api}")
        return FakeLimit(self.log, self.fail)


def test_the_limit_is_held_from_the_second_search_to_the_last_but_one() -> None:
    limiter = SideBySideBlas()
    controller = FakeController()
    limiter._controller = controller
    with limiter.search():
        assert controller.log == [] and not limiter.limited
        with limiter.search():
            assert controller.log == ["limit 1 blas"] and limiter.limited
            with limiter.search():
                assert controller.log == ["limit 1 blas"]  # held once, not stacked
            assert controller.log == ["limit 1 blas"] and limiter.limited  # two still running
        assert controller.log == ["limit 1 blas", "restore"] and not limiter.limited  # one left
    assert controller.log == ["limit 1 blas", "restore"]


def test_a_blas_library_that_fails_never_fails_the_search() -> None:
    limiter = SideBySideBlas()
    controller = FakeController(fail=True)
    limiter._controller = controller
    with limiter.search(), limiter.search():
        pass
    assert controller.log == ["limit 1 blas", "restore"] and not limiter.limited

    class Broken:
        def limit(self, **_: Any) -> None:
            raise OSError("no such symbol")

    limiter._controller = Broken()
    with limiter.search(), limiter.search():
        assert not limiter.limited
    with pytest.raises(ValueError):
        SideBySideBlas(threads=0)


async def test_searches_queued_back_to_back_hold_the_limit_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    controller = FakeController()
    monkeypatch.setattr(side_by_side_blas, "_controller", controller)
    engine = QdrantEngine(_transport=EmbeddedTransport(client=QdrantClient(":memory:"), readers=2))
    await engine.aupsert("c", points(4))
    results = await asyncio.gather(*(search(engine, i % 4) for i in range(24)))
    assert [hits[0].id for hits in results] == [f"p{i % 4}" for i in range(24)]
    # Not once per search: the count covers queued searches, so it never dips between two.
    assert controller.log == ["limit 1 blas", "restore"]
    await engine.aclose()


@pytest.mark.parametrize(("readers", "limit_blas", "prepared"), [
    (1, True, True), (2, True, True), (0, True, False), (1, False, False),
])
async def test_an_engine_with_readers_finds_the_blas_libraries_before_any_search(
    monkeypatch: pytest.MonkeyPatch, readers: int, limit_blas: bool, prepared: bool
) -> None:
    # Found at the first limit, the scan ran on the loop that submitted the searches.
    monkeypatch.setattr(side_by_side_blas, "_controller", None)
    engine = QdrantEngine(readers=readers, limit_blas=limit_blas)
    await engine.aupsert("c", [PointInput("p", {}, unit_vector("p"))])  # after it on storage
    assert (side_by_side_blas._controller is not None) is prepared
    await engine.aclose()


def test_prepare_never_raises_and_leaves_the_search_path_working(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    blas = SideBySideBlas()

    def broken() -> None:
        raise OSError("no libraries")

    monkeypatch.setattr("threadpoolctl.ThreadpoolController", broken)
    blas.prepare()
    assert blas._controller is None
    with blas.search(), blas.search():
        assert not blas.limited  # _hold could not find them either, and said nothing


def run_on_a_thread(step: Any) -> None:
    thread = threading.Thread(target=step)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive()


@pytest.mark.usefixtures("two_blas_threads")
@pytest.mark.parametrize("second_enters_on_a_thread", [True, False])
def test_the_limit_is_obeyed_when_set_on_one_thread_and_put_back_on_another(
    second_enters_on_a_thread: bool,
) -> None:
    # threadpoolctl 3.8 obeys only the first thread that set OpenBLAS's thread count: the
    # limit used to stay at one thread for the rest of the process once a search on another
    # thread than the one that took it ended the overlap (or the limit was never taken).
    blas = SideBySideBlas()
    first, second = blas.search(), blas.search()
    first.__enter__()
    if second_enters_on_a_thread:
        run_on_a_thread(second.__enter__)
    else:
        second.__enter__()
    assert blas.limited and blas_threads() and set(blas_threads()) == {1}
    if second_enters_on_a_thread:
        second.__exit__(None, None, None)
    else:
        run_on_a_thread(lambda: second.__exit__(None, None, None))
    assert not blas.limited and set(blas_threads()) == {2}
    first.__exit__(None, None, None)


def test_a_limit_that_took_effect_is_put_back_even_if_a_later_step_failed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    limiter = SideBySideBlas()
    controller = FakeController()
    limiter._controller = controller
    calls = iter([None, OSError("after the limit")])

    def clear_then_fail() -> None:
        error = next(calls, None)
        if error is not None:
            raise error

    monkeypatch.setattr("qdrant_aio.blas._let_any_thread_set_blas", clear_then_fail)
    with limiter.search(), limiter.search():
        assert limiter.limited
    assert controller.log == ["limit 1 blas", "restore"]

"""Local mode's dense arrays get room for a whole add at once (``qdrant_aio.local_capacity``)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from engine_support import unit_vector
from langchain_core.embeddings import DeterministicFakeEmbedding
from llama_index.core.schema import TextNode
from qdrant_client import AsyncQdrantClient, QdrantClient, models

from qdrant_aio import PointInput, QdrantEngine, SearchRequest
from qdrant_aio.langchain import QdrantVectorStore as LangChainStore
from qdrant_aio.llama_index import QdrantVectorStore as LlamaIndexStore
from qdrant_aio.local_capacity import reserve_dense_rows

DIM = 8


def _arrays(client: QdrantClient | AsyncQdrantClient, name: str) -> dict[str, np.ndarray]:
    local: Any = client._client
    arrays: dict[str, np.ndarray] = local.collections[name].vectors
    return arrays


def _client_with(name: str, points: int, vectors: tuple[str, ...] = ("dense",)) -> QdrantClient:
    client = QdrantClient(":memory:")
    client.create_collection(name, vectors_config={
        v: models.VectorParams(size=DIM, distance=models.Distance.COSINE) for v in vectors
    })
    _upsert(client, name, range(points), vectors)
    return client


def _upsert(client: QdrantClient, name: str, numbers: range, vectors: tuple[str, ...]) -> None:
    client.upsert(name, [
        models.PointStruct(
            id=str(uuid.UUID(int=i + 1)),
            vector={v: unit_vector(f"{v}-{i}", DIM) for v in vectors},
            payload={"i": i},
        )
        for i in numbers
    ])


def test_reserved_arrays_keep_the_stored_rows_and_give_the_same_results() -> None:
    reserved, plain = _client_with("c", 10), _client_with("c", 10)
    before = _arrays(reserved, "c")["dense"][:10].copy()

    assert reserve_dense_rows(reserved._client, "c", 100) == 110
    grown = _arrays(reserved, "c")["dense"]
    assert grown.shape == (110, DIM)
    assert np.array_equal(grown[:10], before)

    for client in (reserved, plain):
        _upsert(client, "c", range(10, 60), ("dense",))
        _upsert(client, "c", range(0, 5), ("dense",))  # overwrites land on their old rows
    assert _arrays(reserved, "c")["dense"].shape == (110, DIM)  # no growth of its own
    assert reserved.count("c").count == plain.count("c").count == 60
    for seed in range(5):
        query = unit_vector(f"query-{seed}", DIM)
        got = reserved.query_points("c", query=query, using="dense", limit=7).points
        want = plain.query_points("c", query=query, using="dense", limit=7).points
        assert [(p.id, p.score) for p in got] == [(p.id, p.score) for p in want]
    ids = [str(uuid.UUID(int=i + 1)) for i in (0, 33, 59)]
    assert reserved.retrieve("c", ids, with_vectors=True) == plain.retrieve(
        "c", ids, with_vectors=True
    )


def test_growth_is_at_least_twofold_so_small_adds_stay_cheap() -> None:
    client = _client_with("c", 10)
    capacity = _arrays(client, "c")["dense"].shape[0]  # local mode's own: 15
    assert reserve_dense_rows(client._client, "c", capacity - 10) == 0  # room enough already
    assert reserve_dense_rows(client._client, "c", capacity - 9) == 21  # 2 * 10 + 1
    assert _arrays(client, "c")["dense"].shape[0] == 21


def test_only_the_rows_of_the_add_are_written_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Written in one call (which lets go of the interpreter lock) instead of a huge page at a
    # time as points arrive; the rest of the room stays untouched.
    written: list[tuple[int, int, int]] = []

    def spy(rows: np.ndarray) -> None:
        base = rows.base
        assert isinstance(base, np.ndarray)
        start = (rows.__array_interface__["data"][0] - base.__array_interface__["data"][0])
        written.append((start // base.strides[0], rows.shape[0], base.shape[0]))
        rows[...] = 0

    monkeypatch.setattr("qdrant_aio.local_capacity._make_resident", spy)
    client = _client_with("c", 10, ("a", "b"))
    assert reserve_dense_rows(client._client, "c", 30) == 40
    assert written == [(10, 30, 40), (10, 30, 40)]  # rows 10..39 of each 40-row array
    assert reserve_dense_rows(client._client, "c", 5) == 0  # room enough: nothing written
    assert len(written) == 2


def test_every_dense_vector_of_the_collection_gets_room() -> None:
    client = _client_with("c", 3, vectors=("a", "b"))
    assert reserve_dense_rows(client._client, "c", 40) == 43
    assert {name: a.shape[0] for name, a in _arrays(client, "c").items()} == {"a": 43, "b": 43}


def _collection(vectors: Any, payload: Any) -> Any:
    return SimpleNamespace(collections={"c": SimpleNamespace(vectors=vectors, payload=payload)})


@pytest.mark.parametrize(
    "local",
    [
        object(),
        SimpleNamespace(collections={}),
        SimpleNamespace(collections=[("c", None)]),
        _collection({"d": [[1.0, 2.0]]}, [{}]),  # not an array
        _collection({"d": np.zeros(4, dtype=np.float32)}, []),  # not 2-D
        _collection({"d": np.zeros((1, 2), dtype=np.float32)}, [{}, {}]),  # fewer rows than points
        _collection({"d": np.zeros((1, 2), dtype=np.float32)}, ({},)),  # no payload list
        _collection([np.zeros((1, 2), dtype=np.float32)], [{}]),  # no dict of arrays
    ],
    ids=["no-collections", "no-such-collection", "collections-not-a-dict", "list-rows",
         "flat-array", "short-array", "payload-tuple", "vectors-list"],
)
def test_unexpected_local_state_is_left_alone(local: Any) -> None:
    collection = getattr(local, "collections", {})
    before = repr(collection)
    assert reserve_dense_rows(local, "c", 10) == 0
    assert repr(collection) == before


async def test_a_reservation_without_memory_is_skipped_and_the_add_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import qdrant_aio.local_capacity as capacity

    def no_memory(*args: Any, **kwargs: Any) -> Any:
        raise MemoryError("Unable to allocate")

    # Only this module's numpy runs out: local mode's own allocations go on as usual.
    monkeypatch.setattr(capacity, "np", SimpleNamespace(zeros=no_memory, ndarray=np.ndarray))
    client = _client_with("c", 10)
    before = _arrays(client, "c")["dense"]
    assert reserve_dense_rows(client._client, "c", 10**9) == 0
    assert _arrays(client, "c")["dense"] is before

    other = QdrantClient(":memory:")
    name = await _engine_add(other)
    assert other.count(name).count == ADDED
    assert _arrays(other, name)["dense"].shape[0] == 511  # local mode grew it by itself


def test_a_collection_named_by_an_alias_gets_room() -> None:
    client = _client_with("c", 10)
    client.update_collection_aliases(change_aliases_operations=[
        models.CreateAliasOperation(
            create_alias=models.CreateAlias(collection_name="c", alias_name="al")
        )
    ])
    assert reserve_dense_rows(client._client, "al", 100) == 110
    assert _arrays(client, "c")["dense"].shape[0] == 110


@pytest.mark.parametrize("rows", [0, -3])
def test_no_rows_no_reservation(rows: int) -> None:
    client = _client_with("c", 10)
    shape = _arrays(client, "c")["dense"].shape
    assert reserve_dense_rows(client._client, "c", rows) == 0
    assert _arrays(client, "c")["dense"].shape == shape


# Without a reservation local mode ends an add of 300 points into a new collection with room
# for 511 (1, 3, 7, ... rows); with one, exactly 300.
ADDED = 300


async def _engine_add(client: QdrantClient) -> str:
    engine = QdrantEngine.from_client(client)
    await engine.aupsert("c", [
        PointInput(id=f"p{i}", payload={"i": i}, dense=unit_vector(str(i), DIM))
        for i in range(ADDED)
    ])
    await engine.aclose()
    return "c"


async def _langchain_add(client: QdrantClient) -> str:
    store = LangChainStore(
        client=client, collection_name="lc", embedding=DeterministicFakeEmbedding(size=DIM)
    )
    await store.aadd_texts([f"text {i}" for i in range(ADDED)], ids=[f"t{i}" for i in range(ADDED)])
    await store.aclose()
    return "lc"


async def _llama_index_add(client: QdrantClient) -> str:
    store = LlamaIndexStore("li", client=client)
    await store.async_add([
        TextNode(id_=f"n{i}", text=f"text {i}", embedding=unit_vector(str(i), DIM))
        for i in range(ADDED)
    ])
    await store.aclose()
    return "li"


@pytest.mark.parametrize("add", [_engine_add, _langchain_add, _llama_index_add])
async def test_an_add_reserves_room_for_all_its_points_once(add: Any) -> None:
    client = QdrantClient(":memory:")
    name = await add(client)
    assert client.count(name).count == ADDED
    assert _arrays(client, name)["dense"].shape[0] == ADDED


async def test_an_async_local_client_gets_the_reservation_too() -> None:
    client = AsyncQdrantClient(":memory:")
    engine = QdrantEngine.from_client(client)
    await engine.aupsert("c", [
        PointInput(id=f"p{i}", payload={}, dense=unit_vector(str(i), DIM)) for i in range(ADDED)
    ])
    assert _arrays(client, "c")["dense"].shape[0] == ADDED
    await engine.aclose()


async def test_a_reservation_waits_for_reads_in_progress() -> None:
    engine = QdrantEngine(readers=2)
    await engine.aupsert("c", [PointInput(id="a", payload={}, dense=unit_vector("a", DIM))])
    transport: Any = engine._transport
    arrays = transport._local.collections["c"].vectors
    reading, release = threading.Event(), threading.Event()

    def read() -> None:
        with transport._rw.reading():
            reading.set()
            release.wait(5)

    reader = threading.Thread(target=read)
    reader.start()
    assert reading.wait(5)
    reservation = asyncio.ensure_future(transport.reserve_rows("c", 1000))
    await asyncio.sleep(0.1)
    assert not reservation.done()
    assert arrays["dense"].shape[0] == 1  # nothing swapped under the read
    release.set()
    await reservation
    reader.join()
    assert arrays["dense"].shape[0] == 1001
    await engine.aclose()


async def test_searches_go_on_while_the_new_rows_are_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Writing a large add's rows takes long (~0.85 s for 250,000 rows here): it happens before
    # the write lock is taken, so a search of the store is answered meanwhile.
    engine = QdrantEngine(readers=1)
    await engine.aupsert("c", [PointInput(id="a", payload={}, dense=unit_vector("a", DIM))])
    transport: Any = engine._transport
    writing, searched = threading.Event(), threading.Event()

    def slow_write(rows: np.ndarray) -> None:
        writing.set()
        assert searched.wait(5), "the search waited for the rows to be written"
        rows[...] = 0

    monkeypatch.setattr("qdrant_aio.local_capacity._make_resident", slow_write)
    reservation = asyncio.ensure_future(transport.reserve_rows("c", 1000))
    assert await asyncio.to_thread(writing.wait, 5)
    hits = await engine.aquery("c", SearchRequest(dense=unit_vector("a", DIM), limit=1))
    searched.set()
    await reservation
    assert [hit.id for hit in hits] == ["a"]
    assert transport._local.collections["c"].vectors["dense"].shape[0] == 1001
    await engine.aclose()


def test_arrays_changed_meanwhile_are_left_in_place() -> None:
    client = _client_with("c", 10)
    arrays = _arrays(client, "c")
    swapped_in = np.zeros((11, DIM), dtype=np.float32)

    @contextlib.contextmanager
    def another_write_first() -> Iterator[None]:
        arrays["dense"] = swapped_in  # what a write between build and swap would do
        yield

    assert reserve_dense_rows(client._client, "c", 100, installing=another_write_first) == 0
    assert arrays["dense"] is swapped_in

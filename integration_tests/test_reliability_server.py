"""Reliability against a real Qdrant server, through both adapters.

The fault, load and close scenarios of ``unit_tests/test_reliability_adapters.py`` that make sense
with a network in between, plus the request-size split on the server's real 32 MB request limit.
Faults are injected at the client boundary: the engine talks to the server through a wrapper of
its ``AsyncQdrantClient`` that fails a chosen share of calls the way a server or a network does.
Skipped (with the reason shown) where no server is available; see ``conftest.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import pytest
from langchain_core.embeddings import Embeddings
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import VectorStoreQuery
from qdrant_client import AsyncQdrantClient
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from qdrant_aio import (
    IngestError,
    IngestOptions,
    QdrantAioError,
    QdrantEngine,
    QdrantRequestError,
    RetryPolicy,
)
from qdrant_aio.ids import point_id_for
from qdrant_aio.langchain import QdrantVectorStore as LangChainStore
from qdrant_aio.llama_index import QdrantVectorStore as LlamaIndexStore
from qdrant_aio.transport import RemoteTransport

DIM = 16
GUARD = 300  # a hang guard, never a timing assertion
MIB = 1024 * 1024
ADAPTERS = ("langchain", "llama_index")
by_adapter = pytest.mark.parametrize("kind", ADAPTERS)


# ---------------------------------------------------------------------- fakes and helpers


def vector(seed: str, dim: int = DIM) -> list[float]:
    rng = random.Random(int(hashlib.sha256(seed.encode()).hexdigest()[:16], 16))
    raw = [rng.gauss(0, 1) for _ in range(dim)]
    norm = math.sqrt(sum(x * x for x in raw))
    return [x / norm for x in raw]


def http_error(status: int) -> UnexpectedResponse:
    return UnexpectedResponse(status, "injected", b'{"status":"injected"}', httpx.Headers())


def transient_errors() -> list[BaseException]:
    return [
        TimeoutError("read timed out"),
        ConnectionResetError("connection reset by peer"),
        ResponseHandlingException(httpx.ConnectError("connection refused")),
        http_error(429),
        http_error(502),
        http_error(503),
        grpc.aio.AioRpcError(
            grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "injected"
        ),
    ]


class FaultyAsyncClient:
    """Wraps an ``AsyncQdrantClient``: records calls, fails a share of them, holds one on demand.

    Every other injected failure happens after the real request was answered (a lost response),
    so retries re-send requests that already took effect.
    """

    def __init__(self, inner: AsyncQdrantClient, rate: float = 0.0) -> None:
        self._inner = inner
        self.rate = rate
        self.rng = random.Random(11)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail_next: dict[str, list[BaseException]] = {}
        self.poison: Callable[[str, Mapping[str, Any]], bool] | None = None
        self.hold_call: tuple[str, int] | None = None
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.injected = 0
        self._errors = transient_errors()

    def count_calls(self, name: str) -> int:
        return sum(1 for n, _ in self.calls if n == name)

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if not callable(target) or name == "close":
            return target

        async def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, kwargs))
            number = self.count_calls(name)
            queued = self.fail_next.get(name)
            if queued:
                raise queued.pop(0)
            if self.poison is not None and self.poison(name, kwargs):
                raise http_error(503)
            error: BaseException | None = None
            after = False
            if self.rng.random() < self.rate:
                error = self._errors[self.injected % len(self._errors)]
                after = self.injected % 2 == 1
                self.injected += 1
            if error is not None and not after:
                raise error
            result = await target(*args, **kwargs)
            if self.hold_call == (name, number):
                # The request took effect; its answer is held back, as on a slow network.
                self.entered.set()
                await self.release.wait()
            if error is not None:
                raise error
            return result

        return call


def server_engine(
    url: str,
    api_key: str | None,
    client: FaultyAsyncClient | None = None,
    *,
    attempts: int = 8,
    batch_size: int = 50,
    max_request_bytes: int = 24 * MIB,
    max_concurrent_upserts: int = 4,
) -> QdrantEngine:
    options: dict[str, Any] = {"url": url, "api_key": api_key, "check_compatibility": False}
    options = {k: v for k, v in options.items() if v is not None}
    transport = RemoteTransport(options, user_client=client)  # type: ignore[arg-type]
    return QdrantEngine(
        _transport=transport,
        retry=RetryPolicy(max_attempts=attempts, initial_backoff=0.0, max_backoff=0.0),
        ingest=IngestOptions(
            batch_size=batch_size,
            max_request_bytes=max_request_bytes,
            max_concurrent_upserts=max_concurrent_upserts,
        ),
    )


def faulty_client(url: str, api_key: str | None, rate: float = 0.0) -> FaultyAsyncClient:
    return FaultyAsyncClient(
        AsyncQdrantClient(url=url, api_key=api_key, check_compatibility=False), rate
    )


class TableEmbeddings(Embeddings):
    """Native-async embeddings: a vector per text from a table, else a hash vector."""

    def __init__(self) -> None:
        self.table: dict[str, list[float]] = {}

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise AssertionError("the store called the sync embed_documents")

    def embed_query(self, text: str) -> list[float]:
        raise AssertionError("the store called the sync embed_query")

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        await asyncio.sleep(0)
        return [self.table.get(t) or vector(f"text:{t}") for t in texts]

    async def aembed_query(self, text: str) -> list[float]:
        return self.table.get(text) or vector(f"text:{text}")


@dataclass(frozen=True)
class Doc:
    id: str
    text: str
    metadata: Mapping[str, Any] = field(default_factory=dict)


def docs(n: int, prefix: str = "d") -> list[Doc]:
    return [Doc(f"{prefix}{i}", f"text of {prefix}{i}", {"i": i}) for i in range(n)]


Stored = tuple[str, str, dict[str, Any]]


class Store:
    """Either adapter behind one small async interface."""

    def __init__(self, kind: str, engine: QdrantEngine, collection: str, batch_size: int) -> None:
        self.kind = kind
        self.engine = engine
        self.collection = collection
        self.embeddings = TableEmbeddings()
        self.lc: LangChainStore | None = None
        self.li: LlamaIndexStore | None = None
        if kind == "langchain":
            self.lc = LangChainStore(
                client=engine, collection_name=collection, embedding=self.embeddings,
                batch_size=batch_size,
            )
        else:
            self.li = LlamaIndexStore(collection, engine=engine, batch_size=batch_size)

    async def add(self, items: Sequence[Doc]) -> list[str]:
        if self.lc is not None:
            for item in items:
                self.embeddings.table[item.text] = vector(item.id)
            return await self.lc.aadd_texts(
                [d.text for d in items], [dict(d.metadata) for d in items], [d.id for d in items]
            )
        assert self.li is not None
        nodes = [
            TextNode(id_=d.id, text=d.text, metadata=dict(d.metadata), embedding=vector(d.id))
            for d in items
        ]
        return await self.li.async_add(nodes)

    async def get(self, ids: Sequence[str]) -> list[Stored]:
        if self.lc is not None:
            found = await self.lc.aget_by_ids(list(ids))
            return [(str(d.id), d.page_content, dict(d.metadata)) for d in found]
        assert self.li is not None
        nodes = await self.li.aget_nodes(node_ids=list(ids)) if ids else []
        return [(n.node_id, n.get_content(), dict(n.metadata)) for n in nodes]

    async def search(self, query: list[float], k: int = 3) -> list[str]:
        if self.lc is not None:
            return [str(d.id) for d in await self.lc.asimilarity_search_by_vector(query, k=k)]
        assert self.li is not None
        result = await self.li.aquery(VectorStoreQuery(query_embedding=query, similarity_top_k=k))
        return list(result.ids or [])

    async def stored_ids(self) -> list[str]:
        return [h.id for h in await self.engine.ascroll_all(self.collection)]


def expected(items: Sequence[Doc]) -> dict[str, Stored]:
    return {d.id: (d.id, d.text, dict(d.metadata)) for d in items}


@pytest.fixture
async def cleanup(
    qdrant_url: str, qdrant_api_key: str | None, collection_name: str
) -> AsyncIterator[None]:
    yield
    client = AsyncQdrantClient(url=qdrant_url, api_key=qdrant_api_key, check_compatibility=False)
    try:
        await client.delete_collection(collection_name)
    finally:
        await client.close()


def statuses(error: BaseException) -> set[int]:
    found: set[int] = set()
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, UnexpectedResponse):
            found.add(current.status_code)
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
    return found


# ---------------------------------------------------------------------- faults


@by_adapter
@pytest.mark.usefixtures("cleanup")
async def test_10000_documents_with_10_percent_of_calls_failing_are_stored_exactly_once(
    kind: str, qdrant_url: str, qdrant_api_key: str | None, collection_name: str
) -> None:
    client = faulty_client(qdrant_url, qdrant_api_key, rate=0.10)
    engine = server_engine(qdrant_url, qdrant_api_key, client, attempts=10, batch_size=100)
    store = Store(kind, engine, collection_name, batch_size=200)
    items = docs(10_000)
    try:
        ids = await asyncio.wait_for(store.add(items), GUARD)
        assert ids == [d.id for d in items]
        assert client.injected >= 10
        assert await engine.acount(collection_name) == 10_000
        stored = await store.stored_ids()
        assert len(stored) == 10_000 and set(stored) == set(ids)
        sample = items[::101]
        assert {s[0]: s for s in await store.get([d.id for d in sample])} == expected(sample)
    finally:
        await engine.aclose()
        await client.close()


@by_adapter
@pytest.mark.usefixtures("cleanup")
async def test_a_permanent_error_of_the_server_is_not_retried(
    kind: str, qdrant_url: str, qdrant_api_key: str | None, collection_name: str
) -> None:
    client = faulty_client(qdrant_url, qdrant_api_key)
    engine = server_engine(qdrant_url, qdrant_api_key, client, attempts=5)
    store = Store(kind, engine, collection_name, batch_size=50)
    try:
        await store.add(docs(3, prefix="seed"))
        # Injected: a 4xx answer is raised at once.
        client.fail_next["upsert"] = [http_error(400)]
        with pytest.raises(IngestError) as injected:
            await store.add(docs(5))
        assert client.count_calls("upsert") == 2
        assert statuses(injected.value) == {400}
        # Real: the collection is recreated with another size behind the engine's back, so the
        # server itself rejects the next write with a 4xx; it is not retried either.
        raw = AsyncQdrantClient(url=qdrant_url, api_key=qdrant_api_key, check_compatibility=False)
        try:
            info = await raw.get_collection(collection_name)
            await raw.delete_collection(collection_name)
            vectors = info.config.params.vectors
            assert isinstance(vectors, dict)
            name = next(iter(vectors))
            await raw.create_collection(
                collection_name,
                vectors_config={name: vectors[name].model_copy(update={"size": DIM + 3})},
            )
        finally:
            await raw.close()
        upserts = client.count_calls("upsert")
        with pytest.raises(QdrantAioError) as real:
            await store.add(docs(5, prefix="r"))
        assert client.count_calls("upsert") == upserts + 1
        rejected = statuses(real.value)
        assert rejected and all(400 <= s < 500 and s != 429 for s in rejected), rejected
    finally:
        await engine.aclose()
        await client.close()


@by_adapter
@pytest.mark.usefixtures("cleanup")
async def test_when_retries_run_out_the_error_lists_exactly_the_ids_not_written(
    kind: str, qdrant_url: str, qdrant_api_key: str | None, collection_name: str
) -> None:
    client = faulty_client(qdrant_url, qdrant_api_key)
    engine = server_engine(
        qdrant_url, qdrant_api_key, client, attempts=3, batch_size=10, max_concurrent_upserts=2
    )
    store = Store(kind, engine, collection_name, batch_size=10)
    items = docs(60)
    poisoned = {point_id_for("d23"), point_id_for("d47")}
    client.poison = lambda name, kwargs: name == "upsert" and any(
        p.id in poisoned for p in kwargs["points"]
    )
    try:
        with pytest.raises(IngestError) as caught:
            await asyncio.wait_for(store.add(items), GUARD)
        missing = {f"d{i}" for i in (*range(20, 30), *range(40, 50))}
        assert sorted(caught.value.ids_not_written) == sorted(missing)
        assert set(await store.stored_ids()) == {d.id for d in items} - missing
        kept = [d for d in items if d.id not in missing]
        assert {s[0]: s for s in await store.get([d.id for d in kept])} == expected(kept)
        client.poison = None
        await store.add(items)
        assert sorted(await store.stored_ids()) == sorted(d.id for d in items)
    finally:
        await engine.aclose()
        await client.close()


@by_adapter
@pytest.mark.usefixtures("cleanup")
async def test_cancelling_an_ingest_leaves_a_consistent_store_and_a_rerun_completes_it(
    kind: str, qdrant_url: str, qdrant_api_key: str | None, collection_name: str
) -> None:
    client = faulty_client(qdrant_url, qdrant_api_key)
    client.hold_call = ("upsert", 3)  # lands on the server, but its answer never arrives
    engine = server_engine(
        qdrant_url, qdrant_api_key, client, batch_size=20, max_concurrent_upserts=2
    )
    store = Store(kind, engine, collection_name, batch_size=20)
    items = docs(2_000)
    try:
        task = asyncio.create_task(store.add(items))
        await asyncio.wait_for(client.entered.wait(), GUARD)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, GUARD)
        client.hold_call = None
        partial = await store.stored_ids()
        assert 0 < len(partial) < 2_000 and len(partial) == len(set(partial))
        by_id = expected(items)
        assert {s[0]: s for s in await store.get(partial)} == {i: by_id[i] for i in partial}
        assert await store.add(items) == [d.id for d in items]
        stored = await store.stored_ids()
        assert len(stored) == 2_000 and set(stored) == set(by_id)
        assert (await store.search(vector("d7"), k=1)) == ["d7"]
    finally:
        await engine.aclose()
        await client.close()


# ---------------------------------------------------------------------- load


@by_adapter
@pytest.mark.usefixtures("cleanup")
async def test_1000_searches_and_20_writers_leave_no_task_thread_or_client_behind(
    kind: str, qdrant_url: str, qdrant_api_key: str | None, collection_name: str
) -> None:
    tasks_before = len(asyncio.all_tasks())
    threads_before = set(threading.enumerate())
    engine = QdrantEngine(
        url=qdrant_url, api_key=qdrant_api_key, client_options={"check_compatibility": False}
    )
    store = Store(kind, engine, collection_name, batch_size=10)
    await store.add(docs(300))

    async def writer(k: int) -> None:
        for round_ in range(3):
            await store.add(docs(10, prefix=f"w{k}-{round_}-"))

    searches = [store.search(vector(f"q{i}"), k=3) for i in range(1000)]
    results = await asyncio.wait_for(
        asyncio.gather(*searches, *(writer(k) for k in range(20))), GUARD
    )
    assert all(len(r) == 3 for r in results[:1000])
    assert await engine.acount(collection_name) == 300 + 20 * 3 * 10
    transport = engine._transport
    assert isinstance(transport, RemoteTransport)
    await engine.aclose()
    assert transport._clients == {}  # every per-loop client was closed and dropped
    for _ in range(200):
        if set(threading.enumerate()) <= threads_before:
            break
        await asyncio.sleep(0.01)
    assert set(threading.enumerate()) <= threads_before
    assert len(asyncio.all_tasks()) == tasks_before


@by_adapter
@pytest.mark.usefixtures("cleanup")
async def test_closing_while_writes_are_in_flight_keeps_acknowledged_writes(
    kind: str, qdrant_url: str, qdrant_api_key: str | None, collection_name: str
) -> None:
    engine = server_engine(qdrant_url, qdrant_api_key, batch_size=10)
    store = Store(kind, engine, collection_name, batch_size=10)
    acknowledged: list[Doc] = []

    async def write(k: int) -> None:
        batch = docs(10, prefix=f"b{k}-")
        await store.add(batch)
        acknowledged.extend(batch)

    writes = [asyncio.create_task(write(k)) for k in range(30)]
    while not acknowledged and not all(t.done() for t in writes):
        await asyncio.sleep(0.001)
    await asyncio.wait_for(engine.aclose(), GUARD)
    outcomes = await asyncio.wait_for(asyncio.gather(*writes, return_exceptions=True), GUARD)
    for outcome in outcomes:
        assert outcome is None or isinstance(outcome, QdrantAioError), repr(outcome)
    assert acknowledged
    reopened = server_engine(qdrant_url, qdrant_api_key)
    try:
        again = Store(kind, reopened, collection_name, batch_size=10)
        found = await again.get([d.id for d in acknowledged])
        assert {s[0]: s for s in found} == expected(acknowledged)
    finally:
        await reopened.aclose()


# ---------------------------------------------------------------------- the 32 MB request limit


def big_text(seed: int, size: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(size))


@by_adapter
@pytest.mark.usefixtures("cleanup")
async def test_documents_well_over_32_mb_in_total_ingest_because_requests_are_cut_by_bytes(
    kind: str, qdrant_url: str, qdrant_api_key: str | None, collection_name: str
) -> None:
    client = faulty_client(qdrant_url, qdrant_api_key)
    engine = server_engine(qdrant_url, qdrant_api_key, client, batch_size=1000)  # 24 MiB cap
    store = Store(kind, engine, collection_name, batch_size=64)
    base = big_text(0, MIB)
    items = [Doc(f"big{i}", f"{i:04d}" + base[4:], {"i": i}) for i in range(48)]  # ~48 MiB
    try:
        assert await asyncio.wait_for(store.add(items), GUARD) == [d.id for d in items]
        upserts = [kw for name, kw in client.calls if name == "upsert"]
        assert len(upserts) >= 2  # one call of the adapter, several requests on the wire
        assert all(len(kw["points"]) < len(items) for kw in upserts)
        assert await engine.acount(collection_name) == len(items)
        for item in items[:: 12]:
            [(_, text, metadata)] = await store.get([item.id])
            assert hashlib.sha256(text.encode()).digest() == hashlib.sha256(
                item.text.encode()
            ).digest()
            assert metadata == item.metadata
    finally:
        await engine.aclose()
        await client.close()


@pytest.mark.usefixtures("cleanup")
async def test_the_server_limit_is_real_one_request_over_32_mb_is_refused(
    qdrant_url: str, qdrant_api_key: str | None, collection_name: str
) -> None:
    """The control of the test above: without the byte cut the same write fails."""
    engine = server_engine(
        qdrant_url, qdrant_api_key, attempts=2, batch_size=1000, max_request_bytes=256 * MIB
    )
    store = Store("langchain", engine, collection_name, batch_size=64)
    base = big_text(1, MIB)
    items = [Doc(f"big{i}", f"{i:04d}" + base[4:], {"i": i}) for i in range(48)]
    try:
        with pytest.raises(QdrantAioError) as caught:
            await asyncio.wait_for(store.add(items), GUARD)
        assert isinstance(caught.value, (IngestError, QdrantRequestError))
        assert await engine.acount(collection_name) == 0
    finally:
        await engine.aclose()

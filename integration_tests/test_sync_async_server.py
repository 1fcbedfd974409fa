"""Event-loop behaviour against a real Qdrant server.

Server mode gives each event loop its own ``AsyncQdrantClient``: async calls run on the caller's
loop and thread (no hop), sync calls on qdrant-aio's bridge loop. Where each HTTP request was
sent from is recorded by an httpx request hook, handed to the clients through qdrant-client's
pass-through keyword arguments (``client_options=`` of the engine, or the user's own
``AsyncQdrantClient(url=..., event_hooks=...)``). Also: sync methods inside a running loop, one
engine across several ``asyncio.run`` calls and loops (in turn and in parallel threads), and the
same over gRPC.

Skipped, with the reason shown, where no server is available (see ``conftest.py``). The gRPC
tests also need the server's gRPC port: found from the container under testcontainers, or given
by ``QDRANT_GRPC_PORT`` next to ``QDRANT_URL``.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from qdrant_client import AsyncQdrantClient, QdrantClient

from qdrant_aio import PointInput, QdrantEngine, QueryCoalescing, SearchRequest
from qdrant_aio.engine import engine_for
from qdrant_aio.langchain import QdrantVectorStore

BRIDGE_THREAD = "qdrant-aio-bridge"


def vector(seed: str, dim: int = 8) -> list[float]:
    rng = random.Random(int(hashlib.sha256(seed.encode()).hexdigest()[:16], 16))
    raw = [rng.gauss(0, 1) for _ in range(dim)]
    norm = math.sqrt(sum(x * x for x in raw))
    return [x / norm for x in raw]


def point(key: str) -> PointInput:
    return PointInput(key, {"key": key}, vector(key))


@dataclass(frozen=True)
class Sent:
    """Where one HTTP request was sent from."""

    thread: threading.Thread
    loop: asyncio.AbstractEventLoop
    path: str


@dataclass
class RequestLog:
    """httpx event hooks that record the thread and loop of every request, and overlap."""

    sent: list[Sent] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def on_request(self, request: httpx.Request) -> None:
        with self.lock:
            self.sent.append(Sent(threading.current_thread(), asyncio.get_running_loop(),
                                  request.url.path))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    async def on_response(self, response: httpx.Response) -> None:
        with self.lock:
            self.in_flight -= 1

    def hooks(self) -> dict[str, list[Any]]:
        return {"request": [self.on_request], "response": [self.on_response]}

    def take(self) -> list[Sent]:
        with self.lock:
            taken, self.sent = self.sent, []
        return taken


@pytest.fixture
def log() -> RequestLog:
    return RequestLog()


@pytest.fixture
def engine(
    qdrant_url: str, qdrant_api_key: str | None, collection_name: str, log: RequestLog
) -> Iterator[QdrantEngine]:
    eng = QdrantEngine(url=qdrant_url, api_key=qdrant_api_key,
                       client_options={"event_hooks": log.hooks()})
    yield eng
    eng.delete_collection(collection_name)
    eng.close()


# ---------------------------------------------------------------------- sync and async callers


def test_sync_methods_work_inside_a_running_loop(
    engine: QdrantEngine, collection_name: str, log: RequestLog
) -> None:
    async def main() -> int:
        caller = threading.current_thread()
        # A framework calling sync code from async code: no "loop already running", no deadlock.
        engine.upsert(collection_name, [point("p1"), point("p2")])
        hits = engine.query(collection_name, SearchRequest(dense=vector("p1"), limit=1))
        assert [h.id for h in hits] == ["p1"]
        assert engine.retrieve(collection_name, ["p2"])[0].payload == {"key": "p2"}
        engine.delete(collection_name, ids=["p1"])
        sent = log.take()
        assert sent and all(s.thread is not caller for s in sent)
        assert {s.thread.name for s in sent} == {BRIDGE_THREAD}
        # The async API on the same engine, in the same loop, right after.
        assert await engine.acount(collection_name) == 1
        return engine.count(collection_name)

    assert asyncio.run(main()) == 1


def test_sync_store_methods_work_inside_a_running_loop(
    qdrant_url: str, qdrant_api_key: str | None, collection_name: str
) -> None:
    store = QdrantVectorStore.from_texts(
        ["red apples", "yellow bananas"], DeterministicFakeEmbedding(size=8),
        ids=["apple", "banana"], collection_name=collection_name, url=qdrant_url,
        api_key=qdrant_api_key, retrieval_mode="hybrid",
    )

    async def main() -> list[str | None]:
        store.add_texts(["green kiwis"], ids=["kiwi"])
        found = store.similarity_search("kiwis", k=1)
        async_found = await store.asimilarity_search("kiwis", k=1)
        store.delete(["banana"])
        assert [d.id for d in store.get_by_ids(["apple", "banana", "kiwi"])] == ["apple", "kiwi"]
        return [d.id for d in found + async_found]

    try:
        assert asyncio.run(main()) == ["kiwi", "kiwi"]
    finally:
        store.delete_collection()
        store.close()


def test_the_same_engine_across_asyncio_run_calls(
    engine: QdrantEngine, collection_name: str, log: RequestLog
) -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    async def write(key: str) -> int:
        loops.append(asyncio.get_running_loop())
        await engine.aupsert(collection_name, [point(key)])
        return await engine.acount(collection_name)

    def sent_from(loop: asyncio.AbstractEventLoop) -> bool:
        sent = log.take()
        return bool(sent) and all(s.loop is loop for s in sent)

    assert asyncio.run(write("p1")) == 1
    assert sent_from(loops[-1])
    assert asyncio.run(write("p2")) == 2  # the first loop and its connections are gone
    assert sent_from(loops[-1])
    assert engine.count(collection_name) == 2
    assert {s.thread.name for s in log.take()} == {BRIDGE_THREAD}
    assert asyncio.run(write("p3")) == 3
    assert sent_from(loops[-1])
    assert len(set(loops)) == 3
    hits = asyncio.run(engine.aretrieve(collection_name, ["p3", "p1", "p2"]))
    assert [h.id for h in hits] == ["p3", "p1", "p2"]


async def test_async_calls_run_on_the_callers_loop_and_thread(
    engine: QdrantEngine, collection_name: str, log: RequestLog
) -> None:
    caller, loop = threading.current_thread(), asyncio.get_running_loop()
    await engine.aupsert(collection_name, [point(f"p{i}") for i in range(5)])
    await engine.aquery(collection_name, SearchRequest(dense=vector("p3"), limit=2))
    await engine.aretrieve(collection_name, ["p1"])
    await engine.ascroll_all(collection_name)
    await engine.adelete(collection_name, ids=["p4"])
    assert await engine.acount(collection_name) == 4
    sent = log.take()
    assert len(sent) >= 6
    assert all(s.thread is caller and s.loop is loop for s in sent)
    assert any(s.path.endswith("/points/query") for s in sent)
    # A sync call from here is served on the bridge loop, not on this one.
    assert engine.count(collection_name) == 4
    assert {(s.thread.name, s.loop is loop) for s in log.take()} == {(BRIDGE_THREAD, False)}


async def _twenty_concurrent_searches(
    engine: QdrantEngine, collection_name: str, log: RequestLog
) -> list[Sent]:
    """Twenty searches gathered on this loop: what was sent for them (all answered right)."""
    await engine.aupsert(collection_name, [point(f"p{i}") for i in range(20)])
    log.take()
    log.max_in_flight = 0
    results = await asyncio.gather(*(
        engine.aquery(collection_name, SearchRequest(dense=vector(f"p{i}"), limit=1))
        for i in range(20)
    ))
    assert [r[0].id for r in results] == [f"p{i}" for i in range(20)]
    sent = log.take()
    assert all(s.thread is threading.current_thread() for s in sent)
    assert log.max_in_flight > 1  # the requests were in flight together, not one by one
    return sent


async def test_concurrent_async_calls_overlap_on_the_callers_loop(
    engine: QdrantEngine, collection_name: str, log: RequestLog
) -> None:
    # By default a server gets the first few searches alone and the rest together, as
    # batch queries (coalesce_queries="auto").
    paths = [s.path for s in await _twenty_concurrent_searches(engine, collection_name, log)]
    alone = sum(p.endswith("/points/query") for p in paths)
    batches = sum(p.endswith("/points/query/batch") for p in paths)
    assert alone == QueryCoalescing().max_in_flight and 1 <= batches <= 4
    assert len(paths) == alone + batches


async def test_without_coalescing_every_search_is_a_request_of_its_own(
    qdrant_url: str, qdrant_api_key: str | None, collection_name: str, log: RequestLog
) -> None:
    engine = QdrantEngine(url=qdrant_url, api_key=qdrant_api_key, coalesce_queries=None,
                          client_options={"event_hooks": log.hooks()})
    try:
        sent = await _twenty_concurrent_searches(engine, collection_name, log)
        assert [s.path.rsplit("/", 2)[-2:] for s in sent] == [["points", "query"]] * 20
    finally:
        await engine.adelete_collection(collection_name)
        await engine.aclose()


async def test_a_users_async_client_serves_the_callers_loop(
    qdrant_url: str, qdrant_api_key: str | None, collection_name: str, log: RequestLog
) -> None:
    client = AsyncQdrantClient(url=qdrant_url, api_key=qdrant_api_key,
                               event_hooks=log.hooks())
    store = QdrantVectorStore(client=client, collection_name=collection_name,
                              embedding=DeterministicFakeEmbedding(size=8))
    caller, loop = threading.current_thread(), asyncio.get_running_loop()
    try:
        await store.aadd_texts(["one", "two", "three"], ids=["1", "2", "3"])
        assert [d.id for d in await store.asimilarity_search("two", k=1)] == ["2"]
        sent = log.take()
        assert sent and all(s.thread is caller and s.loop is loop for s in sent)
        # The user's own client still works beside the engine on this loop.
        assert (await client.count(collection_name)).count == 3
        log.take()
        # A sync call: another client made from the same options (hooks included), on the bridge.
        assert [d.id for d in store.get_by_ids(["3"])] == ["3"]
        assert {(s.thread.name, s.loop is loop) for s in log.take()} == {(BRIDGE_THREAD, False)}
    finally:
        await store.adelete_collection()
        await engine_for(client).aclose()
        await client.close()


def test_several_loops_in_turn(
    engine: QdrantEngine, collection_name: str, log: RequestLog
) -> None:
    for i in range(3):
        loop = asyncio.new_event_loop()
        try:
            count = loop.run_until_complete(_write_and_count(engine, collection_name, f"p{i}"))
        finally:
            loop.close()
        assert count == i + 1
        sent = log.take()
        assert sent and all(s.loop is loop for s in sent)
    assert engine.count(collection_name) == 3


async def _write_and_count(engine: QdrantEngine, collection_name: str, key: str) -> int:
    await engine.aupsert(collection_name, [point(key)])
    (hit,) = await engine.aquery(collection_name, SearchRequest(dense=vector(key), limit=1))
    assert hit.id == key
    return await engine.acount(collection_name)


def test_loops_in_parallel_threads_share_one_engine(
    engine: QdrantEngine, collection_name: str, log: RequestLog
) -> None:
    engine.upsert(collection_name, [point("seed")])  # create the collection once
    log.take()
    errors: list[BaseException] = []
    threads_used: list[threading.Thread] = []

    def worker(n: int) -> None:
        threads_used.append(threading.current_thread())
        try:
            asyncio.run(engine.aupsert(
                collection_name, [point(f"t{n}-{i}") for i in range(10)]
            ))
            hits = asyncio.run(engine.aretrieve(collection_name, [f"t{n}-{i}" for i in range(10)]))
            assert [h.id for h in hits] == [f"t{n}-{i}" for i in range(10)]
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)  # a hang guard, not a timing assertion
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert engine.count(collection_name) == 41
    sent = [s for s in log.take() if s.thread.name != BRIDGE_THREAD]
    assert {s.thread for s in sent} == set(threads_used)  # each thread sent its own requests


# ---------------------------------------------------------------------- gRPC


@pytest.fixture
def grpc_engine(
    qdrant_url: str, qdrant_api_key: str | None, qdrant_grpc_port: int, collection_name: str
) -> Iterator[QdrantEngine]:
    eng = QdrantEngine(url=qdrant_url, api_key=qdrant_api_key, prefer_grpc=True,
                       grpc_port=qdrant_grpc_port)
    yield eng
    eng.delete_collection(collection_name)
    eng.close()
    # Nothing is left behind, as seen over REST.
    client = QdrantClient(url=qdrant_url, api_key=qdrant_api_key)
    try:
        assert not client.collection_exists(collection_name)
    finally:
        client.close()


async def test_grpc_upsert_query_retrieve_delete(
    grpc_engine: QdrantEngine, collection_name: str, qdrant_url: str,
    qdrant_api_key: str | None,
) -> None:
    ids = ["alpha", "7", "0b6a1a9e-5a53-4d57-9f0a-3c3b1f1c2d4e", "beta gamma"]
    assert await grpc_engine.aupsert(collection_name, [point(i) for i in ids]) == ids
    hits = await grpc_engine.aquery(collection_name, SearchRequest(dense=vector("7"), limit=2))
    assert hits[0].id == "7" and hits[0].payload == {"key": "7"}
    assert [h.id for h in await grpc_engine.aretrieve(collection_name, ids[::-1])] == ids[::-1]
    await grpc_engine.adelete(collection_name, ids=["alpha"])
    assert await grpc_engine.acount(collection_name) == 3
    # Written over gRPC, read over REST: the same ids.
    rest = QdrantEngine(url=qdrant_url, api_key=qdrant_api_key)
    try:
        assert {h.id for h in await rest.ascroll_all(collection_name)} == set(ids[1:])
    finally:
        await rest.aclose()


def test_grpc_across_loops_and_inside_a_running_loop(
    grpc_engine: QdrantEngine, collection_name: str
) -> None:
    asyncio.run(grpc_engine.aupsert(collection_name, [point("p1")]))
    asyncio.run(grpc_engine.aupsert(collection_name, [point("p2")]))  # a new loop, a new channel

    async def inside() -> int:
        grpc_engine.upsert(collection_name, [point("p3")])  # sync, inside a running loop
        return await grpc_engine.acount(collection_name)

    assert asyncio.run(inside()) == 3
    assert [h.id for h in grpc_engine.retrieve(collection_name, ["p2", "p3"])] == ["p2", "p3"]


async def test_grpc_hybrid_store(
    qdrant_url: str, qdrant_api_key: str | None, qdrant_grpc_port: int, collection_name: str
) -> None:
    texts = ["the quokka smiled", "granite summit", "amber lagoon", "copper ferry"]
    store = await QdrantVectorStore.afrom_texts(
        texts, DeterministicFakeEmbedding(size=8), metadatas=[{"n": i} for i in range(4)],
        ids=[f"t{i}" for i in range(4)], collection_name=collection_name, url=qdrant_url,
        api_key=qdrant_api_key, prefer_grpc=True, grpc_port=qdrant_grpc_port,
        retrieval_mode="hybrid",
    )
    try:
        (top,) = await store.asimilarity_search("quokka", k=1)
        assert top.id == "t0" and top.metadata == {"n": 0}
        filtered = await store.asimilarity_search("quokka", k=4, filter={"n": {"$gte": 2}})
        assert {d.id for d in filtered} == {"t2", "t3"}
        mmr = store.max_marginal_relevance_search("amber lagoon", k=2, lambda_mult=0.5)
        assert mmr[0].id == "t2" and len(mmr) == 2
    finally:
        await store.adelete_collection()
        await store.aclose()

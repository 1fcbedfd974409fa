"""Concurrent searches sent together as batch queries (``coalesce_queries``): the same results
as one request per search, fewer requests, and failures kept apart; on by default for a server
(checked through qdrant-client's REST code over a mock transport), off embedded."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from engine_support import RecordingClient, http_error, unit_vector
from pydantic_core import to_jsonable_python
from qdrant_client import AsyncQdrantClient, QdrantClient, models

from qdrant_aio import (
    ConfigurationError,
    PointInput,
    QdrantEngine,
    QdrantRequestError,
    QueryCoalescing,
    RetryPolicy,
    SearchRequest,
)
from qdrant_aio.transport import EmbeddedTransport

N = 40


def engine_with(
    options: QueryCoalescing | None, **kwargs: Any
) -> tuple[QdrantEngine, RecordingClient]:
    client = RecordingClient(QdrantClient(":memory:"))
    transport = EmbeddedTransport(client=client)  # type: ignore[arg-type]
    engine = QdrantEngine(_transport=transport, coalesce_queries=options, **kwargs)
    return engine, client


async def filled(engine: QdrantEngine) -> None:
    await engine.aupsert(
        "c", [PointInput(f"p{i}", {"i": i}, unit_vector(f"p{i}")) for i in range(N)]
    )


def searches() -> list[SearchRequest]:
    return [SearchRequest(dense=unit_vector(f"p{i}"), limit=3) for i in range(N)]


def counts(client: RecordingClient) -> dict[str, int]:
    names = ("query_points", "query_batch_points")
    return {name: sum(1 for called, _ in client.calls if called == name) for name in names}


async def test_concurrent_searches_go_out_together_with_the_same_results() -> None:
    plain, plain_client = engine_with(None)
    coalescing, client = engine_with(QueryCoalescing(max_in_flight=1, max_batch=16))
    for engine in (plain, coalescing):
        await filled(engine)
    client.calls.clear()
    plain_client.calls.clear()
    expected = await asyncio.gather(*(plain.aquery("c", s) for s in searches()))
    got = await asyncio.gather(*(coalescing.aquery("c", s) for s in searches()))
    assert [[(h.id, h.score) for h in hits] for hits in got] == [
        [(h.id, h.score) for h in hits] for hits in expected
    ]
    assert [hits[0].id for hits in got] == [f"p{i}" for i in range(N)]
    assert counts(plain_client) == {"query_points": N, "query_batch_points": 0}
    # The first alone at once; the 39 that found it busy in batches of at most 16.
    assert counts(client) == {"query_points": 1, "query_batch_points": 3}
    batches = [len(kw["requests"]) for name, kw in client.calls if name == "query_batch_points"]
    assert sum(batches) == N - 1 and max(batches) <= 16
    # A search alone afterwards is sent at once, on its own.
    client.calls.clear()
    assert (await coalescing.aquery("c", searches()[5]))[0].id == "p5"
    assert counts(client) == {"query_points": 1, "query_batch_points": 0}
    for engine in (plain, coalescing):
        await engine.aclose()


class RefusesOneVector(RecordingClient):
    """A server that refuses any request carrying one given query vector (the whole batch)."""

    def __init__(self, bad: list[float]) -> None:
        super().__init__(QdrantClient(":memory:"))
        self.bad = bad

    def __getattr__(self, name: str) -> Any:
        call = super().__getattr__(name)
        if name not in ("query_points", "query_batch_points"):
            return call

        def refusing(*args: Any, **kwargs: Any) -> Any:
            queries = [kwargs.get("query")] + [r.query for r in kwargs.get("requests", [])]
            if any(q == self.bad for q in queries):
                with self._lock:
                    self.calls.append((name, kwargs))
                raise http_error(400)
            return call(*args, **kwargs)

        return refusing


async def test_a_refused_batch_is_sent_again_one_search_at_a_time() -> None:
    bad = searches()[7].dense
    assert bad is not None
    client = RefusesOneVector(list(bad))
    transport = EmbeddedTransport(client=client)  # type: ignore[arg-type]
    options = QueryCoalescing(max_in_flight=1, max_batch=64)
    engine = QdrantEngine(_transport=transport, coalesce_queries=options)
    await filled(engine)
    client.calls.clear()
    results = await asyncio.gather(
        *(engine.aquery("c", s) for s in searches()), return_exceptions=True
    )
    assert isinstance(results[7], QdrantRequestError)  # only the bad search fails
    assert [r[0].id for i, r in enumerate(results) if i != 7] == [  # type: ignore[index]
        f"p{i}" for i in range(N) if i != 7
    ]
    calls = counts(client)
    assert calls["query_batch_points"] == 1  # refused once, then each search on its own
    assert calls["query_points"] == 1 + (N - 1)
    await engine.aclose()


async def test_a_server_out_of_reach_fails_the_batch_without_resending_each_search() -> None:
    engine, client = engine_with(
        QueryCoalescing(max_in_flight=1), retry=RetryPolicy(max_attempts=1)
    )
    await filled(engine)
    client.calls.clear()
    client.fail_next["query_batch_points"] = [http_error(503)]
    first = asyncio.ensure_future(engine.aquery("c", searches()[0]))
    await asyncio.sleep(0)
    rest = await asyncio.gather(
        *(engine.aquery("c", s) for s in searches()[1:5]), return_exceptions=True
    )
    await first
    assert all(isinstance(r, QdrantRequestError) for r in rest)
    assert counts(client) == {"query_points": 1, "query_batch_points": 1}
    await engine.aclose()


async def test_a_cancelled_waiting_search_leaves_the_others_served() -> None:
    engine, client = engine_with(QueryCoalescing(max_in_flight=1))
    await filled(engine)
    first = asyncio.ensure_future(engine.aquery("c", searches()[0]))
    await asyncio.sleep(0)
    waiting = [asyncio.ensure_future(engine.aquery("c", s)) for s in searches()[1:6]]
    await asyncio.sleep(0)
    waiting[2].cancel()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert isinstance(results[2], asyncio.CancelledError)
    assert [r[0].id for i, r in enumerate(results) if i != 2] == ["p1", "p2", "p4", "p5"]
    assert (await first)[0].id == "p0"
    # Nothing is left counted as in flight: the next search goes out alone, at once.
    client.calls.clear()
    assert (await engine.aquery("c", searches()[7]))[0].id == "p7"
    assert counts(client) == {"query_points": 1, "query_batch_points": 0}
    await engine.aclose()


def test_sync_callers_are_coalesced_on_their_own_loop() -> None:
    engine, _ = engine_with(QueryCoalescing())
    engine.upsert("c", [PointInput(f"p{i}", {"i": i}, unit_vector(f"p{i}")) for i in range(5)])
    assert engine.query("c", SearchRequest(dense=unit_vector("p3"), limit=1))[0].id == "p3"
    engine.close()


@pytest.mark.parametrize("options", [{"max_in_flight": 0}, {"max_batch": 0}])
def test_bad_coalescing_options_raise(options: dict[str, int]) -> None:
    with pytest.raises(ConfigurationError):
        QueryCoalescing(**options)


# ------------------------------------------------------------------ defaults, and a server


class RestOverLocalMode:
    """Answers the REST calls of a search (collection info, query, batch query) from a local
    store, through httpx's MockTransport: the remote code path of qdrant-client, no server."""

    def __init__(self) -> None:
        self.local = QdrantClient(":memory:")
        self.paths: list[str] = []

    async def handle(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.002)  # a round trip: requests overlap, as over a network
        path = request.url.path
        self.paths.append(f"{request.method} {path}")
        parts = path.strip("/").split("/")  # collections/<name>[/points/query[/batch]]
        name = parts[1]
        result: Any
        if request.method == "GET" and len(parts) == 2:
            result = self.local.get_collection(name)
        elif parts[2:] == ["points", "query"]:
            body = models.QueryRequest.model_validate_json(request.content)
            result = self.local.query_points(name, **_search_arguments(body))
        elif parts[2:] == ["points", "query", "batch"]:
            batch = models.QueryRequestBatch.model_validate_json(request.content)
            result = self.local.query_batch_points(name, requests=batch.searches)
        else:
            return httpx.Response(404, json={"status": {"error": f"not here: {path}"}})
        body = {"result": to_jsonable_python(result, by_alias=True, exclude_none=True),
                "status": "ok", "time": 0.0}
        return httpx.Response(200, json=body)


def _search_arguments(body: models.QueryRequest) -> dict[str, Any]:
    return {
        "query": body.query, "using": body.using, "query_filter": body.filter,
        "limit": body.limit, "with_payload": body.with_payload,
    }


def server_client(server: RestOverLocalMode) -> AsyncQdrantClient:
    return AsyncQdrantClient(
        url="http://qdrant.invalid:6333", transport=httpx.MockTransport(server.handle),
        check_compatibility=False,
    )


def test_coalescing_is_on_for_a_server_and_off_embedded_by_default() -> None:
    embedded = QdrantEngine()
    assert embedded.query_coalescing is None
    by_url = QdrantEngine(url="http://qdrant.invalid:6333")
    assert by_url.query_coalescing == QueryCoalescing()
    client = AsyncQdrantClient(url="http://qdrant.invalid:6333", check_compatibility=False)
    by_client = QdrantEngine.from_client(client)
    assert by_client.query_coalescing == QueryCoalescing()
    off = QdrantEngine(url="http://qdrant.invalid:6333", coalesce_queries=None)
    assert off.query_coalescing is None
    chosen = QueryCoalescing(max_in_flight=2, max_batch=8)
    assert QdrantEngine(coalesce_queries=chosen).query_coalescing == chosen  # embedded, asked for
    for engine in (embedded, by_url, by_client, off):
        engine.close()


@pytest.mark.parametrize("value", [True, "on", 4])
def test_a_coalescing_setting_of_another_kind_is_refused(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="coalesce_queries"):
        QdrantEngine(url="http://qdrant.invalid:6333", coalesce_queries=value)


async def test_a_server_gets_concurrent_searches_in_batches_by_default() -> None:
    server = RestOverLocalMode()
    server.local.create_collection(
        "c", vectors_config={"dense": models.VectorParams(size=8, distance=models.Distance.COSINE)}
    )
    server.local.upsert("c", [
        models.PointStruct(id=i, vector={"dense": unit_vector(f"p{i}")}, payload={"i": i})
        for i in range(N)
    ])
    engine = QdrantEngine.from_client(server_client(server))
    await engine.aquery("c", searches()[0])  # reads the collection's layout once
    server.paths.clear()
    got = await asyncio.gather(*(engine.aquery("c", s) for s in searches()))
    assert [hits[0].payload["i"] for hits in got] == list(range(N))
    alone = server.paths.count("POST /collections/c/points/query")
    batches = server.paths.count("POST /collections/c/points/query/batch")
    # The first four alone (the default max_in_flight), the rest together.
    assert alone == 4 and 1 <= batches <= 4 and len(server.paths) == alone + batches
    await engine.aclose()

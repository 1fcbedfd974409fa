"""Embedded searches hand local mode the dense query as a float32 array (``query._dense_query``).

Local mode casts every stored vector to float64 for a list query; with a float32 array it scores
in float32, as Qdrant does. The results must be the ones the list gives: same points, in the same
order, with scores equal to float32 precision.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest
from engine_support import RecordingClient
from qdrant_client import QdrantClient, models

from qdrant_aio import CollectionSpec, PointInput, QdrantEngine, SearchRequest
from qdrant_aio.config import CollectionLayout
from qdrant_aio.query import build_query
from qdrant_aio.transport import EmbeddedTransport

DIM = 16
N = 400


def _vectors(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


def _points(vectors: np.ndarray) -> list[PointInput]:
    return [
        PointInput(
            id=str(uuid.UUID(int=i + 1)),
            payload={"i": i, "even": i % 2 == 0},
            dense=vectors[i].tolist(),
            sparse=models.SparseVector(indices=[i % 11, 20 + i % 7], values=[1.0, 0.5]),
        )
        for i in range(len(vectors))
    ]


def _spy_queries(client: QdrantClient) -> list[Any]:
    """The ``query`` / ``prefetch`` arguments each search hands the client's local store."""
    local: Any = client._client
    seen: list[Any] = []
    real = local.query_points

    def query_points(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("prefetch") or kwargs["query"])
        return real(*args, **kwargs)

    local.query_points = query_points
    return seen


def _dense_of(sent: Any) -> Any:
    if isinstance(sent, list) and sent and isinstance(sent[0], models.Prefetch):
        sent = sent[0].query  # the dense branch of a hybrid search
    return sent.nearest if isinstance(sent, models.NearestQuery) else sent


REQUESTS = {
    "dense": lambda q, s: SearchRequest(dense=q, limit=10),
    "filtered": lambda q, s: SearchRequest(
        dense=q, limit=10, score_threshold=0.05,
        filter=models.Filter(must=[models.FieldCondition(
            key="even", match=models.MatchValue(value=True)
        )]),
    ),
    "offset": lambda q, s: SearchRequest(dense=q, limit=5, offset=5),
    "mmr": lambda q, s: SearchRequest(dense=q, limit=6, mmr_lambda=0.4, mmr_candidates=40),
    "hybrid": lambda q, s: SearchRequest(dense=q, sparse=s, limit=8, prefetch_limit=40),
}


@pytest.mark.parametrize("distance", ["Cosine", "Dot", "Euclid", "Manhattan"])
@pytest.mark.parametrize("kind", sorted(REQUESTS))
async def test_float32_queries_give_the_results_of_list_queries(distance: str, kind: str) -> None:
    vectors = _vectors(1, N)
    fast_client, list_client = QdrantClient(":memory:"), QdrantClient(":memory:")
    fast = QdrantEngine.from_client(fast_client)
    wrapper: Any = RecordingClient(list_client)  # not qdrant-client's own client: lists
    plain = QdrantEngine(_transport=EmbeddedTransport(client=wrapper))
    spec = CollectionSpec(sparse=True, distance=distance)
    for engine in (fast, plain):
        await engine.aupsert("c", _points(vectors), spec)
    sent_fast, sent_plain = _spy_queries(fast_client), _spy_queries(list_client)
    sparse = models.SparseVector(indices=[3, 22], values=[1.0, 1.0])
    for query in _vectors(2, 12):
        request = REQUESTS[kind](query.tolist(), sparse)
        got = await fast.aquery("c", request, spec)
        want = await plain.aquery("c", request, spec)
        assert [h.id for h in got] == [h.id for h in want]
        assert [h.score for h in got] == pytest.approx([h.score for h in want], abs=2e-6)
    assert sent_fast and all(
        isinstance(_dense_of(s), np.ndarray) and _dense_of(s).dtype == np.float32
        for s in sent_fast
    )
    assert sent_plain and all(isinstance(_dense_of(s), list) for s in sent_plain)
    await fast.aclose()
    await plain.aclose()


async def test_a_batch_of_searches_sends_float32_queries_too() -> None:
    client = QdrantClient(":memory:")
    engine = QdrantEngine.from_client(client)
    vectors = _vectors(3, 100)
    spec = CollectionSpec(sparse=True)
    await engine.aupsert("c", _points(vectors), spec)
    local: Any = client._client
    seen: list[Any] = []
    real = local.query_batch_points
    local.query_batch_points = lambda *a, **k: seen.append(k["requests"]) or real(*a, **k)
    queries = _vectors(4, 3)
    results = await engine.aquery_batch(
        "c", [SearchRequest(dense=q.tolist()) for q in queries], spec
    )
    assert [[h.id for h in r] for r in results] == [
        [h.id for h in await engine.aquery("c", SearchRequest(dense=q.tolist()), spec)]
        for q in queries
    ]
    assert all(isinstance(r.query.nearest, np.ndarray) for r in seen[0])
    await engine.aclose()


async def test_a_query_beyond_float32_range_goes_as_a_list_and_still_works() -> None:
    client = QdrantClient(":memory:")
    engine = QdrantEngine.from_client(client)
    spec = CollectionSpec(sparse=True)
    await engine.aupsert("c", _points(_vectors(5, 50)), spec)
    sent = _spy_queries(client)
    huge = [1e39] + [0.0] * (DIM - 1)  # finite as a Python float, infinite in float32
    hits = await engine.aquery("c", SearchRequest(dense=huge, limit=3), spec)
    assert len(hits) == 3
    assert isinstance(_dense_of(sent[0]), list)
    await engine.aclose()


def test_a_server_gets_lists() -> None:
    layout = CollectionLayout(
        name="c", dense_name="dense", dense_size=3, distance=None, sparse_name="sparse"
    )
    request = SearchRequest(dense=[0.1, 0.2, 0.3], sparse=models.SparseVector(
        indices=[1], values=[1.0]
    ))
    for built in (build_query(request, layout), build_query(
        SearchRequest(dense=[0.1, 0.2, 0.3], mmr_lambda=0.5), layout
    )):
        assert isinstance(_dense_of(built.get("prefetch") or built["query"]), list)
        # The whole request still serialises as JSON, as a server needs.
        for value in built.values():
            if isinstance(value, list):
                for item in value:
                    if hasattr(item, "model_dump_json"):
                        item.model_dump_json()
            elif hasattr(value, "model_dump_json"):
                value.model_dump_json()

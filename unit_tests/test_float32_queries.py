"""Embedded searches hand local mode the dense query as a float32 array (``query._dense_query``).

Local mode casts every stored vector to float64 for a list query; with a float32 array it scores
in float32, as Qdrant does. The results must be the ones the list gives: same points, in the same
order, with scores equal to float32 precision.
"""

from __future__ import annotations

import functools
import json
import uuid
from typing import Any
from unittest import mock

import numpy as np
import pytest
from engine_support import RecordingClient
from qdrant_client import AsyncQdrantClient, QdrantClient, models

from qdrant_aio import CollectionSpec, PointInput, QdrantEngine, SearchRequest
from qdrant_aio.config import CollectionLayout
from qdrant_aio.errors import InvalidInputError
from qdrant_aio.query import build_query
from qdrant_aio.transport import EmbeddedTransport, _defined_in_qdrant_client

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
        assert [h.score for h in got] == pytest.approx(
            [h.score for h in want], rel=1e-6, abs=1e-6
        )
    if kind == "mmr" or distance in ("Euclid", "Manhattan"):
        # MMR keeps the list (see test_mmr_ties_are_decided_as_with_a_list), and so do the
        # distances of differences (test_a_query_far_larger_than_the_data_keeps_the_list).
        assert sent_fast and all(isinstance(_dense_of(s), list) for s in sent_fast)
    else:
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


async def _fast_and_plain(
    vectors: np.ndarray, spec: CollectionSpec
) -> tuple[QdrantEngine, QdrantEngine, QdrantClient]:
    """An engine on qdrant-client's own client (float32 queries) and one on a wrapper (lists)."""
    fast_client = QdrantClient(":memory:")
    fast = QdrantEngine.from_client(fast_client)
    wrapper: Any = RecordingClient(QdrantClient(":memory:"))
    plain = QdrantEngine(_transport=EmbeddedTransport(client=wrapper))
    for engine in (fast, plain):
        await engine.aupsert("c", _points(vectors), spec)
    return fast, plain, fast_client


@pytest.mark.parametrize("distance", ["Cosine", "Dot", "Euclid"])
async def test_mmr_ties_are_decided_as_with_a_list(distance: str) -> None:
    # A query equal to a stored vector at lambda 0.5: relevance and diversity tie for several
    # candidates, and float32 rounding picked other points than the list (and a server) does.
    vectors = _vectors(6, 200)
    spec = CollectionSpec(distance=distance)
    fast, plain, client = await _fast_and_plain(vectors, spec)
    sent = _spy_queries(client)
    for row in range(0, 200, 10):
        request = SearchRequest(dense=vectors[row].tolist(), limit=8, mmr_lambda=0.5)
        got = await fast.aquery("c", request, spec)
        want = await plain.aquery("c", request, spec)
        assert [h.id for h in got] == [h.id for h in want]
    assert sent and all(isinstance(_dense_of(s), list) for s in sent)
    await fast.aclose()
    await plain.aclose()


@pytest.mark.parametrize("distance", ["Cosine", "Dot"])
@pytest.mark.parametrize("scale", [1e20, 1e-37])
async def test_a_query_whose_squares_leave_float32_goes_as_a_list(
    distance: str, scale: float
) -> None:
    # Finite in float32, but its squares and products overflow (1e20) or underflow (1e-37) in
    # float32: scored in float32 its norm would be infinite or zero, and the scores wrong.
    vectors = _vectors(7, 100)
    spec = CollectionSpec(distance=distance)
    fast, plain, client = await _fast_and_plain(vectors, spec)
    sent = _spy_queries(client)
    for query in _vectors(8, 5):
        request = SearchRequest(dense=(query.astype(np.float64) * scale).tolist(), limit=5)
        got = await fast.aquery("c", request, spec)
        want = await plain.aquery("c", request, spec)
        assert [h.id for h in got] == [h.id for h in want]
        assert [h.score for h in got] == pytest.approx([h.score for h in want], rel=1e-6)
    assert sent and all(isinstance(_dense_of(s), list) for s in sent)
    await fast.aclose()
    await plain.aclose()


@pytest.mark.parametrize("distance", ["Cosine", "Dot", "Euclid", "Manhattan"])
async def test_a_query_far_larger_than_the_data_keeps_the_list_ranking(distance: str) -> None:
    # One component 1e7 times the data's scale: in float32, q - v loses v, and Euclidean or
    # Manhattan top-10s came out different from the list's in every query (found in review).
    vectors = _vectors(13, 300)
    spec = CollectionSpec(distance=distance)
    fast, plain, client = await _fast_and_plain(vectors, spec)
    sent = _spy_queries(client)
    for query in _vectors(14, 10):
        big = query.astype(np.float64)
        big[0] = 1e7
        request = SearchRequest(dense=big.tolist(), limit=10)
        got = await fast.aquery("c", request, spec)
        want = await plain.aquery("c", request, spec)
        assert [h.id for h in got] == [h.id for h in want]
    float32 = [isinstance(_dense_of(s), np.ndarray) for s in sent]
    assert float32 == [distance in ("Cosine", "Dot")] * len(sent)
    await fast.aclose()
    await plain.aclose()


async def test_an_all_zero_query_still_goes_as_float32() -> None:
    client = QdrantClient(":memory:")
    engine = QdrantEngine.from_client(client)
    spec = CollectionSpec(distance="Dot")
    await engine.aupsert("c", _points(_vectors(9, 20)), spec)
    sent = _spy_queries(client)
    hits = await engine.aquery("c", SearchRequest(dense=[0.0] * DIM, limit=3), spec)
    assert [h.score for h in hits] == [0.0, 0.0, 0.0]
    assert isinstance(_dense_of(sent[0]), np.ndarray)
    await engine.aclose()


def _as_json(query: Any) -> str:
    if isinstance(query, models.NearestQuery):
        return query.model_dump_json()
    return json.dumps(query)


class _SerialisingClient(QdrantClient):
    """A subclass that looks at each query as JSON first (as tracing would)."""

    def query_points(self, *args: Any, **kwargs: Any) -> Any:
        _as_json(kwargs["query"])
        return super().query_points(*args, **kwargs)


async def test_a_subclass_or_a_patch_of_the_query_methods_gets_lists() -> None:
    vectors = _vectors(10, 50)
    spec = CollectionSpec()
    subclassed = _SerialisingClient(":memory:")
    patched = QdrantClient(":memory:")
    calls: list[Any] = []
    real = patched.query_points

    def traced(*args: Any, **kwargs: Any) -> Any:
        calls.append(_as_json(kwargs["query"]))
        return real(*args, **kwargs)

    patched.query_points = traced  # type: ignore[method-assign]
    for client in (subclassed, patched):
        engine = QdrantEngine.from_client(client)
        await engine.aupsert("c", _points(vectors), spec)
        sent = _spy_queries(client)
        hits = await engine.aquery("c", SearchRequest(dense=vectors[3].tolist(), limit=2), spec)
        assert hits[0].id == str(uuid.UUID(int=4))
        assert isinstance(_dense_of(sent[0]), list)
        await engine.aclose()
    assert len(calls) == 1


async def test_the_query_array_is_a_copy_of_the_callers() -> None:
    client = QdrantClient(":memory:")
    engine = QdrantEngine.from_client(client)
    spec = CollectionSpec()
    await engine.aupsert("c", _points(_vectors(11, 20)), spec)
    sent = _spy_queries(client)
    query = _vectors(12, 1)[0]  # float32 already: np.asarray would hand this very array over
    await engine.aquery("c", SearchRequest(dense=query, limit=2), spec)  # type: ignore[arg-type]
    assert isinstance(_dense_of(sent[0]), np.ndarray)
    assert not np.shares_memory(_dense_of(sent[0]), query)
    await engine.aclose()


@pytest.mark.parametrize(
    "dense",
    [
        [True, 0.5, 0.25],
        [0.5, np.bool_(False), 0.25],
        np.array([True, False, True]),
        np.array([True, 0.5, 0.25], dtype=object),
        [np.array(True), 0.5, 0.25],
    ],
)
def test_a_query_with_a_bool_is_refused(dense: Any) -> None:
    with pytest.raises(InvalidInputError, match="bool"):
        SearchRequest(dense=dense)


class _BatchOverride(QdrantClient):
    """Overrides only the batch query, as a tracing subclass might."""

    def query_batch_points(self, *args: Any, **kwargs: Any) -> Any:
        for request in kwargs["requests"]:
            request.model_dump_json()
        return super().query_batch_points(*args, **kwargs)


async def test_an_override_of_the_batch_query_alone_gets_lists() -> None:
    vectors = _vectors(15, 50)
    engine = QdrantEngine.from_client(_BatchOverride(":memory:"))
    await engine.aupsert("c", _points(vectors), CollectionSpec())
    results = await engine.aquery_batch(
        "c", [SearchRequest(dense=vectors[i].tolist(), limit=1) for i in (4, 9)]
    )
    assert [r[0].id for r in results] == [str(uuid.UUID(int=5)), str(uuid.UUID(int=10))]
    await engine.aclose()


async def test_a_patch_on_the_class_gets_lists_until_it_is_undone() -> None:
    client = QdrantClient(":memory:")
    engine = QdrantEngine.from_client(client)
    await engine.aupsert("c", _points(_vectors(16, 30)), CollectionSpec())
    sent = _spy_queries(client)
    request = SearchRequest(dense=_vectors(17, 1)[0].tolist(), limit=2)
    with mock.patch.object(
        QdrantClient, "query_points", autospec=True, side_effect=QdrantClient.query_points
    ):
        await engine.aquery("c", request)
    await engine.aquery("c", request)
    assert [type(_dense_of(s)) for s in sent] == [list, np.ndarray]
    await engine.aclose()


async def test_an_async_local_client_gets_float32_queries() -> None:
    client = AsyncQdrantClient(":memory:")
    engine = QdrantEngine.from_client(client)
    vectors = _vectors(18, 30)
    await engine.aupsert("c", _points(vectors), CollectionSpec())
    sent = _spy_queries(client)
    hits = await engine.aquery("c", SearchRequest(dense=vectors[2].tolist(), limit=1))
    assert hits[0].id == str(uuid.UUID(int=3))
    assert isinstance(_dense_of(sent[0]), np.ndarray)
    await engine.aclose()


def test_a_wrapper_installed_before_import_is_not_taken_for_the_clients_own() -> None:
    # Tracing tools wrap the client's methods at start-up, possibly before qdrant_aio is
    # imported; functools.wraps copies the name and module, but not the code.
    real = QdrantClient.query_points

    @functools.wraps(real)
    def traced(*args: Any, **kwargs: Any) -> Any:
        return real(*args, **kwargs)

    assert _defined_in_qdrant_client(real) is real
    assert _defined_in_qdrant_client(traced) is not traced
    proxy = mock.MagicMock(wraps=real)
    assert _defined_in_qdrant_client(proxy) is not proxy

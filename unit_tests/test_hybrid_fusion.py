"""Server-side hybrid fusion ranks exactly as a reference fusion of the separate result lists."""

from __future__ import annotations

import statistics

import pytest
from engine_support import unit_vector
from qdrant_client import models

from qdrant_aio import CollectionSpec, Hit, PointInput, QdrantEngine, SearchRequest
from qdrant_aio.sparse import Bm25Encoder

WORDS = "apple river stone cloud ember violet harbor canyon meadow lantern cedar orbit".split()
SPEC = CollectionSpec(sparse=True)


def corpus() -> list[str]:
    texts = []
    for i in range(40):
        words = [WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(4 + i % 5)]
        texts.append(" ".join(words))
    texts.append("the xylocarp is a rare fruit")  # the only document with "xylocarp"
    return texts


@pytest.fixture
async def store() -> QdrantEngine:
    engine = QdrantEngine()
    bm25 = Bm25Encoder()
    texts = corpus()
    sparse = bm25.encode_documents(texts)
    await engine.aupsert(
        "h",
        [
            PointInput(f"t{i}", {"page_content": t, "metadata": {"group": i % 3}},
                       unit_vector(t, 16), sparse[i])
            for i, t in enumerate(texts)
        ],
        SPEC,
    )
    return engine


def rrf_reference(
    lists: list[list[Hit]], k: int = 2, weights: tuple[float, ...] | None = None
) -> list[tuple[str, float]]:
    # Qdrant's weighted RRF: a point at 0-based rank r in a list of weight w scores
    # 1 / ((r + 1) / w + k - 1); the fused score is the sum over lists.
    scores: dict[str, float] = {}
    for index, hits in enumerate(lists):
        weight = weights[index] if weights else 1.0
        for rank, hit in enumerate(hits):
            scores[hit.id] = scores.get(hit.id, 0.0) + 1.0 / ((rank + 1) / weight + k - 1)
    return sorted(scores.items(), key=lambda item: -item[1])


def dbsf_reference(lists: list[list[Hit]]) -> list[tuple[str, float]]:
    # Distribution-based score fusion: each list is scaled so that mean -/+ 3 sigma maps to 0/1.
    scores: dict[str, float] = {}
    for hits in lists:
        values = [h.score or 0.0 for h in hits]
        mean, sigma = statistics.mean(values), statistics.stdev(values)
        low, high = mean - 3 * sigma, mean + 3 * sigma
        for hit, value in zip(hits, values, strict=True):
            scores[hit.id] = scores.get(hit.id, 0.0) + (value - low) / (high - low)
    return sorted(scores.items(), key=lambda item: -item[1])


async def branches(
    engine: QdrantEngine, query: str, depth: int, flt: models.Filter | None = None
) -> list[list[Hit]]:
    bm25 = Bm25Encoder()
    dense = await engine.aquery(
        "h", SearchRequest(dense=unit_vector(query, 16), limit=depth, filter=flt), SPEC
    )
    sparse = await engine.aquery(
        "h", SearchRequest(sparse=bm25.encode_query(query), limit=depth, filter=flt), SPEC
    )
    assert dense and sparse
    return [dense, sparse]


def assert_same_ranking(hits: list[Hit], reference: list[tuple[str, float]]) -> None:
    assert len(hits) > 3
    for hit, (_ref_id, ref_score) in zip(hits, reference, strict=False):
        assert hit.score == pytest.approx(ref_score, rel=1e-5)
        # Ties may come in either order; the score at each rank must match exactly.
        tied = {i for i, s in reference if s == pytest.approx(ref_score, rel=1e-6)}
        assert hit.id in tied


@pytest.mark.parametrize(
    ("rrf_k", "weights"), [(None, None), (10, None), (None, (3.0, 1.0)), (5, (0.5, 2.0))]
)
async def test_rrf_matches_the_reference(
    store: QdrantEngine, rrf_k: int | None, weights: tuple[float, float] | None
) -> None:
    query, depth = "river cloud orbit", 15
    expected = rrf_reference(await branches(store, query, depth), rrf_k or 2, weights)
    hits = await store.aquery(
        "h",
        SearchRequest(
            dense=unit_vector(query, 16), sparse=Bm25Encoder().encode_query(query), limit=8,
            prefetch_limit=depth, rrf_k=rrf_k, rrf_weights=weights,
        ),
        SPEC,
    )
    assert_same_ranking(hits, expected)


async def test_dbsf_matches_the_reference(store: QdrantEngine) -> None:
    query, depth = "ember violet meadow", 12
    expected = dbsf_reference(await branches(store, query, depth))
    hits = await store.aquery(
        "h",
        SearchRequest(
            dense=unit_vector(query, 16), sparse=Bm25Encoder().encode_query(query), limit=8,
            prefetch_limit=depth, fusion="dbsf",
        ),
        SPEC,
    )
    assert_same_ranking(hits, expected)


async def test_filters_apply_in_every_branch(store: QdrantEngine) -> None:
    group_one = models.Filter(
        must=[models.FieldCondition(key="metadata.group", match=models.MatchValue(value=1))]
    )
    query, depth = " ".join(corpus()[4].split()[:2]) + " apple", 6  # words of a group-1 text
    expected = rrf_reference(await branches(store, query, depth, group_one))
    hits = await store.aquery(
        "h",
        SearchRequest(
            dense=unit_vector(query, 16), sparse=Bm25Encoder().encode_query(query), limit=6,
            prefetch_limit=depth, filter=group_one,
        ),
        SPEC,
    )
    # Filtering only the fused list would leave fewer than `limit` points here.
    assert len(hits) == 6
    assert all(h.payload["metadata"]["group"] == 1 for h in hits)
    assert_same_ranking(hits, expected)


async def test_sparse_finds_a_rare_exact_term_that_dense_cannot(store: QdrantEngine) -> None:
    rare_doc = f"t{len(corpus()) - 1}"
    sparse = await store.aquery(
        "h", SearchRequest(sparse=Bm25Encoder().encode_query("xylocarp"), limit=3), SPEC
    )
    assert [h.id for h in sparse] == [rare_doc]
    dense = await store.aquery("h", SearchRequest(dense=unit_vector("xylocarp", 16)), SPEC)
    assert rare_doc not in [h.id for h in dense]
    hybrid = await store.aquery(
        "h",
        SearchRequest(
            dense=unit_vector("xylocarp", 16), sparse=Bm25Encoder().encode_query("xylocarp"),
            limit=4,
        ),
        SPEC,
    )
    assert rare_doc in [h.id for h in hybrid]

"""Congruence: the same upsert and query on the embedded store and on a server agree."""

from __future__ import annotations

import hashlib
import math
import random

import pytest

from qdrant_aio import CollectionSpec, PointInput, QdrantEngine, SearchRequest
from qdrant_aio.sparse import Bm25Encoder

TEXTS = [f"document number {i} about {topic}" for i, topic in enumerate(
    ["cats", "dogs", "birds", "fish", "quantum physics", "cooking", "jazz", "rust", "tea", "maps"]
)]


def vector(seed: str, dim: int = 16) -> list[float]:
    rng = random.Random(int(hashlib.sha256(seed.encode()).hexdigest()[:16], 16))
    raw = [rng.gauss(0, 1) for _ in range(dim)]
    norm = math.sqrt(sum(x * x for x in raw))
    return [x / norm for x in raw]


def points() -> list[PointInput]:
    bm25 = Bm25Encoder()
    sparse = bm25.encode_documents(TEXTS)
    return [
        PointInput(f"doc-{i}", {"page_content": t, "metadata": {"i": i}}, vector(t), sparse[i])
        for i, t in enumerate(TEXTS)
    ]


async def _run(engine: QdrantEngine, name: str) -> list[list[tuple[str, float]]]:
    spec = CollectionSpec(sparse=True)
    await engine.aupsert(name, points(), spec)
    bm25 = Bm25Encoder()
    requests = [
        SearchRequest(dense=vector("cats and dogs"), limit=5),
        SearchRequest(sparse=bm25.encode_query("quantum physics"), limit=3),
    ]
    results = []
    for request in requests:
        hits = await engine.aquery(name, request, spec)
        results.append([(h.id, h.score or 0.0) for h in hits])
    return results


async def test_embedded_and_server_give_the_same_ids_and_scores(
    qdrant_url: str, qdrant_api_key: str | None, collection_name: str
) -> None:
    server = QdrantEngine(url=qdrant_url, api_key=qdrant_api_key)
    embedded = QdrantEngine()
    try:
        remote_results = await _run(server, collection_name)
        local_results = await _run(embedded, collection_name)
    finally:
        await server.adelete_collection(collection_name)
        await server.aclose()
        await embedded.aclose()
    for remote, local in zip(remote_results, local_results, strict=True):
        assert [i for i, _ in remote] == [i for i, _ in local]
        for (_, rs), (_, ls) in zip(remote, local, strict=True):
            assert rs == pytest.approx(ls, rel=1e-3, abs=1e-4)

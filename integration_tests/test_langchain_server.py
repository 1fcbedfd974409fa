"""The LangChain store against a real Qdrant server.

* langchain-tests' standard ``VectorStoreIntegrationTests`` (sync and async, nothing overridden or
  skipped) on each way of reaching a server: an engine made with ``url=``, an
  ``AsyncQdrantClient(url=...)`` and a ``QdrantClient(url=...)``; and once more in hybrid mode.
  Every test gets a fresh collection, deleted afterwards.
* Hybrid mode with the built-in BM25 on the server: server-side RRF/DBSF equal to the fusion of
  the store's own dense and sparse result lists, filters inside every branch, a rare term only
  the sparse branch can find, and Qdrant's native MMR (relevance, diversity, ``fetch_k``, filter).
* langchain-qdrant's options: ``construct_instance`` with ``client_options``, ``vector_params``
  and ``sparse_vector_params`` shaping the collection, per-search ``search_params`` and
  ``consistency``, MMR with scores.

Skipped, with the reason shown, where no server is available (see ``conftest.py``).
"""

from __future__ import annotations

import hashlib
import math
import random
import statistics
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings
from langchain_core.vectorstores import VectorStore
from langchain_tests.integration_tests import VectorStoreIntegrationTests
from qdrant_client import AsyncQdrantClient, QdrantClient, models

from qdrant_aio import QdrantEngine
from qdrant_aio.engine import engine_for
from qdrant_aio.langchain import QdrantVectorStore, RetrievalMode


def new_name(kind: str) -> str:
    return f"it-lc-{kind}-{uuid.uuid4().hex[:12]}"


# ---------------------------------------------------------------------- the standard suite


class TestStandardOnUrlEngine(VectorStoreIntegrationTests):
    """An engine made with ``url=`` (the store is given the engine)."""

    @pytest.fixture()
    def vectorstore(self, qdrant_url: str, qdrant_api_key: str | None) -> Iterator[VectorStore]:
        engine = QdrantEngine(url=qdrant_url, api_key=qdrant_api_key)
        store = QdrantVectorStore(
            client=engine, collection_name=new_name("url"), embedding=self.get_embeddings()
        )
        try:
            yield store
        finally:
            engine.delete_collection(store.collection_name)
            engine.close()


class TestStandardOnAsyncClient(VectorStoreIntegrationTests):
    """A user's ``AsyncQdrantClient(url=...)``."""

    @pytest.fixture()
    def vectorstore(self, qdrant_url: str, qdrant_api_key: str | None) -> Iterator[VectorStore]:
        client = AsyncQdrantClient(url=qdrant_url, api_key=qdrant_api_key)
        store = QdrantVectorStore(
            client=client, collection_name=new_name("aclient"), embedding=self.get_embeddings()
        )
        assert store.engine is engine_for(client)
        try:
            yield store
        finally:
            store.delete_collection()
            store.engine.close()


class TestStandardOnSyncClient(VectorStoreIntegrationTests):
    """A user's ``QdrantClient(url=...)``."""

    @pytest.fixture()
    def vectorstore(self, qdrant_url: str, qdrant_api_key: str | None) -> Iterator[VectorStore]:
        client = QdrantClient(url=qdrant_url, api_key=qdrant_api_key)
        store = QdrantVectorStore(
            client=client, collection_name=new_name("client"), embedding=self.get_embeddings()
        )
        try:
            yield store
        finally:
            store.delete_collection()
            store.engine.close()
            assert not client.collection_exists(store.collection_name)
            client.close()


class TestStandardHybridOnServer(VectorStoreIntegrationTests):
    """The same suite in hybrid mode: dense + built-in BM25, fused by the server with RRF."""

    @pytest.fixture()
    def vectorstore(self, qdrant_url: str, qdrant_api_key: str | None) -> Iterator[VectorStore]:
        engine = QdrantEngine(url=qdrant_url, api_key=qdrant_api_key)
        store = QdrantVectorStore(
            client=engine,
            collection_name=new_name("hybrid"),
            embedding=self.get_embeddings(),
            retrieval_mode=RetrievalMode.HYBRID,
        )
        try:
            yield store
        finally:
            engine.delete_collection(store.collection_name)
            engine.close()


# ---------------------------------------------------------------------- hybrid on the server

EMB = DeterministicFakeEmbedding(size=16)
VOCABULARY = (
    "granite willow falcon amber lagoon thistle copper summit ferry lilac quarry beacon"
).split()
RARE = "a quokka smiled at the photographer"  # the only text with "quokka"
QDRANT_RRF_K = 2  # Qdrant's default k in 1 / (k + rank)


def build_corpus() -> tuple[list[str], list[dict[str, Any]]]:
    rng = random.Random(1234)
    texts = [
        " ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(3, 8))) for _ in range(40)
    ]
    texts.append(RARE)
    metadatas = [
        {"shelf": "top" if i % 8 == 3 else f"s{i % 3}", "n": i} for i in range(len(texts))
    ]
    return texts, metadatas


TEXTS, METADATAS = build_corpus()
IDS = [f"text-{i}" for i in range(len(TEXTS))]
RARE_ID = IDS[-1]
TOP = {"shelf": "top"}  # 5 of the 41 texts

Ranked = list[tuple[str, float]]


def rrf(lists: Sequence[Ranked], k: int = QDRANT_RRF_K) -> Ranked:
    """Reciprocal rank fusion as Qdrant does it: 0-based rank r adds 1 / (r + k)."""
    fused: dict[str, float] = {}
    for ranked in lists:
        for rank, (doc_id, _) in enumerate(ranked):
            fused[doc_id] = fused.get(doc_id, 0.0) + 1.0 / (rank + k)
    return sorted(fused.items(), key=lambda item: -item[1])


def dbsf(lists: Sequence[Ranked]) -> Ranked:
    """Distribution-based score fusion: mean -/+ 3 sigma of each list mapped to 0/1, summed."""
    fused: dict[str, float] = {}
    for ranked in lists:
        scores = [score for _, score in ranked]
        mean, sigma = statistics.mean(scores), statistics.stdev(scores)
        low, high = mean - 3 * sigma, mean + 3 * sigma
        for doc_id, score in ranked:
            fused[doc_id] = fused.get(doc_id, 0.0) + (score - low) / (high - low)
    return sorted(fused.items(), key=lambda item: -item[1])


def assert_fused_like(fused: Ranked, reference: Ranked, limit: int) -> None:
    assert len(fused) == min(limit, len(reference)) and len(fused) > 3
    expected_score = dict(reference)
    for (doc_id, score), (_, reference_score) in zip(fused, reference, strict=False):
        # Each rank has the reference's score; ties may come back in either order.
        assert score == pytest.approx(reference_score, rel=1e-4)
        assert expected_score[doc_id] == pytest.approx(reference_score, rel=1e-4)


@pytest.fixture
def hybrid_engine(
    qdrant_url: str, qdrant_api_key: str | None, collection_name: str
) -> Iterator[QdrantEngine]:
    """A server engine whose collection ``collection_name`` holds the corpus, dense + BM25."""
    engine = QdrantEngine(url=qdrant_url, api_key=qdrant_api_key)
    writer = QdrantVectorStore(client=engine, collection_name=collection_name, embedding=EMB,
                               retrieval_mode=RetrievalMode.HYBRID)
    try:
        assert writer.add_texts(TEXTS, METADATAS, ids=IDS) == IDS
        yield engine
    finally:
        engine.delete_collection(collection_name)
        engine.close()


def on(engine: QdrantEngine, name: str, mode: str, **options: Any) -> QdrantVectorStore:
    embedding = None if mode == "sparse" else EMB
    return QdrantVectorStore(client=engine, collection_name=name, embedding=embedding,
                             retrieval_mode=mode, **options)


async def ranked(store: QdrantVectorStore, query: str, k: int, **options: Any) -> Ranked:
    scored = await store.asimilarity_search_with_score(query, k=k, **options)
    return [(doc.id or "", score) for doc, score in scored]


def test_the_collection_has_named_dense_and_bm25_vectors(
    hybrid_engine: QdrantEngine, qdrant_url: str, qdrant_api_key: str | None,
    collection_name: str,
) -> None:
    client = QdrantClient(url=qdrant_url, api_key=qdrant_api_key)
    try:
        params = client.get_collection(collection_name).config.params
        assert client.count(collection_name).count == len(TEXTS)
    finally:
        client.close()
    assert isinstance(params.vectors, dict) and set(params.vectors) == {"dense"}
    assert params.vectors["dense"].size == 16
    sparse = params.sparse_vectors or {}
    assert set(sparse) == {"sparse"} and sparse["sparse"].modifier == models.Modifier.IDF


@pytest.mark.parametrize("rrf_k", [None, 7])
async def test_hybrid_is_the_servers_rrf_of_the_dense_and_sparse_results(
    hybrid_engine: QdrantEngine, collection_name: str, rrf_k: int | None
) -> None:
    query, depth, limit = "amber lagoon summit ferry", 12, 8
    dense = await ranked(on(hybrid_engine, collection_name, "dense"), query, depth)
    sparse = await ranked(on(hybrid_engine, collection_name, "sparse"), query, depth)
    assert len(dense) == depth and len(sparse) == depth
    hybrid = on(hybrid_engine, collection_name, "hybrid", prefetch_limit=depth, rrf_k=rrf_k)
    fused = await ranked(hybrid, query, limit)
    assert_fused_like(fused, rrf([dense, sparse], rrf_k or QDRANT_RRF_K), limit)
    # The sync API gives the same fused ranking.
    assert [(d.id, s) for d, s in hybrid.similarity_search_with_score(query, k=limit)] == fused


async def test_hybrid_dbsf_is_the_servers_dbsf_of_the_branches(
    hybrid_engine: QdrantEngine, collection_name: str
) -> None:
    query, depth, limit = "copper quarry beacon", 12, 8
    dense = await ranked(on(hybrid_engine, collection_name, "dense"), query, depth)
    sparse = await ranked(on(hybrid_engine, collection_name, "sparse"), query, depth)
    store = on(hybrid_engine, collection_name, "hybrid", prefetch_limit=depth, fusion="dbsf")
    assert_fused_like(await ranked(store, query, limit), dbsf([dense, sparse]), limit)


async def test_hybrid_filters_inside_every_branch(
    hybrid_engine: QdrantEngine, collection_name: str
) -> None:
    query, k = "granite willow falcon thistle", 4
    unfiltered = await ranked(on(hybrid_engine, collection_name, "dense"), query, k)
    # Branches this shallow hold fewer than k "top" texts unless the filter is inside them.
    assert sum(METADATAS[IDS.index(d)]["shelf"] == "top" for d, _ in unfiltered) < k
    hybrid = on(hybrid_engine, collection_name, "hybrid", prefetch_limit=k)
    docs = await hybrid.asimilarity_search(query, k=k, filter=TOP)
    assert len(docs) == k and all(d.metadata["shelf"] == "top" for d in docs)
    dense = await ranked(on(hybrid_engine, collection_name, "dense"), query, k, filter=TOP)
    sparse = await ranked(on(hybrid_engine, collection_name, "sparse"), query, k, filter=TOP)
    fused = await ranked(hybrid, query, k, filter=TOP)
    assert [s for _, s in fused] == pytest.approx(
        [s for _, s in rrf([dense, sparse])[:k]], rel=1e-4
    )
    # The same filter as a Qdrant Filter object, and through the sync API.
    raw = models.Filter(must=[
        models.FieldCondition(key="metadata.shelf", match=models.MatchValue(value="top"))
    ])
    assert [d.id for d in hybrid.similarity_search(query, k=k, filter=raw)] == [
        d.id for d in docs
    ]


async def test_only_the_sparse_branch_finds_a_rare_term(
    hybrid_engine: QdrantEngine, collection_name: str
) -> None:
    dense = await on(hybrid_engine, collection_name, "dense").asimilarity_search("quokka", k=3)
    assert RARE_ID not in [d.id for d in dense]
    sparse = await on(hybrid_engine, collection_name, "sparse").asimilarity_search("quokka")
    assert [d.id for d in sparse] == [RARE_ID]  # no other text has the term
    hybrid = on(hybrid_engine, collection_name, "hybrid", prefetch_limit=len(TEXTS))
    (top,) = await hybrid.asimilarity_search("quokka", k=1)
    assert top.id == RARE_ID and top.page_content == RARE and top.metadata == METADATAS[-1]
    relevance = await hybrid.asimilarity_search_with_relevance_scores("quokka", k=3)
    assert relevance[0][0].id == RARE_ID
    assert all(0.0 <= score <= 1.0 for _, score in relevance)
    assert [s for _, s in relevance] == sorted((s for _, s in relevance), reverse=True)


async def test_hybrid_writes_and_deletes_reach_both_branches(
    hybrid_engine: QdrantEngine, collection_name: str
) -> None:
    hybrid = on(hybrid_engine, collection_name, "hybrid", prefetch_limit=len(TEXTS))
    await hybrid.adelete([RARE_ID])
    assert await on(hybrid_engine, collection_name, "sparse").asimilarity_search("quokka") == []
    assert RARE_ID not in [d.id for d in await hybrid.asimilarity_search("quokka", k=41)]
    await hybrid.aadd_texts(["another quokka appeared"], [{"shelf": "new"}], ids=["late"])
    found = await hybrid.asimilarity_search("quokka", k=1, filter={"shelf": "new"})
    assert [d.id for d in found] == ["late"]


# ---------------------------------------------------------------------- MMR on the server


def unit(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector]


# Three near-duplicates close to the query, one relevant but different, one orthogonal.
GEOMETRY: dict[str, list[float]] = {
    "the query": unit([1.0, 0.0, 0.0, 0.0]),
    "dup one": unit([1.0, 0.10, 0.0, 0.0]),
    "dup two": unit([1.0, 0.15, 0.02, 0.0]),
    "dup three": unit([1.0, 0.20, 0.0, 0.02]),
    "different": unit([0.75, 0.0, 0.66, 0.0]),
    "orthogonal": unit([0.0, 0.0, 0.0, 1.0]),
}
MMR_DOCS = [t for t in GEOMETRY if t != "the query"]
MMR_GROUPS = [{"group": "dup"}] * 3 + [{"group": "other"}] * 2


class TableEmbeddings(Embeddings):
    """Vectors from a table; any other text gets a deterministic vector of its own."""

    def __init__(self, table: dict[str, list[float]], dim: int = 4) -> None:
        self.table, self.dim = table, dim

    def _vector(self, text: str) -> list[float]:
        if text in self.table:
            return self.table[text]
        rng = random.Random(hashlib.sha256(text.encode()).hexdigest())
        return unit([rng.gauss(0, 1) for _ in range(self.dim)])

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


@pytest.fixture(params=["dense", "hybrid"])
def mmr_store(
    request: pytest.FixtureRequest, qdrant_url: str, qdrant_api_key: str | None,
    collection_name: str,
) -> Iterator[QdrantVectorStore]:
    engine = QdrantEngine(url=qdrant_url, api_key=qdrant_api_key)
    store = QdrantVectorStore(client=engine, collection_name=collection_name,
                              embedding=TableEmbeddings(GEOMETRY), retrieval_mode=request.param)
    try:
        store.add_texts(MMR_DOCS, MMR_GROUPS, ids=MMR_DOCS)
        yield store
    finally:
        engine.delete_collection(collection_name)
        engine.close()


async def test_mmr_with_lambda_one_is_plain_relevance(mmr_store: QdrantVectorStore) -> None:
    docs = await mmr_store.amax_marginal_relevance_search(
        "the query", k=3, fetch_k=5, lambda_mult=1.0
    )
    assert [d.id for d in docs] == ["dup one", "dup two", "dup three"]
    by_vector = mmr_store.max_marginal_relevance_search_by_vector(
        GEOMETRY["the query"], k=3, fetch_k=5, lambda_mult=1.0
    )
    assert [d.id for d in by_vector] == [d.id for d in docs]


async def test_mmr_diversifies_among_fetch_k_candidates(mmr_store: QdrantVectorStore) -> None:
    # Among the 4 nearest the most diverse second pick is "different" ...
    four = await mmr_store.amax_marginal_relevance_search(
        "the query", k=2, fetch_k=4, lambda_mult=0.25
    )
    assert [d.id for d in four] == ["dup one", "different"]
    assert four[1].page_content == "different" and four[1].metadata == {"group": "other"}
    # ... and with all 5 candidates it is "orthogonal": fetch_k reaches the server.
    five = mmr_store.max_marginal_relevance_search("the query", k=2, fetch_k=5, lambda_mult=0.25)
    assert [d.id for d in five] == ["dup one", "orthogonal"]
    retriever = mmr_store.as_retriever(
        search_type="mmr", search_kwargs={"k": 2, "fetch_k": 4, "lambda_mult": 0.25}
    )
    assert [d.id for d in await retriever.ainvoke("the query")] == ["dup one", "different"]


async def test_mmr_applies_the_filter(mmr_store: QdrantVectorStore) -> None:
    dups = await mmr_store.amax_marginal_relevance_search(
        "the query", k=3, fetch_k=5, lambda_mult=0.25, filter={"group": "dup"}
    )
    assert dups[0].id == "dup one"
    assert {d.id for d in dups} == {"dup one", "dup two", "dup three"}
    others = mmr_store.max_marginal_relevance_search(
        "the query", k=5, fetch_k=5, lambda_mult=0.5, filter={"group": "other"}
    )
    assert [d.id for d in others] == ["different", "orthogonal"]


# ---------------------------------------------------------------- langchain-qdrant's options


def test_construct_instance_vector_params_search_params_and_consistency_on_a_server(
    qdrant_url: str, qdrant_api_key: str | None, collection_name: str
) -> None:
    """langchain-qdrant's ways of shaping a collection and a search, against the server."""
    store = QdrantVectorStore.construct_instance(
        EMB, RetrievalMode.HYBRID, collection_name=collection_name,
        client_options={
            "url": qdrant_url, "api_key": qdrant_api_key, "check_compatibility": False,
        },
        vector_params={"on_disk": True, "hnsw_config": models.HnswConfigDiff(m=8)},
        sparse_vector_params={"modifier": models.Modifier.IDF,
                              "index": models.SparseIndexParams(on_disk=True)},
    )
    client = QdrantClient(url=qdrant_url, api_key=qdrant_api_key)
    try:
        assert not client.collection_exists(collection_name)  # created by the first add
        store.add_texts(TEXTS, METADATAS, ids=IDS)
        params = client.get_collection(collection_name).config.params
        assert isinstance(params.vectors, dict)
        dense = params.vectors["dense"]
        assert dense.on_disk is True and dense.hnsw_config is not None
        assert dense.hnsw_config.m == 8
        sparse = (params.sparse_vectors or {})["sparse"]
        assert sparse.modifier == models.Modifier.IDF
        assert sparse.index is not None and sparse.index.on_disk is True
        plain = [d.id for d in store.similarity_search(TEXTS[1], k=2)]
        for read in (
            {"search_params": models.SearchParams(hnsw_ef=64, exact=True)},
            {"consistency": models.ReadConsistencyType.MAJORITY},
            {"search_params": {"exact": True}, "consistency": 1},
        ):
            assert [d.id for d in store.similarity_search(TEXTS[1], k=2, **read)] == plain
        picks = store.max_marginal_relevance_search_with_score_by_vector(
            EMB.embed_query(TEXTS[1]), k=2, fetch_k=4, consistency="all"
        )
        assert picks[0][0].id == plain[0] and len(picks) == 2
    finally:
        store.delete_collection()
        store.close()
        client.close()


@pytest.mark.parametrize("prefer_grpc", [False, True], ids=["rest", "grpc"])
def test_adds_with_langchain_qdrants_wait_and_ordering_on_a_server(
    qdrant_url: str, qdrant_api_key: str | None, collection_name: str, prefer_grpc: bool
) -> None:
    engine = QdrantEngine(url=qdrant_url, api_key=qdrant_api_key, prefer_grpc=prefer_grpc)
    store = QdrantVectorStore(client=engine, collection_name=collection_name, embedding=EMB)
    try:
        store.add_texts(TEXTS[:2], METADATAS[:2], ids=IDS[:2], ordering="strong")
        assert sorted(d.id for d in store.get_by_ids(IDS[:2])) == sorted(IDS[:2])
        store.add_texts(TEXTS[2:], METADATAS[2:], ids=IDS[2:], wait=False, ordering="medium")
        # Accepted, not yet necessarily applied: the server applies it shortly after.
        deadline = time.monotonic() + 10
        while len(store.get_by_ids(IDS)) < len(IDS) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sorted(d.id for d in store.get_by_ids(IDS)) == sorted(IDS)
    finally:
        store.delete_collection()
        store.close()
        engine.close()

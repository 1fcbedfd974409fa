"""Sparse and hybrid search through both adapters.

Fusion is checked against a reference computed here from the adapter's own separate dense and
sparse result lists (a DENSE, a SPARSE and a HYBRID LangChain store on one collection; DEFAULT,
SPARSE and HYBRID LlamaIndex queries on one store). Also: filters in every branch, a rare exact
term that only the sparse branch can find, BM25 settings and user encoders reachable from both
constructors, and user encoders kept off the event loop (checked by thread, not by time).
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from llama_index.core.schema import MetadataMode, TextNode
from llama_index.core.vector_stores.types import (
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)
from qdrant_client import QdrantClient, models

from qdrant_aio import QdrantEngine
from qdrant_aio.errors import ConfigurationError
from qdrant_aio.langchain import QdrantVectorStore as LangChainStore
from qdrant_aio.llama_index import QdrantVectorStore as LlamaIndexStore
from qdrant_aio.sparse import Bm25Encoder

EMB = DeterministicFakeEmbedding(size=16)
WORDS = "apple river stone cloud ember violet harbor canyon meadow lantern cedar orbit".split()
RARE = "the xylocarp is a rare fruit"  # the only text with "xylocarp"
QDRANT_RRF_K = 2


def corpus() -> list[str]:
    texts = []
    for i in range(40):
        texts.append(" ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(4 + i % 5)))
    return [*texts, RARE]


def group_of(i: int) -> str:
    return "rare" if i % 10 == 5 else f"g{i % 3}"  # "rare": 4 of the 41 texts


TEXTS = corpus()
IDS = [f"t{i}" for i in range(len(TEXTS))]
RARE_ID = IDS[-1]
METADATAS = [{"group": group_of(i), "i": i} for i in range(len(TEXTS))]

Ranked = list[tuple[str, float]]


def rrf_reference(lists: Sequence[Ranked], k: int = QDRANT_RRF_K,
                  weights: Sequence[float] | None = None) -> Ranked:
    # Qdrant's (weighted) RRF: 0-based rank r in a list of weight w adds 1 / ((r + 1) / w + k - 1).
    scores: dict[str, float] = {}
    for index, ranked in enumerate(lists):
        weight = weights[index] if weights else 1.0
        for rank, (doc_id, _) in enumerate(ranked):
            scores[doc_id] = scores.get(doc_id, 0.0) + 1.0 / ((rank + 1) / weight + k - 1)
    return sorted(scores.items(), key=lambda item: -item[1])


def dbsf_reference(lists: Sequence[Ranked]) -> Ranked:
    # Each list scaled so that mean -/+ 3 sigma maps to 0/1, then summed.
    scores: dict[str, float] = {}
    for ranked in lists:
        values = [score for _, score in ranked]
        mean, sigma = statistics.mean(values), statistics.stdev(values)
        low, high = mean - 3 * sigma, mean + 3 * sigma
        for doc_id, value in ranked:
            scores[doc_id] = scores.get(doc_id, 0.0) + (value - low) / (high - low)
    return sorted(scores.items(), key=lambda item: -item[1])


def assert_ranked_like(fused: Ranked, reference: Ranked, limit: int) -> None:
    assert len(fused) == min(limit, len(reference)) and len(fused) > 3
    reference_score = dict(reference)
    for (doc_id, score), (_, expected) in zip(fused, reference, strict=False):
        # The score at each rank is the reference's; ties may come in either order.
        assert score == pytest.approx(expected, rel=1e-5)
        assert reference_score[doc_id] == pytest.approx(expected, rel=1e-5)


# ---------------------------------------------------------------------- LangChain


@pytest.fixture
def lc_engine() -> Iterator[QdrantEngine]:
    engine = QdrantEngine()
    writer = LangChainStore(client=engine, collection_name="h", embedding=EMB,
                            retrieval_mode="hybrid")
    writer.add_texts(TEXTS, METADATAS, ids=IDS)
    yield engine
    engine.close()


def lc(engine: QdrantEngine, mode: str, **options: Any) -> LangChainStore:
    embedding = None if mode == "sparse" else EMB
    return LangChainStore(client=engine, collection_name="h", embedding=embedding,
                          retrieval_mode=mode, **options)


async def lc_ranked(store: LangChainStore, query: str, k: int, **options: Any) -> Ranked:
    scored = await store.asimilarity_search_with_score(query, k=k, **options)
    return [(doc.id or "", score) for doc, score in scored]


@pytest.mark.parametrize("rrf_k", [None, 10])
async def test_langchain_hybrid_is_the_rrf_of_its_dense_and_sparse_results(
    lc_engine: QdrantEngine, rrf_k: int | None
) -> None:
    query, depth, limit = "river cloud orbit", 15, 8
    dense = await lc_ranked(lc(lc_engine, "dense"), query, depth)
    sparse = await lc_ranked(lc(lc_engine, "sparse"), query, depth)
    assert len(dense) == depth and len(sparse) == depth
    hybrid = lc(lc_engine, "hybrid", prefetch_limit=depth, rrf_k=rrf_k)
    fused = await lc_ranked(hybrid, query, limit)
    assert_ranked_like(fused, rrf_reference([dense, sparse], rrf_k or QDRANT_RRF_K), limit)


async def test_langchain_hybrid_depth_per_branch(lc_engine: QdrantEngine) -> None:
    query, limit = "ember violet meadow harbor", 8
    dense = await lc_ranked(lc(lc_engine, "dense"), query, 5)
    sparse = await lc_ranked(lc(lc_engine, "sparse"), query, 12)
    hybrid = lc(lc_engine, "hybrid", dense_prefetch_limit=5, sparse_prefetch_limit=12)
    fused = await lc_ranked(hybrid, query, limit)
    assert_ranked_like(fused, rrf_reference([dense, sparse]), limit)
    # One depth for both branches differs from this one (so the per-branch depths were used).
    both_at_12 = rrf_reference([await lc_ranked(lc(lc_engine, "dense"), query, 12), sparse])
    assert [d for d, _ in both_at_12[:limit]] != [d for d, _ in fused]


async def test_langchain_hybrid_dbsf_is_the_dbsf_of_its_branches(lc_engine: QdrantEngine) -> None:
    query, depth, limit = "ember violet meadow", 12, 8
    dense = await lc_ranked(lc(lc_engine, "dense"), query, depth)
    sparse = await lc_ranked(lc(lc_engine, "sparse"), query, depth)
    store = lc(lc_engine, "hybrid", prefetch_limit=depth, fusion="dbsf")
    assert_ranked_like(await lc_ranked(store, query, limit), dbsf_reference([dense, sparse]), limit)
    # The same through the per-call override of an RRF store.
    per_call = await lc_ranked(lc(lc_engine, "hybrid", prefetch_limit=depth), query, limit,
                               hybrid_fusion="dbsf")
    assert_ranked_like(per_call, dbsf_reference([dense, sparse]), limit)


async def test_langchain_hybrid_filters_every_branch(lc_engine: QdrantEngine) -> None:
    query, k, rare = "apple river stone cloud", 4, {"group": "rare"}
    dense = await lc_ranked(lc(lc_engine, "dense"), query, k, filter=rare)
    sparse = await lc_ranked(lc(lc_engine, "sparse"), query, k, filter=rare)
    store = lc(lc_engine, "hybrid", prefetch_limit=k)
    # Unfiltered branches this shallow hold fewer than k "rare" texts: only filters inside the
    # branches can give k results.
    unfiltered = await lc_ranked(lc(lc_engine, "dense"), query, k)
    assert sum(METADATAS[IDS.index(d)]["group"] == "rare" for d, _ in unfiltered) < k
    docs = await store.asimilarity_search(query, k=k, filter=rare)
    assert len(docs) == k and all(d.metadata["group"] == "rare" for d in docs)
    fused = await lc_ranked(store, query, k, filter=rare)
    reference = rrf_reference([dense, sparse])
    assert [s for _, s in fused] == pytest.approx([s for _, s in reference[:k]], rel=1e-5)


async def test_langchain_sparse_and_hybrid_find_a_rare_term_dense_cannot(
    lc_engine: QdrantEngine,
) -> None:
    dense = await lc(lc_engine, "dense").asimilarity_search("xylocarp", k=3)
    assert RARE_ID not in [d.id for d in dense]
    sparse = await lc(lc_engine, "sparse").asimilarity_search("xylocarp", k=3)
    assert [d.id for d in sparse] == [RARE_ID]  # the only text with that term
    hybrid = lc(lc_engine, "hybrid", prefetch_limit=len(TEXTS))
    assert [d.id for d in await hybrid.asimilarity_search("xylocarp", k=1)] == [RARE_ID]


# ---------------------------------------------------------------------- LlamaIndex


def nodes() -> list[TextNode]:
    return [
        TextNode(id_=IDS[i], text=TEXTS[i], metadata=METADATAS[i],
                 embedding=EMB.embed_query(TEXTS[i]))
        for i in range(len(TEXTS))
    ]


@pytest.fixture
def li_store() -> Iterator[LlamaIndexStore]:
    store = LlamaIndexStore("h", enable_hybrid=True)
    store.add(nodes())
    yield store
    store.close()


def li_query(query: str, mode: VectorStoreQueryMode, **fields: Any) -> VectorStoreQuery:
    return VectorStoreQuery(query_embedding=EMB.embed_query(query), query_str=query, mode=mode,
                            **fields)


async def li_ranked(store: LlamaIndexStore, query: VectorStoreQuery) -> Ranked:
    result = await store.aquery(query)
    return list(zip(result.ids or [], result.similarities or [], strict=True))


@pytest.mark.parametrize("alpha", [None, 0.7])
async def test_llama_index_hybrid_is_the_rrf_of_its_dense_and_sparse_results(
    li_store: LlamaIndexStore, alpha: float | None
) -> None:
    query, dense_depth, sparse_depth, limit = "river cloud orbit", 10, 15, 8
    dense = await li_ranked(li_store, li_query(query, VectorStoreQueryMode.DEFAULT,
                                               similarity_top_k=dense_depth))
    sparse = await li_ranked(li_store, li_query(query, VectorStoreQueryMode.SPARSE,
                                                sparse_top_k=sparse_depth))
    assert len(dense) == dense_depth and len(sparse) == sparse_depth
    fused = await li_ranked(li_store, li_query(
        query, VectorStoreQueryMode.HYBRID, similarity_top_k=dense_depth,
        sparse_top_k=sparse_depth, hybrid_top_k=limit, alpha=alpha,
    ))
    weights = None if alpha is None else (alpha, 1 - alpha)
    assert_ranked_like(fused, rrf_reference([dense, sparse], weights=weights), limit)


async def test_llama_index_hybrid_rrf_k_and_dbsf() -> None:
    query, depth, limit = "ember violet meadow", 12, 8
    for options, reference in (({"rrf_k": 10}, lambda ls: rrf_reference(ls, 10)),
                               ({"fusion": "dbsf"}, dbsf_reference)):
        store = LlamaIndexStore("h", enable_hybrid=True, **options)
        await store.async_add(nodes())
        dense = await li_ranked(store, li_query(query, VectorStoreQueryMode.DEFAULT,
                                                similarity_top_k=depth))
        sparse = await li_ranked(store, li_query(query, VectorStoreQueryMode.SPARSE,
                                                 similarity_top_k=depth))
        fused = await li_ranked(store, li_query(query, VectorStoreQueryMode.HYBRID,
                                                similarity_top_k=depth, hybrid_top_k=limit))
        assert_ranked_like(fused, reference([dense, sparse]), limit)
        await store.aclose()


async def test_llama_index_hybrid_filters_every_branch(li_store: LlamaIndexStore) -> None:
    query, k = "apple river stone cloud", 4
    rare = MetadataFilters(filters=[MetadataFilter(key="group", value="rare")])
    unfiltered = await li_ranked(li_store, li_query(query, VectorStoreQueryMode.DEFAULT,
                                                    similarity_top_k=k))
    assert sum(METADATAS[IDS.index(d)]["group"] == "rare" for d, _ in unfiltered) < k
    result = await li_store.aquery(li_query(query, VectorStoreQueryMode.HYBRID,
                                            similarity_top_k=k, filters=rare))
    assert len(result.nodes or []) == k
    assert all(n.metadata["group"] == "rare" for n in result.nodes or [])
    dense = await li_ranked(li_store, li_query(query, VectorStoreQueryMode.DEFAULT,
                                               similarity_top_k=k, filters=rare))
    sparse = await li_ranked(li_store, li_query(query, VectorStoreQueryMode.SPARSE,
                                                similarity_top_k=k, filters=rare))
    reference = rrf_reference([dense, sparse])
    assert result.similarities == pytest.approx([s for _, s in reference[:k]], rel=1e-5)


async def test_llama_index_sparse_and_hybrid_find_a_rare_term_dense_cannot(
    li_store: LlamaIndexStore,
) -> None:
    dense = await li_store.aquery(li_query("xylocarp", VectorStoreQueryMode.DEFAULT,
                                           similarity_top_k=3))
    assert RARE_ID not in (dense.ids or [])
    for mode in (VectorStoreQueryMode.SPARSE, VectorStoreQueryMode.TEXT_SEARCH):
        found = await li_store.aquery(li_query("xylocarp", mode, similarity_top_k=3))
        assert found.ids == [RARE_ID]
    hybrid = await li_store.aquery(li_query(
        "xylocarp", VectorStoreQueryMode.HYBRID, similarity_top_k=len(TEXTS), hybrid_top_k=1
    ))
    assert hybrid.ids == [RARE_ID]


# ---------------------------------------------------------------------- encoders


HOUSES = ["die Häuser sind alt", "the river is long"]


def stored_sparse(engine: QdrantEngine, collection: str, point: str) -> models.SparseVector:
    (hit,) = engine.retrieve(collection, [point], with_vectors=True)
    vector = hit.vector["sparse"]
    assert isinstance(vector, models.SparseVector)
    return vector


def test_bm25_settings_reach_the_langchain_store() -> None:
    client = QdrantClient(":memory:")
    german = Bm25Encoder(language="german", k=2.0, b=0.3, avg_len=10)
    store = LangChainStore(client=client, collection_name="de", retrieval_mode="sparse",
                           sparse_embedding=german)
    store.add_texts(HOUSES, ids=["de", "en"])
    assert stored_sparse(store.engine, "de", "de") == german.encode_documents([HOUSES[0]])[0]
    assert stored_sparse(store.engine, "de", "de") != Bm25Encoder().encode_documents(HOUSES)[0]
    assert [d.id for d in store.similarity_search("Haus", k=2)] == ["de"]  # German stemming
    english = LangChainStore(client=client, collection_name="en", retrieval_mode="sparse")
    english.add_texts(HOUSES, ids=["de", "en"])
    assert english.similarity_search("Haus", k=2) == []
    sparse_params = client.get_collection("de").config.params.sparse_vectors or {}
    assert sparse_params["sparse"].modifier == models.Modifier.IDF  # Qdrant computes the IDF


def test_bm25_settings_reach_the_llama_index_store() -> None:
    client = QdrantClient(":memory:")
    german = Bm25Encoder(language="german", k=2.0, b=0.3, avg_len=10)
    store = LlamaIndexStore("de", client=client, enable_hybrid=True, sparse_encoder=german)
    house = [TextNode(id_=f"n{i}", text=t, embedding=EMB.embed_query(t))
             for i, t in enumerate(HOUSES)]
    store.add(house)
    text = house[0].get_content(metadata_mode=MetadataMode.EMBED)
    assert stored_sparse(store.engine, "de", "n0") == german.encode_documents([text])[0]
    found = store.query(VectorStoreQuery(query_str="Haus", mode=VectorStoreQueryMode.SPARSE,
                                         similarity_top_k=2))
    assert found.ids == ["n0"]
    sparse_params = client.get_collection("de").config.params.sparse_vectors or {}
    assert sparse_params["sparse"].modifier == models.Modifier.IDF
    default = LlamaIndexStore("en", client=client, enable_hybrid=True)
    default.add(house)
    assert default.query(VectorStoreQuery(query_str="Haus", mode=VectorStoreQueryMode.SPARSE,
                                          similarity_top_k=2)).ids == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sparse_encoder": Bm25Encoder()}, "enable_hybrid"),
        ({"enable_hybrid": True, "sparse_encoder": Bm25Encoder(),
          "sparse_doc_fn": lambda texts: ([], [])}, "not both"),
        ({"enable_hybrid": True, "sparse_encoder": object()}, "encode_documents"),
    ],
)
def test_llama_index_sparse_encoder_misuse_raises(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        LlamaIndexStore("x", **options)


def test_langchain_branch_depths_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="sparse_prefetch_limit"):
        LangChainStore(embedding=EMB, retrieval_mode="hybrid", sparse_prefetch_limit=0)


def bag(text: str) -> models.SparseVector:
    counts = Counter(zlib.crc32(w.encode()) % 10_000 for w in text.lower().split())
    indices = sorted(counts)
    return models.SparseVector(indices=indices, values=[float(counts[i]) for i in indices])


class RecordingEncoder:
    """A user SparseEncoder that records where it runs."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []
        self.on_a_loop: list[bool] = []

    def _record(self) -> None:
        self.threads.append(threading.current_thread())
        try:
            asyncio.get_running_loop()
            self.on_a_loop.append(True)
        except RuntimeError:
            self.on_a_loop.append(False)

    def encode_documents(self, texts: Sequence[str]) -> list[models.SparseVector]:
        self._record()
        return [bag(t) for t in texts]

    def encode_query(self, text: str) -> models.SparseVector:
        self._record()
        return bag(text)

    def doc_fn(self, texts: list[str]) -> tuple[list[list[int]], list[list[float]]]:
        vectors = self.encode_documents(texts)
        return [v.indices for v in vectors], [v.values for v in vectors]


async def test_a_user_encoder_runs_off_the_loop_in_the_langchain_store() -> None:
    encoder = RecordingEncoder()
    store = LangChainStore(embedding=EMB, retrieval_mode="hybrid", sparse_embedding=encoder)
    await store.aadd_texts(["one small batch", "of two texts"])  # small: no batching excuse
    assert [d.page_content for d in await store.asimilarity_search("small", k=1)] == [
        "one small batch"
    ]
    loop_thread = threading.current_thread()
    assert len(encoder.threads) == 2
    assert all(t is not loop_thread for t in encoder.threads)
    assert not any(encoder.on_a_loop)
    store.add_texts(["sync add"])  # a sync call runs on the bridge's loop: still not there
    store.similarity_search("sync")
    assert len(encoder.on_a_loop) == 4 and not any(encoder.on_a_loop)
    await store.aclose()


@pytest.mark.parametrize("kind", ["sparse_encoder", "sparse_doc_fn"])
async def test_a_user_encoder_runs_off_the_loop_in_the_llama_index_store(kind: str) -> None:
    encoder = RecordingEncoder()
    given: dict[str, Any] = {kind: encoder if kind == "sparse_encoder" else encoder.doc_fn}
    store = LlamaIndexStore("x", enable_hybrid=True, **given)
    await store.async_add([
        TextNode(id_="a", text="one small batch", embedding=EMB.embed_query("a"))
    ])
    result = await store.aquery(VectorStoreQuery(query_str="small", similarity_top_k=1,
                                                 mode=VectorStoreQueryMode.SPARSE))
    assert result.ids == ["a"]
    loop_thread = threading.current_thread()
    assert len(encoder.threads) == 2
    assert all(t is not loop_thread for t in encoder.threads)
    store.add([TextNode(id_="b", text="sync add", embedding=EMB.embed_query("b"))])
    assert len(encoder.on_a_loop) == 3 and not any(encoder.on_a_loop)
    await store.aclose()


async def test_llama_index_encodes_several_batches_per_trip_to_the_loop_and_keeps_each_nodes_vector(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Batches of 2 points, trips of 4 texts: 7 nodes take 2 trips and 4 encoder calls of <= 2.
    import qdrant_aio.llama_index

    monkeypatch.setattr(qdrant_aio.llama_index, "EMBED_TRIP_TEXTS", 4)
    trips: list[int] = []
    real_trip = qdrant_aio.llama_index.on_caller_loop

    async def counted(awaitable: Any) -> Any:
        trips.append(1)
        return await real_trip(awaitable)

    monkeypatch.setattr(qdrant_aio.llama_index, "on_caller_loop", counted)
    calls: list[int] = []

    class SizedEncoder(RecordingEncoder):
        def encode_documents(self, texts: Sequence[str]) -> list[models.SparseVector]:
            calls.append(len(texts))
            return super().encode_documents(texts)

    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"]
    store = LlamaIndexStore("x", enable_hybrid=True, sparse_encoder=SizedEncoder(), batch_size=2)
    await store.async_add(
        [TextNode(id_=w, text=f"{w} word", embedding=EMB.embed_query(w)) for w in words]
    )
    assert calls == [2, 2, 2, 1]
    assert len(trips) == 2
    for word in words:  # every node got its own text's sparse vector
        result = await store.aquery(
            VectorStoreQuery(query_str=word, similarity_top_k=1, mode=VectorStoreQueryMode.SPARSE)
        )
        assert result.ids == [word]
    await store.aclose()
